"""The drift and temperature analyses on networks whose answer is known: the ring denoiser of tests/groundtruth.py
stands in for the noisy unbiased HD network of a trained run, and the analyses run their whole path on it (the
run's settings, task, analysis batch, rollouts, states, one-step update, KDE and result files)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from reactivation.analysis import drift, lookup, settings, temperature
from reactivation.loading import Setup
from tests.conftest import TINY
from tests.groundtruth import RingDenoiser

S = 0.2  # one step's noise standard deviation, against a ring of radius 1
N_REC = 128


def _ring(setup: Setup, dist: str, kappa: float) -> RingDenoiser:
    task = setup.task
    # uniform and gaussian_matched noise of scale σ have standard deviation σ/√12: the same s under each
    sigma = S if dist == "gaussian" else S * math.sqrt(12.0)
    return RingDenoiser(
        N_REC, task.code.preferred, sigma_rec=sigma, input_std=task.dt * task.sigma, kappa=kappa, noise_dist=dist
    )


def _swap(monkeypatch, dist: str = "gaussian", kappa: float = 1.5) -> None:
    """Make the runs' lookup hand the analyses the ring denoiser in place of the noisy unbiased network."""
    load = lookup.load_conditions

    def with_ring(s: settings.Settings) -> dict:
        found = load(s)
        run_dir, setup = found["noisy_unbiased"]
        found["noisy_unbiased"] = (run_dir, dataclasses.replace(setup, model=_ring(setup, dist, kappa)))
        return found

    monkeypatch.setattr(lookup, "load_conditions", with_ring)


def _settings(name: str, root, **keys) -> settings.Settings:
    cfg = settings.compose_analysis(name, "tiny", "head_direction", "vanilla", 0, path=str(root), progress=False,
                                    **keys)  # fmt: skip
    cfg.train_overrides = list(TINY)
    return settings.settings(cfg)


def _awake_states(setup: Setup, ring: RingDenoiser):
    """(N, n_rec) noisy awake states of the ring and their decoded headings (N, 1), as the analysis samples them."""
    import torch

    batch = setup.task.sample(1500, torch.Generator().manual_seed(5))
    with torch.no_grad():
        hidden, outputs = ring(batch.inputs, batch.init_code, generator=torch.Generator().manual_seed(6))
    states = hidden.reshape(-1, N_REC).numpy()
    return states, setup.task.decode(outputs).reshape(len(states), -1).double().numpy()


def _drift(root, monkeypatch, dist: str) -> dict:
    _swap(monkeypatch, dist)
    sizes = dict(batch_size=1500, n_states=6000, n_queries=3000, n_components=10)  # 6 awake steps per trajectory
    out = drift.run(_settings("drift", root, **sizes, train_overrides=[]))
    return out["drift"]["noisy_unbiased"]


@pytest.mark.parametrize("dist", ["gaussian", "uniform", "gaussian_matched"])
def test_the_optimal_denoiser_of_a_ring_reaches_the_estimators_ceiling_through_the_drift_analysis(
    tiny_hd_runs, monkeypatch, dist
):
    entry = _drift(tiny_hd_runs, monkeypatch, dist)
    # s is the standard deviation of one step's noise under every distribution, and uniform's mean is in the drift
    assert entry["noise_std"] == pytest.approx(S, rel=1e-12)
    assert entry["noise_mean"] == pytest.approx(S * math.sqrt(3.0) if dist == "uniform" else 0.0, rel=1e-12)
    pca, gaussian = entry["pca"], entry["reference"]
    # A KDE score attenuates the forward slope and inflates the reverse one: a perfect denoiser brackets 1. On this
    # ring the attenuation is less than on a Gaussian of the same covariance (measured: slope 0.85 against the
    # Gaussian reference's 0.68), so `reference` is a lower bound of the ceiling, not the ceiling itself.
    assert pca["slope"] < 1.0 < pca["slope_reverse"]
    assert gaussian["slope"] < pca["slope"] < 1.0
    assert pca["cosine"] == pytest.approx(gaussian["cosine"], abs=0.05) and pca["cosine"] > 0.75
    # Split along and across the ring, each part brackets 1 with the Gaussian reference's cosine split the same way
    # (measured: tangent 0.86 / 1.36 / 0.62 against 0.64, normal 0.85 / 1.39 / 0.81 against 0.81).
    for part in ("tangent", "normal"):
        split, ceiling = entry[f"pca_{part}"], entry[f"reference_{part}"]
        assert split["slope"] < 1.0 < split["slope_reverse"]
        assert split["cosine"] == pytest.approx(ceiling["cosine"], abs=0.08)
    # Along the heading, the drift pulls towards π's mode as Σ_y ∇_y log p(y) predicts.
    assert entry["decoded"]["cosine"] > 0.65 and entry["decoded"]["slope"] < 1.0 < entry["decoded"]["slope_reverse"]


def test_the_ring_denoiser_queried_at_its_settled_states_still_reaches_the_bracket(tiny_hd_runs, monkeypatch):
    # Quiescence at the trained noise keeps the states a step's noise from the ring (the denoiser removes the rest),
    # so queried there the drift is still the awake density's score: the analysis measures it as such.
    _swap(monkeypatch)
    sizes = dict(batch_size=1500, n_states=6000, n_queries=3000, n_components=10, queries="settled", settle_steps=20)
    out = drift.run(_settings("drift", tiny_hd_runs, **sizes))
    entry = out["drift"]["noisy_unbiased"]
    assert entry["pca"]["n"] == 3000
    assert entry["pca"]["slope"] < 1.0 < entry["pca"]["slope_reverse"]
    assert entry["pca"]["cosine"] == pytest.approx(entry["reference"]["cosine"], abs=0.06)
    meta = json.loads(Path(out["path"]).with_suffix(".meta.json").read_text())
    assert meta["settings"]["queries"] == "settled" and meta["noise_units"] == drift.NOISE_UNITS


def test_a_prediction_in_the_wrong_units_is_seen_as_a_wrong_slope(tiny_hd_runs, monkeypatch):
    # Analysed as before the fix, with s = σ and no mean, the same uniform-noise denoiser would look 12 times
    # weaker than the theory in slope; the mean alone, left out, turns its drift away from the score.
    entry = _drift(tiny_hd_runs, monkeypatch, "uniform")
    setup = lookup.load_conditions(_settings("drift", tiny_hd_runs))["noisy_unbiased"][1]
    ring = _ring(setup, "uniform", 1.5)
    states, decoded = _awake_states(setup, ring)
    kw = dict(n_states=6000, n_queries=3000, n_components=10, bandwidth=None, seed=0)
    old = drift.compare(ring, setup.task.geometry, states, decoded, ring.sigma_rec, **kw)
    no_mean = drift.compare(ring, setup.task.geometry, states, decoded, ring.std_noise, **kw)
    assert old["pca"]["slope"] == pytest.approx(entry["pca"]["slope"] / 12, rel=0.1)
    assert no_mean["pca"]["cosine"] < entry["pca"]["cosine"] - 0.2


def test_the_ring_denoisers_quiescence_is_closest_to_its_awake_headings_at_the_langevin_factor(
    tiny_hd_runs, monkeypatch
):
    _swap(monkeypatch)
    sizes = dict(batch_size=300, t_quiescent=250, t_shift=100, n_samples=2000)
    factors = [0.5, 1.0, math.sqrt(2.0), 2.0, 3.0]
    out = temperature.run(_settings("temperature", tiny_hd_runs, **sizes, factors=factors))
    ring = out["temperature"]["noisy_unbiased"]
    assert ring["best_factor"] == pytest.approx(math.sqrt(2.0))
    kl = dict(zip(ring["factors"], ring["kl"]))
    assert kl[math.sqrt(2.0)] < 0.75 * min(kl[1.0], kl[2.0])  # π² and π^½ are far from π (measured 0.02, 0.04, 0.14)
    # the heading's spread grows with c and matches the awake one at √2 (measured 0.35 against 0.33)
    assert ring["variance"] == sorted(ring["variance"])
    assert ring["variance"][2] == pytest.approx(ring["active_variance"], abs=0.05)
