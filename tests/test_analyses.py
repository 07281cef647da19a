"""The one list of analyses (reactivation/analyses.py): every analysis is in it once, has what an entry promises, and
the command line, the scripts, the pipeline and the settings take their lists from it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from reactivation import analyses, commands, usage
from reactivation.config import ANALYSIS_CONFIG_DIR

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "reactivation" / "analysis"


def _defines_run(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(node, ast.FunctionDef) and node.name == "run" for node in tree.body)


def test_every_module_of_the_analysis_package_with_a_run_function_is_registered_once():
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if _defines_run(p))
    assert sorted(analyses.NAMES) == modules
    assert len(set(analyses.NAMES)) == len(analyses.NAMES)


@pytest.mark.parametrize("analysis", analyses.ANALYSES, ids=analyses.NAMES)
def test_each_entry_has_its_module_functions_config_and_script(analysis):
    module = analysis.module
    assert list(inspect.signature(module.run).parameters) == ["s"]
    assert list(inspect.signature(module.result_problem).parameters) == ["data", "conditions"]
    assert (ANALYSIS_CONFIG_DIR / f"{analysis.name}.yaml").is_file()
    script = ROOT / f"output_{analysis.name}.py"
    assert script.read_text().rstrip().endswith(f'    main("{analysis.name}")')
    assert usage.SCRIPTS[analysis.name] == analysis.script == f"python {script.name}"
    assert commands.COMMANDS[analysis.name] == ("analyse:main", analysis.summary)


@pytest.mark.parametrize("analysis", analyses.ANALYSES, ids=analyses.NAMES)
def test_each_result_check_refuses_what_is_not_a_result_naming_the_problem(analysis):
    conditions = ["noisy_unbiased", "noisy_biased"]
    assert analysis.problem([], conditions) == "the file holds [], not a JSON object of entries"
    assert analysis.problem({"nonsense": 1}, conditions) == "unexpected entry nonsense"
    found = analysis.problem({"noisy_unbiased": "text"}, conditions)
    assert found is not None and found.startswith("noisy_unbiased holds text, not ")


def test_only_the_temperature_sweep_sets_its_quiescent_noise_itself():
    assert [a.name for a in analyses.ANALYSES if not a.takes_mode] == ["temperature"]


def test_an_unknown_analysis_is_named_with_the_ones_there_are():
    with pytest.raises(KeyError, match="'kll' is not an analysis; the analyses are kl, variance, distance"):
        analyses.get("kll")
