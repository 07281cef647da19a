"""output_drift.py: the learned zero-input drift against the score of the noisy active states (docs/theory.md).

The theory (the paper's Eq. 16-18; docs/spec.md §4 units): the greedy optimal denoiser of per-step noise s moves a noisy
state r by ``Δr* = s² ∇_r log p(r)``, p the distribution of noisy active states (Tweedie / Miyasawa). This analysis
measures how close a network's zero-input, noise-free one-step update ``Δr(r) = f(r, x = 0) − r`` comes to it, at
``n_queries`` noisy active states r, against a Gaussian KDE of ``n_states`` others (its score is analytic):

- ``pca``: in the top ``n_components`` principal components of ``n_pca`` further active states, where the projected
  noise is s² I, so the prediction is s² ∇_z log p(z). The components are fitted apart from the queries and the
  KDE states: chosen on the KDE's own states, the noise directions among them would be those where that sample
  happens to spread most (by about (1 + √(n_rec/N))² in variance), the KDE would see a wider density there than
  the one the network denoises, and its score would understate the drift (on an exactly Gaussian density, by
  0.81 against 0.66 in slope: tests/test_groundtruth.py);
- ``decoded``: in the decoded latent (position, m; heading, rad). The task's own decoder (the top-k cells' centres)
  is piecewise constant, so a one-step drift rarely moves it; a smooth one stands in: the least-squares linear map
  from states to the network's own decoded latents (to cos and sin of the heading on the circle), fitted on the KDE
  states. One step's noise moves this decoded latent with covariance Σ_y (measured: the decoded displacement of one
  noise draw), so the prediction is Σ_y ∇_y log p(y): the decoder's view of the same denoiser, exact only where the
  decoded latent is itself a Markov state;
- ``reference``: the same estimator on a Gaussian with the projected states' mean and covariance, whose exact
  optimal drift is known: the slope and cosine a perfect denoiser would show with this estimator, sample size and
  dimension (a Scott KDE in 10-D attenuates the slope to ≈ 0.6: :func:`~reactivation.analysis.metrics.score.
  drift_score_agreement`).

Each holds :func:`~reactivation.analysis.metrics.score.drift_score_agreement` (``cosine``, ``slope``,
``slope_reverse``, ...). s is the standard deviation of one step's recurrent noise (:data:`NOISE_UNITS`) at the
network's trained σ_rec, or, for networks trained without noise and the untrained ``random`` network (the
baselines), at the family's noisy level √noise; the noise's mean (``uniform``: σ/2) is part of every step, so it
is added to the measured drift. ``field`` bins the decoded drift and prediction on a grid of the latent space
(the quiver figure). ``pca_normal`` and ``pca_tangent`` split the ``pca`` comparison across and along the active
manifold (:mod:`~reactivation.analysis.metrics.tangent`; its tangent at each query's decoded latent), and
``reference_normal`` / ``reference_tangent`` split the reference along the same directions. Result:
``{condition: {"noise_std", "noise_mean", "pca", "decoded", "reference", "pca_normal", "pca_tangent",
"reference_normal", "reference_tangent", "field"}}``, conditions plus ``random``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from reactivation import ConfigError
from reactivation.analysis import lookup, protocol, results
from reactivation.analysis.metrics.pca import pca_fit, pca_project
from reactivation.analysis.metrics.score import (
    drift_score_agreement,
    kde_bandwidth,
    kde_score,
    vonmises_kde_score,
)
from reactivation.analysis.metrics.tangent import split_agreement, tangent_bases
from reactivation.analysis.settings import Settings
from reactivation.geometry import Geometry
from reactivation.geometry.circular import vonmises_bandwidth
from reactivation.loading import Setup
from reactivation.models import NoisyRecurrentBase
from reactivation.models.noise import moments
from reactivation.precision import matmul_precision
from reactivation.seeding import stream_seed
from reactivation.values import is_number

#: Bins per coordinate of the decoded field (a 2-D latent gets FIELD_BINS² cells).
FIELD_BINS = 12
#: KDE states (those nearest in decoded latent) of each local regression that estimates the active manifold's
#: tangent at a query's latent.
TANGENT_NEIGHBOURS = 200
#: How the prediction's noise is measured, recorded in every result (results written before 2026-12-07 took
#: s = σ_rec under every distribution and left the mean out: under ``uniform`` noise their prediction was 12
#: times too large in variance and their drift lacked the constant σ/2 push).
NOISE_UNITS = (
    "s = the standard deviation of one step's recurrent noise (σ_rec for gaussian, σ_rec/√12 for uniform and "
    "gaussian_matched); the noise's mean (σ_rec/2 for uniform) is added to the drift f(r, 0) − r"
)


@torch.no_grad()
def one_step(model: NoisyRecurrentBase, r: Tensor) -> Tensor:
    """The zero-input, noise-free update f(r, x = 0): (m, n_rec) states -> (m, n_rec) states one step later."""
    zeros = torch.zeros(r.shape[0], 1, model.n_in, device=r.device, dtype=r.dtype)
    hidden, _ = model(zeros, h0=r, sigma_in=0.0, sigma_rec=0.0, sigma_out=0.0)
    return hidden[:, 0]


class LinearDecoder:
    """The least-squares linear map from states to decoded latents: a smooth stand-in for the top-k decoder.

    Args:
        states: (n, n_rec) states; decoded: (n, d) their decoded latents (m, or rad on the circle).
        circular: fit cos and sin of the angle, decode with atan2.
    """

    def __init__(self, states: np.ndarray, decoded: np.ndarray, circular: bool) -> None:
        target = np.concatenate([np.cos(decoded), np.sin(decoded)], axis=1) if circular else decoded
        design = np.concatenate([states, np.ones((len(states), 1))], axis=1).astype(np.float64)
        self.weights = np.linalg.lstsq(design, target.astype(np.float64), rcond=None)[0]  # (n_rec + 1, d')
        self.circular = circular

    def __call__(self, r: np.ndarray) -> np.ndarray:
        """(m, n_rec) states -> (m, d) decoded latents, float64."""
        y = np.asarray(r, dtype=np.float64) @ self.weights[:-1] + self.weights[-1]
        return np.arctan2(y[:, 1:], y[:, :1]) if self.circular else y


def _kernel(data: np.ndarray, bandwidth: float | None) -> np.ndarray:
    """Scott's kernel covariance, scaled by ``bandwidth`` in standard deviation (None: Scott's own)."""
    cov = kde_bandwidth(data)
    return cov if bandwidth is None else cov * float(bandwidth) ** 2


def compare(
    model: NoisyRecurrentBase,
    geometry: Geometry,
    states: np.ndarray,
    decoded: np.ndarray,
    s: float,
    *,
    noise_mean: float = 0.0,
    n_states: int,
    n_queries: int,
    n_components: int,
    n_pca: int,
    bandwidth: float | None,
    seed: int,
    at: np.ndarray | None = None,
) -> dict[str, Any]:
    """Drift against prediction for one network: one condition's entry of the result.

    Args:
        model: the network whose drift is measured (a run's, or the untrained one).
        geometry: the latent space of its task.
        states: (N, n_rec) noisy active states (float32): the queries, the KDE samples and the states the
            principal components are fitted on are disjoint random subsets of them, so N must be at least
            ``n_queries + n_states + n_pca`` (``n_states + n_pca`` with ``at``).
        decoded: (N, d) the task decoder's latents of those states (m or rad).
        s: the standard deviation of one step's recurrent noise, per unit (:func:`~reactivation.models.noise.
            moments`): the prediction is s² ∇ log p.
        noise_mean: the mean of one step's recurrent noise, per unit (σ/2 for ``uniform``, else 0). It is added to
            every step of the network, so it belongs to the measured drift: Δr = f(r, x = 0) + noise_mean − r.
        n_states: KDE samples.
        n_queries: query states.
        n_components: principal components of the PCA space.
        n_pca: states the principal components are fitted on (module docstring: apart from the KDE's).
        bandwidth: kernel standard deviation as a multiple of Scott's (None: Scott's).
        seed: seed of the subsets, the decoded noise draw and the reference Gaussian.
        at: (M, n_rec) states to query instead of a subset of ``states`` (e.g. states the network reached without
            input; M >= n_queries); the KDE and the PCA then take their states from ``states``.

    Raises:
        ValueError: fewer states than the sizes need (:func:`check_sizes` refuses such settings before any work).
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(states))
    own = 0 if at is not None else n_queries  # queries taken from ``states``
    if len(states) < own + n_states + n_pca or (at is not None and len(at) < n_queries):
        raise ValueError(
            f"{len(states)} active states{'' if at is None else f' and {len(at)} query states'} are too few for "
            f"n_queries={n_queries}, n_states={n_states}, n_pca={n_pca}"
        )
    # The KDE and PCA states come first, so that queries given in ``at`` meet the same KDE as a subset would.
    kde, fit = order[:n_states], order[n_states : n_states + n_pca]
    if at is None:
        queries = states[order[n_states + n_pca : n_states + n_pca + n_queries]]
    else:
        queries = at[rng.permutation(len(at))[:n_queries]]
    data = states[kde]
    device = next(model.parameters()).device
    f = one_step(model, torch.as_tensor(queries, device=device))
    stepped = f.double().cpu().numpy() + noise_mean  # the noise's mean acts as a constant input at every step

    # PCA space: noise s² I after an orthonormal projection, fitted apart from the KDE's states (module docstring).
    mean, components, _ = pca_fit(states[fit], n_components)
    z_data, z = pca_project(data, mean, components), pca_project(queries, mean, components)
    drift_z = pca_project(stepped, mean, components) - z
    predicted_z = s**2 * kde_score(z, z_data, _kernel(z_data, bandwidth))
    pca = drift_score_agreement(drift_z, predicted_z)

    # The estimator's own ceiling: a Gaussian of the same mean and covariance, whose optimal drift is exact.
    # (np.cov of one component is a scalar: kept (1, 1) for the solve and the draw.)
    centre, cov = z_data.mean(axis=0), np.atleast_2d(np.cov(z_data, rowvar=False))
    gauss = rng.multivariate_normal(centre, cov, size=len(z_data) + len(z))
    g_data, g_query = gauss[: len(z_data)], gauss[len(z_data) :]
    exact = -(s**2) * np.linalg.solve(cov, (g_query - centre).T).T
    exact_kde = s**2 * kde_score(g_query, g_data, _kernel(g_data, bandwidth))
    reference = drift_score_agreement(exact, exact_kde)

    # Decoded space: the prediction scaled by the decoded covariance of one step's noise.
    circular = geometry.periodic
    decoder = LinearDecoder(data, decoded[kde], circular)
    y, y_next, y_data = decoder(queries), decoder(stepped), decoder(data)
    drift_y = geometry.difference(y_next, y)
    kick = geometry.difference(decoder(stepped + s * rng.standard_normal(stepped.shape)), y_next)
    sigma_y = kick.T @ kick / len(kick)  # (d, d): the mean of one draw's outer product, m² or rad²
    if circular:
        score_y = vonmises_kde_score(y[:, 0], y_data[:, 0], vonmises_bandwidth(y_data[:, 0]))[:, None]
    else:
        score_y = kde_score(y, y_data, _kernel(y_data, bandwidth))
    predicted = score_y @ sigma_y  # Σ_y is symmetric: (Σ_y g)ᵀ = gᵀ Σ_y

    # Along and across the active manifold, in the PCA space: its tangent at each query's decoded latent, from the
    # KDE states of the nearest latents. The reference is split along the same directions (at its own query points).
    bases = tangent_bases(z_data, y_data, y, circular=circular, k=min(TANGENT_NEIGHBOURS, len(z_data) - 1))
    return {
        "noise_std": s,
        "noise_mean": noise_mean,
        "pca": pca,
        "reference": reference,
        **{f"pca_{k}": v for k, v in split_agreement(drift_z, predicted_z, bases).items()},
        **{f"reference_{k}": v for k, v in split_agreement(exact, exact_kde, bases).items()},
        "decoded": {**drift_score_agreement(drift_y, predicted), "noise_cov": sigma_y.tolist()},
        "field": field(geometry, y, drift_y, predicted),
    }


def field(geometry: Geometry, y: np.ndarray, drift: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """The decoded drift and prediction averaged in bins of the latent space (the quiver figure's data).

    Args:
        geometry: the latent space, binned by its :meth:`~reactivation.geometry.Geometry.bin_edges` (FIELD_BINS per
            coordinate of a box or track, FIELD_BINS · 3 arcs of the circle).
        y: (m, d) decoded query points; drift, predicted: (m, d) vectors at them.

    Returns:
        ``{"edges": [per-coordinate bin edges], "count": bins, "drift": bins × d, "predicted": bins × d}``, means
        over the points of each bin (null where a bin is empty), flattened in C order.
    """
    edges = geometry.bin_edges(FIELD_BINS)
    index = np.zeros(len(y), dtype=np.int64)
    inside = np.ones(len(y), dtype=bool)
    for k, e in enumerate(edges):
        i = np.searchsorted(e, y[:, k], side="right") - 1
        inside &= (i >= 0) & (i < len(e) - 1)
        index = index * (len(e) - 1) + np.clip(i, 0, len(e) - 2)
    n_bins = math.prod(len(e) - 1 for e in edges)
    count = np.bincount(index[inside], minlength=n_bins)

    def means(v: np.ndarray) -> list:
        sums = np.stack([np.bincount(index[inside], v[inside, k], minlength=n_bins) for k in range(v.shape[1])], 1)
        return [row.tolist() if c else None for row, c in zip(sums / np.maximum(count, 1)[:, None], count)]

    return {
        "edges": [e.tolist() for e in edges],
        "count": count.tolist(),
        "drift": means(drift),
        "predicted": means(predicted),
    }


def check_sizes(
    setup: Setup, batch_size: int, n_states: int, n_queries: int, n_components: int, n_pca: int,
    settle_steps: int | None = None,
) -> None:  # fmt: skip
    """Refuse sizes the drift's states cannot fill, before any rollout.

    :func:`compare` draws its queries, KDE states and PCA states as disjoint subsets of the ``batch_size`` ×
    sequence-length active states of a run (the queries from the ``batch_size`` × ``settle_steps - settle_steps //
    2`` settled states instead when ``settle_steps`` is given), and fits a KDE in ``min(n_components, n_rec)``
    principal components and in the task's ``d``-dimensional decoded latent: each needs at least one state more
    than its dimensions, as does the PCA.

    Raises:
        ConfigError: naming the sizes and the least ``n_states``, ``n_pca`` or ``batch_size`` that works.
    """
    dims = max(min(n_components, setup.model.n_rec), setup.task.geometry.dim)
    need = dims + 1
    for key, value in (("n_states", n_states), ("n_pca", n_pca)):
        if value < need:
            raise ConfigError(
                f"{key}={value} is not allowed: the drift's {'KDE' if key == 'n_states' else 'PCA'} in {dims} "
                f"dimensions (n_components={n_components} of the {setup.model.n_rec} hidden units, a "
                f"{setup.task.geometry.dim}-D latent) needs more states than dimensions, {key} >= {need}."
            )
    steps = int(setup.config.task.sequence_length)
    own = 0 if settle_steps is not None else n_queries
    if batch_size * steps < own + n_states + n_pca:
        least = -(-(own + n_states + n_pca) // steps)
        queries = f"{n_queries} queries (n_queries), " if own else ""
        raise ConfigError(
            f"batch_size={batch_size} is too small for the drift: {batch_size} trajectories x {steps} active steps "
            f"give {batch_size * steps} states, and it takes {queries}{n_states} for the KDE (n_states) and {n_pca} "
            f"for the principal components (n_pca) from them, all apart. Raise batch_size to {least}, or lower "
            "those sizes."
        )
    settled = 0 if settle_steps is None else batch_size * (settle_steps - settle_steps // 2)
    if settle_steps is not None and settled < n_queries:
        raise ConfigError(
            f"settle_steps={settle_steps} gives {settled} settled states ({batch_size} trajectories x the last "
            f"{settle_steps - settle_steps // 2} steps), fewer than n_queries={n_queries}: raise settle_steps or "
            "batch_size, or lower n_queries."
        )


def settled_states(phases: protocol.Phases) -> np.ndarray:
    """(B · T/2, n_rec) states of the second half of the one quiescent rollout of ``phases`` (kept hidden)."""
    (quiet,) = phases.quiescent.values()
    assert quiet.hidden is not None  # simulated with keep_hidden=True
    return quiet.hidden[:, quiet.hidden.shape[1] // 2 :].reshape(-1, quiet.hidden.shape[-1]).numpy()


def run(s: Settings) -> dict:
    """Compare drift and score for every condition of ``s`` and the untrained network, and write the result."""
    cfg = s.cfg
    loaded = lookup.load_conditions(s)
    setups = {name: setup for name, (_, setup) in loaded.items()}
    reference = setups.get("noisy_unbiased") or next(iter(setups.values()))
    # Settled queries: the second half of a quiescent rollout (at the trained noise; with the absolute mode's noise
    # for the baselines). Awake queries need no quiescence (one step is simulated and not used).
    settled = cfg.queries == "settled"
    steps = cfg.settle_steps if settled else 1
    for setup in setups.values():  # a family shares its sizes, unless train_overrides made them differ
        check_sizes(setup, cfg.batch_size, cfg.n_states, cfg.n_queries, cfg.n_components, cfg.n_pca,
                    steps if settled else None)  # fmt: skip
    untrained = protocol.random_network(reference, s)
    seed = stream_seed(s.seed, "analysis")
    sizes = dict(
        n_states=cfg.n_states, n_queries=cfg.n_queries, n_components=cfg.n_components, n_pca=cfg.n_pca,
        bandwidth=cfg.bandwidth,
    )  # fmt: skip
    result: dict[str, dict] = {}
    modes = {name: ("same" if setup.model.sigma_rec > 0 else "absolute",) for name, setup in setups.items()}
    simulated = protocol.simulate_all(
        setups, s, cfg.batch_size, steps, keep_hidden=True, modes=modes if settled else None
    )
    random_phases = protocol.simulate(
        reference, s, cfg.batch_size, steps, keep_hidden=True, model=untrained, modes=("absolute",) if settled else None
    )
    for name, phases in tqdm(
        [*simulated, ("random", random_phases)], desc="models", total=len(setups) + 1, disable=not cfg.progress
    ):
        model = untrained if name == "random" else setups[name].model
        assert phases.active is not None and phases.active.hidden is not None  # simulated with keep_hidden=True
        states = phases.active.hidden.reshape(-1, phases.active.hidden.shape[-1]).numpy()
        decoded = phases.active.decoded.reshape(len(states), -1).double().numpy()
        scale = float(model.sigma_rec) if name != "random" and model.sigma_rec > 0 else math.sqrt(s.noise)
        mean, std = moments(model.noise_dist, scale)
        at = settled_states(phases) if settled else None
        with matmul_precision(cfg.matmul_precision, reference.device):
            result[name] = compare(
                model, reference.task.geometry, states, decoded, std, noise_mean=mean, **sizes, seed=seed, at=at
            )
    meta = {
        "unit": {"pca": "hidden units", "decoded": reference.task.geometry.unit},
        "noise_units": NOISE_UNITS,  # not "noise": write_result records the analysis's noise variance there
        "field_bins": FIELD_BINS,
        "runs": {name: str(run_dir) for name, (run_dir, _) in loaded.items()},
    }
    path = results.write_result(s, "drift", result, meta)
    return {"path": str(path), "drift": result}


def _comparison(v: Any) -> bool:
    """a JSON object with the pca, decoded and reference comparisons (each with its slope and cosine)"""
    parts = [v.get(k) for k in ("pca", "decoded", "reference")] if isinstance(v, dict) else [None]
    return all(isinstance(x, dict) and is_number(x.get("slope")) and is_number(x.get("cosine")) for x in parts)


def result_problem(data: Any, conditions: list[str]) -> str | None:
    """What makes ``data`` not a drift result of ``conditions`` and ``random`` (a comparison each); ``None`` if
    nothing."""
    return results.entries_problem(data, [*conditions, "random"], "", _comparison)
