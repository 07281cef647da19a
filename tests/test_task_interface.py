"""A task is one module and its configs (issue 11): nothing outside reactivation/tasks/ branches on a task's name.

The linear track is the proof: it was added as ``reactivation/tasks/linear_track.py``, its configs under
``reactivation/configs/train`` and one entry of ``reactivation.tasks.TASKS``; training, every analysis, the figures and
the report work for it (tests/test_analysis.py, tests/test_figure_command.py) with no other code knowing it, except
claim 7, a scientific claim about it (reactivation/analysis/claims.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reactivation.analysis import settings
from reactivation.config import families, presets
from reactivation.tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "reactivation"
SOURCES = {path.relative_to(ROOT).as_posix(): path.read_text() for path in sorted(PACKAGE.rglob("*.py"))}
SCRIPTS = {path.name: path.read_text() for path in sorted(ROOT.glob("*.py"))}

#: Where a task's name may appear outside its own module: the registry, and the claims about a task family.
ALLOWED = {"reactivation/tasks/__init__.py", "reactivation/analysis/claims.py"}


def _code(text: str) -> str:
    """Source without comments and docstrings/strings that only document (names in examples are fine)."""
    text = re.sub(r'"""[\s\S]*?"""', "", text)
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


@pytest.mark.parametrize("name", sorted(TASKS))
def test_no_code_outside_a_task_module_compares_with_its_name(name):
    own = f"reactivation/tasks/{name}.py"
    comparison = re.compile(rf"""(==|!=|\bin\b|startswith\()\s*\(?\s*["']{name}""")
    offenders = [
        path for path, text in {**SOURCES, **SCRIPTS}.items() if path != own and comparison.search(_code(text))
    ]
    assert offenders == []


def test_the_linear_track_is_named_only_by_its_module_the_registry_and_its_claim():
    mentions = sorted(path for path, text in SOURCES.items() if re.search(r"linear_track|LinearTrack", _code(text)))
    assert mentions == sorted({"reactivation/tasks/linear_track.py", *ALLOWED})
    assert not [name for name, text in SCRIPTS.items() if "linear_track" in _code(text)]


def test_families_and_preset_noise_are_read_from_the_task_configs():
    # The analyses' families are the presets on disk, so a new task's four presets make a new family.
    found = families()
    assert found == settings.FAMILIES
    assert found[("linear_track", "vanilla")] == {
        c: f"linear_track/{c}" for c in ("noisy_unbiased", "noisy_biased", "no-noise_unbiased", "no-noise_biased")
    }
    assert found[("spatial_navigation", "gru")] == {
        "noisy_unbiased": "spatial_navigation/noisy_unbiased_gru",
        "noisy_biased": "spatial_navigation/noisy_biased_gru",
    }
    # Every preset of a family exists, and the one preset outside the four conditions belongs to none.
    in_families = {p for conds in found.values() for p in conds.values()}
    assert in_families <= set(presets()) and set(presets()) - in_families == {"spatial_navigation/sorscher_2019"}
    assert settings.PRESET_NOISE == {"spatial_navigation": 1e-4, "head_direction": 1e-2, "linear_track": 1e-4}


def test_a_task_directory_without_a_noise_config_is_a_clear_error(tmp_path):
    from reactivation import ConfigError
    from reactivation.config import preset_noise

    with pytest.raises(ConfigError, match=r"no readable noise config .*noise/ring/noisy.yaml"):
        preset_noise("ring", tmp_path)
    (tmp_path / "noise" / "ring").mkdir(parents=True)
    (tmp_path / "noise" / "ring" / "noisy.yaml").write_text("sigma2_rec: .inf\n")
    with pytest.raises(ConfigError, match="finite variance"):
        preset_noise("ring", tmp_path)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_each_task_names_the_key_that_counts_its_cells(name):
    # what the ensembles' memory estimate reads from a config without building the task
    cls = TASKS[name]
    assert cls.CELLS_KEY in cls.CODE_DEFAULTS
    assert cls.cells({}) == cls.CODE_DEFAULTS[cls.CELLS_KEY] and cls.cells({cls.CELLS_KEY: 40}) == 40
    ensembles = (Path(__file__).parent.parent / "reactivation" / "ensembles.py").read_text()
    assert not re.search(r"cells_num", ensembles)  # the ensembles ask the task, not its keys
