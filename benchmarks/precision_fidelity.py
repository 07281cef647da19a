"""Do the paper's results survive bf16 matrix products? `python benchmarks/precision_fidelity.py [--seeds 0 1 2]`.

For each precision (float32, bf16) and seed: trains the four SN vanilla presets for 1000 steps at paper size with
``trainer.matmul_precision=<precision>`` (finished runs are reused, interrupted ones resume), runs the four
analyses at full size with the same ``matmul_precision`` for their rollouts (reused when done), then writes
benchmarks/results/<stem>.md and .json: the learning curves (test loss and decoding error at every evaluation) and
every statistic of claims 1-4 (docs/spec.md §9) side by side, with the difference between the precisions.

Run from the checkout; results go under ``--path`` (default results/precision).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reactivation import ReactivationError  # noqa: E402
from reactivation.analysis import claims, lookup  # noqa: E402
from reactivation.analysis.results import read_result, read_test_metrics  # noqa: E402
from reactivation.analysis.settings import FAMILIES, compose_analysis, settings  # noqa: E402

MODES = ("float32", "bf16")
KINDS = ("kl", "variance", "distance", "manifold")
STEPS = 1000
FAMILY = ("spatial_navigation", "vanilla")


def _overrides(mode: str) -> list[str]:
    return [f"trainer.n_epochs={STEPS}", f"trainer.matmul_precision={mode}"]


def _settings(kind: str, mode: str, seed: int, path: Path):
    return settings(
        compose_analysis(kind, "paper", *FAMILY, seed, path=str(path), train_overrides=_overrides(mode),
                         matmul_precision=mode, progress=False)
    )  # fmt: skip


def train_and_analyse(mode: str, seeds: list[int], path: Path) -> None:
    presets = ",".join(FAMILIES[FAMILY].values())
    seed_list = ",".join(map(str, seeds))
    train = [sys.executable, "-m", "reactivation", "train", "-m", f"config={presets}", f"seed={seed_list}"]
    subprocess.run([*train, f"path={path}", "trainer.progress=false", *_overrides(mode)], check=True)
    for seed in seeds:
        for kind in KINDS:
            overrides = "[" + ",".join(json.dumps(o) for o in _overrides(mode)) + "]"  # quoted: '=' inside items
            args = [f"seed={seed}", f"path={path}", f"train_overrides={overrides}", f"matmul_precision={mode}"]
            try:
                read_result(_settings(kind, mode, seed, path), kind)
                continue  # made with these settings already
            except ReactivationError:  # missing, or of other settings: (re)compute it
                pass
            subprocess.run([sys.executable, "-m", "reactivation", kind, *args, "progress=false"], check=True)


def collect(seeds: list[int], path: Path) -> dict:
    found: dict = {"curves": {}, "criteria": []}
    by_mode: dict[str, dict[int, dict]] = {}
    for mode in MODES:
        by_mode[mode] = {}
        for seed in seeds:
            made = {}
            for kind in KINDS:  # a missing result leaves its criteria undefined (NaN), not the table unwritten
                try:
                    made[kind] = read_result(_settings(kind, mode, seed, path), kind)[0]
                except ReactivationError:
                    pass
            by_mode[mode][seed] = {"sn": made}
            for condition, preset in FAMILIES[FAMILY].items():
                try:
                    run_dir = lookup.find_run(path, preset, seed, _overrides(mode), None)
                except ReactivationError:  # not trained to the end yet
                    continue
                found["curves"].setdefault(condition, {}).setdefault(str(seed), {})[mode] = read_test_metrics(run_dir)
    for claim in claims.claims():
        for criterion in claim.criteria:
            if {criterion.lhs.family, criterion.rhs.family} - {"sn", None}:
                continue
            row = {"claim": claim.number, "criterion": criterion.text(), "seeds": {}}
            for seed in seeds:
                row["seeds"][str(seed)] = {
                    mode: {
                        "lhs": criterion.lhs.value(by_mode[mode][seed]),
                        "rhs": criterion.rhs.value(by_mode[mode][seed]),
                        "holds": criterion.holds(
                            criterion.lhs.value(by_mode[mode][seed]), criterion.rhs.value(by_mode[mode][seed])
                        ),
                    }
                    for mode in MODES
                }
            found["criteria"].append(row)
    return found


def markdown(found: dict, seeds: list[int]) -> str:
    header = "| claim | criterion | seed | float32 lhs, rhs | bf16 lhs, rhs | held (float32 / bf16) |"
    lines = ["## The criteria of the SN vanilla claims, float32 vs bf16", "", header, "|---|---|---|---|---|---|"]
    for row in found["criteria"]:
        for seed, modes in row["seeds"].items():
            f, b = modes["float32"], modes["bf16"]
            lines.append(
                f"| {row['claim']} | {row['criterion']} | {seed} | {f['lhs']:.4g}, {f['rhs']:.4g} | "
                f"{b['lhs']:.4g}, {b['rhs']:.4g} | {f['holds']} / {b['holds']} |"
            )
    lines += ["", "## Learning curves (test loss; decoding error pos_mse, m²)", ""]
    for condition, by_seed in found["curves"].items():
        for seed, modes in by_seed.items():
            lines += [f"### {condition}, seed {seed}", "", "| step | loss float32 | loss bf16 | pos_mse float32 | "
                      "pos_mse bf16 |", "|---|---|---|---|---|"]  # fmt: skip
            exact, rounded = modes.get("float32", {}), modes.get("bf16", {})
            for step in sorted({*exact, *rounded}, key=int):
                e, r = exact.get(step, {}), rounded.get(step, {})
                cells = [f"{m.get(k, float('nan')):.3g}" for k in ("loss", "pos_mse") for m in (e, r)]
                lines.append(f"| {step} | {' | '.join(cells)} |")
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--path", type=Path, default=Path("results/precision"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "vm-2cpu-precision-fidelity"))
    parser.add_argument("--collect-only", action="store_true", help="only tabulate what is on disk")
    args = parser.parse_args()
    path = args.path.resolve()
    if not args.collect_only:
        for mode in MODES:
            train_and_analyse(mode, args.seeds, path)
    found = collect(args.seeds, path)
    Path(args.out + ".json").write_text(json.dumps(found, indent=1))
    text = f"# bf16 fidelity, SN vanilla, {STEPS} steps, seeds {args.seeds}\n\n`{' '.join(sys.argv)}`\n\n"
    Path(args.out + ".md").write_text(text + markdown(found, args.seeds))
    print(markdown(found, args.seeds))


if __name__ == "__main__":
    main()
