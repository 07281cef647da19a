"""The metrics' checks of their inputs: one array validator, parametrised by what each caller needs of the shape
(the messages are the caller's), that always returns finite float64 values; the positive-integer check of counts
such as ``n_samples`` and ``k``; the density-ratio clip of the KL estimates; and the seed type the Monte Carlo
estimates take.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Seed = int | np.random.Generator | None

#: The least length of an axis: a number, or a function of the array's shape (e.g. one more than its last axis).
Least = int | Callable[[tuple[int, ...]], int]


def check_array(
    x: np.ndarray,
    name: str,
    *,
    ndim: int | None = None,
    last: int | None = None,
    at_least: Sequence[tuple[int | None, Least, str]] = (),
    column: bool = False,
    shape_error: str,
    **fields: object,
) -> np.ndarray:
    """``x`` as a float64 array, checked in order: number of axes, last axis, least lengths, then finiteness.

    Messages are ``str.format`` templates of ``name``, ``shape`` (a tuple, so ``{shape[1]}`` works), ``size``,
    ``least`` (the length a failing ``at_least`` entry asked for) and ``fields``.

    Args:
        x: the caller's array (anything ``np.asarray`` takes).
        name: what the caller calls it; messages start with it.
        ndim: the number of axes ``x`` must have; ``None``: any number from 1.
        last: the length the last axis must have; ``None``: any.
        at_least: ``(axis, least, message)`` entries, checked in order: axis ``axis`` (``None``: the whole array,
            i.e. its size) must have at least ``least`` entries, else ``message``.
        column: read a 1-D ``x`` as one column, (n,) -> (n, 1), before any check.
        shape_error: the message when ``ndim`` or ``last`` does not hold.
        **fields: further values the messages name.

    Returns:
        The float64 array (a view of ``x`` where no conversion was needed).

    Raises:
        ValueError: with the caller's message for the first check that fails, or
            ``"<name> contains non-finite values (NaN or inf)"``.
    """
    a = np.asarray(x, dtype=np.float64)
    if column and a.ndim == 1:
        a = a[:, None]

    def fail(message: str, least: int | None = None) -> ValueError:
        return ValueError(message.format(name=name, shape=a.shape, size=a.size, least=least, **fields))

    if (a.ndim < 1 if ndim is None else a.ndim != ndim) or (last is not None and a.shape[-1] != last):
        raise fail(shape_error)
    for axis, least, message in at_least:
        need = least(a.shape) if callable(least) else least
        if (a.size if axis is None else a.shape[axis]) < need:
            raise fail(message, need)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return a


def log_ratio_bounds(ratio_clip: Sequence[float] | None) -> tuple[float, float] | None:
    """``(log low, log high)`` of a density-ratio clip ``[low, high]``, or ``None`` for no clip (``None``).

    The KL estimates clip each sample's ratio p(x)/q(x) to [low, high] by clipping its log, so a ratio is never
    formed (it over- or underflows where the log does not).

    Raises:
        ValueError: ``ratio_clip`` is not two finite numbers with 0 < low < high.
    """
    if ratio_clip is None:
        return None
    pair = isinstance(ratio_clip, (Sequence, np.ndarray)) and not isinstance(ratio_clip, str) and len(ratio_clip) == 2
    numbers = pair and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)
        for v in ratio_clip
    )
    if not (numbers and 0 < ratio_clip[0] < ratio_clip[1]):
        raise ValueError(f"ratio_clip must be None or [low, high] with 0 < low < high, both finite; got {ratio_clip!r}")
    return math.log(ratio_clip[0]), math.log(ratio_clip[1])


def mean_log_ratio(log_ratio: np.ndarray, bounds: tuple[float, float] | None) -> float:
    """The Monte Carlo KL estimate: the mean of (n,) log density ratios (nats), each first clipped to ``bounds``
    (``(log low, log high)`` from :func:`log_ratio_bounds`) when given.

    A clip that reaches no sample changes nothing, bit for bit: ``np.clip`` returns in-range values as they are.
    """
    return float(np.mean(log_ratio if bounds is None else np.clip(log_ratio, *bounds)))


def positive_int(value: int, name: str) -> int:
    """``value`` as an int, if it is a positive integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)
