"""The analysis and figure configs' keys (reactivation/configs/analysis/): the type of each, the range each must lie
in, and the words a refusal uses.

:data:`KEYS` is the one table: key -> :class:`Key`. :mod:`reactivation.config.analysis_schema` types each config
from it; :func:`check` refuses a value outside a key's range as every check says it: ``batch_size=0 is not allowed:
batch_size must be a positive integer (trajectories).``

A key's ``test`` checks the value itself, type included: it also checks values the schema does not type, those of an
interpolation (``batch_size=${oc.env:N}``) and the ``analyses`` block of the reproduce config.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reactivation import ConfigError, analyses
from reactivation.config.presets import families, preset_noise
from reactivation.modes import NOISE_MODES, noise_factor
from reactivation.values import as_typed, is_int, is_number, is_positive_int, show


@dataclass(frozen=True)
class Key:
    """One key: ``type`` (the schema's, as a dataclass field's annotation), ``test`` (whether a value is allowed)
    and ``allowed`` (what is, for the message: "``<key>`` must be <allowed>")."""

    type: Any
    test: Callable[[Any], bool]
    allowed: str


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


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


#: Variance of the noisy presets per task (the default of the analyses' ``noise``;
#: reactivation/configs/train/noise/<task>/).
PRESET_NOISE: dict[str, float] = {task: preset_noise(task) for task, _ in families()}

#: Every key of the analysis and figure configs. Keys whose ``test`` accepts any string are checked where their
#: meaning is known (task and model: by the families; device: by the machine; formats: by matplotlib).
KEYS: dict[str, Key] = {
    "seed": Key(int | None, _non_negative, "a non-negative integer (seed=0 is a seed)"),
    "seeds": Key(
        list[int] | None,
        lambda v: v is None or (isinstance(v, list) and bool(v) and all(map(_non_negative, v))),
        "null (every seed found) or a non-empty list of non-negative integers, e.g. seeds=[0,1,2]",
    ),
    "task": Key(str, _is_string, "a task with presets"),
    "model": Key(str, _is_string, "a model family with presets"),
    "scale": Key(str, _is_string, "paper, small or tiny"),
    "no_noise_seed": Key(
        int | None,
        lambda v: v is None or _non_negative(v),
        "null (the analysis seed) or the seed of the noise-free conditions' runs, an integer >= 0, e.g. "
        "no_noise_seed=0",
    ),
    "epoch": Key(
        int | None,
        lambda v: v is None or _non_negative(v),
        "null (the last checkpoint) or the step of a saved checkpoint, an integer >= 0",
    ),
    "noise": Key(
        float | None,
        lambda v: v is None or (is_number(v) and math.isfinite(v) and v >= 0),
        "null (the preset's: "
        + ", ".join(f"{_power(v)} {t}" for t, v in PRESET_NOISE.items())
        + ") or a finite variance >= 0",
    ),
    # A mode is a name or a number: typed by its test (OmegaConf 2.3 has no union of the two).
    "mode": Key(
        Any,
        lambda v: v is None or _is_mode(v),
        f"null (scaled for vanilla RNNs, same for GRUs), one of {', '.join(NOISE_MODES)}, or a factor c >= 0 "
        "of the trained noise (σ_q = c·σ_rec; scaled is √2, same is 1), e.g. mode=0.5",
    ),
    "batch_size": Key(int, is_positive_int, "a positive integer (trajectories)"),
    "t_quiescent": Key(int, is_positive_int, "a positive integer (quiescent steps)"),
    "n_samples": Key(int, is_positive_int, "a positive integer (Monte Carlo samples)"),
    "n_components": Key(int, is_positive_int, "a positive integer (principal components)"),
    "t_shift": Key(int, _non_negative, "an integer >= 0 (quiescent steps dropped at the start)"),
    "ring": Key(
        list[float],
        _is_ring,
        "[inner, outer]: two finite radii in m with 0 <= inner <= outer, e.g. ring=[0.2,0.45]",
    ),
    "ratio_clip": Key(
        list[float] | None,
        lambda v: v is None or (_is_ring(v) and 0 < v[0] < v[1]),  # _is_ring: two finite numbers, in order
        "null (unclipped) or [low, high]: the bounds of each density ratio in the KL estimate, two finite numbers "
        "with 0 < low < high, e.g. ratio_clip=[1e-7,1e7] (the published code's)",
    ),
    "train_overrides": Key(
        list[str],
        lambda v: isinstance(v, list) and all(isinstance(o, str) for o in v),
        "a list of train.py overrides, e.g. 'train_overrides=[\"trainer.n_epochs=1000\"]'",
    ),
    "path": Key(str, lambda v: isinstance(v, str) and bool(v.strip()), "a folder (a non-empty string)"),
    "device": Key(str, _is_string, "auto, cpu, cuda or cuda:N"),
    "progress": Key(bool, lambda v: isinstance(v, bool), "true or false"),
    "matmul_precision": Key(str, _is_string, "float32, bf16 or tf32"),
    # auto or a boolean: typed by its test, like mode.
    "batch_models": Key(Any, lambda v: v == "auto" or isinstance(v, bool), "auto (batched on CUDA), true or false"),
    "n_states": Key(int, is_positive_int, "a positive integer (states in the KDE)"),
    "n_queries": Key(int, is_positive_int, "a positive integer (states where drift and score are compared)"),
    "n_pca": Key(int, is_positive_int, "a positive integer (states the drift's principal components are fitted on)"),
    "bandwidth": Key(
        float | None,
        lambda v: v is None or (is_number(v) and math.isfinite(v) and v > 0),
        "null (Scott's rule) or a factor > 0 of Scott's kernel width, e.g. bandwidth=2",
    ),
    "queries": Key(
        str,
        lambda v: v in ("awake", "settled"),
        "awake (the noisy active states) or settled (the states of the second half of settle_steps quiescent steps)",
    ),
    "settle_steps": Key(int, lambda v: is_positive_int(v) and v >= 2, "an integer >= 2 (quiescent steps)"),
    "fit_lag": Key(int, is_positive_int, "a positive integer (steps: the longest lag of the MSD exponent's fit)"),
    "max_lag": Key(int, is_positive_int, "a positive integer (steps: the longest lag of the step autocorrelation)"),
    "factors": Key(
        list[float],
        lambda v: isinstance(v, list) and bool(v) and len(set(v)) == len(v) and all(_is_factor(c) for c in v),
        "a non-empty list of distinct noise factors c >= 0 (σ_q = c·σ_rec), e.g. factors=[0,1,1.4142135623730951,2]",
    ),
    "n_events": Key(int, is_positive_int, "a positive integer (trajectories classified per phase)"),
    "peak_rate": Key(float, _is_positive, "a finite rate > 0 in Hz, e.g. peak_rate=20"),
    "bin_steps": Key(int, is_positive_int, "a positive integer (network steps per time bin)"),
    "place_bins": Key(
        int, lambda v: is_int(v) and v >= 2, "an integer >= 2 (bins along the space's longest coordinate)"
    ),
    "movement_var": Key(
        float | None,
        lambda v: v is None or _is_positive(v),
        "null (the active phase's) or a finite variance > 0 per coordinate and time bin, in m² or rad²",
    ),
    "dwell": Key(float, _is_positive, "a finite time > 0 in seconds (expected time in one dynamic), e.g. dwell=0.5"),
    "threshold": Key(
        float,
        lambda v: is_number(v) and 0.5 <= v < 1,
        "a probability in [0.5, 1) (a time bin is one dynamic above it), e.g. threshold=0.8",
    ),
    # Checked by the figures, which know matplotlib's formats (a list, or one name).
    "formats": Key(Any, lambda v: True, "a non-empty list of file formats"),
}


def require(entry: str, value: Any, test: Callable[[Any], bool], allowed: str, typed: Any = None) -> None:
    """Raise ConfigError ``<entry>=<value> is not allowed: <entry> must be <allowed>.`` unless ``test(value)``.

    ``typed``: the value as given, when it was an interpolation (``${oc.env:HOME}``), shown beside what it gave.
    """
    if not test(value):
        raise _refused(entry, value, allowed, typed)


def check(key: str, value: Any, typed: Any = None, entry: str | None = None) -> None:
    """:func:`require` with the test and words of ``KEYS[key]``; ``entry``: the key as the message names it, where
    it differs (``analyses.kl.n_samples``)."""
    require(entry or key, value, KEYS[key].test, KEYS[key].allowed, typed)


def not_allowed(entry: str, value: Any) -> ConfigError:
    """The refusal of a value the schema did not take: ``entry`` is a key of :data:`KEYS`, a dotted path ending in
    one (``analyses.kl.n_samples``), or the ``analyses`` block or one of its kinds (``analyses.kl``)."""
    key = entry.rsplit(".", 1)[-1]
    return _refused(entry, value, KEYS[key].allowed if key in KEYS else ANALYSES_BLOCK)


#: What an ``analyses`` block holds (analyses.yaml).
ANALYSES_BLOCK = (
    f"the settings of the analyses {', '.join(analyses.NAMES)}, each null (the analysis default) or a value, e.g. "
    "analyses.kl.n_samples=1000"
)


def _refused(entry: str, value: Any, allowed: str, typed: Any = None) -> ConfigError:
    return ConfigError(f"{entry}={as_typed(show(value), typed)} is not allowed: {entry} must be {allowed}.")
