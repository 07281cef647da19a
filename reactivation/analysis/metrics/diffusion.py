"""Diffusion or sequence: how decoded trajectories move (issue #14, "test the theory"). The mean squared
displacement over lags (:func:`mean_squared_displacement`, at :func:`default_lags`) and the exponent of its power
law (:func:`msd_exponent`: 1 for diffusion, 2 for ballistic motion such as a replayed sequence), the per-step
lengths and their distribution (:func:`step_lengths`, :func:`step_length_histogram`, :func:`step_length_summary`),
and the autocorrelation of the step vectors with its 1/e time (:func:`velocity_autocorrelation`,
:func:`autocorrelation_time`).

Planar trajectories are (B, T, D) positions, metres; circular ones are (B, T) or (B, T, 1) headings, radians,
unwrapped along time for displacements (so a lap is 2π travelled, not a jump back) and wrapped for single steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reactivation.geometry._checks import check_array, positive_int
from reactivation.geometry.circular import wrap
from reactivation.geometry.trajectories import _trajectories


def _positions(x: np.ndarray, circular: bool, min_steps: int = 2) -> np.ndarray:
    """Checked trajectories as (B, T, D) float64; headings (B, T) or (B, T, 1) become unwrapped (B, T, 1)."""
    if not circular:
        return _trajectories(x, 3, "x", min_steps)
    a = np.asarray(x)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    elif a.ndim != 2:
        raise ValueError(f"x must be (B, T) or (B, T, 1) headings, radians, when circular; got shape {a.shape}")
    # np.unwrap adds the 2π jumps back: a heading turning steadily through laps keeps growing, so its
    # displacement is the angle travelled. It reads each step as the short way round (|step| < π).
    return np.unwrap(_trajectories(a, 2, "x", min_steps), axis=1)[..., None]


def _steps(x: np.ndarray, circular: bool) -> np.ndarray:
    """(B, T - 1, D) step vectors ``x[t+1] - x[t]``; for headings the wrapped angle step, (B, T - 1, 1)."""
    if circular:
        return wrap(np.diff(_positions(x, True), axis=1))
    return np.diff(_positions(x, False), axis=1)


def _lags(lags: Sequence[int] | np.ndarray, n_times: int) -> np.ndarray:
    """``lags`` as a 1-D int array, each a positive integer below the number of time points."""
    a = np.asarray(lags)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"lags must be a non-empty 1-D sequence of integers; got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.integer) or (np.issubdtype(a.dtype, np.floating) and np.all(a == np.round(a)))):
        raise ValueError(f"lags must be integers (time steps); got {a.tolist()}")
    a = a.astype(np.int64)
    if np.any(a < 1) or np.any(a >= n_times):
        raise ValueError(f"lags must be integers in [1, T - 1] = [1, {n_times - 1}] (T = {n_times}); got {a.tolist()}")
    return a


def mean_squared_displacement(x: np.ndarray, lags: Sequence[int] | np.ndarray, circular: bool = False) -> np.ndarray:
    """Mean squared displacement ``MSD(lag) = <|x[t + lag] - x[t]|²>`` over trajectories and all start times.

    Every (trajectory, start time) pair with ``t + lag < T`` counts once, so long lags rest on fewer, overlapping
    windows. Diffusion gives ``MSD = 2 D_c lag`` per coordinate (a random walk of step variance σ² per coordinate
    in D dimensions: ``D σ² lag``); motion at constant velocity v gives ``|v|² lag²``.

    Args:
        x: (B, T, D) positions, metres; if ``circular``, (B, T) or (B, T, 1) headings, radians, unwrapped along
            time first (np.unwrap), so a heading turning through laps is not read as jumping back.
        lags: positive integer lags in time steps, each below T (e.g. :func:`default_lags`).
        circular: whether ``x`` holds angles.

    Returns:
        (len(lags),) MSD, m² (rad² if circular).

    Raises:
        ValueError: if ``x`` has the wrong number of axes, fewer than 2 time points or non-finite values, or a lag
            is not an integer in [1, T - 1].
    """
    pos = _positions(x, circular)
    lags = _lags(lags, pos.shape[1])
    return np.array([np.mean(np.sum((pos[:, lag:] - pos[:, :-lag]) ** 2, axis=-1)) for lag in lags])


def default_lags(n_times: int, n: int = 20) -> np.ndarray:
    """About ``n`` log-spaced distinct integer lags from 1 to ``T // 2``.

    Half the trajectory keeps at least T/2 windows per trajectory at the longest lag. When ``T // 2`` is below 2
    (T < 4) the longest lag is ``T - 1`` instead, so that a trajectory of 3 points still has two lags to fit.

    Args:
        n_times: T, the number of time points (at least 2).
        n: the number of log-spaced values drawn before rounding; fewer remain where short lags round together.

    Returns:
        Sorted distinct int64 lags, time steps.
    """
    n_times, n = positive_int(n_times, "n_times"), positive_int(n, "n")
    if n_times < 2:
        raise ValueError(f"n_times must be at least 2 (a lag needs two time points); got {n_times}")
    top = n_times // 2 if n_times // 2 >= 2 else n_times - 1
    return np.unique(np.round(np.geomspace(1.0, top, n)).astype(np.int64))


@dataclass(frozen=True)
class MSDFit:
    """The power law ``MSD = prefactor · lag^exponent`` fitted by least squares in log-log coordinates.

    Attributes:
        exponent: the slope of log MSD on log lag: 1 diffusive, 2 ballistic, below 1 confined.
        log10_prefactor: log10 of the fitted MSD at lag 1 (log10 of m² or rad² per step^exponent).
    """

    exponent: float
    log10_prefactor: float


def msd_exponent(lags: Sequence[int] | np.ndarray, msd: Sequence[float] | np.ndarray) -> MSDFit:
    """The exponent of the MSD's power law: the least-squares slope of log MSD on log lag.

    Args:
        lags: (k,) positive lags, time steps, at least two distinct.
        msd: (k,) positive MSD at those lags (e.g. :func:`mean_squared_displacement`), m² or rad².

    Returns:
        :class:`MSDFit` with ``exponent`` and ``log10_prefactor``.

    Raises:
        ValueError: if the two are not 1-D of the same length, a lag or MSD is not positive and finite, or fewer
            than two distinct lags are given.
    """
    shape = "{name} must be a 1-D array of {what}; got shape {shape}"
    lag = check_array(np.asarray(lags), "lags", ndim=1, shape_error=shape, what="lags")
    m = check_array(np.asarray(msd), "msd", ndim=1, shape_error=shape, what="mean squared displacements")
    if lag.shape != m.shape:
        raise ValueError(f"lags and msd must have the same length; got {lag.size} and {m.size}")
    if np.any(lag <= 0.0):
        raise ValueError(f"lags must be positive; got {lag.tolist()}")
    if np.any(m <= 0.0):
        raise ValueError(
            f"msd must be positive at every lag to take its log; got {m.tolist()} (a trajectory that never moves "
            "has no power law)"
        )
    if np.unique(lag).size < 2:
        raise ValueError(f"lags must hold at least two distinct values to fit a slope; got {lag.tolist()}")
    slope, intercept = np.polyfit(np.log10(lag), np.log10(m), 1)
    return MSDFit(exponent=float(slope), log10_prefactor=float(intercept))


def step_lengths(x: np.ndarray, circular: bool = False) -> np.ndarray:
    """The length of every step ``|x[t+1] - x[t]|``.

    Args:
        x: (B, T, D) positions, metres; if ``circular``, (B, T) or (B, T, 1) headings, radians.
        circular: whether ``x`` holds angles; a step is then the wrapped difference, the short way round.

    Returns:
        (B, T - 1) step lengths, m (rad if circular).
    """
    return np.linalg.norm(_steps(x, circular), axis=-1)


def _lengths(lengths: np.ndarray) -> np.ndarray:
    """Non-empty finite non-negative step lengths, flattened."""
    a = check_array(
        lengths,
        "lengths",
        at_least=((None, 1, "{name} is empty"),),
        shape_error="{name} must be an array of step lengths; got shape {shape}",
    ).ravel()
    if np.any(a < 0.0):
        raise ValueError("lengths must be non-negative (they are step lengths)")
    return a


def step_length_histogram(
    lengths: np.ndarray, bins: int | Sequence[float] | np.ndarray = 50
) -> tuple[np.ndarray, np.ndarray]:
    """The distribution of step lengths as a density histogram.

    Args:
        lengths: step lengths of any shape (e.g. (B, T - 1) from :func:`step_lengths`), m or rad.
        bins: the number of equal bins over [min, max], or the bin edges (increasing), m or rad.

    Returns:
        ``(edges, density)``: (k + 1,) bin edges and (k,) density, per m (per rad), so ``sum(density · diff(edges))``
        is 1 over the lengths inside the edges.
    """
    density, edges = np.histogram(_lengths(lengths), bins=bins, density=True)
    return edges, density


def step_length_summary(lengths: np.ndarray) -> dict[str, float | int]:
    """Mean, median and 95th percentile of step lengths.

    Args:
        lengths: step lengths of any shape, m or rad.

    Returns:
        ``{"mean", "median", "p95"}`` in the units of ``lengths``, and ``"n"``, the number of steps.
    """
    a = _lengths(lengths)
    return {
        "mean": float(a.mean()),
        "median": float(np.median(a)),
        "p95": float(np.percentile(a, 95.0)),
        "n": int(a.size),
    }


def velocity_autocorrelation(x: np.ndarray, max_lag: int, circular: bool = False) -> np.ndarray:
    """Normalised autocorrelation of the step vectors ``v_t = x[t+1] - x[t]``.

    ``acf(k) = <v_t · v_{t+k}> / <v_t · v_t>``, each mean over all trajectories and all t with ``t + k`` in range.
    The steps are *not* centred (their mean is not removed, per trajectory or overall): a sequence moving at a
    steady velocity then keeps ``acf ≈ 1`` at every lag, which is what sets it apart from diffusion (white steps,
    ``acf ≈ 0`` beyond lag 0); centring would remove exactly that signal. For zero-mean steps the two agree.

    Args:
        x: (B, T, D) positions, metres; if ``circular``, (B, T) or (B, T, 1) headings, radians (steps wrapped).
        max_lag: the largest lag, time steps; at most T - 2 (there are T - 1 steps).
        circular: whether ``x`` holds angles.

    Returns:
        (max_lag + 1,) autocorrelation, dimensionless, 1 at lag 0.

    Raises:
        ValueError: on malformed ``x``, ``max_lag`` not a non-negative integer below T - 1, or no movement at all
            (every step zero: the normalisation is undefined).
    """
    if isinstance(max_lag, bool) or not isinstance(max_lag, (int, np.integer)) or max_lag < 0:
        raise ValueError(f"max_lag must be a non-negative integer; got {max_lag!r}")
    v = _steps(x, circular)
    n_steps = v.shape[1]
    if max_lag >= n_steps:
        raise ValueError(f"max_lag must be below the number of steps T - 1 = {n_steps}; got {max_lag}")
    c = np.array([np.mean(np.sum(v[:, k:] * v[:, : n_steps - k], axis=-1)) for k in range(max_lag + 1)])
    if not c[0] > 0.0:
        raise ValueError("x never moves (every step is zero): the velocity autocorrelation is undefined")
    return c / c[0]


def autocorrelation_time(acf: Sequence[float] | np.ndarray) -> float:
    """The lag at which an autocorrelation first drops below 1/e, interpolated linearly between lags.

    For an exponential ``acf(k) = ρ^k`` this is ``-1 / ln ρ``, up to the linear interpolation (which reads the
    convex curve slightly late: under 0.05 lag for ρ = 0.9). Lag spacing is one time step, ``acf[0]`` is lag 0.

    Args:
        acf: (k,) autocorrelation from lag 0 (e.g. :func:`velocity_autocorrelation`), dimensionless.

    Returns:
        The time in steps (a float), 0 if ``acf[0]`` is already below 1/e, or ``inf`` if the ACF never drops
        below 1/e within the lags given (a sequence: the correlation outlasts the window).
    """
    a = check_array(
        np.asarray(acf),
        "acf",
        ndim=1,
        at_least=((0, 1, "{name} is empty"),),
        shape_error="{name} must be a 1-D autocorrelation (k,) from lag 0; got shape {shape}",
    )
    level = math.exp(-1.0)
    below = np.flatnonzero(a < level)
    if below.size == 0:
        return math.inf
    k = int(below[0])
    if k == 0:
        return 0.0
    # a[k-1] >= level > a[k]: the straight line between them crosses the level inside (k-1, k].
    return (k - 1) + float((a[k - 1] - level) / (a[k - 1] - a[k]))
