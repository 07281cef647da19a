"""The offline-phase protocol shared by the analyses (SPEC §6-7): which runs, which batch, which rollouts.

For one analysis seed, every model is driven by a batch of its own task drawn from the same analysis
stream, so all models see the same random draws (a paired comparison); the active phase runs that batch
with the trained noise, and the quiescent phases start again from its encoded true initial states.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from reactivation import ReactivationError, runs
from reactivation.config import ANALYSIS_CONFIG_DIR, compose_config, compose_train
from reactivation.models import build_model
from reactivation.quiescence import Rollout, quiescent_sigma, rollout
from reactivation.seeding import generator
from reactivation.training import RUNTIME_KEYS, Setup, load_run

log = logging.getLogger(__name__)

#: Conditions of each (task, model family): condition name -> training preset.
FAMILIES: dict[tuple[str, str], dict[str, str]] = {
    ("spatial_navigation", "vanilla"): {
        "noisy_unbiased": "spatial_navigation/noisy_unbiased",
        "noisy_biased": "spatial_navigation/noisy_biased",
        "no-noise_unbiased": "spatial_navigation/no-noise_unbiased",
        "no-noise_biased": "spatial_navigation/no-noise_biased",
    },
    ("spatial_navigation", "gru"): {
        "noisy_unbiased": "spatial_navigation/noisy_unbiased_gru",
        "noisy_biased": "spatial_navigation/noisy_biased_gru",
    },
    ("head_direction", "vanilla"): {
        "noisy_unbiased": "head_direction/noisy_unbiased",
        "noisy_biased": "head_direction/noisy_biased",
        "no-noise_unbiased": "head_direction/no-noise_unbiased",
        "no-noise_biased": "head_direction/no-noise_biased",
    },
}
#: Variance of the noisy presets per task (the default of the analyses' ``noise``).
PRESET_NOISE = {"spatial_navigation": 1e-4, "head_direction": 1e-2}
# Sizes resolved from the task are null in a composed config; the rest do not change what is trained.
_RUNTIME_KEYS = {*RUNTIME_KEYS, "rnn.n_out", "rnn.n_init"}


@dataclass(frozen=True)
class Settings:
    """An analysis config with its defaults resolved."""

    seed: int
    task: str
    model: str
    noise: float
    mode: str
    conditions: dict[str, str]  # condition -> preset
    cfg: DictConfig


def settings(cfg: DictConfig) -> Settings:
    """Check an analysis config and resolve ``noise`` and ``mode`` defaults.

    Raises:
        ReactivationError: missing seed, unknown task or model family, bad noise or mode.
    """
    if OmegaConf.is_missing(cfg, "seed"):
        raise ReactivationError("seed is required: add seed=<integer>, e.g. `python output_kl.py seed=0`.")
    if (cfg.task, cfg.model) not in FAMILIES:
        known = ", ".join(f"task={t} model={m}" for t, m in FAMILIES)
        raise ReactivationError(f"no presets for task={cfg.task} model={cfg.model}; choose one of: {known}.")
    noise = PRESET_NOISE[cfg.task] if cfg.noise is None else float(cfg.noise)
    if noise < 0:
        raise ReactivationError(f"noise={noise} is a variance and must be >= 0.")
    mode = cfg.mode or ("same" if cfg.model == "gru" else "scaled")
    quiescent_sigma(0.0, mode)  # validates the mode
    return Settings(int(cfg.seed), cfg.task, cfg.model, noise, mode, FAMILIES[(cfg.task, cfg.model)], cfg)


def train_command(preset: str, seed: int, overrides: list[str], root: Path) -> str:
    """The ``python train.py ...`` command that trains the run these arguments describe."""
    default_root = compose_train([f"config={preset}", f"seed={seed}", *overrides]).path  # the scale's
    extra = [] if Path(root) == Path(default_root) else [f"path={root}"]
    return " ".join(["python train.py", f"config={preset}", f"seed={seed}", *overrides, *extra])


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_leaves(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def find_run(root: Path, preset: str, seed: int, overrides: list[str], epoch: int | None) -> Path:
    """Find the run trained with ``train.py config=<preset> seed=<seed> <overrides>`` under ``root``.

    Runs are matched by reading their saved ``config.yaml``, never by formatting directory names.

    Raises:
        ReactivationError: no such run, an incomplete one, or one without the requested checkpoint;
            the message gives the command that trains it.
    """
    expected = _leaves(OmegaConf.to_container(compose_train([f"config={preset}", f"seed={seed}", *overrides]),
                                              resolve=True))
    wanted = {k: v for k, v in expected.items() if k not in _RUNTIME_KEYS}
    matches, near = [], []
    for run_dir, config in runs.iter_runs(root):
        leaves = _leaves(config)
        if config.get("preset") != preset or config.get("seed") != seed:
            continue
        differing = [f"{k}={leaves.get(k)!r}" for k, v in wanted.items() if leaves.get(k) != v]
        (near if differing else matches).append(run_dir if not differing else f"{run_dir} (has {', '.join(differing)})")
    command = train_command(preset, seed, overrides, root)
    if not matches:
        hint = ("\nRuns of that preset and seed with other settings (select them with train_overrides=[...]):\n  "
                + "\n  ".join(near)) if near else ""
        raise ReactivationError(f"no trained run of {preset} with seed {seed} under {root}/. Train it with:\n"
                                f"  {command}{hint}")
    if len(matches) > 1:
        log.warning("%d identical runs of %s seed %d; using %s", len(matches), preset, seed, matches[0])
    run_dir, steps = matches[0], runs.checkpoint_steps(matches[0])
    n_steps = expected["trainer.n_epochs"]
    if epoch is None and (not steps or steps[-1] < n_steps):
        done = steps[-1] if steps else 0
        raise ReactivationError(f"the run {run_dir} is incomplete ({done} of {n_steps} steps). Finish it with:\n"
                                f"  {command}")
    if epoch is not None and epoch not in steps:
        raise ReactivationError(f"the run {run_dir} has no checkpoint at epoch={epoch}; available: {steps}.")
    return run_dir


def run_overrides(s: Settings, condition: str) -> list[str]:
    """The ``train.py`` overrides of a condition's run: ``train_overrides``, the scale and, if not the preset's,
    the noise."""
    overrides = list(s.cfg.train_overrides)
    if s.cfg.scale != "paper":
        overrides.append(f"scale={s.cfg.scale}")
    if condition.startswith("noisy") and s.noise != PRESET_NOISE[s.task]:
        overrides.append(f"rnn.sigma2_rec={s.noise}")
    return overrides


def cli_args(s: Settings) -> str:
    """Command-line arguments that select the same runs in another script (scale, path, task, family, noise,
    overrides)."""
    args = [] if s.cfg.scale == "paper" else [f"scale={s.cfg.scale}"]
    default_root = compose_config(ANALYSIS_CONFIG_DIR, "common", [f"scale={s.cfg.scale}"]).path
    args += [] if Path(s.cfg.path) == Path(default_root) else [f"path={s.cfg.path}"]
    args += [] if s.task == "spatial_navigation" else [f"task={s.task}"]
    args += [] if s.model == "vanilla" else [f"model={s.model}"]
    args += [] if s.cfg.noise is None else [f"noise={s.noise:g}"]
    if s.cfg.train_overrides:
        args.append("'train_overrides=[" + ",".join(f'"{o}"' for o in s.cfg.train_overrides) + "]'")
    return " ".join(args)


def result_path(s: Settings, kind: str, seed: int | None = None) -> Path:
    """``<path>/<task>/<kind>[_<family>]_<noise>_<seed>.json`` (``kind``: kl, variance or distance)."""
    family = "" if s.model == "vanilla" else f"_{s.model}"
    return Path(s.cfg.path) / s.task / f"{kind}{family}_{s.noise:g}_{s.seed if seed is None else seed}.json"


def load_conditions(s: Settings) -> dict[str, tuple[Path, Setup]]:
    """Find and load the run of every condition of ``s`` (all found before any is simulated)."""
    root = Path(s.cfg.path)
    found = {name: find_run(root, preset, s.seed, run_overrides(s, name), s.cfg.epoch)
             for name, preset in s.conditions.items()}
    return {name: (run_dir, load_run(run_dir, s.cfg.epoch, s.cfg.device)) for name, run_dir in found.items()}


def random_network(reference: Setup, s: Settings) -> torch.nn.Module:
    """An untrained network of the reference run's shapes, trained-noise level ``s.noise``, from the analysis seed."""
    rnn = OmegaConf.to_container(reference.config.rnn)
    rnn["sigma2_rec"] = s.noise
    model = build_model(rnn, generator(s.seed, "random_network"))
    return model.to(reference.device).eval()


@dataclass(frozen=True)
class Phases:
    """Rollouts of one model on the analysis batch.

    Attributes:
        active: the task's inputs with the trained noise (``None`` if not asked for).
        quiescent: zero input, one rollout per requested noise mode.
    """

    active: Rollout | None
    quiescent: dict[str, Rollout]


def simulate(setup: Setup, s: Settings, batch_size: int, t_quiescent: int, *, modes: tuple[str, ...] | None = None,
             active: bool = True, keep_hidden: bool = False, model: torch.nn.Module | None = None) -> Phases:
    """Run the analysis batch through a model: active phase, then quiescent phases from the same start.

    Args:
        setup: the loaded run (its task draws the batch and decodes the outputs).
        s: the analysis settings (seed, noise, default mode).
        batch_size: trajectories.
        t_quiescent: quiescent steps.
        modes: quiescence noise modes to run (default: ``(s.mode,)``).
        active: also run the active phase.
        keep_hidden: keep hidden states (for PCA).
        model: run this model instead of the run's own (e.g. an untrained one), decoded by the run's task.
    """
    model = setup.model if model is None else model
    gen = generator(s.seed, "analysis", setup.device)
    batch = setup.task.sample(batch_size, gen)
    with torch.no_grad():
        h0 = model.initial_state(batch.init_code)
    act = None
    if active:
        act = rollout(model, setup.task, h0, batch.inputs.shape[1], inputs=batch.inputs, generator=gen,
                      keep_hidden=keep_hidden)
    quiet = {mode: rollout(model, setup.task, h0, t_quiescent, generator=gen, keep_hidden=keep_hidden,
                           sigma_rec=quiescent_sigma(model.sigma_rec, mode, s.noise))
             for mode in (modes or (s.mode,))}
    return Phases(act, quiet)


@dataclass(frozen=True)
class States:
    """Active and quiescent rollouts of one model on the analysis batch, hidden states kept (numpy, on CPU).

    Attributes:
        active_hidden: (B, T, n_rec); quiescent_hidden: (B, T_q, n_rec).
        active_decoded: (B, T, d); quiescent_decoded: (B, T_q, d) (metres or radians).
    """

    active_hidden: np.ndarray
    quiescent_hidden: np.ndarray
    active_decoded: np.ndarray
    quiescent_decoded: np.ndarray


def states(setup: Setup, s: Settings, batch_size: int, t_quiescent: int) -> States:
    """:func:`simulate` with hidden states kept, in the default mode (SPEC §8: 1000 trajectories, 200 steps)."""
    phases = simulate(setup, s, batch_size, t_quiescent, keep_hidden=True)
    quiet = phases.quiescent[s.mode]
    return States(phases.active.hidden.numpy(), quiet.hidden.numpy(), phases.active.decoded.numpy(),
                  quiet.decoded.numpy())


def write_result(s: Settings, kind: str, result: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write :func:`result_path` and its ``.meta.json`` (settings, runs) atomically."""
    out = result_path(s, kind)
    settings_ = {k: v for k, v in OmegaConf.to_container(s.cfg, resolve=True).items() if k not in ("progress",)}
    runs.write_json_atomic(out.with_suffix(".meta.json"), {**meta, "noise": s.noise, "mode": s.mode,
                                                           "settings": settings_})
    runs.write_json_atomic(out, result)
    return out
