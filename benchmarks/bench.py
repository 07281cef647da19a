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
import io
import json
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reactivation.cli import configure_process  # noqa: E402
from reactivation.config import compose_train  # noqa: E402
from reactivation.loading import build  # noqa: E402
from reactivation.quiescence import rollout  # noqa: E402
from reactivation.seeding import generator  # noqa: E402

PRESETS = {
    "SN vanilla": "spatial_navigation/noisy_unbiased",
    "SN GRU": "spatial_navigation/noisy_unbiased_gru",
    "HD vanilla": "head_direction/noisy_unbiased",
}


def _interleaved_medians(fns, repeats: int, warmup: int = 1) -> list[float]:
    """Median time of each function, timed in turn (a, b, c, a, b, c, ...) so that a shared machine's drift
    affects all of them alike and their ratios stay meaningful."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def _median_time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _setup(preset: str, device: str = "cpu", overrides: tuple[str, ...] = ()):
    """The preset's Setup (seed 0) on ``device``; ``overrides`` are extra config overrides (e.g. smaller sizes)."""
    return build(compose_train([f"config={preset}", "seed=0", f"device={device}", *overrides]))


def training_step(preset: str, device: str = "cpu", overrides: tuple[str, ...] = ()):
    """A closure running one full training step of the library (generation + forward + backward + Adam)."""
    s = _setup(preset, device, overrides)
    opt = torch.optim.Adam(s.model.parameters(), lr=1e-3)
    gen_b, gen_n = generator(0, "train_batches", s.device), generator(0, "train_noise", s.device)
    batch_size = s.config.task.batch_size

    def step():
        batch = s.task.sample(batch_size, gen_b)
        _, out = s.model(batch.inputs, batch.init_code, generator=gen_n)
        loss = torch.mean((out - batch.targets) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, s


def fused_step(setup, device: str = "cpu"):
    """The same shapes through torch.nn.RNN / nn.GRU (no noise), readout, MSE and Adam: the reference floor."""
    cfg, task = setup.config, setup.task
    kind = torch.nn.GRU if cfg.rnn.model == "gru" else torch.nn.RNN
    kwargs = {} if kind is torch.nn.GRU else {"nonlinearity": "relu"}
    rnn = kind(cfg.rnn.n_in, cfg.rnn.n_rec, bias=False, batch_first=True, **kwargs).to(device)
    encoder = torch.nn.Linear(cfg.rnn.n_init, cfg.rnn.n_rec, bias=False).to(device)
    readout = torch.nn.Linear(cfg.rnn.n_rec, cfg.rnn.n_out, bias=False).to(device)
    params = [*rnn.parameters(), *encoder.parameters(), *readout.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    batch = task.sample(cfg.task.batch_size, generator(0, "train_batches", setup.device))  # fixed: model only

    def step():
        hidden, _ = rnn(batch.inputs, encoder(batch.init_code).unsqueeze(0))
        loss = torch.mean((readout(hidden) - batch.targets) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def matmul_rate(n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matrix-product rate, FLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / _median_time(lambda: a @ b, repeats)


def step_flops(setup) -> float:
    """Multiply-adds x 2 of one training step: forward products, and twice that for backward."""
    cfg = setup.config
    b, t, n = cfg.task.batch_size, cfg.task.sequence_length, cfg.rnn.n_rec
    gates = 3 if cfg.rnn.model == "gru" else 1
    forward = 2 * b * t * (gates * n * n + gates * n * cfg.rnn.n_in + n * cfg.rnn.n_out) + 2 * b * cfg.rnn.n_init * n
    return 3 * forward


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def rollout_item(
    preset: str,
    steps: int,
    chunk: int = 500,
    device: str = "cpu",
    overrides: tuple[str, ...] = (),
    memory_mb=rss_mb,
    sync=lambda: None,
) -> dict:
    """Quiescent rollout of 200 trajectories (no grad), with the memory after each chunk (growth check).

    ``memory_mb`` is the memory measure in MB (default: this process's RSS; benchmarks/gpu.py passes the device's
    allocated memory) and ``sync`` waits for the device's queued work before a clock is read (a no-op on CPU).
    """
    s = _setup(preset, device, overrides)
    gen = generator(0, "analysis", s.device)
    batch = s.task.sample(200, gen)
    with torch.no_grad():
        h0 = s.model.initial_state(batch.init_code)
    sync()
    rss = []
    start = time.perf_counter()
    h, done = h0, 0
    while done < steps:
        out = rollout(s.model, s.task, h, min(chunk, steps - done), generator=gen, sigma_rec=s.model.sigma_rec * 2**0.5)
        h, done = out.final_state, done + chunk
        rss.append(memory_mb())
    sync()
    seconds = time.perf_counter() - start
    # The fused floor: nn.RNN/nn.GRU forward over the same zero input, no grad, same chunks.
    kind = torch.nn.GRU if s.config.rnn.model == "gru" else torch.nn.RNN
    rnn = kind(
        s.config.rnn.n_in,
        s.config.rnn.n_rec,
        bias=False,
        batch_first=True,
        **({} if kind is torch.nn.GRU else {"nonlinearity": "relu"}),
    ).to(s.device)
    readout = torch.nn.Linear(s.config.rnn.n_rec, s.config.rnn.n_out, bias=False).to(s.device)
    zeros = torch.zeros(200, chunk, s.config.rnn.n_in, device=s.device)
    sync()
    start = time.perf_counter()
    with torch.no_grad():
        hf = h0.unsqueeze(0)
        for _ in range(0, steps, chunk):
            states, hf = rnn(zeros, hf)
            s.task.decode(readout(states))
    sync()
    fused = time.perf_counter() - start
    # The noise the fused reference does not draw: sigma_rec * N(0, 1) for every unit and step, drawn alone.
    start = time.perf_counter()
    for _ in range(0, steps, chunk):
        s.model.sample_noise(200, chunk, gen, sigma_rec=s.model.sigma_rec * 2**0.5)
    sync()
    noise = time.perf_counter() - start
    return {
        "seconds": seconds,
        "fused_seconds": fused,
        "ratio": seconds / fused,
        "noise_seconds": noise,
        "ratio_without_noise": (seconds - noise) / fused,
        "rss_mb_first": rss[0],
        "rss_mb_last": rss[-1],
        "rss_growth_mb": rss[-1] - rss[0],
    }


def checkpoint_mb(setup) -> dict:
    buf = io.BytesIO()
    torch.save({"model": setup.model.state_dict(), "task": setup.task.state_dict()}, buf)
    weights = buf.tell() / 2**20
    opt = torch.optim.Adam(setup.model.parameters())
    sum(p.sum() for p in setup.model.parameters()).backward()
    opt.step()
    buf = io.BytesIO()
    torch.save({"model": setup.model.state_dict(), "task": setup.task.state_dict(), "optimizer": opt.state_dict()}, buf)
    return {"step_checkpoint_mb": weights, "resume_checkpoint_mb": buf.tell() / 2**20}


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
