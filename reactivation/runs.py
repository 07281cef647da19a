"""Run directories: layout, atomic files, checkpoints and metrics.

A run directory holds::

    config.yaml           the resolved training config (+ ``preset``), written before training starts
    .hydra/               Hydra's own record of the command (when started from train.py)
    metrics.jsonl         one JSON line per logged step, appended as training goes
    train_metrics.json    {step: {loss, pos_mse | hd_mse}} summaries, rewritten at each checkpoint
    test_metrics.json     the same for the fixed test batch
    checkpoints/
        step_000100.pt    weights, cell centres, step and config every ``trainer.save_freq`` steps
        resume.pt         the latest full training state (adds optimizer and random-stream states)

Every file is written to a temporary file and renamed into place, so an interruption never leaves a
torn file; ``resume.pt`` is written last and is what a resumed run continues from.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import torch
import yaml

from reactivation import ReactivationError

CONFIG_FILE = "config.yaml"
METRICS_LOG = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
RESUME_FILE = "resume.pt"


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename."""
    _atomic(path, lambda f: f.write(text.encode()))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save a dict of tensors / state dicts / plain values atomically (loadable with weights_only)."""
    _atomic(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: no pickled code).

    Raises:
        ReactivationError: the file is missing or unreadable, naming it and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise ReactivationError(f"checkpoint {path} does not exist.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise ReactivationError(
            f"checkpoint {path} is unreadable ({type(err).__name__}: {str(err).splitlines()[0][:200]}). "
            "Delete it to fall back on an earlier one, or rerun with resume=false to start over.") from err


def checkpoint_path(run_dir: Path, step: int) -> Path:
    """Path of the periodic checkpoint of ``step``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:06d}.pt"


def checkpoint_steps(run_dir: Path) -> list[int]:
    """Steps of the periodic checkpoints present in ``run_dir``, ascending."""
    files = (Path(run_dir) / CHECKPOINT_DIR).glob("step_*.pt")
    return sorted(int(p.stem.split("_")[1]) for p in files)


def save_config(run_dir: Path, config: dict[str, Any]) -> None:
    """Write the resolved config of a run as ``config.yaml``."""
    write_text_atomic(Path(run_dir) / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False))


def load_config(run_dir: Path) -> dict[str, Any]:
    """Read the resolved config of a run.

    Raises:
        ReactivationError: no readable ``config.yaml`` in ``run_dir``.
    """
    path = Path(run_dir) / CONFIG_FILE
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ReactivationError(f"{path} is missing or unreadable: {run_dir} is not a training run.") from err


def iter_runs(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Yield ``(run_dir, config)`` for every run under ``root`` (found by their ``config.yaml``)."""
    for path in sorted(Path(root).rglob(CONFIG_FILE)):
        if path.parent.name != ".hydra":
            yield path.parent, load_config(path.parent)


class MetricsLog:
    """Metrics of one run: appended line by line to ``metrics.jsonl``, summarised per split.

    Args:
        run_dir: the run directory.
        resume_step: keep logged entries up to this step (those after it belong to steps that will
            be recomputed); ``None`` starts a fresh log.
    """

    def __init__(self, run_dir: Path, resume_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / METRICS_LOG
        self.splits: dict[str, dict[str, dict[str, float]]] = {"train": {}, "test": {}}
        kept = []
        if resume_step is not None and self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # a line torn by an interruption
                    continue
                if entry["step"] <= resume_step:
                    kept.append(entry)
                    self._record(entry)
        write_text_atomic(self.path, "".join(json.dumps(e) + "\n" for e in kept))
        self._file = open(self.path, "a")

    def _record(self, entry: dict[str, Any]) -> None:
        values = {k: v for k, v in entry.items() if k not in ("split", "step")}
        self.splits[entry["split"]].setdefault(str(entry["step"]), {}).update(values)

    def log(self, split: str, step: int, **values: float) -> None:
        """Append one entry (flushed at once, so a crash loses nothing already logged)."""
        entry = {"split": split, "step": step, **values}
        self._record(entry)
        self._file.write(json.dumps(entry) + "\n")
        self._file.flush()

    def write_summaries(self) -> None:
        """Rewrite ``train_metrics.json`` and ``test_metrics.json`` atomically."""
        for split, entries in self.splits.items():
            write_json_atomic(self.run_dir / f"{split}_metrics.json", entries)

    def close(self) -> None:
        self._file.close()
