"""One page per family: the paper's panels of that family side by side (``summary.png`` / ``.pdf``).

The page is a montage of the panels the figure command draws anyway, each rendered on its own canvas and placed in
reading order: the panels over seeds first (learning curves, KL heat map, variance and distance), then
the reference seed's state panels of the noisy unbiased and the noisy biased network. The theory panels are not
the paper's and stay on their own pages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reactivation import NOISY_CONDITIONS
from reactivation.figures.style import new_figure, styled

#: Panels over seeds, in the paper's reading order; then each condition's state panels, in the order drawn.
AGGREGATE = ("learning_curves", "kl_heatmap", "variance_box", "distance_box")
#: Panel width on the page (inches) and resolution of the rendered panels (dots per inch).
TILE_WIDTH, DPI = 3.6, 150


def page_panels(names: Sequence[str]) -> list[str]:
    """The names among ``names`` (as :func:`reactivation.figures.make.figures` gives them) that go on the page,
    in the page's order."""
    order = [n for n in AGGREGATE if n in names]
    for condition in NOISY_CONDITIONS:
        order += [n for n in names if n.endswith(f"_{condition}") and not n.startswith("theory_")]
    return order


def render(fig: Figure, dpi: int = DPI) -> np.ndarray:
    """``fig`` drawn on an Agg canvas at ``dpi`` (its whole area, no tight bounding box), as an (H, W, 4) RGBA array
    in [0, 1]."""
    canvas, kept = FigureCanvasAgg(fig), fig.dpi
    fig.set_dpi(dpi)
    try:
        canvas.draw()
        return np.asarray(canvas.buffer_rgba(), dtype=np.float64) / 255.0
    finally:
        fig.set_dpi(kept)  # the panel is saved on its own too, at its own resolution


@styled
def summary(figures: Mapping[str, Figure], title: str, columns: int = 3) -> Figure:
    """The page: every panel of :func:`page_panels` rendered and tiled ``columns`` to a row, each titled by name.

    Args:
        figures: the family's figures by name.
        title: the page's title (family, seeds, reference seed).
        columns: panels per row.

    Raises:
        ValueError: none of ``figures`` belongs on the page.
    """
    names = page_panels(list(figures))
    if not names:
        raise ValueError(f"no panel of the paper among {sorted(figures)}; a summary page needs at least one")
    images = [render(figures[name]) for name in names]
    columns = min(columns, len(names))
    rows = math.ceil(len(names) / columns)
    # Each row as tall as its tallest panel at the tile width, so that no panel is squeezed.
    heights = [
        max(TILE_WIDTH * im.shape[0] / im.shape[1] for im in images[r * columns : (r + 1) * columns])
        for r in range(rows)
    ]
    fig = new_figure(TILE_WIDTH * columns, sum(heights) + 0.25 * rows + 0.4)
    grid = fig.add_gridspec(rows, columns, height_ratios=heights)
    for k, (name, image) in enumerate(zip(names, images)):
        ax = fig.add_subplot(grid[k // columns, k % columns])
        ax.imshow(image, interpolation="antialiased")
        ax.set_title(name.replace("_", " "), fontsize="small")
        ax.set_axis_off()
    fig.suptitle(title)
    return fig
