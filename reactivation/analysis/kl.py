"""output_kl.py: KL(quiescent ‖ active) between decoded-output distributions (SPEC §7).

Rows are the quiescent distributions (each model, an untrained random network and the uniform
distribution), columns the active distributions of the models: ``{quiescent: {active: nats}}``.
"""

from __future__ import annotations

import math

import numpy as np
from tqdm.auto import tqdm

from reactivation.analysis import lookup, metrics, protocol, results
from reactivation.analysis.settings import Settings
from reactivation.seeding import stream_seed


def _points(decoded) -> np.ndarray:
    """(B, T, d) decoded latents → (B·T, d) float64 points (angles flattened to (B·T,))."""
    return decoded.reshape(-1, decoded.shape[-1]).double().numpy()


def run(s: Settings) -> dict:
    """Compute the KL table of ``s`` and write it; returns ``{"path": ..., "kl": table}``."""
    cfg, circular = s.cfg, s.task == "head_direction"
    loaded = lookup.load_conditions(s)
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
    rows = [*quiescent, "uniform"]
    if circular:
        # A circle has no edges for a kernel to blur, so the von Mises KDE of a large uniform sample stands
        # for the uniform density -log 2π up to sampling error.
        uniform = np.random.default_rng(mc_seed).uniform(-math.pi, math.pi, size=max(cfg.n_samples, 2000))
        rows_ = {**{row: q[:, 0] for row, q in quiescent.items()}, "uniform": uniform}
        table, _ = metrics.circular_kl_matrix(rows_, {col: a[:, 0] for col, a in active.items()},
                                              cfg.n_samples, mc_seed)
        jittered = []
    else:
        table, hits = metrics.kl_matrix(quiescent, active, cfg.n_samples, mc_seed)
        half_w, half_h = reference.config.task.box_width / 2, reference.config.task.box_height / 2
        table["uniform"] = {}
        for col, a in active.items():
            table["uniform"][col], flags = metrics.kl_from_uniform(a, (-half_w, -half_h), (half_w, half_h),
                                                                   cfg.n_samples, mc_seed, return_jitter=True)
            hits |= {("column", col)} if flags["q"] else set()
        jittered = sorted(f"{'quiescent' if side == 'row' else 'active'}:{name}" for side, name in hits)
    meta = {"rows": rows, "columns": list(active), "jittered_1mm": jittered,
            "runs": {name: str(run_dir) for name, (run_dir, _) in loaded.items()}}
    path = results.write_result(s, "kl", table, meta)
    return {"path": str(path), "kl": table}

