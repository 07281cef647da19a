"""output_distance.py: mean step length of decoded outputs, active vs quiescent (SPEC §7).

Per trajectory, the mean distance between consecutive decoded outputs (the T − 1 differences): m for SN,
wrapped rad for HD (which also reports the mean signed angular velocity, rad/step). Networks trained
without noise are also run with noise added (``absolute`` mode): ``quiescent_noisy``.
Result: ``{condition: {"active": ..., "quiescent": ..., ["quiescent_noisy": ...,] ...}}``, means over
trajectories.
"""

from __future__ import annotations

from tqdm.auto import tqdm

from reactivation.analysis import lookup, metrics, protocol, results
from reactivation.analysis.settings import Settings


def _summary(decoded, circular: bool, prefix: str) -> dict[str, float]:
    x = decoded.double().numpy()
    if not circular:
        return {prefix: float(metrics.stepwise_distance(x).mean())}
    theta = x[..., 0]
    return {prefix: float(metrics.wrapped_step_distance(theta).mean()),
            f"{prefix}_velocity": float(metrics.mean_angular_velocity(theta).mean())}


def run(s: Settings) -> dict:
    """Compute the step distances of every condition of ``s`` and write them."""
    cfg, circular = s.cfg, s.task == "head_direction"
    loaded = lookup.load_conditions(s)
    result = {}
    for name, (_, setup) in tqdm(loaded.items(), desc="models", disable=not cfg.progress):
        noise_free = setup.model.sigma_rec == 0
        modes = (s.mode, "absolute") if noise_free and s.mode != "absolute" else (s.mode,)
        phases = protocol.simulate(setup, s, cfg.batch_size, cfg.t_quiescent, modes=modes)
        entry = _summary(phases.active.decoded, circular, "active")
        entry.update(_summary(phases.quiescent[s.mode].decoded, circular, "quiescent"))
        if len(modes) == 2:
            entry.update(_summary(phases.quiescent["absolute"].decoded, circular, "quiescent_noisy"))
        result[name] = entry
    meta = {"unit": "rad/step" if circular else "m/step",
            "runs": {name: str(run_dir) for name, (run_dir, _) in loaded.items()}}
    path = results.write_result(s, "distance", result, meta)
    return {"path": str(path), "distance": result}
