"""Spatial navigation (SN): path integration of 2-D positions in a square arena (docs/spec.md §2).

A batch of random-walk trajectories (Rayleigh speeds, Gaussian turn rates, a wall-avoidance rule and an
optional drift towards an anchor) is simulated step by step, vectorised over the batch. The network sees
the displacements and must report the place-cell code of the position after each step. With ``motion: ratinabox``
the trajectories are windows of RatInABox's Agent instead (:mod:`reactivation.tasks.ratinabox_motion`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from reactivation import ConfigError
from reactivation.codes import CartesianCode, PlaceCells, PopulationCode
from reactivation.geometry import Box
from reactivation.tasks import ratinabox_motion
from reactivation.tasks.base import Batch, CodedTask
from reactivation.tasks.walls import _avoid_walls, _Constants, _constants

INIT_POS = ("uniform", "center")


class SpatialNavigationTask(CodedTask):
    """Spatial-navigation task (implements the ``Task`` protocol; all defaults are docs/spec.md §2's).

    Args:
        code: population code of positions (``PlaceCells`` or ``CartesianCode``), stored as ``self.code``.
        bank_seed: seed of the RatInABox trajectory bank (``motion: ratinabox``; not a config key: ``from_config``
            draws it from the centres' generator, so it follows the run's seed).
        box_width: arena width, metres (centred at the origin).
        box_height: arena height, metres.
        border_region: wall-avoidance distance, metres.
        border_slow_factor: speed factor applied near a wall.
        init_pos: ``'uniform'`` (pos_0 uniform in the box) or ``'center'`` (pos_0 = anchor_point).
        biased: add the drift ``drift_const * (anchor_point - pos_t)`` to every displacement.
        drift_const: drift per step (not multiplied by dt).
        anchor_point: (x, y) the drift pulls towards, metres.
        dt: time step, s.
        mu: mean of the random turn rate, rad/s.
        sigma: standard deviation of the random turn rate, rad/s.
        b: Rayleigh scale of the speed, m/s.
        sequence_length: number L of network steps per trajectory.
        motion: ``'generator'`` (the walk above) or ``'ratinabox'``: windows of a bank of RatInABox trajectories
            (``reactivation.tasks.ratinabox_motion``, docs/ratinabox.md), which ignores ``border_region`` and
            ``border_slow_factor`` and maps ``b``, ``mu``, ``sigma`` and ``dt`` to its Agent's parameters.
        ratinabox_agents: walkers in the bank.
        ratinabox_steps: steps per walker in the bank (at least L + 1).
    """

    name = "spatial_navigation"
    error_name = "pos_mse"
    error_unit = "m²"
    n_in = 2
    geometry_type = Box
    latent_dim = 2
    CELLS_KEY = "place_cells_num"
    CODE_DEFAULTS: ClassVar[dict[str, Any]] = {
        "use_place_cells": True,
        "place_cells_num": 512,
        "place_cells_sigma": 0.2,
        "place_cells_dog": False,
        "place_cells_surround_scale": 2.0,
    }

    def __init__(
        self,
        code: PopulationCode,
        bank_seed: int = 0,
        *,
        box_width: float = 2.2,
        box_height: float = 2.2,
        border_region: float = 0.03,
        border_slow_factor: float = 0.25,
        init_pos: str = "uniform",
        biased: bool = False,
        drift_const: float = 0.05,
        anchor_point: Sequence[float] = (0.0, 0.0),
        dt: float = 0.02,
        mu: float = 0.0,
        sigma: float = 11.52,
        b: float = 0.8168140899333463,
        sequence_length: int = 100,
        motion: str = "generator",
        ratinabox_agents: int = 20,
        ratinabox_steps: int = 2000,
    ) -> None:
        super().__init__(code)
        if init_pos not in INIT_POS:
            raise ConfigError(f"task.init_pos must be one of {INIT_POS}, got {init_pos!r}")
        if len(anchor_point) != 2:
            raise ConfigError(f"task.anchor_point must be [x, y], got {anchor_point!r}")
        for name, value in (("box_width", box_width), ("box_height", box_height), ("dt", dt), ("b", b)):
            if not value > 0:
                raise ConfigError(f"task.{name} must be > 0, got {value}")
        for name, value in (
            ("border_region", border_region),
            ("border_slow_factor", border_slow_factor),
            ("sigma", sigma),
        ):
            if not value >= 0:
                raise ConfigError(f"task.{name} must be >= 0, got {value}")
        if int(sequence_length) != sequence_length or sequence_length < 1:
            raise ConfigError(f"task.sequence_length must be a positive integer, got {sequence_length}")
        ratinabox_motion.check(motion, ratinabox_agents, ratinabox_steps, sequence_length, init_pos)
        self.box_width, self.box_height = float(box_width), float(box_height)
        self.border_region, self.border_slow_factor = float(border_region), float(border_slow_factor)
        self.init_pos, self.biased, self.drift_const = init_pos, bool(biased), float(drift_const)
        self.anchor_point = (float(anchor_point[0]), float(anchor_point[1]))
        self.dt, self.mu, self.sigma, self.b = float(dt), float(mu), float(sigma), float(b)
        self.sequence_length = int(sequence_length)
        self.geometry = Box((-self.box_width / 2, -self.box_height / 2), (self.box_width / 2, self.box_height / 2))
        self.motion = motion
        self.bank: ratinabox_motion.TrajectoryBank | None = None
        if motion == "ratinabox":
            walk = (self.box_width, self.box_height, self.dt, self.b, self.mu, self.sigma)
            spec = ratinabox_motion.BankSpec(*walk, ratinabox_agents, ratinabox_steps, int(bank_seed))
            self.bank = ratinabox_motion.TrajectoryBank(spec)

    @classmethod
    def from_config(cls, values: Mapping[str, Any], generator: torch.Generator) -> SpatialNavigationTask:
        """The task of a config's values (see ``Task.from_config``): place cells drawn with ``generator``
        (``use_place_cells``), else the (x, y) read out directly; then, for ``motion: ratinabox``, the bank's seed."""
        v = values
        code: PopulationCode
        if v["use_place_cells"]:
            surround = "place_cells_surround_scale" if v["place_cells_dog"] else None  # difference of Gaussians
            cls.check_cells(v, "place_cells_num", "place_cells_sigma", surround)
            code = PlaceCells.random(
                v["place_cells_num"],
                float(v["place_cells_sigma"]),
                float(v["box_width"]),
                float(v["box_height"]),
                generator,
                dog=v["place_cells_dog"],
                surround_scale=float(v["place_cells_surround_scale"]),
            )
        else:
            code = CartesianCode()
        # Drawn after the centres, so that a seed's place cells are the same under either motion.
        seed = int(torch.randint(2**31, (), generator=generator)) if v["motion"] == "ratinabox" else 0
        return cls(code, seed, **cls._task_values(v))

    def simulate(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Simulate raw trajectories: L + 2 positions and the L + 1 displacements between them.

        All random numbers are drawn up front, one call per kind, on ``generator.device``; ``motion: ratinabox``
        draws windows of its bank instead (:meth:`ratinabox_motion.TrajectoryBank.simulate`).

        Returns:
            positions: (B, L + 2, 2) pos_0..pos_{L+1}, metres.
            displacements: (B, L + 1, 2) pos_{t+1} - pos_t for t = 0..L, metres per step (drift included).
        """
        n_steps = self.sequence_length + 1
        if self.bank is not None:
            return self.bank.simulate(
                batch_size, n_steps, generator, self.anchor_point, self.drift_const if self.biased else None
            )
        dev, dtype = generator.device, torch.get_default_dtype()
        start = torch.rand(batch_size, 2, generator=generator, device=dev)
        heading0 = torch.rand(batch_size, generator=generator, device=dev)
        u_speed = torch.rand(batch_size, n_steps, generator=generator, device=dev)
        turn_rate = torch.randn(batch_size, n_steps, generator=generator, device=dev)

        k = self._constants(dev, dtype)
        pos = (start - 0.5) * (2 * k.half) if self.init_pos == "uniform" else k.anchor.expand(batch_size, 2)
        heading = heading0 * (2 * math.pi)
        # Rayleigh(b) by inverse CDF; speed * dt is the step length before any slowing down.
        step_len = self.b * self.dt * torch.sqrt(-2.0 * torch.log1p(-u_speed))
        turn_noise = self.dt * (self.mu + self.sigma * turn_rate)

        positions, displacements = [pos], []
        for length, turn in zip(step_len.unbind(1), turn_noise.unbind(1)):
            pos, heading, disp = self._step(pos, heading, length, turn, k)
            positions.append(pos)
            displacements.append(disp)
        return torch.stack(positions, dim=1), torch.stack(displacements, dim=1)

    def step(
        self, pos: Tensor, heading: Tensor, step_length: Tensor, random_turn: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One step of the generator (docs/spec.md §2 steps 3-7) for a batch of walkers; ``simulate`` repeats it.

        Args:
            pos: (B, 2) positions pos_t, metres.
            heading: (B,) headings hd_t, radians.
            step_length: (B,) speed * dt before any slowing down, metres.
            random_turn: (B,) dt * random turn rate, radians.

        Returns:
            pos_next (B, 2) metres, heading_next (B,) radians (not wrapped), displacement (B, 2) metres.
        """
        return self._step(pos, heading, step_length, random_turn, self._constants(pos.device, pos.dtype))

    def _constants(self, device: torch.device, dtype: torch.dtype) -> _Constants:
        return _constants(
            self.box_width,
            self.box_height,
            self.border_region,
            self.border_slow_factor,
            self.drift_const,
            self.anchor_point,
            device=device,
            dtype=dtype,
        )

    def _step(
        self, pos: Tensor, heading: Tensor, step_length: Tensor, random_turn: Tensor, k: _Constants
    ) -> tuple[Tensor, Tensor, Tensor]:
        near, turn = _avoid_walls(pos, heading, k)
        length = torch.where(near, step_length * k.slow, step_length)
        # The displacement uses the heading *before* this step's turn. length * (cos, sin) via one complex
        # op: 8 us against 27 us for cos, sin, stack and multiply on a batch of 200.
        disp = torch.view_as_real(torch.polar(length, heading))
        if self.biased:
            disp = torch.addcmul(disp, k.anchor - pos, k.drift)  # drift per step, not times dt
        # No clipping: about 1 % of positions overshoot a wall by a few cm, as in the published code.
        return pos + disp, heading + turn + random_turn, disp

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw a batch: inputs x_k = displacement_k (k = 1..L), start pos_1, targets the code of pos_2..pos_{L+1}.

        The first displacement is discarded, so ``latent[:, k-1] = init_latent + inputs[:, :k].sum(1)``.

        Returns:
            ``Batch`` with inputs (B, L, 2) m/step, init_code (B, n), targets (B, L, n),
            latent (B, L, 2) m, init_latent (B, 2) m.
        """
        positions, displacements = self.simulate(batch_size, generator)
        init_latent = positions[:, 1]
        latent = positions[:, 2:]
        return self._batch(displacements[:, 1:], init_latent, latent)

    def decoding_error(self, outputs: Tensor, latent: Tensor) -> Tensor:
        """Mean over batch, time and the 2 coordinates of the squared error of the decoded position, m^2."""
        return (self.decode(outputs) - latent).square().mean()

    def extra_repr(self) -> str:
        return (
            f"box={self.box_width}x{self.box_height}, biased={self.biased}, init_pos={self.init_pos!r}, "
            f"sequence_length={self.sequence_length}, motion={self.motion!r}"
        )
