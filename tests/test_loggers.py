"""Experiment loggers (reactivation.loggers, docs/loggers.md): what each writes is read back with its own reader
(csv, TensorBoard's EventAccumulator, MLflow's client on a local SQLite store) and compared with metrics.jsonl,
through interruptions, resumes and a logger switched on part-way."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from reactivation import ConfigError, config, loggers, runs
from reactivation.analysis import lookup
from reactivation.ensembles import shape_key
from reactivation.training import train
from tests.conftest import TINY

PRESET = "spatial_navigation/noisy_unbiased"
SCHEDULE = ("trainer.n_epochs=7", "trainer.save_freq=3", "trainer.test_freq=2")


def _needs(name: str) -> None:
    package = loggers.LOGGERS[name]
    if package is not None and importlib.util.find_spec(package) is None:
        pytest.skip(f"logger={name} needs the {package} package: pip install 'reactivation[{name}]'")


def _config(tiny_config, tmp_path: Path, name: str, *overrides: str):
    uri = f"logger.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"
    return tiny_config(PRESET, *SCHEDULE, f"logger={name}", *([uri] if name == "mlflow" else []), *overrides)


def _expected(run_dir: Path, lr: float) -> dict[tuple[str, int], float]:
    """``{(split/metric, step): value}`` of metrics.jsonl, with the learning rate of every training step."""
    out: dict[tuple[str, int], float] = {}
    for line in (run_dir / runs.METRICS_LOG).read_text().splitlines():
        entry = json.loads(line)
        values = {k: v for k, v in entry.items() if k not in ("split", "step")}
        if entry["split"] == "train":
            values["lr"] = lr
        out.update({(f"{entry['split']}/{k}", entry["step"]): float(v) for k, v in values.items()})
    return out


def _read(name: str, run_dir: Path, tmp_path: Path) -> list[tuple[str, int, float]]:
    """Every value the logger holds, as ``(split/metric, step, value)``, duplicates included."""
    if name == "csv":
        with open(run_dir / loggers.CSV_FILE, newline="") as f:
            rows = list(csv.DictReader(f))
        return [
            (f"{row['split']}/{k}", int(row["step"]), float(v))
            for row in rows
            for k, v in row.items()
            if k not in ("split", "step") and v != ""
        ]
    if name == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(run_dir / "tensorboard"))
        events.Reload()
        return [(tag, e.step, e.value) for tag in events.Tags()["scalars"] for e in events.Scalars(tag)]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = json.loads((run_dir / loggers.MLFLOW_FILE).read_text())["run_id"]
    keys = client.get_run(run_id).data.metrics
    return [(k, m.step, m.value) for k in keys for m in client.get_metric_history(run_id, k)]


def _check_against_jsonl(name: str, run_dir: Path, tmp_path: Path) -> None:
    held = _read(name, run_dir, tmp_path)
    pairs = [(tag, step) for tag, step, _ in held]
    assert len(pairs) == len(set(pairs)), "a step was logged twice"
    expected = _expected(run_dir, 0.001)
    assert set(pairs) == set(expected)
    for tag, step, value in held:  # TensorBoard keeps float32
        assert value == pytest.approx(expected[(tag, step)], rel=1e-6), (tag, step)


def _interrupted(cfg, run_dir: Path, monkeypatch, split: str = "train", stop: int = 5) -> None:
    """Train ``cfg`` into ``run_dir`` and stop it before logging ``split`` at step ``stop``, after the checkpoint
    of step 3, as a kill would."""
    log = runs.MetricsLog.log

    def interrupt(self, at, step, **values):
        if at == split and step == stop:
            raise KeyboardInterrupt
        log(self, at, step, **values)

    monkeypatch.setattr(runs.MetricsLog, "log", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, run_dir, preset=PRESET)
    monkeypatch.setattr(runs.MetricsLog, "log", log)
    assert runs.load_checkpoint(run_dir / "checkpoints" / "resume.pt")["step"] == 3


@pytest.mark.parametrize("name", ["csv", "tensorboard", "mlflow"])
def test_each_logger_holds_every_metric_and_the_learning_rate_of_metrics_jsonl(name, tiny_config, tmp_path):
    _needs(name)
    run_dir = tmp_path / "run"
    train(_config(tiny_config, tmp_path, name), run_dir, preset=PRESET)
    _check_against_jsonl(name, run_dir, tmp_path)


@pytest.mark.parametrize("name", ["csv", "tensorboard", "mlflow"])
def test_a_resumed_run_continues_the_same_log_without_writing_a_step_twice(name, tiny_config, tmp_path, monkeypatch):
    _needs(name)
    cfg, run_dir = _config(tiny_config, tmp_path, name), tmp_path / "run"
    _interrupted(cfg, run_dir, monkeypatch)
    held = {(tag, step) for tag, step, _ in _read(name, run_dir, tmp_path)}
    assert ("train/loss", 4) in held  # what the interrupted process logged after its last checkpoint
    first = json.loads((run_dir / loggers.MLFLOW_FILE).read_text())["run_id"] if name == "mlflow" else None
    assert train(cfg, run_dir, preset=PRESET)["step"] == 7
    _check_against_jsonl(name, run_dir, tmp_path)
    if name == "mlflow":  # the same MLflow run, finished, is the only one of its experiment
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
        assert json.loads((run_dir / loggers.MLFLOW_FILE).read_text())["run_id"] == first
        assert client.get_run(first).info.status == "FINISHED"
        experiment = client.get_experiment_by_name(PRESET)
        assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [first]
        assert client.get_run(first).data.params["trainer.lr"] == "0.001"
        assert client.get_run(first).data.params["preset"] == PRESET


@pytest.mark.parametrize("name", ["csv", "tensorboard", "mlflow"])
def test_a_stop_between_a_steps_training_and_test_entries_loses_neither(name, tiny_config, tmp_path, monkeypatch):
    _needs(name)
    cfg, run_dir = _config(tiny_config, tmp_path, name), tmp_path / "run"
    _interrupted(cfg, run_dir, monkeypatch, split="test", stop=4)
    held = {(tag, step) for tag, step, _ in _read(name, run_dir, tmp_path)}
    assert ("train/loss", 4) in held and ("test/loss", 4) not in held
    train(cfg, run_dir, preset=PRESET)
    _check_against_jsonl(name, run_dir, tmp_path)


@pytest.mark.parametrize("name", ["csv", "tensorboard", "mlflow"])
def test_a_logger_switched_on_at_resume_gets_the_steps_before_it(name, tiny_config, tmp_path, monkeypatch):
    _needs(name)
    run_dir = tmp_path / "run"
    _interrupted(_config(tiny_config, tmp_path, "none"), run_dir, monkeypatch)
    assert not (run_dir / loggers.CSV_FILE).exists() and not (run_dir / "tensorboard").exists()
    train(_config(tiny_config, tmp_path, name), run_dir, preset=PRESET)  # the logger is no part of the run
    _check_against_jsonl(name, run_dir, tmp_path)


@pytest.mark.parametrize("name", ["csv", "tensorboard"])
def test_a_run_started_over_replaces_its_old_curves(name, tiny_config, tmp_path):
    _needs(name)
    run_dir = tmp_path / "run"
    train(_config(tiny_config, tmp_path, name, "trainer.lr=0.002"), run_dir, preset=PRESET)
    # Another learning rate is another run: it starts over in the same directory only with resume=false.
    train(_config(tiny_config, tmp_path, name, "resume=false"), run_dir, preset=PRESET)
    _check_against_jsonl(name, run_dir, tmp_path)  # no value of the first run is left (its lr was 0.002)


def test_the_logger_changes_neither_the_run_nor_where_it_is_found(tiny_config, tmp_path):
    root = tmp_path / "root"
    preset = "head_direction/no-noise_biased"
    cfg = tiny_config(preset, "logger=csv")
    run_dir = root / preset / "seed_0"
    train(cfg, run_dir, preset=preset)
    # An analysis composes the defaults (logger=none) and still finds the run trained with logger=csv.
    assert lookup.find_run(root, preset, 0, list(TINY), None) == run_dir
    assert shape_key(cfg) == shape_key(tiny_config(preset, "logger=tensorboard"))  # one ensemble
    assert config.is_runtime_key("logger.tracking_uri") and not config.is_runtime_key("rnn.n_rec")


def test_the_logger_group_offers_every_logger_the_library_knows():
    assert config.logger_choices() == sorted(loggers.LOGGERS)


def test_an_unknown_logger_is_refused_before_anything_is_written_with_the_choices(tmp_path):
    argv = [f"config={PRESET}", "seed=0", "logger=tensorbord", f"path={tmp_path}"]
    with pytest.raises(ConfigError, match=r"unknown logger=tensorbord\. Did you mean 'tensorboard'\?.*csv"):
        config.preflight(argv)
    assert list(tmp_path.iterdir()) == []


def test_a_logger_without_its_package_names_the_extra_to_install(tiny_config, tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "mlflow" else find_spec(n, *a))
    with pytest.raises(
        ConfigError, match=r"logger=mlflow needs the mlflow package.*pip install 'reactivation\[mlflow\]'"
    ):
        train(_config(tiny_config, tmp_path, "mlflow"), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before the run directory was made
