"""One training run's books in its directory: its config, task, model, optimizer, random streams, metrics and
checkpoints, restored from disk or fresh, and saved on the loop's schedule.

The loop (:mod:`reactivation.training.loop`) steps networks built from runs' models
(:mod:`reactivation.training.networks`); each run keeps its own state and files.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, cast

import torch
from omegaconf import OmegaConf

from reactivation import loggers, optim, runs
from reactivation.loading import Setup
from reactivation.seeding import generator
from reactivation.tasks import Batch
from reactivation.training import losses, resume
from reactivation.training.divergence import Diverged, diverged

log = logging.getLogger(__name__)


class Run:
    """One training run's books in its directory: config, task, random streams, metrics, checkpoints.

    Its ``model`` and ``optimizer`` hold the run's state whenever it is restored or saved; an ensemble copies
    its members' states in and out of them (:meth:`reactivation.training.networks.Networks.sync`).

    Args:
        setup: the built task and model (:func:`reactivation.loading.build`).
        run_dir: the run directory (its lock is held by the caller).
        preset: the preset name recorded in ``config.yaml``.
        index: the run's place among the jobs of the call.
        record: the command's record for ``.hydra/`` (:class:`reactivation.training.Job`).
    """

    def __init__(
        self, setup: Setup, run_dir: Path, preset: str | None, index: int = 0, record: dict[str, str] | None = None
    ):
        self.cfg, self.task, self.model, self.device = setup.config, setup.task, setup.model, setup.device
        self.run_dir, self.preset, self.index, self.record = run_dir, preset, index, record
        # The container of a DictConfig is a str-keyed dict.
        self.config = {"preset": preset, **cast(dict[str, Any], OmegaConf.to_container(self.cfg, resolve=True))}
        self.resume_file = resume.resume_path(run_dir)
        self.error_name = self.task.error_name  # the task names its decoding error (pos_mse, hd_mse, ...)
        self.params = list(self.model.parameters())
        tr = self.cfg.trainer
        self.optimizer = optim.adam(self.params, tr.lr, tr.weight_decay)
        self.streams = {
            name: generator(self.cfg.seed, name, self.device) for name in ("train_batches", "train_noise", "eval_noise")
        }
        self.test_batch: Batch | None = None  # drawn by open(), before any evaluation or checkpoint
        self.zero_loss = 0.0  # the test batch's loss of an all-zero output: the scale divergence is judged on
        self.metrics: runs.MetricsLog | None = None
        self.state: dict[str, Any] | None = None  # the resume state restored, if any
        self.kept: list[dict[str, Any]] = []  # the metrics logged up to the resumed step (read and checked first)
        self.resumable = True  # False: a finished run restored from its final checkpoint, resume.pt unusable
        self.start = 0  # the last step done before this call
        self.test: dict[str, float] = {}  # the last evaluation

    def restore(self) -> dict[str, Any] | None:
        """Load ``resume.pt`` into model, task, optimizer and streams; ``None`` when starting afresh.

        A finished run restored from its final checkpoint (:func:`reactivation.training.resume.read_state`) is
        returned as it is and nothing is loaded.

        Raises:
            ReactivationError: an unusable resume file (of an unfinished run), or one of another configuration.
        """
        state, self.resumable = resume.read_state(self.run_dir, self.cfg, self.config, self.device)
        if state is None or not self.resumable:
            return state
        self.model.load_state_dict(state["model"])
        self.task.load_state_dict(state["task"])
        self.optimizer.load_state_dict(state["optimizer"])
        for name, gen in self.streams.items():
            gen.set_state(state["rng"][name].cpu())
        return state

    def restore_or_finish(self) -> dict[str, Any] | None:
        """Restore the run; if it is finished already, return its result (and train nothing).

        A finished run's final checkpoint and ``config.yaml`` are rewritten from what it was saved with if they
        are missing, damaged or another run's (the analyses read both); nothing else of it is touched. An
        unfinished run's metrics log is read and checked here, before any run of the call writes.
        """
        self.state = self.restore()
        self.start = self.state["step"] if self.state else 0
        if self.start < self.cfg.trainer.n_epochs:
            if self.state:
                log.info("resuming %s from step %d", self.run_dir, self.start)
                self.kept = runs.read_metrics(self.run_dir, self.start)
            return None
        assert self.state is not None  # trainer.n_epochs >= 1 (config.validate), so start > 0 came from a state
        if self.resumable:  # else the state is the final checkpoint itself
            resume.restore_final_checkpoint(self.run_dir, self.state)
        resume.restore_config(self.run_dir, self.state["config"])
        runs.clear_divergence(self.run_dir)  # left if a finishing run was killed before it removed it
        log.info("%s already finished (%d steps); rerun with resume=false to retrain.", self.run_dir, self.start)
        return self.result(self.start, self.state.get("test", {}))

    def open(self, ensemble: dict[str, Any] | None) -> runs.MetricsLog:
        """Open the metrics, write ``config.yaml`` (with the ``ensemble`` record, if any) and the command's record,
        and draw the test batch.

        Returns the metrics log, a context manager the caller closes.
        """
        if ensemble is not None:
            self.config["ensemble"] = ensemble
        # The logger first: one that cannot start (an unreachable MLflow store) stops the run before anything of it
        # is rewritten.
        sink = loggers.open_logger(
            self.config, self.run_dir, self.kept, self.state is not None, lambda: self.optimizer.param_groups[0]["lr"]
        )
        self.metrics = runs.MetricsLog(
            self.run_dir, resume_step=self.start if self.state else None, kept=self.kept, sink=sink
        )
        runs.save_config(self.run_dir, self.config)
        if self.record is not None:
            runs.write_record(self.run_dir, self.record)
        test_stream = generator(self.cfg.seed, "test_batch", self.device)
        self.test_batch = self.task.sample(self.cfg.task.batch_size, test_stream)
        # Once, not per step: over a (B, T, cells) batch it costs as much as the rest of the check, and every
        # training batch of the task gives nearly the same value.
        self.zero_loss = torch.mean(self.test_batch.targets**2).item()
        return self.metrics

    def result(self, step: int, test: dict[str, float]) -> dict[str, Any]:
        """What :func:`reactivation.training.train` returns for this run: its last step and test metrics."""
        return {"step": step, "test": test, "run_dir": str(self.run_dir)}

    def diverged(self, step: int, what: str) -> Diverged:
        """The error that stops this run at ``step``, given away by ``what`` (e.g. ``"training loss nan"``)."""
        return diverged(self.run_dir, self.cfg.trainer.lr, step, what)

    def sample(self) -> Batch:
        """A fresh training batch from the run's own stream."""
        return self.task.sample(self.cfg.task.batch_size, self.streams["train_batches"])

    def train_values(self, step: int, loss: float, outputs: torch.Tensor, batch: Batch) -> dict[str, float]:
        """The logged training values of a step (the decoding error every ``trainer.decode_freq`` steps)."""
        values = {"loss": loss}
        if step % self.cfg.trainer.decode_freq == 0 or step == self.cfg.trainer.n_epochs:
            values[self.error_name] = self.task.decoding_error(outputs.detach(), batch.latent).item()
        return values

    def record_test(self, step: int, outputs: torch.Tensor) -> dict[str, float]:
        """Test loss and decoding error of ``outputs`` (B, T, n_code) on the test batch, logged.

        Raises:
            ReactivationError: a non-finite value (divergence).
        """
        batch, metrics = self.test_batch, self.metrics
        assert batch is not None and metrics is not None  # open() sets both before any evaluation
        values = {
            "loss": losses.mse(outputs, batch.targets).item(),
            self.error_name: self.task.decoding_error(outputs, batch.latent).item(),
        }
        if not all(math.isfinite(v) for v in values.values()):
            raise self.diverged(step, f"test loss {values['loss']:.3g}")
        metrics.log("test", step, **values)
        self.test = values
        return values

    def save(self, step: int) -> None:
        """Write the step checkpoint, the metric summaries and ``resume.pt`` (last: what a resumed run reads)."""
        metrics = self.metrics
        assert metrics is not None  # open() sets it
        light = {"step": step, "model": self.model.state_dict(), "task": self.task.state_dict(), "config": self.config}
        runs.save_checkpoint(runs.checkpoint_path(self.run_dir, step), light)
        metrics.write_summaries()
        rng = {name: gen.get_state() for name, gen in self.streams.items()}
        runs.save_checkpoint(
            self.resume_file, {**light, "optimizer": self.optimizer.state_dict(), "rng": rng, "test": self.test}
        )
