"""The command line (issue 12): ``reactivation <command>``, the checkout's scripts that spell the same commands, the
messages that name a command as the user typed it, and the user's own preset directories."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

from reactivation import ConfigError, analyses, config, usage
from reactivation.analysis import lookup
from reactivation.commands import COMMANDS
from reactivation.config import PRESETS_ENV, compose_train, leaves, resolved

ROOT = Path(__file__).resolve().parent.parent
TINY_RUN = ["scale=tiny", "trainer.n_epochs=2", "trainer.test_freq=1", "trainer.save_freq=1", "trainer.progress=false"]


def _command(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m reactivation <args>``, as the installed ``reactivation`` console script runs it."""
    env = {k: v for k, v in (env or os.environ).items() if k != usage.ENV}
    return subprocess.run(
        [sys.executable, "-m", "reactivation", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


# ------------------------------------------------------------------------------------------------ the command


def test_help_lists_every_command_without_loading_torch_or_hydra(tmp_path):
    done = _command(["--help"], tmp_path)
    assert done.returncode == 0
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")]
    assert listed == list(COMMANDS)
    assert _command([], tmp_path).returncode == 2  # no command: the usage, and a failing status for scripts
    probe = (
        "import sys\nfrom reactivation import commands\ntry:\n    commands.main(['--help'])\nexcept SystemExit as e:\n"
        "    code = e.code\nprint(code, 'torch' in sys.modules, 'hydra' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.stdout.split()[-3:] == ["0", "False", "False"]


def test_help_into_a_reader_that_stops_early_is_quiet(tmp_path):
    # `reactivation --help | head -1` ended with a BrokenPipeError traceback
    reader = subprocess.Popen([sys.executable, "-m", "reactivation", "--help"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)  # fmt: skip
    assert reader.stdout is not None
    reader.stdout.close()  # the reader is gone before the usage is written (python starts slower than this)
    _, err = reader.communicate(timeout=60)
    assert reader.returncode == 0 and b"Traceback" not in err and b"BrokenPipe" not in err


def test_train_help_without_a_preset_lists_the_presets_instead_of_failing(tmp_path):
    done = _command(["train", "--help"], tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "usage: reactivation train config=<task>/<preset> seed=<int>" in done.stdout
    assert "  linear_track/noisy_biased\n" in done.stdout and "config=<preset> --help" in done.stdout


def test_an_unknown_command_is_an_error_naming_the_closest_one(tmp_path):
    done = _command(["reproduc", "scale=small"], tmp_path)
    assert done.returncode == 2 and "unknown command 'reproduc'" in done.stderr
    assert "Did you mean reproduce?" in done.stderr and "train, kl" in done.stderr


def test_each_command_and_its_checkout_script_run_the_same_function():
    assert set(usage.SCRIPTS) == set(COMMANDS)
    for name, (target, _) in COMMANDS.items():
        module, function = target.split(":")
        tree = ast.parse((ROOT / "reactivation" / "commands" / f"{module}.py").read_text())
        assert function in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, target
        spelling = usage.SCRIPTS[name].split()[-1]  # "train.py" or "reactivation.figures"
        script = ROOT / spelling if spelling.endswith(".py") else ROOT / "reactivation" / "figures" / "__main__.py"
        source = script.read_text()
        assert f"from reactivation.commands.{module} import {function}\n" in source, script
        call = f'{function}("{name}")' if name in analyses.NAMES else f"{function}()"  # analyse.main takes the name
        assert source.rstrip().endswith(f"    {call}"), script


def test_the_installed_console_script_is_the_dispatcher():
    (script,) = entry_points(group="console_scripts", name="reactivation")  # from the installed package's metadata
    assert script.value == "reactivation.commands:main"


def test_messages_spell_a_command_as_this_process_was_started(monkeypatch):
    monkeypatch.delenv(usage.ENV, raising=False)
    root = Path("results/tiny")
    assert lookup.train_command("linear_track/noisy_biased", 3, [], root).startswith(
        "python train.py config=linear_track/noisy_biased seed=3"
    )
    monkeypatch.setenv(usage.ENV, "1")
    assert usage.command("kl") == "reactivation kl" and usage.command("figures") == "reactivation figures"
    assert lookup.train_command("linear_track/noisy_biased", 3, [], root).startswith(
        "reactivation train config=linear_track/noisy_biased seed=3"
    )


def test_an_analysis_through_the_command_names_the_command_that_trains_what_is_missing(tmp_path):
    done = _command(["kl", "seed=0", "scale=tiny", f"path={tmp_path / 'results'}"], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "reactivation train config=spatial_navigation/" in done.stderr and "python train.py" not in done.stderr


# ------------------------------------------------------------------------------------------------ user presets


@pytest.fixture
def user_presets(tmp_path, monkeypatch) -> Path:
    """A presets directory with a preset of its own folder and a family member of a task's folder."""
    mine = tmp_path / "my_presets"
    (mine / "config" / "mylab").mkdir(parents=True)
    (mine / "config" / "spatial_navigation").mkdir()
    extends = "# @package _global_\ndefaults:\n  - /config/{}\n"
    (mine / "config" / "mylab" / "slow.yaml").write_text(
        extends.format("linear_track/noisy_biased") + "trainer:\n  lr: 0.0005\n"
    )
    (mine / "config" / "spatial_navigation" / "noisy_unbiased_wide.yaml").write_text(
        extends.format("spatial_navigation/noisy_unbiased") + "rnn:\n  n_rec: 1024\n"
    )
    monkeypatch.setenv(PRESETS_ENV, str(mine))
    return mine


def test_a_user_preset_is_a_preset_that_changes_only_what_it_says(user_presets):
    assert {"mylab/slow", "spatial_navigation/noisy_unbiased_wide"} <= set(config.presets())
    theirs = leaves(resolved(compose_train(["config=mylab/slow", "seed=0"])))
    base = leaves(resolved(compose_train(["config=linear_track/noisy_biased", "seed=0"])))
    assert {k for k in base if theirs[k] != base[k]} == {"trainer.lr"} and theirs["trainer.lr"] == 0.0005
    families = config.families()
    # In a task's folder, named <condition>_<family>: a family of its own; in another folder: a preset only.
    assert families[("spatial_navigation", "wide")] == {"noisy_unbiased": "spatial_navigation/noisy_unbiased_wide"}
    assert not any(task == "mylab" for task, _ in families)


def test_user_preset_directories_are_checked_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(PRESETS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=f"{PRESETS_ENV} names .*nowhere, which has no config/ folder"):
        config.presets()
    shadowing = tmp_path / "shadowing"
    (shadowing / "config" / "linear_track").mkdir(parents=True)
    (shadowing / "config" / "linear_track" / "noisy_biased.yaml").write_text("# @package _global_\n")
    monkeypatch.setenv(PRESETS_ENV, os.pathsep.join(["", str(shadowing)]))  # an empty entry is skipped
    with pytest.raises(ConfigError, match="named like existing ones, which would never be used: linear_track/noisy_b"):
        config.presets()
    monkeypatch.delenv(PRESETS_ENV)
    with pytest.raises(ConfigError, match=f"(?s)unknown preset config=mylab/slow.*{PRESETS_ENV}"):
        config.preflight(["config=mylab/slow", "seed=0"])


def test_a_user_preset_trains_through_the_command_from_another_directory(user_presets, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    done = _command(["train", "config=mylab/slow", "seed=0", *TINY_RUN], work)
    assert done.returncode == 0, done.stderr[-2000:]
    (run_dir,) = (work / "results" / "tiny" / "mylab" / "slow").glob("*/seed_0")
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["trainer"]["lr"] == 0.0005 and saved["task"]["name"] == "linear_track"
    assert sorted(p.name for p in work.iterdir()) == ["results"]
