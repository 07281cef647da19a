"""The checked settings of an analysis (docs/spec.md §6-7): what an analysis or figure config selects, and its checks.

A config names a task and model family (:data:`FAMILIES` gives its conditions and their training presets), the
analysis seed, the noise and its quiescence mode, and the sizes of the analysis; :func:`settings` checks every
value before any run is read and resolves the defaults, so a bad value stops a command before it does any work,
with a message naming the key, the value and what is allowed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from reactivation import DEFAULT_MODEL, ConfigError, analyses, precision, usage
from reactivation.config import ANALYSIS_CONFIG_DIR, compose_config, families, preset_noise, resolved, results_root
from reactivation.loading import select_device
from reactivation.models import MODELS
from reactivation.quiescence import NOISE_MODES, noise_factor
from reactivation.values import as_typed, is_int, is_number, is_positive_int

#: Conditions of each (task, model family): condition -> training preset (found in reactivation/configs/train/config/).
FAMILIES: dict[tuple[str, str], dict[str, str]] = families()
#: Variance of the noisy presets per task (the default of the analyses' ``noise``;
#: reactivation/configs/train/noise/<task>/).
PRESET_NOISE: dict[str, float] = {task: preset_noise(task) for task, _ in FAMILIES}


def default_noise(task: str, noise: float | None) -> float:
    """The quiescent noise variance an analysis (or an export) runs with: ``noise``, or for ``None`` the variance
    of the task's noisy presets (:data:`PRESET_NOISE`).

    Raises:
        ConfigError: ``noise`` is ``None`` and the task has no noisy presets to take it from.
    """
    if noise is not None:
        return float(noise)
    if task not in PRESET_NOISE:
        raise ConfigError(
            f"task {task!r} has no noisy presets to take the quiescent noise from: give noise=<variance>."
        )
    return PRESET_NOISE[task]


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


def _non_negative(value: Any) -> bool:
    return is_int(value) and value >= 0


def _power(value: float) -> str:
    """A variance as a power of ten where it is one (1e-4), else as ``show`` writes it."""
    exponent = math.log10(value) if value > 0 else math.nan
    return f"1e{round(exponent)}" if math.isfinite(exponent) and 10.0 ** round(exponent) == value else show(value)


def _is_mode(value: Any) -> bool:
    """A named quiescence mode, or a factor c >= 0 (a number, or the string a checked factor is kept as)."""
    if not (is_number(value) or isinstance(value, str)):
        return False
    try:
        noise_factor(str(value))
    except ValueError:
        return False
    return True


def _is_positive(value: Any) -> bool:
    return is_number(value) and math.isfinite(value) and value > 0


def _is_factor(value: Any) -> bool:
    return is_number(value) and math.isfinite(value) and value >= 0


def _is_ring(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(is_number(r) and math.isfinite(r) for r in value)
        and 0 <= value[0] <= value[1]
    )


#: What each key of the analysis and figure configs accepts: key -> (test, what is allowed, for the message).
CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (_non_negative, "a non-negative integer (seed=0 is a seed)"),
    "seeds": (
        lambda v: v is None or (isinstance(v, list) and bool(v) and all(map(_non_negative, v))),
        "null (every seed found) or a non-empty list of non-negative integers, e.g. seeds=[0,1,2]",
    ),
    "no_noise_seed": (
        lambda v: v is None or _non_negative(v),
        "null (the analysis seed) or the seed of the noise-free conditions' runs, an integer >= 0, e.g. "
        "no_noise_seed=0",
    ),
    "epoch": (
        lambda v: v is None or _non_negative(v),
        "null (the last checkpoint) or the step of a saved checkpoint, an integer >= 0",
    ),
    "noise": (
        lambda v: v is None or (is_number(v) and math.isfinite(v) and v >= 0),
        "null (the preset's: "
        + ", ".join(f"{_power(v)} {t}" for t, v in PRESET_NOISE.items())
        + ") or a finite variance >= 0",
    ),
    "mode": (
        lambda v: v is None or _is_mode(v),
        f"null (scaled for vanilla RNNs, same for GRUs), one of {', '.join(NOISE_MODES)}, or a factor c >= 0 "
        "of the trained noise (σ_q = c·σ_rec; scaled is √2, same is 1), e.g. mode=0.5",
    ),
    "batch_size": (is_positive_int, "a positive integer (trajectories)"),
    "t_quiescent": (is_positive_int, "a positive integer (quiescent steps)"),
    "n_samples": (is_positive_int, "a positive integer (Monte Carlo samples)"),
    "n_components": (is_positive_int, "a positive integer (principal components)"),
    "t_shift": (_non_negative, "an integer >= 0 (quiescent steps dropped at the start)"),
    "ring": (_is_ring, "[inner, outer]: two finite radii in m with 0 <= inner <= outer, e.g. ring=[0.2,0.45]"),
    "ratio_clip": (
        lambda v: v is None or (_is_ring(v) and 0 < v[0] < v[1]),  # _is_ring: two finite numbers, in order
        "null (unclipped) or [low, high]: the bounds of each density ratio in the KL estimate, two finite numbers "
        "with 0 < low < high, e.g. ratio_clip=[1e-7,1e7] (the published code's)",
    ),
    "train_overrides": (
        lambda v: isinstance(v, list) and all(isinstance(o, str) for o in v),
        "a list of train.py overrides, e.g. 'train_overrides=[\"trainer.n_epochs=1000\"]'",
    ),
    "path": (lambda v: isinstance(v, str) and bool(v.strip()), "a folder (a non-empty string)"),
    "progress": (lambda v: isinstance(v, bool), "true or false"),
    "batch_models": (lambda v: v == "auto" or isinstance(v, bool), "auto (batched on CUDA), true or false"),
    "n_states": (is_positive_int, "a positive integer (states in the KDE)"),
    "n_queries": (is_positive_int, "a positive integer (states where drift and score are compared)"),
    "n_pca": (is_positive_int, "a positive integer (states the drift's principal components are fitted on)"),
    "bandwidth": (
        lambda v: v is None or (is_number(v) and math.isfinite(v) and v > 0),
        "null (Scott's rule) or a factor > 0 of Scott's kernel width, e.g. bandwidth=2",
    ),
    "queries": (
        lambda v: v in ("awake", "settled"),
        "awake (the noisy active states) or settled (the states of the second half of settle_steps quiescent steps)",
    ),
    "settle_steps": (lambda v: is_positive_int(v) and v >= 2, "an integer >= 2 (quiescent steps)"),
    "fit_lag": (is_positive_int, "a positive integer (steps: the longest lag of the MSD exponent's fit)"),
    "max_lag": (is_positive_int, "a positive integer (steps: the longest lag of the step autocorrelation)"),
    "factors": (
        lambda v: isinstance(v, list) and bool(v) and len(set(v)) == len(v) and all(_is_factor(c) for c in v),
        "a non-empty list of distinct noise factors c >= 0 (σ_q = c·σ_rec), e.g. factors=[0,1,1.4142135623730951,2]",
    ),
    "n_events": (is_positive_int, "a positive integer (trajectories classified per phase)"),
    "peak_rate": (_is_positive, "a finite rate > 0 in Hz, e.g. peak_rate=20"),
    "bin_steps": (is_positive_int, "a positive integer (network steps per time bin)"),
    "place_bins": (lambda v: is_int(v) and v >= 2, "an integer >= 2 (bins along the space's longest coordinate)"),
    "movement_var": (
        lambda v: v is None or _is_positive(v),
        "null (the active phase's) or a finite variance > 0 per coordinate and time bin, in m² or rad²",
    ),
    "dwell": (_is_positive, "a finite time > 0 in seconds (expected time in one dynamic), e.g. dwell=0.5"),
    "threshold": (
        lambda v: is_number(v) and 0.5 <= v < 1,
        "a probability in [0.5, 1) (a time bin is one dynamic above it), e.g. threshold=0.8",
    ),
}


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
        raise ConfigError(f"{key}={as_typed(show(value), typed)} is not allowed: {key} must be {allowed}.")


def settings(cfg: DictConfig) -> Settings:
    """Check an analysis (or figure) config, every key at once, and resolve its defaults.

    Every value is checked against :data:`CHECKS` (and ``device`` against the machine) before any run is read, so
    a bad value stops the command before it does any work. (A figure config's ``formats`` is checked by the
    figures, which know matplotlib's formats.)

    Raises:
        ConfigError: a missing seed, an unknown task or model family, or a bad value; the message names the key,
            the value and what is allowed.
    """
    if OmegaConf.is_missing(cfg, "seed"):
        raise ConfigError(f"seed is required: add seed=<integer>, e.g. `{usage.command('kl')} seed=0`.")
    values, typed = resolved(cfg), cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=False))
    for key, (test, allowed) in CHECKS.items():
        if key in values:
            check(key, values[key], test, allowed, typed[key])
    family = (values["task"], values["model"])
    if not all(isinstance(v, str) for v in family) or family not in FAMILIES:
        known = ", ".join(f"task={t} model={m}" for t, m in FAMILIES)
        raise ConfigError(
            f"task={show(values['task'])} model={show(values['model'])} has no presets; choose one of: {known}."
        )
    if "t_shift" in values and not values["t_shift"] <= values["t_quiescent"] - 2:
        raise ConfigError(
            f"t_shift={values['t_shift']} is not allowed: t_shift must leave at least 2 of the "
            f"t_quiescent={values['t_quiescent']} quiescent steps (t_shift <= t_quiescent - 2)."
        )
    for key, what in (("n_states", "KDE is fitted in"), ("n_pca", "PCA finds")):
        # output_drift.py's KDE lives in the n_components principal components: its kernel is the states' sample
        # covariance, singular unless there are more states than dimensions; the PCA needs as many to find them.
        if key in values and "n_components" in values and not values[key] > values["n_components"]:
            raise ConfigError(
                f"{key}={values[key]} is not allowed: the drift's {what} the n_components={values['n_components']}"
                f" principal components and needs more states than dimensions, {key} >= "
                f"{values['n_components'] + 1} (or fewer n_components)."
            )
    _check_replay(values)
    if values.get("no_noise_seed") == values["seed"]:
        values["no_noise_seed"] = None  # one setting: the noise-free runs of the analysis seed itself
    if "ring" in values:
        values["ring"] = [float(r) for r in values["ring"]]  # ring=[0,1] and ring=[0.0,1.0] are one setting
    if values.get("ratio_clip") is not None:
        values["ratio_clip"] = [float(r) for r in values["ratio_clip"]]  # likewise [1,10] and [1.0,10.0]
    if "analyses" in values:
        check_analyses(values["analyses"])
    device = select_device(values["device"])  # an unknown device, or CUDA asked for where there is none
    precision.check(values["matmul_precision"], device, key="matmul_precision")
    values["path"] = str(results_root(values["path"]))  # absolute: the caller's directory, for children too
    task, model = values["task"], values["model"]
    noise = default_noise(task, values["noise"])
    mode = values["mode"]
    if mode is None:
        mode = MODELS[model].default_mode
    elif is_number(mode):  # a factor c, kept as a string like the named modes (mode=2 and mode=2.0 are one setting)
        mode = values["mode"] = show(float(mode))
    plain = OmegaConf.create(values)
    OmegaConf.set_struct(plain, True)
    return Settings(values["seed"], task, model, noise, mode, FAMILIES[(task, model)], plain)


def _check_replay(values: dict[str, Any]) -> None:
    """The replay analysis's cross-key checks: events held out of the decoder's fit, two time bins per event."""
    if "n_events" in values and not values["n_events"] < values["batch_size"]:
        raise ConfigError(
            f"n_events={values['n_events']} is not allowed: the replay analysis fits its decoder on the other "
            f"trajectories of batch_size={values['batch_size']}, so n_events < batch_size (or a larger batch_size)."
        )
    if "bin_steps" in values and not values["t_quiescent"] >= 2 * values["bin_steps"]:
        raise ConfigError(
            f"t_quiescent={values['t_quiescent']} is not allowed: a quiescent event needs at least 2 time bins of "
            f"bin_steps={values['bin_steps']} steps (t_quiescent >= {2 * values['bin_steps']}, or fewer bin_steps)."
        )


def check_analyses(block: Any) -> None:
    """An ``analyses`` block (the figure and reproduce configs': analyses.yaml): ``{kind: {key: null | value}}``
    (null: the analysis default).

    Raises:
        ConfigError: a kind that is not an analysis, a key that is not one of its settings, or a bad value.
    """
    example = "e.g. analyses.kl.n_samples=1000"
    if (
        not isinstance(block, dict)
        or set(block) - set(analyses.NAMES)
        or not all(v is None or isinstance(v, dict) for v in block.values())
    ):
        raise ConfigError(
            f"analyses={show(block)} is not allowed: analyses holds settings of {', '.join(analyses.NAMES)}, {example}."
        )
    for kind, keys in block.items():
        for key, value in (keys or {}).items():
            if key not in CHECKS or key not in _config_keys(kind):
                raise ConfigError(f"analyses.{kind}.{key} is not a setting of output_{kind}.py; {example}.")
            if value is not None:
                check(f"analyses.{kind}.{key}", value, *CHECKS[key])


@functools.cache
def _config_keys(name: str) -> tuple[str, ...]:
    return tuple(compose_config(ANALYSIS_CONFIG_DIR, name, []))


def compose_analysis(
    name: str,
    scale: str = "paper",
    task: str = "spatial_navigation",
    model: str = DEFAULT_MODEL,
    seed: int | None = None,
    **keys: Any,
) -> DictConfig:
    """reactivation/configs/analysis/<name>.yaml at ``scale`` for a model family, other keys set to these values.

    The values are assigned, not parsed as command-line overrides, so any path or list goes in as it is.

    Raises:
        ConfigError: a key that config does not have.
    """
    cfg = compose_config(ANALYSIS_CONFIG_DIR, name, [f"scale={scale}"])
    for key, value in {"task": task, "model": model, "seed": seed, **keys}.items():
        if key not in cfg.keys():  # (`in cfg` is False for a key whose value is ??? such as seed)
            raise ConfigError(f"{key!r} is not a key of reactivation/configs/analysis/{name}.yaml.")
        cfg[key] = value
    return cfg


def for_kind(s: Settings, kind: str) -> Settings:
    """The settings of the ``kind`` results that figures and reports made with ``s`` read.

    Keys shared by every analysis (common.yaml: epoch, noise, mode, path, train_overrides, device, ...) come from
    ``s``, the analysis's own sizes from ``s.cfg.analyses.<kind>`` where given there, else from the scale. An
    analysis that sets the quiescent noise itself (``takes_mode`` false in :mod:`reactivation.analyses`) gets no
    ``mode``: a figure command's ``mode=same`` reads the one temperature result there is.
    """
    own = ("seed", "task", "model", "scale", "sizes") + (("mode",) if not analyses.get(kind).takes_mode else ())
    shared = [k for k in _config_keys("common") if k not in own]
    keys = {k: s.cfg[k] for k in shared}
    if "analyses" in s.cfg and s.cfg.analyses.get(kind):
        keys.update({k: v for k, v in s.cfg.analyses[kind].items() if v is not None})
    return settings(compose_analysis(kind, s.cfg.scale, s.task, s.model, s.seed, **keys))
