"""Diffusion against sequence: the statistics of known trajectories, and the analysis on tiny runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from reactivation.analysis import diffusion, settings
from reactivation.analysis import results as result_files
from tests.conftest import TINY


def test_a_random_walk_is_diffusive_and_a_straight_path_is_ballistic():
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(0.0, 0.01, size=(200, 300, 2)), axis=1)
    line = np.cumsum(np.broadcast_to([0.01, 0.0], (10, 300, 2)), axis=1)
    w, s = diffusion.describe(walk, False, 10, 20), diffusion.describe(line, False, 10, 20)
    assert w["exponent"] == pytest.approx(1.0, abs=0.05) and s["exponent"] == pytest.approx(2.0, abs=1e-9)
    assert w["fit_lags"] == [lag for lag in w["lags"] if lag <= 10]
    # white steps forget at once; a line never does: null in the file (strict JSON has no infinity), flagged
    assert w["acf_time"] < 1 and not w["acf_outlasts"] and s["acf_time"] is None and s["acf_outlasts"]
    assert json.loads(json.dumps(s, allow_nan=False)) == s
    assert s["step"]["mean"] == pytest.approx(0.01) and s["step"]["p95"] == pytest.approx(0.01)
    # the MSD of the walk at lag k is 2 σ² k (two coordinates), the line's (0.01 k)²
    lags = np.array(w["lags"])
    np.testing.assert_allclose(w["msd"], 2 * 0.01**2 * lags, rtol=0.05)
    np.testing.assert_allclose(s["msd"], (0.01 * lags) ** 2, rtol=1e-9)
    edges, density = np.array(w["step_histogram"]["edges"]), np.array(w["step_histogram"]["density"])
    assert len(density) == diffusion.BINS and np.sum(density * np.diff(edges)) == pytest.approx(1.0)


def test_a_result_of_before_the_flag_with_an_infinite_acf_time_is_refused_on_reading():
    phase = {"lags": [1], "msd": [0.1], "acf_time": math.inf}
    found = diffusion.result_problem({"noisy_unbiased": {"active": phase, "quiescent": phase}}, ["noisy_unbiased"])
    assert found is not None and "acf_outlasts, finite acf_time or null" in found
    ok = {**phase, "acf_time": None, "acf_outlasts": True}
    assert diffusion.result_problem({"noisy_unbiased": {"active": ok, "quiescent": ok}}, ["noisy_unbiased"]) is None


def test_a_still_trajectory_has_no_exponent_and_no_autocorrelation():
    out = diffusion.describe(np.zeros((3, 20, 1)), True, 10, 5)
    assert out["exponent"] is None and out["acf"] is None and out["msd"] == [0.0] * len(out["lags"])


@pytest.fixture(scope="module")
def root(tiny_hd_runs: Path) -> Path:
    return tiny_hd_runs


def test_the_analysis_writes_active_and_quiescent_statistics_of_every_condition(root):
    cfg = settings.compose_analysis(
        "diffusion", "tiny", "head_direction", "vanilla", 0, path=str(root), progress=False, max_lag=4
    )
    cfg.train_overrides = list(TINY)
    s = settings.settings(cfg)
    saved = json.loads(Path(diffusion.run(s)["path"]).read_text())
    assert set(saved) == set(settings.FAMILIES[("head_direction", "vanilla")])
    for name, entry in saved.items():
        quiet = entry["quiescent"]
        assert quiet["lags"][-1] == (s.cfg.t_quiescent - s.cfg.t_shift) // 2  # up to half the kept steps
        assert entry["active"]["lags"][-1] == TINY_STEPS // 2
        assert len(quiet["msd"]) == len(quiet["lags"]) and quiet["step"]["n"] == 16 * (25 - 1)
        if name.startswith("noisy"):  # driven by noise, every noisy network moves
            assert quiet["exponent"] is not None and len(quiet["acf"]) == 5 and quiet["acf"][0] == 1.0
    data, meta = result_files.read_result(s, "diffusion")
    assert data == saved and meta["unit"]["msd"] == "rad^2"


TINY_STEPS = 6  # task.sequence_length of TINY
