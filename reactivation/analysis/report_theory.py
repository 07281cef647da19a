"""The report's tables of the theory checks (docs/theory.md): drift against score, the noise temperature, diffusion
(:func:`theory_section`), one row per condition and a column per statistic."""

from __future__ import annotations

import math

from reactivation.analysis import claims
from reactivation.analysis.report_tables import FAMILY_TITLES, by_family, leaf_table, task_of


def _flat(by_seed: dict[int, dict], pick) -> dict[int, dict]:
    """``{seed: {condition: {column: number}}}`` from each seed's result, ``pick(entry)`` giving the columns."""
    return {seed: {c: pick(entry) for c, entry in result.items()} for seed, result in by_seed.items()}


def _columns(table: dict[int, dict]) -> list[str]:
    """The columns of a :func:`_flat` table, in the order of its first entry."""
    first = next(iter(table.values()))
    return list(next(iter(first.values())))


def _number(value) -> float:
    return math.nan if value is None else float(value)


def _drift_columns(entry: dict) -> dict[str, float]:
    return {
        "PCA slope": entry["pca"]["slope"],
        "PCA cosine": entry["pca"]["cosine"],
        "ceiling slope": entry["reference"]["slope"],
        "ceiling cosine": entry["reference"]["cosine"],
        "decoded slope": entry["decoded"]["slope"],
        "decoded cosine": entry["decoded"]["cosine"],
        # along and across the active manifold (results written before 2026-12-07 have no split: NaN)
        **{
            f"{part} {key}": _number(entry.get(f"pca_{part}", {}).get(key))
            for part in ("normal", "tangent")
            for key in ("slope", "cosine")
        },
    }


def _temperature_columns(entry: dict) -> dict[str, float]:
    kl = {f"KL c={c:.3g}": _number(k) for c, k in zip(entry["factors"], entry["kl"])}
    return {**kl, "least-KL c": _number(entry["best_factor"])}


def _diffusion_columns(entry: dict) -> dict[str, float]:
    return {
        "active exponent": _number(entry["active"]["exponent"]),
        "quiescent exponent": _number(entry["quiescent"]["exponent"]),
        "active acf time": _number(entry["active"]["acf_time"]),  # null where it outlasts the lags: left out
        "quiescent acf time": _number(entry["quiescent"]["acf_time"]),
    }


def theory_section(results: dict) -> list[str]:
    """The checks of the theory (docs/theory.md): drift against score, the noise temperature, diffusion."""
    sections = []
    for family in claims.FAMILY_KEYS:
        name, unit = FAMILY_TITLES[family], task_of(family).geometry_type.unit
        if by_seed := by_family(results, family, "drift"):
            table = _flat(by_seed, _drift_columns)
            sections += leaf_table(
                f"### {name}: zero-input drift against s² ∇ log p (output_drift.py)",
                "Slope of the drift on the score times the noise variance, and their cosine, in the active top-k "
                "principal components and in the decoded latent; theory: 1 and 1. *ceiling*: the same estimator on "
                "a Gaussian whose optimal drift is exact, which a perfect denoiser meets (on a Gaussian line and on "
                "a ring: docs/theory.md). *normal*, *tangent*: the PCA comparison across and along the active "
                "manifold. R (random): the untrained network.",
                table,
                _columns(table),
            )
        if by_seed := by_family(results, family, "temperature"):
            table = _flat(by_seed, _temperature_columns)
            sections += leaf_table(
                f"### {name}: KL(quiescent ‖ active) against the noise factor c (output_temperature.py)",
                "σ_q = c · σ_rec, nats; theory: least near c = √2 ≈ 1.41 (Langevin sampling of the active states).",
                table,
                _columns(table),
            )
        if by_seed := by_family(results, family, "diffusion"):
            sections += leaf_table(
                f"### {name}: diffusion or sequence (output_diffusion.py)",
                "Log-log slope of the mean squared displacement of decoded trajectories against lag (1 diffusive, "
                f"2 ballistic; {unit}², short lags) and the step autocorrelation's 1/e time (steps; a seed whose "
                "autocorrelation never falls below 1/e is left out of the mean).",
                table := _flat(by_seed, _diffusion_columns),
                _columns(table),
            )
    return ["## Theory checks", "", *sections] if sections else []
