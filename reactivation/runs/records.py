"""A run's records of what it is: ``config.yaml`` (the resolved training config, by which readers find runs) and
``.hydra/`` (the command that trained it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from reactivation import ReactivationError
from reactivation.runs.files import write_text_atomic
from reactivation.runs.layout import CHECKPOINT_DIR, CONFIG_FILE, RECORD_DIR

log = logging.getLogger(__name__)


def write_record(run_dir: Path, files: dict[str, str]) -> None:
    """Write the record of the command that trains a run: ``{file name: text}`` into ``<run_dir>/.hydra/``.

    Hydra would write these files itself before the command checks anything (train.yaml turns that off);
    training writes them once it holds the run's lock, so a command that is refused writes nothing.
    """
    for name, text in files.items():
        write_text_atomic(Path(run_dir) / RECORD_DIR / name, text)


def save_config(run_dir: Path, config: dict[str, Any]) -> None:
    """Write the resolved config of a run as ``config.yaml``."""
    write_text_atomic(Path(run_dir) / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False))


def load_config(run_dir: Path) -> dict[str, Any]:
    """Read the resolved config of a run.

    Raises:
        ReactivationError: no readable ``config.yaml`` in ``run_dir``; for a folder with checkpoints, the message
            says how to have it rewritten.
    """
    path = Path(run_dir) / CONFIG_FILE
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ReactivationError(f"{path} is missing or unreadable: {_not_a_run(Path(run_dir))}") from err
    if not isinstance(config, dict) or not isinstance(config.get("seed"), int):
        raise ReactivationError(
            f"{path} holds no training config (empty or not written by train.py): {_not_a_run(Path(run_dir))}"
        )
    return config


def command_hint(run_dir: Path) -> str:
    """`` (its arguments are listed in <run_dir>/.hydra/overrides.yaml)`` when the run has that record, else ``""``:
    where a message that says "run its training command again" tells the user what that command was."""
    record = Path(run_dir) / RECORD_DIR / "overrides.yaml"
    return f" (its arguments are listed in {record})" if record.is_file() else ""


def _not_a_run(run_dir: Path) -> str:
    """What to do about a folder whose ``config.yaml`` is missing or damaged (the end of the message)."""
    if (run_dir / CHECKPOINT_DIR).is_dir():
        # The training command checks the checkpoints against the config it composes and rewrites config.yaml
        # from them (training.run.Run.restore_or_finish): nothing is retrained.
        return (
            f"{run_dir} is read as no training run. If it is one, run its training command again"
            f"{command_hint(run_dir)}: it rewrites {CONFIG_FILE} from the run's checkpoints, without retraining."
        )
    return f"{run_dir} is not a training run. Delete it, or train a run into it."


def iter_runs(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Yield ``(run_dir, config)`` for every run under ``root`` (found by their ``config.yaml``).

    A ``config.yaml`` that is not a training run's (empty, unreadable, foreign) is skipped with a warning: one
    stray file must not stop the analysis of every other run.
    """
    for path in sorted(Path(root).rglob(CONFIG_FILE)):
        if path.parent.name != RECORD_DIR:
            try:
                config = load_config(path.parent)
            except ReactivationError as err:
                log.warning("skipping %s", err)
                continue
            yield path.parent, config
