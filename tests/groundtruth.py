"""A recurrent map with the library's model interface whose zero-input step is the exact optimal denoiser of its
awake states: the ground truth that the drift and temperature analyses are checked against (docs/theory.md).

The awake states lie on a ring of radius R in a plane (orthonormal q1, q2) of an ``n_rec``-dimensional state
space, at headings of a known density π, plus one step's recurrent noise: their density is
``p(h) = ∫ π(θ) N(h; m + E(θ), s² I) dθ`` with ``E(θ) = R (cos θ q1 + sin θ q2)``, s the noise's standard deviation
and m its mean (σ/2 per unit for ``uniform`` noise, else 0; ``uniform`` noise is not Gaussian, so there the
denoiser below is the Gaussian one of the same variance, which the theory's first order uses).

- **Awake** (a non-zero input δ, the head-direction task's heading change per step): the next clean state is
  E(θ) with θ = Q_π(Φ(δ / σ_δ)), π's quantile of the input's normal probability. The task draws δ i.i.d. from
  N(0, σ_δ²), so θ ~ π, independently at every step, and the noisy awake states are draws from p.
- **Zero input** (quiescence, and the analyses' one-step update f(r, x = 0)): the posterior mean of the clean
  state, ``f(h) = E[E(θ) | h] = h − m + s² ∇ log p(h)`` (Tweedie), by quadrature over ``n_grid`` headings:
  the weights of the headings are ``π(θ) exp(R (u₁ cos θ + u₂ sin θ) / s²)``, u the plane coordinates of h − m.
- **Readout**: head-direction cell i with preferred angle μ_i reads ``cos μ_i u₁ + sin μ_i u₂``, so the task's
  top-k decoder reads the state's heading atan2(u₂, u₁). The initial state is E at the initial code's heading.

With π = von Mises(κ) the heading has a prior the zero-input dynamics pull towards, so quiescence at noise c · s
samples π^(2/c²) to first order in (s/R)²: π itself at c = √2 (the temperature check).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reactivation.models import NoisyRecurrentBase
from reactivation.models.noise import moments


class RingDenoiser(NoisyRecurrentBase):
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
        n_out = len(preferred)
        super().__init__(1, n_rec, n_out, n_out, sigma2_rec=sigma_rec**2, noise_dist=noise_dist)
        self.mean_noise, self.std_noise = moments(noise_dist, sigma_rec)
        self.input_std, self.radius = float(input_std), float(radius)
        # A random plane orthogonal to (1, ..., 1): uniform noise's mean then does not move the decoded heading.
        draw = torch.randn(n_rec, 2, generator=torch.Generator().manual_seed(seed))
        basis = torch.cat([torch.ones(n_rec, 1), draw], 1)
        plane = torch.linalg.qr(basis)[0][:, 1:]
        self.register_buffer("plane", plane)  # (n_rec, 2): q1, q2
        grid = -math.pi + 2 * math.pi * (torch.arange(n_grid) + 0.5) / n_grid
        log_prior = kappa * torch.cos(grid)
        self.register_buffer("grid", grid)
        self.register_buffer("circle", torch.stack([torch.cos(grid), torch.sin(grid)], 1))  # (n_grid, 2)
        self.register_buffer("log_prior", log_prior - torch.logsumexp(log_prior, 0))
        # π's distribution function at the grid cells' edges (piecewise constant density): the quantile's knots.
        cdf = torch.cat([torch.zeros(1), torch.cumsum(self.log_prior.exp(), 0)])
        self.register_buffer("cdf", cdf / cdf[-1])
        with torch.no_grad():
            self.readout.weight.copy_(torch.stack([torch.cos(preferred), torch.sin(preferred)], 1) @ plane.T)
            self.preferred = preferred.clone()

    def embed(self, theta: Tensor) -> Tensor:
        """E(θ): (...,) headings, rad -> (..., n_rec) clean states."""
        return self.radius * torch.stack([torch.cos(theta), torch.sin(theta)], -1) @ self.plane.T

    def quantile(self, u: Tensor) -> Tensor:
        """Q_π(u): (...,) probabilities in (0, 1) -> (...,) headings of π, rad."""
        step = 2 * math.pi / len(self.grid)
        i = torch.searchsorted(self.cdf, u.contiguous()).clamp(1, len(self.grid)) - 1
        low, width = self.cdf[i], (self.cdf[i + 1] - self.cdf[i]).clamp_min(1e-30)
        return -math.pi + step * (i + (u - low) / width)

    def denoise(self, h: Tensor) -> Tensor:
        """The zero-input step f(h) = E[E(θ) | h]: (B, n_rec) -> (B, n_rec) (module docstring)."""
        u = (h - self.mean_noise) @ self.plane  # (B, 2)
        s2 = self.std_noise**2
        w = torch.softmax(self.log_prior + (self.radius / s2) * u @ self.circle.T, dim=1)  # (B, n_grid)
        return self.radius * (w @ self.circle) @ self.plane.T  # E[(cos θ, sin θ) | h] on the ring

    def initial_state(self, init_code: Tensor) -> Tensor:
        """E at the heading of the initial code (its population vector): (B, n_out) -> (B, n_rec)."""
        vector = init_code @ torch.stack([torch.cos(self.preferred), torch.sin(self.preferred)], 1)
        return self.embed(torch.atan2(vector[:, 1], vector[:, 0]))

    def _run(self, x: Tensor, h: Tensor, zeta: Tensor | None) -> Tensor:
        """x (T, B, 1) inputs, h (B, n_rec) start, zeta (T, B, n_rec) noise -> (T, B, n_rec) states."""
        states = []
        for t in range(x.shape[0]):
            delta, still = x[t, :, 0], x[t, :, 0] == 0
            if still.all():  # quiescence and the one-step update
                h = self.denoise(h)
            else:
                u = torch.special.ndtr(delta / self.input_std).clamp(1e-12, 1 - 1e-12)
                awake = self.embed(self.quantile(u))
                h = torch.where(still[:, None], self.denoise(h), awake) if still.any() else awake
            if zeta is not None:
                h = h + zeta[t]
            states.append(h)
        return torch.stack(states)
