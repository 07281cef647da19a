"""Spatial-navigation panels (docs/spec.md §8; paper Fig 1, 2, C.1–C.4), also used for the GRU and seed summaries.

Each function takes arrays (never paths), returns a new ``matplotlib.figure.Figure`` outside pyplot's
registry, and does no file I/O: the caller saves it with ``fig.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from reactivation.figures.style import (
    CONDITIONS,
    PHASE_COLOURS,
    PHASE_LABELS,
    colour,
    in_paper_order,
    label,
    new_figure,
    shades,
    styled,
)

PHASES = ("active", "quiescent")


def _band(ax, x: np.ndarray, values: np.ndarray, colour_: str, name: str, marker: str | None = None) -> None:
    """Mean line ± population std (ddof 0) shading over the first axis of ``values`` (n_seeds, S)."""
    mean, std = values.mean(axis=0), values.std(axis=0)
    ax.plot(x, mean, color=colour_, label=name, marker=marker, markersize=3)
    if len(values) > 1:
        ax.fill_between(x, mean - std, mean + std, color=colour_, alpha=0.25, linewidth=0)


@styled
def learning_curves(
    steps: np.ndarray,
    loss: Mapping[str, np.ndarray],
    error: Mapping[str, np.ndarray],
    error_label: str = "decoding error (m²)",
    loss_label: str = "test loss (MSE, a.u.)",
    log_error: bool = False,
) -> Figure:
    """Test loss and decoding error vs training step, mean ± std (ddof 0) over seeds per condition.

    Args:
        steps: (S,) training steps.
        loss: condition → (n_seeds, S) or (S,) test loss (MSE of the population code, dimensionless).
        error: condition → (n_seeds, S) or (S,) decoding error (m² for SN, rad² for HD).
        error_label: y label of the error axis, with its unit.
        loss_label: y label of the loss axis.
        log_error: log-scale the error axis too (the loss axis always is).

    Returns:
        A figure with 2 axes: loss (log y), error. Conditions in paper order, coloured by condition.
    """
    steps = np.asarray(steps)
    fig = new_figure(7.0, 2.8)
    axes = fig.subplots(1, 2)
    for ax, data, ylabel, title in (
        (axes[0], loss, loss_label, "test loss"),
        (axes[1], error, error_label, "decoding error"),
    ):
        for name in in_paper_order(data, CONDITIONS):
            values = np.atleast_2d(np.asarray(data[name], dtype=float))
            if values.shape[1] != len(steps):
                raise ValueError(f"{title} of {name!r} has {values.shape[1]} steps; steps has {len(steps)}")
            _band(ax, steps, values, colour(name), label(name))
        ax.set(xlabel="training step", ylabel=ylabel, title=f"{title} (mean ± std over seeds)")
    axes[0].set_yscale("log")
    if log_error:
        axes[1].set_yscale("log")
    axes[0].legend()
    return fig


@styled
def explained_variance(active: np.ndarray, quiescent: np.ndarray, cumulative: bool = True) -> Figure:
    """Cumulative explained variance of hidden-state PCs 1..k, active vs quiescent.

    Args:
        active: (k,) or (n_seeds, k) cumulative fractions of the total variance explained by PCs 1..k
            (e.g. ``metrics.explained_variance_curve`` or ``np.cumsum`` of ``data.pca_fit``'s ratios).
        quiescent: the same for quiescent states (their own PCA).
        cumulative: True (default) if the inputs are cumulative as above; False to pass per-component
            ratios (``data.pca_fit``'s third output), which are then summed here.

    Returns:
        A figure with 1 axis: one k-point curve per phase (mean ± std shading if several seeds).
    """
    fig = new_figure(3.4, 2.8)
    ax = fig.subplots()
    k = 0
    for phase, data in zip(PHASES, (active, quiescent)):
        values = np.atleast_2d(np.asarray(data, dtype=float))
        curves = values if cumulative else np.cumsum(values, axis=1)
        k = curves.shape[1]
        _band(ax, np.arange(1, k + 1), curves, PHASE_COLOURS[phase], PHASE_LABELS[phase], marker="o")
    ax.set(
        xlabel="principal component",
        ylabel="cumulative explained variance (fraction)",
        title="hidden-state PCA",
        ylim=(0.0, 1.02),
        xticks=np.arange(1, k + 1),
    )
    ax.legend(loc="lower right")
    return fig


@styled
def pc_scatter(
    active_pcs: np.ndarray,
    quiescent_pcs: np.ndarray,
    active_colour: np.ndarray,
    quiescent_colour: np.ndarray,
    colour_label: str = "decoded distance from centre (m)",
    cmap: str = "viridis",
) -> Figure:
    """Hidden states on PC1–PC2 of the active PCA, coloured by a decoded quantity.

    Args:
        active_pcs: (n, 2) active states projected on active PCs 1–2 (a.u., the units of the states).
        quiescent_pcs: (n', 2) quiescent states projected on the same (active) PCs.
        active_colour: (n,) value colouring each active point (e.g. distance from centre, m).
        quiescent_colour: (n',) the same for quiescent points.
        colour_label: colour bar label, with its unit.
        cmap: colormap name.

    Returns:
        A figure with 2 scatter axes (shared x/y limits, shared colour scale) and 1 colour-bar axis.
    """
    c_all = np.concatenate([np.ravel(active_colour), np.ravel(quiescent_colour)]).astype(float)
    norm = Normalize(np.nanmin(c_all), np.nanmax(c_all))
    fig = new_figure(6.8, 3.0)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, phase, pcs, c in zip(axes, PHASES, (active_pcs, quiescent_pcs), (active_colour, quiescent_colour)):
        pcs = np.asarray(pcs, dtype=float)
        # Rasterised: 10⁵ points as vector markers make huge, slow PDFs.
        sc = ax.scatter(pcs[:, 0], pcs[:, 1], c=np.ravel(c), cmap=cmap, norm=norm, s=2, linewidths=0, rasterized=True)
        ax.set(xlabel="PC1 (a.u.)", ylabel="PC2 (a.u.)", title=f"{phase} (active PCA)")
    fig.colorbar(sc, ax=list(axes), label=colour_label)
    return fig


@styled
def trajectories(
    active: np.ndarray, quiescent: np.ndarray, box: tuple[float, float] = (2.2, 2.2), n: int = 5
) -> Figure:
    """A few decoded trajectories per phase inside the box outline.

    Args:
        active: (B, T, 2) decoded active positions, m.
        quiescent: (B, T', 2) decoded quiescent positions, m.
        box: (width, height) of the box centred at the origin, m.
        n: trajectories drawn per phase (the first ``min(n, B)``), as shades of the phase colour.

    Returns:
        A figure with 2 axes, each with ``min(n, B)`` lines, one scatter of start points (black) and the
        box outline.
    """
    width, height = box
    fig = new_figure(6.4, 3.2)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, phase, x in zip(axes, PHASES, (active, quiescent)):
        x = np.asarray(x, dtype=float)
        m = min(n, len(x))
        for i, c in enumerate(shades(PHASE_COLOURS[phase], m)):
            ax.plot(x[i, :, 0], x[i, :, 1], color=c, linewidth=1)
        ax.scatter(x[:m, 0, 0], x[:m, 0, 1], color="k", s=10, zorder=3)
        ax.add_patch(Rectangle((-width / 2, -height / 2), width, height, fill=False, edgecolor="k"))
        ax.set_aspect("equal")
        ax.set(
            xlim=(-0.55 * width, 0.55 * width),
            ylim=(-0.55 * height, 0.55 * height),
            xlabel="x (m)",
            ylabel="y (m)",
            title=f"{phase}: decoded trajectories (• start)",
        )
    return fig


@styled
def density_maps(
    maps: Mapping[str, np.ndarray],
    extent: Sequence[float] = (-1.25, 1.25, -1.25, 1.25),
    xlabel: str = "x (m)",
    ylabel: str = "y (m)",
    ncols: int = 4,
    colorbar: bool = True,
    colorbar_label: str = "density (1/m²)",
    share_scale: bool = False,
    cmap: str = "viridis",
) -> Figure:
    """One density image per map (output-position or PC-space KDE maps).

    Args:
        maps: title → (G, G) density indexed ``[y, x]`` from the lowest y (as from ``data.kde_map``).
        extent: (xmin, xmax, ymin, ymax) of the grid's outer cell edges, in the axes' units.
        xlabel: x-axis label with its unit (e.g. "PC1 (a.u.)" for PC-space maps).
        ylabel: y-axis label with its unit.
        ncols: maps per row.
        colorbar: add a colour bar (one per map, or one for all if ``share_scale``), so that a map reads without
            the docs.
        colorbar_label: its label, with the density's unit (1/the axes' units²).
        share_scale: one colour scale (0..largest value) for all maps, so densities compare.
        cmap: colormap name.

    Returns:
        A figure with ``len(maps)`` image axes (plus colour-bar axes if ``colorbar``).
    """
    if not maps:
        raise ValueError("density_maps needs at least one map")
    names = list(maps)
    ncols = min(ncols, len(names))
    nrows = -(-len(names) // ncols)
    fig = new_figure(2.5 * ncols + (0.6 if colorbar else 0.0), 2.4 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    vmax = max(float(np.nanmax(m)) for m in maps.values()) if share_scale else None
    for ax, name in zip(axes, names):
        im = ax.imshow(
            np.asarray(maps[name]),
            origin="lower",
            extent=tuple(extent),
            cmap=cmap,
            vmin=0.0,
            vmax=vmax,
            interpolation="nearest",
        )
        ax.set(title=name, xlabel=xlabel, ylabel=ylabel)
        if colorbar and not share_scale:
            fig.colorbar(im, ax=ax, label=colorbar_label)
    for ax in axes[len(names) :]:
        ax.remove()
    if colorbar and share_scale:
        fig.colorbar(im, ax=list(axes[: len(names)]), label=colorbar_label)
    return fig
