"""The timings of benchmarks/gpu.py: bench.py's table on a device, ensembles, CUDA graphs and ``torch.compile``.

Every time is a median of synced calls after warm-up (:class:`Clock`), every memory figure the device's peak
allocation of the item alone (``None`` on CPU).
"""

from __future__ import annotations

import gc
import math
import sys
import time
from collections.abc import Callable
from dataclasses import fields
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

from reactivation.ensembles import member_bytes  # noqa: E402
from reactivation.models.noise import NoiseSample  # noqa: E402
from reactivation.quiescence import rollout  # noqa: E402
from reactivation.seeding import generator  # noqa: E402

PRESETS = bench.PRESETS  # table name -> preset

#: Rollout chunk of the timings (as in bench.py and the analyses) and of the CUDA graph.
CHUNK = 500
ROLLOUT_BATCH = 200


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

    def seconds(self, fn: Callable[[], Any]) -> float:
        """Seconds of one call of ``fn``, synced before and after."""
        self.sync()
        start = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - start


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


# ---------------------------------------------------------------------------------------------------------------
# CUDA graph of the quiescent rollout chunk


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


class _GraphedChunk:
    """One chunk's no-grad forward of ``model`` captured as a CUDA graph over static buffers: the zero input, the
    chunk's noise (refilled from ``gen`` at ``sigma`` before each replay, as the library draws it) and the state
    ``h`` carried between chunks (B, n_rec)."""

    def __init__(self, model, h0: Tensor, chunk: int, gen: torch.Generator, sigma: float, clock: Clock) -> None:
        self.model, self.gen, self.sigma, self.chunk = model, gen, sigma, chunk
        self.zeros = torch.zeros(ROLLOUT_BATCH, chunk, model.n_in, device=h0.device)
        self.h = h0.clone()
        self.noise = model.sample_noise(ROLLOUT_BATCH, chunk, gen, sigma_rec=sigma)
        side = torch.cuda.Stream()  # warm up on a side stream before capture, as the CUDA graph docs ask
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                model(self.zeros, h0=self.h, noise=self.noise)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        start = time.perf_counter()
        with torch.cuda.graph(self.graph):
            self.states, self.out = model(self.zeros, h0=self.h, noise=self.noise)
        clock.sync()
        self.capture_s = time.perf_counter() - start

    def refill(self) -> None:
        fresh = self.model.sample_noise(ROLLOUT_BATCH, self.chunk, self.gen, sigma_rec=self.sigma)
        for f in fields(NoiseSample):
            if getattr(self.noise, f.name) is not None:
                getattr(self.noise, f.name).copy_(getattr(fresh, f.name))

    def replay_vs_eager(self) -> dict:
        """One replay against the eager forward on the same buffers (:func:`_difference` of the states)."""
        self.refill()
        self.graph.replay()
        eager_states, _ = self.model(self.zeros, h0=self.h, noise=self.noise)
        return _difference(eager_states, self.states)

    def rollout(self, task, steps: int) -> list[Tensor]:
        """Replay ``steps // chunk`` chunks from the state in ``h``, each decoded latent sent to the host as
        rollout() does: a list of (B, chunk, latent) CPU tensors."""
        decoded = []
        for _ in range(steps // self.chunk):
            self.refill()
            self.graph.replay()
            self.h.copy_(self.states[:, -1])
            decoded.append(task.decode(self.out).cpu())  # as rollout(): the decoded latents go to the host
        return decoded


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
    eager = clock.seconds(lambda: rollout(model, task, h0, steps, generator=gen, sigma_rec=sigma, chunk=chunk))

    clock.fresh()
    with torch.no_grad():
        graphed = _GraphedChunk(model, h0, chunk, gen, sigma, clock)
        replay_diff = graphed.replay_vs_eager()
        graphed.h.copy_(h0)
        decoded: list[Tensor] = []
        graph_s = clock.seconds(lambda: decoded.extend(graphed.rollout(task, steps)))
    finite = bool(torch.isfinite(torch.cat(decoded, dim=1)).all() and torch.isfinite(graphed.h).all())
    return {
        "eager_s": eager,
        "graph_s": graph_s,
        "speedup": eager / graph_s,
        "capture_s": graphed.capture_s,
        "replay_vs_eager": replay_diff,
        "finite": finite,
        "peak_mb": clock.peak_mb(),
        "steps": steps,
    }


# ---------------------------------------------------------------------------------------------------------------
# torch.compile


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
    first = clock.seconds(step)
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
    result.update(_graph_breaks())
    return result


def _graph_breaks() -> dict:
    """``{"graph_breaks": count, "graph_break_reasons": the first 5}`` from dynamo's counters, or an "unknown"."""
    try:
        from torch._dynamo.utils import counters

        breaks = counters["graph_break"]
        return {
            "graph_breaks": sum(breaks.values()),
            "graph_break_reasons": [" ".join(str(reason).split())[:200] for reason in list(breaks)[:5]],
        }
    except Exception as err:  # noqa: BLE001 - counters are internal: their absence must not fail the item
        return {"graph_breaks": f"unknown ({type(err).__name__})"}
