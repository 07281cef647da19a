"""The figure command and the two notebooks, end to end on tiny trained and analysed runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from reactivation import ConfigError, ReactivationError
from reactivation.analyses import NAMES as KINDS
from reactivation.analyses import PAPER
from reactivation.analysis import diffusion, distance, drift, kl, manifold, settings, temperature, variance
from reactivation.config import ANALYSIS_CONFIG_DIR, compose_config, compose_train
from reactivation.figures import from_results, summary
from reactivation.training import train
from reactivation.values import show
from tests.conftest import TINY
from tests.figure_check import readable

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("spatial_navigation", "head_direction", "linear_track")


def _train_overrides(task: str) -> list[str]:
    return [*TINY]


def _quoted(task: str) -> str:
    return "[" + ",".join(f'"{o}"' for o in _train_overrides(task)) + "]"


#: Sizes the fixture's analyses ran with, which the figures must be told (results of other sizes are not theirs).
SIZES = {"batch_size": 6, "t_quiescent": 10}
ANALYSES = {
    "kl": {**SIZES, "n_samples": 100},
    "variance": {**SIZES, "t_shift": 2},
    "distance": SIZES,
    "manifold": SIZES,
    "temperature": {**SIZES, "t_shift": 2, "n_samples": 100, "factors": [0, 1, 1.4142135623730951, 2]},
    "drift": {"batch_size": 20, "n_states": 40, "n_queries": 20, "n_pca": 40},  # 20 x 6 states: 20 + 40 + 40 + 20
    "diffusion": {**SIZES, "t_shift": 2},
}
#: Kinds whose sizes the figure command line can set: those of figures.yaml's analyses block (the command refuses a
#: key it does not define, ``++`` or not).
LISTED = set(compose_config(ANALYSIS_CONFIG_DIR, "figures", []).analyses)
ANALYSES_ARGS = [f"analyses.{kind}.{k}={show(v)}" for kind, keys in ANALYSES.items() for k, v in keys.items()]
#: The figures of each theory analysis, drawn when its results exist (every task's latent space is binned).
THEORY_OF = {
    "drift": ("theory_drift_agreement", "theory_drift_field_noisy_unbiased", "theory_drift_field_noisy_biased"),
    "temperature": ("theory_temperature",),
    "diffusion": ("theory_msd",),
}
THEORY = {name for names in THEORY_OF.values() for name in names}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Tiny runs of the vanilla SN, HD and track families for seeds 0 and 1, seed 0 analysed by every script."""
    root = tmp_path_factory.mktemp("results")
    for task in TASKS:
        for seed in (0, 1):
            for preset in settings.FAMILIES[(task, "vanilla")].values():
                cfg = compose_train([f"config={preset}", f"seed={seed}", *_train_overrides(task)])
                train(cfg, root / preset / f"seed_{seed}", preset=preset)
        for analysis in (kl, variance, distance, manifold, temperature, drift, diffusion):
            name = analysis.__name__.rsplit(".", 1)[1]
            cfg = compose_config(
                ANALYSIS_CONFIG_DIR,
                name,
                [
                    "seed=0",
                    f"path={root}",
                    f"task={task}",
                    "progress=false",
                    f"train_overrides={_quoted(task)}",
                    *(f"{k}={show(v)}" for k, v in ANALYSES[name].items()),
                ],
            )
            analysis.run(settings.settings(cfg))
    return root


@pytest.mark.parametrize("task", TASKS)
def test_from_results_draws_every_figure_and_reports_what_is_missing(results, task):
    settings, inv, figures = from_results(
        results,
        task,
        batch_size=8,
        t_quiescent=10,
        analyses=ANALYSES,
        train_overrides=_train_overrides(task),
        device="cpu",
    )
    assert inv.seeds == [0, 1] and settings.seed == 0
    common = {"learning_curves", "kl_heatmap", "variance_box", "distance_box", *THEORY}
    # The task's geometry chooses the state panels: the circle's, or those of a box or a track (same names).
    per_model = (
        {"explained_variance", "pc_ring", "heading_rose", "polar_trajectories", "angular_velocity"}
        if task == "head_direction"
        else {"explained_variance", "pc_scatter", "trajectories", "output_density", "pc_density"}
    )
    expected = common | {f"{name}_{c}" for name in per_model for c in ("noisy_unbiased", "noisy_biased")}
    assert set(figures) == expected | {"summary"}
    page = figures.pop("summary")  # the paper's panels of the family on one page, each titled
    assert [ax.get_title() for ax in page.axes] == [n.replace("_", " ") for n in summary.page_panels(list(figures))]
    assert len(page.axes) == len(expected - THEORY)  # every panel but the theory's
    # Every map has a colour bar with its unit and every axis its unit, so each figure reads without the docs.
    assert {name: problems for name, fig in figures.items() if (problems := readable(fig))} == {}
    # Seed 1 was trained but not analysed: each of its missing results (one per kind) is named with its command.
    missing = "\n".join(inv.missing)
    # The replay analysis (an extra, not the paper's) is drawn where it was run and not listed as missing.
    assert len(inv.missing) == len(PAPER) == 7 and "python output_kl.py seed=1" in missing
    assert "output_replay" not in missing
    assert "python output_manifold.py seed=1" in missing and "python output_diffusion.py seed=1" in missing


def test_figure_command_writes_png_and_pdf(results):
    cmd = [
        sys.executable,
        "-m",
        "reactivation.figures",
        f"path={results}",
        "batch_size=8",
        "t_quiescent=10",
        f"train_overrides={_quoted('spatial_navigation')}",
        "device=cpu",
        *ANALYSES_ARGS,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=results)
    assert done.returncode == 0, done.stderr
    # results of other settings than the scale's (the fixture's sizes and training): a folder named by them
    (out,) = {p.parent for p in (results / "spatial_navigation" / "figures").rglob("kl_heatmap.png")}
    assert out.parent.name == "figures" and out.name.startswith("settings=")  # seven analyses' sizes: a digest
    for name in ("learning_curves", "kl_heatmap", "variance_box", "distance_box", "pc_scatter_noisy_biased"):
        for fmt in ("png", "pdf"):
            assert (out / f"{name}.{fmt}").stat().st_size > 1000
    # run from the results folder, outside the checkout: the script is spelt with its path
    assert "missing" in done.stdout and f"python {ROOT / 'output_variance.py'} seed=1" in done.stdout
    for names in THEORY_OF.values():  # told the fixture's sizes: drawn
        assert all((out / f"{name}.png").stat().st_size > 1000 for name in names)


def test_the_figure_command_can_be_told_the_settings_of_every_analysis():
    # figures.yaml's analyses block has one entry per analysis (it listed 4 of the 7 before the registry), each with
    # every key of that analysis's own config that is not shared by all analyses
    block = compose_config(ANALYSIS_CONFIG_DIR, "figures", []).analyses
    assert list(block) == list(KINDS)
    common = set(compose_config(ANALYSIS_CONFIG_DIR, "common", []))
    for kind in KINDS:
        own = set(compose_config(ANALYSIS_CONFIG_DIR, kind, [])) - common
        assert set(block[kind]) == own, kind


def test_a_reference_seed_without_runs_is_an_error_naming_the_seeds_with_runs(results):
    # It used to draw the 4 aggregate figures only, without a word about the 10 state panels.
    with pytest.raises(
        ConfigError,
        match=r"seed=7 \(the reference seed of the state panels\) has no finished "
        r"spatial_navigation runs .*seeds with runs: 0, 1\.",
    ):
        from_results(
            results, "spatial_navigation", seed=7, train_overrides=_train_overrides("spatial_navigation"), device="cpu"
        )
    with pytest.raises(
        ConfigError,
        match=r"seeds=\[7,8\]: none of these seeds has finished spatial_navigation runs "
        r".*seeds with runs there: 0, 1\.",
    ):
        from_results(
            results,
            "spatial_navigation",
            seeds=[7, 8],
            train_overrides=_train_overrides("spatial_navigation"),
            device="cpu",
        )


def test_results_of_other_settings_are_listed_as_missing_never_drawn(results):
    # The fixture analysed the final checkpoints with ANALYSES' sizes; figures of epoch 4, or of other KL sizes,
    # must not use those results.
    other = {**ANALYSES, "kl": {**ANALYSES["kl"], "n_samples": 99}}
    _, inv, figures = from_results(
        results,
        "spatial_navigation",
        seeds=[0],
        batch_size=4,
        t_quiescent=4,
        analyses=other,
        train_overrides=_train_overrides("spatial_navigation"),
        device="cpu",
    )
    assert "kl_heatmap" not in figures and {"variance_box", "distance_box", *THEORY} <= set(figures)
    kl_lines = [m for m in inv.missing if "/kl_" in m]
    assert len(kl_lines) == 1 and re.search(
        r"n_samples=99,.*is missing; compute it with: python output_kl\.py "
        r"seed=0 .*n_samples=99",
        kl_lines[0],
    )
    _, inv, figures = from_results(
        results,
        "spatial_navigation",
        seeds=[0],
        epoch=4,
        batch_size=4,
        t_quiescent=4,
        analyses=ANALYSES,
        train_overrides=_train_overrides("spatial_navigation"),
        device="cpu",
    )
    assert not {"kl_heatmap", "variance_box", "distance_box", *THEORY} & set(figures)
    # seed 0's result of every kind, none of them computed at epoch 4
    assert len(inv.missing) == len(PAPER) and all("epoch=4" in m for m in inv.missing)


def test_corrupt_results_and_test_logs_are_listed_with_the_fix_not_a_traceback(results, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(results, root)
    sn = root / "spatial_navigation"
    kl_file = next(p for p in sn.glob("kl_*.json") if not p.name.endswith(".meta.json"))
    kl_file.write_text('{"noisy_unbiased": ')  # torn
    variance_file = next(p for p in sn.glob("variance_*.json") if not p.name.endswith(".meta.json"))
    variance_file.write_text(json.dumps({"noisy_unbiased": "high"}))  # valid JSON, wrong shape
    log = root / "spatial_navigation/noisy_biased/seed_1/test_metrics.json"
    log.write_text("not json")
    _, inv, figures = from_results(
        root,
        "spatial_navigation",
        batch_size=4,
        t_quiescent=4,
        analyses=ANALYSES,
        train_overrides=_train_overrides("spatial_navigation"),
        device="cpu",
    )
    missing = "\n".join(inv.missing)
    assert f"{kl_file} is unreadable (JSONDecodeError" in missing
    assert f"{variance_file} is not a variance result (noisy_unbiased holds high, not a number)" in missing
    assert missing.count("delete it and compute it again with: python output_") == 2
    assert f"{log} is unreadable" in missing and "resume=false" in missing
    # What is intact is still drawn: the learning curves from the other runs, the distance box, the state panels.
    assert {"learning_curves", "distance_box", "pc_scatter_noisy_biased"} <= set(figures)
    assert not {"kl_heatmap", "variance_box"} & set(figures)


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(ReactivationError, match=r"no finished spatial_navigation runs(.|\n)*python train\.py"):
        from_results(tmp_path, "spatial_navigation")
    with pytest.raises(ReactivationError, match="'batchsize' is not a key of reactivation/configs/analysis/figures"):
        from_results(tmp_path, "spatial_navigation", batchsize=3)


@pytest.mark.parametrize(
    "name, task", [("SpatialNavigation", "spatial_navigation"), ("HeadDirection", "head_direction")]
)
def test_notebook_runs_top_to_bottom(results, name, task):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    params[0].source = (
        f"results = {str(results)!r}\ntask = {task!r}\nmodel = 'vanilla'\nseeds = None\n"
        f"reference_seed = None\nbatch_size = 8\nt_quiescent = 10\n"
        f"train_overrides = {_train_overrides(task)!r}\ndevice = 'cpu'\n"
    )
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}
    ).execute()
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 10


def test_figures_of_other_settings_than_the_defaults_go_to_a_folder_named_by_them(tmp_path):
    # They replaced the default figures before (the same file names in the same folder).
    from reactivation.figures.collect import kind_settings, results_tag

    def tag(*overrides: str, named_elsewhere: bool = False) -> str:
        cfg = compose_config(ANALYSIS_CONFIG_DIR, "figures", ["seed=0", f"path={tmp_path}", *overrides])
        return results_tag(kind_settings(settings.settings(cfg)), named_elsewhere=named_elsewhere)

    assert tag() == ""  # the scale's defaults: the figures folder itself
    assert tag("analyses.kl.n_samples=1000") == "n_samples=1000"
    assert tag("analyses.kl.ratio_clip=[1e-7,1e7]", "mode=same") == "mode=same,ratio_clip=1e-07-1e+07"
    overrides = 'train_overrides=["rnn.noise_dist=uniform"]'
    assert tag(overrides).startswith("train=") and tag(overrides, named_elsewhere=True) == ""
