"""The spaces a task's latent lives in, as objects: every statistic an analysis takes of decoded latents.

A task carries one of these as ``task.geometry``; the analyses, figures and report ask it, never the task's name:

* :class:`Box`: an axis-aligned box in d dimensions centred at the origin (spatial navigation: the 2-D arena);
* :class:`Interval`: a 1-D box with an anchor (a linear track and its reward end);
* :class:`Circle`: angles on [-π, π) (head direction).

Every method takes decoded latents as numpy arrays in the task's units (metres, radians) with the latent
dimension last, and returns plain floats, so the results can be written as JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from reactivation.geometry import planar, trajectories
from reactivation.geometry.circular import circular_kl_matrix, wrap


def points(decoded: np.ndarray) -> np.ndarray:
    """(..., d) decoded latents → (n, d) float64 points (any leading shape flattened)."""
    x = np.asarray(decoded, dtype=np.float64)
    return x.reshape(-1, x.shape[-1])


class Geometry:
    """What the analyses ask of a latent space (docs/spec.md §7, §9); subclasses fill in the maths.

    Attributes:
        name: short name (``box``, ``interval``, ``circle``), e.g. to choose the figures' state panels.
        dim: latent dimension d.
        unit: unit of a latent coordinate (``m`` or ``rad``).
        variance_unit: unit of :meth:`trajectory_variance`, as written in the variance results.
        variance_label: axis label of the quiescent-variance box plot.
        variance_note: the variance's unit as the report states it.
        periodic: whether coordinates wrap around (the circle), so that differences are taken modulo the period and
            trajectories are unwrapped before their displacements are measured.
        frame: what the coordinates mean, in words (NWB's ``reference_frame``).
    """

    name: ClassVar[str]
    unit: ClassVar[str]
    variance_unit: ClassVar[str]
    variance_label: ClassVar[str]
    variance_note: ClassVar[str]
    periodic: ClassVar[bool] = False
    dim: int

    @property
    def frame(self) -> str:
        return f"{self.name} coordinates in {self.unit}"

    def difference(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a - b`` of (..., d) latents in this space (wrapped to the shorter way round on a periodic one)."""
        return np.asarray(a) - np.asarray(b)

    def bin_edges(self, bins: int) -> list[np.ndarray]:
        """Edges of a grid over the space, one array per coordinate (about ``bins`` per coordinate)."""
        raise NotImplementedError

    def trajectory_variance(self, x: np.ndarray) -> np.ndarray:
        """(B, T, d) trajectories (T >= 2) → (B,) spread of each one over time, in :attr:`variance_unit`."""
        raise NotImplementedError

    def step_summary(self, x: np.ndarray, prefix: str) -> dict[str, float]:
        """(B, T, d) trajectories → ``{prefix: mean step}`` (unit/step) and any further step statistic."""
        raise NotImplementedError

    def kl_table(
        self,
        quiescent: dict[str, np.ndarray],
        active: dict[str, np.ndarray],
        n_samples: int,
        seed: int,
        *,
        ratio_clip: Sequence[float] | None = None,
    ) -> tuple[dict[str, dict[str, float]], list[str]]:
        """KL(quiescent row ‖ active column) in nats for every pair, plus the row ``uniform`` (the uniform
        distribution on the space).

        Args:
            quiescent: name → (n, d) decoded points of each row.
            active: name → (n, d) decoded points of each column.
            n_samples: Monte Carlo samples per row.
            seed: seed of the estimate (one stream for the whole table).
            ratio_clip: ``[low, high]`` (0 < low < high) to clip each sample's density ratio to before averaging, as
                the published code did with [1e-7, 1e7] (docs/spec.md §7 decision "ratio clip"); ``None``: unclipped.

        Returns:
            ``({row: {column: nats}}, [sets whose KDE was jittered, as "quiescent:<name>" / "active:<name>"])``.
        """
        raise NotImplementedError

    @property
    def extent(self) -> float:
        """Length of the space's longest coordinate (latent units): a box's longest side, the circle's 2π."""
        raise NotImplementedError

    def embed(self, x: np.ndarray) -> np.ndarray:
        """(..., d) latents → (n, k) points of a Euclidean space in which short distances are this space's (a box
        is its own embedding; the circle is the unit circle in the plane, so a chord is the arc to first order).

        A decoder that bins a Euclidean space (the replay classifier's grid) then respects the space's shape."""
        return points(x)

    def unembed(self, p: np.ndarray) -> np.ndarray:
        """(n, k) embedded points → (n, d) latents: the inverse of :meth:`embed` on the space (the nearest latent
        off it)."""
        return points(p)

    def embedded_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(low, high)`` corners of the box that holds the embedding."""
        raise NotImplementedError

    def near(self, p: np.ndarray, tolerance: float) -> np.ndarray:
        """(n, k) embedded points → (n,) whether each lies within ``tolerance`` (latent units) of the space."""
        raise NotImplementedError

    def occupancy(self, x: np.ndarray, ring: Sequence[float]) -> dict[str, float]:
        """Shares of (..., d) decoded points in the space's region of interest (``{}`` if it has none).

        ``ring`` is the analysis's ``[inner, outer]`` band of distances (latent units) from the anchor.
        """
        return {}


class Box(Geometry):
    """An axis-aligned box ``[low, high]`` in d dimensions (metres); the ring is measured from the origin.

    Args:
        low: (d,) lower corner.
        high: (d,) upper corner, ``high > low`` in every coordinate.
    """

    name = "box"
    unit = "m"
    variance_unit = "m^2"
    variance_label = "quiescent output variance (m²)"
    variance_note = "m²"

    def __init__(self, low: Sequence[float], high: Sequence[float]) -> None:
        self.low, self.high = tuple(float(v) for v in low), tuple(float(v) for v in high)
        if len(self.low) != len(self.high) or not all(h > lo for lo, h in zip(self.low, self.high)):
            raise ValueError(f"a box needs matching corners with high > low; got low={self.low}, high={self.high}")
        self.dim = len(self.low)

    @property
    def anchor(self) -> tuple[float, ...]:
        """Centre of the ring statistic: the origin (the arena's centre)."""
        return (0.0,) * self.dim

    @property
    def frame(self) -> str:
        return (
            f"coordinates in {self.unit} of the box from {list(self.low)} to {list(self.high)} "
            "(the origin at its centre)"
        )

    def bin_edges(self, bins: int) -> list[np.ndarray]:
        return [np.linspace(lo, hi, bins + 1) for lo, hi in zip(self.low, self.high)]

    def trajectory_variance(self, x: np.ndarray) -> np.ndarray:
        return trajectories.total_variance(x)  # trace of the covariance, m²

    @property
    def extent(self) -> float:
        return max(h - lo for lo, h in zip(self.low, self.high))

    def embedded_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return self.low, self.high

    def near(self, p: np.ndarray, tolerance: float) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        return np.all((p >= np.array(self.low) - tolerance) & (p <= np.array(self.high) + tolerance), axis=-1)

    def step_summary(self, x: np.ndarray, prefix: str) -> dict[str, float]:
        return {prefix: float(trajectories.stepwise_distance(x).mean())}

    def kl_table(
        self,
        quiescent: dict[str, np.ndarray],
        active: dict[str, np.ndarray],
        n_samples: int,
        seed: int,
        *,
        ratio_clip: Sequence[float] | None = None,
    ) -> tuple[dict[str, dict[str, float]], list[str]]:
        table, hits = planar.kl_matrix(quiescent, active, n_samples, seed, ratio_clip=ratio_clip)
        table["uniform"] = {}
        for col, a in active.items():
            # The true uniform density on the box, not a KDE of uniform samples (docs/spec.md §7 decision).
            table["uniform"][col], flags = planar.kl_from_uniform(
                a, self.low, self.high, n_samples, seed, ratio_clip=ratio_clip, return_jitter=True
            )
            hits |= {("column", col)} if flags["q"] else set()
        return table, sorted(f"{'quiescent' if side == 'row' else 'active'}:{name}" for side, name in hits)

    def occupancy(self, x: np.ndarray, ring: Sequence[float]) -> dict[str, float]:
        return {"ring": planar.annulus_share(x, float(ring[0]), float(ring[1]), centre=self.anchor)}


class Interval(Box):
    """A segment ``[low, high]`` (metres) with an anchor, e.g. a track and its reward end.

    Statistics are the box's in one dimension; the ring is the band of distances from ``anchor``.
    """

    name = "interval"

    def __init__(self, low: float, high: float, anchor: float) -> None:
        super().__init__((low,), (high,))
        if not low <= anchor <= high:
            raise ValueError(f"the anchor must lie on the interval [{low}, {high}]; got {anchor}")
        self._anchor = float(anchor)

    @property
    def anchor(self) -> tuple[float, ...]:
        return (self._anchor,)


class Circle(Geometry):
    """Angles in radians on [-π, π): wrapped steps, circular variance, von Mises KDEs."""

    name = "circle"
    unit = "rad"
    variance_unit = "rad-free circular variance (1 - R)"
    variance_label = "quiescent circular variance (1 − R, 0 to 1)"
    variance_note = "circular variance 1 − R"
    dim = 1

    periodic = True

    @property
    def frame(self) -> str:
        return "angle in rad, counter-clockwise, wrapped to [-pi, pi)"

    def difference(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return wrap(np.asarray(a) - np.asarray(b))

    def bin_edges(self, bins: int) -> list[np.ndarray]:
        """``3 · bins`` arcs of the whole circle."""
        return [np.linspace(-math.pi, math.pi, 3 * bins + 1)]

    def trajectory_variance(self, x: np.ndarray) -> np.ndarray:
        return trajectories.circular_variance(np.asarray(x)[..., 0])

    @property
    def extent(self) -> float:
        return 2 * math.pi

    def embed(self, x: np.ndarray) -> np.ndarray:
        theta = points(x)[:, 0]
        return np.stack([np.cos(theta), np.sin(theta)], axis=1)

    def unembed(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        return wrap(np.arctan2(p[:, 1], p[:, 0]))[:, None]

    def embedded_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return (-1.0, -1.0), (1.0, 1.0)

    def near(self, p: np.ndarray, tolerance: float) -> np.ndarray:
        return np.abs(np.linalg.norm(np.asarray(p, dtype=np.float64), axis=-1) - 1.0) <= tolerance

    def step_summary(self, x: np.ndarray, prefix: str) -> dict[str, float]:
        theta = np.asarray(x, dtype=np.float64)[..., 0]
        return {
            prefix: float(trajectories.wrapped_step_distance(theta).mean()),
            f"{prefix}_velocity": float(trajectories.mean_angular_velocity(theta).mean()),
        }

    def kl_table(
        self,
        quiescent: dict[str, np.ndarray],
        active: dict[str, np.ndarray],
        n_samples: int,
        seed: int,
        *,
        ratio_clip: Sequence[float] | None = None,
    ) -> tuple[dict[str, dict[str, float]], list[str]]:
        # A circle has no edges for a kernel to blur, so the von Mises KDE of a large uniform sample stands
        # for the uniform density -log 2π up to sampling error.
        uniform = np.random.default_rng(seed).uniform(-math.pi, math.pi, size=max(n_samples, 2000))
        rows = {**{row: q[:, 0] for row, q in quiescent.items()}, "uniform": uniform}
        columns = {col: a[:, 0] for col, a in active.items()}
        table, _ = circular_kl_matrix(rows, columns, n_samples, seed, ratio_clip=ratio_clip)
        return table, []  # a von Mises kernel is capped in concentration instead of jittered
