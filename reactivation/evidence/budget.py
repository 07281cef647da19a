"""The campaign's time budget: parsed from the command line (:func:`parse_budget`) and spent step by step
(:class:`Clock`), starting only the steps whose last duration still fits."""

from __future__ import annotations

import re
import time
from typing import Any

from reactivation import ConfigError


def parse_budget(value: Any) -> float:
    """A budget in seconds from ``2h``, ``90min``, ``30m``, ``45s``, a sum of them (``2h20min``) or a number of
    seconds.

    Raises:
        ConfigError: anything else, or a negative budget.
    """
    text, part = str(value).strip(), r"([0-9]*\.?[0-9]+)\s*(h|min|m|s)\s*"
    if isinstance(value, bool) or not (re.fullmatch(f"(?:{part})+", text) or re.fullmatch(r"[0-9]*\.?[0-9]+", text)):
        raise ConfigError(
            f"budget={value!r} is not a duration: give e.g. budget=2h, budget=90min, budget=2h20min or budget=600 (s)."
        )
    units = {"h": 3600, "min": 60, "m": 60, "s": 1}
    return sum(float(n) * units[u] for n, u in re.findall(part, text)) if re.search("[a-z]", text) else float(text)


class Clock:
    """The campaign's deadline, and how long each kind of step took last time (to start only what fits)."""

    def __init__(self, budget_s: float):
        self.deadline = time.monotonic() + budget_s
        self.took: dict[str, float] = {}

    def left(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.deadline - time.monotonic())

    def fits(self, kind: str) -> bool:
        """Whether a step of ``kind`` fits in what is left, judged by its last duration (unknown: any time left)."""
        return self.left() > self.took.get(kind, 1.0)

    def timed(self, kind: str, start: float) -> None:
        self.took[kind] = time.monotonic() - start
