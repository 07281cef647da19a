"""A trained run rolled out for export (:func:`rollout`): found and checked as the analyses find runs, simulated with
the library's own rollout code on the batch the analyses use for the same seed."""

from __future__ import annotations

import copy
import os
import shlex
from pathlib import Path

import numpy as np
import torch
import yaml

from reactivation import ConfigError, ReactivationError, __version__, runs, usage
from reactivation.analysis.settings import FAMILIES, PRESET_NOISE
from reactivation.export.nwb import reference_frame
from reactivation.export.recording import GAP, KINDS, Recording, extra, from_rollout
from reactivation.loading import load_run
from reactivation.quiescence import noise_factor, quiescent_sigma
from reactivation.quiescence import rollout as run_network
from reactivation.seeding import generator
from reactivation.tasks.base import CodedTask
from reactivation.training import divergence_advice

#: Default length of a quiescent rollout, steps: output_kl.py's quiescent phase (docs/spec.md §7).
QUIESCENT_STEPS = 1000


def _preferred(task: CodedTask) -> np.ndarray | None:
    """(n_code, d) preferred latent of each output cell where the task's code has one (place-cell centres,
    head-direction cells' preferred angles), else ``None`` (e.g. a Cartesian code)."""
    for name in ("centres", "preferred"):
        value = getattr(task.code, name, None)
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy().reshape(value.shape[0], -1)
    return None


def condition_of(preset: str | None) -> str | None:
    """The condition (reactivation.CONDITIONS) a training preset belongs to, from the presets' families."""
    found = {p: c for conditions in FAMILIES.values() for c, p in conditions.items()}
    return found.get(preset) if preset else None


def _require_finished(run_dir: Path, step: int | None) -> int | None:
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
    command = _training_command(run_dir)
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


def _training_command(run_dir: Path) -> str | None:
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


def rollout(
    run_dir: Path | str,
    kind: str = "quiescent",
    *,
    n_trajectories: int = 10,
    n_steps: int | None = None,
    seed: int | None = None,
    mode: str | None = None,
    noise: float | None = None,
    step: int | None = None,
    device: str = "auto",
    keep_hidden: bool = True,
    keep_outputs: bool = True,
    gap: float = GAP,
) -> Recording:
    """Load a trained run and export one rollout of it as a :class:`Recording`.

    The protocol is the analyses' (docs/spec.md §6, :func:`reactivation.analysis.protocol.simulate`): a batch of the
    run's task is drawn from the ``analysis`` stream of ``seed``, the active phase runs it with the trained noise, and
    the quiescent phase starts again from its encoded true initial states with zero input. Both phases run through
    :func:`reactivation.quiescence.rollout`, and a quiescent export runs the active phase first, so that with the same
    seed and ``n_trajectories`` an export is the very rollout ``output_kl.py`` analyses (batch_size = n_trajectories),
    and an active and a quiescent export of one seed share their trajectories' initial states.

    Args:
        run_dir: a run directory written by ``train.py``.
        kind: ``active`` (the task's inputs; the true latent is exported too) or ``quiescent`` (zero input).
        n_trajectories: trajectories B.
        n_steps: steps T per trajectory. Quiescent: default :data:`QUIESCENT_STEPS`. Active: default the run's
            ``task.sequence_length`` (what it was trained on); another length draws the batch at that length, which
            changes the random draws (the initial states are then no longer shared with a quiescent export).
        seed: seed of the batch and the noise (the ``analysis`` stream); default the run's own seed, as
            ``output_kl.py seed=<seed>``.
        mode: quiescence noise mode (``scaled``, ``same``, ``absolute``, or a factor c as a string, ``"0.5"``);
            default as the analyses: ``same`` for a GRU, ``scaled`` otherwise. Ignored for an active rollout.
        noise: the variance ``absolute`` doubles; default the task's noisy presets' (the analyses' default).
        step: checkpoint step to export. Default: the final one, ``trainer.n_epochs``; a run that has not reached
            it (still training, or stopped early) is refused, so that a half-trained network is never exported
            by accident. Give the step of a saved checkpoint to export an intermediate one on purpose (as an
            analysis's ``epoch=``); ``info["n_epochs"]`` then records how far it was from the end.
        device: ``auto``, ``cpu``, ``cuda``, ... (the random draws differ between CPU and CUDA).
        keep_hidden: export the hidden states (B * T * n_rec floats: mind long rollouts).
        keep_outputs: export the outputs (B * T * n_code floats).
        gap: time between trajectories, s.

    Returns:
        A :class:`Recording`; time in s at the run's ``task.dt`` (0.02 s) per step.

    Raises:
        ReactivationError: the run cannot be loaded, has not finished training (and no ``step`` was given; the
            message says how to finish it), has no checkpoint at ``step``, or pynapple is not installed.
        ValueError: an unknown kind or mode, or sizes that are not positive integers.
    """
    extra("pynapple")  # before the work, not after it
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: a rollout is one of {', '.join(KINDS)}")
    for name, value in (("n_trajectories", n_trajectories), ("n_steps", n_steps)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name}={value!r} must be a positive integer")
    if mode is not None:
        try:
            noise_factor(mode)  # before the run is loaded
        except ValueError as err:
            raise ValueError(f"mode={mode!r}: {err}") from None
    run_dir = Path(run_dir)
    n_epochs = _require_finished(run_dir, step)
    setup = load_run(run_dir, step=step, device=device)
    cfg, task, model = setup.config, setup.task, setup.model
    seed = int(cfg.seed) if seed is None else seed
    dt = float(task.dt)
    sampler = task
    if kind == "active" and n_steps is not None and n_steps != task.sequence_length:
        # A shallow copy with another length: the run's task (its centres, shared) is left as it was loaded.
        sampler = copy.copy(task)
        sampler.sequence_length = n_steps
    gen = generator(seed, "analysis", setup.device)
    batch = sampler.sample(n_trajectories, gen)
    active_steps = batch.inputs.shape[1]
    if kind == "active" and n_steps is not None and active_steps != n_steps:
        raise ValueError(f"this task draws {active_steps}-step trajectories, not n_steps={n_steps}")
    with torch.no_grad():
        h0 = model.initial_state(batch.init_code)
    exported = kind == "active"  # a quiescent export runs the active phase only to keep the analyses' draws
    active = run_network(
        model,
        task,
        h0,
        active_steps,
        inputs=batch.inputs,
        generator=gen,
        keep_hidden=keep_hidden and exported,
        keep_outputs=keep_outputs and exported,
    )
    mode_used, sigma = None, float(model.sigma_rec)
    result = active
    if kind == "quiescent":
        mode_used = mode or model.default_mode
        if noise is None and cfg.task.name not in PRESET_NOISE:
            raise ConfigError(f"task {cfg.task.name!r} has no noisy presets to take the quiescent noise from: give "
                              "noise=<variance>.")  # fmt: skip
        noise = PRESET_NOISE[cfg.task.name] if noise is None else noise
        sigma = quiescent_sigma(model.sigma_rec, mode_used, noise)
        steps = QUIESCENT_STEPS if n_steps is None else n_steps
        result = run_network(
            model, task, h0, steps, generator=gen, sigma_rec=sigma, keep_hidden=keep_hidden, keep_outputs=keep_outputs
        )
    preset = runs.load_config(run_dir).get("preset")
    info = {
        "run": str(run_dir.resolve()),
        "preset": preset,
        "condition": condition_of(preset),
        "seed": int(cfg.seed),
        "rollout_seed": seed,
        "checkpoint_step": list(runs.saved_checkpoints(run_dir))[-1] if step is None else step,
        "n_epochs": n_epochs,
        "task": str(cfg.task.name),
        "model": str(cfg.rnn.model),
        "mode": mode_used,
        "noise": noise if mode_used == "absolute" else None,
        "sigma_rec": sigma,
        "trained_sigma_rec": float(model.sigma_rec),
        "geometry": task.geometry.name,
        "reference_frame": reference_frame(task.geometry),
        "reactivation_version": __version__,
    }
    return from_rollout(
        result,
        kind=kind,
        latent=batch.latent if kind == "active" else None,
        init_latent=batch.init_latent,
        preferred=_preferred(task) if keep_outputs else None,
        dt=dt,
        gap=gap,
        unit=task.geometry.unit,
        info=info,
    )
