"""A run's metrics: ``metrics.jsonl`` appended line by line as training goes, checked and read back on resume, and
summarised per split (``train_metrics.json``, ``test_metrics.json``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Protocol

from reactivation import ReactivationError
from reactivation.runs.files import os_error_text, write_json_atomic, write_text_atomic
from reactivation.runs.layout import METRICS_LOG, checkpoint_steps

log = logging.getLogger(__name__)


def _entry_problem(entry: Any) -> str | None:
    """Why ``entry`` (a parsed line of ``metrics.jsonl``) is not one that :meth:`MetricsLog.log` writes, or None."""
    if not isinstance(entry, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
        return f"{kinds.get(type(entry), 'null')}, not an object"
    if entry.get("split") not in ("train", "test"):
        return f"split {entry.get('split')!r} is neither 'train' nor 'test'"
    step = entry.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return f"step {step!r} is not a step number"
    for key, value in entry.items():
        if key not in ("split", "step") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{key} {value!r} is not a number"
    return None


def _line_problem(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """A line of ``metrics.jsonl`` parsed: ``(entry, None)``, or ``(None, why it is damaged)``."""
    if "\ufffd" in line:  # bytes that were not UTF-8, replaced on reading: the line is not what was written
        return None, "it holds bytes that are not UTF-8 text"
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as err:
        return None, f"it is not JSON ({err.msg})"
    problem = _entry_problem(entry)
    return (None, f"it is not a metrics entry ({problem})") if problem else (entry, None)


def read_metrics(run_dir: Path, up_to: int) -> list[dict[str, Any]]:
    """The entries of a run's ``metrics.jsonl`` up to step ``up_to``, in the order they were logged.

    A process killed while appending (SIGKILL, power loss) can leave the last line torn (damaged, without its
    newline): that line is dropped, with a warning (its step is after the last checkpoint, so training
    recomputes it). Any other line that is not an entry :meth:`MetricsLog.log` writes was damaged or edited
    after it was written: keeping the rest and rewriting the file would lose it for good, so it is an error
    and nothing is changed.

    Args:
        run_dir: the run directory.
        up_to: the last step to keep (the step a resumed run continues from).

    Returns:
        ``[{"split": "train" | "test", "step": int, <metric>: float, ...}, ...]``; ``[]`` if there is no log.

    Raises:
        ReactivationError: damaged lines other than a torn last one, naming the file, each line and what to do.
    """
    path = Path(run_dir) / METRICS_LOG
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as err:
        raise ReactivationError(
            f"cannot read the metrics log {path}: {os_error_text(err)} Nothing was changed."
        ) from err
    lines = text.splitlines()
    kept, damaged = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():  # holds no entry: nothing to lose
            continue
        entry, problem = _line_problem(line)
        if entry is not None:
            if entry["step"] <= up_to:
                kept.append(entry)
        elif number == len(lines) and not text.endswith("\n"):  # appending stopped mid-line
            log.warning("%s: dropping its last line (line %d), torn by an interrupted write: %.80r", path, number, line)
        else:
            damaged.append(f"line {number}: {problem}: {line[:80]!r}")
    if damaged:
        shown = "\n  ".join(damaged[:5]) + (f"\n  ... and {len(damaged) - 5} more" if len(damaged) > 5 else "")
        raise ReactivationError(
            f"the metrics log {path} is damaged (a resume would drop these lines for good, so nothing was "
            f"changed):\n  {shown}\nTo fix it, repair each line (one object per line: "
            '{"split": "train" or "test", "step": <integer>, <metric>: <number>, ...}) or delete it if you do not '
            "need it, then run the training command again. resume=false instead retrains the run from scratch."
        )
    return kept


def last_logged_step(run_dir: Path) -> int | None:
    """The last step ``metrics.jsonl`` logs (damaged lines skipped: this only says how far a run got), or None if
    it logs none."""
    try:
        lines = (Path(run_dir) / METRICS_LOG).read_bytes().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    steps = [entry["step"] for entry, _ in map(_line_problem, lines) if entry is not None]
    return max(steps, default=None)


def beyond_step_zero(run_dir: Path) -> bool:
    """Whether the run saved a step checkpoint or logged a step after step 0: what a fresh start would lose.

    Before its first ``resume.pt`` (written at step 0, after ``step_000000.pt``) a run has at most step 0, which
    a fresh start computes again from the seed; anything later means it trained on.
    """
    return max([0, *checkpoint_steps(run_dir), last_logged_step(run_dir) or 0]) > 0


class MetricsSink(Protocol):
    """Where a :class:`MetricsLog` also sends its entries: an experiment logger (:mod:`reactivation.loggers`)."""

    def log(self, entry: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class MetricsLog:
    """Metrics of one run: appended line by line to ``metrics.jsonl``, summarised per split.

    Args:
        run_dir: the run directory.
        resume_step: keep logged entries up to this step (those after it belong to steps that will
            be recomputed); ``None`` starts a fresh log.
        kept: the entries to keep, as :func:`read_metrics` returned them (read already by the caller);
            ``None`` reads them here.
        sink: also sent every new entry, flushed with the summaries and closed with the log (the experiment
            logger, :func:`reactivation.loggers.open_logger`, which was handed the kept entries itself).

    Raises:
        ReactivationError: a damaged line in ``metrics.jsonl`` (see :func:`read_metrics`); nothing is written.
    """

    def __init__(
        self,
        run_dir: Path,
        resume_step: int | None = None,
        kept: list[dict[str, Any]] | None = None,
        sink: MetricsSink | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.sink = sink
        self.path = self.run_dir / METRICS_LOG
        self.splits: dict[str, dict[str, dict[str, float]]] = {"train": {}, "test": {}}
        if kept is None:
            kept = read_metrics(self.run_dir, resume_step) if resume_step is not None else []
        for entry in kept:
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
        if self.sink is not None:
            self.sink.log(entry)

    def write_summaries(self) -> None:
        """Rewrite ``train_metrics.json`` and ``test_metrics.json`` atomically."""
        for split, entries in self.splits.items():
            write_json_atomic(self.run_dir / f"{split}_metrics.json", entries)
        if self.sink is not None:
            self.sink.flush()

    def close(self) -> None:
        self._file.close()
        if self.sink is not None:
            self.sink.close()

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
