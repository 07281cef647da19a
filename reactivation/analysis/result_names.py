"""The names of the analyses' result files, from the settings that made them: the settings a result records
(:func:`result_settings`), its file name (:func:`result_path`, with :func:`settings_tag` for settings other than the
scale's defaults), its ``.meta.json`` (:func:`meta_path`) and the command that writes it (:func:`analysis_command`).
Results of other settings never share a file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Any, cast

from omegaconf import OmegaConf

from reactivation import DEFAULT_MODEL, usage
from reactivation.analysis.settings import PRESET_NOISE, Settings, compose_analysis, settings
from reactivation.config import ANALYSIS_CONFIG_DIR, absolute, model_suffix
from reactivation.values import show

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


@functools.cache
def _default(kind: str, scale: str, task: str, model: str) -> Settings:
    """The settings of a ``kind`` analysis of a family with nothing but the scale given."""
    return settings(compose_analysis(kind, scale, task, model, seed=0))


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
    tag = settings_tag(s, kind)
    name = f"{kind}{model_suffix(s.model)}_{show(s.noise)}_{s.seed}{'_' + tag if tag else ''}.json"
    return Path(s.cfg.path) / s.task / name


def meta_path(path: Path) -> Path:
    """The ``.meta.json`` beside a result file."""
    return Path(path).with_suffix(".meta.json")


def analysis_command(s: Settings, kind: str) -> str:
    """The command that writes :func:`result_path` of ``s`` (``python output_<kind>.py ...`` or
    ``reactivation <kind> ...``: :func:`reactivation.usage.command`)."""
    args = [f"seed={s.seed}"] + ([] if s.cfg.scale == "paper" else [f"scale={s.cfg.scale}"])
    if absolute(s.cfg.path) != absolute(compose_analysis(kind, s.cfg.scale).path):  # the scale's root, from here
        args.append(f"path={s.cfg.path}")
    args += [] if s.task == _default_task() else [f"task={s.task}"]
    args += [] if s.model == DEFAULT_MODEL else [f"model={s.model}"]
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
    return str(OmegaConf.load(ANALYSIS_CONFIG_DIR / "common.yaml").task)
