"""Finding and loading the training runs an analysis reads.

Each condition of an analysis is the run that ``train.py config=<preset> seed=<seed> <overrides>`` trains under
the results root; runs are matched by reading their saved ``config.yaml``, never by formatting directory names,
and a run that is missing, incomplete or lacks the checkpoint asked for is an error giving the command that
trains it.
"""

from __future__ import annotations

import functools
import logging
import shlex
from pathlib import Path

from omegaconf import OmegaConf

from reactivation import ReactivationError, runs, usage
from reactivation.analysis.settings import PRESET_NOISE, Settings
from reactivation.config import ADDED_KEYS, RUNTIME_KEYS, absolute, compose_train, leaves
from reactivation.loading import Setup, load_run

log = logging.getLogger(__name__)

# Sizes resolved from the task are null in a composed config; the rest do not change what is trained.
_RUNTIME_KEYS = {*RUNTIME_KEYS, "rnn.n_out", "rnn.n_init"}


def train_command(preset: str, seed: int, overrides: list[str], root: Path) -> str:
    """The command that trains the run these arguments describe, spelt as this process was started
    (``python train.py ...`` or ``reactivation train ...``: :func:`reactivation.usage.command`)."""
    default_root = compose_train([f"config={preset}", f"seed={seed}", *overrides]).path  # the scale's
    extra = [] if absolute(root) == absolute(default_root) else [f"path={root}"]
    return " ".join(
        [usage.command("train"), f"config={preset}", f"seed={seed}", *map(shlex.quote, [*overrides, *extra])]
    )


def find_run(root: Path, preset: str, seed: int, overrides: list[str], epoch: int | None) -> Path:
    """Find the run trained with ``train.py config=<preset> seed=<seed> <overrides>`` under ``root``.

    Runs are matched by reading their saved ``config.yaml``, never by formatting directory names.

    Raises:
        ReactivationError: no such run, an incomplete one, or one without the requested checkpoint;
            the message gives the command that trains it.
    """
    expected = leaves(
        OmegaConf.to_container(compose_train([f"config={preset}", f"seed={seed}", *overrides]), resolve=True)
    )
    wanted = {k: v for k, v in expected.items() if k not in _RUNTIME_KEYS}
    matches: list[Path] = []
    near: list[str] = []  # runs of the preset and seed with other settings, and what differs
    for run_dir, config in runs.iter_runs(root):
        flat = {**ADDED_KEYS, **leaves(config)}  # a run saved before a key existed was trained with its value
        if config.get("preset") != preset or config.get("seed") != seed:
            continue
        differing = [f"{k}={flat.get(k)!r}" for k, v in wanted.items() if flat.get(k) != v]
        if differing:
            near.append(f"{run_dir} (has {', '.join(differing)})")
        else:
            matches.append(run_dir)
    command = train_command(preset, seed, overrides, root)
    if not matches:
        hint = (
            (
                "\nRuns of that preset and seed with other settings (select them with train_overrides=[...]):\n  "
                + "\n  ".join(near)
            )
            if near
            else ""
        )
        raise ReactivationError(
            f"no trained run of {preset} with seed {seed} under {root}/. Train it with:\n  {command}{hint}"
        )
    if len(matches) > 1:
        log.warning("%d identical runs of %s seed %d; using %s", len(matches), preset, seed, matches[0])
    run_dir, steps = matches[0], runs.checkpoint_steps(matches[0])
    n_steps = expected["trainer.n_epochs"]
    if epoch is None and (not steps or steps[-1] < n_steps):
        done = steps[-1] if steps else 0
        raise ReactivationError(
            f"the run {run_dir} is incomplete ({done} of {n_steps} steps). Finish it with:\n  {command}"
        )
    if epoch is not None and epoch not in steps:
        raise ReactivationError(f"the run {run_dir} has no checkpoint at epoch={epoch}; available: {steps}.")
    return run_dir


_NOISE_DIST = "rnn.noise_dist="
_SIGMAS = ("sigma2_in", "sigma2_rec", "sigma2_out")


@functools.lru_cache(maxsize=256)
def _trained_noise(preset: str, overrides: tuple[str, ...]) -> tuple[bool, str]:
    """Whether ``preset`` with ``overrides`` trains without any noise, and its noise distribution."""
    rnn = compose_train([f"config={preset}", "seed=0", *overrides]).rnn
    return all(rnn[k] == 0 for k in _SIGMAS), str(rnn.noise_dist)


def run_overrides(s: Settings, condition: str) -> list[str]:
    """The ``train.py`` overrides of a condition's run: ``train_overrides``, the scale and, if not the preset's,
    the noise.

    A network trained without noise does not depend on the noise distribution (every draw is scaled by zero and
    the noise has its own random stream), so ``rnn.noise_dist`` is left out of its overrides: the noise-free runs
    of the default distribution serve every variant, and :func:`load_condition` gives them the family's
    distribution for the quiescent phase.
    """
    overrides = list(s.cfg.train_overrides)
    if s.cfg.scale != "paper":
        overrides.append(f"scale={s.cfg.scale}")
    if condition.startswith("noisy") and s.noise != PRESET_NOISE[s.task]:
        overrides.append(f"rnn.sigma2_rec={s.noise}")
    if _trained_noise(s.conditions[condition], tuple(overrides))[0]:
        overrides = [o for o in overrides if not o.startswith(_NOISE_DIST)]
    return overrides


def family_noise_dist(s: Settings) -> str:
    """The noise distribution the family's noisy conditions are trained with (``train_overrides`` included)."""
    for condition, preset in s.conditions.items():
        noise_free, dist = _trained_noise(preset, tuple(run_overrides(s, condition)))
        if not noise_free:
            return dist
    return _trained_noise(next(iter(s.conditions.values())), tuple(s.cfg.train_overrides))[1]


def load_condition(s: Settings, run_dir: Path) -> Setup:
    """Load a condition's run at ``s``'s epoch and device; a network trained without noise gets the family's
    noise distribution, which its quiescent phase then draws from (as the noisy networks' does)."""
    setup = load_run(run_dir, s.cfg.epoch, s.cfg.device)
    if setup.model.sigma_in == setup.model.sigma_rec == setup.model.sigma_out == 0:
        setup.model.noise_dist = family_noise_dist(s)
    return setup


def family_runs(s: Settings, seeds: list[int]) -> dict[str, dict[int, Path | ReactivationError]]:
    """The run of every condition of ``s``'s family for every seed, or why there is none.

    The one family x condition x seed lookup (reproduce's training and report, the figures' inventory).

    Returns:
        ``{condition: {seed: run directory, or the ReactivationError of :func:`find_run` (with the command)}}``.
    """
    root = Path(s.cfg.path)
    found: dict[str, dict[int, Path | ReactivationError]] = {}
    for condition, preset in s.conditions.items():
        found[condition] = {}
        for seed in seeds:
            try:
                found[condition][seed] = find_run(root, preset, seed, run_overrides(s, condition), s.cfg.epoch)
            except ReactivationError as err:
                found[condition][seed] = err
    return found


def load_conditions(s: Settings) -> dict[str, tuple[Path, Setup]]:
    """Find and load the run of every condition of ``s`` (all found before any is simulated)."""
    root = Path(s.cfg.path)
    found = {
        name: find_run(root, preset, s.seed, run_overrides(s, name), s.cfg.epoch)
        for name, preset in s.conditions.items()
    }
    return {name: (run_dir, load_condition(s, run_dir)) for name, run_dir in found.items()}
