"""The campaign's plan (docs/campaign.md): the paper's networks in the order they are trained (:data:`PLAN`), the
command that trains each (:func:`train_command`) and the checkpoints measured along its schedule
(:func:`measured_steps`)."""

from __future__ import annotations

import sys
from pathlib import Path

from reactivation import CONDITIONS
from reactivation.evidence import store
from reactivation.evidence.store import Network


def _plan() -> tuple[Network, ...]:
    hd_noisy = ("head_direction/noisy_biased", "head_direction/noisy_unbiased")
    # a: the HD networks the paper's HD claim rests on (20,000 steps each, the longest schedules).
    a = [Network(p, 0, (), "a") for p in hd_noisy]
    # b: seed 0 of the paper's other 9 presets; the HD family first (it completes the HD analyses), the SN vanilla
    # family, then the slower GRUs and the Sorscher et al. setting.
    b_presets = [
        "head_direction/no-noise_biased",
        "head_direction/no-noise_unbiased",
        *(f"spatial_navigation/{c}" for c in CONDITIONS),
        "spatial_navigation/noisy_unbiased_gru",
        "spatial_navigation/noisy_biased_gru",
        "spatial_navigation/sorscher_2019",
    ]
    b = [Network(p, 0, (), "b") for p in b_presets]
    sn_noisy = ("spatial_navigation/noisy_unbiased", "spatial_navigation/noisy_biased")
    c = [Network(p, seed, (), "c") for noisy in (sn_noisy, hd_noisy) for seed in (1, 2) for p in noisy]
    # e: the HD networks under the library-wide Gaussian noise, the evidence for the HD presets' uniform default.
    e = [Network(p, 0, store.GAUSSIAN, "e") for p in hd_noisy]
    return (*a, *b, *c, *e)


#: The campaign's networks in priority order (docs/campaign.md): a, the HD networks of the paper's HD claim;
#: b, seed 0 of every other preset; c, seeds 1 and 2 of the noisy networks the claims rest on; e, the HD networks
#: under Gaussian noise (the evidence for the HD default, docs/decisions.md). All with the defaults but e.
PLAN: tuple[Network, ...] = _plan()
#: About this many checkpoints along each schedule are measured (:func:`measured_steps`).
MEASURE_POINTS = 10


def overrides(net: Network, scale: str) -> list[str]:
    """The ``train.py`` overrides of ``net`` at ``scale`` (the paper's, unless a test shrinks it)."""
    return [*net.overrides, *([] if scale == "paper" else [f"scale={scale}"])]


def train_command(net: Network, root: Path, scale: str = "paper") -> list[str]:
    """The command that trains ``net`` under ``root`` (no progress bar)."""
    return [
        sys.executable, "-m", "reactivation", "train", f"config={net.preset}", f"seed={net.seed}",
        *overrides(net, scale), f"path={root}", "trainer.progress=false",
    ]  # fmt: skip


def measured_steps(n_steps: int, save_freq: int) -> list[int]:
    """The checkpoints :func:`measure` reads along a schedule: every ``n_steps / MEASURE_POINTS`` steps rounded
    down to a checkpoint (HD 2000, SN 200), and the final step."""
    every = save_freq * max(1, n_steps // MEASURE_POINTS // save_freq)
    return sorted({*range(every, n_steps + 1, every), n_steps})
