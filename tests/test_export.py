"""reactivation.export (issue 12): rollouts as pynapple objects and NWB files, round trips and tiny trained runs."""

from __future__ import annotations

import json
import math
import os
import shlex
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
from reactivation.export import recording as export_recording
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
        np.testing.assert_allclose(
            epochs.metadata[export_recording._latent_names("init", d)].to_numpy(), a["init_latent"]
        )
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
        "import reactivation.export as e\nfrom reactivation import ReactivationError\n"
        "try:\n    e.from_arrays([[[0.0]]], kind='active')\n"
        "except ReactivationError as err:\n    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "needs pynapple" in done.stdout and "pip install 'reactivation[export]'" in done.stdout


# --- issue 25: names, files and runs the export used to take without a word ----------------------------------


@pytest.mark.parametrize("name", ["rollout.csv", "rollout.h5", "rollout.NWB", "rollout"])
def test_to_nwb_refuses_a_name_that_does_not_end_in_nwb_and_writes_nothing(tmp_path, name):
    rec, _ = _recording()
    # pynapple.load_file opens NWB only from a .nwb name: any other name would hold a file no reader takes for NWB.
    says = rf"{name}: an NWB file's name must end in \.nwb.*e\.g\. .*rollout\.nwb"
    with pytest.raises(ReactivationError, match=says):
        rec.to_nwb(tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    assert export.check_nwb_path(tmp_path / "rollout.nwb") == tmp_path / "rollout.nwb"


def _not_nwb_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Files read_nwb must refuse, each with what its message must say."""
    import h5py

    text = tmp_path / "table.csv"
    text.write_text("x,y\n0.1,0.2\n")
    named = tmp_path / "text.nwb"
    named.write_text("not hdf5\n")
    empty = tmp_path / "empty.nwb"
    empty.touch()
    plain = tmp_path / "plain.nwb"
    with h5py.File(plain, "w") as f:
        f["x"] = np.arange(3)
    rec, _ = _recording()
    whole = rec.to_nwb(tmp_path / "whole.nwb").read_bytes()
    torn = tmp_path / "torn.nwb"
    torn.write_bytes(whole[: len(whole) // 2])  # an interrupted copy
    not_hdf5 = "is not an NWB file: it is not HDF5 at all"
    return {
        "csv": (text, not_hdf5),
        "text named .nwb": (named, not_hdf5),
        "empty": (empty, not_hdf5),
        "hdf5 without nwb": (plain, "is an HDF5 file but not an NWB file"),
        "truncated": (torn, "is HDF5 but cannot be opened: it is damaged or truncated"),
    }


def test_read_nwb_says_what_a_file_that_is_not_an_nwb_file_is(tmp_path):
    for case, (path, says) in _not_nwb_files(tmp_path).items():
        with pytest.raises(ReactivationError) as err:
            export.read_nwb(path)
        message = str(err.value)
        assert str(path) in message and says in message, case
        assert "written by reactivation.export.write_nwb" in message, case  # what is expected
        assert not isinstance(err.value, OSError), case  # h5py's raw error no longer reaches the user
    # An NWB file whose notes are JSON, but not a recording's record.
    from datetime import datetime, timezone

    other = tmp_path / "json_notes.nwb"
    nwb = pynwb.NWBFile(session_description="x", identifier="x", session_start_time=datetime.now(timezone.utc))
    nwb.notes = "[1, 2]"
    with pynwb.NWBHDF5IO(other, "w") as io:
        io.write(nwb)
    with pytest.raises(ReactivationError, match="was not written by reactivation.export.write_nwb"):
        export.read_nwb(other)


def _copy_run(run_dir: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(run_dir, dest)
    return dest


def test_a_half_trained_run_is_refused_unless_a_step_is_asked_for(trained, tmp_path):
    from reactivation import runs

    preset = "spatial_navigation/noisy_unbiased"
    run_dir = _copy_run(trained[preset], tmp_path / "run")
    finished = export.rollout(run_dir, n_trajectories=B, n_steps=4, device="cpu")
    assert (finished.info["checkpoint_step"], finished.info["n_epochs"]) == (5, 5)
    assert "intermediate" not in export.describe(finished)
    runs.checkpoint_path(run_dir, 5).unlink()  # the run now stops at step 4 of 5
    with pytest.raises(ReactivationError) as err:
        export.rollout(run_dir, n_trajectories=B, n_steps=4, device="cpu")
    message = str(err.value)
    assert f"the run {run_dir} has not finished training (4 of trainer.n_epochs=5 steps)" in message
    assert "step=<step>; saved: [0, 2, 4]" in message
    # Trained by the Python API, the run records no command: the message says what to run instead of guessing one.
    assert "reactivation.training.train(cfg, run_dir)" in message and f"config={preset} seed=0" in message
    # Asked for, an intermediate checkpoint is exported, and the file says what it is.
    early = export.rollout(run_dir, n_trajectories=B, n_steps=4, step=4, device="cpu")
    assert (early.info["checkpoint_step"], early.info["n_epochs"]) == (4, 5)
    assert "at its intermediate checkpoint step 4 of 5" in export.describe(early)
    back = export.read_nwb(early.to_nwb(tmp_path / "early.nwb"))
    assert back.info["checkpoint_step"] == 4
    with pytest.raises(ReactivationError, match=r"no checkpoint at step 3; available steps: \[0, 2, 4\]"):
        export.rollout(run_dir, step=3, device="cpu")
    with runs.RunLock(run_dir):  # a training process holds it
        with pytest.raises(ReactivationError, match=rf"being trained now \(pid {os.getpid()} "):
            export.rollout(run_dir, device="cpu")
    # What the message suggests works: training it again with its config finishes it, and it exports.
    train(compose_train([f"config={preset}", "seed=0", *TINY]), run_dir, preset=preset)
    assert export.rollout(run_dir, n_trajectories=B, n_steps=4, device="cpu").info["checkpoint_step"] == 5


def test_the_command_it_suggests_finishes_a_run_trained_by_the_command(tmp_path, monkeypatch):
    from reactivation import runs, usage

    monkeypatch.delenv(usage.ENV, raising=False)  # the checkout's spelling: python train.py
    results = tmp_path / "results"
    args = ["config=spatial_navigation/noisy_unbiased", "seed=0", *TINY, f"path={results}", "device=cpu"]
    # resume=false is recorded with the command; repeated, it would start the run again from scratch.
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args, "resume=false"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr
    (run_dir,) = [p.parent for p in results.rglob("config.yaml") if p.parent.name != ".hydra"]
    runs.checkpoint_path(run_dir, 5).unlink()
    with pytest.raises(ReactivationError) as err:
        export.rollout(run_dir, device="cpu")
    command = str(err.value).split("with the command that trained it:\n  ", 1)[1].split("\n", 1)[0]
    assert command.startswith("python train.py config=spatial_navigation/noisy_unbiased seed=0 ")
    assert "resume" not in command and f"path={results}" in command
    program, script, *rest = shlex.split(command)
    assert (program, script) == ("python", "train.py")
    done = subprocess.run(
        [sys.executable, str(ROOT / script), *rest], cwd=ROOT, capture_output=True, text=True, timeout=300, env=_env()
    )
    assert done.returncode == 0, done.stderr
    assert export.rollout(run_dir, n_trajectories=B, n_steps=4, device="cpu").info["checkpoint_step"] == 5


# --- the command ---------------------------------------------------------------------------------------------

#: train_overrides= of the fixture's runs, quoted as the analysis tests pass it (the elements contain `=`).
QUOTED_TINY = "[" + ",".join(f'"{o}"' for o in TINY) + "]"


def _env() -> dict[str, str]:
    from reactivation import usage

    env = {k: v for k, v in os.environ.items() if k not in (usage.ENV, "HYDRA_FULL_ERROR")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _export_command(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``reactivation export <args>`` as the installed command runs it (``python -m reactivation``)."""
    return subprocess.run(
        [sys.executable, "-m", "reactivation", "export", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
        stdin=subprocess.DEVNULL,
    )


def _root(trained: dict[str, Path]) -> Path:
    return trained[PRESETS[0]].parents[2]  # <root>/<task>/<preset>/seed_0


def test_the_export_command_writes_the_rollout_that_the_api_makes(trained, tmp_path):
    preset = "head_direction/noisy_biased"
    args = [
        f"config={preset}",
        "seed=0",
        f"path={_root(trained)}",
        f"train_overrides={QUOTED_TINY}",
        "device=cpu",
        "n_trajectories=3",
        "n_steps=9",
        "out=exports/hd.nwb",  # relative: to the directory the command runs in
    ]
    done = _export_command(args, tmp_path)
    path = tmp_path / "exports" / "hd.nwb"
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {path}: reactivation quiescent rollout")
    back = export.read_nwb(path)
    api = export.rollout(trained[preset], "quiescent", n_trajectories=3, n_steps=9, device="cpu")
    np.testing.assert_allclose(np.asarray(back.decoded.values), np.asarray(api.decoded.values), atol=1e-6)
    np.testing.assert_allclose(np.asarray(back.hidden.values), np.asarray(api.hidden.values), atol=1e-6)
    assert (back.info["preset"], back.info["seed"], back.info["checkpoint_step"]) == (preset, 0, 5)
    data = nap.load_file(str(path))  # pynapple alone reads it
    try:
        assert set(export.SERIES) - {"true_latent"} <= set(data.keys())
    finally:
        data.close()
    # Again: the file is there, so the command refuses (one line, exit 2) unless told to replace it.
    again = _export_command(args, tmp_path)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert again.stderr.strip() == f"error: out=exports/hd.nwb: {path} exists; choose another out=, or add " + (
        "overwrite=true to replace it."
    )
    active = _export_command([*args, "kind=active", "overwrite=true"], tmp_path)
    assert active.returncode == 0, active.stderr
    assert export.read_nwb(path).kind == "active"


def test_the_export_command_refuses_an_unfinished_run_unless_an_epoch_is_given(trained, tmp_path):
    import shutil

    from reactivation import runs

    preset = "spatial_navigation/noisy_unbiased"
    root = tmp_path / "results"
    run_dir = _copy_run(trained[preset], root / preset / "seed_0")
    runs.checkpoint_path(run_dir, 5).unlink()
    args = [f"config={preset}", "seed=0", f"path={root}", f"train_overrides={QUOTED_TINY}", "device=cpu"]
    args += ["n_trajectories=2", "n_steps=4", "out=early.nwb"]
    done = _export_command(args, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"the run {run_dir} is incomplete (4 of 5 steps). Finish it with:" in done.stderr
    assert f"reactivation train config={preset} seed=0 " in done.stderr  # spelt as the command was started
    assert not (tmp_path / "early.nwb").exists()
    done = _export_command([*args, "epoch=4"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "at its intermediate checkpoint step 4 of 5" in done.stdout
    assert export.read_nwb(tmp_path / "early.nwb").info["checkpoint_step"] == 4
    shutil.rmtree(root)


def _checked(tmp_path: Path, *args: str) -> dict:
    from reactivation.config import ANALYSIS_CONFIG_DIR, compose_config

    base = {"config": "spatial_navigation/noisy_unbiased", "seed": "0", "out": str(tmp_path / "x.nwb")}
    own = {a.split("=", 1)[0] for a in args}
    overrides = [f"{k}={v}" for k, v in base.items() if k not in own] + list(args)
    return export.check_command(compose_config(ANALYSIS_CONFIG_DIR, "export", overrides))


def test_the_export_command_checks_every_value_before_any_work(tmp_path):
    from reactivation import ConfigError

    (tmp_path / "taken.nwb").touch()
    (tmp_path / "folder.nwb").mkdir()
    (tmp_path / "a_file").touch()
    bad = {
        ("out=x.csv",): r"out=x\.csv: an NWB file's name must end in \.nwb.*e\.g\. x\.nwb",
        (f"out={tmp_path}/taken.nwb",): r"taken\.nwb exists; choose another out=, or add overwrite=true",
        (f"out={tmp_path}/folder.nwb",): r"folder\.nwb is a folder; name the file to write",
        (f"out={tmp_path}/a_file/x.nwb",): r"a_file is a file, not a folder; choose another out=",
        ("kind=sleep",): r"kind=sleep is not allowed: kind must be one of active, quiescent",
        ("n_trajectories=0",): r"n_trajectories=0 is not allowed",
        ("n_trajectories=true",): r"n_trajectories=true is not allowed",  # a bool is not a count
        ("n_steps=0",): r"n_steps=0 is not allowed",
        ("format=csv",): r"format=csv is not allowed: format must be nwb",
        ("keep_hidden=3",): r"keep_hidden=3 is not allowed: keep_hidden must be true or false",
        ("seed=abc",): r"seed=abc is not allowed",
        ("epoch=-1",): r"epoch=-1 is not allowed",
        ("mode=loud",): r"mode=loud is not allowed",
        ("config=spatial_navigation/noisy_unbaised",): r"unknown preset config=spatial_navigation/noisy_unbaised\. "
        r"Did you mean spatial_navigation/noisy_unbiased",
        ("kind=active", "mode=same"): r"mode=same sets the noise of a quiescent rollout, and kind=active",
        ("config=spatial_navigation/no-noise_unbiased", "noise=0.001"): r"noise=0\.001 would be ignored",
        (f"path={tmp_path}/a_file",): r"a_file is a file, not a folder of training runs",
        ("config=null",): r"config is required: add config=\.\.\., e\.g\.\n  .* config=spatial_navigation/noisy_",
        ("out=null",): r"out is required",
    }
    for args, says in bad.items():
        with pytest.raises(ConfigError, match=says):
            _checked(tmp_path, *args)
    with pytest.raises(ConfigError, match="device='tpu' is not a device name"):
        _checked(tmp_path, "device=tpu")
    # Accepted: what the rollout then gets.
    values = _checked(tmp_path, "mode=0.5", f"out={tmp_path}/taken.nwb", "overwrite=true")
    assert values["mode"] == "0.5" and values["out"] == str(tmp_path / "taken.nwb")
    assert Path(values["path"]).is_absolute()
    values = _checked(tmp_path, "config=spatial_navigation/no-noise_unbiased", "noise=0.001", "mode=absolute")
    assert values["noise"] == 0.001  # mode=absolute doubles it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "folder.nwb", "taken.nwb"]  # nothing written


def test_a_diverged_or_resume_less_half_run_is_told_what_works_not_to_finish_it(trained, tmp_path):
    from reactivation import runs

    run_dir = _copy_run(trained["spatial_navigation/noisy_unbiased"], tmp_path / "run")
    runs.checkpoint_path(run_dir, 5).unlink()  # stopped at step 4 of 5
    runs.mark_diverged(run_dir, 5, "a non-finite loss", "diverged")
    with pytest.raises(ReactivationError) as err:
        export.rollout(run_dir, device="cpu")
    assert "diverged at step 5" in str(err.value) and "trainer.lr=0.0001" in str(err.value)
    assert "Finish it" not in str(err.value)  # the same command would diverge again
    (run_dir / runs.DIVERGED_FILE).unlink()
    (run_dir / runs.CHECKPOINT_DIR / runs.RESUME_FILE).unlink()
    with pytest.raises(ReactivationError, match=r"resume\.pt is missing, so its training command cannot continue"):
        export.rollout(run_dir, device="cpu")
