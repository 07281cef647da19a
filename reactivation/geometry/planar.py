"""Distributions of decoded planar points (docs/spec.md §7, §9): Gaussian KDEs of (n, d) sample sets, jittered when
degenerate (:func:`fit_kde`), the KL divergence between two sets or a table of them (:func:`kl_divergence`,
:func:`kl_matrix`) and from the uniform distribution on a box (:func:`kl_from_uniform`), all by Monte Carlo in nats
with a seeded ``numpy.random.Generator`` (never the global RNG), optionally with each density ratio clipped as the
published code did (``ratio_clip``), and the share of points on a ring (:func:`annulus_share`, claim 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Literal, overload

import numpy as np
from scipy.stats import gaussian_kde

from reactivation.geometry._checks import Seed, check_array, log_ratio_bounds, mean_log_ratio, positive_int

# A covariance eigenvalue at or below this (units², i.e. a 1 µm std for metres), or this fraction of the
# largest eigenvalue when that exceeds 1, marks a point cloud as (near) singular: gaussian_kde's Cholesky
# factorisation either fails or yields an absurdly sharp density there.
_DEGENERATE_EIG = 1e-12

# (n, d) or (n,) finite samples -> float64 (n, d). A KDE in d dimensions needs at least d + 1 points to have a
# full-rank covariance even after jitter.
_samples = partial(
    check_array,
    ndim=2,
    column=True,
    shape_error="{name} must be a 2-D array of samples (n, d) or 1-D (n,); got shape {shape}",
    at_least=(
        (1, 1, "{name} has no dimensions (shape {shape})"),
        (
            0,
            lambda shape: max(2, shape[1] + 1),
            "{name} needs at least {least} samples in {shape[1]} dimension(s); got {shape[0]}",
        ),
    ),
)


def _is_degenerate(x: np.ndarray) -> bool:
    """Whether the sample covariance of ``x`` (n, d) is singular or nearly so."""
    eig = np.linalg.eigvalsh(np.atleast_2d(np.cov(x, rowvar=False)))
    return bool(eig[0] <= _DEGENERATE_EIG * max(1.0, eig[-1]))


def fit_kde(
    x: np.ndarray, rng: np.random.Generator, jitter: float = 1e-3, bw_method: str | float | None = None
) -> tuple[gaussian_kde, bool]:
    """Fit ``gaussian_kde`` to (n, d) samples, jittering a degenerate cloud first (docs/spec.md §7).

    Args:
        x: (n, d) finite samples.
        rng: generator of the jitter.
        jitter: std of the isotropic jitter added to a cloud with a singular covariance (units of ``x``).
        bw_method: ``gaussian_kde``'s bandwidth rule (default: Scott's).

    Returns:
        The KDE (its ``dataset`` holds the jittered points if any) and whether jitter was added.
    """
    if not _is_degenerate(x):
        try:
            return gaussian_kde(x.T, bw_method=bw_method), False
        except np.linalg.LinAlgError:
            pass  # Cholesky can still fail on a borderline covariance; jitter below is the remedy.
    # Isotropic jitter well below the decoder's resolution makes the covariance full rank without moving
    # the cloud anywhere it was not (docs/spec.md §7).
    jittered = x + rng.normal(0.0, jitter, size=x.shape)
    try:
        return gaussian_kde(jittered.T, bw_method=bw_method), True
    except np.linalg.LinAlgError as err:
        raise ValueError(f"could not fit a KDE even after adding jitter of std {jitter}: {err}") from err


def kl_divergence(
    p: np.ndarray,
    q: np.ndarray,
    n_samples: int = 2500,
    seed: Seed = 0,
    *,
    jitter: float = 1e-3,
    ratio_clip: Sequence[float] | None = None,
    return_jitter: bool = False,
) -> float | tuple[float, dict[str, bool]]:
    """KL(p ‖ q) between two sample sets, by Gaussian KDE and Monte Carlo (docs/spec.md §7).

    Each sample set gets a ``scipy.stats.gaussian_kde`` with its default (Scott) bandwidth; ``n_samples``
    points are drawn from the KDE of ``p`` and the estimate is the mean of ``log p(x) - log q(x)``. A set
    whose covariance is singular (e.g. a noise-free network collapsed onto a few decoded points) first gets
    isotropic Gaussian jitter of std ``jitter``. Small negative values are Monte Carlo error and are returned
    as they come.

    Args:
        p: (n_p, d) samples, e.g. decoded quiescent positions in metres; a 1-D array is read as (n_p, 1).
        q: (n_q, d) samples in the same space.
        n_samples: number of Monte Carlo samples drawn from the KDE of ``p``.
        seed: seed or ``numpy.random.Generator`` for the jitter and the Monte Carlo draws.
        jitter: std of the jitter added to a degenerate set, in the units of the samples (1 mm for metres).
        ratio_clip: ``[low, high]`` (0 < low < high) to clip each sample's density ratio p(x)/q(x) to before the
            mean, i.e. its log to [log low, log high] (the published code used [1e-7, 1e7]); ``None``: unclipped.
        return_jitter: also return which set was jittered.

    Returns:
        The estimate in nats; with ``return_jitter``, ``(kl, {"p": bool, "q": bool})``.

    Raises:
        ValueError: if an input is not (n, d) or (n,), has fewer than d + 1 samples or non-finite values,
            or the two dimensions differ, or ``ratio_clip`` is not [low, high] with 0 < low < high.
    """
    table, jittered = kl_matrix({"p": p}, {"q": q}, n_samples, seed, jitter=jitter, ratio_clip=ratio_clip)
    kl = table["p"]["q"]
    return (kl, {"p": ("row", "p") in jittered, "q": ("column", "q") in jittered}) if return_jitter else kl


def kl_matrix(
    rows: dict[str, np.ndarray],
    columns: dict[str, np.ndarray],
    n_samples: int = 2500,
    seed: Seed = 0,
    *,
    jitter: float = 1e-3,
    ratio_clip: Sequence[float] | None = None,
) -> tuple[dict[str, dict[str, float]], set[tuple[str, str]]]:
    """KL(row ‖ column) for every pair, fitting each KDE and drawing each row's samples once.

    The estimate of each pair is :func:`kl_divergence`'s; sharing the row's Monte Carlo samples and
    their ``log p`` across columns makes a table cost one KDE evaluation per row plus one per pair on the
    (usually smaller) column sets, instead of two per pair.

    Args:
        rows: name -> (n, d) samples of the first argument of KL (e.g. quiescent decoded positions, m).
        columns: name -> (n, d) samples of the second argument (e.g. active decoded positions, m).
        n_samples: Monte Carlo samples per row.
        seed: seed or ``numpy.random.Generator`` (jitter first, rows then columns, then each row's samples).
        jitter: std of the jitter added to a degenerate set, in the units of the samples.
        ratio_clip: ``[low, high]`` to clip each density ratio to (see :func:`kl_divergence`); ``None``: unclipped.

    Returns:
        ``({row: {column: nats}}, {("row" | "column", name) of each set that was jittered})``.
    """
    bounds = log_ratio_bounds(ratio_clip)
    rows = {name: _samples(x, name) for name, x in rows.items()}
    columns = {name: _samples(x, name) for name, x in columns.items()}
    dims = {x.shape[1] for x in (*rows.values(), *columns.values())}
    if len(dims) != 1:
        raise ValueError(f"all sample sets must have the same dimension d; got {sorted(dims)}")
    n_samples = positive_int(n_samples, "n_samples")
    rng = np.random.default_rng(seed)
    kdes, jittered = {}, set()
    for side, sets in (("row", rows), ("column", columns)):
        for name, x in sets.items():
            kdes[side, name], hit = fit_kde(x, rng, jitter)
            if hit:
                jittered.add((side, name))
    table: dict[str, dict[str, float]] = {}
    for row in rows:
        x = kdes["row", row].resample(n_samples, seed=rng)
        log_p = kdes["row", row].logpdf(x)
        table[row] = {col: mean_log_ratio(log_p - kdes["column", col].logpdf(x), bounds) for col in columns}
    return table, jittered


@overload
def kl_from_uniform(
    q: np.ndarray,
    low: Sequence[float],
    high: Sequence[float],
    n_samples: int = ...,
    seed: Seed = ...,
    *,
    jitter: float = ...,
    ratio_clip: Sequence[float] | None = ...,
    return_jitter: Literal[False] = ...,
) -> float: ...


@overload
def kl_from_uniform(
    q: np.ndarray,
    low: Sequence[float],
    high: Sequence[float],
    n_samples: int = ...,
    seed: Seed = ...,
    *,
    jitter: float = ...,
    ratio_clip: Sequence[float] | None = ...,
    return_jitter: Literal[True],
) -> tuple[float, dict[str, bool]]: ...


def kl_from_uniform(
    q: np.ndarray,
    low: Sequence[float],
    high: Sequence[float],
    n_samples: int = 2500,
    seed: Seed = 0,
    *,
    jitter: float = 1e-3,
    ratio_clip: Sequence[float] | None = None,
    return_jitter: bool = False,
) -> float | tuple[float, dict[str, bool]]:
    """KL(U ‖ q) from the uniform distribution on the box [low, high] to the KDE of samples ``q``.

    ``log U = -log prod(high - low)`` is the true d-dimensional density (docs/spec.md §7 decision: the published
    script used a 1-D density and so overstated this by log 2.2 ≈ 0.79 nats on the 2.2 m box). The KDE of
    ``q`` is fitted (and jittered if degenerate) exactly as in :func:`kl_divergence`.

    Args:
        q: (n, d) samples, e.g. decoded positions in metres; a 1-D array is read as (n, 1).
        low: (d,) lower corner of the box, e.g. ``(-1.1, -1.1)``.
        high: (d,) upper corner, each entry above the matching ``low``.
        n_samples: number of uniform Monte Carlo samples.
        seed: seed or ``numpy.random.Generator``.
        jitter: std of the jitter added to a degenerate ``q``.
        ratio_clip: ``[low, high]`` to clip each density ratio U(x)/q(x) to (see :func:`kl_divergence`); ``None``:
            unclipped.
        return_jitter: also return ``{"p": False, "q": bool}`` (the uniform side is never jittered; the
            keys match :func:`kl_divergence` so callers can record both the same way).

    Returns:
        The estimate in nats, or ``(kl, {"p": False, "q": bool})``.

    Raises:
        ValueError: on malformed ``q``, a box whose length or bounds do not fit ``q``, or a bad ``ratio_clip``.
    """
    bounds = log_ratio_bounds(ratio_clip)
    q = _samples(q, "q")
    low_a, high_a = np.asarray(low, dtype=np.float64).ravel(), np.asarray(high, dtype=np.float64).ravel()
    d = q.shape[1]
    if low_a.shape != (d,) or high_a.shape != (d,):
        raise ValueError(f"low and high must each have {d} entries (q's dimension); got {low_a.size} and {high_a.size}")
    if not (np.all(np.isfinite(low_a)) and np.all(np.isfinite(high_a)) and np.all(high_a > low_a)):
        raise ValueError(f"the box needs finite bounds with high > low; got low={low_a}, high={high_a}")
    n_samples = positive_int(n_samples, "n_samples")
    rng = np.random.default_rng(seed)
    kde_q, jit_q = fit_kde(q, rng, jitter)
    x = rng.uniform(low_a, high_a, size=(n_samples, d))
    log_u = -float(np.sum(np.log(high_a - low_a)))
    log_q = kde_q.logpdf(x.T)
    if bounds is not None:
        # log U - log q(x) in [log low, log high] <=> log q(x) in [log U - log high, log U - log low]: clipping
        # log q keeps the unclipped arithmetic below, so a clip that reaches no sample changes nothing, bit for bit.
        log_q = np.clip(log_q, log_u - bounds[1], log_u - bounds[0])
    kl = log_u - float(np.mean(log_q))
    return (kl, {"p": False, "q": jit_q}) if return_jitter else kl


def annulus_share(
    x: np.ndarray, r_min: float = 0.2, r_max: float = 0.45, centre: Sequence[float] = (0.0, 0.0)
) -> float:
    """Fraction of points whose distance from ``centre`` lies in [r_min, r_max] (docs/spec.md §9 claim 1's ring).

    In one dimension the "ring" is the pair of segments at that distance from ``centre`` (on a track, a band
    of distances from its reward end).

    Args:
        x: (..., d) points, metres (any leading shape, e.g. (B, T, 2)); d is the length of ``centre``.
        r_min: inner radius, metres.
        r_max: outer radius, metres, at least ``r_min``.
        centre: (d,) centre of the ring, metres.

    Returns:
        The share in [0, 1].
    """
    c = np.asarray(centre, dtype=np.float64).ravel()
    points = f"x must be a non-empty array of {c.size}-D points (..., {c.size}); got shape {{shape}}"
    a = check_array(x, "x", last=c.size, at_least=((None, 1, points),), shape_error=points)
    if not 0.0 <= r_min <= r_max:
        raise ValueError(f"need 0 <= r_min <= r_max; got r_min={r_min}, r_max={r_max}")
    r = np.linalg.norm(a.reshape(-1, c.size) - c, axis=-1)
    return float(np.mean((r >= r_min) & (r <= r_max)))
