"""How close a network's zero-input drift comes to the optimal denoiser of its awake states: one network's entry of
the drift analysis (:mod:`reactivation.analysis.drift`, docs/theory.md, which describe the entries).

:func:`compare` takes the network as its one-step update (a function of states), so it is numpy throughout; the
principal components are fitted on states apart from the KDE's: chosen on the KDE's own states, the noise directions
among them would be those where that sample happens to spread most (by about (1 + √(n_rec/N))² in variance), the
KDE would see a wider density there than the one the network denoises, and its score would understate the drift (on
an exactly Gaussian density, 0.83 against the reference's 0.68 in slope: tests/test_groundtruth.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from reactivation.analysis.metrics.pca import pca_fit, pca_project
from reactivation.analysis.metrics.score import drift_score_agreement, kde_bandwidth, kde_score, vonmises_kde_score
from reactivation.analysis.metrics.tangent import split_agreement, tangent_bases
from reactivation.geometry import Geometry
from reactivation.geometry.circular import vonmises_bandwidth

__all__ = ["FIELD_BINS", "TANGENT_NEIGHBOURS", "LinearDecoder", "compare", "field"]

#: Bins per coordinate of the decoded field (a 2-D latent gets FIELD_BINS² cells).
FIELD_BINS = 12
#: KDE states (those nearest in decoded latent) of each local regression that estimates the active manifold's
#: tangent at a query's latent.
TANGENT_NEIGHBOURS = 200


class LinearDecoder:
    """The least-squares linear map from states to decoded latents: a smooth stand-in for the top-k decoder.

    Args:
        states: (n, n_rec) states; decoded: (n, d) their decoded latents (m, or rad on the circle).
        circular: fit cos and sin of the angle, decode with atan2.
    """

    def __init__(self, states: np.ndarray, decoded: np.ndarray, circular: bool) -> None:
        target = np.concatenate([np.cos(decoded), np.sin(decoded)], axis=1) if circular else decoded
        design = np.concatenate([states, np.ones((len(states), 1))], axis=1).astype(np.float64)
        self.weights = np.linalg.lstsq(design, target.astype(np.float64), rcond=None)[0]  # (n_rec + 1, d')
        self.circular = circular

    def __call__(self, r: np.ndarray) -> np.ndarray:
        """(m, n_rec) states -> (m, d) decoded latents, float64."""
        y = np.asarray(r, dtype=np.float64) @ self.weights[:-1] + self.weights[-1]
        return np.arctan2(y[:, 1:], y[:, :1]) if self.circular else y


def _kernel(data: np.ndarray, bandwidth: float | None) -> np.ndarray:
    """Scott's kernel covariance, scaled by ``bandwidth`` in standard deviation (None: Scott's own)."""
    cov = kde_bandwidth(data)
    return cov if bandwidth is None else cov * float(bandwidth) ** 2


def compare(
    step: Callable[[np.ndarray], np.ndarray],
    geometry: Geometry,
    states: np.ndarray,
    decoded: np.ndarray,
    s: float,
    *,
    noise_mean: float = 0.0,
    n_states: int,
    n_queries: int,
    n_components: int,
    n_pca: int,
    bandwidth: float | None,
    seed: int,
    at: np.ndarray | None = None,
) -> dict[str, Any]:
    """Drift against prediction for one network: one condition's entry of the result.

    Args:
        step: the network's zero-input, noise-free update f(r, x = 0): (m, n_rec) float32 states -> (m, n_rec)
            states one step later (:func:`reactivation.analysis.drift.stepper` of a trained or untrained model).
        geometry: the latent space of its task.
        states: (N, n_rec) noisy active states (float32): the queries, the KDE samples and the states the
            principal components are fitted on are disjoint random subsets of them, so N must be at least
            ``n_queries + n_states + n_pca`` (``n_states + n_pca`` with ``at``).
        decoded: (N, d) the task decoder's latents of those states (m or rad).
        s: the standard deviation of one step's recurrent noise, per unit (:func:`~reactivation.models.noise.
            moments`): the prediction is s² ∇ log p.
        noise_mean: the mean of one step's recurrent noise, per unit (σ/2 for ``uniform``, else 0). It is added to
            every step of the network, so it belongs to the measured drift: Δr = f(r, x = 0) + noise_mean − r.
        n_states: KDE samples.
        n_queries: query states.
        n_components: principal components of the PCA space.
        n_pca: states the principal components are fitted on, apart from the KDE's (module docstring).
        bandwidth: kernel standard deviation as a multiple of Scott's (None: Scott's).
        seed: seed of the subsets, the decoded noise draw and the reference Gaussian.
        at: (M, n_rec) states to query instead of a subset of ``states`` (e.g. states the network reached without
            input; M >= n_queries); the KDE and the PCA then take their states from ``states``.

    Raises:
        ValueError: fewer states than the sizes need (:func:`reactivation.analysis.drift.check_sizes` refuses such
            settings first).
    """
    rng = np.random.default_rng(seed)  # one stream, drawn in this order: subsets, reference Gaussian, decoded kick
    data, fit, queries, kde = _subsets(rng, states, at, n_states, n_queries, n_pca)
    stepped = np.asarray(step(queries), dtype=np.float64) + noise_mean  # the noise's mean: a constant input
    z_data, drift_z, predicted_z = _pca_drift(fit, data, queries, stepped, s, n_components, bandwidth)
    exact, exact_kde = _reference(rng, z_data, len(queries), s, bandwidth)
    decoder = LinearDecoder(data, decoded[kde], geometry.periodic)
    y, y_data = decoder(queries), decoder(data)
    drift_y, predicted, sigma_y = _decoded_drift(rng, geometry, decoder, y, y_data, stepped, s, bandwidth)
    bases = tangent_bases(z_data, y_data, y, circular=geometry.periodic, k=min(TANGENT_NEIGHBOURS, len(z_data) - 1))
    return {
        "noise_std": s,
        "noise_mean": noise_mean,
        **_pca_entries(drift_z, predicted_z, exact, exact_kde, bases),
        "decoded": {**drift_score_agreement(drift_y, predicted), "noise_cov": sigma_y.tolist()},
        "field": field(geometry, y, drift_y, predicted),
    }


def _pca_drift(
    fit: np.ndarray,
    data: np.ndarray,
    queries: np.ndarray,
    stepped: np.ndarray,
    s: float,
    n_components: int,
    bandwidth: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The drift and its prediction s² ∇ log p in the PCA space fitted on ``fit`` (where the noise is s² I after an
    orthonormal projection; fitted apart from the KDE's states ``data``: module docstring).

    Returns:
        ``(KDE states (n, k), drift (m, k), prediction (m, k))``, k = ``n_components``, at the ``queries``.
    """
    mean, components, _ = pca_fit(fit, n_components)
    z_data, z = pca_project(data, mean, components), pca_project(queries, mean, components)
    drift_z = pca_project(stepped, mean, components) - z
    return z_data, drift_z, s**2 * kde_score(z, z_data, _kernel(z_data, bandwidth))


def _pca_entries(
    drift_z: np.ndarray, predicted_z: np.ndarray, exact: np.ndarray, exact_kde: np.ndarray, bases: np.ndarray
) -> dict[str, Any]:
    """The PCA space's entries of the result: the agreement of drift and prediction and of the reference's, whole
    (``pca``, ``reference``) and split along and across the active manifold (``pca_*``, ``reference_*``).

    ``bases`` (m, k, d), k principal components: the manifold's tangent at each query's decoded latent, from the
    KDE states of the nearest latents (:func:`~reactivation.analysis.metrics.tangent.tangent_bases`); the reference
    is split along the same directions, at its own query points.
    """
    return {
        "pca": drift_score_agreement(drift_z, predicted_z),
        "reference": drift_score_agreement(exact, exact_kde),
        **{f"pca_{k}": v for k, v in split_agreement(drift_z, predicted_z, bases).items()},
        **{f"reference_{k}": v for k, v in split_agreement(exact, exact_kde, bases).items()},
    }


def _subsets(
    rng: np.random.Generator, states: np.ndarray, at: np.ndarray | None, n_states: int, n_queries: int, n_pca: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint random subsets of ``states`` (N, n_rec): ``(kde states, pca states, queries, kde indices)``; the
    queries a random subset of ``at`` instead where given.

    Raises:
        ValueError: fewer states than the sizes need.
    """
    order = rng.permutation(len(states))
    own = 0 if at is not None else n_queries  # queries taken from ``states``
    if len(states) < own + n_states + n_pca or (at is not None and len(at) < n_queries):
        raise ValueError(
            f"{len(states)} active states{'' if at is None else f' and {len(at)} query states'} are too few for "
            f"n_queries={n_queries}, n_states={n_states}, n_pca={n_pca}"
        )
    # The KDE and PCA states come first, so that queries given in ``at`` meet the same KDE as a subset would.
    kde, fit = order[:n_states], order[n_states : n_states + n_pca]
    if at is None:
        queries = states[order[n_states + n_pca : n_states + n_pca + n_queries]]
    else:
        queries = at[rng.permutation(len(at))[:n_queries]]
    return states[kde], states[fit], queries, kde


def _reference(
    rng: np.random.Generator, z_data: np.ndarray, n_queries: int, s: float, bandwidth: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """The estimator's own ceiling: on a Gaussian of the KDE states' mean and covariance (PCA space), whose optimal
    drift is exact, ``(exact drift, KDE prediction)`` at ``n_queries`` fresh points, each (n_queries, k)."""
    # (np.cov of one component is a scalar: kept (1, 1) for the solve and the draw.)
    centre, cov = z_data.mean(axis=0), np.atleast_2d(np.cov(z_data, rowvar=False))
    gauss = rng.multivariate_normal(centre, cov, size=len(z_data) + n_queries)
    g_data, g_query = gauss[: len(z_data)], gauss[len(z_data) :]
    exact = -(s**2) * np.linalg.solve(cov, (g_query - centre).T).T
    return exact, s**2 * kde_score(g_query, g_data, _kernel(g_data, bandwidth))


def _decoded_drift(
    rng: np.random.Generator,
    geometry: Geometry,
    decoder: LinearDecoder,
    y: np.ndarray,
    y_data: np.ndarray,
    stepped: np.ndarray,
    s: float,
    bandwidth: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The drift in the decoded latent and its prediction, the score scaled by the decoded covariance Σ_y of one
    step's noise: ``(drift (m, d), prediction (m, d), Σ_y (d, d) in m² or rad²)`` at the queries' latents ``y``."""
    y_next = decoder(stepped)
    drift_y = geometry.difference(y_next, y)
    kick = geometry.difference(decoder(stepped + s * rng.standard_normal(stepped.shape)), y_next)
    sigma_y = kick.T @ kick / len(kick)  # (d, d): the mean of one draw's outer product
    if geometry.periodic:
        score_y = vonmises_kde_score(y[:, 0], y_data[:, 0], vonmises_bandwidth(y_data[:, 0]))[:, None]
    else:
        score_y = kde_score(y, y_data, _kernel(y_data, bandwidth))
    return drift_y, score_y @ sigma_y, sigma_y  # Σ_y is symmetric: (Σ_y g)ᵀ = gᵀ Σ_y


def field(geometry: Geometry, y: np.ndarray, drift: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """The decoded drift and prediction averaged in bins of the latent space (the quiver figure's data).

    Args:
        geometry: the latent space, binned by its :meth:`~reactivation.geometry.Geometry.bin_edges` (FIELD_BINS per
            coordinate of a box or track, FIELD_BINS · 3 arcs of the circle).
        y: (m, d) decoded query points; drift, predicted: (m, d) vectors at them.

    Returns:
        ``{"edges": [per-coordinate bin edges], "count": bins, "drift": bins × d, "predicted": bins × d}``, means
        over the points of each bin (null where a bin is empty), flattened in C order.
    """
    edges = geometry.bin_edges(FIELD_BINS)
    index = np.zeros(len(y), dtype=np.int64)
    inside = np.ones(len(y), dtype=bool)
    for k, e in enumerate(edges):
        i = np.searchsorted(e, y[:, k], side="right") - 1
        inside &= (i >= 0) & (i < len(e) - 1)
        index = index * (len(e) - 1) + np.clip(i, 0, len(e) - 2)
    n_bins = math.prod(len(e) - 1 for e in edges)
    count = np.bincount(index[inside], minlength=n_bins)

    def means(v: np.ndarray) -> list:
        sums = np.stack([np.bincount(index[inside], v[inside, k], minlength=n_bins) for k in range(v.shape[1])], 1)
        return [row.tolist() if c else None for row, c in zip(sums / np.maximum(count, 1)[:, None], count)]

    return {
        "edges": [e.tolist() for e in edges],
        "count": count.tolist(),
        "drift": means(drift),
        "predicted": means(predicted),
    }
