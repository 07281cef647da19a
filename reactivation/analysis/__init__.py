"""Analyses of trained networks (docs/spec.md §7, §9): metrics on decoded outputs and hidden states; the package
re-exports the public metrics, listed once in ``reactivation.analysis.metrics.__all__``.
"""

from reactivation.analysis import metrics
from reactivation.analysis.metrics import *  # noqa: F403  (the names in metrics.__all__)

__all__ = metrics.__all__
