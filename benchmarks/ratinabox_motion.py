"""The two motion models of spatial navigation side by side (docs/ratinabox.md): ``task.motion=generator`` (the
built-in walk) and ``task.motion=ratinabox`` (windows of a RatInABox Agent trajectory bank), at the task's defaults.

`python benchmarks/ratinabox_motion.py [--seed 0] [--note TEXT] [--out FILE.md] [--figure FILE.png]`

Simulates as much motion with each model as the default bank holds (20 walkers x 2,000 steps of 0.02 s), and
compares step length, speed persistence, turning, heading persistence, time near the walls and occupancy; then,
from training-size batches (200 windows of 101 steps), the drift of ``biased=true`` and the time to draw a batch;
and the time to build the bank. Markdown to stdout, and to ``--out`` if given (``--note``: what else ran on the
machine, written beside its description); ``--figure`` writes example trajectories and the step-length and turn
histograms.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from reactivation.seeding import generator  # noqa: E402
from reactivation.tasks import SpatialNavigationTask, build_task  # noqa: E402
from reactivation.tasks import ratinabox_motion as rib  # noqa: E402

MODELS = ("generator", "ratinabox")
LAGS_S = (0.1, 0.5, 1.0)  # heading persistence lags, s


def task(motion: str, seed: int, **values: object) -> SpatialNavigationTask:
    """The default SN task with ``motion``, its bank seeded as a run of ``seed`` would seed it (x, y read out)."""
    built = build_task(
        {"name": "spatial_navigation", "use_place_cells": False, "motion": motion, **values}, generator(seed, "centres")
    )
    assert isinstance(built, SpatialNavigationTask)
    return built


def long_paths(seed: int) -> tuple[dict[str, np.ndarray], float]:
    """(walkers, steps + 1, 2) positions, metres, of each model (the bank's size), and the bank's build time, s."""
    bank_task = task("ratinabox", seed)
    assert bank_task.bank is not None
    spec = bank_task.bank.spec
    start = time.perf_counter()
    bank = rib.simulate_bank(spec)  # the first build in this process: the time a run spends on it
    built = time.perf_counter() - start
    walk = task("generator", seed, sequence_length=spec.steps - 1)
    positions, _ = walk.simulate(spec.agents, generator(seed, "train_batches"))
    return {"generator": positions.double().numpy(), "ratinabox": bank.numpy()}, built


def motion_stats(pos: np.ndarray, half: np.ndarray, dt: float) -> dict[str, float]:
    """Statistics of (N, T, 2) positions in a box of half sides ``half`` (m) sampled every ``dt`` s."""
    step = np.diff(pos, axis=1)
    length = np.linalg.norm(step, axis=-1)
    heading = np.arctan2(step[..., 1], step[..., 0])
    turn = np.angle(np.exp(1j * np.diff(heading, axis=1)))
    lag = round(0.5 / dt)
    speed_corr = np.corrcoef(length[:, :-lag].ravel(), length[:, lag:].ravel())[0, 1]
    wall = np.min(half - np.abs(pos), axis=-1)
    far = wall[:, :-1] > 0.6  # steps from positions far from every wall
    bins = [np.linspace(-h, h, 12) for h in half]  # 11 x 11 bins of 0.2 m
    counts, _, _ = np.histogram2d(pos[..., 0].ravel(), pos[..., 1].ravel(), bins=bins)
    p = counts.ravel() / counts.sum()
    out = {
        "step length mean (cm)": 100 * length.mean(),
        "step length sd (cm)": 100 * length.std(),
        "step length mean > 0.6 m from the walls (cm)": 100 * length[far].mean(),
        "speed correlation at 0.5 s": speed_corr,
        "turn per step sd (rad)": turn.std(),
        "turn per step mean absolute (rad)": np.abs(turn).mean(),
    }
    for seconds in LAGS_S:
        k = round(seconds / dt)
        out[f"heading persistence: mean cos of its change over {seconds:g} s"] = np.cos(
            heading[:, k:] - heading[:, :-k]
        ).mean()
    out |= {
        "time < 0.03 m from a wall": (wall < 0.03).mean(),
        "time < 0.1 m from a wall": (wall < 0.1).mean(),
        "time outside the box": (wall < 0).mean(),
        "occupancy KL to uniform, 0.2 m bins (nats)": float(np.sum(p[p > 0] * np.log(p[p > 0] * p.size))),
        "time in the central quarter (uniform 0.25)": (np.abs(pos) < half / 2).all(axis=-1).mean(),
    }
    return out


def batch_stats(seed: int) -> dict[str, dict[str, float]]:
    """Training-size batches: the drift's pull (distance to the anchor at the last step, biased and not) and the
    median time to draw a batch, for each model (the bank already built)."""
    out: dict[str, dict[str, float]] = {m: {} for m in MODELS}
    for motion in MODELS:
        for biased in (False, True):
            t = task(motion, seed, biased=biased)
            g = generator(seed, "test_batch")
            latent = t.sample(200, g).latent
            times = []
            for _ in range(5):
                start = time.perf_counter()
                t.sample(200, g)
                times.append(time.perf_counter() - start)
            name = "biased" if biased else "unbiased"
            out[motion][f"{name}: distance to anchor at the last step (m)"] = latent[:, -1].norm(dim=-1).mean().item()
            outside = (latent.abs() > torch.tensor([t.box_width, t.box_height]) / 2).any(dim=-1)
            out[motion][f"{name}: time outside the box"] = outside.double().mean().item()
            out[motion][f"{name}: ms to draw a batch (200 x 101 steps)"] = 1000 * statistics.median(times)
    return out


def figure(paths: dict[str, np.ndarray], path: Path, dt: float) -> None:
    """One walker's first 10 s under each model, and the step-length and turn histograms of all of them."""
    import logging

    import matplotlib

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # not its search for the mathtext fonts
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"generator": "tab:blue", "ratinabox": "tab:orange"}
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.1), dpi=90)
    for ax, motion in zip(axes[:2], MODELS):
        xy = paths[motion][0, : round(10 / dt) + 1]
        ax.plot(xy[:, 0], xy[:, 1], lw=0.7, color=colours[motion])
        ax.plot(*xy[0], "k.", ms=6)
        ax.add_patch(plt.Rectangle((-1.1, -1.1), 2.2, 2.2, fill=False, lw=1, color="k"))
        ax.set(xlim=(-1.15, 1.15), ylim=(-1.15, 1.15), aspect="equal", xticks=[-1, 0, 1], yticks=[-1, 0, 1])
        ax.set_title(f"motion={motion}: 10 s", fontsize=9)
    for motion in MODELS:
        step = np.diff(paths[motion], axis=1)
        length = 100 * np.linalg.norm(step, axis=-1).ravel()
        heading = np.arctan2(step[..., 1], step[..., 0])
        turn = np.angle(np.exp(1j * np.diff(heading, axis=1))).ravel()
        kw = {"histtype": "step", "density": True, "color": colours[motion], "label": motion}
        axes[2].hist(length, bins=np.linspace(0, 7, 71), **kw)
        axes[3].hist(turn, bins=np.linspace(-np.pi, np.pi, 91), log=True, **kw)
    axes[2].set(xlabel="step length (cm per 0.02 s)", ylabel="density", title="step length")
    axes[3].set(xlabel="heading change per step (rad)", title="turning")
    axes[3].legend(fontsize=8, frameon=False)
    for ax in axes:
        ax.tick_params(labelsize=8)
        ax.title.set_fontsize(9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="what else ran on the machine, for the record")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    paths, built = long_paths(args.seed)
    defaults = SpatialNavigationTask.config_defaults()
    half, dt = np.array([defaults["box_width"], defaults["box_height"]]) / 2, defaults["dt"]
    stats = {m: motion_stats(paths[m], half, dt) for m in MODELS}
    batches = batch_stats(args.seed)
    shape = paths["ratinabox"].shape
    note = f", {args.note}" if args.note else ""
    lines = [
        f"# Motion models: generator against RatInABox, seed {args.seed}",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores{note}, "
        f"{datetime.date.today()}, torch {torch.__version__}, 1 thread. Command: "
        f"`python benchmarks/ratinabox_motion.py --seed {args.seed}`.",
        "",
        f"Long paths: {shape[0]} walkers x {shape[1] - 1} steps of {dt} s per model (the default bank's size).",
        "",
        "| statistic | generator | ratinabox |",
        "|---|---|---|",
        *(f"| {k} | {stats['generator'][k]:.3g} | {stats['ratinabox'][k]:.3g} |" for k in stats["generator"]),
        "",
        "Training-size batches (200 windows of 101 steps; the bank built first):",
        "",
        "| statistic | generator | ratinabox |",
        "|---|---|---|",
        *(f"| {k} | {batches['generator'][k]:.3g} | {batches['ratinabox'][k]:.3g} |" for k in batches["generator"]),
        "",
        f"Building the bank ({shape[0]} x {shape[1] - 1} RatInABox Agent updates): {built:.1f} s, "
        f"{1e6 * built / (shape[0] * (shape[1] - 1)):.0f} us per update.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.figure:
        figure(paths, args.figure, dt)


if __name__ == "__main__":
    main()
