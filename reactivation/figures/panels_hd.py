"""Head-direction panels (docs/spec.md §8; paper Fig 3, C.5).

Angles are in radians, any range (they are wrapped to [-π, π) where it matters). Each function returns a
new ``matplotlib.figure.Figure`` outside pyplot's registry and does no file I/O.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from reactivation.figures.style import PHASE_COLOURS, PHASE_LABELS, new_figure, shades, styled

PHASES = ("active", "quiescent")
_ANGLE_TICKS = np.arange(4) * np.pi / 2
_ANGLE_TICK_LABELS = ["0", "π/2", "±π", "−π/2"]


def _wrap(theta: np.ndarray) -> np.ndarray:
    return (np.asarray(theta, dtype=float) + np.pi) % (2 * np.pi) - np.pi


def _finite(x: np.ndarray) -> np.ndarray:
    x = np.ravel(np.asarray(x, dtype=float))
    return x[np.isfinite(x)]


def _polar_pair(fig: Figure) -> list:
    axes = [fig.add_subplot(1, 2, i + 1, projection="polar") for i in range(2)]
    for ax in axes:
        ax.set_xticks(_ANGLE_TICKS, _ANGLE_TICK_LABELS)
    return axes


@styled
def heading_rose(active: np.ndarray, quiescent: np.ndarray, bins: int = 36) -> Figure:
    """Area-proportional rose histograms of decoded heading, active vs quiescent.

    A wedge's area grows with its radius squared, so radii are sqrt(share of points in the bin): wedge
    areas, not radii, are proportional to counts (radii would exaggerate peaks). Both axes share the
    radial scale; radial tick labels are hidden because they are square roots of shares.

    Args:
        active: (n,) decoded active headings, rad (any shape; flattened).
        quiescent: (n',) decoded quiescent headings, rad.
        bins: number of equal bins over [-π, π).

    Returns:
        A figure with 2 polar axes of ``bins`` wedges each.
    """
    edges = np.linspace(-np.pi, np.pi, bins + 1)
    fig = new_figure(6.4, 3.4)
    axes = _polar_pair(fig)
    top = 0.0
    for ax, phase, theta in zip(axes, PHASES, (active, quiescent)):
        counts, _ = np.histogram(_wrap(_finite(theta)), bins=edges)
        radius = np.sqrt(counts / max(1, counts.sum()))
        top = max(top, float(radius.max()))
        ax.bar(
            edges[:-1],
            radius,
            width=np.diff(edges),
            align="edge",
            color=PHASE_COLOURS[phase],
            edgecolor="white",
            linewidth=0.4,
        )
        ax.set_yticklabels([])
        ax.set_title(f"{PHASE_LABELS[phase]} (n = {counts.sum()})")
        ax.set_xlabel("decoded heading (rad); area ∝ count")
    for ax in axes:
        ax.set_ylim(0.0, 1.05 * top if top > 0 else 1.0)
    return fig


@styled
def pc_ring(
    pcs: np.ndarray, headings: np.ndarray, title: str = "hidden states, PC1–PC2", cmap: str = "twilight"
) -> Figure:
    """Hidden states on two PCs coloured by decoded heading with a cyclic colormap (a ring).

    Args:
        pcs: (n, 2) states projected on PCs 1–2 (a.u., the units of the states).
        headings: (n,) decoded headings, rad.
        title: axis title (e.g. "quiescent, on the active PCA").
        cmap: a cyclic colormap ("twilight", "twilight_shifted", "hsv") so -π and π get one colour.

    Returns:
        A figure with the scatter axis and its colour-bar axis.
    """
    pcs = np.asarray(pcs, dtype=float)
    fig = new_figure(3.8, 3.0)
    ax = fig.subplots()
    sc = ax.scatter(
        pcs[:, 0],
        pcs[:, 1],
        c=_wrap(np.ravel(headings)),
        cmap=cmap,
        vmin=-np.pi,
        vmax=np.pi,
        s=2,
        linewidths=0,
        rasterized=True,
    )
    ax.set(xlabel="PC1 (a.u.)", ylabel="PC2 (a.u.)", title=title)
    ax.set_aspect("equal", adjustable="datalim")
    bar = fig.colorbar(sc, ax=ax, label="decoded heading (rad)", ticks=[-np.pi, -np.pi / 2, 0, np.pi / 2, np.pi])
    bar.ax.set_yticklabels(["−π", "−π/2", "0", "π/2", "π"])
    return fig


@styled
def polar_trajectories(active: np.ndarray, quiescent: np.ndarray, n: int = 5) -> Figure:
    """A few decoded heading trajectories per phase: angle = heading, radius = time step.

    Args:
        active: (B, T) (or (B, T, 1)) decoded active headings, rad.
        quiescent: (B, T') decoded quiescent headings, rad.
        n: trajectories drawn per phase (the first ``min(n, B)``), as shades of the phase colour.

    Returns:
        A figure with 2 polar axes, each with ``min(n, B)`` lines.
    """
    fig = new_figure(6.4, 3.4)
    axes = _polar_pair(fig)
    for ax, phase, theta in zip(axes, PHASES, (active, quiescent)):
        theta = np.asarray(theta, dtype=float)
        theta = theta.reshape(theta.shape[0], -1)
        m = min(n, len(theta))
        for i, c in enumerate(shades(PHASE_COLOURS[phase], m)):
            # Unwrapped: polar lines interpolate in angle, so a jump from π to −π would sweep the circle.
            ax.plot(np.unwrap(theta[i]), np.arange(theta.shape[1]), color=c, linewidth=1)
        ax.set_title(f"{PHASE_LABELS[phase]}: decoded heading")
        ax.set_xlabel("heading (rad); radius: time step")
    return fig


@styled
def angular_velocity_hist(
    active: np.ndarray,
    quiescent: np.ndarray,
    bins: int = 50,
    limits: tuple[float, float] | None = None,
    log: bool = False,
) -> Figure:
    """Overlaid histograms of decoded angular velocity, each phase's mean marked by a dashed line.

    Args:
        active: (n,) per-step decoded angular velocities, rad/step, already wrapped to [-π, π) (e.g.
            ``metrics.wrap(np.diff(theta, axis=1)).ravel()`` for decoded headings ``theta`` (B, T)).
        quiescent: (n',) the same in quiescence.
        bins: number of bins shared by both histograms.
        limits: (low, high) range of the bins, rad/step (default: the range of all values); narrow it
            to see a quiescent distribution much tighter than the active one.
        log: log-scale the density axis.

    Returns:
        A figure with 1 axis: 2 filled histograms and 2 mean lines; the legend gives the means.
    """
    data = {"active": _finite(active), "quiescent": _finite(quiescent)}
    edges = np.histogram_bin_edges(np.concatenate(list(data.values())), bins=bins, range=limits)
    fig = new_figure(4.2, 3.0)
    ax = fig.subplots()
    for phase, v in data.items():
        mean = float(v.mean()) if v.size else float("nan")
        ax.hist(
            v,
            bins=edges.tolist(),  # the same edges; matplotlib's stub takes a Sequence[float], not an array
            density=True,
            histtype="stepfilled",
            alpha=0.45,
            color=PHASE_COLOURS[phase],
            edgecolor=PHASE_COLOURS[phase],
            label=f"{PHASE_LABELS[phase]} (mean {mean:.3g} rad/step)",
        )
        ax.axvline(mean, color=PHASE_COLOURS[phase], linestyle="--", linewidth=1)
    ax.set(
        xlabel="decoded angular velocity (rad/step)", ylabel="probability density (step/rad)", title="angular velocity"
    )
    if log:
        ax.set_yscale("log")
    ax.legend(loc="upper left")
    return fig
