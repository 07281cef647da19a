"""Hidden-state geometry (docs/spec.md §9 claim 3): principal components of hidden states (:func:`pca_fit`,
:func:`pca_project`), the cumulative explained-variance curve (:func:`explained_variance_curve`), and the share of
the quiescent states' variance inside the active states' top-k principal subspace (:func:`subspace_variance_share`);
scatter matrices are accumulated in float64 blocks, so large float32 state arrays are never copied whole.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from reactivation.geometry._checks import check_array, positive_int

# States per block when accumulating a PCA scatter matrix (bounds the float64 copy to ~40 MB at 512 units).
_PCA_BLOCK = 10_000

_STATES = "{name} must be (n, n_units) states with n >= 2; got shape {shape}"
_states = partial(check_array, ndim=2, at_least=((0, 2, _STATES), (1, 1, _STATES)), shape_error=_STATES)


def _pca(h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean (n_units,), principal variances (descending) and components (n_units, n_units, as columns).

    The n_units × n_units scatter matrix is accumulated in blocks of states, so 200,000 × 512 float32
    states are never copied whole into float64.
    """
    n, units = h.shape
    mean = h.mean(axis=0, dtype=np.float64)
    scatter = np.zeros((units, units))
    for start in range(0, n, _PCA_BLOCK):
        c = h[start : start + _PCA_BLOCK].astype(np.float64) - mean
        scatter += c.T @ c
    var, vec = np.linalg.eigh(scatter)  # ascending
    return mean, np.clip(var[::-1], 0.0, None) / (n - 1), vec[:, ::-1]


def pca_fit(h: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal components of hidden states.

    Args:
        h: (n, units) states (or (..., units), e.g. (B, T, units), flattened over leading axes).
        k: number of components kept (at most ``units``).

    Returns:
        ``mean`` (units,), ``components`` (k, units) with orthonormal rows in decreasing order of variance,
        and ``explained_variance_ratio`` (k,): each component's share of the total variance (over all
        units), so its cumulative sum reaches 1 only if k components span the data. Each component's sign
        is fixed (largest-magnitude entry positive) so repeated fits agree.

    Raises:
        ValueError: fewer than 2 states, or states with zero variance.
    """
    x = np.asarray(h)
    x = x.reshape(-1, x.shape[-1])
    if x.shape[0] < 2:
        raise ValueError(f"pca_fit needs at least 2 states; got {x.shape[0]}")
    k = min(positive_int(k, "k"), x.shape[1])
    mean, var, vec = _pca(x)
    total = var.sum()
    if not total > 0.0:
        raise ValueError("h has zero variance: principal components are undefined")
    components = vec[:, :k].T
    signs = np.sign(components[np.arange(k), np.argmax(np.abs(components), axis=1)])
    return mean, components * signs[:, None], var[:k] / total


def pca_project(h: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Coordinates of states on principal components (e.g. quiescent states on the active PCA).

    Args:
        h: (n, units) or (..., units) states.
        mean: (units,) mean from :func:`pca_fit`.
        components: (k, units) components from :func:`pca_fit`.

    Returns:
        (n, k) or (..., k) coordinates, in the units of ``h``.
    """
    return (np.asarray(h, dtype=np.float64) - mean) @ np.asarray(components).T


def explained_variance_curve(h: np.ndarray, k: int = 10) -> np.ndarray:
    """Cumulative fraction of variance explained by the top-k principal components of states ``h``.

    Args:
        h: (n, n_units) hidden states (e.g. all time points of all trajectories, stacked).
        k: number of components; beyond the rank of ``h`` the curve stays at 1.

    Returns:
        (k,) non-decreasing fractions in [0, 1].

    Raises:
        ValueError: on malformed input or states with zero variance (the fractions are undefined).
    """
    h = _states(h, "h")
    k = positive_int(k, "k")
    _, var, _ = _pca(h)
    total = var.sum()
    if not total > 0.0:
        raise ValueError("h has zero variance: explained-variance fractions are undefined")
    curve = np.cumsum(var[:k]) / total
    # Components past the rank explain nothing more; pad so callers always get k points.
    return np.minimum(np.pad(curve, (0, k - curve.size), mode="edge"), 1.0)


def subspace_variance_share(active: np.ndarray, quiescent: np.ndarray, k: int = 10) -> float:
    """Share of the quiescent states' variance inside the span of the active top-k principal components.

    docs/spec.md §9 claim 3: quiescent states stay on the active manifold when the share is large; an isotropic
    quiescent cloud gives about ``k / n_units``. Quiescent variance is taken about the quiescent mean, so a
    mere offset between the two phases does not count.

    Args:
        active: (n_a, n_units) active-phase hidden states.
        quiescent: (n_q, n_units) quiescent-phase hidden states.
        k: number of active components; fewer are used if the active states span fewer dimensions.

    Returns:
        The share in [0, 1].

    Raises:
        ValueError: on malformed input, mismatched n_units, or zero variance in either set.
    """
    active, quiescent = _states(active, "active"), _states(quiescent, "quiescent")
    if active.shape[1] != quiescent.shape[1]:
        raise ValueError(
            f"active and quiescent must have the same n_units; got {active.shape[1]} and {quiescent.shape[1]}"
        )
    k = positive_int(k, "k")
    _, var, vec = _pca(active)
    if not var[0] > 0.0:
        raise ValueError("active has zero variance: it spans no principal subspace")
    # Directions with (numerically) zero active variance are arbitrary; they are not part of the manifold.
    basis = vec[:, :k][:, var[:k] > 1e-12 * var[0]]
    c = quiescent - quiescent.mean(axis=0)
    total = float(np.sum(c**2))
    if not total > 0.0:
        raise ValueError("quiescent has zero variance: the share is undefined")
    return float(np.sum((c @ basis) ** 2) / total)
