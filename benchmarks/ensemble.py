"""Ensembles against separate runs: network-steps per second and peak memory of paper-size training steps.

    python benchmarks/ensemble.py                          # SN vanilla, SN GRU, HD at E = 1, 2, 4, 10, 20
    python benchmarks/ensemble.py --sizes 1 4 --steps 3    # a quicker look

For each network (the presets of benchmarks/bench.py, paper size) and ensemble size E, a fresh child process
builds E runs of different seeds (mixed noise: every other member has no recurrent noise) and times the training
loop's own step (reactivation.training: each member's batch from its stream, the stacked forward and backward,
torch Adam on the stacked parameters, the divergence check) at 2 threads; it reports the median step time and its
peak resident memory.
The baseline is the same network trained as separate single runs: one process at 2 threads, and two processes
at 1 thread each running at the same time (the best a 2-core machine does with separate runs). Throughput is
network-steps per second (E / step time); ratios are against the better baseline, measured in the same run.
The memory estimate of reactivation.ensembles.member_bytes is printed beside the measured growth per member.
Also profiles one ensemble step (HD, E = 10: the operators that take the time).

Writes ``benchmarks/results/<machine>-ensemble.{json,md}`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench import PRESETS  # noqa: E402
from reactivation.cli import configure_process  # noqa: E402
from reactivation.config import compose_train  # noqa: E402
from reactivation.ensembles import member_bytes  # noqa: E402
from reactivation.loading import build  # noqa: E402
from reactivation.training.networks import One, Stacked  # noqa: E402
from reactivation.training.run import Run  # noqa: E402


def _runs(preset: str, members: int, device: str = "cpu", overrides: tuple[str, ...] = ()) -> list[Run]:
    """``members`` runs of ``preset`` with seeds 0..E-1; odd members without recurrent noise (a mixed ensemble).

    ``overrides``: extra config overrides of every member (e.g. ``scale=tiny`` for a smoke test).
    """
    made = []
    for k in range(members):
        extra = ["rnn.sigma2_rec=0.0"] if k % 2 else []
        cfg = compose_train(
            [f"config={preset}", f"seed={k}", f"device={device}", "trainer.progress=false", *overrides, *extra]
        )
        run = Run(build(cfg), Path(tempfile.mkdtemp()), preset, k)
        run.zero_loss = 1.0
        made.append(run)
    return made


def step_function(preset: str, members: int, device: str = "cpu", overrides: tuple[str, ...] = ()):
    """The training loop's step for E members (E = 1: the single run's own path), and the networks it trains.

    Also timed on a GPU by benchmarks/gpu.py.
    """
    group = _runs(preset, members, device, overrides)
    networks = Stacked(group) if members > 1 else One(group[0])

    def step() -> None:
        batches = [run.sample() for run in networks.runs]
        losses = networks.losses(networks.forward(batches, "train_noise"), batches)
        networks.update(losses)
        networks.healthy(losses.detach())

    return step, networks


def child(preset: str, members: int, threads: int, steps: int, profile: bool) -> dict:
    """Time ``steps`` steps (after one warm-up) in this process; its peak memory; optionally a profile."""
    torch.set_num_threads(threads)
    configure_process(training=True)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    step, networks = step_function(preset, members)
    step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {"step_s": statistics.median(times), "times": times, "peak_bytes": peak, "base_bytes": base}
    if profile:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            step()
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)
        out["profile"] = table
    out["estimate_bytes"] = member_bytes(networks.runs[0].cfg)
    return out


def _spawn(preset: str, members: int, threads: int, steps: int, profile: bool = False) -> subprocess.Popen:
    args = [sys.executable, __file__, "--child", preset, str(members), str(threads), str(steps)]
    return subprocess.Popen([*args, *(["--profile"] if profile else [])], stdout=subprocess.PIPE, text=True)


def _collect(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}): {proc.args}")
    return json.loads(out.strip().splitlines()[-1])


def measure(name: str, preset: str, sizes: list[int], steps: int) -> dict:
    """Baselines (one process at 2 threads; two at 1 thread at once) and each ensemble size, for one network."""
    print(f"{name}: single run, 2 threads", file=sys.stderr)
    one = _collect(_spawn(preset, 1, 2, steps))
    print(f"{name}: two single runs at 1 thread each, at once", file=sys.stderr)
    pair = [_collect(p) for p in [_spawn(preset, 1, 1, steps), _spawn(preset, 1, 1, steps)]]
    baselines = {
        "one process, 2 threads": 1 / one["step_s"],
        "two processes, 1 thread each": sum(1 / r["step_s"] for r in pair),
    }
    best = max(baselines.values())
    rows = {}
    for members in sizes:
        print(f"{name}: ensemble of {members}, 2 threads", file=sys.stderr)
        found = _collect(_spawn(preset, members, 2, steps, profile=(name == "HD vanilla" and members == 10)))
        found["throughput"] = members / found["step_s"]
        found["ratio"] = found["throughput"] / best
        rows[members] = found
    return {"preset": preset, "baselines": baselines, "single": one, "pair": pair, "ensembles": rows}


def markdown(results: dict, command: str) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        f"# Ensembles against separate runs ({date.today()}, {platform.node()}, {cpu}, torch {torch.__version__})",
        "",
        f"Command: `{command}`. Paper-size training steps (the library's loop step), medians; each row in a fresh",
        "process. Throughput = network-steps per second; ratio = against the better of the two single-run baselines.",
        "",
    ]
    for name, r in results.items():
        b = r["baselines"]
        lines += [
            f"## {name} (`{r['preset']}`)",
            "",
            f"Single runs: {b['one process, 2 threads']:.2f} network-steps/s (one process, 2 threads), "
            f"{b['two processes, 1 thread each']:.2f} (two processes, 1 thread each).",
            "",
            "| E | step | network-steps/s | ratio | peak memory | growth per member (measured / estimate) |",
            "|---|---|---|---|---|---|",
        ]
        sizes = sorted(r["ensembles"], key=int)
        for members in sizes:
            e = r["ensembles"][members]
            first = r["ensembles"][sizes[0]]
            more = int(members) - int(sizes[0])
            grow = (e["peak_bytes"] - first["peak_bytes"]) / more if more > 0 else None
            grow_text = f"{grow / 2**20:.0f} / {e['estimate_bytes'] / 2**20:.0f} MiB" if grow else "-"
            lines.append(
                f"| {members} | {e['step_s'] * 1e3:.0f} ms | {e['throughput']:.2f} | {e['ratio']:.2f}x | "
                f"{e['peak_bytes'] / 2**30:.2f} GiB | {grow_text} |"
            )
        lines.append("")
        for members in sizes:
            if "profile" in r["ensembles"][members]:
                profile = r["ensembles"][members]["profile"]
                lines += [f"Profile of one step at E = {members}:", "", "```", profile, "```", ""]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        preset, members, threads, steps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(child(preset, members, threads, steps, "--profile" in sys.argv)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 10, 20])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement (after one warm-up)")
    parser.add_argument("--networks", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--out", default=None, help="output stem (default benchmarks/results/<machine>-ensemble)")
    args = parser.parse_args()
    results = {name: measure(name, PRESETS[name], args.sizes, args.steps) for name in args.networks}
    stem = Path(args.out or ROOT / "benchmarks" / "results" / f"{platform.node() or 'machine'}-ensemble")
    command = "python benchmarks/ensemble.py " + " ".join(sys.argv[1:])
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1))
    text = markdown(results, command.strip())
    stem.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
