"""reactivation.export (issue 12): rollouts as pynapple objects and NWB files, round trips and tiny trained runs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from reactivation import ReactivationError, export
from reactivation.analysis import protocol
from reactivation.config import compose_train
from reactivation.geometry import Box, Circle
from reactivation.loading import load_run
from reactivation.training import train
from tests.conftest import TINY

nap = pytest.importorskip("pynapple")
pynwb = pytest.importorskip("pynwb")

ROOT = Path(__file__).resolve().parent.parent
#: One tiny run per task (SN, HD biased, the track), trained once for the module.
PRESETS = ("spatial_navigation/noisy_unbiased", "head_direction/noisy_biased", "linear_track/noisy_unbiased")
B, T = 3, 7  # trajectories and steps of the exported rollouts


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export_runs")
    found = {}
    for preset in PRESETS:
        run_dir = root / preset / "seed_0"
        train(compose_train([f"config={preset}", "seed=0", *TINY]), run_dir, preset=preset)
        found[preset] = run_dir
    return found


def _arrays(d: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "decoded": rng.normal(size=(B, T, d)).astype(np.float32),
        "latent": rng.normal(size=(B, T, d)).astype(np.float32),
        "hidden": rng.normal(size=(B, T, 4)).astype(np.float32),
        "outputs": rng.random(size=(B, T, 5)).astype(np.float32),
        "init_latent": rng.normal(size=(B, d)),
        "preferred": rng.normal(size=(5, d)),
    }


def _recording(d: int = 2) -> tuple[export.Recording, dict[str, np.ndarray]]:
    a = _arrays(d)
    return export.from_arrays(kind="active", unit="m", info={"note": "test"}, **a), a


def test_arrays_become_pynapple_objects_with_times_epochs_columns_and_metadata():
    rec, a = _recording()
    t, starts, ends = export.trajectory_times(B, T)
    assert isinstance(rec.decoded, nap.TsdFrame) and list(rec.decoded.columns) == ["x", "y"]
    np.testing.assert_array_equal(rec.decoded.values, a["decoded"].reshape(B * T, 2))
    np.testing.assert_array_equal(rec.latent.values, a["latent"].reshape(B * T, 2))
    np.testing.assert_array_equal(rec.hidden.values, a["hidden"].reshape(B * T, 4))
    np.testing.assert_array_equal(rec.outputs.values, a["outputs"].reshape(B * T, 5))
    np.testing.assert_allclose(rec.decoded.index.values, t, atol=1e-9)
    assert rec.decoded.t[1] - rec.decoded.t[0] == pytest.approx(export.DT, abs=1e-12) and export.DT == 0.02
    # One epoch per trajectory, separated by the gap: pynapple's own tools never bridge two trajectories.
    np.testing.assert_allclose(rec.trajectories.start, starts)
    np.testing.assert_allclose(rec.trajectories.end, starts + T * export.DT)
    np.testing.assert_allclose(starts[1:] - ends[:-1], export.GAP)
    for obj in rec.series().values():
        np.testing.assert_array_equal(obj.time_support.values, rec.trajectories.values)
    steps = rec.decoded.time_diff().values
    assert len(steps) == B * (T - 1) and np.allclose(steps, export.DT)
    for i in range(B):
        one = rec.hidden.restrict(rec.trajectories[i])
        np.testing.assert_array_equal(one.values, a["hidden"][i])
    meta = rec.trajectories.metadata
    assert list(meta["trajectory"]) == list(range(B))
    np.testing.assert_allclose(meta[["init_x", "init_y"]].to_numpy(), a["init_latent"])
    np.testing.assert_allclose(rec.outputs.metadata[["preferred_x", "preferred_y"]].to_numpy(), a["preferred"])
    assert list(rec.hidden.columns) == [0, 1, 2, 3]
    assert rec.info["note"] == "test" and rec.info["kind"] == "active" and rec.info["n_steps"] == T


def test_a_one_dimensional_latent_is_a_tsd_and_torch_tensors_are_accepted():
    a = _arrays(d=1)
    rec = export.from_arrays(
        torch.from_numpy(a["decoded"][..., 0]), kind="quiescent", init_latent=a["init_latent"], unit="rad"
    )
    assert isinstance(rec.decoded, nap.Tsd) and rec.decoded.shape == (B * T,)
    np.testing.assert_array_equal(rec.decoded.values, a["decoded"].reshape(-1))
    np.testing.assert_allclose(rec.trajectories.metadata["init_latent"], a["init_latent"][:, 0])
    assert rec.latent is None and rec.hidden is None and set(rec.series()) == {"decoded_latent"}


def test_bad_arguments_are_errors_that_say_what_is_wrong(tmp_path):
    a = _arrays()
    with pytest.raises(ValueError, match="kind='sleep'"):
        export.from_arrays(a["decoded"], kind="sleep")
    with pytest.raises(ValueError, match="quiescent rollout has no true latent"):
        export.from_arrays(a["decoded"], kind="quiescent", latent=a["latent"])
    with pytest.raises(ValueError, match=r"hidden has shape \(3, 6, 4\)"):
        export.from_arrays(a["decoded"], kind="active", hidden=a["hidden"][:, :6])
    rec, _ = _recording()
    path = rec.to_nwb(tmp_path / "a.nwb")
    with pytest.raises(ReactivationError, match="exists; choose another path or pass overwrite=True"):
        rec.to_nwb(path)
    assert rec.to_nwb(path, overwrite=True) == path
    assert [p.name for p in tmp_path.iterdir()] == ["a.nwb"]  # no temporary file left behind


@pytest.mark.parametrize("d", [1, 2])
def test_nwb_files_read_back_with_pynapple_into_the_same_arrays_times_and_epochs(tmp_path, d):
    rec, a = _recording(d)
    path = export.write_nwb(rec, tmp_path / "rollout.nwb")
    data = nap.load_file(str(path))
    try:
        assert set(export.SERIES) <= set(data.keys()) and export.INTERVALS in data.keys()
        epochs = data[export.INTERVALS]
        np.testing.assert_array_equal(epochs.values, rec.trajectories.values)
        np.testing.assert_allclose(epochs.metadata[export._latent_names("init", d)].to_numpy(), a["init_latent"])
        for name, obj in rec.series().items():
            back = data[name]
            np.testing.assert_array_equal(np.asarray(back.values), np.asarray(obj.values))
            np.testing.assert_array_equal(back.index.values, obj.index.values)
            np.testing.assert_array_equal(back.restrict(epochs).time_support.values, obj.time_support.values)
        assert (d == 2) == isinstance(data["decoded_latent"], nap.TsdFrame)
        if d == 2:
            assert list(data["decoded_latent"].columns) == ["x", "y"]
        nwb = data.nwb
        assert "active rollout" in nwb.session_description and json.loads(nwb.notes)["kind"] == "active"
        assert nwb.processing[export.MODULE]["decoded_latent"].unit == "meters"
    finally:
        data.close()
    again = export.read_nwb(path)
    assert again.kind == "active" and again.info == rec.info
    for name, obj in rec.series().items():
        np.testing.assert_array_equal(np.asarray(again.series()[name].values), np.asarray(obj.values))
        np.testing.assert_array_equal(again.series()[name].time_support.values, obj.time_support.values)
    np.testing.assert_allclose(again.outputs.metadata.to_numpy(), rec.outputs.metadata.to_numpy())


def test_reading_a_file_not_written_by_the_export_is_a_clear_error(tmp_path):
    with pytest.raises(ReactivationError, match="is not a file"):
        export.read_nwb(tmp_path / "none.nwb")
    from datetime import datetime, timezone

    path = tmp_path / "other.nwb"
    with pynwb.NWBHDF5IO(path, "w") as io:
        io.write(pynwb.NWBFile(session_description="x", identifier="x", session_start_time=datetime.now(timezone.utc)))
    with pytest.raises(ReactivationError, match="was not written by reactivation.export.write_nwb"):
        export.read_nwb(path)


def _inside(geometry, x: np.ndarray) -> bool:
    if isinstance(geometry, Box):
        return bool(np.all((x >= np.array(geometry.low)) & (x <= np.array(geometry.high))))
    assert isinstance(geometry, Circle)
    return bool(np.all((x >= -math.pi) & (x <= math.pi)))


@pytest.mark.parametrize("kind", export.KINDS)
@pytest.mark.parametrize("preset", PRESETS)
def test_a_trained_run_exports_end_to_end_and_through_nwb(trained, preset, kind, tmp_path):
    run_dir = trained[preset]
    setup = load_run(run_dir, device="cpu")
    n_steps = None if kind == "active" else 11
    rec = export.rollout(run_dir, kind, n_trajectories=B, n_steps=n_steps, device="cpu")
    steps = setup.task.sequence_length if kind == "active" else 11
    d, n_rec, n_code = setup.task.latent_dim, setup.model.n_rec, setup.task.n_code
    assert rec.decoded.shape[0] == B * steps and rec.hidden.shape == (B * steps, n_rec)
    assert rec.outputs.shape == (B * steps, n_code)
    assert (rec.latent is not None) == (kind == "active")
    t = rec.decoded.t
    assert t[1] - t[0] == pytest.approx(0.02, abs=1e-12) and setup.task.dt == 0.02
    for i in range(B):
        one = rec.decoded.restrict(rec.trajectories[i])
        assert len(one) == steps and np.allclose(np.diff(one.t), 0.02)
    decoded = np.asarray(rec.decoded.values).reshape(B * steps, d)
    assert np.all(np.isfinite(decoded))
    if kind == "active":
        assert _inside(setup.task.geometry, decoded)
    # The outputs are the very outputs the decoded latent was decoded from.
    outputs = torch.from_numpy(np.asarray(rec.outputs.values))
    np.testing.assert_allclose(setup.task.decode(outputs).numpy().reshape(B * steps, d), decoded, atol=1e-6)
    info = rec.info
    condition = preset.split("/")[1]
    assert (info["preset"], info["condition"], info["seed"], info["kind"]) == (preset, condition, 0, kind)
    assert info["latent_unit"] == setup.task.geometry.unit and info["checkpoint_step"] == 5
    assert info["mode"] == (None if kind == "active" else "scaled")
    assert info["sigma_rec"] == pytest.approx(setup.model.sigma_rec * (1 if kind == "active" else math.sqrt(2)))
    back = export.read_nwb(rec.to_nwb(tmp_path / "run.nwb"))
    np.testing.assert_array_equal(np.asarray(back.hidden.values), np.asarray(rec.hidden.values))
    np.testing.assert_array_equal(back.decoded.index.values, rec.decoded.index.values)
    description = pynwb.NWBHDF5IO(tmp_path / "run.nwb", "r").read().session_description
    assert f"{kind} rollout" in description and preset in description and "seed 0" in description
    assert f"condition {condition}" in description


def test_an_export_is_the_rollout_the_analyses_run_for_the_same_seed(trained):
    run_dir = trained["head_direction/noisy_biased"]
    setup = load_run(run_dir, device="cpu")
    # What protocol.simulate reads of the settings.
    s = SimpleNamespace(seed=0, noise=1e-2, mode="scaled", cfg=SimpleNamespace(matmul_precision="float32"))
    phases = protocol.simulate(setup, s, B, 9, keep_hidden=True)
    active = export.rollout(run_dir, "active", n_trajectories=B, device="cpu")
    quiet = export.rollout(run_dir, "quiescent", n_trajectories=B, n_steps=9, device="cpu")
    np.testing.assert_array_equal(np.asarray(active.decoded.values), phases.active.decoded.numpy().reshape(-1))
    np.testing.assert_array_equal(np.asarray(active.hidden.values), phases.active.hidden.numpy().reshape(B * 6, -1))
    np.testing.assert_array_equal(np.asarray(quiet.decoded.values), phases.quiescent["scaled"].decoded.numpy().ravel())
    # Both exports start from the same true initial headings.
    np.testing.assert_array_equal(
        active.trajectories.metadata["init_latent"], quiet.trajectories.metadata["init_latent"]
    )


def test_an_active_export_can_be_longer_than_the_training_trajectories(trained):
    run_dir = trained["spatial_navigation/noisy_unbiased"]
    rec = export.rollout(run_dir, "active", n_trajectories=2, n_steps=15, device="cpu", keep_outputs=False)
    assert rec.decoded.shape == (30, 2) and rec.latent.shape == (30, 2) and rec.outputs is None
    assert load_run(run_dir, device="cpu").task.sequence_length == 6  # the run itself is unchanged
    with pytest.raises(ValueError, match="n_trajectories=0 must be a positive integer"):
        export.rollout(run_dir, n_trajectories=0)
    with pytest.raises(ValueError, match="mode='loud'"):
        export.rollout(run_dir, mode="loud")


def test_pynapple_tools_work_on_an_export(trained):
    rec = export.rollout(trained["head_direction/noisy_biased"], n_trajectories=4, n_steps=50, device="cpu")
    tuning = nap.compute_tuning_curves(rec.hidden, rec.decoded, bins=8, range=(-math.pi, math.pi))
    assert tuning.shape == (16, 8)
    decoded, _ = nap.decode_template(tuning, rec.hidden, epochs=rec.trajectories, bin_size=0.02)
    assert len(decoded) == len(rec.decoded) and np.all(np.abs(decoded.values) <= math.pi)


def test_a_missing_extra_names_it_and_the_install_command(monkeypatch, tmp_path):
    rec, a = _recording()
    monkeypatch.setitem(sys.modules, "pynwb", None)  # `import pynwb` now fails as if it were not installed
    with pytest.raises(
        ReactivationError, match=r"needs pynwb, which is not installed.*pip install 'reactivation\[export\]'"
    ):
        export.write_nwb(rec, tmp_path / "x.nwb")
    monkeypatch.setitem(sys.modules, "pynapple", None)
    with pytest.raises(ReactivationError, match=r"needs pynapple.*pip install 'reactivation\[export\]'"):
        export.from_arrays(a["decoded"], kind="active")
    with pytest.raises(ReactivationError, match="needs pynapple"):
        export.rollout(tmp_path / "no-run")  # before any work: the missing extra, not the missing run


def test_importing_the_module_needs_neither_extra():
    code = (
        "import sys; sys.modules['pynapple'] = None; sys.modules['pynwb'] = None\n"
        "import reactivation.export as e\n"
        "try:\n    e.from_arrays([[[0.0]]], kind='active')\n"
        "except e.ReactivationError as err:\n    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "needs pynapple" in done.stdout and "pip install 'reactivation[export]'" in done.stdout
