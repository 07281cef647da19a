"""The offline-phase protocol shared by the analyses (docs/spec.md §6-7): which batch, which rollouts.

For one analysis seed, every model is driven by a batch of its own task drawn from the same analysis
stream, so all models see the same random draws (a paired comparison); the active phase runs that batch
with the trained noise, and the quiescent phases start again from its encoded true initial states.

The pieces are :mod:`reactivation.analysis.phases` (the plain settings, the batch and its start, the quiescent
noise; re-exported here) and :mod:`reactivation.analysis.ensemble_phases` (several models as one batched
computation); this module runs them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from omegaconf import OmegaConf

from reactivation.analysis.ensemble_phases import simulate_batched
from reactivation.analysis.phases import (
    Phases,
    RolloutSettings,
    analysis_batch,
    noise_of,
    rollout_settings,
    sigma,
    start,
)
from reactivation.analysis.settings import Settings
from reactivation.loading import Setup, select_device
from reactivation.models import NoisyRecurrentBase, build_model
from reactivation.precision import matmul_precision
from reactivation.quiescence import rollout
from reactivation.seeding import generator

__all__ = [
    "Phases",
    "RolloutSettings",
    "States",
    "analysis_batch",
    "batched",
    "random_network",
    "rollout_settings",
    "simulate",
    "simulate_all",
    "states",
    "states_of",
]


def random_network(reference: Setup, s: Settings | RolloutSettings) -> NoisyRecurrentBase:
    """An untrained network of the reference run's shapes, trained-noise level ``s.noise``, from the analysis seed."""
    values = rollout_settings(s)
    rnn = cast(dict[str, Any], OmegaConf.to_container(reference.config.rnn))  # a config node: a str-keyed dict
    rnn["sigma2_rec"] = noise_of(values)
    model = build_model(rnn, generator(values.seed, "random_network"))
    return model.to(reference.device).eval()


def simulate(
    setup: Setup,
    s: Settings | RolloutSettings,
    batch_size: int,
    t_quiescent: int,
    *,
    modes: tuple[str, ...] | None = None,
    active: bool = True,
    keep_hidden: bool = False,
    keep_outputs: bool = False,
    model: NoisyRecurrentBase | None = None,
) -> Phases:
    """Run the analysis batch through a model: active phase, then quiescent phases from the same start.

    Args:
        setup: the loaded run (its task draws the batch and decodes the outputs).
        s: the analysis settings, or their plain :class:`RolloutSettings` (seed, noise, default mode, precision).
        batch_size: trajectories.
        t_quiescent: quiescent steps.
        modes: quiescence noise modes to run (default: ``(s.mode,)``; ``()``: none, the active phase alone).
        active: also run the active phase. Its noise is drawn from the stream before the quiescent phases', so
            leaving it out changes their draws.
        keep_hidden: keep hidden states (for PCA).
        keep_outputs: keep the outputs (the cells' activations, e.g. to turn them into spikes).
        model: run this model instead of the run's own (e.g. an untrained one), decoded by the run's task.
    """
    values = rollout_settings(s)
    model = setup.model if model is None else model
    begun = start(setup, model, values, batch_size)
    act = None
    with matmul_precision(values.precision, setup.device):
        if active:
            act = rollout(
                model,
                setup.task,
                begun.h0,
                begun.inputs.shape[1],
                inputs=begun.inputs,
                generator=begun.generator,
                keep_hidden=keep_hidden,
                keep_outputs=keep_outputs,
            )
        quiet = {
            mode: rollout(
                model,
                setup.task,
                begun.h0,
                t_quiescent,
                generator=begun.generator,
                keep_hidden=keep_hidden,
                keep_outputs=keep_outputs,
                sigma_rec=sigma(model.sigma_rec, mode, values),
            )
            for mode in ((values.mode,) if modes is None else modes)
        }
    return Phases(act, quiet)


def simulate_all(
    setups: Mapping[str, Setup],
    s: Settings,
    batch_size: int,
    t_quiescent: int,
    *,
    modes: Mapping[str, tuple[str, ...]] | None = None,
    active: bool = True,
    keep_hidden: bool = False,
    keep_outputs: bool = False,
) -> Iterator[tuple[str, Phases]]:
    """:func:`simulate` for every condition of an analysis, batched where ``s.cfg.batch_models`` says so.

    Batched, the models of one kind and shape run as one :class:`~reactivation.models.ensemble.Ensemble` (one
    batched computation per phase): each model's batch, initial state and noise are exactly those of its own
    :func:`simulate`, and its rollouts equal that function's up to the rounding of the batched products
    (docs/speed.md). Not batched, the models run one after another, each only when its result is asked for, so
    one model's rollouts are in memory at a time.

    Args:
        setups: condition -> loaded run.
        s: the analysis settings (as in :func:`simulate`, and ``batch_models`` and ``device``).
        batch_size: as in :func:`simulate`.
        t_quiescent: as in :func:`simulate`.
        active: as in :func:`simulate`.
        keep_hidden: as in :func:`simulate`.
        keep_outputs: as in :func:`simulate`.
        modes: condition -> quiescence modes for that condition (default: ``(s.mode,)`` for each).

    Yields:
        (condition, :class:`Phases`) in the order of ``setups``.
    """
    wanted = {name: (modes or {}).get(name) or (s.mode,) for name in setups}
    if not batched(s):
        for name, setup in setups.items():
            yield (
                name,
                simulate(
                    setup,
                    s,
                    batch_size,
                    t_quiescent,
                    modes=wanted[name],
                    active=active,
                    keep_hidden=keep_hidden,
                    keep_outputs=keep_outputs,
                ),
            )
        return
    keep = (keep_hidden, keep_outputs)
    yield from simulate_batched(setups, rollout_settings(s), batch_size, t_quiescent, wanted, active, keep)


def batched(s: Settings) -> bool:
    """Whether the analyses of ``s`` run the conditions' rollouts batched (``batch_models``: auto = on CUDA)."""
    choice = s.cfg.batch_models
    return select_device(s.cfg.device).type == "cuda" if choice == "auto" else bool(choice)


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


def states(setup: Setup, s: Settings | RolloutSettings, batch_size: int, t_quiescent: int) -> States:
    """:func:`simulate` with hidden states kept, in the default mode (docs/spec.md §8: 1000 trajectories, 200 steps)."""
    return states_of(simulate(setup, s, batch_size, t_quiescent, keep_hidden=True), s.mode)


def states_of(phases: Phases, mode: str) -> States:
    """The hidden states and decoded latents of ``phases`` (run with ``keep_hidden=True`` and the active phase)."""
    quiet = phases.quiescent[mode]
    if phases.active is None or phases.active.hidden is None or quiet.hidden is None:
        raise ValueError("states() needs phases simulated with active=True and keep_hidden=True")
    return States(
        phases.active.hidden.numpy(), quiet.hidden.numpy(), phases.active.decoded.numpy(), quiet.decoded.numpy()
    )
