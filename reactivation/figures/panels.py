"""All panel functions (docs/spec.md §8); the summaries over conditions and seeds live here.

Summary panels of the analysis scripts' results (docs/spec.md §7): the quiescent-variance box plot, the KL heat
map and the step-distance box plots. Task panels are in :mod:`panels_sn` (spatial navigation), :mod:`panels_hd`
(head direction) and :mod:`panels_track` (linear track) and are re-exported here. Every function returns a new
``matplotlib.figure.Figure`` outside pyplot's registry and does no file I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from reactivation.figures.panels_hd import angular_velocity_hist, heading_rose, pc_ring, polar_trajectories
from reactivation.figures.panels_sn import density_maps, explained_variance, learning_curves, pc_scatter, trajectories
from reactivation.figures.panels_track import track_density, track_trajectories
from reactivation.figures.style import (
    CONDITIONS,
    KL_COLUMNS,
    KL_ROWS,
    PHASE_COLOURS,
    PHASE_LABELS,
    colour,
    in_paper_order,
    label,
    new_figure,
    styled,
)

__all__ = [
    "angular_velocity_hist",
    "density_maps",
    "distance_box",
    "explained_variance",
    "heading_rose",
    "kl_heatmap",
    "learning_curves",
    "pc_ring",
    "pc_scatter",
    "polar_trajectories",
    "track_density",
    "track_trajectories",
    "trajectories",
    "variance_box",
]

# Fixed seed of the horizontal jitter of points over boxes: the same data give the same image.
_JITTER_SEED = 0


def _two_line(name: str) -> str:
    # "no noise, unbiased" is too wide under a box; break after the comma.
    return label(name).replace(", ", ",\n")


def _box(ax, values: np.ndarray, position: float, width: float, face: str, rng: np.random.Generator) -> None:
    """One box (no fliers: every point is drawn on top, jittered) at ``position``."""
    values = np.ravel(np.asarray(values, dtype=float))
    bp = ax.boxplot(
        [values],
        positions=[position],
        widths=width,
        patch_artist=True,
        showfliers=False,
        manage_ticks=False,
        medianprops={"color": "k"},
    )
    bp["boxes"][0].set(facecolor=face, alpha=0.55)
    ax.scatter(
        position + rng.uniform(-0.25, 0.25, values.size) * width,
        values,
        s=12,
        color=face,
        edgecolors="k",
        linewidths=0.4,
        zorder=3,
    )


@styled
def variance_box(
    values: Mapping[str, np.ndarray],
    ylabel: str = "quiescent output variance (m²)",
    log: bool = True,
    order: Sequence[str] = CONDITIONS,
    title: str = "quiescent output variance",
) -> Figure:
    """One box (+ jittered points) per condition, in paper order.

    Args:
        values: condition → (n_seeds,) values, e.g. the mean per-trajectory quiescent variance of each seed
            (m² for SN; the dimensionless circular variance for HD).
        ylabel: y label with its unit.
        log: log-scale the y axis (no-noise and noisy networks differ by orders of magnitude).
        order: order of the boxes; conditions not in it follow.
        title: axis title.

    Returns:
        A figure with 1 axis: ``len(values)`` boxes coloured by condition.
    """
    names = in_paper_order(values, tuple(order))
    rng = np.random.default_rng(_JITTER_SEED)
    fig = new_figure(max(3.0, 0.9 * len(names) + 1.0), 3.0)
    ax = fig.subplots()
    for i, name in enumerate(names):
        _box(ax, values[name], i, 0.6, colour(name), rng)
    ax.set_xticks(range(len(names)), [_two_line(n) for n in names])
    ax.set(ylabel=ylabel, title=title, xlabel="condition")
    if log:
        ax.set_yscale("log")
    return fig


@styled
def kl_heatmap(
    table: Mapping[str, Mapping[str, float]],
    rows: Sequence[str] = KL_ROWS,
    columns: Sequence[str] = KL_COLUMNS,
    std: Mapping[str, Mapping[str, float]] | None = None,
    cmap: str = "magma_r",
    vmax: float | None = None,
    title: str = "KL(quiescent ‖ active)",
) -> Figure:
    """KL divergence heat map: rows are quiescent distributions, columns active ones.

    Args:
        table: ``{row: {column: nats}}`` as written by output_kl.py, or its mean over seeds.
        rows: row order; rows missing from ``table`` are skipped (e.g. the GRU family's 4 × 2).
        columns: column order; columns absent from every kept row are skipped.
        std: optional ``{row: {column: nats}}`` spread over seeds, annotated as "mean\\n± std".
        cmap: colormap name (light = small divergence).
        vmax: top of the colour scale in nats (default: the largest value); the bottom is 0, so small
            negative Monte Carlo estimates show as 0 but are annotated as they are.
        title: axis title.

    Returns:
        A figure with the heat-map axis and its colour-bar axis; one annotation per finite cell (missing
        cells are blank).
    """
    kept_rows = [r for r in rows if r in table]
    kept_cols = [c for c in columns if any(c in table[r] for r in kept_rows)]
    if not kept_rows or not kept_cols:
        raise ValueError(f"kl_heatmap: no rows of {list(rows)} with columns of {list(columns)} in the table")
    m = np.array([[table[r].get(c, np.nan) for c in kept_cols] for r in kept_rows], dtype=float)
    top = float(np.nanmax(m)) if vmax is None else vmax
    norm = Normalize(0.0, top if top > 0.0 else 1.0)
    fig = new_figure(1.0 * len(kept_cols) + 2.6, 0.5 * len(kept_rows) + 1.6)
    ax = fig.subplots()
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, norm=norm, aspect="auto")
    cm = im.get_cmap()
    for (i, j), v in np.ndenumerate(m):
        if not np.isfinite(v):
            continue
        text = f"{v:.2f}"
        if std is not None and np.isfinite(s := std.get(kept_rows[i], {}).get(kept_cols[j], np.nan)):
            text += f"\n± {s:.2f}"
        r, g, b, _ = cm(norm(v))
        # Dark text on light cells and vice versa (perceived luminance).
        ink = "k" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "w"
        ax.text(j, i, text, ha="center", va="center", color=ink, fontsize=8)
    ax.set_xticks(range(len(kept_cols)), [label(c) for c in kept_cols], rotation=30, ha="right")
    ax.set_yticks(range(len(kept_rows)), [label(r) for r in kept_rows])
    ax.set(xlabel="active distribution", ylabel="quiescent distribution", title=title)
    ax.spines[:].set_visible(False)
    fig.colorbar(im, ax=ax, label="KL divergence (nats)")
    return fig


@styled
def distance_box(
    values: Mapping[str, Mapping[str, np.ndarray]],
    phases: Sequence[str] = ("active", "quiescent", "quiescent_noisy"),
    ylabel: str = "mean step (m)",
    log: bool = True,
    order: Sequence[str] = CONDITIONS,
    title: str = "step length of decoded outputs",
) -> Figure:
    """Grouped boxes of step distances: one group per condition, one box per phase present.

    Args:
        values: condition → phase → (n,) mean step per trajectory or per seed (m for SN, rad for HD);
            phases absent for a condition (e.g. ``quiescent_noisy`` for noisy networks) are skipped.
        phases: phases drawn, in this order within each group, coloured by phase.
        ylabel: y label with its unit.
        log: log-scale the y axis (a deterministic network's quiescent steps are near 0).
        order: order of the groups; conditions not in it follow.
        title: axis title.

    Returns:
        A figure with 1 axis: one box per (condition, phase present), and a phase legend.
    """
    names = in_paper_order(values, tuple(order))
    rng = np.random.default_rng(_JITTER_SEED)
    width = 0.8 / max(1, len(phases))
    fig = new_figure(max(3.5, 1.1 * len(names) + 1.5), 3.0)
    ax = fig.subplots()
    seen: list[str] = []
    for i, name in enumerate(names):
        present = [p for p in phases if p in values[name]]
        for j, phase in enumerate(present):
            # Centre the boxes actually present within the group.
            _box(ax, values[name][phase], i + (j - (len(present) - 1) / 2) * width, 0.85 * width, colour(phase), rng)
            seen += [phase] if phase not in seen else []
    ax.set_xticks(range(len(names)), [_two_line(n) for n in names])
    ax.set(ylabel=ylabel, title=title, xlabel="condition")
    if log:
        ax.set_yscale("log")
    ax.legend(
        handles=[
            Patch(facecolor=PHASE_COLOURS.get(p, colour(p)), alpha=0.55, label=PHASE_LABELS.get(p, p))
            for p in phases
            if p in seen
        ],
        loc="best",
    )
    return fig
