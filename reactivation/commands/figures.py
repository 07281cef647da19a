"""``reactivation figures task=spatial_navigation`` (``python -m reactivation.figures ...``): every figure of a task.

Reads the runs and analysis results under ``path`` (default ``results``), aggregates over every seed it
finds, writes ``<path>/<task>/figures/<name>[_gru].{png,pdf}`` and lists what is missing with the command
that produces it. Keys: reactivation/configs/analysis/figures.yaml (+ common.yaml).
"""
# ruff: noqa: E402  (quiet_startup must run before the slow imports below)

from __future__ import annotations

from reactivation.processes import quiet_startup

quiet_startup()  # an interrupt during start-up ends with one line, not a traceback

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from reactivation import usage
from reactivation.cli import configure_process, exit_on_error
from reactivation.config import ANALYSIS_CONFIG_DIR, preflight_analysis, register_resolvers
from reactivation.figures import make


@hydra.main(config_path=str(ANALYSIS_CONFIG_DIR), config_name="figures", version_base="1.3")
@exit_on_error
def _app(cfg: DictConfig) -> None:
    s, inv, written = make.write(cfg)
    print(f"seeds: {', '.join(map(str, inv.seeds))}; reference seed for the state panels: {s.seed}")
    print(f"wrote {len(written)} files to {Path(s.cfg.path) / s.task / 'figures'}/")
    if inv.missing:
        print("missing (figures drawn without them):\n  " + "\n  ".join(inv.missing))


def main() -> None:
    """Check the command line, then draw through Hydra."""
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting is chatty at INFO
    register_resolvers()
    configure_process()
    exit_on_error(preflight_analysis)(sys.argv[1:], "figures", script=usage.command("figures"), require_seed=False)
    _app()
