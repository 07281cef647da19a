"""The drift and temperature analyses on networks whose answer is known: the ring and line denoisers of
tests/groundtruth.py stand in for the noisy unbiased HD network of a trained run, and the analyses run their whole
path on them (the run's settings, task, analysis batch, rollouts, states, one-step update, KDE and result files)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from reactivation.analysis import drift, lookup, settings, temperature
from reactivation.analysis.metrics import denoiser
from reactivation.loading import Setup
from tests.conftest import TINY
from tests.groundtruth import LineDenoiser, PlaneDenoiser, RingDenoiser

S = 0.2  # one step's noise standard deviation, against a ring of radius 1
N_REC = 128


def _ring(setup: Setup, dist: str, kappa: float) -> RingDenoiser:
    task = setup.task
    # uniform and gaussian_matched noise of scale σ have standard deviation σ/√12: the same s under each
    sigma = S if dist == "gaussian" else S * math.sqrt(12.0)
    return RingDenoiser(
        N_REC, task.code.preferred, sigma_rec=sigma, input_std=task.dt * task.sigma, kappa=kappa, noise_dist=dist
    )


def _line(setup: Setup, dist: str = "gaussian") -> LineDenoiser:
    task = setup.task
    sigma = S if dist == "gaussian" else S * math.sqrt(12.0)
    return LineDenoiser(N_REC, task.code.preferred, sigma_rec=sigma, input_std=task.dt * task.sigma, noise_dist=dist)


def _swap(monkeypatch, dist: str = "gaussian", kappa: float = 1.5, line: bool = False) -> None:
    """Make the runs' lookup hand the analyses the ring (or line) denoiser in place of the noisy unbiased network."""
    load = lookup.load_conditions

    def with_denoiser(s: settings.Settings) -> dict:
        found = load(s)
        run_dir, setup = found["noisy_unbiased"]
        model = _line(setup, dist) if line else _ring(setup, dist, kappa)
        found["noisy_unbiased"] = (run_dir, dataclasses.replace(setup, model=model))
        return found

    monkeypatch.setattr(lookup, "load_conditions", with_denoiser)


def _settings(name: str, root, **keys) -> settings.Settings:
    cfg = settings.compose_analysis(name, "tiny", "head_direction", "vanilla", 0, path=str(root), progress=False,
                                    **keys)  # fmt: skip
    cfg.train_overrides = list(TINY)
    return settings.settings(cfg)


def _awake_states(setup: Setup, ring: PlaneDenoiser):
    """(N, n_rec) noisy awake states of the ring and their decoded headings (N, 1), as the analysis samples them."""
    import torch

    batch = setup.task.sample(2000, torch.Generator().manual_seed(5))
    with torch.no_grad():
        hidden, outputs = ring(batch.inputs, batch.init_code, generator=torch.Generator().manual_seed(6))
    states = hidden.reshape(-1, N_REC).numpy()
    return states, setup.task.decode(outputs).reshape(len(states), -1).double().numpy()


def _drift(root, monkeypatch, dist: str, line: bool = False) -> dict:
    _swap(monkeypatch, dist, line=line)
    sizes = dict(batch_size=2000, n_states=6000, n_queries=3000, n_components=10, n_pca=3000)
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
    pca = entry["pca"]
    _reaches_the_reference(entry)
    # A KDE score attenuates the forward slope and inflates the reverse one: a perfect denoiser brackets 1.
    assert pca["slope"] < 1.0 < pca["slope_reverse"]
    assert pca["cosine"] > 0.75
    # Along the heading, the drift pulls towards π's mode as Σ_y ∇_y log p(y) predicts.
    assert entry["decoded"]["cosine"] > 0.65 and entry["decoded"]["slope"] < 1.0 < entry["decoded"]["slope_reverse"]


def _reaches_the_reference(entry: dict) -> None:
    """A perfect denoiser's slope and cosine are the Gaussian reference's, as a whole and across and along the
    manifold. One KDE's slope varies by about 4 % between samples (tests/test_drift.py), so within 10 %."""
    for part in ("", "_tangent", "_normal"):
        found, ceiling = entry[f"pca{part}"], entry[f"reference{part}"]
        assert found["slope"] == pytest.approx(ceiling["slope"], rel=0.1), part
        assert found["cosine"] == pytest.approx(ceiling["cosine"], abs=0.03 if not part else 0.06), part


@pytest.mark.parametrize("dist", ["gaussian", "uniform"])
def test_the_optimal_denoiser_of_a_gaussian_reaches_the_reference_through_the_drift_analysis(
    tiny_hd_runs, monkeypatch, dist
):
    # The linear-Gaussian case: the reference's own setting, so it must be met exactly up to sampling (measured:
    # PCA slope 0.67 / cosine 0.81 against the reference's 0.68 / 0.81; tangent 0.69 / 0.64 against 0.69 / 0.63).
    # Before the principal components were fitted apart from the KDE's states, its slope read 0.83: the KDE saw the
    # noise directions the PCA had picked for their spread as wider than they are.
    entry = _drift(tiny_hd_runs, monkeypatch, dist, line=True)
    assert entry["noise_std"] == pytest.approx(S, rel=1e-12)
    _reaches_the_reference(entry)
    assert entry["pca"]["slope"] < 1.0 < entry["pca"]["slope_reverse"]


def test_the_line_denoisers_quiescence_matches_its_awake_spread_at_the_predicted_factor(tiny_hd_runs):
    # The analytic answer the temperature check rests on, in the model itself: the autoregression along the line
    # has stationary variance c² s² / (1 − λ²), the awake spread a² + s² at the line's matching factor (≈ √2).
    import torch

    setup = lookup.load_conditions(_settings("drift", tiny_hd_runs))["noisy_unbiased"][1]
    line = _line(setup)
    c = line.matching_factor()
    assert c == pytest.approx(math.sqrt(2.0), abs=0.06)
    h = line.point(torch.zeros(4000))
    g = torch.Generator().manual_seed(2)
    along = []
    with torch.no_grad():
        for t in range(400):
            h = line.denoise(h) + c * S * torch.randn(h.shape, generator=g)
            if t >= 100:  # 1 / (1 − λ) ≈ 7 steps of relaxation, long past
                along.append(h @ line.plane[:, 1])
    spread = torch.stack(along).var().item()
    assert spread == pytest.approx(line.spread**2 + S**2, rel=0.03)


def test_the_ring_denoiser_queried_at_its_settled_states_still_reaches_the_bracket(tiny_hd_runs, monkeypatch):
    # Quiescence at the trained noise keeps the states a step's noise from the ring (the denoiser removes the rest),
    # so queried there the drift is still the awake density's score: the analysis measures it as such.
    _swap(monkeypatch)
    sizes = dict(batch_size=2000, n_states=6000, n_queries=3000, n_components=10, n_pca=3000, queries="settled",
                 settle_steps=20)  # fmt: skip
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
    kw = dict(n_states=6000, n_queries=3000, n_components=10, n_pca=3000, bandwidth=None, seed=0)
    old = denoiser.compare(drift.stepper(ring), setup.task.geometry, states, decoded, ring.sigma_rec, **kw)
    no_mean = denoiser.compare(drift.stepper(ring), setup.task.geometry, states, decoded, ring.std_noise, **kw)
    assert old["pca"]["slope"] == pytest.approx(entry["pca"]["slope"] / 12, rel=0.1)
    assert no_mean["pca"]["cosine"] < entry["pca"]["cosine"] - 0.2


@pytest.mark.parametrize("line", [False, True], ids=["ring", "line"])
def test_the_denoisers_quiescence_is_closest_to_its_awake_headings_at_the_langevin_factor(
    tiny_hd_runs, monkeypatch, line
):
    # Measured, KL at c = 0.5, 1, √2, 2, 3: the ring 0.43, 0.042, 0.019, 0.14, 0.37 nats (π² and π^½ are far from π);
    # the line 0.81, 0.16, 0.07, 0.48, 1.77 (its exact matching factor is 1.36).
    _swap(monkeypatch, line=line)
    sizes = dict(batch_size=300, t_quiescent=250, t_shift=100, n_samples=2000)
    factors = [0.5, 1.0, math.sqrt(2.0), 2.0, 3.0]
    out = temperature.run(_settings("temperature", tiny_hd_runs, **sizes, factors=factors))
    found = out["temperature"]["noisy_unbiased"]
    assert found["best_factor"] == pytest.approx(math.sqrt(2.0))
    kl = dict(zip(found["factors"], found["kl"]))
    assert kl[math.sqrt(2.0)] < 0.75 * min(kl[1.0], kl[2.0])
    # the heading's spread grows with c; on the ring it matches the awake one at √2 (measured 0.35 against 0.33)
    assert found["variance"] == sorted(found["variance"])
    if not line:
        assert found["variance"][2] == pytest.approx(found["active_variance"], abs=0.05)
