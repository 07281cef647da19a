"""The offline-phase protocol shared by the analyses (SPEC §6-7): which runs, which batch, which rollouts.

For one analysis seed, every model is driven by a batch of its own task drawn from the same analysis
stream, so all models see the same random draws (a paired comparison); the active phase runs that batch
with the trained noise, and the quiescent phases start again from its encoded true initial states.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from reactivation import ConfigError, ReactivationError, runs
from reactivation.config import ANALYSIS_CONFIG_DIR, absolute, compose_config, compose_train, results_root
from reactivation.models import build_model
from reactivation.quiescence import NOISE_MODES, Rollout, quiescent_sigma, rollout
from reactivation.seeding import generator
from reactivation.training import RUNTIME_KEYS, Setup, load_run, select_device

log = logging.getLogger(__name__)

#: Conditions of each (task, model family): condition name -> training preset.
FAMILIES: dict[tuple[str, str], dict[str, str]] = {
    ("spatial_navigation", "vanilla"): {
        "noisy_unbiased": "spatial_navigation/noisy_unbiased",
        "noisy_biased": "spatial_navigation/noisy_biased",
        "no-noise_unbiased": "spatial_navigation/no-noise_unbiased",
        "no-noise_biased": "spatial_navigation/no-noise_biased",
    },
    ("spatial_navigation", "gru"): {
        "noisy_unbiased": "spatial_navigation/noisy_unbiased_gru",
        "noisy_biased": "spatial_navigation/noisy_biased_gru",
    },
    ("head_direction", "vanilla"): {
        "noisy_unbiased": "head_direction/noisy_unbiased",
        "noisy_biased": "head_direction/noisy_biased",
        "no-noise_unbiased": "head_direction/no-noise_unbiased",
        "no-noise_biased": "head_direction/no-noise_biased",
    },
}
#: Variance of the noisy presets per task (the default of the analyses' ``noise``).
PRESET_NOISE = {"spatial_navigation": 1e-4, "head_direction": 1e-2}
# Sizes resolved from the task are null in a composed config; the rest do not change what is trained.
_RUNTIME_KEYS = {*RUNTIME_KEYS, "rnn.n_out", "rnn.n_init"}


@dataclass(frozen=True)
class Settings:
    """An analysis config, checked, with its defaults resolved and ``cfg.path`` made absolute.

    ``cfg`` holds plain values (interpolations resolved), so what a result records is what it used.
    """

    seed: int
    task: str
    model: str
    noise: float
    mode: str
    conditions: dict[str, str]  # condition -> preset
    cfg: DictConfig


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value: Any) -> bool:
    return _is_int(value) and value > 0


def _non_negative(value: Any) -> bool:
    return _is_int(value) and value >= 0


def _is_ring(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and all(_is_number(r) and math.isfinite(r) for r in value)
            and 0 <= value[0] <= value[1])


#: What each key of the analysis and figure configs accepts: key -> (test, what is allowed, for the message).
CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (_non_negative, "a non-negative integer (seed=0 is a seed)"),
    "seeds": (lambda v: v is None or (isinstance(v, list) and bool(v) and all(map(_non_negative, v))),
              "null (every seed found) or a non-empty list of non-negative integers, e.g. seeds=[0,1,2]"),
    "epoch": (lambda v: v is None or _non_negative(v),
              "null (the last checkpoint) or the step of a saved checkpoint, an integer >= 0"),
    "noise": (lambda v: v is None or (_is_number(v) and math.isfinite(v) and v >= 0),
              "null (the preset's: 1e-4 spatial_navigation, 1e-2 head_direction) or a finite variance >= 0"),
    "mode": (lambda v: v is None or v in NOISE_MODES,
             f"null (scaled for vanilla RNNs, same for GRUs) or one of {', '.join(NOISE_MODES)}"),
    "batch_size": (_positive, "a positive integer (trajectories)"),
    "t_quiescent": (_positive, "a positive integer (quiescent steps)"),
    "n_samples": (_positive, "a positive integer (Monte Carlo samples)"),
    "n_components": (_positive, "a positive integer (principal components)"),
    "t_shift": (_non_negative, "an integer >= 0 (quiescent steps dropped at the start)"),
    "ring": (_is_ring, "[inner, outer]: two finite radii in m with 0 <= inner <= outer, e.g. ring=[0.2,0.45]"),
    "train_overrides": (lambda v: isinstance(v, list) and all(isinstance(o, str) for o in v),
                        "a list of train.py overrides, e.g. 'train_overrides=[\"trainer.n_epochs=1000\"]'"),
    "path": (lambda v: isinstance(v, str) and bool(v.strip()), "a folder (a non-empty string)"),
    "progress": (lambda v: isinstance(v, bool), "true or false"),
}
#: Analyses that write result files, each with its script (``output_<kind>.py``).
KINDS = ("kl", "variance", "distance", "manifold")


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


def check(key: str, value: Any, test: Callable[[Any], bool], allowed: str, typed: Any = None) -> None:
    """Raise ConfigError ``<key>=<value> is not allowed: <key> must be <allowed>.`` unless ``test(value)``.

    ``typed``: the value as given, when it was an interpolation (``${oc.env:HOME}``), shown beside what it gave.
    """
    if not test(value):
        shown = show(value)
        if isinstance(typed, str) and "${" in typed:
            shown = f"{typed} (= {shown})"
        raise ConfigError(f"{key}={shown} is not allowed: {key} must be {allowed}.")


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain values, interpolations resolved; a broken interpolation is a ConfigError naming its key."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None)
        first = next(iter(str(err).splitlines()), "")
        raise ConfigError(f"{key + ': ' if key else ''}{first}. Give a plain value instead.") from None


def settings(cfg: DictConfig) -> Settings:
    """Check an analysis (or figure) config, every key at once, and resolve its defaults.

    Every value is checked against :data:`CHECKS` (and ``formats`` against matplotlib, ``device`` against the
    machine) before any run is read, so a bad value stops the command before it does any work.

    Raises:
        ConfigError: a missing seed, an unknown task or model family, or a bad value; the message names the key,
            the value and what is allowed.
    """
    if OmegaConf.is_missing(cfg, "seed"):
        raise ConfigError("seed is required: add seed=<integer>, e.g. `python output_kl.py seed=0`.")
    values, typed = resolved(cfg), OmegaConf.to_container(cfg, resolve=False)
    for key, (test, allowed) in CHECKS.items():
        if key in values:
            check(key, values[key], test, allowed, typed[key])
    family = (values["task"], values["model"])
    if not all(isinstance(v, str) for v in family) or family not in FAMILIES:
        known = ", ".join(f"task={t} model={m}" for t, m in FAMILIES)
        raise ConfigError(f"task={show(values['task'])} model={show(values['model'])} has no presets; "
                          f"choose one of: {known}.")
    if "t_shift" in values and not values["t_shift"] <= values["t_quiescent"] - 2:
        raise ConfigError(f"t_shift={values['t_shift']} is not allowed: t_shift must leave at least 2 of the "
                          f"t_quiescent={values['t_quiescent']} quiescent steps (t_shift <= t_quiescent - 2).")
    if "ring" in values:
        values["ring"] = [float(r) for r in values["ring"]]  # ring=[0,1] and ring=[0.0,1.0] are one setting
    if "formats" in values:
        from reactivation.figures.style import check_formats  # matplotlib only where figures are drawn

        check_formats(values["formats"])
    if "analyses" in values:
        _check_analyses(values["analyses"])
    select_device(values["device"])  # an unknown device, or CUDA asked for where there is none
    values["path"] = str(results_root(values["path"]))  # absolute: the caller's directory, for children too
    task, model = values["task"], values["model"]
    noise = PRESET_NOISE[task] if values["noise"] is None else float(values["noise"])
    mode = values["mode"] or ("same" if model == "gru" else "scaled")
    plain = OmegaConf.create(values)
    OmegaConf.set_struct(plain, True)
    return Settings(values["seed"], task, model, noise, mode, FAMILIES[(task, model)], plain)


def _check_analyses(analyses: Any) -> None:
    """The figure config's ``analyses`` block: ``{kind: {key: null | value}}`` (null: the analysis default)."""
    example = "e.g. analyses.kl.n_samples=1000"
    if not isinstance(analyses, dict) or set(analyses) - set(KINDS) or not all(
            v is None or isinstance(v, dict) for v in analyses.values()):
        raise ConfigError(f"analyses={show(analyses)} is not allowed: analyses holds settings of "
                          f"{', '.join(KINDS)}, {example}.")
    for kind, keys in analyses.items():
        for key, value in (keys or {}).items():
            if key not in CHECKS or key not in _config_keys(kind):
                raise ConfigError(f"analyses.{kind}.{key} is not a setting of output_{kind}.py; {example}.")
            if value is not None:
                check(f"analyses.{kind}.{key}", value, *CHECKS[key])


@functools.lru_cache(maxsize=None)
def _config_keys(name: str) -> tuple[str, ...]:
    return tuple(compose_config(ANALYSIS_CONFIG_DIR, name, []))


def compose_analysis(name: str, scale: str = "paper", task: str = "spatial_navigation", model: str = "vanilla",
                     seed: int | None = None, **keys: Any) -> DictConfig:
    """configs/analysis/<name>.yaml at ``scale`` for a model family, other keys set to these values.

    The values are assigned, not parsed as command-line overrides, so any path or list goes in as it is.

    Raises:
        ConfigError: a key that config does not have.
    """
    cfg = compose_config(ANALYSIS_CONFIG_DIR, name, [f"scale={scale}"])
    for key, value in {"task": task, "model": model, "seed": seed, **keys}.items():
        if key not in cfg.keys():  # (`in cfg` is False for a key whose value is ??? such as seed)
            raise ConfigError(f"{key!r} is not a key of configs/analysis/{name}.yaml.")
        cfg[key] = value
    return cfg


def for_kind(s: Settings, kind: str) -> Settings:
    """The settings of the ``kind`` results that figures and reports made with ``s`` read.

    Keys shared by every analysis (common.yaml: epoch, noise, mode, path, train_overrides, device, ...) come from
    ``s``, the analysis's own sizes from ``s.cfg.analyses.<kind>`` where given there, else from the scale.
    """
    shared = [k for k in _config_keys("common") if k not in ("seed", "task", "model", "scale", "sizes")]
    keys = {k: s.cfg[k] for k in shared}
    if "analyses" in s.cfg and s.cfg.analyses.get(kind):
        keys.update({k: v for k, v in s.cfg.analyses[kind].items() if v is not None})
    return settings(compose_analysis(kind, s.cfg.scale, s.task, s.model, s.seed, **keys))


# ------------------------------------------------------------------------------------------------ result files

#: Keys that do not change a result: where it goes, where it ran (devices give other random streams, but the
#: same protocol), how it reports progress; ``sizes`` is the scale's table, read into the analysis's own keys.
_NOT_RESULT_KEYS = ("seed", "path", "device", "progress", "sizes")
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


@functools.lru_cache(maxsize=None)
def _default(kind: str, scale: str, task: str, model: str) -> Settings:
    """The settings of a ``kind`` analysis of a family with nothing but the scale given."""
    return settings(compose_analysis(kind, scale, task, model, seed=0))


def result_settings(s: Settings, kind: str) -> dict[str, Any]:
    """The settings that make a ``kind`` result what it is (recorded in its ``.meta.json`` as ``settings``).

    Every key of configs/analysis/<kind>.yaml counts except path, device, progress and the scale's size table,
    with ``noise`` and ``mode`` resolved: ``{"kind", "seed", "task", "model", "epoch", "noise", "mode", "scale",
    "train_overrides", "batch_size", "t_quiescent", ...}``.

    Raises:
        ValueError: ``s`` is not the settings of a ``kind`` config (e.g. a figure config: see :func:`for_kind`).
    """
    keys = [k for k in _default(kind, s.cfg.scale, s.task, s.model).cfg if k not in _NOT_RESULT_KEYS]
    lacking = [k for k in keys if k not in s.cfg]
    if lacking or "formats" in s.cfg:  # a figure config has batch_size too, with another meaning
        raise ValueError(f"these are not the settings of a {kind} analysis (lacking {lacking}); use for_kind().")
    plain = OmegaConf.to_container(s.cfg)
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
    parts = [f"train={_digest(v)}" if k == "train_overrides" else
             f"{k}={'-'.join(map(show, v)) if isinstance(v, list) else show(v)}" for k, v in differing.items()]
    tag = ",".join(parts)
    if len(tag) > _MAX_TAG or not re.fullmatch(r"[\w.,=+-]*", tag):
        tag = f"settings={_digest(differing)}"
    return tag


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
    """The ``python output_<kind>.py ...`` command that writes :func:`result_path` of ``s``."""
    args = [f"seed={s.seed}"] + ([] if s.cfg.scale == "paper" else [f"scale={s.cfg.scale}"])
    if absolute(s.cfg.path) != absolute(_scale_root(s.cfg.scale)):
        args.append(f"path={s.cfg.path}")
    args += [] if s.task == "spatial_navigation" else [f"task={s.task}"]
    args += [] if s.model == "vanilla" else [f"model={s.model}"]
    args += [] if s.noise == PRESET_NOISE[s.task] else [f"noise={show(s.noise)}"]
    for key, value in _non_default(s, kind).items():
        if key == "train_overrides":
            args.append("train_overrides=[" + ",".join(json.dumps(o) for o in value) + "]")
        else:
            args.append(f"{key}={show(value)}")
    return " ".join(["python", f"output_{kind}.py", *map(shlex.quote, args)])


@functools.lru_cache(maxsize=None)
def _scale_root(scale: str) -> str:
    return compose_config(ANALYSIS_CONFIG_DIR, "common", [f"scale={scale}"]).path


def write_result(s: Settings, kind: str, result: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write :func:`result_path` and its ``.meta.json`` atomically.

    The ``.meta.json`` holds ``meta`` (runs used, units, ...) plus ``noise``, ``mode``, ``settings``
    (:func:`result_settings`, what readers compare) and ``config`` (the whole analysis config, path and device
    included).
    """
    out = result_path(s, kind)
    config = {k: v for k, v in OmegaConf.to_container(s.cfg).items() if k != "progress"}
    runs.write_json_atomic(meta_path(out), {**meta, "noise": s.noise, "mode": s.mode,
                                            "settings": result_settings(s, kind), "config": config})
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


def _number(v: Any) -> bool:
    """a number"""
    return _is_number(v)


def _numbers(v: Any) -> bool:
    """a JSON object of numbers"""
    return isinstance(v, dict) and bool(v) and all(_is_number(x) for x in v.values())


def _table_row(v: Any) -> bool:
    """a JSON object of active conditions"""
    return isinstance(v, dict)


def _statistics(v: Any) -> bool:
    """a JSON object of numbers, nulls or lists of numbers"""
    return isinstance(v, dict) and bool(v) and all(
        x is None or _is_number(x) or (isinstance(x, list) and all(map(_is_number, x))) for x in v.values())


def _entries_problem(node: Any, allowed: list[str], where: str, leaf: Callable[[Any], bool]) -> str | None:
    """What is wrong with ``node`` as ``{entry in allowed: value passing leaf}``; ``None`` if nothing."""
    if not isinstance(node, dict) or not node:
        return f"{where or 'the file'} holds {show(node)[:40]}, not a JSON object of entries"
    prefix = f"{where}." if where else ""
    for key, value in node.items():
        if key not in allowed:
            return f"unexpected entry {prefix}{key}"
        if not leaf(value):
            return f"{prefix}{key} holds {show(value)[:40]}, not {leaf.__doc__}"
    return None


def _shape_problem(kind: str, data: Any, conditions: list[str]) -> str | None:
    """What makes ``data`` not a ``kind`` result of these conditions (the README's shapes); ``None`` if nothing.

    Conditions may be absent (a partial result); unknown entries and non-numeric values may not.
    """
    if kind == "kl":
        problem = _entries_problem(data, [*conditions, "random", "uniform"], "", _table_row)
        for row, cols in (data.items() if problem is None else ()):
            problem = problem or _entries_problem(cols, conditions, row, _number)
        return problem
    leaf = {"variance": _number, "distance": _numbers, "manifold": _statistics}[kind]
    return _entries_problem(data, conditions, "", leaf)


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
    problem = _shape_problem(kind, data, list(s.conditions))
    if problem:
        raise UnusableResult(f"{path} is not a {kind} result ({problem}); {redo}")
    meta_file = meta_path(path)
    if not meta_file.is_file():
        raise UnusableResult(f"{path} has no {meta_file.name} beside it, so the settings that made it are "
                             f"unknown; {redo}")
    try:
        meta = _read_json(meta_file)
    except ValueError as err:
        raise UnusableResult(f"{meta_file} is unreadable ({err}); {redo}") from None
    if not (isinstance(meta, dict) and isinstance(meta.get("settings"), dict)
            and isinstance(meta.get("runs", {}), dict)):
        raise UnusableResult(f"{meta_file} does not record the settings and runs of {path.name}; {redo}")
    wanted, saved = result_settings(s, kind), meta["settings"]
    differing = [f"{k}={show(saved[k]) if k in saved else '(none)'} where {show(v)} was asked for"
                 for k, v in wanted.items() if saved.get(k, ...) != v]
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
    fix = ("It is the run's test-loss log, rewritten at each checkpoint while the run trains: restore it from a "
           "copy, or train the run again with its train.py command and resume=false.")
    try:
        data = _read_json(path)
    except ValueError as err:
        raise ReactivationError(f"{path} is unreadable ({err}). {fix}") from None
    if not (isinstance(data, dict) and data and all(
            k.isdigit() and isinstance(v, dict) and "loss" in v and ("pos_mse" in v or "hd_mse" in v)
            and all(x is None or _is_number(x) for x in v.values()) for k, v in data.items())):
        raise ReactivationError(f'{path} is not a test log {{"<step>": {{"loss": ..., "pos_mse" | "hd_mse": ...}}}}. '
                                f"{fix}")
    return data


def train_command(preset: str, seed: int, overrides: list[str], root: Path) -> str:
    """The ``python train.py ...`` command that trains the run these arguments describe."""
    default_root = compose_train([f"config={preset}", f"seed={seed}", *overrides]).path  # the scale's
    extra = [] if absolute(root) == absolute(default_root) else [f"path={root}"]
    return " ".join(["python train.py", f"config={preset}", f"seed={seed}", *map(shlex.quote, [*overrides, *extra])])


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_leaves(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def find_run(root: Path, preset: str, seed: int, overrides: list[str], epoch: int | None) -> Path:
    """Find the run trained with ``train.py config=<preset> seed=<seed> <overrides>`` under ``root``.

    Runs are matched by reading their saved ``config.yaml``, never by formatting directory names.

    Raises:
        ReactivationError: no such run, an incomplete one, or one without the requested checkpoint;
            the message gives the command that trains it.
    """
    expected = _leaves(OmegaConf.to_container(compose_train([f"config={preset}", f"seed={seed}", *overrides]),
                                              resolve=True))
    wanted = {k: v for k, v in expected.items() if k not in _RUNTIME_KEYS}
    matches, near = [], []
    for run_dir, config in runs.iter_runs(root):
        leaves = _leaves(config)
        if config.get("preset") != preset or config.get("seed") != seed:
            continue
        differing = [f"{k}={leaves.get(k)!r}" for k, v in wanted.items() if leaves.get(k) != v]
        (near if differing else matches).append(run_dir if not differing else f"{run_dir} (has {', '.join(differing)})")
    command = train_command(preset, seed, overrides, root)
    if not matches:
        hint = ("\nRuns of that preset and seed with other settings (select them with train_overrides=[...]):\n  "
                + "\n  ".join(near)) if near else ""
        raise ReactivationError(f"no trained run of {preset} with seed {seed} under {root}/. Train it with:\n"
                                f"  {command}{hint}")
    if len(matches) > 1:
        log.warning("%d identical runs of %s seed %d; using %s", len(matches), preset, seed, matches[0])
    run_dir, steps = matches[0], runs.checkpoint_steps(matches[0])
    n_steps = expected["trainer.n_epochs"]
    if epoch is None and (not steps or steps[-1] < n_steps):
        done = steps[-1] if steps else 0
        raise ReactivationError(f"the run {run_dir} is incomplete ({done} of {n_steps} steps). Finish it with:\n"
                                f"  {command}")
    if epoch is not None and epoch not in steps:
        raise ReactivationError(f"the run {run_dir} has no checkpoint at epoch={epoch}; available: {steps}.")
    return run_dir


def run_overrides(s: Settings, condition: str) -> list[str]:
    """The ``train.py`` overrides of a condition's run: ``train_overrides``, the scale and, if not the preset's,
    the noise."""
    overrides = list(s.cfg.train_overrides)
    if s.cfg.scale != "paper":
        overrides.append(f"scale={s.cfg.scale}")
    if condition.startswith("noisy") and s.noise != PRESET_NOISE[s.task]:
        overrides.append(f"rnn.sigma2_rec={s.noise}")
    return overrides


def load_conditions(s: Settings) -> dict[str, tuple[Path, Setup]]:
    """Find and load the run of every condition of ``s`` (all found before any is simulated)."""
    root = Path(s.cfg.path)
    found = {name: find_run(root, preset, s.seed, run_overrides(s, name), s.cfg.epoch)
             for name, preset in s.conditions.items()}
    return {name: (run_dir, load_run(run_dir, s.cfg.epoch, s.cfg.device)) for name, run_dir in found.items()}


def random_network(reference: Setup, s: Settings) -> torch.nn.Module:
    """An untrained network of the reference run's shapes, trained-noise level ``s.noise``, from the analysis seed."""
    rnn = OmegaConf.to_container(reference.config.rnn)
    rnn["sigma2_rec"] = s.noise
    model = build_model(rnn, generator(s.seed, "random_network"))
    return model.to(reference.device).eval()


@dataclass(frozen=True)
class Phases:
    """Rollouts of one model on the analysis batch.

    Attributes:
        active: the task's inputs with the trained noise (``None`` if not asked for).
        quiescent: zero input, one rollout per requested noise mode.
    """

    active: Rollout | None
    quiescent: dict[str, Rollout]


def simulate(setup: Setup, s: Settings, batch_size: int, t_quiescent: int, *, modes: tuple[str, ...] | None = None,
             active: bool = True, keep_hidden: bool = False, model: torch.nn.Module | None = None) -> Phases:
    """Run the analysis batch through a model: active phase, then quiescent phases from the same start.

    Args:
        setup: the loaded run (its task draws the batch and decodes the outputs).
        s: the analysis settings (seed, noise, default mode).
        batch_size: trajectories.
        t_quiescent: quiescent steps.
        modes: quiescence noise modes to run (default: ``(s.mode,)``).
        active: also run the active phase.
        keep_hidden: keep hidden states (for PCA).
        model: run this model instead of the run's own (e.g. an untrained one), decoded by the run's task.
    """
    model = setup.model if model is None else model
    gen = generator(s.seed, "analysis", setup.device)
    batch = setup.task.sample(batch_size, gen)
    with torch.no_grad():
        h0 = model.initial_state(batch.init_code)
    act = None
    if active:
        act = rollout(model, setup.task, h0, batch.inputs.shape[1], inputs=batch.inputs, generator=gen,
                      keep_hidden=keep_hidden)
    quiet = {mode: rollout(model, setup.task, h0, t_quiescent, generator=gen, keep_hidden=keep_hidden,
                           sigma_rec=quiescent_sigma(model.sigma_rec, mode, s.noise))
             for mode in (modes or (s.mode,))}
    return Phases(act, quiet)


@dataclass(frozen=True)
class States:
    """Active and quiescent rollouts of one model on the analysis batch, hidden states kept (numpy, on CPU).

    Attributes:
        active_hidden: (B, T, n_rec); quiescent_hidden: (B, T_q, n_rec).
        active_decoded: (B, T, d); quiescent_decoded: (B, T_q, d) (metres or radians).
    """

    active_hidden: np.ndarray
    quiescent_hidden: np.ndarray
    active_decoded: np.ndarray
    quiescent_decoded: np.ndarray


def states(setup: Setup, s: Settings, batch_size: int, t_quiescent: int) -> States:
    """:func:`simulate` with hidden states kept, in the default mode (SPEC §8: 1000 trajectories, 200 steps)."""
    phases = simulate(setup, s, batch_size, t_quiescent, keep_hidden=True)
    quiet = phases.quiescent[s.mode]
    return States(phases.active.hidden.numpy(), quiet.hidden.numpy(), phases.active.decoded.numpy(),
                  quiet.decoded.numpy())
