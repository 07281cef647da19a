"""The state panels of one run, chosen by the geometry of its task (docs/spec.md §8): what the decoded latents and the
hidden states of the analysis batch look like in a box (paper Fig. 2), on a circle (Fig. 3) or on a track.

:data:`PANELS` maps a geometry's ``name`` to the function that draws its panels; a task on an existing geometry
needs nothing here, a new geometry adds one function and one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from reactivation.analysis import metrics
from reactivation.analysis.protocol import States
from reactivation.figures import data, panels
from reactivation.geometry import Box, Geometry, Interval, points


@dataclass(frozen=True)
class Projected:
    """One run's states on the analysis batch, with the hidden states projected on the active top PCs.

    Attributes:
        states: the rollouts (decoded (B, T, d) in the task's units; hidden (B, T, n_rec)).
        active_pcs, quiescent_pcs: (B·T, k) and (B·T_q, k) projections on the active PCs (a.u.).
    """

    states: States
    active_pcs: np.ndarray
    quiescent_pcs: np.ndarray

    @property
    def decoded(self) -> tuple[np.ndarray, np.ndarray]:
        """(B·T, d) active and (B·T_q, d) quiescent decoded points."""
        return points(self.states.active_decoded), points(self.states.quiescent_decoded)


def _pc_density(p: Projected) -> Figure:
    lim = float(np.abs(p.active_pcs[:, :2]).max()) * 1.05
    return panels.density_maps(
        {
            "active": data.kde_map(p.active_pcs[:, :2], lim=lim),
            "quiescent": data.kde_map(p.quiescent_pcs[:, :2], lim=lim),
        },
        extent=(-lim, lim, -lim, lim),
        xlabel="PC1 (a.u.)",
        ylabel="PC2 (a.u.)",
        colorbar_label="density (1/a.u.²)",
    )


def box_panels(geometry: Geometry, p: Projected) -> Iterator[tuple[str, Figure]]:
    """A planar box: PC scatter coloured by distance from the centre, trajectories, output and PC density maps."""
    act, quiet = p.decoded
    yield (
        "pc_scatter",
        panels.pc_scatter(
            p.active_pcs[:, :2], p.quiescent_pcs[:, :2], np.linalg.norm(act, axis=-1), np.linalg.norm(quiet, axis=-1)
        ),
    )
    assert isinstance(geometry, Box)  # PANELS gives these panels to the "box" geometry
    (x_low, y_low), (x_high, y_high) = geometry.low, geometry.high  # a planar box
    size = (x_high - x_low, y_high - y_low)
    yield "trajectories", panels.trajectories(p.states.active_decoded, p.states.quiescent_decoded, box=size)
    yield "output_density", panels.density_maps({"active": data.kde_map(act), "quiescent": data.kde_map(quiet)})
    yield "pc_density", _pc_density(p)


def _velocity(theta: np.ndarray) -> np.ndarray:
    """(B, T) headings → (B·(T−1),) wrapped heading changes, rad/step."""
    return metrics.wrap(np.diff(theta, axis=1)).ravel()


def circle_panels(geometry: Geometry, p: Projected) -> Iterator[tuple[str, Figure]]:
    """Headings: the PC ring coloured by heading, the heading rose, polar trajectories, angular velocities."""
    act, quiet = p.decoded
    yield "pc_ring", panels.pc_ring(p.active_pcs[:, :2], act[:, 0])
    yield "heading_rose", panels.heading_rose(act[:, 0], quiet[:, 0])
    yield (
        "polar_trajectories",
        panels.polar_trajectories(p.states.active_decoded[..., 0], p.states.quiescent_decoded[..., 0]),
    )
    yield (
        "angular_velocity",
        panels.angular_velocity_hist(
            _velocity(p.states.active_decoded[..., 0]), _velocity(p.states.quiescent_decoded[..., 0])
        ),
    )


def interval_panels(geometry: Geometry, p: Projected) -> Iterator[tuple[str, Figure]]:
    """A track: PC scatter coloured by position, position vs step, position densities, PC density maps."""
    act, quiet = p.decoded
    assert isinstance(geometry, Interval)  # PANELS gives these panels to the "interval" geometry
    (low,), (high,), (anchor,) = geometry.low, geometry.high, geometry.anchor
    yield (
        "pc_scatter",
        panels.pc_scatter(
            p.active_pcs[:, :2], p.quiescent_pcs[:, :2], act[:, 0], quiet[:, 0], colour_label="decoded position (m)"
        ),
    )
    yield (
        "trajectories",
        panels.track_trajectories(p.states.active_decoded[..., 0], p.states.quiescent_decoded[..., 0], low, high),
    )
    yield "output_density", panels.track_density(act[:, 0], quiet[:, 0], low, high, anchor=anchor)
    yield "pc_density", _pc_density(p)


#: Geometry name -> its state panels (each yields ``(name, figure)``; the caller appends the condition).
PANELS: dict[str, Callable[[Geometry, Projected], Iterator[tuple[str, Figure]]]] = {
    "box": box_panels,
    "circle": circle_panels,
    "interval": interval_panels,
}


def project(st: States, k: int = 10) -> tuple[Projected, np.ndarray, np.ndarray]:
    """PCA of the active hidden states; returns the projections and the explained-variance ratios (k,) of the
    active and of the quiescent states' own PCA."""
    act_h = st.active_hidden.reshape(-1, st.active_hidden.shape[-1])
    quiet_h = st.quiescent_hidden.reshape(-1, st.quiescent_hidden.shape[-1])
    mean, components, ratio = data.pca_fit(act_h, k=k)
    _, _, quiet_ratio = data.pca_fit(quiet_h, k=k)
    projected = Projected(st, data.pca_project(act_h, mean, components), data.pca_project(quiet_h, mean, components))
    return projected, ratio, quiet_ratio
