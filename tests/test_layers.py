"""The package's layers: every module imports only its own layer or those below, with no cycles, and imports alone.

Layers, lowest first (docs/api/index.md, "Layout"): errors, signals, value predicates, seeds, codes, geometry,
tasks, models -> run directories, configs and loading a run -> training, quiescence, the entry points' error policy
-> analysis -> figures -> the reproduction pipeline -> the entry points. A module that reached upwards, or two that
reached for each other, would make the import order matter and keep a lower layer from being used (or tested)
without the ones above it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "reactivation"

#: Module-name prefixes of each layer, lowest first (a module belongs to the layer of its longest matching prefix).
LAYERS = [
    (
        "reactivation",
        "reactivation.processes",
        "reactivation.usage",
        # the one list of analyses: names, not imports (it imports an analysis module when asked to run or check it)
        "reactivation.analyses",
        "reactivation.precision",
        "reactivation.values",
        "reactivation.modes",
        "reactivation.seeding",
        "reactivation.codes",
        "reactivation.geometry",
        "reactivation.tasks",
        "reactivation.models",
    ),
    ("reactivation.runs", "reactivation.config", "reactivation.loggers", "reactivation.loading"),
    ("reactivation.training", "reactivation.quiescence", "reactivation.cli"),
    ("reactivation.analysis", "reactivation.export", "reactivation.ensembles"),
    ("reactivation.figures",),
    ("reactivation.pipeline", "reactivation.reproduction"),
    ("reactivation.evidence",),
    (
        "reactivation.commands",
        "reactivation.__main__",
        "reactivation.figures.__main__",
        "train",
        "reproduce",
        "export",
        "campaign",
        "output_kl",
        "output_variance",
        "output_distance",
        "output_manifold",
        "output_drift",
        "output_temperature",
        "output_diffusion",
        "output_replay",
    ),
]
#: Imports inside functions between the package's own modules, each with its reason; no other is allowed.
LAZY = {
    (
        "reactivation.export.recording",
        "reactivation.export.nwb",
    ): "Recording.write is write_nwb, and the NWB module builds on recordings",
    (
        "reactivation.figures",
        "reactivation.figures.make",
    ): "from_results / from_config load runs (torch, Hydra); plotting saved arrays must not need them",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for script in sorted(ROOT.glob("*.py")):
        found[script.stem] = script
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    best = max(
        (len(prefix), i)
        for i, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    )
    return best[1]


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """The package modules ``path`` imports at module level and inside functions."""
    tree = ast.parse(path.read_text())
    top_level = set(tree.body)
    for node in tree.body:  # `if __name__ == "__main__":` and try/except blocks still run at import time
        if isinstance(node, (ast.If, ast.Try)):
            top_level |= set(ast.walk(node))
    eager, lazy = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        # `from reactivation.analysis import kl` imports reactivation.analysis.kl; `from x import name` imports x.
        targets = {n for n in names if n in MODULES}
        (eager if node in top_level else lazy).update(targets)
    return eager, lazy


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    assert all(isinstance(_layer(m), int) for m in MODULES)
    assert (
        _layer("reactivation.analysis.settings") < _layer("reactivation.figures.make") < _layer("reactivation.pipeline")
    )


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
        for m, (eager, lazy) in GRAPH.items()
        for t in eager | lazy
        if _layer(t) > _layer(m)
    ]
    assert not upward, "\n".join(upward)


def test_imports_inside_functions_are_only_the_documented_ones():
    lazy = {(m, t) for m, (_, lazy) in GRAPH.items() for t in lazy if t != m}
    assert lazy == set(LAZY), f"undocumented: {sorted(lazy - set(LAZY))}; gone: {sorted(set(LAZY) - lazy)}"


def test_no_import_cycles():
    edges = {m: {t for t in eager if t != m and not m.startswith(t + ".")} for m, (eager, _) in GRAPH.items()}
    # A package's __init__ importing its own submodules is not a cycle with them (``m.startswith(t + ".")``).
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle.extend(stack[stack.index(nxt) :] + [node, nxt] if nxt in stack else [node, nxt])
                return True
            if nxt not in state and visit(nxt, stack + [node]):
                return True
        state[node] = 2
        return False

    assert not any(visit(m, []) for m in sorted(edges) if m not in state), " -> ".join(cycle)


# One interpreter loads the third-party libraries (the slow part of every import: torch alone takes seconds), then
# forks a child per module that imports it: each child starts with none of the package's modules loaded, so a module
# that only works after another of ours was imported fails there, as it would in a fresh interpreter.
_FORK_IMPORTS = """
import json, os, sys, traceback
import hydra, matplotlib, matplotlib.pyplot, numpy, omegaconf, scipy.stats, torch, yaml
assert not [m for m in sys.modules if m.split(".")[0] in ("reactivation", "train", "reproduce")]
failed = {}
for module in sys.argv[1:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            __import__(module)
            os._exit(0)
        except BaseException:
            os.write(write, traceback.format_exc()[-2000:].encode())
            os._exit(1)
    os.close(write)
    with os.fdopen(read) as f:
        error = f.read()
    if os.waitpid(pid, 0)[1] != 0:
        failed[module] = error or "exited abnormally"
print(json.dumps(failed))
"""


@pytest.mark.parametrize("layer", range(len(LAYERS) - 1))
def test_each_module_imports_on_its_own_in_a_fresh_interpreter(layer):
    names = [m for m in MODULES if _layer(m) == layer and not m.endswith("__main__")]
    done = subprocess.run(
        [sys.executable, "-c", _FORK_IMPORTS, *names], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    failed = json.loads(done.stdout.strip().splitlines()[-1])
    assert names and not failed, "\n".join(f"{m}: {err}" for m, err in failed.items())
