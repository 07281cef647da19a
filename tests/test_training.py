"""Training runs at a tiny size: every preset, determinism, resume, checkpoints and failure modes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reactivation import ReactivationError, runs
from reactivation.config import presets
from reactivation.tasks import TASKS
from reactivation.training import train

ROOT = Path(__file__).resolve().parent.parent


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return runs.load_checkpoint(Path(run_dir) / "checkpoints" / "resume.pt")["model"]


def _train_losses(run_dir: Path) -> dict[str, float]:
    return {step: v["loss"] for step, v in json.loads((Path(run_dir) / "train_metrics.json").read_text()).items()}


@pytest.mark.parametrize("preset", presets())
def test_every_preset_trains_and_writes_its_run_directory(preset, tiny_config, tmp_path):
    cfg = tiny_config(preset)
    result = train(cfg, tmp_path, preset=preset)
    error = TASKS[cfg.task.name].error_name  # the task names its decoding error

    saved = runs.load_config(tmp_path)
    assert saved["preset"] == preset and saved["seed"] == 0
    cells = next(v for k, v in cfg.task.items() if k.endswith("cells_num"))
    assert saved["rnn"]["n_out"] == saved["rnn"]["n_init"] == cells == 32  # follows the task's (tiny) cell count
    assert runs.checkpoint_steps(tmp_path) == [0, 2, 4, 5]
    train_m = json.loads((tmp_path / "train_metrics.json").read_text())
    test_m = json.loads((tmp_path / "test_metrics.json").read_text())
    assert sorted(train_m, key=int) == ["1", "2", "3", "4", "5"]
    assert sorted(test_m, key=int) == ["0", "2", "4", "5"]
    assert all(set(v) == {"loss", error} for v in test_m.values())
    assert set(train_m["2"]) == {"loss", error} and set(train_m["3"]) == {"loss"}
    assert result["step"] == 5 and result["test"] == test_m["5"]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 5 + 4 and all(json.loads(line)["split"] in ("train", "test") for line in lines)


def test_checkpoints_hold_state_dicts_loadable_without_pickle(tiny_config, tmp_path):
    train(tiny_config(), tmp_path)
    light = torch.load(runs.checkpoint_path(tmp_path, 4), weights_only=True)
    full = torch.load(tmp_path / "checkpoints" / "resume.pt", weights_only=True)
    assert light["step"] == 4 and full["step"] == 5
    assert set(full) >= {"model", "task", "optimizer", "rng", "step", "config"}
    assert set(full["rng"]) == {"train_batches", "train_noise", "eval_noise"}
    centres = [v for k, v in full["task"].items() if "centres" in k]
    assert len(centres) == 1 and centres[0].shape == (32, 2)  # scale=tiny: 32 place cells
    assert light["task"].keys() == full["task"].keys()
    assert full["optimizer"]["state"], "Adam moments are saved"


def test_same_seed_gives_identical_runs_and_seed_0_differs_from_1(tiny_config, tmp_path):
    train(tiny_config(seed=0), tmp_path / "a")
    train(tiny_config(seed=0), tmp_path / "b")
    train(tiny_config(seed=1), tmp_path / "c")
    assert _train_losses(tmp_path / "a") == _train_losses(tmp_path / "b")
    assert all(torch.equal(w, _weights(tmp_path / "b")[k]) for k, w in _weights(tmp_path / "a").items())
    assert _train_losses(tmp_path / "a") != _train_losses(tmp_path / "c")


def test_test_freq_does_not_change_the_training_run(tiny_config, tmp_path):
    train(tiny_config(), tmp_path / "a")
    train(tiny_config("spatial_navigation/noisy_unbiased", "trainer.test_freq=1"), tmp_path / "b")
    assert _train_losses(tmp_path / "a") == _train_losses(tmp_path / "b")


# (5, 3): stopped mid-run; (1, 0): stopped before the first step was saved, so resumed at step 0.
@pytest.mark.parametrize(
    "preset, stop, saved",
    [
        ("spatial_navigation/noisy_unbiased", 5, 3),
        ("spatial_navigation/noisy_biased_gru", 5, 3),
        ("spatial_navigation/noisy_unbiased", 1, 0),
    ],
)
def test_resume_after_interruption_is_bit_identical(preset, stop, saved, tiny_config, tmp_path, monkeypatch):
    cfg = tiny_config(preset, "trainer.n_epochs=7", "trainer.save_freq=3")
    train(cfg, tmp_path / "straight")

    log = runs.MetricsLog.log

    def interrupt(self, split, step, **values):
        if split == "train" and step == stop:
            raise KeyboardInterrupt
        log(self, split, step, **values)

    monkeypatch.setattr(runs.MetricsLog, "log", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "resumed")
    assert runs.load_checkpoint(tmp_path / "resumed" / "checkpoints" / "resume.pt")["step"] == saved
    monkeypatch.setattr(runs.MetricsLog, "log", log)
    assert train(cfg, tmp_path / "resumed")["step"] == 7

    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert all(torch.equal(w, resumed[k]) for k, w in straight.items())
    assert _train_losses(tmp_path / "straight") == _train_losses(tmp_path / "resumed")
    for name in ("metrics.jsonl", "test_metrics.json"):
        assert (tmp_path / "straight" / name).read_text() == (tmp_path / "resumed" / name).read_text()


def test_finished_run_is_skipped_unless_resume_false(tiny_config, tmp_path):
    train(tiny_config(), tmp_path)
    resume_file = tmp_path / "checkpoints" / "resume.pt"
    before = resume_file.stat().st_mtime_ns
    assert train(tiny_config(), tmp_path)["step"] == 5
    assert resume_file.stat().st_mtime_ns == before
    train(tiny_config("spatial_navigation/noisy_unbiased", "resume=false"), tmp_path)
    assert resume_file.stat().st_mtime_ns != before
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 9  # a fresh log, not appended


def test_a_different_run_in_the_same_directory_is_refused(tiny_config, tmp_path):
    train(tiny_config(), tmp_path)
    message = r"different configuration \(trainer.lr: 0.001 there, 0.01 in this command; to continue that run, "
    with pytest.raises(ReactivationError, match=message + r"add trainer.lr=0.001\).*resume=false"):
        train(tiny_config("spatial_navigation/noisy_unbiased", "trainer.lr=0.01"), tmp_path)


def test_unreadable_checkpoint_names_the_file_and_the_fix(tiny_config, tmp_path):
    train(tiny_config(), tmp_path)
    resume_file = tmp_path / "checkpoints" / "resume.pt"
    resume_file.write_bytes(resume_file.read_bytes()[:100])
    # Without its final checkpoint too: a finished run with an intact one stays finished (tests/test_reliability.py).
    runs.checkpoint_path(tmp_path, 5).unlink()
    with pytest.raises(ReactivationError, match=r"resume\.pt is unreadable.*resume=false"):
        train(tiny_config(), tmp_path)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_config, tmp_path, monkeypatch):
    from reactivation.training import losses

    calls = {"n": 0}
    mse = losses.mse

    def nan_on_fourth_training_step(outputs, targets):
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == 4:
                return mse(outputs, targets) * float("nan")
        return mse(outputs, targets)

    monkeypatch.setattr(losses, "mse", nan_on_fourth_training_step)
    with pytest.raises(ReactivationError, match=r"diverged at step 4 \(training loss nan.*step_000002\.pt"):
        train(tiny_config(), tmp_path)
    state = runs.load_checkpoint(tmp_path / "checkpoints" / "resume.pt")
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in state["model"].values())


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "metrics.json"
    runs.write_json_atomic(path, {"1": {"loss": 1.0}})

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        runs.write_json_atomic(path, {"2": Unserialisable()})
    assert json.loads(path.read_text()) == {"1": {"loss": 1.0}}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left


def test_mismatched_sizes_are_refused(tiny_config, tmp_path):
    with pytest.raises(ReactivationError, match=r"rnn.n_out=10 does not match the task's 32 cells"):
        train(tiny_config("spatial_navigation/noisy_unbiased", "rnn.n_out=10"), tmp_path)
    with pytest.raises(ReactivationError, match=r"rnn.n_in=2 but the head_direction task gives 1-D"):
        train(tiny_config("head_direction/noisy_unbiased", "rnn.n_in=2"), tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def test_train_py_command_line_trains_into_the_run_directory(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "config=head_direction/noisy_biased",
        "seed=0",
        f"path={tmp_path}",
        "rnn.n_rec=8",
        "task.hd_cells_num=8",
        "task.batch_size=2",
        "task.sequence_length=4",
        "trainer.n_epochs=3",
        "trainer.test_freq=1",
        "trainer.save_freq=1",
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    run_dir = (
        tmp_path
        / "head_direction"
        / "noisy_biased"
        / "rnn.n_rec=8,task.batch_size=2,task.hd_cells_num=8,task.sequence_length=4,"
        "trainer.n_epochs=3,trainer.save_freq=1,trainer.test_freq=1" / "seed_0"
    )
    assert runs.checkpoint_steps(run_dir) == [0, 1, 2, 3]
    assert runs.load_config(run_dir)["preset"] == "head_direction/noisy_biased"
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert again.returncode == 0 and "already finished" in again.stdout + again.stderr


def test_spec_overrides_train_with_256_place_cells(tiny_config, tmp_path):
    cfg = tiny_config(
        "spatial_navigation/noisy_unbiased",
        "rnn.sigma2_rec=0.0003",
        "task.place_cells_num=256",
        "rnn.noise_dist=uniform",
    )
    train(cfg, tmp_path)
    state = runs.load_checkpoint(tmp_path / "checkpoints" / "resume.pt")
    assert state["model"]["readout.weight"].shape == (256, 16)
    assert state["model"]["encoder.weight"].shape == (16, 256)
    assert state["task"]["code.centres"].shape == (256, 2)
    assert state["config"]["rnn"]["sigma2_rec"] == 3e-4 and state["config"]["rnn"]["noise_dist"] == "uniform"


@pytest.mark.slow
def test_paper_size_network_learns_path_integration(tmp_path):
    """docs/spec.md §5's expected course at paper size (~3 minutes on 2 CPU cores).

    Measured with seed 0: test loss 4.7e-5 at step 100, 2.6e-5 at 300; decoding error 0.69 m² at
    step 100 (the early plateau), 0.045 m² at 300.
    """
    from reactivation.config import compose_train

    cfg = compose_train(
        [
            "config=spatial_navigation/noisy_unbiased",
            "seed=0",
            "device=cpu",
            "trainer.n_epochs=300",
            "trainer.progress=false",
        ]
    )
    test = train(cfg, tmp_path)["test"]
    zero_output_mse = 5.1e-5  # docs/spec.md §5: the loss of an all-zero output
    assert test["loss"] < 0.7 * zero_output_mse
    assert test["pos_mse"] < 0.1  # m², down from ~0.6 at chance
    first = json.loads((tmp_path / "test_metrics.json").read_text())["0"]
    assert first["loss"] > zero_output_mse and test["loss"] < 0.3 * first["loss"]


def test_multirun_trains_into_the_single_run_directories_and_skips_finished_runs(tmp_path):
    tiny = [
        "rnn.n_rec=8",
        "task.batch_size=2",
        "task.sequence_length=4",
        "trainer.n_epochs=2",
        "task.place_cells_num=8",
        "trainer.progress=false",
        f"path={tmp_path}",
    ]
    cmd = [sys.executable, str(ROOT / "train.py"), "-m", "config=spatial_navigation/noisy_unbiased", "seed=0,1", *tiny]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    from reactivation.config import compose_train

    for seed in (0, 1):
        single = compose_train(
            ["config=spatial_navigation/noisy_unbiased", f"seed={seed}", *tiny], with_hydra=True
        ).hydra.run.dir
        assert runs.checkpoint_steps(single) == [0, 2] and runs.load_config(single)["seed"] == seed
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert again.returncode == 0 and (again.stdout + again.stderr).count("already finished") == 2
