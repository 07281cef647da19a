"""Rollouts of a trained network as pynapple objects and NWB files: the experimental ecosystem's formats (issue 12).

A *recording* is one rollout of a trained network, exported the way an experimentalist's session is stored:

* the decoded latent (spatial navigation: position in m; head direction: heading in rad; linear track: position
  in m; whatever the task's ``geometry`` says) as a ``Tsd`` (1-D latent) or a ``TsdFrame`` (columns ``x``, ``y``);
* the true latent, for an active rollout (the network driven by a batch of its task), in the same form;
* the hidden states (``TsdFrame``, one column per recurrent unit, columns ``0 .. n_rec - 1``);
* the network outputs, i.e. the activations of its place / head-direction cells (``TsdFrame``, one column per
  cell, with each cell's preferred latent as column metadata where the code has one);
* the trajectories as an ``IntervalSet``, one interval per trajectory, with the trajectory's index and true initial
  latent as metadata.

Time is in seconds, one network step being Δt = :data:`DT` = 0.02 s (docs/spec.md, "Units"; a run's own ``task.dt`` when
it is exported from its directory). Note that ``rnn.dt`` is not a time: it is the leak's dt / tau ratio, unitless.

Several trajectories are *concatenated* into one object per quantity, trajectory i occupying the epoch
``[i * period, i * period + T * Δt)`` with ``period = T * Δt + gap`` (gap :data:`GAP` = 1 s): this is how pynapple
holds a session of several trials, so ``restrict``, ``compute_tuning_curves``, ``decode_template``, ``smooth`` or
``time_diff`` over the time support treat every trajectory as its own epoch and never bridge the gap between two
of them, while one call analyses all of them at once. Step k of a trajectory (its state after k + 1 network steps,
k = 0 .. T - 1) is at ``start + k * Δt``, so the last sample lies a whole step inside its epoch.

Entry points:

* :func:`rollout`: load a run directory and roll it out with the library's own rollout code
  (:func:`reactivation.quiescence.rollout`, on the batch the analyses use for the same seed), active or quiescent;
* :func:`from_arrays` / :func:`from_rollout`: convert arrays (or a :class:`reactivation.quiescence.Rollout`) a user
  already has;
* :func:`write_nwb` / :func:`read_nwb`: an NWB file that ``pynapple.load_file`` reads back into the same arrays,
  times and (via its ``trajectories`` intervals) time support; its name must end in ``.nwb``;
* :func:`run`: the command ``reactivation export config=<task>/<preset> seed=<seed> out=<file>.nwb``, which finds
  the run as the analyses do and writes its rollout (docs/commands.md).

A run that has not finished training is exported only when a checkpoint step is asked for (as an analysis's
``epoch=``), so that a half-trained network is never taken for a trained one.

pynapple and pynwb are the optional extra ``pip install 'reactivation[export]'``; they are imported when a function
needs them, so importing this module does not need them.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import json
import os
import shlex
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from reactivation import ConfigError, ReactivationError, __version__, runs, usage
from reactivation.analysis.lookup import find_run
from reactivation.analysis.settings import CHECKS, FAMILIES, PRESET_NOISE, check, show
from reactivation.config import absolute, presets, resolved
from reactivation.geometry import Geometry
from reactivation.loading import load_run, select_device
from reactivation.quiescence import Rollout, noise_factor, quiescent_sigma
from reactivation.quiescence import rollout as run_network
from reactivation.seeding import generator
from reactivation.tasks.base import CodedTask
from reactivation.training import divergence_advice
from reactivation.values import is_number, is_positive_int

if TYPE_CHECKING:  # for the annotations only: the extra is imported when a function needs it
    import pynapple as nap

#: Duration of one network step, s (docs/spec.md, "Units": one time step = Δt = 0.02 s); a run's own ``task.dt`` wins.
DT = 0.02
#: Time between the end of one trajectory's epoch and the start of the next, s.
GAP = 1.0
#: Default length of a quiescent rollout, steps: output_kl.py's quiescent phase (docs/spec.md §7).
QUIESCENT_STEPS = 1000
#: What a rollout can be: driven by a batch of its task, or with the input off.
KINDS = ("active", "quiescent")
#: How to get the optional dependencies.
INSTALL = "pip install 'reactivation[export]'"
#: The suffix of an NWB file's name (:func:`check_nwb_path`).
NWB_SUFFIX = ".nwb"
#: Names of the series in an NWB file (and of :meth:`Recording.series`), in the order they are written.
SERIES = ("decoded_latent", "true_latent", "hidden", "outputs")
#: Name of the processing module, the trajectories' intervals and the output cells' table in an NWB file.
MODULE, INTERVALS, CELLS = "reactivation", "trajectories", "output_cells"

# NWB's SpatialSeries spells its units out.
_NWB_UNITS = {"m": "meters", "rad": "radians"}


def _extra(name: str) -> Any:
    """Import a module of the ``export`` extra, or say how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        package = name.split(".", 1)[0]
        raise ReactivationError(
            f"reactivation.export needs {package}, which is not installed here ({err}). "
            f"Install the export extra: {INSTALL}"
        ) from err


@dataclass(frozen=True)
class Recording:
    """One exported rollout: pynapple objects over concatenated trajectories (see the module docstring).

    With B trajectories of T steps, every series holds B * T samples at the same times (s).

    Attributes:
        kind: ``active`` or ``quiescent``.
        decoded: the decoded latent, in the task's unit: a ``Tsd`` for a 1-D latent (heading in rad, track position
            in m), a ``TsdFrame`` with columns ``x``, ``y`` (, ``z``) otherwise (position in m).
        trajectories: ``IntervalSet`` of B intervals ``[start, start + T * dt)``, the time support of every series,
            with metadata ``trajectory`` (index 0 .. B - 1) and, when known, the true initial latent
            (``init_latent`` for a 1-D latent, else ``init_x``, ``init_y``, ...).
        latent: the true latent (active rollouts; ``None`` for quiescent ones), as ``decoded``.
        hidden: ``TsdFrame`` (B * T, n_rec) of hidden states (unitless), columns ``0 .. n_rec - 1``, or ``None``.
        outputs: ``TsdFrame`` (B * T, n_code) of network outputs, i.e. the cell activations (unitless), columns
            ``0 .. n_code - 1``, with metadata ``preferred_x``, ... (or ``preferred_latent``) where the code has
            preferred latents; or ``None``.
        info: what the recording is (JSON-able): ``kind``, ``dt`` (s), ``n_trajectories``, ``n_steps``,
            ``latent_unit``, and from a run ``run``, ``preset``, ``condition``, ``seed``, ``rollout_seed``,
            ``checkpoint_step``, ``task``, ``model``, ``mode``, ``sigma_rec``, ...
    """

    kind: str
    decoded: nap.Tsd | nap.TsdFrame
    trajectories: nap.IntervalSet
    latent: nap.Tsd | nap.TsdFrame | None = None
    hidden: nap.TsdFrame | None = None
    outputs: nap.TsdFrame | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def series(self) -> dict[str, Any]:
        """The series present, by their NWB names (:data:`SERIES`): name -> ``Tsd`` / ``TsdFrame``."""
        found = dict(zip(SERIES, (self.decoded, self.latent, self.hidden, self.outputs)))
        return {name: obj for name, obj in found.items() if obj is not None}

    def to_nwb(self, path: Path | str, **kwargs: Any) -> Path:
        """:func:`write_nwb` of this recording."""
        return write_nwb(self, path, **kwargs)


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _latent_columns(d: int) -> list[Any]:
    # pynapple names the columns of a 2- or 3-D NWB SpatialSeries x, y (, z) and any other by their index, so these
    # are the names a written file reads back with.
    return ["x", "y", "z"][:d] if d in (2, 3) else list(range(d))


def _latent_names(prefix: str, d: int) -> list[str]:
    """Metadata names of a latent's coordinates: ``<prefix>_latent`` for a 1-D latent, else ``<prefix>_x``, ..."""
    return [f"{prefix}_latent"] if d == 1 else [f"{prefix}_{c}" for c in _latent_columns(d)]


def trajectory_times(
    n_trajectories: int, n_steps: int, dt: float = DT, gap: float = GAP
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times of concatenated trajectories (see the module docstring).

    Returns:
        ``(t, starts, ends)``: (B * T,) sample times, trajectory by trajectory, and (B,) epoch starts and ends, all
        in s; trajectory i's step k is at ``starts[i] + k * dt`` and its epoch is ``[starts[i], starts[i] + T * dt)``.
    """
    if not (isinstance(n_trajectories, int) and n_trajectories >= 1 and isinstance(n_steps, int) and n_steps >= 1):
        raise ValueError(f"need at least one trajectory of at least one step, got {n_trajectories} x {n_steps}")
    if not (dt > 0 and gap > 0 and np.isfinite(dt) and np.isfinite(gap)):
        raise ValueError(f"dt and gap must be finite and > 0 (seconds), got dt={dt}, gap={gap}")
    period = n_steps * dt + gap
    starts = np.arange(n_trajectories) * period
    t = (starts[:, None] + dt * np.arange(n_steps)[None, :]).reshape(-1)
    return t, starts, starts + n_steps * dt


def _frame(nap_module: Any, t: np.ndarray, x: np.ndarray, support: Any, columns: list[Any], metadata: Any = None):
    """(B, T, d) values -> a ``Tsd`` (d = 1, no column names asked for) or a ``TsdFrame`` over ``support``."""
    flat = x.reshape(-1, x.shape[-1])
    if x.shape[-1] == 1 and not columns:
        return nap_module.Tsd(t=t, d=flat[:, 0], time_support=support)
    return nap_module.TsdFrame(t=t, d=flat, time_support=support, columns=columns, metadata=metadata)


def from_arrays(
    decoded: Any,
    *,
    kind: str,
    hidden: Any = None,
    outputs: Any = None,
    latent: Any = None,
    init_latent: Any = None,
    preferred: Any = None,
    dt: float = DT,
    gap: float = GAP,
    unit: str | None = None,
    info: Mapping[str, Any] | None = None,
) -> Recording:
    """Convert the arrays of a rollout (numpy or torch) into a :class:`Recording` of pynapple objects.

    Args:
        decoded: (B, T, d) decoded latent (or (B, T) for d = 1), in the task's unit (m or rad).
        kind: ``active`` or ``quiescent``.
        hidden: (B, T, n_rec) hidden states, or ``None``.
        outputs: (B, T, n_code) network outputs (cell activations), or ``None``.
        latent: (B, T, d) true latent of an active rollout (same unit as ``decoded``), or ``None``.
        init_latent: (B, d) true latent each trajectory starts from (trajectory metadata), or ``None``.
        preferred: (n_code, d) or (n_code,) preferred latent of each output cell (column metadata of ``outputs``).
        dt: duration of one step, s.
        gap: time between two trajectories' epochs, s.
        unit: unit of a latent coordinate (``m``, ``rad``), recorded in ``info`` and in the NWB file.
        info: anything else to record (JSON-able); ``kind``, ``dt``, sizes and ``latent_unit`` are added.

    Raises:
        ValueError: an unknown kind, a true latent for a quiescent rollout, or shapes that do not match.
    """
    nap_module = _extra("pynapple")
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: a rollout is one of {', '.join(KINDS)}")
    x = _numpy(decoded)
    x = x[..., None] if x.ndim == 2 else x
    if x.ndim != 3:
        raise ValueError(f"decoded has shape {x.shape}; expected (B, T, d) (or (B, T) for a 1-D latent)")
    n_traj, n_steps, d = x.shape
    if latent is not None and kind != "active":
        raise ValueError("a quiescent rollout has no true latent (the network runs without input); pass latent=None")
    t, starts, ends = trajectory_times(n_traj, n_steps, float(dt), float(gap))
    meta: dict[str, Any] = {"trajectory": np.arange(n_traj)}
    if init_latent is not None:
        x0 = _numpy(init_latent).reshape(n_traj, -1)
        if x0.shape[1] != d:
            raise ValueError(f"init_latent has shape {x0.shape}; expected ({n_traj}, {d})")
        meta.update(dict(zip(_latent_names("init", d), x0.T.astype(np.float64))))
    support = nap_module.IntervalSet(start=starts, end=ends, metadata=meta)
    columns = [] if d == 1 else _latent_columns(d)

    def series(values: Any, name: str, width: int | None = None) -> np.ndarray | None:
        if values is None:
            return None
        v = _numpy(values)
        v = v[..., None] if v.ndim == 2 and width == d else v
        if v.ndim != 3 or v.shape[:2] != (n_traj, n_steps) or (width is not None and v.shape[2] != width):
            want = f"({n_traj}, {n_steps}, {'n' if width is None else width})"
            raise ValueError(f"{name} has shape {v.shape}; expected {want} like decoded")
        return v

    true = series(latent, "latent", d)
    states = series(hidden, "hidden")
    cells = series(outputs, "outputs")
    cell_meta = None
    if cells is not None and preferred is not None:
        pref = _numpy(preferred).reshape(cells.shape[2], -1)
        if pref.shape[1] != d:
            raise ValueError(f"preferred has shape {pref.shape}; expected ({cells.shape[2]}, {d})")
        cell_meta = dict(zip(_latent_names("preferred", d), pref.T.astype(np.float64)))
    record = {
        **dict(info or {}),
        "kind": kind,
        "dt": float(dt),
        "gap": float(gap),
        "n_trajectories": n_traj,
        "n_steps": n_steps,
        "latent_unit": unit,
    }
    return Recording(
        kind=kind,
        decoded=_frame(nap_module, t, x, support, columns),
        trajectories=support,
        latent=None if true is None else _frame(nap_module, t, true, support, columns),
        hidden=None if states is None else _frame(nap_module, t, states, support, list(range(states.shape[2]))),
        outputs=None
        if cells is None
        else _frame(nap_module, t, cells, support, list(range(cells.shape[2])), metadata=cell_meta),
        info=record,
    )


def from_rollout(result: Rollout, *, kind: str, **kwargs: Any) -> Recording:
    """:func:`from_arrays` of a :class:`reactivation.quiescence.Rollout`: its decoded latent, and its hidden states and
    outputs where it kept them (``keep_hidden`` / ``keep_outputs``).

    The other keywords of :func:`from_arrays` (``latent``, ``init_latent``, ``preferred``, ``dt``, ``unit``,
    ``info``, ...) are passed on.
    """
    return from_arrays(result.decoded, kind=kind, hidden=result.hidden, outputs=result.outputs, **kwargs)


def _preferred(task: CodedTask) -> np.ndarray | None:
    """(n_code, d) preferred latent of each output cell where the task's code has one (place-cell centres,
    head-direction cells' preferred angles), else ``None`` (e.g. a Cartesian code)."""
    for name in ("centres", "preferred"):
        value = getattr(task.code, name, None)
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy().reshape(value.shape[0], -1)
    return None


def reference_frame(geometry: Geometry) -> str:
    """What the latent's coordinates mean, for NWB's ``reference_frame``."""
    return geometry.frame


def _condition(preset: str | None) -> str | None:
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
    _extra("pynapple")  # before the work, not after it
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
        "condition": _condition(preset),
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


def describe(recording: Recording) -> str:
    """One sentence saying what the recording is (the NWB session description)."""
    info = recording.info
    size = f"{info.get('n_trajectories')} trajectories x {info.get('n_steps')} steps of {info.get('dt')} s"
    if recording.kind == "active":
        what = "active rollout (driven by a batch of its task, trained noise)"
    else:
        mode = f", quiescence mode {info['mode']}" if info.get("mode") else ""
        what = f"quiescent rollout (zero input{mode})"
    source = (
        f"run {info['run']} (preset {info.get('preset')}, seed {info.get('seed')}, condition {info.get('condition')})"
        if info.get("run")
        else "arrays converted by reactivation.export"
    )
    step, n_epochs = info.get("checkpoint_step"), info.get("n_epochs")
    if isinstance(step, int) and isinstance(n_epochs, int) and step < n_epochs:
        source += f" at its intermediate checkpoint step {step} of {n_epochs}"  # asked for: say so in the file
    sigma = f", recurrent noise sigma_rec = {info['sigma_rec']:g}" if info.get("sigma_rec") is not None else ""
    return f"reactivation {what} of {source}: {size}{sigma}."


def check_nwb_path(path: Path | str, key: str | None = None) -> Path:
    """``path`` as a :class:`~pathlib.Path`, checked to name an NWB file: it must end in ``.nwb``.

    An NWB file is HDF5 whatever its name, but ``pynapple.load_file`` (and NWB tools) go by the suffix and
    read NWB only from a ``.nwb`` name, in lower case: a ``.csv`` or ``.h5`` name would hold a file that no reader
    opens as what it is, and a spreadsheet program would show it as garbage.

    Args:
        path: the file to write.
        key: the command-line key that gave it (``out``), to name in the message.

    Raises:
        ConfigError: any other suffix, with the name to use instead (a :class:`ReactivationError`).
    """
    given = f"{key}={path}" if key else str(path)  # as typed (a Path drops a trailing slash)
    path = Path(path)
    if path.suffix != NWB_SUFFIX:
        fixed = path.with_suffix(NWB_SUFFIX) if path.name else path / f"recording{NWB_SUFFIX}"
        raise ConfigError(
            f"{given}: an NWB file's name must end in {NWB_SUFFIX} (it is HDF5, whatever the name; pynapple.load_file "
            f"and NWB tools read NWB only from a {NWB_SUFFIX} name), e.g. {fixed}."
        )
    return path


def write_nwb(
    recording: Recording,
    path: Path | str,
    *,
    session_start_time: datetime | None = None,
    identifier: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a recording as an NWB file that ``pynapple.load_file(path)`` reads.

    Layout: processing module ``reactivation`` holding the SpatialSeries ``decoded_latent`` (and ``true_latent`` for
    an active rollout; unit meters or radians, with a reference frame) and the TimeSeries ``hidden`` and ``outputs``
    (unit ``a.u.``), all with the same explicit timestamps (s; stored once, linked by the others) since the gaps
    between trajectories make them irregular; the table ``output_cells`` (each cell's preferred latent, when
    known); the intervals ``trajectories`` (one row per trajectory with its metadata). The session description
    says what was rolled out (:func:`describe`) and ``notes`` holds ``recording.info`` as JSON.

    Args:
        recording: what to write.
        path: the ``.nwb`` file (its folder is created).
        session_start_time: NWB's session start (default: now, UTC).
        identifier: NWB's unique identifier (default: a fresh UUID).
        overwrite: replace an existing file.

    Returns:
        The path written. The file is written under a temporary name and renamed, so no torn file is left.

    Raises:
        ReactivationError: a name that does not end in ``.nwb`` (:func:`check_nwb_path`), the file exists (and not
            ``overwrite``), it cannot be written, or pynwb is missing.
    """
    pynwb = _extra("pynwb")
    behavior = _extra("pynwb.behavior")
    hdmf_table = _extra("hdmf.common")
    path = check_nwb_path(path)
    if path.exists() and not overwrite:
        raise ReactivationError(f"{path} exists; choose another path or pass overwrite=True.")
    info = recording.info
    nwb = pynwb.NWBFile(
        session_description=describe(recording),
        identifier=identifier or str(uuid.uuid4()),
        session_start_time=session_start_time or datetime.now(timezone.utc),
        session_id=f"{info.get('preset') or 'arrays'}/seed_{info.get('seed')}/{recording.kind}",
        notes=json.dumps(info),
        source_script=f"reactivation {__version__}, reactivation.export.write_nwb",
        source_script_file_name="reactivation/export.py",
        experiment_description="Offline reactivation in noisy recurrent networks trained on path integration.",
    )
    module = nwb.create_processing_module(name=MODULE, description=describe(recording))
    unit: str | None = info.get("latent_unit")
    in_unit = f" ({unit})" if unit else ""
    decoded = recording.decoded
    timestamps = np.asarray(decoded.index.values, dtype=np.float64)
    first = behavior.SpatialSeries(
        name="decoded_latent",
        data=np.asarray(decoded.values),
        timestamps=timestamps,
        unit=_NWB_UNITS.get(unit, unit) if unit else "a.u.",
        reference_frame=info.get("reference_frame") or "the task's latent coordinates",
        description="latent decoded from the network outputs by the task's code (top-3 cells)",
    )
    module.add(first)
    if recording.latent is not None:
        module.add(
            behavior.SpatialSeries(
                name="true_latent",
                data=np.asarray(recording.latent.values),
                timestamps=first,  # a link: the timestamps are stored once
                unit=first.unit,
                reference_frame=first.reference_frame,
                description="true latent of the trajectory the network was driven by",
            )
        )
    described = {
        "hidden": "hidden states of the recurrent units (columns: unit index)",
        "outputs": "network outputs, the activations of the task's cells (columns: cell index)",
    }
    for name, obj in (("hidden", recording.hidden), ("outputs", recording.outputs)):
        if obj is not None:
            series = pynwb.TimeSeries(
                name=name, data=np.asarray(obj.values), timestamps=first, unit="a.u.", description=described[name]
            )
            module.add(series)
    cells = recording.outputs.metadata if recording.outputs is not None else None
    if cells is not None and len(cells.columns):
        table = hdmf_table.DynamicTable(name=CELLS, description="preferred latent of each output cell")
        for column in cells.columns:
            table.add_column(name=str(column), description=f"{column}{in_unit}")
        for row in cells.itertuples(index=False):
            table.add_row(**{str(k): float(v) for k, v in zip(cells.columns, row)})
        module.add(table)
    epochs = recording.trajectories
    intervals = pynwb.epoch.TimeIntervals(name=INTERVALS, description="one interval per trajectory")
    meta = epochs.metadata
    for column in meta.columns:
        intervals.add_column(
            name=str(column), description=f"trajectory {column}" + ("" if column == "trajectory" else in_unit)
        )
    for i in range(len(epochs)):
        row = {str(c): meta[c].iloc[i].item() for c in meta.columns}
        intervals.add_interval(start_time=float(epochs.start[i]), stop_time=float(epochs.end[i]), **row)
    nwb.add_time_intervals(intervals)
    return _write_atomic(pynwb, nwb, path)


def _write_atomic(pynwb: Any, nwb: Any, path: Path) -> Path:
    """Write ``nwb`` to a temporary file beside ``path`` and rename it into place."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh, dotted name (hidden from listings) that h5py creates itself, so the file gets the user's usual
        # permissions; it ends in .nwb because pynwb warns about any other name.
        tmp = path.parent / f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.nwb"
        with pynwb.NWBHDF5IO(tmp, "w") as io:
            io.write(nwb)
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise ReactivationError(f"could not write {path}: {runs.os_error_text(err)}") from err
        raise
    return path


def _open_nwb(nap_module: Any, path: Path) -> Any:
    """``pynapple.NWBFile`` of ``path``, with h5py's and pynwb's failures to open it told as what they mean."""
    written = "a .nwb file written by reactivation.export.write_nwb (or the `reactivation export` command)"
    try:
        return nap_module.NWBFile(str(path), lazy_loading=False)
    except OSError as err:
        # h5py's OSError carries no errno: tell an unreadable file from one that is not HDF5 by asking h5py.
        if not os.access(path, os.R_OK):
            raise ReactivationError(f"cannot read {path}: permission denied (not yours?); expected {written}.") from err
        if not _extra("h5py").is_hdf5(str(path)):
            raise ReactivationError(
                f"{path} is not an NWB file: it is not HDF5 at all (NWB files are HDF5; is it a text or CSV file?). "
                f"Expected {written}."
            ) from err
        raise ReactivationError(
            f"{path} is HDF5 but cannot be opened: it is damaged or truncated (an interrupted copy?) ({err}). "
            f"Copy or write it again; expected {written}."
        ) from err
    except (KeyError, TypeError, ValueError) as err:  # pynwb on an HDF5 file that holds no NWB file
        raise ReactivationError(f"{path} is an HDF5 file but not an NWB file ({err}); expected {written}.") from err


def read_nwb(path: Path | str) -> Recording:
    """Read a file written by :func:`write_nwb` back into a :class:`Recording` (with pynapple's own NWB reader).

    The series are restricted to the ``trajectories`` intervals, which restores their time support; the outputs
    get their cells' metadata back from the ``output_cells`` table.

    Raises:
        ReactivationError: the file is missing, unreadable, not HDF5 (a text file, say), HDF5 but not NWB, damaged,
            or not written by :func:`write_nwb`; or pynapple is missing.
    """
    nap_module = _extra("pynapple")
    path = Path(path)
    if not path.is_file():
        raise ReactivationError(f"{path} is not a file; write one with reactivation.export.write_nwb.")
    data = _open_nwb(nap_module, path)
    try:
        try:
            info = json.loads(data.nwb.notes)
            epochs = data[INTERVALS]
            if not (isinstance(info, dict) and info.get("kind") in KINDS):
                raise ValueError("its notes do not describe a rollout")
        except (KeyError, TypeError, ValueError) as err:
            raise ReactivationError(f"{path} was not written by reactivation.export.write_nwb ({err!r}).") from err
        support = nap_module.IntervalSet(
            start=epochs.start, end=epochs.end, metadata=epochs.metadata.reset_index(drop=True)
        )
        found = {name: data[name].restrict(support) for name in SERIES if name in data}
        module = data.nwb.processing.get(MODULE)
        if "outputs" in found and module is not None and CELLS in module.data_interfaces:
            cells = module[CELLS].to_dataframe().reset_index(drop=True)
            found["outputs"].set_info(cells.set_index(found["outputs"].columns))
    finally:
        data.close()
    return Recording(
        kind=info["kind"],
        decoded=found["decoded_latent"],
        trajectories=support,
        latent=found.get("true_latent"),
        hidden=found.get("hidden"),
        outputs=found.get("outputs"),
        info=info,
    )


# --- the command ---------------------------------------------------------------------------------------------

#: What ``reactivation export`` writes (its ``format=``): NWB, which pynapple and every NWB tool read.
FORMATS = ("nwb",)

#: The arguments of an example command line, less ``seed=0``.
EXAMPLE = "config=spatial_navigation/noisy_unbiased out=recording.nwb"


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


#: What each key of reactivation/configs/analysis/export.yaml that the analyses do not have accepts (the shared
#: keys are checked by the analyses' own checks, :data:`reactivation.analysis.settings.CHECKS`).
COMMAND_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "config": (
        lambda v: isinstance(v, str) and bool(v.strip()),
        "a training preset <task>/<preset>, e.g. config=spatial_navigation/noisy_unbiased",
    ),
    "out": (lambda v: isinstance(v, str) and bool(v.strip()), "the file to write, a name ending in .nwb"),
    "format": (lambda v: v in FORMATS, f"{' or '.join(FORMATS)}, the one format written (pynapple reads it)"),
    "kind": (lambda v: v in KINDS, f"one of {', '.join(KINDS)}"),
    "n_trajectories": (is_positive_int, "a positive integer (trajectories)"),
    "n_steps": (
        lambda v: v is None or is_positive_int(v),
        f"null ({QUIESCENT_STEPS} quiescent, or the run's task.sequence_length active) or a positive integer (steps)",
    ),
    "keep_hidden": (_is_bool, "true or false"),
    "keep_outputs": (_is_bool, "true or false"),
    "overwrite": (_is_bool, "true or false"),
}


def check_command(cfg: DictConfig) -> dict[str, Any]:
    """Check the composed config of ``reactivation export`` (reactivation/configs/analysis/export.yaml), every
    key, before any run is read or anything is written.

    Returns:
        The resolved values, with ``path`` and ``out`` absolute (the caller's directory) and a factor ``mode`` as
        the string :func:`rollout` takes.

    Raises:
        ConfigError: a missing ``config``, ``seed`` or ``out``; an unknown preset; a bad value; a key that this
            rollout would ignore (``mode`` of an active rollout, a ``noise`` that neither selects the run nor sets
            ``mode=absolute``); an ``out`` that is not a ``.nwb`` name, exists (without ``overwrite=true``) or
            cannot be written. The message names the key, the value and what is allowed.
        ReactivationError: an unknown or unavailable ``device``.
    """

    example = f"{usage.command('export')} {EXAMPLE} seed=0"
    if OmegaConf.is_missing(cfg, "seed"):
        raise ConfigError(f"seed is required: add seed=<integer>, e.g.\n  {example}")
    values = resolved(cfg)
    for key in ("config", "out"):
        if values[key] is None:
            raise ConfigError(f"{key} is required: add {key}=..., e.g.\n  {example}")
    typed = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=False))
    for key in ("seed", "epoch", "noise", "mode", "train_overrides", "path"):
        check(key, values[key], *CHECKS[key], typed[key])
    for key, (test, allowed) in COMMAND_CHECKS.items():
        check(key, values[key], test, allowed, typed[key])
    names = presets()
    if values["config"] not in names:
        close = difflib.get_close_matches(values["config"], names, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ConfigError(
            f"unknown preset config={values['config']}.{hint} Available presets:\n  " + "\n  ".join(names)
        )
    if values["kind"] == "active" and values["mode"] is not None:
        raise ConfigError(
            f"mode={show(values['mode'])} sets the noise of a quiescent rollout, and kind=active runs with the trained "
            "noise: drop mode=, or export kind=quiescent."
        )
    condition = _condition(values["config"]) or ""
    absolute_mode = values["kind"] == "quiescent" and values["mode"] == "absolute"
    if values["noise"] is not None and not (condition.startswith("noisy") or absolute_mode):
        raise ConfigError(
            f"noise={show(values['noise'])} would be ignored: it selects the run of a noisy preset (as in the "
            f"analyses) and sets the variance of mode=absolute, and config={values['config']} with "
            f"kind={values['kind']} mode={show(values['mode'])} uses neither. Drop noise=."
        )
    if is_number(values["mode"]):  # a factor c, as the string rollout takes (mode=2 and mode=2.0 are one setting)
        values["mode"] = show(float(values["mode"]))
    select_device(values["device"])
    root = absolute(values["path"])
    if root.exists() and not root.is_dir():
        raise ConfigError(f"path={values['path']}: {root} is a file, not a folder of training runs; choose a path=.")
    values["path"] = str(root)
    values["out"] = str(_writable_out(values["out"], values["overwrite"]))
    return values


def _writable_out(out: str, overwrite: bool) -> Path:
    """``out`` made absolute, checked to be a ``.nwb`` name that this user can write (and, unless ``overwrite``,
    that does not exist), so that a rollout is never computed only to fail at its write."""

    path = absolute(check_nwb_path(out, key="out"))
    if path.is_dir():
        raise ConfigError(f"out={out}: {path} is a folder; name the file to write, e.g. out={Path(out) / 'x.nwb'}.")
    if path.exists() and not overwrite:
        raise ConfigError(f"out={out}: {path} exists; choose another out=, or add overwrite=true to replace it.")
    existing = next(p for p in path.parents if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"out={out}: {existing} is a file, not a folder; choose another out=.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"out={out}: {existing} is not writable (read-only or not yours); choose another out=.")
    return path


def run(cfg: DictConfig) -> tuple[Path, Recording]:
    """What ``reactivation export`` does with its composed config: find the run, roll it out, write the file.

    The run is found as the analyses find theirs (:func:`reactivation.analysis.lookup.find_run`: the run that
    ``reactivation train config=<config> seed=<seed> <train_overrides>`` trains under ``path``, with ``scale`` and,
    for a noisy preset, ``noise``), so a missing or unfinished run is an error giving the command that trains it,
    and ``epoch=`` exports an intermediate checkpoint on purpose.

    Returns:
        ``(path, recording)``: the NWB file written (absolute) and the :class:`Recording` it holds.

    Raises:
        ConfigError: a bad value (:func:`check_command`), or ``train_overrides`` that make no training config.
        ReactivationError: no such run, an unfinished one, no checkpoint at ``epoch``, an unreadable run, or a
            missing extra.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    _extra("pynapple")  # before the work, not after it
    _extra("pynwb")
    values = check_command(cfg)
    preset, seed = values["config"], values["seed"]
    task = preset.split("/", 1)[0]
    overrides = list(values["train_overrides"])
    if values["scale"] != "paper":
        overrides.append(f"scale={values['scale']}")
    noisy = (_condition(preset) or "").startswith("noisy")
    if noisy and values["noise"] is not None and float(values["noise"]) != PRESET_NOISE.get(task):
        overrides.append(f"rnn.sigma2_rec={float(values['noise'])}")  # the run trained with it (as the analyses)
    try:
        run_dir = find_run(Path(values["path"]), preset, seed, overrides, values["epoch"])
    except (HydraException, OmegaConfBaseException) as err:
        reason = " ".join(str(err).split())[:300]
        raise ConfigError(
            f"train_overrides={show(values['train_overrides'])} does not make a training config of "
            f"config={preset} ({reason}); give train.py overrides, e.g. 'train_overrides=[\"trainer.n_epochs=1000\"]'."
        ) from None
    recording = rollout(
        run_dir,
        values["kind"],
        n_trajectories=values["n_trajectories"],
        n_steps=values["n_steps"],
        mode=values["mode"],
        noise=None if values["noise"] is None else float(values["noise"]),
        step=values["epoch"],
        device=values["device"],
        keep_hidden=values["keep_hidden"],
        keep_outputs=values["keep_outputs"],
    )
    return write_nwb(recording, values["out"], overwrite=values["overwrite"]), recording
