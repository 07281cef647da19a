"""What an experiment logger costs a training run (docs/loggers.md): wall time per step with each ``logger=``.

`python benchmarks/loggers.py [--preset head_direction/noisy_biased] [--steps 300] [--repeats 2] [--out FILE]`

Trains the same run (seed 0, paper widths, a fresh directory each time) for ``--steps`` steps with ``logger=none``,
``csv``, ``tensorboard`` and ``mlflow`` (a fresh SQLite store each time), interleaved ``--repeats`` times so that
load from other work falls on all four alike, and prints the median seconds per step of each and its ratio to
``none``. Loggers whose package is missing are left out. Markdown to stdout, and to ``--out`` if given.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from reactivation import loggers  # noqa: E402
from reactivation.config import compose_train  # noqa: E402
from reactivation.training import train  # noqa: E402


def seconds_per_step(preset: str, logger: str, steps: int, root: Path) -> float:
    """Wall time of one training run of ``steps`` steps with ``logger``, per step (s)."""
    overrides = [f"config={preset}", "seed=0", f"trainer.n_epochs={steps}", "trainer.progress=false"]
    overrides += [f"path={root}", f"logger={logger}"]
    if logger == "mlflow":
        overrides.append(f"logger.tracking_uri=sqlite:///{root / 'mlflow.db'}")
    start = time.perf_counter()
    train(compose_train(overrides), root / "run", preset=preset)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="head_direction/noisy_biased")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = [n for n, package in loggers.LOGGERS.items() if package is None or importlib.util.find_spec(package)]
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.repeats):
        for name in names:
            with tempfile.TemporaryDirectory() as tmp:
                times[name].append(seconds_per_step(args.preset, name, args.steps, Path(tmp)))
    base = statistics.median(times["none"])
    lines = [
        f"# Logger cost: {args.preset}, {args.steps} steps, {args.repeats} interleaved repeats",
        "",
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread. "
        f"Command: `python benchmarks/loggers.py --preset {args.preset} --steps {args.steps} "
        f"--repeats {args.repeats}`.",
        "",
        "| logger | median s/step | ratio to none |",
        "|---|---|---|",
        *(f"| {n} | {statistics.median(t):.4f} | {statistics.median(t) / base:.3f} |" for n, t in times.items()),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
