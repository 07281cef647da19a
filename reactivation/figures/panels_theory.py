"""Panels of the theory analyses (issue #14; docs/theory.md): drift against score, noise temperature, diffusion.

They draw the results of output_drift.py, output_temperature.py and output_diffusion.py
(:mod:`reactivation.analysis.drift`, :mod:`~reactivation.analysis.temperature`,
:mod:`~reactivation.analysis.diffusion`): one seed's ``field`` of a drift result, and the other results stacked over
seeds leaf by leaf (:func:`reactivation.analysis.aggregate.gather`: an (n_seeds, ...) array at each leaf, NaN for a
``null``). Means and spreads over seeds are those of :mod:`reactivation.analysis.aggregate`: the mean and the
population standard deviation (ddof 0) of the seeds where a value is finite. Each function returns a new
``matplotlib.figure.Figure`` outside pyplot's registry and does no file I/O.

One module a kind of panel: :mod:`~reactivation.figures.panels_drift` (drift against score),
:mod:`~reactivation.figures.panels_temperature` (noise temperature), :mod:`~reactivation.figures.panels_diffusion`
(diffusion), on what :mod:`~reactivation.figures.theory_common` holds for all three; this module gathers them.
"""

from __future__ import annotations

from reactivation.figures.panels_diffusion import msd_curves
from reactivation.figures.panels_drift import SPACES, drift_agreement, drift_field
from reactivation.figures.panels_temperature import temperature_curves
from reactivation.figures.theory_common import LANGEVIN, PHASES

__all__ = [
    "LANGEVIN",
    "PHASES",
    "SPACES",
    "drift_agreement",
    "drift_field",
    "msd_curves",
    "temperature_curves",
]
