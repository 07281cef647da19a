"""The training stage of ``reactivation reproduce``: the runs that are missing, and one ``reactivation train -m``
multirun per group of presets that makes them, through the chosen launcher."""

from __future__ import annotations

import logging
import re
import shlex
import sys

from omegaconf import DictConfig

from reactivation import ReactivationError
from reactivation.analysis import lookup
from reactivation.analysis.settings import settings
from reactivation.config import absolute
from reactivation.loading import select_device
from reactivation.processes import run_child
from reactivation.reproduction.configs import analysis_config

log = logging.getLogger(__name__)

#: ``launcher=`` values: the ``hydra/launcher`` option of the training multirun (``None``: Hydra's basic one);
#: ``auto`` is resolved by :func:`launcher`.
LAUNCHERS = {
    "auto": None,
    "basic": None,
    "local": "local",
    "ensemble": "ensemble",
    "slurm": "slurm",
    "slurm_local": "slurm_local",
}


def missing_runs(cfg: DictConfig, seeds: list[int], families: list[str]) -> dict[str, list[int]]:
    """``{preset: [seeds]}`` of the runs that are not trained to the end yet."""
    missing: dict[str, list[int]] = {}
    for family in families:
        s = settings(analysis_config(cfg, "kl", family, seeds[0]))
        for condition, by_seed in lookup.family_runs(s, seeds).items():
            for seed, run_dir in by_seed.items():
                if isinstance(run_dir, ReactivationError):
                    missing.setdefault(s.conditions[condition], []).append(seed)
    return missing


def launcher(cfg: DictConfig) -> tuple[str, str]:
    """The launcher the training runs use, and why.

    ``auto`` trains as ensembles (``hydra/launcher=ensemble``) on CUDA, where one stacked computation replaces
    many launch-bound small ones, and as parallel single runs (``local``) on a CPU, where ensembles measured no
    gain: 0.70-0.98x the throughput of separate runs for SN and the GRU, 0.79-1.34x for HD
    (benchmarks/results/vm-ensemble.md, docs/speed.md "Many runs").
    """
    if cfg.launcher != "auto":
        return cfg.launcher, "as asked (launcher=" + cfg.launcher + ")"
    if select_device(cfg.device).type == "cuda":
        return "ensemble", "launcher=auto on CUDA: runs that share shapes train as one ensemble"
    return "local", (
        "launcher=auto on CPU: parallel single runs, since ensembles measured no gain on CPU "
        "(benchmarks/results/vm-ensemble.md); launcher=ensemble forces them"
    )


def train_commands(cfg: DictConfig, missing: dict[str, list[int]]) -> list[list[str]]:
    """One ``reactivation train -m`` command per group of presets missing the same seeds.

    The command runs the installed package (``python -m reactivation train``), so it needs no checkout.
    """
    groups: dict[tuple[int, ...], list[str]] = {}
    for preset, seeds in missing.items():
        groups.setdefault(tuple(seeds), []).append(preset)
    option = LAUNCHERS[launcher(cfg)[0]]
    commands = []
    for group_seeds, presets in groups.items():
        command = [
            sys.executable,
            "-m",
            "reactivation",
            "train",
            "-m",
            f"config={','.join(presets)}",
            f"seed={','.join(map(str, group_seeds))}",
            f"scale={cfg.scale}",
            f"path={_quoted(str(absolute(cfg.path)))}",
            f"device={cfg.device}",
            "trainer.progress=false",
        ]
        command += [f"hydra/launcher={option}"] if option else []
        commands.append(command + [*map(str, cfg.train_overrides), *map(str, cfg.train_args)])
    return commands


def _quoted(value: str) -> str:
    """``value`` as a Hydra override value that stays one string (a comma would make a multirun sweep)."""
    if re.fullmatch(r"[\w./@:+~-]+", value):
        return value
    return "'" + value.replace("'", "\\'").replace("${", "\\${") + "'"


def train(cfg: DictConfig, seeds: list[int], families: list[str]) -> int:
    """Train what is missing; returns the number of runs trained. Raises if any is still missing after."""
    missing = missing_runs(cfg, seeds, families)
    n = sum(len(v) for v in missing.values())
    if not n:
        log.info("every run is trained already; reusing them")
        return 0
    log.info("training %d run(s) with the %s launcher: %s", n, *launcher(cfg))
    for command in train_commands(cfg, missing):
        log.info("training %s", shlex.join(command[1:]))
        # In the caller's working directory (train_args may name files relative to it; path is absolute), in
        # its own process group, stopped with us on Ctrl-C or SIGTERM.
        code = run_child(command)
        if code != 0:
            raise ReactivationError(
                f"training failed (exit {code}): {shlex.join(command)}\n"
                "Fix the cause shown above and run the same reproduce command again: "
                "finished runs are kept and unfinished ones resume."
            )
    still = missing_runs(cfg, seeds, families)
    if still:
        raise ReactivationError(f"runs still missing after training: {still}")
    return n
