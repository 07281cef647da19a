"""Noisy continuous-time GRU of SPEC section 4 (used for the spatial-navigation GRU presets, with tanh).

With alpha = dt / tau and x~_t = x_t + sigma_in xi_t, for t = 1..T::

    z_t = sigmoid(W_z x~_t + U_z h_{t-1})
    r_t = sigmoid(W_r x~_t + U_r h_{t-1})
    c_t = phi(W_h x~_t + U_h (r_t * h_{t-1}))
    h_t = h_{t-1} + alpha (1 - z_t) * (c_t - h_{t-1}) + sigma_rec zeta_t

Encoder, readout, noise and the forward signature are those of :class:`~reactivation.models.rnn.NoisyRNN`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from reactivation.models.rnn import ACTIVATIONS, NoisyRecurrentBase


class NoisyGRU(NoisyRecurrentBase):
    """Noisy continuous-time GRU; the three gates' weights are stacked in the order z, r, h.

    ``input.weight`` is [W_z; W_r; W_h] (3 n_rec, n_in) and ``recurrent.weight`` [U_z; U_r; U_h]
    (3 n_rec, n_rec); each block has PyTorch's default init for its fan-in, exactly as three separate Linear
    layers would. ``encoder`` and ``readout`` are as in the vanilla RNN. The GRU presets use
    ``activation_fn='tanh'``. See :class:`~reactivation.models.rnn.NoisyRecurrentBase` for the arguments.
    """

    n_gates = 3

    def _run(self, x: Tensor, h: Tensor, zeta: Tensor | None) -> Tensor:
        phi, alpha, n = ACTIVATIONS[self.activation_fn], self.alpha, self.n_rec
        bias = self._input_bias()
        w_in, w_rec = self.input.weight, self.recurrent.weight
        # Two input projections rather than one split, so that each per-step slice is contiguous.
        drive_zr = F.linear(x, w_in[: 2 * n], None if bias is None else bias[: 2 * n])  # (T, B, 2 n_rec)
        drive_h = F.linear(x, w_in[2 * n :], None if bias is None else bias[2 * n :])  # (T, B, n_rec)
        u_zr_t, u_h_t = w_rec[: 2 * n].t(), w_rec[2 * n :].t()
        zeta_t = None if zeta is None else zeta.unbind(0)  # unbind: one view node, not T indexing nodes
        states = []
        for t, (d_zr, d_h) in enumerate(zip(drive_zr.unbind(0), drive_h.unbind(0))):
            z, r = torch.sigmoid(torch.addmm(d_zr, h, u_zr_t)).chunk(2, dim=1)
            c = phi(torch.addmm(d_h, r * h, u_h_t))
            h = torch.lerp(h, c, alpha * (1 - z))  # h + alpha (1 - z) (c - h)
            if zeta_t is not None:
                h = h + zeta_t[t]
            states.append(h)
        return torch.stack(states)  # (T, B, n_rec)
