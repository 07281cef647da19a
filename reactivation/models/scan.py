"""The time loop of the noisy leaky vanilla RNN as one autograd node (forward and backpropagation through time).

For t = 1..T, with alpha = dt / tau in (0, 1] and the input drive d_t = W_in x~_t (+ biases) precomputed::

    u_t = d_t + W_rec h_{t-1}
    h_t = (1 - alpha) h_{t-1} + alpha phi(u_t) + zeta_t

Recording these ops one by one with autograd costs a graph node per op and step, keeps every intermediate alive
and makes backward run two matrix products per step (dL/dh_{t-1} and that step's share of dL/dW_rec). Here the
whole loop is one :class:`torch.autograd.Function`:

* forward writes every h_t into one preallocated (T, B, n) buffer with ``out=`` and in-place ops; it keeps
  phi(u_t) for backward only when a gradient is needed, so a no-grad call allocates the states and one (B, n)
  scratch buffer and nothing else (and, if the caller allows, writes the states over its drive buffer);
* backward runs one matrix product per step (the carry back to h_{t-1}) and then obtains dL/dW_rec for all steps
  at once as one large matrix product over the T * B rows.

The same function runs training and no-grad rollouts, so both execute exactly the same forward arithmetic.

Two layouts run through the same code: one network, drive (T, B, n), h0 (B, n), W_rec (n, n); and an ensemble of E
networks of the same size (:class:`~reactivation.models.ensemble.Ensemble`), drive (E, T, B, n), h0 (E, B, n),
W_rec (E, n, n), member first. Step t is ``select(-3, t)`` in both, and the products go through
:mod:`reactivation.models.ops`, which calls ``addmm`` / ``mm`` for 2-D weights (so one network's arithmetic is
exactly what it always was) and ``baddbmm`` / ``bmm`` for stacked ones (one call per step for all members).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from reactivation.models import ops

#: In-place activations used by the forward loop (applied to the pre-activation buffer).
_ACTIVATE_ = {"relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_}


def _scaled_derivative(phi: Tensor, activation: str, alpha: float) -> Tensor:
    """alpha * phi'(u) for all steps at once, from the stored phi(u) (so u itself need not be kept).

    relu: phi' = 1[phi > 0]; tanh: 1 - phi^2; sigmoid: phi (1 - phi). ``phi`` is (T, B, n) or (E, T, B, n); so is
    the result.
    """
    if activation == "relu":
        return (phi > 0).to(phi.dtype).mul_(alpha)
    if activation == "tanh":
        return torch.mul(phi, phi).neg_().add_(1.0).mul_(alpha)
    if activation == "sigmoid":
        return torch.sub(1.0, phi).mul_(phi).mul_(alpha)
    raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(_ACTIVATE_)}")


def _rows(x: Tensor) -> Tensor:
    """(..., T, B, n) -> (..., T * B, n): all steps' rows as one matrix per network (a view of a contiguous x)."""
    return x.reshape(*x.shape[:-3], -1, x.shape[-1])


def leaky_rnn_forward(
    drive: Tensor,
    h0: Tensor,
    w_rec: Tensor,
    zeta: Tensor | None,
    alpha: float,
    activation: str,
    keep_phi: bool,
    out: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """The forward time loop, without autograd (the body of :class:`LeakyRNNScan`).

    Shapes are given for one network; for an ensemble of E networks every tensor has a leading member dim
    (drive (E, T, B, n), h0 (E, B, n), w_rec (E, n, n), ...) and member k only ever meets member k's weights.

    Args:
        drive: (T, B, n) contiguous input drive d_t = W_in x~_t (+ input and recurrent biases), one row per step.
        h0: (B, n) initial state h_0 (any strides).
        w_rec: (n, n) recurrent weights W_rec (row i = weights into unit i, as ``nn.Linear.weight``).
        zeta: (T, B, n) recurrent noise already scaled by sigma_rec, or ``None`` for none (any strides).
        alpha: leak dt / tau, in (0, 1].
        activation: ``relu``, ``tanh`` or ``sigmoid``.
        keep_phi: also return phi(u_t) for all steps (needed by backward; costs T * B * n floats).
        out: (T, B, n) contiguous buffer for the states; may be ``drive`` itself (step t reads d_t before it
            writes h_t there), which saves one (T, B, n) allocation when the caller has no further use for drive.

    Returns:
        states: (T, B, n) h_1..h_T, contiguous.
        phi: (T, B, n) phi(u_1)..phi(u_T) if ``keep_phi``, else ``None``.
    """
    activate_ = _ACTIVATE_[activation]
    steps = drive.shape[-3]
    states = torch.empty(drive.shape, dtype=drive.dtype, device=drive.device) if out is None else out
    phi = torch.empty_like(states) if keep_phi else None
    # u_t is computed in place of phi[t] when that is one contiguous block (one network, or E = 1). In an ensemble
    # phi[t] is a strided (E, B, n) view, and a batched product with a strided out= runs one product per member
    # (baddbmm uses its single batched-gemm call only for a contiguous result): there u_t goes to a contiguous
    # scratch buffer and phi(u_t) is copied into phi[t], one (E, B, n) copy per step instead of E products.
    direct = phi is not None and phi.select(-3, 0).is_contiguous()
    step_shape = (*drive.shape[:-3], *drive.shape[-2:])  # (B, n) or (E, B, n)
    scratch = None if direct else torch.empty(step_shape, dtype=drive.dtype, device=drive.device)
    w_rec_t = w_rec.transpose(-1, -2)
    h = h0
    for t in range(steps):
        phi_t = phi.select(-3, t) if phi is not None else None
        act = phi_t if direct else scratch
        assert act is not None  # scratch is allocated exactly when phi[t] is not written directly
        ops.addmm(drive.select(-3, t), h, w_rec_t, out=act)  # u_t = d_t + h_{t-1} W_rec^T
        activate_(act)  # phi(u_t), in place: u_t itself is not needed again
        if phi_t is not None and act is not phi_t:
            phi_t.copy_(act)
        h_t = states.select(-3, t)
        torch.lerp(h, act, alpha, out=h_t)  # (1 - alpha) h_{t-1} + alpha phi(u_t)
        if zeta is not None:
            h_t.add_(zeta.select(-3, t))
        h = h_t
    return states, phi


class LeakyRNNScan(torch.autograd.Function):
    """Forward and backpropagation through time of the whole leaky-RNN loop as one autograd node.

    ``apply(drive, h0, w_rec, zeta, alpha, activation, keep_phi)`` with the arguments of
    :func:`leaky_rnn_forward` (either layout) returns the (T, B, n) or (E, T, B, n) states. ``keep_phi`` must be
    true whenever a gradient will be taken (use :func:`leaky_rnn_scan`, which decides it). Gradients flow to
    ``drive``, ``h0``, ``w_rec`` and ``zeta``; backward itself is not differentiable (no double backward).
    """

    @staticmethod
    def forward(ctx, drive, h0, w_rec, zeta, alpha, activation, keep_phi):
        states, phi = leaky_rnn_forward(drive, h0, w_rec, zeta, alpha, activation, keep_phi)
        ctx.alpha, ctx.activation, ctx.has_zeta = alpha, activation, zeta is not None
        if keep_phi:
            ctx.save_for_backward(h0, w_rec, states, phi)
        ctx.kept_phi = keep_phi
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states):
        if not ctx.kept_phi:
            raise RuntimeError("LeakyRNNScan ran with keep_phi=False and cannot backpropagate; call leaky_rnn_scan")
        h0, w_rec, states, phi = ctx.saved_tensors
        alpha, steps = ctx.alpha, states.shape[-3]
        grad_states = grad_states.contiguous()  # per-step rows below are then contiguous (B, n) blocks
        dphi = _scaled_derivative(phi, ctx.activation, alpha)  # alpha phi'(u_t), all steps in one pass
        # du[t] = dL/du_t = alpha phi'(u_t) g_t, where g_t = dL/dh_t (total, through all later steps). It is
        # dL/d drive_t directly and gives dL/dW_rec as one product at the end.
        du = torch.empty_like(states)
        # g_t for every step is dL/dzeta_t; keep them only if zeta needs a gradient, else ping-pong two buffers.
        keep_g = ctx.has_zeta and ctx.needs_input_grad[3]
        g_all: Tensor | None = None
        if keep_g:
            g_all = torch.empty_like(states)
            g = g_all.select(-3, steps - 1)
        else:
            ping = (torch.empty_like(h0), torch.empty_like(h0))
            g = ping[0]
        g.copy_(grad_states.select(-3, steps - 1))
        for t in range(steps - 1, 0, -1):
            du_t = du.select(-3, t)
            torch.mul(g, dphi.select(-3, t), out=du_t)
            g_prev = g_all.select(-3, t - 1) if g_all is not None else ping[1] if g is ping[0] else ping[0]
            # g_{t-1} = dL/dh_{t-1} (direct) + (1 - alpha) g_t (leak) + du_t W_rec (through u_t)
            torch.add(grad_states.select(-3, t - 1), g, alpha=1.0 - alpha, out=g_prev)
            ops.addmm(g_prev, du_t, w_rec, out=g_prev)
            g = g_prev
        du_0 = du.select(-3, 0)
        torch.mul(g, dphi.select(-3, 0), out=du_0)
        grad_h0 = ops.addmm(g, du_0, w_rec, beta=1.0 - alpha) if ctx.needs_input_grad[1] else None
        grad_w = None
        if ctx.needs_input_grad[2]:
            # dL/dW_rec = sum_t du_t^T h_{t-1}: h_0 then h_1..h_{T-1}, the latter one (T-1) B x n block of states
            # (per member: the (E, (T-1) B, n) views are one batched product, not one per step).
            grad_w = ops.mm(du_0.transpose(-1, -2), h0)
            if steps > 1:
                du_rest, h_rest = _rows(du.narrow(-3, 1, steps - 1)), _rows(states.narrow(-3, 0, steps - 1))
                ops.addmm(grad_w, du_rest.transpose(-1, -2), h_rest, out=grad_w)
        grad_drive = du if ctx.needs_input_grad[0] else None
        return grad_drive, grad_h0, grad_w, g_all, None, None, None


def _overlaps(buffer: Tensor, *others: Tensor | None) -> bool:
    """Whether any of ``others`` shares storage with ``buffer`` (then the buffer must not be overwritten)."""
    storage = buffer.untyped_storage().data_ptr()
    return any(other is not None and other.untyped_storage().data_ptr() == storage for other in others)


def leaky_rnn_scan(
    drive: Tensor,
    h0: Tensor,
    w_rec: Tensor,
    zeta: Tensor | None,
    alpha: float,
    activation: str,
    *,
    drive_is_scratch: bool = False,
) -> Tensor:
    """Run the leaky-RNN time loop; differentiable when grad mode is on and any input requires grad.

    Shapes are those of one network; an ensemble of E networks passes the same with a leading member dim: drive
    (E, T, B, n), h0 (E, B, n), w_rec (E, n, n), zeta (E, T, B, n), and gets (E, T, B, n) states.

    Args:
        drive: (T, B, n) input drive (made contiguous if it is not).
        h0: (B, n) initial state.
        w_rec: (n, n) recurrent weights.
        zeta: (T, B, n) scaled recurrent noise, or ``None`` (any strides; e.g. a transposed noise sample).
        alpha: leak dt / tau, in (0, 1].
        activation: ``relu``, ``tanh`` or ``sigmoid``.
        drive_is_scratch: the caller will not read ``drive`` again; a call that keeps nothing for backward then
            writes the states over it instead of allocating a second (T, B, n) buffer (long no-grad rollouts).

    Returns:
        (T, B, n) or (E, T, B, n) states h_1..h_T (contiguous). Under ``torch.no_grad()`` (or when nothing
        requires grad) the call keeps nothing for backward and the result has no ``grad_fn``.
    """
    if drive.dim() not in (3, 4) or h0.dim() != drive.dim() - 1 or w_rec.dim() != drive.dim() - 1:
        raise ValueError(
            f"leaky_rnn_scan got drive {tuple(drive.shape)}, h0 {tuple(h0.shape)}, w_rec {tuple(w_rec.shape)}; "
            "expected (T, B, n), (B, n), (n, n) or, for an ensemble, (E, T, B, n), (E, B, n), (E, n, n)"
        )
    contiguous = drive.contiguous()
    drive_is_scratch = drive_is_scratch or contiguous is not drive  # a copy made here is ours to overwrite
    drive = contiguous
    tensors = (drive, h0, w_rec) if zeta is None else (drive, h0, w_rec, zeta)
    keep_phi = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    if not keep_phi:  # no autograd node at all: nothing is saved, nothing is recorded
        out = drive if drive_is_scratch and not _overlaps(drive, h0, zeta) else None
        return leaky_rnn_forward(drive, h0, w_rec, zeta, alpha, activation, False, out)[0]
    return LeakyRNNScan.apply(drive, h0, w_rec, zeta, alpha, activation, True)
