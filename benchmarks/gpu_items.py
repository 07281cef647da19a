"""One experiment of benchmarks/gpu.py (an *item*: ``graph:<model>``, ``compile:<model>:<mode>`` or
``ensemble:<model>:<members>``) in a child process of its own with a time limit, so that a hung compile or a failed
CUDA graph capture cannot take the run down; and the sizes every experiment runs at.

The parent calls :func:`run_child`, which runs ``benchmarks/gpu.py --item <item>``; that child calls
:func:`child_item` and prints its result as one JSON line (a failure as ``{"error": "failed: ..."}``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # gpu_timings.py, imported as a module from any working directory

from gpu_timings import PRESETS, Clock, compile_item, graph_rollout, time_ensemble  # noqa: E402

#: The script a child runs (with ``--item``).
SCRIPT = HERE / "gpu.py"


def size_overrides(preset: str, sizes: str) -> tuple:
    """``paper``: the presets' own sizes (B 200, T 100, 512 / 128 units); ``small``: ``scale=tiny``, the CPU
    smoke-test sizes (B 16, T 20, 32 units and cells)."""
    if sizes == "paper":
        return ()
    if sizes == "small":
        return ("scale=tiny",)
    raise ValueError(f"unknown sizes {sizes!r}; choose paper or small")


def failed(err: BaseException) -> str:
    """``failed: <error type>: <first line of its message>``: how a failed item is recorded."""
    return f"failed: {type(err).__name__}: {str(err).strip().splitlines()[0][:300] if str(err).strip() else ''}"


def child_item(item: str, args: argparse.Namespace) -> dict:
    """One experiment in this (child) process: ``graph:<model>``, ``compile:<model>:<mode>`` or
    ``ensemble:<model>:<members>``."""
    clock = Clock(args.device)
    kind, name, *rest = item.split(":")
    overrides = size_overrides(PRESETS[name], args.sizes)
    if kind == "graph":
        return graph_rollout(name, clock, overrides, args.rollout_steps)
    if kind == "compile":
        return compile_item(name, clock, overrides, rest[0], args.repeats, args.warmup)
    if kind == "ensemble":  # few repeats: an E = 50 SN step is 50 networks' work
        return time_ensemble(name, clock, overrides, int(rest[0]), min(args.repeats, 5), 1)
    raise ValueError(item)


def run_child(item: str, args: argparse.Namespace, timeout: float) -> dict | str:
    """Run ``child_item(item)`` in a fresh process (own session, killed with its workers on timeout)."""
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--item",
        item,
        "--device",
        args.device,
        "--sizes",
        args.sizes,
        "--budget",
        str(args.budget),
    ] + (["--quick"] if args.quick else [])
    env = dict(os.environ)
    if not args.device.startswith("cuda"):
        env.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")  # a CPU smoke test must not take every core
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the child's session: inductor's compile workers go with it
        proc.communicate()
        return f"failed: timed out after {timeout:.0f} s (limit of this item)"
    if err.strip():
        sys.stderr.write(err[-3000:])
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        last = err.strip().splitlines()[-1] if err.strip() else "no output"
        return f"failed: exit code {proc.returncode}: {last[:300]}"
    result = json.loads(lines[-1])
    return result.get("error", result) if isinstance(result, dict) else result
