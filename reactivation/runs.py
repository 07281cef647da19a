"""Run directories: layout, atomic files, checkpoints and metrics.

A run directory holds::

    config.yaml           the resolved training config (+ ``preset``), written before training starts
    .hydra/               Hydra's record of the command that trained it (when started from train.py), written
                          once the command holds the run's lock
    metrics.jsonl         one JSON line per logged step, appended as training goes
    train_metrics.json    {step: {loss, pos_mse | hd_mse}} summaries, rewritten at each checkpoint
    test_metrics.json     the same for the fixed test batch
    diverged.json         only while the run is stopped by divergence: the step, the cause and the message
    checkpoints/
        step_000100.pt    weights, cell centres, step and config every ``trainer.save_freq`` steps
        resume.pt         the latest full training state (adds optimizer and random-stream states)

Every file is written to a temporary file and renamed into place, so an interruption never leaves a
torn file; ``resume.pt`` is written last and is what a resumed run continues from.

A shipped run (the evidence store, docs/campaign.md) keeps instead only ``final_weights.pt``, its last step
checkpoint, beside ``config.yaml``: readers find it through :func:`saved_checkpoints`.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import torch
import yaml

from reactivation import ReactivationError
from reactivation.processes import deferred_interrupts

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
METRICS_LOG = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
RESUME_FILE = "resume.pt"
#: Hydra's record of the command that trained the run (config.yaml, hydra.yaml, overrides.yaml).
RECORD_DIR = ".hydra"
#: Present while training is stopped by divergence (:func:`mark_diverged`): a diverged run has nothing else to
#: tell it from an interrupted one, whose command would finish it.
DIVERGED_FILE = "diverged.json"


def _host() -> str:
    # Dots and dashes would make the temporary-file names ambiguous to parse.
    return socket.gethostname().replace(".", "_").replace("-", "_") or "localhost"


@functools.cache
def _file_mode() -> int:
    # mkstemp creates 0600 files; a finished file should be as readable as any the user creates (umask),
    # so that a lab's shared results directory stays readable to colleagues.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _temporary_prefix(path: Path) -> str:
    """``.<name>.<host>-<pid>.``: whose temporary file it is, so that leftovers of dead writers can be told apart."""
    return f".{path.name}.{_host()}-{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_temporaries(directory: Path, every: bool = False, target: str | None = None) -> list[Path]:
    """Delete temporary files left in ``directory`` by writers that were killed mid-write (SIGKILL, power loss).

    Args:
        directory: the folder to clean (not recursive).
        every: delete every temporary file (the caller holds the run's lock, so nobody else is writing);
            otherwise only those of dead processes of this host.
        target: only the temporary files of this file name.

    Returns:
        The deleted files.
    """
    removed = []
    pattern = f".{target}.*.tmp" if target else ".*.tmp"
    for tmp in Path(directory).glob(pattern):
        owner = tmp.name[: -len(".tmp")].rsplit(".", 2)
        host, _, pid = owner[1].rpartition("-") if len(owner) == 3 else ("", "", "")
        stale = every or (host == _host() and pid.isdigit() and not _pid_alive(int(pid)))
        if stale and tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _atomic(path: Path, write) -> None:
    """Write ``path`` through ``write(file)`` into a temporary file, then rename it into place.

    Ctrl-C and SIGTERM are held until the file is complete (processes.deferred_interrupts). An OS error
    (full disk, read-only or missing folder) becomes a ReactivationError naming the file; the previous
    version of the file, if any, is left as it was.
    """
    path = Path(path)
    tmp = None
    try:
        with deferred_interrupts():
            path.parent.mkdir(parents=True, exist_ok=True)
            clean_temporaries(path.parent, target=path.name)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                if hasattr(os, "fchmod"):
                    os.fchmod(f.fileno(), _file_mode())
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise ReactivationError(f"could not write {path}: {os_error_text(err)}") from err
        raise


def os_error_text(err: OSError) -> str:
    """What went wrong and what to do, for an OS error while reading or writing results."""
    reason = err.strerror or str(err)
    hints = {
        errno.ENOSPC: "free some space or choose another path=",
        errno.EDQUOT: "free some space or choose another path=",
        errno.EROFS: "the file system is read-only; choose another path=",
        errno.EACCES: "you may not write there; choose another path= or fix its permissions",
        errno.EPERM: "you may not write there; choose another path= or fix its permissions",
        errno.ENOTDIR: "a file stands where a folder is needed; choose another path=",
        errno.EEXIST: "a file stands where a folder is needed; choose another path=",
    }
    hint = hints.get(err.errno) if err.errno is not None else None  # an OSError raised without one has None
    where = f" ({err.filename})" if err.filename else ""
    return f"{reason}{where}" + (f"; {hint}. Files already written are complete and kept." if hint else ".")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename."""
    _atomic(path, lambda f: f.write(text.encode()))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save a dict of tensors / state dicts / plain values atomically (loadable with weights_only)."""
    _atomic(path, lambda f: torch.save(state, f))


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


def checkpoint_path(run_dir: Path, step: int) -> Path:
    """Path of the periodic checkpoint of ``step``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:06d}.pt"


#: A shipped run's only checkpoint, at the top of its directory: the evidence store keeps a finished run's final
#: weights (its last step checkpoint, no optimizer state) and no step checkpoints (docs/campaign.md).
FINAL_WEIGHTS = "final_weights.pt"


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


def checkpoint_steps(run_dir: Path) -> list[int]:
    """Steps of the periodic checkpoints present in ``run_dir``, ascending."""
    files = (Path(run_dir) / CHECKPOINT_DIR).glob("step_*.pt")
    return sorted(int(p.stem.split("_")[1]) for p in files)


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


def beyond_step_zero(run_dir: Path) -> bool:
    """Whether the run saved a step checkpoint or logged a step after step 0: what a fresh start would lose.

    Before its first ``resume.pt`` (written at step 0, after ``step_000000.pt``) a run has at most step 0, which
    a fresh start computes again from the seed; anything later means it trained on.
    """
    return max([0, *checkpoint_steps(run_dir), last_logged_step(run_dir) or 0]) > 0


def last_logged_step(run_dir: Path) -> int | None:
    """The last step ``metrics.jsonl`` logs (damaged lines skipped: this only says how far a run got), or None if
    it logs none."""
    try:
        lines = (Path(run_dir) / METRICS_LOG).read_bytes().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    steps = [entry["step"] for entry, _ in map(_line_problem, lines) if entry is not None]
    return max(steps, default=None)


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


LOCK_FILE = ".lock"


def busy(run_dir: Path, holder: str) -> ReactivationError:
    """The error that refuses a second writer of ``run_dir``."""
    return ReactivationError(
        f"{run_dir} is being written by another process ({holder}). Wait for it to finish, "
        "stop it (Ctrl-C, or kill <pid>: it stops resumably), or choose another path=."
    )


class RunLock:
    """Exclusive hold on a run directory for as long as one process trains into it.

    Uses an advisory ``flock`` on ``<run_dir>/.lock``: the kernel releases it when the holder dies, however it
    dies, so a lock left by a killed process is stale and simply taken over (the file then names a process
    that is gone, which is logged). The file records the holder (pid, host, start time) for the message that
    refuses a second writer.

    Raises:
        ReactivationError: another live process holds the directory (on ``__enter__``).
    """

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # not POSIX (Windows): runs are not locked there
            log.debug("no fcntl: %s is not locked", self.run_dir)
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, _file_mode())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise busy(self.run_dir, self._holder()) from None
            # The holder before us may have deleted the file between our open and our lock: lock the file that
            # is there now, not an orphaned inode.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = os.read(fd, 4096).decode(errors="replace").strip()
        if previous:
            log.info("taking over the stale lock of %s (that process is gone)", previous)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(
            fd, f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode()
        )
        self._fd = fd
        return self

    @staticmethod
    def holder(run_dir: Path) -> str | None:
        """Who holds ``run_dir`` now (the lock file's record), or None if no live process does; changes nothing."""
        path = Path(run_dir) / LOCK_FILE
        try:
            import fcntl

            fd = os.open(path, os.O_RDONLY)
        except (ImportError, OSError):  # no lock file (or no fcntl): not held
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return RunLock(run_dir)._holder()
        finally:
            os.close(fd)  # also releases our shared lock at once
        return None

    def _holder(self) -> str:
        try:
            return self.path.read_text().strip() or "pid unknown"
        except OSError:
            return "pid unknown"

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # while still holding it: see the inode check in __enter__
            os.close(self._fd)
            self._fd = None


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
