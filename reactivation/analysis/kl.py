"""output_kl.py: KL(quiescent ‖ active) between decoded-output distributions (docs/spec.md §7).

Rows are the quiescent distributions (each model, an untrained random network and the uniform
distribution), columns the active distributions of the models: ``{quiescent: {active: nats}}``. With ``ratio_clip``
set, each sample's density ratio is clipped to ``[low, high]`` before the log, as the published code did with
``[1e-7, 1e7]`` (docs/spec.md §7 decision "ratio clip"); the ``.meta.json`` records it as ``ratio_clip``.
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

from reactivation import KL_BASELINES
from reactivation.analysis import lookup, protocol, results
from reactivation.analysis.settings import Settings
from reactivation.geometry import points
from reactivation.seeding import stream_seed


def run(s: Settings) -> dict:
    """Compute the KL table of ``s`` and write it; returns ``{"path": ..., "kl": table}``."""
    cfg = s.cfg
    loaded = lookup.load_conditions(s)
    active, quiescent = {}, {}
    setups = {name: setup for name, (_, setup) in loaded.items()}
    simulated = protocol.simulate_all(setups, s, cfg.batch_size, cfg.t_quiescent)
    for name, phases in tqdm(simulated, desc="models", total=len(setups), disable=not cfg.progress):
        assert phases.active is not None  # simulate runs the active phase by default (active=True)
        active[name] = points(phases.active.decoded.numpy())
        quiescent[name] = points(phases.quiescent[s.mode].decoded.numpy())
    reference = loaded["noisy_unbiased"][1]  # the random network is decoded with the trained runs' cells
    untrained = protocol.random_network(reference, s)
    phases = protocol.simulate(
        reference, s, cfg.batch_size, cfg.t_quiescent, active=False, model=untrained, modes=("scaled",)
    )
    quiescent["random"] = points(phases.quiescent["scaled"].decoded.numpy())
    # The task's space knows its KDE and its uniform distribution (a box's true density, a circle's von Mises).
    clip = None if cfg.ratio_clip is None else (float(cfg.ratio_clip[0]), float(cfg.ratio_clip[1]))
    table, jittered = reference.task.geometry.kl_table(
        quiescent, active, cfg.n_samples, stream_seed(s.seed, "analysis"), ratio_clip=clip
    )
    rows = [*quiescent, "uniform"]
    meta = {
        "rows": rows,
        "columns": list(active),
        "jittered_1mm": jittered,
        # [low, high] each density ratio was clipped to (docs/spec.md §7 decision "ratio clip"), or null: unclipped.
        "ratio_clip": None if clip is None else list(clip),
        "runs": {name: str(run_dir) for name, (run_dir, _) in loaded.items()},
    }
    path = results.write_result(s, "kl", table, meta)
    return {"path": str(path), "kl": table}


def result_problem(data: Any, conditions: list[str]) -> str | None:
    """What makes ``data`` not a KL result of ``conditions`` (rows: quiescent conditions, ``random`` and ``uniform``;
    columns: active conditions; numbers); ``None`` if nothing."""
    problem = results.entries_problem(data, [*conditions, *KL_BASELINES], "", results.json_object)
    for row, cols in data.items() if problem is None else ():
        problem = problem or results.entries_problem(cols, conditions, row, results.number)
    return problem
