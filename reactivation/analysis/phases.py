"""One model's start on the analysis batch and what its phases produce (docs/spec.md §6): the plain settings a
rollout takes (:class:`RolloutSettings`), the batch and its stream (:func:`analysis_batch`), the encoded start
(:func:`start`), the quiescent noise of a mode (:func:`sigma`) and the rollouts kept (:class:`Phases`).

:mod:`reactivation.analysis.protocol` runs the phases from these; :mod:`reactivation.analysis.ensemble_phases` runs
those of several models at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from reactivation.analysis.settings import Settings
from reactivation.loading import Setup
from reactivation.models import NoisyRecurrentBase
from reactivation.modes import noise_factor
from reactivation.quiescence import Rollout, quiescent_sigma
from reactivation.seeding import generator
from reactivation.tasks import Batch


@dataclass(frozen=True)
class RolloutSettings:
    """What the rollouts of a run on its analysis batch depend on, besides the run and the sizes: plain values.

    An analysis's :class:`~reactivation.analysis.settings.Settings` gives them (:func:`rollout_settings`); the export
    gives them directly (:func:`reactivation.export.rollout`).

    Attributes:
        seed: the analysis seed: the ``analysis`` stream draws the batch and then the noise, the ``random_network``
            stream an untrained network.
        noise: the variance ``absolute`` mode doubles (σ_q = √(2 · noise)) and an untrained network's trained noise
            σ²_rec; ``None`` where neither is run (an active rollout alone).
        mode: the quiescence noise mode run when none is asked for (``scaled``, ``same``, ``absolute`` or a factor c).
        precision: the precision of the float32 matrix products (:data:`reactivation.precision.PRECISIONS`).
    """

    seed: int
    noise: float | None
    mode: str
    precision: str = "float32"


def rollout_settings(s: Settings | RolloutSettings) -> RolloutSettings:
    """The rollout settings of an analysis's settings (its seed, noise, mode and ``matmul_precision``)."""
    if isinstance(s, RolloutSettings):
        return s
    return RolloutSettings(s.seed, s.noise, s.mode, str(s.cfg.matmul_precision))


def noise_of(values: RolloutSettings) -> float:
    """``values.noise``, which absolute mode and an untrained network need.

    Raises:
        ValueError: none was given.
    """
    if values.noise is None:
        raise ValueError("this rollout needs a noise variance (absolute mode, or an untrained network): give noise=")
    return values.noise


def sigma(trained_sigma_rec: float, mode: str, values: RolloutSettings) -> float:
    """The quiescent σ_rec of ``mode`` (:func:`reactivation.quiescence.quiescent_sigma`); the noise variance is read
    only by the mode that needs it (``absolute``)."""
    if noise_factor(mode) is not None:  # a factor of the trained noise
        return quiescent_sigma(trained_sigma_rec, mode)
    return quiescent_sigma(trained_sigma_rec, mode, noise_of(values))


@dataclass(frozen=True)
class Phases:
    """Rollouts of one model on the analysis batch.

    Attributes:
        active: the task's inputs with the trained noise (``None`` if not asked for).
        quiescent: zero input, one rollout per requested noise mode.
    """

    active: Rollout | None
    quiescent: dict[str, Rollout]


@dataclass(frozen=True)
class Start:
    """One model's analysis batch: its random stream (advanced past the batch), inputs and initial state."""

    generator: torch.Generator
    inputs: Tensor  # (B, T, n_in)
    h0: Tensor  # (B, n_rec)


def analysis_batch(setup: Setup, s: Settings | RolloutSettings, batch_size: int) -> tuple[Batch, torch.Generator]:
    """The analysis batch every phase of ``setup`` starts from (its true latents too), and its stream, advanced past
    it (the phases' noise comes next)."""
    gen = generator(rollout_settings(s).seed, "analysis", setup.device)
    return setup.task.sample(batch_size, gen), gen


def start(setup: Setup, model: NoisyRecurrentBase, values: RolloutSettings, batch_size: int) -> Start:
    """Draw the analysis batch of ``setup``'s task from a fresh analysis stream and encode its initial states."""
    batch, gen = analysis_batch(setup, values, batch_size)
    with torch.no_grad():
        h0 = model.initial_state(batch.init_code)
    return Start(gen, batch.inputs, h0)
