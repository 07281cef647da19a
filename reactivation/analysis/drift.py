"""output_drift.py: the learned zero-input drift against the score of the noisy active states (docs/theory.md).

The theory (the paper's Eq. 16-18; docs/spec.md §4 units): the greedy optimal denoiser of per-step noise s moves a noisy
state r by ``Δr* = s² ∇_r log p(r)``, p the distribution of noisy active states (Tweedie / Miyasawa). This analysis
measures how close a network's zero-input, noise-free one-step update ``Δr(r) = f(r, x = 0) − r`` comes to it, at
``n_queries`` noisy active states r, against a Gaussian KDE of ``n_states`` others (its score is analytic):

- ``pca``: in the top ``n_components`` principal components of ``n_pca`` further active states, where the projected
  noise is s² I, so the prediction is s² ∇_z log p(z) (the components are fitted apart from the queries and the
  KDE's states: :mod:`~reactivation.analysis.metrics.denoiser` says why);
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
"reference_normal", "reference_tangent", "field"}}``, conditions plus ``random``. One network's entry is
:func:`reactivation.analysis.metrics.denoiser.compare`; this module runs the networks and writes the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from reactivation import ConfigError
from reactivation.analysis import lookup, protocol, results
from reactivation.analysis.metrics.denoiser import FIELD_BINS, compare
from reactivation.analysis.settings import Settings
from reactivation.loading import Setup
from reactivation.models import NoisyRecurrentBase
from reactivation.models.noise import moments
from reactivation.precision import matmul_precision
from reactivation.seeding import stream_seed
from reactivation.values import is_number

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


def stepper(model: NoisyRecurrentBase) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`one_step` of ``model`` on numpy states, on its device: what
    :func:`~reactivation.analysis.metrics.denoiser.compare` takes."""
    device = next(model.parameters()).device

    def step(r: np.ndarray) -> np.ndarray:
        return one_step(model, torch.as_tensor(r, device=device)).double().cpu().numpy()

    return step


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
                stepper(model), reference.task.geometry, states, decoded, std, noise_mean=mean, **sizes, seed=seed,
                at=at,
            )  # fmt: skip
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
