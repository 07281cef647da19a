"""Figures of the paper (docs/spec.md §8): panel functions, their data helpers and the shared style.

Panels take arrays and return ``matplotlib.figure.Figure`` objects (never shown, never saved, never
registered with pyplot); save one with ``save(fig, "panel.png")`` (the package's dpi and tight bounding
box) or plain ``fig.savefig``. ``reactivation.figures.data``
prepares the arrays (KDE maps, PCA, curves over seeds). ``from_results`` / ``from_config`` (from
``reactivation.figures.make``) draw every figure of a task from saved runs; they are imported lazily, so
plotting saved arrays needs neither torch nor Hydra.
"""

from typing import Any

from reactivation.figures.data import align_over_seeds, kde_map, mean_std_over_seeds, pca_fit, pca_project
from reactivation.figures.panels import (
    angular_velocity_hist,
    density_maps,
    distance_box,
    explained_variance,
    heading_rose,
    kl_heatmap,
    learning_curves,
    pc_ring,
    pc_scatter,
    polar_trajectories,
    track_density,
    track_trajectories,
    trajectories,
    variance_box,
)
from reactivation.figures.style import (
    ACTIVE,
    CONDITION_COLOURS,
    CONDITIONS,
    KL_COLUMNS,
    KL_ROWS,
    LABELS,
    PHASE_COLOURS,
    QUIESCENT,
    QUIESCENT_NOISY,
    apply_style,
    save,
)

__all__ = [
    "ACTIVE",
    "CONDITION_COLOURS",
    "CONDITIONS",
    "KL_COLUMNS",
    "KL_ROWS",
    "LABELS",
    "PHASE_COLOURS",
    "QUIESCENT",
    "QUIESCENT_NOISY",
    "align_over_seeds",
    "angular_velocity_hist",
    "apply_style",
    "density_maps",
    "distance_box",
    "explained_variance",
    "heading_rose",
    "kde_map",
    "kl_heatmap",
    "learning_curves",
    "mean_std_over_seeds",
    "pc_ring",
    "pc_scatter",
    "pca_fit",
    "pca_project",
    "polar_trajectories",
    "save",
    "track_density",
    "track_trajectories",
    "trajectories",
    "variance_box",
]  # from_config / from_results are left out: a star import should not load torch

_LAZY = {"from_config", "from_results"}


def __getattr__(name: str) -> Any:
    # PEP 562: the run-loading entry points pull in torch and the analysis protocol; load them on first use.
    if name in _LAZY:
        from reactivation.figures import make

        return getattr(make, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
