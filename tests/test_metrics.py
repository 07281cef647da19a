"""Analysis metrics on analytic cases (docs/spec.md §7, §9).

Tolerances are stated next to each check. All data come from fixed seeds, so every test is deterministic;
the tolerances are sized from the sampling / Monte Carlo / KDE-smoothing errors so that a correct
implementation passes for any seed and a wrong one (e.g. a 1-D uniform density, unwrapped angles) fails.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy.stats import gaussian_kde

from reactivation.analysis import (
    annulus_share,
    circular_kl_divergence,
    circular_variance,
    explained_variance_curve,
    kl_divergence,
    kl_from_uniform,
    mean_angular_velocity,
    stepwise_distance,
    subspace_variance_share,
    total_variance,
    wrapped_step_distance,
)
from reactivation.analysis.metrics import vonmises_bandwidth, wrap
from reactivation.geometry import Box, Circle

BOX = ((-1.1, -1.1), (1.1, 1.1))


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------------------ planar KL


def test_kl_between_shifted_gaussians_matches_analytic_value():
    # KL(N(0, I) || N(mu, I)) = |mu|^2 / 2 = 0.5 for mu = (1, 0). Scott's bandwidth at n = 4000 widens both
    # KDEs to covariance ≈ 1.06 I, lowering the target to ≈ 0.47; data sampling + 2500 Monte Carlo samples
    # give an sd ≈ 0.03 (measured over seeds). ±0.1 covers both with room to spare, while a sign or factor-2
    # error (0 or 1) fails.
    p = rng(1).normal(size=(4000, 2))
    q = rng(2).normal(size=(4000, 2)) + np.array([1.0, 0.0])
    assert kl_divergence(p, q, seed=0) == pytest.approx(0.5, abs=0.1)


def test_kl_of_a_distribution_with_itself_is_near_zero():
    # Two independent samples of the same distribution: only KDE noise remains (measured ≈ 0.01–0.03).
    p = rng(3).normal(size=(4000, 2))
    q = rng(4).normal(size=(4000, 2))
    assert abs(kl_divergence(p, q, seed=0)) < 0.05


def test_kl_accepts_one_dimensional_samples():
    # 1-D: KL(N(0, 1) || N(1, 1)) = 0.5; same error budget as the 2-D case.
    p, q = rng(5).normal(size=2000), rng(6).normal(size=2000) + 1.0
    assert kl_divergence(p, q, seed=0) == pytest.approx(0.5, abs=0.1)


def test_kl_from_uniform_uses_the_two_dimensional_density():
    q = rng(7).uniform(-1.1, 1.1, size=(10_000, 2))
    kl = kl_from_uniform(q, *BOX, seed=0)
    # The KDE blurs the box's edges (density there drops towards half), so the estimate is ≈ 0.1, not 0;
    # the published 1-D density would give ≈ 0.1 + log 2.2 ≈ 0.9.
    assert 0.0 < kl < 0.25
    # The published script's estimate, computed independently with its 1-D log-density -log 2.2: it differs
    # by log 2.2 up to the Monte Carlo error of two independent 2500-sample means (sd ≈ 0.005 each).
    x = rng(8).uniform(-1.1, 1.1, size=(2500, 2))
    published = -math.log(2.2) - float(np.mean(gaussian_kde(q.T).logpdf(x.T)))
    assert published - kl == pytest.approx(math.log(2.2), abs=0.03)


def test_degenerate_samples_are_jittered_and_reported():
    q = rng(9).normal(size=(500, 2))
    same_point = np.full((100, 2), 0.3)
    collinear = np.repeat([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]], 50, axis=0)  # 3 points on a line: rank 1
    for degenerate in (same_point, collinear):
        kl, jittered = kl_divergence(degenerate, q, return_jitter=True)
        assert np.isfinite(kl) and kl > 1.0  # a collapsed cloud is far from a spread one
        assert jittered == {"p": True, "q": False}
        kl, jittered = kl_divergence(q, degenerate, return_jitter=True)
        assert np.isfinite(kl) and jittered == {"p": False, "q": True}
    kl, jittered = kl_from_uniform(same_point, *BOX, return_jitter=True)
    assert np.isfinite(kl) and jittered == {"p": False, "q": True}
    # Three distinct points that are not collinear have a full-rank covariance: no jitter is needed.
    triangle = np.repeat([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], 50, axis=0)
    kl, jittered = kl_divergence(triangle, q, return_jitter=True)
    assert np.isfinite(kl) and jittered == {"p": False, "q": False}
    # Without return_jitter the result is a plain float.
    assert isinstance(kl_divergence(q, q), float)


def test_seed_makes_kl_reproducible_and_different_seeds_differ_slightly():
    p, q = rng(10).normal(size=(500, 2)), rng(11).normal(size=(500, 2)) + 0.5
    a, b = kl_divergence(p, q, seed=3), kl_divergence(p, q, seed=3)
    c = kl_divergence(p, q, seed=4)
    assert a == b
    assert a != c and abs(a - c) < 0.05  # Monte Carlo sd ≈ 0.01 with 2500 samples
    assert kl_divergence(p, q, seed=np.random.default_rng(3)) == a  # a Generator seeds the same way
    u1, u2 = kl_from_uniform(q, *BOX, seed=1), kl_from_uniform(q, *BOX, seed=1)
    assert u1 == u2 and u1 != kl_from_uniform(q, *BOX, seed=2)


@pytest.mark.parametrize(
    ("p", "q", "match"),
    [
        (np.zeros((10, 2, 2)), np.zeros((10, 2)), "p must be a 2-D array"),
        (np.ones((10, 2)), np.ones((10, 3)), "same dimension"),
        (np.ones((2, 2)), np.ones((10, 2)), "at least 3 samples"),
        (np.ones((10, 2)), np.full((10, 2), np.nan), "q contains non-finite"),
    ],
)
def test_kl_input_validation_names_the_problem(p, q, match):
    with pytest.raises(ValueError, match=match):
        kl_divergence(p, q)


def test_kl_from_uniform_validation():
    q = rng(12).normal(size=(50, 2))
    with pytest.raises(ValueError, match="2 entries"):
        kl_from_uniform(q, (-1.0,), (1.0,))
    with pytest.raises(ValueError, match="high > low"):
        kl_from_uniform(q, (1.0, 1.0), (-1.0, 1.0))
    with pytest.raises(ValueError, match="n_samples"):
        kl_from_uniform(q, *BOX, n_samples=0)


# ------------------------------------------------------------------------------------------- circular KL


def test_circular_kl_handles_wrap_around():
    # von Mises samples centred at pi and at -pi are the same distribution: |KL| stays at KDE noise level
    # (measured ≤ 0.015). Centred at 0 instead, the true KL is kappa (1 - cos pi) A(kappa) ≈ 6.9 nats for
    # kappa = 4; the KDE smooths that down but it stays far above 1.
    p = rng(13).vonmises(math.pi, 4.0, size=3000)
    same = rng(14).vonmises(-math.pi, 4.0, size=3000)
    opposite = rng(15).vonmises(0.0, 4.0, size=3000)
    assert abs(circular_kl_divergence(p, same, seed=0)) < 0.05
    assert (
        abs(circular_kl_divergence(p, same + 2 * math.pi, seed=0) - circular_kl_divergence(p, same, seed=0)) < 1e-9
    )  # angles need not be wrapped
    assert circular_kl_divergence(p, opposite, seed=0) > 1.0


def test_circular_kl_matches_von_mises_analytic_value():
    # KL(vM(0, k) || vM(1, k)) = k A(k) (1 - cos 1) ≈ 0.642 for k = 2 (A = I1/I0). The KDE kernels
    # (kappa ≈ 30 here) lower it by ≈ 0.02; sampling + Monte Carlo sd ≈ 0.04 over seeds: ±0.12 is ~3 sd.
    p, q = rng(16).vonmises(0.0, 2.0, size=3000), rng(17).vonmises(1.0, 2.0, size=3000)
    assert circular_kl_divergence(p, q, seed=0) == pytest.approx(0.642, abs=0.12)


def test_circular_kl_bandwidth_rule_and_degenerate_angles():
    uniform = rng(18).uniform(-math.pi, math.pi, size=2500)
    kl, kappas = circular_kl_divergence(uniform, uniform[::-1].copy(), return_kappa=True)
    # Near-uniform data hit the rule's floor n^(2/5) / (1.06^2 pi^2 / 3) ≈ 6.2 for n = 2500.
    floor = 2500**0.4 / (1.06**2 * math.pi**2 / 3)
    assert kappas["p"] == pytest.approx(floor) and abs(kl) < 1e-9
    # Identical angles: the kernel is capped (std 1 mrad) and the estimate is finite.
    kl, kappas = circular_kl_divergence(np.full(100, 3.0), uniform, return_kappa=True)
    assert np.isfinite(kl) and kappas["p"] == 1e6
    # A fixed kappa is used for both sets.
    _, kappas = circular_kl_divergence(uniform, uniform, kappa=20.0, return_kappa=True)
    assert kappas == {"p": 20.0, "q": 20.0}
    # Concentrated data: Silverman's normal reference rule, kappa = 1 / (1.06 s n^(-1/5))^2.
    tight = rng(19).vonmises(0.0, 100.0, size=2000)
    s = math.sqrt(-2 * math.log(abs(np.mean(np.exp(1j * tight)))))
    assert vonmises_bandwidth(tight) == pytest.approx(1 / (1.06 * s * 2000**-0.2) ** 2)
    with pytest.raises(ValueError, match="kappa"):
        circular_kl_divergence(uniform, uniform, kappa=-1.0)
    with pytest.raises(ValueError, match="1-D array of angles"):
        circular_kl_divergence(uniform.reshape(50, 50), uniform)


# ----------------------------------------------------------------- density-ratio clip (docs/spec.md §7 decision)

# Wider than every ratio of these tests (|log ratio| < 700): such a clip must leave each estimate bit for bit.
WIDE = (1e-300, 1e300)


def _far_gaussians():
    """p = N(0, I), q = N((3, 0), I) in 2-D: KL = 9 / 2 nats, and the log ratio log p(x) - log q(x) of a sample of
    p is N(4.5, 9), so a clip at e^2 reaches most samples."""
    return rng(30).normal(size=(2000, 2)), rng(31).normal(size=(2000, 2)) + np.array([3.0, 0.0])


def test_a_ratio_clip_lowers_kl_where_ratios_exceed_it_and_equals_the_hand_computation():
    p, q = _far_gaussians()
    clip = (math.exp(-2.0), math.exp(2.0))
    unclipped, clipped = kl_divergence(p, q, 1000, seed=0), kl_divergence(p, q, 1000, seed=0, ratio_clip=clip)
    # By hand: neither cloud is degenerate, so the stream goes to the Monte Carlo draws alone (docs/spec.md §7).
    kde_p, kde_q = gaussian_kde(p.T), gaussian_kde(q.T)
    x = kde_p.resample(1000, seed=np.random.default_rng(0))
    log_ratio = kde_p.logpdf(x) - kde_q.logpdf(x)
    assert (log_ratio > 2.0).mean() > 0.5  # the clip bites on most samples...
    assert unclipped == float(np.mean(log_ratio)) and unclipped == pytest.approx(4.5, abs=0.5)
    assert clipped == float(np.mean(np.clip(log_ratio, -2.0, 2.0)))  # ...and clipped ratios are averaged as logs
    assert clipped < unclipped and clipped <= 2.0


def test_a_ratio_clip_of_the_uniform_row_equals_the_hand_computation():
    q = rng(32).normal(0.0, 0.2, size=(2000, 2))  # a tight cloud: the box's corners have vanishing q
    clip = (1e-3, 1e3)
    unclipped, clipped = kl_from_uniform(q, *BOX, 1000, seed=0), kl_from_uniform(q, *BOX, 1000, seed=0, ratio_clip=clip)
    x = np.random.default_rng(0).uniform(BOX[0], BOX[1], size=(1000, 2))
    log_ratio = -math.log(2.2 * 2.2) - gaussian_kde(q.T).logpdf(x.T)
    assert log_ratio.max() > math.log(1e3)
    # 1e-12: the clip is applied to log q (the same bounds, moved by log U), so rounding may differ by an ulp.
    assert clipped == pytest.approx(float(np.mean(np.clip(log_ratio, *np.log(clip)))), rel=1e-12)
    assert clipped < unclipped


def test_a_circular_ratio_clip_lowers_kl_and_saturates_at_its_bound():
    p, q = rng(33).vonmises(0.0, 8.0, size=2000), rng(34).vonmises(math.pi, 8.0, size=2000)
    unclipped = circular_kl_divergence(p, q, 1000, seed=0)
    clipped = circular_kl_divergence(p, q, 1000, seed=0, ratio_clip=(1e-2, 1e2))
    # Opposite concentrated clouds: every sample's ratio is far above 1e2 (the unclipped mean is ≈ 130 nats), so the
    # clipped estimate is the mean of 1000 copies of log 1e2, equal to it up to the rounding of the sum.
    assert unclipped > 100.0
    assert clipped == pytest.approx(math.log(1e2), rel=1e-12)


def test_a_ratio_clip_wider_than_every_ratio_changes_nothing_bit_for_bit():
    p, q = _far_gaussians()
    assert kl_divergence(p, q, 1000, seed=0, ratio_clip=WIDE) == kl_divergence(p, q, 1000, seed=0)
    assert kl_from_uniform(q, *BOX, 1000, seed=0, ratio_clip=WIDE) == kl_from_uniform(q, *BOX, 1000, seed=0)
    a, b = rng(35).vonmises(0.0, 4.0, size=500), rng(36).vonmises(1.0, 4.0, size=500)
    assert circular_kl_divergence(a, b, 1000, seed=0, ratio_clip=WIDE) == circular_kl_divergence(a, b, 1000, seed=0)
    # The task spaces' whole tables (the uniform row included) pass the clip on and keep every cell.
    for space, rows, cols in (
        (Box(*BOX), {"x": p, "y": q}, {"x": p, "y": q}),
        (Circle(), {"a": a[:, None]}, {"a": a[:, None], "b": b[:, None]}),
    ):
        plain, plain_jitter = space.kl_table(rows, cols, 500, 0)
        wide, wide_jitter = space.kl_table(rows, cols, 500, 0, ratio_clip=WIDE)
        assert wide == plain and wide_jitter == plain_jitter
        tight, _ = space.kl_table(rows, cols, 500, 0, ratio_clip=(0.5, 2.0))
        assert set(tight) == set(plain) and all(
            math.log(0.5) <= tight[r][c] <= math.log(2.0) for r in tight for c in tight[r]
        )


@pytest.mark.parametrize("bad", [1e7, (1e7,), (1e-7, 1e7, 1e9), (1e7, 1e-7), (2.0, 2.0), (0.0, 1e7), (-1.0, 1.0),
                                 (1e-7, math.inf), (math.nan, 1.0), "1e-7,1e7", (True, 2)])  # fmt: skip
def test_a_bad_ratio_clip_is_refused_by_every_estimate(bad):
    p, q = _far_gaussians()
    message = "ratio_clip must be None or [low, high] with 0 < low < high, both finite; got "
    for estimate in (
        lambda: kl_divergence(p, q, ratio_clip=bad),
        lambda: kl_from_uniform(q, *BOX, ratio_clip=bad),
        lambda: circular_kl_divergence(p[:, 0], q[:, 0], ratio_clip=bad),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            estimate()


# --------------------------------------------------------------------------------- per-trajectory statistics


def test_total_variance_of_isotropic_gaussian_noise():
    # Per trajectory E[trace cov] = d sigma^2 = 2 * 0.09 = 0.18; each estimate has sd sqrt(2 d sigma^4 / (T-1))
    # ≈ 0.0081 at T = 500, so the mean over 200 trajectories has sd ≈ 0.0006: ±0.003 is 5 sd.
    x = rng(20).normal(scale=0.3, size=(200, 500, 2))
    v = total_variance(x)
    assert v.shape == (200,)
    assert v.mean() == pytest.approx(0.18, abs=0.003)
    # Exactly the trace of numpy's ddof-1 covariance.
    assert v[0] == pytest.approx(np.trace(np.cov(x[0], rowvar=False)), rel=1e-12)


def test_stepwise_distance_of_straight_steps():
    t = np.arange(50.0)
    unit = np.stack([t, np.zeros_like(t)], axis=-1)[None]  # (1, 50, 2) unit steps along x
    pythagoras = np.stack([3 * t, 4 * t], axis=-1)[None]  # steps of exactly 5
    assert stepwise_distance(unit)[0] == 1.0
    assert stepwise_distance(pythagoras)[0] == 5.0
    # Back and forth: every step counts, though the trajectory goes nowhere.
    zigzag = np.array([[[0.0, 0.0], [1.0, 0.0]] * 5])
    assert stepwise_distance(zigzag)[0] == 1.0
    with pytest.raises(ValueError, match=r"\(B, T, d\)"):
        stepwise_distance(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="2 time points"):
        total_variance(np.zeros((3, 1, 2)))


def test_circular_statistics_handle_wrap_around():
    step = 0.1
    walk = wrap(3.0 + step * np.arange(20))[None]  # counter-clockwise, crosses +pi -> -pi once
    assert walk.min() < -3.0  # it did cross
    assert wrapped_step_distance(walk)[0] == pytest.approx(step, abs=1e-12)
    assert mean_angular_velocity(walk)[0] == pytest.approx(step, abs=1e-12)
    assert mean_angular_velocity(-walk)[0] == pytest.approx(-step, abs=1e-12)  # clockwise
    # Neighbours across the cut: pi - 0.05 and -pi + 0.05 are 0.1 apart.
    assert wrapped_step_distance(np.array([[math.pi - 0.05, -math.pi + 0.05]]))[0] == pytest.approx(0.1)
    # wrap keeps the half-open interval [-pi, pi).
    assert wrap(np.array([math.pi]))[0] == -math.pi


def test_circular_variance_constant_and_uniform():
    theta = np.stack([np.full(1000, 2.5), rng(21).uniform(-math.pi, math.pi, 1000)])
    cv = circular_variance(theta)
    assert cv[0] == pytest.approx(0.0, abs=1e-12)
    # For n uniform angles E[R^2] = 1/n, so R ≈ 0.03 at n = 1000; 1 - R > 0.9 leaves 3x that margin.
    assert 0.9 < cv[1] <= 1.0
    # A tight cluster straddling the cut is concentrated, not spread over the circle.
    assert circular_variance(np.array([[math.pi - 0.01, -math.pi + 0.01]]))[0] < 1e-3


def test_annulus_share_matches_area_ratio():
    # Uniform in a disk of radius 0.5: share in [0.2, 0.45] = (0.45^2 - 0.2^2) / 0.5^2 = 0.65;
    # binomial sd at n = 100,000 is 0.0015, so ±0.006 is 4 sd.
    g = rng(22)
    r = 0.5 * np.sqrt(g.uniform(size=100_000))
    phi = g.uniform(-math.pi, math.pi, size=100_000)
    pts = np.stack([r * np.cos(phi), r * np.sin(phi)], axis=-1)
    assert annulus_share(pts) == pytest.approx(0.65, abs=0.006)
    # Any leading shape; a shifted centre moves the ring with the points.
    assert annulus_share(pts.reshape(100, 1000, 2) + 0.3, centre=(0.3, 0.3)) == pytest.approx(
        annulus_share(pts), abs=1e-9
    )
    with pytest.raises(ValueError, match="r_min <= r_max"):
        annulus_share(pts, r_min=0.5, r_max=0.2)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        annulus_share(np.zeros((10, 3)))


# ------------------------------------------------------------------------------------- hidden-state geometry


def test_explained_variance_reaches_one_at_the_subspace_dimension():
    g = rng(23)
    latent = g.normal(size=(2000, 3)) * np.array([3.0, 2.0, 1.0])
    basis, _ = np.linalg.qr(g.normal(size=(20, 3)))  # orthonormal 3-D subspace of 20 units
    h = latent @ basis.T + 5.0  # an offset must not matter (PCA centres)
    curve = explained_variance_curve(h, k=10)
    assert curve.shape == (10,)
    assert np.all(np.diff(curve) >= -1e-12)
    assert curve[2] == pytest.approx(1.0, abs=1e-9) and np.allclose(curve[2:], 1.0)
    # Variances 9, 4, 1: fractions 9/14 and 13/14, up to sampling error (relative sd ≈ 0.03).
    assert curve[0] == pytest.approx(9 / 14, abs=0.03)
    assert curve[1] == pytest.approx(13 / 14, abs=0.02)
    # Fewer states than units (SVD path) gives the same curve; k beyond the rank stays at 1.
    small = h[:10]
    assert explained_variance_curve(small, k=15)[-1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="zero variance"):
        explained_variance_curve(np.ones((10, 4)))


def test_subspace_variance_share():
    g = rng(24)
    n_units, k = 50, 10
    active = g.normal(size=(5000, n_units))
    isotropic = g.normal(size=(5000, n_units))
    # Isotropic: each direction holds 1/50 of the variance, so 10 directions hold ≈ 0.2 (sd ≈ 0.005).
    assert subspace_variance_share(active, isotropic, k=k) == pytest.approx(k / n_units, abs=0.02)
    # Active states on a 10-D subspace (plus a little noise); quiescent states inside it, with a different
    # covariance and an offset: the share is ≈ 1.
    basis, _ = np.linalg.qr(g.normal(size=(n_units, k)))
    active = g.normal(size=(5000, k)) * np.linspace(3, 1, k) @ basis.T + 0.01 * g.normal(size=(5000, n_units))
    quiescent = 0.2 * g.normal(size=(3000, k)) @ basis.T + 1.0
    assert subspace_variance_share(active, quiescent, k=k) > 0.999
    # Outside it: orthogonal directions only.
    outside = g.normal(size=(3000, n_units))
    outside -= outside @ basis @ basis.T
    assert subspace_variance_share(active, outside, k=k) < 0.01
    # Active states spanning only 2 dimensions: the arbitrary null-space directions are not counted.
    flat = g.normal(size=(500, 2)) @ basis[:, :2].T
    assert subspace_variance_share(flat, isotropic, k=k) == pytest.approx(2 / n_units, abs=0.01)
    with pytest.raises(ValueError, match="same n_units"):
        subspace_variance_share(active, isotropic[:, :10])


def test_each_geometry_says_how_to_subtract_and_bin_its_latents():
    from reactivation.geometry import Interval

    circle, box, track = Circle(), Box((-1.1, -1.1), (1.1, 1.1)), Interval(-1.0, 1.0, 1.0)
    # the shorter way round on the circle: from 3.0 to -3.0 rad is +0.28, not -6.0
    assert circle.difference(np.array([-3.0]), np.array([3.0]))[0] == pytest.approx(2 * math.pi - 6.0)
    assert box.difference(np.array([-3.0, 1.0]), np.array([3.0, 0.5])).tolist() == [-6.0, 0.5]
    assert circle.periodic and not box.periodic and not track.periodic
    (arcs,) = circle.bin_edges(4)
    assert len(arcs) == 13 and arcs[0] == -math.pi and arcs[-1] == math.pi
    assert [e.tolist() for e in box.bin_edges(2)] == [[-1.1, 0.0, 1.1], [-1.1, 0.0, 1.1]]
    (along,) = track.bin_edges(4)  # the track is binned too (it gets a drift field)
    assert along.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert "wrapped to [-pi, pi)" in circle.frame and "box from [-1.1, -1.1] to [1.1, 1.1]" in box.frame
