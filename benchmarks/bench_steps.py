"""The measured code paths of benchmarks/bench.py (and of gpu.py and ensemble.py, which import them): the library's
training step and the fused step of the same shapes, the quiescent rollout and its fused floor, FLOP counts, memory
and checkpoint sizes. Times are in seconds, memory in MB.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reactivation.config import compose_train  # noqa: E402
from reactivation.loading import build  # noqa: E402
from reactivation.quiescence import rollout  # noqa: E402
from reactivation.seeding import generator  # noqa: E402


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
    Times in seconds: ours, the fused forward of the same shapes, and our noise drawing alone.
    """
    s = _setup(preset, device, overrides)
    gen = generator(0, "analysis", s.device)
    batch = s.task.sample(200, gen)
    with torch.no_grad():
        h0 = s.model.initial_state(batch.init_code)
    seconds, rss = _our_rollout(s, h0, gen, steps, chunk, memory_mb, sync)
    fused = _fused_rollout(s, h0, steps, chunk, sync)
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


def _our_rollout(s, h0, gen, steps: int, chunk: int, memory_mb, sync) -> tuple[float, list[float]]:
    """(seconds, memory in MB after each chunk) of the library's noisy rollout (sqrt 2 sigma_rec) from ``h0``."""
    sync()
    rss = []
    start = time.perf_counter()
    h, done = h0, 0
    while done < steps:
        out = rollout(s.model, s.task, h, min(chunk, steps - done), generator=gen, sigma_rec=s.model.sigma_rec * 2**0.5)
        h, done = out.final_state, done + chunk
        rss.append(memory_mb())
    sync()
    return time.perf_counter() - start, rss


def _fused_rollout(s, h0, steps: int, chunk: int, sync) -> float:
    """Seconds of the fused floor: nn.RNN / nn.GRU forward over the same zero input, no grad, same chunks."""
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
    return time.perf_counter() - start


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
