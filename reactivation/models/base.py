"""What the noisy models share (docs/spec.md §4): :class:`NoisyRecurrentBase` (encoder, input projection, recurrent
weights, readout, the noise levels and forward) and :func:`forward_time_major`, the part of forward that follows the
noise draw, for one network and for an :class:`~reactivation.models.ensemble.Ensemble` alike.

Each kind (:class:`~reactivation.models.rnn.NoisyRNN`, :class:`~reactivation.models.gru.NoisyGRU`) adds its time loop,
a module-level function of the weights; the noise is drawn by :mod:`reactivation.models.noise`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from reactivation import ConfigError
from reactivation.models import ops
from reactivation.models.noise import NoiseSample, check_noise_dist, check_std, sample_noise

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def forward_time_major(
    run: Callable[[Tensor, Tensor, Tensor | None], Tensor],
    inputs: Tensor,
    h0: Tensor,
    noise: NoiseSample,
    w_out: Tensor,
    b_out: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """What forward does once h_0 and the noise are known; shared by one network and an ensemble.

    Adds the input noise, runs the time loop time-major, reads out and adds the output noise. Shapes for one
    network; an ensemble passes (E, ...) tensors and stacked readout weights and gets (E, B, T, n) results.

    Args:
        run: the time loop, ``run(x (T, B, n_in), h0 (B, n_rec), zeta (T, B, n_rec) | None) -> (T, B, n_rec)``.
        inputs: (B, T, n_in) inputs.
        h0: (B, n_rec) initial state.
        noise: the call's noise, batch-major (B, T, n) tensors or ``None`` per kind, already scaled.
        w_out: (n_out, n_rec) readout weights.
        b_out: (n_out,) readout bias, or ``None``.

    Returns:
        hidden: (B, T, n_rec) states h_1..h_T, a transposed view of the time-major state buffer.
        outputs: (B, T, n_out) readouts, likewise a view of a time-major buffer (plus output noise, if any).
    """
    x = inputs if noise.input is None else inputs + noise.input
    # Time-major inside: per-step slices of a contiguous (T, B, n) tensor are contiguous (B, n) blocks.
    zeta = None if noise.recurrent is None else noise.recurrent.transpose(-3, -2)
    states = run(x.transpose(-3, -2), h0, zeta)  # (T, B, n_rec)
    hidden = states.transpose(-3, -2)  # (B, T, n_rec), a view: no copy of the states
    # Read out time-major too: one matrix product on the contiguous states (on the batch-major view, linear
    # would first copy all of them). outputs is then a (B, T, n_out) view of a time-major buffer, like hidden.
    outputs = ops.linear(states, w_out, b_out).transpose(-3, -2)
    if noise.output is not None:
        outputs = outputs + noise.output
    return hidden, outputs


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"rnn.{name} = {value!r} is not allowed; it must be a positive integer")
    return value


def _nonnegative(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"rnn.{name} = {value!r} is not allowed; a variance must be a finite number >= 0")
    return float(value)


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"rnn.{name} = {value!r} is not allowed; it must be a finite number > 0")
    return float(value)


def _linear(n_from: int, n_to: int, bias: bool, generator: torch.Generator | None) -> nn.Linear:
    """A Linear layer with PyTorch's default init (U(-1/sqrt(fan_in), 1/sqrt(fan_in))) drawn from ``generator``."""
    layer = nn.utils.skip_init(nn.Linear, n_from, n_to, bias=bias)  # skip_init: leave the global RNG untouched
    bound = 1.0 / math.sqrt(n_from)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        if bias:
            layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


class NoisyRecurrentBase(nn.Module):
    """Encoder, input projection, recurrent weights, readout, noise and forward shared by the noisy models.

    Subclasses set ``n_gates`` (rows of the input and recurrent weights per hidden unit) and ``time_loop`` (their
    module-level loop, e.g. :func:`~reactivation.models.rnn.vanilla_loop`; ``_run`` calls it with the model's
    weights), and may set ``default_mode`` (the quiescence mode of the analyses and the export when none is given:
    ``scaled``, σ_q = √2 σ_rec, the theory's temperature; the GRU's is ``same``, as in the paper's Fig. C.1,
    docs/analyses.md) and ``floats_per_unit`` (float vectors of ``n_rec`` a training step keeps per trajectory and
    time step, for the memory estimate of :func:`reactivation.ensembles.member_bytes`).
    Constructor keywords are the ``rnn.*`` config keys of docs/spec.md §1; variances are given, and the standard
    deviations ``sigma_in``, ``sigma_rec``, ``sigma_out`` (their square roots) are what the equations use.

    Args:
        n_in: input dimension (SN 2, HD 1).
        n_rec: number of hidden units.
        n_out: number of outputs (the task's cell count).
        n_init: size of the initial-state code c_0 (the task's cell count).
        sigma2_in: variance of the input noise.
        sigma2_rec: variance of the recurrent noise (per step; no further dt scaling).
        sigma2_out: variance of the output noise.
        dt: integration step of the leak (alpha = dt / tau), unitless.
        tau: time constant of the leak, same units as ``dt``.
        activation_fn: ``relu``, ``tanh`` or ``sigmoid``.
        bias: whether every layer gets a bias (the published models have none).
        noise_dist: ``gaussian``, ``uniform`` or ``gaussian_matched`` (see :mod:`reactivation.models.noise`).
        generator: random stream of the weight init (``None`` uses torch's global generator).

    Raises:
        ConfigError: on any invalid value, naming the key, the value and what is allowed.
    """

    n_gates = 1
    default_mode = "scaled"
    floats_per_unit = 12

    def __init__(
        self,
        n_in: int,
        n_rec: int,
        n_out: int,
        n_init: int,
        *,
        sigma2_in: float = 0.0,
        sigma2_rec: float = 0.0,
        sigma2_out: float = 0.0,
        dt: float = 0.2,
        tau: float = 1.0,
        activation_fn: str = "relu",
        bias: bool = False,
        noise_dist: str = "gaussian",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_in, self.n_rec = _positive_int("n_in", n_in), _positive_int("n_rec", n_rec)
        self.n_out, self.n_init = _positive_int("n_out", n_out), _positive_int("n_init", n_init)
        self.sigma2_in = _nonnegative("sigma2_in", sigma2_in)
        self.sigma2_rec = _nonnegative("sigma2_rec", sigma2_rec)
        self.sigma2_out = _nonnegative("sigma2_out", sigma2_out)
        self.sigma_in, self.sigma_rec = math.sqrt(self.sigma2_in), math.sqrt(self.sigma2_rec)
        self.sigma_out = math.sqrt(self.sigma2_out)
        self.dt, self.tau = _positive("dt", dt), _positive("tau", tau)
        self.alpha = self.dt / self.tau
        if self.alpha > 1:
            raise ConfigError(
                f"rnn.dt / rnn.tau = {self.dt} / {self.tau} = {self.alpha} is not allowed; "
                "alpha = dt / tau must be in (0, 1]"
            )
        if activation_fn not in ACTIVATIONS:
            raise ConfigError(
                f"rnn.activation_fn = {activation_fn!r} is not allowed; choose one of {', '.join(ACTIVATIONS)}"
            )
        self.activation_fn = activation_fn
        if not isinstance(bias, bool):
            raise ConfigError(f"rnn.bias = {bias!r} is not allowed; it must be true or false")
        self.bias = bias
        self.noise_dist = check_noise_dist(noise_dist)
        gates = self.n_gates * n_rec
        self.encoder = _linear(n_init, n_rec, bias, generator)
        self.input = _linear(n_in, gates, bias, generator)
        self.recurrent = _linear(n_rec, gates, bias, generator)
        self.readout = _linear(n_rec, n_out, bias, generator)

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, activation_fn={self.activation_fn!r}, sigma_in={self.sigma_in}, "
            f"sigma_rec={self.sigma_rec}, sigma_out={self.sigma_out}, noise_dist={self.noise_dist!r}"
        )

    def initial_state(self, init_code: Tensor) -> Tensor:
        """h_0 = Encoder c_0 (linear, no nonlinearity): (B, n_init) -> (B, n_rec)."""
        if init_code.dim() != 2 or init_code.shape[1] != self.n_init:
            raise ValueError(f"init_code has shape {tuple(init_code.shape)}, expected (B, {self.n_init})")
        return self.encoder(init_code)

    def sample_noise(
        self,
        batch_size: int,
        steps: int,
        generator: torch.Generator | None,
        *,
        sigma_in: float | None = None,
        sigma_rec: float | None = None,
        sigma_out: float | None = None,
        noise_dist: str | None = None,
    ) -> NoiseSample:
        """Draw the noise of one forward call, at the model's levels unless overridden (standard deviations).

        Returns a :class:`NoiseSample` with (B, T, n_in), (B, T, n_rec), (B, T, n_out) tensors on the parameters'
        device and dtype (``None`` where the standard deviation is 0); ``forward(noise=...)`` accepts it.
        """
        stds = (
            self.sigma_in if sigma_in is None else check_std("sigma_in", sigma_in),
            self.sigma_rec if sigma_rec is None else check_std("sigma_rec", sigma_rec),
            self.sigma_out if sigma_out is None else check_std("sigma_out", sigma_out),
        )
        weight = self.readout.weight
        return sample_noise(
            batch_size, steps, (self.n_in, self.n_rec, self.n_out), stds,
            self.noise_dist if noise_dist is None else noise_dist, generator,
            device=weight.device, dtype=weight.dtype,
        )  # fmt: skip

    def forward(
        self,
        inputs: Tensor,
        init_code: Tensor | None = None,
        *,
        h0: Tensor | None = None,
        noise: NoiseSample | None = None,
        generator: torch.Generator | None = None,
        sigma_in: float | None = None,
        sigma_rec: float | None = None,
        sigma_out: float | None = None,
        noise_dist: str | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Run the network over a batch of input sequences.

        Args:
            inputs: (B, T, n_in) input per step (SN: displacement in metres per step; HD: radians per step).
            init_code: (B, n_init) code of the initial latent; h_0 = Encoder c_0. Exactly one of this and ``h0``.
            h0: (B, n_rec) initial hidden state, e.g. the last state of a previous call (chunked rollouts).
            noise: a precomputed :class:`NoiseSample` (from :meth:`sample_noise`) to use instead of drawing; then
                ``generator`` and the overrides below must not be given.
            generator: random stream of this call's noise; required when any standard deviation used is > 0.
            sigma_in: input-noise standard deviation for this call (default: the model's ``sigma_in``).
            sigma_rec: recurrent-noise standard deviation for this call (quiescence uses e.g. sigma_rec * sqrt 2).
            sigma_out: output-noise standard deviation for this call.
            noise_dist: noise distribution for this call (default: the model's ``noise_dist``).

        Returns:
            hidden: (B, T, n_rec) states h_1..h_T (recurrent noise included).
            outputs: (B, T, n_out) readouts y_1..y_T (output noise included).
        """
        if inputs.dim() != 3 or inputs.shape[2] != self.n_in:
            raise ValueError(f"inputs has shape {tuple(inputs.shape)}, expected (B, T, {self.n_in})")
        batch_size, steps, _ = inputs.shape
        if (init_code is None) == (h0 is None):
            raise ValueError("pass exactly one of init_code (B, n_init) and h0 (B, n_rec)")
        h = self.initial_state(init_code) if init_code is not None else h0
        assert h is not None  # exactly one of init_code and h0 is given (checked above)
        if h.shape != (batch_size, self.n_rec):
            raise ValueError(f"h0 has shape {tuple(h.shape)}, expected {(batch_size, self.n_rec)}")
        overrides = (generator, sigma_in, sigma_rec, sigma_out, noise_dist)
        if noise is None:
            noise = self.sample_noise(
                batch_size, steps, generator,
                sigma_in=sigma_in, sigma_rec=sigma_rec, sigma_out=sigma_out, noise_dist=noise_dist,
            )  # fmt: skip
        elif any(arg is not None for arg in overrides):
            raise ValueError("noise=... is a complete sample; do not also pass generator, sigma_* or noise_dist")
        else:
            noise.check_shapes(batch_size, steps, self.n_in, self.n_rec, self.n_out)
        return forward_time_major(self._run, inputs, h, noise, self.readout.weight, self.readout.bias)

    def _input_bias(self) -> Tensor | None:
        """Input and recurrent biases act on the same pre-activation, so they are added once, outside the loop."""
        return self.input.bias + self.recurrent.bias if self.bias else None

    @staticmethod
    def time_loop(
        x: Tensor,
        h0: Tensor,
        zeta: Tensor | None,
        w_in: Tensor,
        w_rec: Tensor,
        bias: Tensor | None,
        alpha: float,
        activation: str,
    ) -> Tensor:
        """This kind's time loop as a function of its weights (:func:`~reactivation.models.rnn.vanilla_loop`'s
        signature and shapes).

        A function rather than a method so that an :class:`~reactivation.models.ensemble.Ensemble` runs it on
        stacked weights; subclasses set it to their module-level loop.
        """
        raise NotImplementedError

    def _run(self, x: Tensor, h: Tensor, zeta: Tensor | None) -> Tensor:
        """Time loop: x (T, B, n_in) noisy inputs, h (B, n_rec) start, zeta (T, B, n_rec) noise -> (T, B, n_rec)."""
        return self.time_loop(
            x, h, zeta, self.input.weight, self.recurrent.weight, self._input_bias(), self.alpha, self.activation_fn
        )
