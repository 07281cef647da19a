"""The checks of benchmarks/gpu.py: the CUDA correctness tests in a child process, and where a device run's data
lives and how often one training step waits for the host.

- :func:`run_correctness_tests`: ``python -m pytest tests/test_cuda.py`` in a child process, each test's outcome
  read from the JUnit XML report;
- :func:`check_device`: a device generator's batch and noise are device tensors, and the host synchronisations of
  one training step, counted with ``torch.cuda.set_sync_debug_mode``.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))  # bench.py, imported as a module from any working directory

import bench  # noqa: E402

from reactivation.seeding import generator  # noqa: E402

#: The correctness tests, relative to the repository root, and the largest part of the pytest output kept.
TESTS = "tests/test_cuda.py"
OUTPUT_TAIL = 4000


# ---------------------------------------------------------------------------------------------------------------
# Correctness: the tests, in a child process


def run_correctness_tests(device: str, sizes: str, timeout: float) -> dict:
    """Run :data:`TESTS` with pytest in a child process (repository root as working directory; TF32 is switched off
    inside the tests) and read each test's outcome from its JUnit XML report.

    ``sizes`` ``paper`` adds the ``slow`` tests (CPU against CUDA at the presets' own sizes). A ``cuda:<k>`` device
    is made the child's only visible GPU (the tests use ``cuda``, i.e. ``cuda:0``). The verdict ``pass`` needs a
    zero exit code, no failed test and, on a CUDA device, every CPU-against-CUDA test run and passed (not skipped).

    Returns ``{"command", "returncode", "seconds", "summary", "tests": {test: {"outcome", "seconds", "message",
    "largest_difference"}}, "output_tail", "pass"}``.
    """
    env, args = _child_env(device), _pytest_args(sizes)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        start = time.perf_counter()
        returncode, out = _run_pytest(args, report, env, timeout)
        seconds = time.perf_counter() - start
        tests = _junit_outcomes(report) if report.exists() else {}
    return {
        "command": "python -m pytest " + shlex.join(args),
        "returncode": returncode,
        "seconds": seconds,
        "summary": _summary(out),
        "tests": tests,
        "output_tail": out[-OUTPUT_TAIL:],
        "pass": _verdict(returncode, tests, device.startswith("cuda")),
    }


def _child_env(device: str) -> dict[str, str]:
    """The test process's environment: only ``device``'s GPU visible (as ``cuda:0``), or one OpenMP thread on CPU."""
    env = dict(os.environ)
    index = torch.device(device).index
    if device.startswith("cuda") and index is not None:
        visible = env.get("CUDA_VISIBLE_DEVICES")
        env["CUDA_VISIBLE_DEVICES"] = visible.split(",")[index] if visible else str(index)
    if not device.startswith("cuda"):
        env.setdefault("OMP_NUM_THREADS", "1")  # as this process on CPU: a smoke test on a possibly shared machine
    return env


def _pytest_args(sizes: str) -> list[str]:
    """pytest's arguments after ``-m pytest`` (the JUnit report's path comes last, apart)."""
    return [
        TESTS,
        "-q",
        "-rA",
        "-p",
        "no:cacheprovider",
        "-m",
        "slow or not slow" if sizes == "paper" else "not slow",
        "-o",
        "junit_family=xunit1",
    ]  # xunit1: the report keeps the tests' record_property


def _run_pytest(args: list[str], report: Path, env: dict[str, str], timeout: float) -> tuple[int, str]:
    """(exit code, stdout and stderr together) of pytest in its own session, killed with its group on timeout."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args, f"--junitxml={report}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        out += f"\n[benchmarks/gpu.py: killed after {timeout:.0f} s, the limit of the correctness tests]\n"
    return proc.returncode, out


def _summary(out: str) -> str:
    """pytest's last summary line (``3 passed, 1 skipped in ...``), or ``no summary``."""
    return next(
        (
            line.strip("= ")
            for line in reversed(out.splitlines())
            if re.search(r"\d+ (passed|failed|skipped|error|deselected)|no tests ran", line)
        ),
        "no summary",
    )


def _verdict(returncode: int, tests: dict, cuda: bool) -> bool:
    """Exit code 0, some tests and none failed; on CUDA also every CPU-against-CUDA test run and passed."""
    ok = returncode == 0 and bool(tests) and all(t["outcome"] in ("passed", "skipped") for t in tests.values())
    if cuda:
        against_cuda = [t for name, t in tests.items() if name.startswith("test_cpu_against_cuda")]
        ok = ok and bool(against_cuda) and all(t["outcome"] == "passed" for t in against_cuda)
    return ok


def _junit_outcomes(report: Path) -> dict:
    """``{test name: {"outcome", "seconds", "message", and the test's record_property values}}`` of a JUnit XML."""
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        outcome, message = "passed", ""
        for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            found = case.find(tag)
            if found is not None:
                text = (found.get("message") or found.text or "").strip()
                outcome, message = name, text.splitlines()[0][:300] if text else ""
                break
        outcomes[case.get("name")] = {
            "outcome": outcome,
            "seconds": float(case.get("time") or 0),
            "message": message,
            **{p.get("name"): p.get("value") for p in case.iter("property")},
        }
    return outcomes


# ---------------------------------------------------------------------------------------------------------------
# Device checks


def _count_syncs(fn: Callable[[], Any]) -> tuple[Any, list[str]]:
    """Run ``fn`` under ``torch.cuda.set_sync_debug_mode("warn")``; return its result and one line per sync."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            result = fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    lines = [
        f"{Path(w.filename).name}:{w.lineno}: {str(w.message).splitlines()[0][:100]}"
        for w in caught
        if "synchroniz" in str(w.message).lower()
    ]
    return result, lines


def _syncs_in_error_mode(fn: Callable[[], Any]) -> list[str]:
    """The first host sync of ``fn`` under ``set_sync_debug_mode("error")`` (empty if none): the fallback when the
    "warn" mode's warnings do not reach Python's warnings module. Returns at most one line, with the raising frame."""
    torch.cuda.set_sync_debug_mode("error")
    try:
        fn()
        return []
    except RuntimeError as err:
        if "synchroniz" not in str(err).lower():
            raise
        frames = [f for f in traceback.extract_tb(err.__traceback__) if "torch" not in Path(f.filename).parts]
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        return [f"{where}: {str(err).splitlines()[0][:100]}"]
    finally:
        torch.cuda.set_sync_debug_mode("default")


def check_device(preset: str, device: str, overrides: tuple = ()) -> dict:
    """Where a device run's batch and noise live, and the host syncs of one training step (CUDA only).

    The step is the library's (task.sample with the ``train_batches`` device generator, the model's forward with
    the ``train_noise`` one, MSE, backward, Adam), after one warm-up step (first calls initialise lazily).
    """
    s = bench._setup(preset, device, overrides)
    batch_size, steps = s.config.task.batch_size, s.config.task.sequence_length
    gen_b, gen_n = generator(0, "train_batches", s.device), generator(0, "train_noise", s.device)
    batch = s.task.sample(batch_size, gen_b)
    noise = s.model.sample_noise(batch_size, steps, gen_n)
    where = {f"batch.{f.name}": str(getattr(batch, f.name).device) for f in fields(batch)}
    where.update(
        {
            f"noise.{f.name}": str(getattr(noise, f.name).device)
            for f in fields(noise)
            if getattr(noise, f.name) is not None
        }
    )
    result = {
        "preset": preset,
        "devices": where,
        "on_device": all(torch.device(d).type == s.device.type for d in where.values()),
    }
    if s.device.type != "cuda":
        result["syncs"] = "skipped: not a CUDA device"
        return result
    result.update(_step_syncs(s, _step_pieces(s, batch_size, gen_b, gen_n)))
    return result


def _step_pieces(s, batch_size: int, gen_b: torch.Generator, gen_n: torch.Generator) -> dict[str, Callable[[], Any]]:
    """The training step of Setup ``s`` in four pieces (generation, forward, loss + backward, Adam) sharing state,
    each to be run after the ones before it."""
    opt = torch.optim.Adam(s.model.parameters(), lr=1e-3)
    state: dict[str, Any] = {}

    def generation():
        state["batch"] = s.task.sample(batch_size, gen_b)

    def forward():
        state["outputs"] = s.model(state["batch"].inputs, state["batch"].init_code, generator=gen_n)[1]

    def backward():
        loss = torch.mean((state["outputs"] - state["batch"].targets) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()

    return {"generation": generation, "forward": forward, "loss + backward": backward, "Adam": opt.step}


def _step_syncs(s, pieces: dict[str, Callable[[], Any]]) -> dict:
    """The host syncs of each piece after one warm-up step: ``{"control_detected", "sync_mode", "syncs": {piece:
    [one line per sync]}, "syncs_total"}``."""
    result: dict[str, Any] = {}
    for piece in pieces.values():  # warm-up
        piece()
    torch.cuda.synchronize()
    # Positive control: .item() must register, or the counter is blind and "0 syncs" would mean nothing.
    result["control_detected"] = bool(_count_syncs(lambda: torch.ones(1, device=s.device).item())[1])
    syncs = {}
    if result["control_detected"]:
        for name, piece in pieces.items():
            syncs[name] = _count_syncs(piece)[1]
        result["sync_mode"] = "warn (every sync counted)"
    else:
        names = list(pieces)
        for i, name in enumerate(names):
            for earlier in names[:i]:  # the piece's inputs, afresh (an interrupted piece leaves no usable state)
                pieces[earlier]()
            syncs[name] = _syncs_in_error_mode(pieces[name])
        result["sync_mode"] = "error (first sync of each piece only: warn-mode warnings were not visible)"
    torch.cuda.synchronize()
    result["syncs"] = syncs
    result["syncs_total"] = sum(len(v) for v in syncs.values())
    return result
