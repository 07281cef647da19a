"""Shared fixtures: the real configs, composed with Hydra's compose API and shrunk to a tiny size."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reactivation.config import compose_train

if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # A worker per core: torch's threads (and those of the commands the tests start) would otherwise contend.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

# Shrinks every preset to a few milliseconds per step while keeping its structure: scale=tiny gives each task its
# own tiny sizes (cell counts: reactivation/configs/train/sizes/<task>/<model>/tiny.yaml), and the keys below, which
# every task has, shrink the steps and batches further.
TINY = [
    "rnn.n_rec=16",
    "task.batch_size=4",
    "task.sequence_length=6",
    "trainer.n_epochs=5",
    "trainer.test_freq=2",
    "trainer.save_freq=2",
    "trainer.decode_freq=2",
    "trainer.progress=false",
    "device=cpu",
    "scale=tiny",
]


@pytest.fixture
def tiny_config():
    """``tiny_config(preset, *overrides, seed=0)`` → a composed, shrunk training config."""

    def make(preset: str = "spatial_navigation/noisy_unbiased", *overrides: str, seed: int = 0):
        return compose_train([f"config={preset}", f"seed={seed}", *TINY, *overrides])

    return make


@pytest.fixture(scope="session")
def tiny_hd_runs(tmp_path_factory) -> Path:
    """A results root holding the four HD vanilla presets trained at :data:`TINY` size, seed 0 (tests only read
    the runs; each writes its own kind of result beside them)."""
    from reactivation.analysis.settings import FAMILIES
    from reactivation.training import train

    root = tmp_path_factory.mktemp("tiny_hd")
    for preset in FAMILIES[("head_direction", "vanilla")].values():
        train(compose_train([f"config={preset}", "seed=0", *TINY]), root / preset / "seed_0", preset=preset)
    return root
