"""bf16 matrix products against exact float32 on this CPU: `python benchmarks/precision.py [--quick]`.

Every ratio is float32 time / bf16 time of the same work, the two timed in turn in one process (so a shared
machine's drift affects both alike), at 1 and 2 threads:

- the products themselves at the shapes of a paper-size SN step (200 x 512 by 512 x 512, plain, with ``out=`` as
  the scan writes them, and with a transposed operand as the backward does), with their relative error;
- a full training step (sampling, forward, backward, Adam) of SN vanilla, SN GRU and HD, paper sizes;
- a quiescent rollout of 200 trajectories (10,000 steps; 1,000 with --quick) of SN vanilla and HD.

Writes benchmarks/results/<machine>-precision.json and .md (``--out`` to choose the stem).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench import _interleaved_medians, _setup, training_step  # noqa: E402
from reactivation import precision  # noqa: E402
from reactivation.cli import configure_process  # noqa: E402
from reactivation.precision import matmul_precision  # noqa: E402
from reactivation.quiescence import rollout  # noqa: E402
from reactivation.seeding import generator  # noqa: E402

CPU = torch.device("cpu")
STEPS = {"SN vanilla": "spatial_navigation/noisy_unbiased", "SN GRU": "spatial_navigation/noisy_unbiased_gru",
         "HD vanilla": "head_direction/noisy_unbiased"}  # fmt: skip
ROLLOUTS = {"SN vanilla": "spatial_navigation/noisy_unbiased", "HD vanilla": "head_direction/noisy_unbiased"}


def _in(mode: str, fn):
    def run():
        with matmul_precision(mode, CPU):
            return fn()

    return run


def _pair(fn, repeats: int) -> dict:
    exact, rounded = _interleaved_medians([_in("float32", fn), _in("bf16", fn)], repeats=repeats)
    return {"float32_s": exact, "bf16_s": rounded, "speedup": exact / rounded}


def products(repeats: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    a, w, b = (torch.randn(*shape, generator=gen) for shape in ((200, 512), (512, 512), (200, 512)))
    out, big = torch.empty(200, 512), torch.randn(20000, 512, generator=gen)
    ops = {
        "mm (200x512 @ 512x512)": lambda: torch.mm(a, w),
        "addmm": lambda: torch.addmm(b, a, w),
        "addmm(out=) as the scan": lambda: torch.addmm(b, a, w, out=out),
        "mm, transposed operand (backward dW)": lambda: torch.mm(a.t(), b),
        "mm (20000x512 @ 512x512)": lambda: torch.mm(big, w),
    }
    found = {}
    for name, fn in ops.items():
        exact = _in("float32", fn)().clone()
        rounded = _in("bf16", fn)().clone()
        found[name] = {**_pair(fn, repeats), "rel_error": ((rounded - exact).norm() / exact.norm()).item()}
    return found


def steps(repeats: int) -> dict:
    found = {}
    for name, preset in STEPS.items():
        step, _ = training_step(preset)
        found[name] = _pair(step, repeats)
    return found


def rollouts(n_steps: int) -> dict:
    found = {}
    for name, preset in ROLLOUTS.items():
        s = _setup(preset)
        gen = generator(0, "analysis", s.device)
        h0 = s.model.initial_state(s.task.sample(200, gen).init_code).detach()
        sigma = s.model.sigma_rec * 2**0.5

        def run(s=s, h0=h0, gen=gen, sigma=sigma):
            rollout(s.model, s.task, h0, n_steps, generator=gen, sigma_rec=sigma)

        found[name] = _pair(run, repeats=1)
    return found


def table(results: dict) -> str:
    lines = []
    for threads, parts in results["threads"].items():
        lines += [f"### {threads} thread{'s' if threads != '1' else ''}", "", "| work | float32 | bf16 | speed-up | "
                  "rel. error |", "|---|---|---|---|---|"]  # fmt: skip
        for part, items in parts.items():
            for name, r in items.items():
                err = f"{r['rel_error']:.1e}" if "rel_error" in r else ""
                unit, scale = ("ms", 1e3) if r["float32_s"] < 1 else ("s", 1)
                lines.append(
                    f"| {part}: {name} | {r['float32_s'] * scale:.2f} {unit} | {r['bf16_s'] * scale:.2f} {unit} | "
                    f"{r['speedup']:.2f}x | {err} |"
                )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a 1,000-step rollout")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "vm-2cpu-precision"))
    args = parser.parse_args()
    precision.check("bf16", CPU, key="this benchmark")  # a clear stop on a CPU without bf16 matrix units
    configure_process(training=True)
    repeats, n_steps = (3, 1000) if args.quick else (7, 10000)
    results = {
        "date": str(date.today()),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads available",
        "torch": torch.__version__,
        "command": "python benchmarks/precision.py" + (" --quick" if args.quick else ""),
        "rollout_steps": n_steps,
        "threads": {},
    }
    for threads in (1, 2):
        torch.set_num_threads(threads)
        start = time.perf_counter()
        results["threads"][str(threads)] = {
            "products": products(repeats * 3),
            "training step": steps(repeats),
            f"rollout {n_steps} steps": rollouts(n_steps),
        }
        print(f"threads {threads}: {time.perf_counter() - start:.0f} s", flush=True)
    Path(args.out + ".json").write_text(json.dumps(results, indent=1))
    header = (
        f"# bf16 vs float32 matrix products\n\n`{results['command']}`, {results['date']}, {results['machine']}, "
        f"torch {results['torch']}.\n\n"
    )
    Path(args.out + ".md").write_text(header + table(results))
    print(table(results))


if __name__ == "__main__":
    main()
