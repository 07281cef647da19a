"""Head direction (HD): path integration of a 1-D heading on the circle (docs/spec.md §3).

The heading performs a random walk with i.i.d. Gaussian angular velocities (biased variant: every turn
counter-clockwise, ``|dt * omega|``). The network sees the heading change per step and must report the
head-direction-cell code of the heading after each step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from reactivation import ConfigError
from reactivation.codes import CosSinCode, HeadDirectionCells, PopulationCode, wrap_angle
from reactivation.geometry import Circle
from reactivation.tasks.base import Batch, CodedTask

INIT_HD = ("uniform", "zero")


class HeadDirectionTask(CodedTask):
    """Head-direction task (implements the ``Task`` protocol; all defaults are docs/spec.md §3's).

    Args:
        code: population code of headings (``HeadDirectionCells`` or ``CosSinCode``), stored as ``self.code``.
        init_hd: ``'uniform'`` (hd_0 ~ U(0, 2 pi), wrapped) or ``'zero'`` (hd_0 = 0).
        biased: use ``|dt * omega_t|`` as the heading change (all turns counter-clockwise).
        dt: time step, s.
        mu: mean of the angular velocity omega, rad/s.
        sigma: standard deviation of the angular velocity omega, rad/s.
        sequence_length: number L of network steps per trajectory.
    """

    name = "head_direction"
    error_name = "hd_mse"
    error_unit = "rad²"
    n_in = 1
    geometry_type = Circle
    latent_dim = 1
    CELLS_KEY = "hd_cells_num"
    CODE_DEFAULTS: ClassVar[dict[str, Any]] = {
        "use_hd_cells": True,
        "hd_cells_num": 512,
        "hd_cells_angular_spread": math.pi / 6,
    }
    geometry = Circle()

    def __init__(
        self,
        code: PopulationCode,
        *,
        init_hd: str = "uniform",
        biased: bool = False,
        dt: float = 0.02,
        mu: float = 0.0,
        sigma: float = 11.52,
        sequence_length: int = 100,
    ) -> None:
        super().__init__(code)
        if init_hd not in INIT_HD:
            raise ConfigError(f"task.init_hd must be one of {INIT_HD}, got {init_hd!r}")
        if not dt > 0:
            raise ConfigError(f"task.dt must be > 0, got {dt}")
        if not sigma >= 0:
            raise ConfigError(f"task.sigma must be >= 0, got {sigma}")
        if int(sequence_length) != sequence_length or sequence_length < 1:
            raise ConfigError(f"task.sequence_length must be a positive integer, got {sequence_length}")
        self.init_hd, self.biased = init_hd, bool(biased)
        self.dt, self.mu, self.sigma = float(dt), float(mu), float(sigma)
        self.sequence_length = int(sequence_length)

    @classmethod
    def from_config(cls, values: Mapping[str, Any], generator: torch.Generator) -> HeadDirectionTask:
        """The task of a config's values (see ``Task.from_config``): head-direction cells (``use_hd_cells``),
        else (cos, sin) read out directly. ``generator`` is unused (the preferred angles are evenly spaced)."""
        v = values
        code: PopulationCode
        if v["use_hd_cells"]:
            cls.check_cells(v, "hd_cells_num", "hd_cells_angular_spread")
            code = HeadDirectionCells(v["hd_cells_num"], float(v["hd_cells_angular_spread"]))
        else:
            code = CosSinCode()
        return cls(code, **cls._task_values(v))

    def simulate(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Simulate raw headings.

        Returns:
            headings: (B, L + 1) hd_0..hd_L, radians wrapped to [-pi, pi).
            deltas: (B, L) heading change of each step hd_{t-1} -> hd_t, radians per step (unwrapped).
        """
        dev, L = generator.device, self.sequence_length
        u0 = torch.rand(batch_size, 1, generator=generator, device=dev)
        omega = torch.randn(batch_size, L, generator=generator, device=dev)
        hd0 = wrap_angle(u0 * (2 * math.pi)) if self.init_hd == "uniform" else torch.zeros_like(u0)
        deltas = self.dt * (self.mu + self.sigma * omega)
        if self.biased:
            deltas = deltas.abs()
        # Cumulative sums stay small (|sum| ~ 0.23 sqrt(L) rad unbiased, 0.18 L biased), so float32 is exact
        # enough; wrap once at the end.
        headings = wrap_angle(torch.cat((hd0, hd0 + torch.cumsum(deltas, dim=1)), dim=1))
        return headings, deltas

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw a batch: inputs delta_1..delta_L, start hd_0, targets the code of hd_1..hd_L.

        Returns:
            ``Batch`` with inputs (B, L, 1) rad/step, init_code (B, n), targets (B, L, n),
            latent (B, L, 1) rad in [-pi, pi), init_latent (B, 1) rad.
        """
        headings, deltas = self.simulate(batch_size, generator)
        init_latent = headings[:, :1]
        latent = headings[:, 1:].unsqueeze(-1)
        return self._batch(deltas.unsqueeze(-1), init_latent, latent)

    def decoding_error(self, outputs: Tensor, latent: Tensor) -> Tensor:
        """Mean squared *wrapped* angular error of the decoded heading, rad^2."""
        return wrap_angle(self.decode(outputs) - latent).square().mean()

    def extra_repr(self) -> str:
        return f"biased={self.biased}, init_hd={self.init_hd!r}, sequence_length={self.sequence_length}"
