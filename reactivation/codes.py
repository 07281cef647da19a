"""Population codes: how a latent (position or heading) becomes the network's targets, and back.

Every code is a ``torch.nn.Module`` with ``encode(latent) -> code``, ``decode(code, k) -> latent`` and
``n_units``. Centres / preferred angles are registered buffers, so ``.to(device)``, ``state_dict()``
and checkpoints carry them (they are drawn once per run and must be saved with the model).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import Tensor, nn

#: Cells whose preferred values the decoders average (the most active ones); a code needs at least this many.
DECODE_TOP_K = 3

TWO_PI = 2.0 * math.pi


def wrap_angle(x: Tensor) -> Tensor:
    """Wrap angles (radians, any shape) to [-pi, pi)."""
    y = torch.remainder(x + math.pi, TWO_PI) - math.pi
    # Rounding in ``remainder`` can return exactly 2*pi for inputs just below a multiple of 2*pi,
    # which would give +pi; fold it back so the interval stays half-open.
    return torch.where(y >= math.pi, y - TWO_PI, y)


class PopulationCode(Protocol):
    """What a task asks of its code (every code here is also a ``torch.nn.Module``, so that it moves and is saved
    with the task): the number of units, ``encode`` a latent into the code, ``decode`` a code into the latent."""

    @property
    def n_units(self) -> int: ...

    def encode(self, latent: Tensor, /) -> Tensor: ...

    def decode(self, y: Tensor, k: int = DECODE_TOP_K) -> Tensor: ...


class PlaceCells(nn.Module):
    """Place-cell code: a softmax over cells of Gaussian tuning curves (docs/spec.md §2).

    ``p_i(s) = softmax_i(-||s - c_i||^2 / (2 sigma^2))``; rows sum to 1. With ``dog=True`` the code is a
    difference of Gaussians: the softmax with ``sigma`` minus the softmax with variance
    ``sigma^2 * surround_scale``, shifted per row by its minimum and renormalised so rows sum to 1
    (non-negative).

    Args:
        centres: (n, d) place-field centres, metres; d = 2 (an arena) or d = 1 (a track).
        sigma: tuning width, metres.
        dog: use the difference-of-Gaussians code.
        surround_scale: ratio of surround to centre *variance* (> 1) for the DoG code.
    """

    centres: Tensor  # (n, d) registered buffer

    def __init__(self, centres: Tensor, sigma: float, dog: bool = False, surround_scale: float = 2.0) -> None:
        super().__init__()
        centres = torch.as_tensor(centres, dtype=torch.get_default_dtype())
        if centres.ndim != 2 or centres.shape[1] not in (1, 2) or centres.shape[0] < 1:
            raise ValueError(f"centres must have shape (n, 2) or (n, 1) with n >= 1, got {tuple(centres.shape)}")
        if not sigma > 0:
            raise ValueError(f"place-cell sigma must be > 0, got {sigma}")
        if dog and not surround_scale > 1:
            raise ValueError(f"surround_scale must be > 1 (surround wider than centre), got {surround_scale}")
        self.register_buffer("centres", centres)
        self.sigma = float(sigma)
        self.dog = bool(dog)
        self.surround_scale = float(surround_scale)

    @classmethod
    def random(
        cls,
        n: int,
        sigma: float,
        box_width: float,
        box_height: float,
        generator: torch.Generator,
        dog: bool = False,
        surround_scale: float = 2.0,
    ) -> PlaceCells:
        """Draw ``n`` centres uniformly in the ``box_width`` x ``box_height`` box centred at the origin."""
        return cls._uniform(n, sigma, (box_width, box_height), (0.0, 0.0), generator, dog, surround_scale)

    @classmethod
    def random_on_interval(
        cls,
        n: int,
        sigma: float,
        low: float,
        high: float,
        generator: torch.Generator,
        dog: bool = False,
        surround_scale: float = 2.0,
    ) -> PlaceCells:
        """Draw ``n`` centres uniformly on the segment ``[low, high]`` (metres, ``high > low``): an (n, 1) code."""
        if not high > low:
            raise ValueError(f"the interval needs high > low, got [{low}, {high}]")
        return cls._uniform(n, sigma, (high - low,), ((low + high) / 2,), generator, dog, surround_scale)

    @classmethod
    def _uniform(
        cls,
        n: int,
        sigma: float,
        size: tuple[float, ...],
        centre: tuple[float, ...],
        generator: torch.Generator,
        dog: bool,
        surround_scale: float,
    ) -> PlaceCells:
        # (u - 1/2) * size + centre: with centre 0 these are exactly the box's draws of earlier versions.
        if n < 1:
            raise ValueError(f"number of place cells must be >= 1, got {n}")
        u = torch.rand(n, len(size), generator=generator, device=generator.device)
        centres = (u - 0.5) * torch.tensor(size, device=u.device, dtype=u.dtype)
        if any(centre):
            centres = centres + torch.tensor(centre, device=u.device, dtype=u.dtype)
        return cls(centres, sigma, dog=dog, surround_scale=surround_scale)

    @property
    def n_units(self) -> int:
        """Number of place cells."""
        return self.centres.shape[0]

    def encode(self, pos: Tensor) -> Tensor:
        """Encode positions.

        Args:
            pos: (..., d) positions, metres.

        Returns:
            (..., n) code; every row is non-negative and sums to 1.
        """
        flat = pos.reshape(-1, self.centres.shape[1])  # d = 2 in an arena, 1 on a track
        # -||s - c||^2 / (2 sigma^2) = (s.c - ||c||^2 / 2) / sigma^2 - ||s||^2 / (2 sigma^2); the last term is
        # the same for every cell of a row, so the softmax ignores it. One addmm gives the logits: faster than
        # torch.cdist (which also uses a matmul, then a sqrt we would undo) and ~5x faster than broadcasting.
        inv_var = 1.0 / self.sigma**2
        c = self.centres
        logits = torch.addmm(c.square().sum(-1) * (-0.5 * inv_var), flat, c.T * inv_var)
        if self.dog:
            # The surround has variance sigma^2 * surround_scale, i.e. logits / surround_scale.
            out = torch.softmax(logits, dim=-1) - torch.softmax(logits / self.surround_scale, dim=-1)
            out = out - out.min(dim=-1, keepdim=True).values
            out = out / out.sum(dim=-1, keepdim=True)
        else:
            out = torch.softmax(logits, dim=-1)
        return out.reshape(*pos.shape[:-1], self.n_units)

    def decode(self, y: Tensor, k: int = DECODE_TOP_K) -> Tensor:
        """Decode a code into positions: the mean of the centres of the ``k`` most active units.

        Args:
            y: (..., n) code (e.g. network outputs).
            k: number of most active units averaged.

        Returns:
            (..., d) positions, metres.
        """
        idx = torch.topk(y, k, dim=-1).indices
        return self.centres[idx].mean(dim=-2)

    def extra_repr(self) -> str:
        return f"n={self.n_units}, sigma={self.sigma}, dog={self.dog}, surround_scale={self.surround_scale}"


class HeadDirectionCells(nn.Module):
    """Head-direction code: von Mises tuning curves with peak 1 (docs/spec.md §3).

    ``f_i(theta) = exp(kappa (cos(theta - mu_i) - 1))``, ``kappa = 1 / angular_spread^2`` (not a
    density: the cell at the animal's heading fires at 1). Preferred angles are evenly spaced,
    ``mu_i = -pi + 2 pi i / n`` for i = 0..n-1: unlike the published code there is no duplicate
    cell at both -pi and +pi (a docs/spec.md §3 decision).

    Args:
        n: number of cells.
        angular_spread: tuning width sigma_HD, radians.
    """

    preferred: Tensor  # (n,) registered buffer

    def __init__(self, n: int, angular_spread: float) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"number of head-direction cells must be >= 1, got {n}")
        if not angular_spread > 0:
            raise ValueError(f"angular_spread must be > 0, got {angular_spread}")
        preferred = -math.pi + TWO_PI * torch.arange(n, dtype=torch.float64) / n
        self.register_buffer("preferred", preferred.to(torch.get_default_dtype()))
        self.angular_spread = float(angular_spread)
        self.kappa = 1.0 / self.angular_spread**2

    @property
    def n_units(self) -> int:
        """Number of head-direction cells."""
        return self.preferred.shape[0]

    def encode(self, angle: Tensor) -> Tensor:
        """Encode headings.

        Args:
            angle: (..., 1) headings, radians (any range).

        Returns:
            (..., n) code in (0, 1].
        """
        # cos(theta - mu) = cos theta cos mu + sin theta sin mu: one (N, 2) x (2, n) addmm gives kappa (cos - 1)
        # for every cell, instead of n cosines per heading (3x faster on a 200 x 100 x 512 batch), and the
        # exponential runs in place. Rounding can put cos a hair above 1; clamping keeps the peak at exactly 1.
        flat = angle.reshape(-1, 1)
        heading = torch.cat((torch.cos(flat), torch.sin(flat)), dim=-1)  # (N, 2)
        cells = torch.stack((torch.cos(self.preferred), torch.sin(self.preferred)))  # (2, n)
        logits = torch.addmm(heading.new_full((), -self.kappa), heading, cells * self.kappa)
        return logits.clamp_(max=0.0).exp_().reshape(*angle.shape[:-1], self.n_units)

    def decode(self, y: Tensor, k: int = DECODE_TOP_K) -> Tensor:
        """Decode a code into headings: circular mean of the preferred angles of the ``k`` most active units.

        Args:
            y: (..., n) code (e.g. network outputs).
            k: number of most active units averaged.

        Returns:
            (..., 1) headings, radians in [-pi, pi).
        """
        mu = self.preferred[torch.topk(y, k, dim=-1).indices]
        mean = torch.atan2(torch.sin(mu).mean(-1), torch.cos(mu).mean(-1))
        return wrap_angle(mean).unsqueeze(-1)

    def extra_repr(self) -> str:
        return f"n={self.n_units}, angular_spread={self.angular_spread}"


class CartesianCode(nn.Module):
    """Position "code" for ``use_place_cells: false``: the network reads and writes (x, y) directly."""

    n_units = 2

    def encode(self, pos: Tensor) -> Tensor:
        """(..., 2) positions, metres -> (..., 2) a copy of them."""
        return pos.clone()

    def decode(self, y: Tensor, k: int = DECODE_TOP_K) -> Tensor:
        """(..., 2) outputs -> (..., 2) positions, metres (``k`` is ignored)."""
        return y


class CosSinCode(nn.Module):
    """Heading code for ``use_hd_cells: false``: (cos theta, sin theta), decoded with atan2."""

    n_units = 2

    def encode(self, angle: Tensor) -> Tensor:
        """(..., 1) headings, radians -> (..., 2) (cos, sin)."""
        return torch.cat((torch.cos(angle), torch.sin(angle)), dim=-1)

    def decode(self, y: Tensor, k: int = DECODE_TOP_K) -> Tensor:
        """(..., 2) outputs -> (..., 1) headings, radians in [-pi, pi) (``k`` is ignored)."""
        return wrap_angle(torch.atan2(y[..., 1:2], y[..., 0:1]))
