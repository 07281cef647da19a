"""The evidence store: networks trained to the end of their schedule, kept with everything that shows how.

A store is a results root (``path=<store>`` works for every analysis and figure) that holds only finished runs,
each laid out as its training run was, less what only training needs::

    <store>/<preset>/[<overrides>/]seed_<seed>/
        config.yaml          the resolved training config, as training wrote it
        metrics.jsonl        the whole metrics log (every training step, every test)
        test_metrics.json    the test summaries (what the analyses' reports read)
        final_weights.pt     the final weights and cell centres (no optimizer state, no step checkpoints)
        trajectory.json      test error and quiescent step statistics measured along training
        manifest.json        command, commit, torch version, machine, wall time
    <store>/<task>/...json   the analyses of the store's networks (written by the analysis commands)

An entry is written into a temporary folder and renamed into place, so an interrupted copy never leaves a
half-entry, and only a run whose final checkpoint exists is ever copied: nothing half-trained enters the store.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from reactivation import ReactivationError, runs
from reactivation.analysis import lookup
from reactivation.analysis.claims import FAMILY_KEYS
from reactivation.analysis.settings import compose_analysis, settings
from reactivation.loading import CHECKPOINT_KEYS

MANIFEST = "manifest.json"
TRAJECTORY = "trajectory.json"
#: Files of a run that an entry keeps, besides its final checkpoint.
KEPT = (runs.CONFIG_FILE, runs.METRICS_LOG, "test_metrics.json")
#: Keys every manifest has.
MANIFEST_KEYS = ("preset", "seed", "overrides", "command", "commit", "torch", "python", "machine", "train_wall_s")
#: The most the final checkpoints of a store may weigh together (it is committed to the repository).
MAX_WEIGHTS_BYTES = 60 * 2**20
#: A pause between two checkpoints longer than this is a stop between stretches of work, not training time.
_BREAK_S = 3600.0


@dataclass(frozen=True)
class Entry:
    """One network of a store: its folder, training config and manifest."""

    path: Path
    config: dict[str, Any]
    manifest: dict[str, Any]

    @property
    def steps(self) -> int:
        """The network's full schedule, optimizer steps."""
        return int(self.config["trainer"]["n_epochs"])

    @property
    def trajectory(self) -> dict[str, Any]:
        """``{"every": steps, "steps": {"<step>": {statistic: value}}}`` (empty when not measured)."""
        path = self.path / TRAJECTORY
        return json.loads(path.read_text()) if path.is_file() else {}


def final_step(run_dir: Path) -> int | None:
    """The final step of a run if its final checkpoint exists, else ``None`` (not finished)."""
    config = runs.load_config(run_dir)
    n_steps = int(config["trainer"]["n_epochs"])
    return n_steps if runs.checkpoint_path(run_dir, n_steps).is_file() else None


def train_wall_seconds(run_dir: Path) -> float:
    """Training wall time of a run, s, read off the times its checkpoints were written.

    The sum of the gaps between successive files (``config.yaml``, then each step checkpoint), leaving out gaps
    longer than an hour: those are stops between stretches of work (a resumed run recomputes from its last
    checkpoint, and that time falls in the gap after the stop).
    """
    files = [Path(run_dir) / runs.CONFIG_FILE]
    files += [runs.checkpoint_path(run_dir, s) for s in runs.checkpoint_steps(run_dir)]
    times = sorted(f.stat().st_mtime for f in files if f.is_file())
    return float(sum(b - a for a, b in zip(times, times[1:]) if b - a < _BREAK_S))


def machine() -> dict[str, Any]:
    """The machine this process runs on, as a manifest records it."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # not Linux
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "os": platform.platform(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def commit() -> str:
    """The git commit of the package's checkout (``+dirty`` with uncommitted changes), or ``unknown``."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True,
            timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def entry_dir(store: Path, root: Path, run_dir: Path) -> Path:
    """Where the run ``run_dir`` of the campaign root ``root`` goes in ``store`` (the same relative path)."""
    return Path(store) / Path(run_dir).resolve().relative_to(Path(root).resolve())


def add(run_dir: Path, root: Path, store: Path, trajectory: dict[str, Any], manifest: dict[str, Any]) -> Entry:
    """Copy a finished run into the store (replacing an older entry of it) and return the entry.

    Args:
        run_dir: the run directory, under ``root``.
        root: the campaign's results root (the entry keeps the run's path relative to it).
        store: the store's folder.
        trajectory: what :attr:`Entry.trajectory` returns.
        manifest: the manifest, less ``train_wall_s``, ``commit``, ``torch``, ``python`` and ``machine``
            (filled in here).

    Raises:
        ReactivationError: the run is not finished.
    """
    step = final_step(run_dir)
    if step is None:
        raise ReactivationError(f"{run_dir} is not trained to the end: only finished runs enter the store.")
    dest = entry_dir(store, root, run_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    full = {
        **manifest,
        "commit": commit(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "machine": machine(),
        "train_wall_s": round(train_wall_seconds(run_dir), 1),
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name in KEPT:
            shutil.copy2(Path(run_dir) / name, tmp / name)
        shutil.copy2(runs.checkpoint_path(run_dir, step), tmp / runs.FINAL_WEIGHTS)
        (tmp / TRAJECTORY).write_text(json.dumps(trajectory, indent=1, sort_keys=True) + "\n")
        (tmp / MANIFEST).write_text(json.dumps(full, indent=1) + "\n")
        os.chmod(tmp, 0o755)
        if dest.exists():  # a re-measured entry: the old one goes only once the new one is complete
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old)
        else:
            os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return read_entry(dest)


def read_entry(path: Path) -> Entry:
    """The entry in ``path`` (its config and manifest read)."""
    manifest_path = Path(path) / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ReactivationError(f"{manifest_path} is missing or unreadable: {path} is not a store entry.") from err
    return Entry(Path(path), runs.load_config(path), manifest)


def entries(store: Path) -> list[Entry]:
    """Every entry of the store, sorted by preset, overrides and seed."""
    found = [read_entry(p.parent) for p in sorted(Path(store).rglob(MANIFEST)) if not p.parent.name.startswith(".")]
    return sorted(found, key=lambda e: (e.manifest["preset"], e.manifest["overrides"], e.manifest["seed"]))


def problems(store: Path) -> list[str]:
    """What is wrong with a store's format, one line each (empty: the store is sound).

    Each entry must hold its files, a manifest with every key that agrees with its config, its final weights
    (readable, of the final step) and no other checkpoint; the final weights of all entries together must stay under
    :data:`MAX_WEIGHTS_BYTES`.
    """
    found: list[str] = []
    weights = 0
    for path in sorted(p.parent for p in Path(store).rglob(MANIFEST)):
        try:
            entry = read_entry(path)
        except ReactivationError as err:
            found.append(str(err))
            continue
        missing = [n for n in (*KEPT, TRAJECTORY) if not (path / n).is_file()]
        missing += [f"manifest key {k!r}" for k in MANIFEST_KEYS if k not in entry.manifest]
        if missing:
            found.append(f"{path}: lacks {', '.join(missing)}")
            continue
        if (entry.manifest["preset"], entry.manifest["seed"]) != (entry.config.get("preset"), entry.config["seed"]):
            found.append(f"{path}: the manifest's preset and seed differ from config.yaml's")
        others = sorted(str(p.relative_to(path)) for p in path.rglob("*.pt") if p.name != runs.FINAL_WEIGHTS)
        if others:
            found.append(f"{path}: holds {', '.join(others)}; an entry keeps only its {runs.FINAL_WEIGHTS}")
            continue
        final = path / runs.FINAL_WEIGHTS
        if not final.is_file():
            found.append(f"{path}: lacks {runs.FINAL_WEIGHTS}")
            continue
        weights += final.stat().st_size
        try:
            state = runs.load_checkpoint(final, keys=CHECKPOINT_KEYS, fix="copy the run into the store again")
        except ReactivationError as err:
            found.append(str(err))
            continue
        if state["step"] != entry.steps:
            found.append(f"{final}: holds step {state['step']}, not the final step {entry.steps}")
    if weights > MAX_WEIGHTS_BYTES:
        found.append(f"{store}: the final checkpoints weigh {weights / 2**20:.1f} MiB, over the 60 MiB allowed")
    return found


@dataclass(frozen=True)
class Network:
    """One network of the campaign: ``train.py config=<preset> seed=<seed> <overrides>`` at paper scale.

    The identity of a store entry; ``step`` is the priority step of the campaign's plan it belongs to
    (docs/campaign.md).
    """

    preset: str
    seed: int
    overrides: tuple[str, ...] = ()
    step: str = ""

    def __str__(self) -> str:
        return " ".join([self.preset, f"seed={self.seed}", *self.overrides])


def missing(found: list[Entry], plan: tuple[Network, ...]) -> list[Network]:
    """The networks of ``plan`` that none of the entries ``found`` holds, in the plan's order."""
    held = {(e.manifest["preset"], e.manifest["seed"], tuple(e.manifest["overrides"])) for e in found}
    return [n for n in plan if (n.preset, n.seed, n.overrides) not in held]


#: The library-wide Gaussian noise, which the HD presets leave for the published uniform draws: their HD networks
#: are the evidence for that default (docs/decisions.md).
GAUSSIAN = ("rnn.noise_dist=gaussian",)
#: Analysis variants of the store per family: name -> train_overrides (the families the plan trains).
VARIANTS: dict[str, dict[str, tuple[str, ...]]] = {"sn": {"defaults": ()}, "sn_gru": {"defaults": ()}}
VARIANTS["hd"] = {"defaults": (), "gaussian": GAUSSIAN}


#: The seed of the store's noise-free networks: the plan trains seeds 1 and 2 of the noisy networks only, and their
#: analyses read seed 0's noise-free networks (the analyses' ``no_noise_seed``, docs/campaign.md).
NO_NOISE_SEED = 0


def complete_families(store_dir: Path, scale: str = "paper") -> Iterator[tuple[str, str, tuple[str, ...], int]]:
    """``(family, variant, train_overrides, seed)`` of every family and seed the store holds whole, the noise-free
    conditions of every seed being those of :data:`NO_NOISE_SEED`."""
    seeds = sorted({e.manifest["seed"] for e in entries(store_dir)}) if store_dir.is_dir() else []
    for family, variants in VARIANTS.items():
        task, model = FAMILY_KEYS[family]
        for variant, overrides in variants.items():
            for seed in seeds:
                s = settings(compose_analysis("kl", scale, task, model, seed, path=str(store_dir),
                                              train_overrides=list(overrides), no_noise_seed=NO_NOISE_SEED,
                                              progress=False))  # fmt: skip
                found = lookup.family_runs(s, [seed])
                if all(isinstance(by_seed[seed], Path) for by_seed in found.values()):
                    yield family, variant, overrides, seed
