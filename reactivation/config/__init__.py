"""Configs: where they live, composing them as the commands do, and checking presets, command-line keys and values
before any work starts.

The package, by job: ``presets`` (the config directories, the user's presets, presets by name and by family),
``keys`` (which keys name a run, which were added later, configs as dotted keys), ``schema`` (the types of the
training config, its loggers and its tasks, which Hydra checks when it composes), ``analysis_keys`` and
``analysis_schema`` (each analysis and figure key's type, range and words; the schemas built from them), ``compose``
(Hydra composition, resolvers, resolved values), ``arguments`` (parsing a command line's ``key=value`` arguments and
checking their keys), ``preflight`` (the checks of a training or analysis command line) and ``checks`` (the composed
values and the results folder). Everything is used as ``reactivation.config.<name>``: the package re-exports it.
"""

from __future__ import annotations

from reactivation.config.checks import absolute, resolve_sizes, results_root, validate
from reactivation.config.compose import (
    compose_config,
    compose_train,
    hydra_record,
    register_resolvers,
    resolved,
    yaml_problem,
)
from reactivation.config.keys import ADDED_KEYS, RUNTIME_KEYS, is_runtime_key, leaves, with_added_keys
from reactivation.config.preflight import preflight, preflight_analysis
from reactivation.config.presets import (
    ANALYSIS_CONFIG_DIR,
    PRESETS_ENV,
    TRAIN_CONFIG_DIR,
    families,
    logger_choices,
    model_suffix,
    preset_noise,
    presets,
    user_config_dirs,
)

__all__ = [
    "ADDED_KEYS",
    "ANALYSIS_CONFIG_DIR",
    "PRESETS_ENV",
    "RUNTIME_KEYS",
    "TRAIN_CONFIG_DIR",
    "absolute",
    "compose_config",
    "compose_train",
    "families",
    "hydra_record",
    "is_runtime_key",
    "leaves",
    "logger_choices",
    "model_suffix",
    "preflight",
    "preflight_analysis",
    "preset_noise",
    "presets",
    "register_resolvers",
    "resolve_sizes",
    "resolved",
    "results_root",
    "user_config_dirs",
    "validate",
    "with_added_keys",
    "yaml_problem",
]
