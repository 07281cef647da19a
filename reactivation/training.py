"""The training loop (SPEC §5): fresh batches, MSE on the cell code, Adam, checkpoints and resume.

``train(cfg, run_dir)`` is independent of Hydra: ``train.py`` composes the config and picks the run
directory; tests and notebooks call it directly with a composed or hand-made config.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from reactivation import ReactivationError, runs
from reactivation.config import resolve_sizes, validate
from reactivation.models import build_model
from reactivation.seeding import generator
from reactivation.tasks import build_task

log = logging.getLogger(__name__)

# Keys that do not change what is trained (also left out of run-directory names, configs/train/train.yaml);
# `scale` only names the sizes, and the sizes themselves are compared.
RUNTIME_KEYS = ("device", "resume", "path", "scale", "trainer.progress")


@dataclass
class Setup:
    """Everything a run is built from, for training and for loading a trained run."""

    config: DictConfig  # resolved (sizes filled in)
    task: torch.nn.Module
    model: torch.nn.Module
    device: torch.device


def select_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise the named device (checked)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ReactivationError(f"device={name!r} is not a device name; use auto, cpu or cuda.") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ReactivationError(f"device={name} was asked for but CUDA is not available here; use device=cpu.")
    return device


def build(cfg: DictConfig) -> Setup:
    """Validate ``cfg`` and build its task (with freshly drawn centres) and initialised model.

    The centres and initial weights depend only on ``cfg.seed`` (their own streams, drawn on CPU), so a
    run's starting point is the same on every device.
    """
    validate(cfg)
    cfg = cfg.copy()
    device = select_device(cfg.device)
    task = build_task(cfg.task, generator(cfg.seed, "centres"))
    resolve_sizes(cfg, task.n_in, task.n_code)
    model = build_model(cfg.rnn, generator(cfg.seed, "init"))
    return Setup(cfg, task.to(device), model.to(device), device)


def load_run(run_dir: Path | str, step: int | None = None, device: str = "auto") -> Setup:
    """Rebuild a trained run from its directory: config, task (with its centres) and model weights.

    Args:
        run_dir: a run directory written by :func:`train`.
        step: the checkpoint step (default: the last one).
        device: where to put task and model (``auto``: CUDA when available).

    Raises:
        ReactivationError: no config, no checkpoint at ``step``, or an unreadable checkpoint.
    """
    run_dir = Path(run_dir)
    config = runs.load_config(run_dir)
    steps = runs.checkpoint_steps(run_dir)
    if not steps:
        raise ReactivationError(f"{run_dir} has no checkpoints; train it first.")
    step = steps[-1] if step is None else step
    if step not in steps:
        raise ReactivationError(f"{run_dir} has no checkpoint at step {step}; available steps: {steps}.")
    cfg = OmegaConf.create({k: v for k, v in config.items() if k != "preset"})
    cfg.device = device
    setup = build(cfg)
    state = runs.load_checkpoint(runs.checkpoint_path(run_dir, step), map_location=setup.device)
    setup.model.load_state_dict(state["model"])
    setup.task.load_state_dict(state["task"])
    setup.model.eval()
    return setup


def _mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.mean((outputs - targets) ** 2)


def _error_name(cfg: DictConfig) -> str:
    return "pos_mse" if cfg.task.name == "spatial_navigation" else "hd_mse"


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    flat = OmegaConf.create(config)
    for key in RUNTIME_KEYS:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(flat, parent) if parent else flat
        if node is not None and leaf in node:
            del node[leaf]
    return OmegaConf.to_container(flat)


def train(cfg: DictConfig, run_dir: Path | str, preset: str | None = None) -> dict[str, Any]:
    """Train (or resume, or skip if finished) the run described by ``cfg`` in ``run_dir``.

    Args:
        cfg: a composed training config (``seed``, ``device``, ``resume``, ``rnn``, ``trainer``, ``task``).
        run_dir: the run directory (created if needed).
        preset: the preset name recorded in ``config.yaml``, e.g. ``spatial_navigation/noisy_unbiased``.

    Returns:
        ``{"step": last step, "test": {metric: value} of the last evaluation, "run_dir": str}``.

    Raises:
        ReactivationError: bad config, a run directory holding a different run, an unreadable
            checkpoint, or a non-finite loss (the last good checkpoint is kept).
    """
    setup = build(cfg)
    cfg, task, model, device = setup.config, setup.task, setup.model, setup.device
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / runs.CHECKPOINT_DIR
    config = {"preset": preset, **OmegaConf.to_container(cfg, resolve=True)}
    n_steps, tr = cfg.trainer.n_epochs, cfg.trainer
    error_name = _error_name(cfg)

    optimizer = torch.optim.Adam(model.parameters(), lr=tr.lr, weight_decay=tr.weight_decay)
    streams = {name: generator(cfg.seed, name, device) for name in ("train_batches", "train_noise", "eval_noise")}
    resume_file = ckpt_dir / runs.RESUME_FILE
    start = 0
    if resume_file.exists() and not cfg.resume:
        log.info("resume=false: deleting the checkpoints and metrics in %s", run_dir)
        shutil.rmtree(ckpt_dir)
    elif resume_file.exists():
        state = runs.load_checkpoint(resume_file, map_location=device)
        if _comparable(state["config"]) != _comparable(config):
            raise ReactivationError(
                f"{run_dir} holds a run with a different configuration; choose another path= "
                "or rerun with resume=false to replace it.")
        model.load_state_dict(state["model"])
        task.load_state_dict(state["task"])
        optimizer.load_state_dict(state["optimizer"])
        for name, gen in streams.items():
            gen.set_state(state["rng"][name].cpu())
        start = state["step"]
        if start >= n_steps:
            log.info("%s already finished (%d steps); rerun with resume=false to retrain.", run_dir, start)
            return {"step": start, "test": state.get("test", {}), "run_dir": str(run_dir)}
        log.info("resuming %s from step %d", run_dir, start)
    runs.save_config(run_dir, config)
    metrics = runs.MetricsLog(run_dir, resume_step=start if start else None)
    test_batch = task.sample(cfg.task.batch_size, generator(cfg.seed, "test_batch", device))

    def evaluate(step: int) -> dict[str, float]:
        with torch.no_grad():
            _, outputs = model(test_batch.inputs, test_batch.init_code, generator=streams["eval_noise"])
            values = {"loss": _mse(outputs, test_batch.targets).item(),
                      error_name: task.decoding_error(outputs, test_batch.latent).item()}
        metrics.log("test", step, **values)
        return values

    def save(step: int, test: dict[str, float]) -> None:
        light = {"step": step, "model": model.state_dict(), "task": task.state_dict(), "config": config}
        runs.save_checkpoint(runs.checkpoint_path(run_dir, step), light)
        metrics.write_summaries()
        rng = {name: gen.get_state() for name, gen in streams.items()}
        runs.save_checkpoint(resume_file, {**light, "optimizer": optimizer.state_dict(), "rng": rng, "test": test})

    test = evaluate(0) if start == 0 else {}
    if start == 0:
        save(0, test)
    postfix: dict[str, float] = {}
    bar = tqdm(total=n_steps, initial=start, desc=preset or run_dir.name, disable=not tr.progress,
               dynamic_ncols=True, mininterval=1.0)
    with logging_redirect_tqdm(), bar:
        for step in range(start + 1, n_steps + 1):
            batch = task.sample(cfg.task.batch_size, streams["train_batches"])
            _, outputs = model(batch.inputs, batch.init_code, generator=streams["train_noise"])
            loss = _mse(outputs, batch.targets)
            if not torch.isfinite(loss):
                last = runs.checkpoint_steps(run_dir)[-1]
                metrics.close()
                raise ReactivationError(
                    f"the loss became non-finite ({loss.item()}) at step {step}; training stopped and the last "
                    f"good checkpoint is {runs.checkpoint_path(run_dir, last)}. Lower trainer.lr or the noise "
                    "variances (rnn.sigma2_*), then rerun with resume=false.")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            values = {"loss": loss.item()}
            if step % tr.decode_freq == 0 or step == n_steps:
                values[error_name] = task.decoding_error(outputs.detach(), batch.latent).item()
            metrics.log("train", step, **values)
            postfix.update(values)
            if step % tr.test_freq == 0 or step == n_steps:
                test = evaluate(step)
                postfix.update({f"test_{k}": v for k, v in test.items()})
            if step % tr.save_freq == 0 or step == n_steps:
                save(step, test)
            bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)
            bar.update()
    metrics.close()
    log.info("finished %s: test loss %.3g, %s %.3g", run_dir, test["loss"], error_name, test[error_name])
    return {"step": n_steps, "test": test, "run_dir": str(run_dir)}
