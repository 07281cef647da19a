"""What a config value is, for the checks of every layer, and how a checked value is shown in a message (the one
wrong-type message, :func:`wrong_type`, for the schemas' refusals and a task node typed outside Hydra).

``bool`` is an ``int`` subclass in Python, and YAML and Hydra give ``true`` for a typo'd ``1``; every check of an
integer or a number here refuses booleans, so ``n_rec=true`` is an error rather than a network of one unit.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from reactivation import ConfigError

# Each check is a TypeGuard: where it holds, a type checker takes the value to be of that type.


def is_int(value: Any) -> TypeGuard[int]:
    """An ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    """An ``int`` or ``float`` that is not a ``bool`` (YAML writes whole numbers as ints, so floats accept them)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_positive_int(value: Any) -> TypeGuard[int]:
    """An integer (not a ``bool``) above 0."""
    return is_int(value) and value > 0


def kind_of(value: Any) -> str:
    """What kind of value ``value`` is, as a message says it ("a number", "true or false", ...)."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else type(value).__name__


def as_number(value: Any) -> str:
    """``value`` shown as a number is typed: the schema makes ``trainer.lr=-1`` the float -1.0, shown ``-1``."""
    return repr(int(value)) if isinstance(value, float) and value.is_integer() else repr(value)


def as_typed(shown: str, typed: Any) -> str:
    """``shown`` after the interpolation it came from, ``${oc.env:HOME} (= /root)``, or ``shown`` alone when the
    value was typed as it is."""
    return f"{typed} (= {shown})" if isinstance(typed, str) and "${" in typed else shown


def show(value: Any) -> str:
    """A value as it is typed on the command line: ``null``, ``true``, ``0.0001``, ``[0.2,0.45]``, ``abc``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        short = f"{value:g}"  # the shortest form, unless it loses digits (then the exact one)
        return short if float(short) == value or not math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{show(v)}" for k, v in value.items()) + "}"
    return str(value)


def wrong_type(key: str, shown: str, default: Any) -> ConfigError:
    """The message for ``key`` given a value (``shown`` as typed) not of its default's kind; an integer default
    asks for an integer, a list of numbers (a point) for one."""
    points = isinstance(default, list) and all(map(is_number, default))  # task.anchor_point
    kind = "an integer" if is_int(default) else "a list of numbers" if points else kind_of(default)
    return ConfigError(f"{key}={shown} is not allowed; it must be {kind}, like its default {default!r}.")
