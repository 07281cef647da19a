"""Panels of the drift analysis (``reactivation drift``, :mod:`reactivation.analysis.drift`; docs/theory.md): the
learned zero-input drift against the optimal denoiser's prediction, as a binned field over the latent space (one
seed) and as slopes and cosines per condition (mean ± std over seeds).

Each function returns a new ``matplotlib.figure.Figure`` outside pyplot's registry and does no file I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from reactivation.figures.style import KL_ROWS, PHASE_COLOURS, colour, in_paper_order, new_figure, styled
from reactivation.figures.theory_common import GUIDE, mean_std, two_line

__all__ = ["SPACES", "drift_agreement", "drift_field"]

#: The drift comparisons of a drift result, in the order drawn, with their marker and legend label.
SPACES: dict[str, tuple[str, str]] = {
    "pca": ("o", "PCA space"),
    "decoded": ("s", "decoded latent"),
    "reference": ("D", "reference (perfect denoiser, same estimator)"),
}
#: Units and axis names of a latent space, by geometry name (``Geometry.name``).
_LATENT: dict[str, tuple[str, str]] = {
    "box": ("m", "position"),
    "interval": ("m", "position"),
    "circle": ("rad", "heading"),
}
_ANGLE_TICKS = [-math.pi, -math.pi / 2, 0.0, math.pi / 2, math.pi]
_ANGLE_TICK_LABELS = ["−π", "−π/2", "0", "π/2", "π"]


def _centres(edges: Sequence[float]) -> np.ndarray:
    e = np.asarray(edges, dtype=float)
    return 0.5 * (e[:-1] + e[1:])


def _field_bins(field: Mapping[str, Any]) -> tuple[list[np.ndarray], list[int], np.ndarray, np.ndarray]:
    """Centres per coordinate, and the flat (C-order) indices, drift and prediction of the non-empty bins.

    Returns:
        ``(centres, kept, drift (k, d), predicted (k, d))``: a bin is kept when its count is positive and both of
        its vectors are given (not ``None``).
    """
    centres = [_centres(e) for e in field["edges"]]
    n_bins = math.prod(len(c) for c in centres)
    count, drift, predicted = field["count"], field["drift"], field["predicted"]
    if not len(count) == len(drift) == len(predicted) == n_bins:
        raise ValueError(
            f"drift field: edges give {n_bins} bins, but count, drift and predicted hold "
            f"{len(count)}, {len(drift)} and {len(predicted)}"
        )
    kept = [i for i in range(n_bins) if count[i] and drift[i] is not None and predicted[i] is not None]
    d = len(centres)

    def vectors(rows: Sequence[Any]) -> np.ndarray:
        return np.asarray([rows[i] for i in kept], dtype=float).reshape(len(kept), d)

    return centres, kept, vectors(drift), vectors(predicted)


@styled
def drift_field(field: Mapping[str, Any], geometry_name: str, title: str = "decoded drift vs score") -> Figure:
    """The decoded one-step drift and the denoiser's prediction Σ_y ∇ log p, averaged in bins of the latent space.

    Args:
        field: one condition's ``field`` of a drift result: ``{"edges": [per-coordinate bin edges], "count": (bins,),
            "drift": bins × [d] or None, "predicted": bins × [d] or None}``, flattened in C order (the first
            coordinate varies slowest). Positions in m (heading in rad), vectors in m/step (rad/step).
        geometry_name: ``box`` (2-D: two quiver panels), ``circle`` or ``interval`` (1-D: one panel of both
            against heading or position).
        title: figure title (e.g. the condition and seed).

    Returns:
        For a 2-D latent, a figure with 2 axes, each with one quiver of one arrow per non-empty bin at its centre:
        the drift (left) and the prediction (right), drawn at one arrow scale so lengths compare, with a key of the
        longest vector. For a 1-D latent, 1 axis with 2 lines (drift, prediction) over the bin centres, NaN
        (a gap) at the empty bins, and a zero line. Empty bins are skipped.

    Raises:
        ValueError: a field with no bins (an unbinned latent space writes ``{}``), an unknown geometry, or bins whose
            number does not match the edges.
    """
    if not field or not field.get("edges"):
        raise ValueError("drift_field: the field has no bins (this latent space has no binned drift field)")
    if geometry_name not in _LATENT:
        raise ValueError(f"drift_field: unknown geometry {geometry_name!r}; known: {', '.join(_LATENT)}")
    unit, coordinate = _LATENT[geometry_name]
    centres, kept, drift, predicted = _field_bins(field)
    if len(centres) == 2:
        return _quivers(field, centres, kept, drift, predicted, unit, title)
    if len(centres) != 1:
        raise ValueError(f"drift_field: a {len(centres)}-D field; only 1-D and 2-D latents are drawn")
    x = centres[0]
    fig = new_figure(4.6, 3.0)
    ax = fig.subplots()
    ax.axhline(0.0, color="0.7", linewidth=0.8, zorder=1)
    series: tuple[tuple[str, np.ndarray, dict[str, Any]], ...] = (
        ("decoded drift", drift, {"color": "k", "marker": "o"}),
        ("predicted Σ_y ∇ log p", predicted, {"color": PHASE_COLOURS["quiescent"], "marker": "s"}),
    )
    for name, vectors, style in series:
        y = np.full(len(x), np.nan)
        y[kept] = vectors[:, 0]
        ax.plot(x, y, label=name, markersize=3, **style)
    ax.set(
        xlabel=f"decoded {coordinate} ({unit})",
        ylabel=f"mean one-step change ({unit}/step)",
        title=title,
        xlim=(float(field["edges"][0][0]), float(field["edges"][0][-1])),
    )
    if geometry_name == "circle":
        ax.set_xticks(_ANGLE_TICKS, _ANGLE_TICK_LABELS)
    ax.legend(loc="best")
    return fig


def _quivers(
    field: Mapping[str, Any],
    centres: list[np.ndarray],
    kept: list[int],
    drift: np.ndarray,
    predicted: np.ndarray,
    unit: str,
    title: str,
) -> Figure:
    """The two quiver panels of :func:`drift_field` for a 2-D latent."""
    ix, iy = np.unravel_index(np.asarray(kept, dtype=np.int64), (len(centres[0]), len(centres[1])))
    x, y = centres[0][ix], centres[1][iy]
    edges = [np.asarray(e, dtype=float) for e in field["edges"]]
    cell = float(min(np.diff(edges[0]).min(), np.diff(edges[1]).min()))
    longest = float(np.max(np.hypot(*np.concatenate([drift, predicted]).T), initial=0.0))
    # scale_units="xy": an arrow of length v is v / scale data units; the longest of both panels spans 0.9 of a cell.
    scale = longest / (0.9 * cell) if longest > 0 else 1.0
    fig = new_figure(7.4, 3.5)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, name, vectors, ink in (
        (axes[0], "decoded drift", drift, "k"),
        (axes[1], "predicted Σ_y ∇ log p", predicted, PHASE_COLOURS["quiescent"]),
    ):
        q = ax.quiver(
            x, y, vectors[:, 0], vectors[:, 1], angles="xy", scale_units="xy", scale=scale, color=ink, width=0.006
        )
        if longest > 0:
            # In a strip above the top bins, so the key hides no arrow (constrained layout ignores a key outside).
            ax.quiverkey(
                q, edges[0][0], edges[1][-1] + 0.6 * cell, longest, f"{longest:.2g} {unit}/step",
                labelpos="E", coordinates="data",
            )  # fmt: skip
        ax.set(
            xlim=(edges[0][0], edges[0][-1]),
            ylim=(edges[1][0], edges[1][-1] + 1.2 * cell),
            xlabel=f"decoded x ({unit})",
            title=f"{name} ({len(kept)} bins)",
        )
        ax.set_aspect("equal")
    axes[0].set_ylabel(f"decoded y ({unit})")
    fig.suptitle(title)
    return fig


@styled
def drift_agreement(
    by_condition: Mapping[str, Mapping[str, Mapping[str, Any]]],
    order: Sequence[str] = KL_ROWS,
    title: str = "learned drift against the optimal denoiser",
) -> Figure:
    """Slope and cosine of the drift against its prediction, per condition, mean ± std over seeds.

    Args:
        by_condition: condition (and ``random``) → space (``pca``, ``decoded``, ``reference``) → ``{"slope": (n_seeds,),
            "cosine": (n_seeds,)}``, dimensionless, NaN where undefined (a drift result gathered over seeds). A space
            absent from a condition is skipped.
        order: order of the conditions along x; conditions not in it follow.
        title: figure title.

    Returns:
        A figure with 2 axes (slope, cosine). On each, one error-bar container per space, labelled with the space's
        name, with a point per condition at its mean and bars of ± the seed std (ddof 0), its markers coloured by
        condition; the reference is the estimator's own value for a perfect denoiser, so a network at the theory
        scores as its reference; a dashed line at 1, the theory's value.
    """
    names = in_paper_order(by_condition, tuple(order))
    if not names:
        raise ValueError("drift_agreement: no conditions")
    fig = new_figure(max(5.5, 1.6 * len(names) + 1.5), 3.2)
    axes = fig.subplots(1, 2)
    width = 0.6 / len(SPACES)
    for ax, stat in zip(axes, ("slope", "cosine")):
        ax.axhline(1.0, **GUIDE, label="theory (1)")
        for j, (space, (marker, _)) in enumerate(SPACES.items()):
            rows = [(i, name) for i, name in enumerate(names) if space in by_condition[name]]
            if not rows:
                continue
            xs = np.array([i + (j - (len(SPACES) - 1) / 2) * width for i, _ in rows])
            stats = [mean_std(by_condition[name][space][stat]) for _, name in rows]
            mean = np.array([float(m) for m, _ in stats])
            std = np.array([float(s) for _, s in stats])
            ax.errorbar(xs, mean, yerr=std, fmt="none", ecolor="k", elinewidth=0.9, capsize=2, label=space, zorder=2)
            inks = [colour(name) for _, name in rows]
            # The reference open (edged in the condition's colour), the network's own comparisons filled.
            face: dict[str, Any] = (
                {"facecolors": "none", "edgecolors": inks} if space == "reference" else {"c": inks, "edgecolors": "k"}
            )
            ax.scatter(xs, mean, marker=marker, s=24, linewidths=0.8, zorder=3, **face)
        ax.set_xticks(range(len(names)), [two_line(n) for n in names])
        ax.set(xlabel="condition", ylabel=f"{stat} (drift vs prediction)", title=stat)
    handles = [
        Line2D([], [], marker=m, color="k", markerfacecolor="none" if s == "reference" else "0.6", linestyle="none")
        for s, (m, _) in SPACES.items()
    ]
    fig.legend(
        handles=[*handles, Line2D([], [], **GUIDE)],
        labels=[lab for _, lab in SPACES.values()] + ["theory (1)"],
        loc="outside lower center",
        ncols=len(SPACES) + 1,
    )
    fig.suptitle(title)
    return fig
