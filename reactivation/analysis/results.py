"""Result files of the analyses: writing them with their ``.meta.json`` and reading them back checked.

A result's name and recorded settings follow from the settings that made it (:mod:`reactivation.analysis.
result_names`, re-exported here), so results of other settings never share a file; reading one back checks its shape
(:mod:`reactivation.analysis.result_checks`, re-exported here) and its recorded settings, and a missing or unusable
file is an error giving the command that makes it again. A run's test-loss log is read and checked here too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from omegaconf import OmegaConf

from reactivation import ReactivationError, analyses, runs
from reactivation.analysis.result_checks import entries_problem, json_object, number, numbers, statistics
from reactivation.analysis.result_names import (
    analysis_command,
    compact_tag,
    meta_path,
    result_path,
    result_settings,
    settings_tag,
)
from reactivation.analysis.settings import Settings
from reactivation.values import is_number, show

__all__ = [
    "MissingResult",
    "UnusableResult",
    "analysis_command",
    "compact_tag",
    "entries_problem",
    "json_object",
    "meta_path",
    "number",
    "numbers",
    "read_result",
    "read_test_metrics",
    "result_path",
    "result_settings",
    "settings_tag",
    "statistics",
    "write_result",
]


class MissingResult(ReactivationError):
    """No result file for these settings; the message gives the command that makes it."""


class UnusableResult(ReactivationError):
    """A result file that cannot stand for these settings (unreadable, of another shape, or made with other
    settings); the message names the file, what is wrong and the command that remakes it."""


#: Analysis settings added after results were first written, with the value every result that lacks them was made
#: with (so older results are still reused).
_ADDED_SETTINGS: dict[str, Any] = {"matmul_precision": "float32", "ratio_clip": None, "no_noise_seed": None}


def write_result(s: Settings, kind: str, result: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write :func:`result_path` and its ``.meta.json`` atomically.

    The ``.meta.json`` holds ``meta`` (runs used, units, ...) plus ``noise``, ``mode``, ``settings``
    (:func:`result_settings`, what readers compare) and ``config`` (the whole analysis config, path and device
    included).
    """
    out = result_path(s, kind)
    plain = cast(dict[str, Any], OmegaConf.to_container(s.cfg))  # a DictConfig's container: a str-keyed dict
    config = {k: v for k, v in plain.items() if k != "progress"}
    runs.write_json_atomic(
        meta_path(out),
        {**meta, "noise": s.noise, "mode": s.mode, "settings": result_settings(s, kind), "config": config},
    )
    runs.write_json_atomic(out, result)
    return out


def _read_json(path: Path) -> Any:
    """A JSON file's content.

    Raises:
        ValueError: the file cannot be read or parsed; the message says why in one line.
    """
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{type(err).__name__}: {next(iter(str(err).splitlines()), '')}"[:200]) from None


def read_result(s: Settings, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The saved ``kind`` result of ``s`` and its ``.meta.json``, checked: ``(result, meta)``.

    Raises:
        MissingResult: no file (the message gives the command that writes it).
        UnusableResult: the file or its ``.meta.json`` is unreadable or of another shape, or its recorded settings
            differ from ``s``'s (the message lists the differences): never a result of other settings.
    """
    path, command = result_path(s, kind), analysis_command(s, kind)
    if not path.is_file():
        raise MissingResult(f"{path} is missing; compute it with: {command}")
    redo = f"delete it and compute it again with: {command}"
    try:
        data = _read_json(path)
    except ValueError as err:
        raise UnusableResult(f"{path} is unreadable ({err}); {redo}") from None
    problem = analyses.get(kind).problem(data, list(s.conditions))
    if problem:
        raise UnusableResult(f"{path} is not a {kind} result ({problem}); {redo}")
    meta_file = meta_path(path)
    if not meta_file.is_file():
        raise UnusableResult(
            f"{path} has no {meta_file.name} beside it, so the settings that made it are unknown; {redo}"
        )
    try:
        meta = _read_json(meta_file)
    except ValueError as err:
        raise UnusableResult(f"{meta_file} is unreadable ({err}); {redo}") from None
    if not (
        isinstance(meta, dict) and isinstance(meta.get("settings"), dict) and isinstance(meta.get("runs", {}), dict)
    ):
        raise UnusableResult(f"{meta_file} does not record the settings and runs of {path.name}; {redo}")
    # A result saved before a setting existed was made with its value then (_ADDED_SETTINGS), if its kind has it.
    wanted = result_settings(s, kind)
    saved = {**{k: v for k, v in _ADDED_SETTINGS.items() if k in wanted}, **meta["settings"]}
    differing = [
        f"{k}={show(saved[k]) if k in saved else '(none)'} where {show(v)} was asked for"
        for k, v in wanted.items()
        if saved.get(k, ...) != v
    ]
    differing += [f"{k}={show(v)}, not a setting now" for k, v in saved.items() if k not in wanted]
    if differing:
        raise UnusableResult(f"{path} was made with other settings ({'; '.join(differing)}); {redo}")
    return data, meta


def read_test_metrics(run_dir: Path) -> dict[str, dict[str, float]]:
    """A run's ``test_metrics.json``: ``{"<step>": {"loss": ..., "pos_mse" | "hd_mse": ...}}``, checked.

    Raises:
        ReactivationError: the file is missing, unreadable or of another shape, naming it and the fix.
    """
    path = Path(run_dir) / "test_metrics.json"
    fix = (
        "It is the run's test-loss log, rewritten at each checkpoint while the run trains: restore it from a "
        "copy, or train the run again with its train.py command and resume=false."
    )
    try:
        data = _read_json(path)
    except ValueError as err:
        raise ReactivationError(f"{path} is unreadable ({err}). {fix}") from None
    if not (
        isinstance(data, dict)
        and data
        and all(
            k.isdigit()
            and isinstance(v, dict)
            and "loss" in v
            and ("pos_mse" in v or "hd_mse" in v)
            and all(x is None or is_number(x) for x in v.values())
            for k, v in data.items()
        )
    ):
        raise ReactivationError(
            f'{path} is not a test log {{"<step>": {{"loss": ..., "pos_mse" | "hd_mse": ...}}}}. {fix}'
        )
    return data
