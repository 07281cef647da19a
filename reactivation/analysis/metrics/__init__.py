"""Analysis metrics (SPEC §7, §9): pure numpy/scipy functions on decoded outputs and hidden states, one concept a
module: :mod:`.planar` (KDE and KL of decoded planar points, ring share), :mod:`.circular` (angles: wrapping, von
Mises KDE and KL), :mod:`.trajectories` (per-trajectory variance, step distance, angular velocity), :mod:`.pca`
(hidden-state principal components and subspace share); their input checks are in :mod:`._checks`. This module only
re-exports the public functions, so ``metrics.kl_divergence`` and the like work as before.
"""

from reactivation.analysis.metrics.circular import (
    circular_kl_divergence,
    circular_kl_matrix,
    vonmises_bandwidth,
    wrap,
)
from reactivation.analysis.metrics.pca import (
    explained_variance_curve,
    pca_fit,
    pca_project,
    subspace_variance_share,
)
from reactivation.analysis.metrics.planar import (
    annulus_share,
    fit_kde,
    kl_divergence,
    kl_from_uniform,
    kl_matrix,
)
from reactivation.analysis.metrics.trajectories import (
    circular_variance,
    mean_angular_velocity,
    stepwise_distance,
    total_variance,
    wrapped_step_distance,
)

__all__ = [
    "annulus_share",
    "circular_kl_divergence",
    "circular_kl_matrix",
    "circular_variance",
    "explained_variance_curve",
    "fit_kde",
    "kl_divergence",
    "kl_from_uniform",
    "kl_matrix",
    "mean_angular_velocity",
    "pca_fit",
    "pca_project",
    "stepwise_distance",
    "subspace_variance_share",
    "total_variance",
    "vonmises_bandwidth",
    "wrap",
    "wrapped_step_distance",
]
