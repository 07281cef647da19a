"""Trajectories from RatInABox's ``Agent`` for the spatial navigation task's ``motion: ratinabox`` (docs/ratinabox.md).

RatInABox (George et al., eLife 2024) is the optional extra ``pip install 'reactivation[ratinabox]'``. Its Agent
steps one walker at a time in Python, 0.5-0.8 ms a step on the 2-core development machine, so simulating each
training batch (200 walkers x 101 steps) would take 10-15 s. Instead a :class:`TrajectoryBank` simulates ``agents``
walkers for ``steps`` steps once, the first time a batch is drawn, and every batch is a set of windows of
consecutive positions from it, chosen with the batch's own torch generator. The bank is kept per process, keyed by
everything that makes it (:class:`BankSpec`), so rebuilding the task (an analysis loads several runs of one seed)
reuses it.

Parameter mapping (:func:`agent_params`): the Environment is a rectangle of the task's box; the Agent's ``dt`` is
the task's; ``speed_mean`` (in 2-D the Rayleigh scale of RatInABox's speed, whatever the name) is the task's ``b``;
the mean turn rate ``mu`` is the drift of RatInABox's rotational velocity. Its rotational velocity is an
Ornstein-Uhlenbeck process with coherence time tau (RatInABox's 0.08 s) where the generator draws an independent
turn rate per step, so ``rotational_velocity_std`` is chosen to give the heading the same diffusion,
2 std² tau = sigma² dt. Speed coherence (0.7 s), wall repulsion and thigmotaxis stay RatInABox's defaults: the
generator's speeds are independent per step and its wall rule (``border_region``, ``border_slow_factor``) has no
counterpart there, so those two keys do nothing under this motion.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from reactivation import ConfigError
from reactivation.values import is_positive_int

log = logging.getLogger(__name__)

#: The choices of ``task.motion``: the built-in generator (docs/spec.md §2) or RatInABox's Agent.
MOTIONS = ("generator", "ratinabox")
INSTALL = "pip install 'reactivation[ratinabox]'"
#: RatInABox's default rotational-velocity coherence time, s (kept; see :func:`agent_params`).
ROTATION_COHERENCE_TIME = 0.08
#: The Agent parameters without a counterpart in the task: RatInABox 1.15's defaults, written out so that another
#: version's defaults do not change a bank (speed coherence in s, distances in m).
KEPT_DEFAULTS = {
    "speed_coherence_time": 0.7,
    "thigmotaxis": 0.5,
    "wall_repel_distance": 0.1,
    "wall_repel_strength": 1.0,
}


def check(motion: str, agents: int, steps: int, sequence_length: int, init_pos: str) -> None:
    """Refuse a bad ``task.motion`` or bank size, and ``motion: ratinabox`` where it cannot run, before any work.

    Raises:
        ConfigError: an unknown motion; ``ratinabox_agents`` < 1; with ``ratinabox``: ``ratinabox_steps`` too short
            for a window of ``sequence_length + 2`` positions, ``init_pos: center`` (a window starts wherever the
            agent happens to be), or RatInABox not installed (the message gives the install command).
    """
    if motion not in MOTIONS:
        raise ConfigError(f"task.motion must be one of {MOTIONS}, got {motion!r}")
    if not is_positive_int(agents):
        raise ConfigError(f"task.ratinabox_agents must be a positive integer, got {agents!r}")
    if motion != "ratinabox":
        return
    if not (is_positive_int(steps) and steps >= sequence_length + 1):
        raise ConfigError(
            f"task.ratinabox_steps must be an integer >= task.sequence_length + 1 = {sequence_length + 1} (a window "
            f"holds sequence_length + 2 positions), got {steps!r}"
        )
    if init_pos != "uniform":
        raise ConfigError(
            f"task.init_pos={init_pos} needs task.motion=generator: RatInABox windows start wherever its agent is "
            "(init_pos=uniform is the choice with motion=ratinabox)"
        )
    if importlib.util.find_spec("ratinabox") is None:
        raise ConfigError(_missing())


def _missing() -> str:
    return f"task.motion=ratinabox needs the ratinabox package, which is not installed: {INSTALL}"


@dataclass(frozen=True)
class BankSpec:
    """Everything a bank's trajectories depend on (lengths in m, times in s, rates in rad/s).

    Attributes:
        box_width, box_height: the arena, centred at the origin.
        dt: time step.
        b: Rayleigh speed scale, m/s.
        mu, sigma: mean and standard deviation of the generator's turn rate.
        agents: walkers simulated.
        steps: Agent updates per walker (each walker has ``steps + 1`` positions).
        seed: seed of NumPy's global generator while RatInABox runs (restored afterwards).
    """

    box_width: float
    box_height: float
    dt: float
    b: float
    mu: float
    sigma: float
    agents: int
    steps: int
    seed: int


def agent_params(spec: BankSpec) -> dict[str, Any]:
    """RatInABox ``Agent`` parameters matched to the task's where they have a counterpart (module docstring)."""
    return {
        "dt": spec.dt,
        "speed_mean": spec.b,
        "rotational_velocity_coherence_time": ROTATION_COHERENCE_TIME,
        "rotational_velocity_std": spec.sigma * math.sqrt(spec.dt / (2 * ROTATION_COHERENCE_TIME)),
        **KEPT_DEFAULTS,
        "save_history": False,  # the positions are copied out step by step
    }


@contextlib.contextmanager
def _numpy_seeded(seed: int) -> Iterator[None]:
    # RatInABox draws from NumPy's global generator; the caller's draws must not change because a bank was built.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


@functools.lru_cache(maxsize=4)
def simulate_bank(spec: BankSpec) -> Tensor:
    """Simulate the bank's walkers (cached per process: treat the result as read-only).

    Returns:
        (agents, steps + 1, 2) float64 positions, metres, box centred at the origin; each walker starts uniformly
        in the box with a random heading (RatInABox's initialisation).

    Raises:
        ConfigError: RatInABox is not installed.
    """
    try:
        from ratinabox.Agent import Agent
        from ratinabox.Environment import Environment
    except ImportError as err:
        raise ConfigError(f"{_missing()} ({err})") from err
    began = time.perf_counter()
    positions = np.empty((spec.agents, spec.steps + 1, 2))
    with _numpy_seeded(spec.seed):
        env = Environment(
            params={"dimensionality": "2D", "scale": spec.box_height, "aspect": spec.box_width / spec.box_height}
        )
        for walker in positions:
            agent = Agent(env, params=agent_params(spec))
            walker[0] = agent.pos
            for t in range(1, spec.steps + 1):
                agent.update(rotational_velocity_drift=spec.mu)
                walker[t] = agent.pos
    log.info(
        "RatInABox trajectory bank: %d agents x %d steps in %.1f s",
        spec.agents,
        spec.steps,
        time.perf_counter() - began,
    )
    return torch.from_numpy(positions - [spec.box_width / 2, spec.box_height / 2])


class TrajectoryBank:
    """Windows of RatInABox trajectories for a task's batches; simulated on first use (:func:`simulate_bank`).

    Args:
        spec: what the bank is simulated from.
    """

    def __init__(self, spec: BankSpec) -> None:
        self.spec = spec
        self._placed: dict[tuple[torch.device, torch.dtype], Tensor] = {}

    def positions(self, device: torch.device, dtype: torch.dtype) -> Tensor:
        """The bank, (agents, steps + 1, 2) metres, on ``device`` in ``dtype`` (a copy kept per device)."""
        key = (torch.device(device), dtype)
        if key not in self._placed:
            self._placed[key] = simulate_bank(self.spec).to(device=device, dtype=dtype)
        return self._placed[key]

    def simulate(
        self, batch_size: int, n_steps: int, generator: torch.Generator, anchor: Sequence[float], drift: float | None
    ) -> tuple[Tensor, Tensor]:
        """Draw ``batch_size`` windows of ``n_steps + 1`` consecutive positions (a uniform walker, then a uniform
        start among its windows, both drawn with ``generator`` on its device).

        Args:
            anchor: (x, y) the drift pulls towards, metres.
            drift: ``None`` (unbiased), or the fraction of (anchor - pos_t) added to every step, as the generator's
                ``biased`` does. The drifted path starts at the window's first position and is its cumulative sum,
                so RatInABox's walls acted on the undrifted path only (drifted positions may leave the box).

        Returns:
            positions (B, n_steps + 1, 2) metres and displacements (B, n_steps, 2) metres per step, with
            ``positions[:, t + 1] = positions[:, t] + displacements[:, t]`` up to rounding.
        """
        dev = generator.device
        bank = self.positions(dev, torch.get_default_dtype())
        agent = torch.randint(bank.shape[0], (batch_size, 1), generator=generator, device=dev)
        start = torch.randint(bank.shape[1] - n_steps, (batch_size, 1), generator=generator, device=dev)
        path = bank[agent, start + torch.arange(n_steps + 1, device=dev)]
        if drift is None:
            return path, path.diff(dim=1)
        return drifted(path, torch.tensor(anchor, device=dev, dtype=path.dtype), drift)


def drifted(path: Tensor, anchor: Tensor, drift: float) -> tuple[Tensor, Tensor]:
    """A path's steps with ``drift * (anchor - pos_t)`` added to each, from the path's first position.

    Args:
        path: (B, n + 1, 2) positions, metres.
        anchor: (2,) metres.
        drift: fraction per step (not times dt).

    Returns:
        positions (B, n + 1, 2) metres and displacements (B, n, 2) metres per step.
    """
    pos = path[:, 0]
    positions, displacements = [pos], []
    for step in path.diff(dim=1).unbind(1):
        disp = step + drift * (anchor - pos)
        pos = pos + disp
        positions.append(pos)
        displacements.append(disp)
    return torch.stack(positions, dim=1), torch.stack(displacements, dim=1)
