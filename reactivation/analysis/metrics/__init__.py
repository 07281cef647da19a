"""Analysis metrics (docs/spec.md §7, §9): pure numpy/scipy functions on decoded outputs and hidden states. The
statistics of decoded latents live with the latent spaces, in :mod:`reactivation.geometry`
(:mod:`~reactivation.geometry.planar`, :mod:`~reactivation.geometry.circular`,
:mod:`~reactivation.geometry.trajectories`); the hidden-state principal components are here, in :mod:`.pca`. The checks
of the theory (issue #14) are here too: the score of a Gaussian KDE and its agreement with a measured drift in
:mod:`.score`, that agreement along and across the active manifold in :mod:`.tangent`, one network's whole
comparison (PCA, decoded, reference, split) in :mod:`.denoiser`, and diffusion against sequence
(mean squared displacement, step lengths, velocity autocorrelation) of decoded trajectories in :mod:`.diffusion`. This
module only re-exports the public functions, so ``metrics.kl_divergence`` and the like read as one namespace.
"""

from reactivation.analysis.metrics.diffusion import (
    MSDFit,
    autocorrelation_time,
    default_lags,
    mean_squared_displacement,
    msd_exponent,
    step_length_histogram,
    step_length_summary,
    step_lengths,
    velocity_autocorrelation,
)
from reactivation.analysis.metrics.pca import (
    explained_variance_curve,
    pca_fit,
    pca_project,
    subspace_variance_share,
)
from reactivation.analysis.metrics.score import (
    drift_score_agreement,
    kde_bandwidth,
    kde_log_density,
    kde_score,
    vonmises_kde_score,
)
from reactivation.analysis.metrics.tangent import split_agreement, tangent_bases
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
    "MSDFit",
    "annulus_share",
    "autocorrelation_time",
    "circular_kl_divergence",
    "circular_kl_matrix",
    "circular_variance",
    "default_lags",
    "drift_score_agreement",
    "explained_variance_curve",
    "fit_kde",
    "kde_bandwidth",
    "kde_log_density",
    "kde_score",
    "kl_divergence",
    "kl_from_uniform",
    "kl_matrix",
    "mean_angular_velocity",
    "mean_squared_displacement",
    "msd_exponent",
    "pca_fit",
    "pca_project",
    "split_agreement",
    "step_length_histogram",
    "step_length_summary",
    "step_lengths",
    "stepwise_distance",
    "subspace_variance_share",
    "tangent_bases",
    "total_variance",
    "velocity_autocorrelation",
    "vonmises_bandwidth",
    "vonmises_kde_score",
    "wrap",
    "wrapped_step_distance",
]
