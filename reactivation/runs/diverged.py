"""The record of a run that training stopped on divergence (``diverged.json``), which tells it from an interrupted
run: written when training stops it, removed when it finishes or starts over, out of date once it saved again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reactivation.runs.files import write_json_atomic
from reactivation.runs.layout import DIVERGED_FILE, checkpoint_steps


def mark_diverged(run_dir: Path, step: int, cause: str, message: str) -> None:
    """Record in ``<run_dir>/diverged.json`` that training stopped the run at ``step`` on divergence.

    Args:
        run_dir: the run directory.
        step: the step whose loss or weights diverged (never saved).
        cause: what gave it away, e.g. ``"training loss 8.7e+29"``.
        message: the error training raised, with its advice.
    """
    steps = checkpoint_steps(run_dir)
    record = {"step": step, "cause": cause, "last_checkpoint": steps[-1] if steps else None, "message": message}
    write_json_atomic(Path(run_dir) / DIVERGED_FILE, record)


def clear_divergence(run_dir: Path) -> None:
    """Remove ``diverged.json``: the run finished after all, or starts over (``resume=false``)."""
    (Path(run_dir) / DIVERGED_FILE).unlink(missing_ok=True)


def divergence(run_dir: Path) -> dict[str, Any] | None:
    """What ``diverged.json`` records (``{"step": int, "cause": str, "last_checkpoint": int | None, "message":
    str}``) if training stopped the run on divergence and it has not saved a checkpoint since, else None.

    A record at or before the last checkpoint is out of date (the run was resumed past that step, e.g. on
    another device, and then interrupted) and an unreadable one tells nothing: both read as None.
    """
    try:
        record = json.loads((Path(run_dir) / DIVERGED_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or isinstance(record.get("step"), bool) or not isinstance(record.get("step"), int):
        return None
    steps = checkpoint_steps(run_dir)
    return record if not steps or record["step"] > steps[-1] else None
