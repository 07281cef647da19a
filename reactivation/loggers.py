"""Experiment loggers: a run's metrics, learning rate and config also sent to CSV, TensorBoard or MLflow.

Chosen with the ``logger`` config group (``reactivation train ... logger=tensorboard``; docs/loggers.md).
``metrics.jsonl`` stays the run's own record whatever the choice (:class:`reactivation.runs.MetricsLog`); a
logger receives every entry that log receives, plus the learning rate with each training entry, and the run's
resolved config once. A resumed run continues the same logger output without writing a step twice: each logger
is handed the entries the run keeps (those up to the resumed checkpoint) and writes only those it lacks, so a
logger switched on part-way through a run also gets the steps before it.

Logged names are ``<split>/<metric>``: ``train/loss``, ``train/lr``, ``test/pos_mse``, ...
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from reactivation import ConfigError
from reactivation.config import leaves
from reactivation.runs import MetricsSink, write_json_atomic, write_text_atomic

#: The choices of the ``logger`` group, with the package each needs (``None``: none).
LOGGERS: dict[str, str | None] = {"none": None, "csv": None, "tensorboard": "tensorboard", "mlflow": "mlflow"}
#: The CSV logger's file in the run directory.
CSV_FILE = "metrics.csv"
#: The MLflow logger's record of its run in the run directory (tracking URI, experiment and run id).
MLFLOW_FILE = "mlflow_run.json"

Entry = dict[str, Any]  # {"split": "train" | "test", "step": int, <metric>: float, ...}


class Logger(Protocol):
    """One logger's output; :func:`open_logger` wraps it into the :class:`reactivation.runs.MetricsSink` that
    ``metrics.jsonl``'s log sends its entries to."""

    def log(self, entry: Entry) -> None:
        """One entry of ``metrics.jsonl`` (training entries carry ``lr`` too)."""

    def flush(self) -> None:
        """Make what was logged durable (called with every checkpoint)."""

    def close(self, finished: bool) -> None:
        """Flush and release; ``finished``: the run reached its last step."""


def _settings(config: Any) -> dict[str, Any]:
    """The ``logger`` settings of a training config (a run recorded before loggers existed had none)."""
    return dict(config.get("logger") or {"name": "none"})


def check(config: Any) -> None:
    """Check the ``logger`` settings of a training config (a DictConfig or its dict) before any work starts.

    Raises:
        ConfigError: an unknown logger, or one whose package is not installed (with the install command).
    """
    name = _settings(config)["name"]
    if name not in LOGGERS:
        raise ConfigError(f"logger={name!r} is not a logger; choose one of {', '.join(LOGGERS)}.")
    package = LOGGERS[name]
    if package is not None and importlib.util.find_spec(package) is None:
        raise ConfigError(
            f"logger={name} needs the {package} package, which is not installed: "
            f"pip install 'reactivation[{name}]' (or choose logger=csv, which needs nothing)."
        )


def open_logger(
    config: dict[str, Any], run_dir: Path, kept: list[Entry], resumed: bool, lr: Callable[[], float]
) -> MetricsSink | None:
    """The logger ``config["logger"]`` chooses for the run in ``run_dir``, caught up with the entries ``kept``.

    Args:
        config: the run's resolved config as ``config.yaml`` records it (``logger``, ``path``, ``preset``, ``seed``
            and the rest, which is logged once).
        run_dir: the run directory.
        kept: the entries of ``metrics.jsonl`` the run keeps, up to the step it resumes from (empty: a fresh run).
        resumed: the run continues from a checkpoint; otherwise a previous logger output of the run is replaced
            (CSV, TensorBoard) or a new MLflow run is started.
        lr: the learning rate now, sent with every training entry (the kept ones too: the schedule is constant).

    Returns:
        The sink for :class:`reactivation.runs.MetricsLog`, or ``None`` for ``logger=none``.
    """
    check(config)
    name = _settings(config)["name"]
    if name == "none":
        return None
    builders: dict[str, Callable[..., Logger]] = {"csv": _Csv, "tensorboard": _TensorBoard, "mlflow": _MLflow}
    sink = _Sink(lr, int(config["trainer"]["n_epochs"]))
    sink.inner = builders[name](config, Path(run_dir), [sink.with_lr(e) for e in kept], resumed)
    return sink


class _Sink:
    """Between ``metrics.jsonl``'s log and a logger: adds the learning rate to every training entry, and tells the
    logger at close whether the run reached its last step."""

    inner: Logger

    def __init__(self, lr: Callable[[], float], n_steps: int):
        self.lr, self.n_steps, self.last = lr, n_steps, -1

    def with_lr(self, entry: Entry) -> Entry:
        self.last = max(self.last, int(entry["step"]))
        return {**entry, "lr": self.lr()} if entry["split"] == "train" else entry

    def log(self, entry: Entry) -> None:
        self.inner.log(self.with_lr(entry))

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close(self.last >= self.n_steps)


def _values(entry: Entry) -> dict[str, float]:
    return {f"{entry['split']}/{k}": float(v) for k, v in entry.items() if k not in ("split", "step")}


class _Csv:
    """``metrics.csv``: one row per entry, columns ``split, step`` and every metric (empty where not measured).

    Rewritten whole from what it holds when a new column appears, and at open from the kept entries; appended
    otherwise.
    """

    def __init__(self, config: dict[str, Any], run_dir: Path, kept: list[Entry], resumed: bool):
        self.path = run_dir / CSV_FILE
        self.rows: list[Entry] = [dict(e) for e in kept]
        self.columns: list[str] = []
        self._rewrite()

    def _rewrite(self) -> None:
        names = {k for row in self.rows for k in row if k not in ("split", "step")}
        self.columns = ["split", "step", *sorted(names)]
        text = io.StringIO()
        writer = csv.DictWriter(text, self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, text.getvalue())
        self._file = open(self.path, "a", newline="")

    def log(self, entry: Entry) -> None:
        self.rows.append(dict(entry))
        if set(entry) - set(self.columns):
            self._file.close()
            self._rewrite()
            return
        csv.DictWriter(self._file, self.columns, lineterminator="\n").writerow(entry)

    def flush(self) -> None:
        self._file.flush()

    def close(self, finished: bool) -> None:
        self._file.close()


class _TensorBoard:
    """TensorBoard event files in ``<run>/<logger.dir>/``: scalars ``<split>/<metric>`` and the config as text.

    A resumed run's writer purges the events after the resumed step (TensorBoard's ``purge_step``), which the
    interrupted process may have written; a run without event files yet gets the kept entries written first.
    """

    def __init__(self, config: dict[str, Any], run_dir: Path, kept: list[Entry], resumed: bool):
        from torch.utils.tensorboard import SummaryWriter

        log_dir = run_dir / _settings(config)["dir"]
        has_events = log_dir.is_dir() and any(log_dir.glob("events.out.tfevents.*"))
        if has_events and not resumed:
            shutil.rmtree(log_dir)  # a run started over: its old curves would mix with the new ones
        start = kept[-1]["step"] if kept else 0
        purge = start + 1 if resumed and has_events else None
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge)
        if purge is None:
            for entry in kept:
                self.log(entry)
        text = json.dumps(config, indent=1, default=str)
        self.writer.add_text("config", "    " + text.replace("\n", "\n    "), global_step=start)

    def log(self, entry: Entry) -> None:
        for tag, value in _values(entry).items():
            self.writer.add_scalar(tag, value, global_step=entry["step"])

    def flush(self) -> None:
        self.writer.flush()

    def close(self, finished: bool) -> None:
        self.writer.close()


def mlflow_uri(config: Any) -> str:
    """The MLflow tracking URI of a run: ``logger.tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else an SQLite
    database ``mlflow.db`` in the results root (``path``), which ``mlflow ui --backend-store-uri`` opens."""
    uri = _settings(config).get("tracking_uri")
    if uri:
        return str(uri)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{Path(config['path']).resolve() / 'mlflow.db'}"


class _MLflow:
    """An MLflow run per training run: metrics with their steps, the flattened config as parameters.

    The run's id is kept in ``<run>/mlflow_run.json``, so a resumed run logs into the same MLflow run; steps that
    MLflow has already (logged before an interruption, identical when recomputed: resuming is bit-exact) are not
    sent again. Metrics are sent in batches, at every checkpoint and every :data:`BATCH` values.
    """

    BATCH = 1000  # MLflow's limit of metrics per log_batch call

    def __init__(self, config: dict[str, Any], run_dir: Path, kept: list[Entry], resumed: bool):
        from mlflow.entities import Metric, Param, RunStatus
        from mlflow.tracking import MlflowClient

        self._metric, self._status = Metric, RunStatus
        uri = mlflow_uri(config)
        self.client = MlflowClient(tracking_uri=uri)
        self.record = run_dir / MLFLOW_FILE
        previous = self._previous_run(uri) if resumed else None
        self.logged_to: dict[str, int] = {}  # per metric, the last step MLflow holds for this run
        if previous is None:
            experiment = str(_settings(config).get("experiment") or config.get("preset") or "reactivation")
            found = self.client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
            name = f"{config.get('preset') or run_dir.name} seed={config['seed']}"
            self.run_id: str = self.client.create_run(experiment_id, run_name=name).info.run_id
            write_json_atomic(self.record, {"tracking_uri": uri, "experiment_id": experiment_id, "run_id": self.run_id})
        else:
            self.run_id = previous
            self.client.update_run(previous, status=RunStatus.to_string(RunStatus.RUNNING))
            # Per metric: an interruption between a step's training and test entries leaves only the first.
            for key in {k for entry in kept for k in _values(entry)}:
                steps = [m.step for m in self.client.get_metric_history(previous, key)]
                self.logged_to[key] = max(steps, default=-1)
        held = self.client.get_run(self.run_id).data.params
        params = [Param(k, str(v)[:6000]) for k, v in leaves(config).items() if k not in held]
        for i in range(0, len(params), 100):  # MLflow's limit of parameters per call
            self.client.log_batch(self.run_id, params=params[i : i + 100])
        self.pending: list[Any] = []
        for entry in kept:
            self.log(entry)
        self.flush()

    def _previous_run(self, uri: str) -> str | None:
        """The id of the MLflow run this training run logged to before, if it is in the same tracking store."""
        try:
            record = json.loads(self.record.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if record.get("tracking_uri") != uri:
            return None
        try:
            return str(self.client.get_run(record["run_id"]).info.run_id)
        except Exception:  # the store no longer has it (deleted, another database): start a new MLflow run
            return None

    def log(self, entry: Entry) -> None:
        step, now = entry["step"], int(time.time() * 1000)
        new = {k: v for k, v in _values(entry).items() if step > self.logged_to.get(k, -1)}
        self.pending += [self._metric(k, v, now, step) for k, v in new.items()]
        if len(self.pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        for i in range(0, len(self.pending), self.BATCH):
            self.client.log_batch(self.run_id, metrics=self.pending[i : i + self.BATCH])
        self.pending = []

    def close(self, finished: bool) -> None:
        self.flush()
        status = self._status.FINISHED if finished else self._status.KILLED
        self.client.set_terminated(self.run_id, status=self._status.to_string(status))
