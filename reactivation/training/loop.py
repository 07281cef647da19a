"""The training loop (docs/spec.md §5): fresh batches, MSE on the cell code, Adam steps, evaluation and checkpoints
on schedule, and the divergence guard, for one run or the stacked runs of an ensemble.

:func:`loop` drives a :class:`~reactivation.training.networks.Networks` from its runs' common start step to
``trainer.n_epochs``; a run that diverges is stopped and the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

import torch
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from reactivation import ReactivationError, runs
from reactivation.precision import matmul_precision
from reactivation.tasks import Batch
from reactivation.training.divergence import Diverged
from reactivation.training.networks import Networks
from reactivation.training.run import Run

log = logging.getLogger(__name__)


class _Steps:
    """The loop's steps on ``networks``, and which of its runs have stopped, with the error that stopped each."""

    def __init__(self, networks: Networks):
        self.networks = networks
        self.group = list(networks.runs)  # every run the loop started with, stopped or not
        self.failed: dict[int, ReactivationError] = {}  # by id(run)
        self.postfix: dict[str, float] = {}  # what the progress bar shows of the first run still training

    def stop(self, bad: Sequence[tuple[Run, ReactivationError]]) -> None:
        self.failed.update({id(run): error for run, error in bad})
        for run, error in bad:
            # On disk, so that the analyses tell a diverged run from an interrupted one (runs.divergence).
            if isinstance(error, Diverged):
                runs.mark_diverged(run.run_dir, error.step, error.cause, str(error))
        self.networks.drop(bad)

    def train(self, step: int) -> None:
        """One training step of every run still training: fresh batches, forward, update, guard, log."""
        networks = self.networks
        batches = [run.sample() for run in networks.runs]
        outputs = networks.forward(batches, "train_noise")
        losses = networks.losses(outputs, batches)
        networks.update(losses)
        losses = losses.detach()
        healthy, values = networks.healthy(losses), losses.tolist()
        bad = []
        for k, run in enumerate(networks.runs):
            if not healthy[k]:
                bad.append((run, run.diverged(step, f"training loss {values[k]:.3g}")))
                continue
            logged = run.train_values(step, values[k], outputs[k], batches[k])
            cast(runs.MetricsLog, run.metrics).log("train", step, **logged)
            if k == 0:
                self.postfix.update(logged)
        self.stop(bad)

    def evaluate(self, step: int) -> None:
        """Test every run still training on its test batch, with evaluation noise, and log it."""
        networks = self.networks
        if not networks.runs:  # all stopped this step
            return
        batches = [run.test_batch for run in networks.runs]
        bad = []
        with torch.no_grad():
            outputs = networks.forward(cast(list[Batch], batches), "eval_noise")
            for k, run in enumerate(networks.runs):
                try:
                    run.record_test(step, outputs[k])
                except ReactivationError as error:
                    bad.append((run, error))
        self.stop(bad)

    def checkpoint(self, step: int) -> None:
        """Save every run still training whose weights pass the guard."""
        # The weights were updated after the last loss was checked, so they are checked themselves first: on the
        # test batch without noise (which draws nothing, so every random stream stays as it is).
        networks = self.networks
        if not networks.runs:
            return
        batches = cast(list[Batch], [run.test_batch for run in networks.runs])
        with torch.no_grad():
            losses = networks.losses(networks.forward(batches, None), batches)
        healthy, values = networks.healthy(losses), losses.tolist()
        self.stop([
            (run, run.diverged(step, f"noise-free test loss {value:.3g} of the weights to be saved"))
            for run, ok, value in zip(networks.runs, healthy, values)
            if not ok
        ])  # fmt: skip
        networks.sync()
        for run in networks.runs:
            run.save(step)

    def results(self, n_steps: int) -> list[dict[str, Any] | ReactivationError]:
        """Each run's result, or the error that stopped it, in the order the loop started them."""
        results: list[dict[str, Any] | ReactivationError] = []
        for run in self.group:
            if id(run) in self.failed:
                results.append(self.failed[id(run)])
                continue
            runs.clear_divergence(run.run_dir)  # an earlier start diverged; this one got through
            test = run.test
            error = run.error_name
            log.info("finished %s: test loss %.3g, %s %.3g", run.run_dir, test["loss"], error, test[error])
            results.append(run.result(n_steps, test))
        return results


def _progress_bar(group: Sequence[Run], start: int) -> tqdm:
    """The progress bar of the loop over ``group``'s steps (shown only with ``trainer.progress``)."""
    lead = group[0]
    name = lead.preset or lead.run_dir.name
    return tqdm(
        total=lead.cfg.trainer.n_epochs,
        initial=start,
        desc=name if len(group) == 1 else f"ensemble of {len(group)} ({name}, ...)",
        disable=not lead.cfg.trainer.progress,
        dynamic_ncols=True,
        mininterval=1.0,
    )


def loop(networks: Networks, start: int) -> list[dict[str, Any] | ReactivationError]:
    """Train ``networks``' runs from ``start`` to ``trainer.n_epochs``, evaluating and checkpointing on schedule.

    Returns each run's result, or the error that stopped it (a run that diverges is dropped and the others go
    on).
    """
    steps = _Steps(networks)
    group, postfix = steps.group, steps.postfix
    lead = group[0]
    tr, n_steps = lead.cfg.trainer, lead.cfg.trainer.n_epochs
    bar = _progress_bar(group, start)
    products = matmul_precision(tr.matmul_precision, lead.device)
    with logging_redirect_tqdm(), bar, products:
        # A run resumed at step 0 (stopped before step 1 was saved) has evaluated and saved step 0 already;
        # doing it again would draw the evaluation noise twice and shift every later test metric.
        if lead.state is None:
            steps.evaluate(0)
            steps.checkpoint(0)
        for step in range(start + 1, n_steps + 1):
            if not networks.runs:
                break
            steps.train(step)
            if step % tr.test_freq == 0 or step == n_steps:
                steps.evaluate(step)
                postfix.update({f"test_{k}": v for k, v in networks.runs[0].test.items()} if networks.runs else {})
            if step % tr.save_freq == 0 or step == n_steps:
                steps.checkpoint(step)
            if len(group) > 1:
                postfix["members"] = len(networks.runs)
            bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)
            bar.update()
    return steps.results(n_steps)
