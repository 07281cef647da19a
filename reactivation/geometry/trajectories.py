"""Per-trajectory statistics of decoded outputs (docs/spec.md §7): for planar positions (B, T, d) the total variance and
the mean step length (:func:`total_variance`, :func:`stepwise_distance`), and their circular versions for headings
(B, T) in radians, with steps taken the short way round (:func:`circular_variance`, :func:`wrapped_step_distance`,
:func:`mean_angular_velocity`); each returns one value per trajectory, (B,).
"""

from __future__ import annotations

import numpy as np

from reactivation.geometry._checks import check_array
from reactivation.geometry.circular import wrap


def _trajectories(x: np.ndarray, ndim: int, name: str, min_steps: int = 2) -> np.ndarray:
    """Check a batch of trajectories: (B, T, d) when ``ndim`` is 3, (B, T) angles when 2."""
    short = "{name} needs at least 1 trajectory and {min_steps} time points; got shape {shape}"
    return check_array(
        x,
        name,
        ndim=ndim,
        shape_error="{name} must have shape {layout}; got shape {shape}",
        at_least=((0, 1, short), (1, min_steps, short)),
        layout="(B, T, d)" if ndim == 3 else "(B, T)",
        min_steps=min_steps,
    )


def total_variance(x: np.ndarray) -> np.ndarray:
    """Per trajectory, the trace of the sample covariance (ddof 1) of its points over time (docs/spec.md §7).

    Args:
        x: (B, T, d) trajectories, e.g. decoded positions in metres; T >= 2.

    Returns:
        (B,) total variance, units of ``x`` squared (m²).
    """
    x = _trajectories(x, 3, "x")
    # The trace of the covariance is the sum of the per-coordinate variances: no d×d matrix needed.
    return np.var(x, axis=1, ddof=1).sum(axis=-1)


def stepwise_distance(x: np.ndarray) -> np.ndarray:
    """Per trajectory, the mean Euclidean distance between consecutive points (the T - 1 steps).

    Args:
        x: (B, T, d) trajectories, e.g. decoded positions in metres; T >= 2.

    Returns:
        (B,) mean step length, units of ``x`` (metres per time step).
    """
    x = _trajectories(x, 3, "x")
    return np.linalg.norm(np.diff(x, axis=1), axis=-1).mean(axis=1)


def circular_variance(theta: np.ndarray) -> np.ndarray:
    """Per trajectory, ``1 - R`` with ``R = |mean_t exp(i theta_t)|`` the mean resultant length.

    (Written out rather than taken from ``scipy.stats.circvar``, whose definition changed in scipy 1.8.)

    Args:
        theta: (B, T) angles, radians; T >= 1.

    Returns:
        (B,) circular variance in [0, 1]: 0 for a constant heading, near 1 for uniform headings.
    """
    theta = _trajectories(theta, 2, "theta", min_steps=1)
    return 1.0 - np.abs(np.mean(np.exp(1j * theta), axis=1))


def wrapped_step_distance(theta: np.ndarray) -> np.ndarray:
    """Per trajectory, the mean absolute angular step ``|wrap(theta_{t+1} - theta_t)|``.

    Args:
        theta: (B, T) angles, radians; T >= 2.

    Returns:
        (B,) mean absolute step, rad per time step (a step across ±pi counts as the short way round).
    """
    theta = _trajectories(theta, 2, "theta")
    return np.abs(wrap(np.diff(theta, axis=1))).mean(axis=1)


def mean_angular_velocity(theta: np.ndarray) -> np.ndarray:
    """Per trajectory, the mean signed angular step ``wrap(theta_{t+1} - theta_t)``.

    Args:
        theta: (B, T) angles, radians; T >= 2.

    Returns:
        (B,) mean angular velocity, rad per time step (positive = counter-clockwise).
    """
    theta = _trajectories(theta, 2, "theta")
    return wrap(np.diff(theta, axis=1)).mean(axis=1)
