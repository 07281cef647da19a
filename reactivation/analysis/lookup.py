"""Finding and loading the training runs an analysis reads.

Each condition of an analysis is the run that ``train.py config=<preset> seed=<seed> <overrides>`` trains under
the results root; runs are matched by reading their saved ``config.yaml``, never by formatting directory names,
and a run that is missing, incomplete or lacks the checkpoint asked for is an error saying what to do: the command
that trains or finishes it, or, where that command would not (the run diverged, is being trained now, lost its
``resume.pt``, or its ``config.yaml`` is damaged), what does.
"""

from __future__ import annotations

import functools
import logging
import os
import shlex
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from reactivation import ReactivationError, runs, usage
from reactivation.analysis.settings import PRESET_NOISE, Settings
from reactivation.config import PRESETS_ENV, absolute, compose_train, is_runtime_key, leaves, with_added_keys
from reactivation.loading import Setup, load_run
from reactivation.training import RESUME_KEYS, divergence_advice

log = logging.getLogger(__name__)

# Sizes resolved from the task are null in a composed config; the rest do not change what is trained.
_SIZES_OF_TASK = ("rnn.n_out", "rnn.n_init")
_NOISE_DIST = "rnn.noise_dist"
_SIGMAS = ("sigma2_in", "sigma2_rec", "sigma2_out")


def _expected(preset: str, seed: int, overrides: list[str]) -> dict[str, Any]:
    """The resolved training config of ``train.py config=<preset> seed=<seed> <overrides>``, flat (``rnn.n_rec``:
    value). Read only: it is shared by every lookup of the same run in this process (:func:`_composed`)."""
    return _composed(preset, seed, tuple(overrides), os.environ.get(PRESETS_ENV, ""))


@functools.lru_cache(maxsize=256)
def _composed(preset: str, seed: int, overrides: tuple[str, ...], presets: str) -> dict[str, Any]:
    # ``presets`` (the user presets' folders) is part of the key: another folder may define the preset otherwise.
    return leaves(OmegaConf.to_container(compose_train([f"config={preset}", f"seed={seed}", *overrides]), resolve=True))


def train_command(preset: str, seed: int, overrides: list[str], root: Path) -> str:
    """The command that trains the run these arguments describe, spelt as this process was started
    (``python train.py ...`` or ``reactivation train ...``: :func:`reactivation.usage.command`)."""
    default_root = _expected(preset, seed, overrides)["path"]  # the scale's
    extra = [] if absolute(root) == absolute(default_root) else [f"path={root}"]
    return " ".join(
        [usage.command("train"), f"config={preset}", f"seed={seed}", *map(shlex.quote, [*overrides, *extra])]
    )


def find_run(root: Path, preset: str, seed: int, overrides: list[str], epoch: int | None) -> Path:
    """Find the run trained with ``train.py config=<preset> seed=<seed> <overrides>`` under ``root``.

    Runs are matched by reading their saved ``config.yaml``, never by formatting directory names.

    Raises:
        ReactivationError: no such run, an incomplete one, or one without the requested checkpoint; the
            message gives the command that trains or finishes it, or what to do where that command would not.
    """
    expected = _expected(preset, seed, overrides)
    wanted = {k: v for k, v in expected.items() if k not in _SIZES_OF_TASK and not is_runtime_key(k)}
    if _noise_free(expected):  # its weights do not depend on the distribution (see run_overrides)
        wanted.pop(_NOISE_DIST)
    matches: list[Path] = []
    near: list[str] = []  # runs of the preset and seed with other settings, and what differs
    for run_dir, config in runs.iter_runs(root):
        if config.get("preset") != preset or config.get("seed") != seed:
            continue
        flat = leaves(with_added_keys(config))  # a run saved before a key existed was trained with its value
        differing = [f"{k}={flat.get(k)!r}" for k, v in wanted.items() if flat.get(k) != v]
        if differing:
            near.append(f"{run_dir} (has {', '.join(differing)})")
        else:
            matches.append(run_dir)
    if not matches:
        command = train_command(preset, seed, overrides, root)
        hint = (
            (
                "\nRuns of that preset and seed with other settings (select them with train_overrides=[...]):\n  "
                + "\n  ".join(near)
            )
            if near
            else ""
        )
        damaged = _damaged_config(root, preset, seed, overrides)
        if damaged:
            raise ReactivationError(
                f"no trained run of {preset} with seed {seed} under {root}/ can be read: {damaged}. Its training "
                f"command checks the checkpoints there against the config it composes and rewrites {runs.CONFIG_FILE} "
                f"from them (a finished run is not retrained, an unfinished one resumes). Rewrite it with:\n  "
                f"{command}{hint}"
            )
        raise ReactivationError(
            f"no trained run of {preset} with seed {seed} under {root}/. Train it with:\n  {command}{hint}"
        )
    if len(matches) > 1:
        log.warning("%d identical runs of %s seed %d; using %s", len(matches), preset, seed, matches[0])
    run_dir, steps = matches[0], list(runs.saved_checkpoints(matches[0]))
    n_steps = expected["trainer.n_epochs"]
    if epoch is None and (not steps or steps[-1] < n_steps):
        done = steps[-1] if steps else 0
        raise ReactivationError(
            f"the run {run_dir} is incomplete ({done} of {n_steps} steps)"
            + _unfinished(run_dir, steps, preset, seed, overrides, root, expected["trainer.lr"])
        )
    if epoch is not None and epoch not in steps:
        raise ReactivationError(f"the run {run_dir} has no checkpoint at epoch={epoch}; available: {steps}.")
    return run_dir


def _unfinished(
    run_dir: Path, steps: list[int], preset: str, seed: int, overrides: list[str], root: Path, lr: float
) -> str:
    """What to do about an incomplete run (the end of a message): its training command finishes it, unless the run
    is being trained now, diverged, or has no ``resume.pt`` that training could continue from.

    Args:
        run_dir: the run directory.
        steps: its saved step checkpoints.
        preset, seed, overrides, root: as :func:`find_run`'s (the training command's).
        lr: the run's ``trainer.lr``.
    """
    command = train_command(preset, seed, overrides, root)
    saved = f"analyse a saved checkpoint with epoch=<step> (saved: {steps})" if steps else ""
    holder = runs.RunLock.holder(run_dir)
    if holder is not None:  # the command would be refused: the run is locked
        return f": it is being trained now ({holder}). Wait for it to finish" + (f", or {saved}." if saved else ".")
    diverged = runs.divergence(run_dir)
    if diverged is not None:
        # Training stopped it and wrote diverged.json (training.loop); unchanged, its command diverges again.
        lowered = [o for o in overrides if o.split("=", 1)[0].lstrip("+") != "trainer.lr"]
        lower = f"trainer.lr={lr / 10:g}"
        cause = f" ({diverged['cause']})" if isinstance(diverged.get("cause"), str) else ""
        return (
            f": its training diverged at step {diverged['step']}{cause} and was stopped at its last good checkpoint "
            f"({run_dir / runs.DIVERGED_FILE} records it). {divergence_advice(lr)} For example:\n  "
            f"{train_command(preset, seed, [*lowered, lower], root)}\nthen add {lower} to the analysis's "
            "train_overrides to analyse that run." + (f" Or {saved}." if saved else "")
        )
    resume = run_dir / runs.CHECKPOINT_DIR / runs.RESUME_FILE
    try:
        runs.load_checkpoint(resume, keys=RESUME_KEYS)
    except runs.CheckpointError as err:
        # Without resume.pt the command starts afresh only a run with nothing beyond step 0, and refuses the others
        # (training.resume.check_fresh_start); an unreadable resume.pt it refuses.
        if resume.exists() or runs.beyond_step_zero(run_dir):
            return (
                f", and its training command cannot finish it: {resume} {err.problem}, and training continues only "
                f"from that file. Retrain it from scratch (this deletes its checkpoints and metrics) with:\n  "
                f"{command} resume=false" + (f"\nOr {saved}." if saved else "")
            )
    return f". Finish it with:\n  {command}"


def _damaged_config(root: Path, preset: str, seed: int, overrides: list[str]) -> str | None:
    """What is wrong with ``config.yaml`` in the directory where the training command puts this run, if that
    directory holds checkpoints but no readable training config there (the analyses find runs by it); else None."""
    cfg = compose_train([f"config={preset}", f"seed={seed}", *overrides, f"path={root}"], with_hydra=True)
    run_dir = Path(cfg.hydra.run.dir)
    if not (run_dir / runs.CHECKPOINT_DIR).is_dir():
        return None
    try:
        runs.load_config(run_dir)
    except ReactivationError:
        path = run_dir / runs.CONFIG_FILE
        problem = "is missing" if not path.exists() else "is damaged (not a training config that train.py wrote)"
        return f"{run_dir} is where that run is trained and holds checkpoints, but its {runs.CONFIG_FILE} {problem}"
    return None


def _noise_free(flat: dict[str, Any]) -> bool:
    """Whether the flat training config ``flat`` trains without any noise."""
    return all(flat[f"rnn.{k}"] == 0 for k in _SIGMAS)


def _trained_noise(preset: str, overrides: tuple[str, ...]) -> tuple[bool, str]:
    """Whether ``preset`` with ``overrides`` trains without any noise, and its noise distribution (neither depends
    on the seed: seed 0's composition, which an analysis of seed 0 shares with its run lookup)."""
    cfg = _expected(preset, 0, list(overrides))
    return _noise_free(cfg), str(cfg[_NOISE_DIST])


def run_overrides(s: Settings, condition: str) -> list[str]:
    """The ``train.py`` overrides of a condition's run: ``train_overrides``, the scale and, if not the preset's,
    the noise.

    A network trained without noise does not depend on the noise distribution (every draw is scaled by zero and
    the noise has its own random stream), so ``rnn.noise_dist`` is left out of its overrides and :func:`find_run`
    does not compare it: one noise-free run, of whichever distribution it was trained with, serves every variant,
    and :func:`load_condition` gives it the family's distribution for the quiescent phase.
    """
    overrides = list(s.cfg.train_overrides)
    if s.cfg.scale != "paper":
        overrides.append(f"scale={s.cfg.scale}")
    overrides += noise_overrides(s.task, condition, s.noise)
    if _trained_noise(s.conditions[condition], tuple(overrides))[0]:
        overrides = [o for o in overrides if not o.startswith(f"{_NOISE_DIST}=")]
    return overrides


def noise_overrides(task: str, condition: str | None, noise: float | None) -> list[str]:
    """``["rnn.sigma2_rec=<noise>"]`` for a noisy condition analysed (or exported) at another noise variance than
    its preset's, since its run was trained at that noise; ``[]`` otherwise."""
    if noise is None or not (condition or "").startswith("noisy") or float(noise) == PRESET_NOISE.get(task):
        return []
    return [f"rnn.sigma2_rec={float(noise)}"]


def condition_seed(s: Settings, condition: str, seed: int) -> int:
    """The seed of the run a condition reads for analysis seed ``seed``: ``seed`` itself, or ``no_noise_seed`` for a
    condition trained without noise when that is set.

    ``no_noise_seed`` lets seeds whose noise-free networks were not trained share another seed's (the evidence
    store's seeds 1 and 2 hold only the noisy networks, docs/campaign.md); the results of such an analysis name
    the setting in their file name and meta file, so they are never taken for a seed's own.
    """
    shared = s.cfg.get("no_noise_seed")
    if shared is None or not _trained_noise(s.conditions[condition], tuple(run_overrides(s, condition)))[0]:
        return seed
    return int(shared)


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
        overrides = run_overrides(s, condition)
        for seed in seeds:
            try:
                run_seed = condition_seed(s, condition, seed)
                found[condition][seed] = find_run(root, preset, run_seed, overrides, s.cfg.epoch)
            except ReactivationError as err:
                found[condition][seed] = err
    return found


def load_conditions(s: Settings) -> dict[str, tuple[Path, Setup]]:
    """Find and load the run of every condition of ``s`` (all found before any is simulated)."""
    root = Path(s.cfg.path)
    found = {
        name: find_run(root, preset, condition_seed(s, name, s.seed), run_overrides(s, name), s.cfg.epoch)
        for name, preset in s.conditions.items()
    }
    return {name: (run_dir, load_condition(s, run_dir)) for name, run_dir in found.items()}
