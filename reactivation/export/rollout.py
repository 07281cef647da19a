"""A trained run rolled out for export (:func:`rollout`): found and checked as the analyses find runs, and rolled
out by the analyses' own rollout (:func:`reactivation.analysis.protocol.simulate`) on the batch they use for the same
seed."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reactivation import __version__, runs
from reactivation.analysis import protocol
from reactivation.analysis.phases import sigma
from reactivation.analysis.protocol import RolloutSettings
from reactivation.analysis.settings import FAMILIES, default_noise
from reactivation.export.finished import require_finished
from reactivation.export.nwb import reference_frame
from reactivation.export.recording import GAP, KINDS, Recording, extra, from_rollout
from reactivation.loading import Setup, load_run
from reactivation.modes import noise_factor
from reactivation.quiescence import Rollout
from reactivation.tasks import Batch
from reactivation.tasks.base import CodedTask

#: Default length of a quiescent rollout, steps: output_kl.py's quiescent phase (docs/spec.md §7).
QUIESCENT_STEPS = 1000


def _preferred(task: CodedTask) -> np.ndarray | None:
    """(n_code, d) preferred latent of each output cell where the task's code has one (place-cell centres,
    head-direction cells' preferred angles), else ``None`` (e.g. a Cartesian code). Metadata of the outputs: a
    recording without outputs drops it (:func:`~reactivation.export.recording.from_arrays`)."""
    for name in ("centres", "preferred"):
        value = getattr(task.code, name, None)
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy().reshape(value.shape[0], -1)
    return None


def condition_of(preset: str | None) -> str | None:
    """The condition (reactivation.CONDITIONS) a training preset belongs to, from the presets' families."""
    found = {p: c for conditions in FAMILIES.values() for c, p in conditions.items()}
    return found.get(preset) if preset else None


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

    The rollout is the analyses' own (docs/spec.md §6, :func:`reactivation.analysis.protocol.simulate`): a batch of
    the run's task from the ``analysis`` stream of ``seed``, the active phase with the trained noise, then (even for
    a quiescent export, as in the analyses) the quiescent phase from the same encoded initial states. So an export
    is the very rollout ``output_kl.py`` analyses with that seed and batch_size = ``n_trajectories``, and an active
    and a quiescent export of one seed share their trajectories' initial states.

    Args:
        run_dir: a run directory written by ``train.py``.
        kind: ``active`` (the task's inputs; the true latent is exported too) or ``quiescent`` (zero input).
        n_trajectories: trajectories B.
        n_steps: steps T per trajectory; default :data:`QUIESCENT_STEPS` (quiescent) or the run's
            ``task.sequence_length`` (active; another length draws the batch at that length: other draws and starts).
        seed: seed of the batch and the noise; default the run's own seed, as ``output_kl.py seed=<seed>``.
        mode: quiescence noise mode (``scaled``, ``same``, ``absolute``, or a factor c as a string, ``"0.5"``);
            default as the analyses: the model's (``same`` for a GRU, ``scaled`` otherwise). Quiescent only.
        noise: the variance ``absolute`` doubles; default the task's noisy presets' (the analyses' default).
        step: checkpoint step to export. Default: the final one, ``trainer.n_epochs``: a run that has not reached it
            is refused, so a half-trained network is never exported by accident; a saved step exports an
            intermediate one on purpose (``info["n_epochs"]`` records how far it was from the end).
        device: ``auto``, ``cpu``, ``cuda``, ... (the random draws differ between CPU and CUDA).
        keep_hidden: export the hidden states (B * T * n_rec floats: mind long rollouts).
        keep_outputs: export the outputs (B * T * n_code floats).
        gap: time between trajectories, s.

    Returns:
        A :class:`Recording`; time in s at the run's ``task.dt`` (0.02 s) per step.

    Raises:
        ReactivationError: the run cannot be loaded, has not finished training (no ``step`` given; the message says
            how to finish it), has no checkpoint at ``step``, or pynapple is not installed.
        ValueError: an unknown kind or mode, or sizes that are not positive integers.
    """
    extra("pynapple")  # before the work, not after it
    _check_arguments(kind, n_trajectories, n_steps, mode)
    run_dir = Path(run_dir)
    n_epochs = require_finished(run_dir, step)
    setup = load_run(run_dir, step=step, device=device)
    values = _rollout_settings(setup, kind, int(setup.config.seed) if seed is None else seed, mode, noise)
    result, batch = _phase(setup, kind, values, n_trajectories, n_steps, (keep_hidden, keep_outputs))
    latent, task = batch.latent if kind == "active" else None, setup.task
    info = _info(run_dir, setup, kind, values, step, n_epochs)
    return from_rollout(result, kind=kind, latent=latent, init_latent=batch.init_latent, preferred=_preferred(task),
                        dt=float(task.dt), gap=gap, unit=task.geometry.unit, info=info)  # fmt: skip


def _check_arguments(kind: str, n_trajectories: int, n_steps: int | None, mode: str | None) -> None:
    """Refuse a kind, size or mode :func:`rollout` cannot run, before the run is loaded.

    Raises:
        ValueError: an unknown kind or mode, or sizes that are not positive integers.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: a rollout is one of {', '.join(KINDS)}")
    for name, value in (("n_trajectories", n_trajectories), ("n_steps", n_steps)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name}={value!r} must be a positive integer")
    if mode is not None:
        try:
            noise_factor(mode)
        except ValueError as err:
            raise ValueError(f"mode={mode!r}: {err}") from None


def _rollout_settings(setup: Setup, kind: str, seed: int, mode: str | None, noise: float | None) -> RolloutSettings:
    """The rollout settings of an export: the analyses' defaults for the mode (the model's) and the noise (the
    task's noisy presets'); an active rollout runs with the trained noise and needs neither.

    Raises:
        ConfigError: a quiescent rollout with no ``noise`` of a task that has no noisy presets to take it from.
    """
    default_mode = setup.model.default_mode
    if kind == "active":
        return RolloutSettings(seed, None, default_mode)
    return RolloutSettings(seed, default_noise(str(setup.config.task.name), noise), mode or default_mode)


def _phase(
    setup: Setup,
    kind: str,
    values: RolloutSettings,
    n_trajectories: int,
    n_steps: int | None,
    keep: tuple[bool, bool],
) -> tuple[Rollout, Batch]:
    """The exported phase of the analyses' rollout of ``setup`` and the batch it starts from.

    A quiescent export runs the active phase first, as the analyses do, so that its noise is theirs.
    ``keep``: (hidden states, outputs) kept.

    Raises:
        ValueError: an active ``n_steps`` the task cannot draw.
    """
    if kind == "active" and n_steps is not None and n_steps != setup.task.sequence_length:
        # A shallow copy with another length: the run's task (its centres, shared) is left as it was loaded.
        sampler = copy.copy(setup.task)
        sampler.sequence_length = n_steps
        setup = dataclasses.replace(setup, task=sampler)
    quiescent = kind == "quiescent"
    phases = protocol.simulate(
        setup,
        values,
        n_trajectories,
        QUIESCENT_STEPS if n_steps is None else n_steps,
        modes=None if quiescent else (),  # an active export: the active phase alone
        keep_hidden=keep[0],
        keep_outputs=keep[1],
    )
    batch, _ = protocol.analysis_batch(setup, values, n_trajectories)  # the same draw again, for its latents
    if quiescent:
        return phases.quiescent[values.mode], batch
    assert phases.active is not None  # simulate ran the active phase (active=True)
    if n_steps is not None and phases.active.decoded.shape[1] != n_steps:
        raise ValueError(f"this task draws {phases.active.decoded.shape[1]}-step trajectories, not n_steps={n_steps}")
    return phases.active, batch


def _info(
    run_dir: Path, setup: Setup, kind: str, values: RolloutSettings, step: int | None, n_epochs: int | None
) -> dict[str, Any]:
    """What the recording records of its run and rollout (:attr:`Recording.info`, JSON-able)."""
    cfg, model = setup.config, setup.model
    mode = values.mode if kind == "quiescent" else None
    trained = float(model.sigma_rec)
    preset = runs.load_config(run_dir).get("preset")
    return {
        "run": str(run_dir.resolve()),
        "preset": preset,
        "condition": condition_of(preset),
        "seed": int(cfg.seed),
        "rollout_seed": values.seed,
        "checkpoint_step": list(runs.saved_checkpoints(run_dir))[-1] if step is None else step,
        "n_epochs": n_epochs,
        "task": str(cfg.task.name),
        "model": str(cfg.rnn.model),
        "mode": mode,
        "noise": values.noise if mode == "absolute" else None,
        "sigma_rec": trained if mode is None else sigma(model.sigma_rec, mode, values),
        "trained_sigma_rec": trained,
        "geometry": setup.task.geometry.name,
        "reference_frame": reference_frame(setup.task.geometry),
        "reactivation_version": __version__,
    }
