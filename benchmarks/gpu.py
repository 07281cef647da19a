"""The benchmarks/bench.py table measured on a GPU, and the CUDA correctness tests (tests/test_cuda.py) run there.

    python benchmarks/gpu.py --quick        # on a GPU machine: at most 6 minutes (--budget 360)
    python benchmarks/gpu.py                # full: more repeats, 10,000-step rollouts, more compile modes (< 9 min)
    python benchmarks/gpu.py --device cpu --quick --out /tmp/gpu_smoke   # plumbing smoke test (small sizes)

In order; every part is wrapped, so a failure is recorded as ``failed: <error>`` and the run goes on:

1. correctness: ``python -m pytest tests/test_cuda.py`` in a child process (repository root as working directory),
   which runs the SN noisy vanilla RNN, the SN noisy GRU and the HD network on CPU and on the device from the same
   weights, batch and noise and compares everything (tests/cuda_check.py); with ``--sizes paper`` also at the
   presets' own sizes (its ``slow`` tests). The outcome of each test and the output's tail are recorded.
2. device checks: a device generator's batch and noise are device tensors, and the host synchronisations of one
   training step (generation, forward, loss + backward, Adam), counted with ``torch.cuda.set_sync_debug_mode``.
3. timings (the functions of benchmarks/bench.py): training step of the three models against fused
   ``torch.nn.RNN`` / ``nn.GRU`` (cuDNN), quiescent rollouts (200 trajectories) against the fused forward,
   trajectory generation alone; peak device memory of each.
4. ensembles (benchmarks/ensemble.py's step: the training loop's own step for E stacked members of different
   seeds, every other one without recurrent noise): network-steps per second and peak device memory at
   E = 1, 10, 50 (full: 1, 2, 4, 10, 20, 50) for each network, against E = 1 on the same device.
5. CUDA graph capture of the quiescent rollout chunk (static input / noise / state buffers) against ``rollout()``.
6. ``torch.compile`` of the model (``nn.Module.compile``) inside the library's training step: compile time and
   step time against eager.
Parts 1, 4, 5 and 6 run in child processes with a time limit each (a hung compile or a failed capture cannot take the
run down); a global time budget (``--budget``) skips what no longer fits.

TF32 is switched off for matrix products and cuDNN (here and in the tests): every number is float32 (TF32 keeps a
10-bit mantissa, a relative error near 1e-3 per product, which would fail the tests' float32 tolerance by design).

Writes ``<out>/<host>-<gpu name>.json`` (raw numbers) and ``.md`` (tables) and prints the markdown.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))  # bench.py, imported as a module from any working directory

import bench  # noqa: E402
import ensemble  # noqa: E402

from reactivation.cli import configure_process  # noqa: E402
from reactivation.ensembles import member_bytes  # noqa: E402
from reactivation.models.noise import NoiseSample  # noqa: E402
from reactivation.quiescence import rollout  # noqa: E402
from reactivation.seeding import generator  # noqa: E402

PRESETS = bench.PRESETS  # table name -> preset

#: The correctness tests, relative to the repository root, and the largest part of the pytest output kept.
TESTS = "tests/test_cuda.py"
OUTPUT_TAIL = 4000

#: Rollout chunk of the timings (as in bench.py and the analyses) and of the CUDA graph.
CHUNK = 500
ROLLOUT_BATCH = 200


# ---------------------------------------------------------------------------------------------------------------
# Sizes


def size_overrides(preset: str, sizes: str) -> tuple:
    """``paper``: the presets' own sizes (B 200, T 100, 512 / 128 units); ``small``: ``scale=tiny``, the CPU
    smoke-test sizes (B 16, T 20, 32 units and cells)."""
    if sizes == "paper":
        return ()
    if sizes == "small":
        return ("scale=tiny",)
    raise ValueError(f"unknown sizes {sizes!r}; choose paper or small")


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
    cuda = device.startswith("cuda")
    env = dict(os.environ)
    index = torch.device(device).index
    if cuda and index is not None:
        visible = env.get("CUDA_VISIBLE_DEVICES")
        env["CUDA_VISIBLE_DEVICES"] = visible.split(",")[index] if visible else str(index)
    if not cuda:
        env.setdefault("OMP_NUM_THREADS", "1")  # as this process on CPU: a smoke test on a possibly shared machine
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        args = [
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
        start = time.perf_counter()
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
        seconds = time.perf_counter() - start
        tests = _junit_outcomes(report) if report.exists() else {}
    summary = next(
        (
            line.strip("= ")
            for line in reversed(out.splitlines())
            if re.search(r"\d+ (passed|failed|skipped|error|deselected)|no tests ran", line)
        ),
        "no summary",
    )
    ok = proc.returncode == 0 and bool(tests) and all(t["outcome"] in ("passed", "skipped") for t in tests.values())
    if cuda:
        against_cuda = [t for name, t in tests.items() if name.startswith("test_cpu_against_cuda")]
        ok = ok and bool(against_cuda) and all(t["outcome"] == "passed" for t in against_cuda)
    return {
        "command": "python -m pytest " + shlex.join(args),
        "returncode": proc.returncode,
        "seconds": seconds,
        "summary": summary,
        "tests": tests,
        "output_tail": out[-OUTPUT_TAIL:],
        "pass": ok,
    }


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


def _difference(reference: Tensor, other: Tensor) -> dict:
    """``max_abs``, ``max_rel`` (over max |reference|), ``norm_rel`` and ``finite`` of ``other`` against
    ``reference``, in float64 (the CUDA graph's replay against the eager forward; informational)."""
    a, b = reference.detach().double(), other.detach().double()
    diff, scale, norm = (a - b), a.abs().max().item(), a.norm().item()
    max_abs = diff.abs().max().item()
    return {
        "max_abs": max_abs,
        "max_rel": max_abs / scale if scale else math.inf,
        "norm_rel": diff.norm().item() / norm if norm else math.inf,
        "finite": bool(torch.isfinite(b).all()),
    }


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

    pieces = {"generation": generation, "forward": forward, "loss + backward": backward, "Adam": opt.step}
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


# ---------------------------------------------------------------------------------------------------------------
# Timings


class Clock:
    """Device-aware timing and memory: waits for queued device work before reading the clock."""

    def __init__(self, device: str) -> None:
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def allocated_mb(self) -> float:
        return torch.cuda.memory_allocated(self.device) / 2**20

    def fresh(self) -> None:
        """Free what earlier items left and restart the peak-memory count (per-item peaks)."""
        gc.collect()
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_mb(self) -> float | None:
        return torch.cuda.max_memory_allocated(self.device) / 2**20 if self.cuda else None

    def median(self, fn: Callable[[], Any], repeats: int, warmup: int) -> tuple[float, float | None]:
        """(median seconds of ``fn`` over ``repeats`` synced calls after ``warmup`` calls, peak MB or None)."""
        self.fresh()

        def synced():
            fn()
            self.sync()

        return bench._median_time(synced, repeats, warmup), self.peak_mb()


def matmul_rate(clock: Clock, n: int, repeats: int) -> float:
    """Measured float32 matrix-product rate on the clock's device (TF32 off), FLOP/s."""
    a = torch.randn(n, n, device=clock.device)
    b = torch.randn(n, n, device=clock.device)
    seconds, _ = clock.median(lambda: a @ b, repeats, warmup=2)
    return 2 * n**3 / seconds


def time_training(name: str, clock: Clock, overrides: tuple, repeats: int, warmup: int) -> dict:
    """bench.py's training step (generation + forward + backward + Adam) against the fused step, and generation."""
    preset, device = PRESETS[name], str(clock.device)
    step, s = bench.training_step(preset, device, overrides)
    ours, ours_peak = clock.median(step, repeats, warmup)
    fused, fused_peak = clock.median(bench.fused_step(s, device), repeats, warmup)
    gen = generator(0, "train_batches", s.device)
    sample, sample_peak = clock.median(lambda: s.task.sample(s.config.task.batch_size, gen), repeats, warmup)
    return {
        "step_s": ours,
        "fused_step_s": fused,
        "ratio": ours / fused,
        "generation_s": sample,
        "generation_share": sample / ours,
        "gflop": bench.step_flops(s) / 1e9,
        "peak_mb": ours_peak,
        "fused_peak_mb": fused_peak,
        "generation_peak_mb": sample_peak,
        "sizes": {"B": s.config.task.batch_size, "T": s.config.task.sequence_length, "n_rec": s.config.rnn.n_rec},
    }


def time_rollout(name: str, clock: Clock, overrides: tuple, steps: int) -> dict:
    """bench.py's quiescent rollout (200 trajectories, ours then fused) after a one-chunk warm-up."""
    preset, device = PRESETS[name], str(clock.device)
    memory = clock.allocated_mb if clock.cuda else bench.rss_mb
    bench.rollout_item(preset, CHUNK, CHUNK, device, overrides, memory, clock.sync)  # warm-up: kernels, plans
    clock.fresh()
    result = bench.rollout_item(preset, steps, CHUNK, device, overrides, memory, clock.sync)
    result["peak_mb"] = clock.peak_mb()  # ours and fused together
    result["memory"] = "allocated" if clock.cuda else "RSS"
    return result


def time_ensemble(name: str, clock: Clock, overrides: tuple, members: int, repeats: int, warmup: int) -> dict:
    """The training loop's step for an ensemble of ``members`` networks of ``name`` (benchmarks/ensemble.py)."""
    step, networks = ensemble.step_function(PRESETS[name], members, str(clock.device), overrides)
    seconds, peak = clock.median(step, repeats, warmup)
    return {
        "members": members,
        "step_s": seconds,
        "throughput": members / seconds,
        "peak_mb": peak,
        "estimate_mb_per_member": member_bytes(networks.runs[0].cfg) / 2**20,
    }


def graph_rollout(name: str, clock: Clock, overrides: tuple, steps: int, chunk: int = CHUNK) -> dict:
    """The quiescent rollout with each chunk's forward replayed from one captured CUDA graph, against rollout().

    Static buffers: the zero input, the chunk's noise (refilled each chunk from the device generator, as the
    library draws it) and the state h carried between chunks. ``steps`` must be a multiple of ``chunk``.
    """
    preset, device = PRESETS[name], str(clock.device)
    s = bench._setup(preset, device, overrides)
    model, task = s.model, s.task
    gen = generator(0, "analysis", s.device)
    batch = task.sample(ROLLOUT_BATCH, gen)
    sigma = model.sigma_rec * math.sqrt(2.0)
    with torch.no_grad():
        h0 = model.initial_state(batch.init_code)
    rollout(model, task, h0, chunk, generator=gen, sigma_rec=sigma, chunk=chunk)  # warm-up
    clock.sync()
    start = time.perf_counter()
    rollout(model, task, h0, steps, generator=gen, sigma_rec=sigma, chunk=chunk)
    clock.sync()
    eager = time.perf_counter() - start

    clock.fresh()
    zeros = torch.zeros(ROLLOUT_BATCH, chunk, model.n_in, device=s.device)
    static_h = h0.clone()
    static_noise = model.sample_noise(ROLLOUT_BATCH, chunk, gen, sigma_rec=sigma)

    def refill() -> None:
        fresh = model.sample_noise(ROLLOUT_BATCH, chunk, gen, sigma_rec=sigma)
        for f in fields(NoiseSample):
            if getattr(static_noise, f.name) is not None:
                getattr(static_noise, f.name).copy_(getattr(fresh, f.name))

    with torch.no_grad():
        side = torch.cuda.Stream()  # warm up on a side stream before capture, as the CUDA graph docs ask
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                model(zeros, h0=static_h, noise=static_noise)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        start = time.perf_counter()
        with torch.cuda.graph(graph):
            static_states, static_out = model(zeros, h0=static_h, noise=static_noise)
        clock.sync()
        capture = time.perf_counter() - start
        # Replay against the eager forward on the same buffers.
        refill()
        graph.replay()
        eager_states, _ = model(zeros, h0=static_h, noise=static_noise)
        replay_diff = _difference(eager_states, static_states)
        static_h.copy_(h0)
        clock.sync()
        start = time.perf_counter()
        decoded = []
        for _ in range(steps // chunk):
            refill()
            graph.replay()
            static_h.copy_(static_states[:, -1])
            decoded.append(task.decode(static_out).cpu())  # as rollout(): the decoded latents go to the host
        clock.sync()
        graphed = time.perf_counter() - start
    finite = bool(torch.isfinite(torch.cat(decoded, dim=1)).all() and torch.isfinite(static_h).all())
    return {
        "eager_s": eager,
        "graph_s": graphed,
        "speedup": eager / graphed,
        "capture_s": capture,
        "replay_vs_eager": replay_diff,
        "finite": finite,
        "peak_mb": clock.peak_mb(),
        "steps": steps,
    }


def compile_item(name: str, clock: Clock, overrides: tuple, mode: str, repeats: int, warmup: int) -> dict:
    """bench.py's training step with the model compiled in place (``nn.Module.compile``) against the same eager.

    ``compile_s`` is the first compiled step's time less an eager step (dynamo tracing, AOTAutograd and inductor,
    forward and backward). ``reduce-overhead`` adds inductor's CUDA graphs (recorded over the next warm-up calls).
    """
    preset, device = PRESETS[name], str(clock.device)
    step, s = bench.training_step(preset, device, overrides)
    eager, _ = clock.median(step, repeats, warmup)
    import torch._dynamo

    torch._dynamo.reset()
    s.model.compile(mode=None if mode == "default" else mode)
    clock.sync()
    start = time.perf_counter()
    step()
    clock.sync()
    first = time.perf_counter() - start
    compiled, peak = clock.median(step, repeats, warmup + 2)
    result = {
        "mode": mode,
        "eager_step_s": eager,
        "first_step_s": first,
        "compile_s": max(first - eager, 0.0),
        "step_s": compiled,
        "speedup": eager / compiled,
        "peak_mb": peak,
        "parameters_finite": all(bool(torch.isfinite(p).all()) for p in s.model.parameters()),
    }
    try:
        from torch._dynamo.utils import counters

        breaks = counters["graph_break"]
        result["graph_breaks"] = sum(breaks.values())
        result["graph_break_reasons"] = [" ".join(str(reason).split())[:200] for reason in list(breaks)[:5]]
    except Exception as err:  # noqa: BLE001 - counters are internal: their absence must not fail the item
        result["graph_breaks"] = f"unknown ({type(err).__name__})"
    return result


# ---------------------------------------------------------------------------------------------------------------
# Driver


def _failed(err: BaseException) -> str:
    return f"failed: {type(err).__name__}: {str(err).strip().splitlines()[0][:300] if str(err).strip() else ''}"


def _attempt(results: dict, key: str, fn: Callable[[], Any]) -> None:
    """results[key] = fn(), or ``"failed: <error>"`` (traceback to stderr) so that the run goes on."""
    print(f"[{time.strftime('%H:%M:%S')}] {key} ...", file=sys.stderr, flush=True)
    try:
        results[key] = fn()
    except Exception as err:  # noqa: BLE001 - recorded, never fatal: the rest of the run still says something
        traceback.print_exc(file=sys.stderr)
        results[key] = _failed(err)


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


def _run_child(item: str, args: argparse.Namespace, timeout: float) -> dict | str:
    """Run ``child_item(item)`` in a fresh process (own session, killed with its workers on timeout)."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
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


def environment(args: argparse.Namespace) -> dict:
    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node() or "machine",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": args.device,
        "cpu_threads": torch.get_num_threads(),
        "command": " ".join(["python", "benchmarks/gpu.py", *sys.argv[1:]]),
        "quick": args.quick,
        "sizes": args.sizes,
        "rollout_steps": args.rollout_steps,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "tf32": {
            "matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
        },
    }
    if args.device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(args.device))
        info.update(
            {
                "gpu": props.name,
                "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                "capability": f"{props.major}.{props.minor}",
                "cudnn": torch.backends.cudnn.version(),
                "gpu_count": torch.cuda.device_count(),
            }
        )
    return info


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _t(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MB"


def _num(x: float) -> str:
    return f"{x:.1e}" if x else "0"


def _correctness_markdown(r: dict | str, verdict: bool | None) -> list[str]:
    out = [f"## Correctness against the CPU reference (`{TESTS}`)", ""]
    if not isinstance(r, dict):
        return out + [str(r), "", "**Verdict: FAIL**", ""]
    out += [
        (
            f"`{r['command']}` in the repository root: exit code {r['returncode']}, {r['seconds']:.0f} s, "
            f"{r['summary']}. Each model (tests/cuda_check.py) runs on CPU and on the device from the same weights, "
            "batch and noise (drawn on CPU): forward, MSE, backward, the zero-input forward with the same noise and "
            "a noise-free `rollout()`; every hidden state, output, loss and gradient must agree to "
            "‖device − cpu‖ / ‖cpu‖ ≤ the tolerance, TF32 off; a noisy device `rollout()` must be finite and stay "
            "on the device. Largest difference: the largest of these measures in the test."
        ),
        "",
        "| test | outcome | time | largest difference / message |",
        "|---|---|---|---|",
    ]
    for name, t in r["tests"].items():
        outcome = t["outcome"] if t["outcome"] in ("passed", "skipped") else f"**{t['outcome'].upper()}**"
        detail = t.get("largest_difference", "") if t["outcome"] == "passed" else t["message"].replace("|", "\\|")
        out.append(f"| `{name}` | {outcome} | {t['seconds']:.1f} s | {detail} |")
    if not r["tests"]:
        out.append("| (no test report) | **FAIL** | | |")
    tail = r["output_tail"].rstrip().splitlines()[-25:]
    out += [
        "",
        f"**Verdict: {'PASS' if verdict else 'FAIL'}**",
        "",
        "pytest output (tail):",
        "",
        "```",
        *tail,
        "```",
        "",
    ]
    return out


def markdown(results: dict) -> str:
    env, cuda = results["environment"], results["environment"]["device"].startswith("cuda")
    fused_name = "fused (cuDNN)" if cuda else "fused (CPU kernels)"
    where = (
        f"{env.get('gpu')} ({env.get('gpu_memory_gib')} GiB, compute capability {env.get('capability')}), "
        f"CUDA {env['cuda']}, cuDNN {env.get('cudnn')}"
        if cuda
        else "CPU only"
    )
    out = [
        f"# GPU check and benchmark: {env['host']}, {where}",
        "",
        (
            f"Measured {env['date']} on {env['platform']}, Python {env['python']}, torch {env['torch']}; "
            f"`{env['command']}`. Sizes: {env['sizes']}; {env['repeats']} repeats after {env['warmup']} warm-up "
            f"calls (median); TF32 off (matmul {env['tf32']['matmul.allow_tf32']}, cuDNN "
            f"{env['tf32']['cudnn.allow_tf32']}): all float32. Total {results.get('elapsed_s', 0):.0f} s."
        ),
        "",
    ]
    if not cuda:
        out += [
            (
                "**CPU plumbing run**: the correctness tests compare CPU with CPU (differences must be 0) and skip "
                "the CPU-against-CUDA ones; CUDA graphs, the sync-debug check and cuDNN are skipped (the fused "
                "baseline uses the CPU kernels)."
            ),
            "",
        ]
    out += _correctness_markdown(results["correctness"], results.get("correctness_pass"))

    out += ["## Device checks", ""]
    for name, r in results["device_checks"].items():
        if not isinstance(r, dict):
            out.append(f"- {name}: {r}")
            continue
        out.append(
            f"- {name}: batch and noise from a device generator on the device: "
            f"{'yes' if r['on_device'] else 'NO'} ({', '.join(sorted(set(r['devices'].values())))})"
        )
        if isinstance(r["syncs"], str):
            out.append(f"  - host syncs in one training step: {r['syncs']}")
        else:
            counts = ", ".join(f"{piece} {len(lines)}" for piece, lines in r["syncs"].items())
            out.append(
                f"  - host syncs in one training step (sync debug mode {r['sync_mode']}; control `.item()` "
                f"detected: {r['control_detected']}): {counts}{' (none)' if r['syncs_total'] == 0 else ''}"
            )
            for piece, lines in r["syncs"].items():
                for line in sorted(set(lines))[:5]:
                    out.append(f"    - {piece}: `{line}`")
    out += [
        "",
        (
            "`reactivation.training.train` itself reads the loss every step (`torch.isfinite(loss)` and "
            "`loss.item()` for the metrics log): one host round trip per step by design, not counted above."
        ),
        "",
    ]

    steps = env["rollout_steps"]
    out += [
        f"## Speed and memory on `{env['device']}`",
        "",
        f"| measurement | ours | {fused_name} | ratio ours / fused | other |",
        "|---|---|---|---|---|",
    ]
    rate = results["timings"].get("matmul")
    for name in PRESETS:
        r = results["timings"].get(f"train:{name}")
        if not isinstance(r, dict):
            out.append(f"| {name} training step | {r} | | | |")
            continue
        floor = (
            f"; {r['gflop']:.3g} GFLOP: floor {_t(r['gflop'] / rate['tflops'] / 1e3)}" if isinstance(rate, dict) else ""
        )
        out.append(
            f"| {name} training step (B {r['sizes']['B']}, T {r['sizes']['T']}, {r['sizes']['n_rec']} units) "
            f"| {_t(r['step_s'])} | {_t(r['fused_step_s'])} | {r['ratio']:.2f} | generation "
            f"{_t(r['generation_s'])} ({r['generation_share']:.1%}); peak {_mb(r['peak_mb'])} (fused "
            f"{_mb(r['fused_peak_mb'])}, generation {_mb(r['generation_peak_mb'])}){floor} |"
        )
    for name in ("SN vanilla", "HD vanilla"):
        r = results["timings"].get(f"rollout:{name}")
        if not isinstance(r, dict):
            out.append(f"| {name} quiescent rollout | {r} | | | |")
            continue
        out.append(
            f"| {name} quiescent rollout, {ROLLOUT_BATCH} × {steps} steps | {_t(r['seconds'])} "
            f"| {_t(r['fused_seconds'])} | {r['ratio']:.2f} | {r['memory']} growth over the chunks "
            f"{r['rss_growth_mb']:+.0f} MB; peak {_mb(r['peak_mb'])} (ours and fused) |"
        )
    if isinstance(rate, dict):
        out.append(f"| float32 matmul {rate['n']}² | {rate['tflops']:.1f} TFLOP/s | | | |")
    elif rate is not None:
        out.append(f"| float32 matmul | {rate} | | | |")

    out += ["", "## Ensembles: E networks as one stacked training step", ""]
    out += [
        (
            "benchmarks/ensemble.py's step (the training loop's own: each member's batch from its stream, the "
            "stacked forward and backward, torch Adam on the stacked parameters, the divergence check), members of "
            "different seeds, every "
            "other one without recurrent noise. Ratio = throughput against E = 1 on this device."
        ),
        "",
        "| network | E | step | network-steps/s | ratio | peak | growth per member (measured / estimate) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, by_size in results.get("ensembles", {}).items():
        one = by_size.get("1")
        for e, r in by_size.items():
            if not isinstance(r, dict):
                out.append(f"| {name} | {e} | {r} | | | | |")
                continue
            ratio = f"{r['throughput'] / one['throughput']:.2f}x" if isinstance(one, dict) else "-"
            growth = (
                f"{(r['peak_mb'] - one['peak_mb']) / (int(e) - 1):.3g}"
                if isinstance(one, dict) and int(e) > 1 and r["peak_mb"] is not None
                else "-"
            )
            out.append(
                f"| {name} | {e} | {_t(r['step_s'])} | {r['throughput']:.1f} | {ratio} | {_mb(r['peak_mb'])} "
                f"| {growth} / {r['estimate_mb_per_member']:.3g} MB |"
            )

    out += ["", "## CUDA graph of the quiescent rollout chunk", ""]
    graphs = results["graphs"]
    if isinstance(graphs, str):
        out.append(graphs)
    else:
        out += [
            (
                f"Each {CHUNK}-step no-grad forward replayed from one captured graph (static zero input, noise "
                "and state buffers; noise refilled per chunk from the device generator), against `rollout()`."
            ),
            "",
            "| model | rollout() | graphed | speedup | capture | replay vs eager (max abs) | peak |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, r in graphs.items():
            if isinstance(r, dict):
                out.append(
                    f"| {name}, {ROLLOUT_BATCH} × {r['steps']} | {_t(r['eager_s'])} | {_t(r['graph_s'])} "
                    f"| {r['speedup']:.2f} | {_t(r['capture_s'])} | {_num(r['replay_vs_eager']['max_abs'])}"
                    f"{'' if r['finite'] else ' NOT FINITE'} | {_mb(r['peak_mb'])} |"
                )
            else:
                out.append(f"| {name} | {r} | | | | | |")

    out += ["", "## torch.compile of the model in the training step", ""]
    comp = results["compile"]
    if isinstance(comp, str):
        out.append(comp)
    else:
        out += [
            (
                "`model.compile(mode=...)` inside bench.py's training step (generation and Adam stay eager). "
                "Compile = first compiled step less one eager step."
            ),
            "",
            "| model | mode | eager step | compiled step | speedup | compile | graph breaks | peak |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for key, r in comp.items():
            name, mode = key.split(":")
            if isinstance(r, dict):
                finite = "" if r["parameters_finite"] else " (parameters NOT finite)"
                out.append(
                    f"| {name} | {mode} | {_t(r['eager_step_s'])} | {_t(r['step_s'])} | {r['speedup']:.2f}"
                    f"{finite} | {_t(r['compile_s'])} | {r['graph_breaks']} | {_mb(r['peak_mb'])} |"
                )
            else:
                out.append(f"| {name} | {mode} | {r} | | | | | |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 2,000-step rollouts, fewer compiles")
    parser.add_argument("--device", default="cuda", help="device to check and time (default cuda; cpu: smoke test)")
    parser.add_argument(
        "--sizes",
        choices=("paper", "small"),
        help="paper: the presets' sizes (default on CUDA); small: 32 units, B 16, T 20, 32 cells "
        "(default on CPU, so that the smoke test takes minutes)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="results directory")
    parser.add_argument(
        "--budget",
        type=float,
        help="seconds for the whole run; experiments that no longer fit are skipped (default: 360 quick, 540 full)",
    )
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile experiments")
    parser.add_argument("--item", help=argparse.SUPPRESS)  # internal: one experiment in a child process
    args = parser.parse_args()
    started = time.perf_counter()
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        parser.error("CUDA is not available here; use --device cpu for the plumbing smoke test")
    args.sizes = args.sizes or ("paper" if cuda else "small")
    args.budget = args.budget or (360.0 if args.quick else 540.0)
    # A CPU run is a plumbing check on a possibly shared machine: one thread (OpenMP threads spin-waiting for
    # busy cores slow the small ops down tenfold) and 1,000-step rollouts.
    if not cuda:
        torch.set_num_threads(1)
    args.rollout_steps = (2000 if cuda else 1000) if args.quick else 10_000
    args.repeats, args.warmup = (5, 2) if args.quick else (15, 3)
    configure_process()
    # Float32 everywhere: TF32 would make the correctness tolerances meaningless and the fused baseline faster by
    # a precision the library never uses.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")

    if args.item:
        try:
            result = child_item(args.item, args)
        except Exception as err:  # noqa: BLE001 - reported to the parent as a failed item
            traceback.print_exc(file=sys.stderr)
            result = {"error": _failed(err)}
        print(json.dumps(result))
        return

    deadline = started + args.budget
    clock = Clock(args.device)
    results: dict[str, Any] = {"environment": environment(args), "correctness": {}, "device_checks": {}, "timings": {}}
    _attempt(
        results,
        "correctness",
        lambda: run_correctness_tests(args.device, args.sizes, max(deadline - time.perf_counter() - 10, 60)),
    )
    results["correctness_pass"] = isinstance(results["correctness"], dict) and results["correctness"]["pass"]
    for name, preset in PRESETS.items():
        _attempt(
            results["device_checks"],
            name,
            lambda preset=preset: check_device(preset, args.device, size_overrides(preset, args.sizes)),
        )

    _attempt(
        results["timings"],
        "matmul",
        lambda: {
            "n": 8192 if cuda else 1024,
            "tflops": matmul_rate(clock, 8192 if cuda else 1024, args.repeats) / 1e12,
        },
    )
    for name, preset in PRESETS.items():
        _attempt(
            results["timings"],
            f"train:{name}",
            lambda name=name, preset=preset: time_training(
                name, clock, size_overrides(preset, args.sizes), args.repeats, args.warmup
            ),
        )
    for name in ("SN vanilla", "HD vanilla"):
        _attempt(
            results["timings"],
            f"rollout:{name}",
            lambda name=name: time_rollout(name, clock, size_overrides(PRESETS[name], args.sizes), args.rollout_steps),
        )
    clock.fresh()

    def child(item: str, cap: float) -> dict | str:
        left = deadline - time.perf_counter() - 10  # 10 s for writing the results
        if left < 20:
            return "skipped: the time budget (--budget) is spent"
        print(
            f"[{time.strftime('%H:%M:%S')}] {item} (child, limit {min(cap, left):.0f} s) ...",
            file=sys.stderr,
            flush=True,
        )
        return _run_child(item, args, min(cap, left))

    # Ensembles before the graphs and compiles: they are the library's way to many runs on a GPU.
    members = ((1, 10, 50) if args.quick else (1, 2, 4, 10, 20, 50)) if cuda else (1, 3)
    results["ensembles"] = {name: {str(e): child(f"ensemble:{name}:{e}", 90) for e in members} for name in PRESETS}
    if cuda:
        results["graphs"] = {name: child(f"graph:{name}", 90) for name in ("SN vanilla", "HD vanilla")}
    else:
        results["graphs"] = "skipped: CUDA graphs need a CUDA device"
    # The vanilla RNN first (the main model; its time loop is one autograd Function, so probably the quicker
    # compile), then the GRU, whose unrolled loop of small elementwise ops inductor could fuse but takes longest.
    compiles = (
        ["SN vanilla:default", "SN GRU:default"]
        if args.quick
        else [
            "SN vanilla:default",
            "SN GRU:default",
            "SN vanilla:reduce-overhead",
            "SN GRU:reduce-overhead",
            "HD vanilla:default",
        ]
    )
    if not cuda:  # the plumbing only: inductor's C++ build of even the smallest model takes a minute on one core
        compiles = ["HD vanilla:default"]
    if args.no_compile:
        results["compile"] = "skipped: --no-compile"
    else:
        cap = 90 if args.quick and cuda else 150
        results["compile"] = {key: child(f"compile:{key}", cap) for key in compiles}
    results["elapsed_s"] = time.perf_counter() - started

    host = _slug(results["environment"]["host"]) or "machine"
    stem = f"{host}-{_slug(results['environment'].get('gpu', 'cpu'))}"
    args.out.mkdir(parents=True, exist_ok=True)
    text = markdown(results)
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (args.out / f"{stem}.md").write_text(text)
    print(text)
    print(f"wrote {args.out / stem}.md and .json", file=sys.stderr)


if __name__ == "__main__":
    main()
