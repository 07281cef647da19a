"""Linear track (LT): path integration of a 1-D position on a track, read out by place cells on the line.

An agent runs back and forth on a track ``[-H, H]`` (``H = track_length / 2``, metres). The network sees the
displacement per step and must report the place-cell code of the position after each step. The movement
model, simulated step by step and vectorised over the batch (t = 0..L-1, ``dt`` s per step):

1. x_0 ~ U(-H, H) (``init_pos: uniform``) or x_0 = ``reward_position`` (``init_pos: reward``); the direction
   d_0 = +1 or -1 with probability 1/2 each.
2. Step length l_t = v_t dt with speed v_t ~ Rayleigh(b) (m/s; the spatial navigation task's speed). Within
   ``border_region`` of the end the agent is heading towards (H - d_t x_t < border_region) the step is
   multiplied by ``border_slow_factor``, as the spatial navigation task slows down near a wall it heads into.
3. Proposed move x_t + d_t l_t; the biased variant adds ``drift_const * (reward_position - x_t)`` (a fraction
   per step, not times dt, as in the spatial navigation task).
4. A proposal past an end is reflected back into the track (x -> 2H - x at +H, -2H - x at -H); a step so long
   that even its reflection leaves the track (longer than the track) is clamped to the far end. Since
   ``0 <= drift_const <= 1`` keeps ``x_t + drift`` on the track, only the end the agent heads towards can be
   crossed, so a reflected agent always turns round: d_{t+1} = -d_t.
5. Otherwise the direction reverses at random, with probability 1 - exp(-turn_rate dt) per step (a Poisson
   process of reversals at ``turn_rate`` per second).

The network input is x_{t+1} - x_t, the displacement that actually happened (reflection and drift
included), so ``latent[:, k-1] = init_latent + inputs[:, :k].sum(1)`` exactly up to float rounding; the
initial state is the code of x_0 (as in the head direction task, nothing is discarded). Steps 2-4 are
:func:`~reactivation.tasks.track_motion.track_step`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from reactivation import ConfigError
from reactivation.codes import DECODE_TOP_K, PlaceCells, PopulationCode
from reactivation.geometry import Interval
from reactivation.tasks.base import Batch, CodedTask
from reactivation.tasks.track_motion import TrackConstants, track_constants, track_step

INIT_POS = ("uniform", "reward")


class TrackPositionCode(nn.Module):
    """Position "code" for ``use_place_cells: false`` on a track: the network reads and writes x directly.

    (``CartesianCode`` has 2 units, one per coordinate of the arena, so it does not fit a 1-D latent.)
    """

    n_units = 1

    def encode(self, pos: Tensor) -> Tensor:
        """(..., 1) positions, metres -> (..., 1) a copy of them."""
        return pos.clone()

    def decode(self, y: Tensor, k: int = DECODE_TOP_K) -> Tensor:
        """(..., 1) outputs -> (..., 1) positions, metres (``k`` is ignored)."""
        return y


def _check_values(
    track_length: float,
    border_region: float,
    border_slow_factor: float,
    init_pos: str,
    drift_const: float,
    reward_position: float,
    dt: float,
    b: float,
    turn_rate: float,
    sequence_length: int,
) -> None:
    """Raise ``ConfigError`` (naming the ``task.`` key, the value and what is allowed) for a bad task value."""
    if init_pos not in INIT_POS:
        raise ConfigError(f"task.init_pos must be one of {INIT_POS}, got {init_pos!r}")
    for name, value in (("track_length", track_length), ("dt", dt)):
        if not value > 0:
            raise ConfigError(f"task.{name} must be > 0, got {value}")
    for name, value in (
        ("border_region", border_region),
        ("border_slow_factor", border_slow_factor),
        ("b", b),
        ("turn_rate", turn_rate),
    ):
        if not value >= 0:
            raise ConfigError(f"task.{name} must be >= 0, got {value}")
    # A fraction of the distance to the reward per step: above 1 the drift overshoots the reward (and could
    # carry the agent past the end behind it, which the reflection rule does not expect).
    if not 0 <= drift_const <= 1:
        raise ConfigError(f"task.drift_const must be in [0, 1] (a fraction per step), got {drift_const}")
    half = track_length / 2
    if not -half <= reward_position <= half:
        raise ConfigError(
            f"task.reward_position must lie on the track [{-half}, {half}] m "
            f"(task.track_length={track_length}), got {reward_position}"
        )
    if int(sequence_length) != sequence_length or sequence_length < 1:
        raise ConfigError(f"task.sequence_length must be a positive integer, got {sequence_length}")


class LinearTrackTask(CodedTask):
    """Linear-track task (implements the ``Task`` protocol; the movement model is the module docstring's).

    Args:
        code: population code of positions (``PlaceCells`` with (n, 1) centres, or ``TrackPositionCode``),
            stored as ``self.code``.
        track_length: length 2H of the track, metres (it spans [-H, H]).
        border_region: distance from the end ahead below which the agent slows down, metres.
        border_slow_factor: speed factor applied there.
        init_pos: ``'uniform'`` (x_0 uniform on the track) or ``'reward'`` (x_0 = reward_position).
        biased: add the drift ``drift_const * (reward_position - x_t)`` to every displacement.
        drift_const: drift per step (not multiplied by dt), in [0, 1].
        reward_position: the point the drift pulls towards, metres (default: the right end of the default
            track; set it with ``track_length``).
        dt: time step, s.
        b: Rayleigh scale of the speed, m/s.
        turn_rate: rate of random reversals, 1/s.
        sequence_length: number L of network steps per trajectory.
    """

    name = "linear_track"
    error_name = "pos_mse"
    error_unit = "m²"
    n_in = 1
    latent_dim = 1
    geometry_type = Interval
    CELLS_KEY = "place_cells_num"
    CODE_DEFAULTS: ClassVar[dict[str, Any]] = {
        "use_place_cells": True,
        "place_cells_num": 128,
        "place_cells_sigma": 0.1,
        "place_cells_dog": False,
        "place_cells_surround_scale": 2.0,
    }

    def __init__(
        self,
        code: PopulationCode,
        *,
        track_length: float = 2.0,
        border_region: float = 0.03,
        border_slow_factor: float = 0.25,
        init_pos: str = "uniform",
        biased: bool = False,
        drift_const: float = 0.05,
        reward_position: float = 1.0,
        dt: float = 0.02,
        b: float = 0.8168140899333463,
        turn_rate: float = 0.5,
        sequence_length: int = 100,
    ) -> None:
        super().__init__(code)
        _check_values(
            track_length,
            border_region,
            border_slow_factor,
            init_pos,
            drift_const,
            reward_position,
            dt,
            b,
            turn_rate,
            sequence_length,
        )
        self.track_length, self.border_region = float(track_length), float(border_region)
        self.border_slow_factor = float(border_slow_factor)
        self.init_pos, self.biased, self.drift_const = init_pos, bool(biased), float(drift_const)
        self.reward_position = float(reward_position)
        self.dt, self.b, self.turn_rate = float(dt), float(b), float(turn_rate)
        self.sequence_length = int(sequence_length)
        half = self.track_length / 2
        self.geometry = Interval(low=-half, high=half, anchor=self.reward_position)

    @classmethod
    def from_config(cls, values: Mapping[str, Any], generator: torch.Generator) -> LinearTrackTask:
        """The task of a config's values (see ``Task.from_config``): place cells on the track drawn with
        ``generator`` (``use_place_cells``), else the position read out directly.

        Raises:
            ConfigError: a bad value, naming its ``task.`` key (checked before any centre is drawn).
        """
        v = values
        task_values = cls._task_values(v)
        _check_values(
            **{
                k: task_values[k]
                for k in (
                    "track_length",
                    "border_region",
                    "border_slow_factor",
                    "init_pos",
                    "drift_const",
                    "reward_position",
                    "dt",
                    "b",
                    "turn_rate",
                    "sequence_length",
                )
            }
        )
        code: PopulationCode
        if v["use_place_cells"]:
            surround = "place_cells_surround_scale" if v["place_cells_dog"] else None  # difference of Gaussians
            cls.check_cells(v, "place_cells_num", "place_cells_sigma", surround)
            half = float(v["track_length"]) / 2
            code = PlaceCells.random_on_interval(
                v["place_cells_num"],
                float(v["place_cells_sigma"]),
                -half,
                half,
                generator,
                dog=v["place_cells_dog"],
                surround_scale=float(v["place_cells_surround_scale"]),
            )
        else:
            code = TrackPositionCode()
        return cls(code, **task_values)

    @property
    def reversal_probability(self) -> float:
        """Probability of a random reversal per step, 1 - exp(-turn_rate dt)."""
        return -math.expm1(-self.turn_rate * self.dt)

    def simulate(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Simulate raw trajectories: L + 1 positions and the L displacements between them.

        All random numbers are drawn up front, one call per kind, on ``generator.device``.

        Returns:
            positions: (B, L + 1) x_0..x_L, metres, all in [-H, H].
            displacements: (B, L) x_{t+1} - x_t for t = 0..L-1, metres per step (reflection and drift included).
        """
        dev, dtype, L = generator.device, torch.get_default_dtype(), self.sequence_length
        start = torch.rand(batch_size, generator=generator, device=dev)
        dir0 = torch.rand(batch_size, generator=generator, device=dev)
        u_speed = torch.rand(batch_size, L, generator=generator, device=dev)
        u_turn = torch.rand(batch_size, L, generator=generator, device=dev)

        k = self._constants(dev, dtype)
        x = (start - 0.5) * self.track_length if self.init_pos == "uniform" else k.reward.expand(batch_size)
        direction = torch.where(dir0 < 0.5, -1.0, 1.0).to(dtype)
        # Rayleigh(b) by inverse CDF; speed * dt is the step length before any slowing down.
        step_len = self.b * self.dt * torch.sqrt(-2.0 * torch.log1p(-u_speed))
        reverse = u_turn < self.reversal_probability

        positions = [x]
        for length, rev in zip(step_len.unbind(1), reverse.unbind(1)):
            x, direction = track_step(x, direction, length, rev, k, self.biased)
            positions.append(x)
        positions_t = torch.stack(positions, dim=1)
        return positions_t, positions_t.diff(dim=1)

    def step(self, pos: Tensor, direction: Tensor, step_length: Tensor, reverse: Tensor) -> tuple[Tensor, Tensor]:
        """One step of the movement model (module docstring, 2-5) for a batch of agents; ``simulate`` repeats it.

        Args:
            pos: (B,) positions x_t, metres.
            direction: (B,) directions d_t, +1 (towards +H) or -1.
            step_length: (B,) speed * dt before any slowing down, metres.
            reverse: (B,) bool, a random reversal happens at this step (ignored where the agent is reflected).

        Returns:
            pos_next (B,) metres in [-H, H], direction_next (B,) +1 or -1.
        """
        return track_step(pos, direction, step_length, reverse, self._constants(pos.device, pos.dtype), self.biased)

    def _constants(self, device: torch.device, dtype: torch.dtype) -> TrackConstants:
        """This track's constants for :func:`~reactivation.tasks.track_motion.track_step`, on ``device``."""
        return track_constants(
            self.track_length,
            self.border_region,
            self.border_slow_factor,
            self.drift_const,
            self.reward_position,
            device,
            dtype,
        )

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw a batch: inputs x_{k} - x_{k-1} (k = 1..L), start x_0, targets the code of x_1..x_L.

        Returns:
            ``Batch`` with inputs (B, L, 1) m/step, init_code (B, n), targets (B, L, n),
            latent (B, L, 1) m, init_latent (B, 1) m.
        """
        positions, displacements = self.simulate(batch_size, generator)
        return self._batch(displacements.unsqueeze(-1), positions[:, :1], positions[:, 1:].unsqueeze(-1))

    def decoding_error(self, outputs: Tensor, latent: Tensor) -> Tensor:
        """Mean over batch and time of the squared error of the decoded position, m^2."""
        return (self.decode(outputs) - latent).square().mean()

    def extra_repr(self) -> str:
        return (
            f"track_length={self.track_length}, biased={self.biased}, init_pos={self.init_pos!r}, "
            f"reward_position={self.reward_position}, sequence_length={self.sequence_length}"
        )
