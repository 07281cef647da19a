"""Panels of the theory analyses (issue #14; docs/theory.md): drift against score, noise temperature, diffusion.

They draw the results of output_drift.py, output_temperature.py and output_diffusion.py
(:mod:`reactivation.analysis.drift`, :mod:`~reactivation.analysis.temperature`,
:mod:`~reactivation.analysis.diffusion`): one seed's ``field`` of a drift result, and the other results stacked over
seeds leaf by leaf (:func:`reactivation.analysis.aggregate.gather`: an (n_seeds, ...) array at each leaf, NaN for a
``null``). Means and spreads over seeds are those of :mod:`reactivation.analysis.aggregate`: the mean and the
population standard deviation (ddof 0) of the seeds where a value is finite. Each function returns a new
``matplotlib.figure.Figure`` outside pyplot's registry and does no file I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from reactivation.figures.style import (
    KL_ROWS,
    PHASE_COLOURS,
    PHASE_LABELS,
    colour,
    in_paper_order,
    label,
    new_figure,
    styled,
)

__all__ = ["drift_agreement", "drift_field", "msd_curves", "temperature_curves"]

PHASES = ("active", "quiescent")
#: The Langevin factor: quiescent noise √2 · σ_rec samples the active distribution exactly (docs/theory.md).
LANGEVIN = math.sqrt(2.0)
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
_GUIDE: dict[str, Any] = {
    "color": "0.4",
    "linestyle": "--",
    "linewidth": 1.0,
    "zorder": 1,
}  # theory lines, under the data


def _two_line(name: str) -> str:
    return label(name).replace(", ", ",\n")


def _mean_std(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std (ddof 0) over the first axis (seeds), over finite values only (NaN where none).

    Args:
        values: (n_seeds, ...) or a scalar / (n_seeds,) of one statistic.

    Returns:
        ``(mean, std)``, each of shape ``values.shape[1:]``.
    """
    a = np.asarray(values, dtype=float)
    a = a.reshape(1) if a.ndim == 0 else a
    finite = np.isfinite(a)
    n = finite.sum(axis=0)
    filled = np.where(finite, a, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, filled.sum(axis=0) / np.maximum(n, 1), np.nan)
        var = np.where(finite, (a - mean) ** 2, 0.0).sum(axis=0) / np.maximum(n, 1)
    return mean, np.where(n > 0, np.sqrt(var), np.nan)


def _first_row(values: Any) -> np.ndarray:
    """One seed's copy of a list every seed shares (factors, lags): (n_seeds, L) or (L,) -> (L,)."""
    a = np.asarray(values, dtype=float)
    return a[0] if a.ndim > 1 else a


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
        ax.axhline(1.0, **_GUIDE, label="theory (1)")
        for j, (space, (marker, _)) in enumerate(SPACES.items()):
            rows = [(i, name) for i, name in enumerate(names) if space in by_condition[name]]
            if not rows:
                continue
            xs = np.array([i + (j - (len(SPACES) - 1) / 2) * width for i, _ in rows])
            stats = [_mean_std(by_condition[name][space][stat]) for _, name in rows]
            mean = np.array([float(m) for m, _ in stats])
            std = np.array([float(s) for _, s in stats])
            ax.errorbar(xs, mean, yerr=std, fmt="none", ecolor="k", elinewidth=0.9, capsize=2, label=space, zorder=2)
            inks = [colour(name) for _, name in rows]
            # The reference open (edged in the condition's colour), the network's own comparisons filled.
            face: dict[str, Any] = (
                {"facecolors": "none", "edgecolors": inks} if space == "reference" else {"c": inks, "edgecolors": "k"}
            )
            ax.scatter(xs, mean, marker=marker, s=24, linewidths=0.8, zorder=3, **face)
        ax.set_xticks(range(len(names)), [_two_line(n) for n in names])
        ax.set(xlabel="condition", ylabel=f"{stat} (drift vs prediction)", title=stat)
    handles = [
        Line2D([], [], marker=m, color="k", markerfacecolor="none" if s == "reference" else "0.6", linestyle="none")
        for s, (m, _) in SPACES.items()
    ]
    fig.legend(
        handles=[*handles, Line2D([], [], **_GUIDE)],
        labels=[lab for _, lab in SPACES.values()] + ["theory (1)"],
        loc="outside lower center",
        ncols=len(SPACES) + 1,
    )
    fig.suptitle(title)
    return fig


@styled
def temperature_curves(
    by_condition: Mapping[str, Mapping[str, Any]],
    variance_label: str = "quiescent output variance (m²)",
    title: str = "quiescent noise temperature",
) -> Figure:
    """KL(quiescent ‖ active) and the quiescent spread against the noise factor c (σ_q = c · σ_rec).

    Args:
        by_condition: noisy condition → ``{"factors": (n_seeds, F) or (F,), "kl": (n_seeds, F) nats, "variance":
            (n_seeds, F), "active_variance": (n_seeds,)}`` (a temperature result gathered over seeds; every seed
            swept the same factors).
        variance_label: y label of the spread, with its unit (m² for a box or track, 1 − R for the circle).
        title: figure title.

    Returns:
        A figure with 2 axes: KL against c, and variance against c (log y when every mean is positive), each with
        a line per condition (mean over seeds, markers at the factors, a band of ± std over seeds when there are
        several) and a dashed vertical line at c = √2 labelled "Langevin (√2)"; on the variance axis, a dotted
        line per condition at its active spread (where the theory puts the spread at √2).
    """
    names = in_paper_order(by_condition, KL_ROWS)
    if not names:
        raise ValueError("temperature_curves: no conditions")
    fig = new_figure(7.4, 3.0)
    axes = fig.subplots(1, 2, sharex=True)
    positive = True
    for name in names:
        entry = by_condition[name]
        c = _first_row(entry["factors"])
        for ax, key in zip(axes, ("kl", "variance")):
            values = np.atleast_2d(np.asarray(entry[key], dtype=float))
            if values.shape[-1] != len(c):
                raise ValueError(f"temperature_curves: {name} has {values.shape[-1]} {key} values for {len(c)} factors")
            mean, std = _mean_std(values)
            ax.plot(c, mean, color=colour(name), marker="o", markersize=3, label=label(name))
            if len(values) > 1:
                ax.fill_between(c, mean - std, mean + std, color=colour(name), alpha=0.25, linewidth=0)
            if key == "variance":
                positive &= bool(np.all(mean[np.isfinite(mean)] > 0))
        if "active_variance" in entry:
            active, _ = _mean_std(entry["active_variance"])
            axes[1].axhline(float(active), color=colour(name), linestyle=":", linewidth=1.0)
    for ax in axes:
        ax.axvline(LANGEVIN, **_GUIDE, label="Langevin (√2)")
        ax.set_xlabel("quiescent noise factor c (σ_q = c·σ_rec)")
    axes[0].set(ylabel="KL(quiescent ‖ active) (nats)", title="KL against c")
    axes[1].set(ylabel=variance_label, title="spread against c (dotted: active)")
    if positive:
        axes[1].set_yscale("log")
    axes[0].legend(loc="best")
    fig.suptitle(title)
    return fig


@styled
def msd_curves(
    by_condition: Mapping[str, Mapping[str, Mapping[str, Any]]],
    unit: str = "m",
    order: Sequence[str] = KL_ROWS,
    title: str = "diffusion or sequence?",
) -> Figure:
    """Mean squared displacement of decoded trajectories against lag, and its log-log exponent, per condition.

    Args:
        by_condition: condition → phase (``active``, ``quiescent``) → ``{"lags": (n_seeds, L) or (L,) steps, "msd":
            (n_seeds, L) unit², "exponent": (n_seeds,) (NaN where the trajectories do not move)}`` (a diffusion
            result gathered over seeds; every seed has the same lags).
        unit: the latent's unit (``m``, ``rad``).
        order: order of the conditions; conditions not in it follow.
        title: figure title.

    Returns:
        A figure with 2 axes. Left, log-log: a line per (condition, phase present), the mean MSD over seeds (coloured
        by condition; active dashed, quiescent solid; non-positive means left out), and two grey guide lines of
        slope 1 (diffusive) and 2 (ballistic) labelled "slope 1" and "slope 2". Right: the exponents, one
        error-bar container per phase (labelled with the phase) with a point per condition at the mean and bars of
        ± the seed std (ddof 0), and dashed lines at 1 and 2.
    """
    names = in_paper_order(by_condition, tuple(order))
    if not names:
        raise ValueError("msd_curves: no conditions")
    fig = new_figure(max(7.4, 1.2 * len(names) + 4.5), 3.2)
    ax, ax_exp = fig.subplots(1, 2, width_ratios=[1.3, 1.0])
    styles: dict[str, Any] = {"active": "--", "quiescent": "-"}
    lag_range, msd_range = [math.inf, -math.inf], [math.inf, -math.inf]
    for name in names:
        for phase in PHASES:
            if phase not in by_condition[name]:
                continue
            lags = _first_row(by_condition[name][phase]["lags"])
            mean, _ = _mean_std(np.atleast_2d(np.asarray(by_condition[name][phase]["msd"], dtype=float)))
            shown = np.isfinite(mean) & (mean > 0) & (lags > 0)
            if not shown.any():
                continue
            ax.plot(
                lags[shown],
                mean[shown],
                color=colour(name),
                linestyle=styles[phase],
                marker="o",
                markersize=2.5,
                label=f"{label(name)}, {phase}",
            )
            lag_range = [min(lag_range[0], lags[shown].min()), max(lag_range[1], lags[shown].max())]
            msd_range = [min(msd_range[0], mean[shown].min()), max(msd_range[1], mean[shown].max())]
    if math.isfinite(lag_range[0]):
        # Anchored at the shortest lag, at the geometric middle of the MSDs drawn.
        lag = np.geomspace(lag_range[0], max(lag_range[1], 2 * lag_range[0]), 20)
        y0 = math.sqrt(msd_range[0] * msd_range[1])
        for slope, dash in ((1, (4, 2)), (2, (1, 1.5))):
            guide = y0 * (lag / lag[0]) ** slope
            ax.plot(lag, guide, color="0.5", linewidth=1.0, dashes=dash, label=f"slope {slope}")
            ax.annotate(f"slope {slope}", (lag[-1], guide[-1]), fontsize=7, color="0.4", ha="right", va="bottom")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="lag (steps)", ylabel=f"mean squared displacement ({unit}²)", title="MSD (mean over seeds)")
    drawn = [n for n in names if any(line.get_label().startswith(f"{label(n)}, ") for line in ax.get_lines())]
    fig.legend(
        handles=[Line2D([], [], color=colour(n)) for n in drawn]
        + [Line2D([], [], color="k", linestyle=styles[p]) for p in PHASES],
        labels=[label(n) for n in drawn] + [PHASE_LABELS[p] for p in PHASES],
        loc="outside lower center",
        ncols=len(drawn) + len(PHASES),
    )
    for value in (1.0, 2.0):
        ax_exp.axhline(value, **_GUIDE)
    width = 0.3
    for j, phase in enumerate(PHASES):
        rows = [(i, name) for i, name in enumerate(names) if phase in by_condition[name]]
        if not rows:
            continue
        xs = np.array([i + (j - 0.5) * width for i, _ in rows])
        stats = [_mean_std(by_condition[name][phase]["exponent"]) for _, name in rows]
        ax_exp.errorbar(
            xs,
            np.array([float(m) for m, _ in stats]),
            yerr=np.array([float(s) for _, s in stats]),
            fmt="o",
            color=PHASE_COLOURS[phase],
            markersize=4,
            capsize=2,
            label=phase,
        )
    ax_exp.set_xticks(range(len(names)), [_two_line(n) for n in names])
    ax_exp.set(xlabel="condition", ylabel="MSD exponent", title="exponent (1 diffusive, 2 ballistic)")
    ax_exp.legend(
        [Line2D([], [], marker="o", color=PHASE_COLOURS[p], linestyle="none") for p in PHASES],
        [PHASE_LABELS[p] for p in PHASES],
        loc="best",
    )
    fig.suptitle(title)
    return fig
