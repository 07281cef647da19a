"""Linear-track figure panels (reactivation/figures/panels_track.py) on small synthetic data.

Tolerances are derived in the comments: the KDE is a Gaussian mixture, so its integral, peak and values have
closed forms or bounds that do not depend on luck beyond the stated sampling errors.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display needed, and no backend switch mid-session

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from reactivation.figures.panels_track import track_density, track_kde, track_trajectories  # noqa: E402
from reactivation.figures.style import PHASE_COLOURS, PHASE_LABELS, shades  # noqa: E402
from tests.figure_check import check  # noqa: E402

LOW, HIGH = -1.0, 1.0  # m, the default track
VIEW = (-1.1, 1.1)  # the track ± 5 % of its 2 m length
N_GRID = 200
STEP = (VIEW[1] - VIEW[0]) / (N_GRID - 1)  # grid step, m (~1.1 cm)

trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def curves(fig: Figure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid, active density, quiescent density) of a track_density figure."""
    (ax,) = fig.axes
    active, quiescent = ax.lines[:2]
    np.testing.assert_array_equal(active.get_xdata(), quiescent.get_xdata())
    return np.asarray(active.get_xdata()), np.asarray(active.get_ydata()), np.asarray(quiescent.get_ydata())


def vertical_lines(ax) -> list[float]:
    """x of every vertical line (axvline: two equal x values) on the axis."""
    out = []
    for line in ax.lines:
        x = np.asarray(line.get_xdata(), dtype=float)
        if len(x) == 2 and x[0] == x[1]:
            out.append(float(x[0]))
    return out


# ------------------------------------------------------------------------------------------------- density


def test_density_curves_are_scotts_kde_widened_by_half_a_step(rng, tmp_path):
    active = rng.normal(-0.3, 0.1, 3000)
    quiescent = rng.normal(0.5, 0.05, 2000)
    fig = track_density(active, quiescent, LOW, HIGH)
    grid, da, dq = curves(fig)
    np.testing.assert_allclose(grid, np.linspace(*VIEW, N_GRID))
    # Independent closed form: the mean of N(grid; x_i, s²) with s² = Scott's bandwidth² (n^(-2/5) × the
    # sample variance, ddof 1) + (half a grid step)². Only float rounding separates the two: rtol 1e-9.
    for x, d in ((active, da), (quiescent, dq)):
        var = len(x) ** -0.4 * x.var(ddof=1) + (STEP / 2) ** 2
        expected = np.exp(-0.5 * (grid[:, None] - x[None, :]) ** 2 / var).mean(axis=1) / math.sqrt(2 * math.pi * var)
        np.testing.assert_allclose(d, expected, rtol=1e-9, atol=1e-300)
    check(fig, tmp_path)


def test_density_integrates_to_one_over_a_grid_covering_the_data(rng):
    # Every point lies within |x| < 0.6 m (σ 0.1 m, 5000 draws: P(|x - 0.1| > 0.5) = 6e-7 each) and every
    # kernel has std s ≥ 0.0055 m, so mass beyond the grid's ±1.1 m ends is < 1e-40. The trapezoid rule on a
    # Gaussian of std s with step h errs by at most 2·exp(-2π²s²/h²) (Poisson summation); here Scott's
    # bandwidth is ~0.018 m, s/h ≈ 1.7, so the error is < 1e-20: 1e-9 is float rounding.
    x = rng.normal(0.1, 0.1, 5000)
    grid, d, _ = curves(track_density(x, -x, LOW, HIGH))
    assert trapezoid(d, grid) == pytest.approx(1.0, abs=1e-9)
    # A sample spread over the whole track loses mass past the ends (no reflection): shown mass < 1.
    spread = rng.uniform(LOW, HIGH, 5000)
    grid, d, _ = curves(track_density(spread, spread, LOW, HIGH))
    assert 0.9 < trapezoid(d, grid) < 1.0 - 1e-3
    assert np.all(d >= 0)


def test_density_peaks_at_the_mode_of_a_concentrated_sample(rng):
    # σ = 2 cm around the modes; the KDE's mode is within ~1 mm of the true mode (2000 draws), so the grid
    # maximum lies within half a step (5.5 mm) + that: 1.5 cm leaves a wide margin.
    active, quiescent = rng.normal(-0.45, 0.02, 2000), rng.normal(0.8, 0.02, 2000)
    grid, da, dq = curves(track_density(active, quiescent, LOW, HIGH))
    assert grid[np.argmax(da)] == pytest.approx(-0.45, abs=0.015)
    assert grid[np.argmax(dq)] == pytest.approx(0.8, abs=0.015)
    # Peak height ≈ 1/(√(2π)·σ_total) ≈ 19.4/m for σ_total ≈ √(0.02² + bw² + (h/2)²) ≈ 0.0206 m.
    assert da.max() == pytest.approx(19.4, rel=0.15)


@pytest.mark.parametrize("point", [0.3, HIGH])  # stuck mid-track, and stuck at the reward end
def test_degenerate_sample_still_draws_a_peak_at_the_point(rng, point):
    stuck = np.full((50, 40), point)  # a noise-free network on a fixed point: zero variance
    fig = track_density(rng.normal(0.0, 0.3, 4000), stuck, LOW, HIGH)
    grid, _, d = curves(fig)
    assert np.all(np.isfinite(d)) and np.all(d >= 0)
    # The 1 mm jitter (kernel std ~0.4 mm after Scott) widened by half a step gives s ≈ 5.5 mm: the peak
    # sits at the grid point nearest the point (within half a step), and its height there is at least
    # 1/(√(2π)·s)·exp(-1/2) ≈ 44/m (≈ 72/m at the centre).
    assert abs(grid[np.argmax(d)] - point) <= STEP / 2 + 1e-3
    assert d.max() > 40.0
    # s/h ≈ 0.5: the trapezoid error bound 2·exp(-2π²·0.25) ≈ 1.4 %, so 2 % (the peak is inside the grid).
    assert trapezoid(d, grid) == pytest.approx(1.0, abs=0.02)
    # Seeded: the same call draws the same jitter.
    np.testing.assert_array_equal(curves(track_density(rng.normal(size=5), stuck, LOW, HIGH))[2], d)


def test_density_labels_ends_anchor_and_legend(rng, tmp_path):
    x = rng.normal(0.0, 0.2, 500)
    fig = track_density(x, x / 2, LOW, HIGH, anchor=HIGH)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "position on the track (m)"
    assert ax.get_ylabel() == "density (1/m)"
    assert ax.get_title()
    assert ax.get_xlim() == pytest.approx(VIEW)
    assert ax.get_ylim()[0] == 0.0
    assert len(ax.lines) == 5  # two curves, two ends, the anchor
    assert sorted(vertical_lines(ax)) == [LOW, HIGH, HIGH]
    assert to_rgb(ax.lines[0].get_color()) == to_rgb(PHASE_COLOURS["active"])
    assert to_rgb(ax.lines[1].get_color()) == to_rgb(PHASE_COLOURS["quiescent"])
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0].startswith(PHASE_LABELS["active"]) and "n = 500" in texts[0]
    assert texts[1].startswith(PHASE_LABELS["quiescent"])
    assert any("1 m" in t for t in texts[2:])  # the anchor, with its unit
    check(fig, tmp_path)
    # Without an anchor only the ends are marked; other track ends move the lines and the view.
    fig = track_density(x, x / 2, -0.5, 1.5)
    (ax,) = fig.axes
    assert len(ax.lines) == 4 and sorted(vertical_lines(ax)) == [-0.5, 1.5]
    assert ax.get_xlim() == pytest.approx((-0.6, 1.6))
    assert ax.lines[0].get_xdata()[0] == pytest.approx(-0.6)


def test_density_drops_non_finite_flattens_and_subsamples(rng):
    x = rng.normal(0.0, 0.2, (20, 30, 1))
    dirty = x.copy().ravel()
    dirty = np.insert(dirty, [0, 7, 100], [np.nan, np.inf, -np.inf])
    _, clean_a, clean_q = curves(track_density(x, x.reshape(20, 30), LOW, HIGH))
    _, dirty_a, _ = curves(track_density(dirty, x, LOW, HIGH))
    np.testing.assert_allclose(dirty_a, clean_a, rtol=1e-12)
    np.testing.assert_allclose(clean_q, clean_a, rtol=1e-12)  # (B, T, 1) and (B, T): one sample
    # Subsampling: seeded (same seed, same curve), another seed another subsample, mass still ≈ 1.
    big = rng.normal(0.0, 0.2, 5000)
    grid, a1, _ = curves(track_density(big, big, LOW, HIGH, max_points=300, seed=3))
    _, a2, _ = curves(track_density(big, big, LOW, HIGH, max_points=300, seed=3))
    _, a3, _ = curves(track_density(big, big, LOW, HIGH, max_points=300, seed=4))
    np.testing.assert_array_equal(a1, a2)
    assert not np.allclose(a1, a3)
    assert trapezoid(a1, grid) == pytest.approx(1.0, abs=1e-6)  # points within ±1 m: see the integral test
    # And the fitted sample is the 300 points drawn without replacement by default_rng(seed): the curve is
    # the closed-form mixture (see the first test) over exactly those points.
    sub = big[np.random.default_rng(3).choice(big.size, size=300, replace=False)]
    var = 300**-0.4 * sub.var(ddof=1) + (STEP / 2) ** 2
    expected = np.exp(-0.5 * (grid[:, None] - sub[None, :]) ** 2 / var).mean(axis=1) / math.sqrt(2 * math.pi * var)
    np.testing.assert_allclose(a1, expected, rtol=1e-9, atol=1e-300)


def test_density_rejects_too_few_points_and_bad_arguments():
    ok = np.linspace(-0.5, 0.5, 10)
    with pytest.raises(ValueError, match="quiescent has 1 finite"):
        track_density(ok, np.array([0.2, np.nan, np.inf]), LOW, HIGH)
    with pytest.raises(ValueError, match="active has 0 finite"):
        track_density(np.array([]), ok, LOW, HIGH)
    with pytest.raises(ValueError, match="low < high"):
        track_density(ok, ok, 1.0, -1.0)
    with pytest.raises(ValueError, match="anchor"):
        track_density(ok, ok, LOW, HIGH, anchor=float("nan"))
    with pytest.raises(ValueError, match="n_grid"):
        track_density(ok, ok, LOW, HIGH, n_grid=1)
    with pytest.raises(ValueError, match="at least 2"):
        track_kde([0.1], LOW, HIGH)


# ------------------------------------------------------------------------------------------------- trajectories


@pytest.mark.parametrize("n, batch", [(5, 8), (5, 3), (1, 4)])
def test_trajectories_plot_the_first_rows(rng, tmp_path, n, batch):
    active = np.clip(np.cumsum(rng.normal(scale=0.05, size=(batch, 50)), axis=1), LOW, HIGH)
    quiescent = 0.5 * active[:, :30, None]  # (B, T', 1)
    fig = track_trajectories(active, quiescent, LOW, HIGH, n=n)
    assert len(fig.axes) == 2
    m = min(n, batch)
    for ax, phase, x in zip(fig.axes, ("active", "quiescent"), (active, quiescent[..., 0])):
        assert ax.get_xlabel() == "time (steps)" and ax.get_ylabel() == "position (m)"
        assert ax.get_title().startswith(PHASE_LABELS[phase])
        assert ax.get_ylim() == pytest.approx(VIEW)
        assert len(ax.lines) == m
        for i, (line, c) in enumerate(zip(ax.lines, shades(PHASE_COLOURS[phase], m))):
            np.testing.assert_array_equal(line.get_xdata(), np.arange(x.shape[1]))
            np.testing.assert_array_equal(line.get_ydata(), x[i])
            assert to_rgb(line.get_color()) == pytest.approx(c)
    check(fig, tmp_path)


def test_trajectories_trailing_singleton_equals_2d(rng):
    x = rng.uniform(LOW, HIGH, (6, 25))
    a = track_trajectories(x, x, LOW, HIGH, n=4)
    b = track_trajectories(x[..., None], x[..., None], LOW, HIGH, n=4)
    for ax_a, ax_b in zip(a.axes, b.axes):
        assert len(ax_a.lines) == len(ax_b.lines) == 4
        for la, lb in zip(ax_a.lines, ax_b.lines):
            np.testing.assert_array_equal(la.get_xydata(), lb.get_xydata())


def test_trajectories_reject_bad_shapes_and_n(rng):
    x = rng.uniform(LOW, HIGH, (3, 10))
    with pytest.raises(ValueError, match=r"quiescent must be \(B, T\)"):
        track_trajectories(x, rng.uniform(size=(3, 10, 2)), LOW, HIGH)
    with pytest.raises(ValueError, match=r"active must be \(B, T\)"):
        track_trajectories(x[0], x, LOW, HIGH)
    with pytest.raises(ValueError, match="n must be"):
        track_trajectories(x, x, LOW, HIGH, n=0)
    with pytest.raises(ValueError, match="low < high"):
        track_trajectories(x, x, 0.0, 0.0)
