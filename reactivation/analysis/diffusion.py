"""output_diffusion.py: are quiescent trajectories diffusive or sequential? (docs/theory.md).

The paper calls quiescent activity "diffusive, not sequential"; Stella et al. (Neuron 2019) found hippocampal sleep
replay of an open field to move like Brownian diffusion (mean squared displacement linear in lag). For every
condition, the decoded active and quiescent trajectories of the analysis batch (m, or rad unwrapped on the circle)
give

- ``msd``: the mean squared displacement at ``lags`` (m² or rad²), and ``exponent`` (``log10_prefactor``): the
  slope of log MSD on log lag over the lags up to ``fit_lag`` (1 diffusive, 2 ballistic, below 1 confined; a box
  confines long lags, so the fit keeps the short ones);
- ``step``: mean, median and 95th percentile of the step lengths, and ``step_histogram`` (edges, density);
- ``acf``: the normalised autocorrelation of the step vectors up to ``max_lag`` and ``acf_time``, the lag where it
  first falls below 1/e (a sequence keeps its velocity; diffusion forgets it in one step); ``acf_outlasts`` is true,
  and ``acf_time`` null, where it stays above 1/e up to ``max_lag`` (strict JSON has no infinity).

The quiescent phase drops its first ``t_shift`` steps (the transient from the true start). Result:
``{condition: {"active": {...}, "quiescent": {...}}}``; metrics: :mod:`reactivation.analysis.metrics.diffusion`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from reactivation.analysis import lookup, protocol, results
from reactivation.analysis.metrics.diffusion import (
    autocorrelation_time,
    default_lags,
    mean_squared_displacement,
    msd_exponent,
    step_length_histogram,
    step_length_summary,
    step_lengths,
    velocity_autocorrelation,
)
from reactivation.analysis.settings import Settings
from reactivation.values import is_number

#: Step-length histogram bins.
BINS = 40


def describe(x: np.ndarray, circular: bool, fit_lag: int, max_lag: int) -> dict[str, Any]:
    """The diffusion statistics of (B, T, d) decoded trajectories (m; rad if ``circular``).

    Args:
        x: (B, T, d) trajectories, T >= 3.
        circular: angles (unwrapped for the MSD, wrapped steps).
        fit_lag: the longest lag of the exponent's fit (at least the two shortest lags are always fitted).
        max_lag: the longest lag of the step autocorrelation (capped at T - 2).
    """
    x = np.asarray(x, dtype=np.float64)
    lags = default_lags(x.shape[1])
    msd = mean_squared_displacement(x, lags, circular=circular)
    fitted = lags <= max(fit_lag, int(lags[min(1, len(lags) - 1)]))  # at least the two shortest lags
    fit = msd_exponent(lags[fitted], msd[fitted]) if (msd[fitted] > 0).all() else None  # None: it does not move
    lengths = step_lengths(x, circular=circular)
    edges, density = step_length_histogram(lengths, BINS)
    moving = bool(np.any(lengths > 0))
    acf = velocity_autocorrelation(x, min(max_lag, x.shape[1] - 2), circular=circular) if moving else None
    acf_time = None if acf is None else autocorrelation_time(acf)
    outlasts = acf_time is not None and not np.isfinite(acf_time)
    return {
        "lags": lags.tolist(),
        "msd": msd.tolist(),
        "fit_lags": lags[fitted].tolist(),
        "exponent": None if fit is None else fit.exponent,
        "log10_prefactor": None if fit is None else fit.log10_prefactor,
        "step": step_length_summary(lengths),
        "step_histogram": {"edges": edges.tolist(), "density": density.tolist()},
        "acf": None if acf is None else acf.tolist(),
        "acf_time": None if acf_time is None or outlasts else acf_time,
        "acf_outlasts": outlasts,
    }


def run(s: Settings) -> dict:
    """Compute the diffusion statistics of every condition of ``s`` and write them."""
    cfg = s.cfg
    loaded = lookup.load_conditions(s)
    setups = {name: setup for name, (_, setup) in loaded.items()}
    result: dict[str, dict] = {}
    simulated = protocol.simulate_all(setups, s, cfg.batch_size, cfg.t_quiescent)
    for name, phases in tqdm(simulated, desc="models", total=len(setups), disable=not cfg.progress):
        assert phases.active is not None  # simulate runs the active phase by default (active=True)
        circular = setups[name].task.geometry.periodic
        result[name] = {
            "active": describe(phases.active.decoded.numpy(), circular, cfg.fit_lag, cfg.max_lag),
            "quiescent": describe(
                phases.quiescent[s.mode].decoded[:, cfg.t_shift :].numpy(), circular, cfg.fit_lag, cfg.max_lag
            ),
        }
    geometry = next(iter(setups.values())).task.geometry
    meta = {
        "unit": {"msd": f"{geometry.unit}^2", "step": f"{geometry.unit}/step", "lags": "steps"},
        "runs": {name: str(run_dir) for name, (run_dir, _) in loaded.items()},
    }
    path = results.write_result(s, "diffusion", result, meta)
    return {"path": str(path), "diffusion": result}


def _phases(v: Any) -> bool:
    """a JSON object of the active and quiescent statistics (lags, msd, acf_outlasts, finite acf_time or null)"""
    parts = [v.get(k) for k in ("active", "quiescent")] if isinstance(v, dict) else [None]
    return all(
        isinstance(x, dict)
        and isinstance(x.get("lags"), list)
        and isinstance(x.get("msd"), list)
        and isinstance(x.get("acf_outlasts"), bool)  # results before it wrote an unbounded acf_time as Infinity
        and (x.get("acf_time") is None or (is_number(x["acf_time"]) and math.isfinite(x["acf_time"])))
        for x in parts
    )


def result_problem(data: Any, conditions: list[str]) -> str | None:
    """What makes ``data`` not a diffusion result of ``conditions`` (both phases each); ``None`` if nothing."""
    return results.entries_problem(data, conditions, "", _phases)
