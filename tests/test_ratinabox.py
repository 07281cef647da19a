"""Spatial navigation on RatInABox's Agent (``task.motion=ratinabox``, issue 26 item 3): the trajectory bank, its
windows, its errors and a tiny training run. Tests that simulate need the extra and skip without it; those of the
errors it gives when the package is missing run everywhere."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from reactivation import ConfigError
from reactivation.config import compose_train, preflight
from reactivation.loading import build, comparable, load_run
from reactivation.seeding import generator
from reactivation.tasks import SpatialNavigationTask, build_task
from reactivation.tasks import ratinabox_motion as rib
from reactivation.training import train
from tests.conftest import TINY

needs_ratinabox = pytest.mark.skipif(
    importlib.util.find_spec("ratinabox") is None,
    reason="needs the ratinabox extra (pip install 'reactivation[ratinabox]'); CI installs it",
)

# A tiny bank: 2 walkers x 40 steps simulate in about 50 ms.
SMALL = {"ratinabox_agents": 2, "ratinabox_steps": 40}
SN = {"name": "spatial_navigation", "place_cells_num": 32, "sequence_length": 12}


def _spec(**changes) -> rib.BankSpec:
    values = {"box_width": 2.2, "box_height": 1.6, "dt": 0.02, "b": 0.8168, "mu": 0.0, "sigma": 11.52}
    return rib.BankSpec(**{**values, "agents": 2, "steps": 40, "seed": 3, **changes})


def _task(seed: int = 0, **values) -> SpatialNavigationTask:
    task = build_task({**SN, "motion": "ratinabox", **SMALL, **values}, torch.Generator().manual_seed(seed))
    assert isinstance(task, SpatialNavigationTask)
    return task


@needs_ratinabox
def test_the_bank_is_reproducible_for_a_seed_differs_between_seeds_and_keeps_numpy_state():
    np.random.seed(123)
    state = np.random.get_state()
    first = rib.simulate_bank.__wrapped__(_spec())  # uncached: simulated afresh each time
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]
    assert torch.equal(first, rib.simulate_bank.__wrapped__(_spec()))
    assert not torch.equal(first, rib.simulate_bank.__wrapped__(_spec(seed=4)))
    assert first.shape == (2, 41, 2) and first.dtype == torch.float64
    # centred on the origin, inside the 2.2 x 1.6 box (RatInABox's walls keep the agent in)
    assert (first.abs() <= torch.tensor([1.1, 0.8])).all()
    assert rib.simulate_bank(_spec()) is rib.simulate_bank(_spec())  # cached per process


@needs_ratinabox
@pytest.mark.parametrize("biased", [False, True])
def test_windows_lie_in_the_box_and_the_inputs_sum_to_the_latents(biased):
    task = _task(biased=biased)
    batch = task.sample(16, torch.Generator().manual_seed(1))
    assert batch.inputs.shape == (16, 12, 2) and batch.targets.shape == (16, 12, 32)
    assert (batch.latent.abs() <= 1.1).all() and (batch.init_latent.abs() <= 1.1).all()
    summed = batch.init_latent[:, None] + batch.inputs.cumsum(dim=1)
    torch.testing.assert_close(summed, batch.latent, atol=1e-5, rtol=0)
    positions, displacements = task.simulate(16, torch.Generator().manual_seed(1))
    assert torch.equal(positions[:, 1], batch.init_latent) and torch.equal(displacements[:, 1:], batch.inputs)
    if not biased:  # unbiased windows are the bank's own consecutive positions
        bank = task.bank.positions(torch.device("cpu"), torch.get_default_dtype())
        row = positions[0]
        hits = [
            (a, s)
            for a in range(bank.shape[0])
            for s in range(bank.shape[1] - 13)
            if torch.equal(bank[a, s : s + 14], row)
        ]
        assert hits


@needs_ratinabox
def test_the_drift_pulls_windows_towards_the_anchor():
    plain, biased = _task(), _task(biased=True, drift_const=0.2, anchor_point=[0.5, 0.0])
    a = plain.sample(64, torch.Generator().manual_seed(2)).latent[:, -1]
    b = biased.sample(64, torch.Generator().manual_seed(2)).latent[:, -1]
    anchor = torch.tensor([0.5, 0.0])
    assert (b - anchor).norm(dim=1).mean() < 0.5 * (a - anchor).norm(dim=1).mean()


@needs_ratinabox
def test_batches_follow_the_generator_and_the_bank_follows_the_run_seed():
    task = _task()
    one = task.sample(8, torch.Generator().manual_seed(5))
    assert torch.equal(one.inputs, task.sample(8, torch.Generator().manual_seed(5)).inputs)
    assert not torch.equal(one.inputs, task.sample(8, torch.Generator().manual_seed(6)).inputs)
    # the same config and centres generator give the same bank; another run seed another bank
    assert _task(0).bank.spec == task.bank.spec and _task(1).bank.spec.seed != task.bank.spec.seed
    # the bank's seed is drawn after the centres: the place cells are those of the generator motion
    walk = build_task({**SN}, torch.Generator().manual_seed(0))
    assert torch.equal(walk.code.centres, task.code.centres)


def test_the_default_motion_is_the_generator_and_draws_as_before():
    default = build_task(SN, torch.Generator().manual_seed(0))
    explicit = build_task({**SN, "motion": "generator", "ratinabox_steps": 5}, torch.Generator().manual_seed(0))
    assert default.motion == "generator" and default.bank is None
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a, b = default.sample(4, g1), explicit.sample(4, g2)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.latent, b.latent)
    assert torch.equal(g1.get_state(), g2.get_state())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"motion": "rib"}, r"task.motion must be one of \('generator', 'ratinabox'\), got 'rib'"),
        ({"motion": "generator", "ratinabox_agents": 0}, "task.ratinabox_agents must be a positive integer, got 0"),
        ({"motion": "ratinabox", "ratinabox_steps": 12}, r"task.ratinabox_steps must be an integer >= .* = 13"),
        ({"motion": "ratinabox", "init_pos": "center"}, "task.init_pos=center needs task.motion=generator"),
        # The schema makes a number a string for a string key (docs/decisions.md): the choice check refuses it.
        ({"motion": 3}, r"task.motion must be one of \('generator', 'ratinabox'\), got '3'"),
    ],
)
def test_bad_values_are_config_errors_naming_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        build_task({**SN, **values}, torch.Generator().manual_seed(0))


def test_without_the_package_the_error_names_the_extra(monkeypatch, tmp_path):
    # None in sys.modules is what an absent package looks like to imports (its submodules too, if imported already)
    for name in ["ratinabox", *(m for m in sys.modules if m.startswith("ratinabox."))]:
        monkeypatch.setitem(sys.modules, name, None)
    install = r"pip install 'reactivation\[ratinabox\]'"
    with pytest.raises(ConfigError, match=f"task.motion=ratinabox needs the ratinabox package.*{install}"):
        build_task({**SN, "motion": "ratinabox"}, torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match=install):  # the bank's own import says the same
        rib.simulate_bank(_spec(seed=99))
    # the training command's preflight builds the task, so it refuses before anything is written
    argv = ["config=spatial_navigation/noisy_unbiased", "seed=0", "task.motion=ratinabox", f"path={tmp_path}"]
    with pytest.raises(ConfigError, match=install):
        preflight(argv, check=build)
    assert not any(tmp_path.iterdir())


@needs_ratinabox
def test_a_tiny_run_on_ratinabox_passes_preflight_trains_and_reads_back_its_bank(tmp_path):
    overrides = ["task.motion=ratinabox", "task.ratinabox_agents=2", "task.ratinabox_steps=40", "trainer.lr=0.01"]
    preset = "spatial_navigation/noisy_biased"
    preflight([f"config={preset}", "seed=0", *TINY, *overrides, f"path={tmp_path}"], check=build)
    cfg = compose_train([f"config={preset}", "seed=0", *TINY, *overrides])
    result = train(cfg, tmp_path, preset=preset)
    tests = json.loads((tmp_path / "test_metrics.json").read_text())
    assert result["step"] == 5 and tests["5"]["loss"] < tests["0"]["loss"]
    # read back, the run rebuilds the bank it was trained on (same seed, same spec)
    setup = load_run(tmp_path, device="cpu")
    assert setup.config.task.motion == "ratinabox" and setup.task.bank is not None
    trained = build_task(cfg.task, generator(0, "centres"))
    assert setup.task.bank.spec == trained.bank.spec
    assert torch.equal(
        setup.task.sample(4, generator(0, "test_batch")).inputs, trained.sample(4, generator(0, "test_batch")).inputs
    )


def test_a_run_saved_before_the_motion_keys_existed_is_still_the_generator_run(tiny_config):
    saved = comparable(OmegaConf.to_container(tiny_config("spatial_navigation/noisy_unbiased"), resolve=True))
    new = ("motion", "ratinabox_agents", "ratinabox_steps")
    old = {**saved, "task": {k: v for k, v in saved["task"].items() if k not in new}}
    assert comparable(old) == saved
    other = tiny_config("spatial_navigation/noisy_unbiased", "task.motion=ratinabox")
    assert comparable(OmegaConf.to_container(other, resolve=True)) != saved
