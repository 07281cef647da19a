"""Linear-track panels (docs/spec.md §8): decoded positions on a 1-D track [low, high] in metres.

Each function takes arrays (never paths), returns a new ``matplotlib.figure.Figure`` outside pyplot's
registry, and does no file I/O: the caller saves it with ``fig.savefig(path)``. :func:`track_kde` is the pure
numpy density behind :func:`track_density` (no plotting).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from reactivation.analysis.metrics import fit_kde
from reactivation.figures.data import JITTER_STD
from reactivation.figures.style import PHASE_COLOURS, PHASE_LABELS, new_figure, shades, styled

PHASES = ("active", "quiescent")

# Both panels show the track plus this fraction of its length beyond each end.
MARGIN = 0.05

# Kernel evaluations per block of the (grid × points) matrix: bounds memory to ~80 MB.
_KDE_BLOCK = 10_000_000

_END_STYLE = {"color": "0.6", "linestyle": "-", "linewidth": 1.0, "zorder": 1}  # under the curves
_ANCHOR_STYLE: dict[str, Any] = {"color": "k", "linestyle": "--", "linewidth": 1.0, "zorder": 1}


def _check_track(low: float, high: float) -> tuple[float, float]:
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError) as err:
        raise ValueError(f"the track ends must be numbers; got low={low!r}, high={high!r}") from err
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"the track needs finite ends with low < high (m); got low={low}, high={high}")
    return low, high


def _view(low: float, high: float) -> tuple[float, float]:
    """The shown range: the track plus ``MARGIN`` of its length at each end, m."""
    pad = MARGIN * (high - low)
    return low - pad, high + pad


def _finite_points(x: np.ndarray, name: str) -> np.ndarray:
    x = np.ravel(np.asarray(x, dtype=np.float64))
    x = x[np.isfinite(x)]
    if len(x) < 2:
        raise ValueError(f"{name} has {len(x)} finite decoded position(s); a density needs at least 2")
    return x


def track_kde(
    points: np.ndarray,
    low: float,
    high: float,
    n_grid: int = 200,
    max_points: int = 20_000,
    seed: int = 0,
    *,
    name: str = "points",
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-KDE density of decoded track positions on a regular grid over the shown range.

    The kernel is ``scipy.stats.gaussian_kde``'s (Scott's rule), widened by half a grid step (std), as in
    ``data.kde_map``: a sample collapsed onto one point (a noise-free network on a fixed point) is first
    jittered by 1 mm (``metrics.fit_kde``), and a kernel that narrow would fall between grid points and
    vanish from the curve; an ordinary kernel (~5 cm) widens by < 1 %.

    Args:
        points: decoded positions, m (any shape; flattened; non-finite values dropped).
        low: the lower track end, m (low < high).
        high: the upper track end, m.
        n_grid: number of grid points (≥ 2).
        max_points: at most this many points, drawn without replacement with a generator seeded by
            ``seed``, are fitted: evaluation cost grows with n × n_grid.
        seed: seed of the subsampling and of the jitter, if any.
        name: what the points are, for error messages.

    Returns:
        ``(grid, density)``: (n_grid,) positions in m, evenly spaced over [low − m, high + m] with
        m = 5 % of the track length (ends included, so ``np.trapezoid(density, grid)`` is the probability mass
        shown, ≈ 1 for points well inside it), and (n_grid,) density in 1/m. Mass outside that range (decoded
        positions off the track, or kernels at the ends: the KDE is not reflected at the ends) is not shown.

    Raises:
        ValueError: fewer than 2 finite points, bad track ends, ``n_grid`` < 2 or ``max_points`` < 2.
    """
    low, high = _check_track(low, high)
    if int(n_grid) != n_grid or n_grid < 2:
        raise ValueError(f"n_grid must be an integer ≥ 2; got {n_grid!r}")
    if int(max_points) != max_points or max_points < 2:
        raise ValueError(f"max_points must be an integer ≥ 2; got {max_points!r}")
    x = _finite_points(points, name)
    rng = np.random.default_rng(seed)
    if len(x) > max_points:
        x = x[rng.choice(len(x), size=int(max_points), replace=False)]
    kde, _ = fit_kde(x[:, None], rng, JITTER_STD)  # Scott's rule; jittered by 1 mm if degenerate
    centres = kde.dataset[0]
    grid = np.linspace(*_view(low, high), int(n_grid))
    half_step = 0.5 * (grid[1] - grid[0])
    var = float(kde.covariance[0, 0]) + half_step**2
    density = np.empty(len(grid))
    rows = max(1, _KDE_BLOCK // len(centres))
    for start in range(0, len(grid), rows):
        d2 = (grid[start : start + rows, None] - centres[None, :]) ** 2
        density[start : start + rows] = np.exp(-0.5 * d2 / var).mean(axis=1)
    return grid, density / math.sqrt(2.0 * math.pi * var)


def _mark_ends(ax, low: float, high: float) -> None:
    ax.axvline(low, label="track ends", **_END_STYLE)
    ax.axvline(high, **_END_STYLE)


@styled
def track_density(
    active: np.ndarray,
    quiescent: np.ndarray,
    low: float,
    high: float,
    anchor: float | None = None,
    n_grid: int = 200,
    max_points: int = 20_000,
    seed: int = 0,
) -> Figure:
    """Decoded-position distributions of the two phases on the track, as 1-D Gaussian-KDE curves.

    Args:
        active: decoded active positions, m (any shape, e.g. (B, T) or (B, T, 1); flattened; non-finite
            values dropped).
        quiescent: decoded quiescent positions, m (the same).
        low: the lower track end, m (e.g. -1), drawn as a grey vertical line.
        high: the upper track end, m (e.g. 1), drawn the same way.
        anchor: the reward position, m (e.g. the end at +1 m), drawn as a dashed black line; None: not drawn.
        n_grid: grid points of each curve over the track ± 5 % of its length.
        max_points: at most this many points per phase are fitted (seeded subsample).
        seed: seed of the subsampling and of the 1 mm jitter of a degenerate sample (see :func:`track_kde`).

    Returns:
        A figure with 1 axis: ``lines[0]``, ``lines[1]`` the active and quiescent curves ((n_grid,) positions
        in m, density in 1/m), then the two end lines, then the anchor line if given; a legend.

    Raises:
        ValueError: a phase with fewer than 2 finite points, bad track ends, or a non-finite anchor.
    """
    low, high = _check_track(low, high)
    if anchor is not None and not math.isfinite(float(anchor)):
        raise ValueError(f"anchor must be a finite position (m) or None; got {anchor!r}")
    curves = {
        phase: track_kde(x, low, high, n_grid, max_points, seed, name=phase)
        for phase, x in zip(PHASES, (active, quiescent))
    }
    counts = {
        phase: int(np.isfinite(np.asarray(x, dtype=np.float64)).sum()) for phase, x in zip(PHASES, (active, quiescent))
    }
    fig = new_figure(4.2, 3.0)
    ax = fig.subplots()
    for phase, (grid, density) in curves.items():
        ax.plot(grid, density, color=PHASE_COLOURS[phase], label=f"{PHASE_LABELS[phase]} (n = {counts[phase]})")
    _mark_ends(ax, low, high)
    if anchor is not None:
        ax.axvline(float(anchor), label=f"reward ({float(anchor):g} m)", **_ANCHOR_STYLE)
    ax.set(xlabel="position on the track (m)", ylabel="density (1/m)", title="decoded position", xlim=_view(low, high))
    ax.set_ylim(bottom=0.0)
    ax.legend(loc="best")
    return fig


def _rows(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    if x.ndim != 2:
        raise ValueError(f"{name} must be (B, T) or (B, T, 1) decoded positions; got shape {x.shape}")
    return x


@styled
def track_trajectories(active: np.ndarray, quiescent: np.ndarray, low: float, high: float, n: int = 5) -> Figure:
    """A few decoded position trajectories per phase, position vs time step.

    Args:
        active: (B, T) or (B, T, 1) decoded active positions, m.
        quiescent: (B', T') or (B', T', 1) decoded quiescent positions, m.
        low: the lower track end, m; the y limits are the track ± 5 % of its length.
        high: the upper track end, m.
        n: trajectories drawn per phase (the first ``min(n, B)``), as shades of the phase colour.

    Returns:
        A figure with 2 axes (active, quiescent), each with ``min(n, B)`` lines: x the steps 0..T−1,
        y the positions of rows 0, 1, ... of the input.

    Raises:
        ValueError: an input not (B, T) or (B, T, 1), bad track ends, or ``n`` < 1.
    """
    low, high = _check_track(low, high)
    if int(n) != n or n < 1:
        raise ValueError(f"n must be an integer ≥ 1; got {n!r}")
    data = {phase: _rows(x, phase) for phase, x in zip(PHASES, (active, quiescent))}
    fig = new_figure(6.4, 2.8)
    axes = fig.subplots(1, 2)
    for ax, (phase, x) in zip(axes, data.items()):
        m = min(int(n), len(x))
        steps = np.arange(x.shape[1])
        for row, c in zip(x[:m], shades(PHASE_COLOURS[phase], m)):
            ax.plot(steps, row, color=c, linewidth=1)
        ax.set(
            xlabel="time (steps)",
            ylabel="position (m)",
            ylim=_view(low, high),
            title=f"{PHASE_LABELS[phase]}: decoded position",
        )
    return fig
