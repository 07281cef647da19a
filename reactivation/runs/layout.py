"""Where things are in a run directory: the names of its files and folders, and its step checkpoints' paths.

The layout itself is described in :mod:`reactivation.runs`; every other module of the package (and every reader of
a run) names files through these constants.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.yaml"
METRICS_LOG = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
RESUME_FILE = "resume.pt"
#: Hydra's record of the command that trained the run (config.yaml, hydra.yaml, overrides.yaml).
RECORD_DIR = ".hydra"
#: Present while training is stopped by divergence (:func:`mark_diverged`): a diverged run has nothing else to
#: tell it from an interrupted one, whose command would finish it.
DIVERGED_FILE = "diverged.json"
#: The lock file that :class:`~reactivation.runs.lock.RunLock` holds while a process trains into the run.
LOCK_FILE = ".lock"
#: A shipped run's only checkpoint, at the top of its directory: the evidence store keeps a finished run's final
#: weights (its last step checkpoint, no optimizer state) and no step checkpoints (docs/campaign.md).
FINAL_WEIGHTS = "final_weights.pt"


def checkpoint_path(run_dir: Path, step: int) -> Path:
    """Path of the periodic checkpoint of ``step``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:06d}.pt"


def checkpoint_steps(run_dir: Path) -> list[int]:
    """Steps of the periodic checkpoints present in ``run_dir``, ascending."""
    files = (Path(run_dir) / CHECKPOINT_DIR).glob("step_*.pt")
    return sorted(int(p.stem.split("_")[1]) for p in files)
