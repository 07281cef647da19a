"""What the divergence guard costs: its per-step check and its per-checkpoint noise-free forward, against a step.

    python benchmarks/guard.py                 # SN vanilla, SN GRU and HD at paper size, 2 threads (about 2 min)
    python benchmarks/guard.py --threads 1

The guard (reactivation.training.loop, after each update and before each checkpoint) checks that the loss and
every weight are finite and the loss under 1e4 x that of zero outputs (one device sync), and before every
checkpoint runs the test batch once without noise. Both are timed interleaved with a whole training step of the
same run (the
library's own step: batch generation, forward, backward, Adam), in one process, and reported as ratios.
Writes ``benchmarks/results/<machine>-guard.md``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench import PRESETS, _interleaved_medians  # noqa: E402
from reactivation.cli import configure_process  # noqa: E402
from reactivation.config import compose_train  # noqa: E402
from reactivation.loading import build  # noqa: E402
from reactivation.seeding import generator  # noqa: E402
from reactivation.training.divergence import healthy  # noqa: E402
from reactivation.training.losses import mse  # noqa: E402
from reactivation.training.networks import One  # noqa: E402
from reactivation.training.run import Run  # noqa: E402


def measure(preset: str, repeats: int) -> dict[str, float]:
    """Median seconds of a training step, the per-step check and the checkpoint's noise-free forward."""
    cfg = compose_train([f"config={preset}", "seed=0", "device=cpu", "trainer.progress=false"])
    run = Run(build(cfg), Path(tempfile.mkdtemp()), preset)
    run.test_batch = run.task.sample(cfg.task.batch_size, generator(0, "test_batch"))
    run.zero_loss = torch.mean(run.test_batch.targets**2).item()
    loss = torch.tensor(1e-4)
    network = One(run)

    def train_step() -> None:  # what the loop does for a step before its check
        batches = [run.sample()]
        network.update(network.losses(network.forward(batches, "train_noise"), batches))

    def check() -> None:
        healthy(loss, run.zero_loss, run.params).item()

    def noise_free_forward() -> None:
        with torch.no_grad():
            _, outputs = run.model(
                run.test_batch.inputs, run.test_batch.init_code, sigma_in=0.0, sigma_rec=0.0, sigma_out=0.0
            )
            healthy(mse(outputs, run.test_batch.targets), run.zero_loss, run.params).item()

    step, per_step, per_save = _interleaved_medians([train_step, check, noise_free_forward], repeats)
    every = cfg.trainer.save_freq
    return {
        "step_s": step,
        "check_s": per_step,
        "save_check_s": per_save,
        "save_freq": every,
        "overhead": (per_step + per_save / every) / step,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    configure_process(training=True)
    torch.set_num_threads(args.threads)
    rows = {name: measure(preset, args.repeats) for name, preset in PRESETS.items()}
    machine = f"{platform.node() or 'machine'}-{torch.get_num_threads()}cpu"
    cpu = platform.processor() or platform.machine()
    lines = [
        f"# Divergence guard overhead ({date.today()}, {platform.platform()}, {cpu}, torch {torch.__version__}, "
        f"{args.threads} threads)",
        "",
        f"Command: `python benchmarks/guard.py --threads {args.threads} --repeats {args.repeats}`; medians of "
        "interleaved repeats in one process.",
        "",
        "| network | training step | per-step check | checkpoint check (every save_freq steps) | guard / step |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['step_s'] * 1e3:.0f} ms | {r['check_s'] * 1e3:.2f} ms | "
            f"{r['save_check_s'] * 1e3:.0f} ms (every {r['save_freq']}) | {100 * r['overhead']:.2f} % |"
        )
    text = "\n".join(lines) + "\n"
    out = ROOT / "benchmarks" / "results" / f"{machine}-guard.md"
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
