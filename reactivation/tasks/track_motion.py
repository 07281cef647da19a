"""The linear track's movement rule (the module docstring of :mod:`reactivation.tasks.linear_track`, steps 2-4)
and the constants of its time loop.

Kept apart from :mod:`reactivation.tasks.linear_track`, which draws the random numbers and steps the walk with them,
as :mod:`reactivation.tasks.walls` is for the spatial navigation task.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class TrackConstants(NamedTuple):
    """The simulation's constants as 0-dim tensors on its device: in the time loop an op with a Python scalar
    costs about twice one with a 0-dim tensor (see the spatial navigation task)."""

    half: Tensor  # H = track_length / 2, metres
    length: Tensor  # 2H = track_length, metres
    border: Tensor  # border_region, metres
    slow: Tensor  # border_slow_factor
    drift: Tensor  # drift_const, per step
    reward: Tensor  # reward_position, metres


def track_constants(
    track_length: float,
    border_region: float,
    border_slow_factor: float,
    drift_const: float,
    reward_position: float,
    device: torch.device,
    dtype: torch.dtype,
) -> TrackConstants:
    """The track's constants (metres; the factors unitless) as 0-dim tensors on ``device``."""

    def t(x: float) -> Tensor:
        return torch.tensor(x, device=device, dtype=dtype)

    return TrackConstants(
        half=t(track_length / 2),
        length=t(track_length),
        border=t(border_region),
        slow=t(border_slow_factor),
        drift=t(drift_const),
        reward=t(reward_position),
    )


def track_step(
    x: Tensor, direction: Tensor, step_length: Tensor, reverse: Tensor, k: TrackConstants, biased: bool
) -> tuple[Tensor, Tensor]:
    """One step for a batch of agents: (B,) positions (m), directions (+1 / -1), step lengths (m) and reversals
    (bool) -> the (B,) positions on the track and directions after the step; ``biased`` adds the drift."""
    # Distance to the end ahead: H - x heading right, x + H heading left.
    near = k.half - direction * x < k.border
    length = torch.where(near, step_length * k.slow, step_length)
    proposal = torch.addcmul(x, direction, length)
    if biased:
        proposal = torch.addcmul(proposal, k.reward - x, k.drift)  # drift per step, not times dt
    # Mirror at the end crossed: +H maps p to 2H - p, -H maps p to -2H - p, i.e. p -> 2 H sign(p) - p.
    reflected = proposal.abs() > k.half
    proposal = torch.where(reflected, k.length * torch.sign(proposal) - proposal, proposal)
    # A step longer than the track leaves it even after its reflection; clamping it to the far end keeps
    # every position on the track (last resort: with the default speeds a 2 m step has probability ~ exp(-7500)).
    x_next = torch.minimum(torch.maximum(proposal, -k.half), k.half)
    direction = torch.where(reflected | reverse, -direction, direction)
    return x_next, direction
