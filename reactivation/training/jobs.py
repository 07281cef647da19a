"""Training runs from their configs: :func:`train` one run, :func:`train_ensemble` runs that share shapes,
schedule and optimiser settings as one stacked computation, each in its own ordinary run directory.

Both hold every run's lock for the whole call, skip the runs that are finished, and hand the rest, grouped by where
and how they resume, to :func:`reactivation.training.loop.loop`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig

from reactivation import ReactivationError, runs
from reactivation.loading import Setup, build
from reactivation.training.loop import loop
from reactivation.training.networks import Networks, One, Stacked
from reactivation.training.run import Run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One run to train: its composed config, its directory, the preset name recorded in ``config.yaml`` and
    the record of the command (``{file name: text}`` for ``.hydra/``, written once the run's lock is held; ``None``
    when not started from a command)."""

    cfg: DictConfig
    run_dir: Path
    preset: str | None = None
    record: dict[str, str] | None = None


def train(
    cfg: DictConfig, run_dir: Path | str, preset: str | None = None, record: dict[str, str] | None = None
) -> dict[str, Any]:
    """Train (or resume, or skip if finished) the run described by ``cfg`` in ``run_dir``.

    Args:
        cfg: a composed training config (``seed``, ``device``, ``resume``, ``rnn``, ``trainer``, ``task``).
        run_dir: the run directory (created if needed).
        preset: the preset name recorded in ``config.yaml``, e.g. ``spatial_navigation/noisy_unbiased``.
        record: the command's record for ``.hydra/`` (:class:`Job`), written when the run trains.

    Returns:
        ``{"step": last step, "test": {metric: value} of the last evaluation, "run_dir": str}``.

    Raises:
        ReactivationError: bad config, a run directory holding a different run or trained by another live
            process, an unreadable checkpoint, an unfinished run without ``resume.pt`` that got past step 0
            (nothing is written), or a diverged run (:class:`~reactivation.training.divergence.Diverged`:
            non-finite loss or weights, or a loss ``DIVERGED_FACTOR`` times that of zero outputs; nothing of it is
            saved, the last good checkpoint is kept, and ``diverged.json`` records the stop until the run
            finishes or starts over).
    """
    result = train_ensemble([Job(cfg, Path(run_dir), preset, record)])[0]
    if isinstance(result, ReactivationError):
        raise result
    return result


def train_ensemble(jobs: Sequence[Job]) -> list[dict[str, Any] | ReactivationError]:
    """Train the runs of ``jobs`` together, as one stacked computation (an ensemble).

    The jobs must share shapes and schedule (:func:`reactivation.ensembles.group` makes such groups); they may
    differ in seed, noise levels and distribution and ``task.biased``. Each member draws its centres, weights,
    batches and noise from its own seed's streams, so it is the run that :func:`train` would train, to float
    rounding (batched matrix products need not round as single ones do), and it writes its own ordinary run
    directory. Finished runs are skipped; runs resumed from different steps, or of other learning rates or weight
    decays (one torch Adam steps an ensemble), train one after the other, each such group as one ensemble; a
    group of one is a plain single run.

    Args:
        jobs: the runs.

    Returns:
        One entry per job, in order: the result :func:`train` returns, or the error that stopped that member
        (e.g. divergence, which stops only the diverged member; the others finish).

    Raises:
        ReactivationError: a bad config, an unusable run directory or checkpoint (before any training), or
            jobs that cannot share an ensemble.
    """
    setups = [build(job.cfg) for job in jobs]
    results: list[dict[str, Any] | ReactivationError | None] = [None] * len(jobs)
    with contextlib.ExitStack() as held:
        members = _restore_all(jobs, setups, held, results)
        for part in sorted({_group_key(run) for run in members}):
            group = [run for run in members if _group_key(run) == part]
            for position, run in enumerate(group):
                held.enter_context(run.open(ensemble_record(group, position)))
            networks: Networks = Stacked(group) if len(group) > 1 else One(group[0])
            for run, result in zip(group, loop(networks, part[0])):
                results[run.index] = result
    assert all(result is not None for result in results)  # every job was finished, trained or failed
    return cast(list, results)


def _restore_all(
    jobs: Sequence[Job],
    setups: Sequence[Setup],
    held: contextlib.ExitStack,
    results: list[dict[str, Any] | ReactivationError | None],
) -> list[Run]:
    """Lock and restore every job's run; the finished ones' results go into ``results``, the rest are returned.

    Every run is restored (and so checked) before any of them writes.
    """
    members: list[Run] = []
    for index, (job, setup) in enumerate(zip(jobs, setups)):
        held.enter_context(runs.RunLock(job.run_dir))
        # We hold the run: any temporary file here is a leftover of a killed writer.
        for folder in (job.run_dir, job.run_dir / runs.CHECKPOINT_DIR):
            for tmp in runs.clean_temporaries(folder, every=True):
                log.info("removed %s, left by an interrupted write", tmp)
        run = Run(setup, job.run_dir, job.preset, index, job.record)
        done = run.restore_or_finish()
        if done is not None:
            results[index] = done
        else:
            members.append(run)
    return members


def _group_key(run: Run) -> tuple[int, bool, float, float]:
    """What the runs of one ensemble share: the start step, whether resumed, learning rate and weight decay."""
    # A run resumed at step 0 has evaluated step 0 already and a fresh one has not: they train apart. So do runs
    # of other optimiser settings: one torch Adam steps an ensemble.
    return run.start, run.state is not None, float(run.cfg.trainer.lr), float(run.cfg.trainer.weight_decay)


def ensemble_record(group: Sequence[Run], position: int) -> dict[str, Any] | None:
    """What ``config.yaml`` records of the ensemble a run trains in: its members (preset and seed) and the run's
    place among them; ``None`` for a run trained alone."""
    if len(group) == 1:
        return None
    return {"size": len(group), "index": position, "members": [f"{run.preset} seed={run.cfg.seed}" for run in group]}
