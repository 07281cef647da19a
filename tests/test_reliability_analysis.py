"""Issue 10, analysis side: result files named and checked by their settings, every bad analysis, figure or
reproduce value refused up front, relative paths meaning the caller's directory. No trained runs needed."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reactivation import ReactivationError, analyses, precision
from reactivation.analysis import lookup, results
from reactivation.analysis import settings as analysis_settings
from reactivation.config import ANALYSIS_CONFIG_DIR, compose_config
from reactivation.precision import PRECISIONS

ROOT = Path(__file__).resolve().parent.parent
#: Settings spelt by the fixed part of a result's name.
NAMED = {"kind", "seed", "task", "model", "noise", "scale"}


def _settings(name: str, *overrides: str) -> analysis_settings.Settings:
    """The settings of ``python output_<name>.py <overrides>`` (seed 0 unless given)."""
    seed = [] if any(o.startswith("seed=") for o in overrides) else ["seed=0"]
    return analysis_settings.settings(compose_config(ANALYSIS_CONFIG_DIR, name, [*seed, *overrides]))


# ------------------------------------------------------------------------------------------------ file names


@pytest.mark.parametrize(
    "kind, overrides, name",
    [
        ("distance", [], "distance_0.0001_0.json"),
        ("distance", ["epoch=20"], "distance_0.0001_0_epoch=20.json"),
        ("distance", ["epoch=20", "mode=same"], "distance_0.0001_0_epoch=20,mode=same.json"),
        ("distance", ["mode=scaled", "noise=1e-4", "epoch=null"], "distance_0.0001_0.json"),  # the defaults, spelt out
        ("kl", ["scale=tiny"], "kl_0.0001_0.json"),  # each scale's own sizes are its defaults
        ("kl", ["scale=tiny", "n_samples=100"], "kl_0.0001_0_n_samples=100.json"),
        ("kl", ["model=gru"], "kl_gru_0.0001_0.json"),
        ("kl", ["model=gru", "mode=scaled"], "kl_gru_0.0001_0_mode=scaled.json"),  # GRUs default to same
        ("kl", ["task=head_direction", "seed=3"], "kl_0.01_3.json"),
        ("kl", ["noise=3e-4"], "kl_0.0003_0.json"),
        ("variance", ["batch_size=8", "t_shift=10"], "variance_0.0001_0_batch_size=8,t_shift=10.json"),
        ("manifold", ["ring=[0,1]", "n_components=3"], "manifold_0.0001_0_n_components=3,ring=0-1.json"),
        ("manifold", ["ring=[0.2,0.45]"], "manifold_0.0001_0.json"),
        ("kl", ["ratio_clip=[1e-7,1e7]"], "kl_0.0001_0_ratio_clip=1e-07-1e+07.json"),  # the published clip
        ("kl", ["ratio_clip=[1,10]"], "kl_0.0001_0_ratio_clip=1-10.json"),
        ("kl", ["ratio_clip=[1.0,10.0]"], "kl_0.0001_0_ratio_clip=1-10.json"),  # [1,10] and [1.0,10.0]: one setting
        ("kl", ["ratio_clip=null"], "kl_0.0001_0.json"),  # unclipped, the default
    ],
)
def test_result_names_follow_one_rule(tmp_path, kind, overrides, name):
    s = _settings(kind, f"path={tmp_path}", *overrides)
    assert results.result_path(s, kind) == tmp_path / s.task / name


def test_train_overrides_are_named_by_a_digest_and_a_long_tag_becomes_one(tmp_path):
    s = _settings("kl", f"path={tmp_path}", "epoch=100", 'train_overrides=["trainer.n_epochs=1000"]')
    name = results.result_path(s, "kl").name
    assert re.fullmatch(r"kl_0\.0001_0_epoch=100,train=[0-9a-f]{8}\.json", name)
    other = _settings("kl", f"path={tmp_path}", "epoch=100", 'train_overrides=["trainer.n_epochs=2000"]')
    assert results.result_path(other, "kl").name != name
    long = _settings(
        "kl",
        f"path={tmp_path}",
        *(f"{k}=123456789" for k in ("epoch", "batch_size", "t_quiescent", "n_samples")),
        "mode=absolute",
    )
    assert re.fullmatch(r"kl_0\.0001_0_settings=[0-9a-f]{8}\.json", results.result_path(long, "kl").name)


def _changed(key, value):
    """Another valid value of a result setting (the default's type decides)."""
    if key == "ratio_clip":  # null by default, like epoch, but a pair of bounds when set
        return [1e-7, 1e7]
    if key == "bandwidth":  # null (Scott's rule) by default, a factor of it when set
        return 2.0
    if key == "factors":  # the noise factors of the temperature sweep
        return [*value, 4.0]
    if key == "queries":  # where the drift is compared
        return "settled" if value == "awake" else "awake"
    if key == "threshold":  # a probability in [0.5, 1)
        return 0.9
    if value is None:  # epoch, movement_var
        return 7
    if isinstance(value, bool):
        raise AssertionError("no boolean result settings")
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):  # the replay analysis's rate and dwell
        return 2 * value
    if value in PRECISIONS:  # matmul_precision: another one this machine can run, if it has one
        others = [p for p in precision.available(torch.device("cpu")) if p != value]
        return others[0] if others else None
    if isinstance(value, str):  # mode
        return "absolute" if value != "absolute" else "same"
    if value and isinstance(value[0], float):  # ring
        return [value[0] / 2, value[1]]
    return ["trainer.n_epochs=10"]  # train_overrides


@pytest.mark.parametrize("kind", analyses.NAMES)
def test_every_setting_that_changes_a_result_changes_its_file_name(tmp_path, kind):
    """output_distance.py epoch=20 used to overwrite the final epoch's file; so did every other setting."""
    default = analysis_settings.settings(analysis_settings.compose_analysis(kind, seed=0, path=str(tmp_path)))
    settings = results.result_settings(default, kind)
    varied = {key: _changed(key, value) for key, value in settings.items() if key not in NAMED}
    varied = {key: value for key, value in varied.items() if value is not None}  # None: no other value here
    quiescent = set() if kind == "drift" else {"t_quiescent"}  # drift steps once from the active states
    assert {"epoch", "mode", "train_overrides", "batch_size", *quiescent} <= set(varied)
    names = {results.result_path(default, kind).name}
    for key, value in varied.items():
        s = analysis_settings.settings(
            analysis_settings.compose_analysis(kind, seed=0, path=str(tmp_path), **{key: value})
        )
        assert results.result_settings(s, kind)[key] == value
        names.add(results.result_path(s, kind).name)
    assert len(names) == len(varied) + 1, names


@pytest.mark.parametrize(
    "overrides",
    [
        ["epoch=40", "mode=absolute"],
        ["scale=small", "batch_size=7"],
        ["model=gru", "noise=2e-4"],
        ['train_overrides=["trainer.n_epochs=1000","rnn.n_rec=64"]', "task=head_direction"],
        ["ratio_clip=[1e-7,1e7]", "epoch=40"],
    ],
)
def test_the_command_a_message_gives_writes_the_file_asked_for(tmp_path, overrides):
    s = _settings("kl", f"path={tmp_path / 'my results'}", *overrides)
    command = shlex.split(results.analysis_command(s, "kl"))
    assert command[:2] == ["python", "output_kl.py"]
    again = _settings("kl", *command[2:])
    assert results.result_path(again, "kl") == results.result_path(s, "kl")
    assert results.result_settings(again, "kl") == results.result_settings(s, "kl")


def test_a_relative_path_means_the_callers_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = _settings("kl", "path=somewhere/results")
    assert s.cfg.path == str(tmp_path / "somewhere" / "results")
    assert results.result_path(s, "kl") == tmp_path / "somewhere/results/spatial_navigation/kl_0.0001_0.json"
    # The scale's default root is found from any directory (it is relative to the caller's too); outside the
    # checkout, its scripts are spelt with their paths, so that the command runs where the user is.
    scripts = Path(__file__).resolve().parent.parent
    assert results.analysis_command(_settings("kl", "scale=tiny"), "kl") == (
        f"python {scripts / 'output_kl.py'} seed=0 scale=tiny"
    )
    assert lookup.train_command("spatial_navigation/noisy_biased", 0, [], Path("results")) == (
        f"python {scripts / 'train.py'} config=spatial_navigation/noisy_biased seed=0"
    )
    monkeypatch.chdir(scripts)  # in the checkout: the plain script names
    assert lookup.train_command("spatial_navigation/noisy_biased", 0, [], Path("results")).startswith(
        "python train.py config=spatial_navigation/noisy_biased seed=0"
    )


def test_figure_settings_are_not_result_settings_and_for_kind_gives_them(tmp_path):
    fig = _settings("figures", f"path={tmp_path}", "epoch=4", "analyses.kl.n_samples=100", "batch_size=3")
    with pytest.raises(ValueError, match="for_kind"):
        results.result_path(fig, "kl")  # figures' batch_size is the state panels', not the KL's
    kl = analysis_settings.for_kind(fig, "kl")
    assert (kl.cfg.epoch, kl.cfg.n_samples, kl.cfg.batch_size, kl.cfg.path) == (4, 100, 200, str(tmp_path))
    assert results.result_path(kl, "kl").name == "kl_0.0001_0_epoch=4,n_samples=100.json"


def test_the_figures_ratio_clip_selects_the_clipped_kl_results(tmp_path):
    fig = _settings("figures", f"path={tmp_path}", "analyses.kl.ratio_clip=[1e-7,1e7]")
    kl = analysis_settings.for_kind(fig, "kl")
    assert kl.cfg.ratio_clip == [1e-7, 1e7]
    assert results.result_path(kl, "kl").name == "kl_0.0001_0_ratio_clip=1e-07-1e+07.json"
    plain = analysis_settings.for_kind(_settings("figures", f"path={tmp_path}"), "kl")
    assert plain.cfg.ratio_clip is None and results.result_path(plain, "kl").name == "kl_0.0001_0.json"


# ------------------------------------------------------------------------------------------------ reading back


def _write(s: analysis_settings.Settings, kind: str, result) -> Path:
    return results.write_result(s, kind, result, {"runs": {}})


VARIANCE = {"noisy_unbiased": 0.3, "noisy_biased": 0.03, "no-noise_unbiased": 0.001, "no-noise_biased": 0.0001}


def test_a_result_reads_back_only_with_the_settings_that_made_it(tmp_path):
    s = _settings("variance", f"path={tmp_path}")
    with pytest.raises(
        results.MissingResult,
        match=r"variance_0\.0001_0\.json is missing; compute it with: "
        rf"python output_variance\.py seed=0 path={tmp_path}$",
    ):
        results.read_result(s, "variance")
    path = _write(s, "variance", VARIANCE)
    result, meta = results.read_result(s, "variance")
    assert result == VARIANCE and meta["settings"] == results.result_settings(s, "variance")
    # A file of today's name written before settings were recorded (or edited) is refused, naming what differs.
    meta["settings"] = {**meta["settings"], "epoch": 20, "batch_size": 9}
    results.meta_path(path).write_text(json.dumps(meta))
    with pytest.raises(
        results.UnusableResult,
        match=r"other settings \(epoch=20 where null was asked for; "
        r"batch_size=9 where 500 was asked for\)",
    ):
        results.read_result(s, "variance")
    results.meta_path(path).unlink()
    with pytest.raises(results.UnusableResult, match=r"has no variance_0\.0001_0\.meta\.json beside it"):
        results.read_result(s, "variance")
    results.meta_path(path).write_text("{")
    with pytest.raises(results.UnusableResult, match=r"meta\.json is unreadable \(JSONDecodeError"):
        results.read_result(s, "variance")


KL = {row: {"noisy_unbiased": 0.5} for row in ("noisy_unbiased", "random", "uniform")}


def test_a_clipped_kl_result_records_its_clip_and_never_stands_for_an_unclipped_one(tmp_path):
    clipped, plain = _settings("kl", f"path={tmp_path}", "ratio_clip=[1e-7,1e7]"), _settings("kl", f"path={tmp_path}")
    path = _write(clipped, "kl", KL)
    assert path != results.result_path(plain, "kl")  # its own file: it never replaces the unclipped one
    _, meta = results.read_result(clipped, "kl")
    assert meta["settings"]["ratio_clip"] == [1e-7, 1e7] and meta["config"]["ratio_clip"] == [1e-7, 1e7]
    with pytest.raises(results.MissingResult, match=r"kl_0\.0001_0\.json is missing"):
        results.read_result(plain, "kl")
    # Moved to the unclipped name, it is refused for what it is.
    results.result_path(plain, "kl").write_text(path.read_text())
    results.meta_path(results.result_path(plain, "kl")).write_text(results.meta_path(path).read_text())
    with pytest.raises(
        results.UnusableResult, match=re.escape("other settings (ratio_clip=[1e-07,1e+07] where null was asked for)")
    ):
        results.read_result(plain, "kl")


def test_a_kl_result_from_before_ratio_clip_is_an_unclipped_one(tmp_path):
    plain = _settings("kl", f"path={tmp_path}")
    path = _write(plain, "kl", KL)
    meta = json.loads(results.meta_path(path).read_text())
    del meta["settings"]["ratio_clip"]  # as written before the setting existed (unclipped, the only estimate then)
    results.meta_path(path).write_text(json.dumps(meta))
    assert results.read_result(plain, "kl")[0] == KL
    assert "ratio_clip" not in results.result_settings(_settings("variance", f"path={tmp_path}"), "variance")


@pytest.mark.parametrize(
    "kind, content, problem",
    [
        ("variance", "", "is unreadable (JSONDecodeError"),
        ("variance", "[1, 2]", "is not a variance result (the file holds [1,2], not a JSON object of entries)"),
        ("variance", '{"noisy_unbiased": "high"}', "(noisy_unbiased holds high, not a number)"),
        ("variance", '{"noisy_unbiased": true}', "(noisy_unbiased holds true, not a number)"),
        ("variance", '{"nosiy_unbiased": 0.1}', "(unexpected entry nosiy_unbiased)"),
        ("kl", '{"random": {"noisy_unbiased": null}}', "(random.noisy_unbiased holds null, not a number)"),
        ("kl", '{"random": {"uniform": 1.0}}', "(unexpected entry random.uniform)"),
        ("distance", '{"noisy_biased": 0.1}', "(noisy_biased holds 0.1, not a JSON object of numbers)"),
        ("manifold", '{"noisy_biased": {"pca_share": "x"}}', "not a JSON object of numbers, nulls or lists of numbers"),
    ],
)
def test_a_corrupt_or_wrong_shape_result_is_refused_naming_the_file_and_the_fix(tmp_path, kind, content, problem):
    s = _settings(kind, f"path={tmp_path}")
    path = _write(s, kind, {})
    path.write_text(content)
    with pytest.raises(results.UnusableResult) as err:
        results.read_result(s, kind)
    assert str(err.value).startswith(f"{path} ") and problem in str(err.value)
    assert str(err.value).endswith(
        f"delete it and compute it again with: python output_{kind}.py seed=0 path={tmp_path}"
    )


def test_partial_and_undefined_statistics_are_results(tmp_path):
    s = _settings("manifold", f"path={tmp_path}")
    entry = {"pca_share": None, "explained_active": [0.5, 0.9], "curve_gap": None, "ring_active": 0.2}
    _write(s, "manifold", {"noisy_biased": entry})
    assert results.read_result(s, "manifold")[0] == {"noisy_biased": entry}


def test_a_corrupt_test_log_is_a_clear_error(tmp_path):
    with pytest.raises(ReactivationError, match=r"test_metrics\.json is unreadable \(FileNotFoundError"):
        results.read_test_metrics(tmp_path)
    (tmp_path / "test_metrics.json").write_text(json.dumps({"0": {"loss": None, "pos_mse": 0.1}, "x": {}}))
    with pytest.raises(ReactivationError, match=r"is not a test log .*resume=false"):
        results.read_test_metrics(tmp_path)
    (tmp_path / "test_metrics.json").write_text(json.dumps({"0": {"loss": 1.0, "pos_mse": 0.1}}))
    assert results.read_test_metrics(tmp_path) == {"0": {"loss": 1.0, "pos_mse": 0.1}}


# ------------------------------------------------------------------------------------------------ bad values

BAD = [
    ("kl", "seed=abc", "seed=abc is not allowed: seed must be a non-negative integer (seed=0 is a seed)."),
    ("kl", "seed=0.5", "seed=0.5 is not allowed"),  # used to run seed 0
    ("kl", "seed=true", "seed=true is not allowed"),
    ("kl", "seed=-1", "seed=-1 is not allowed"),
    (
        "distance",
        "mode=foo",
        "mode=foo is not allowed: mode must be null (scaled for vanilla RNNs, same for GRUs), "
        "one of scaled, same, absolute, or a factor c >= 0 of the trained noise",
    ),
    ("kl", "batch_size=0", "batch_size=0 is not allowed: batch_size must be a positive integer (trajectories)."),
    ("kl", "batch_size=2.5", "batch_size=2.5 is not allowed"),
    ("kl", "t_quiescent=0", "t_quiescent=0 is not allowed: t_quiescent must be a positive integer"),
    ("kl", "n_samples=0", "n_samples=0 is not allowed: n_samples must be a positive integer"),
    ("variance", "t_shift=-1", "t_shift=-1 is not allowed: t_shift must be an integer >= 0"),
    (
        "variance",
        "t_shift=2000",
        "t_shift=2000 is not allowed: t_shift must leave at least 2 of the t_quiescent=2000 quiescent steps",
    ),
    ("variance", "t_shift=1999", "t_shift=1999 is not allowed"),
    ("manifold", "n_components=0", "n_components=0 is not allowed"),
    ("manifold", "ring=[0.5,0.2]", "ring=[0.5,0.2] is not allowed: ring must be [inner, outer]"),
    ("manifold", "ring=[0.2,nan]", "ring=[0.2,nan] is not allowed"),
    ("manifold", "ring=0.3", "ring=0.3 is not allowed"),
    (
        "kl",
        "noise=nan",
        "noise=nan is not allowed: noise must be null (the preset's: 1e-4 spatial_navigation, "
        "1e-2 head_direction, 1e-4 linear_track) or a finite variance >= 0.",
    ),  # used to suggest rnn.sigma2_rec=nan
    ("kl", "noise=inf", "noise=inf is not allowed"),
    ("kl", "noise=-1e-4", "noise=-0.0001 is not allowed"),
    ("kl", "noise=abc", "noise=abc is not allowed"),
    (
        "kl",
        "epoch=-1",
        "epoch=-1 is not allowed: epoch must be null (the last checkpoint) or the step of a saved "
        "checkpoint, an integer >= 0.",
    ),
    ("kl", "epoch=abc", "epoch=abc is not allowed"),
    ("kl", "task=foo", "task=foo model=vanilla has no presets; choose one of: "),
    ("kl", "train_overrides=trainer.n_epochs", "train_overrides=trainer.n_epochs is not allowed"),
    ("kl", "progress=maybe", "progress=maybe is not allowed: progress must be true or false."),
    ("kl", "device=gpu0", "device='gpu0' is not a device name"),
    ("kl", "batch_size=${oc.env:NO_SUCH_VARIABLE_HERE}", "batch_size: "),
    ("kl", "batch_size=${oc.env:HOME}", "batch_size=${oc.env:HOME} (= "),
    (
        "figures",
        "seeds=[abc]",
        "seeds=[abc] is not allowed: seeds must be null (every seed found) or a non-empty "
        "list of non-negative integers",
    ),
    ("figures", "seeds=[]", "seeds=[] is not allowed"),
    ("figures", "seed=abc", "seed=abc is not allowed"),
    (
        "figures",
        "analyses.kl.n_samples=0",
        "analyses.kl.n_samples=0 is not allowed: analyses.kl.n_samples must be a positive integer",
    ),
    ("figures", "analyses.manifold.ring=[1,0]", "analyses.manifold.ring=[1,0] is not allowed"),
    (
        "kl",
        "ratio_clip=1e-7",
        "ratio_clip=1e-07 is not allowed: ratio_clip must be null (unclipped) or [low, high]: the bounds of each "
        "density ratio in the KL estimate, two finite numbers with 0 < low < high, e.g. ratio_clip=[1e-7,1e7]",
    ),  # one number
    ("kl", "ratio_clip=[1e-7]", "ratio_clip=[1e-07] is not allowed: ratio_clip must be null (unclipped) or"),
    ("kl", "ratio_clip=[1e7,1e-7]", "ratio_clip=[1e+07,1e-07] is not allowed"),  # low >= high
    ("kl", "ratio_clip=[2,2]", "ratio_clip=[2,2] is not allowed"),
    ("kl", "ratio_clip=[0,1e7]", "ratio_clip=[0,1e+07] is not allowed"),  # low <= 0
    ("kl", "ratio_clip=[-1,1]", "ratio_clip=[-1,1] is not allowed"),
    ("kl", "ratio_clip=[1e-7,inf]", "ratio_clip=[1e-07,inf] is not allowed"),
    ("kl", "ratio_clip=[a,b]", "ratio_clip=[a,b] is not allowed"),
    (
        "figures",
        "analyses.kl.ratio_clip=[0,1]",
        "analyses.kl.ratio_clip=[0,1] is not allowed: analyses.kl.ratio_clip must be null (unclipped) or [low, high]",
    ),
]


@pytest.mark.parametrize("name, override, message", BAD, ids=[f"{n}:{o}" for n, o, _ in BAD])
def test_every_bad_analysis_or_figure_value_is_refused_naming_key_value_and_choices(name, override, message):
    with pytest.raises(ReactivationError, match=re.escape(message)):
        _settings(name, override)


def test_figures_check_their_settings_before_reading_anything(tmp_path):
    from reactivation.figures import from_results

    # formats used to be checked only when the first figure was saved.
    with pytest.raises(
        ReactivationError,
        match=re.escape("formats=[bmpx] is not allowed (bmpx unknown): formats must be a non-empty list of "),
    ):
        from_results(tmp_path / "nothing here", "spatial_navigation", formats=["bmpx"])
    with pytest.raises(ReactivationError, match=re.escape("formats=[] is not allowed")):
        from_results(tmp_path / "nothing here", "spatial_navigation", formats=[])
    with pytest.raises(
        ReactivationError,
        match=re.escape("analyses={kl:3} is not allowed: analyses must be the settings of the analyses kl, "),
    ):
        from_results(tmp_path / "nothing here", "spatial_navigation", analyses={"kl": 3})


@pytest.mark.parametrize(
    "script, args, message",
    [
        (["output_distance.py"], ["seed=0.5"], "error: seed=0.5 is not allowed"),
        (["output_kl.py"], ["seed=0", "noise=nan"], "error: noise=nan is not allowed"),
        (["-m", "reactivation.figures"], ["formats=[bmpx]"], "error: formats=[bmpx] is not allowed"),
        (["reproduce.py"], ["seeds=[abc]", "scale=tiny"], "error: seeds=[abc] is not allowed"),
    ],
)
def test_entry_points_exit_2_with_the_message_and_write_nothing(tmp_path, script, args, message):
    root = tmp_path / "results"
    first = script if script[0] == "-m" else [str(ROOT / script[0])]
    done = subprocess.run(
        [sys.executable, *first, *args, f"path={root}"], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert list(tmp_path.iterdir()) == []
