"""The analysis scripts end to end on tiny trained runs: JSON structure, paired batches, clear errors."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reactivation import ReactivationError, runs
from reactivation.analysis import (
    distance,
    kl,
    lookup,
    manifold,
    metrics,
    protocol,
    settings,
    variance,
)
from reactivation.analysis import results as result_files
from reactivation.config import ANALYSIS_CONFIG_DIR, compose_config, compose_train
from reactivation.loading import load_run
from reactivation.seeding import generator
from reactivation.training import train
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"batch_size=6", "t_quiescent=12"}


def _overrides(task: str) -> list[str]:
    return [*TINY]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Tiny runs of every preset the analyses read, seed 0, under one results root."""
    root = tmp_path_factory.mktemp("results")
    for (task, _), conditions in settings.FAMILIES.items():
        for preset in conditions.values():
            cfg = compose_train([f"config={preset}", "seed=0", *_overrides(task)])
            train(cfg, root / preset / "seed_0", preset=preset)
    return root


def _settings(name: str, root: Path, *extra: str, task: str = "spatial_navigation") -> settings.Settings:
    train_overrides = "[" + ",".join(f'"{o}"' for o in _overrides(task)) + "]"
    cfg = compose_config(
        ANALYSIS_CONFIG_DIR,
        name,
        [
            "seed=0",
            f"path={root}",
            f"task={task}",
            "progress=false",
            f"train_overrides={train_overrides}",
            "device=cpu",
            *SIZES,
            *extra,
        ],
    )
    return settings.settings(cfg)


def _finite(values) -> bool:
    return all(math.isfinite(v) for v in values)


def test_kl_table_has_the_documented_rows_and_columns(results):
    s = _settings("kl", results, "n_samples=200")
    out = kl.run(s)
    path = results / "spatial_navigation" / result_files.result_path(s, "kl").name
    assert out["path"] == str(path)
    # Sizes and train_overrides that are not the scale's defaults are named (the overrides by a digest).
    assert re.fullmatch(r"kl_0\.0001_0_batch_size=6,t_quiescent=12,n_samples=200,train=[0-9a-f]{8}\.json", path.name)
    table = json.loads(path.read_text())
    models = ["noisy_unbiased", "noisy_biased", "no-noise_unbiased", "no-noise_biased"]
    assert list(table) == [*models, "random", "uniform"]
    assert all(list(row) == models and _finite(row.values()) for row in table.values())
    meta = json.loads(path.with_suffix(".meta.json").read_text())
    assert meta["mode"] == "scaled" and meta["noise"] == 1e-4 and meta["rows"] == list(table)
    assert meta["settings"] == result_files.result_settings(s, "kl") and meta["settings"]["n_samples"] == 200
    assert meta["config"]["path"] == str(results) and meta["config"]["device"] == "cpu"
    assert result_files.read_result(s, "kl") == (table, meta)
    assert set(meta["runs"]) == set(models) and all(Path(p).is_dir() for p in meta["runs"].values())
    assert isinstance(meta["jittered_1mm"], list)
    # Re-running overwrites with the same numbers (every draw comes from the seed).
    kl.run(_settings("kl", results, "n_samples=200"))
    assert json.loads(path.read_text()) == table


def test_a_ratio_clip_reaches_every_kl_cell_and_is_recorded(results):
    plain = kl.run(_settings("kl", results, "n_samples=200"))
    before = Path(plain["path"]).read_text()
    # A tight clip, so that it bites on these tiny runs: every cell, the uniform row included, is then a mean of
    # log ratios in [log 0.5, log 2].
    out = kl.run(_settings("kl", results, "n_samples=200", "ratio_clip=[0.5,2]"))
    assert "ratio_clip=0.5-2," in Path(out["path"]).name and out["path"] != plain["path"]
    assert Path(plain["path"]).read_text() == before  # the unclipped result is neither replaced nor changed
    assert list(out["kl"]) == list(plain["kl"])
    cells = [v for row in out["kl"].values() for v in row.values()]
    assert all(math.log(0.5) <= v <= math.log(2.0) for v in cells)
    assert any(v != plain["kl"][r][c] for r, row in out["kl"].items() for c, v in row.items())
    meta = json.loads(Path(out["path"]).with_suffix(".meta.json").read_text())
    assert meta["ratio_clip"] == [0.5, 2.0] and meta["settings"]["ratio_clip"] == [0.5, 2.0]
    assert json.loads(Path(plain["path"]).with_suffix(".meta.json").read_text())["ratio_clip"] is None


def test_variance_and_distance_structure(results):
    var = json.loads(Path(variance.run(_settings("variance", results, "t_shift=4"))["path"]).read_text())
    assert set(var) == {"noisy_unbiased", "noisy_biased", "no-noise_unbiased", "no-noise_biased"}
    assert _finite(var.values()) and all(v >= 0 for v in var.values())
    dist = json.loads(Path(distance.run(_settings("distance", results))["path"]).read_text())
    for name, entry in dist.items():
        expected = {"active", "quiescent"} | ({"quiescent_noisy"} if name.startswith("no-noise") else set())
        assert set(entry) == expected and _finite(entry.values())
    # Noise-free networks run with noise move more than they do alone (absolute mode adds sqrt(2e-4) per step).
    assert dist["no-noise_unbiased"]["quiescent_noisy"] > dist["no-noise_unbiased"]["quiescent"]


def test_gru_family_uses_same_mode_and_its_own_files(results):
    out = kl.run(_settings("kl", results, "model=gru", "n_samples=200"))
    assert Path(out["path"]).name.startswith("kl_gru_0.0001_0_")
    table = json.loads(Path(out["path"]).read_text())
    assert list(table) == ["noisy_unbiased", "noisy_biased", "random", "uniform"]
    assert all(list(row) == ["noisy_unbiased", "noisy_biased"] for row in table.values())
    assert json.loads(Path(out["path"]).with_suffix(".meta.json").read_text())["mode"] == "same"


def test_a_noise_factor_is_a_mode_of_its_own_file_and_the_named_modes_are_factors(results):
    same = variance.run(_settings("variance", results, "mode=same", "t_shift=4"))
    one = variance.run(_settings("variance", results, "mode=1", "t_shift=4"))
    one_again = _settings("variance", results, "mode=1.0", "t_shift=4")
    assert result_files.result_path(one_again, "variance") == Path(one["path"])  # mode=1 and mode=1.0: one file
    assert "mode=1" in Path(one["path"]).name and Path(one["path"]) != Path(same["path"])
    assert one["variance"] == same["variance"]  # c = 1 is the same noise as mode=same, draw for draw
    still = variance.run(_settings("variance", results, "mode=0", "t_shift=4"))["variance"]
    # without quiescent noise, each network is deterministic from its start; noisy ones then spread less
    assert still["noisy_unbiased"] < one["variance"]["noisy_unbiased"]
    assert still["no-noise_unbiased"] == one["variance"]["no-noise_unbiased"]  # no trained noise: c has no effect
    meta = json.loads(Path(one["path"]).with_suffix(".meta.json").read_text())
    assert meta["mode"] == "1" and meta["settings"]["mode"] == "1"


def test_head_direction_analyses_are_circular(results):
    s = dict(task="head_direction")
    table = json.loads(Path(kl.run(_settings("kl", results, "n_samples=200", **s))["path"]).read_text())
    assert len(table) == 6 and all(len(row) == 4 and _finite(row.values()) for row in table.values())
    var = json.loads(Path(variance.run(_settings("variance", results, "t_shift=4", **s))["path"]).read_text())
    assert all(0 <= v <= 1 for v in var.values())  # circular variance 1 - R
    dist = json.loads(Path(distance.run(_settings("distance", results, **s))["path"]).read_text())
    assert {"active", "active_velocity", "quiescent", "quiescent_velocity"} <= set(dist["noisy_biased"])
    assert list((results / "head_direction").glob("kl_0.01_0_*.json"))  # HD's preset noise is the default


def test_manifold_statistics_match_the_metrics_on_the_same_states(results):
    s = _settings("manifold", results)
    out = manifold.run(s)
    assert Path(out["path"]).name.startswith("manifold_0.0001_0_")
    saved = json.loads(Path(out["path"]).read_text())
    assert set(saved) == {"noisy_unbiased", "noisy_biased", "no-noise_unbiased", "no-noise_biased"}
    # Recompute one condition from the same rollouts: the analysis is exactly these metrics.
    st = protocol.states(
        load_run(
            Path(json.loads(Path(out["path"]).with_suffix(".meta.json").read_text())["runs"]["noisy_biased"]),
            device="cpu",
        ),
        s,
        6,
        12,
    )
    act_h, quiet_h = st.active_hidden.reshape(-1, 16), st.quiescent_hidden.reshape(-1, 16)
    entry = saved["noisy_biased"]
    assert entry["pca_share"] == pytest.approx(metrics.subspace_variance_share(act_h, quiet_h, 10))
    curve_a, curve_q = metrics.explained_variance_curve(act_h, 10), metrics.explained_variance_curve(quiet_h, 10)
    assert entry["explained_active"] == pytest.approx(curve_a.tolist())
    assert entry["curve_gap"] == pytest.approx(float(abs(curve_a - curve_q).max()))
    assert entry["ring_quiescent"] == pytest.approx(metrics.annulus_share(st.quiescent_decoded, 0.2, 0.45))
    assert 0 <= entry["ring_active"] <= 1 and 0 < entry["pca_share"] <= 1


def test_manifold_of_head_direction_has_no_ring_and_bad_ring_is_an_error(results):
    saved = manifold.run(_settings("manifold", results, task="head_direction"))["manifold"]
    assert all("ring_active" not in entry and 0 < entry["pca_share"] <= 1 for entry in saved.values())
    with pytest.raises(ReactivationError, match="ring="):
        manifold.run(_settings("manifold", results, "ring=[0.5,0.2]"))


def test_linear_track_analyses_measure_the_track(results):
    """The third task gets every analysis through its geometry (a 1-D interval with its reward end), none of it
    written for it: values recomputed here from the same rollouts with the plain 1-D maths."""
    s = dict(task="linear_track")
    table = json.loads(Path(kl.run(_settings("kl", results, "n_samples=200", **s))["path"]).read_text())
    models = ["noisy_unbiased", "noisy_biased", "no-noise_unbiased", "no-noise_biased"]
    assert list(table) == [*models, "random", "uniform"] and all(_finite(row.values()) for row in table.values())
    var_s = _settings("variance", results, "t_shift=4", **s)
    var_out = variance.run(var_s)
    meta = json.loads(Path(var_out["path"]).with_suffix(".meta.json").read_text())
    assert meta["unit"] == "m^2" and Path(var_out["path"]).parent == results / "linear_track"
    setup = load_run(Path(meta["runs"]["noisy_biased"]), device="cpu")
    phases = protocol.simulate(setup, var_s, 6, 12, active=False)
    x = phases.quiescent[var_s.mode].decoded[:, 4:, 0].double().numpy()  # (B, T) positions, m
    assert var_out["variance"]["noisy_biased"] == pytest.approx(x.var(axis=1, ddof=1).mean())
    dist_s = _settings("distance", results, **s)
    dist = distance.run(dist_s)["distance"]
    assert set(dist["noisy_unbiased"]) == {"active", "quiescent"}  # a track has no angular velocity
    active = protocol.simulate(setup, dist_s, 6, 12).active.decoded[..., 0].double().numpy()
    assert dist["noisy_biased"]["active"] == pytest.approx(np.abs(np.diff(active, axis=1)).mean())
    man_s = _settings("manifold", results, "ring=[0.1,0.6]", **s)
    saved = manifold.run(man_s)["manifold"]
    st = protocol.states(setup, man_s, 6, 12)
    # The ring of a track is the band of distances from its reward end (+1 m by default).
    reward = setup.task.geometry.anchor[0]
    band = np.abs(st.quiescent_decoded[..., 0] - reward)
    assert saved["noisy_biased"]["ring_quiescent"] == pytest.approx(np.mean((band >= 0.1) & (band <= 0.6)))
    assert reward == 1.0 and 0 < saved["noisy_biased"]["pca_share"] <= 1


def test_every_model_of_a_seed_gets_the_same_draws(results):
    unbiased = load_run(results / "spatial_navigation/noisy_unbiased/seed_0", device="cpu")
    biased = load_run(results / "spatial_navigation/noisy_biased/seed_0", device="cpu")
    a = unbiased.task.sample(50, generator(0, "analysis"))
    b = biased.task.sample(50, generator(0, "analysis"))
    # Same draws; the biased start differs only by the first (discarded) step's drift, 0.05 (anchor - pos_0).
    gap = (a.init_latent - b.init_latent).norm(dim=-1)
    assert 0 < gap.max() <= 0.05 * math.sqrt(2) * 1.1 + 0.05
    assert torch.equal(unbiased.task.code.centres, biased.task.code.centres)  # same seed, same place cells


def test_a_missing_run_names_the_command_that_trains_it(results):
    with pytest.raises(
        ReactivationError,
        match=r"no trained run of spatial_navigation/noisy_unbiased with seed 1"
        r"(.|\n)*python train\.py config=spatial_navigation/noisy_unbiased "
        r"seed=1 rnn\.n_rec=16",
    ):
        kl.run(
            settings.settings(
                compose_config(
                    ANALYSIS_CONFIG_DIR,
                    "kl",
                    [
                        "seed=1",
                        f"path={results}",
                        "train_overrides=[" + ",".join(f'"{o}"' for o in _overrides("spatial_navigation")) + "]",
                    ],
                )
            )
        )


def test_a_run_with_other_settings_is_named_in_the_error(results):
    with pytest.raises(ReactivationError, match=r"other settings(.|\n)*noisy_unbiased/seed_0 \(has rnn\.n_rec=16"):
        lookup.find_run(results, "spatial_navigation/noisy_unbiased", 0, [], epoch=None)


def test_an_incomplete_run_is_an_error_not_skipped(results, tmp_path):
    preset = "spatial_navigation/noisy_biased"
    cfg = compose_train([f"config={preset}", "seed=0", *_overrides("spatial_navigation")])
    train(cfg, tmp_path / "run", preset=preset)
    runs.checkpoint_path(tmp_path / "run", 5).unlink()
    with pytest.raises(ReactivationError, match=r"incomplete \(4 of 5 steps\)(.|\n)*python train\.py"):
        lookup.find_run(tmp_path, preset, 0, _overrides("spatial_navigation"), epoch=None)
    assert lookup.find_run(tmp_path, preset, 0, _overrides("spatial_navigation"), epoch=4) == tmp_path / "run"


def test_output_kl_command_line(results):
    overrides = "[" + ",".join(f'"{o}"' for o in _overrides("spatial_navigation")) + "]"
    cmd = [
        sys.executable,
        str(ROOT / "output_variance.py"),
        "seed=0",
        f"path={results}",
        "progress=false",
        f"train_overrides={overrides}",
        "batch_size=4",
        "t_quiescent=10",
        "t_shift=2",
        "device=cpu",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=results)
    assert done.returncode == 0, done.stderr
    s = _settings("variance", results, "batch_size=4", "t_quiescent=10", "t_shift=2")
    assert f"wrote {result_files.result_path(s, 'variance')}" in done.stdout
    bad = subprocess.run(cmd[:2] + [f"path={results}", "t_shfit=3"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no seed given" in bad.stderr
    typo = subprocess.run(cmd + ["t_shfit=3"], capture_output=True, text=True, timeout=120)
    assert typo.returncode == 2 and "Did you mean 't_shift'" in typo.stderr


def test_a_result_of_another_epoch_has_its_own_file_and_never_overwrites_the_final_one(results):
    final = distance.run(_settings("distance", results))
    before = Path(final["path"]).read_text()
    early_s = _settings("distance", results, "epoch=4")
    early = distance.run(early_s)
    # distance_0.0001_0_batch_size=6,...json -> distance_0.0001_0_epoch=4,batch_size=6,...json
    assert Path(early["path"]).name == Path(final["path"]).name.replace("_0_", "_0_epoch=4,", 1)
    assert Path(final["path"]).read_text() == before  # the final-epoch result is untouched
    # Other weights, other numbers: a mix-up would show.
    assert early["distance"] != final["distance"]
    meta = json.loads(result_files.meta_path(Path(early["path"])).read_text())
    assert meta["settings"]["epoch"] == 4
    assert all(p.endswith("seed_0") for p in meta["runs"].values())
    # Reading asks for the epoch too: the final result does not stand for epoch 4, nor the reverse.
    assert result_files.read_result(early_s, "distance")[0] == early["distance"]
    assert result_files.read_result(_settings("distance", results), "distance")[0] == final["distance"]


def test_a_result_file_whose_meta_records_other_settings_is_refused_not_used(results):
    s = _settings("distance", results, "t_quiescent=9")
    out = distance.run(s)
    meta_file = result_files.meta_path(Path(out["path"]))
    meta = json.loads(meta_file.read_text())
    meta["settings"]["t_quiescent"] = 30  # as if another command had written this file
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(
        result_files.UnusableResult,
        match=r"was made with other settings \(t_quiescent=30 where 9 was "
        r"asked for\); delete it and compute it again with: python "
        r"output_distance\.py seed=0 .*t_quiescent=9",
    ):
        result_files.read_result(s, "distance")


@pytest.mark.parametrize("task", ["spatial_navigation", "head_direction"])
def test_batched_rollouts_of_a_seeds_conditions_equal_the_separate_ones(results, task):
    """batch_models=true runs the conditions as one ensemble: each condition's phases (active, the default mode,
    and the noisy run of the noise-free networks) equal its own simulate() to float tolerance, in the conditions'
    order; the analyses then give the same numbers and reuse each other's results (not a result setting)."""
    apart, together = (_settings("distance", results, f"batch_models={b}", task=task) for b in ("false", "true"))
    assert not protocol.batched(apart) and protocol.batched(together)
    setups = {name: setup for name, (_, setup) in lookup.load_conditions(together).items()}
    modes = {
        name: ("scaled", "absolute") if setup.model.sigma_rec == 0 else ("scaled",) for name, setup in setups.items()
    }
    assert {len(m) for m in modes.values()} == {1, 2}  # both kinds of condition in one ensemble
    batched = list(protocol.simulate_all(setups, together, 6, 12, modes=modes, keep_hidden=True))
    assert [name for name, _ in batched] == list(setups)
    for name, phases in batched:
        alone = protocol.simulate(setups[name], apart, 6, 12, modes=modes[name], keep_hidden=True)
        assert set(phases.quiescent) == set(modes[name])
        for mine, theirs in [
            (phases.active, alone.active),
            *((phases.quiescent[m], alone.quiescent[m]) for m in modes[name]),
        ]:
            assert torch.allclose(mine.decoded, theirs.decoded, rtol=1e-4, atol=1e-5)
            assert torch.allclose(mine.hidden, theirs.hidden, rtol=1e-4, atol=1e-5)
    separate = distance.run(apart)
    joint = distance.run(together)
    assert joint["path"] == separate["path"]  # one result file: batching is not a setting of the result
    for name, entry in separate["distance"].items():
        assert joint["distance"][name] == pytest.approx(entry, rel=1e-4, abs=1e-6)


def test_separate_rollouts_run_one_condition_at_a_time(results, monkeypatch):
    """Not batched, simulate_all simulates a condition only when it is asked for (one in memory at a time)."""
    s = _settings("variance", results, "t_shift=4", "batch_models=false")
    setups = {name: setup for name, (_, setup) in lookup.load_conditions(s).items()}
    calls = []
    real = protocol.simulate
    monkeypatch.setattr(protocol, "simulate", lambda setup, *a, **k: calls.append(setup) or real(setup, *a, **k))
    simulated = protocol.simulate_all(setups, s, 6, 12, active=False)
    assert calls == []
    name, phases = next(simulated)
    assert name == next(iter(setups)) and calls == [setups[name]] and phases.active is None


def test_batch_models_takes_auto_true_or_false(results):
    with pytest.raises(ReactivationError, match=r"batch_models=sometimes is not allowed: batch_models must be auto"):
        _settings("kl", results, "batch_models=sometimes")
    assert not protocol.batched(_settings("kl", results, "batch_models=auto"))  # auto batches on CUDA; this is CPU
