"""Path-integration tasks and ``build_task``, which turns a ``task`` config node into a task module."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from reactivation import ConfigError
from reactivation.codes import DECODE_TOP_K, CartesianCode, CosSinCode, HeadDirectionCells, PlaceCells
from reactivation.tasks import head_direction, spatial_navigation
from reactivation.tasks.base import Batch, Task
from reactivation.tasks.head_direction import HeadDirectionTask
from reactivation.tasks.spatial_navigation import SpatialNavigationTask, avoid_walls

__all__ = ["Batch", "Task", "SpatialNavigationTask", "HeadDirectionTask", "TASKS", "build_task", "avoid_walls"]

# Config keys every task node may hold that are not the task's own (the trainer reads batch_size).
_COMMON_KEYS = ("name", "batch_size")


def _config_values(cfg: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Check a task node's keys and value types against ``defaults``; fill in missing keys from them."""
    unknown = sorted(set(cfg.keys()) - set(defaults) - set(_COMMON_KEYS))
    if unknown:
        raise ConfigError(f"unknown task.{unknown[0]} for task {cfg.get('name')!r} (unknown keys: {unknown}); "
                          f"valid keys: {sorted([*defaults, *_COMMON_KEYS])}")
    values = dict(defaults)
    for key, default in defaults.items():
        if key not in cfg:
            continue
        value = cfg[key]
        # bool is an int subclass, so check it first; YAML writes whole numbers as int, so floats accept ints.
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:  # a point such as anchor_point
            ok = (isinstance(value, Sequence) or hasattr(value, "__iter__")) and not isinstance(value, str)
            if ok:
                value = tuple(value)
                ok = len(value) == len(default) and all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)
        if not ok:
            raise ConfigError(f"task.{key} has the wrong type: got {value!r}, expected something like {default!r}")
        values[key] = value
    return values


def _build_spatial_navigation(cfg: Mapping[str, Any], generator: torch.Generator) -> SpatialNavigationTask:
    v = _config_values(cfg, spatial_navigation.CONFIG_DEFAULTS)
    code: nn.Module
    if v["use_place_cells"]:
        if v["place_cells_num"] < DECODE_TOP_K or not v["place_cells_sigma"] > 0:
            raise ConfigError(f"task.place_cells_num must be >= {DECODE_TOP_K} (decoding averages the top "
                              f"{DECODE_TOP_K} cells) and task.place_cells_sigma > 0, got {v['place_cells_num']} "
                              f"and {v['place_cells_sigma']}")
        if v["place_cells_dog"] and not v["place_cells_surround_scale"] > 1:
            raise ConfigError(f"task.place_cells_surround_scale must be > 1, got {v['place_cells_surround_scale']}")
        code = PlaceCells.random(
            v["place_cells_num"], float(v["place_cells_sigma"]), float(v["box_width"]), float(v["box_height"]),
            generator, dog=v["place_cells_dog"], surround_scale=float(v["place_cells_surround_scale"]))
    else:
        code = CartesianCode()
    kwargs = {k: v[k] for k in v if not k.startswith(("use_", "place_cells_"))}
    return SpatialNavigationTask(code, **kwargs)


def _build_head_direction(cfg: Mapping[str, Any], generator: torch.Generator) -> HeadDirectionTask:
    v = _config_values(cfg, head_direction.CONFIG_DEFAULTS)
    code: nn.Module
    if v["use_hd_cells"]:
        if v["hd_cells_num"] < DECODE_TOP_K or not v["hd_cells_angular_spread"] > 0:
            raise ConfigError(f"task.hd_cells_num must be >= {DECODE_TOP_K} (decoding averages the top "
                              f"{DECODE_TOP_K} cells) and task.hd_cells_angular_spread > 0, got {v['hd_cells_num']} "
                              f"and {v['hd_cells_angular_spread']}")
        code = HeadDirectionCells(v["hd_cells_num"], float(v["hd_cells_angular_spread"]))
    else:
        code = CosSinCode()
    kwargs = {k: v[k] for k in v if not k.startswith(("use_", "hd_cells_"))}
    return HeadDirectionTask(code, **kwargs)


#: Task name (``task.name``) -> task class.
TASKS: dict[str, type[nn.Module]] = {
    "spatial_navigation": SpatialNavigationTask,
    "head_direction": HeadDirectionTask,
}
_BUILDERS: dict[str, Callable[[Mapping[str, Any], torch.Generator], nn.Module]] = {
    "spatial_navigation": _build_spatial_navigation,
    "head_direction": _build_head_direction,
}


def build_task(cfg: Mapping[str, Any], generator: torch.Generator) -> nn.Module:
    """Build the task of a ``task`` config node.

    Args:
        cfg: the ``task`` node (omegaconf ``DictConfig`` or a plain mapping) with ``name``
            (``'spatial_navigation'`` or ``'head_direction'``) and that task's keys (SPEC §2 / §3);
            missing keys take the SPEC defaults, unknown keys are an error, ``batch_size`` is ignored.
        generator: CPU generator, used only to draw place-cell centres.

    Returns:
        The task module (on CPU); move it with ``.to(device)``.

    Raises:
        ConfigError: unknown task name, unknown key, or an invalid value.
    """
    name = cfg.get("name")
    if name not in _BUILDERS:
        raise ConfigError(f"unknown task.name {name!r}; known tasks: {sorted(_BUILDERS)}")
    return _BUILDERS[name](cfg, generator)
