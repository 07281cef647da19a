"""The checked settings of an analysis (docs/spec.md §6-7): what an analysis or figure config selects, and its checks.

A config names a task and model family (:data:`FAMILIES` gives its conditions and their training presets), the
analysis seed, the noise and its quiescence mode, and the sizes of the analysis; :func:`settings` checks every
value before any run is read and resolves the defaults, so a bad value stops a command before it does any work,
with a message naming the key, the value and what is allowed.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from reactivation import DEFAULT_MODEL, ConfigError, analyses, precision, usage
from reactivation.config import ANALYSIS_CONFIG_DIR, compose_config, families, resolved, results_root
from reactivation.config.analysis_keys import ANALYSES_BLOCK, KEYS, PRESET_NOISE, check, not_allowed
from reactivation.config.analysis_schema import file_keys
from reactivation.loading import select_device
from reactivation.models import MODELS
from reactivation.values import is_number, show

#: Conditions of each (task, model family): condition -> training preset (found in reactivation/configs/train/config/).
FAMILIES: dict[tuple[str, str], dict[str, str]] = families()


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


def settings(cfg: DictConfig) -> Settings:
    """Check an analysis (or figure) config, every key at once, and resolve its defaults.

    Every value is checked against its key's test in :data:`reactivation.config.analysis_keys.KEYS` (and
    ``device`` against the machine) before any run is read, so a bad value stops the command before it does any
    work. (A figure config's ``formats`` is checked by the figures, which know matplotlib's formats.)

    Raises:
        ConfigError: a missing seed, an unknown task or model family, or a bad value; the message names the key,
            the value and what is allowed.
    """
    if OmegaConf.is_missing(cfg, "seed"):
        raise ConfigError(f"seed is required: add seed=<integer>, e.g. `{usage.command('kl')} seed=0`.")
    typed = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=False))
    # Resolved without the schema, so that what an interpolation gives is refused by its key's own message.
    values = resolved(OmegaConf.create(typed))
    for key in (k for k in KEYS if k in values):  # table order: of two bad values, always the same one is named
        check(key, values[key], typed[key])
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
    if (
        not isinstance(block, dict)
        or set(block) - set(analyses.NAMES)
        or not all(v is None or isinstance(v, dict) for v in block.values())
    ):
        raise not_allowed("analyses", block)
    for kind, keys in block.items():
        for key, value in (keys or {}).items():
            if key not in file_keys(kind):
                raise ConfigError(f"analyses.{kind}.{key} is not a setting of output_{kind}.py: {ANALYSES_BLOCK}.")
            if value is not None:
                check(key, value, entry=f"analyses.{kind}.{key}")


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
        ConfigError: a key that config does not have, or a value its schema refuses.
    """
    cfg = copy.deepcopy(_scale_config(name, scale))
    for key, value in {"task": task, "model": model, "seed": seed, **keys}.items():
        if key not in cfg.keys():  # (`in cfg` is False for a key whose value is ??? such as seed)
            raise ConfigError(
                f"{key!r} is not a key of reactivation/configs/analysis/{name}.yaml; its keys: {', '.join(cfg)}."
            )
        _assign(cfg, key, value)
    return cfg


@functools.lru_cache(maxsize=64)
def _scale_config(name: str, scale: str) -> DictConfig:
    """reactivation/configs/analysis/<name>.yaml composed at ``scale``, once per process (callers take a copy)."""
    return compose_config(ANALYSIS_CONFIG_DIR, name, [f"scale={scale}"])


def _assign(cfg: DictConfig, key: str, value: Any) -> None:
    """``cfg[key] = value`` (a tuple as a list); a value the schema refuses is said as its key's check says it."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        if isinstance(value, dict):  # onto its schema (the analyses block): the kinds not given stay null
            cfg[key] = OmegaConf.merge(cfg[key], value)
        else:
            cfg[key] = list(value) if isinstance(value, tuple) else value
    except OmegaConfBaseException:
        if key == "analyses":
            check_analyses(value)  # names the kind or the setting of the block that is wrong
        raise not_allowed(key, value) from None


def for_kind(s: Settings, kind: str) -> Settings:
    """The settings of the ``kind`` results that figures and reports made with ``s`` read.

    Keys shared by every analysis (common.yaml: epoch, noise, mode, path, train_overrides, device, ...) come from
    ``s``, the analysis's own sizes from ``s.cfg.analyses.<kind>`` where given there, else from the scale. An
    analysis that sets the quiescent noise itself (``takes_mode`` false in :mod:`reactivation.analyses`) gets no
    ``mode``: a figure command's ``mode=same`` reads the one temperature result there is.
    """
    own = ("seed", "task", "model", "scale", "sizes") + (("mode",) if not analyses.get(kind).takes_mode else ())
    shared = [k for k in file_keys("common") if k not in own]
    keys = {k: s.cfg[k] for k in shared}
    if "analyses" in s.cfg and s.cfg.analyses.get(kind):
        keys.update({k: v for k, v in s.cfg.analyses[kind].items() if v is not None})
    return settings(compose_analysis(kind, s.cfg.scale, s.task, s.model, s.seed, **keys))
