"""The analysis phases of several models run as one batched computation (docs/speed.md): each model of a group
that shares kind and shapes is a member of an :class:`~reactivation.models.ensemble.Ensemble`, its batch, start and
noise those of its own :func:`reactivation.analysis.protocol.simulate`, its rollouts equal to that function's up to
the rounding of the batched products."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch

from reactivation.analysis.phases import Phases, RolloutSettings, Start, sigma, start
from reactivation.loading import Setup
from reactivation.models.ensemble import SHARED, Ensemble
from reactivation.precision import matmul_precision
from reactivation.quiescence import Rollout, ensemble_rollout, rollout


def simulate_batched(
    setups: Mapping[str, Setup],
    values: RolloutSettings,
    batch_size: int,
    t_quiescent: int,
    wanted: dict[str, tuple[str, ...]],
    active: bool,
    keep: tuple[bool, bool],
) -> Iterator[tuple[str, Phases]]:
    """:func:`~reactivation.analysis.protocol.simulate_all` batched: the models grouped by what they must share (kind,
    shapes, device), each group run as one ensemble; yielded in the order of ``setups``."""
    starts = {name: start(setup, setup.model, values, batch_size) for name, setup in setups.items()}
    groups: dict[tuple, list[str]] = {}
    for name, setup in setups.items():
        groups.setdefault(_shape(setup, starts[name]), []).append(name)
    done: dict[str, Phases] = {}
    pending = list(setups)
    for names in groups.values():
        chosen = {name: setups[name] for name in names}
        with matmul_precision(values.precision, setups[names[0]].device):
            done.update(_batched_phases(chosen, starts, wanted, values, t_quiescent, active, keep))
        while pending and pending[0] in done:  # in the order of setups, each as soon as it and those before are done
            name = pending.pop(0)
            yield name, done.pop(name)


def _shape(setup: Setup, start: Start) -> tuple:
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
    starts: dict[str, Start],
    wanted: dict[str, tuple[str, ...]],
    values: RolloutSettings,
    t_quiescent: int,
    active: bool,
    keep: tuple[bool, bool],
) -> dict[str, Phases]:
    """The phases of models that share a shape: each phase one ensemble rollout of the models that run it.

    Each model's stream is used in the order :func:`~reactivation.analysis.protocol.simulate` uses it (active
    phase, then its modes in order), so its noise is the same draws. ``keep``: (hidden states, outputs) kept.
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
        sigmas = [sigma(setups[name].model.sigma_rec, mode, values) for name in chosen]
        for name, result in zip(chosen, run(chosen, t_quiescent, False, sigmas)):
            quiet[name][mode] = result
    return {name: Phases(actives[name], quiet[name]) for name in names}
