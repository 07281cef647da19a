"""The quiescence noise modes (docs/spec.md §6): how the recurrent noise of a quiescent rollout relates to the
trained one, σ_q = c · σ_rec. Named modes: ``scaled`` (c = √2, the default for vanilla RNNs), ``same`` (c = 1, GRUs),
``absolute`` (a fixed level); any other mode is the factor c itself, written as a string (``"1.5"``).

A module of its own, without torch, because the configs check a mode before anything runs
(:mod:`reactivation.config.analysis_keys`) and :mod:`reactivation.quiescence` runs it.
"""

from __future__ import annotations

import math

NOISE_MODES = ("scaled", "same", "absolute")
#: The factor c of σ_q = c · σ_rec of each named mode that has one (``absolute`` sets σ_q itself).
_FACTORS = {"scaled": math.sqrt(2.0), "same": 1.0}


def noise_factor(mode: str) -> float | None:
    """The factor c of the quiescent noise σ_q = c · σ_rec of a mode: √2 (scaled), 1 (same), the number itself
    (``"0.5"``), or ``None`` for ``absolute`` (a level that does not scale with the trained noise).

    Raises:
        ValueError: an unknown mode, or a number that is negative or not finite.
    """
    if mode in _FACTORS:
        return _FACTORS[mode]
    if mode == "absolute":
        return None
    try:
        factor = float(mode)
    except (TypeError, ValueError):
        factor = math.nan
    if not (math.isfinite(factor) and factor >= 0):
        raise ValueError(
            f"unknown quiescence noise mode {mode!r}; choose one of {', '.join(NOISE_MODES)} "
            "or a factor c >= 0 of the trained sigma_rec, e.g. mode=1.5"
        )
    return factor
