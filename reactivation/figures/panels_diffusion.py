"""The panel of the diffusion analysis (``reactivation diffusion``, :mod:`reactivation.analysis.diffusion`;
docs/theory.md): diffusion or sequence? The mean squared displacement of decoded trajectories against lag and its
log-log exponent, per condition and phase.

It returns a new ``matplotlib.figure.Figure`` outside pyplot's registry and does no file I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
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
from reactivation.figures.theory_common import GUIDE, PHASES, first_row, mean_std, two_line

__all__ = ["msd_curves"]

#: Line style of each phase's MSD.
_STYLES: dict[str, Any] = {"active": "--", "quiescent": "-"}


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
    _msd_panel(ax, by_condition, names, unit)
    drawn = [n for n in names if any(line.get_label().startswith(f"{label(n)}, ") for line in ax.get_lines())]
    fig.legend(
        handles=[Line2D([], [], color=colour(n)) for n in drawn]
        + [Line2D([], [], color="k", linestyle=_STYLES[p]) for p in PHASES],
        labels=[label(n) for n in drawn] + [PHASE_LABELS[p] for p in PHASES],
        loc="outside lower center",
        ncols=len(drawn) + len(PHASES),
    )
    _exponent_panel(ax_exp, by_condition, names)
    fig.suptitle(title)
    return fig


def _msd_panel(
    ax: Axes, by_condition: Mapping[str, Mapping[str, Mapping[str, Any]]], names: list[str], unit: str
) -> None:
    """The log-log MSD lines of :func:`msd_curves`, one per (condition, phase) with a positive mean, and the guides
    of slope 1 and 2 (when any line is drawn)."""
    lag_range, msd_range = [math.inf, -math.inf], [math.inf, -math.inf]
    for name in names:
        for phase in PHASES:
            if phase not in by_condition[name]:
                continue
            lags = first_row(by_condition[name][phase]["lags"])
            mean, _ = mean_std(np.atleast_2d(np.asarray(by_condition[name][phase]["msd"], dtype=float)))
            shown = np.isfinite(mean) & (mean > 0) & (lags > 0)
            if not shown.any():
                continue
            ax.plot(
                lags[shown],
                mean[shown],
                color=colour(name),
                linestyle=_STYLES[phase],
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


def _exponent_panel(ax: Axes, by_condition: Mapping[str, Mapping[str, Mapping[str, Any]]], names: list[str]) -> None:
    """The MSD exponents of :func:`msd_curves`: per phase, mean ± seed std per condition, dashed lines at 1 and 2."""
    for value in (1.0, 2.0):
        ax.axhline(value, **GUIDE)
    width = 0.3
    for j, phase in enumerate(PHASES):
        rows = [(i, name) for i, name in enumerate(names) if phase in by_condition[name]]
        if not rows:
            continue
        xs = np.array([i + (j - 0.5) * width for i, _ in rows])
        stats = [mean_std(by_condition[name][phase]["exponent"]) for _, name in rows]
        ax.errorbar(
            xs,
            np.array([float(m) for m, _ in stats]),
            yerr=np.array([float(s) for _, s in stats]),
            fmt="o",
            color=PHASE_COLOURS[phase],
            markersize=4,
            capsize=2,
            label=phase,
        )
    ax.set_xticks(range(len(names)), [two_line(n) for n in names])
    ax.set(xlabel="condition", ylabel="MSD exponent", title="exponent (1 diffusive, 2 ballistic)")
    ax.legend(
        [Line2D([], [], marker="o", color=PHASE_COLOURS[p], linestyle="none") for p in PHASES],
        [PHASE_LABELS[p] for p in PHASES],
        loc="best",
    )
