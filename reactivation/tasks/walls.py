"""The built-in generator's wall-avoidance rule (docs/spec.md §2, step 3) and the constants of its time loop.

Kept apart from :mod:`reactivation.tasks.spatial_navigation`, which steps the walk with them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor


class _Constants(NamedTuple):
    """The simulation's constants as tensors on its device: in the time loop, an op with a Python scalar
    costs about twice one with a 0-dim tensor (~7 vs ~3.5 us on a batch of 200)."""

    half: Tensor  # (2,) half width, half height, metres
    anchor: Tensor  # (2,) drift target, metres
    normal_minus_pi: Tensor  # (4,) outward normal angle of right, top, left, bottom, minus pi
    border: Tensor  # () border_region, metres
    slow: Tensor  # () border_slow_factor
    drift: Tensor  # () drift_const
    pi: Tensor
    half_pi: Tensor
    two_pi: Tensor
    zero: Tensor


def _constants(
    box_width: float,
    box_height: float,
    border_region: float,
    border_slow_factor: float = 1.0,
    drift_const: float = 0.0,
    anchor_point: Sequence[float] = (0.0, 0.0),
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> _Constants:
    def t(x: Any) -> Tensor:
        return torch.tensor(x, device=device, dtype=dtype or torch.get_default_dtype())

    return _Constants(
        half=t([box_width / 2, box_height / 2]),
        anchor=t([float(x) for x in anchor_point]),
        normal_minus_pi=t([-math.pi, -math.pi / 2, 0.0, math.pi / 2]),
        border=t(border_region),
        slow=t(border_slow_factor),
        drift=t(drift_const),
        pi=t(math.pi),
        half_pi=t(math.pi / 2),
        two_pi=t(2 * math.pi),
        zero=t(0.0),
    )


def _avoid_walls(pos: Tensor, heading: Tensor, k: _Constants) -> tuple[Tensor, Tensor]:
    # Distances to the right, top, left, bottom walls: (hw - x, hh - y, x + hw, y + hh); negative past a wall.
    dists = torch.cat((k.half - pos, pos + k.half), dim=-1)
    # argmin returns the first index on ties, hence the order above. (Not ``min(dim=-1)``: with 2 threads
    # that call took ~7 ms on a (200, 4) tensor here, ~1000x argmin + amin.)
    wall = dists.argmin(dim=-1)
    # a = wrap(hd - normal) in [-pi, pi). ``remainder`` may round up to 2 pi, giving a = +pi instead of -pi;
    # both mean "heading away from the wall", so the rule below is unaffected.
    a = torch.remainder(heading - k.normal_minus_pi[wall], k.two_pi) - k.pi
    near = (dists.amin(dim=-1) < k.border) & (a.abs() < k.half_pi)
    # sign(a) (pi/2 - |a|) == sign(a) pi/2 - a, and is 0 at a = 0 either way.
    turn = torch.where(near, torch.sign(a) * k.half_pi - a, k.zero)
    return near, turn


def avoid_walls(
    pos: Tensor, heading: Tensor, box_width: float = 2.2, box_height: float = 2.2, border_region: float = 0.03
) -> tuple[Tensor, Tensor]:
    """Wall-avoidance rule of docs/spec.md §2, step 3 (the code path the generator uses).

    The nearest wall is found among right, top, left, bottom (in that order, so the first wins a tie);
    a position past a wall has a negative distance and so counts as near. A walker near a wall and heading
    towards it (|a| < pi/2, a = wrap(heading - the wall's outward normal angle)) turns to run parallel to
    it: turn = sign(a) (pi/2 - |a|). (A heading exactly along the normal, a = 0, gets no turn, as the
    formula says; it has probability zero.)

    Args:
        pos: (B, 2) positions, metres (box centred at the origin).
        heading: (B,) headings, radians (any range).
        box_width: arena width, metres.
        box_height: arena height, metres.
        border_region: distance from a wall below which the rule applies, metres.

    Returns:
        near: (B,) bool, the rule applied (the caller slows these walkers down).
        turn: (B,) heading change from the rule, radians (0 where not near).
    """
    return _avoid_walls(
        pos, heading, _constants(box_width, box_height, border_region, device=pos.device, dtype=pos.dtype)
    )
