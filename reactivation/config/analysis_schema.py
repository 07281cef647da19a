"""The analysis and figure configs' schemas: each config's keys, typed from
:data:`reactivation.config.analysis_keys.KEYS`, which Hydra checks when it composes the config.

:func:`register` builds each config's schema (the keys of ``common.yaml``, the scale's and the config's own file) and
stores it in Hydra's ConfigStore as ``<name>_schema``, the first entry of that config's defaults list; so a wrong
type, or a key of an ``analyses`` block that is not a setting of that analysis, is refused when the config is
composed. The values stay in the YAML files (the schema's fields are ``MISSING``), so a default is written once.
What the schema refuses is said as every other check says it (:func:`refusal`, :func:`check_overrides`):
``batch_size=2.5 is not allowed: batch_size must be a positive integer (trajectories).``
"""

from __future__ import annotations

import functools
import re
from dataclasses import field, make_dataclass
from typing import Any

from omegaconf import MISSING, OmegaConf

from reactivation import ConfigError, analyses
from reactivation.config.analysis_keys import KEYS, not_allowed
from reactivation.config.arguments import argument_key
from reactivation.config.presets import ANALYSIS_CONFIG_DIR

#: The configs with a schema: every analysis and the figures.
SCHEMA_CONFIGS: tuple[str, ...] = (*analyses.NAMES, "figures")


def refusal(err: BaseException, overrides: list[str]) -> ConfigError | None:
    """The message for a command-line value the schema refused while Hydra composed ``overrides``; ``None`` for
    another error (or a value that is not one of ``overrides``: a config file's own, which Hydra's message names).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf.errors import ValidationError

    cause = err if isinstance(err, ValidationError) else err.__cause__
    if not isinstance(cause, ValidationError):
        return None
    entry = re.sub(r"(\[\d+\])+$", "", str(cause.full_key))  # seeds[0]: the list is the value refused
    typed = [o for o in overrides if argument_key(o) == entry]
    if not typed or not (entry.rsplit(".", 1)[-1] in KEYS or entry.split(".", 1)[0] == "analyses"):
        return None
    return not_allowed(entry, OverridesParser.create().parse_override(typed[-1]).value())


def check_overrides(name: str, overrides: list) -> None:
    """Refuse a command-line value that the schema of config ``name`` refuses, before Hydra composes the config
    (whose own message would not say what is allowed).

    Args:
        name: a config of :data:`SCHEMA_CONFIGS`.
        overrides: the command line's overrides, parsed by Hydra; sweeps and keys the schema has not are left to
            the key check and to Hydra.

    Raises:
        ConfigError: ``<key>=<value> is not allowed: <key> must be <allowed>.``
    """
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    node = OmegaConf.structured(schema(name))
    for o in overrides:
        if o.is_sweep_override() or o.is_delete() or o.key_or_group.split(".", 1)[0] not in node.keys():
            continue
        try:
            OmegaConf.update(node, o.key_or_group, o.value(), merge=False)
        except (ConfigKeyError, ConfigAttributeError):  # a key the schema has not: the key check names it
            continue
        except ValidationError:
            raise not_allowed(o.key_or_group, o.value()) from None


@functools.cache
def file_keys(name: str) -> tuple[str, ...]:
    """The keys a config file of reactivation/configs/analysis/ sets itself (not its defaults list, not hydra):
    an analysis's own settings, or common.yaml's keys shared by every analysis."""
    node = OmegaConf.load(ANALYSIS_CONFIG_DIR / f"{name}.yaml")
    return tuple(str(k) for k in node if k not in ("defaults", "hydra"))


def _fields(keys: list[str]) -> list[tuple[str, Any, Any]]:
    return [(k, KEYS[k].type, field(default=MISSING)) for k in keys]


@functools.cache
def _analyses_block() -> type:
    """The ``analyses`` block's schema (analyses.yaml): per analysis, its own settings, each null or a value."""
    blocks = {
        kind: make_dataclass(f"{kind}_block", [(k, KEYS[k].type | None, None) for k in file_keys(kind)])
        for kind in analyses.NAMES
    }
    kinds = [(kind, block | None, field(default_factory=block)) for kind, block in blocks.items()]
    return make_dataclass("analyses_block", kinds)


@functools.cache
def schema(name: str) -> type:
    """The schema of config ``name`` (one of :data:`SCHEMA_CONFIGS`): a dataclass of its keys' types."""
    # In the order Hydra composes them (common.yaml, its scale, the file's own), so the composed order is unchanged.
    common = _fields(list(dict.fromkeys([*file_keys("common"), "scale"])))
    sizes: tuple[str, Any, Any] = ("sizes", dict[str, Any], field(default_factory=dict))  # read by interpolation
    block = _analyses_block()
    included = [("analyses", block, field(default_factory=block))] if name == "figures" else []  # analyses.yaml
    own = _fields([k for k in file_keys(name) if k not in file_keys("common")])
    return make_dataclass(f"{name}_schema", [*common, sizes, *included, *own])


def register() -> None:
    """Store each config's schema in Hydra's ConfigStore as ``<name>_schema`` (idempotent)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name in SCHEMA_CONFIGS:
        store.store(name=f"{name}_schema", node=schema(name))
