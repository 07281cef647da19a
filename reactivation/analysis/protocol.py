"""The offline-phase protocol shared by the analyses (SPEC §6-7): which batch, which rollouts.

For one analysis seed, every model is driven by a batch of its own task drawn from the same analysis
stream, so all models see the same random draws (a paired comparison); the active phase runs that batch
with the trained noise, and the quiescent phases start again from its encoded true initial states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from omegaconf import OmegaConf

from reactivation.analysis.settings import Settings
from reactivation.loading import Setup
from reactivation.models import NoisyRecurrentBase, build_model
from reactivation.precision import matmul_precision
from reactivation.quiescence import Rollout, quiescent_sigma, rollout
from reactivation.seeding import generator


def random_network(reference: Setup, s: Settings) -> NoisyRecurrentBase:
    """An untrained network of the reference run's shapes, trained-noise level ``s.noise``, from the analysis seed."""
    rnn = cast(dict[str, Any], OmegaConf.to_container(reference.config.rnn))  # a config node: a str-keyed dict
    rnn["sigma2_rec"] = s.noise
    model = build_model(rnn, generator(s.seed, "random_network"))
    return model.to(reference.device).eval()


@dataclass(frozen=True)
class Phases:
    """Rollouts of one model on the analysis batch.

    Attributes:
        active: the task's inputs with the trained noise (``None`` if not asked for).
        quiescent: zero input, one rollout per requested noise mode.
    """

    active: Rollout | None
    quiescent: dict[str, Rollout]


def simulate(
    setup: Setup,
    s: Settings,
    batch_size: int,
    t_quiescent: int,
    *,
    modes: tuple[str, ...] | None = None,
    active: bool = True,
    keep_hidden: bool = False,
    model: NoisyRecurrentBase | None = None,
) -> Phases:
    """Run the analysis batch through a model: active phase, then quiescent phases from the same start.

    Args:
        setup: the loaded run (its task draws the batch and decodes the outputs).
        s: the analysis settings (seed, noise, default mode).
        batch_size: trajectories.
        t_quiescent: quiescent steps.
        modes: quiescence noise modes to run (default: ``(s.mode,)``).
        active: also run the active phase.
        keep_hidden: keep hidden states (for PCA).
        model: run this model instead of the run's own (e.g. an untrained one), decoded by the run's task.
    """
    model = setup.model if model is None else model
    gen = generator(s.seed, "analysis", setup.device)
    batch = setup.task.sample(batch_size, gen)
    with torch.no_grad():
        h0 = model.initial_state(batch.init_code)
    act = None
    with matmul_precision(s.cfg.matmul_precision, setup.device):
        if active:
            act = rollout(
                model,
                setup.task,
                h0,
                batch.inputs.shape[1],
                inputs=batch.inputs,
                generator=gen,
                keep_hidden=keep_hidden,
            )
        quiet = {
            mode: rollout(
                model,
                setup.task,
                h0,
                t_quiescent,
                generator=gen,
                keep_hidden=keep_hidden,
                sigma_rec=quiescent_sigma(model.sigma_rec, mode, s.noise),
            )
            for mode in (modes or (s.mode,))
        }
    return Phases(act, quiet)


@dataclass(frozen=True)
class States:
    """Active and quiescent rollouts of one model on the analysis batch, hidden states kept (numpy, on CPU).

    Attributes:
        active_hidden: (B, T, n_rec); quiescent_hidden: (B, T_q, n_rec).
        active_decoded: (B, T, d); quiescent_decoded: (B, T_q, d) (metres or radians).
    """

    active_hidden: np.ndarray
    quiescent_hidden: np.ndarray
    active_decoded: np.ndarray
    quiescent_decoded: np.ndarray


def states(setup: Setup, s: Settings, batch_size: int, t_quiescent: int) -> States:
    """:func:`simulate` with hidden states kept, in the default mode (SPEC §8: 1000 trajectories, 200 steps)."""
    phases = simulate(setup, s, batch_size, t_quiescent, keep_hidden=True)
    quiet = phases.quiescent[s.mode]
    # simulate ran the active phase (active=True) and kept the hidden states of both phases (keep_hidden=True).
    assert phases.active is not None and phases.active.hidden is not None and quiet.hidden is not None
    return States(
        phases.active.hidden.numpy(), quiet.hidden.numpy(), phases.active.decoded.numpy(), quiet.decoded.numpy()
    )
