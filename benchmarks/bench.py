"""Speed and memory of training steps, quiescent rollouts, trajectory generation and checkpoints.

    python benchmarks/bench.py                    # full table, 1 and 2 threads (about 10 minutes on 2 cores)
    python benchmarks/bench.py --quick            # fewer repeats and a 2,000-step rollout (about 3 minutes)

Writes ``benchmarks/results/<machine>.json`` (raw numbers) and ``.md`` (the table) and prints the table.
Every comparison is a ratio measured in the same process and run, against the fused PyTorch kernels of
the same shapes (``torch.nn.RNN`` / ``torch.nn.GRU``, no noise) and against the machine's measured
matrix-product rate. The training code paths are the library's own (task.sample, the model's forward,
the MSE loss and Adam), not benchmark-only variants.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))  # bench_steps.py, imported as a module from any working directory

# The measured code paths, re-exported: gpu.py, ensemble.py and others use them as bench.<name>.
from bench_steps import (  # noqa: E402
    _interleaved_medians,
    _median_time,
    _setup,
    checkpoint_mb,
    fused_step,
    matmul_rate,
    rollout_item,
    rss_mb,
    step_flops,
    training_step,
)

from reactivation.cli import configure_process  # noqa: E402
from reactivation.seeding import generator  # noqa: E402

__all__ = [
    "PRESETS",
    "_interleaved_medians",
    "_median_time",
    "_setup",
    "checkpoint_mb",
    "fused_step",
    "main",
    "matmul_rate",
    "measure_item",
    "rollout_item",
    "rss_mb",
    "step_flops",
    "table",
    "training_step",
]

PRESETS = {
    "SN vanilla": "spatial_navigation/noisy_unbiased",
    "SN GRU": "spatial_navigation/noisy_unbiased_gru",
    "HD vanilla": "head_direction/noisy_unbiased",
}


def measure_item(item: str, threads: int, quick: bool) -> dict:
    """One measurement, run in its own process so that its peak memory is its own."""
    torch.set_num_threads(threads)
    repeats = 3 if quick else 7
    if item.startswith("train:"):
        name = item.split(":", 1)[1]
        step, s = training_step(PRESETS[name])
        gen = generator(0, "train_batches")
        ours, fused, sample = _interleaved_medians(
            [step, fused_step(s), lambda: s.task.sample(s.config.task.batch_size, gen)], repeats
        )
        flops = step_flops(s)
        return {
            "step_s": ours,
            "fused_step_s": fused,
            "ratio": ours / fused,
            "generation_s": sample,
            "generation_share": sample / ours,
            "gflop": flops / 1e9,
            **checkpoint_mb(s),
        }
    if item.startswith("rollout:"):
        return rollout_item(PRESETS[item.split(":", 1)[1]], 2000 if quick else 10_000)
    if item == "matmul":
        return {"gflops": matmul_rate() / 1e9}
    raise ValueError(item)


def _child(item: str, threads: int, quick: bool) -> dict:
    cmd = [sys.executable, __file__, "--item", item, "--threads", str(threads)] + (["--quick"] if quick else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: dict) -> str:
    rows = ["| measurement | threads | ours | fused / floor | ratio | other |", "|---|---|---|---|---|---|"]
    for threads, by_item in results["threads"].items():
        rate = by_item["matmul"]["gflops"]
        for name in PRESETS:
            r = by_item[f"train:{name}"]
            floor = r["gflop"] / rate
            rows.append(
                f"| {name} training step | {threads} | {r['step_s']:.3f} s | fused {r['fused_step_s']:.3f} s "
                f"| {r['ratio']:.2f} | {r['gflop']:.1f} GFLOP: floor {floor:.3f} s ({floor / r['step_s']:.0%} "
                f"achieved); generation {r['generation_s'] * 1e3:.0f} ms ({r['generation_share']:.1%}); "
                f"checkpoint {r['step_checkpoint_mb']:.1f} MB (resume {r['resume_checkpoint_mb']:.1f} MB); "
                f"peak RSS {r['peak_rss_mb']:.0f} MB |"
            )
        for name in ("SN vanilla", "HD vanilla"):
            r = by_item.get(f"rollout:{name}")
            if r:
                rows.append(
                    f"| {name} quiescent rollout, 200 × {results['rollout_steps']} steps | {threads} "
                    f"| {r['seconds']:.1f} s | fused {r['fused_seconds']:.1f} s | {r['ratio']:.2f} "
                    f"| noise drawing {r['noise_seconds']:.1f} s (ratio without it "
                    f"{r['ratio_without_noise']:.2f}); RSS growth {r['rss_growth_mb']:+.0f} MB; "
                    f"peak RSS {r['peak_rss_mb']:.0f} MB |"
                )
        rows.append(f"| float32 matmul 2048² | {threads} | {rate:.0f} GFLOP/s | | | |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 2,000-step rollouts")
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2], help="thread counts (default: 1 2)")
    parser.add_argument("--item", help=argparse.SUPPRESS)  # internal: run one measurement in this process
    args = parser.parse_args()
    # Each item runs as its script would: training steps with train.py's settings, rollouts with the analyses'.
    configure_process(training=bool(args.item) and args.item.startswith(("train", "matmul")))
    if args.item:
        import resource

        result = measure_item(args.item, args.threads[0], args.quick)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    machine = f"{platform.node() or 'machine'}-{torch.get_num_threads()}cpu"
    results = {
        "date": date.today().isoformat(),
        "machine": platform.platform(),
        "processor": platform.processor(),
        "cpus": torch.get_num_threads(),
        "torch": torch.__version__,
        "quick": args.quick,
        "rollout_steps": 2000 if args.quick else 10_000,
        "threads": {},
    }
    items = ["matmul", *(f"train:{n}" for n in PRESETS), "rollout:SN vanilla", "rollout:HD vanilla"]
    for threads in args.threads:
        results["threads"][threads] = {}
        for item in items:
            print(f"[{threads} thread(s)] {item} ...", file=sys.stderr, flush=True)
            results["threads"][threads][item] = _child(item, threads, args.quick)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{machine}.json").write_text(json.dumps(results, indent=1) + "\n")
    text = (
        f"Measured {results['date']} on {results['machine']} ({results['cpus']} CPUs), torch {results['torch']}"
        f"{' (quick)' if args.quick else ''}; `python benchmarks/bench.py{' --quick' if args.quick else ''}`.\n\n"
        + table(results)
        + "\n"
    )
    (out / f"{machine}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
