"""Drift against score: a network built to be the optimal denoiser of its states, and the analysis on tiny runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from reactivation import ConfigError
from reactivation.analysis import drift, settings
from reactivation.analysis import results as result_files
from reactivation.analysis.metrics import denoiser
from reactivation.config import compose_train
from reactivation.geometry import Box
from reactivation.models import NoisyRNN
from reactivation.models.noise import moments
from reactivation.training import train
from tests.conftest import TINY

N_REC, V, ALPHA = 12, 0.04, 0.2  # hidden units; variance per unit of the states; the leak dt/tau


def _contraction(states: np.ndarray, s: float, seed: int = 0) -> dict:
    """:func:`denoiser.compare` of a network whose zero-input step is r -> (1 - α) r (no recurrence: relu(0) = 0),
    its latent decoded as the first two units (metres)."""
    model = NoisyRNN(2, N_REC, 10, 10, dt=ALPHA, tau=1.0, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.recurrent.weight.zero_()
    return denoiser.compare(
        drift.stepper(model), Box((-1.1, -1.1), (1.1, 1.1)), states, states[:, :2].astype(np.float64), s, n_states=4000,
        n_queries=1000, n_components=4, n_pca=1000, bandwidth=None, seed=seed,
    )  # fmt: skip


def _gaussian_states(n: int = 6000, seed: int = 3) -> np.ndarray:
    """States of N(0, V I) in the top 4 dimensions and 10x less spread in the rest (so the PCA finds those 4)."""
    scale = np.r_[np.full(4, math.sqrt(V)), np.full(N_REC - 4, math.sqrt(V) / 10)]
    return (np.random.default_rng(seed).normal(size=(n, N_REC)) * scale).astype(np.float32)


def test_the_optimal_denoiser_of_its_states_scores_as_the_estimators_reference():
    # drift -α r is s² ∇ log N(0, V) = -s² r / V when s² = α V: the network is its states' optimal denoiser
    states = _gaussian_states()
    exact = _contraction(states, math.sqrt(ALPHA * V))
    assert exact["pca"]["cosine"] == pytest.approx(exact["reference"]["cosine"], abs=0.03)
    # One KDE's slope varies by about 4 % from sample to sample (measured over 6 seeds: ratio to the reference's
    # 1.02 ± 0.04): the mean of 6 independent samples is within 6 % of the reference's.
    draws = [_contraction(_gaussian_states(seed=3 + k), math.sqrt(ALPHA * V), seed=k) for k in range(6)]
    assert np.mean([d["pca"]["slope"] / d["reference"]["slope"] for d in draws]) == pytest.approx(1.0, abs=0.06)
    assert 0.7 < exact["pca"]["slope"] < 1.05 and exact["pca"]["cosine"] > 0.8  # 4-D: the KDE attenuates a little
    # predicted against a noise twice as large in variance, the same drift is half the prediction: slope halves
    double = _contraction(states, math.sqrt(2 * ALPHA * V))
    assert double["pca"]["slope"] == pytest.approx(exact["pca"]["slope"] / 2, rel=0.02)
    assert double["pca"]["cosine"] == pytest.approx(exact["pca"]["cosine"], abs=1e-9)  # a cosine knows no scale
    assert exact["noise_std"] == math.sqrt(ALPHA * V)
    # Decoded as two of its units, the same denoiser in 2-D: N(0, V I) there, decoded noise s² I, drift -α y
    np.testing.assert_allclose(exact["decoded"]["noise_cov"], ALPHA * V * np.eye(2), atol=0.1 * ALPHA * V)
    assert 0.85 < exact["decoded"]["slope"] < 1.05 and exact["decoded"]["cosine"] > 0.9


def test_queries_given_apart_from_the_kde_states_score_as_a_subset_of_them_would():
    # Queries drawn apart from the same density are as good as queries drawn from the KDE's sample; queries far
    # off it, where the KDE's score is not the density's, are not. One set of 1000 queries' slope varies by about
    # 5 % (measured over 5 seeds: ratio apart / inside 0.98 ± 0.05), so the mean of 5 is compared.
    model = NoisyRNN(2, N_REC, 10, 10, dt=ALPHA, tau=1.0, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.recurrent.weight.zero_()
    ratios, far_ratios = [], []
    for k in range(5):
        states = _gaussian_states(seed=3 + k)
        kw = dict(n_states=4000, n_queries=1000, n_components=4, n_pca=1000, bandwidth=None, seed=k)
        args = (
            drift.stepper(model),
            Box((-1.1, -1.1), (1.1, 1.1)),
            states,
            states[:, :2].astype(np.float64),
            math.sqrt(ALPHA * V),
        )
        inside = denoiser.compare(*args, **kw)
        apart = denoiser.compare(*args, **kw, at=_gaussian_states(3000, seed=9 + k))
        assert apart["pca"]["n"] == 1000
        assert apart["pca"]["cosine"] == pytest.approx(inside["pca"]["cosine"], abs=0.03)
        ratios.append(apart["pca"]["slope"] / inside["pca"]["slope"])
        far = denoiser.compare(*args, **kw, at=_gaussian_states(3000, seed=9 + k) * 3)
        far_ratios.append(far["pca"]["slope"] / inside["pca"]["slope"])
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.06)
    assert max(far_ratios) < 0.8


def test_the_field_averages_drift_and_prediction_in_the_bins_of_the_box():
    y = np.array([[-0.5, -0.5], [-0.5, -0.49], [0.5, 0.5], [2.0, 0.0]])  # the last lies outside the box
    vectors = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, -1.0], [9.0, 9.0]])
    out = denoiser.field(Box((-1.1, -1.1), (1.1, 1.1)), y, vectors, -vectors)
    assert sum(out["count"]) == 3 and len(out["count"]) == denoiser.FIELD_BINS**2
    filled = [i for i, c in enumerate(out["count"]) if c]
    assert [out["count"][i] for i in filled] == [2, 1]
    assert out["drift"][filled[0]] == [2.0, 1.0] and out["predicted"][filled[1]] == [0.0, 1.0]
    assert all(out["drift"][i] is None for i, c in enumerate(out["count"]) if not c)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    for task in ("spatial_navigation", "head_direction"):
        for preset in settings.FAMILIES[(task, "vanilla")].values():
            train(compose_train([f"config={preset}", "seed=0", *TINY]), root / preset / "seed_0", preset=preset)
    return root


def _settings(root: Path, task: str, **keys) -> settings.Settings:
    cfg = settings.compose_analysis("drift", "tiny", task, "vanilla", 0, path=str(root), progress=False, **keys)
    cfg.train_overrides = list(TINY)
    return settings.settings(cfg)


@pytest.mark.parametrize("task", ["spatial_navigation", "head_direction"])
def test_the_analysis_writes_every_condition_and_the_random_baseline(root, task):
    s = _settings(root, task, n_components=3)
    out = drift.run(s)
    saved = json.loads(Path(out["path"]).read_text())
    assert set(saved) == {*settings.FAMILIES[(task, "vanilla")], "random"}
    for name, entry in saved.items():
        for space in ("pca", "decoded", "reference"):
            assert math.isfinite(entry[space]["slope"]) and -1 <= entry[space]["cosine"] <= 1
        assert len(entry["pca"]["slope_per_dim"]) == 3
        noisy = name.startswith("noisy")
        # One step's noise s is the draws' std: the HD presets' uniform noise σ·U[0,1) has σ/√12 (docs/decisions.md).
        dist = {"spatial_navigation": "gaussian", "head_direction": "uniform"}[task]
        s_step = moments(dist, math.sqrt(settings.PRESET_NOISE[task]))[1]
        assert entry["noise_std"] == pytest.approx(s_step, rel=1e-6 if noisy else 0)
        assert 0 < sum(entry["field"]["count"]) <= s.cfg.n_queries  # the queries the linear decoder puts inside
    data, meta = result_files.read_result(s, "drift")
    assert data == saved and meta["field_bins"] == denoiser.FIELD_BINS


def test_a_bad_bandwidth_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"bandwidth=0 is not allowed: bandwidth must be null \(Scott's rule\)"):
        _settings(tmp_path, "spatial_navigation", bandwidth=0)
