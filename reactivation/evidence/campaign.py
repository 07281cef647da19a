"""The paper-scale campaign: train the paper's networks one after another, within a time budget, into the store.

``reactivation campaign budget=2h`` takes the networks of :data:`PLAN` in order and, for each one not yet in the
store, trains it to the end of its schedule in an ignored run directory (``path``; an interrupted run resumes
there), measures its checkpoints along training (:func:`measure`), copies it into the store
(:func:`reactivation.evidence.store.add`), and runs every analysis of each family and seed the store now holds
whole. Every step is a child process stopped resumably at the deadline, or is only started when the time it took
last time still fits, so the command ends before its budget is spent and the next call continues where it
stopped. docs/campaign.md describes the plan and the store.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reactivation import ConfigError, ReactivationError, analyses, runs
from reactivation.analysis import lookup
from reactivation.analysis.claims import FAMILY_KEYS
from reactivation.analysis.results import MissingResult, read_result
from reactivation.analysis.settings import compose_analysis, settings
from reactivation.evidence import page, store
from reactivation.evidence.budget import Clock, parse_budget
from reactivation.evidence.measure import measure
from reactivation.evidence.plan import MEASURE_POINTS, PLAN, measured_steps, overrides, train_command
from reactivation.evidence.store import Network
from reactivation.processes import run_child

__all__ = [
    "DEVICES",
    "MEASURE_POINTS",
    "PLAN",
    "STAGES",
    "Campaign",
    "Clock",
    "analyse_stage",
    "from_config",
    "measure",
    "measured_steps",
    "overrides",
    "parse_budget",
    "pending",
    "run",
    "train_command",
    "train_stage",
]

log = logging.getLogger(__name__)


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    return env


@dataclass(frozen=True)
class Campaign:
    """What one call of the campaign does.

    Attributes:
        budget_s: wall-clock budget, s.
        root: results root of the ignored run directories.
        store: the evidence store.
        page: the page rebuilt from the store (``None``: none).
        threads: torch threads of every step.
        stages: ``train`` (and measure and store), ``analyse`` (the store's analyses), ``report`` (the page).
        force: recompute the store's analyses even where their results exist.
        device: device of training and analyses.
        command: the command line, as the manifests record it.
        plan: the networks, in order.
        scale: the scale of the runs and analyses (``paper``; tests shrink it to ``tiny``).
    """

    budget_s: float
    root: Path
    store: Path
    page: Path | None
    threads: int
    stages: tuple[str, ...]
    force: bool
    device: str
    command: str
    plan: tuple[Network, ...] = PLAN
    scale: str = "paper"


def pending(store_dir: Path, plan: tuple[Network, ...] = PLAN) -> list[Network]:
    """The networks of ``plan`` that the store does not hold yet, in order."""
    return store.missing(store.entries(store_dir) if store_dir.is_dir() else [], plan)


def _train_one(net: Network, cs: Campaign, clock: Clock) -> Path | None:
    """Train ``net`` until it is finished or the budget is spent; its run directory when finished."""
    log.info("training %s (%.0f min left)", net, clock.left() / 60)
    command = train_command(net, cs.root, cs.scale)
    code = run_child(command, timeout_s=clock.left(), env=_child_env(cs.threads))
    if code is None:
        log.info("budget spent while training %s: it resumes at the next call", net)
        return None
    if code != 0:
        raise ReactivationError(f"training {net} failed (exit status {code}): {shlex.join(command)}")
    return lookup.find_run(cs.root, net.preset, net.seed, overrides(net, cs.scale), None)


def _trajectory(run_dir: Path, net: Network, cs: Campaign, clock: Clock) -> dict[str, Any] | None:
    """Measure the checkpoints of :func:`measured_steps` (resumable: kept in ``<run>/trajectory.json``)."""
    trainer = runs.load_config(run_dir)["trainer"]
    path = Path(run_dir) / store.TRAJECTORY
    done: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {"steps": {}}
    for step in measured_steps(int(trainer["n_epochs"]), int(trainer["save_freq"])):
        if str(step) in done["steps"]:
            continue
        if not clock.fits("measure"):
            log.info("budget spent while measuring %s: it continues at the next call", net)
            return None
        start = time.monotonic()
        done["steps"][str(step)] = measure(run_dir, net.seed, step, cs.device)
        clock.timed("measure", start)
        runs.write_json_atomic(path, done)  # a stop keeps what was measured
    return done


def _manifest(net: Network, cs: Campaign) -> dict[str, Any]:
    train = ["reactivation", "train", f"config={net.preset}", f"seed={net.seed}", *net.overrides]
    return {
        "preset": net.preset,
        "seed": net.seed,
        "overrides": list(net.overrides),
        "plan_step": net.step,
        "command": shlex.join(train),
        "campaign_command": cs.command,
        "stored_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def train_stage(cs: Campaign, clock: Clock) -> Iterator[store.Entry]:
    """Train, measure and store the pending networks in order while the budget lasts, yielding each entry as soon
    as it is stored (the caller may analyse it before the next network trains)."""
    for net in pending(cs.store, cs.plan):
        if clock.left() <= 0:
            break
        run_dir = _train_one(net, cs, clock)
        if run_dir is None:
            break
        trajectory = _trajectory(run_dir, net, cs, clock)
        if trajectory is None:
            break
        entry = store.add(run_dir, cs.root, cs.store, trajectory, _manifest(net, cs))
        log.info("stored %s in %s", net, entry.path)
        yield entry


def _analysis_command(kind: str, family: str, overrides: tuple[str, ...], seed: int, cs: Campaign) -> list[str]:
    task, model = FAMILY_KEYS[family]
    listed = "[" + ",".join(f'"{o}"' for o in overrides) + "]"  # quoted: Hydra's grammar reads = as a key
    return [
        sys.executable, "-m", "reactivation", kind, f"task={task}", f"model={model}", f"seed={seed}",
        f"path={cs.store}", f"train_overrides={listed}", f"no_noise_seed={store.NO_NOISE_SEED}", "progress=false",
        f"device={cs.device}", f"scale={cs.scale}",
    ]  # fmt: skip


def _has_result(kind: str, family: str, overrides: tuple[str, ...], seed: int, cs: Campaign) -> bool:
    task, model = FAMILY_KEYS[family]
    s = settings(compose_analysis(kind, cs.scale, task, model, seed, path=str(cs.store),
                                  train_overrides=list(overrides), no_noise_seed=store.NO_NOISE_SEED,
                                  progress=False))  # fmt: skip
    try:
        read_result(s, kind)
    except (MissingResult, ReactivationError):
        return False
    return True


def analyse_stage(cs: Campaign, clock: Clock) -> list[str]:
    """Run every analysis missing from the store (all of them with ``force``); what was run, one line each."""
    done: list[str] = []
    for family, variant, train_overrides, seed in list(store.complete_families(cs.store, cs.scale)):
        for kind in (a.name for a in analyses.PAPER):
            if not cs.force and _has_result(kind, family, train_overrides, seed, cs):
                continue
            if not clock.fits(f"analysis {kind}"):
                log.info("budget spent before %s of %s %s seed %d: it runs at the next call", kind, family, variant,
                         seed)  # fmt: skip
                return done
            start = time.monotonic()
            command = _analysis_command(kind, family, train_overrides, seed, cs)
            code = run_child(command, timeout_s=clock.left(), env=_child_env(cs.threads))
            if code is None:
                return done
            if code != 0:
                raise ReactivationError(f"the analysis failed (exit status {code}): {shlex.join(command)}")
            clock.timed(f"analysis {kind}", start)
            done.append(f"{kind} {family} {variant} seed {seed} ({(time.monotonic() - start) / 60:.1f} min)")
    return done


STAGES = ("train", "analyse", "report")
DEVICES = ("cpu", "cuda", "auto")


def from_config(cfg: Any, command: str) -> Campaign:
    """The campaign a composed ``campaign.yaml`` asks for, every value checked before any work starts.

    Raises:
        ConfigError: a value of the wrong kind, naming the key and what is allowed.
    """
    threads = cfg.threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads={threads!r}: give a positive number of torch threads, e.g. threads=1.")
    stages = list(cfg.stages) if not isinstance(cfg.stages, str) else [cfg.stages]
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise ConfigError(f"stages={stages}: choose among {', '.join(STAGES)}, e.g. stages=[report].")
    if not isinstance(cfg.force, bool):
        raise ConfigError(f"force={cfg.force!r}: give force=true or force=false.")
    if cfg.device not in DEVICES:
        raise ConfigError(f"device={cfg.device!r}: choose one of {', '.join(DEVICES)}.")
    for key in ("path", "store"):
        if not isinstance(cfg[key], str) or not cfg[key]:
            raise ConfigError(f"{key}={cfg[key]!r}: give a folder, e.g. {key}=results/campaign.")
    page = cfg.page
    if page is not None and (not isinstance(page, str) or not page.endswith(".md")):
        raise ConfigError(f"page={page!r}: give a markdown file, e.g. page=docs/reproduction-paper.md, or page=null.")
    root, store_dir = Path(cfg.path).resolve(), Path(cfg.store).resolve()
    if root == store_dir or store_dir in root.parents or root in store_dir.parents:
        raise ConfigError(f"path={cfg.path} and store={cfg.store} overlap: the run directories and the store must "
                          "be separate folders (only finished networks enter the store).")  # fmt: skip
    return Campaign(
        budget_s=parse_budget(cfg.budget),
        root=root,
        store=store_dir,
        page=None if page is None else Path(page).resolve(),
        threads=threads,
        stages=tuple(stages),
        force=cfg.force,
        device=str(cfg.device),
        command=command,
    )


def run(cs: Campaign) -> list[str]:
    """Advance the campaign: the stages of ``cs`` in order, within its budget; one line per thing done."""
    import torch

    torch.set_num_threads(cs.threads)
    clock = Clock(cs.budget_s)
    done: list[str] = []
    if "train" in cs.stages or "analyse" in cs.stages:
        # One campaign at a time on a root: a second would train the same next network and be refused by its lock.
        cs.root.mkdir(parents=True, exist_ok=True)
        with runs.RunLock(cs.root):
            for entry in train_stage(cs, clock) if "train" in cs.stages else ():
                done.append(f"stored {entry.path}")
                if "analyse" in cs.stages:
                    # A family made whole is analysed before the next network trains (minutes, against an hour of
                    # training): a stretch of work that ends during the next training still has its results.
                    done += [f"analysed {line}" for line in analyse_stage(cs, clock)]
            if "analyse" in cs.stages:
                done += [f"analysed {line}" for line in analyse_stage(cs, clock)]
    if "report" in cs.stages and cs.page is not None:
        runs.write_text_atomic(cs.page, page.render(cs.store, cs.plan, cs.scale))
        done.append(f"wrote {cs.page}")
    left = pending(cs.store, cs.plan)
    done.append(f"{len(cs.plan) - len(left)} of {len(cs.plan)} networks stored; next: {left[0] if left else 'none'}")
    return done
