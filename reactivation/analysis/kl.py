"""output_kl.py: KL(quiescent ‖ active) between decoded-output distributions (SPEC §7).

Rows are the quiescent distributions (each model, an untrained random network and the uniform
distribution), columns the active distributions of the models: ``{quiescent: {active: nats}}``.
"""

from __future__ import annotations

import math

import numpy as np
from tqdm.auto import tqdm

from reactivation.analysis import metrics, protocol
from reactivation.seeding import stream_seed


def _points(decoded) -> np.ndarray:
    """(B, T, d) decoded latents → (B·T, d) float64 points (angles flattened to (B·T,))."""
    points = decoded.reshape(-1, decoded.shape[-1]).double().numpy()
    return points


def run(s: protocol.Settings) -> dict:
    """Compute the KL table of ``s`` and write it; returns ``{"path": ..., "kl": table}``."""
    cfg, circular = s.cfg, s.task == "head_direction"
    loaded = protocol.load_conditions(s)
    active, quiescent = {}, {}
    for name, (_, setup) in tqdm(loaded.items(), desc="models", disable=not cfg.progress):
        phases = protocol.simulate(setup, s, cfg.batch_size, cfg.t_quiescent)
        active[name], quiescent[name] = _points(phases.active.decoded), _points(phases.quiescent[s.mode].decoded)
    reference = loaded["noisy_unbiased"][1]  # the random network is decoded with the trained runs' cells
    untrained = protocol.random_network(reference, s)
    phases = protocol.simulate(reference, s, cfg.batch_size, cfg.t_quiescent, active=False, model=untrained,
                               modes=("scaled",))
    quiescent["random"] = _points(phases.quiescent["scaled"].decoded)

    mc_seed = stream_seed(s.seed, "analysis")
    table: dict[str, dict[str, float]] = {}
    jittered: set[str] = set()
    rows = [*quiescent, "uniform"]
    for row in tqdm(rows, desc="KL rows", disable=not cfg.progress):
        table[row] = {}
        for col, a in active.items():
            if circular:
                kl = (metrics.circular_kl_divergence(quiescent[row][:, 0], a[:, 0], cfg.n_samples, mc_seed)
                      if row != "uniform" else _circular_uniform_kl(a[:, 0], cfg.n_samples, mc_seed))
                flags = {}
            elif row == "uniform":
                half = (reference.config.task.box_width / 2, reference.config.task.box_height / 2)
                kl, flags = metrics.kl_from_uniform(a, (-half[0], -half[1]), half, cfg.n_samples, mc_seed,
                                                    return_jitter=True)
                flags = {"q": flags["q"]}
            else:
                kl, flags = metrics.kl_divergence(quiescent[row], a, cfg.n_samples, mc_seed, return_jitter=True)
            jittered |= {row if side == "p" else col for side, hit in flags.items() if hit}
            table[row][col] = float(kl)
    meta = {"rows": rows, "columns": list(active), "jittered_1mm": sorted(jittered),
            "runs": {name: str(run_dir) for name, (run_dir, _) in loaded.items()}}
    path = protocol.write_result(s, "kl" if s.model == "vanilla" else f"kl_{s.model}", table, meta)
    return {"path": str(path), "kl": table}


def _circular_uniform_kl(active: np.ndarray, n_samples: int, seed: int) -> float:
    # KL(uniform on the circle ‖ active): the uniform log-density is -log 2π; sample it as the p side.
    rng = np.random.default_rng(seed)
    uniform = rng.uniform(-math.pi, math.pi, size=max(n_samples, 2000))
    return metrics.circular_kl_divergence(uniform, active, n_samples, seed)
