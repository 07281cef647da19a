"""Every figure of a task (docs/spec.md §8) from an inventory of runs and analysis results.

:func:`figures` returns ``{name: Figure}``; the figure command (``python -m reactivation.figures``) and
the notebooks call it, then save or show. Each figure is drawn from what exists; what is missing is in
the inventory's ``missing`` list, not an exception.

The theory analyses (issue #14; :mod:`reactivation.figures.panels_theory`) add, each when its results exist:
``theory_drift_agreement`` (slope and cosine of the learned drift against the optimal denoiser, mean ± std over
seeds; ``reactivation drift``), ``theory_drift_field_<condition>`` (the binned decoded drift and its prediction
of the reference seed, or of the first seed with a drift result, for ``noisy_unbiased`` and ``noisy_biased``),
``theory_temperature`` (KL and spread against the quiescent noise factor; ``reactivation temperature``) and
``theory_msd`` (mean squared displacement against lag and its exponent; ``reactivation diffusion``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf

from reactivation import NOISY_CONDITIONS, ConfigError, ReactivationError
from reactivation.analysis import lookup, protocol
from reactivation.analysis.aggregate import gather
from reactivation.analysis.settings import Settings, compose_analysis, settings
from reactivation.config import model_suffix
from reactivation.figures import collect, panels, panels_replay, panels_theory, states, summary
from reactivation.figures.style import check_formats, label, save
from reactivation.tasks import TASKS
from reactivation.values import show

log = logging.getLogger(__name__)


def aggregate_figures(s: Settings, inv: collect.Inventory) -> Iterator[tuple[str, Figure]]:
    """Panels over seeds: learning curves, KL heat map, variance and distance box plots, the theory panels."""
    task = TASKS[s.task]  # its error's name and unit, and its space's units (no run needs loading)
    if any(inv.tests.values()):  # runs whose test log is unreadable are in inv.missing
        steps, loss, error = collect.learning_curves(inv, task.error_name)
        yield (
            "learning_curves",
            panels.learning_curves(steps, loss, error, error_label=f"decoding error ({task.error_unit})"),
        )
    if inv.results["kl"]:
        table = {
            row: {col: float(v.mean()) for col, v in cols.items()} for row, cols in gather(inv.results["kl"]).items()
        }
        yield "kl_heatmap", panels.kl_heatmap(table)
    if inv.results["variance"]:
        yield (
            "variance_box",
            panels.variance_box(gather(inv.results["variance"]), ylabel=task.geometry_type.variance_label),
        )
    if inv.results["distance"]:
        yield (
            "distance_box",
            panels.distance_box(gather(inv.results["distance"]), ylabel=f"mean step ({task.geometry_type.unit})"),
        )
    yield from theory_figures(s, inv)
    if inv.results.get("replay"):
        yield from replay_figures(inv.results["replay"], task.geometry_type.unit)


def replay_figures(by_seed: dict[int, dict], unit: str) -> Iterator[tuple[str, Figure]]:
    """``replay_dynamics`` (each dynamic's share per network and phase, mean over seeds) and ``replay_event`` (the
    first seed's quiescent example of the noisy unbiased network, or of the first network there)."""
    seeds = sorted(by_seed)
    names = list(by_seed[seeds[0]])
    shares = {
        name: {
            phase: {
                dynamic: float(np.mean([by_seed[seed][name][phase]["classified"][dynamic] for seed in seeds]))
                for dynamic in panels_replay.DYNAMICS
            }
            for phase in panels_replay.PHASES
        }
        for name in names
        if all(name in by_seed[seed] for seed in seeds)
    }
    yield "replay_dynamics", panels_replay.dynamics_shares(shares)
    name = "noisy_unbiased" if "noisy_unbiased" in names else names[0]
    ex = by_seed[seeds[0]][name]["example"]
    title = f"one quiescent event, {label(name)}, seed {seeds[0]}"
    latent_label = f"decoded ({unit})"
    yield "replay_event", panels_replay.event_posterior(ex["time"], ex["states"], ex["latent"], latent_label, title)


#: The leaves of each theory result that its figures draw over seeds: kind -> (parts, keys of each part).
_THEORY_LEAVES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "drift": (("pca", "decoded", "reference"), ("slope", "cosine")),
    "diffusion": (("active", "quiescent"), ("lags", "msd", "exponent")),
}


def _theory_gathered(by_seed: dict[int, dict], kind: str) -> dict:
    """:func:`gather` of the leaves of ``_THEORY_LEAVES[kind]`` only: {condition: {part: {key: (n_seeds, ...)}}}.

    The other leaves do not stack: a drift ``field`` holds ``null`` bins among vectors, and a diffusion ``acf``
    is ``null`` for a network that does not move and a list for one that does.
    """
    parts, keys = _THEORY_LEAVES[kind]
    return gather(
        {
            seed: {
                condition: {part: {k: entry[part][k] for k in keys} for part in parts if part in entry}
                for condition, entry in result.items()
            }
            for seed, result in by_seed.items()
        }
    )


def theory_figures(s: Settings, inv: collect.Inventory) -> Iterator[tuple[str, Figure]]:
    """Panels of the theory analyses (drift, temperature, diffusion), each only where its results exist."""
    geometry = TASKS[s.task].geometry_type
    drift = inv.results.get("drift", {})
    if drift:
        yield "theory_drift_agreement", panels_theory.drift_agreement(_theory_gathered(drift, "drift"))
        seed = s.seed if s.seed in drift else min(drift)
        for condition in NOISY_CONDITIONS:
            field = drift[seed].get(condition, {}).get("field")
            if field:  # {} for a latent space the drift analysis does not bin
                title = f"{label(condition)}: decoded drift vs score (seed {seed})"
                yield f"theory_drift_field_{condition}", panels_theory.drift_field(field, geometry.name, title)
    if inv.results.get("temperature"):
        yield (
            "theory_temperature",
            panels_theory.temperature_curves(
                gather(inv.results["temperature"]), variance_label=geometry.variance_label
            ),
        )
    if inv.results.get("diffusion"):
        yield (
            "theory_msd",
            panels_theory.msd_curves(_theory_gathered(inv.results["diffusion"], "diffusion"), unit=geometry.unit),
        )


def state_figures(
    s: Settings, inv: collect.Inventory, batch_size: int, t_quiescent: int
) -> Iterator[tuple[str, Figure]]:
    """Panels of one reference seed's states: PCA, then the panels of the task's geometry (:mod:`.states`)."""
    for condition in NOISY_CONDITIONS:
        if s.seed not in inv.runs.get(condition, {}):
            continue
        setup = collect.load(inv, condition, s.seed, s)
        projected, ratio, quiet_ratio = states.project(protocol.states(setup, s, batch_size, t_quiescent))
        yield f"explained_variance_{condition}", panels.explained_variance(np.cumsum(ratio), np.cumsum(quiet_ratio))
        geometry = setup.task.geometry
        if geometry.name not in states.PANELS:
            log.warning(
                "no state panels for the %s geometry of %s; add them to reactivation.figures.states.PANELS",
                geometry.name,
                s.task,
            )
            continue
        for name, fig in states.PANELS[geometry.name](geometry, projected):
            yield f"{name}_{condition}", fig
        # The share itself is output_manifold.py's result; the figures read it rather than compute it again.
        share = inv.results.get("manifold", {}).get(s.seed, {}).get(condition, {}).get("pca_share")
        if share is not None:
            log.info(
                "%s: %.2f of quiescent hidden-state variance lies in the active top PCs (manifold result)",
                condition,
                share,
            )


def figures(s: Settings, inv: collect.Inventory, batch_size: int = 1000, t_quiescent: int = 200) -> dict[str, Figure]:
    """Every figure that the inventory allows, by name (``learning_curves``, ``kl_heatmap``, ...), and ``summary``,
    the family's paper panels on one page (:mod:`reactivation.figures.summary`)."""
    drawn = dict([*aggregate_figures(s, inv), *state_figures(s, inv, batch_size, t_quiescent)])
    if summary.page_panels(list(drawn)):
        title = f"{s.task}, {s.model}: seeds {_listed(inv.seeds)}; state panels of seed {s.seed}"
        drawn["summary"] = summary.summary(drawn, title)
    return drawn


def from_config(cfg: DictConfig) -> tuple[Settings, collect.Inventory, dict[str, Figure]]:
    """Inventory the results of ``cfg`` (reactivation/configs/analysis/figures.yaml) and draw every figure.

    Returns:
        The settings (with the reference seed), the inventory (incl. what is missing) and the figures.

    Raises:
        ConfigError: a bad setting (checked before anything is read), or ``seeds`` none of which, or a reference
            ``seed`` that, has runs (the message names the seeds that have some).
        ReactivationError: no finished run of the family at all (the message gives the train command).
    """
    # Here, not in settings(): the analyses, below the figures, know no file formats.
    check_formats(list(cfg.formats) if OmegaConf.is_list(cfg.formats) else cfg.formats)
    cfg = cfg.copy()
    reference = cfg.seed
    cfg.seed = 0 if reference is None else reference  # Settings needs a seed; the real one is chosen below
    s = settings(cfg)
    inv = collect.inventory(s, None if s.cfg.seeds is None else list(s.cfg.seeds))
    root = s.cfg.path
    if not inv.seeds and s.cfg.seeds is not None and collect.seeds_of(s):
        raise ConfigError(
            f"seeds={show(list(s.cfg.seeds))}: none of these seeds has finished {s.task} runs "
            f"({s.model}) under {root}/; seeds with runs there: {_listed(collect.seeds_of(s))}. "
            "Choose among them, or seeds=null for every seed found."
        )
    if not inv.seeds:
        condition, preset = next(iter(s.conditions.items()))
        raise ReactivationError(
            f"no finished {s.task} runs ({s.model}) under {root}/. Train them first, e.g.\n  "
            + lookup.train_command(preset, 0, lookup.run_overrides(s, condition), Path(root))
        )
    if reference is not None and reference not in inv.seeds:
        # The state panels would be left out without a word: half of the figures.
        raise ConfigError(
            f"seed={reference} (the reference seed of the state panels) has no finished {s.task} runs "
            f"({s.model}) under {root}/ among the seeds drawn; seeds with runs: "
            f"{_listed(inv.seeds)}. Choose one of them, or seed=null for the first."
        )
    s = dataclasses.replace(s, seed=inv.seeds[0] if reference is None else reference)
    return s, inv, figures(s, inv, s.cfg.batch_size, s.cfg.t_quiescent)


def _listed(seeds: list[int]) -> str:
    return ", ".join(map(str, seeds)) or "none"


def write(cfg: DictConfig, subdir: str = "") -> tuple[Settings, collect.Inventory, list[Path]]:
    """:func:`from_config`, then save every figure as
    ``<path>/<task>/figures/[<subdir>/][<tag>/]<name>[_<family>].<format>`` (``subdir``: reproduce's variant, whose
    figures must not replace another variant's; ``tag``: the settings of the results drawn that are not the scale's
    defaults, :func:`~reactivation.figures.collect.results_tag`, so that figures of other settings never replace
    the default ones).

    Returns:
        The settings, the inventory and the written files.
    """
    s, inv, figs = from_config(cfg)
    out_dir = (
        Path(s.cfg.path) / s.task / "figures" / subdir / collect.results_tag(inv.kinds, named_elsewhere=bool(subdir))
    )
    suffix = model_suffix(s.model)
    written = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, fig in figs.items():
            for fmt in s.cfg.formats:
                written.append(out_dir / f"{name}{suffix}.{fmt}")
                save(fig, written[-1])
    except OSError as err:  # a read-only or full disk, a file where the folder should be
        raise ReactivationError(
            f"could not write {err.filename or out_dir}: {err.strerror or err}; choose another "
            "path= or free some space."
        ) from err
    return s, inv, written


def from_results(
    path: str = "results", task: str = "spatial_navigation", **keys: Any
) -> tuple[Settings, collect.Inventory, dict[str, Figure]]:
    """:func:`from_config` with the figure keys as arguments (for notebooks).

    Args:
        path: the results root.
        task: a task name (``spatial_navigation``, ``head_direction``, ``linear_track``).
        **keys: any other key of reactivation/configs/analysis/figures.yaml (``model``, ``seeds``, ``seed``,
            ``batch_size``, ``t_quiescent``, ``train_overrides``, ``device``, ...).
    """
    return from_config(compose_analysis("figures", task=task, **{"path": str(path), **keys}))
