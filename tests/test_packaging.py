"""The package as a user installs it (issue 12): a wheel that declares its dependencies, carries its configs and
trains from a directory that is not the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter from an empty directory, with only the installed wheel to import reactivation from.
_SMOKE = """
import json, sys
import reactivation
from reactivation.config import TRAIN_CONFIG_DIR, compose_train
from reactivation.training import train
cfg = compose_train(["config=linear_track/noisy_biased", "seed=0", "scale=tiny", "trainer.n_epochs=3",
                     "trainer.progress=false", "device=cpu"])
result = train(cfg, sys.argv[1], preset="linear_track/noisy_biased")
print(json.dumps({"package": reactivation.__file__, "configs": str(TRAIN_CONFIG_DIR), "step": result["step"]}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the project's files (so no build folder is left in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "reactivation", src / "reactivation", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("reactivation-*.whl")
    return built


def test_the_wheel_declares_its_dependencies_and_carries_every_config(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(z.read(metadata).decode())
    shipped = {n for n in names if n.startswith("reactivation/configs/") and n.endswith(".yaml")}
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "reactivation" / "configs").rglob("*.yaml")}
    assert shipped == on_disk and "reactivation/configs/train/train.yaml" in shipped
    requires = [r.split(";")[0].strip() for r in meta.get_all("Requires-Dist")]
    for needed in ("torch", "hydra-core", "omegaconf", "numpy", "scipy", "matplotlib", "tqdm"):
        assert any(r.startswith(needed) for r in requires), needed
    assert {"slurm", "notebooks", "test"} <= set(meta.get_all("Provides-Extra"))


def test_the_installed_wheel_trains_from_an_empty_directory(wheel, tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    # PYTHONPATH comes before the editable checkout on sys.path; the dependencies are this interpreter's.
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", _SMOKE, str(empty / "run")],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(out["package"]).is_relative_to(site) and Path(out["configs"]).is_relative_to(site)
    assert out["step"] == 3 and (empty / "run" / "checkpoints").is_dir()
    assert sorted(p.name for p in empty.iterdir()) == ["run"]  # nothing else written to the working directory
