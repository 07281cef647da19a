"""Matrix products that serve one network and an ensemble of networks alike.

A single network has 2-D weights (out, in) and its activations are (..., in); an ensemble of E networks of the
same shape (:class:`~reactivation.models.ensemble.Ensemble`) stacks them into 3-D weights (E, out, in) and its
activations are (E, ..., in), member first. Each helper dispatches on the weight's rank, so that the time loops of
:mod:`reactivation.models.scan`, :mod:`reactivation.models.rnn` and :mod:`reactivation.models.gru` are written
once. For 2-D weights they call exactly the op the single-network code always called (``F.linear``,
``torch.addmm``, ``torch.mm``), so a single network's arithmetic is unchanged bit for bit; for 3-D weights they call
the batched products ``torch.bmm`` / ``torch.baddbmm``, one call for all members (no Python loop over members).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x W^T + b, for one network or for each member of an ensemble.

    Args:
        x: (..., in) for a 2-D ``weight``; (E, ..., in) for a 3-D one (member k's rows use member k's weight).
        weight: (out, in), or (E, out, in) stacked per member.
        bias: (out,), or (E, out); ``None`` for none.

    Returns:
        (..., out), or (E, ..., out). In the batched case the product runs on an (E, rows, in) view of ``x``
        (a copy only if ``x``'s trailing dims cannot be flattened without one) and the result is contiguous.
    """
    if weight.dim() == 2:
        return F.linear(x, weight, bias)
    members, n_out = weight.shape[0], weight.shape[1]
    rows = x.reshape(members, -1, x.shape[-1])
    w_t = weight.transpose(1, 2)
    out = torch.bmm(rows, w_t) if bias is None else torch.baddbmm(bias.unsqueeze(1), rows, w_t)
    return out.view(*x.shape[:-1], n_out)


def addmm(input: Tensor, a: Tensor, b: Tensor, *, beta: float = 1.0, out: Tensor | None = None) -> Tensor:
    """beta * input + a @ b: ``torch.addmm`` for 2-D ``a``, ``b``; ``torch.baddbmm`` (per member) for 3-D ones.

    Args:
        input: broadcastable to the product's shape, (rows, cols) or (E, rows, cols); may be ``out`` itself
            (accumulate in place).
        a: (rows, k) or (E, rows, k); any strides (e.g. a time step of a member-major buffer).
        b: (k, cols) or (E, k, cols).
        beta: factor of ``input``.
        out: buffer for the result, e.g. one time step of a preallocated state buffer.
    """
    if a.dim() == 2:
        return torch.addmm(input, a, b, beta=beta, out=out)
    return torch.baddbmm(input, a, b, beta=beta, out=out)


def mm(a: Tensor, b: Tensor) -> Tensor:
    """a @ b: ``torch.mm`` for 2-D operands, ``torch.bmm`` (per member) for 3-D ones (E, rows, k) x (E, k, cols)."""
    return a.mm(b) if a.dim() == 2 else torch.bmm(a, b)
