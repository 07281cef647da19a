"""The score of a Gaussian kernel density estimate and its agreement with a measured drift (issue #14, "test the
theory"): Scott's kernel covariance (:func:`kde_bandwidth`, as ``scipy.stats.gaussian_kde`` picks it), the KDE's
log density (:func:`kde_log_density`) and its analytic gradient ∇_x log p(x) (:func:`kde_score`), evaluated in
blocks of query points so that 200,000 × 10 data and 20,000 queries stay within ~50 MB, and the cosine and
regression slope between a drift field and the score times the noise variance (:func:`drift_score_agreement`).

The theory (Krishna et al., ICLR 2024): the optimal one-step denoiser of noise variance s² moves a state by
``s² ∇ log p``, so a network that has learned it shows drift ≈ s² · score: slope 1 and cosine 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import partial

import numpy as np
from scipy.linalg import solve_triangular

from reactivation.geometry._checks import check_array, positive_int
from reactivation.geometry.planar import _is_degenerate, _samples

# Elements per block of the (query points × data points) kernel matrix: 6e6 float64 = 48 MB, the one block-sized
# array alive at a time (the log-weights are exponentiated in place), so memory stays near 50 MB at any m and n.
_BLOCK = 6_000_000


def kde_bandwidth(data: np.ndarray) -> np.ndarray:
    """The kernel covariance of a Gaussian KDE by Scott's rule, exactly as ``scipy.stats.gaussian_kde`` sets it.

    ``C = cov(data) · n^(-2/(D+4))``: the sample covariance (ddof 1) times the square of Scott's factor
    ``n^(-1/(D+4))``.

    Args:
        data: (n, D) samples (a 1-D array is read as (n, 1)), in their own units (e.g. metres).

    Returns:
        (D, D) float64 kernel covariance, units of ``data`` squared.

    Raises:
        ValueError: if ``data`` is not (n, D) or (n,), has fewer than D + 1 points or non-finite values, or its
            covariance is singular (e.g. points on a line in 2-D): no Gaussian kernel of that shape has a density.
    """
    data = _samples(data, "data")
    return _scott(data)


def _scott(data: np.ndarray) -> np.ndarray:
    """Scott's kernel covariance of checked (n, D) ``data``, rejecting a (near) singular one."""
    if _is_degenerate(data):
        raise ValueError(
            f"data has a singular covariance (its {data.shape[0]} points in {data.shape[1]} dimension(s) lie on a "
            "lower-dimensional subspace): a Gaussian KDE needs a full-rank covariance; add jitter or drop a dimension"
        )
    n, d = data.shape
    return np.atleast_2d(np.cov(data, rowvar=False)) * n ** (-2.0 / (d + 4))


def _prepare(
    x: np.ndarray, data: np.ndarray, cov: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Checked queries and data whitened by the kernel: ``(z, zd, L, log_norm)``.

    ``L`` is the Cholesky factor of the kernel covariance (C = L Lᵀ), ``z = L⁻¹(x - c)`` and ``zd = L⁻¹(data - c)``
    with ``c`` the data mean (centring keeps the expanded quadratic form below free of cancellation far from the
    origin), and ``log_norm = log n + ½ log det(2π C)``, the KDE's normalising constant.
    """
    data = _samples(data, "data")
    n, d = data.shape
    x = check_array(
        x,
        "x",
        ndim=2,
        last=d,
        column=d == 1,
        shape_error=f"{{name}} must be (m, {d}) query points (the data's dimension D = {d}); got shape {{shape}}",
    )
    if cov is None:
        c = _scott(data)
    else:
        # atleast_2d: in one dimension a variance may come as a number or a (1,) array.
        c = check_array(
            np.atleast_2d(cov),
            "cov",
            ndim=2,
            shape_error=f"{{name}} must be a ({d}, {d}) kernel covariance; got shape {{shape}}",
        )
        if c.shape != (d, d):
            raise ValueError(f"cov must be a ({d}, {d}) kernel covariance (the data's D = {d}); got shape {c.shape}")
        if not np.allclose(c, c.T, rtol=1e-10, atol=0.0):
            raise ValueError("cov must be symmetric")
    try:
        chol = np.linalg.cholesky(c)
    except np.linalg.LinAlgError as err:
        raise ValueError(f"cov must be positive definite: {err}") from err
    centre = data.mean(axis=0)
    # Row vectors: z = L⁻¹ (x - c) for each row is (x - c) L⁻ᵀ, i.e. a triangular solve on the transposes.
    z = solve_triangular(chol, (x - centre).T, lower=True).T
    zd = solve_triangular(chol, (data - centre).T, lower=True).T
    log_norm = math.log(n) + 0.5 * d * math.log(2.0 * math.pi) + float(np.sum(np.log(np.diag(chol))))
    return z, zd, chol, log_norm


def _blocks(
    z: np.ndarray, zd: np.ndarray, chunk: int | None
) -> Iterator[tuple[slice, np.ndarray, np.ndarray, np.ndarray]]:
    """Per block of queries: ``(rows, top, weights, total)``.

    ``weights[j, i] = exp(a[j, i] - top[j])`` with ``a[j, i] = z_j · zd_i - ½|zd_i|²``, which is the kernel
    log-weight ``-½|z_j - zd_i|²`` up to the per-query constant ``-½|z_j|²``; ``top`` is each row's maximum (the
    log-sum-exp shift, so far-away queries do not underflow to log 0) and ``total`` each row's sum of weights.
    """
    m, n = z.shape[0], zd.shape[0]
    step = positive_int(chunk, "chunk") if chunk is not None else max(1, _BLOCK // n)
    half_sq = 0.5 * np.einsum("ij,ij->i", zd, zd)
    for start in range(0, m, step):
        rows = slice(start, min(start + step, m))
        a = z[rows] @ zd.T
        a -= half_sq
        top = a.max(axis=1)
        a -= top[:, None]
        np.exp(a, out=a)
        yield rows, top, a, a.sum(axis=1)


def kde_log_density(
    x: np.ndarray, data: np.ndarray, cov: np.ndarray | None = None, *, chunk: int | None = None
) -> np.ndarray:
    """log p(x) of the Gaussian KDE ``p(x) = 1/n Σ_i N(x; x_i, C)`` at query points.

    With Scott's ``C`` (the default) this is ``scipy.stats.gaussian_kde(data.T).logpdf(x.T)``, computed in blocks
    of query points with a stable log-sum-exp.

    Args:
        x: (m, D) query points (a 1-D array is read as (m, 1) when D = 1), units of ``data``.
        data: (n, D) samples defining the KDE (1-D read as (n, 1)).
        cov: (D, D) kernel covariance, symmetric positive definite; ``None``: :func:`kde_bandwidth` (Scott).
        chunk: query points per block; ``None`` sizes blocks to ~48 MB of (m × n) weights (a test sets it small).

    Returns:
        (m,) float64 log density, log of (units of ``data``)^-D.

    Raises:
        ValueError: on malformed ``x``, ``data``, ``cov`` or ``chunk``, or singular data with ``cov=None``.
    """
    z, zd, _, log_norm = _prepare(x, data, cov)
    out = np.empty(z.shape[0])
    for rows, top, _, total in _blocks(z, zd, chunk):
        out[rows] = top + np.log(total) - 0.5 * np.einsum("ij,ij->i", z[rows], z[rows])
    return out - log_norm


def kde_score(
    x: np.ndarray, data: np.ndarray, cov: np.ndarray | None = None, *, chunk: int | None = None
) -> np.ndarray:
    """The analytic score ∇_x log p(x) of the Gaussian KDE at query points.

    ``∇ log p(x) = Σ_i w_i(x) C⁻¹ (x_i - x)`` with ``w(x)`` the softmax over i of the kernel log-weights
    ``-½ (x - x_i)ᵀ C⁻¹ (x - x_i)``: the kernel-weighted mean of the data, less ``x``, in the kernel's metric.
    The softmax is a stable log-sum-exp, evaluated in blocks of query points so that the (m × n) weights never
    take more than ~48 MB (200,000 × 10 data and 20,000 queries run in blocks of 30 queries).

    Args:
        x: (m, D) query points (a 1-D array is read as (m, 1) when D = 1), units of ``data``.
        data: (n, D) samples defining the KDE (1-D read as (n, 1)).
        cov: (D, D) kernel covariance, symmetric positive definite; ``None``: :func:`kde_bandwidth` (Scott).
        chunk: query points per block; ``None`` sizes blocks to ~48 MB (a test sets it small).

    Returns:
        (m, D) float64 score, units of ``data`` to the -1 (e.g. 1/m). Times the noise variance s² (units²) it is
        the drift of the optimal one-step denoiser, in units of ``data``.

    Raises:
        ValueError: on malformed ``x``, ``data``, ``cov`` or ``chunk``, or singular data with ``cov=None``.
    """
    z, zd, chol, _ = _prepare(x, data, cov)
    white = np.empty_like(z)
    for rows, _, weights, total in _blocks(z, zd, chunk):
        white[rows] = (weights @ zd) / total[:, None] - z[rows]
    # In whitened units the score is Σ w_i (zd_i - z); C⁻¹ (x_i - x) = L⁻ᵀ (zd_i - z), i.e. one more solve by Lᵀ.
    return solve_triangular(chol, white.T, lower=True, trans="T").T


_FIELD = "{name} must be (n, D) vectors at the query points; got shape {shape}"
_field = partial(check_array, ndim=2, at_least=((0, 1, _FIELD), (1, 1, _FIELD)), shape_error=_FIELD)


def drift_score_agreement(drift: np.ndarray, score: np.ndarray) -> dict[str, float | int | list[float]]:
    """How well a drift field matches the score times the noise variance: cosine and regression slope.

    Theory: the optimal one-step denoiser's drift is ``s² ∇ log p``, so ``drift`` against ``score`` (already
    multiplied by s²) gives slope 1 and cosine 1; a drift unrelated to the score gives both ≈ 0. The slope
    regresses the drift on the score, so noise in an estimated score attenuates it below 1 by the share of the
    score's variance that is noise; ``slope_reverse`` regresses the score on the drift instead, and is attenuated
    only by noise in the drift. With unbiased noise in both, the true slope lies between the two (the
    errors-in-variables bracket). A KDE score in many dimensions is biased as well as noisy: Scott's kernel is narrow
    against the gaps between samples, so the score points at the nearest few and overstates its size. For the exact
    drift of a 10-D Gaussian against a Scott KDE score of 20,000 samples (see the tests): slope ≈ 0.59,
    slope_reverse ≈ 0.87-0.92, cosine ≈ 0.83. A wider kernel (e.g. ``cov`` = the data covariance) brings all three
    to ≈ 1, but against the score of the more smoothed density.

    Args:
        drift: (n, D) drift vectors, e.g. the mean one-step displacement of a noise-free step, units of x.
        score: (n, D) score times s² at the same points (e.g. ``s2 * kde_score(points, data)``), units of x.

    Returns:
        A dict:

        - ``cosine``: mean over points of cos(drift_i, score_i), skipping points where either vector is 0
            (NaN if every point is skipped);
        - ``n_cosine``: the number of points in that mean;
        - ``cosine_pooled``: the cosine between the two flattened (n·D,) arrays, so long vectors weigh more;
        - ``slope``: least-squares slope through the origin of drift on score, pooled over all coordinates,
            ``Σ d·g / Σ g·g``;
        - ``slope_reverse``: the same slope from the regression of score on drift, ``Σ d·d / Σ d·g`` (inf when
            ``Σ d·g`` is 0);
        - ``slope_per_dim``: the D per-coordinate slopes ``Σ_i d_ik g_ik / Σ_i g_ik²`` (NaN for a coordinate
            where the score is 0 at every point);
        - ``n``: the number of points.

    Raises:
        ValueError: if either array is not (n, D) with finite values, their shapes differ, or either is zero
            everywhere (neither cosine nor slope is then defined).
    """
    d, g = _field(drift, "drift"), _field(score, "score")
    if d.shape != g.shape:
        raise ValueError(f"drift and score must have the same shape (n, D); got {d.shape} and {g.shape}")
    for name, a in (("drift", d), ("score", g)):
        if not np.any(a):
            raise ValueError(f"{name} is zero at every point: its cosine and slope with the other are undefined")
    dn, gn = np.linalg.norm(d, axis=1), np.linalg.norm(g, axis=1)
    keep = (dn > 0.0) & (gn > 0.0)
    cos = np.einsum("ij,ij->i", d[keep], g[keep]) / (dn[keep] * gn[keep])
    dg, gg = np.sum(d * g, axis=0), np.sum(g * g, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_dim = np.where(gg > 0.0, dg / gg, np.nan)
    return {
        "cosine": float(cos.mean()) if cos.size else math.nan,
        "n_cosine": int(cos.size),
        "cosine_pooled": float(dg.sum() / (np.linalg.norm(d) * np.linalg.norm(g))),
        "slope": float(dg.sum() / gg.sum()),
        "slope_reverse": float(np.sum(d * d) / dg.sum()) if dg.sum() != 0.0 else math.inf,
        "slope_per_dim": [float(v) for v in per_dim],
        "n": int(d.shape[0]),
    }


def vonmises_kde_score(theta: np.ndarray, data: np.ndarray, kappa: float, *, chunk: int | None = None) -> np.ndarray:
    """The score d/dθ log p(θ) of a von Mises KDE on the circle (the KDE the HD analyses use, docs/spec.md §7).

    ``p(θ) ∝ Σ_i exp(κ cos(θ - θ_i))``, so ``d log p / dθ = -κ Σ_i w_i(θ) sin(θ - θ_i)`` with ``w`` the softmax of
    ``κ cos(θ - θ_i)``.

    Args:
        theta: (m,) query angles, rad.
        data: (n,) angles defining the KDE, rad.
        kappa: the kernel's concentration (> 0), e.g. :func:`reactivation.geometry.circular.vonmises_bandwidth`.
        chunk: query angles per block; ``None`` sizes blocks to ~48 MB.

    Returns:
        (m,) float64 score, 1/rad.
    """
    x = np.asarray(theta, dtype=np.float64).reshape(-1)
    d = np.asarray(data, dtype=np.float64).reshape(-1)
    if not (math.isfinite(kappa) and kappa > 0):
        raise ValueError(f"kappa must be a finite concentration > 0; got {kappa!r}")
    if d.size == 0 or not (np.isfinite(x).all() and np.isfinite(d).all()):
        raise ValueError("theta and data must be finite angles, and data must not be empty")
    step = positive_int(chunk, "chunk") if chunk is not None else max(1, _BLOCK // d.size)
    out = np.empty_like(x)
    for start in range(0, x.size, step):
        diff = x[start : start + step, None] - d[None, :]
        logw = kappa * np.cos(diff)
        w = np.exp(logw - logw.max(axis=1, keepdims=True))
        out[start : start + step] = -kappa * (w * np.sin(diff)).sum(axis=1) / w.sum(axis=1)
    return out
