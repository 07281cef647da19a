"""Drift along and across the active manifold (issue #28, item 3): the theory's denoiser pulls a noisy state back
towards the manifold of clean active states (the normal part) and, along it, towards likely latents (the tangent
part, the prior). A network can match one and not the other, e.g. a continuous attractor that denoises well but
leaks along its manifold; one slope over both hides that.

:func:`tangent_bases` estimates the manifold's tangent space at each query's latent from the active states whose
latents are nearest: the least-squares slope of those states on their latent (position in m, or the heading's
wrapped difference in rad), one direction per latent coordinate, orthonormalised. Noise that is independent of the
latent averages out of that slope. :func:`split_agreement` projects a drift and its prediction on each query's
tangent space and its complement and measures each part with
:func:`~reactivation.analysis.metrics.score.drift_score_agreement`.
"""

from __future__ import annotations

import numpy as np

from reactivation.analysis.metrics.score import drift_score_agreement
from reactivation.geometry.circular import wrap

# Elements per block of the (queries × states × latent dimension) differences: 6e6 float64 = 48 MB.
_BLOCK = 6_000_000


def tangent_bases(
    states: np.ndarray, latents: np.ndarray, query_latents: np.ndarray, *, circular: bool, k: int = 200
) -> np.ndarray:
    """Orthonormal bases of the active manifold's tangent space at the queries' latents.

    Args:
        states: (n, D) active states, the manifold's samples (e.g. in principal components); n > k.
        latents: (n, d) their latents (m, or rad on the circle).
        query_latents: (m, d) the latents where the tangent is wanted (e.g. the decoded latents of query states).
        circular: latents are angles: differences are wrapped to [-π, π).
        k: states of each local regression, those with the nearest latents; more than d.

    Returns:
        (m, D, d) float64: for each query, d orthonormal columns spanning the least-squares slope of the k states
        nearest in latent on their latents (the derivative of the map latent -> state). A window symmetric about
        the query keeps the manifold's curvature out of the slope to first order.
    """
    states = np.asarray(states, np.float64)
    latents, query_latents = np.asarray(latents, np.float64), np.asarray(query_latents, np.float64)
    (n, dim), (m, d) = states.shape, query_latents.shape
    if not d < k < n:
        raise ValueError(f"k must lie between the latent's {d} dimension(s) and the {n} states; got k={k}")
    bases = np.empty((m, dim, d))
    step = max(1, _BLOCK // (n * d))
    for start in range(0, m, step):
        rows = slice(start, min(start + step, m))
        diff = latents[None, :, :] - query_latents[rows, None, :]  # (b, n, d)
        if circular:
            diff = wrap(diff)
        near = np.argpartition(np.einsum("bnd,bnd->bn", diff, diff), k, axis=1)[:, :k]  # (b, k)
        dy = np.take_along_axis(diff, near[:, :, None], axis=1)
        dy -= dy.mean(axis=1, keepdims=True)
        dx = states[near]  # (b, k, D)
        dx = dx - dx.mean(axis=1, keepdims=True)
        # slope of the states on the latents: (dyᵀ dy)⁻¹ dyᵀ dx, (b, d, D); its rows span the tangent
        slope = np.linalg.solve(np.einsum("bki,bkj->bij", dy, dy), np.einsum("bki,bkj->bij", dy, dx))
        bases[rows] = np.linalg.qr(np.swapaxes(slope, 1, 2))[0]
    return bases


def split_agreement(drift: np.ndarray, predicted: np.ndarray, bases: np.ndarray) -> dict[str, dict]:
    """Agreement of a drift with its prediction along (``tangent``) and across (``normal``) the manifold.

    Args:
        drift: (m, D) measured drift at the query points.
        predicted: (m, D) its prediction at the same points, same units.
        bases: (m, D, d) orthonormal tangent bases (:func:`tangent_bases`).

    Returns:
        ``{"tangent": ..., "normal": ...}``, each :func:`~reactivation.analysis.metrics.score.drift_score_agreement`
        of the two vectors' parts in that subspace (D-dimensional vectors: the part in the other subspace is 0),
        plus ``rms_drift`` and ``rms_predicted``, the parts' root mean square lengths.
    """

    def along(v: np.ndarray) -> np.ndarray:
        return np.einsum("mij,mj->mi", bases, np.einsum("mji,mj->mi", bases, v))

    out = {}
    for name, part in (("tangent", along), ("normal", lambda v: v - along(v))):
        a, b = part(np.asarray(drift, np.float64)), part(np.asarray(predicted, np.float64))
        out[name] = {
            **drift_score_agreement(a, b),
            "rms_drift": float(np.sqrt(np.mean(np.sum(a * a, axis=1)))),
            "rms_predicted": float(np.sqrt(np.mean(np.sum(b * b, axis=1)))),
        }
    return out
