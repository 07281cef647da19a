"""The catalogue of bad inputs (issue 10): every entry point refuses each one cleanly and touches nothing.

Each row is a command line with one bad input, run as a user would run it: a separate process (``sys.executable``
and the absolute script path, no shell, so ``${...}`` reaches Hydra literally), from a working directory that is
not the checkout, with an explicit results root under ``tmp_path``. For every row the test asserts:

* a non-zero exit status (and not a kill by a signal, nor our timeout);
* no ``Traceback`` in stdout or stderr: the library promises a message, not a stack;
* the offending key and/or value named in the output (each row lists the strings the message must contain);
* nothing under the results root changed (paths, sizes, ``mtime_ns`` and contents) and nothing was written to
  the working directory.

Analysis and figure rows run against a copy of a results root holding tiny trained SN runs, with the
``train_overrides`` those runs were trained with, so that the bad value, not a missing run, is what must fail.
A few positive controls (valid tiny commands) show that the harness tells success from failure and that its
snapshot does see writes.

Each entry point family is one test that runs its rows in a thread pool (two processes at a time; each costs
~3 s of imports) and reports every failing row of the family at once, with its output. The default run takes one
row of each kind of failure per entry point (:data:`QUICK`); the whole table is marked slow
(``python -m pytest -m slow tests/test_bad_inputs.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from reactivation import ConfigError, analyses
from reactivation.analysis import temperature
from reactivation.analysis.drift import check_sizes
from reactivation.analysis.results import result_path
from reactivation.analysis.settings import compose_analysis, for_kind, settings
from reactivation.config import compose_train, preflight
from reactivation.training import train
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parent.parent
SN_VANILLA = (
    "spatial_navigation/noisy_unbiased",
    "spatial_navigation/noisy_biased",
    "spatial_navigation/no-noise_unbiased",
    "spatial_navigation/no-noise_biased",
)
TRAIN_OVERRIDES = [*TINY]
# The list value of `train_overrides=`, quoted as the analysis tests pass it (the elements contain `=`).
QUOTED_OVERRIDES = "[" + ",".join(f'"{o}"' for o in TRAIN_OVERRIDES) + "]"
FILE = "a_regular_file"  # a file placed in the results root of the rows that give a file as `path`
# A user preset (README, "Your own presets") whose flow mapping is never closed: the parser fails at the end of the
# file, line 5, column 1. Placed under <root>/presets/ by the rows with root="presets".
PRESET = (
    "config/mylab/broken.yaml",
    "# @package _global_\ndefaults:\n  - /config/spatial_navigation/noisy_unbiased\nrnn: {n_rec: 16\n",
)


# --- the table ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One command line.

    ``args`` are the row's own arguments; the family's base arguments (a valid command) are added in front,
    except those whose key one of ``args`` sets (so that, e.g., ``seed=abc`` replaces ``seed=0`` rather than
    competing with it). ``{root}`` in an argument is the row's results root. ``names`` are the strings (or
    regular expressions) the output must contain. ``ok=True`` marks a positive control: it must exit 0.
    """

    family: str
    args: tuple[str, ...]
    names: tuple[str | re.Pattern, ...] = ()
    script: str = ""  # analysis family: which output_<name>.py
    # empty | file (a regular file in it) | trained (a copy of the tiny trained runs) | presets (a directory of
    # user presets, presets/, holding one that is not YAML: PRESET)
    root: str = "empty"
    ok: bool = False
    timeout: int = 90
    env: tuple[tuple[str, str], ...] = ()  # environment variables of the command ({root} replaced)

    @property
    def label(self) -> str:
        prog = {"train": "train.py", "figures": "-m reactivation.figures", "reproduce": "reproduce.py"}
        prog["export"] = "-m reactivation export"
        return f"{prog.get(self.family, f'output_{self.script}.py')} {' '.join(self.args)}"


def _train(*args: str, names=(), **kw) -> Row:
    return Row("train", args, tuple(names), **kw)


TRAIN_ROWS = [
    # Item 7: tracebacks instead of a message. Values that are not numbers, and interpolations (an environment
    # variable, an unknown resolver, a cycle) given on the command line.
    _train("trainer.lr=fast", names=["trainer.lr", "fast"]),
    # The value named as typed: the environment's value in the message would be a leak and a puzzle.
    _train("trainer.lr=${oc.env:HOME}", names=["trainer.lr", "oc.env"]),
    _train("trainer.lr=${evil:1}", names=["trainer.lr", "evil"]),
    _train("trainer.lr=${trainer.lr}", names=["trainer.lr"]),  # an interpolation to itself: a cycle
    # Override parse errors: Hydra's grammar rejects them; the message must still name the argument.
    _train("trainer.lr=[1,", names=["trainer.lr"]),
    _train("=5", names=["=5"]),
    _train("trainer.lr=1)", names=["trainer.lr"]),
    # A results root that cannot be a directory: a regular file, or a path under one.
    _train(f"path={{root}}/{FILE}", names=[FILE], root="file"),
    _train(f"path={{root}}/{FILE}/results", names=[FILE], root="file"),
    # Item 8: accepted silently but wrong.
    _train("+trainer.n_epoch=5", names=[re.compile(r"trainer\.n_epoch(?!s)"), "trainer.n_epochs"]),
    _train("task=head_direction", names=["task", "head_direction"]),  # would train HD under the SN preset's name
    _train("model=gru", names=["model", "gru"]),  # would train a GRU under a vanilla preset's name
    # Values out of range.
    _train("rnn.sigma2_rec=-1", names=["rnn.sigma2_rec", "-1"]),
    _train("rnn.sigma2_rec=nan", names=["rnn.sigma2_rec", "nan"]),
    _train("rnn.sigma2_rec=inf", names=["rnn.sigma2_rec", "inf"]),
    _train("seed=-1", names=["seed", "-1"]),
    _train("seed=abc", names=["seed", "abc"]),
    _train("seed=0.5", names=["seed", "0.5"]),
    _train("trainer.n_epochs=0", names=["trainer.n_epochs"]),
    _train("trainer.lr=-1", names=["trainer.lr", "-1"]),
    _train("trainer.lr=nan", names=["trainer.lr", "nan"]),
    _train("task.batch_size=0", names=["task.batch_size"]),
    # The default quoted is that of the scale in use (tiny: 16), not the paper's 200 (issue 25, item 6).
    _train("task.batch_size=abc", names=["task.batch_size", "abc", "like its default 16."]),
    _train("rnn.n_rec=0", names=["rnn.n_rec"]),
    _train("rnn.activation_fn=softsign", names=["rnn.activation_fn", "softsign"]),
    _train("device=tpu", names=["device", "tpu"]),
    _train("resume=maybe", names=["resume", "maybe"]),
    # Issue 25, item 5: a user preset that is not YAML gave the parser's traceback (exit 1): the file, the place, the
    # variable it came from.
    _train(
        "config=mylab/broken",
        names=[PRESET[0].rpartition("/")[2], "not valid YAML", "line 5, column 1", "REACTIVATION_PRESETS"],
        root="presets",
        env=(("REACTIVATION_PRESETS", "{root}/presets"),),
    ),
    # Unknown names.
    _train("config=spatial_navigation/noisy_unbaised", names=["noisy_unbaised"]),
    _train("trainer.lrr=0.1", names=["trainer.lrr"]),
    _train("rnn.sigma_rec=0.1", names=["rnn.sigma_rec"]),
    # Positive control: the same base command with nothing bad trains a tiny run (and the snapshot sees it).
    _train(ok=True),
]

# Bad values of the keys every analysis script shares (reactivation/configs/analysis/common.yaml and the size
# keys). They all go through the same checks (reactivation.commands.analyse.main and analysis.settings), so
# output_kl.py gets the whole list and the other scripts the part whose check could live in the script's own run
# (sizes, noise) or whose key they name differently, plus their own keys: each row costs ~4 s of imports.
COMMON_BAD = [
    (("seed=0.5",), ["seed", "0.5"]),  # item 8: ran seed 0
    (("batch_size=0",), ["batch_size"]),
    (("t_quiescent=0",), ["t_quiescent"]),
    (("noise=nan",), ["noise", "nan"]),  # item 8: suggested a command with rnn.sigma2_rec=nan
    (("batchsize=4",), ["batchsize"]),  # an unknown key
]
KL_ONLY = [
    (("seed=abc",), ["seed", "abc"]),
    (("seed=-1",), ["seed", "-1"]),
    (("mode=foo",), ["mode", "foo"]),
    (("noise=-1",), ["noise", "-1"]),
    (("epoch=-1",), ["epoch", "-1"]),
    (("no_noise_seed=-1",), ["no_noise_seed", "-1"]),
    (("task=foo",), ["task", "foo"]),
    (("model=foo",), ["model", "foo"]),
    (("n_samples=0",), ["n_samples"]),
    (("batch_size=${oc.env:HOME}",), ["batch_size", "oc.env"]),
    (("train_overrides=[rnn.n_rec=16",), ["train_overrides"]),  # a parse error
]
EXTRA_BAD = {
    "kl": KL_ONLY,
    "variance": [(("t_shift=-1",), ["t_shift", "-1"])],
    "distance": [(("mode=foo",), ["mode", "foo"])],
    "manifold": [(("n_components=0",), ["n_components"]), (("ring=foo",), ["ring", "foo"])],
    "drift": [
        (("bandwidth=0",), ["bandwidth", "0"]),
        (("n_states=0",), ["n_states"]),
        # Issue 25, item 5: the KDE in 10 principal components crashed with fewer than 11 states; the least is named.
        (("n_states=1",), ["n_states=1", "n_states >= 11"]),
        # Enough states asked for, but the base's 4 trajectories x 6 steps leave 12 beside the queries.
        (("n_components=16", "n_states=17"), ["batch_size=4", "17"]),
    ],
    "temperature": [
        (("factors=[]",), ["factors"]),
        (("factors=[1,-1]",), ["factors", "-1"]),
        (("mode=same",), ["mode=same", "factors"]),  # issue 25, item 6: accepted and ignored
    ],
    "diffusion": [(("fit_lag=0",), ["fit_lag"]), (("mode=-2",), ["mode", "-2"])],
    "replay": [
        (("threshold=0.3",), ["threshold", "0.3"]),
        # the decoder is fitted on the trajectories it does not classify: the base's 4 leave none for n_events=4
        (("n_events=4",), ["n_events=4", "batch_size=4"]),
    ],
}
ANALYSIS_ROWS = [
    Row("analysis", args, tuple(names), script=script, root="trained")
    for script in analyses.NAMES
    for args, names in COMMON_BAD + EXTRA_BAD[script]
]
# A results root that is a regular file.
ANALYSIS_ROWS.append(Row("analysis", (f"path={{root}}/{FILE}",), (FILE,), script="kl", root="file"))
# Positive control: a valid tiny KL analysis of the trained runs succeeds (and writes its result).
ANALYSIS_ROWS.append(Row("analysis", (), script="kl", root="trained", ok=True))

FIGURE_ROWS = [
    Row("figures", ("formats=[bmpx]",), ("formats", "bmpx"), root="trained"),
    Row("figures", ("seed=17",), ("seed", "17"), root="trained"),  # item 8: exited 0 after 4 of 14 figures
    Row("figures", ("seeds=[17]",), ("seeds", "17"), root="trained"),
    Row("figures", ("seed=abc",), ("seed", "abc"), root="trained"),
    Row("figures", ("task=foo",), ("task", "foo"), root="trained"),
]

REPRODUCE_ROWS = [
    # Item 7: checked only after the training and analyses (32 s of work): must be refused before any work.
    Row("reproduce", ("formats=[bmpx]",), ("formats", "bmpx"), timeout=150),
    Row("reproduce", ("seeds=[abc]",), ("seeds", "abc")),
    Row("reproduce", ("seeds=[-1]",), ("seeds", "-1")),
    Row("reproduce", ("families=[foo]",), ("families", "foo")),
    Row("reproduce", ("stages=[bar]",), ("stages", "bar")),
    Row("reproduce", ("launcher=foo",), ("launcher", "foo")),
    Row("reproduce", ("forse=true",), ("forse",)),  # an unknown key
]

ROWS = TRAIN_ROWS + ANALYSIS_ROWS + FIGURE_ROWS + REPRODUCE_ROWS
#: The rows of the default test run: one of each kind of failure per entry point (a parse error, an interpolation,
#: a value out of range, an unknown key or name, a file as the results root, each script's own keys). Every row
#: costs a process (~4 s of imports on 2 cores), so the whole table is the slow tests' (`python -m pytest -m slow`).
QUICK = {
    "train.py trainer.lr=fast",
    "train.py trainer.lr=${oc.env:HOME}",
    "train.py =5",
    f"train.py path={{root}}/{FILE}",
    "train.py +trainer.n_epoch=5",
    "train.py task=head_direction",
    "train.py rnn.sigma2_rec=nan",
    "train.py seed=0.5",
    "train.py config=spatial_navigation/noisy_unbaised",
    "train.py config=mylab/broken",  # a damaged file, not a bad argument
    "output_kl.py seed=0.5",
    "output_kl.py noise=nan",
    "output_kl.py batchsize=4",
    "output_kl.py batch_size=${oc.env:HOME}",
    "output_kl.py train_overrides=[rnn.n_rec=16",
    f"output_kl.py path={{root}}/{FILE}",
    "output_variance.py t_shift=-1",
    "output_manifold.py ring=foo",
    "output_drift.py bandwidth=0",
    "output_drift.py n_states=1",  # a value allowed alone but not with another key's (n_components)
    "output_temperature.py factors=[1,-1]",
    "output_diffusion.py mode=-2",
    "-m reactivation.figures formats=[bmpx]",
    "-m reactivation.figures seed=17",
    "reproduce.py formats=[bmpx]",
    "reproduce.py families=[foo]",
}


def _prefix(row: Row) -> list[str]:
    if row.family == "train":
        return [sys.executable, str(ROOT / "train.py")]
    if row.family == "analysis":
        return [sys.executable, str(ROOT / f"output_{row.script}.py")]
    if row.family == "figures":
        return [sys.executable, "-m", "reactivation.figures"]
    if row.family == "export":
        return [sys.executable, "-m", "reactivation", "export"]
    return [sys.executable, str(ROOT / "reproduce.py")]


def _base(row: Row) -> list[str]:
    """A valid command line of the row's family: tiny, on CPU, writing under ``{root}`` only."""
    if row.family == "train":
        # scale=tiny: were a bad value accepted, the run takes seconds (and the snapshot catches its files).
        return [
            "config=spatial_navigation/noisy_unbiased",
            "seed=0",
            "scale=tiny",
            "path={root}",
            "device=cpu",
            "trainer.progress=false",
        ]
    if row.family == "analysis":
        sizes = {
            "kl": ["t_quiescent=10", "n_samples=100"],
            "variance": ["t_quiescent=10", "t_shift=2"],
            "drift": ["n_states=40", "n_queries=20"],  # one step from the active states: no quiescent phase
            "temperature": ["t_quiescent=10", "t_shift=2", "n_samples=100"],
            "diffusion": ["t_quiescent=10", "t_shift=2"],
        }.get(row.script, ["t_quiescent=10"])
        return [
            "seed=0",
            "path={root}",
            "progress=false",
            "device=cpu",
            f"train_overrides={QUOTED_OVERRIDES}",
            "batch_size=4",
            *sizes,
        ]
    if row.family == "figures":
        return ["path={root}", "batch_size=8", "t_quiescent=10", "device=cpu", f"train_overrides={QUOTED_OVERRIDES}"]
    if row.family == "export":
        # The tiny SN runs, a short rollout, and a file under {root}: the snapshot sees it if a bad value is accepted.
        return [
            "config=spatial_navigation/noisy_unbiased",
            "seed=0",
            "path={root}",
            "device=cpu",
            f"train_overrides={QUOTED_OVERRIDES}",
            "n_trajectories=2",
            "n_steps=5",
            "out={root}/export.nwb",
        ]
    # reproduce.py: one family, one seed, one process at a time, tiny.
    return ["scale=tiny", "path={root}", "seeds=[0]", "families=[sn]", "device=cpu", "progress=false", "launcher=basic"]


def _key(arg: str) -> str:
    return arg.split("=", 1)[0].lstrip("+~")


def argv(row: Row, root: Path) -> list[str]:
    own = {_key(a) for a in row.args}
    args = [a for a in _base(row) if _key(a) not in own] + list(row.args)
    return _prefix(row) + [a.replace("{root}", str(root)) for a in args]


# --- the harness ----------------------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: directories by path, files by size, mtime_ns and content hash."""
    state: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            state[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            state[rel] = ("dir",)
        else:
            st = path.stat()
            state[rel] = ("file", st.st_size, st.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return state


def _diff(before: dict, after: dict) -> list[str]:
    changes = [f"+ {p}" for p in after if p not in before] + [f"- {p}" for p in before if p not in after]
    return changes + [f"~ {p}" for p in before if p in after and before[p] != after[p]]


@dataclass
class Outcome:
    row: Row
    argv: list[str]
    rc: int | None  # None: killed by our timeout
    output: str
    changed: list[str] = field(default_factory=list)  # under the results root
    cwd_written: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def problems(self) -> list[str]:
        """What is wrong with this outcome (empty: as expected)."""
        row, out = self.row, self.output
        if self.rc is None:
            return [f"timed out after {row.timeout} s"]
        problems = []
        if "Traceback" in out:
            problems.append("a Traceback in the output")
        if self.cwd_written:
            problems.append(f"wrote to the working directory: {self.cwd_written[:5]}")
        if row.ok:
            if self.rc != 0:
                problems.append(f"exit status {self.rc}, expected 0 (positive control)")
            # The snapshot must see what a successful command writes, or its silence on bad rows means nothing.
            if self.rc == 0 and not self.changed:
                problems.append("a successful run changed nothing under the results root: the snapshot is blind")
            return problems
        if self.rc == 0:
            problems.append("exit status 0: the bad input was accepted")
        elif self.rc < 0:
            problems.append(f"killed by signal {-self.rc}")
        missing = [
            n.pattern if isinstance(n, re.Pattern) else n
            for n in row.names
            if not (n.search(out) if isinstance(n, re.Pattern) else n in out)
        ]
        if missing:
            problems.append(f"the output does not name {missing}")
        if self.changed:
            problems.append(
                f"changed the results root: {self.changed[:8]}"
                + (f" (+{len(self.changed) - 8} more)" if len(self.changed) > 8 else "")
            )
        return problems

    def report(self) -> str:
        tail = self.output.strip()
        tail = tail if len(tail) <= 2500 else "...\n" + tail[-2500:]
        return (
            f"[{self.row.label}]\n  problems: {'; '.join(self.problems())}\n  exit status: {self.rc}"
            f" after {self.seconds:.1f} s\n"
            f"  command: {' '.join(self.argv)}\n  output:\n    " + tail.replace("\n", "\n    ")
        )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)  # it turns Hydra's own errors into tracebacks: test the default
    # The checkout under test, whatever is installed in the environment (the scripts add their own folder).
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["OMP_NUM_THREADS"] = "1"  # two processes at a time on two cores
    env["MPLBACKEND"] = "Agg"
    return env


def run_row(row: Row, index: int, work: Path, trained: Path) -> Outcome:
    root, cwd = work / f"root_{index:03d}", work / f"cwd_{index:03d}"
    cwd.mkdir()
    if row.root == "trained":
        shutil.copytree(trained, root, copy_function=shutil.copy2)
    else:
        root.mkdir()
        if row.root == "file":
            (root / FILE).write_text("not a directory\n")
        if row.root == "presets":
            (root / "presets" / PRESET[0]).parent.mkdir(parents=True)
            (root / "presets" / PRESET[0]).write_text(PRESET[1])
    before = snapshot(root)
    cmd = argv(row, root)
    env = {**_env(), **{k: v.replace("{root}", str(root)) for k, v in row.env}}
    start = time.monotonic()
    try:
        done = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=row.timeout, stdin=subprocess.DEVNULL
        )
        rc, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:

        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")

        rc, output = None, text(err.stdout) + text(err.stderr)
    outcome = Outcome(
        row,
        cmd,
        rc,
        output,
        _diff(before, snapshot(root)),
        sorted(p.relative_to(cwd).as_posix() for p in cwd.rglob("*")),
        time.monotonic() - start,
    )
    # Free the disk of a passing row's copy; a failing row's root stays for inspection.
    if not outcome.problems():
        shutil.rmtree(root)
    return outcome


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """Tiny runs of the four SN vanilla presets, seed 0 (as tests/test_analysis.py's ``results``)."""
    root = tmp_path_factory.mktemp("trained")
    for preset in SN_VANILLA:
        cfg = compose_train([f"config={preset}", "seed=0", *TRAIN_OVERRIDES])
        train(cfg, root / preset / "seed_0", preset=preset)
    return root


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("catalogue")
    # The rows' working directories must not be the checkout (nor under it).
    assert path != ROOT and ROOT not in path.parents
    return path


def _outcomes(family: str, work: Path, request, quick: bool) -> list[Outcome]:
    """The rows of one family (only the :data:`QUICK` ones and the positive controls if ``quick``), run two at a
    time (the positive controls, the slowest, first).

    Only the analysis and figure rows need (and build) the trained runs, so ``-k train_py`` stays quick.
    """
    trained = request.getfixturevalue("trained") if family in ("analysis", "figures") else work
    rows = [(i, r) for i, r in enumerate(ROWS) if r.family == family and (not quick or r.ok or r.label in QUICK)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {i: pool.submit(run_row, r, i, work, trained) for i, r in sorted(rows, key=lambda ir: not ir[1].ok)}
        return [futures[i].result() for i, _ in rows]


def _check(outcomes: list[Outcome]) -> None:
    failures = [o.report() for o in outcomes if o.problems()]
    assert not failures, f"{len(failures)} of {len(outcomes)} rows failed:\n\n" + "\n\n".join(failures)


# --- the tests ------------------------------------------------------------------------------------------------


def test_table_is_complete():
    # The inputs items 7 and 8 of the issue name are in the table, and every bad row checks a name.
    labels = {r.label for r in ROWS}
    for needed in (
        "train.py +trainer.n_epoch=5",
        "train.py task=head_direction",
        "output_kl.py seed=0.5",
        "output_kl.py noise=nan",
        "-m reactivation.figures seed=17",
        "reproduce.py formats=[bmpx]",
    ):
        assert needed in labels
    assert all(r.names for r in ROWS if not r.ok)  # a bad row that names nothing would check nothing
    assert QUICK <= labels  # a quick row that is not in the table would silently run nothing
    assert {r.family for r in ROWS if r.label in QUICK} == {"train", "analysis", "figures", "reproduce"}
    assert {r.family for r in ROWS if r.ok} == {"train", "analysis"}


def test_argv_replaces_the_base_value_of_the_key_a_row_sets(tmp_path):
    cmd = argv(Row("train", ("seed=abc", "+trainer.n_epoch=5")), tmp_path)
    assert "seed=abc" in cmd and "seed=0" not in cmd and f"path={tmp_path}" in cmd
    assert cmd[:2] == [sys.executable, str(ROOT / "train.py")]
    # `${...}` reaches the program literally: there is no shell between the table and the process.
    assert argv(Row("train", ("trainer.lr=${oc.env:HOME}",)), tmp_path)[-1] == "trainer.lr=${oc.env:HOME}"


def test_snapshot_sees_a_rewrite_with_the_same_size(tmp_path):
    (tmp_path / "a").write_text("one")
    before = snapshot(tmp_path)
    (tmp_path / "a").write_text("two")  # same size; mtime may even be equal on a coarse clock
    os.utime(tmp_path / "a", ns=(before["a"][2], before["a"][2]))
    (tmp_path / "empty_dir").mkdir()
    assert _diff(before, snapshot(tmp_path)) == ["+ empty_dir", "~ a"]


@pytest.mark.parametrize(
    "family", ["train", "analysis", "figures", "reproduce"], ids=["train_py", "analysis", "figures", "reproduce_py"]
)
def test_each_entry_point_refuses_one_bad_input_of_each_kind_cleanly(family, work, request):
    _check(_outcomes(family, work, request, quick=True))


@pytest.mark.slow
@pytest.mark.parametrize(
    "family", ["train", "analysis", "figures", "reproduce"], ids=["train_py", "analysis", "figures", "reproduce_py"]
)
def test_each_entry_point_refuses_every_bad_input_of_the_table_cleanly(family, work, request):
    _check(_outcomes(family, work, request, quick=False))


# --- issue 25's checks, in-process (a fraction of a second each; the rows above run them as a user would) -------


def test_a_type_error_quotes_the_default_of_the_scale_in_use(tmp_path):
    base = ["config=spatial_navigation/noisy_unbiased", "seed=0", f"path={tmp_path}"]
    tiny, paper = (compose_train([*base, *scale]).task.batch_size for scale in (["scale=tiny"], []))
    assert tiny != paper  # else the test could not tell them apart
    with pytest.raises(ConfigError, match=rf"task\.batch_size='abc' .* like its default {tiny}\.$"):
        preflight([*base, "scale=tiny", "task.batch_size=abc"])
    with pytest.raises(ConfigError, match=rf"like its default {paper}\.$"):
        preflight([*base, "task.batch_size=abc"])


def test_a_user_preset_that_is_not_yaml_is_one_line_naming_the_file_and_the_place(tmp_path, monkeypatch):
    path = tmp_path / "presets" / PRESET[0]
    path.parent.mkdir(parents=True)
    path.write_text(PRESET[1])
    monkeypatch.setenv("REACTIVATION_PRESETS", str(tmp_path / "presets"))
    with pytest.raises(ConfigError) as err:
        compose_train(["config=mylab/broken", "seed=0"])
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path} (a file of REACTIVATION_PRESETS=")
    assert "expected ',' or '}'" in message and "at line 5, column 1" in message
    # In a sweep, the preset that is not the first one is named the same way (not as "does not make a config").
    with pytest.raises(ConfigError, match=r"broken\.yaml .* is not valid YAML"):
        preflight(["-m", "config=spatial_navigation/noisy_unbiased,mylab/broken", "seed=0", f"path={tmp_path}"])


@pytest.mark.parametrize("content", ["- rnn.n_rec=16\n- seed=1\n", "42\n", "just words\n"])
def test_a_user_preset_that_is_yaml_but_not_a_mapping_is_refused_before_training(tmp_path, monkeypatch, content):
    # Hydra composes such a file as nothing: the defaults would be trained under the preset's name.
    path = tmp_path / "presets" / "config" / "mylab" / "listed.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    monkeypatch.setenv("REACTIVATION_PRESETS", str(tmp_path / "presets"))
    with pytest.raises(
        ConfigError, match=r"listed\.yaml \(a file of REACTIVATION_PRESETS\) holds a \w+, not a mapping"
    ):
        preflight(["config=mylab/listed", "seed=0", f"path={tmp_path / 'results'}"])
    assert not (tmp_path / "results").exists()


def test_an_empty_user_preset_is_a_preset_that_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "presets" / "config" / "mylab" / "empty.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("")
    monkeypatch.setenv("REACTIVATION_PRESETS", str(tmp_path / "presets"))
    preflight(["config=mylab/empty", "seed=0", f"path={tmp_path / 'results'}"])  # checked, and allowed
    assert (
        compose_train(["config=mylab/empty", "seed=0"]).rnn.n_rec
        == compose_train(["seed=0"] + ["config=spatial_navigation/noisy_unbiased"]).rnn.n_rec
    )


def test_the_drift_kde_is_refused_with_fewer_states_than_dimensions_plus_one(tmp_path):
    def drift(**keys):
        return settings(compose_analysis("drift", "tiny", seed=0, path=str(tmp_path), **keys))

    with pytest.raises(ConfigError, match=r"n_states=10 is not allowed: .* n_components=10 .* n_states >= 11"):
        drift(n_states=10)
    assert drift(n_states=11).cfg.n_states == 11 and drift(n_states=3, n_components=2).cfg.n_components == 2
    # What only the loaded runs tell (hidden units, latent dimension, steps per trajectory): stand-ins of their sizes.
    run = SimpleNamespace(
        model=SimpleNamespace(n_rec=16),
        task=SimpleNamespace(geometry=SimpleNamespace(dim=2)),
        config=OmegaConf.create({"task": {"sequence_length": 6}}),
    )
    with pytest.raises(ConfigError, match=r"n_states=2 is not allowed: .* in 2 dimensions .* n_states >= 3"):
        check_sizes(run, batch_size=4, n_states=2, n_queries=20, n_components=1, n_pca=5)  # the 2-D latent decides
    with pytest.raises(ConfigError, match=r"n_pca=16 is not allowed: the drift's PCA in 16 dimensions .* n_pca >= 17"):
        check_sizes(run, batch_size=4, n_states=17, n_queries=20, n_components=16, n_pca=16)
    with pytest.raises(ConfigError, match=r"batch_size=4 is too small .* 24 states, .* 20 queries .* 17 for the KDE "
                                          r".* 17 for the principal .* Raise batch_size to 9"):  # fmt: skip
        check_sizes(run, batch_size=4, n_states=17, n_queries=20, n_components=16, n_pca=17)
    check_sizes(run, batch_size=9, n_states=17, n_queries=20, n_components=16, n_pca=17)  # 54 states: 20 + 17 + 17
    # settled queries come from the last settle_steps // 2 quiescent steps, so the active states need no queries
    check_sizes(run, batch_size=6, n_states=17, n_queries=20, n_components=16, n_pca=17, settle_steps=8)
    with pytest.raises(ConfigError, match=r"settle_steps=6 gives 18 settled states .* fewer than n_queries=20"):
        check_sizes(run, batch_size=6, n_states=17, n_queries=20, n_components=16, n_pca=17, settle_steps=6)


def test_the_temperature_analysis_refuses_mode_before_reading_any_run(tmp_path):
    # tmp_path holds no runs: refused later, the message would be about a missing run instead.
    s = settings(compose_analysis("temperature", "tiny", seed=0, path=str(tmp_path), mode="same"))
    with pytest.raises(ConfigError, match=r"mode=same is not allowed: the temperature analysis sweeps .* factors="):
        temperature.run(s)
    # A figure command's mode is the other analyses' and reads the one temperature result (of no mode).
    figures = settings(compose_analysis("figures", "tiny", seed=0, path=str(tmp_path), mode="same"))
    assert for_kind(figures, "temperature").cfg.mode is None and for_kind(figures, "kl").mode == "same"
    default = settings(compose_analysis("temperature", "tiny", seed=0, path=str(tmp_path)))
    assert result_path(for_kind(figures, "temperature"), "temperature") == result_path(default, "temperature")


# --- reactivation export (issue 25) ---------------------------------------------------------------------------
# Its own rows and tests, apart from ROWS: the table's completeness checks list the four families above.


def _export(*args: str, names=(), **kw) -> Row:
    return Row("export", args, tuple(names), root=kw.pop("root", "trained"), **kw)


EXPORT_ROWS = [
    # A name that is not .nwb: pynapple.load_file would not read the HDF5 file written into it.
    _export("out={root}/export.csv", names=["out=", "export.csv", ".nwb"]),
    _export("seed=abc", names=["seed", "abc"]),
    _export("kind=sleep", names=["kind", "sleep"]),
    _export("n_trajectories=0", names=["n_trajectories"]),
    _export("n_steps=${oc.env:HOME}", names=["n_steps", "oc.env"]),
    _export("format=csv", names=["format", "csv"]),
    _export("overwrite=maybe", names=["overwrite", "maybe"]),
    _export("epoch=3", names=["epoch=3", "available"]),  # no checkpoint at step 3 (saved: 0, 2, 4, 5)
    _export("epoch=-1", names=["epoch", "-1"]),
    # Accepted and ignored before: an active rollout has no quiescence mode, a no-noise run no noise to select.
    _export("kind=active", "mode=same", names=["mode=same", "kind=active"]),
    _export("config=spatial_navigation/no-noise_unbiased", "noise=0.001", names=["noise=0.001", "ignored"]),
    _export("n_trajectory=2", names=["n_trajectory", "n_trajectories"]),  # an unknown key, with the closest
    _export("config=spatial_navigation/noisy_unbaised", names=["noisy_unbaised", "noisy_unbiased"]),
    _export("device=tpu", names=["device", "tpu"]),
    _export("train_overrides=[rnn.n_rec=16", names=["train_overrides"]),  # a parse error
    # A run that is not there: the command that trains it, spelt as this command was started.
    _export("train_overrides=[]", names=["no trained run", "reactivation train config=spatial_navigation/noisy_unb"]),
    _export(f"path={{root}}/{FILE}", names=[FILE], root="file"),
    # Positive control: a valid tiny export writes its file under the results root.
    _export(ok=True),
]
#: The rows of the default test run (the rest are the slow tests').
EXPORT_QUICK = {
    "-m reactivation export out={root}/export.csv",
    "-m reactivation export n_steps=${oc.env:HOME}",
    "-m reactivation export kind=active mode=same",
    "-m reactivation export n_trajectory=2",
    "-m reactivation export train_overrides=[]",
}


def _export_outcomes(work: Path, trained: Path, quick: bool) -> list[Outcome]:
    """The export rows (the :data:`EXPORT_QUICK` ones and the positive control if ``quick``), two at a time."""
    rows = [(i, r) for i, r in enumerate(EXPORT_ROWS) if not quick or r.ok or r.label in EXPORT_QUICK]
    offset = 1000 if quick else 2000  # their folders under `work` apart from those of ROWS, and of each other
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {i: pool.submit(run_row, r, offset + i, work, trained) for i, r in rows}
        return [futures[i].result() for i, _ in rows]


def test_the_export_table_is_complete():
    labels = {r.label for r in EXPORT_ROWS}
    assert EXPORT_QUICK <= labels and len(labels) == len(EXPORT_ROWS)  # every quick row runs; no row twice
    assert all(r.names for r in EXPORT_ROWS if not r.ok) and sum(r.ok for r in EXPORT_ROWS) == 1
    assert argv(_export("seed=abc"), Path("/r"))[:4] == [sys.executable, "-m", "reactivation", "export"]


def test_the_export_command_refuses_one_bad_input_of_each_kind_cleanly(work, trained):
    _check(_export_outcomes(work, trained, quick=True))


@pytest.mark.slow
def test_the_export_command_refuses_every_bad_input_of_the_table_cleanly(work, trained):
    _check(_export_outcomes(work, trained, quick=False))


def test_a_device_that_is_not_one_or_not_here_is_a_config_error():
    import torch

    from reactivation.loading import select_device

    with pytest.raises(ConfigError, match=r"device='tpu' is not a device name; use auto, cpu or cuda"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"device=cuda was asked for but CUDA is not available here"):
            select_device("cuda")
    assert select_device("cpu") == torch.device("cpu")
