"""Noisy continuous-time GRU of docs/spec.md §4 (used for the spatial-navigation GRU presets, with tanh).

With alpha = dt / tau and x~_t = x_t + sigma_in xi_t, for t = 1..T::

    z_t = sigmoid(W_z x~_t + U_z h_{t-1})
    r_t = sigmoid(W_r x~_t + U_r h_{t-1})
    c_t = phi(W_h x~_t + U_h (r_t * h_{t-1}))
    h_t = h_{t-1} + alpha (1 - z_t) * (c_t - h_{t-1}) + sigma_rec zeta_t

Encoder, readout, noise and the forward signature are those of :class:`~reactivation.models.rnn.NoisyRNN`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from reactivation.models import ops
from reactivation.models.base import ACTIVATIONS, NoisyRecurrentBase


def gru_loop(
    x: Tensor,
    h0: Tensor,
    zeta: Tensor | None,
    w_in: Tensor,
    w_rec: Tensor,
    bias: Tensor | None,
    alpha: float,
    activation: str,
) -> Tensor:
    """The GRU time loop, recorded op by op by autograd.

    Shapes for one network; an ensemble adds a leading member dim E to every tensor (its weights stacked), and the
    per-step products are then batched (``baddbmm``) over the members.

    Args:
        x: (T, B, n_in) noisy inputs x~_t, time-major.
        h0: (B, n_rec) initial state.
        zeta: (T, B, n_rec) scaled recurrent noise, or ``None``.
        w_in: (3 n_rec, n_in) input weights [W_z; W_r; W_h].
        w_rec: (3 n_rec, n_rec) recurrent weights [U_z; U_r; U_h].
        bias: (3 n_rec,) input + recurrent bias, or ``None``.
        alpha: leak dt / tau.
        activation: phi of the candidate state (``tanh`` in the presets).

    Returns:
        (T, B, n_rec) states h_1..h_T, contiguous.
    """
    phi, n = ACTIVATIONS[activation], h0.shape[-1]
    # Gate blocks: rows [0, 2n) are z and r, rows [2n, 3n) are h (dim -2 of a weight, dim -1 of a bias).
    b_zr, b_h = (None, None) if bias is None else (bias.narrow(-1, 0, 2 * n), bias.narrow(-1, 2 * n, n))
    # Two input projections rather than one split, so that each per-step slice is contiguous.
    drive_zr = ops.linear(x, w_in.narrow(-2, 0, 2 * n), b_zr)  # (T, B, 2 n_rec)
    drive_h = ops.linear(x, w_in.narrow(-2, 2 * n, n), b_h)  # (T, B, n_rec)
    u_zr_t, u_h_t = w_rec.narrow(-2, 0, 2 * n).transpose(-1, -2), w_rec.narrow(-2, 2 * n, n).transpose(-1, -2)
    zeta_t = None if zeta is None else zeta.unbind(-3)  # unbind: one view node, not T indexing nodes
    h, states = h0, []
    for t, (d_zr, d_h) in enumerate(zip(drive_zr.unbind(-3), drive_h.unbind(-3))):
        z, r = torch.sigmoid(ops.addmm(d_zr, h, u_zr_t)).chunk(2, dim=-1)
        c = phi(ops.addmm(d_h, r * h, u_h_t))
        h = torch.lerp(h, c, alpha * (1 - z))  # h + alpha (1 - z) (c - h)
        if zeta_t is not None:
            h = h + zeta_t[t]
        states.append(h)
    return torch.stack(states, dim=-3)  # (T, B, n_rec)


class NoisyGRU(NoisyRecurrentBase):
    """Noisy continuous-time GRU; the three gates' weights are stacked in the order z, r, h.

    ``input.weight`` is [W_z; W_r; W_h] (3 n_rec, n_in) and ``recurrent.weight`` [U_z; U_r; U_h]
    (3 n_rec, n_rec); each block has PyTorch's default init for its fan-in, exactly as three separate Linear
    layers would. ``encoder`` and ``readout`` are as in the vanilla RNN. The GRU presets use
    ``activation_fn='tanh'``. See :class:`~reactivation.models.rnn.NoisyRecurrentBase` for the arguments.
    """

    n_gates = 3
    default_mode = "same"
    floats_per_unit = 16  # its gates, saved by autograd for each step
    time_loop = staticmethod(gru_loop)
