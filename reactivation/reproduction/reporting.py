"""The report stage of ``reactivation reproduce``: gathers what the report says besides the results (the runs and
their test metrics, the header, the configuration) and writes ``report.md``; and the closing lines of verdicts.

:mod:`reactivation.analysis.report` renders what is gathered here; this module reads the run directories.
"""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import torch
from omegaconf import DictConfig, OmegaConf

from reactivation import ReactivationError, runs
from reactivation.analysis import claims, lookup, report
from reactivation.analysis.results import read_test_metrics
from reactivation.analysis.settings import settings
from reactivation.reproduction.analyse import Results
from reactivation.reproduction.configs import analysis_config
from reactivation.reproduction.train import launcher


class Made(NamedTuple):
    """What the stages of one reproduction made, for its report."""

    #: ``{seed: {family: {kind: result}}}``
    results: Results
    #: one line per missing run, result or figure input
    missing: list[str]
    #: the figure files written
    figures: list[Path]
    #: how many runs this call trained
    trained: int
    #: each stage's time in seconds (``{"training": ..., "analyses": ..., "figures": ...}``)
    seconds: dict[str, float]


def run_infos(cfg: DictConfig, seeds: list[int], families: list[str], missing: list[str]) -> list[report.RunInfo]:
    """Each run of each family with its last test metrics; appends to ``missing`` a line for each run that is not
    there (with the command that trains it) or whose test log is unreadable."""
    infos = []
    for family in families:
        s = settings(analysis_config(cfg, "kl", family, seeds[0]))
        for condition, by_seed in lookup.family_runs(s, seeds).items():
            preset = s.conditions[condition]
            for seed, run_dir in by_seed.items():
                if isinstance(run_dir, ReactivationError):
                    missing.append(
                        f"run {preset} seed {seed}: "
                        + lookup.train_command(preset, seed, lookup.run_overrides(s, condition), Path(cfg.path))
                    )
                    continue
                try:
                    test = read_test_metrics(run_dir)
                except ReactivationError as err:
                    missing.append(f"run {preset} seed {seed}: {err}")
                    continue
                last = max(test, key=int)
                infos.append(report.RunInfo(family, condition, preset, seed, str(run_dir), int(last), test[last]))
    return infos


def _configuration(cfg: DictConfig, infos: list[report.RunInfo]) -> list[tuple[str, str]]:
    """The report's configuration blocks: the reproduce settings, then the training config of each preset."""
    blocks = [("reproduce.py settings", OmegaConf.to_yaml(cfg, resolve=True))]
    shown = set()
    for info in infos:
        if info.preset not in shown:  # seeds of a preset differ only in `seed`
            shown.add(info.preset)
            blocks.append(
                (
                    f"training config of {info.preset} (seed {info.seed}; other seeds differ only in seed)",
                    Path(info.run_dir, runs.CONFIG_FILE).read_text(),
                )
            )
    return blocks


def _header(
    cfg: DictConfig, seeds: list[int], families: list[str], command: str, variant: str, n_runs: int, trained: int
) -> list[tuple[str, str]]:
    """The report's header lines but the time taken: what was asked, how many runs, on which machine."""
    return [
        ("command", f"`{command}`"),
        *([("variant", f"{variant}: train.py " + " ".join(cfg.train_overrides))] if variant else []),
        *([("train overrides", " ".join(cfg.train_overrides))] if cfg.train_overrides and not variant else []),
        ("scale", str(cfg.scale)),
        ("seeds", ", ".join(map(str, seeds))),
        ("families", ", ".join(families)),
        ("runs", f"{n_runs} ({trained} trained by this call, the rest reused)"),
        *([("training launcher", "{} ({})".format(*launcher(cfg)))] if trained else []),
    ]


def write_report(
    cfg: DictConfig,
    seeds: list[int],
    families: list[str],
    made: Made,
    command: str,
    variant: str = "",
) -> Path:
    """Write the report of one reproduction (``report.md``, or ``report_<variant>.md`` for a variant); returns
    its path."""
    results, missing, figures, trained, seconds = made
    root = Path(cfg.path)
    infos = run_infos(cfg, seeds, families, missing)
    missing = list(dict.fromkeys(missing))  # the figures and the result loading name the same missing files
    header = [
        *_header(cfg, seeds, families, command, variant, len(infos), trained),
        ("time", ", ".join(f"{k} {v / 60:.1f} min" for k, v in seconds.items())),
        (
            "machine",
            f"{platform.node()}, {platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} torch threads, device {cfg.device}",
        ),
        ("software", f"Python {platform.python_version()}, torch {torch.__version__}"),
        ("written", _now()),
    ]
    gathered = report.Gathered(
        results=results,
        runs=infos,
        header=header,
        missing=missing,
        figures=[str(f.relative_to(root)) for f in figures if f.suffix == ".png"],
        configuration=_configuration(cfg, infos),
    )
    out = root / (f"report_{variant}.md" if variant else "report.md")
    title = f"Reproduction report ({cfg.scale} scale{', variant ' + variant if variant else ''})"
    runs.write_text_atomic(out, report.render(gathered, title))
    return out


def write_variants_report(
    cfg: DictConfig,
    seeds: list[int],
    families: list[str],
    done: dict[str, report.Variant],
    command: str,
    seconds: float,
) -> Path:
    """Write ``report.md`` with the claims of every variant side by side; ``seconds``: the time all of them took."""
    header = [
        ("command", f"`{command}`"),
        ("scale", str(cfg.scale)),
        ("seeds", ", ".join(map(str, seeds))),
        ("families", ", ".join(families)),
        ("time", f"{seconds / 60:.1f} min for all variants"),
        ("written", _now()),
    ]
    out = Path(cfg.path) / "report.md"
    runs.write_text_atomic(out, report.render_variants(done, header, f"Variants side by side ({cfg.scale} scale)"))
    return out


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def verdicts(results: Results) -> list[str]:
    """One line per claim: its number, title and verdict (for the command's closing message)."""
    words = {True: "held", False: "NOT held", None: "not evaluated"}
    lines = []
    for c in claims.reported(results):
        held = claims.claim_held([claims.evaluate(k, results) for k in c.criteria])
        lines.append(f"claim {c.number} ({c.title}): {words[held]}")
    return lines
