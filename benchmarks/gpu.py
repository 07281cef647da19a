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
import json
import platform
import re
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))  # bench.py and the gpu_* modules, imported as modules from any working directory

from gpu_checks import check_device, run_correctness_tests  # noqa: E402
from gpu_items import child_item, failed, run_child, size_overrides  # noqa: E402
from gpu_report import markdown  # noqa: E402
from gpu_timings import PRESETS, Clock, matmul_rate, time_rollout, time_training  # noqa: E402

from reactivation.cli import configure_process  # noqa: E402

# The parts live in gpu_checks.py (correctness tests, device checks), gpu_timings.py (the timings), gpu_items.py
# (one experiment in a child process) and gpu_report.py (the markdown); this script runs them in order.
__all__ = [
    "PRESETS",
    "Clock",
    "check_device",
    "child_item",
    "main",
    "markdown",
    "matmul_rate",
    "run_correctness_tests",
    "size_overrides",
    "time_rollout",
    "time_training",
]


def _attempt(results: dict, key: str, fn: Callable[[], Any]) -> None:
    """results[key] = fn(), or ``"failed: <error>"`` (traceback to stderr) so that the run goes on."""
    print(f"[{time.strftime('%H:%M:%S')}] {key} ...", file=sys.stderr, flush=True)
    try:
        results[key] = fn()
    except Exception as err:  # noqa: BLE001 - recorded, never fatal: the rest of the run still says something
        traceback.print_exc(file=sys.stderr)
        results[key] = failed(err)


def environment(args: argparse.Namespace) -> dict:
    """The run's conditions as the report's header and the JSON record them: date, host, versions, the command,
    sizes, repeats, the TF32 switches and, on CUDA, the GPU."""
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


def main() -> None:
    """The command line of the module docstring; ``--item`` (internal) runs one experiment and prints its JSON."""
    started = time.perf_counter()
    args = _arguments()
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
            result = {"error": failed(err)}
        print(json.dumps(result))
        return

    deadline = started + args.budget
    results: dict[str, Any] = {"environment": environment(args), "correctness": {}, "device_checks": {}, "timings": {}}
    _in_process(results, args, deadline)
    _in_children(results, args, deadline)
    results["elapsed_s"] = time.perf_counter() - started
    _write(results, args.out)


def _arguments() -> argparse.Namespace:
    """The command line, with the defaults that depend on the device filled in (sizes, budget, rollout steps,
    repeats and warm-up calls); a CPU run also gets one thread."""
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
    return args


def _in_process(results: dict, args: argparse.Namespace, deadline: float) -> None:
    """The parts run in this process, in order: correctness tests (a pytest child of their own), device checks,
    the matmul rate, training steps and quiescent rollouts."""
    cuda = args.device.startswith("cuda")
    clock = Clock(args.device)
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


def _in_children(results: dict, args: argparse.Namespace, deadline: float) -> None:
    """The parts run each item in a time-limited child process: ensembles, CUDA graphs, torch.compile."""
    cuda = args.device.startswith("cuda")

    def child(item: str, cap: float) -> dict | str:
        left = deadline - time.perf_counter() - 10  # 10 s for writing the results
        if left < 20:
            return "skipped: the time budget (--budget) is spent"
        print(
            f"[{time.strftime('%H:%M:%S')}] {item} (child, limit {min(cap, left):.0f} s) ...",
            file=sys.stderr,
            flush=True,
        )
        return run_child(item, args, min(cap, left))

    # Ensembles before the graphs and compiles: they are the library's way to many runs on a GPU.
    members = ((1, 10, 50) if args.quick else (1, 2, 4, 10, 20, 50)) if cuda else (1, 3)
    results["ensembles"] = {name: {str(e): child(f"ensemble:{name}:{e}", 90) for e in members} for name in PRESETS}
    if cuda:
        results["graphs"] = {name: child(f"graph:{name}", 90) for name in ("SN vanilla", "HD vanilla")}
    else:
        results["graphs"] = "skipped: CUDA graphs need a CUDA device"
    if args.no_compile:
        results["compile"] = "skipped: --no-compile"
    else:
        cap = 90 if args.quick and cuda else 150
        results["compile"] = {key: child(f"compile:{key}", cap) for key in _compiles(args.quick, cuda)}


def _compiles(quick: bool, cuda: bool) -> list[str]:
    """The ``<model>:<mode>`` compile items, in the order they run."""
    if not cuda:  # the plumbing only: inductor's C++ build of even the smallest model takes a minute on one core
        return ["HD vanilla:default"]
    # The vanilla RNN first (the main model; its time loop is one autograd Function, so probably the quicker
    # compile), then the GRU, whose unrolled loop of small elementwise ops inductor could fuse but takes longest.
    if quick:
        return ["SN vanilla:default", "SN GRU:default"]
    return [
        "SN vanilla:default",
        "SN GRU:default",
        "SN vanilla:reduce-overhead",
        "SN GRU:reduce-overhead",
        "HD vanilla:default",
    ]


def _write(results: dict, out: Path) -> None:
    """Write ``<out>/<host>-<gpu or cpu>.json`` and ``.md`` and print the markdown."""
    host = _slug(results["environment"]["host"]) or "machine"
    stem = f"{host}-{_slug(results['environment'].get('gpu', 'cpu'))}"
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(results)
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / f"{stem}.md").write_text(text)
    print(text)
    print(f"wrote {out / stem}.md and .json", file=sys.stderr)


if __name__ == "__main__":
    main()
