"""Presets, command-line overrides and the checks that run before any work starts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from reactivation import DEFAULT_MODEL, ConfigError
from reactivation.config import compose_train, model_suffix, preflight, presets, validate
from reactivation.loading import build

ROOT = Path(__file__).resolve().parent.parent

# docs/spec.md §1: what each preset changes.
PRESET_TABLE = {
    "spatial_navigation/noisy_unbiased": ("spatial_navigation", "vanilla", 1e-4, False),
    "spatial_navigation/noisy_biased": ("spatial_navigation", "vanilla", 1e-4, True),
    "spatial_navigation/no-noise_unbiased": ("spatial_navigation", "vanilla", 0.0, False),
    "spatial_navigation/no-noise_biased": ("spatial_navigation", "vanilla", 0.0, True),
    "spatial_navigation/noisy_unbiased_gru": ("spatial_navigation", "gru", 1e-4, False),
    "spatial_navigation/noisy_biased_gru": ("spatial_navigation", "gru", 1e-4, True),
    "spatial_navigation/sorscher_2019": ("spatial_navigation", "vanilla", 0.0, False),
    "head_direction/noisy_unbiased": ("head_direction", "vanilla", 1e-2, False),
    "head_direction/noisy_biased": ("head_direction", "vanilla", 1e-2, True),
    "head_direction/no-noise_unbiased": ("head_direction", "vanilla", 0.0, False),
    "head_direction/no-noise_biased": ("head_direction", "vanilla", 0.0, True),
}
# Issue 11's third task, not in the paper: the same four conditions.
TRACK_PRESETS = {
    "linear_track/noisy_unbiased": ("linear_track", "vanilla", 1e-4, False),
    "linear_track/noisy_biased": ("linear_track", "vanilla", 1e-4, True),
    "linear_track/no-noise_unbiased": ("linear_track", "vanilla", 0.0, False),
    "linear_track/no-noise_biased": ("linear_track", "vanilla", 0.0, True),
}


def test_presets_are_exactly_the_eleven_of_the_spec_and_the_tracks_four():
    assert presets() == sorted({**PRESET_TABLE, **TRACK_PRESETS})


@pytest.mark.parametrize("preset", sorted(TRACK_PRESETS))
def test_track_preset_composes_to_its_condition(preset):
    cfg = compose_train([f"config={preset}", "seed=0"])
    task, model, sigma2_rec, biased = TRACK_PRESETS[preset]
    assert (cfg.task.name, cfg.rnn.model, cfg.rnn.sigma2_rec, cfg.task.biased) == (task, model, sigma2_rec, biased)
    assert cfg.rnn.n_in == 1
    validate(cfg)


@pytest.mark.parametrize("preset", sorted(PRESET_TABLE))
def test_preset_composes_to_the_spec_values(preset):
    cfg = compose_train([f"config={preset}", "seed=0"])
    task, model, sigma2_rec, biased = PRESET_TABLE[preset]
    assert (cfg.task.name, cfg.rnn.model, cfg.rnn.sigma2_rec, cfg.task.biased) == (task, model, sigma2_rec, biased)
    assert cfg.rnn.activation_fn == ("tanh" if model == "gru" else "relu")
    assert cfg.trainer.lr == 0.001 and cfg.trainer.test_freq == 100 and cfg.trainer.save_freq == 100
    if task == "head_direction":
        assert (cfg.rnn.n_in, cfg.rnn.n_rec, cfg.rnn.dt, cfg.trainer.n_epochs) == (1, 128, 0.5, 20000)
        assert cfg.task.hd_cells_num == 512
    else:
        assert (cfg.rnn.n_in, cfg.rnn.n_rec, cfg.trainer.n_epochs) == (2, 512, 2500)
        assert cfg.rnn.dt == (1.0 if preset.endswith("sorscher_2019") else 0.2)
        assert cfg.task.sequence_length == (50 if preset.endswith("sorscher_2019") else 100)
    validate(cfg)


def test_spec_command_line_overrides_apply():
    cfg = compose_train(
        [
            "config=spatial_navigation/noisy_unbiased",
            "seed=2",
            "rnn.sigma2_rec=0.0003",
            "trainer.n_epochs=1000",
            "task.place_cells_num=256",
        ]
    )
    assert (cfg.seed, cfg.rnn.sigma2_rec, cfg.trainer.n_epochs, cfg.task.place_cells_num) == (2, 3e-4, 1000, 256)


def test_run_directories_are_deterministic_and_distinct(tmp_path):
    def run_dir(*overrides):
        return compose_train([f"path={tmp_path}", *overrides], with_hydra=True).hydra.run.dir

    base = run_dir("config=spatial_navigation/noisy_unbiased", "seed=0")
    assert base == f"{tmp_path}/spatial_navigation/noisy_unbiased/seed_0"
    assert run_dir("config=spatial_navigation/noisy_unbiased", "seed=0") == base
    others = {
        run_dir("config=spatial_navigation/noisy_unbiased", "seed=1"),
        run_dir("config=spatial_navigation/noisy_biased", "seed=0"),
        run_dir("config=spatial_navigation/noisy_unbiased", "seed=0", "rnn.sigma2_rec=0.0003"),
        run_dir("config=spatial_navigation/noisy_unbiased", "seed=0", "task.place_cells_num=256"),
        run_dir("config=head_direction/noisy_unbiased", "seed=0"),
    }
    assert len(others) == 5 and base not in others
    # Keys that do not change what is trained (device, resume, progress) do not change the directory.
    assert run_dir("config=spatial_navigation/noisy_unbiased", "seed=0", "device=cpu", "resume=false") == base


@pytest.mark.parametrize(
    "argv, message",
    [
        (["seed=0"], "no preset given"),
        (["config=spatial_navigation/noisy_unbiassed", "seed=0"], "Did you mean 'spatial_navigation/noisy_unbiased'"),
        (["config=spatial_navigation/noisy_unbiased,spatial_navigation/nope", "seed=0"], "unknown preset"),
        (["config=spatial_navigation/noisy_unbiased"], "no seed given"),
        (
            ["config=spatial_navigation/noisy_unbiased", "seed=0", "rnn.sigma2_recc=1e-4"],
            "Did you mean 'rnn.sigma2_rec'",
        ),
        (["config=head_direction/noisy_unbiased", "seed=0", "trainer.n_epoch=3"], "unknown key 'trainer.n_epoch'"),
        # Issue 10: accepted silently or with a traceback before.
        (
            ["config=head_direction/noisy_unbiased", "seed=0", "+trainer.n_epoch=3"],
            r"unknown key '\+trainer.n_epoch': nothing reads it.*'trainer.n_epochs'",
        ),
        (
            ["config=head_direction/noisy_unbiased", "seed=0", "+trainer.n_epochs=3"],
            r"exists already.*without the '\+'",
        ),
        (["config=head_direction/noisy_unbiased", "seed=0", "~trainer.lr"], "removes a key that every run needs"),
        (
            ["config=spatial_navigation/noisy_unbiased", "seed=0", "task=head_direction"],
            "task=head_direction would swap",
        ),
        (["config=spatial_navigation/noisy_unbiased", "seed=0", "model=gru"], "model=gru would swap"),
        (["config=spatial_navigation/noisy_unbiased", "seed=0", "trainer.lr=fast"], "trainer.lr='fast' .* a number"),
        (
            ["config=spatial_navigation/noisy_unbiased", "seed=0", "trainer.lr=${evil:1}"],
            "trainer.lr: .*cannot be resolved",
        ),
        (["config=spatial_navigation/noisy_unbiased", "seed=0", "trainer.lr=${trainer.lr}"], "trainer.lr: .*Recursive"),
        (
            ["config=spatial_navigation/noisy_unbiased", "seed=0", "trainer.lr=[1,"],
            r"cannot read the argument 'trainer.lr=\[1,'",
        ),
        (["config=spatial_navigation/noisy_unbiased", "seed=0", "=5"], "'=5' has no key"),
        (["config=spatial_navigation/noisy_unbiased", "seed=0.5"], "seed=0.5 .* an integer"),
        (["config=spatial_navigation/noisy_unbiased", "seed=0", "rnn.sigma2_rec=nan"], "rnn.sigma2_rec=nan .* finite"),
        (
            ["config=spatial_navigation/noisy_unbiased", "seed=0", "trainer.n_epochs=2.5"],
            "trainer.n_epochs=2.5 .* integer",
        ),
        (["config=spatial_navigation/noisy_unbiased", "seed=0", "task.use_place_cells=maybe"], "must be true or false"),
        (
            ["-m", "config=spatial_navigation/noisy_unbiased", "seed=0,1", "trainer.lr=0.1,-1"],
            "trainer.lr=-1 must be > 0",
        ),
        (["config=spatial_navigation/noisy_unbiased", "seed=0", f"path={__file__}"], "is a file, not a folder"),
    ],
)
def test_preflight_rejects_bad_command_lines(argv, message):
    with pytest.raises(ConfigError, match=message):
        preflight(argv)


def test_preflight_accepts_good_command_lines():
    preflight(
        [
            "-m",
            "config=spatial_navigation/noisy_unbiased,head_direction/noisy_biased",
            "seed=0,1",
            "rnn.sigma2_rec=0.0003",
            "task.biased=true",
            "hydra.job.chdir=false",
        ]
    )
    assert "spatial_navigation/noisy_unbiased" in presets()


@pytest.mark.parametrize(
    "override, message",
    [
        ("rnn.sigma2_rec=-1e-4", "rnn.sigma2_rec = -0.0001 is not allowed; a variance must be a finite number >= 0"),
        ("rnn.sigma2_in=-1", "rnn.sigma2_in = -1"),
        ("rnn.activation_fn=gelu", "rnn.activation_fn = 'gelu' is not allowed; choose one of relu, tanh, sigmoid"),
        ("rnn.model=lstm", "rnn.model = 'lstm' is not allowed; choose one of vanilla, gru"),
        ("rnn.noise_dist=laplace", "rnn.noise_dist = 'laplace' is not allowed"),
        ("rnn.dt=2.0", "alpha = dt / tau must be in"),
        ("trainer.n_epochs=0", "trainer.n_epochs=0 must be a positive integer"),
        ("trainer.lr=-1", "trainer.lr=-1"),
        ("task.place_cells_num=2", "task.place_cells_num must be >= 3 (decoding averages the top 3 cells)"),
    ],
)
def test_bad_values_are_refused_before_any_work(override, message, tmp_path):
    cfg = compose_train(["config=spatial_navigation/noisy_unbiased", "seed=0", f"path={tmp_path}", override])
    with pytest.raises(ConfigError, match=re.escape(message)):
        build(cfg)
    assert not any(tmp_path.iterdir())


def test_validate_requires_a_seed():
    cfg = compose_train(["config=spatial_navigation/noisy_unbiased", "seed=0"])
    cfg.seed = "???"
    with pytest.raises(ConfigError, match="seed is required"):
        validate(cfg)
    cfg.seed = -1
    with pytest.raises(ConfigError, match="non-negative integer"):
        validate(cfg)


def test_cli_prints_one_clear_error_and_exits_2(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "config=spatial_navigation/typo", "seed=0", f"path={tmp_path}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown preset config=spatial_navigation/typo")
    assert "Traceback" not in result.stderr and not any(tmp_path.iterdir())


def test_entry_points_turn_user_errors_and_interrupts_into_messages(capsys):
    from reactivation.cli import exit_on_error

    def bad():
        raise ConfigError("rnn.model='lstm' is unknown")

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_info:
        exit_on_error(bad)()
    assert exit_info.value.code == 2 and capsys.readouterr().err == "error: rnn.model='lstm' is unknown\n"
    with pytest.raises(SystemExit) as exit_info:
        exit_on_error(interrupted)()
    assert exit_info.value.code == 130 and "run the same command again" in capsys.readouterr().err


# --- the training config's schema (reactivation/config/schema.py) ------------------------------------------------


def test_the_schema_types_values_when_hydra_composes():
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import ValidationError

    base = ["config=spatial_navigation/noisy_unbiased", "seed=0"]
    with pytest.raises(ConfigCompositionException) as err:
        compose_train([*base, "rnn.n_rec=abc"])
    assert isinstance(err.value.__cause__, ValidationError) and err.value.__cause__.full_key == "rnn.n_rec"
    # The conversions kept (docs/decisions.md): a whole number for a number key, 1 for true.
    cfg = compose_train([*base, "trainer.lr=1", "rnn.bias=1"])
    assert type(cfg.trainer.lr) is float and cfg.rnn.bias is True
    # The schema adds no key and keeps train.yaml's order: a run's saved config.yaml reads as before.
    assert list(cfg) == ["seed", "scale", "path", "device", "resume", "rnn", "trainer", "task", "logger"]


@pytest.mark.parametrize(
    "keys, message",
    [
        ("rnn:\n  n_rec_typo: 16\n", r"Key 'n_rec_typo' not in 'RNNSchema'.*rnn\.n_rec_typo"),
        ("trainer:\n  lr: fast\n", r"'fast' .* could not be converted to Float.*trainer\.lr"),
        # The task's own schema (reactivation/tasks/schema.py): refused at composition, not when the task is built.
        ("task:\n  place_cell_num: 16\n", r"Key 'place_cell_num' not in 'SpatialNavigationTaskSchema'.*task\."),
        ("task:\n  sigma: fast\n", r"'fast' .* incompatible with type hint 'Union\[int, float\]'.*task\.sigma"),
    ],
)
def test_a_user_preset_with_an_unknown_key_or_a_wrong_type_is_refused(tmp_path, monkeypatch, keys, message):
    # Before the schema, a preset file's typo'd key was composed and ignored.
    path = tmp_path / "presets" / "config" / "mylab" / "typo.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(f"# @package _global_\ndefaults:\n  - /config/spatial_navigation/noisy_unbiased\n{keys}")
    monkeypatch.setenv("REACTIVATION_PRESETS", str(tmp_path / "presets"))
    with pytest.raises(ConfigError, match=message):
        preflight(["config=mylab/typo", "seed=0", f"path={tmp_path / 'results'}"])
    assert not (tmp_path / "results").exists()


def test_the_task_and_logger_schemas_type_their_keys_when_hydra_composes():
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import ConfigAttributeError, ValidationError

    base = ["config=spatial_navigation/noisy_unbiased", "seed=0"]
    for bad, error in (
        ("task.sigma=abc", ValidationError),
        ("task.sequence_length=2.5", ValidationError),
        ("task.place_cell_num=16", ConfigAttributeError),  # an unknown key
        ("logger.dir=[1]", ValidationError),
        ("logger.nope=1", ConfigAttributeError),
    ):
        with pytest.raises(ConfigCompositionException) as err:
            compose_train([*base, "logger=tensorboard", bad])
        assert isinstance(err.value.__cause__, error), bad
        assert err.value.__cause__.full_key == bad.split("=")[0], bad
    # A whole number stays as typed for a task's number key (the YAML's place_cells_surround_scale: 2 is saved as
    # before); a true-or-false key takes OmegaConf's conversions, as rnn.bias does (docs/decisions.md).
    cfg = compose_train([*base, "task.sigma=3", "task.biased=1", "task.anchor_point=[0,1]"])
    assert cfg.task.sigma == 3 and type(cfg.task.sigma) is int and cfg.task.biased is True
    assert type(cfg.task.place_cells_surround_scale) is int and list(cfg.task.anchor_point) == [0, 1]


@pytest.mark.parametrize(
    "bad, message",
    [
        ("task.sigma=abc", "task.sigma='abc' is not allowed; it must be a number, like its default 11.52."),
        ("task.biased=maybe", "task.biased='maybe' is not allowed; it must be true or false, like its default False."),
        (
            "task.anchor_point=[0,a]",
            "task.anchor_point=[0, 'a'] is not allowed; it must be a list of numbers, like its default [0.0, 0.0].",
        ),
        (
            "logger.experiment=[1]",
            "logger.experiment=[1] is not allowed; it must be a string, or null for the preset's name.",
        ),
        ("logger.nope=1", "unknown key 'logger.nope'"),  # refused before composing, as any unknown key
    ],
)
def test_a_task_or_logger_value_the_schema_refuses_gets_the_librarys_message(tmp_path, bad, message):
    argv = ["config=spatial_navigation/noisy_unbiased", "seed=0", "logger=mlflow", f"path={tmp_path}", bad]
    with pytest.raises(ConfigError) as err:
        preflight(argv)
    assert str(err.value).startswith(message)


def test_each_logger_yaml_starts_from_its_schema_with_the_same_keys():
    import yaml

    from reactivation.config import TRAIN_CONFIG_DIR
    from reactivation.config.schema import LOGGER_KEYS, logger_schema_name
    from reactivation.loggers import LOGGERS

    assert set(LOGGER_KEYS) == set(LOGGERS)
    for name, keys in LOGGER_KEYS.items():
        node = yaml.safe_load((TRAIN_CONFIG_DIR / "logger" / f"{name}.yaml").read_text())
        assert node.pop("defaults") == [f"/{logger_schema_name(name)}", "_self_"]
        assert list(node) == ["name", *keys] and node["name"] == name


def test_default_model_is_the_configs_default():
    """DEFAULT_MODEL names no suffix in code; the YAML defaults must give the same family, for training (a preset
    without a model suffix) and for the analyses (common.yaml's ``model``)."""
    from reactivation.analysis.settings import compose_analysis

    assert compose_train(["config=spatial_navigation/noisy_unbiased"]).rnn.model == DEFAULT_MODEL
    assert compose_train(["config=spatial_navigation/noisy_unbiased_gru"]).rnn.model != DEFAULT_MODEL
    assert compose_analysis("kl", "small").model == DEFAULT_MODEL
    assert model_suffix(DEFAULT_MODEL) == ""
