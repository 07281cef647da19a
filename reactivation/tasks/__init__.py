"""Path-integration tasks, their registry :data:`TASKS` and ``build_task``, which turns a ``task`` config node into
a task module.

Adding a task: write its module (a ``CodedTask`` subclass with ``name``, ``error_name``, ``error_unit``, a
``geometry``, its constructor's keyword defaults and ``CODE_DEFAULTS``, and ``from_config``), add its configs under
``reactivation/configs/train`` (task, presets, noise, sizes), and list its class in :data:`TASKS` below.
docs/adding-a-task.md walks through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from reactivation import ConfigError
from reactivation.tasks.base import Batch, CodedTask, Task
from reactivation.tasks.head_direction import HeadDirectionTask
from reactivation.tasks.linear_track import LinearTrackTask
from reactivation.tasks.spatial_navigation import SpatialNavigationTask
from reactivation.tasks.walls import avoid_walls
from reactivation.values import is_int, is_number

__all__ = [
    "Batch",
    "Task",
    "SpatialNavigationTask",
    "HeadDirectionTask",
    "LinearTrackTask",
    "TASKS",
    "build_task",
    "avoid_walls",
]

#: Task name (``task.name``) -> task class: the one list of tasks.
TASKS: dict[str, type[CodedTask]] = {
    cls.name: cls for cls in (SpatialNavigationTask, HeadDirectionTask, LinearTrackTask)
}

# Config keys every task node may hold that are not the task's own (the trainer reads batch_size).
_COMMON_KEYS = ("name", "batch_size")


def _type_ok(value: Any, default: Any) -> bool:
    """Whether ``value`` is of ``default``'s kind: a bool, an integer, a number, a string, or a point (a sequence
    of numbers of the default's length, e.g. anchor_point)."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float, str)):
        return {int: is_int, float: is_number, str: lambda v: isinstance(v, str)}[type(default)](value)
    if isinstance(value, str) or not (isinstance(value, Sequence) or hasattr(value, "__iter__")):
        return False
    point = tuple(value)
    return len(point) == len(default) and all(map(is_number, point))


def config_values(cfg: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Check a task node's keys and value types against ``defaults``; fill in missing keys from them.

    Raises:
        ConfigError: a key the task does not have (the message lists the valid ones) or a value of the wrong type.
    """
    unknown = sorted(set(cfg.keys()) - set(defaults) - set(_COMMON_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown task.{unknown[0]} for task {cfg.get('name')!r} (unknown keys: {unknown}); "
            f"valid keys: {sorted([*defaults, *_COMMON_KEYS])}"
        )
    values = dict(defaults)
    for key in defaults.keys() & cfg.keys():
        value = cfg[key]
        if not _type_ok(value, defaults[key]):
            raise ConfigError(
                f"task.{key} has the wrong type: got {value!r}, expected something like {defaults[key]!r}"
            )
        values[key] = tuple(value) if isinstance(defaults[key], tuple) else value
    return values


def build_task(cfg: Mapping[str, Any], generator: torch.Generator) -> CodedTask:
    """Build the task of a ``task`` config node.

    Args:
        cfg: the ``task`` node (omegaconf ``DictConfig`` or a plain mapping) with ``name`` (a key of :data:`TASKS`)
            and that task's keys (docs/spec.md §2 / §3); missing keys take the task's defaults, unknown keys are an
            error, ``batch_size`` is ignored.
        generator: CPU generator, used only to draw the code's random parts (place-cell centres).

    Returns:
        The task module (on CPU); move it with ``.to(device)``.

    Raises:
        ConfigError: unknown task name, unknown key, or an invalid value.
    """
    name = cfg.get("name")
    if name not in TASKS:
        raise ConfigError(f"unknown task.name {name!r}; known tasks: {sorted(TASKS)}")
    cls = TASKS[name]
    return cls.from_config(config_values(cfg, cls.config_defaults()), generator)
