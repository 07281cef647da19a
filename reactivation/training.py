"""The training loop (docs/spec.md §5): fresh batches, MSE on the cell code, Adam, checkpoints and resume.

``train(cfg, run_dir)`` trains one run; ``train_ensemble(jobs)`` trains runs that share shapes, schedule and
optimiser settings as one stacked computation (:class:`~reactivation.models.Ensemble`, one ``torch.optim.Adam`` on
the stacked parameters: :mod:`reactivation.optim`), each member in its own ordinary run directory. Both are
independent of Hydra: ``train.py`` composes the config and picks the run directory; tests and notebooks call them
directly with a composed or hand-made config.

One loop (:func:`_loop`) drives both: it steps a :class:`_Networks` (one model with ``torch.optim.Adam``, or an
ensemble) and keeps each run's books (metrics, checkpoints, resume state) in a :class:`_Run`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from reactivation import ReactivationError, loggers, optim, runs
from reactivation.config import leaves
from reactivation.loading import CHECKPOINT_KEYS, Setup, build, comparable, require_finite_weights
from reactivation.models import Ensemble
from reactivation.precision import matmul_precision
from reactivation.seeding import generator
from reactivation.tasks import Batch

log = logging.getLogger(__name__)

#: ``resume.pt`` holds what every checkpoint holds (:data:`CHECKPOINT_KEYS`) and these.
RESUME_KEYS = (*CHECKPOINT_KEYS, "optimizer", "rng")
#: A loss this many times that of an all-zero output means training diverged (see _healthy).
DIVERGED_FACTOR = 1e4


def _healthy(loss: torch.Tensor, zero_loss: float | torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """True (a 0-d bool tensor, so that checking costs one device sync) if training has not diverged.

    Diverged: a non-finite loss or weight, or a loss :data:`DIVERGED_FACTOR` times ``zero_loss``, the loss of a
    network that outputs zeros (an untrained network's is 1-5 times that; SN and HD codes lie in [0, 1]).
    With stacked members, ``loss`` and ``zero_loss`` are (E,) and each parameter (E, ...): the result is (E,).
    """
    ok = torch.isfinite(loss) & (loss <= DIVERGED_FACTOR * torch.as_tensor(zero_loss, device=loss.device))
    for p in params:
        ok = ok & torch.isfinite(p).flatten(ok.dim()).all(-1)
    return ok


def _mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.mean((outputs - targets) ** 2)


def _member_mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(E,) mean squared error of each member: (E, B, T, n) outputs and targets."""
    return torch.mean((outputs - targets) ** 2, dim=(1, 2, 3))


class Diverged(ReactivationError):
    """Training of a run diverged at ``step``; ``cause`` says what gave it away (e.g. ``"training loss 8.7e+29"``)."""

    def __init__(self, message: str, step: int, cause: str):
        super().__init__(message)
        self.step, self.cause = step, cause


def divergence_advice(lr: float) -> str:
    """What to do about a run that diverged, trained with learning rate ``lr`` (the end of a message)."""
    # trainer.lr and rnn.sigma2_* name the run directory (only RUNTIME_KEYS stay out of it), so the changed
    # command trains a new run beside this one: no resume=false. The same command unchanged would resume from the
    # last checkpoint and, training being deterministic (bit for bit on CPU), diverge again.
    return (
        f"Lower trainer.lr (e.g. set trainer.lr={lr / 10:g} in the training command) or the noise variances "
        "(rnn.sigma2_*): the command then trains a new run, in the directory that its new value names, and this one "
        "is kept as it is. The same command unchanged would resume this run and diverge again."
    )


def _diverged(run: _Run, step: int, what: str) -> Diverged:
    steps = runs.checkpoint_steps(run.run_dir)
    last = (
        f"the last good checkpoint is {runs.checkpoint_path(run.run_dir, steps[-1])}" if steps else "nothing was saved"
    )
    return Diverged(
        f"training of {run.run_dir} diverged at step {step} ({what}; non-finite or over {DIVERGED_FACTOR:g} times "
        f"the loss of zero outputs); it stopped without saving that step and {last}. "
        + divergence_advice(run.cfg.trainer.lr),
        step,
        what,
    )


def _differs(final: dict[str, Any], state: dict[str, Any]) -> str | None:
    """How the final step checkpoint ``final`` is not the one ``resume.pt`` (``state``) was saved with, or None.

    Both are written from the same state at the last step (_Run.save), so any difference means the step
    checkpoint was replaced afterwards (copied from another run, edited).
    """
    if final["step"] != state["step"]:
        return f"holds step {final['step']!r}, not {state['step']}"
    if comparable(final["config"]) != comparable(state["config"]):
        theirs = final["config"] if isinstance(final["config"], dict) else {}
        return f"was written by another run (preset {theirs.get('preset')!r}, seed {theirs.get('seed')!r})"
    for part in ("model", "task"):
        ours, theirs = state[part], final[part]
        if ours.keys() != theirs.keys() or not all(torch.equal(ours[k].cpu(), theirs[k].cpu()) for k in ours):
            return f"holds other {part} tensors than {runs.RESUME_FILE}"
    return None


def _config_difference(recorded: dict[str, Any], composed: dict[str, Any]) -> str:
    """The settings in which a run's recorded config differs from the command's, as ``key: recorded there,
    composed here`` (at most 5), and the overrides that would continue that run; ``""`` if none differ (beyond the
    keys that do not change what is trained)."""
    there, here = leaves(comparable(recorded)), leaves(comparable(composed))
    keys = sorted(k for k in {*there, *here} if there.get(k) != here.get(k))
    if not keys:
        return ""
    shown = "; ".join(f"{k}: {there.get(k)!r} there, {here.get(k)!r} in this command" for k in keys[:5])
    more = f"; and {len(keys) - 5} more" if len(keys) > 5 else ""
    # Only where every differing setting can be given back on the command line; a partial list would mislead.
    if all(isinstance(there.get(k), (str, int, float)) for k in keys):
        return f"{shown}{more}; to continue that run, add {' '.join(f'{k}={there[k]}' for k in keys)}"
    return f"{shown}{more}"


def _restore_final_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Rewrite a finished run's final step checkpoint from ``resume.pt`` (``state``) unless it is the one saved
    with it: missing, unreadable, copied from another run or edited.

    ``resume.pt`` holds everything the step checkpoint does, so a final checkpoint that was deleted or replaced
    is not lost (the analyses need it, and would otherwise call the run unfinished or another run's).
    """
    path = runs.checkpoint_path(run_dir, state["step"])
    try:
        problem = _differs(runs.load_checkpoint(path, keys=CHECKPOINT_KEYS), state)
    except runs.CheckpointError as err:
        problem = err.problem
    if problem is None:
        return
    log.warning("the final checkpoint %s %s; rewriting it from %s", path, problem, runs.RESUME_FILE)
    runs.save_checkpoint(path, {k: state[k] for k in CHECKPOINT_KEYS})


def _recorded_test(run_dir: Path, step: int) -> dict[str, float]:
    """The test metrics of ``step`` in ``test_metrics.json``, or ``{}`` if that file does not have them."""
    try:
        values = json.loads((run_dir / "test_metrics.json").read_text()).get(str(step), {})
    except (OSError, ValueError, AttributeError):  # missing, not JSON, or not a {step: values} object
        return {}
    return values if isinstance(values, dict) else {}


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
            (nothing is written), or a diverged run (:class:`Diverged`: non-finite loss or weights, or a loss
            :data:`DIVERGED_FACTOR` times that of zero outputs; nothing of it is saved, the last good checkpoint
            is kept, and ``diverged.json`` records the stop until the run finishes or starts over).
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
        members: list[_Run] = []
        for index, (job, setup) in enumerate(zip(jobs, setups)):
            held.enter_context(runs.RunLock(job.run_dir))
            # We hold the run: any temporary file here is a leftover of a killed writer.
            for folder in (job.run_dir, job.run_dir / runs.CHECKPOINT_DIR):
                for tmp in runs.clean_temporaries(folder, every=True):
                    log.info("removed %s, left by an interrupted write", tmp)
            run = _Run(setup, job.run_dir, job.preset, index, job.record)
            done = run.restore_or_finish()
            if done is not None:
                results[index] = done
            else:
                members.append(run)

        # A run resumed at step 0 has evaluated step 0 already and a fresh one has not: they train apart. So do runs
        # of other optimiser settings: one torch Adam steps an ensemble.
        def key(run: _Run) -> tuple[int, bool, float, float]:
            return run.start, run.state is not None, float(run.cfg.trainer.lr), float(run.cfg.trainer.weight_decay)

        for part in sorted({key(run) for run in members}):
            group = [run for run in members if key(run) == part]
            start = part[0]
            for position, run in enumerate(group):
                held.enter_context(run.open(_ensemble_record(group, position)))
            networks: _Networks = _Stacked(group) if len(group) > 1 else _One(group[0])
            for run, result in zip(group, _loop(networks, start)):
                results[run.index] = result
    assert all(result is not None for result in results)  # every job was finished, trained or failed
    return cast(list, results)


def _ensemble_record(group: Sequence[_Run], position: int) -> dict[str, Any] | None:
    """What ``config.yaml`` records of the ensemble a run trains in: its members (preset and seed) and the run's
    place among them; ``None`` for a run trained alone."""
    if len(group) == 1:
        return None
    return {"size": len(group), "index": position, "members": [f"{run.preset} seed={run.cfg.seed}" for run in group]}


class _Run:
    """One training run's books in its directory: config, task, random streams, metrics, checkpoints.

    Its ``model`` and ``optimizer`` hold the run's state whenever it is restored or saved; an ensemble copies
    its members' states in and out of them (:meth:`_Networks.sync`).

    Args:
        setup: the built task and model (:func:`build`).
        run_dir: the run directory (its lock is held by the caller).
        preset: the preset name recorded in ``config.yaml``.
        index: the run's place among the jobs of the call.
        record: the command's record for ``.hydra/`` (:class:`Job`).
    """

    def __init__(
        self, setup: Setup, run_dir: Path, preset: str | None, index: int = 0, record: dict[str, str] | None = None
    ):
        self.cfg, self.task, self.model, self.device = setup.config, setup.task, setup.model, setup.device
        self.run_dir, self.preset, self.index, self.record = run_dir, preset, index, record
        # The container of a DictConfig is a str-keyed dict.
        self.config = {"preset": preset, **cast(dict[str, Any], OmegaConf.to_container(self.cfg, resolve=True))}
        self.resume_file = run_dir / runs.CHECKPOINT_DIR / runs.RESUME_FILE
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

        ``resume=false`` deletes the checkpoints of an earlier run first. A finished run whose ``resume.pt`` is
        missing or unreadable but whose final checkpoint is intact and of this configuration is finished all
        the same: that checkpoint is returned (with ``"test"`` from ``test_metrics.json``) and nothing is loaded.

        Raises:
            ReactivationError: an unusable resume file (of an unfinished run), or one of another configuration.
        """
        if not self.cfg.resume:
            # The whole folder, resume.pt or not: step checkpoints of the earlier run left beside the new run's would
            # read as its own.
            if self.resume_file.parent.exists():
                log.info("resume=false: deleting the checkpoints and metrics in %s", self.run_dir)
                shutil.rmtree(self.resume_file.parent)
            runs.clear_divergence(self.run_dir)
            return None
        fix = "rerun with resume=false to start the run over"
        try:
            state = runs.load_checkpoint(self.resume_file, map_location=self.device, keys=RESUME_KEYS, fix=fix)
        except runs.CheckpointError as err:
            final = self._intact_final()
            if final is not None:
                # resume.pt only serves to continue training; the analyses read the step checkpoints.
                log.warning(
                    "%s %s, but %s is finished: its final checkpoint %s is intact and is what the analyses read, "
                    "so nothing needs retraining (resume.pt would only be needed to train on).",
                    self.resume_file,
                    err.problem,
                    self.run_dir,
                    runs.checkpoint_path(self.run_dir, final["step"]),
                )
                self.resumable = False
                return final
            if not self.resume_file.exists():
                self._check_fresh_start()
                return None
            raise
        require_finite_weights(state, self.resume_file, fix)
        if comparable(state["config"]) != comparable(self.config):
            differs = _config_difference(state["config"], self.config)
            raise ReactivationError(
                f"{self.run_dir} holds a run with a different configuration{f' ({differs})' if differs else ''}; "
                "choose another path= or rerun with resume=false to replace it."
            )
        self.model.load_state_dict(state["model"])
        self.task.load_state_dict(state["task"])
        self.optimizer.load_state_dict(state["optimizer"])
        for name, gen in self.streams.items():
            gen.set_state(state["rng"][name].cpu())
        return state

    def _intact_final(self) -> dict[str, Any] | None:
        """The run's final step checkpoint (``trainer.n_epochs``) with ``"test"`` added, if it is intact (readable,
        finite) and of this configuration; else None."""
        n_steps = self.cfg.trainer.n_epochs
        try:
            final = runs.load_checkpoint(runs.checkpoint_path(self.run_dir, n_steps), keys=CHECKPOINT_KEYS)
            require_finite_weights(final, runs.checkpoint_path(self.run_dir, n_steps), "")
        except ReactivationError:
            return None
        if final["step"] != n_steps or comparable(final["config"]) != comparable(self.config):
            return None
        return {**final, "test": _recorded_test(self.run_dir, n_steps)}

    def _check_fresh_start(self) -> None:
        """Let a run without ``resume.pt`` start afresh only if that loses nothing.

        A fresh start rewrites ``metrics.jsonl`` and the step checkpoints. A run that has nothing beyond step 0
        (:func:`runs.beyond_step_zero`) was interrupted before its first ``resume.pt``: it starts afresh. One with
        more trained on and then lost ``resume.pt`` (deleted by hand): starting over would delete what it saved,
        so it is refused.

        Raises:
            ReactivationError: a checkpoint or logged step after step 0; nothing is written. The message names
                the last intact step checkpoint (which the analyses can read with ``epoch=``) and the choices.
        """
        if not runs.beyond_step_zero(self.run_dir):
            return
        steps, logged = runs.checkpoint_steps(self.run_dir), runs.last_logged_step(self.run_dir)
        unusable, last = [], None
        for step in reversed(steps):
            path = runs.checkpoint_path(self.run_dir, step)
            try:
                state = runs.load_checkpoint(path, keys=CHECKPOINT_KEYS)
            except runs.CheckpointError as err:
                unusable.append(f"{path.name} {err.problem}")
                continue
            try:
                require_finite_weights(state, path, "")
            except ReactivationError:
                unusable.append(f"{path.name} holds non-finite weights")
                continue
            if comparable(state["config"]) != comparable(self.config):
                differs = _config_difference(state["config"], self.config)
                raise ReactivationError(
                    f"{self.run_dir} holds checkpoints of a run with a different configuration ({path}"
                    f"{'; ' + differs if differs else ''}) and no "
                    f"{runs.RESUME_FILE}; nothing was changed. Choose another path=, or rerun with resume=false to "
                    "replace it (this deletes its checkpoints and metrics)."
                )
            last = step
            break
        there = [f"its last intact step checkpoint is {runs.checkpoint_path(Path(), last)}"] if last is not None else []
        if logged is not None:
            there.append(f"{runs.METRICS_LOG} logs steps up to {logged}")
        if unusable:
            there.append(f"unusable: {', '.join(unusable)}")
        keep = (
            ""
            if last is None
            else (
                f"; or keep it as it is: the analyses read its saved checkpoints with epoch=<step> (e.g. epoch={last})"
            )
        )
        raise ReactivationError(
            f"{self.run_dir} cannot be resumed: its {runs.CHECKPOINT_DIR}/{runs.RESUME_FILE} is missing, and "
            f"training continues only from that file, yet the run got past step 0 ({'; '.join(there)}). Nothing was "
            f"changed. Retrain it from scratch with resume=false, which deletes those checkpoints and metrics{keep}."
        )

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
            _restore_final_checkpoint(self.run_dir, self.state)
        self._restore_config(self.state["config"])
        runs.clear_divergence(self.run_dir)  # left if a finishing run was killed before it removed it
        log.info("%s already finished (%d steps); rerun with resume=false to retrain.", self.run_dir, self.start)
        return self.result(self.start, self.state.get("test", {}))

    def _restore_config(self, recorded: dict[str, Any]) -> None:
        """Rewrite ``config.yaml`` as ``recorded`` (the config the checkpoints were saved with) if it is missing,
        damaged or describes another run: the analyses find runs by it."""
        path = self.run_dir / runs.CONFIG_FILE
        try:
            same = comparable(runs.load_config(self.run_dir)) == comparable(recorded)
            problem = "describes another run"
        except (ReactivationError, OmegaConfBaseException, ValueError):  # unreadable, or values OmegaConf refuses
            same, problem = False, "is missing or damaged"
        if not same:
            log.warning("%s %s; rewriting it from the run's checkpoints", path, problem)
            runs.save_config(self.run_dir, recorded)

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
        return {"step": step, "test": test, "run_dir": str(self.run_dir)}

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
            "loss": _mse(outputs, batch.targets).item(),
            self.error_name: self.task.decoding_error(outputs, batch.latent).item(),
        }
        if not all(math.isfinite(v) for v in values.values()):
            raise _diverged(self, step, f"test loss {values['loss']:.3g}")
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


class _Networks:
    """What the training loop steps: the networks of its runs and their optimizer.

    Outputs are (E, B, T, n_code) for the E runs (E = 1 for :class:`_One`), losses (E,).
    """

    runs: list[_Run]

    def forward(self, batches: Sequence[Batch], stream: str | None) -> torch.Tensor:
        """(E, B, T, n_code) outputs on the runs' batches, with the noise of each run's ``stream`` (``None``: none)."""
        raise NotImplementedError

    def losses(self, outputs: torch.Tensor, batches: Sequence[Batch]) -> torch.Tensor:
        """(E,) mean squared error of each run's outputs against its batch's targets."""
        raise NotImplementedError

    def update(self, losses: torch.Tensor) -> None:
        """Backpropagate the losses and take one optimizer step (each run's update is its own)."""
        raise NotImplementedError

    def healthy(self, losses: torch.Tensor) -> list[bool]:
        """Per run: not diverged (see :func:`_healthy`), in one device sync."""
        raise NotImplementedError

    def sync(self) -> None:
        """Copy the current weights and optimizer state into each run's ``model`` and ``optimizer``."""

    def drop(self, failed: Sequence[tuple[_Run, ReactivationError]]) -> None:
        """Stop the runs that failed; the others go on."""
        raise NotImplementedError


class _One(_Networks):
    """A single run: its own model and ``torch.optim.Adam``, exactly as it is built."""

    def __init__(self, run: _Run):
        self.runs = [run]

    def forward(self, batches: Sequence[Batch], stream: str | None) -> torch.Tensor:
        run, batch = self.runs[0], batches[0]
        if stream is None:
            _, outputs = run.model(batch.inputs, batch.init_code, sigma_in=0.0, sigma_rec=0.0, sigma_out=0.0)
        else:
            _, outputs = run.model(batch.inputs, batch.init_code, generator=run.streams[stream])
        return outputs.unsqueeze(0)

    def losses(self, outputs: torch.Tensor, batches: Sequence[Batch]) -> torch.Tensor:
        return _mse(outputs[0], batches[0].targets).reshape(1)

    def update(self, losses: torch.Tensor) -> None:
        optimizer = self.runs[0].optimizer
        optimizer.zero_grad(set_to_none=True)
        losses[0].backward()
        optimizer.step()

    def healthy(self, losses: torch.Tensor) -> list[bool]:
        run = self.runs[0]
        return [bool(_healthy(losses[0], run.zero_loss, run.params).item())]

    def drop(self, failed: Sequence[tuple[_Run, ReactivationError]]) -> None:
        if failed:
            self.runs = []


class _Stacked(_Networks):
    """Runs of one shape and one optimiser setting as an :class:`~reactivation.models.Ensemble`, stepped by one
    torch Adam on the stacked parameters (:mod:`reactivation.optim`).

    Built from the runs' models and optimizers as restored (fresh or resumed), so member k starts exactly where
    run k would on its own.
    """

    def __init__(self, group: Sequence[_Run]):
        self._build(group)

    def _build(self, group: Sequence[_Run]) -> None:
        self.runs = list(group)
        self.net = Ensemble([run.model for run in self.runs])
        self.params = list(self.net.parameters())
        tr = self.runs[0].cfg.trainer
        if any((run.cfg.trainer.lr, run.cfg.trainer.weight_decay) != (tr.lr, tr.weight_decay) for run in self.runs):
            raise ValueError("the members of an ensemble share trainer.lr and trainer.weight_decay (ensembles.group)")
        self.optimizer = optim.adam(self.params, tr.lr, tr.weight_decay)
        if self.runs[0].optimizer.state:  # resumed (or rebuilt after a drop): every member has its Adam state
            optim.load_member_states(self.optimizer, [run.optimizer.state_dict() for run in self.runs])
        self.zero_losses = torch.tensor([run.zero_loss for run in self.runs], device=self.runs[0].device)

    def forward(self, batches: Sequence[Batch], stream: str | None) -> torch.Tensor:
        inputs = torch.stack([batch.inputs for batch in batches])
        init_code = torch.stack([batch.init_code for batch in batches])
        if stream is None:
            _, outputs = self.net(inputs, init_code, sigma_in=0.0, sigma_rec=0.0, sigma_out=0.0)
        else:
            _, outputs = self.net(inputs, init_code, generators=[run.streams[stream] for run in self.runs])
        return outputs

    def losses(self, outputs: torch.Tensor, batches: Sequence[Batch]) -> torch.Tensor:
        return _member_mse(outputs, torch.stack([batch.targets for batch in batches]))

    def update(self, losses: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        losses.sum().backward()  # member k's parameters get the gradient of its own loss only
        self.optimizer.step()

    def healthy(self, losses: torch.Tensor) -> list[bool]:
        return _healthy(losses, self.zero_losses, self.params).tolist()

    def sync(self) -> None:
        for k, run in enumerate(self.runs):
            run.model.load_state_dict(self.net.member_state_dict(k))
            run.optimizer.load_state_dict(optim.member_state_dict(self.optimizer, k))

    def drop(self, failed: Sequence[tuple[_Run, ReactivationError]]) -> None:
        if not failed:
            return
        for _, error in failed:
            log.error("%s; the other members of its ensemble go on.", error)
        self.sync()
        gone = {id(run) for run, _ in failed}
        kept = [run for run in self.runs if id(run) not in gone]
        if kept:
            self._build(kept)  # from the kept runs' synced states
        else:
            self.runs = []


def _loop(networks: _Networks, start: int) -> list[dict[str, Any] | ReactivationError]:
    """Train ``networks``' runs from ``start`` to ``trainer.n_epochs``, evaluating and checkpointing on schedule.

    Returns each run's result, or the error that stopped it (a run that diverges is dropped and the others go
    on).
    """
    group = list(networks.runs)
    lead = group[0]
    tr, n_steps = lead.cfg.trainer, lead.cfg.trainer.n_epochs
    failed: dict[int, ReactivationError] = {}

    def stop(bad: Sequence[tuple[_Run, ReactivationError]]) -> None:
        failed.update({id(run): error for run, error in bad})
        for run, error in bad:
            # On disk, so that the analyses tell a diverged run from an interrupted one (runs.divergence).
            if isinstance(error, Diverged):
                runs.mark_diverged(run.run_dir, error.step, error.cause, str(error))
        networks.drop(bad)

    def evaluate(step: int) -> None:
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
        stop(bad)

    def checkpoint(step: int) -> None:
        # The weights were updated after the last loss was checked, so they are checked themselves first: on the
        # test batch without noise (which draws nothing, so every random stream stays as it is).
        if not networks.runs:
            return
        batches = cast(list[Batch], [run.test_batch for run in networks.runs])
        with torch.no_grad():
            losses = networks.losses(networks.forward(batches, None), batches)
        healthy, values = networks.healthy(losses), losses.tolist()
        stop([
            (run, _diverged(run, step, f"noise-free test loss {value:.3g} of the weights to be saved"))
            for run, ok, value in zip(networks.runs, healthy, values)
            if not ok
        ])  # fmt: skip
        networks.sync()
        for run in networks.runs:
            run.save(step)

    name = lead.preset or lead.run_dir.name
    bar = tqdm(
        total=n_steps,
        initial=start,
        desc=name if len(group) == 1 else f"ensemble of {len(group)} ({name}, ...)",
        disable=not tr.progress,
        dynamic_ncols=True,
        mininterval=1.0,
    )
    postfix: dict[str, float] = {}
    products = matmul_precision(tr.get("matmul_precision", "float32"), lead.device)
    with logging_redirect_tqdm(), bar, products:
        # A run resumed at step 0 (stopped before step 1 was saved) has evaluated and saved step 0 already;
        # doing it again would draw the evaluation noise twice and shift every later test metric.
        if lead.state is None:
            evaluate(0)
            checkpoint(0)
        for step in range(start + 1, n_steps + 1):
            if not networks.runs:
                break
            batches = [run.sample() for run in networks.runs]
            outputs = networks.forward(batches, "train_noise")
            losses = networks.losses(outputs, batches)
            networks.update(losses)
            losses = losses.detach()
            healthy, values = networks.healthy(losses), losses.tolist()
            bad = []
            for k, run in enumerate(networks.runs):
                if not healthy[k]:
                    bad.append((run, _diverged(run, step, f"training loss {values[k]:.3g}")))
                    continue
                logged = run.train_values(step, values[k], outputs[k], batches[k])
                cast(runs.MetricsLog, run.metrics).log("train", step, **logged)
                if k == 0:
                    postfix.update(logged)
            stop(bad)
            if step % tr.test_freq == 0 or step == n_steps:
                evaluate(step)
                postfix.update({f"test_{k}": v for k, v in networks.runs[0].test.items()} if networks.runs else {})
            if step % tr.save_freq == 0 or step == n_steps:
                checkpoint(step)
            if len(group) > 1:
                postfix["members"] = len(networks.runs)
            bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)
            bar.update()
    results: list[dict[str, Any] | ReactivationError] = []
    for run in group:
        if id(run) in failed:
            results.append(failed[id(run)])
            continue
        runs.clear_divergence(run.run_dir)  # an earlier start diverged; this one got through
        test = run.test
        error = run.error_name
        log.info("finished %s: test loss %.3g, %s %.3g", run.run_dir, test["loss"], error, test[error])
        results.append(run.result(n_steps, test))
    return results
