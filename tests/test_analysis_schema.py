"""The analysis and figure configs' schemas (reactivation/config/analysis_schema.py): Hydra types every key when it
composes the config, and what it refuses is said in the key's own words."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from reactivation import ConfigError, analyses
from reactivation.analysis.settings import compose_analysis, settings
from reactivation.config import ANALYSIS_CONFIG_DIR, compose_config
from reactivation.config.analysis_keys import KEYS
from reactivation.config.analysis_schema import SCHEMA_CONFIGS, check_overrides, file_keys, schema
from reactivation.config.arguments import parse

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", SCHEMA_CONFIGS)
def test_every_key_of_a_config_with_a_schema_is_typed_in_the_one_table(name):
    cfg = compose_config(ANALYSIS_CONFIG_DIR, name, ["seed=0"])
    fields = set(schema(name).__dataclass_fields__)
    assert set(cfg.keys()) == fields  # the schema has every composed key and no other
    assert set(fields) - {"sizes", "analyses"} <= set(KEYS)


def test_the_analyses_block_lists_each_analysis_with_exactly_its_own_settings():
    block = OmegaConf.load(ANALYSIS_CONFIG_DIR / "analyses.yaml").analyses
    assert list(block) == list(analyses.NAMES)
    for kind in analyses.NAMES:
        own = [k for k in file_keys(kind) if k not in file_keys("common")]
        assert list(block[kind]) == own, kind


@pytest.mark.parametrize(
    "name, override, message",
    [
        (
            "kl",
            "batch_size=2.5",
            "batch_size=2.5 is not allowed: batch_size must be a positive integer (trajectories).",
        ),
        ("kl", "seed=true", "seed=true is not allowed: seed must be a non-negative integer"),
        ("manifold", "ring=0.3", "ring=0.3 is not allowed: ring must be [inner, outer]"),
        ("figures", "seeds=[0,abc]", "seeds=[0,abc] is not allowed: seeds must be null (every seed found) or"),
        (
            "figures",
            "analyses.kl.n_samples=abc",
            "analyses.kl.n_samples=abc is not allowed: analyses.kl.n_samples must be a positive integer",
        ),
        ("figures", "analyses.kl=3", "analyses.kl=3 is not allowed: analyses.kl must be the settings of the analyses"),
    ],
)
def test_a_wrong_type_is_refused_when_the_config_is_composed_and_before_hydra_composes_it(name, override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        compose_config(ANALYSIS_CONFIG_DIR, name, ["seed=0", override])
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_overrides(name, parse(["seed=0", override]))


def test_values_of_the_right_kind_are_typed_and_sweeps_and_interpolations_wait_for_their_values(monkeypatch):
    cfg = compose_config(ANALYSIS_CONFIG_DIR, "temperature", ["seed=0", "factors=[0,2]", "noise=1"])
    assert cfg.factors == [0.0, 2.0] and all(isinstance(c, float) for c in cfg.factors)
    assert isinstance(cfg.noise, float)
    # A sweep has no single value to type; an interpolation's value is checked once resolved (by settings).
    check_overrides("kl", parse(["seed=0,1", "batch_size=${oc.env:REACTIVATION_TEST_N}"]))
    monkeypatch.setenv("REACTIVATION_TEST_N", "abc")
    interpolated = compose_config(ANALYSIS_CONFIG_DIR, "kl", ["seed=0", "batch_size=${oc.env:REACTIVATION_TEST_N}"])
    with pytest.raises(ConfigError, match=re.escape("batch_size=${oc.env:REACTIVATION_TEST_N} (= abc) is not allowed")):
        settings(interpolated)


def test_a_value_assigned_by_the_library_is_refused_in_the_same_words():
    with pytest.raises(ConfigError, match=re.escape("n_samples=many is not allowed: n_samples must be a positive")):
        compose_analysis("kl", "tiny", seed=0, n_samples="many")
    with pytest.raises(ConfigError, match=re.escape("analyses.kl.foo is not a setting of output_kl.py")):
        compose_analysis("figures", "tiny", analyses={"kl": {"foo": 1}})
    # A partial block keeps the other analyses' defaults (null).
    cfg = compose_analysis("figures", "tiny", analyses={"kl": {"n_samples": 10}})
    assert cfg.analyses.kl.n_samples == 10 and cfg.analyses.kl.batch_size is None and cfg.analyses.drift.n_pca is None


@pytest.mark.parametrize(
    "script, args, message",
    [
        (["output_kl.py"], ["seed=0", "batch_size=2.5"], "error: batch_size=2.5 is not allowed"),
        (
            ["-m", "reactivation.figures"],
            ["analyses.kl.n_samples=abc"],
            "error: analyses.kl.n_samples=abc is not allowed",
        ),
    ],
)
def test_the_commands_refuse_a_wrong_type_with_exit_2_and_no_traceback(tmp_path, script, args, message):
    first = script if script[0] == "-m" else [str(ROOT / script[0])]
    done = subprocess.run(
        [sys.executable, *first, *args, f"path={tmp_path / 'results'}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert list(tmp_path.iterdir()) == []
