"""Result files of the analyses: their names, their ``.meta.json``, writing them and reading them back checked.

A result's file name and recorded settings follow from the settings that made it (:func:`result_path`,
:func:`result_settings`), so results of other settings never share a file; reading one back checks its shape
and its recorded settings, and a missing or unusable file is an error giving the command that makes it again.
A run's test-loss log is read and checked here too.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from omegaconf import OmegaConf

from reactivation import ReactivationError, analyses, runs, usage
from reactivation.analysis.settings import (
    PRESET_NOISE,
    Settings,
    compose_analysis,
    settings,
    show,
)
from reactivation.config import ANALYSIS_CONFIG_DIR, absolute, compose_config
from reactivation.values import is_number

#: Keys that do not change a result: where it goes, where it ran (devices give other random streams, but the
#: same protocol), how it reports progress, whether the conditions ran batched (the same rollouts up to float
#: rounding); ``sizes`` is the scale's table, read into the analysis's own keys.
_NOT_RESULT_KEYS = ("seed", "path", "device", "progress", "sizes", "batch_models")
#: Settings spelt by the file name's fixed part. ``scale`` is not spelt but still recorded and compared: a run
#: directory's name leaves the scale out, so a results root holds one scale's runs of each preset, seed and
#: train_overrides, and two scales' results of the same name cannot both be computed there.
_NAMED = ("kind", "task", "model", "noise", "seed", "scale")
#: Longest settings tag kept readable; a longer one becomes a digest.
_MAX_TAG = 80


class MissingResult(ReactivationError):
    """No result file for these settings; the message gives the command that makes it."""


class UnusableResult(ReactivationError):
    """A result file that cannot stand for these settings (unreadable, of another shape, or made with other
    settings); the message names the file, what is wrong and the command that remakes it."""


@functools.cache
def _default(kind: str, scale: str, task: str, model: str) -> Settings:
    """The settings of a ``kind`` analysis of a family with nothing but the scale given."""
    return settings(compose_analysis(kind, scale, task, model, seed=0))


#: Analysis settings added after results were first written, with the value every result that lacks them was made
#: with (so older results are still reused).
_ADDED_SETTINGS: dict[str, Any] = {"matmul_precision": "float32", "ratio_clip": None, "no_noise_seed": None}


def result_settings(s: Settings, kind: str) -> dict[str, Any]:
    """The settings that make a ``kind`` result what it is (recorded in its ``.meta.json`` as ``settings``).

    Every key of reactivation/configs/analysis/<kind>.yaml counts except path, device, progress and the scale's size
    table, with ``noise`` and ``mode`` resolved: ``{"kind", "seed", "task", "model", "epoch", "noise", "mode", "scale",
    "train_overrides", "batch_size", "t_quiescent", ...}``.

    Raises:
        ValueError: ``s`` is not the settings of a ``kind`` config (e.g. a figure config: see :func:`for_kind`).
    """
    keys = [str(k) for k in _default(kind, s.cfg.scale, s.task, s.model).cfg if k not in _NOT_RESULT_KEYS]  # YAML keys
    lacking = [k for k in keys if k not in s.cfg]
    if lacking or "formats" in s.cfg:  # a figure config has batch_size too, with another meaning
        raise ValueError(f"these are not the settings of a {kind} analysis (lacking {lacking}); use for_kind().")
    plain = cast(dict[str, Any], OmegaConf.to_container(s.cfg))  # a DictConfig's container: a str-keyed dict
    return {"kind": kind, "seed": s.seed, **{k: plain[k] for k in keys}, "noise": s.noise, "mode": s.mode}


def _non_default(s: Settings, kind: str) -> dict[str, Any]:
    """The result settings of ``s`` that differ from those of the scale's defaults (and are not in the name)."""
    ours = result_settings(s, kind)
    default = result_settings(_default(kind, s.cfg.scale, s.task, s.model), kind)
    differing = {k: v for k, v in ours.items() if k not in _NAMED and v != default[k]}
    # train_overrides last: it is the one part that may become a digest
    return dict(sorted(differing.items(), key=lambda kv: kv[0] == "train_overrides"))


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:8]


def settings_tag(s: Settings, kind: str) -> str:
    """The file-name tag of the settings that differ from the scale's defaults; ``""`` when none do.

    ``epoch=20``, ``mode=absolute``, ``batch_size=8,t_quiescent=12``, ``ring=0.1-0.5``; ``train_overrides``
    becomes ``train=<8 hex digits>`` (a SHA-256 digest of the list); a tag over 80 characters becomes
    ``settings=<digest of all of them>``. The ``.meta.json`` records the settings in full.
    """
    differing = _non_default(s, kind)
    parts = [
        f"train={_digest(v)}"
        if k == "train_overrides"
        else f"{k}={'-'.join(map(show, v)) if isinstance(v, list) else show(v)}"
        for k, v in differing.items()
    ]
    return compact_tag(parts, differing)


def compact_tag(parts: list[str], whole: Any) -> str:
    """``parts`` joined by commas, or ``settings=<digest of whole>`` when that is over 80 characters or holds a
    character a file name should not (the one rule of tags: result files here, figure folders too)."""
    tag = ",".join(parts)
    return f"settings={_digest(whole)}" if len(tag) > _MAX_TAG or not re.fullmatch(r"[\w.,=+-]*", tag) else tag


def result_path(s: Settings, kind: str) -> Path:
    """Where the ``kind`` result of ``s`` lives: ``<path>/<task>/<kind>[_<family>]_<noise>_<seed>[_<tag>].json``.

    The one rule for result names, used by the analyses that write them and by everything that reads them
    (reuse in reproduce.py, figures, report). ``<tag>`` (:func:`settings_tag`) is there only when a setting
    differs from the scale's defaults, so that results of other settings never share a file.
    """
    family = "" if s.model == "vanilla" else f"_{s.model}"
    tag = settings_tag(s, kind)
    name = f"{kind}{family}_{show(s.noise)}_{s.seed}{'_' + tag if tag else ''}.json"
    return Path(s.cfg.path) / s.task / name


def meta_path(path: Path) -> Path:
    """The ``.meta.json`` beside a result file."""
    return Path(path).with_suffix(".meta.json")


def analysis_command(s: Settings, kind: str) -> str:
    """The command that writes :func:`result_path` of ``s`` (``python output_<kind>.py ...`` or
    ``reactivation <kind> ...``: :func:`reactivation.usage.command`)."""
    args = [f"seed={s.seed}"] + ([] if s.cfg.scale == "paper" else [f"scale={s.cfg.scale}"])
    if absolute(s.cfg.path) != absolute(_scale_root(s.cfg.scale)):
        args.append(f"path={s.cfg.path}")
    args += [] if s.task == _default_task() else [f"task={s.task}"]
    args += [] if s.model == "vanilla" else [f"model={s.model}"]
    args += [] if s.noise == PRESET_NOISE[s.task] else [f"noise={show(s.noise)}"]
    for key, value in _non_default(s, kind).items():
        if key == "train_overrides":
            args.append("train_overrides=[" + ",".join(json.dumps(o) for o in value) + "]")
        else:
            args.append(f"{key}={show(value)}")
    return " ".join([usage.command(kind), *map(shlex.quote, args)])


@functools.cache
def _default_task() -> str:
    """The analysis configs' default ``task`` (reactivation/configs/analysis/common.yaml), which a command need not
    name."""
    return compose_config(ANALYSIS_CONFIG_DIR, "common", []).task


@functools.cache
def _scale_root(scale: str) -> str:
    return compose_config(ANALYSIS_CONFIG_DIR, "common", [f"scale={scale}"]).path


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


def number(v: Any) -> bool:
    """a number"""
    return is_number(v)


def numbers(v: Any) -> bool:
    """a JSON object of numbers"""
    return isinstance(v, dict) and bool(v) and all(is_number(x) for x in v.values())


def json_object(v: Any) -> bool:
    """a JSON object"""
    return isinstance(v, dict)


def statistics(v: Any) -> bool:
    """a JSON object of numbers, nulls or lists of numbers"""
    return (
        isinstance(v, dict)
        and bool(v)
        and all(x is None or is_number(x) or (isinstance(x, list) and all(map(is_number, x))) for x in v.values())
    )


def entries_problem(node: Any, allowed: list[str], where: str, leaf: Callable[[Any], bool]) -> str | None:
    """What is wrong with ``node`` as ``{entry in allowed: value passing leaf}``; ``None`` if nothing.

    Entries may be absent (a partial result); unknown entries and values failing ``leaf`` (whose docstring names
    what it accepts, for the message) may not. The analyses' ``result_problem`` functions are built from it
    (:mod:`reactivation.analyses`).
    """
    if not isinstance(node, dict) or not node:
        return f"{where or 'the file'} holds {show(node)[:40]}, not a JSON object of entries"
    prefix = f"{where}." if where else ""
    for key, value in node.items():
        if key not in allowed:
            return f"unexpected entry {prefix}{key}"
        if not leaf(value):
            return f"{prefix}{key} holds {show(value)[:40]}, not {leaf.__doc__}"
    return None


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
