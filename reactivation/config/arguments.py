"""Reading a command line's ``key=value`` arguments: Hydra's parse of them, the runs of a ``-m`` sweep, and the
check that each names a key the configs have (with the closest matches for one that does not).
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from reactivation import ConfigError
from reactivation.config.keys import leaves

# Config groups of reactivation/configs/train; `key=value` for these selects a part instead of setting a value.
GROUPS = ("config", "task", "model", "noise", "bias", "scale", "sizes", "logger")


def suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def argument_key(argument: str) -> str:
    """The dotted key of a ``key=value`` argument (``+key=`` too), as written."""
    return argument.split("=", 1)[0].lstrip("+")


def parse(argv: list[str]) -> list | None:
    """The key=value overrides of a command line, parsed by Hydra; None when asking for help.

    Raises:
        ConfigError: an argument Hydra cannot parse, naming it.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    if any(a in ("-h", "--help", "--hydra-help", "--info", "-i") or a.startswith("--info") for a in argv):
        return None
    parser = OverridesParser.create()
    overrides = []
    # Flags such as -m / --cfg job take no `=`; key=value arguments and ~key deletions are overrides.
    for arg in (a for a in argv if not a.startswith("-") and ("=" in a or a.startswith("~"))):
        if not arg.split("=", 1)[0].lstrip("+~"):
            raise ConfigError(f"the argument {arg!r} has no key; write key=value, e.g. trainer.lr=0.01.")
        try:
            overrides += parser.parse_overrides([arg])
        except HydraException as err:
            reason = " ".join(str(err).split())
            raise ConfigError(
                f"cannot read the argument {arg!r} ({reason[:300]}). Write key=value, e.g. "
                "trainer.lr=0.01; quote values with spaces or brackets for the shell."
            ) from None
    return overrides


def override_values(override: Any) -> list[str] | None:
    """The preset names of a `config=` override (several for a sweep), or None for globs/ranges."""
    if override.is_sweep_override():
        try:
            return [str(v) for v in override.sweep_string_iterator()]
        except Exception:  # glob() or range(): Hydra itself checks those
            return None
    return [str(override.value())]


def expand(overrides: list) -> list[list[str]]:
    """Each run of a (``-m``) command line as a list of ``key=value`` strings: the product of the sweeps."""
    choices = []
    for o in overrides:
        key = o.get_key_element()
        if o.is_sweep_override() and o.is_discrete_sweep():
            choices.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        elif o.is_sweep_override():  # interval sweeps (optimisers' ranges) are not ours to check
            return []
        else:
            choices.append([f"{key}={o.get_value_element_as_str()}"])
    return [list(run) for run in itertools.product(*choices)]


def value_of(run: list[str], key: str) -> str:
    return next(a.split("=", 1)[1] for a in run if a.split("=", 1)[0] == key)


def check_keys(overrides: list, base: DictConfig, groups: Iterable[str], listing: str) -> None:
    """Raise ConfigError for the first override whose key ``base`` does not have, added with ``+`` or not.

    Nothing reads a key the configs do not define, so ``+trainer.n_epoch=5`` (a typo) would be accepted and
    ignored; ``~key`` would remove a key the run needs.
    """
    known = list(leaves(OmegaConf.to_container(base)))
    sentinel = object()
    for o in overrides:
        key = o.key_or_group
        if o.package is not None or key in groups or key.startswith("hydra"):
            continue
        exists = OmegaConf.select(base, key, default=sentinel, throw_on_missing=False) is not sentinel
        if o.is_delete():
            raise ConfigError(f"~{key} removes a key that every run needs; set it instead ({key}=...).")
        if not exists:
            added = "+" if o.is_add() else ""
            raise ConfigError(
                f"unknown key '{added}{key}': nothing reads it, so it would be ignored."
                f"{suggest(key, known)} Run `{listing}` to list every key."
            )
        if o.is_add() and not o.is_force_add():
            raise ConfigError(f"+{key}: the key exists already; set it without the '+' ({key}=...).")
