"""The training loop (SPEC §5): fresh batches, MSE on the cell code, Adam, checkpoints and resume.

``train(cfg, run_dir)`` is independent of Hydra: ``train.py`` composes the config and picks the run
directory; tests and notebooks call it directly with a composed or hand-made config.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from reactivation import ReactivationError, runs
from reactivation.loading import CHECKPOINT_KEYS, Setup, build, comparable, require_finite_weights
from reactivation.precision import matmul_precision
from reactivation.seeding import generator
from reactivation.tasks import Batch

log = logging.getLogger(__name__)

#: ``resume.pt`` holds what every checkpoint holds (:data:`CHECKPOINT_KEYS`) and these.
RESUME_KEYS = (*CHECKPOINT_KEYS, "optimizer", "rng")
#: A loss this many times that of an all-zero output means training diverged (see _healthy).
DIVERGED_FACTOR = 1e4


def _healthy(loss: torch.Tensor, zero_loss: float, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """True (a 0-d bool tensor, so that checking costs one device sync) if training has not diverged.

    Diverged: a non-finite loss or weight, or a loss :data:`DIVERGED_FACTOR` times ``zero_loss``, the loss of a
    network that outputs zeros (an untrained network's is 1-5 times that; SN and HD codes lie in [0, 1]).
    """
    ok = torch.isfinite(loss) & (loss <= DIVERGED_FACTOR * zero_loss)
    for p in params:
        ok = ok & torch.isfinite(p).all()
    return ok


def _mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.mean((outputs - targets) ** 2)


def _diverged(run_dir: Path, step: int, what: str) -> ReactivationError:
    steps = runs.checkpoint_steps(run_dir)
    last = f"the last good checkpoint is {runs.checkpoint_path(run_dir, steps[-1])}" if steps else "nothing was saved"
    return ReactivationError(
        f"training diverged at step {step} ({what}; non-finite or over {DIVERGED_FACTOR:g} times the loss of zero "
        f"outputs); it stopped without saving that step and {last}. Lower trainer.lr or the noise variances "
        "(rnn.sigma2_*), then rerun with resume=false."
    )


def _restore_final_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Rewrite a finished run's final step checkpoint from ``resume.pt`` if it is missing or unreadable.

    ``resume.pt`` holds everything the step checkpoint does, so a final checkpoint deleted after it was found
    corrupt is not lost (the analyses need it, and would otherwise call the run unfinished).
    """
    path = runs.checkpoint_path(run_dir, state["step"])
    try:
        runs.load_checkpoint(path, keys=CHECKPOINT_KEYS)
        return
    except ReactivationError:
        log.warning("the final checkpoint %s is missing or unreadable; rewriting it from %s", path, runs.RESUME_FILE)
    runs.save_checkpoint(path, {k: state[k] for k in CHECKPOINT_KEYS})


def train(cfg: DictConfig, run_dir: Path | str, preset: str | None = None) -> dict[str, Any]:
    """Train (or resume, or skip if finished) the run described by ``cfg`` in ``run_dir``.

    Args:
        cfg: a composed training config (``seed``, ``device``, ``resume``, ``rnn``, ``trainer``, ``task``).
        run_dir: the run directory (created if needed).
        preset: the preset name recorded in ``config.yaml``, e.g. ``spatial_navigation/noisy_unbiased``.

    Returns:
        ``{"step": last step, "test": {metric: value} of the last evaluation, "run_dir": str}``.

    Raises:
        ReactivationError: bad config, a run directory holding a different run or trained by another live
            process, an unreadable checkpoint, or a diverged run (non-finite loss or weights, or a loss
            :data:`DIVERGED_FACTOR` times that of zero outputs; nothing of it is saved, the last good checkpoint
            is kept).
    """
    setup = build(cfg)
    run_dir = Path(run_dir)
    with runs.RunLock(run_dir):
        # We hold the run: any temporary file here is a leftover of a killed writer.
        for folder in (run_dir, run_dir / runs.CHECKPOINT_DIR):
            for tmp in runs.clean_temporaries(folder, every=True):
                log.info("removed %s, left by an interrupted write", tmp)
        return _Run(setup, run_dir, preset).train()


class _Run:
    """One training run in its directory, in the pieces a run is made of: restore, step, evaluate, checkpoint.

    Args:
        setup: the built task and model (:func:`build`).
        run_dir: the run directory (its lock is held by the caller).
        preset: the preset name recorded in ``config.yaml``.
    """

    def __init__(self, setup: Setup, run_dir: Path, preset: str | None):
        self.cfg, self.task, self.model, self.device = setup.config, setup.task, setup.model, setup.device
        self.run_dir, self.preset = run_dir, preset
        # The container of a DictConfig is a str-keyed dict.
        self.config = {"preset": preset, **cast(dict[str, Any], OmegaConf.to_container(self.cfg, resolve=True))}
        self.resume_file = run_dir / runs.CHECKPOINT_DIR / runs.RESUME_FILE
        self.error_name = self.task.error_name  # the task names its decoding error (pos_mse, hd_mse, ...)
        self.params = list(self.model.parameters())
        tr = self.cfg.trainer
        self.optimizer = torch.optim.Adam(self.params, lr=tr.lr, weight_decay=tr.weight_decay)
        self.streams = {
            name: generator(self.cfg.seed, name, self.device) for name in ("train_batches", "train_noise", "eval_noise")
        }
        self.test_batch: Batch | None = None  # drawn by train(), before any evaluate() or checkpoint()
        self.zero_loss = 0.0  # the test batch's loss of an all-zero output: the scale divergence is judged on
        self.metrics: runs.MetricsLog | None = None

    def restore(self) -> dict[str, Any] | None:
        """Load ``resume.pt`` into model, task, optimizer and streams; ``None`` when starting afresh.

        ``resume=false`` deletes the checkpoints of an earlier run first.

        Raises:
            ReactivationError: an unusable resume file, or one of another configuration.
        """
        if not self.resume_file.exists():
            return None
        if not self.cfg.resume:
            log.info("resume=false: deleting the checkpoints and metrics in %s", self.run_dir)
            shutil.rmtree(self.resume_file.parent)
            return None
        fix = "rerun with resume=false to start the run over"
        state = runs.load_checkpoint(self.resume_file, map_location=self.device, keys=RESUME_KEYS, fix=fix)
        require_finite_weights(state, self.resume_file, fix)
        if comparable(state["config"]) != comparable(self.config):
            raise ReactivationError(
                f"{self.run_dir} holds a run with a different configuration; choose another path= "
                "or rerun with resume=false to replace it."
            )
        self.model.load_state_dict(state["model"])
        self.task.load_state_dict(state["task"])
        self.optimizer.load_state_dict(state["optimizer"])
        for name, gen in self.streams.items():
            gen.set_state(state["rng"][name].cpu())
        return state

    def step(self, step: int) -> dict[str, float]:
        """One optimizer step on a fresh batch; returns the logged training values.

        Raises:
            ReactivationError: training diverged (checked after the update: the loss was computed before it,
                the weights that would be saved after it).
        """
        batch = self.task.sample(self.cfg.task.batch_size, self.streams["train_batches"])
        _, outputs = self.model(batch.inputs, batch.init_code, generator=self.streams["train_noise"])
        loss = _mse(outputs, batch.targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if not _healthy(loss.detach(), self.zero_loss, self.params).item():
            raise _diverged(self.run_dir, step, f"training loss {loss.item():.3g}")
        values = {"loss": loss.item()}
        if step % self.cfg.trainer.decode_freq == 0 or step == self.cfg.trainer.n_epochs:
            values[self.error_name] = self.task.decoding_error(outputs.detach(), batch.latent).item()
        return values

    def evaluate(self, step: int) -> dict[str, float]:
        """Test loss and decoding error on the fixed test batch (with the evaluation noise), logged."""
        batch, metrics = self.test_batch, self.metrics
        assert batch is not None and metrics is not None  # train() sets both before it evaluates
        with torch.no_grad():
            _, outputs = self.model(batch.inputs, batch.init_code, generator=self.streams["eval_noise"])
            values = {
                "loss": _mse(outputs, batch.targets).item(),
                self.error_name: self.task.decoding_error(outputs, batch.latent).item(),
            }
        if not all(math.isfinite(v) for v in values.values()):
            raise _diverged(self.run_dir, step, f"test loss {values['loss']:.3g}")
        metrics.log("test", step, **values)
        return values

    def checkpoint(self, step: int, test: dict[str, float]) -> None:
        """Write the step checkpoint, the metric summaries and ``resume.pt`` (last: what a resumed run reads).

        The weights were updated after the last loss was checked, so they are checked themselves first: on the
        test batch without noise (which draws nothing, so every random stream stays as it is).
        """
        batch, metrics = self.test_batch, self.metrics
        assert batch is not None and metrics is not None  # train() sets both before it checkpoints
        with torch.no_grad():
            _, outputs = self.model(batch.inputs, batch.init_code, sigma_in=0.0, sigma_rec=0.0, sigma_out=0.0)
            loss = _mse(outputs, batch.targets)
        if not _healthy(loss, self.zero_loss, self.params).item():
            raise _diverged(self.run_dir, step, f"noise-free test loss {loss.item():.3g} of the weights to be saved")
        light = {"step": step, "model": self.model.state_dict(), "task": self.task.state_dict(), "config": self.config}
        runs.save_checkpoint(runs.checkpoint_path(self.run_dir, step), light)
        metrics.write_summaries()
        rng = {name: gen.get_state() for name, gen in self.streams.items()}
        runs.save_checkpoint(
            self.resume_file, {**light, "optimizer": self.optimizer.state_dict(), "rng": rng, "test": test}
        )

    def train(self) -> dict[str, Any]:
        """Restore or start, train to ``trainer.n_epochs`` steps, evaluating and checkpointing on schedule."""
        cfg, tr, n_steps = self.cfg, self.cfg.trainer, self.cfg.trainer.n_epochs
        state = self.restore()
        start = state["step"] if state else 0
        if start >= n_steps:
            assert state is not None  # trainer.n_epochs >= 1 (config.validate), so start > 0 came from a state
            _restore_final_checkpoint(self.run_dir, state)
            log.info("%s already finished (%d steps); rerun with resume=false to retrain.", self.run_dir, start)
            return {"step": start, "test": state.get("test", {}), "run_dir": str(self.run_dir)}
        if state:
            log.info("resuming %s from step %d", self.run_dir, start)
        runs.save_config(self.run_dir, self.config)
        self.metrics = runs.MetricsLog(self.run_dir, resume_step=start if state else None)
        self.test_batch = self.task.sample(cfg.task.batch_size, generator(cfg.seed, "test_batch", self.device))
        # Once, not per step: over a (B, T, cells) batch it costs as much as the rest of the check, and every
        # training batch of the task gives nearly the same value.
        self.zero_loss = torch.mean(self.test_batch.targets**2).item()
        bar = tqdm(
            total=n_steps,
            initial=start,
            desc=self.preset or self.run_dir.name,
            disable=not tr.progress,
            dynamic_ncols=True,
            mininterval=1.0,
        )
        postfix: dict[str, float] = {}
        test: dict[str, float] = {}
        products = matmul_precision(tr.get("matmul_precision", "float32"), self.device)
        with self.metrics, logging_redirect_tqdm(), bar, products:
            # A run resumed at step 0 (stopped before step 1 was saved) has evaluated and saved step 0 already;
            # doing it again would draw the evaluation noise twice and shift every later test metric.
            if not state:
                test = self.evaluate(0)
                self.checkpoint(0, test)
            for step in range(start + 1, n_steps + 1):
                values = self.step(step)
                self.metrics.log("train", step, **values)
                postfix.update(values)
                if step % tr.test_freq == 0 or step == n_steps:
                    test = self.evaluate(step)
                    postfix.update({f"test_{k}": v for k, v in test.items()})
                if step % tr.save_freq == 0 or step == n_steps:
                    self.checkpoint(step, test)
                bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)
                bar.update()
        log.info(
            "finished %s: test loss %.3g, %s %.3g", self.run_dir, test["loss"], self.error_name, test[self.error_name]
        )
        return {"step": n_steps, "test": test, "run_dir": str(self.run_dir)}
