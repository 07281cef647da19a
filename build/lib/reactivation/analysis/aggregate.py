"""Results over seeds: per-seed JSON results stacked leaf by leaf, and their mean ± standard deviation.

Spread convention (the figures' too): the population standard deviation (ddof 0) of the seeds shown, which is
defined (0) for a single seed. Undefined per-seed values (``null`` in a result, e.g. a statistic of a network
without variance) are left out of that leaf's mean and counted out of its ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def gather(by_seed: dict[int, dict]) -> dict:
    """{seed: nested dict of numbers} → the same nesting with an (n_seeds, ...) float array at each leaf.

    A leaf that is a list (e.g. an explained-variance curve) gives an (n_seeds, len) array; ``None`` becomes NaN.
    """

    def merge(into: dict, value: dict) -> None:
        for key, v in value.items():
            if isinstance(v, dict):
                merge(into.setdefault(key, {}), v)
            else:
                into.setdefault(key, []).append(np.nan if v is None else v)

    def to_arrays(node: dict) -> dict:
        return {k: to_arrays(v) if isinstance(v, dict) else np.asarray(v, dtype=float) for k, v in node.items()}

    out: dict = {}
    for seed in sorted(by_seed):
        merge(out, by_seed[seed])
    return to_arrays(out)


@dataclass(frozen=True)
class Summary:
    """Mean and spread of one statistic over seeds.

    Attributes:
        mean: mean over the seeds where the value is defined (NaN if none).
        std: population standard deviation (ddof 0) over the same seeds (NaN if none).
        n: number of seeds it is defined for.
    """

    mean: float
    std: float
    n: int

    def format(self, digits: int = 3) -> str:
        """``0.130 ± 0.012`` (significant digits), or ``n/a`` if no seed has the value."""
        if self.n == 0:
            return "n/a"
        return f"{self.mean:.{digits}g} ± {self.std:.2g}"


def summarize(values: Any) -> Summary:
    """Mean ± std of per-seed values (a sequence or an (n_seeds,) array); NaN/None values are left out."""
    a = np.asarray([np.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))], dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return Summary(float("nan"), float("nan"), 0)
    return Summary(float(a.mean()), float(a.std()), int(a.size))


def summarize_tree(by_seed: dict[int, dict]) -> dict:
    """{seed: nested dict of scalars} → the same nesting with a :class:`Summary` at each scalar leaf."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        return summarize(node) if node.ndim == 1 else [summarize(col) for col in node.T]

    return walk(gather(by_seed))
