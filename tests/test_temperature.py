"""The noise temperature sweep: its minimum on an Ornstein-Uhlenbeck process, and the analysis on tiny runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from reactivation import ConfigError
from reactivation.analysis import results as result_files
from reactivation.analysis import settings, temperature
from reactivation.geometry import Box
from tests.conftest import TINY

V, S = 0.0025, 0.01  # stationary variance per coordinate (m²) and per-step noise (m): relaxation in V/S² = 25 steps


def _ou(c: float, n: int = 50, steps: int = 200, seed: int = 0) -> np.ndarray:
    """(n, steps, 2) Euler-Maruyama OU paths x <- x + s² ∇log N(0, V)(x) + c s η, started at N(0, V).

    The drift is the optimal denoiser of N(0, V) at noise s; the stationary variance is c² V / (2 - s²/V), so
    c = √2 samples N(0, V) up to the 2 % of the step's discreteness.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, math.sqrt(V), size=(n, 2))
    out = np.empty((n, steps, 2))
    for t in range(steps):
        x = x - S**2 / V * x + c * S * rng.normal(size=x.shape)
        out[:, t] = x
    return out


def test_the_sweep_finds_the_langevin_factor_on_an_ou_process_and_the_spread_grows_as_c_squared():
    factors = [0.5, 1.2, math.sqrt(2), 1.7, 3.0]
    active = np.random.default_rng(1).normal(0.0, math.sqrt(V), size=(50, 200, 2))
    entry = temperature.sweep(_ou, active, Box((-1, -1), (1, 1)), factors, 1500, 0, t_shift=100)
    assert entry["factors"] == factors
    assert entry["best_factor"] == math.sqrt(2)
    kl = dict(zip(factors, entry["kl"]))
    # KL of N(0, rV) from N(0, V) in 2-D is r - 1 - ln r: 0 at c = √2 (measured 0.015-0.022 over 3 seeds, the
    # estimate's bias and error), 0.045 nats at c = 1.2 (r = 0.73), 0.09 at c = 1.7
    assert kl[math.sqrt(2)] < 0.035 < kl[1.2] < kl[0.5]
    assert kl[math.sqrt(2)] < kl[1.7] < kl[3.0]
    # The system is linear and has forgotten its start (100 steps = 4 relaxation times), so each trajectory's
    # spread over its last 100 steps is c² times one constant: 2 c² V / (2 - S²/V) less what a window of 4
    # relaxation times misses of the stationary variance (about a third).
    ratios = np.array(entry["variance"]) / np.array(factors) ** 2
    np.testing.assert_allclose(ratios, ratios.mean(), rtol=0.06)
    assert 0.5 < ratios.mean() / (2 * V / (2 - S**2 / V)) < 0.9
    assert entry["active_variance"] == pytest.approx(2 * V, rel=0.05)  # independent draws: the whole 2 V


@pytest.fixture(scope="module")
def root(tiny_hd_runs: Path) -> Path:
    return tiny_hd_runs


def _settings(root: Path, **keys) -> settings.Settings:
    overrides = [f'"{o}"' for o in TINY]
    cfg = settings.compose_analysis(
        "temperature", "tiny", "head_direction", "vanilla", 0, path=str(root), progress=False, **keys
    )
    cfg.train_overrides = [o.strip('"') for o in overrides]
    return settings.settings(cfg)


def test_the_analysis_sweeps_the_noisy_networks_and_writes_its_documented_result(root):
    out = temperature.run(_settings(root, factors=[0, 1, 1.4142135623730951, 2]))
    path = Path(out["path"])
    assert path.name.startswith("temperature_0.01_0_factors=0-1-1.41421")
    saved = json.loads(path.read_text())
    assert set(saved) == {"noisy_unbiased", "noisy_biased"}  # no-noise networks have nothing to sweep
    for entry in saved.values():
        assert entry["factors"] == [0.0, 1.0, 1.4142135623730951, 2.0]
        assert len(entry["kl"]) == len(entry["variance"]) == 4 and all(map(math.isfinite, entry["kl"]))
        assert entry["best_factor"] in entry["factors"]
        assert 0 <= entry["variance"][0] < entry["variance"][-1] <= 1  # circular variance grows with the noise
    meta = json.loads(path.with_suffix(".meta.json").read_text())
    assert meta["left_out"] == ["no-noise_biased", "no-noise_unbiased"]
    assert meta["sigma_rec"] == {"noisy_unbiased": pytest.approx(0.1), "noisy_biased": pytest.approx(0.1)}
    data, _ = result_files.read_result(_settings(root, factors=[0, 1, 1.4142135623730951, 2]), "temperature")
    assert data == saved  # read back checked, as the report and figures read it


@pytest.mark.parametrize(
    "factors", [[], [1, 1], [-0.5, 1], "sqrt2", [True, 1]], ids=["empty", "repeated", "negative", "text", "bool"]
)
def test_bad_factors_are_a_clear_error_before_any_run_is_read(factors, tmp_path):
    with pytest.raises(ConfigError, match=r"factors=.* is not allowed: factors must be a non-empty list of distinct"):
        _settings(tmp_path, factors=factors)
