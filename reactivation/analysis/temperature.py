"""output_temperature.py: the noise temperature sweep, KL(quiescent ‖ active) and spread against the noise factor.

The theory (Sec. 2.3-2.4 of the paper; docs/theory.md): a network whose zero-input drift is the optimal denoiser
s² ∇ log p of its noisy active states p samples p exactly (Langevin) when the quiescent noise is σ_q = c · σ_rec
with c = √2; another c samples a tempered distribution, too narrow below √2 and too wide above. For every
condition trained with noise (σ_rec > 0) and every factor c of ``factors``, the quiescent rollout runs at c · σ_rec
from the analysis batch's start, and this analysis measures

- ``kl``: KL(quiescent at c ‖ the same network's active outputs), nats, as output_kl.py estimates it;
- ``variance``: the quiescent spread after ``t_shift`` steps, as output_variance.py measures it (m² or 1 − R).

Result: ``{condition: {"factors": [c...], "kl": [...], "variance": [...], "best_factor": c of the least KL,
"active_variance": the active outputs' spread}}``; networks trained without noise are left out (c · 0 = 0 for
every c). The factors are the quiescence modes, so ``mode=`` is refused rather than ignored (``mode=same`` is the
factor 1, ``scaled`` √2; ``absolute`` does not scale with σ_rec, so it has no factor to sweep).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from reactivation import ConfigError
from reactivation.analysis import lookup, protocol, results
from reactivation.analysis.settings import Settings
from reactivation.geometry import Geometry, points
from reactivation.seeding import stream_seed
from reactivation.values import is_number, show


def factor_mode(c: float) -> str:
    """The quiescence mode of factor ``c`` (:func:`reactivation.modes.noise_factor` reads it back)."""
    return show(float(c))


def sweep(
    quiescent: Callable[[float], np.ndarray],
    active: np.ndarray,
    geometry: Geometry,
    factors: Sequence[float],
    n_samples: int,
    seed: int,
    t_shift: int,
) -> dict[str, Any]:
    """KL(quiescent at c ‖ active) and the quiescent spread for every factor c: one condition's entry of the result.

    Args:
        quiescent: c -> (B, T, d) decoded quiescent trajectories at σ_q = c · σ_rec.
        active: (B, T_a, d) decoded active trajectories (the distribution every row is compared with).
        geometry: the task's latent space (its KDE and KL estimate, its spread).
        factors: the factors c, in the order of the result's lists.
        n_samples: Monte Carlo samples per KL estimate.
        seed: seed of the KL estimate (one stream for every factor).
        t_shift: quiescent steps dropped before the spread is measured.

    Returns:
        ``{"factors", "kl" (nats), "variance" (the geometry's unit), "best_factor", "active_variance"}``.
    """
    runs = {factor_mode(c): np.asarray(quiescent(c), dtype=np.float64) for c in factors}
    table, _ = geometry.kl_table({m: points(x) for m, x in runs.items()}, {"active": points(active)}, n_samples, seed)
    kl = [float(table[m]["active"]) for m in runs]
    finite = [k if np.isfinite(k) else np.inf for k in kl]
    return {
        "factors": [float(c) for c in factors],
        "kl": kl,
        "variance": [float(geometry.trajectory_variance(x[:, t_shift:]).mean()) for x in runs.values()],
        "best_factor": float(factors[int(np.argmin(finite))]) if np.isfinite(finite).any() else None,
        "active_variance": float(geometry.trajectory_variance(np.asarray(active, dtype=np.float64)).mean()),
    }


def run(s: Settings) -> dict:
    """Sweep the quiescent noise factor for every noisy condition of ``s`` and write the result."""
    cfg = s.cfg
    if cfg.get("mode") is not None:
        # Ignored, it would still name a result file of its own (mode=same), holding the very same sweep.
        raise ConfigError(
            f"mode={show(cfg.mode)} is not allowed: the temperature analysis sweeps the quiescent noise itself, "
            f"σ_q = c·σ_rec for each c of factors={show(list(cfg.factors))} (mode=same is c = 1, scaled is c = "
            "√2). Leave mode unset and choose the levels with factors=[...]."
        )
    factors = [float(c) for c in cfg.factors]
    loaded = lookup.load_conditions(s)
    setups = {name: setup for name, (_, setup) in loaded.items() if setup.model.sigma_rec > 0}
    if not setups:  # every family has noisy presets; a family of no-noise runs only would have nothing to sweep
        raise ValueError(f"no condition of {s.task} ({s.model}) was trained with noise: nothing to sweep")
    modes = tuple(factor_mode(c) for c in factors)
    simulated = protocol.simulate_all(setups, s, cfg.batch_size, cfg.t_quiescent, modes=dict.fromkeys(setups, modes))
    result: dict[str, dict] = {}
    for name, phases in tqdm(simulated, desc="models", total=len(setups), disable=not cfg.progress):
        assert phases.active is not None  # simulate runs the active phase by default (active=True)
        quiet = phases.quiescent
        result[name] = sweep(
            lambda c: quiet[factor_mode(c)].decoded.numpy(),  # noqa: B023  (used within this iteration only)
            phases.active.decoded.numpy(),
            setups[name].task.geometry,
            factors,
            cfg.n_samples,
            stream_seed(s.seed, "analysis"),
            cfg.t_shift,
        )
    geometry = next(iter(setups.values())).task.geometry
    meta = {
        "unit": {"kl": "nats", "variance": geometry.variance_unit},
        "sigma_rec": {name: float(setup.model.sigma_rec) for name, setup in setups.items()},
        "left_out": sorted(set(loaded) - set(setups)),
        "runs": {name: str(run_dir) for name, (run_dir, _) in loaded.items() if name in setups},
    }
    path = results.write_result(s, "temperature", result, meta)
    return {"path": str(path), "temperature": result}


def _sweep(v: Any) -> bool:
    """a JSON object of equally long lists of numbers (factors, kl, variance)"""
    lists = [v.get(k) for k in ("factors", "kl", "variance")] if isinstance(v, dict) else [None]
    sizes = {len(x) if isinstance(x, list) and all(map(is_number, x)) else 0 for x in lists}
    return len(sizes) == 1 and 0 not in sizes


def result_problem(data: Any, conditions: list[str]) -> str | None:
    """What makes ``data`` not a temperature result of ``conditions`` (a sweep each); ``None`` if nothing."""
    return results.entries_problem(data, conditions, "", _sweep)
