"""The drift analysis before and after its noise units were fixed, on trained networks (docs/theory.md).

`python benchmarks/drift_units.py RUN_DIR... [--out benchmarks/results/drift-units]`

Before 2026-12-07 the drift analysis predicted s² ∇ log p with s = σ_rec under every noise distribution and
measured the drift as f(r, x = 0) − r. For ``uniform`` noise (σ·U[0, 1)) one step's noise has standard deviation
σ/√12 and mean σ/2; the mean is added at every step, as a constant input. Now s is the standard deviation and the
mean is part of the drift (:data:`reactivation.analysis.drift.NOISE_UNITS`). For each run (its last checkpoint) at
the drift analysis's paper sizes this measures ``pca`` and ``decoded`` slope and cosine, and the ``reference``
ceiling, under both, and how large the zero-input drift is at the awake states against states that have spent
``--settle`` steps in quiescence at the trained noise (mode ``same``): a drift much larger at awake states than at
settled ones is the relaxation of an input-driven state, not denoising. Last, the fixed comparison queried at the
states of the second half of that quiescence (the prediction still from the awake states' KDE), where that
relaxation is over. Writes ``--out``.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reactivation import runs  # noqa: E402
from reactivation.analysis import drift, protocol  # noqa: E402
from reactivation.analysis.metrics import denoiser  # noqa: E402
from reactivation.analysis.settings import compose_analysis, settings  # noqa: E402
from reactivation.loading import load_run  # noqa: E402
from reactivation.models.noise import moments  # noqa: E402
from reactivation.seeding import stream_seed  # noqa: E402

KEYS = ("slope", "slope_reverse", "cosine")
SPACES = ("pca", "decoded", "reference", "pca_tangent", "pca_normal", "reference_tangent", "reference_normal")


def _rms_drift(model: torch.nn.Module, states: np.ndarray, mean: float, n: int) -> float:
    """Root mean square over n states of the zero-input drift f(r, 0) + mean − r, per unit."""
    r = torch.as_tensor(states[:n])
    return float(((drift.one_step(model, r) + mean - r).square().mean()).sqrt())


def measure(run_dir: Path, settle: int) -> dict:
    config = runs.load_config(run_dir)
    task, kind, seed = config["task"]["name"], config["rnn"]["model"], int(config["seed"])
    s = settings(compose_analysis("drift", "paper", task, kind, seed, progress=False, device="cpu"))
    setup = load_run(run_dir, None, "cpu")
    model, cfg = setup.model, s.cfg
    torch.set_grad_enabled(False)
    phases = protocol.simulate(setup, s, cfg.batch_size, settle, modes=("same",), keep_hidden=True)
    assert phases.active is not None and phases.active.hidden is not None
    states = phases.active.hidden.reshape(-1, model.n_rec).numpy()
    decoded = phases.active.decoded.reshape(len(states), -1).double().numpy()
    quiet = phases.quiescent["same"].hidden
    settled = quiet[:, -1].numpy()  # (B, n_rec) after `settle` quiescent steps
    settled_all = drift.settled_states(phases)  # the second half of quiescence, as queries=settled takes it
    sizes = dict(n_states=cfg.n_states, n_queries=cfg.n_queries, n_components=cfg.n_components, n_pca=cfg.n_pca,
                 bandwidth=None)  # fmt: skip
    mean, std = moments(model.noise_dist, model.sigma_rec)
    geometry, seed = setup.task.geometry, stream_seed(seed, "analysis")
    step = drift.stepper(model)
    runs_ = {
        "before": denoiser.compare(step, geometry, states, decoded, model.sigma_rec, **sizes, seed=seed),
        "after": denoiser.compare(step, geometry, states, decoded, std, noise_mean=mean, **sizes, seed=seed),
        # the same prediction (the awake states' KDE) at states reached without input
        "settled": denoiser.compare(
            step, geometry, states, decoded, std, noise_mean=mean, **sizes, seed=seed, at=settled_all
        ),
    }
    n = min(len(settled), 2000)
    return {
        "run": str(run_dir),
        "noise_dist": model.noise_dist,
        "sigma_rec": model.sigma_rec,
        "noise_mean": mean,
        "noise_std": std,
        **{when: {space: {k: r[space][k] for k in KEYS} for space in SPACES} for when, r in runs_.items()},
        "rms_drift": {"awake": _rms_drift(model, states, mean, n), "settled": _rms_drift(model, settled, mean, n)},
        "settle_steps": settle,
    }


def render(rows: list[dict], command: str) -> str:
    """The markdown report of ``rows`` (one per run, as :func:`measure` returns them) measured by ``command``."""
    lines = [
        "# The drift analysis's noise units, before and after the fix",
        "",
        f"`{command}` on {platform.node() or 'this machine'} ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}. Paper sizes of the drift analysis; last checkpoint of each run.",
        "",
    ]
    for table in (_units, _rms_drift, _settled, _tangent_normal):
        lines += table(rows)
    return "\n".join(lines) + "\n"


def _name(row: dict) -> str:
    return "/".join(Path(row["run"]).parts[-4:])


def _units(rows: list[dict]) -> list[str]:
    """The slopes and cosines with the old noise units against the fixed ones, and the reference's."""
    lines = [
        "| run | noise | s before → after | PCA slope before → after | PCA cosine before → after | reference "
        "slope / cosine | decoded slope before → after | decoded cosine before → after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b, a = r["before"], r["after"]
        lines.append(
            f"| `{_name(r)}` | {r['noise_dist']} | {r['sigma_rec']:.4g} → {r['noise_std']:.4g} | "
            f"{b['pca']['slope']:.3g} → {a['pca']['slope']:.3g} | {b['pca']['cosine']:.3f} → {a['pca']['cosine']:.3f} |"
            f" {a['reference']['slope']:.3f} / {a['reference']['cosine']:.3f} | {b['decoded']['slope']:.3g} → "
            f"{a['decoded']['slope']:.3g} | {b['decoded']['cosine']:.3f} → {a['decoded']['cosine']:.3f} |"
        )
    return lines


def _rms_drift(rows: list[dict]) -> list[str]:
    """The zero-input drift's root mean square per unit, awake and settled, against one step's noise."""
    lines = [
        "",
        "Root mean square of the zero-input drift per unit, at awake states and after settling in quiescence "
        "(mode same):",
        "",
        "| run | awake | settled | one step's noise s |",
        "|---|---|---|---|",
    ]
    for r in rows:
        awake, settled = r["rms_drift"].values()
        lines.append(f"| `{_name(r)}` | {awake:.4g} | {settled:.4g} | {r['noise_std']:.4g} |")
    return lines


def _settled(rows: list[dict]) -> list[str]:
    """The fixed units' comparison queried at settled quiescent states instead of awake ones."""
    lines = [
        "",
        "Fixed units, the prediction from the awake states' KDE, queried at states of the second half of quiescence "
        "(mode same) instead of awake ones:",
        "",
        "| run | PCA slope | PCA slope_reverse | PCA cosine | decoded slope | decoded cosine |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        q = r["settled"]
        lines.append(
            f"| `{_name(r)}` | {q['pca']['slope']:.3g} | {q['pca']['slope_reverse']:.3g} | {q['pca']['cosine']:.3f} | "
            f"{q['decoded']['slope']:.3g} | {q['decoded']['cosine']:.3f} |"
        )
    return lines


def _tangent_normal(rows: list[dict]) -> list[str]:
    """The PCA comparison along and across the active manifold, awake and settled queries."""
    lines = [
        "",
        "Fixed units, the PCA comparison split along (tangent) and across (normal) the active manifold, and the "
        "Gaussian reference split the same way: slope (reverse) / cosine:",
        "",
        "| run | queries | tangent | normal | reference tangent | reference normal |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        for when in ("after", "settled"):
            q = r[when]
            cells = [f"{q[k]['slope']:.3g} ({q[k]['slope_reverse']:.3g}) / {q[k]['cosine']:.3f}" for k in SPACES[3:]]
            lines.append(f"| `{_name(r)}` | {'awake' if when == 'after' else 'settled'} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (e.g. of the evidence store)")
    parser.add_argument("--settle", type=int, default=200, help="quiescent steps before the settled states")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/drift-units"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [measure(run, args.settle) for run in args.runs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    command = "python benchmarks/drift_units.py " + " ".join(sys.argv[1:])
    args.out.with_suffix(".md").write_text(render(rows, command))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
