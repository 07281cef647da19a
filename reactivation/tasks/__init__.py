"""Path-integration tasks, their registry :data:`TASKS` and ``build_task``, which turns a ``task`` config node into
a task module.

Adding a task: write its module (a ``CodedTask`` subclass with ``name``, ``error_name``, ``error_unit``, a
``geometry``, its constructor's keyword defaults and ``CODE_DEFAULTS``, and ``from_config``), add its configs under
``reactivation/configs/train`` (task, presets, noise, sizes), and list its class in :data:`TASKS` below.
docs/adding-a-task.md walks through it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

import torch

from reactivation import ConfigError
from reactivation.tasks.base import Batch, CodedTask, Task
from reactivation.tasks.head_direction import HeadDirectionTask
from reactivation.tasks.linear_track import LinearTrackTask
from reactivation.tasks.schema import task_schema
from reactivation.tasks.spatial_navigation import SpatialNavigationTask
from reactivation.tasks.walls import avoid_walls
from reactivation.values import wrong_type

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


def config_values(cfg: Mapping[str, Any], cls: type[CodedTask]) -> dict[str, Any]:
    """A task node's values, typed by the task's schema (:func:`reactivation.tasks.schema.task_schema`, the one
    Hydra composes with), every key it lacks taken from ``cls``'s defaults.

    Args:
        cfg: the ``task`` node (a DictConfig, a saved run's dict, a plain mapping).
        cls: its task's class.

    Returns:
        ``{key: value}`` of every key of :meth:`~CodedTask.config_defaults` (a point as a tuple, in metres).

    Raises:
        ConfigError: a key the task does not have (the message lists the valid ones) or a value of the wrong type.
    """
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import ValidationError

    defaults = cls.config_defaults()
    schema = task_schema(cls)
    known = [f.name for f in dataclasses.fields(schema)]
    unknown = sorted(set(cfg.keys()) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown task.{unknown[0]} for task {cfg.get('name')!r} (unknown keys: {unknown}); "
            f"valid keys: {sorted(known)}"
        )
    listed = {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()}  # OmegaConf takes no tuples
    node = cast(DictConfig, OmegaConf.merge(OmegaConf.structured(schema), listed))
    # One key at a time: the error of a point's element names no key. name was checked by the caller, batch_size
    # is the trainer's.
    for key in [k for k in defaults if k in cfg]:
        try:
            node[key] = cfg[key]
        except ValidationError:
            raise wrong_type(f"task.{key}", repr(cfg[key]), listed[key]) from None
    # A point as a tuple (the constructor checks its length); name and batch_size are not the task's own.
    plain = OmegaConf.to_container(node)
    assert isinstance(plain, dict)  # a DictConfig's container
    return {k: tuple(plain[k]) if isinstance(v, tuple) else plain[k] for k, v in defaults.items()}


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
    return cls.from_config(config_values(cfg, cls), generator)
