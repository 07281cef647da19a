"""What the theory panels (:mod:`~reactivation.figures.panels_drift`, :mod:`~reactivation.figures.panels_temperature`,
:mod:`~reactivation.figures.panels_diffusion`) share: the statistics over seeds, the phases, the Langevin factor and
the style of the theory's guide lines.

Results come stacked over seeds leaf by leaf (:func:`reactivation.analysis.aggregate.gather`: an (n_seeds, ...)
array at each leaf, NaN for a ``null``); means and spreads over seeds are those of
:mod:`reactivation.analysis.aggregate`: the mean and the population standard deviation (ddof 0) of the seeds where a
value is finite.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from reactivation.figures.style import label

PHASES = ("active", "quiescent")
#: The Langevin factor: quiescent noise √2 · σ_rec samples the active distribution exactly (docs/theory.md).
LANGEVIN = math.sqrt(2.0)
GUIDE: dict[str, Any] = {
    "color": "0.4",
    "linestyle": "--",
    "linewidth": 1.0,
    "zorder": 1,
}  # theory lines, under the data


def two_line(name: str) -> str:
    """A condition's label on two lines (at its comma), for a tick under a narrow column."""
    return label(name).replace(", ", ",\n")


def mean_std(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std (ddof 0) over the first axis (seeds), over finite values only (NaN where none).

    Args:
        values: (n_seeds, ...) or a scalar / (n_seeds,) of one statistic.

    Returns:
        ``(mean, std)``, each of shape ``values.shape[1:]``.
    """
    a = np.asarray(values, dtype=float)
    a = a.reshape(1) if a.ndim == 0 else a
    finite = np.isfinite(a)
    n = finite.sum(axis=0)
    filled = np.where(finite, a, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, filled.sum(axis=0) / np.maximum(n, 1), np.nan)
        var = np.where(finite, (a - mean) ** 2, 0.0).sum(axis=0) / np.maximum(n, 1)
    return mean, np.where(n > 0, np.sqrt(var), np.nan)


def first_row(values: Any) -> np.ndarray:
    """One seed's copy of a list every seed shares (factors, lags): (n_seeds, L) or (L,) -> (L,)."""
    a = np.asarray(values, dtype=float)
    return a[0] if a.ndim > 1 else a
