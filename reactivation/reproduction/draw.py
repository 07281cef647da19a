"""The figure stage of ``reactivation reproduce``: every figure of every family, from the results the analysis
stage made."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from reactivation.figures import make
from reactivation.reproduction.configs import analysis_config


def draw(cfg: DictConfig, seeds: list[int], families: list[str], variant: str = "") -> tuple[list[Path], list[str]]:
    """Every figure of every family (a variant's in its own folder); returns the written files and what the
    figures lacked."""
    written, missing = [], []
    for family in families:
        fcfg = analysis_config(cfg, "figures", family, None)
        fcfg.seeds, fcfg.formats = list(seeds), list(cfg.formats)
        _, inv, files = make.write(fcfg, subdir=variant)
        written += files
        missing += inv.missing
    return written, missing
