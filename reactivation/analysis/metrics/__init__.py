"""Analysis metrics (SPEC §7, §9): pure numpy/scipy functions on decoded outputs and hidden states. The statistics
of decoded latents live with the latent spaces, in :mod:`reactivation.geometry` (:mod:`~reactivation.geometry.planar`,
:mod:`~reactivation.geometry.circular`, :mod:`~reactivation.geometry.trajectories`); the hidden-state principal
components are here, in :mod:`.pca`. This module only re-exports the public functions, so ``metrics.kl_divergence``
and the like read as one namespace.
"""

from reactivation.analysis.metrics.pca import (
    explained_variance_curve,
    pca_fit,
    pca_project,
    subspace_variance_share,
)
from reactivation.geometry.circular import (
    circular_kl_divergence,
    circular_kl_matrix,
    vonmises_bandwidth,
    wrap,
)
from reactivation.geometry.planar import (
    annulus_share,
    fit_kde,
    kl_divergence,
    kl_from_uniform,
    kl_matrix,
)
from reactivation.geometry.trajectories import (
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
