"""``reactivation reproduce scale=small`` (``python reproduce.py``): the whole paper from one command (docs/spec.md
§1, §7-9).

1. **Train** every run that is missing or unfinished (finished runs are reused), as one Hydra multirun of
   ``reactivation train -m`` per group of presets, through the chosen launcher (local processes, SLURM, ...).
2. **Analyse** every seed of every model family: ``kl``, ``variance``, ``distance`` and ``manifold``; a result
   whose saved settings match is reused (``force=true`` recomputes).
3. **Draw** every figure of every family (``<path>/<task>/figures/``).
4. **Report** the claims of docs/spec.md §9 with mean ± std over seeds in ``<path>/report.md``.

With ``variants`` (named sets of ``train.py`` settings), each variant goes through the four stages as its own
reproduction (its runs trained and analysed with its settings, its figures in ``figures/<variant>/``, its report
``report_<variant>.md``), and ``report.md`` puts the claims of all of them side by side.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from reactivation import ConfigError, ReactivationError, usage
from reactivation.analysis import claims, report
from reactivation.analysis.settings import FAMILIES, check_analyses
from reactivation.config import (
    ANALYSIS_CONFIG_DIR,
    compose_config,
    preflight,
    resolved,
    results_root,
)
from reactivation.config.analysis_keys import KEYS, check, require
from reactivation.figures.style import check_formats
from reactivation.loading import build, select_device
from reactivation.reproduction.analyse import Results, analyse, load_results
from reactivation.reproduction.configs import variant_config, variants
from reactivation.reproduction.draw import draw
from reactivation.reproduction.reporting import Made, write_report, write_variants_report
from reactivation.reproduction.train import LAUNCHERS, train

log = logging.getLogger(__name__)

STAGES = ("train", "analyse", "figures", "report")
#: Training keys the pipeline sets itself, which train_overrides and variants may not.
_OWN_KEYS = ("config", "seed", "scale", "path", "device")
#: A variant's name: the tag of its report file and figure folder.
_VARIANT_NAME = re.compile(r"[A-Za-z0-9][\w.-]*")


def _check(cfg: DictConfig) -> tuple[DictConfig, list[int], list[str]]:
    """Check every key of a reproduce config before any work, and make ``path`` absolute.

    Returns:
        The config with plain values and an absolute ``path``, the seeds and the families.

    Raises:
        ConfigError: naming the key, the bad value and what is allowed.
    """
    values, typed = resolved(cfg), cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=False))
    unique = lambda v: len(set(v)) == len(v)  # noqa: E731
    for key, test, allowed in (
        (
            "seeds",
            lambda v: isinstance(v, list) and bool(v) and all(map(KEYS["seed"].test, v)) and unique(v),
            "a non-empty list of distinct non-negative integers, e.g. seeds=[0,1,2]",
        ),
        (
            "families",
            lambda v: isinstance(v, list) and bool(v) and all(f in claims.FAMILY_KEYS for f in v) and unique(v),
            f"a non-empty list of distinct families among {', '.join(claims.FAMILY_KEYS)}",
        ),
        (
            "stages",
            lambda v: isinstance(v, list) and bool(v) and all(st in STAGES for st in v),
            f"a non-empty list of stages among {', '.join(STAGES)}, e.g. stages=[report]",
        ),
        ("launcher", lambda v: v in LAUNCHERS, f"one of {', '.join(LAUNCHERS)}"),
        (
            "train_args",
            lambda v: isinstance(v, list) and all(isinstance(a, str) for a in v),
            "a list of training arguments, e.g. 'train_args=[\"hydra.launcher.n_jobs=4\"]'",
        ),
        ("force", lambda v: isinstance(v, bool), "true or false"),
        (
            "variants",
            lambda v: (
                v is None
                or isinstance(v, dict)
                and bool(v)
                and all(_VARIANT_NAME.fullmatch(str(k)) and KEYS["train_overrides"].test(o) for k, o in v.items())
            ),
            "named lists of train.py overrides, names of letters, digits, '_', '.' and '-', e.g. "
            '\'variants={gaussian:["rnn.noise_dist=gaussian"],'
            'uniform:["rnn.noise_dist=uniform"]}\' (null: none)',
        ),
    ):
        require(key, values[key], test, allowed, typed[key])
    for key in ("train_overrides", "path", "progress"):
        check(key, values[key], typed[key])
    check_formats(values["formats"])
    check_analyses(values["analyses"])
    for name, overrides in variants(values).items():
        _check_overrides(values, list(values["families"]), name, overrides)
    select_device(values["device"])
    values["path"] = str(results_root(values["path"]))
    plain = OmegaConf.create(values)
    OmegaConf.set_struct(plain, True)
    return plain, list(values["seeds"]), list(values["families"])


def _check_overrides(values: dict, families: list[str], name: str, overrides: list[str]) -> None:
    """Compose and check the training config of each family's first preset with ``overrides`` (before any work)."""
    where = f"variant {name!r}" if name else "train_overrides"
    for override in overrides:
        if override.lstrip("+~").split("=", 1)[0] in _OWN_KEYS:
            raise ConfigError(
                f"{where}: {override!r} sets a key the pipeline sets itself ({', '.join(_OWN_KEYS)}); "
                "use reproduce's own seeds=, scale=, path= and device= instead."
            )
    for family in families:
        preset = next(iter(FAMILIES[claims.FAMILY_KEYS[family]].values()))
        try:  # train.py's own check: composes, type-checks and builds the task and model (every rnn.* value)
            preflight([f"config={preset}", "seed=0", f"scale={values['scale']}", *overrides], check=build)
        except ReactivationError as err:
            raise ConfigError(f"{where} ({' '.join(overrides)}) is not a valid training setting: {err}") from err


def run(cfg: DictConfig, argv: list[str] | None = None) -> tuple[Path | None, dict]:
    """Run the stages of ``cfg`` (reactivation/configs/analysis/reproduce.yaml) and write the report.

    Without the ``analyse`` stage the results found on disk are used; without ``report`` nothing is written.
    With ``variants``, each variant is reproduced in turn (:func:`reproduce_one`) and ``report.md`` shows their
    claims side by side.

    Returns:
        The report's path (``None`` without the report stage) and the results ``{seed: {family: {kind: ...}}}``;
        with variants, ``{variant: those results}``.
    """
    cfg, seeds, families = _check(cfg)
    command = " ".join([usage.command("reproduce"), *(argv if argv is not None else sys.argv[1:])])
    if not cfg.variants:
        return reproduce_one(cfg, seeds, families, command)
    done: dict[str, report.Variant] = {}
    start = time.perf_counter()
    for name, overrides in variants(cfg).items():
        log.info("variant %s: %s", name, " ".join(overrides) or "no train.py overrides")
        out, results = reproduce_one(variant_config(cfg, overrides), seeds, families, command, name)
        done[name] = report.Variant(overrides, results, out.name if out else "")
    by_variant = {name: v.results for name, v in done.items()}
    if "report" not in cfg.stages:
        return None, by_variant
    seconds = time.perf_counter() - start
    return write_variants_report(cfg, seeds, families, done, command, seconds), by_variant


def reproduce_one(
    cfg: DictConfig, seeds: list[int], families: list[str], command: str, variant: str = ""
) -> tuple[Path | None, Results]:
    """The four stages for one set of ``train_overrides`` (``cfg``'s); the report is ``report.md``, or
    ``report_<variant>.md`` for a variant, whose figures go to ``figures/<variant>/``.

    Returns:
        The report's path (``None`` without the report stage) and the results ``{seed: {family: {kind: ...}}}``.
    """
    stages = set(cfg.stages)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    trained = train(cfg, seeds, families) if "train" in stages else 0
    seconds["training"] = time.perf_counter() - start
    start = time.perf_counter()
    results, missing = (
        (analyse(cfg, seeds, families), []) if "analyse" in stages else load_results(cfg, seeds, families)
    )
    seconds["analyses"] = time.perf_counter() - start
    start = time.perf_counter()
    figures, lacking = draw(cfg, seeds, families, variant) if "figures" in stages else ([], [])
    missing += lacking
    seconds["figures"] = time.perf_counter() - start
    if "report" not in stages:
        return None, results
    made = Made(results, missing, figures, trained, seconds)
    return write_report(cfg, seeds, families, made, command, variant), results


def main_config(overrides: list[str]) -> DictConfig:
    """The pipeline config for these command-line overrides (for tests and notebooks)."""
    return compose_config(ANALYSIS_CONFIG_DIR, "reproduce", overrides)
