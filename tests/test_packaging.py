"""The package as a user installs it (issue 12): a wheel that declares its dependencies and extras, carries its
configs and installs the ``reactivation`` command. That the installed wheel trains and analyses from an empty
directory, in a fresh virtual environment, is .ci/wheel_smoke's check (run by .ci/run)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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
    assert {"slurm", "notebooks", "export", "docs", "lint", "test", "dev"} <= set(meta.get_all("Provides-Extra"))


def test_the_wheel_installs_the_reactivation_command(wheel):
    with zipfile.ZipFile(wheel) as z:
        (points,) = [n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = z.read(points).decode()
    assert "[console_scripts]" in text and "reactivation = reactivation.commands:main" in text
