"""docs/reproduction-paper.md, rebuilt from the evidence store alone (no checkpoint is loaded, nothing is trained).

The page lists every network of the store with how it was made, the test error and quiescent statistics measured
along each training run, and, for every family and variant the store holds whole, the claims and theory checks
of its analyses, beside the paper's own values where the paper states or plots them and the verdicts measured at
``small`` scale (docs/reproduction.md).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from reactivation import analyses, pipeline
from reactivation.analysis import report
from reactivation.evidence import store
from reactivation.reproduction.analyse import load_results
from reactivation.tasks import TASKS

#: What the paper states or plots, quoted beside the measured values: (what, value, where).
PAPER_VALUES = (
    ("HD biased network, mean quiescent angular velocity", "≈ +0.015 rad/step", "Fig. 3, tick labels"),
    ("HD unbiased network, mean quiescent angular velocity", "≈ 0.0005 rad/step", "Fig. 3, tick labels"),
    ("HD biased network, mean active angular velocity", "0.184 rad/step", "Fig. 3 (the task's mean turn)"),
)
#: The store's path in the repository, as the page names it.
STORE_NAME = "evidence/paper"
#: The claims' verdicts at ``small`` scale, 3 seeds (docs/reproduction.md, measured 2026-11).
SMALL_SCALE = {
    1: "held",
    2: "held",
    3: "not held (unbiased curve gap 0.144 ± 0.012 > 0.1)",
    4: "held",
    5: "held (biased angular velocity +0.114 ± 0.009 rad/step)",
    6: "held",
}


def _fmt(value: Any, spec: str = ".3g") -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _networks_section(entries: list[store.Entry], plan: tuple[store.Network, ...]) -> list[str]:
    lines = [
        "## Networks",
        "",
        f"{len(entries)} of the plan's {len(plan)} networks are in the store (`evidence/paper/`, docs/campaign.md).",
        "Test metrics at the final step, on the run's fixed test batch; training wall time on the machine named.",
        "",
        "| plan | preset | overrides | seed | steps | test loss | decoding error | training | machine | torch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        m = e.manifest
        task = TASKS[e.config["task"]["name"]]
        test = e.trajectory.get("steps", {}).get(str(e.steps), {})
        overrides = " ".join(f"`{o}`" for o in m["overrides"]) or "(defaults)"
        cpu = f"{m['machine']['cpu']}, {m['machine']['torch_threads']} thread(s)"
        lines.append(
            f"| {m.get('plan_step', '')} | {m['preset']} | {overrides} | {m['seed']} | {e.steps} | "
            f"{_fmt(test.get('loss'))} | {_fmt(test.get(task.error_name))} {task.error_unit} | "
            f"{m['train_wall_s'] / 3600:.2f} h | {cpu} | {m['torch']} |"
        )
    moved = [e.manifest for e in entries if "moved" in e.manifest]
    if moved:
        lines += ["", "Entries whose place in the store changed after they were trained:", ""]
        for m in moved:
            now = " ".join([m["preset"], f"seed={m['seed']}", *m["overrides"]])
            lines.append(f"- `{now}`, trained as `{m['command']}`: {m['moved']}.")
    todo = store.missing(entries, plan)
    if todo:
        lines += ["", "Not yet trained, in the order the campaign takes them:", ""]
        lines += [f"- {n.step}. `{n}`" for n in todo]
    return [*lines, ""]


def _trajectory_section(entries: list[store.Entry]) -> list[str]:
    lines = [
        "## Along training",
        "",
        "Each network's checkpoints, measured as the distance analysis measures one network at paper sizes (200",
        "trajectories, 100 quiescent steps, default quiescence mode): the test decoding error, the mean decoded step",
        "of the quiescent phase and, on the circle, its mean signed angular velocity (rad/step).",
        "",
    ]
    for e in entries:
        steps = e.trajectory.get("steps", {})
        if not steps:
            continue
        task = TASKS[e.config["task"]["name"]]
        circle = any("quiescent_velocity" in v for v in steps.values())
        overrides = " ".join(e.manifest["overrides"])
        lines += [f"### {e.manifest['preset']} {overrides} seed {e.manifest['seed']}".replace("  ", " "), ""]
        header = f"| step | test error ({task.error_unit}) | quiescent step | active step |"
        header += " quiescent angular velocity |" if circle else ""
        lines += [header, "|---" * (5 if circle else 4) + "|"]
        for step, v in sorted(steps.items(), key=lambda kv: int(kv[0])):
            row = f"| {step} | {_fmt(v.get(task.error_name))} | {_fmt(v.get('quiescent'), '.4f')} | "
            row += f"{_fmt(v.get('active'), '.4f')} |"
            row += f" {_fmt(v.get('quiescent_velocity'), '+.4f')} |" if circle else ""
            lines.append(row)
        lines.append("")
    return lines


def _claims(store_dir: Path, scale: str) -> list[str]:
    """The claims and theory checks of every family and variant the store holds whole, from its analyses."""
    done: dict[tuple[str, str], list[int]] = {}
    for family, variant, _, seed in store.complete_families(store_dir, scale):
        done.setdefault((family, variant), []).append(seed)
    if not done:
        return ["## Claims", "", "No family is complete in the store yet: the claims await its networks.", ""]
    lines = ["## Claims at paper scale", ""]
    shared = store.NO_NOISE_SEED
    lines += [f"Every seed's analyses take the noise-free networks of seed {shared} (`no_noise_seed={shared}`): the",
              "plan trains only the noisy networks of the other seeds (docs/campaign.md).", ""]  # fmt: skip
    lines += ["Small-scale verdicts for comparison (docs/reproduction.md, 3 seeds):", ""]
    lines += [f"- claim {n}: {v}" for n, v in SMALL_SCALE.items()] + [""]
    for (family, variant), seeds in done.items():
        overrides = store.VARIANTS[family][variant]
        cfg = pipeline.main_config([f"scale={scale}", "progress=false"])
        cfg.path = str(store_dir)
        cfg.train_overrides = list(overrides)
        for kind in analyses.PAPER:  # every seed's analyses read the store's noise-free networks
            cfg.analyses[kind.name] = {**(cfg.analyses.get(kind.name) or {}), "no_noise_seed": store.NO_NOISE_SEED}
        results, missing = load_results(cfg, seeds, [family])
        title = f"{family}, {variant} ({' '.join(overrides) or 'no train.py overrides'}), seeds {seeds}"
        lines += [f"### {title}", ""]
        body = report.claims_section(results) + report.theory_section(results)
        # The report's sections (## and ###) go two levels down, under this family's heading.
        lines += ["##" + line if line.startswith("#") else line for line in body]
        if missing:
            lines += ["Missing analyses (the campaign runs them next):", ""]
            # The store as the repository names it: the page must not depend on where the checkout lies.
            lines += [f"- {m.splitlines()[0].replace(str(store_dir.resolve()), STORE_NAME)}" for m in missing] + [""]
    return lines


def render(store_dir: Path, plan: tuple[store.Network, ...], scale: str = "paper") -> str:
    """The page's markdown, from the store in ``store_dir``: its entries, the networks of ``plan`` it lacks, and
    the analyses of the families it holds whole (``scale``: of its runs and analyses)."""
    entries = store.entries(store_dir) if Path(store_dir).is_dir() else []
    lines = [
        "# The paper at its own scale, measured",
        "",
        "Every number on this page is read from the evidence store, the networks trained to the end of the",
        "paper's schedule (SN 2500 steps, HD 20,000, batches of 200) and committed with their metrics, analyses and",
        "final weights. `reactivation campaign budget=2h` trains the next networks of the plan; `reactivation",
        "campaign stages=[report]` rebuilds this page from the store alone (docs/campaign.md).",
        "",
        "The paper's own values, where it states or plots them:",
        "",
        "| what | paper | source |",
        "|---|---|---|",
        *[f"| {what} | {value} | {where} |" for what, value, where in PAPER_VALUES],
        "",
    ]
    lines += _networks_section(entries, plan) + _trajectory_section(entries) + _claims(Path(store_dir), scale)
    return "\n".join(lines).rstrip() + "\n"
