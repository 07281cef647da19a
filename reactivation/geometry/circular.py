"""Distributions of angles on the circle (head direction; docs/spec.md §7): wrapping to [-pi, pi) (:func:`wrap`), von
Mises kernel density estimates with a Silverman-style concentration (:func:`vonmises_bandwidth`), and the KL divergence
between two sets of angles or a table of them (:func:`circular_kl_divergence`, :func:`circular_kl_matrix`), by Monte
Carlo in nats with a seeded ``numpy.random.Generator`` (optionally with each density ratio clipped, ``ratio_clip``);
wrap-around is exact, as kernels see angles only through cos.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import numpy as np
from scipy.special import i0e

from reactivation.geometry._checks import Seed, check_array, log_ratio_bounds, mean_log_ratio, positive_int

TWO_PI = 2.0 * math.pi

# Largest von Mises kernel concentration (kernel std ≈ 1/sqrt(kappa) = 1 mrad). It plays the role of the
# 1 mm jitter of the planar KL: a sample of identical angles still gets a finite, evaluable density.
_MAX_KAPPA = 1e6

# Elements per block of the (evaluation points × data points) kernel matrix; bounds memory to ~80 MB.
_BLOCK = 10_000_000

# (n,) finite angles, radians, at least 2 of them.
_angles = partial(
    check_array,
    ndim=1,
    shape_error="{name} must be a 1-D array of angles (n,), radians; got shape {shape} "
    "(flatten it with .ravel() first)",
    at_least=((None, 2, "{name} needs at least 2 angles; got {size}"),),
)


def wrap(theta: np.ndarray) -> np.ndarray:
    """Wrap angles (radians, any shape) to [-pi, pi)."""
    y = np.remainder(np.asarray(theta, dtype=np.float64) + math.pi, TWO_PI) - math.pi
    # remainder can round to exactly 2*pi just below a multiple of 2*pi, giving +pi; keep [-pi, pi).
    return np.where(y >= math.pi, y - TWO_PI, y)


def vonmises_bandwidth(theta: np.ndarray) -> float:
    """Concentration of the von Mises kernel for a KDE of angles: Silverman's rule carried onto the circle.

    ``h = 1.06 * min(s, pi / sqrt(3)) * n^(-1/5)`` and ``kappa = 1 / h^2``, where ``s = sqrt(-2 log R)`` is
    the circular standard deviation (``R`` the mean resultant length). A von Mises kernel of concentration
    kappa is close to a normal kernel of variance 1/kappa when kappa is large, so this is Silverman's normal
    reference rule for concentrated data. ``s`` grows without bound as the data approach uniform (or are
    multimodal), so it is capped at ``pi / sqrt(3)``, the standard deviation of a uniform distribution on
    [-pi, pi): this is the rule's floor, ``kappa >= n^(2/5) / 3.70`` (≈ 6 for 2,500 points, 14 for 20,000).
    A cap of 1e6 (kernel std 1 mrad) keeps identical angles evaluable.

    Args:
        theta: (n,) angles, radians.

    Returns:
        kappa, dimensionless.
    """
    theta = np.asarray(theta, dtype=np.float64).ravel()
    r = min(float(np.abs(np.mean(np.exp(1j * theta)))), 1.0)
    s = math.sqrt(-2.0 * math.log(r)) if r > 0.0 else math.inf
    h = 1.06 * min(s, math.pi / math.sqrt(3.0)) * theta.size**-0.2
    return min(1.0 / h**2, _MAX_KAPPA) if h > 0.0 else _MAX_KAPPA


def _vonmises_kde_logpdf(x: np.ndarray, data: np.ndarray, kappa: float) -> np.ndarray:
    """log of the von Mises KDE of ``data`` (n,) with concentration ``kappa``, at angles ``x`` (m,)."""
    # log I0(kappa) = log(i0e(kappa)) + kappa avoids the overflow of I0 for large kappa.
    log_norm = math.log(TWO_PI) + math.log(i0e(kappa)) + kappa + math.log(data.size)
    out = np.empty(x.size)
    step = max(1, _BLOCK // data.size)  # evaluation points per block, so memory stays bounded
    for start in range(0, x.size, step):
        z = kappa * np.cos(x[start : start + step, None] - data[None, :])
        # A log-sum-exp by hand, shifted by each row's maximum so far-away points do not underflow to
        # log(0); scipy.special.logsumexp does the same but is several times slower on large blocks.
        top = z.max(axis=1)
        out[start : start + step] = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    return out - log_norm


def circular_kl_divergence(
    p: np.ndarray,
    q: np.ndarray,
    n_samples: int = 2500,
    seed: Seed = 0,
    *,
    kappa: float | None = None,
    ratio_clip: Sequence[float] | None = None,
    return_kappa: bool = False,
) -> float | tuple[float, dict[str, float]]:
    """KL(p ‖ q) between two distributions of angles, by von Mises KDE on the circle and Monte Carlo.

    Each sample set gets a von Mises kernel density estimate; ``n_samples`` points are drawn from the KDE of
    ``p`` (a data angle chosen at random plus von Mises noise) and the estimate is the mean of
    ``log p(x) - log q(x)``. Kernels depend on angles only through ``cos``, so wrap-around is exact: samples
    at ``pi - e`` and ``-pi + e`` are neighbours, and angles need not be wrapped beforehand.

    Args:
        p: (n_p,) angles, radians (e.g. decoded quiescent headings).
        q: (n_q,) angles, radians.
        n_samples: number of Monte Carlo samples drawn from the KDE of ``p``.
        seed: seed or ``numpy.random.Generator``.
        kappa: kernel concentration for both sets; ``None`` picks one per set with
            :func:`vonmises_bandwidth` (Silverman's rule on the circle, with a floor).
        ratio_clip: ``[low, high]`` (0 < low < high) to clip each sample's density ratio p(x)/q(x) to before the
            mean, i.e. its log to [log low, log high] (the published code used [1e-7, 1e7]); ``None``: unclipped.
        return_kappa: also return the concentrations used, ``{"p": kappa_p, "q": kappa_q}``.

    Returns:
        The estimate in nats, or ``(kl, {"p": kappa_p, "q": kappa_q})``.

    Raises:
        ValueError: if an input is not 1-D with at least 2 finite angles, ``kappa`` is not positive or
            ``ratio_clip`` is not [low, high] with 0 < low < high.
    """
    table, kappas = circular_kl_matrix({"p": p}, {"q": q}, n_samples, seed, kappa=kappa, ratio_clip=ratio_clip)
    kl = table["p"]["q"]
    return (kl, {"p": kappas["row", "p"], "q": kappas["column", "q"]}) if return_kappa else kl


def circular_kl_matrix(
    rows: dict[str, np.ndarray],
    columns: dict[str, np.ndarray],
    n_samples: int = 2500,
    seed: Seed = 0,
    *,
    kappa: float | None = None,
    ratio_clip: Sequence[float] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[tuple[str, str], float]]:
    """:func:`circular_kl_divergence` for every (row, column) pair, each row's samples and ``log p`` drawn once.

    Args:
        rows: name -> (n,) angles of the first argument of KL (e.g. quiescent headings), radians.
        columns: name -> (n,) angles of the second argument (e.g. active headings), radians.
        n_samples: Monte Carlo samples per row.
        seed: seed or ``numpy.random.Generator``.
        kappa: kernel concentration for every set (``None``: :func:`vonmises_bandwidth` per set).
        ratio_clip: ``[low, high]`` to clip each density ratio to (see :func:`circular_kl_divergence`); ``None``:
            unclipped.

    Returns:
        ``({row: {column: nats}}, {("row" | "column", name): kappa used})``.
    """
    rows = {name: _angles(x, name) for name, x in rows.items()}
    columns = {name: _angles(x, name) for name, x in columns.items()}
    n_samples = positive_int(n_samples, "n_samples")
    bounds = log_ratio_bounds(ratio_clip)
    if kappa is not None and not (math.isfinite(kappa) and kappa > 0):
        raise ValueError(f"kappa must be a positive finite concentration; got {kappa!r}")
    kappas = {
        (side, name): float(kappa) if kappa is not None else vonmises_bandwidth(x)
        for side, sets in (("row", rows), ("column", columns))
        for name, x in sets.items()
    }
    rng = np.random.default_rng(seed)
    table: dict[str, dict[str, float]] = {}
    for row, p in rows.items():
        k_p = kappas["row", row]
        x = wrap(p[rng.integers(p.size, size=n_samples)] + rng.vonmises(0.0, k_p, size=n_samples))
        log_p = _vonmises_kde_logpdf(x, p, k_p)
        table[row] = {
            col: mean_log_ratio(log_p - _vonmises_kde_logpdf(x, q, kappas["column", col]), bounds)
            for col, q in columns.items()
        }
    return table, kappas
