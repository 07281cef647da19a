"""The theory panels drawn from small hand-made results: what each artist shows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.quiver import Quiver

from reactivation.figures import panels_theory


def _box_field() -> dict:
    """A 3 × 2 grid of a [-1, 1]² box (C order: x slowest), bins 1 and 4 empty, bin 5 has a count but no vectors."""
    return {
        "edges": [[-1.0, -1 / 3, 1 / 3, 1.0], [-1.0, 0.0, 1.0]],
        "count": [2, 0, 1, 3, 0, 1],
        "drift": [[0.1, 0.0], None, [0.0, -0.2], [0.05, 0.05], None, None],
        "predicted": [[0.4, 0.0], None, [0.0, -0.1], [0.1, 0.1], None, [1.0, 1.0]],
    }


def _quivers(fig) -> list[Quiver]:
    return [c for ax in fig.axes for c in ax.collections if isinstance(c, Quiver)]


def test_the_box_field_has_an_arrow_per_non_empty_bin_at_its_centre_on_one_scale():
    fig = panels_theory.drift_field(_box_field(), "box", "noisy, unbiased")
    quivers = _quivers(fig)
    assert len(fig.axes) == 2 and len(quivers) == 2
    drift, predicted = quivers
    assert drift.N == predicted.N == 3  # bins 0, 2, 3: bins 1 and 4 are empty, bin 5 has no drift
    # Bin k is (k // 2, k % 2): x centres -2/3, 0, 2/3; y centres -0.5, 0.5.
    np.testing.assert_allclose(drift.X, [-2 / 3, 0.0, 0.0])
    np.testing.assert_allclose(drift.Y, [-0.5, -0.5, 0.5])
    np.testing.assert_allclose(np.c_[drift.U, drift.V], [[0.1, 0.0], [0.0, -0.2], [0.05, 0.05]])
    np.testing.assert_allclose(np.c_[predicted.U, predicted.V], [[0.4, 0.0], [0.0, -0.1], [0.1, 0.1]])
    # One scale, set by the longest vector of both panels (0.4) spanning 0.9 of the narrowest cell (2/3 m)
    assert drift.scale == predicted.scale == pytest.approx(0.4 / (0.9 * 2 / 3))
    assert drift.scale_units == "xy" and drift.angles == "xy"


def test_a_field_whose_bins_do_not_match_its_edges_or_without_bins_is_an_error():
    bad = {**_box_field(), "count": [1, 0]}
    with pytest.raises(ValueError, match="edges give 6 bins, but count, drift and predicted hold 2, 6 and 6"):
        panels_theory.drift_field(bad, "box")
    with pytest.raises(ValueError, match="no bins"):
        panels_theory.drift_field({}, "box")
    with pytest.raises(ValueError, match="unknown geometry 'torus'"):
        panels_theory.drift_field(_box_field(), "torus")


@pytest.mark.parametrize("geometry", ["circle", "interval"])
def test_a_one_dimensional_field_is_two_lines_over_the_bin_centres_with_gaps_at_empty_bins(geometry):
    edges = np.linspace(-math.pi, math.pi, 5) if geometry == "circle" else np.linspace(-1.0, 1.0, 5)
    field = {
        "edges": [edges.tolist()],
        "count": [4, 0, 2, 1],
        "drift": [[0.1], None, [-0.3], [0.2]],
        "predicted": [[0.2], None, [-0.1], [0.0]],
    }
    fig = panels_theory.drift_field(field, geometry, "t")
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    drift, predicted = lines["decoded drift"], lines["predicted Σ_y ∇ log p"]
    centres = 0.5 * (edges[:-1] + edges[1:])
    np.testing.assert_allclose(drift.get_xdata(), centres)
    np.testing.assert_allclose(drift.get_ydata(), [0.1, np.nan, -0.3, 0.2])
    np.testing.assert_allclose(predicted.get_ydata(), [0.2, np.nan, -0.1, 0.0])
    unit = "rad" if geometry == "circle" else "m"
    assert ax.get_ylabel() == f"mean one-step change ({unit}/step)" and ax.get_xlim() == (edges[0], edges[-1])


def _errorbars(ax) -> dict[str, ErrorbarContainer]:
    return {c.get_label(): c for c in ax.containers if isinstance(c, ErrorbarContainer)}


def _bar_spans(container: ErrorbarContainer) -> tuple[np.ndarray, np.ndarray]:
    """(x, half length) of each vertical error bar of a container."""
    segments = np.asarray(container.lines[2][0].get_segments())  # (n, 2 ends, xy)
    return segments[:, 0, 0], (segments[:, 1, 1] - segments[:, 0, 1]) / 2


def test_the_agreement_points_are_the_seed_means_with_bars_of_the_seed_std():
    by_condition = {
        "noisy_biased": {
            "pca": {"slope": np.array([0.5, 0.7]), "cosine": np.array([0.8, 0.9])},
            "decoded": {"slope": np.array([0.2, 0.6]), "cosine": np.array([0.1, 0.5])},
            "reference": {"slope": np.array([0.6, 0.6]), "cosine": np.array([0.8, 0.84])},
        },
        "random": {  # after noisy_biased in paper order; one seed's slope undefined (NaN) is left out
            "pca": {"slope": np.array([0.1, np.nan]), "cosine": np.array([0.0, 0.2])},
            "decoded": {"slope": np.array([0.0, 0.0]), "cosine": np.array([0.3, 0.1])},
            "reference": {"slope": np.array([0.5, 0.7]), "cosine": np.array([0.9, 0.7])},
        },
        "noisy_unbiased": {"pca": {"slope": np.array([1.0, 1.2]), "cosine": np.array([0.9, 0.95])}},
    }
    fig = panels_theory.drift_agreement(by_condition)
    slope_ax, cosine_ax = fig.axes[:2]
    assert [t.get_text() for t in slope_ax.get_xticklabels()] == [
        "noisy,\nunbiased",
        "noisy,\nbiased",
        "random network",
    ]
    bars = _errorbars(slope_ax)
    assert set(bars) == {"pca", "decoded", "reference"}
    x, half = _bar_spans(bars["pca"])
    np.testing.assert_allclose(half, [0.1, 0.1, 0.0])  # std (ddof 0) of [1, 1.2], [0.5, 0.7], the lone 0.1
    np.testing.assert_allclose(bars["pca"].lines[2][0].get_segments()[0][:, 1], [1.0, 1.2])  # 1.1 ± 0.1
    _, half = _bar_spans(bars["decoded"])
    np.testing.assert_allclose(half, [0.2, 0.0])  # noisy_unbiased has no decoded entry: two points
    _, half = _bar_spans(_errorbars(cosine_ax)["reference"])
    np.testing.assert_allclose(half, [0.02, 0.1])
    # Conditions at 0, 1, 2; within each, pca left of decoded left of reference
    np.testing.assert_allclose(x, [-0.2, 0.8, 1.8])
    np.testing.assert_allclose(_bar_spans(bars["decoded"])[0], [1.0, 2.0])
    np.testing.assert_allclose(_bar_spans(bars["reference"])[0], [1.2, 2.2])
    theory = [line for line in slope_ax.get_lines() if line.get_label() == "theory (1)"]
    assert len(theory) == 1 and list(theory[0].get_ydata()) == [1.0, 1.0]


def _temperature(n_seeds: int = 2) -> dict:
    c = [0.0, 1.0, math.sqrt(2), 2.0]
    return {
        "noisy_unbiased": {
            "factors": np.tile(c, (n_seeds, 1)),
            "kl": np.array([[0.9, 0.3, 0.1, 0.4], [0.7, 0.5, 0.1, 0.2]])[:n_seeds],
            "variance": np.array([[0.01, 0.1, 0.2, 0.4], [0.03, 0.1, 0.2, 0.2]])[:n_seeds],
            "active_variance": np.array([0.2, 0.3])[:n_seeds],
        }
    }


def test_the_temperature_curves_mark_the_langevin_factor_and_log_the_positive_spread():
    fig = panels_theory.temperature_curves(_temperature())
    kl_ax, variance_ax = fig.axes
    for ax in (kl_ax, variance_ax):
        langevin = [line for line in ax.get_lines() if line.get_label() == "Langevin (√2)"]
        assert len(langevin) == 1 and list(langevin[0].get_xdata()) == [math.sqrt(2)] * 2
    assert kl_ax.get_yscale() == "linear" and variance_ax.get_yscale() == "log"
    (kl,) = [line for line in kl_ax.get_lines() if line.get_label() == "noisy, unbiased"]
    np.testing.assert_allclose(kl.get_xdata(), [0.0, 1.0, math.sqrt(2), 2.0])
    np.testing.assert_allclose(kl.get_ydata(), [0.8, 0.4, 0.1, 0.3])
    (band,) = [c for c in kl_ax.collections if isinstance(c, PolyCollection)]  # ± the seed std: 0.1 at c = 0
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(0.1) and ys.max() == pytest.approx(0.9)
    active = [line for line in variance_ax.get_lines() if line.get_linestyle() == ":"]
    assert len(active) == 1 and active[0].get_ydata()[0] == pytest.approx(0.25)
    assert "Langevin (√2)" in [t.get_text() for t in kl_ax.get_legend().get_texts()]


def test_a_spread_of_zero_keeps_a_linear_axis_and_one_seed_draws_no_band():
    data = _temperature(1)
    data["noisy_unbiased"]["variance"] = np.array([[0.0, 0.1, 0.2, 0.4]])  # c = 0: a still noise-free rollout
    kl_ax, variance_ax = panels_theory.temperature_curves(data).axes
    assert variance_ax.get_yscale() == "linear"
    assert not [c for c in kl_ax.collections if isinstance(c, PolyCollection)]


def _diffusion() -> dict:
    lags = np.array([[1, 2, 4, 8], [1, 2, 4, 8]])
    return {
        "noisy_unbiased": {
            "active": {
                "lags": lags,
                "msd": np.array([[1, 4, 16, 64], [3, 12, 48, 192]]),
                "exponent": np.array([2.0, 1.8]),
            },
            "quiescent": {
                "lags": lags,
                "msd": np.array([[1, 2, 4, 8], [1, 2, 4, 8]]),
                "exponent": np.array([1.0, 0.8]),
            },
        },
        "no-noise_unbiased": {  # a still network: MSD 0 (not drawn on the log axis), no exponent
            "active": {"lags": lags, "msd": np.array([[1, 4, 16, 64]] * 2), "exponent": np.array([2.0, 2.0])},
            "quiescent": {"lags": lags, "msd": np.zeros((2, 4)), "exponent": np.array([np.nan, np.nan])},
        },
    }


def test_the_msd_panel_is_log_log_with_the_two_guide_slopes_and_the_exponents_per_phase():
    fig = panels_theory.msd_curves(_diffusion(), unit="rad")
    msd_ax, exp_ax = fig.axes
    assert msd_ax.get_xscale() == msd_ax.get_yscale() == "log"
    assert msd_ax.get_ylabel() == "mean squared displacement (rad²)"
    lines = {line.get_label(): line for line in msd_ax.get_lines()}
    np.testing.assert_allclose(lines["noisy, unbiased, active"].get_ydata(), [2, 8, 32, 128])  # mean over seeds
    assert lines["noisy, unbiased, active"].get_linestyle() == "--"
    assert lines["noisy, unbiased, quiescent"].get_linestyle() == "-"
    assert "no noise, unbiased, quiescent" not in lines  # every mean is 0
    for slope in (1, 2):
        x, y = lines[f"slope {slope}"].get_xdata(), lines[f"slope {slope}"].get_ydata()
        assert np.polyfit(np.log(x), np.log(y), 1)[0] == pytest.approx(slope)
    bars = _errorbars(exp_ax)
    assert set(bars) == {"active", "quiescent"}
    _, half = _bar_spans(bars["active"])
    np.testing.assert_allclose(half, [0.1, 0.0])  # noisy_unbiased [2, 1.8]; no-noise [2, 2]
    np.testing.assert_allclose(bars["quiescent"].lines[0].get_ydata(), [0.9, np.nan])  # no exponent: no point
    assert sorted(line.get_ydata()[0] for line in exp_ax.get_lines() if line.get_linestyle() == "--") == [1.0, 2.0]
