"""Linear-track task: movement model, place cells on a line, config errors and an end-to-end training run.

Statistical checks compare with analytic expectations; each tolerance is a stated number of standard errors
of the sample used (5 sigma, or a chi-square quantile at p = 1e-4), so a correct implementation fails one
with probability well under 1e-4 whatever the seed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from scipy import stats

from reactivation import ConfigError, runs
from reactivation.codes import DECODE_TOP_K, PlaceCells
from reactivation.config import TRAIN_CONFIG_DIR, compose_train
from reactivation.geometry import Interval
from reactivation.tasks import build_task
from reactivation.tasks.linear_track import LinearTrackTask, TrackPositionCode

ROOT = Path(__file__).resolve().parent.parent
H = 1.0  # half the default track length, m
MEAN_STEP = 0.8168140899333463 * math.sqrt(math.pi / 2) * 0.02  # Rayleigh mean speed * dt, m/step (~0.0205)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_task(**kwargs) -> LinearTrackTask:
    return LinearTrackTask(PlaceCells.random_on_interval(128, 0.1, -H, H, gen(0)), **kwargs)


# --- the movement model ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"biased": True},
        {"init_pos": "reward"},
        {"biased": True, "reward_position": 0.3, "drift_const": 1.0},
        # steps of metres: every step reflects, some even clamp (longer than 2H)
        {"b": 100.0},
        {"border_slow_factor": 3.0, "border_region": 0.5},
    ],
)
def test_positions_stay_on_the_track_and_inputs_sum_to_the_latent(kwargs):
    task = make_task(sequence_length=200, **kwargs)
    batch = task.sample(500, gen(1))
    L = 200
    assert batch.inputs.shape == (500, L, 1) and batch.latent.shape == (500, L, 1)
    assert batch.init_latent.shape == (500, 1) and batch.targets.shape == (500, L, 128)
    assert batch.init_code.shape == (500, 128)
    assert (batch.latent.abs() <= H).all() and (batch.init_latent.abs() <= H).all()
    # The input is the displacement that happened, reflections and drift included.
    path = batch.init_latent.unsqueeze(1) + torch.cumsum(batch.inputs, dim=1)
    torch.testing.assert_close(path, batch.latent, rtol=0, atol=L * 4 * torch.finfo(torch.float32).eps)
    torch.testing.assert_close(batch.targets, task.code.encode(batch.latent))


def test_init_pos_reward_starts_at_the_reward_and_uniform_covers_the_track():
    at_reward = make_task(init_pos="reward", reward_position=0.25).sample(100, gen(2)).init_latent
    assert torch.equal(at_reward, torch.full((100, 1), 0.25))
    n = 20000
    batch = make_task(sequence_length=1).sample(n, gen(3))
    start = batch.init_latent[:, 0]
    # The first direction is +1 or -1 with probability 1/2 (reflections at the ends are symmetric).
    right = (batch.inputs[:, 0, 0] > 0).double().mean().item()
    assert abs(right - 0.5) < 5 * math.sqrt(0.25 / n)
    assert start.min() >= -H and start.max() <= H
    # U(-H, H): Kolmogorov-Smirnov against its CDF, at p = 1e-4.
    assert stats.kstest(start.double().numpy(), stats.uniform(loc=-H, scale=2 * H).cdf).pvalue > 1e-4


def test_reversal_rate_away_from_the_ends_is_one_minus_exp_of_minus_turn_rate_dt():
    # A high rate (p ~ 0.18) tells 1 - exp(-r dt) from its linearisation r dt = 0.2 by ~40 standard errors.
    task = make_task(sequence_length=500, turn_rate=10.0)
    positions, disp = task.simulate(2000, gen(4))
    p = 1 - math.exp(-10.0 * 0.02)
    assert task.reversal_probability == pytest.approx(p)
    # Step t -> t+1 is a random reversal iff the sign of the displacement flips. Steps whose start x_t and
    # x_{t+1} are >= 0.1 m from the ends are never slowed or reflected (that needs a step > 0.1 m: probability
    # ~ exp(-19)), and the choice is independent of x_t, x_{t+1}, so the selection does not bias the rate.
    away = (positions[:, :-2].abs() < H - 0.1) & (positions[:, 1:-1].abs() < H - 0.1)
    flips = (torch.sign(disp[:, 1:]) != torch.sign(disp[:, :-1]))[away]
    n = flips.numel()
    assert n > 500_000
    rate = flips.double().mean().item()
    assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_step_reflects_at_the_ends_turns_round_and_slows_only_towards_the_end_ahead():
    task = make_task()  # border_region 0.03, border_slow_factor 0.25
    pos = torch.tensor([0.99, 0.99, -0.995, 0.5, 0.9, 0.0, 0.98])
    direction = torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0])
    length = torch.tensor([0.08, 0.04, 0.1, 0.02, 5.0, 0.02, 0.02])
    reverse = torch.tensor([True, False, False, True, False, False, False])
    x, d = task.step(pos, direction, length, reverse)
    expected = torch.tensor(
        [
            1.0 - (0.99 + 0.25 * 0.08 - 1.0),  # near the end ahead: slowed to 0.02, reflected off +H
            0.99 - 0.04,  # near +H but heading away: not slowed
            -1.0 + (0.1 * 0.25 - 0.005),  # slowed to 0.025, reflected off -H
            0.52,  # away from the ends: moves, then reverses at random
            -1.0,  # 5 m step: its reflection (-3.1) leaves the track too, so it is clamped to the far end
            0.02,
            0.98 + 0.25 * 0.02,  # 0.02 m from the end ahead: slowed, not reflected
        ]
    )
    torch.testing.assert_close(x, expected)
    # Reflected agents turn round whatever ``reverse`` says; the others reverse iff told to.
    assert d.tolist() == [-1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0]


def test_unbiased_occupancy_is_uniform_along_the_track():
    # Final positions of independent long runs (1000 steps = 20 s; the track is crossed in ~2 s) are i.i.d.
    # draws from the stationary distribution, uniform away from the ends: a reflecting walk is the fold of a
    # walk on a circle of length 2L, and slowing near an end only changes the density within a step of it.
    n, L = 20000, 1000
    positions, _ = make_task(sequence_length=L).simulate(n, gen(6))
    x = positions[:, -1]
    assert abs(x.mean().item()) < 5 * (2 * H / math.sqrt(12)) / math.sqrt(n)
    inner = x[x.abs() < 0.8]
    counts = torch.histc(inner, bins=8, min=-0.8, max=0.8).double()
    expected = counts.sum() / 8
    chi2 = ((counts - expected).square() / expected).sum().item()
    assert chi2 < stats.chi2.ppf(1 - 1e-4, df=7)
    # And the ends hold their share too (nobody is lost at a wall): |x| < 0.8 is 80 % of the track.
    share = inner.numel() / n
    assert abs(share - 0.8) < 0.05


def test_biased_occupancy_concentrates_at_the_reward_end():
    # Without a reflection, H - x_{t+1} = (1 - c)(H - x_t) - d_t l_t <= (1 - c)(H - x_t) + l_t; a reflection
    # only brings x closer to H (reward at +H) or into the track. So E[H - x_T] <= (1 - c)^T E[H - x_0]
    # + E[l] / c (1 - (1 - c)^T), E[l] = b sqrt(pi / 2) dt: at most ~0.41 m, against 1 m for uniform occupancy.
    n, T, c = 20000, 300, 0.05
    task = make_task(sequence_length=T, biased=True)
    positions, _ = task.simulate(n, gen(7))
    gap = H - positions[:, -1].double()
    bound = (1 - c) ** T * H + MEAN_STEP / c * (1 - (1 - c) ** T)
    assert gap.mean().item() < bound + 5 * gap.std().item() / math.sqrt(n)
    unbiased, _ = make_task(sequence_length=T).simulate(n, gen(7))
    assert positions[:, -1].mean() > unbiased[:, -1].mean() + 0.5  # mean position shifted by > half a metre
    assert bound < 0.45


def test_biased_drift_is_part_of_the_input():
    # With turn_rate 0 and no borders, x_{t+1} - x_t - c (R - x_t) is +-l_t away from the ends; its size is the
    # Rayleigh step (mean b sqrt(pi/2) dt), while the drift term alone has a different mean.
    task = make_task(sequence_length=50, biased=True, reward_position=0.0, turn_rate=0.0, border_region=0.0)
    positions, disp = task.simulate(4000, gen(8))
    x = positions[:, :-1]
    free = (x.abs() < 0.5) & (positions[:, 1:].abs() < 0.5)
    step = (disp - 0.05 * (0.0 - x))[free].abs().double()
    assert abs(step.mean().item() - MEAN_STEP) < 5 * step.std().item() / math.sqrt(step.numel())


# --- place cells on a line ---------------------------------------------------------------------------------


def test_random_on_interval_draws_n_by_1_centres_on_the_interval():
    pc = PlaceCells.random_on_interval(5000, 0.1, -0.5, 1.5, gen(9))
    assert pc.centres.shape == (5000, 1) and pc.n_units == 5000
    c = pc.centres[:, 0].double()
    assert c.min() >= -0.5 and c.max() <= 1.5
    assert abs(c.mean().item() - 0.5) < 5 * (2 / math.sqrt(12)) / math.sqrt(5000)
    assert torch.equal(pc.centres, PlaceCells.random_on_interval(5000, 0.1, -0.5, 1.5, gen(9)).centres)
    with pytest.raises(ValueError):
        PlaceCells.random_on_interval(5, 0.1, 1.0, 1.0, gen(0))
    with pytest.raises(ValueError):
        PlaceCells.random_on_interval(0, 0.1, -1.0, 1.0, gen(0))
    y = pc.encode(torch.rand(7, 3, 1, generator=gen(1)))
    assert y.shape == (7, 3, 5000) and (y >= 0).all()
    torch.testing.assert_close(y.sum(-1), torch.ones(7, 3))
    dog = PlaceCells.random_on_interval(50, 0.1, -1.0, 1.0, gen(0), dog=True).encode(torch.zeros(4, 1))
    assert (dog >= 0).all() and torch.allclose(dog.sum(-1), torch.ones(4))


def test_place_cell_round_trip_error_is_a_fraction_of_the_cell_spacing():
    # Softmax top-3 decoding returns the mean of the 3 nearest centres. Uniform centres of density lambda are
    # locally a Poisson process: the distances of the nearest ones are the arrivals of a rate-2 lambda process
    # (D_i ~ Gamma(i, 2 lambda)), each on either side at random, so E[err^2] = sum_i E[D_i^2] / 9
    # = (2 + 6 + 12) / (4 * 9 lambda^2) = 5/9 spacing^2 (spacing = 1 / lambda), away from the ends.
    n, length, draws = 512, 2.0, 40
    spacing = length / n
    x = torch.linspace(-0.8, 0.8, 4001).unsqueeze(-1)  # grid step 4e-4 m, a tenth of the spacing
    ratios = []
    for seed in range(draws):
        pc = PlaceCells.random_on_interval(n, 0.1, -1.0, 1.0, gen(100 + seed))
        ratios.append((pc.decode(pc.encode(x)) - x).square().mean().item() / spacing**2)
    r = torch.tensor(ratios, dtype=torch.float64)
    assert abs(r.mean().item() - 5 / 9) < 5 * r.std().item() / math.sqrt(draws)
    # With the task's own code, decoding the true targets is just as good (the decoder's floor).
    task = make_task(sequence_length=50)
    batch = task.sample(200, gen(10))
    floor = task.decoding_error(batch.targets, batch.latent).item()
    assert floor < 3 * (2 * H / 128) ** 2


def test_place_cells_accept_1d_and_2d_centres_but_not_3d():
    assert PlaceCells(torch.zeros(4, 1), 0.1).encode(torch.zeros(2, 1)).shape == (2, 4)
    assert PlaceCells(torch.zeros(4, 2), 0.1).encode(torch.zeros(2, 2)).shape == (2, 4)
    with pytest.raises(ValueError):
        PlaceCells(torch.zeros(4, 3), 0.1)


def test_no_place_cells_reads_the_position_out_directly():
    task = build_task({"name": "linear_track", "use_place_cells": False, "sequence_length": 10}, gen(0))
    assert isinstance(task.code, TrackPositionCode) and task.n_code == 1
    batch = task.sample(8, gen(1))
    assert batch.targets.shape == (8, 10, 1) and torch.equal(batch.targets, batch.latent)
    assert task.decoding_error(batch.latent + 0.1, batch.latent).item() == pytest.approx(0.01, rel=1e-5)


# --- determinism, interface, configs ----------------------------------------------------------------------


def test_same_seed_same_batch_other_seed_other_batch():
    task = make_task(sequence_length=30, biased=True)
    a, b, c = task.sample(16, gen(11)), task.sample(16, gen(11)), task.sample(16, gen(12))
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("inputs", "targets", "latent", "init_latent"))
    assert not torch.equal(a.inputs, c.inputs)
    t1 = build_task({"name": "linear_track"}, gen(5))
    t2 = build_task({"name": "linear_track"}, gen(5))
    assert torch.equal(t1.code.centres, t2.code.centres)
    assert "code.centres" in t1.state_dict() and t1.code.centres.shape == (128, 1)


def test_interface_and_geometry():
    task = build_task({"name": "linear_track", "track_length": 3.0, "reward_position": -1.5}, gen(0))
    assert isinstance(task, LinearTrackTask)
    assert (task.name, task.error_name, task.n_in, task.latent_dim) == ("linear_track", "pos_mse", 1, 1)
    assert isinstance(task.geometry, Interval) and task.geometry_type is Interval
    assert task.geometry.low == (-1.5,) and task.geometry.high == (1.5,) and task.geometry.anchor == (-1.5,)
    assert task.code.centres.abs().max() <= 1.5


def test_task_yaml_repeats_the_python_defaults():
    node = OmegaConf.to_container(OmegaConf.load(TRAIN_CONFIG_DIR / "task" / "linear_track.yaml"))
    yaml_task = {k: v for k, v in node["task"].items() if k not in ("name", "batch_size")}
    assert node["task"]["name"] == "linear_track" and node["rnn"]["n_in"] == LinearTrackTask.n_in
    assert yaml_task == LinearTrackTask.config_defaults()


@pytest.mark.parametrize(
    "preset, sigma2_rec, biased",
    [
        ("noisy_unbiased", 1e-4, False),
        ("noisy_biased", 1e-4, True),
        ("no-noise_unbiased", 0.0, False),
        ("no-noise_biased", 0.0, True),
    ],
)
def test_presets_compose(preset, sigma2_rec, biased):
    cfg = compose_train([f"config=linear_track/{preset}", "seed=0"])
    assert cfg.task.name == "linear_track" and cfg.task.biased is biased and cfg.rnn.sigma2_rec == sigma2_rec
    assert (cfg.rnn.n_in, cfg.rnn.n_rec, cfg.rnn.model, cfg.trainer.n_epochs) == (1, 128, "vanilla", 2000)
    tiny = compose_train([f"config=linear_track/{preset}", "seed=0", "scale=tiny"])
    assert (
        tiny.rnn.n_rec,
        tiny.task.place_cells_num,
        tiny.task.batch_size,
        tiny.task.sequence_length,
        tiny.trainer.n_epochs,
    ) == (32, 32, 16, 20, 30)
    small = compose_train([f"config=linear_track/{preset}", "seed=0", "scale=small"])
    assert (small.task.batch_size, small.trainer.n_epochs) == (100, 600)


BAD_VALUES = [
    ("place_cells_num", DECODE_TOP_K - 1),
    ("place_cells_sigma", 0.0),
    ("place_cells_sigma", -0.1),
    ("track_length", 0.0),
    ("track_length", -2.0),
    ("border_region", -0.01),
    ("border_slow_factor", -0.5),
    ("init_pos", "center"),
    ("drift_const", -0.1),
    ("drift_const", 1.5),
    ("reward_position", 1.5),
    ("reward_position", -1.01),
    ("dt", 0.0),
    ("b", -1.0),
    ("turn_rate", -0.5),
    ("sequence_length", 0),
]


@pytest.mark.parametrize("key, value", BAD_VALUES)
def test_bad_values_are_config_errors_naming_the_key_and_value(key, value):
    g = gen(0)
    state = g.get_state()
    with pytest.raises(ConfigError, match=rf"task\.{key}\b") as info:
        build_task({"name": "linear_track", key: value}, g)
    assert str(value) in str(info.value)
    if not key.startswith("place_cells"):
        assert torch.equal(g.get_state(), state), "checked before any centre is drawn"


def test_other_config_errors():
    with pytest.raises(ConfigError, match=r"task\.place_cells_surround_scale"):
        build_task({"name": "linear_track", "place_cells_dog": True, "place_cells_surround_scale": 1.0}, gen(0))
    # The reward must lie on the track the user chose, not the default one.
    with pytest.raises(ConfigError, match=r"task\.reward_position.*track_length"):
        build_task({"name": "linear_track", "track_length": 1.0}, gen(0))
    with pytest.raises(ConfigError, match=r"task\.turn_rate"):
        build_task({"name": "linear_track", "turn_rate": "fast"}, gen(0))
    with pytest.raises(ConfigError, match=r"task\.mu"):
        build_task({"name": "linear_track", "mu": 0.0}, gen(0))


# --- end to end --------------------------------------------------------------------------------------------


def test_train_py_trains_a_tiny_linear_track_network(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "config=linear_track/noisy_unbiased",
        "seed=0",
        "scale=tiny",
        f"path={tmp_path}",
        "trainer.progress=false",
        "device=cpu",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "linear_track" / "noisy_unbiased" / "seed_0"
    assert runs.checkpoint_steps(run_dir) == [0, 10, 20, 30]
    test_m = json.loads((run_dir / "test_metrics.json").read_text())
    assert sorted(test_m, key=int) == ["0", "10", "20", "30"]
    assert all(set(v) == {"loss", "pos_mse"} and math.isfinite(v["pos_mse"]) for v in test_m.values())
    state = runs.load_checkpoint(run_dir / "checkpoints" / "resume.pt")
    assert state["task"]["code.centres"].shape == (32, 1)
    assert state["model"]["readout.weight"].shape == (32, 32)
