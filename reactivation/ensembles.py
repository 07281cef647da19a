"""Many runs in one process: group the jobs of a training sweep into ensembles and train each as one computation.

``reactivation train -m config=a,b seed=0,1,2,3,4 hydra/launcher=ensemble`` composes every job of the sweep as
Hydra's basic launcher would (each gets its run directory and, once trained, its ``.hydra/`` record), then
:func:`group` puts the jobs that can share an ensemble together, the grouping is printed, and each group trains as
one stacked computation (:func:`reactivation.training.train_ensemble`): member k is the run its job describes, to float
rounding, in its own ordinary run directory.

Jobs share an ensemble when every setting other than the per-member ones (:data:`PER_MEMBER`) and the runtime
ones (:data:`reactivation.config.RUNTIME_KEYS`, except ``device``) is equal: the same task, model, sizes,
sequence length, batch size and schedule. Groups larger than ``max_members`` are split; ``auto`` chooses the
largest size whose training memory (:func:`member_bytes`) fits in half of the memory available now.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from reactivation import DEFAULT_MODEL, ConfigError, ReactivationError
from reactivation.cli import exit_on_error
from reactivation.config import hydra_record, is_runtime_key, leaves
from reactivation.loading import select_device
from reactivation.models import MODELS
from reactivation.tasks import TASKS
from reactivation.training import Job, train_ensemble

log = logging.getLogger(__name__)

#: Settings in which the members of one ensemble may differ: they are per-network data, not shapes. (The
#: optimiser's, ``trainer.lr`` and ``trainer.weight_decay``, are shared: one torch Adam steps the whole ensemble.)
PER_MEMBER = (
    "seed",
    "rnn.sigma2_in",
    "rnn.sigma2_rec",
    "rnn.sigma2_out",
    "rnn.noise_dist",
    "task.biased",
)


def _free(key: str) -> bool:
    """Whether members may differ in ``key``: per-member data, or a setting that does not change what is trained
    (the device excepted: one ensemble runs on one)."""
    return key in PER_MEMBER or (is_runtime_key(key) and key != "device")


#: The ensemble launcher's own keys (``hydra.launcher.<key>=...``), with what each accepts.
LAUNCHER_KEYS = {"max_members": "auto or a positive integer (members per ensemble)"}
#: Share of the memory available at start that the ensembles' training may use (``max_members=auto``).
MEMORY_SHARE = 0.5


def shape_key(cfg: DictConfig) -> tuple[tuple[str, Any], ...]:
    """The settings a job must share with the other members of its ensemble (all but the :func:`_free` ones)."""
    flat = leaves(OmegaConf.to_container(cfg, resolve=True))
    return tuple(sorted((key, repr(value)) for key, value in flat.items() if not _free(key)))


def member_bytes(cfg: DictConfig) -> int:
    """Bytes one member adds to the peak memory of a training step (float32), from the shapes of ``cfg``.

    A vanilla step keeps, per trajectory and time step, about 8 vectors of ``n_rec`` floats (drive, states,
    phi(u), recurrent noise, and backward's dphi, du, grad of the states and its transposed copy) and 8 of
    ``n_out`` (outputs, output noise, targets and their stacked copy, the squared error, its gradient); the GRU
    keeps about 16 of ``n_rec`` (its gates, saved by autograd for each step). The allocator's slack comes on
    top: the factors used here (the model's ``floats_per_unit``, 12 of ``n_rec`` for vanilla and 16 for the GRU, and
    9 of ``n_out``) are the counts
    above raised to cover every growth per member measured by benchmarks/ensemble.py on the 2-core VM
    (benchmarks/results/vm-ensemble.md: SN 641-757 MiB against 820 estimated, GRU 864-957 against 977, HD
    401-457 against 469).
    """
    rnn, task = cfg.rnn, cfg.task
    n_out = rnn.get("n_out") or _cells(task)
    per_unit = MODELS[rnn.get("model", DEFAULT_MODEL)].floats_per_unit
    floats = task.sequence_length * task.batch_size * (per_unit * rnn.n_rec + 9 * n_out)
    return 4 * int(floats)


def _cells(task: DictConfig) -> int:
    """The task's cell count (the readout width when ``rnn.n_out`` is null), from its config."""
    return TASKS[task.name].cells(task) if task.get("name") in TASKS else 512  # the estimate only: the paper's


def available_bytes(device: torch.device) -> int:
    """Memory free for training now: CUDA's free memory, else the system's available memory (Linux), else 8 GiB."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


def check_max_members(value: Any) -> int | None:
    """``max_members`` as an int, or ``None`` for ``auto``; anything else is a :class:`ConfigError`."""
    if value == "auto" or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"hydra.launcher.max_members={value!r} is not allowed; use {LAUNCHER_KEYS['max_members']}, "
            "e.g. hydra.launcher.max_members=10"
        )
    return value


def group(jobs: Sequence[Job], max_members: int | None = None) -> list[list[Job]]:
    """Split ``jobs`` into ensembles: jobs with equal :func:`shape_key`, at most ``max_members`` each.

    Groups keep the order in which their first job came; so do the jobs inside a group. ``None`` sizes each
    group so that its members' training memory fits in :data:`MEMORY_SHARE` of the memory available now.

    Raises:
        ConfigError: two jobs with the same run directory (they would train into each other).
    """
    seen: dict[Path, Job] = {}
    for job in jobs:
        where = Path(job.run_dir).resolve()
        if where in seen:
            raise ConfigError(
                f"two jobs of the sweep train into {where} ({seen[where].preset} and {job.preset}, seed "
                f"{job.cfg.seed}): a sweep lists each run once; remove the repeated value."
            )
        seen[where] = job
    by_key: dict[tuple, list[Job]] = {}
    for job in jobs:
        by_key.setdefault(shape_key(job.cfg), []).append(job)
    groups = []
    for members in by_key.values():
        size = max_members or _fitting(members[0].cfg)
        groups += [members[i : i + size] for i in range(0, len(members), size)]
    return groups


def _fitting(cfg: DictConfig) -> int:
    """The most members of ``cfg``'s shape whose training fits in :data:`MEMORY_SHARE` of the free memory."""
    device = select_device(cfg.device)
    return max(1, math.floor(MEMORY_SHARE * available_bytes(device) / member_bytes(cfg)))


def describe(groups: Sequence[Sequence[Job]]) -> str:
    """The grouping as printed by the launcher: one line per ensemble, with its shape and its members."""
    n_jobs = sum(len(members) for members in groups)
    lines = [f"ensemble launcher: {n_jobs} run(s) in {len(groups)} ensemble(s)"]
    for i, members in enumerate(groups, 1):
        cfg = members[0].cfg
        shape = (
            f"{cfg.task.name}, {cfg.rnn.get('model', 'vanilla')} n_rec={cfg.rnn.n_rec}, "
            f"batch {cfg.task.batch_size} x {cfg.task.sequence_length} steps, {cfg.trainer.n_epochs} updates"
        )
        names = ", ".join(f"{job.preset} seed={job.cfg.seed}" for job in members)
        lines.append(f"  {i}. {len(members)} member(s) [{shape}]: {names}")
    return "\n".join(lines)


def train_all(jobs: Sequence[Job], max_members: int | None = None, out: Callable[[str], Any] = print) -> list:
    """Group ``jobs``, print the grouping, train every ensemble; returns each job's result or error, in order.

    Raises:
        ReactivationError: after every ensemble has trained, if any member failed (naming each and why).
    """
    groups = group(jobs, max_members)
    out(describe(groups))
    results: dict[int, Any] = {}
    for members in groups:
        for job, result in zip(members, train_ensemble(members)):
            results[id(job)] = result
    ordered = [results[id(job)] for job in jobs]
    failed = [(job, r) for job, r in zip(jobs, ordered) if isinstance(r, ReactivationError)]
    if failed:
        raise ReactivationError(
            f"{len(failed)} of {len(jobs)} run(s) failed (the others finished):\n"
            + "\n".join(f"- {job.preset} seed={job.cfg.seed}: {error}" for job, error in failed)
        )
    return ordered


def preflight(argv: Sequence[str]) -> None:
    """Check the ensemble launcher's own arguments on a training command line, before Hydra composes it.

    Raises:
        ConfigError: ``hydra/launcher=ensemble`` without ``-m``, or an unknown or invalid ``hydra.launcher.*``.
    """
    if "hydra/launcher=ensemble" not in argv:
        return
    if not {"-m", "--multirun"} & set(argv):
        raise ConfigError(
            "hydra/launcher=ensemble trains the runs of a sweep together: add -m (e.g. -m config=a,b seed=0,1,2)."
        )
    for arg in argv:
        key, _, value = arg.lstrip("+").partition("=")
        if not key.startswith("hydra.launcher."):
            continue
        name = key.removeprefix("hydra.launcher.")
        if name not in LAUNCHER_KEYS:
            known = ", ".join(f"{k} ({v})" for k, v in LAUNCHER_KEYS.items())
            raise ConfigError(f"{key} is not a setting of the ensemble launcher; it has: {known}")
        check_max_members(value if value == "auto" else _int_or_text(value))


def _int_or_text(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


def launch(hydra_context: Any, config: DictConfig, job_overrides: Sequence[Sequence[str]], initial_job_idx: int,
           max_members: Any) -> list:  # fmt: skip
    """The body of :class:`hydra_plugins.reactivation_ensemble.EnsembleLauncher`'s ``launch``.

    Each job is composed by Hydra's own ``run_job`` (its directory, log file), with a task function that only
    returns the job and its ``.hydra/`` record (written by training once it holds the run's lock); then
    :func:`train_all` trains them. Failures exit as every command's do (:func:`reactivation.cli.exit_on_error`):
    a message and status 2, or 130 / 143 on an interrupt.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import configure_log, filter_overrides, run_job, setup_globals

    def prepare(cfg: DictConfig) -> Job:
        hydra = HydraConfig.get()
        return Job(cfg, Path(hydra.runtime.output_dir), hydra.runtime.choices.get("config"), hydra_record(cfg))

    def body() -> list:
        limit = check_max_members(max_members)
        setup_globals()
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
        Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        returns = []
        for idx, overrides in enumerate(job_overrides, initial_job_idx):
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
            sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = idx
                sweep_config.hydra.job.num = idx
            returns.append(
                run_job(
                    hydra_context=hydra_context,
                    task_function=prepare,
                    config=sweep_config,
                    job_dir_key="hydra.sweep.dir",
                    job_subdir_key="hydra.sweep.subdir",
                )
            )
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
        jobs = [cast(Job, ret.return_value) for ret in returns]  # a failed composition raises here
        for ret, result in zip(returns, train_all(jobs, limit)):
            ret.return_value = result
        return returns

    return exit_on_error(body)()
