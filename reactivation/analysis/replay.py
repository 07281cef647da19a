"""reactivation replay: the quiescent phase analysed as replay is on real data (docs/replay.md).

For each network of a family: its cell outputs (place or head-direction cells) of the active and quiescent phases
become Poisson spikes (:mod:`~reactivation.analysis.metrics.spikes`, one documented rate scale); a decoder is fitted
on active trajectories with their true latents, as a lab fits one on the tracked position; held-out active
trajectories and the quiescent ones are then decoded and classified by the replay classifier of Denovellis et al.
(eLife 2021) as continuous, fragmented or stationary (:mod:`~reactivation.analysis.metrics.replay`). The result is,
per network and phase, the share of time each dynamic takes and how far the decoded latent ranges over an event,
the decoder's error on held-out active bins (its check), and one quiescent event's posterior for the figure.
"""

from __future__ import annotations

import math
import time
from importlib.metadata import version
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from reactivation import ConfigError
from reactivation.analysis import lookup, protocol, results
from reactivation.analysis.metrics import replay as classifier
from reactivation.analysis.metrics import spikes
from reactivation.analysis.protocol import Phases
from reactivation.analysis.settings import Settings
from reactivation.geometry import Geometry
from reactivation.loading import Setup
from reactivation.quiescence import Rollout
from reactivation.seeding import generator

PHASES = ("active", "quiescent")


def run(s: Settings) -> dict:
    """Classify the active and quiescent dynamics of every condition of ``s`` and write the result."""
    cfg = s.cfg
    classifier.package()  # the extra, before any run is read
    started = time.monotonic()
    loaded = lookup.load_conditions(s)
    setups = {name: setup for name, (_, setup) in loaded.items()}
    for name, setup in setups.items():
        if setup.task.sequence_length < 2 * cfg.bin_steps:
            raise ConfigError(
                f"bin_steps={cfg.bin_steps} is not allowed for these runs: the {name} network's active trajectories "
                f"have {setup.task.sequence_length} steps, and the decoder's fit needs at least 2 time bins of each "
                f"(bin_steps <= {setup.task.sequence_length // 2})."
            )
    result: dict[str, Any] = {}
    fitted: dict[str, Any] = {}
    simulated = protocol.simulate_all(setups, s, cfg.batch_size, cfg.t_quiescent, keep_outputs=True)
    for name, phases in tqdm(simulated, desc="models", total=len(setups), disable=not cfg.progress):
        result[name], fitted[name] = _condition(setups[name], s, phases)
    geometry = next(iter(setups.values())).task.geometry
    meta = {
        "unit": geometry.unit,
        "states": list(classifier.STATES),
        "fitted": fitted,
        "package": f"replay-trajectory-classification {version('replay-trajectory-classification')}",
        "seconds": round(time.monotonic() - started, 1),
        "runs": {name: str(run_dir) for name, (run_dir, _) in loaded.items()},
    }
    path = results.write_result(s, "replay", result, meta)
    return {"path": str(path), "replay": result}


def _condition(setup: Setup, s: Settings, phases: Phases) -> tuple[dict[str, Any], dict[str, Any]]:
    """One network: (its result entry, the fitted parameters for the meta file)."""
    cfg, task = s.cfg, setup.task
    geometry: Geometry = task.geometry
    batch, _ = protocol.analysis_batch(setup, s, cfg.batch_size)
    held_out, k = slice(0, cfg.n_events), cfg.bin_steps
    fit_part = slice(cfg.n_events, None)
    outputs = {"active": _outputs(phases.active), "quiescent": _outputs(phases.quiescent[s.mode])}
    hz = spikes.rate_scale(outputs["active"][fit_part], cfg.peak_rate)
    gen = generator(s.seed, "replay_spikes")
    counts = {p: spikes.bin_counts(out.cpu(), hz, task.dt, k, gen).numpy() for p, out in outputs.items()}
    true = _on_space(geometry, spikes.bin_latents(_embedded(geometry, batch.latent.cpu().numpy()), k))
    movement_var = cfg.movement_var
    if movement_var is None:  # the active phase's: the binned true latent's mean squared step per coordinate
        movement_var = float(np.mean(np.sum(np.diff(true[fit_part], axis=1) ** 2, axis=-1)) / true.shape[-1])
    g = classifier.grid(geometry, cfg.place_bins)
    bin_s = k * task.dt
    stay = math.exp(-bin_s / cfg.dwell)
    model = classifier.fit(
        g,
        true[fit_part].reshape(-1, true.shape[-1]),
        counts["active"][fit_part].reshape(-1, counts["active"].shape[-1]),
        movement_var,
        stay,
        g.bin_size,
    )
    decoded = {p: [classifier.decode(model, c) for c in counts[p][held_out]] for p in PHASES}
    entry: dict[str, Any] = {p: classifier.shares(decoded[p], cfg.threshold) for p in PHASES}
    entry["decoding_error"] = _decoding_error(geometry, decoded["active"], true[held_out])
    # How far an event's decoded latent ranges: a "continuous" event may wander or jitter in place.
    entry["spread"] = {p: _spread(geometry, decoded[p]) for p in PHASES}
    entry["spikes_per_bin"] = {p: float(counts[p][held_out].sum(axis=-1).mean()) for p in PHASES}
    example = decoded["quiescent"][0]
    entry["example"] = {
        "time": [round(bin_s * (i + 0.5), 6) for i in range(len(example.states))],
        "states": example.states.round(4).tolist(),
        "latent": geometry.unembed(example.position).round(5).tolist(),
    }
    fitted = {"hz_per_unit": hz, "movement_var": movement_var, "stay": stay, "bin_s": bin_s, "bin_size": g.bin_size}
    return entry, fitted


def _outputs(rollout: Rollout | None) -> torch.Tensor:
    """A rollout's (B, T, n_cells) outputs (``simulate_all`` ran both phases with the outputs kept)."""
    assert rollout is not None and rollout.outputs is not None
    return rollout.outputs


def _embedded(geometry: Geometry, latent: np.ndarray) -> np.ndarray:
    """(B, T, d) latents → (B, T, k) embedded points."""
    flat = geometry.embed(latent)
    return flat.reshape(*latent.shape[:2], flat.shape[-1])


def _on_space(geometry: Geometry, p: np.ndarray) -> np.ndarray:
    """(B, n, k) bin means put back on the space (the mean of points on a circle lies inside it)."""
    back = geometry.embed(geometry.unembed(p.reshape(-1, p.shape[-1])))
    return back.reshape(p.shape)


def _decoding_error(geometry: Geometry, decoded: list[classifier.Decoded], true: np.ndarray) -> float:
    """Median distance (latent units) between the decoded and the true latent of held-out active time bins."""
    guess = geometry.unembed(np.concatenate([d.position for d in decoded]))
    actual = geometry.unembed(true.reshape(-1, true.shape[-1]))
    return float(np.median(np.linalg.norm(geometry.difference(guess, actual), axis=-1)))


def _spread(geometry: Geometry, decoded: list[classifier.Decoded]) -> float:
    """Mean over events of the spread of the decoded latent over the event (the geometry's trajectory variance:
    m² in a box, circular variance 1 - R on the circle)."""
    latents = np.stack([geometry.unembed(d.position) for d in decoded])
    return float(geometry.trajectory_variance(latents).mean())


def _shares(value: Any) -> bool:
    """``{"probability": {state: p}, "classified": {state or "unclassified": share}}`` of numbers in [0, 1]."""
    if not isinstance(value, dict) or set(value) != {"probability", "classified"}:
        return False
    want = {"probability": set(classifier.STATES), "classified": {*classifier.STATES, "unclassified"}}
    return all(
        isinstance(value[part], dict)
        and set(value[part]) == keys
        and all(results.number(v) and 0 <= v <= 1 for v in value[part].values())
        for part, keys in want.items()
    )


def _entry(value: Any) -> bool:
    """a JSON object of active and quiescent shares (probability and classified, numbers in [0, 1] per dynamic), a
    decoding_error, the spread of each phase and an example event"""
    return (
        isinstance(value, dict)
        and all(_shares(value.get(p)) for p in PHASES)
        and results.number(value.get("decoding_error"))
        and results.numbers(value.get("spread"))
        and isinstance(value.get("example"), dict)
        and {"time", "states", "latent"} <= set(value["example"])
    )


def result_problem(data: Any, conditions: list[str]) -> str | None:
    """What makes ``data`` not a replay result of ``conditions``; ``None`` if nothing."""
    return results.entries_problem(data, conditions, "", _entry)
