"""Noisy leaky ("continuous-time", Euler-Maruyama) vanilla RNN of docs/spec.md §4 (the shared model base:
:mod:`reactivation.models.base`).

With alpha = dt / tau, for t = 1..T::

    h_0 = Encoder c_0
    u_t = W_rec h_{t-1} + W_in (x_t + sigma_in xi_t)
    h_t = (1 - alpha) h_{t-1} + alpha phi(u_t) + sigma_rec zeta_t
    y_t = W_out h_t + sigma_out eps_t

The fast path does everything that does not depend on h_{t-1} outside the time loop: all noise is drawn in one call
per kind, the input projection of all steps is one matrix product and the readout of all steps is another. The
vanilla time loop itself, forward and backward, is one autograd node (:mod:`reactivation.models.scan`) that writes
the states into one time-major buffer; training and no-grad rollouts run the same code.

The time loops (:func:`vanilla_loop` here, :func:`~reactivation.models.gru.gru_loop`) and the part of forward that
follows the noise draw (:func:`~reactivation.models.base.forward_time_major`) are module-level functions of the
weights, written once for one network (2-D weights) and for an :class:`~reactivation.models.ensemble.Ensemble` of E
networks (weights stacked to (E, out, in), activations (E, ...)); see :mod:`reactivation.models.ops`.
"""

from __future__ import annotations

from torch import Tensor

from reactivation.models import ops
from reactivation.models.base import ACTIVATIONS, NoisyRecurrentBase, forward_time_major
from reactivation.models.scan import leaky_rnn_scan

# The shared base lives in reactivation.models.base; re-exported here, where it was first defined.
__all__ = ["ACTIVATIONS", "NoisyRNN", "NoisyRecurrentBase", "forward_time_major", "vanilla_loop"]


def vanilla_loop(
    x: Tensor,
    h0: Tensor,
    zeta: Tensor | None,
    w_in: Tensor,
    w_rec: Tensor,
    bias: Tensor | None,
    alpha: float,
    activation: str,
) -> Tensor:
    """The vanilla time loop: input projection of all steps at once, then the scan (forward and backward).

    Shapes for one network; an ensemble adds a leading member dim E to every tensor (its weights stacked).

    Args:
        x: (T, B, n_in) noisy inputs x~_t, time-major.
        h0: (B, n_rec) initial state.
        zeta: (T, B, n_rec) scaled recurrent noise, or ``None``.
        w_in: (n_rec, n_in) input weights W_in.
        w_rec: (n_rec, n_rec) recurrent weights W_rec.
        bias: (n_rec,) input + recurrent bias, or ``None``.
        alpha: leak dt / tau.
        activation: ``relu``, ``tanh`` or ``sigmoid``.

    Returns:
        (T, B, n_rec) states h_1..h_T, contiguous.
    """
    drive = ops.linear(x, w_in, bias)  # (T, B, n_rec): W_in x_t for all t at once
    # drive is a temporary of this call: without grad, the states are written over it (one buffer less).
    return leaky_rnn_scan(drive, h0, w_rec, zeta, alpha, activation, drive_is_scratch=True)


class NoisyRNN(NoisyRecurrentBase):
    """Noisy leaky vanilla RNN (docs/spec.md §4); parameters ``encoder``, ``input``, ``recurrent``, ``readout``.

    ``input.weight`` is W_in (n_rec, n_in), ``recurrent.weight`` W_rec (n_rec, n_rec), ``readout.weight`` W_out
    (n_out, n_rec), ``encoder.weight`` (n_rec, n_init). See :class:`NoisyRecurrentBase` for the arguments.
    """

    time_loop = staticmethod(vanilla_loop)
