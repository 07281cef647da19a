"""The vocabulary of the claims (docs/spec.md §9): a :class:`Quantity` read from one seed's results, a
:class:`Criterion` comparing two of them, a :class:`Claim` of criteria, and their evaluation over seeds
(:func:`evaluate`, :func:`claim_held`): a criterion holds when it holds on the means over seeds, a claim when all its
criteria do. :mod:`reactivation.analysis.claims` states the claims in it.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

from reactivation.analysis.aggregate import Summary, summarize

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_SYMBOLS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥"}


@dataclass(frozen=True)
class Quantity:
    """A number read from one analysis result of one seed, optionally scaled and shifted.

    ``value = factor * (|x| if absolute else x) + offset`` with ``x = result[family][kind][keys...]``.
    ``kind`` ``None`` makes it the constant ``offset``.
    """

    label: str
    family: str | None = None
    kind: str | None = None
    keys: tuple[str, ...] = ()
    factor: float = 1.0
    offset: float = 0.0
    absolute: bool = False

    def value(self, results: dict[str, dict[str, dict]]) -> float:
        """The quantity for one seed; NaN when the result (or the entry) is missing or undefined."""
        if self.kind is None:
            return self.offset
        if self.family is None:  # read from no family's results: missing
            return math.nan
        node: Any = results.get(self.family, {}).get(self.kind)
        for key in self.keys:
            if not isinstance(node, dict) or key not in node:
                return math.nan
            node = node[key]
        if node is None:
            return math.nan
        x = abs(float(node)) if self.absolute else float(node)
        return self.factor * x + self.offset

    @property
    def constant(self) -> bool:
        return self.kind is None


def const(value: float) -> Quantity:
    """A constant side of a criterion, labelled by its value."""
    return Quantity(f"{value:g}", offset=value)


@dataclass(frozen=True)
class Criterion:
    """``lhs op rhs``, e.g. KL(Uσ_q‖Uσ_a) < KL(R‖Uσ_a)."""

    lhs: Quantity
    op: str
    rhs: Quantity

    def text(self) -> str:
        return f"{self.lhs.label} {_SYMBOLS[self.op]} {self.rhs.label}"

    def holds(self, lhs: float, rhs: float) -> bool | None:
        """Whether the criterion holds for these values; ``None`` when either is undefined."""
        if not (math.isfinite(lhs) and math.isfinite(rhs)):
            return None
        return bool(_OPS[self.op](lhs, rhs))


@dataclass(frozen=True)
class Claim:
    number: int
    title: str
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class Outcome:
    """A criterion evaluated over seeds.

    Attributes:
        criterion: what was tested.
        lhs, rhs: mean ± std over the seeds where both sides are defined.
        held: whether it holds on the means (``None``: not evaluated, the results are missing).
        seeds_held: seeds where it held on that seed's own values.
        seeds: seeds where both sides are defined.
    """

    criterion: Criterion
    lhs: Summary
    rhs: Summary
    held: bool | None
    seeds_held: list[int] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)


def evaluate(criterion: Criterion, by_seed: dict[int, dict[str, dict[str, dict]]]) -> Outcome:
    """Evaluate one criterion on ``{seed: {family: {kind: result}}}``."""
    pairs = {seed: (criterion.lhs.value(r), criterion.rhs.value(r)) for seed, r in sorted(by_seed.items())}
    defined = {seed: p for seed, p in pairs.items() if criterion.holds(*p) is not None}
    lhs = summarize([p[0] for p in defined.values()])
    rhs = summarize([p[1] for p in defined.values()])
    held = criterion.holds(lhs.mean, rhs.mean) if defined else None
    return Outcome(criterion, lhs, rhs, held, [s for s, p in defined.items() if criterion.holds(*p)], list(defined))


def claim_held(outcomes: list[Outcome]) -> bool | None:
    """A claim holds if all its criteria hold; ``None`` if any could not be evaluated."""
    if any(o.held is None for o in outcomes):
        return None
    return all(o.held for o in outcomes)
