"""The picture of docs/loggers.md: one interrupted and resumed run's test loss as each logger holds it.

`python benchmarks/loggers_picture.py [--out docs/img/loggers_resume.png] [--steps 60 120]`

For ``logger=csv``, ``tensorboard`` and ``mlflow`` (those installed), trains the tiny HD biased network for the
second ``--steps`` value, interrupts it (SIGINT, as Ctrl-C does) once it has logged a test loss at the first,
resumes it with the same command, and reads the test loss back with each tool's own reader (the CSV file,
TensorBoard's ``EventAccumulator``, MLflow's client on the run's SQLite store). It draws each logger's curve over
``metrics.jsonl``'s and prints whether any step was held twice.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from reactivation import loggers  # noqa: E402
from reactivation.figures.style import new_figure, save  # noqa: E402

PRESET = "head_direction/noisy_biased"


def held(name: str, run_dir: Path, root: Path) -> list[tuple[int, float]]:
    """``(step, test loss)`` as logger ``name`` holds it, in the order it returns them (duplicates kept)."""
    if name == "csv":
        with open(run_dir / loggers.CSV_FILE, newline="") as f:
            return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f) if r["split"] == "test"]
    if name == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(run_dir / "tensorboard"))
        events.Reload()
        return [(e.step, e.value) for e in events.Scalars("test/loss")]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    run_id = json.loads((run_dir / loggers.MLFLOW_FILE).read_text())["run_id"]
    return [(m.step, m.value) for m in client.get_metric_history(run_id, "test/loss")]


def trained(name: str, root: Path, steps: tuple[int, int]) -> tuple[Path, int]:
    """The run of ``logger=name`` to ``steps[1]`` steps, interrupted (SIGINT, as Ctrl-C) once its metrics log holds a
    test entry at ``steps[0]`` or later, then resumed by the same command; and the last step the interrupted process
    logged."""
    overrides = [f"config={PRESET}", "seed=0", "scale=tiny", f"trainer.n_epochs={steps[1]}", "trainer.progress=false"]
    overrides += [f"path={root}", f"logger={name}", "device=cpu"]
    if name == "mlflow":
        overrides.append(f"logger.tracking_uri=sqlite:///{root / 'mlflow.db'}")
    command = [sys.executable, "-m", "reactivation", "train", *overrides]
    # the run's directory names its non-default settings (here trainer.n_epochs): found once it exists
    log = root / PRESET / f"trainer.n_epochs={steps[1]}" / "seed_0" / "metrics.jsonl"
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while first.poll() is None and not _logged_test_at(log, steps[0]):
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    first.wait()
    stopped = max(json.loads(line)["step"] for line in log.read_text().splitlines() if line.endswith("}"))
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return log.parent, stopped


def _logged_test_at(log: Path, step: int) -> bool:
    try:
        lines = log.read_text().splitlines()
    except OSError:
        return False
    return any('"test"' in line and json.loads(line).get("step", -1) >= step for line in lines if line.endswith("}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/loggers_resume.png"))
    parser.add_argument("--steps", type=int, nargs=2, default=(60, 120))
    args = parser.parse_args()
    torch.set_num_threads(1)
    installed = {n for n, package in loggers.LOGGERS.items() if package is None or importlib.util.find_spec(package)}
    names = [n for n in loggers.LOGGERS if n != "none" and n in installed]
    fig = new_figure(4.6, 3.0)
    ax = fig.subplots()
    reference = None
    for i, name in enumerate(names):
        with tempfile.TemporaryDirectory() as tmp:
            run_dir, stopped = trained(name, Path(tmp), tuple(args.steps))
            values = held(name, run_dir, Path(tmp))
            if reference is None:  # the run's own log: every logger's run is the same run (same seed and steps)
                lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
                reference = [(e["step"], e["loss"]) for e in lines if e["split"] == "test"]
        steps = [s for s, _ in values]
        twice = len(steps) - len(set(steps))
        print(f"{name}: interrupted after step {stopped}; {len(values)} test steps, {twice} held twice")
        ax.plot(steps, [v for _, v in values], "o", markersize=9 - 2.5 * i, fillstyle="none", label=name)
    assert reference is not None
    ax.plot(*zip(*reference), "k-", linewidth=0.8, label="metrics.jsonl")
    ax.axvline(args.steps[0], color="0.6", linestyle=":", label=f"interrupted after step {args.steps[0]}")
    ax.set(yscale="log", xlabel="training step", ylabel="test loss (MSE of the code)", title="one run, each logger")
    ax.legend(frameon=False, fontsize=7)
    save(fig, args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
