"""The figure command and the two notebooks, end to end on tiny trained and analysed runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from reactivation import ReactivationError
from reactivation.analysis import distance, kl, manifold, protocol, variance
from reactivation.config import ANALYSIS_CONFIG_DIR, compose_config, compose_train
from reactivation.figures import from_results
from reactivation.training import train
from tests.conftest import TINY, tiny_cells

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("spatial_navigation", "head_direction")


def _train_overrides(task: str) -> list[str]:
    return [*TINY, *tiny_cells(task)]


def _quoted(task: str) -> str:
    return "[" + ",".join(f'"{o}"' for o in _train_overrides(task)) + "]"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Tiny runs of the vanilla SN and HD families for seeds 0 and 1, seed 0 analysed by all three scripts."""
    root = tmp_path_factory.mktemp("results")
    for task in TASKS:
        for seed in (0, 1):
            for preset in protocol.FAMILIES[(task, "vanilla")].values():
                cfg = compose_train([f"config={preset}", f"seed={seed}", *_train_overrides(task)])
                train(cfg, root / preset / f"seed_{seed}", preset=preset)
        for analysis, extra in ((kl, ["n_samples=100"]), (variance, ["t_shift=2"]), (distance, []), (manifold, [])):
            name = analysis.__name__.rsplit(".", 1)[1]
            cfg = compose_config(ANALYSIS_CONFIG_DIR, name, [
                "seed=0", f"path={root}", f"task={task}", "progress=false", f"train_overrides={_quoted(task)}",
                "batch_size=6", "t_quiescent=10", *extra])
            analysis.run(protocol.settings(cfg))
    return root


@pytest.mark.parametrize("task", TASKS)
def test_from_results_draws_every_figure_and_reports_what_is_missing(results, task):
    settings, inv, figures = from_results(results, task, batch_size=8, t_quiescent=10,
                                          train_overrides=_train_overrides(task), device="cpu")
    assert inv.seeds == [0, 1] and settings.seed == 0
    common = {"learning_curves", "kl_heatmap", "variance_box", "distance_box"}
    per_model = ({"explained_variance", "pc_ring", "heading_rose", "polar_trajectories", "angular_velocity"}
                 if task == "head_direction" else
                 {"explained_variance", "pc_scatter", "trajectories", "output_density", "pc_density"})
    expected = common | {f"{name}_{c}" for name in per_model for c in ("noisy_unbiased", "noisy_biased")}
    assert set(figures) == expected
    # Seed 1 was trained but not analysed: each of its missing results is named with its command.
    missing = "\n".join(inv.missing)
    assert len(inv.missing) == 4 and "python output_kl.py seed=1" in missing
    assert "python output_manifold.py seed=1" in missing


def test_figure_command_writes_png_and_pdf(results):
    cmd = [sys.executable, "-m", "reactivation.figures", f"path={results}", "batch_size=8", "t_quiescent=10",
           f"train_overrides={_quoted('spatial_navigation')}", "device=cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=results)
    assert done.returncode == 0, done.stderr
    out = results / "spatial_navigation" / "figures"
    for name in ("learning_curves", "kl_heatmap", "variance_box", "distance_box", "pc_scatter_noisy_biased"):
        for fmt in ("png", "pdf"):
            assert (out / f"{name}.{fmt}").stat().st_size > 1000
    assert "missing" in done.stdout and "python output_variance.py seed=1" in done.stdout


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(ReactivationError, match=r"no finished spatial_navigation runs(.|\n)*python train\.py"):
        from_results(tmp_path, "spatial_navigation")
    with pytest.raises(ReactivationError, match="unknown figure key 'batchsize'"):
        from_results(tmp_path, "spatial_navigation", batchsize=3)


@pytest.mark.parametrize("name, task", [("SpatialNavigation", "spatial_navigation"),
                                        ("HeadDirection", "head_direction")])
def test_notebook_runs_top_to_bottom(results, name, task):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    params[0].source = (f"results = {str(results)!r}\ntask = {task!r}\nmodel = 'vanilla'\nseeds = None\n"
                        f"reference_seed = None\nbatch_size = 8\nt_quiescent = 10\n"
                        f"train_overrides = {_train_overrides(task)!r}\ndevice = 'cpu'\n")
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 10
