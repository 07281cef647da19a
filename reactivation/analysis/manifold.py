"""output_manifold.py: do quiescent states stay on the active manifold, and where do they decode to? (docs/spec.md §9)

Per condition, on one analysis batch (active phase, then quiescence in the default mode, hidden states kept):

* ``pca_share``: share of the quiescent hidden-state variance inside the span of the active top-k principal
  components (claim 3; an isotropic cloud gives about k / n_rec);
* ``explained_active`` / ``explained_quiescent``: cumulative explained variance of PCs 1..k of each phase's
  own PCA, and ``curve_gap``, their largest absolute difference (claim 3);
* ``ring_active`` / ``ring_quiescent``, where the task's geometry has a ring (a box: distance from the centre; a
  track: distance from the reward end; not the circle): share of decoded positions whose distance lies in ``ring``
  (claim 1: the biased networks revisit the ring their drift made them run along).

A statistic that is undefined (states without variance, e.g. a noise-free network that settles on a fixed
point) is ``null``, and the ``.meta.json`` says why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from reactivation.analysis import lookup, metrics, protocol, results
from reactivation.analysis.settings import Settings


def _geometry(st: protocol.States, k: int) -> tuple[dict, str | None]:
    act_h = st.active_hidden.reshape(-1, st.active_hidden.shape[-1])
    quiet_h = st.quiescent_hidden.reshape(-1, st.quiescent_hidden.shape[-1])
    try:
        curve_a = metrics.explained_variance_curve(act_h, k)
        curve_q = metrics.explained_variance_curve(quiet_h, k)
        share = metrics.subspace_variance_share(act_h, quiet_h, k)
    except ValueError as err:  # zero variance: the statistics are undefined, not an error of the run
        undefined = dict.fromkeys(("pca_share", "explained_active", "explained_quiescent", "curve_gap"))
        return undefined, str(err)
    return {
        "pca_share": share,
        "explained_active": curve_a.tolist(),
        "explained_quiescent": curve_q.tolist(),
        "curve_gap": float(np.max(np.abs(curve_a - curve_q))),
    }, None


def run(s: Settings) -> dict:
    """Compute the manifold and ring statistics of every condition of ``s`` and write them."""
    cfg = s.cfg
    loaded = lookup.load_conditions(s)
    result, undefined = {}, {}
    setups = {name: setup for name, (_, setup) in loaded.items()}
    simulated = protocol.simulate_all(setups, s, cfg.batch_size, cfg.t_quiescent, keep_hidden=True)
    for name, phases in tqdm(simulated, desc="models", total=len(setups), disable=not cfg.progress):
        st = protocol.states_of(phases, s.mode)
        result[name], why = _geometry(st, int(cfg.n_components))
        if why:
            undefined[name] = why
        # The task's space names its region of interest (a box's ring, a track's band from the reward end).
        geometry = setups[name].task.geometry
        for phase, decoded in (("active", st.active_decoded), ("quiescent", st.quiescent_decoded)):
            result[name].update(
                {f"{region}_{phase}": share for region, share in geometry.occupancy(decoded, cfg.ring).items()}
            )
    meta = {
        "units": "shares and explained-variance fractions in [0, 1]; ring radii in m",
        "undefined": undefined,
        "runs": {name: str(run_dir) for name, (run_dir, _) in loaded.items()},
    }
    path = results.write_result(s, "manifold", result, meta)
    return {"path": str(path), "manifold": result}


def result_problem(data: Any, conditions: list[str]) -> str | None:
    """What makes ``data`` not a manifold result of ``conditions`` (statistics each); ``None`` if nothing."""
    return results.entries_problem(data, conditions, "", results.statistics)
