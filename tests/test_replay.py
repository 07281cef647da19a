"""The replay analysis: spikes with known statistics, the classifier on trajectories whose dynamics are known (a
random walk, a straight sweep, a fixed point, jumps), and the whole analysis on tiny runs.

The classifier's tests need the optional extra ``replay`` (replay-trajectory-classification), which CI installs;
without it they are skipped, saying so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from reactivation import ConfigError, ReactivationError
from reactivation.analysis import settings
from reactivation.analysis.metrics import spikes
from reactivation.codes import PlaceCells
from reactivation.geometry import Box, Circle
from reactivation.tasks import SpatialNavigationTask
from tests import figure_check
from tests.conftest import TINY

needs_extra = pytest.mark.skipif(
    __import__("importlib").util.find_spec("replay_trajectory_classification") is None,
    reason="the replay extra is not installed (pip install 'reactivation[replay]'); CI installs it",
)

DT, K = 0.02, 5  # the SN task's step and the analysis's default time bin


def test_poisson_counts_have_the_bins_summed_rate_as_mean_and_variance():
    outputs = torch.full((400, 50, 3), 0.5)
    outputs[..., 1] = 0.1
    outputs[..., 2] = -0.2  # a negative output fires at rate 0
    hz = spikes.rate_scale(outputs, peak_rate=20.0)  # each cell's peak: 0.5, 0.1, 0 → mean 0.2 → 100 Hz per unit
    assert hz == pytest.approx(100.0)
    counts = spikes.bin_counts(outputs, hz, DT, K, torch.Generator().manual_seed(0))
    assert counts.shape == (400, 10, 3)
    expected = torch.tensor([0.5, 0.1, 0.0]) * hz * DT * K  # 5, 1 and 0 spikes per 100 ms bin
    flat = counts.reshape(-1, 3)
    # mean and variance of 4000 Poisson counts: within 5 standard errors of the Poisson values
    for i in range(2):
        m = float(expected[i])
        assert float(flat[:, i].mean()) == pytest.approx(m, abs=5 * math.sqrt(m / len(flat)))
        assert float(flat[:, i].var()) == pytest.approx(m, rel=0.1)
    assert float(flat[:, 2].sum()) == 0
    with pytest.raises(ValueError, match="no output is above 0"):
        spikes.rate_scale(torch.zeros(3, 4, 2), 20.0)


def test_bin_latents_averages_whole_bins_and_drops_the_rest():
    x = np.arange(12, dtype=float).reshape(1, 12, 1)
    np.testing.assert_allclose(spikes.bin_latents(x, 5)[0, :, 0], [2.0, 7.0])


def test_a_circle_embeds_as_the_unit_circle_and_reads_back_its_angles():
    c, theta = Circle(), np.array([[-3.0], [0.0], [1.5], [3.1]])
    p = c.embed(theta)
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0)
    np.testing.assert_allclose(c.unembed(p), theta, atol=1e-12)
    assert c.near(np.array([[1.05, 0.0], [0.0, 0.5]]), 0.1).tolist() == [True, False]
    assert Box((-1.0, -1.0), (1.0, 1.0)).near(np.array([[1.05, 0.0], [1.2, 0.0]]), 0.1).tolist() == [True, False]


@pytest.fixture(scope="module")
def arena():
    """A classifier fitted on 200 trajectories of the SN task's own generator, read by 512 ideal place cells (the
    task's code of the true position as the outputs), and the spikes of any path."""
    from reactivation.analysis.metrics import replay

    gen = torch.Generator().manual_seed(0)
    code = PlaceCells.random(512, 0.2, 2.2, 2.2, gen)
    task = SpatialNavigationTask(code)
    positions, _ = task.simulate(200, gen)
    hz = spikes.rate_scale(code.encode(positions), 20.0)

    def counts(path: np.ndarray) -> np.ndarray:
        out = code.encode(torch.as_tensor(path, dtype=torch.float32))
        return spikes.bin_counts(out[None], hz, DT, K, gen)[0].numpy()

    train = positions.numpy()
    binned = spikes.bin_latents(train, K)
    var = float(np.mean(np.sum(np.diff(binned, axis=1) ** 2, axis=-1)) / 2)
    all_counts = np.stack([counts(p) for p in train])
    g = replay.grid(task.geometry, 24)
    fitted = replay.fit(g, binned.reshape(-1, 2), all_counts.reshape(-1, 512), var, math.exp(-0.1 / 0.5), g.bin_size)
    step = float(np.median(np.linalg.norm(np.diff(train, axis=1), axis=-1)))
    return fitted, counts, step, var


def _shares(arena, path: np.ndarray) -> dict:
    from reactivation.analysis.metrics import replay

    fitted, counts = arena[:2]
    return replay.shares([replay.decode(fitted, counts(path))], 0.8)["probability"]


@needs_extra
def test_a_random_walk_that_moves_as_far_per_time_bin_as_the_active_phase_is_continuous(arena):
    rng = np.random.default_rng(1)
    var = arena[3]  # the continuous state's variance per coordinate and time bin: K steps of var / K each
    for _ in range(2):
        walk = np.clip(np.cumsum(rng.normal(0.0, math.sqrt(var / K), size=(200, 2)), axis=0), -1.05, 1.05)
        assert _shares(arena, walk)["continuous"] > 0.7


@needs_extra
def test_a_straight_sweep_at_the_active_speed_is_continuous(arena):
    step = arena[2]
    t = np.arange(100)[:, None] * step
    sweep = np.array([-0.9, -0.8]) + t * np.array([0.8, 0.6])
    got = _shares(arena, sweep)
    assert got["continuous"] > 0.8 and got["stationary"] < 0.15


@needs_extra
def test_a_fixed_point_is_stationary(arena):
    for point in ([0.4, -0.3], [-0.7, 0.6], [0.0, 0.0]):
        got = _shares(arena, np.tile(point, (100, 1)))
        assert got["stationary"] > 0.7 and got["stationary"] > 2 * got["continuous"]


@needs_extra
def test_independent_jumps_are_fragmented(arena):
    jumps = np.random.default_rng(2).uniform(-1.0, 1.0, size=(100, 2))
    assert _shares(arena, jumps)["fragmented"] > 0.6


@needs_extra
def test_the_decoder_reads_the_position_of_a_fixed_point_to_within_a_bin(arena):
    from reactivation.analysis.metrics import replay

    fitted, counts = arena[:2]
    decoded = replay.decode(fitted, counts(np.tile([0.4, -0.3], (100, 1))))
    assert np.median(np.linalg.norm(decoded.position - [0.4, -0.3], axis=1)) < 2.2 / 24
    np.testing.assert_allclose(decoded.states.sum(axis=1), 1.0)


def test_the_missing_extra_is_named_with_its_install_command(monkeypatch):
    from reactivation.analysis.metrics import replay

    def absent(name: str):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(replay.importlib, "import_module", absent)
    with pytest.raises(ReactivationError, match=r"pip install 'reactivation\[replay\]'"):
        replay.package()


@needs_extra
def test_the_analysis_classifies_both_phases_of_every_tiny_hd_network(tiny_hd_runs: Path, tmp_path: Path):
    from reactivation.analysis import replay
    from reactivation.figures.make import replay_figures

    cfg = settings.compose_analysis("replay", "tiny", "head_direction", "vanilla", 0, path=str(tiny_hd_runs))
    cfg.train_overrides, cfg.progress = list(TINY), False
    with pytest.raises(ConfigError, match=r"have 6 steps, .* \(bin_steps <= 3\)"):  # TINY trajectories: 6 steps
        replay.run(settings.settings(cfg))
    cfg.bin_steps = 3
    s = settings.settings(cfg)
    out = replay.run(s)
    saved = json.loads(Path(out["path"]).read_text())
    assert set(saved) == set(s.conditions) and replay.result_problem(saved, list(s.conditions)) is None
    for entry in saved.values():
        for phase in replay.PHASES:
            assert sum(entry[phase]["probability"].values()) == pytest.approx(1.0, abs=1e-6)
            assert sum(entry[phase]["classified"].values()) == pytest.approx(1.0, abs=1e-9)
        assert len(entry["example"]["states"]) == cfg.t_quiescent // cfg.bin_steps
        assert all(0 <= entry["spread"][p] <= 1 for p in replay.PHASES)  # circular variances
        assert all(-math.pi <= x[0] < math.pi for x in entry["example"]["latent"])
    meta = json.loads(Path(out["path"]).with_suffix(".meta.json").read_text())
    assert meta["fitted"]["noisy_unbiased"]["stay"] == pytest.approx(math.exp(-3 * 0.02 / 0.5))
    # the analysis is reproducible: the same settings give the same file
    again = replay.run(s)
    assert json.loads(Path(again["path"]).read_text()) == saved
    # its figures, as `reactivation figures` draws them: readable without the docs
    drawn = dict(replay_figures({0: saved}, "rad"))
    assert set(drawn) == {"replay_dynamics", "replay_event"}
    for name, fig in drawn.items():
        assert figure_check.readable(fig) == []
        figure_check.check(fig, tmp_path, name)
    bars = [p for p in drawn["replay_dynamics"].axes[0].patches if p.get_height() > 0]
    assert sum(b.get_height() for b in bars) == pytest.approx(2 * len(saved))  # each bar stacks to 1


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"n_events": 12}, "n_events < batch_size"),
        ({"bin_steps": 30}, "at least 2 time bins"),
        ({"threshold": 0.3}, r"threshold must be a probability in \[0.5, 1\)"),
        ({"peak_rate": 0}, "peak_rate must be a finite rate > 0"),
    ],
)
def test_bad_replay_settings_are_refused_before_any_run_is_read(tmp_path, keys, message):
    cfg = settings.compose_analysis("replay", "tiny", "head_direction", "vanilla", 0, path=str(tmp_path), **keys)
    with pytest.raises(ConfigError, match=message):
        settings.settings(cfg)
