"""The metrics' checks of their inputs: one array validator, parametrised by what each caller needs of the shape
(the messages are the caller's), that always returns finite float64 values; the positive-integer check of counts
such as ``n_samples`` and ``k``; and the seed type the Monte Carlo estimates take.
"""

from __future__ import annotations

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


def positive_int(value: int, name: str) -> int:
    """``value`` as an int, if it is a positive integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)
