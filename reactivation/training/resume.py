"""Resuming a run from its directory: reading ``resume.pt`` and checking that it is this run's, deciding whether a
run without it may start afresh, and repairing what the analyses read of a finished run.

Nothing here trains or loads weights into a model: :func:`read_state` returns the state that
:meth:`reactivation.training.run.Run.restore` puts back into the run's model, task, optimizer and streams.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from reactivation import ReactivationError, runs
from reactivation.config import leaves
from reactivation.loading import CHECKPOINT_KEYS, comparable, require_finite_weights

log = logging.getLogger(__name__)

#: ``resume.pt`` holds what every checkpoint holds (:data:`CHECKPOINT_KEYS`) and these.
RESUME_KEYS = (*CHECKPOINT_KEYS, "optimizer", "rng")


def resume_path(run_dir: Path) -> Path:
    """``<run_dir>/checkpoints/resume.pt``: what a resumed run reads."""
    return run_dir / runs.CHECKPOINT_DIR / runs.RESUME_FILE


def read_state(
    run_dir: Path, cfg: DictConfig, config: dict[str, Any], device: torch.device
) -> tuple[dict[str, Any] | None, bool]:
    """The state to resume the run of ``cfg`` (recorded as ``config``) from, and whether it came from ``resume.pt``.

    ``(None, True)``: start afresh (``resume=false`` deletes the checkpoints of an earlier run first).
    ``(state, True)``: ``resume.pt``, checked to hold finite weights of this configuration. ``(final, False)``:
    a finished run whose ``resume.pt`` is missing or unreadable but whose final checkpoint is intact and of this
    configuration is finished all the same: that checkpoint (with ``"test"`` from ``test_metrics.json``).

    Raises:
        ReactivationError: an unusable resume file (of an unfinished run), one of another configuration, or a
            run without one that got past step 0 (:func:`check_fresh_start`).
    """
    resume_file = resume_path(run_dir)
    if not cfg.resume:
        # The whole folder, resume.pt or not: step checkpoints of the earlier run left beside the new run's would
        # read as its own.
        if resume_file.parent.exists():
            log.info("resume=false: deleting the checkpoints and metrics in %s", run_dir)
            shutil.rmtree(resume_file.parent)
        runs.clear_divergence(run_dir)
        return None, True
    fix = "rerun with resume=false to start the run over"
    try:
        state = runs.load_checkpoint(resume_file, map_location=device, keys=RESUME_KEYS, fix=fix)
    except runs.CheckpointError as err:
        final = intact_final(run_dir, cfg.trainer.n_epochs, config)
        if final is not None:
            # resume.pt only serves to continue training; the analyses read the step checkpoints.
            log.warning(
                "%s %s, but %s is finished: its final checkpoint %s is intact and is what the analyses read, "
                "so nothing needs retraining (resume.pt would only be needed to train on).",
                resume_file,
                err.problem,
                run_dir,
                runs.checkpoint_path(run_dir, final["step"]),
            )
            return final, False
        if not resume_file.exists():
            check_fresh_start(run_dir, config)
            return None, True
        raise
    require_finite_weights(state, resume_file, fix)
    if comparable(state["config"]) != comparable(config):
        differs = config_difference(state["config"], config)
        raise ReactivationError(
            f"{run_dir} holds a run with a different configuration{f' ({differs})' if differs else ''}; "
            "choose another path= or rerun with resume=false to replace it."
        )
    return state, True


def intact_final(run_dir: Path, n_steps: int, config: dict[str, Any]) -> dict[str, Any] | None:
    """The run's final step checkpoint (step ``n_steps``) with ``"test"`` added, if it is intact (readable,
    finite) and of this ``config``; else None."""
    try:
        final = runs.load_checkpoint(runs.checkpoint_path(run_dir, n_steps), keys=CHECKPOINT_KEYS)
        require_finite_weights(final, runs.checkpoint_path(run_dir, n_steps), "")
    except ReactivationError:
        return None
    if final["step"] != n_steps or comparable(final["config"]) != comparable(config):
        return None
    return {**final, "test": recorded_test(run_dir, n_steps)}


def recorded_test(run_dir: Path, step: int) -> dict[str, float]:
    """The test metrics of ``step`` in ``test_metrics.json``, or ``{}`` if that file does not have them."""
    try:
        values = json.loads((run_dir / "test_metrics.json").read_text()).get(str(step), {})
    except (OSError, ValueError, AttributeError):  # missing, not JSON, or not a {step: values} object
        return {}
    return values if isinstance(values, dict) else {}


def config_difference(recorded: dict[str, Any], composed: dict[str, Any]) -> str:
    """The settings in which a run's recorded config differs from the command's, as ``key: recorded there,
    composed here`` (at most 5), and the overrides that would continue that run; ``""`` if none differ (beyond the
    keys that do not change what is trained)."""
    there, here = leaves(comparable(recorded)), leaves(comparable(composed))
    keys = sorted(k for k in {*there, *here} if there.get(k) != here.get(k))
    if not keys:
        return ""
    shown = "; ".join(f"{k}: {there.get(k)!r} there, {here.get(k)!r} in this command" for k in keys[:5])
    more = f"; and {len(keys) - 5} more" if len(keys) > 5 else ""
    # Only where every differing setting can be given back on the command line; a partial list would mislead.
    if all(isinstance(there.get(k), (str, int, float)) for k in keys):
        return f"{shown}{more}; to continue that run, add {' '.join(f'{k}={there[k]}' for k in keys)}"
    return f"{shown}{more}"


def check_fresh_start(run_dir: Path, config: dict[str, Any]) -> None:
    """Let a run without ``resume.pt`` start afresh only if that loses nothing.

    A fresh start rewrites ``metrics.jsonl`` and the step checkpoints. A run that has nothing beyond step 0
    (:func:`runs.beyond_step_zero`) was interrupted before its first ``resume.pt``: it starts afresh. One with
    more trained on and then lost ``resume.pt`` (deleted by hand): starting over would delete what it saved,
    so it is refused.

    Raises:
        ReactivationError: a checkpoint or logged step after step 0; nothing is written. The message names
            the last intact step checkpoint (which the analyses can read with ``epoch=``) and the choices.
    """
    if not runs.beyond_step_zero(run_dir):
        return
    logged = runs.last_logged_step(run_dir)
    last, unusable = _last_intact_checkpoint(run_dir, config)
    there = [f"its last intact step checkpoint is {runs.checkpoint_path(Path(), last)}"] if last is not None else []
    if logged is not None:
        there.append(f"{runs.METRICS_LOG} logs steps up to {logged}")
    if unusable:
        there.append(f"unusable: {', '.join(unusable)}")
    keep = (
        ""
        if last is None
        else (f"; or keep it as it is: the analyses read its saved checkpoints with epoch=<step> (e.g. epoch={last})")
    )
    raise ReactivationError(
        f"{run_dir} cannot be resumed: its {runs.CHECKPOINT_DIR}/{runs.RESUME_FILE} is missing, and "
        f"training continues only from that file, yet the run got past step 0 ({'; '.join(there)}). Nothing was "
        f"changed. Retrain it from scratch with resume=false, which deletes those checkpoints and metrics{keep}."
    )


def _last_intact_checkpoint(run_dir: Path, config: dict[str, Any]) -> tuple[int | None, list[str]]:
    """The last step whose checkpoint is readable and finite (None if none is), and what is wrong with each later
    one (``"<file> <problem>"``).

    Raises:
        ReactivationError: that checkpoint is of another configuration than ``config`` (nothing is written).
    """
    unusable = []
    for step in reversed(runs.checkpoint_steps(run_dir)):
        path = runs.checkpoint_path(run_dir, step)
        try:
            state = runs.load_checkpoint(path, keys=CHECKPOINT_KEYS)
        except runs.CheckpointError as err:
            unusable.append(f"{path.name} {err.problem}")
            continue
        try:
            require_finite_weights(state, path, "")
        except ReactivationError:
            unusable.append(f"{path.name} holds non-finite weights")
            continue
        if comparable(state["config"]) != comparable(config):
            differs = config_difference(state["config"], config)
            raise ReactivationError(
                f"{run_dir} holds checkpoints of a run with a different configuration ({path}"
                f"{'; ' + differs if differs else ''}) and no "
                f"{runs.RESUME_FILE}; nothing was changed. Choose another path=, or rerun with resume=false to "
                "replace it (this deletes its checkpoints and metrics)."
            )
        return step, unusable
    return None, unusable


def differs(final: dict[str, Any], state: dict[str, Any]) -> str | None:
    """How the final step checkpoint ``final`` is not the one ``resume.pt`` (``state``) was saved with, or None.

    Both are written from the same state at the last step (:meth:`Run.save`), so any difference means the step
    checkpoint was replaced afterwards (copied from another run, edited).
    """
    if final["step"] != state["step"]:
        return f"holds step {final['step']!r}, not {state['step']}"
    if comparable(final["config"]) != comparable(state["config"]):
        theirs = final["config"] if isinstance(final["config"], dict) else {}
        return f"was written by another run (preset {theirs.get('preset')!r}, seed {theirs.get('seed')!r})"
    for part in ("model", "task"):
        ours, theirs = state[part], final[part]
        if ours.keys() != theirs.keys() or not all(torch.equal(ours[k].cpu(), theirs[k].cpu()) for k in ours):
            return f"holds other {part} tensors than {runs.RESUME_FILE}"
    return None


def restore_final_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Rewrite a finished run's final step checkpoint from ``resume.pt`` (``state``) unless it is the one saved
    with it: missing, unreadable, copied from another run or edited.

    ``resume.pt`` holds everything the step checkpoint does, so a final checkpoint that was deleted or replaced
    is not lost (the analyses need it, and would otherwise call the run unfinished or another run's).
    """
    path = runs.checkpoint_path(run_dir, state["step"])
    try:
        problem = differs(runs.load_checkpoint(path, keys=CHECKPOINT_KEYS), state)
    except runs.CheckpointError as err:
        problem = err.problem
    if problem is None:
        return
    log.warning("the final checkpoint %s %s; rewriting it from %s", path, problem, runs.RESUME_FILE)
    runs.save_checkpoint(path, {k: state[k] for k in CHECKPOINT_KEYS})


def restore_config(run_dir: Path, recorded: dict[str, Any]) -> None:
    """Rewrite ``config.yaml`` as ``recorded`` (the config the checkpoints were saved with) if it is missing,
    damaged or describes another run: the analyses find runs by it."""
    path = run_dir / runs.CONFIG_FILE
    try:
        same = comparable(runs.load_config(run_dir)) == comparable(recorded)
        problem = "describes another run"
    except (ReactivationError, OmegaConfBaseException, ValueError):  # unreadable, or values OmegaConf refuses
        same, problem = False, "is missing or damaged"
    if not same:
        log.warning("%s %s; rewriting it from the run's checkpoints", path, problem)
        runs.save_config(run_dir, recorded)
