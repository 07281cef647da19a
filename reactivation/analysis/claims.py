"""The claims of docs/spec.md §9 as criteria on the analysis results, evaluated per seed and on the mean over seeds.

Each criterion compares two quantities (or a quantity and a constant) read from the per-seed JSON results of one
model family: ``sn`` (spatial navigation, vanilla RNNs), ``sn_gru``, ``hd`` (head direction) and ``track`` (the
linear track, whose claim 7 is this library's, not the paper's). A claim holds when every one of its criteria holds
on the means over seeds; the report also says in how many single seeds each criterion held. The vocabulary
(:class:`Quantity`, :class:`Criterion`, :class:`Claim`) and the evaluation (:func:`evaluate`, :func:`claim_held`)
are :mod:`reactivation.analysis.criteria`'s, re-exported here.

Notation (docs/spec.md §9): U/B unbiased/biased, σ trained with noise, q quiescent, a active, R the untrained random
network, 𝒰 the uniform distribution; KL(x‖y) = KL(quiescent x ‖ active y), in nats.
"""

from __future__ import annotations

from typing import Any

from reactivation import DEFAULT_MODEL
from reactivation.analysis.criteria import Claim, Criterion, Outcome, Quantity, claim_held, const, evaluate

__all__ = [
    "FAMILY_KEYS",
    "Claim",
    "Criterion",
    "Outcome",
    "Quantity",
    "claim_held",
    "claims",
    "const",
    "evaluate",
    "families_of",
    "reported",
]

#: (task, model family) of each family key.
FAMILY_KEYS = {
    "sn": ("spatial_navigation", DEFAULT_MODEL),
    "sn_gru": ("spatial_navigation", "gru"),
    "hd": ("head_direction", DEFAULT_MODEL),
    "track": ("linear_track", DEFAULT_MODEL),
}


def _kl(family: str, q: str, a: str, label: str, **kw: Any) -> Quantity:
    return Quantity(label, family, "kl", (q, a), **kw)


def _kl_claims() -> tuple[Claim, ...]:
    uu = _kl("sn", "noisy_unbiased", "noisy_unbiased", "KL(Uσ_q‖Uσ_a)")
    bb = _kl("sn", "noisy_biased", "noisy_biased", "KL(Bσ_q‖Bσ_a)")
    bu = _kl("sn", "noisy_biased", "noisy_unbiased", "KL(Bσ_q‖Uσ_a)")
    ru = _kl("sn", "random", "noisy_unbiased", "KL(R‖Uσ_a)")
    ring_bq = Quantity("ring share Bσ_q", "sn", "manifold", ("noisy_biased", "ring_quiescent"))
    claim1 = Claim(
        1,
        "Reactivation: quiescent outputs revisit the active distribution",
        (
            Criterion(uu, "<", ru),
            Criterion(bb, "<", bu),
            Criterion(
                ring_bq,
                ">=",
                Quantity("ring share Bσ_a − 0.1", "sn", "manifold", ("noisy_biased", "ring_active"), offset=-0.1),
            ),
            Criterion(
                ring_bq,
                ">=",
                Quantity("ring share Uσ_q + 0.3", "sn", "manifold", ("noisy_unbiased", "ring_quiescent"), offset=0.3),
            ),
        ),
    )
    claim2 = Claim(
        2,
        "Unbiased quiescence is as close to the active distribution as a true uniform; bias matters",
        (
            Criterion(uu, "<=", _kl("sn", "uniform", "noisy_unbiased", "KL(𝒰‖Uσ_a) + 0.1", offset=0.1)),
            Criterion(_kl("sn", "noisy_unbiased", "noisy_biased", "KL(Uσ_q‖Bσ_a)"), ">", const(1.0)),
            Criterion(bu, ">", const(1.0)),
            Criterion(ru, ">", _kl("sn", "noisy_unbiased", "noisy_unbiased", "2 × KL(Uσ_q‖Uσ_a)", factor=2.0)),
            Criterion(
                _kl("sn", "random", "noisy_biased", "KL(R‖Bσ_a)"),
                ">",
                _kl("sn", "noisy_biased", "noisy_biased", "2 × KL(Bσ_q‖Bσ_a)", factor=2.0),
            ),
        ),
    )
    gru = Claim(
        6,
        "GRUs (quiescence mode same) reactivate too (claim 1's KL criteria)",
        (
            Criterion(
                _kl("sn_gru", "noisy_unbiased", "noisy_unbiased", "KL(Uσ_q‖Uσ_a)"),
                "<",
                _kl("sn_gru", "random", "noisy_unbiased", "KL(R‖Uσ_a)"),
            ),
            Criterion(
                _kl("sn_gru", "noisy_biased", "noisy_biased", "KL(Bσ_q‖Bσ_a)"),
                "<",
                _kl("sn_gru", "noisy_biased", "noisy_unbiased", "KL(Bσ_q‖Uσ_a)"),
            ),
        ),
    )
    return claim1, claim2, gru


def _manifold_claim() -> Claim:
    def share(cond: str, x: str) -> Quantity:
        return Quantity(f"PCA share {x}σ", "sn", "manifold", (cond, "pca_share"))

    def gap(cond: str, x: str) -> Quantity:
        return Quantity(f"max EV-curve gap {x}σ", "sn", "manifold", (cond, "curve_gap"))

    return Claim(
        3,
        "Quiescent hidden states stay on the active manifold",
        (
            Criterion(share("noisy_unbiased", "U"), ">=", const(0.5)),
            Criterion(share("noisy_biased", "B"), ">=", const(0.5)),
            Criterion(gap("noisy_unbiased", "U"), "<=", const(0.1)),
            Criterion(gap("noisy_biased", "B"), "<=", const(0.1)),
        ),
    )


def _noise_claim() -> Claim:
    def var(cond: str, label: str, factor: float = 1.0) -> Quantity:
        return Quantity(label, "sn", "variance", (cond,), factor=factor)

    def step(cond: str, key: str, label: str, factor: float = 1.0) -> Quantity:
        return Quantity(label, "sn", "distance", (cond, key), factor=factor)

    return Claim(
        4,
        "Noise-free training explores less",
        (
            Criterion(var("no-noise_unbiased", "var U (no noise)"), "<", var("noisy_unbiased", "0.1 × var Uσ", 0.1)),
            Criterion(var("no-noise_biased", "var B (no noise)"), "<", var("noisy_biased", "0.1 × var Bσ", 0.1)),
            Criterion(
                step("no-noise_unbiased", "quiescent_noisy", "step U (no noise, run with noise)"),
                ">",
                step("noisy_unbiased", "quiescent", "3 × step Uσ_q", 3.0),
            ),
            Criterion(
                step("no-noise_biased", "quiescent_noisy", "step B (no noise, run with noise)"),
                ">",
                step("noisy_biased", "quiescent", "3 × step Bσ_q", 3.0),
            ),
        ),
    )


def _hd_claim() -> Claim:
    v_b = Quantity("mean quiescent angular velocity Bσ", "hd", "distance", ("noisy_biased", "quiescent_velocity"))
    return Claim(
        5,
        "Head direction: quiescent headings match the active ones; the biased network turns",
        (
            Criterion(_kl("hd", "noisy_unbiased", "noisy_unbiased", "KL(Uσ_q‖Uσ_a)"), "<", const(0.2)),
            Criterion(_kl("hd", "noisy_biased", "noisy_biased", "KL(Bσ_q‖Bσ_a)"), "<", const(0.2)),
            Criterion(v_b, ">", const(0.0)),
            Criterion(
                v_b,
                ">",
                Quantity(
                    "5 × abs(mean quiescent angular velocity Uσ)",
                    "hd",
                    "distance",
                    ("noisy_unbiased", "quiescent_velocity"),
                    factor=5.0,
                    absolute=True,
                ),
            ),
        ),
    )


def claims() -> tuple[Claim, ...]:
    """docs/spec.md §9's claims 1-6, in order."""
    c1, c2, c6 = _kl_claims()
    return c1, c2, _manifold_claim(), _noise_claim(), _hd_claim(), c6


def _track_claim() -> Claim:
    # Claim 1's KL criteria on a new task (issue 11): the claim the paper's theory predicts for any task.
    return Claim(
        7,
        "Linear track (not in the paper): quiescent outputs revisit the active distribution (claim 1's KL criteria)",
        (
            Criterion(
                _kl("track", "noisy_unbiased", "noisy_unbiased", "KL(Uσ_q‖Uσ_a)"),
                "<",
                _kl("track", "random", "noisy_unbiased", "KL(R‖Uσ_a)"),
            ),
            Criterion(
                _kl("track", "noisy_biased", "noisy_biased", "KL(Bσ_q‖Bσ_a)"),
                "<",
                _kl("track", "noisy_biased", "noisy_unbiased", "KL(Bσ_q‖Uσ_a)"),
            ),
        ),
    )


def families_of(claim: Claim) -> set[str | None]:
    """The families whose results a claim reads (``None`` for a quantity that names none: it is never present)."""
    return {q.family for c in claim.criteria for q in (c.lhs, c.rhs) if not q.constant}


def reported(results: dict[int, dict[str, dict[str, dict]]]) -> tuple[Claim, ...]:
    """The claims a report shows for ``{seed: {family: ...}}``: docs/spec.md §9's always (a family left out leaves its
    claims not evaluated), and the further claims of families that have results."""
    present = {family for by_family in results.values() for family in by_family}
    return (*claims(), *(c for c in (_track_claim(),) if families_of(c) <= present))
