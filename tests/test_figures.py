"""Figure panels, their data helpers and the shared style, on small synthetic data (docs/spec.md §8)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display needed, and no backend switch mid-session

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from reactivation import figures  # noqa: E402
from reactivation.figures import data, style  # noqa: E402
from reactivation.figures.style import CONDITIONS, KL_COLUMNS, KL_ROWS, LABELS  # noqa: E402
from tests.figure_check import check, readable  # noqa: E402


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def labelled(ax, polar: bool = False) -> None:
    assert ax.get_title() and ax.get_xlabel()
    if not polar:
        assert ax.get_ylabel()


def tick_texts(labels) -> list[str]:
    # Box plots break long condition labels over two lines.
    return [t.get_text().replace("\n", " ") for t in labels]


# ------------------------------------------------------------------------------------------------- SN panels


def test_learning_curves(rng, tmp_path):
    steps = np.arange(0, 500, 25)
    # Given in reverse order: the panel must still draw the paper order.
    loss = {c: np.exp(-steps / 200) * (1 + 0.1 * rng.random((5, steps.size))) for c in CONDITIONS[::-1]}
    error = {c: 0.1 * v for c, v in loss.items()}
    fig = figures.learning_curves(steps, loss, error)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        labelled(ax)
        assert len(ax.lines) == 4 and len(ax.collections) == 4  # mean lines and ± std bands
    assert fig.axes[0].get_yscale() == "log"
    assert "m²" in fig.axes[1].get_ylabel()
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [LABELS[c] for c in CONDITIONS]
    mean = fig.axes[0].lines[0].get_ydata()
    np.testing.assert_allclose(mean, loss["noisy_unbiased"].mean(axis=0))
    check(fig, tmp_path)


def test_learning_curves_single_seed_and_bad_shape():
    steps = np.arange(3)
    fig = figures.learning_curves(steps, {"noisy_unbiased": np.ones(3)}, {"noisy_unbiased": np.ones(3)})
    assert len(fig.axes[0].lines) == 1 and len(fig.axes[0].collections) == 0  # no band for one seed
    with pytest.raises(ValueError, match="steps"):
        figures.learning_curves(steps, {"noisy_unbiased": np.ones((2, 4))}, {})


def test_explained_variance(rng, tmp_path):
    ratios = rng.dirichlet(np.ones(30), size=3)[:, :10]
    active, quiescent = np.cumsum(ratios, axis=1), np.cumsum(ratios[0])
    fig = figures.explained_variance(active, quiescent)
    (ax,) = fig.axes
    labelled(ax)
    assert len(ax.lines) == 2 and all(len(line.get_xdata()) == 10 for line in ax.lines)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), active.mean(axis=0))
    assert len(ax.collections) == 1  # only the 3-seed active curve gets a band
    assert to_rgb(ax.lines[0].get_color()) == to_rgb(style.ACTIVE)
    assert to_rgb(ax.lines[1].get_color()) == to_rgb(style.QUIESCENT)
    check(fig, tmp_path)
    per_pc = figures.explained_variance(ratios[0], ratios[1], cumulative=False)
    np.testing.assert_allclose(per_pc.axes[0].lines[0].get_ydata(), np.cumsum(ratios[0]))


def test_pc_scatter_shares_colour_scale(rng, tmp_path):
    a, q = rng.normal(size=(500, 2)), 0.5 * rng.normal(size=(300, 2))
    ca, cq = np.linalg.norm(a, axis=1), 3.0 + np.linalg.norm(q, axis=1)
    fig = figures.pc_scatter(a, q, ca, cq)
    assert len(fig.axes) == 3  # two scatters and the colour bar
    for ax in fig.axes[:2]:
        labelled(ax)
        (sc,) = ax.collections
        assert sc.norm.vmin == pytest.approx(ca.min()) and sc.norm.vmax == pytest.approx(cq.max())
    assert len(fig.axes[0].collections[0].get_offsets()) == 500
    assert "m" in fig.axes[2].get_ylabel()
    check(fig, tmp_path)


@pytest.mark.parametrize("n, batch", [(5, 8), (5, 3)])
def test_trajectories(rng, tmp_path, n, batch):
    walk = np.cumsum(rng.normal(scale=0.05, size=(batch, 50, 2)), axis=1)
    fig = figures.trajectories(walk, 0.5 * walk[:, :30], box=(2.2, 2.2), n=n)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        labelled(ax)
        assert len(ax.lines) == min(n, batch)
        (box,) = ax.patches
        assert box.get_width() == pytest.approx(2.2) and box.get_xy() == pytest.approx((-1.1, -1.1))
    check(fig, tmp_path)


def test_density_maps(rng, tmp_path):
    maps = {f"map {i}": rng.random((20, 20)) for i in range(5)}
    fig = figures.density_maps(maps, ncols=4)
    assert len(fig.axes) == 5 + 5  # the 8 − 5 unused grid cells are removed; a colour bar per map
    images = [ax for ax in fig.axes if ax.images]
    for ax, title in zip(images, maps):
        labelled(ax)
        assert ax.get_title() == title and len(ax.images) == 1
        assert ax.images[0].colorbar.ax.get_ylabel() == "density (1/m²)"  # its unit on the bar
    assert readable(fig) == []
    check(fig, tmp_path)
    shared = figures.density_maps(
        {"a": np.ones((4, 4)), "b": 3 * np.ones((4, 4))},
        colorbar=True,
        share_scale=True,
        xlabel="PC1 (a.u.)",
        ylabel="PC2 (a.u.)",
    )
    assert len(shared.axes) == 3
    assert [ax.images[0].get_clim() for ax in shared.axes[:2]] == [(0.0, 3.0), (0.0, 3.0)]
    with pytest.raises(ValueError):
        figures.density_maps({})


def test_variance_box(rng, tmp_path):
    values = {c: rng.lognormal(-3, 1, size=5) for c in CONDITIONS[::-1]}
    fig = figures.variance_box(values)
    (ax,) = fig.axes
    labelled(ax)
    assert len(ax.patches) == 4  # one box per condition
    assert [len(c.get_offsets()) for c in ax.collections] == [5, 5, 5, 5]
    assert tick_texts(ax.get_xticklabels()) == [LABELS[c] for c in CONDITIONS]
    assert ax.get_yscale() == "log"
    check(fig, tmp_path)


def test_kl_heatmap(rng, tmp_path):
    table = {r: {c: float(rng.uniform(-0.01, 3.0)) for c in KL_COLUMNS[::-1]} for r in KL_ROWS[::-1]}
    fig = figures.kl_heatmap(table)
    ax, bar = fig.axes
    labelled(ax)
    assert "nats" in bar.get_ylabel()
    image = ax.images[0].get_array()
    assert image.shape == (6, 4)
    assert image[1, 2] == pytest.approx(table["noisy_biased"]["no-noise_unbiased"])
    assert [t.get_text() for t in ax.get_yticklabels()] == [LABELS[r] for r in KL_ROWS]
    assert [t.get_text() for t in ax.get_xticklabels()] == [LABELS[c] for c in KL_COLUMNS]
    assert len(ax.texts) == 24
    assert ax.texts[0].get_text() == f"{table['noisy_unbiased']['noisy_unbiased']:.2f}"
    check(fig, tmp_path)


def test_kl_heatmap_subset_and_missing_cell(tmp_path):
    # The GRU family: 2 trained conditions → 4 rows × 2 columns; rows absent from the table are skipped.
    rows = ("noisy_unbiased", "noisy_biased", "random", "uniform")
    table = {r: {"noisy_unbiased": 0.1, "noisy_biased": 2.0} for r in rows}
    table["uniform"].pop("noisy_biased")
    std = {r: {"noisy_unbiased": 0.01} for r in rows}
    fig = figures.kl_heatmap(table, std=std)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (4, 2)
    assert [t.get_text() for t in ax.get_yticklabels()] == [LABELS[r] for r in rows]
    assert len(ax.texts) == 7  # the missing cell stays blank
    assert ax.texts[0].get_text() == "0.10\n± 0.01"
    check(fig, tmp_path)
    with pytest.raises(ValueError):
        figures.kl_heatmap({"other": {"x": 1.0}})


def test_distance_box(rng, tmp_path):
    values = {
        c: {
            "active": rng.random(5),
            "quiescent": rng.random(5),
            **({"quiescent_noisy": rng.random(5)} if c.startswith("no-noise") else {}),
            "active_velocity": rng.random(5),
        }  # keys that are not phases are ignored
        for c in CONDITIONS
    }
    fig = figures.distance_box(values)
    (ax,) = fig.axes
    labelled(ax)
    assert len(ax.patches) == 2 + 2 + 3 + 3
    assert tick_texts(ax.get_xticklabels()) == [LABELS[c] for c in CONDITIONS]
    assert to_rgb(ax.patches[0].get_facecolor()) == to_rgb(style.ACTIVE)
    assert to_rgb(ax.patches[1].get_facecolor()) == to_rgb(style.QUIESCENT)
    assert to_rgb(ax.patches[6].get_facecolor()) == to_rgb(style.QUIESCENT_NOISY)
    assert len(ax.get_legend().get_texts()) == 3
    check(fig, tmp_path)


# ------------------------------------------------------------------------------------------------- HD panels


def test_heading_rose_is_area_proportional(rng, tmp_path):
    active, quiescent = rng.uniform(-np.pi, np.pi, 4000), rng.vonmises(1.0, 2.0, 3000) + 2 * np.pi
    fig = figures.heading_rose(active, quiescent, bins=36)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.name == "polar"
        labelled(ax, polar=True)
        assert len(ax.patches) == 36
        # Wedge area ∝ radius², so the squared radii are the bins' shares of the points.
        assert sum(p.get_height() ** 2 for p in ax.patches) == pytest.approx(1.0)
    check(fig, tmp_path)


def test_pc_ring(rng, tmp_path):
    theta = rng.uniform(-np.pi, np.pi, 1000)
    fig = figures.pc_ring(np.c_[np.cos(theta), np.sin(theta)], theta)
    ax, bar = fig.axes
    labelled(ax)
    assert "rad" in bar.get_ylabel()
    (sc,) = ax.collections
    assert sc.get_cmap().name == "twilight"
    assert (sc.norm.vmin, sc.norm.vmax) == (pytest.approx(-np.pi), pytest.approx(np.pi))
    check(fig, tmp_path)


def test_polar_trajectories(rng, tmp_path):
    active = np.cumsum(rng.normal(scale=0.3, size=(7, 60)), axis=1)
    quiescent = np.cumsum(rng.normal(0.015, 0.05, size=(7, 120, 1)), axis=1)
    fig = figures.polar_trajectories(active, quiescent, n=4)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.name == "polar"
        labelled(ax, polar=True)
        assert len(ax.lines) == 4
    assert len(fig.axes[1].lines[0].get_ydata()) == 120  # radius = time step
    check(fig, tmp_path)
    none = figures.polar_trajectories(active, quiescent, n=0)  # none asked for: none drawn (it drew one)
    assert [len(ax.lines) for ax in none.axes] == [0, 0]


def test_angular_velocity_hist(rng, tmp_path):
    active, quiescent = rng.normal(0.18, 0.5, 3000), rng.normal(0.015, 0.05, 3000)
    fig = figures.angular_velocity_hist(active, quiescent, bins=50)
    (ax,) = fig.axes
    labelled(ax)
    assert "rad/step" in ax.get_xlabel()
    assert len(ax.patches) == 2  # one filled histogram per phase
    assert [line.get_xdata()[0] for line in ax.lines] == [pytest.approx(active.mean()), pytest.approx(quiescent.mean())]
    check(fig, tmp_path)


# ------------------------------------------------------------------------------------------------ data helpers


def test_kde_map_integrates_to_one_and_is_oriented(rng):
    points = rng.normal(loc=(0.4, 0.0), scale=0.15, size=(30_000, 2))
    d = data.kde_map(points, lim=1.25, n_grid=100, max_points=5000)
    assert d.shape == (100, 100)
    cell_area = (2.5 / 100) ** 2
    assert d.sum() * cell_area == pytest.approx(1.0, rel=0.05)
    i, j = np.unravel_index(np.argmax(d), d.shape)  # rows are y, columns x
    centres = np.linspace(-1.25, 1.25, 101)[:-1] + 0.0125
    assert centres[j] == pytest.approx(0.4, abs=0.05) and centres[i] == pytest.approx(0.0, abs=0.05)
    # Subsampled (30 000 > 5000 points) with a seeded generator: reproducible, and the seed matters.
    np.testing.assert_array_equal(d, data.kde_map(points, lim=1.25, n_grid=100, max_points=5000))
    assert not np.array_equal(d, data.kde_map(points, lim=1.25, n_grid=100, max_points=5000, seed=1))


def test_kde_map_extent_and_degenerate_points():
    # A collapsed cloud (a deterministic no-noise network) on a grid corner, the worst case for sampling:
    # jittered by 1 mm to fit, widened to half a cell to be seen, its mass is still on the map.
    d = data.kde_map(np.zeros((50, 2)) + 0.5, extent=(0.0, 1.0, 0.0, 1.0), n_grid=20)
    assert d.shape == (20, 20) and np.all(np.isfinite(d))
    assert d.sum() * (1.0 / 20) ** 2 == pytest.approx(1.0, rel=0.05)
    with pytest.raises(ValueError):
        data.kde_map(np.zeros((1, 2)))


def test_pca_fit_finds_a_three_dimensional_subspace(rng):
    basis = np.linalg.qr(rng.normal(size=(20, 3)))[0].T  # (3, 20) orthonormal rows
    h = (rng.normal(size=(2000, 3)) * [3.0, 2.0, 1.0]) @ basis + 5.0
    mean, components, ratio = data.pca_fit(h.reshape(40, 50, 20), k=10)  # leading axes are flattened
    assert mean.shape == (20,) and components.shape == (10, 20) and ratio.shape == (10,)
    np.testing.assert_allclose(mean, h.mean(axis=0))
    cumulative = np.cumsum(ratio)
    assert cumulative[1] < 0.99 and cumulative[2] == pytest.approx(1.0) and cumulative[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(components @ components.T, np.eye(10), atol=1e-10)
    pcs = data.pca_project(h, mean, components[:3])
    assert pcs.shape == (2000, 3)
    np.testing.assert_allclose(pcs @ components[:3] + mean, h, atol=1e-8)  # the subspace is captured exactly


def test_mean_std_over_seeds_keeps_common_steps():
    curves = [{0: 1.0, 10: 2.0, 20: 5.0}, {"0": 3.0, "10": 4.0}, {0: 2.0, 10: 3.0, 30: 9.0}]
    steps, mean, std = data.mean_std_over_seeds(curves)
    np.testing.assert_array_equal(steps, [0, 10])
    np.testing.assert_allclose(mean, [2.0, 3.0])
    np.testing.assert_allclose(std, [np.sqrt(2 / 3), np.sqrt(2 / 3)])  # population std (ddof 0)
    np.testing.assert_allclose(data.mean_std_over_seeds(curves, ddof=1)[2], [1.0, 1.0])
    steps, values = data.align_over_seeds(curves)
    assert values.shape == (3, 2)
    with pytest.raises(ValueError):
        data.mean_std_over_seeds([])


# ------------------------------------------------------------------------------------------------------ style


def test_style_is_scoped_and_constants_in_paper_order():
    before = dict(matplotlib.rcParams)
    with figures.apply_style():
        assert matplotlib.rcParams["font.sans-serif"][:3] == ["Arial", "Helvetica", "DejaVu Sans"]
    figures.kl_heatmap({"noisy_unbiased": {"noisy_unbiased": 0.1}})
    assert dict(matplotlib.rcParams) == before
    assert (style.ACTIVE, style.QUIESCENT) == ("#2ca7c5", "#ee3233")
    assert KL_ROWS == CONDITIONS + ("random", "uniform") and KL_COLUMNS == CONDITIONS
    assert set(LABELS) == set(KL_ROWS)
