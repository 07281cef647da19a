"""output_distance.py: mean step length of decoded outputs, active vs quiescent (docs/spec.md §7).

Per trajectory, the mean distance between consecutive decoded outputs (the T − 1 differences), as the task's
geometry measures it: m in a box or on a track, wrapped rad on the circle (HD, which also reports the mean signed
angular velocity, rad/step). Networks trained
without noise are also run with noise added (``absolute`` mode): ``quiescent_noisy``.
Result: ``{condition: {"active": ..., "quiescent": ..., ["quiescent_noisy": ...,] ...}}``, means over
trajectories.
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

from reactivation.analysis import lookup, protocol, results
from reactivation.analysis.protocol import Phases
from reactivation.analysis.settings import Settings
from reactivation.geometry import Geometry
from reactivation.loading import Setup


def summarize(phases: Phases, geometry: Geometry, mode: str) -> dict[str, float]:
    """The step statistics of one condition's active phase and its quiescent phase of ``mode``:
    ``{"active": ..., "quiescent": ..., ...}`` (unit/step; the circle adds the signed velocities)."""
    assert phases.active is not None  # simulate runs the active phase by default (active=True)
    entry = geometry.step_summary(phases.active.decoded.numpy(), "active")
    entry.update(geometry.step_summary(phases.quiescent[mode].decoded.numpy(), "quiescent"))
    return entry


def modes_of(setup: Setup, s: Settings) -> tuple[str, ...]:
    """The quiescence modes a condition runs in: ``s.mode``, and ``absolute`` too (noise added) for a network
    trained without noise."""
    return (s.mode, "absolute") if setup.model.sigma_rec == 0 and s.mode != "absolute" else (s.mode,)


def condition_summary(phases: Phases, geometry: Geometry, s: Settings) -> dict[str, float]:
    """:func:`summarize` of a condition simulated in :func:`modes_of`'s modes, with ``quiescent_noisy_*`` when it
    ran with noise added."""
    entry = summarize(phases, geometry, s.mode)
    if "absolute" in phases.quiescent and s.mode != "absolute":
        entry.update(geometry.step_summary(phases.quiescent["absolute"].decoded.numpy(), "quiescent_noisy"))
    return entry


def run(s: Settings) -> dict:
    """Compute the step distances of every condition of ``s`` and write them."""
    cfg = s.cfg
    loaded = lookup.load_conditions(s)
    result: dict[str, dict[str, float]] = {}
    geometry: Geometry | None = None
    setups = {name: setup for name, (_, setup) in loaded.items()}
    modes = {name: modes_of(setup, s) for name, setup in setups.items()}
    simulated = protocol.simulate_all(setups, s, cfg.batch_size, cfg.t_quiescent, modes=modes)
    for name, phases in tqdm(simulated, desc="models", total=len(setups), disable=not cfg.progress):
        geometry = setups[name].task.geometry
        result[name] = condition_summary(phases, geometry, s)
    assert geometry is not None  # a family has at least one condition (its presets: FAMILIES), so the loop ran
    meta = {"unit": f"{geometry.unit}/step", "runs": {name: str(run_dir) for name, (run_dir, _) in loaded.items()}}
    path = results.write_result(s, "distance", result, meta)
    return {"path": str(path), "distance": result}


def result_problem(data: Any, conditions: list[str]) -> str | None:
    """What makes ``data`` not a distance result of ``conditions`` (numbers each); ``None`` if nothing."""
    return results.entries_problem(data, conditions, "", results.numbers)
