"""The type of every key of a task's config node (``task.*``), generated from its class's defaults, so that a key is
declared once (its keyword default or ``CODE_DEFAULTS`` entry) and typed on both paths that read a task node:
Hydra, which composes the training config with :func:`task_schema` as the first entry of the task YAML's defaults
(:func:`reactivation.config.schema.register` stores it), and :func:`reactivation.tasks.config_values`, which
sets a plain mapping's values (a saved run's config, a test's dict) on it.

Every field is ``MISSING``: the values stay in the task's YAML and the class; the schema says only what kind each
key is. A float key takes an integer or a float, a point (a tuple default, e.g. ``anchor_point``, in metres) a list
of them: a whole number stays as typed (the YAML's ``place_cells_surround_scale: 2``), so a composed config and a
run's saved config.yaml read as before the schema.
"""

from __future__ import annotations

from dataclasses import make_dataclass
from typing import Any

from omegaconf import MISSING

from reactivation.tasks.base import CodedTask

#: Keys every task node has besides the task's own: ``name`` (first in the YAML) and ``batch_size`` (last; the
#: trainer reads it, in trajectories per step).
FIRST = ("name", str)
LAST = ("batch_size", int)


def annotation(default: Any) -> Any:
    """The type a task key with this default takes (a bool, an integer, a number, a string or a point)."""
    if isinstance(default, bool):  # before int: bool is an int subclass
        return bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return int | float
    if isinstance(default, str):
        return str
    if isinstance(default, tuple):
        return list[int | float]
    return Any


# One dataclass per task class, made once (Hydra's ConfigStore and every build_task use the same one).
_SCHEMAS: dict[type[CodedTask], type] = {}


def task_schema(cls: type[CodedTask]) -> type:
    """The dataclass typing ``cls``'s config node: ``name``, its :meth:`~CodedTask.config_defaults` keys in their
    order (the YAML's), ``batch_size``; named ``<Class>Schema`` (Hydra's messages name it)."""
    if cls not in _SCHEMAS:
        own = [(key, annotation(default), MISSING) for key, default in cls.config_defaults().items()]
        fields = [(FIRST[0], FIRST[1], MISSING), *own, (LAST[0], LAST[1], MISSING)]
        _SCHEMAS[cls] = make_dataclass(f"{cls.__name__}Schema", fields)
    return _SCHEMAS[cls]
