"""output_variance.py: how widely each network's quiescent decoded outputs spread (SPEC §7).

Per trajectory, the total variance (trace of the sample covariance, ddof 1) of the decoded positions
over the quiescent steps after ``t_shift``, in m²; HD uses the circular variance 1 − R. The result is
the mean over trajectories: ``{condition: value}``.
"""

from __future__ import annotations

from tqdm.auto import tqdm

from reactivation.analysis import lookup, metrics, protocol, results
from reactivation.analysis.settings import Settings


def run(s: Settings) -> dict:
    """Compute the quiescent variance of every condition of ``s`` and write it."""
    cfg = s.cfg  # t_shift leaves at least 2 steps (checked by analysis.settings)
    loaded = lookup.load_conditions(s)
    result = {}
    for name, (_, setup) in tqdm(loaded.items(), desc="models", disable=not cfg.progress):
        phases = protocol.simulate(setup, s, cfg.batch_size, cfg.t_quiescent, active=False)
        kept = phases.quiescent[s.mode].decoded[:, cfg.t_shift:].double().numpy()
        per_trajectory = (metrics.circular_variance(kept[..., 0]) if s.task == "head_direction"
                          else metrics.total_variance(kept))
        result[name] = float(per_trajectory.mean())
    meta = {"unit": "rad-free circular variance (1 - R)" if s.task == "head_direction" else "m^2",
            "runs": {name: str(run_dir) for name, (run_dir, _) in loaded.items()}}
    path = results.write_result(s, "variance", result, meta)
    return {"path": str(path), "variance": result}
