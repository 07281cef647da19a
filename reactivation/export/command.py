"""``reactivation export``: its settings checked before any work (:func:`check_command`) and the export itself
(:func:`run`)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from reactivation import ConfigError, usage
from reactivation.analysis.lookup import find_run, noise_overrides
from reactivation.config import absolute, presets, resolved
from reactivation.config.analysis_keys import check, require
from reactivation.export.nwb import check_nwb_path, write_nwb
from reactivation.export.recording import KINDS, Recording, extra
from reactivation.export.rollout import QUIESCENT_STEPS, condition_of, rollout
from reactivation.loading import select_device
from reactivation.values import is_number, is_positive_int, show

#: What ``reactivation export`` writes (its ``format=``): NWB, which pynapple and every NWB tool read.
FORMATS = ("nwb",)


#: The arguments of an example command line, less ``seed=0``.
EXAMPLE = "config=spatial_navigation/noisy_unbiased out=recording.nwb"


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


#: What each key of reactivation/configs/analysis/export.yaml that the analyses do not have accepts (the shared
#: keys are checked by the analyses' own checks, :data:`reactivation.config.analysis_keys.KEYS`).
COMMAND_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "config": (
        lambda v: isinstance(v, str) and bool(v.strip()),
        "a training preset <task>/<preset>, e.g. config=spatial_navigation/noisy_unbiased",
    ),
    "out": (lambda v: isinstance(v, str) and bool(v.strip()), "the file to write, a name ending in .nwb"),
    "format": (lambda v: v in FORMATS, f"{' or '.join(FORMATS)}, the one format written (pynapple reads it)"),
    "kind": (lambda v: v in KINDS, f"one of {', '.join(KINDS)}"),
    "n_trajectories": (is_positive_int, "a positive integer (trajectories)"),
    "n_steps": (
        lambda v: v is None or is_positive_int(v),
        f"null ({QUIESCENT_STEPS} quiescent, or the run's task.sequence_length active) or a positive integer (steps)",
    ),
    "keep_hidden": (_is_bool, "true or false"),
    "keep_outputs": (_is_bool, "true or false"),
    "overwrite": (_is_bool, "true or false"),
}


def check_command(cfg: DictConfig) -> dict[str, Any]:
    """Check the composed config of ``reactivation export`` (reactivation/configs/analysis/export.yaml), every
    key, before any run is read or anything is written.

    Returns:
        The resolved values, with ``path`` and ``out`` absolute (the caller's directory) and a factor ``mode`` as
        the string :func:`rollout` takes.

    Raises:
        ConfigError: a missing ``config``, ``seed`` or ``out``; an unknown preset; a bad value; a key that this
            rollout would ignore (``mode`` of an active rollout, a ``noise`` that neither selects the run nor sets
            ``mode=absolute``); an ``out`` that is not a ``.nwb`` name, exists (without ``overwrite=true``) or
            cannot be written. The message names the key, the value and what is allowed.
        ReactivationError: an unknown or unavailable ``device``.
    """

    example = f"{usage.command('export')} {EXAMPLE} seed=0"
    if OmegaConf.is_missing(cfg, "seed"):
        raise ConfigError(f"seed is required: add seed=<integer>, e.g.\n  {example}")
    values = resolved(cfg)
    for key in ("config", "out"):
        if values[key] is None:
            raise ConfigError(f"{key} is required: add {key}=..., e.g.\n  {example}")
    typed = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=False))
    for key in ("seed", "epoch", "noise", "mode", "train_overrides", "path"):
        check(key, values[key], typed[key])
    for key, (test, allowed) in COMMAND_CHECKS.items():
        require(key, values[key], test, allowed, typed[key])
    names = presets()
    if values["config"] not in names:
        close = difflib.get_close_matches(values["config"], names, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ConfigError(
            f"unknown preset config={values['config']}.{hint} Available presets:\n  " + "\n  ".join(names)
        )
    if values["kind"] == "active" and values["mode"] is not None:
        raise ConfigError(
            f"mode={show(values['mode'])} sets the noise of a quiescent rollout, and kind=active runs with the trained "
            "noise: drop mode=, or export kind=quiescent."
        )
    condition = condition_of(values["config"]) or ""
    absolute_mode = values["kind"] == "quiescent" and values["mode"] == "absolute"
    if values["noise"] is not None and not (condition.startswith("noisy") or absolute_mode):
        raise ConfigError(
            f"noise={show(values['noise'])} would be ignored: it selects the run of a noisy preset (as in the "
            f"analyses) and sets the variance of mode=absolute, and config={values['config']} with "
            f"kind={values['kind']} mode={show(values['mode'])} uses neither. Drop noise=."
        )
    if is_number(values["mode"]):  # a factor c, as the string rollout takes (mode=2 and mode=2.0 are one setting)
        values["mode"] = show(float(values["mode"]))
    select_device(values["device"])
    root = absolute(values["path"])
    if root.exists() and not root.is_dir():
        raise ConfigError(f"path={values['path']}: {root} is a file, not a folder of training runs; choose a path=.")
    values["path"] = str(root)
    values["out"] = str(_writable_out(values["out"], values["overwrite"]))
    return values


def _writable_out(out: str, overwrite: bool) -> Path:
    """``out`` made absolute, checked to be a ``.nwb`` name that this user can write (and, unless ``overwrite``,
    that does not exist), so that a rollout is never computed only to fail at its write."""

    path = absolute(check_nwb_path(out, key="out"))
    if path.is_dir():
        raise ConfigError(f"out={out}: {path} is a folder; name the file to write, e.g. out={Path(out) / 'x.nwb'}.")
    if path.exists() and not overwrite:
        raise ConfigError(f"out={out}: {path} exists; choose another out=, or add overwrite=true to replace it.")
    existing = next(p for p in path.parents if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"out={out}: {existing} is a file, not a folder; choose another out=.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"out={out}: {existing} is not writable (read-only or not yours); choose another out=.")
    return path


def run(cfg: DictConfig) -> tuple[Path, Recording]:
    """What ``reactivation export`` does with its composed config: find the run, roll it out, write the file.

    The run is found as the analyses find theirs (:func:`reactivation.analysis.lookup.find_run`: the run that
    ``reactivation train config=<config> seed=<seed> <train_overrides>`` trains under ``path``, with ``scale`` and,
    for a noisy preset, ``noise``), so a missing or unfinished run is an error giving the command that trains it,
    and ``epoch=`` exports an intermediate checkpoint on purpose.

    Returns:
        ``(path, recording)``: the NWB file written (absolute) and the :class:`Recording` it holds.

    Raises:
        ConfigError: a bad value (:func:`check_command`), or ``train_overrides`` that make no training config.
        ReactivationError: no such run, an unfinished one, no checkpoint at ``epoch``, an unreadable run, or a
            missing extra.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    extra("pynapple")  # before the work, not after it
    extra("pynwb")
    values = check_command(cfg)
    preset, seed = values["config"], values["seed"]
    task = preset.split("/", 1)[0]
    overrides = list(values["train_overrides"])
    if values["scale"] != "paper":
        overrides.append(f"scale={values['scale']}")
    overrides += noise_overrides(task, condition_of(preset), values["noise"])  # as the analyses find theirs
    try:
        run_dir = find_run(Path(values["path"]), preset, seed, overrides, values["epoch"])
    except (HydraException, OmegaConfBaseException) as err:
        reason = " ".join(str(err).split())[:300]
        raise ConfigError(
            f"train_overrides={show(values['train_overrides'])} does not make a training config of "
            f"config={preset} ({reason}); give train.py overrides, e.g. 'train_overrides=[\"trainer.n_epochs=1000\"]'."
        ) from None
    recording = rollout(
        run_dir,
        values["kind"],
        n_trajectories=values["n_trajectories"],
        n_steps=values["n_steps"],
        mode=values["mode"],
        noise=None if values["noise"] is None else float(values["noise"]),
        step=values["epoch"],
        device=values["device"],
        keep_hidden=values["keep_hidden"],
        keep_outputs=values["keep_outputs"],
    )
    return write_nwb(recording, values["out"], overwrite=values["overwrite"]), recording
