"""Gather what the figures show: runs and analysis results over seeds, and states of one reference seed.

Aggregate panels (learning curves, variance, KL, distance) read every seed found under the results root;
state panels (PCA, scatter, trajectories, density maps) simulate the runs of one reference seed.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reactivation import ReactivationError, analyses, runs
from reactivation.analysis import lookup, results
from reactivation.analysis.settings import Settings, for_kind
from reactivation.figures.data import align_over_seeds
from reactivation.loading import Setup

log = logging.getLogger(__name__)


@dataclass
class Inventory:
    """Runs and analysis results found for one (task, model family).

    Attributes:
        seeds: seeds with at least one finished run of the family, ascending.
        runs: condition -> seed -> run directory (finished runs only).
        tests: condition -> seed -> the run's test log ``{"<step>": {"loss": ..., ...}}`` (readable ones only).
        results: analysis kind (``kl``, ``variance``, ``distance``, ``manifold``) -> seed -> loaded JSON, only
            results whose ``.meta.json`` records the settings asked for.
        missing: one line per missing or unusable run, log or result, with the command that produces it.
        kinds: analysis kind -> the settings of its results read (:func:`kind_settings`).
    """

    seeds: list[int]
    runs: dict[str, dict[int, Path]]
    tests: dict[str, dict[int, dict]] = field(default_factory=dict)
    results: dict[str, dict[int, dict]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    kinds: dict[str, Settings] = field(default_factory=dict)


def seeds_of(s: Settings) -> list[int]:
    """Seeds of every run of the family of ``s`` under its results root (finished or not), ascending."""
    presets = set(s.conditions.values())
    return sorted({cfg["seed"] for _, cfg in runs.iter_runs(Path(s.cfg.path)) if cfg.get("preset") in presets})


def kind_settings(s: Settings) -> dict[str, Settings]:
    """The settings of each analysis's results that the figures of ``s`` read (:func:`for_kind`), in the order of
    :data:`reactivation.analyses.NAMES`; checks ``s``'s analyses block first."""
    return {kind: for_kind(s, kind) for kind in analyses.NAMES}


def results_tag(kinds: dict[str, Settings], named_elsewhere: bool = False) -> str:
    """The settings of the results the figures read (``kinds``: :func:`kind_settings`) that differ from the scale's
    defaults, as one tag: the union of the results' file-name tags
    (:func:`reactivation.analysis.results.settings_tag`), ``""`` when they are all the defaults.
    ``named_elsewhere``: the ``train_overrides`` part is left out (a reproduce variant's folder names them). A tag
    over 80 characters becomes ``settings=<digest>``.
    """
    parts: list[str] = []
    for kind, ks in kinds.items():
        tag = results.settings_tag(ks, kind)
        for part in tag.split(",") if tag else []:
            if part not in parts and not (named_elsewhere and part.startswith("train=")):
                parts.append(part)
    return results.compact_tag(parts, parts)


def inventory(s: Settings, seeds: list[int] | None = None) -> Inventory:
    """Find every run and analysis result of the family of ``s`` (all seeds, or ``seeds``).

    The results read are those of :func:`for_kind` (``s``'s shared keys, the analysis sizes of
    ``s.cfg.analyses``). Nothing missing is an error here: the figure command draws what it can and reports the
    rest, including result files that are unreadable or were made with other settings.
    """
    kinds = kind_settings(s)
    seeds = seeds if seeds is not None else seeds_of(s)
    inv = Inventory(
        seeds=[], runs={name: {} for name in s.conditions}, tests={name: {} for name in s.conditions}, kinds=kinds
    )
    found = lookup.family_runs(s, seeds)
    for seed in seeds:
        for name in s.conditions:
            try:
                run_dir = found[name][seed]
                if isinstance(run_dir, ReactivationError):
                    raise run_dir
                inv.runs[name][seed] = run_dir
                inv.tests[name][seed] = results.read_test_metrics(run_dir)
            except ReactivationError as err:
                inv.missing.append(str(err).replace("\n", " "))
        if any(seed in by_seed for by_seed in inv.runs.values()):
            inv.seeds.append(seed)
    for kind, ks in kinds.items():
        inv.results[kind] = {}
        for seed in inv.seeds:
            try:
                inv.results[kind][seed], _ = results.read_result(dataclasses.replace(ks, seed=seed), kind)
            except results.MissingResult as err:
                if analyses.get(kind).extra is None:  # an analysis of an extra is drawn where it was run
                    inv.missing.append(str(err))
            except ReactivationError as err:
                inv.missing.append(str(err))
    return inv


def learning_curves(inv: Inventory, error_key: str) -> tuple[np.ndarray, dict, dict]:
    """Test loss and decoding error over steps, per condition, for the steps every seed logged.

    Returns:
        ``(steps (S,), {condition: (n_seeds, S) loss}, {condition: (n_seeds, S) error})``.
    """
    logs = {name: list(by_seed.values()) for name, by_seed in inv.tests.items() if by_seed}
    if not logs:
        raise ReactivationError("no finished runs to draw learning curves from.")
    # Align every (condition, seed) curve at once, so all conditions share the steps every run logged.
    keys = [(name, i) for name, runs_ in logs.items() for i in range(len(runs_))]
    loss: dict[str, np.ndarray] = {}
    error: dict[str, np.ndarray] = {}
    for metric, out in (("loss", loss), (error_key, error)):
        steps, values = align_over_seeds([{k: v[metric] for k, v in logs[name][i].items()} for name, i in keys])
        for name in logs:
            out[name] = values[[j for j, (n, _) in enumerate(keys) if n == name]]
    return steps, loss, error


def load(inv: Inventory, condition: str, seed: int, s: Settings) -> Setup:
    """Load the run of ``condition`` for ``seed`` found by :func:`inventory` (at ``s``'s epoch and device)."""
    return lookup.load_condition(s, inv.runs[condition][seed])
