"""Analyses of trained networks (SPEC §7, §9): metrics on decoded outputs and hidden states."""

from reactivation.analysis.metrics import (
    annulus_share,
    circular_kl_divergence,
    circular_kl_matrix,
    circular_variance,
    explained_variance_curve,
    kl_divergence,
    kl_from_uniform,
    kl_matrix,
    mean_angular_velocity,
    pca_fit,
    pca_project,
    stepwise_distance,
    subspace_variance_share,
    total_variance,
    wrapped_step_distance,
)

__all__ = [
    "annulus_share",
    "circular_kl_divergence",
    "circular_kl_matrix",
    "circular_variance",
    "explained_variance_curve",
    "kl_divergence",
    "kl_from_uniform",
    "kl_matrix",
    "mean_angular_velocity",
    "pca_fit",
    "pca_project",
    "stepwise_distance",
    "subspace_variance_share",
    "total_variance",
    "wrapped_step_distance",
]
