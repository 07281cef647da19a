"""Checkpoints: saving them atomically, loading them with a message that names the file and the fix, and finding
the ones a reader can load (a shipped run keeps only its final weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from reactivation import ReactivationError
from reactivation.runs.files import atomic
from reactivation.runs.layout import FINAL_WEIGHTS, checkpoint_path, checkpoint_steps
from reactivation.runs.records import load_config


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save a dict of tensors / state dicts / plain values atomically (loadable with weights_only)."""
    atomic(path, lambda f: torch.save(state, f))


#: What to do about an unreadable checkpoint, unless the caller knows better.
RETRAIN = "rerun the training command with resume=false to start over"


class CheckpointError(ReactivationError):
    """A checkpoint that is missing or unusable; ``problem`` says what is wrong with it, the message adds the fix."""

    def __init__(self, path: Path, problem: str, fix: str | None = None):
        super().__init__(f"checkpoint {path} {problem}." + (f" To fix it, {fix}." if fix else ""))
        self.path, self.problem = Path(path), problem


def load_checkpoint(
    path: Path, map_location: str | torch.device = "cpu", keys: tuple[str, ...] = (), fix: str = RETRAIN
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: no pickled code).

    Args:
        path: the file.
        map_location: where to put its tensors.
        keys: entries the checkpoint must have (a file of another kind lacks them).
        fix: what the user should do if the file is unusable (ends the error message).

    Raises:
        CheckpointError: the file is missing, empty, unreadable, not a dict or lacks ``keys``, naming it and
            the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "does not exist")
    problem = None
    if path.stat().st_size == 0:
        problem = "is empty (0 bytes)"
    else:
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # torch raises several types for truncated or foreign files
            first = next(iter(str(err).splitlines()), "")[:200]
            problem = f"is unreadable ({type(err).__name__}{': ' + first if first else ''})"
        else:
            missing = [k for k in keys if k not in state] if isinstance(state, dict) else list(keys)
            if not isinstance(state, dict):
                problem = f"holds a {type(state).__name__}, not a checkpoint of this library"
            elif missing:
                problem = f"lacks {', '.join(map(repr, missing))}: it is not a checkpoint of this kind"
    if problem:
        raise CheckpointError(path, problem, fix)
    return state


def saved_checkpoints(run_dir: Path) -> dict[int, Path]:
    """Every checkpoint a reader can load, ``{step: file}`` ascending: the step checkpoints, or, in a shipped run
    that has none, its final weights (:data:`FINAL_WEIGHTS`, at step ``trainer.n_epochs``).

    Training writes and resumes step checkpoints only (:func:`checkpoint_path`); this is for what reads a run.
    """
    found = {step: checkpoint_path(run_dir, step) for step in checkpoint_steps(run_dir)}
    final = Path(run_dir) / FINAL_WEIGHTS
    if not found and final.is_file():
        found[int(load_config(run_dir)["trainer"]["n_epochs"])] = final
    return found
