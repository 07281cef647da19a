"""The replay classifier of Denovellis et al. (eLife 2021) on a latent space: continuous, fragmented, stationary.

A thin layer over the ``replay-trajectory-classification`` package (the optional extra ``replay``): its
``SortedSpikesClassifier`` on a grid over the space's Euclidean embedding
(:meth:`~reactivation.geometry.Geometry.embed`; for the circle, the unit circle with the bins near it), with the
three dynamics of the paper as its discrete states:

* **continuous**: the decoded latent moves by a random walk of the active phase's step size per time bin;
* **fragmented**: it jumps anywhere (a uniform transition);
* **stationary**: it stays in its bin (the identity).

From a fragmented bin every move is uniform; into the others, each state's own move. The states are sticky
(``stay`` per time bin). The classifier's acausal posterior gives, per time bin, each state's probability;
docs/replay.md says what the parameters are and why.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from reactivation import ReactivationError
from reactivation.geometry import Geometry

#: The three dynamics, in the classifier's state order.
STATES = ("continuous", "fragmented", "stationary")
INSTALL = "pip install 'reactivation[replay]'"


def package() -> ModuleType:
    """``replay_trajectory_classification``, imported quietly (it prints a line about CuPy), or how to install it.

    Raises:
        ReactivationError: it is not installed.
    """
    # Its steps log at INFO ("Fitting place fields...") and its import warns that CuPy is absent (it is optional):
    # the analysis's progress bar says where it is.
    logging.getLogger("replay_trajectory_classification").setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return importlib.import_module("replay_trajectory_classification")
    except ImportError as err:
        raise ReactivationError(
            f"the replay analysis needs replay-trajectory-classification, which is not installed here ({err}). "
            f"Install the replay extra: {INSTALL}"
        ) from err


@dataclass(frozen=True)
class Grid:
    """The decoder's grid over a space's embedding.

    Attributes:
        geometry: the space; a bin is used when its centre lies within half a bin diagonal of it (every bin of a
            box; a band about two bins wide along the circle).
        bin_size: side of a bin, latent units (m or rad).
        low, high: corners of the gridded box (the embedding's bounds, widened by half a bin).
    """

    geometry: Geometry
    bin_size: float
    low: tuple[float, ...]
    high: tuple[float, ...]

    def interior(self, centres: np.ndarray) -> np.ndarray:
        """(n, k) bin centres → (n,) whether each bin is on the space."""
        return self.geometry.near(centres, self.bin_size * np.sqrt(centres.shape[1]) / 2)


def grid(geometry: Geometry, place_bins: int) -> Grid:
    """``place_bins`` bins along the space's longest coordinate (2π for the circle), in its embedding."""
    size = geometry.extent / place_bins
    low, high = geometry.embedded_bounds()
    return Grid(geometry, size, tuple(v - size / 2 for v in low), tuple(v + size / 2 for v in high))


def fit(
    g: Grid,
    position: np.ndarray,
    counts: np.ndarray,
    movement_var: float,
    stay: float,
    position_std: float,
) -> Any:
    """A fitted classifier: the cells' rate maps from the active phase, and the three dynamics' transitions.

    Args:
        g: the grid (:func:`grid`).
        position: (n_bins, k) embedded latent of each active time bin.
        counts: (n_bins, n_cells) spike counts of the same bins.
        movement_var: variance of the continuous state's random walk per coordinate and time bin, latent units².
        stay: probability of keeping one's dynamic from one time bin to the next.
        position_std: width of the rate maps' kernel, latent units.

    Returns:
        A fitted ``SortedSpikesClassifier``.
    """
    rtc = package()
    position = np.asarray(position, dtype=np.float64)
    env = rtc.Environment(place_bin_size=g.bin_size, position_range=list(zip(g.low, g.high)))
    env.fit_place_grid(position, infer_track_interior=False)
    # The package keeps a given interior only if its fitted copy is set too (version 1.4.1 leaves it unset); the
    # grid is flattened in Fortran order, as the package flattens it.
    env.is_track_interior = env.is_track_interior_ = g.interior(env.place_bin_centers_).reshape(
        env.centers_shape_, order="F"
    )
    walk, jump, still = rtc.RandomWalk(movement_var=movement_var), rtc.Uniform(), rtc.Identity()
    classifier = rtc.SortedSpikesClassifier(
        environments=[env],
        continuous_transition_types=[[walk, jump, still], [jump, jump, jump], [walk, jump, still]],
        discrete_transition_type=rtc.DiagonalDiscrete(stay),
        sorted_spikes_algorithm_params={"position_std": position_std, "use_diffusion": False, "block_size": None},
        infer_track_interior=False,
    )
    with _quiet():
        classifier.fit(position, np.asarray(counts, dtype=np.float64))
    return classifier


@dataclass(frozen=True)
class Decoded:
    """The classifier's reading of one event (a run of time bins).

    Attributes:
        states: (n_bins, 3) probability of each of :data:`STATES` per time bin (rows sum to 1).
        position: (n_bins, k) the most probable embedded position per time bin (the marginal over states).
    """

    states: np.ndarray
    position: np.ndarray


def decode(classifier: Any, counts: np.ndarray) -> Decoded:
    """Classify one event of (n_bins, n_cells) counts with a fitted classifier (the acausal posterior)."""
    with _quiet():
        res = classifier.predict(np.asarray(counts, dtype=np.float64), state_names=list(STATES))
    post = res.acausal_posterior.fillna(0.0)
    spatial = [d for d in post.dims if d not in ("time", "state")]
    states = post.sum(spatial).transpose("time", "state").values
    marginal = post.sum("state").stack(flat=spatial).transpose("time", "flat")
    centres = np.stack([marginal[d].values for d in spatial], axis=1)
    position = centres[np.argmax(marginal.values, axis=1)]
    return Decoded(states / states.sum(axis=1, keepdims=True), position)


def shares(decoded: list[Decoded], threshold: float) -> dict[str, Any]:
    """What share of the time bins of some events each dynamic takes.

    Returns:
        ``{"probability": {state: mean posterior probability}, "classified": {state: share of bins whose
        probability exceeds threshold, ..., "unclassified": the rest}}``, fractions of all time bins.
    """
    probs = np.concatenate([d.states for d in decoded], axis=0)
    best = probs.max(axis=1)
    classified = {s: float(np.mean(probs[:, i] > threshold)) for i, s in enumerate(STATES)}
    classified["unclassified"] = float(np.mean(best <= threshold))
    return {"probability": {s: float(probs[:, i].mean()) for i, s in enumerate(STATES)}, "classified": classified}


@contextlib.contextmanager
def _quiet() -> Any:
    """The package's fitting warns on empty bins (log of 0), divides by zero outside the interior (expected on a
    grid whose outside bins are masked), warns about its own numba code's speed and draws a progress bar per cell on
    stderr: kept out of the user's log, where the analysis's own progress bar is."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        with contextlib.redirect_stderr(io.StringIO()):
            yield
