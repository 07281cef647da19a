"""Recurrent maps with the library's model interface whose zero-input step is the exact optimal denoiser of their
awake states: the ground truth that the drift and temperature analyses are checked against (docs/theory.md).

Each map's awake states lie on a curve in a plane (orthonormal q1, q2, orthogonal to (1, ..., 1)) of an
``n_rec``-dimensional state space, plus one step's recurrent noise of standard deviation s and mean m (σ/2 per unit
for ``uniform`` noise, else 0; ``uniform`` noise is not Gaussian, so there the denoiser is the Gaussian one of the
same variance, which the theory's first order uses).

- **Awake** (a non-zero input δ, the head-direction task's heading change per step): the next clean state is a
  point of the curve picked by the input's normal probability u = Φ(δ / σ_δ). The task draws δ i.i.d. from
  N(0, σ_δ²), so the clean states are i.i.d. draws of a known density, and the noisy awake states of p, that
  density convolved with the noise.
- **Zero input** (quiescence, and the analyses' one-step update f(r, x = 0)): the posterior mean of the clean
  state, ``f(h) = h − m + s² ∇ log p(h)`` (Tweedie).
- **Readout**: head-direction cell i with preferred angle μ_i reads ``cos μ_i u₁ + sin μ_i u₂``, u the plane
  coordinates of the state, so the task's top-k decoder reads the state's heading atan2(u₂, u₁).

:class:`RingDenoiser` (non-Gaussian): a ring of radius R at headings of a von Mises density π, its denoiser by
quadrature over the headings. Quiescence at noise c · s samples π^(2/c²) to first order in (s/R)²: π itself at
c = √2 (the temperature check).

:class:`LineDenoiser` (Gaussian): the line u₁ = ``offset``, u₂ = a z with z ~ N(0, 1), so p is the Gaussian
N(offset q1 + m, a² q2 q2ᵀ + s² I) and its denoiser is linear: ``f(h) = offset q1 + λ ⟨q2, h − m⟩ q2`` with
λ = a² / (a² + s²). Quiescence at noise c · s is the autoregression u₂ ← λ u₂ + c s ε, whose stationary variance
c² s² / (1 − λ²) equals the awake a² + s² at c² = (2a² + s²) / (a² + s²) (→ 2 as s / a → 0).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reactivation.models import NoisyRecurrentBase
from reactivation.models.noise import moments


class PlaneDenoiser(NoisyRecurrentBase):
    """What the ground-truth maps share (module docstring): the plane, the noise's moments, the readout and the
    awake/zero-input loop. A subclass gives the awake clean state of an input probability, the denoiser, and the
    clean state of a heading (the initial state)."""

    def __init__(self, n_rec: int, preferred: Tensor, *, sigma_rec: float, input_std: float, noise_dist: str,
                 seed: int) -> None:  # fmt: skip
        n_out = len(preferred)
        super().__init__(1, n_rec, n_out, n_out, sigma2_rec=sigma_rec**2, noise_dist=noise_dist)
        self.mean_noise, self.std_noise = moments(noise_dist, sigma_rec)
        self.input_std = float(input_std)
        # A random plane orthogonal to (1, ..., 1): uniform noise's mean then does not move the decoded heading.
        draw = torch.randn(n_rec, 2, generator=torch.Generator().manual_seed(seed))
        basis = torch.cat([torch.ones(n_rec, 1), draw], 1)
        plane = torch.linalg.qr(basis)[0][:, 1:]
        self.register_buffer("plane", plane)  # (n_rec, 2): q1, q2
        with torch.no_grad():
            self.readout.weight.copy_(torch.stack([torch.cos(preferred), torch.sin(preferred)], 1) @ plane.T)
            self.preferred = preferred.clone()

    def awake(self, u: Tensor) -> Tensor:
        """The clean state picked by the input's probability: (B,) in (0, 1) -> (B, n_rec)."""
        raise NotImplementedError

    def denoise(self, h: Tensor) -> Tensor:
        """The zero-input step f(h), the posterior mean of the clean state: (B, n_rec) -> (B, n_rec)."""
        raise NotImplementedError

    def at_heading(self, theta: Tensor) -> Tensor:
        """A clean state whose decoded heading is θ (as near as the curve allows): (B,) rad -> (B, n_rec)."""
        raise NotImplementedError

    def initial_state(self, init_code: Tensor) -> Tensor:
        """The clean state at the heading of the initial code (its population vector): (B, n_out) -> (B, n_rec)."""
        vector = init_code @ torch.stack([torch.cos(self.preferred), torch.sin(self.preferred)], 1)
        return self.at_heading(torch.atan2(vector[:, 1], vector[:, 0]))

    def _run(self, x: Tensor, h: Tensor, zeta: Tensor | None) -> Tensor:
        """x (T, B, 1) inputs, h (B, n_rec) start, zeta (T, B, n_rec) noise -> (T, B, n_rec) states."""
        states = []
        for t in range(x.shape[0]):
            delta, still = x[t, :, 0], x[t, :, 0] == 0
            if still.all():  # quiescence and the one-step update
                h = self.denoise(h)
            else:
                awake = self.awake(torch.special.ndtr(delta / self.input_std).clamp(1e-12, 1 - 1e-12))
                h = torch.where(still[:, None], self.denoise(h), awake) if still.any() else awake
            if zeta is not None:
                h = h + zeta[t]
            states.append(h)
        return torch.stack(states)


class RingDenoiser(PlaneDenoiser):
    """The optimal denoiser of noisy states on a ring (module docstring); weights are not trained.

    Args:
        n_rec: state dimension (the ring spans 2 of them).
        preferred: (n_out,) preferred angles of the head-direction cells the readout feeds, rad.
        sigma_rec: the recurrent noise's scale σ (its standard deviation s and mean m follow from ``noise_dist``).
        input_std: σ_δ, the standard deviation of the awake input (the task's dt · sigma), rad/step.
        kappa: concentration of the heading density π (0: uniform).
        radius: R, in state units.
        noise_dist: the library's recurrent noise distribution.
        n_grid: headings of the quadrature.
        seed: seed of the plane's random orientation.
    """

    def __init__(
        self,
        n_rec: int,
        preferred: Tensor,
        *,
        sigma_rec: float,
        input_std: float,
        kappa: float = 0.0,
        radius: float = 1.0,
        noise_dist: str = "gaussian",
        n_grid: int = 512,
        seed: int = 0,
    ) -> None:
        super().__init__(n_rec, preferred, sigma_rec=sigma_rec, input_std=input_std, noise_dist=noise_dist, seed=seed)
        self.radius = float(radius)
        grid = -math.pi + 2 * math.pi * (torch.arange(n_grid) + 0.5) / n_grid
        log_prior = kappa * torch.cos(grid)
        self.register_buffer("grid", grid)
        self.register_buffer("circle", torch.stack([torch.cos(grid), torch.sin(grid)], 1))  # (n_grid, 2)
        self.register_buffer("log_prior", log_prior - torch.logsumexp(log_prior, 0))
        # π's distribution function at the grid cells' edges (piecewise constant density): the quantile's knots.
        cdf = torch.cat([torch.zeros(1), torch.cumsum(self.log_prior.exp(), 0)])
        self.register_buffer("cdf", cdf / cdf[-1])

    def embed(self, theta: Tensor) -> Tensor:
        """E(θ) = R (cos θ q1 + sin θ q2): (...,) headings, rad -> (..., n_rec) clean states."""
        return self.radius * torch.stack([torch.cos(theta), torch.sin(theta)], -1) @ self.plane.T

    def quantile(self, u: Tensor) -> Tensor:
        """Q_π(u): (...,) probabilities in (0, 1) -> (...,) headings of π, rad."""
        step = 2 * math.pi / len(self.grid)
        i = torch.searchsorted(self.cdf, u.contiguous()).clamp(1, len(self.grid)) - 1
        low, width = self.cdf[i], (self.cdf[i + 1] - self.cdf[i]).clamp_min(1e-30)
        return -math.pi + step * (i + (u - low) / width)

    def awake(self, u: Tensor) -> Tensor:
        """E(θ) at θ = Q_π(u), so θ ~ π."""
        return self.embed(self.quantile(u))

    def denoise(self, h: Tensor) -> Tensor:
        """E[E(θ) | h]: the headings weighted by ``π(θ) exp(R (u₁ cos θ + u₂ sin θ) / s²)``, u the plane
        coordinates of h − m."""
        u = (h - self.mean_noise) @ self.plane  # (B, 2)
        s2 = self.std_noise**2
        w = torch.softmax(self.log_prior + (self.radius / s2) * u @ self.circle.T, dim=1)  # (B, n_grid)
        return self.radius * (w @ self.circle) @ self.plane.T  # E[(cos θ, sin θ) | h] on the ring

    def at_heading(self, theta: Tensor) -> Tensor:
        return self.embed(theta)


class LineDenoiser(PlaneDenoiser):
    """The optimal (linear) denoiser of noisy states on a line with a Gaussian density (module docstring).

    Args:
        n_rec: state dimension.
        preferred: (n_out,) preferred angles of the head-direction cells the readout feeds, rad.
        sigma_rec: the recurrent noise's scale σ.
        input_std: σ_δ, the standard deviation of the awake input, rad/step.
        spread: a, the clean states' standard deviation along the line, state units.
        offset: the line's distance from the origin along q1, state units (headings within ±π/2 of 0).
        noise_dist: the library's recurrent noise distribution.
        seed: seed of the plane's random orientation.
    """

    def __init__(
        self,
        n_rec: int,
        preferred: Tensor,
        *,
        sigma_rec: float,
        input_std: float,
        spread: float = 0.5,
        offset: float = 1.0,
        noise_dist: str = "gaussian",
        seed: int = 0,
    ) -> None:
        super().__init__(n_rec, preferred, sigma_rec=sigma_rec, input_std=input_std, noise_dist=noise_dist, seed=seed)
        self.spread, self.offset = float(spread), float(offset)
        self.shrink = self.spread**2 / (self.spread**2 + self.std_noise**2)  # λ

    def point(self, along: Tensor) -> Tensor:
        """The line's point ``offset q1 + along q2``: (B,) state units -> (B, n_rec)."""
        return self.offset * self.plane[:, 0] + along[:, None] * self.plane[:, 1]

    def awake(self, u: Tensor) -> Tensor:
        """The point at a z = a Φ⁻¹(u), so z ~ N(0, 1)."""
        return self.point(self.spread * torch.special.ndtri(u))

    def denoise(self, h: Tensor) -> Tensor:
        """``offset q1 + λ ⟨q2, h − m⟩ q2``: the clean q1 coordinate is known, the rest of the noise is removed, and
        along q2 the Gaussian posterior mean shrinks by λ."""
        return self.point(self.shrink * ((h - self.mean_noise) @ self.plane[:, 1]))

    def at_heading(self, theta: Tensor) -> Tensor:
        return self.point(self.offset * torch.tan(theta.clamp(-1.4, 1.4)))

    def matching_factor(self) -> float:
        """c at which quiescence's stationary spread along the line equals the awake one (module docstring)."""
        a2, s2 = self.spread**2, self.std_noise**2
        return math.sqrt((2 * a2 + s2) / (a2 + s2))
