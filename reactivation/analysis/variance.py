"""output_variance.py: how widely each network's quiescent decoded outputs spread (docs/spec.md §7).

Per trajectory, the total variance (trace of the sample covariance, ddof 1) of the decoded positions
over the quiescent steps after ``t_shift``, as the task's geometry measures it: m² in a box or on a track, the
circular variance 1 − R on the circle (HD). The result is
the mean over trajectories: ``{condition: value}``.
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

from reactivation.analysis import lookup, protocol, results
from reactivation.analysis.settings import Settings
from reactivation.geometry import Geometry


def run(s: Settings) -> dict:
    """Compute the quiescent variance of every condition of ``s`` and write it."""
    cfg = s.cfg  # t_shift leaves at least 2 steps (checked by analysis.settings)
    loaded = lookup.load_conditions(s)
    result: dict[str, float] = {}
    geometry: Geometry | None = None
    setups = {name: setup for name, (_, setup) in loaded.items()}
    simulated = protocol.simulate_all(setups, s, cfg.batch_size, cfg.t_quiescent, active=False)
    for name, phases in tqdm(simulated, desc="models", total=len(setups), disable=not cfg.progress):
        kept = phases.quiescent[s.mode].decoded[:, cfg.t_shift :].double().numpy()
        geometry = setups[name].task.geometry
        result[name] = float(geometry.trajectory_variance(kept).mean())
    assert geometry is not None  # a family has at least one condition (its presets: FAMILIES), so the loop ran
    meta = {"unit": geometry.variance_unit, "runs": {name: str(run_dir) for name, (run_dir, _) in loaded.items()}}
    path = results.write_result(s, "variance", result, meta)
    return {"path": str(path), "variance": result}


def result_problem(data: Any, conditions: list[str]) -> str | None:
    """What makes ``data`` not a variance result of ``conditions`` (a number each); ``None`` if nothing."""
    return results.entries_problem(data, conditions, "", results.number)
