"""The panel of the temperature analysis (``reactivation temperature``, :mod:`reactivation.analysis.temperature`;
docs/theory.md): KL(quiescent ‖ active) and the quiescent spread against the quiescent noise factor, against the
Langevin factor √2.

It returns a new ``matplotlib.figure.Figure`` outside pyplot's registry and does no file I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from reactivation.figures.style import KL_ROWS, colour, in_paper_order, label, new_figure, styled
from reactivation.figures.theory_common import GUIDE, LANGEVIN, first_row, mean_std

__all__ = ["temperature_curves"]


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
        c = first_row(entry["factors"])
        for ax, key in zip(axes, ("kl", "variance")):
            values = np.atleast_2d(np.asarray(entry[key], dtype=float))
            if values.shape[-1] != len(c):
                raise ValueError(f"temperature_curves: {name} has {values.shape[-1]} {key} values for {len(c)} factors")
            mean, std = mean_std(values)
            ax.plot(c, mean, color=colour(name), marker="o", markersize=3, label=label(name))
            if len(values) > 1:
                ax.fill_between(c, mean - std, mean + std, color=colour(name), alpha=0.25, linewidth=0)
            if key == "variance":
                positive &= bool(np.all(mean[np.isfinite(mean)] > 0))
        if "active_variance" in entry:
            active, _ = mean_std(entry["active_variance"])
            axes[1].axhline(float(active), color=colour(name), linestyle=":", linewidth=1.0)
    for ax in axes:
        ax.axvline(LANGEVIN, **GUIDE, label="Langevin (√2)")
        ax.set_xlabel("quiescent noise factor c (σ_q = c·σ_rec)")
    axes[0].set(ylabel="KL(quiescent ‖ active) (nats)", title="KL against c")
    axes[1].set(ylabel=variance_label, title="spread against c (dotted: active)")
    if positive:
        axes[1].set_yscale("log")
    axes[0].legend(loc="best")
    fig.suptitle(title)
    return fig
