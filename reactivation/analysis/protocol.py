"""The offline-phase protocol shared by the analyses (docs/spec.md §6-7): which batch, which rollouts.

For one analysis seed, every model is driven by a batch of its own task drawn from the same analysis
stream, so all models see the same random draws (a paired comparison); the active phase runs that batch
with the trained noise, and the quiescent phases start again from its encoded true initial states.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from omegaconf import OmegaConf
from torch import Tensor

from reactivation.analysis.settings import Settings
from reactivation.loading import Setup, select_device
from reactivation.models import NoisyRecurrentBase, build_model
from reactivation.models.ensemble import SHARED, Ensemble
from reactivation.precision import matmul_precision
from reactivation.quiescence import Rollout, ensemble_rollout, quiescent_sigma, rollout
from reactivation.seeding import generator
from reactivation.tasks import Batch


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
    keep_outputs: bool = False,
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
        keep_outputs: keep the outputs (the cells' activations, e.g. to turn them into spikes).
        model: run this model instead of the run's own (e.g. an untrained one), decoded by the run's task.
    """
    model = setup.model if model is None else model
    start = _start(setup, model, s, batch_size)
    act = None
    with matmul_precision(s.cfg.matmul_precision, setup.device):
        if active:
            act = rollout(
                model,
                setup.task,
                start.h0,
                start.inputs.shape[1],
                inputs=start.inputs,
                generator=start.generator,
                keep_hidden=keep_hidden,
                keep_outputs=keep_outputs,
            )
        quiet = {
            mode: rollout(
                model,
                setup.task,
                start.h0,
                t_quiescent,
                generator=start.generator,
                keep_hidden=keep_hidden,
                keep_outputs=keep_outputs,
                sigma_rec=quiescent_sigma(model.sigma_rec, mode, s.noise),
            )
            for mode in (modes or (s.mode,))
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
        s: as in :func:`simulate`.
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
    starts = {name: _start(setup, setup.model, s, batch_size) for name, setup in setups.items()}
    groups: dict[tuple, list[str]] = {}
    for name, setup in setups.items():
        groups.setdefault(_shape(setup, starts[name]), []).append(name)
    done: dict[str, Phases] = {}
    pending = list(setups)
    for names in groups.values():
        chosen = {name: setups[name] for name in names}
        with matmul_precision(s.cfg.matmul_precision, setups[names[0]].device):
            keep = (keep_hidden, keep_outputs)
            done.update(_batched_phases(chosen, starts, wanted, s.noise, t_quiescent, active, keep))
        while pending and pending[0] in done:  # in the order of setups, each as soon as it and those before are done
            name = pending.pop(0)
            yield name, done.pop(name)


def batched(s: Settings) -> bool:
    """Whether the analyses of ``s`` run the conditions' rollouts batched (``batch_models``: auto = on CUDA)."""
    choice = s.cfg.batch_models
    return select_device(s.cfg.device).type == "cuda" if choice == "auto" else bool(choice)


@dataclass(frozen=True)
class _Start:
    """One model's analysis batch: its random stream (advanced past the batch), inputs and initial state."""

    generator: torch.Generator
    inputs: Tensor  # (B, T, n_in)
    h0: Tensor  # (B, n_rec)


def analysis_batch(setup: Setup, s: Settings, batch_size: int) -> tuple[Batch, torch.Generator]:
    """The analysis batch every phase of ``setup`` starts from (its true latents too), and its stream, advanced past
    it (the phases' noise comes next)."""
    gen = generator(s.seed, "analysis", setup.device)
    return setup.task.sample(batch_size, gen), gen


def _start(setup: Setup, model: NoisyRecurrentBase, s: Settings, batch_size: int) -> _Start:
    """Draw the analysis batch of ``setup``'s task from a fresh analysis stream and encode its initial states."""
    batch, gen = analysis_batch(setup, s, batch_size)
    with torch.no_grad():
        h0 = model.initial_state(batch.init_code)
    return _Start(gen, batch.inputs, h0)


def _shape(setup: Setup, start: _Start) -> tuple:
    """What models must share to run in one ensemble: kind, shapes, device and dtype, and their batch's shape."""
    model, weight = setup.model, setup.model.readout.weight
    return (
        type(model),
        tuple(getattr(model, key) for key in SHARED),
        type(setup.task),
        weight.device,
        weight.dtype,
        tuple(start.inputs.shape),
    )


def _batched_phases(
    setups: dict[str, Setup],
    starts: dict[str, _Start],
    wanted: dict[str, tuple[str, ...]],
    noise: float,
    t_quiescent: int,
    active: bool,
    keep: tuple[bool, bool],
) -> dict[str, Phases]:
    """The phases of models that share a shape: each phase one ensemble rollout of the models that run it.

    Each model's stream is used in the order :func:`simulate` uses it (active phase, then its modes in order), so
    its noise is the same draws. ``keep``: (hidden states, outputs) kept.
    """
    names = list(setups)
    keep_hidden, keep_outputs = keep
    actives: dict[str, Rollout | None] = dict.fromkeys(names)
    quiet: dict[str, dict[str, Rollout]] = {name: {} for name in names}

    def run(chosen: list[str], steps: int, inputs: bool, sigmas: list[float] | None) -> list[Rollout]:
        if len(chosen) == 1:  # nothing to batch with: the single model's own path
            (name,) = chosen
            return [
                rollout(
                    setups[name].model,
                    setups[name].task,
                    starts[name].h0,
                    steps,
                    inputs=starts[name].inputs if inputs else None,
                    generator=starts[name].generator,
                    keep_hidden=keep_hidden,
                    keep_outputs=keep_outputs,
                    sigma_rec=None if sigmas is None else sigmas[0],
                )
            ]
        return ensemble_rollout(
            Ensemble([setups[name].model for name in chosen]),
            [setups[name].task for name in chosen],
            torch.stack([starts[name].h0 for name in chosen]),
            steps,
            inputs=torch.stack([starts[name].inputs for name in chosen]) if inputs else None,
            generators=[starts[name].generator for name in chosen],
            sigma_rec=sigmas,
            keep_hidden=keep_hidden,
            keep_outputs=keep_outputs,
        )

    if active:
        steps = starts[names[0]].inputs.shape[1]
        actives.update(zip(names, run(names, steps, True, None)))
    order = list(dict.fromkeys(mode for name in names for mode in wanted[name]))
    for mode in order:
        chosen = [name for name in names if mode in wanted[name]]
        sigmas = [quiescent_sigma(setups[name].model.sigma_rec, mode, noise) for name in chosen]
        for name, result in zip(chosen, run(chosen, t_quiescent, False, sigmas)):
            quiet[name][mode] = result
    return {name: Phases(actives[name], quiet[name]) for name in names}


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
