"""Checks of a composed training config's values, and of the results folder it names, before any work starts
(the task's and model's own values are checked by their builders).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from reactivation import ConfigError
from reactivation.precision import PRECISIONS
from reactivation.values import as_number, is_int, is_positive_int


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def validate(cfg: DictConfig) -> None:
    """Check the values of a composed training config.

    Raises:
        ConfigError: naming the key, the bad value and what is allowed.
    """
    _require(
        not OmegaConf.is_missing(cfg, "seed"),
        "seed is required: add seed=<integer> to the command line (seed=0 is a seed).",
    )
    seed = cfg.seed
    _require(is_int(seed) and seed >= 0, f"seed must be a non-negative integer, got {seed!r}.")
    # rnn.* values are checked by the model's constructor (also before any work starts).
    trainer, task = cfg.trainer, cfg.task
    for key in ("n_epochs", "test_freq", "save_freq", "decode_freq"):
        _require(is_positive_int(trainer[key]), f"trainer.{key}={trainer[key]!r} must be a positive integer.")
    _require(trainer.lr > 0, f"trainer.lr={as_number(trainer.lr)} must be > 0.")
    _require(trainer.weight_decay >= 0, f"trainer.weight_decay={as_number(trainer.weight_decay)} must be >= 0.")
    precision = trainer.matmul_precision  # a run older than the key reads with it (config.with_added_keys)
    _require(
        precision in PRECISIONS,
        f"trainer.matmul_precision={precision!r} is not a precision; choose one of {', '.join(PRECISIONS)}.",
    )
    _require(
        is_positive_int(task.get("batch_size")),
        f"task.batch_size={task.get('batch_size')!r} must be a positive integer.",
    )  # the trainer's, not the task's


def resolve_sizes(cfg: DictConfig, n_in: int, n_code: int) -> None:
    """Fill ``rnn.n_out`` / ``rnn.n_init`` (null = the task's cell count) and check sizes, in place.

    Args:
        cfg: the training config (modified in place).
        n_in: input dimension of the task.
        n_code: number of units of the task's population code.
    """
    fix = "leave it unset (null) to follow the task"
    _require(
        cfg.rnn.n_in == n_in,
        f"rnn.n_in={cfg.rnn.n_in} but the {cfg.task.name} task gives {n_in}-D inputs; set rnn.n_in={n_in}.",
    )
    for key in ("n_out", "n_init"):
        if cfg.rnn[key] is None:
            cfg.rnn[key] = n_code
        _require(
            cfg.rnn[key] == n_code,
            f"rnn.{key}={cfg.rnn[key]} does not match the task's {n_code} cells; set rnn.{key}={n_code} or {fix}.",
        )


def absolute(path: str | Path) -> Path:
    """``path`` against the current working directory (``~`` expanded, ``..`` folded, symlinks kept).

    Hydra 1.3 leaves the working directory alone here (``hydra.run.dir: .``), so a relative ``path=`` means the
    caller's directory; made absolute once, it means the same folder for every child process and message.
    """
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def results_root(path: Any) -> Path:
    """:func:`absolute` ``path``, checked to be a folder (or a place where one can be made) this user may write to.

    Raises:
        ConfigError: ``path`` or a folder above it is a file, or the folder is not writable.
    """
    target = absolute(path)
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"path={path}: {existing} is a file, not a folder; choose another path=.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"path={path}: {existing} is not writable (read-only or not yours); choose another path=.")
    return target
