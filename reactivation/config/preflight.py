"""Checking a command line before Hydra composes it, or anything is written (:func:`preflight` for training,
:func:`preflight_analysis` for an analysis).

Hydra reports a missing or misspelt preset without listing the presets (they live in subfolders), reports a
missing ``seed`` only when it is first read, and suggests ``+key=`` for a typo'd key. These checks say what to type
instead, and compose and check every run of the command (each combination of a ``-m`` sweep): Hydra types the
values by the training config's schemas as it composes, and a value it refuses is said the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf, open_dict

from reactivation import ConfigError, runs, usage
from reactivation.config import analysis_schema
from reactivation.config.arguments import GROUPS, check_keys, expand, override_values, parse, suggest, value_of
from reactivation.config.checks import results_root, validate
from reactivation.config.compose import compose_config, compose_train, resolved, yaml_problem
from reactivation.config.keys import leaves
from reactivation.config.presets import (
    ANALYSIS_CONFIG_DIR,
    PRESETS_ENV,
    TRAIN_CONFIG_DIR,
    logger_choices,
    presets,
    user_config_dirs,
)
from reactivation.config.schema import refusal
from reactivation.values import as_typed


def preflight(
    argv: list[str], config_dir: Path = TRAIN_CONFIG_DIR, check: Callable[[DictConfig], Any] | None = None
) -> None:
    """Check a training command line before Hydra composes it, or writes anything.

    Every run of the command (each combination of a ``-m`` sweep) is composed (Hydra types its values by the
    schemas, :mod:`reactivation.config.schema`) and checked: values resolve, numbers are finite, all pass
    :func:`validate` and ``check``, and ``path`` can hold runs.

    Args:
        argv: the command-line arguments (``sys.argv[1:]``).
        config_dir: the training config directory.
        check: a further check of each composed config (train.py passes ``loading.build``, which builds
            the task and model and so checks every ``rnn.*`` and ``task.*`` value).

    Raises:
        ConfigError: missing ``config=`` or ``seed=``, an unknown preset or key, an argument that selects a
            part of a preset, an unparsable argument or a bad value, with the choices and the closest matches.
    """
    overrides = parse(argv)
    if overrides is None:
        return
    by_key = {o.key_or_group: o for o in overrides}
    names = presets(config_dir)
    train = usage.command("train")
    chosen = _check_preset_and_seed(by_key, names, f"{train} config=spatial_navigation/noisy_unbiased seed=0")
    logger = _check_logger(by_key, config_dir)
    # Composed with the chosen logger, whose own keys (logger.tracking_uri, ...) the check then knows.
    base = _compose_checked(
        [f"config={chosen[0] if chosen else names[0]}", "seed=0", f"logger={(logger or ['none'])[0]}"],
        config_dir,
        {},
        with_hydra=False,
    )
    check_keys(overrides, base, GROUPS, f"{train} config=<preset> seed=0 --cfg job")
    _refuse_parts(overrides, train)
    _check_runs([o for o in overrides if not o.key_or_group.startswith("hydra")], config_dir, check)


def _check_preset_and_seed(by_key: dict[str, Any], names: list[str], example: str) -> list[str] | None:
    """The presets ``config=`` names (None for a glob or range), each checked to exist; and that a seed is given.

    Args:
        by_key: the command line's overrides by key.
        names: every preset (:func:`presets`).
        example: a command line that would work, for the messages.

    Raises:
        ConfigError: no ``config=``, an unknown or malformed preset, or no ``seed=``.
    """
    if "config" not in by_key:
        raise ConfigError(
            "no preset given: add config=<task>/<preset>, e.g.\n  "
            + example
            + "\nAvailable presets:\n  "
            + "\n  ".join(names)
        )
    chosen = override_values(by_key["config"])
    for name in chosen or []:
        if name not in names:
            raise ConfigError(
                f"unknown preset config={name}.{suggest(name, names)}\nAvailable presets:\n  "
                + "\n  ".join(names)
                + f'\nPresets of your own: put them in a directory and name it in {PRESETS_ENV} (README, "Your own '
                'presets").'
            )
        _check_user_preset(name)
    if "seed" not in by_key:
        raise ConfigError(f"no seed given: add seed=<integer> (seed=0 is a seed), e.g.\n  {example}")
    return chosen


def _check_logger(by_key: dict[str, Any], config_dir: Path) -> list[str] | None:
    """The loggers ``logger=`` names (``["none"]`` without one; None for a glob or range), each checked to exist.

    Raises:
        ConfigError: an unknown logger, with the choices.
    """
    logger = override_values(by_key["logger"]) if "logger" in by_key else ["none"]
    known = logger_choices(config_dir)
    for name in logger or []:
        if name not in known:
            raise ConfigError(
                f"unknown logger={name}.{suggest(name, known)} Choose one of {', '.join(known)} (docs/loggers.md)."
            )
    return logger


def _refuse_parts(overrides: list, train: str) -> None:
    """Refuse an argument that swaps a part of the preset (``task=``, ``model=``, ...; see :data:`_PARTS`).

    Raises:
        ConfigError: naming the argument and what to do instead.
    """
    for o in overrides:
        if o.key_or_group in _PARTS and o.package is None:
            raise ConfigError(
                f"{o.key_or_group}={o.get_value_element_as_str()} would swap a part of the preset, whose name would "
                f"then describe another run. Choose the preset that has it (config=...; `{train} seed=0` "
                f"lists them), or override single keys (e.g. task.biased=true, "
                f"rnn.sigma2_rec=0.0001)."
            )


def _check_runs(overrides: list, config_dir: Path, check: Callable[[DictConfig], Any] | None) -> None:
    """Compose and check every run of the command line ``overrides`` (without ``hydra.*`` ones): see
    :func:`preflight`.

    Raises:
        ConfigError: a run that does not compose, or a bad value; ReactivationError: a run directory that another
            live process is training into.
    """
    defaults: dict[tuple[str, ...], dict[str, Any]] = {}
    checked: set[str] = set()
    for run in expand(overrides):
        # The defaults a message quotes are those of the preset at the run's own scale (scale=tiny: its sizes).
        base_of_run = (f"config={value_of(run, 'config')}", *(a for a in run if a.split("=", 1)[0] in _SIZING))
        if base_of_run not in defaults:
            defaults[base_of_run] = leaves(
                resolved(_compose_checked([*base_of_run, "seed=0"], config_dir, {}, with_hydra=False))
            )
        cfg = _compose_checked(run, config_dir, defaults[base_of_run])
        run_dir = Path(cfg.hydra.run.dir)
        with open_dict(cfg):
            del cfg["hydra"]
        _check_finite(leaves(resolved(cfg)), leaves(OmegaConf.to_container(cfg, resolve=False)))
        validate(cfg)
        # The runs of a seed sweep differ only in what seeds draw: building one of them checks them all.
        unseeded = OmegaConf.to_yaml({k: v for k, v in cfg.items() if k != "seed"})
        if check is not None and unseeded not in checked:
            check(cfg)
            checked.add(unseeded)
        results_root(cfg.path)
        # Refused here, before Hydra composes the run; a command that gets past this check at the same moment as
        # another is refused by training's lock, before it writes anything (hydra_record).
        holder = runs.RunLock.holder(run_dir)
        if holder is not None:
            raise runs.busy(run_dir, holder)


#: Groups that make up a preset; swapping one would train another run under the preset's name.
_PARTS = ("task", "model", "noise", "bias")


#: Groups that set a preset's sizes (the defaults a type error quotes).
_SIZING = ("scale", "sizes")


def _check_user_preset(name: str) -> None:
    """Refuse a user preset file that is valid YAML but not a mapping of keys (a list, a number, a string).

    Hydra would compose such a file as nothing and train the defaults under the preset's name. An empty file is a
    preset that changes nothing, which is allowed.

    Raises:
        ConfigError: naming the file and what it holds.
    """
    for root in user_config_dirs():
        path = root / "config" / f"{name}.yaml"
        if not path.is_file():
            continue
        try:
            with open(path) as f:  # a stream, not its text: the parser's marks then name the file
                content = yaml.safe_load(f)
        except yaml.YAMLError as err:
            raise ConfigError(yaml_problem(err)) from None
        except OSError as err:
            raise ConfigError(f"the preset file {path} cannot be read ({err.strerror}).") from None
        if content is not None and not isinstance(content, dict):
            raise ConfigError(
                f"{path} (a file of {PRESETS_ENV}) holds a {type(content).__name__}, not a mapping of keys: a preset "
                "is '# @package _global_', a defaults list naming the preset it starts from, and the keys it "
                'changes (README, "Your own presets"). Fix the file and run again.'
            )
        return


def _compose_checked(run: list[str], config_dir: Path, defaults: dict[str, Any], with_hydra: bool = True) -> DictConfig:
    """``run`` composed (with its ``hydra`` node, unless not ``with_hydra``).

    Args:
        run: the run's ``key=value`` arguments.
        config_dir: the training config directory.
        defaults: the preset's values, quoted when the schema refuses a type (:func:`refusal`).
        with_hydra: keep the ``hydra`` node.

    Raises:
        ConfigError: ``run`` does not compose (a value the schema refuses, a preset file that is not YAML, ...).
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return compose_train(run, config_dir, with_hydra=with_hydra)
    except ConfigError:  # already says what is wrong (a preset file that is not YAML)
        raise
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        refused = refusal(err, run, defaults)
        if refused is not None:
            raise refused from None
        reason = " ".join(str(err).split())[:300]
        raise ConfigError(f"the command line {' '.join(run)} does not make a config ({reason}).") from None


def _check_finite(values: dict[str, Any], typed: dict[str, Any] | None = None) -> None:
    """Every number must be finite: the schemas (:mod:`reactivation.config.schema`) type every key when Hydra
    composes, but a float key takes ``nan`` and ``inf``, which no step of training can use.

    Args:
        values: resolved ``{dotted key: value}``.
        typed: the unresolved values, to show an interpolation as it was written.
    """
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            shown = as_typed(repr(value), (typed or {}).get(key))
            raise ConfigError(f"{key}={shown} is not allowed; it must be a finite number.")


def preflight_analysis(
    argv: list[str],
    name: str,
    config_dir: Path = ANALYSIS_CONFIG_DIR,
    script: str | None = None,
    require_seed: bool = True,
) -> None:
    """Check an analysis command line (``output_<name>.py``) before Hydra composes it.

    Raises:
        ConfigError: missing ``seed=`` (when required), an unknown key (with the closest matches), or a value the
            config's schema refuses (:mod:`reactivation.config.analysis_schema`).
    """
    overrides = parse(argv)
    if overrides is None:
        return
    script = script or usage.command(name)
    if require_seed and "seed" not in {o.key_or_group for o in overrides}:
        raise ConfigError(f"no seed given: add seed=<integer>, e.g.\n  {script} seed=0")
    example = ["seed=0"] if require_seed else []
    base = compose_config(config_dir, name, example)
    check_keys(overrides, base, ("scale",), " ".join([script, *example, "--cfg job"]))
    if name in analysis_schema.SCHEMA_CONFIGS:
        analysis_schema.check_overrides(name, overrides)
