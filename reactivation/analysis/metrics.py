"""Analysis metrics (SPEC §7, §9): pure numpy/scipy functions on decoded outputs and hidden states.

Three families:

* distributions of decoded points: :func:`kl_divergence`, :func:`kl_from_uniform` (Gaussian KDE, Monte
  Carlo), :func:`circular_kl_divergence` (von Mises KDE on the circle), :func:`annulus_share`;
* per-trajectory statistics: :func:`total_variance`, :func:`stepwise_distance` and their circular versions
  :func:`circular_variance`, :func:`wrapped_step_distance`, :func:`mean_angular_velocity`;
* hidden-state geometry: :func:`explained_variance_curve`, :func:`subspace_variance_share`.

KL estimates are in nats. Randomness goes through a seeded ``numpy.random.Generator``, never the global RNG.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.special import i0e
from scipy.stats import gaussian_kde

Seed = int | np.random.Generator | None

TWO_PI = 2.0 * math.pi

# A covariance eigenvalue at or below this (units², i.e. a 1 µm std for metres), or this fraction of the
# largest eigenvalue when that exceeds 1, marks a point cloud as (near) singular: gaussian_kde's Cholesky
# factorisation either fails or yields an absurdly sharp density there.
_DEGENERATE_EIG = 1e-12

# Largest von Mises kernel concentration (kernel std ≈ 1/sqrt(kappa) = 1 mrad). It plays the role of the
# 1 mm jitter of the planar KL: a sample of identical angles still gets a finite, evaluable density.
_MAX_KAPPA = 1e6

# States per block when accumulating a PCA scatter matrix (bounds the float64 copy to ~40 MB at 512 units).
_PCA_BLOCK = 10_000

# Elements per block of the (evaluation points × data points) kernel matrix; bounds memory to ~80 MB.
_BLOCK = 10_000_000


# --------------------------------------------------------------------------------------------- validation


def _samples(x: np.ndarray, name: str) -> np.ndarray:
    """(n, d) or (n,) finite samples → float64 (n, d)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of samples (n, d) or 1-D (n,); got shape {a.shape}")
    n, d = a.shape
    if d < 1:
        raise ValueError(f"{name} has no dimensions (shape {a.shape})")
    # A KDE in d dimensions needs at least d + 1 points to have a full-rank covariance even after jitter.
    if n < max(2, d + 1):
        raise ValueError(f"{name} needs at least {max(2, d + 1)} samples in {d} dimension(s); got {n}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return a


def _trajectories(x: np.ndarray, ndim: int, name: str, min_steps: int = 2) -> np.ndarray:
    """Check a batch of trajectories: (B, T, d) when ``ndim`` is 3, (B, T) angles when 2."""
    a = np.asarray(x, dtype=np.float64)
    shape = "(B, T, d)" if ndim == 3 else "(B, T)"
    if a.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape}; got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < min_steps:
        raise ValueError(f"{name} needs at least 1 trajectory and {min_steps} time points; got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return a


def _positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------- planar KL


def _is_degenerate(x: np.ndarray) -> bool:
    """Whether the sample covariance of ``x`` (n, d) is singular or nearly so."""
    eig = np.linalg.eigvalsh(np.atleast_2d(np.cov(x, rowvar=False)))
    return bool(eig[0] <= _DEGENERATE_EIG * max(1.0, eig[-1]))


def fit_kde(x: np.ndarray, rng: np.random.Generator, jitter: float = 1e-3,
            bw_method: str | float | None = None) -> tuple[gaussian_kde, bool]:
    """Fit ``gaussian_kde`` to (n, d) samples, jittering a degenerate cloud first (SPEC §7).

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
    # the cloud anywhere it was not (SPEC §7).
    jittered = x + rng.normal(0.0, jitter, size=x.shape)
    try:
        return gaussian_kde(jittered.T, bw_method=bw_method), True
    except np.linalg.LinAlgError as err:
        raise ValueError(f"could not fit a KDE even after adding jitter of std {jitter}: {err}") from err


def kl_divergence(p: np.ndarray, q: np.ndarray, n_samples: int = 2500, seed: Seed = 0, *,
                  jitter: float = 1e-3, return_jitter: bool = False) -> float | tuple[float, dict[str, bool]]:
    """KL(p ‖ q) between two sample sets, by Gaussian KDE and Monte Carlo (SPEC §7).

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
        return_jitter: also return which set was jittered.

    Returns:
        The estimate in nats; with ``return_jitter``, ``(kl, {"p": bool, "q": bool})``.

    Raises:
        ValueError: if an input is not (n, d) or (n,), has fewer than d + 1 samples or non-finite values,
            or the two dimensions differ.
    """
    table, jittered = kl_matrix({"p": p}, {"q": q}, n_samples, seed, jitter=jitter)
    kl = table["p"]["q"]
    return (kl, {"p": ("row", "p") in jittered, "q": ("column", "q") in jittered}) if return_jitter else kl


def kl_matrix(rows: dict[str, np.ndarray], columns: dict[str, np.ndarray], n_samples: int = 2500, seed: Seed = 0,
              *, jitter: float = 1e-3) -> tuple[dict[str, dict[str, float]], set[tuple[str, str]]]:
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

    Returns:
        ``({row: {column: nats}}, {("row" | "column", name) of each set that was jittered})``.
    """
    rows = {name: _samples(x, name) for name, x in rows.items()}
    columns = {name: _samples(x, name) for name, x in columns.items()}
    dims = {x.shape[1] for x in (*rows.values(), *columns.values())}
    if len(dims) != 1:
        raise ValueError(f"all sample sets must have the same dimension d; got {sorted(dims)}")
    n_samples = _positive_int(n_samples, "n_samples")
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
        table[row] = {col: float(np.mean(log_p - kdes["column", col].logpdf(x))) for col in columns}
    return table, jittered


def kl_from_uniform(q: np.ndarray, low: Sequence[float], high: Sequence[float], n_samples: int = 2500,
                    seed: Seed = 0, *, jitter: float = 1e-3,
                    return_jitter: bool = False) -> float | tuple[float, dict[str, bool]]:
    """KL(U ‖ q) from the uniform distribution on the box [low, high] to the KDE of samples ``q``.

    ``log U = -log prod(high - low)`` is the true d-dimensional density (SPEC §7 decision: the published
    script used a 1-D density and so overstated this by log 2.2 ≈ 0.79 nats on the 2.2 m box). The KDE of
    ``q`` is fitted (and jittered if degenerate) exactly as in :func:`kl_divergence`.

    Args:
        q: (n, d) samples, e.g. decoded positions in metres; a 1-D array is read as (n, 1).
        low: (d,) lower corner of the box, e.g. ``(-1.1, -1.1)``.
        high: (d,) upper corner, each entry above the matching ``low``.
        n_samples: number of uniform Monte Carlo samples.
        seed: seed or ``numpy.random.Generator``.
        jitter: std of the jitter added to a degenerate ``q``.
        return_jitter: also return ``{"p": False, "q": bool}`` (the uniform side is never jittered; the
            keys match :func:`kl_divergence` so callers can record both the same way).

    Returns:
        The estimate in nats, or ``(kl, {"p": False, "q": bool})``.

    Raises:
        ValueError: on malformed ``q`` or a box whose length or bounds do not fit ``q``.
    """
    q = _samples(q, "q")
    low_a, high_a = np.asarray(low, dtype=np.float64).ravel(), np.asarray(high, dtype=np.float64).ravel()
    d = q.shape[1]
    if low_a.shape != (d,) or high_a.shape != (d,):
        raise ValueError(f"low and high must each have {d} entries (q's dimension); "
                         f"got {low_a.size} and {high_a.size}")
    if not (np.all(np.isfinite(low_a)) and np.all(np.isfinite(high_a)) and np.all(high_a > low_a)):
        raise ValueError(f"the box needs finite bounds with high > low; got low={low_a}, high={high_a}")
    n_samples = _positive_int(n_samples, "n_samples")
    rng = np.random.default_rng(seed)
    kde_q, jit_q = fit_kde(q, rng, jitter)
    x = rng.uniform(low_a, high_a, size=(n_samples, d))
    log_u = -float(np.sum(np.log(high_a - low_a)))
    kl = log_u - float(np.mean(kde_q.logpdf(x.T)))
    return (kl, {"p": False, "q": jit_q}) if return_jitter else kl


# -------------------------------------------------------------------------------------------- circular KL


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
    h = 1.06 * min(s, math.pi / math.sqrt(3.0)) * theta.size ** -0.2
    return min(1.0 / h**2, _MAX_KAPPA) if h > 0.0 else _MAX_KAPPA


def _vonmises_kde_logpdf(x: np.ndarray, data: np.ndarray, kappa: float) -> np.ndarray:
    """log of the von Mises KDE of ``data`` (n,) with concentration ``kappa``, at angles ``x`` (m,)."""
    # log I0(kappa) = log(i0e(kappa)) + kappa avoids the overflow of I0 for large kappa.
    log_norm = math.log(TWO_PI) + math.log(i0e(kappa)) + kappa + math.log(data.size)
    out = np.empty(x.size)
    step = max(1, _BLOCK // data.size)  # evaluation points per block, so memory stays bounded
    for start in range(0, x.size, step):
        z = kappa * np.cos(x[start:start + step, None] - data[None, :])
        # A log-sum-exp by hand, shifted by each row's maximum so far-away points do not underflow to
        # log(0); scipy.special.logsumexp does the same but is several times slower on large blocks.
        top = z.max(axis=1)
        out[start:start + step] = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    return out - log_norm


def _angles(theta: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(theta, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of angles (n,), radians; got shape {a.shape} "
                         "(flatten it with .ravel() first)")
    if a.size < 2:
        raise ValueError(f"{name} needs at least 2 angles; got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return a


def circular_kl_divergence(p: np.ndarray, q: np.ndarray, n_samples: int = 2500, seed: Seed = 0, *,
                           kappa: float | None = None,
                           return_kappa: bool = False) -> float | tuple[float, dict[str, float]]:
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
        return_kappa: also return the concentrations used, ``{"p": kappa_p, "q": kappa_q}``.

    Returns:
        The estimate in nats, or ``(kl, {"p": kappa_p, "q": kappa_q})``.

    Raises:
        ValueError: if an input is not 1-D with at least 2 finite angles, or ``kappa`` is not positive.
    """
    table, kappas = circular_kl_matrix({"p": p}, {"q": q}, n_samples, seed, kappa=kappa)
    kl = table["p"]["q"]
    return (kl, {"p": kappas["row", "p"], "q": kappas["column", "q"]}) if return_kappa else kl


def circular_kl_matrix(rows: dict[str, np.ndarray], columns: dict[str, np.ndarray], n_samples: int = 2500,
                       seed: Seed = 0, *, kappa: float | None = None
                       ) -> tuple[dict[str, dict[str, float]], dict[tuple[str, str], float]]:
    """:func:`circular_kl_divergence` for every (row, column) pair, each row's samples and ``log p`` drawn once.

    Args:
        rows: name -> (n,) angles of the first argument of KL (e.g. quiescent headings), radians.
        columns: name -> (n,) angles of the second argument (e.g. active headings), radians.
        n_samples: Monte Carlo samples per row.
        seed: seed or ``numpy.random.Generator``.
        kappa: kernel concentration for every set (``None``: :func:`vonmises_bandwidth` per set).

    Returns:
        ``({row: {column: nats}}, {("row" | "column", name): kappa used})``.
    """
    rows = {name: _angles(x, name) for name, x in rows.items()}
    columns = {name: _angles(x, name) for name, x in columns.items()}
    n_samples = _positive_int(n_samples, "n_samples")
    if kappa is not None and not (math.isfinite(kappa) and kappa > 0):
        raise ValueError(f"kappa must be a positive finite concentration; got {kappa!r}")
    kappas = {(side, name): float(kappa) if kappa is not None else vonmises_bandwidth(x)
              for side, sets in (("row", rows), ("column", columns)) for name, x in sets.items()}
    rng = np.random.default_rng(seed)
    table: dict[str, dict[str, float]] = {}
    for row, p in rows.items():
        k_p = kappas["row", row]
        x = wrap(p[rng.integers(p.size, size=n_samples)] + rng.vonmises(0.0, k_p, size=n_samples))
        log_p = _vonmises_kde_logpdf(x, p, k_p)
        table[row] = {col: float(np.mean(log_p - _vonmises_kde_logpdf(x, q, kappas["column", col])))
                      for col, q in columns.items()}
    return table, kappas


# ------------------------------------------------------------------------------- per-trajectory statistics


def total_variance(x: np.ndarray) -> np.ndarray:
    """Per trajectory, the trace of the sample covariance (ddof 1) of its points over time (SPEC §7).

    Args:
        x: (B, T, d) trajectories, e.g. decoded positions in metres; T >= 2.

    Returns:
        (B,) total variance, units of ``x`` squared (m²).
    """
    x = _trajectories(x, 3, "x")
    # The trace of the covariance is the sum of the per-coordinate variances: no d×d matrix needed.
    return np.var(x, axis=1, ddof=1).sum(axis=-1)


def stepwise_distance(x: np.ndarray) -> np.ndarray:
    """Per trajectory, the mean Euclidean distance between consecutive points (the T - 1 steps).

    Args:
        x: (B, T, d) trajectories, e.g. decoded positions in metres; T >= 2.

    Returns:
        (B,) mean step length, units of ``x`` (metres per time step).
    """
    x = _trajectories(x, 3, "x")
    return np.linalg.norm(np.diff(x, axis=1), axis=-1).mean(axis=1)


def circular_variance(theta: np.ndarray) -> np.ndarray:
    """Per trajectory, ``1 - R`` with ``R = |mean_t exp(i theta_t)|`` the mean resultant length.

    (Written out rather than taken from ``scipy.stats.circvar``, whose definition changed in scipy 1.8.)

    Args:
        theta: (B, T) angles, radians; T >= 1.

    Returns:
        (B,) circular variance in [0, 1]: 0 for a constant heading, near 1 for uniform headings.
    """
    theta = _trajectories(theta, 2, "theta", min_steps=1)
    return 1.0 - np.abs(np.mean(np.exp(1j * theta), axis=1))


def wrapped_step_distance(theta: np.ndarray) -> np.ndarray:
    """Per trajectory, the mean absolute angular step ``|wrap(theta_{t+1} - theta_t)|``.

    Args:
        theta: (B, T) angles, radians; T >= 2.

    Returns:
        (B,) mean absolute step, rad per time step (a step across ±pi counts as the short way round).
    """
    theta = _trajectories(theta, 2, "theta")
    return np.abs(wrap(np.diff(theta, axis=1))).mean(axis=1)


def mean_angular_velocity(theta: np.ndarray) -> np.ndarray:
    """Per trajectory, the mean signed angular step ``wrap(theta_{t+1} - theta_t)``.

    Args:
        theta: (B, T) angles, radians; T >= 2.

    Returns:
        (B,) mean angular velocity, rad per time step (positive = counter-clockwise).
    """
    theta = _trajectories(theta, 2, "theta")
    return wrap(np.diff(theta, axis=1)).mean(axis=1)


def annulus_share(x: np.ndarray, r_min: float = 0.2, r_max: float = 0.45,
                  centre: Sequence[float] = (0.0, 0.0)) -> float:
    """Fraction of points whose distance from ``centre`` lies in [r_min, r_max] (SPEC §9 claim 1's ring).

    Args:
        x: (..., 2) points, metres (any leading shape, e.g. (B, T, 2)).
        r_min: inner radius, metres.
        r_max: outer radius, metres, at least ``r_min``.
        centre: (2,) centre of the ring, metres.

    Returns:
        The share in [0, 1].
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 1 or a.shape[-1] != 2 or a.size == 0:
        raise ValueError(f"x must be a non-empty array of 2-D points (..., 2); got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("x contains non-finite values (NaN or inf)")
    if not 0.0 <= r_min <= r_max:
        raise ValueError(f"need 0 <= r_min <= r_max; got r_min={r_min}, r_max={r_max}")
    r = np.linalg.norm(a.reshape(-1, 2) - np.asarray(centre, dtype=np.float64), axis=-1)
    return float(np.mean((r >= r_min) & (r <= r_max)))


# ----------------------------------------------------------------------------------- hidden-state geometry


def _states(h: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(h, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
        raise ValueError(f"{name} must be (n, n_units) states with n >= 2; got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return a


def _pca(h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean (n_units,), principal variances (descending) and components (n_units, n_units, as columns).

    The n_units × n_units scatter matrix is accumulated in blocks of states, so 200,000 × 512 float32
    states are never copied whole into float64.
    """
    n, units = h.shape
    mean = h.mean(axis=0, dtype=np.float64)
    scatter = np.zeros((units, units))
    for start in range(0, n, _PCA_BLOCK):
        c = h[start:start + _PCA_BLOCK].astype(np.float64) - mean
        scatter += c.T @ c
    var, vec = np.linalg.eigh(scatter)  # ascending
    return mean, np.clip(var[::-1], 0.0, None) / (n - 1), vec[:, ::-1]


def pca_fit(h: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal components of hidden states.

    Args:
        h: (n, units) states (or (..., units), e.g. (B, T, units), flattened over leading axes).
        k: number of components kept (at most ``units``).

    Returns:
        ``mean`` (units,), ``components`` (k, units) with orthonormal rows in decreasing order of variance,
        and ``explained_variance_ratio`` (k,): each component's share of the total variance (over all
        units), so its cumulative sum reaches 1 only if k components span the data. Each component's sign
        is fixed (largest-magnitude entry positive) so repeated fits agree.

    Raises:
        ValueError: fewer than 2 states, or states with zero variance.
    """
    x = np.asarray(h)
    x = x.reshape(-1, x.shape[-1])
    if x.shape[0] < 2:
        raise ValueError(f"pca_fit needs at least 2 states; got {x.shape[0]}")
    k = min(_positive_int(k, "k"), x.shape[1])
    mean, var, vec = _pca(x)
    total = var.sum()
    if not total > 0.0:
        raise ValueError("h has zero variance: principal components are undefined")
    components = vec[:, :k].T
    signs = np.sign(components[np.arange(k), np.argmax(np.abs(components), axis=1)])
    return mean, components * signs[:, None], var[:k] / total


def pca_project(h: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Coordinates of states on principal components (e.g. quiescent states on the active PCA).

    Args:
        h: (n, units) or (..., units) states.
        mean: (units,) mean from :func:`pca_fit`.
        components: (k, units) components from :func:`pca_fit`.

    Returns:
        (n, k) or (..., k) coordinates, in the units of ``h``.
    """
    return (np.asarray(h, dtype=np.float64) - mean) @ np.asarray(components).T


def explained_variance_curve(h: np.ndarray, k: int = 10) -> np.ndarray:
    """Cumulative fraction of variance explained by the top-k principal components of states ``h``.

    Args:
        h: (n, n_units) hidden states (e.g. all time points of all trajectories, stacked).
        k: number of components; beyond the rank of ``h`` the curve stays at 1.

    Returns:
        (k,) non-decreasing fractions in [0, 1].

    Raises:
        ValueError: on malformed input or states with zero variance (the fractions are undefined).
    """
    h = _states(h, "h")
    k = _positive_int(k, "k")
    _, var, _ = _pca(h)
    total = var.sum()
    if not total > 0.0:
        raise ValueError("h has zero variance: explained-variance fractions are undefined")
    curve = np.cumsum(var[:k]) / total
    # Components past the rank explain nothing more; pad so callers always get k points.
    return np.minimum(np.pad(curve, (0, k - curve.size), mode="edge"), 1.0)


def subspace_variance_share(active: np.ndarray, quiescent: np.ndarray, k: int = 10) -> float:
    """Share of the quiescent states' variance inside the span of the active top-k principal components.

    SPEC §9 claim 3: quiescent states stay on the active manifold when the share is large; an isotropic
    quiescent cloud gives about ``k / n_units``. Quiescent variance is taken about the quiescent mean, so a
    mere offset between the two phases does not count.

    Args:
        active: (n_a, n_units) active-phase hidden states.
        quiescent: (n_q, n_units) quiescent-phase hidden states.
        k: number of active components; fewer are used if the active states span fewer dimensions.

    Returns:
        The share in [0, 1].

    Raises:
        ValueError: on malformed input, mismatched n_units, or zero variance in either set.
    """
    active, quiescent = _states(active, "active"), _states(quiescent, "quiescent")
    if active.shape[1] != quiescent.shape[1]:
        raise ValueError(f"active and quiescent must have the same n_units; "
                         f"got {active.shape[1]} and {quiescent.shape[1]}")
    k = _positive_int(k, "k")
    _, var, vec = _pca(active)
    if not var[0] > 0.0:
        raise ValueError("active has zero variance: it spans no principal subspace")
    # Directions with (numerically) zero active variance are arbitrary; they are not part of the manifold.
    basis = vec[:, :k][:, var[:k] > 1e-12 * var[0]]
    c = quiescent - quiescent.mean(axis=0)
    total = float(np.sum(c**2))
    if not total > 0.0:
        raise ValueError("quiescent has zero variance: the share is undefined")
    return float(np.sum((c @ basis) ** 2) / total)
