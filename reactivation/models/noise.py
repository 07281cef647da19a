"""Noise injected into the noisy recurrent models (docs/spec.md §4).

Three distributions, chosen by ``rnn.noise_dist``:

* ``gaussian`` (default): every noise term is ``sigma * N(0, 1)``, the zero-mean noise the paper's theory assumes.
* ``uniform``: reproduces the published code, which drew input and recurrent noise as ``sigma * U[0, 1)``
  (mean ``0.5 sigma``, standard deviation ``sigma / sqrt(12)``); its output noise was Gaussian, and so is ours.
* ``gaussian_matched``: input and recurrent noise ``(sigma / sqrt(12)) * N(0, 1)``, the variance of ``uniform``
  without its mean, so that the two effects of the published draws (less variance, a drift) can be told apart;
  output noise is ``sigma_out * N(0, 1)`` as in the other two.

All noise of one forward call is drawn up front, one draw per kind, so that the time loop does no random number
generation and so that a test can feed the very same sample to a reference implementation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from reactivation import ConfigError

NOISE_DISTS = ("gaussian", "uniform", "gaussian_matched")
#: Standard deviation of U[0, 1): ``gaussian_matched`` scales sigma by it to get the variance of ``uniform``.
UNIFORM_STD = 1.0 / math.sqrt(12.0)


@dataclass(frozen=True)
class NoiseSample:
    """Noise for one forward call, already multiplied by its standard deviation.

    Each tensor is batch-major like the model's inputs and outputs; a kind whose standard deviation is 0 is
    ``None`` (and costs nothing). Samples drawn by :func:`sample_noise` are stored time-major underneath (the tensors
    are transposed views), so the model's time loop reads contiguous slices.

    Attributes:
        input: (B, T, n_in) noise added to the inputs before the input projection (``sigma_in * xi``).
        recurrent: (B, T, n_rec) noise added to the hidden state after each step (``sigma_rec * zeta``).
        output: (B, T, n_out) noise added to the readout (``sigma_out * eps``), always Gaussian.
    """

    input: Tensor | None = None
    recurrent: Tensor | None = None
    output: Tensor | None = None

    def check_shapes(self, batch_size: int, steps: int, n_in: int, n_rec: int, n_out: int) -> None:
        """Raise ``ValueError`` if a tensor does not have the shape a forward call of this size needs."""
        for name, width in (("input", n_in), ("recurrent", n_rec), ("output", n_out)):
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != (batch_size, steps, width):
                raise ValueError(
                    f"noise.{name} has shape {tuple(value.shape)}, expected {(batch_size, steps, width)} (B, T, n)"
                )

    def check_stacked_shapes(
        self, members: int, batch_size: int, steps: int, n_in: int, n_rec: int, n_out: int
    ) -> None:
        """Raise ``ValueError`` if a tensor does not have the (E, B, T, n) shape an ensemble's forward call needs."""
        for name, width in (("input", n_in), ("recurrent", n_rec), ("output", n_out)):
            value = getattr(self, name)
            expected = (members, batch_size, steps, width)
            if value is not None and tuple(value.shape) != expected:
                raise ValueError(f"noise.{name} has shape {tuple(value.shape)}, expected {expected} (E, B, T, n)")


def check_noise_dist(noise_dist: str) -> str:
    """Return ``noise_dist`` if it is a known distribution, else raise :class:`ConfigError`."""
    if noise_dist not in NOISE_DISTS:
        raise ConfigError(f"rnn.noise_dist = {noise_dist!r} is not allowed; choose one of {', '.join(NOISE_DISTS)}")
    return noise_dist


def check_std(name: str, value: float) -> float:
    """Return ``value`` as a float if it is a finite, non-negative standard deviation, else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} = {value!r} is not allowed; a noise standard deviation must be a finite number >= 0")
    return float(value)


def moments(dist: str, sigma: float) -> tuple[float, float]:
    """The mean and standard deviation of one noise term of scale ``sigma`` under ``dist`` (input and recurrent
    noise; output noise is always Gaussian).

    ``gaussian``: (0, σ); ``uniform``: σ·U[0, 1), so (σ/2, σ/√12); ``gaussian_matched``: (0, σ/√12). The theory's
    per-step noise s is the standard deviation, and a non-zero mean acts on a network as a constant input
    (docs/theory.md).
    """
    check_noise_dist(dist)
    sigma = check_std("sigma", sigma)
    if dist == "gaussian":
        return 0.0, sigma
    return (0.5 * sigma if dist == "uniform" else 0.0), sigma * UNIFORM_STD


def draw(
    shape: tuple[int, int, int],
    std: float,
    dist: str,
    generator: torch.Generator | None,
    *,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor | None:
    """Draw one batch-major noise tensor, scaled by ``std``, in a single generator call.

    Args:
        shape: (B, T, n) shape of the result.
        std: the scale ``sigma`` (see :func:`fill`).
        dist: ``gaussian``, ``uniform`` or ``gaussian_matched`` (see :func:`fill`).
        generator: the random stream to draw from (on ``device``); may be ``None`` when ``std`` is 0 (nothing is
            drawn).
        device: device of the result.
        dtype: floating dtype of the result.

    Returns:
        (B, T, n) tensor (a transposed view of a contiguous (T, B, n) buffer), or ``None`` if ``std`` is 0.
    """
    if std == 0.0:
        return None
    batch, steps, width = shape
    # Time-major storage: the time loop unbinds along dim 0 of the underlying buffer and gets contiguous slices.
    buffer = torch.empty((steps, batch, width), device=device, dtype=dtype)
    fill(buffer, std, dist, generator)
    return buffer.transpose(0, 1)


def fill(buffer: Tensor, std: float, dist: str, generator: torch.Generator | None) -> Tensor:
    """Fill ``buffer`` in place with ``dist`` noise of scale ``std``, in one generator call; returns it.

    The one place a distribution becomes generator calls, shared by :func:`draw` and the ensemble's per-member
    blocks, so that a member's noise is bit-identical to its single model's.

    Args:
        buffer: tensor of any shape to overwrite (contiguous, so the draw fills it in memory order).
        std: the scale ``sigma`` (a standard deviation for ``gaussian``, the width of the interval for ``uniform``,
            ``sqrt(12)`` times the standard deviation for ``gaussian_matched``).
        dist: ``gaussian`` (``std * N(0, 1)``), ``uniform`` (``std * U[0, 1)``) or ``gaussian_matched``
            (``std / sqrt(12) * N(0, 1)``).
        generator: the random stream to draw from (on ``buffer``'s device).

    Raises:
        ConfigError: an unknown ``dist``.
    """
    if dist == "gaussian":
        buffer.normal_(0.0, std, generator=generator)
    elif dist == "uniform":
        buffer.uniform_(0.0, std, generator=generator)
    elif dist == "gaussian_matched":
        # The same single normal_ call as gaussian, at the uniform draw's standard deviation (variance sigma^2 / 12).
        buffer.normal_(0.0, std * UNIFORM_STD, generator=generator)
    else:
        check_noise_dist(dist)
    return buffer


def sample_noise(
    batch_size: int,
    steps: int,
    widths: tuple[int, int, int],
    stds: tuple[float, float, float],
    dist: str,
    generator: torch.Generator | None,
    *,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> NoiseSample:
    """Draw the input, recurrent and output noise of one forward call (in that order).

    Args:
        batch_size: B, the number of trajectories.
        steps: T, the number of time steps.
        widths: (n_in, n_rec, n_out) widths of the three noise kinds.
        stds: (sigma_in, sigma_rec, sigma_out) standard deviations (unitless scale of each term).
        dist: distribution of the input and recurrent noise (one of :data:`NOISE_DISTS`); output noise is Gaussian.
        generator: random stream; required when any of ``stds`` is > 0.
        device: device of the noise.
        dtype: floating dtype of the noise.

    Returns:
        A :class:`NoiseSample`; kinds with standard deviation 0 are ``None`` and nothing is drawn for them.
    """
    check_noise_dist(dist)
    if generator is None and any(std > 0 for std in stds):
        raise ValueError(
            f"a torch.Generator is required to draw noise (sigma_in, sigma_rec, sigma_out = {stds}); "
            "pass generator=... (noise is on in training and evaluation alike)"
        )
    (n_in, n_rec, n_out), (s_in, s_rec, s_out) = widths, stds
    return NoiseSample(
        input=draw((batch_size, steps, n_in), s_in, dist, generator, device=device, dtype=dtype),
        recurrent=draw((batch_size, steps, n_rec), s_rec, dist, generator, device=device, dtype=dtype),
        output=draw((batch_size, steps, n_out), s_out, "gaussian", generator, device=device, dtype=dtype),
    )


def member_stds(name: str, override: float | Sequence[float] | None, own: tuple[float, ...]) -> tuple[float, ...]:
    """Per-member standard deviations of one noise kind: the members' ``own``, one override for all, or one per
    member (an ensemble's ``sigma_*`` arguments).

    Raises:
        ValueError: an override sequence whose length is not the number of members.
        ConfigError: an override that is not a finite number >= 0.
    """
    if override is None:
        return own
    if isinstance(override, Sequence):
        if len(override) != len(own):
            raise ValueError(f"{name} has {len(override)} values for {len(own)} members")
        return tuple(check_std(f"{name}[{k}]", value) for k, value in enumerate(override))
    return (check_std(name, override),) * len(own)


def sample_stacked_noise(
    batch_size: int,
    steps: int,
    widths: tuple[int, int, int],
    stds: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]],
    dists: Sequence[str],
    generators: Sequence[torch.Generator | None],
    *,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> NoiseSample:
    """Draw the noise of one forward call of E stacked networks, member k from ``generators[k]``.

    Member k draws input, recurrent and output noise in that order, at its standard deviations ``stds[i][k]`` and
    ``dists[k]`` (output noise always Gaussian), into its contiguous (T, B, n) block of an (E, T, B, n) buffer: the
    values are bit-identical to :func:`sample_noise` of its own. A member whose standard deviation of a kind is 0
    draws nothing for it and gets zeros there; a kind that is 0 for every member is ``None``.

    Args:
        batch_size: B, trajectories per member.
        steps: T, time steps.
        widths: (n_in, n_rec, n_out) widths of the three noise kinds.
        stds: (sigma_in, sigma_rec, sigma_out), each E standard deviations.
        dists: E distributions of the input and recurrent noise.
        generators: E random streams; one may be ``None`` only for a member that draws nothing.
        device: device of the noise.
        dtype: floating dtype of the noise.

    Returns:
        A :class:`NoiseSample` of (E, B, T, n_in), (E, B, T, n_rec), (E, B, T, n_out) tensors (transposed views of
        time-major buffers).

    Raises:
        ValueError: a missing generator for a member that draws.
    """
    for k, generator in enumerate(generators):
        if generator is None and any(std[k] > 0 for std in stds):
            raise ValueError(
                f"a torch.Generator is required to draw noise for member {k} (sigma_in, sigma_rec, sigma_out = "
                f"{tuple(std[k] for std in stds)}); pass generators=[...] (noise is on in training and evaluation)"
            )
    shape = (len(generators), steps, batch_size)
    buffers = [
        torch.empty((*shape, width), device=device, dtype=dtype) if any(std) else None
        for width, std in zip(widths, stds)
    ]
    for k, generator in enumerate(generators):
        for index, (buffer, std) in enumerate(zip(buffers, stds)):
            if buffer is None:
                continue
            block = buffer[k]  # contiguous (T, B, n): draws fill it exactly as they fill a fresh tensor
            if std[k] == 0.0:
                block.zero_()
            else:  # output noise (index 2) is always Gaussian; the draw is the one sample_noise makes
                fill(block, std[k], "gaussian" if index == 2 else dists[k], generator)
    return NoiseSample(*(None if buffer is None else buffer.transpose(1, 2) for buffer in buffers))
