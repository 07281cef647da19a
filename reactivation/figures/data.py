"""Pure numpy helpers that turn analysis results into what the panels plot (docs/spec.md §8).

KDE density maps of decoded positions or PC coordinates, PCA of hidden states, and learning curves
aligned and averaged over seeds. No plotting and no file I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.spatial.distance import cdist

from reactivation.analysis.metrics import fit_kde, pca_fit, pca_project  # noqa: F401  (re-exported: PCA lives in one place)

# Jitter (1 mm, below the decoder's resolution; docs/spec.md §7) for a point cloud with a singular covariance.
JITTER_STD = 1e-3

# Kernel evaluations per block of the (grid × points) distance matrix: bounds memory to ~80 MB.
_KDE_BLOCK = 10_000_000


def kde_map(
    points: np.ndarray,
    lim: float = 1.25,
    n_grid: int = 100,
    *,
    extent: Sequence[float] | None = None,
    max_points: int = 20_000,
    seed: int = 0,
    bw_method: str | float | None = None,
) -> np.ndarray:
    """Gaussian-KDE density of 2-D points on a regular grid of cell centres.

    Args:
        points: (n, 2) points, e.g. decoded positions in m (or (..., 2), flattened).
        lim: half-width of the square grid [-lim, lim]² (m for positions).
        n_grid: cells per side.
        extent: (xmin, xmax, ymin, ymax) instead of the square ``lim`` (e.g. for PC coordinates).
        max_points: at most this many points, drawn without replacement with a generator seeded by
            ``seed``, are fitted: evaluation cost grows with n × n_grid².
        seed: seed of the subsampling (and of the jitter, if any).
        bw_method: passed to ``scipy.stats.gaussian_kde`` (default: Scott's rule).

    Returns:
        (n_grid, n_grid) density in 1/units² (1/m² for positions), indexed ``[y, x]`` from the lowest y:
        show it with ``imshow(d, origin="lower", extent=extent)``. ``sum(d) × cell area`` is the
        probability mass inside the grid (≈ 1 for points well inside it). The kernel is gaussian_kde's,
        widened by half a grid cell (std) so that even a collapsed point cloud shows on the map.
    """
    x = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x = x[np.all(np.isfinite(x), axis=1)]
    if len(x) < 2:
        raise ValueError(f"kde_map needs at least 2 finite points; got {len(x)}")
    rng = np.random.default_rng(seed)
    if len(x) > max_points:
        x = x[rng.choice(len(x), size=max_points, replace=False)]
    # A deterministic no-noise network can collapse onto (nearly) one point: fit_kde jitters it first.
    kde, _ = fit_kde(x, rng, JITTER_STD, bw_method)  # kernel covariance by Scott's rule (or bw_method)
    x = kde.dataset.T
    xmin, xmax, ymin, ymax = extent if extent is not None else (-lim, lim, -lim, lim)
    # Cell centres, so that imshow's extent (the cells' outer edges) places each value exactly.
    xs = _centres(xmin, xmax, n_grid)
    ys = _centres(ymin, ymax, n_grid)
    gx, gy = np.meshgrid(xs, ys)  # gx[i, j] = xs[j], gy[i, j] = ys[i]: rows are y
    # Anti-aliasing: the KDE convolved with a Gaussian of half a cell's std. Sampled on the grid, a kernel
    # narrower than a cell (a collapsed no-noise network: 1 mm jitter, 2.5 cm cells) would fall between
    # grid points and vanish from the map; with std ≥ half a cell the grid sum keeps the mass (≤ ~2 %
    # error). Ordinary kernels (~0.1 m) widen by < 1 %.
    half_cell = 0.5 * np.array([(xmax - xmin) / n_grid, (ymax - ymin) / n_grid])
    cov = kde.covariance + np.diag(half_cell**2)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    return _gaussian_mixture(grid, x, cov).reshape(n_grid, n_grid)


def _gaussian_mixture(at: np.ndarray, centres: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """(m,) density at ``at`` (m, 2) of the equal-weight mixture of N(centre, cov) over ``centres`` (n, 2)."""
    whiten = np.linalg.inv(np.linalg.cholesky(cov))  # Mahalanobis distances become Euclidean ones
    a, c = at @ whiten.T, centres @ whiten.T
    out = np.empty(len(a))
    block = max(1, _KDE_BLOCK // len(c))
    for start in range(0, len(a), block):
        out[start : start + block] = np.exp(-0.5 * cdist(a[start : start + block], c, "sqeuclidean")).mean(axis=1)
    return out / (2.0 * np.pi * np.sqrt(np.linalg.det(cov)))


def _centres(low: float, high: float, n: int) -> np.ndarray:
    edges = np.linspace(low, high, n + 1)
    return 0.5 * (edges[:-1] + edges[1:])


def align_over_seeds(curves: Sequence[Mapping[int | str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-seed curves on the steps every seed logged.

    Args:
        curves: one ``{step: value}`` per seed; steps may be ints or strings of ints (JSON keys).

    Returns:
        ``steps`` (S,) sorted ints present in every curve, and ``values`` (n_seeds, S).
    """
    if not curves:
        raise ValueError("align_over_seeds needs at least one curve")
    seeds = [{int(step): float(v) for step, v in c.items()} for c in curves]
    # A seed that was stopped early (or logged at other steps) must not bias the mean at some steps.
    common = sorted(set.intersection(*(set(c) for c in seeds)))
    return np.asarray(common, dtype=np.int64), np.asarray([[c[s] for s in common] for c in seeds]).reshape(
        len(seeds), len(common)
    )


def mean_std_over_seeds(
    curves: Sequence[Mapping[int | str, float]], ddof: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard deviation over seeds of curves such as the test loss vs step.

    Args:
        curves: one ``{step: value}`` per seed; only steps present in every seed are kept.
        ddof: delta degrees of freedom of the std. The default 0 (population std) describes the spread
            of the seeds actually shown, and is defined (0) for a single seed; pass 1 for the sample std.

    Returns:
        ``steps`` (S,), ``mean`` (S,), ``std`` (S,).
    """
    steps, values = align_over_seeds(curves)
    return steps, values.mean(axis=0), values.std(axis=0, ddof=ddof)
