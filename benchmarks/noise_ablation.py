"""How does a biased HD network's quiescent angular velocity depend on the noise distribution?

`python benchmarks/noise_ablation.py [--steps 6000] [--seeds 0] [--every 1000]`

For each ``rnn.noise_dist`` (gaussian: the nominal σ; uniform: the published code's σ·U[0,1), mean σ/2 and std
σ/√12; gaussian_matched: zero mean, std σ/√12) and seed, trains head_direction/noisy_biased for ``--steps`` steps at
paper size (finished runs are reused, interrupted ones resume), then measures at every ``--every``-th checkpoint
the test decoding error and the mean signed quiescent angular velocity (rad/step, the distance analysis's
``quiescent_velocity``, paper sizes: 200 trajectories, 1000 quiescent steps, ``scaled`` mode) and writes
benchmarks/results/<stem>.md and .json. Measuring a checkpoint again is skipped when its value is in the JSON.

Only the one preset is trained, so this is not a reproduction run: for claims 1-6 side by side under the three
noise settings use ``reactivation reproduce 'variants={...}'`` (docs/reproduce.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reactivation import runs  # noqa: E402
from reactivation.analysis import lookup  # noqa: E402
from reactivation.evidence import campaign  # noqa: E402

DISTS = ("gaussian", "uniform", "gaussian_matched")
PRESET = "head_direction/noisy_biased"


def _overrides(dist: str, steps: int) -> list[str]:
    return [f"rnn.noise_dist={dist}", f"trainer.n_epochs={steps}"]


def train(dist: str, seeds: list[int], steps: int, path: Path) -> None:
    command = [sys.executable, "-m", "reactivation", "train", "-m", f"config={PRESET}"]
    command += [f"seed={','.join(map(str, seeds))}", f"path={path}", "trainer.progress=false"]
    subprocess.run([*command, *_overrides(dist, steps)], check=True)


def measure(dist: str, seed: int, steps: int, epoch: int, path: Path) -> dict[str, float]:
    """Test decoding error (rad²) and the distance analysis's step statistics of one checkpoint."""
    run_dir = lookup.find_run(path, PRESET, seed, _overrides(dist, steps), epoch)
    return campaign.measure(run_dir, seed, epoch)


def markdown(found: dict) -> str:
    lines = [
        "| noise | seed | step | test error (rad²) | quiescent angular velocity (rad/step) | quiescent step (rad) |",
        "|---|---|---|---|---|---|",
    ]
    for dist, by_seed in found.items():
        for seed, by_step in by_seed.items():
            for step, e in sorted(by_step.items(), key=lambda kv: int(kv[0])):
                lines.append(
                    f"| {dist} | {seed} | {step} | {e['hd_mse']:.3g} | {e['quiescent_velocity']:+.4f} | "
                    f"{e['quiescent']:.4f} |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--every", type=int, default=1000, help="steps between measured checkpoints")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--dists", nargs="+", default=list(DISTS), choices=DISTS)
    parser.add_argument("--path", type=Path, default=Path("results/noise_ablation"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "vm-2cpu-noise-ablation"))
    args = parser.parse_args()
    if args.every <= 0 or args.every % 100 or args.steps % args.every:
        # checkpoints and test evaluations are every 100 steps (trainer.save_freq, trainer.test_freq)
        parser.error(f"--every ({args.every}) must be a multiple of 100 that divides --steps ({args.steps})")
    path, out = args.path.resolve(), Path(args.out + ".json")
    found: dict = json.loads(out.read_text()) if out.exists() else {}
    for dist in args.dists:
        train(dist, args.seeds, args.steps, path)
        for seed in args.seeds:
            done = found.setdefault(dist, {}).setdefault(str(seed), {})
            for epoch in range(args.every, args.steps + 1, args.every):
                if str(epoch) not in done:
                    done[str(epoch)] = measure(dist, seed, args.steps, epoch, path)
                    runs.write_text_atomic(out, json.dumps(found, indent=1))  # a stop keeps what was measured
    text = f"# Noise-distribution ablation, {PRESET}, {args.steps} steps\n\n`{' '.join(sys.argv)}`\n\n"
    runs.write_text_atomic(Path(args.out + ".md"), text + markdown(found) + "\n")
    print(markdown(found))


if __name__ == "__main__":
    main()
