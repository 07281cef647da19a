"""Composing configs with Hydra as the commands do, from anywhere (inside a running Hydra app too): the resolvers
the configs use, plain resolved values, the record of a running job, and messages for a config that is not YAML.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import yaml
from omegaconf import DictConfig, OmegaConf

from reactivation import ConfigError
from reactivation.config import analysis_schema, schema
from reactivation.config.presets import ANALYSIS_CONFIG_DIR, PRESETS_ENV, TRAIN_CONFIG_DIR, user_config_dirs


def _run_subdir(override_dirname: str) -> str:
    # Overrides that change the run get their own folder level; a plain preset run has none.
    return f"{override_dirname.replace('/', '_')}/" if override_dirname else ""


def _search_path() -> list[str]:
    return [f"file://{d}" for d in user_config_dirs()]


def register_resolvers() -> None:
    """Register the resolvers and the schemas the configs use (idempotent)."""
    schema.register()
    analysis_schema.register()
    if not OmegaConf.has_resolver("run_subdir"):
        OmegaConf.register_new_resolver("run_subdir", _run_subdir)
    if not OmegaConf.has_resolver("user_presets"):
        OmegaConf.register_new_resolver("user_presets", _search_path)


def compose_config(config_dir: Path, name: str, overrides: list[str], with_hydra: bool = False) -> DictConfig:
    """Compose config ``name`` of ``config_dir`` as a script would for these command-line overrides.

    Works inside a running Hydra app too (an analysis script composing training configs).

    Raises:
        ConfigError: a config file of the composition (a user preset, most likely) is not valid YAML.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    register_resolvers()
    # Inside a running Hydra app the global Hydra instance is taken: set it aside for this composition.
    running = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
            return compose(name, overrides=list(overrides), return_hydra_config=with_hydra)
    except yaml.YAMLError as err:  # Hydra lets the parser's error of a config file through, with its stack
        raise ConfigError(yaml_problem(err)) from None
    except HydraException as err:
        # An analysis value the schema refused is said in its key's words; the training command's preflight words
        # its own (reactivation.config.schema.refusal, which quotes the preset's defaults).
        refused = analysis_schema.refusal(err, list(overrides)) if _is_analysis(config_dir) else None
        if refused is None:
            raise
        raise refused from None
    finally:
        if running is not None:  # the context manager swaps the singleton: fetch it again
            GlobalHydra.instance().clear()
            GlobalHydra.instance().initialize(running)


def _is_analysis(config_dir: Path) -> bool:
    return Path(config_dir).resolve() == ANALYSIS_CONFIG_DIR.resolve()


def compose_train(overrides: list[str], config_dir: Path = TRAIN_CONFIG_DIR, with_hydra: bool = False) -> DictConfig:
    """Compose the training config as ``train.py`` would for these command-line overrides.

    Args:
        overrides: e.g. ``["config=spatial_navigation/noisy_unbiased", "seed=0", "rnn.n_rec=64"]``.
        config_dir: the training config directory.
        with_hydra: keep the ``hydra`` node (``cfg.hydra.run.dir`` is then the run directory).
    """
    return compose_config(config_dir, "train", overrides, with_hydra)


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """``cfg`` as plain values, every interpolation resolved.

    Raises:
        ConfigError: an interpolation that cannot be resolved (an unknown resolver, a missing environment
            variable, a key that refers to itself), naming the key.
    """
    from omegaconf.errors import OmegaConfBaseException

    try:
        container = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", "") or "?"
        reason = str(err).splitlines()[0]
        raise ConfigError(
            f"{key}: its value cannot be resolved ({reason}). Give a plain value on the command line ({key}=...)."
        ) from None
    return cast(dict[str, Any], container)  # the container of a DictConfig is a str-keyed dict


def hydra_record(cfg: DictConfig) -> dict[str, str]:
    """The record of the running Hydra job, as Hydra writes it into ``.hydra/``: ``{file name: YAML text}``.

    train.yaml sets ``hydra.output_subdir`` to null, so Hydra writes none of it; training writes it into the run
    directory once it holds the run's lock (:func:`reactivation.runs.write_record`).

    Args:
        cfg: the job's config, without its ``hydra`` node (what the task function receives).
    """
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.instance().cfg  # {"hydra": ...}, as Hydra saves it in hydra.yaml
    assert hydra_cfg is not None  # set by Hydra before any task function runs
    return {
        "config.yaml": OmegaConf.to_yaml(cfg),
        "hydra.yaml": OmegaConf.to_yaml(hydra_cfg),
        "overrides.yaml": OmegaConf.to_yaml(HydraConfig.get().overrides.task),
    }


def yaml_problem(err: yaml.YAMLError) -> str:
    """One line naming the config file ``err`` was raised for, where in it, and what the parser expected.

    A file of the user's preset directories (:func:`user_config_dirs`) is said to be one, so that a user who has
    never opened reactivation's own configs knows which file is theirs to fix.
    """
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    name = getattr(mark, "name", "") or ""
    if not name or name.startswith("<"):  # parsed from a string, not a file
        return f"a config is not valid YAML ({' '.join(str(err).split())[:300]}). Fix it."
    where = Path(name)
    problem = ": ".join(filter(None, [getattr(err, "context", None), getattr(err, "problem", None)]))
    # Marks count lines and columns from 0; editors count them from 1.
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    named = [Path(p).expanduser().resolve() for p in os.environ.get(PRESETS_ENV, "").split(os.pathsep) if p.strip()]
    users = [d for d in named if d == where or d in where.parents]
    whose = f" (a file of {PRESETS_ENV}={users[0]})" if users else ""
    return f"{where}{whose} is not valid YAML: {problem or 'cannot be parsed'}{at}. Fix the file and run again."
