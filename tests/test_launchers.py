"""Launcher presets: local parallel runs (joblib) and SLURM (submitit, tested with its local executor)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reactivation import runs
from reactivation.config import compose_train

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "rnn.n_rec=8",
    "task.batch_size=2",
    "task.sequence_length=4",
    "trainer.n_epochs=2",
    "task.place_cells_num=8",
    "trainer.progress=false",
]


# slurm_local (submitit on this machine) takes ~50 s of process start-ups: a slow test; local covers the sweep
@pytest.mark.parametrize("launcher", ["local", pytest.param("slurm_local", marks=pytest.mark.slow)])
def test_launcher_runs_a_seed_sweep_into_the_usual_run_directories_and_skips_them_after(launcher, tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        f"hydra/launcher={launcher}",
        "config=spatial_navigation/noisy_unbiased",
        "seed=0,1",
        f"path={tmp_path}",
        *TINY,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for seed in (0, 1):
        run_dir = compose_train(
            ["config=spatial_navigation/noisy_unbiased", f"seed={seed}", f"path={tmp_path}", *TINY], with_hydra=True
        ).hydra.run.dir
        assert runs.checkpoint_steps(run_dir) == [0, 2]
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("step_*.pt")}
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    # Re-running the sweep through the launcher skips both finished runs: nothing is retrained or rewritten.
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("step_*.pt")} == stamps and len(stamps) == 4


def test_slurm_preset_has_the_cluster_settings():
    cfg = compose_train(
        [
            "config=spatial_navigation/noisy_unbiased",
            "seed=0",
            "hydra/launcher=slurm",
            "hydra.launcher.partition=gpu",
            "hydra.launcher.timeout_min=30",
        ],
        with_hydra=True,
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.timeout_min, launcher.gpus_per_node) == ("gpu", 30, 1)
    assert launcher.mem_gb > 0 and launcher.array_parallelism > 0 and launcher.cpus_per_task > 0
