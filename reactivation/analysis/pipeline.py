"""``python reproduce.py scale=small``: the whole paper from one command (SPEC §1 presets × seeds, §7-9).

1. **Train** every run that is missing or unfinished (finished runs are reused), as one Hydra multirun of
   ``train.py`` per group of presets, through the chosen launcher (local processes, SLURM, ...).
2. **Analyse** every seed of every model family: ``kl``, ``variance``, ``distance`` and ``manifold``; a result
   whose saved settings match is reused (``force=true`` recomputes).
3. **Draw** every figure of every family (``<path>/<task>/figures/``).
4. **Report** the claims of SPEC §9 with mean ± std over seeds in ``<path>/report.md``.
"""

from __future__ import annotations

import json
import logging
import platform
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch
from omegaconf import DictConfig, OmegaConf

from reactivation import ReactivationError, runs
from reactivation.analysis import claims, distance, kl, manifold, protocol, report, variance
from reactivation.config import ANALYSIS_CONFIG_DIR, TRAIN_CONFIG_DIR, compose_config
from reactivation.figures import make

log = logging.getLogger(__name__)

#: The analyses run for every seed, in order: kind -> (config name, function).
ANALYSES: dict[str, Callable[[protocol.Settings], dict]] = {
    "kl": kl.run, "variance": variance.run, "distance": distance.run, "manifold": manifold.run}
#: ``launcher=`` values: the ``hydra/launcher`` option of the training multirun (``None``: Hydra's basic one).
LAUNCHERS = {"basic": None, "local": "local", "slurm": "slurm", "slurm_local": "slurm_local"}
TRAIN_SCRIPT = TRAIN_CONFIG_DIR.parent.parent / "train.py"


STAGES = ("train", "analyse", "figures", "report")


def _check(cfg: DictConfig) -> tuple[list[int], list[str]]:
    seeds = list(cfg.seeds)
    if not seeds or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
        raise ReactivationError(f"seeds={seeds} must be a non-empty list of non-negative integers, e.g. seeds=[0,1,2].")
    families = list(cfg.families)
    unknown = [f for f in families if f not in claims.FAMILY_KEYS]
    if unknown or not families:
        raise ReactivationError(f"families={families}: choose among {', '.join(claims.FAMILY_KEYS)}.")
    unknown = [s for s in cfg.stages if s not in STAGES]
    if unknown:
        raise ReactivationError(f"stages={list(cfg.stages)}: unknown {unknown}; choose among {', '.join(STAGES)}.")
    if cfg.launcher not in LAUNCHERS:
        raise ReactivationError(f"launcher={cfg.launcher!r} is not known; choose one of {', '.join(LAUNCHERS)}.")
    return seeds, families


def _analysis_config(cfg: DictConfig, name: str, family: str, seed: int | None) -> DictConfig:
    task, model = claims.FAMILY_KEYS[family]
    overrides = [f"scale={cfg.scale}", f"path={cfg.path}", f"task={task}", f"model={model}",
                 f"device={cfg.device}", f"progress={str(bool(cfg.progress)).lower()}"]
    overrides.append(f"seed={seed}" if seed is not None else "seed=null")
    return compose_config(ANALYSIS_CONFIG_DIR, name, overrides)


def missing_runs(cfg: DictConfig, seeds: list[int], families: list[str]) -> dict[str, list[int]]:
    """``{preset: [seeds]}`` of the runs that are not trained to the end yet."""
    missing: dict[str, list[int]] = {}
    for family in families:
        s = protocol.settings(_analysis_config(cfg, "kl", family, seeds[0]))
        for condition, preset in s.conditions.items():
            for seed in seeds:
                try:
                    protocol.find_run(Path(cfg.path), preset, seed, protocol.run_overrides(s, condition), None)
                except ReactivationError:
                    missing.setdefault(preset, []).append(seed)
    return missing


def train_commands(cfg: DictConfig, missing: dict[str, list[int]]) -> list[list[str]]:
    """One ``train.py -m`` command per group of presets missing the same seeds."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for preset, seeds in missing.items():
        groups.setdefault(tuple(seeds), []).append(preset)
    launcher = LAUNCHERS[cfg.launcher]
    commands = []
    for seeds, presets in groups.items():
        command = [sys.executable, str(TRAIN_SCRIPT), "-m", f"config={','.join(presets)}",
                   f"seed={','.join(map(str, seeds))}", f"scale={cfg.scale}", f"path={cfg.path}",
                   f"device={cfg.device}", "trainer.progress=false"]
        command += [f"hydra/launcher={launcher}"] if launcher else []
        commands.append(command + [str(a) for a in cfg.train_args])
    return commands


def train(cfg: DictConfig, seeds: list[int], families: list[str]) -> int:
    """Train what is missing; returns the number of runs trained. Raises if any is still missing after."""
    missing = missing_runs(cfg, seeds, families)
    n = sum(len(v) for v in missing.values())
    if not n:
        log.info("every run is trained already; reusing them")
        return 0
    for command in train_commands(cfg, missing):
        log.info("training %s", shlex.join(command[1:]))
        done = subprocess.run(command, cwd=TRAIN_SCRIPT.parent, check=False)
        if done.returncode != 0:
            raise ReactivationError(f"training failed (exit {done.returncode}): {shlex.join(command)}\n"
                                    "Fix the cause shown above and run the same reproduce command again: "
                                    "finished runs are kept and unfinished ones resume.")
    still = missing_runs(cfg, seeds, families)
    if still:
        raise ReactivationError(f"runs still missing after training: {still}")
    return n


def _settings_of(s: protocol.Settings) -> dict:
    return {k: v for k, v in OmegaConf.to_container(s.cfg, resolve=True).items() if k != "progress"}


def _reusable(s: protocol.Settings, kind: str) -> dict | None:
    """The saved result of ``kind`` if it was computed with these very settings from runs that still exist."""
    path = protocol.result_path(s, kind)
    meta_path = path.with_suffix(".meta.json")
    if not (path.is_file() and meta_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("settings") != _settings_of(s) or not all(Path(p).is_dir() for p in meta.get("runs", {}).values()):
        return None
    return json.loads(path.read_text())


def analyse(cfg: DictConfig, seeds: list[int], families: list[str]) -> dict[int, dict[str, dict[str, dict]]]:
    """Run (or reuse) every analysis; returns ``{seed: {family: {kind: result}}}``."""
    results: dict[int, dict[str, dict[str, dict]]] = {seed: {} for seed in seeds}
    for family in families:
        for seed in seeds:
            for kind, run in ANALYSES.items():
                s = protocol.settings(_analysis_config(cfg, kind, family, seed))
                result = None if cfg.force else _reusable(s, kind)
                if result is None:
                    log.info("%s %s seed %d", kind, family, seed)
                    result = run(s)[kind]
                results[seed].setdefault(family, {})[kind] = result
    return results


def load_results(cfg: DictConfig, seeds: list[int], families: list[str]) -> dict[int, dict[str, dict[str, dict]]]:
    """The analysis results found on disk (whatever settings made them): ``{seed: {family: {kind: result}}}``."""
    results: dict[int, dict[str, dict[str, dict]]] = {seed: {} for seed in seeds}
    for family in families:
        for seed in seeds:
            for kind in ANALYSES:
                path = protocol.result_path(protocol.settings(_analysis_config(cfg, kind, family, seed)), kind)
                if path.is_file():
                    results[seed].setdefault(family, {})[kind] = json.loads(path.read_text())
    return results


def draw(cfg: DictConfig, seeds: list[int], families: list[str]) -> tuple[list[Path], list[str]]:
    """Every figure of every family; returns the written files and what the figures lacked."""
    written, missing = [], []
    for family in families:
        fcfg = _analysis_config(cfg, "figures", family, None)
        fcfg.seeds, fcfg.formats = list(seeds), list(cfg.formats)
        _, inv, files = make.write(fcfg)
        written += files
        missing += inv.missing
    return written, missing


def _run_infos(cfg: DictConfig, seeds: list[int], families: list[str],
               missing: list[str]) -> list[report.RunInfo]:
    infos = []
    for family in families:
        s = protocol.settings(_analysis_config(cfg, "kl", family, seeds[0]))
        for condition, preset in s.conditions.items():
            for seed in seeds:
                overrides = protocol.run_overrides(s, condition)
                try:
                    run_dir = protocol.find_run(Path(cfg.path), preset, seed, overrides, None)
                except ReactivationError:
                    missing.append(f"run {preset} seed {seed}: "
                                   + protocol.train_command(preset, seed, overrides, Path(cfg.path)))
                    continue
                test = json.loads((run_dir / "test_metrics.json").read_text())
                last = max(test, key=int)
                infos.append(report.RunInfo(family, condition, preset, seed, str(run_dir), int(last), test[last]))
    return infos


def _configuration(cfg: DictConfig, infos: list[report.RunInfo]) -> list[tuple[str, str]]:
    blocks = [("reproduce.py settings", OmegaConf.to_yaml(cfg, resolve=True))]
    shown = set()
    for info in infos:
        if info.preset not in shown:  # seeds of a preset differ only in `seed`
            shown.add(info.preset)
            blocks.append((f"training config of {info.preset} (seed {info.seed}; other seeds differ only in seed)",
                           Path(info.run_dir, runs.CONFIG_FILE).read_text()))
    return blocks


def run(cfg: DictConfig, argv: list[str] | None = None
        ) -> tuple[Path | None, dict[int, dict[str, dict[str, dict]]]]:
    """Run the stages of ``cfg`` (configs/analysis/reproduce.yaml) and write the report.

    Without the ``analyse`` stage the results found on disk are used; without ``report`` nothing is written.

    Returns:
        The report's path (``None`` without the report stage) and the results ``{seed: {family: {kind: ...}}}``.
    """
    seeds, families = _check(cfg)
    stages, root = set(cfg.stages), Path(cfg.path)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    trained = train(cfg, seeds, families) if "train" in stages else 0
    timings["training"] = time.perf_counter() - start
    start = time.perf_counter()
    results = analyse(cfg, seeds, families) if "analyse" in stages else load_results(cfg, seeds, families)
    timings["analyses"] = time.perf_counter() - start
    start = time.perf_counter()
    figures, missing = draw(cfg, seeds, families) if "figures" in stages else ([], [])
    timings["figures"] = time.perf_counter() - start
    if "report" not in stages:
        return None, results
    infos = _run_infos(cfg, seeds, families, missing)
    command = "python reproduce.py " + " ".join(argv if argv is not None else sys.argv[1:])
    header = [
        ("command", f"`{command.strip()}`"),
        ("scale", str(cfg.scale)), ("seeds", ", ".join(map(str, seeds))),
        ("families", ", ".join(families)),
        ("runs", f"{len(infos)} ({trained} trained by this call, the rest reused)"),
        ("time", ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items())),
        ("machine", f"{platform.node()}, {platform.processor() or platform.machine()}, "
                    f"{torch.get_num_threads()} torch threads, device {cfg.device}"),
        ("software", f"Python {platform.python_version()}, torch {torch.__version__}"),
        ("written", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    gathered = report.Gathered(results=results, runs=infos, header=header, missing=missing,
                               figures=[str(f.relative_to(root)) for f in figures if f.suffix == ".png"],
                               configuration=_configuration(cfg, infos))
    out = root / "report.md"
    runs.write_text_atomic(out, report.render(gathered, f"Reproduction report ({cfg.scale} scale)"))
    return out, results


def main_config(overrides: list[str]) -> DictConfig:
    """The pipeline config for these command-line overrides (for tests and notebooks)."""
    return compose_config(ANALYSIS_CONFIG_DIR, "reproduce", overrides)



def verdicts(results: dict[int, dict[str, dict[str, dict]]]) -> list[str]:
    """One line per claim: its number, title and verdict (for the command's closing message)."""
    words = {True: "held", False: "NOT held", None: "not evaluated"}
    lines = []
    for c in claims.claims():
        held = claims.claim_held([claims.evaluate(k, results) for k in c.criteria])
        lines.append(f"claim {c.number} ({c.title}): {words[held]}")
    return lines
