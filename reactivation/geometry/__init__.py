"""Latent spaces and their statistics (docs/spec.md §7, §9): pure numpy/scipy, below the tasks that carry them.

:mod:`.shapes` holds the geometry objects a task carries as ``task.geometry`` (:class:`Box`, :class:`Interval`,
:class:`Circle`); their maths is one concept a module: :mod:`.planar` (KDE and KL of points in R^d, ring share),
:mod:`.circular` (angles: wrapping, von Mises KDE and KL), :mod:`.trajectories` (per-trajectory variance, step
distance, angular velocity); the input checks are in :mod:`._checks`.
"""

from reactivation.geometry.shapes import Box, Circle, Geometry, Interval, points

__all__ = ["Box", "Circle", "Geometry", "Interval", "points"]
