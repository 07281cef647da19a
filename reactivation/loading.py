"""A run's objects: build a task and model from a config, or load a trained run from its directory (docs/spec.md §4-5).

Below training and the analyses, both of which start from a :class:`Setup`: training builds one and trains it,
the analyses and figures load one (:func:`load_run`) and simulate it. :func:`select_device` resolves ``device=``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from omegaconf import DictConfig, OmegaConf

from reactivation import ConfigError, ReactivationError, loggers, precision, runs
from reactivation.config import RUNTIME_KEYS, resolve_sizes, validate, with_added_keys
from reactivation.models import NoisyRecurrentBase, build_model
from reactivation.seeding import generator
from reactivation.tasks import build_task
from reactivation.tasks.base import CodedTask

#: What every checkpoint holds (a training run's ``resume.pt`` adds its optimizer and random streams).
CHECKPOINT_KEYS = ("step", "model", "task", "config")
#: Keys a run's recorded config adds to its training config: the preset it was made from and, for a run trained
#: in an ensemble, that ensemble (``reactivation.training.train_ensemble``).
RECORD_KEYS = ("preset", "ensemble")


@dataclass
class Setup:
    """Everything a run is built from, for training and for loading a trained run."""

    config: DictConfig  # resolved (sizes filled in)
    task: CodedTask
    model: NoisyRecurrentBase
    device: torch.device


def select_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise the named device (checked).

    Raises:
        ConfigError: a name torch does not know, or CUDA asked for where there is none (a bad setting, like any
            other caught before work starts).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"device={name!r} is not a device name; use auto, cpu or cuda.") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name} was asked for but CUDA is not available here; use device=cpu.")
    return device


def build(cfg: DictConfig, train: bool = True) -> Setup:
    """Validate ``cfg`` and build its task (with freshly drawn centres) and initialised model.

    The centres and initial weights depend only on ``cfg.seed`` (their own streams, drawn on CPU), so a
    run's starting point is the same on every device.

    Args:
        cfg: a composed training config.
        train: the setup is for training, so ``trainer.matmul_precision`` must run on the device. False for a
            trained run read back (:func:`load_run`): its analyses run at their own ``matmul_precision``.
    """
    validate(cfg)
    cfg = cfg.copy()
    device = select_device(cfg.device)
    if train:
        precision.check(cfg.trainer.matmul_precision, device)  # before any work, on the device
        loggers.check(cfg)  # its package installed
    task = build_task(cfg.task, generator(cfg.seed, "centres"))
    resolve_sizes(cfg, task.n_in, task.n_code)
    model = build_model(cfg.rnn, generator(cfg.seed, "init"))
    return Setup(cfg, task.to(device), model.to(device), device)


def load_run(run_dir: Path | str, step: int | None = None, device: str = "auto") -> Setup:
    """Rebuild a trained run from its directory: config, task (with its centres) and model weights.

    Args:
        run_dir: a run directory written by :func:`train`.
        step: the checkpoint step (default: the last one).
        device: where to put task and model (``auto``: CUDA when available).

    Raises:
        ReactivationError: no config, no checkpoint at ``step``, or an unreadable checkpoint.
    """
    run_dir = Path(run_dir)
    config = with_added_keys(runs.load_config(run_dir))  # an older run's config reads as the one it was trained with
    saved = runs.saved_checkpoints(run_dir)
    steps = list(saved)
    if not steps:
        raise ReactivationError(f"{run_dir} has no checkpoints; train it first.")
    step = steps[-1] if step is None else step
    if step not in steps:
        raise ReactivationError(f"{run_dir} has no checkpoint at step {step}; available steps: {steps}.")
    cfg = OmegaConf.create({k: v for k, v in config.items() if k not in RECORD_KEYS})
    cfg.device = device
    # Its analyses run at their own matmul_precision, so a bf16 (or tf32) run reads back where it could not train.
    setup = build(cfg, train=False)
    path = saved[step]
    # Only the final step is kept twice (resume.pt holds it too), so only it can be rewritten without retraining.
    if step == cfg.trainer.n_epochs:
        fix = (
            f"run the training command of {run_dir} again{runs.command_hint(run_dir)}: a finished run rewrites "
            f"its final checkpoint from {runs.RESUME_FILE}, without retraining; or analyse another epoch="
        )
    else:
        fix = "analyse another epoch= (resume=false would retrain the whole run to write this one again)"
    state = runs.load_checkpoint(path, map_location=setup.device, keys=CHECKPOINT_KEYS, fix=fix)
    if comparable(state["config"]) != comparable(config):
        raise ReactivationError(
            f"checkpoint {path} was written by another run than the one described by "
            f"{run_dir / runs.CONFIG_FILE} (preset {state['config'].get('preset')!r}, seed "
            f"{state['config'].get('seed')!r}); it was copied or moved there. To fix it, {fix}."
        )
    require_finite_weights(state, path, fix)
    setup.model.load_state_dict(state["model"])
    setup.task.load_state_dict(state["task"])
    setup.model.eval()
    return setup


def require_finite_weights(state: dict[str, Any], path: Path, fix: str) -> None:
    bad = [name for name, t in state["model"].items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise ReactivationError(
            f"checkpoint {path} holds non-finite weights ({', '.join(bad)}): it records a "
            f"diverged run. To fix it, {fix}."
        )


def comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A run's recorded config without the keys that do not change what is trained (``RUNTIME_KEYS``, and the
    ensemble it was trained in: a member is the run trained alone), and with the keys added since it was saved
    (``ADDED_KEYS``)."""
    flat = OmegaConf.create(with_added_keys({k: v for k, v in config.items() if k != "ensemble"}))
    for key in RUNTIME_KEYS:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(flat, parent) if parent else flat
        if node is not None and leaf in node:
            del node[leaf]
    return cast(dict[str, Any], OmegaConf.to_container(flat))  # made from a str-keyed dict: one again
