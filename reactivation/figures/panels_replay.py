"""Panels of the replay analysis (``reactivation replay``; docs/replay.md): the share of each dynamic per network and
phase, as Denovellis et al. (eLife 2021) show it for ripples, and one quiescent event's posterior over time.

Every function returns a new ``matplotlib.figure.Figure`` outside pyplot's registry and does no file I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from reactivation.figures.style import CONDITIONS, in_paper_order, label, new_figure, styled

#: The dynamics in the result's order, then the bins no dynamic holds, with their colours (Denovellis et al.'s
#: hues: continuous blue, fragmented purple, stationary red; unclassified grey).
DYNAMICS = ("continuous", "fragmented", "stationary", "unclassified")
COLOURS = {"continuous": "#1f77b4", "fragmented": "#9467bd", "stationary": "#d62728", "unclassified": "#bbbbbb"}
#: The two phases drawn, in the result's names.
PHASES = ("active", "quiescent")


@styled
def dynamics_shares(
    shares: Mapping[str, Mapping[str, Mapping[str, float]]],
    order: Sequence[str] = CONDITIONS,
    title: str = "dynamics of the decoded latent",
) -> Figure:
    """Stacked bars of the share of time bins classified as each dynamic: two bars per network (active, quiescent).

    Args:
        shares: condition → phase (``active``, ``quiescent``) → dynamic (:data:`DYNAMICS`) → share of time bins
            (0-1; the mean over seeds).
        order: order of the conditions; others follow.
        title: axis title.

    Returns:
        A figure with 1 axis and a legend of the dynamics.
    """
    names = in_paper_order(shares, tuple(order))
    fig = new_figure(max(3.8, 1.3 * len(names) + 2.2), 3.2)
    ax = fig.subplots()
    ticks, labels = [], []
    for i, name in enumerate(names):
        for j, phase in enumerate(PHASES):
            x = 3 * i + j
            bottom = 0.0
            for dynamic in DYNAMICS:
                height = float(shares[name][phase].get(dynamic, 0.0))
                ax.bar(x, height, bottom=bottom, width=0.85, color=COLOURS[dynamic])
                bottom += height
            ticks.append(x)
            labels.append(f"{label(name)}\n{phase}" if j == 0 else phase)
    ax.set_xticks(ticks, labels, rotation=40, ha="right", fontsize=7)
    ax.set(ylim=(0, 1), ylabel="share of time bins (0-1)", title=title)
    handles = [ax.bar(0, 0, color=COLOURS[d], label=d) for d in DYNAMICS]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=7)
    return fig


@styled
def event_posterior(
    time: Sequence[float],
    states: np.ndarray,
    latent: np.ndarray,
    latent_label: str,
    title: str = "one quiescent event",
) -> Figure:
    """One event: each dynamic's probability over time (top) and the decoded latent (bottom).

    Args:
        time: (n,) centre of each time bin, s.
        states: (n, 3) probability of continuous, fragmented, stationary per bin.
        latent: (n, d) most probable latent per bin (a coordinate per line).
        latent_label: y label of the latent with its unit.
        title: figure title.
    """
    t, p, x = np.asarray(time), np.asarray(states), np.asarray(latent)
    fig = new_figure(4.2, 3.4)
    top, bottom = fig.subplots(2, 1, sharex=True)
    for i, dynamic in enumerate(DYNAMICS[:3]):
        top.plot(t, p[:, i], color=COLOURS[dynamic], label=dynamic)
    top.set(ylim=(-0.02, 1.02), ylabel="posterior probability (0-1)", title=title)
    top.legend(frameon=False, fontsize=7, loc="center right")
    for k in range(x.shape[1]):
        bottom.plot(t, x[:, k], ".", color="k" if k == 0 else "0.5", markersize=3)
    bottom.set(xlabel="time (s)", ylabel=latent_label)
    return fig
