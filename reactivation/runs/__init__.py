"""Run directories: layout, atomic files, checkpoints, records, the lock, divergence and metrics.

A run directory holds::

    config.yaml           the resolved training config (+ ``preset``), written before training starts
    .hydra/               Hydra's record of the command that trained it (when started from train.py), written
                          once the command holds the run's lock
    metrics.jsonl         one JSON line per logged step, appended as training goes
    train_metrics.json    {step: {loss, pos_mse | hd_mse}} summaries, rewritten at each checkpoint
    test_metrics.json     the same for the fixed test batch
    diverged.json         only while the run is stopped by divergence: the step, the cause and the message
    checkpoints/
        step_000100.pt    weights, cell centres, step and config every ``trainer.save_freq`` steps
        resume.pt         the latest full training state (adds optimizer and random-stream states)

Every file is written to a temporary file and renamed into place, so an interruption never leaves a
torn file; ``resume.pt`` is written last and is what a resumed run continues from.

A shipped run (the evidence store, docs/campaign.md) keeps instead only ``final_weights.pt``, its last step
checkpoint, beside ``config.yaml``: readers find it through :func:`saved_checkpoints`.

The package, by job: ``layout`` (the file names and step-checkpoint paths), ``files`` (atomic writes and the
leftovers of killed writers), ``checkpoints`` (saving, loading and finding them), ``records`` (``config.yaml`` and
``.hydra/``), ``lock`` (one writer per run), ``diverged`` (``diverged.json``) and ``metrics`` (``metrics.jsonl``
and its summaries). Everything is used as ``runs.<name>``: the package re-exports them all.
"""

from __future__ import annotations

from reactivation.runs.checkpoints import RETRAIN, CheckpointError, load_checkpoint, save_checkpoint, saved_checkpoints
from reactivation.runs.diverged import clear_divergence, divergence, mark_diverged
from reactivation.runs.files import clean_temporaries, os_error_text, write_json_atomic, write_text_atomic
from reactivation.runs.layout import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    DIVERGED_FILE,
    FINAL_WEIGHTS,
    LOCK_FILE,
    METRICS_LOG,
    RECORD_DIR,
    RESUME_FILE,
    checkpoint_path,
    checkpoint_steps,
)
from reactivation.runs.lock import RunLock, busy
from reactivation.runs.metrics import MetricsLog, MetricsSink, beyond_step_zero, last_logged_step, read_metrics
from reactivation.runs.records import command_hint, iter_runs, load_config, save_config, write_record

__all__ = [
    "CHECKPOINT_DIR",
    "CONFIG_FILE",
    "DIVERGED_FILE",
    "FINAL_WEIGHTS",
    "LOCK_FILE",
    "METRICS_LOG",
    "RECORD_DIR",
    "RESUME_FILE",
    "RETRAIN",
    "CheckpointError",
    "MetricsLog",
    "MetricsSink",
    "RunLock",
    "beyond_step_zero",
    "busy",
    "checkpoint_path",
    "checkpoint_steps",
    "clean_temporaries",
    "clear_divergence",
    "command_hint",
    "divergence",
    "iter_runs",
    "last_logged_step",
    "load_checkpoint",
    "load_config",
    "mark_diverged",
    "os_error_text",
    "read_metrics",
    "save_checkpoint",
    "save_config",
    "saved_checkpoints",
    "write_json_atomic",
    "write_record",
    "write_text_atomic",
]
