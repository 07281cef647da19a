"""The analysis stage of ``reactivation reproduce``: every paper analysis of every family and seed, computed or
reused when a saved result has the same settings; without the stage, the results on disk are read instead."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from reactivation import ReactivationError, analyses
from reactivation.analysis.results import MissingResult, read_result
from reactivation.analysis.settings import Settings, settings
from reactivation.reproduction.configs import analysis_config

log = logging.getLogger(__name__)

#: ``{seed: {family: {kind: result}}}``: the results of every paper analysis (``kind`` is the analysis's name).
Results = dict[int, dict[str, dict[str, dict]]]


def _reusable(s: Settings, kind: str) -> dict | None:
    """The saved result of ``kind`` if it was computed with these very settings from runs that still exist."""
    try:
        result, meta = read_result(s, kind)
    except MissingResult:
        return None
    except ReactivationError as err:  # unreadable, or of other settings: computed again, which replaces it
        log.warning("%s", err)
        return None
    return result if all(Path(p).is_dir() for p in meta.get("runs", {}).values()) else None


def analyse(cfg: DictConfig, seeds: list[int], families: list[str]) -> Results:
    """Run (or reuse) every analysis; returns ``{seed: {family: {kind: result}}}``."""
    results: Results = {seed: {} for seed in seeds}
    for family in families:
        for seed in seeds:
            for analysis in analyses.PAPER:
                kind = analysis.name
                s = settings(analysis_config(cfg, kind, family, seed))
                result = None if cfg.force else _reusable(s, kind)
                if result is None:
                    log.info("%s %s seed %d", kind, family, seed)
                    result = analysis.run(s)[kind]
                results[seed].setdefault(family, {})[kind] = result
    return results


def load_results(cfg: DictConfig, seeds: list[int], families: list[str]) -> tuple[Results, list[str]]:
    """The analysis results on disk made with the settings ``cfg`` asks for.

    Returns:
        ``{seed: {family: {kind: result}}}`` and one line per result that is missing, unreadable or of other
        settings (with the command that makes it).
    """
    results: Results = {seed: {} for seed in seeds}
    problems = []
    for family in families:
        for seed in seeds:
            for kind in (a.name for a in analyses.PAPER):
                try:
                    result, _ = read_result(settings(analysis_config(cfg, kind, family, seed)), kind)
                except ReactivationError as err:
                    problems.append(str(err))
                    continue
                results[seed].setdefault(family, {})[kind] = result
    return results, problems
