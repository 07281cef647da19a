"""A run that has not finished training is refused for export, with how to finish it (:func:`require_finished`): the
analyses' rule (:func:`reactivation.analysis.lookup.find_run`), so a half-trained network is never exported by
accident."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import yaml

from reactivation import ReactivationError, runs, usage
from reactivation.training import divergence_advice


def require_finished(run_dir: Path, step: int | None) -> int | None:
    """The run's ``trainer.n_epochs``, after checking that, with no ``step`` asked for, it has reached it.

    Mirrors the analyses (:func:`reactivation.analysis.lookup.find_run`): the default is the final checkpoint, and
    only an explicit step exports an earlier one.

    Raises:
        ReactivationError: ``step`` is None and the run's last checkpoint is before ``trainer.n_epochs``; the
            message says how to finish it (or that it is being trained now) and how to export the checkpoint
            anyway.
    """
    config = runs.load_config(run_dir)
    trainer = config.get("trainer")
    n_epochs = trainer.get("n_epochs") if isinstance(trainer, dict) else None
    if not isinstance(n_epochs, int) or isinstance(n_epochs, bool):
        return None  # not a config train.py wrote: load_run says what is wrong with it
    steps = list(runs.saved_checkpoints(run_dir))
    if step is not None or (steps and steps[-1] >= n_epochs):
        return n_epochs
    done = steps[-1] if steps else 0
    holder = runs.RunLock.holder(run_dir)
    command = training_command(run_dir)
    diverged = runs.divergence(run_dir)
    resume = run_dir / runs.CHECKPOINT_DIR / runs.RESUME_FILE
    if holder is not None:
        finish = f"It is being trained now ({holder}): wait for it to finish, then export it."
    elif diverged is not None:  # its command, unchanged, would resume and diverge again
        lr = float(trainer.get("lr", 0.001)) if isinstance(trainer, dict) else 0.001
        finish = f"Its training diverged at step {diverged['step']} and was stopped there. {divergence_advice(lr)}"
    elif not resume.is_file() and runs.beyond_step_zero(run_dir):  # training refuses to continue without it
        finish = (
            f"Its {resume} is missing, so its training command cannot continue it; retrain it from scratch with "
            "that command and resume=false (this deletes its checkpoints and metrics)."
        )
    elif command is not None:
        finish = f"Finish it (training resumes from step {done}) with the command that trained it:\n  {command}"
    else:
        finish = (
            f"Finish it by training it again with its config (it resumes from step {done}): the command that made it "
            f"({usage.command('train')} config={config.get('preset')} seed={config.get('seed')} with the same "
            "overrides and path=), or reactivation.training.train(cfg, run_dir) with the config it was trained with."
        )
    anyway = f"\nOr export a saved checkpoint on purpose with step=<step>; saved: {steps}." if steps else ""
    raise ReactivationError(
        f"the run {run_dir} has not finished training ({done} of trainer.n_epochs={n_epochs} steps), so it would be "
        f"exported half-trained. {finish}{anyway}"
    )


def training_command(run_dir: Path) -> str | None:
    """The command that trained ``run_dir``, which resumes it, from the overrides train.py recorded there.

    None for a run that records none (trained by ``reactivation.training.train``, not by the command): a command
    put together from its config could train into another directory, so none is guessed.
    """
    try:
        overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not (isinstance(overrides, list) and all(isinstance(o, str) for o in overrides)):
        return None
    # resume=false would start it again from scratch; a resume is what is wanted.
    kept = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "resume"]
    command = " ".join([usage.command("train"), *map(shlex.quote, kept)])
    paths = [o.split("=", 1)[1] for o in kept if o.split("=", 1)[0].lstrip("+") == "path"]
    if paths and os.path.isabs(paths[-1]):
        return command
    # The results root is relative to the directory it was trained in (Hydra records it), so start from there.
    try:
        hydra = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())
        cwd = hydra["hydra"]["runtime"]["cwd"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        cwd = None
    return f"cd {shlex.quote(cwd)} && {command}" if isinstance(cwd, str) else command
