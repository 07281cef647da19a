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
import platform
import re
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import torch
from omegaconf import DictConfig, OmegaConf

from reactivation import ConfigError, ReactivationError, analyses, runs, usage
from reactivation.analysis import claims, lookup, report
from reactivation.analysis.results import MissingResult, read_result, read_test_metrics
from reactivation.analysis.settings import (
    CHECKS,
    FAMILIES,
    Settings,
    check,
    check_analyses,
    compose_analysis,
    settings,
)
from reactivation.config import (
    ANALYSIS_CONFIG_DIR,
    absolute,
    compose_config,
    preflight,
    resolved,
    results_root,
)
from reactivation.figures import make
from reactivation.figures.style import check_formats
from reactivation.loading import build, select_device
from reactivation.processes import run_child

log = logging.getLogger(__name__)

#: ``launcher=`` values: the ``hydra/launcher`` option of the training multirun (``None``: Hydra's basic one);
#: ``auto`` is resolved by :func:`launcher`.
LAUNCHERS = {
    "auto": None,
    "basic": None,
    "local": "local",
    "ensemble": "ensemble",
    "slurm": "slurm",
    "slurm_local": "slurm_local",
}


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
            lambda v: isinstance(v, list) and bool(v) and all(map(CHECKS["seed"][0], v)) and unique(v),
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
        ("train_overrides", *CHECKS["train_overrides"]),
        (
            "variants",
            lambda v: (
                v is None
                or isinstance(v, dict)
                and bool(v)
                and all(_VARIANT_NAME.fullmatch(str(k)) and CHECKS["train_overrides"][0](o) for k, o in v.items())
            ),
            "named lists of train.py overrides, names of letters, digits, '_', '.' and '-', e.g. "
            '\'variants={gaussian:["rnn.noise_dist=gaussian"],'
            'uniform:["rnn.noise_dist=uniform"]}\' (null: none)',
        ),
        ("path", *CHECKS["path"]),
        ("progress", *CHECKS["progress"]),
    ):
        check(key, values[key], test, allowed, typed[key])
    check_formats(values["formats"])
    check_analyses(values["analyses"])
    for name, overrides in variants(values).items():
        _check_overrides(values, list(values["families"]), name, overrides)
    select_device(values["device"])
    values["path"] = str(results_root(values["path"]))
    plain = OmegaConf.create(values)
    OmegaConf.set_struct(plain, True)
    return plain, list(values["seeds"]), list(values["families"])


def variants(cfg: DictConfig | dict) -> dict[str, list[str]]:
    """``{variant: its train.py overrides}``, each after the common ``train_overrides``; ``{"": train_overrides}``
    when there are no variants."""
    common = list(cfg["train_overrides"])
    if not cfg["variants"]:
        return {"": common}
    return {str(name): [*common, *overrides] for name, overrides in cfg["variants"].items()}


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


def _variant_config(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """``cfg`` with ``train_overrides`` set to one variant's (the pipeline's functions read it from there)."""
    one = cast(DictConfig, OmegaConf.create(OmegaConf.to_container(cfg)))
    one.train_overrides, one.variants = list(overrides), None
    OmegaConf.set_struct(one, True)
    return one


def _analysis_config(cfg: DictConfig, name: str, family: str, seed: int | None) -> DictConfig:
    """The config of analysis ``name`` (or of the figures) for one family and seed, with the settings of ``cfg``'s
    ``analyses`` block (the figures read the results those settings make)."""
    task, model = claims.FAMILY_KEYS[family]
    block = OmegaConf.to_container(cfg.analyses) if "analyses" in cfg else {}
    assert isinstance(block, dict)
    own = {k: v for k, v in (block.get(name) or {}).items() if v is not None}
    return compose_analysis(
        name,
        cfg.scale,
        task,
        model,
        seed,
        path=cfg.path,
        device=cfg.device,
        progress=bool(cfg.progress),
        train_overrides=list(cfg.train_overrides),
        **({"analyses": block} if name == "figures" else own),
    )


def missing_runs(cfg: DictConfig, seeds: list[int], families: list[str]) -> dict[str, list[int]]:
    """``{preset: [seeds]}`` of the runs that are not trained to the end yet."""
    missing: dict[str, list[int]] = {}
    for family in families:
        s = settings(_analysis_config(cfg, "kl", family, seeds[0]))
        for condition, by_seed in lookup.family_runs(s, seeds).items():
            for seed, run_dir in by_seed.items():
                if isinstance(run_dir, ReactivationError):
                    missing.setdefault(s.conditions[condition], []).append(seed)
    return missing


def launcher(cfg: DictConfig) -> tuple[str, str]:
    """The launcher the training runs use, and why.

    ``auto`` trains as ensembles (``hydra/launcher=ensemble``) on CUDA, where one stacked computation replaces
    many launch-bound small ones, and as parallel single runs (``local``) on a CPU, where ensembles measured no
    gain: 0.70-0.98x the throughput of separate runs for SN and the GRU, 0.79-1.34x for HD
    (benchmarks/results/vm-ensemble.md, docs/speed.md "Many runs").
    """
    if cfg.launcher != "auto":
        return cfg.launcher, "as asked (launcher=" + cfg.launcher + ")"
    if select_device(cfg.device).type == "cuda":
        return "ensemble", "launcher=auto on CUDA: runs that share shapes train as one ensemble"
    return "local", (
        "launcher=auto on CPU: parallel single runs, since ensembles measured no gain on CPU "
        "(benchmarks/results/vm-ensemble.md); launcher=ensemble forces them"
    )


def train_commands(cfg: DictConfig, missing: dict[str, list[int]]) -> list[list[str]]:
    """One ``reactivation train -m`` command per group of presets missing the same seeds.

    The command runs the installed package (``python -m reactivation train``), so it needs no checkout.
    """
    groups: dict[tuple[int, ...], list[str]] = {}
    for preset, seeds in missing.items():
        groups.setdefault(tuple(seeds), []).append(preset)
    option = LAUNCHERS[launcher(cfg)[0]]
    commands = []
    for group_seeds, presets in groups.items():
        command = [
            sys.executable,
            "-m",
            "reactivation",
            "train",
            "-m",
            f"config={','.join(presets)}",
            f"seed={','.join(map(str, group_seeds))}",
            f"scale={cfg.scale}",
            f"path={_quoted(str(absolute(cfg.path)))}",
            f"device={cfg.device}",
            "trainer.progress=false",
        ]
        command += [f"hydra/launcher={option}"] if option else []
        commands.append(command + [*map(str, cfg.train_overrides), *map(str, cfg.train_args)])
    return commands


def _quoted(value: str) -> str:
    """``value`` as a Hydra override value that stays one string (a comma would make a multirun sweep)."""
    if re.fullmatch(r"[\w./@:+~-]+", value):
        return value
    return "'" + value.replace("'", "\\'").replace("${", "\\${") + "'"


def train(cfg: DictConfig, seeds: list[int], families: list[str]) -> int:
    """Train what is missing; returns the number of runs trained. Raises if any is still missing after."""
    missing = missing_runs(cfg, seeds, families)
    n = sum(len(v) for v in missing.values())
    if not n:
        log.info("every run is trained already; reusing them")
        return 0
    log.info("training %d run(s) with the %s launcher: %s", n, *launcher(cfg))
    for command in train_commands(cfg, missing):
        log.info("training %s", shlex.join(command[1:]))
        # In the caller's working directory (train_args may name files relative to it; path is absolute), in
        # its own process group, stopped with us on Ctrl-C or SIGTERM.
        code = run_child(command)
        if code != 0:
            raise ReactivationError(
                f"training failed (exit {code}): {shlex.join(command)}\n"
                "Fix the cause shown above and run the same reproduce command again: "
                "finished runs are kept and unfinished ones resume."
            )
    still = missing_runs(cfg, seeds, families)
    if still:
        raise ReactivationError(f"runs still missing after training: {still}")
    return n


def _reusable(s: Settings, kind: str) -> dict | None:
    """The saved result of ``kind`` if it was computed with these very settings from runs that still exist."""
    try:
        result, meta = read_result(s, kind)
    except MissingResult:
        return None
    except ReactivationError as err:  # unreadable, or of other settings: computed again, which replaces it
        log.warning("%s", err)
        return None
    return result if all(Path(p).is_dir() for p in meta.get("runs", {}).values()) else None


def analyse(cfg: DictConfig, seeds: list[int], families: list[str]) -> dict[int, dict[str, dict[str, dict]]]:
    """Run (or reuse) every analysis; returns ``{seed: {family: {kind: result}}}``."""
    results: dict[int, dict[str, dict[str, dict]]] = {seed: {} for seed in seeds}
    for family in families:
        for seed in seeds:
            for analysis in analyses.PAPER:
                kind = analysis.name
                s = settings(_analysis_config(cfg, kind, family, seed))
                result = None if cfg.force else _reusable(s, kind)
                if result is None:
                    log.info("%s %s seed %d", kind, family, seed)
                    result = analysis.run(s)[kind]
                results[seed].setdefault(family, {})[kind] = result
    return results


def load_results(
    cfg: DictConfig, seeds: list[int], families: list[str]
) -> tuple[dict[int, dict[str, dict[str, dict]]], list[str]]:
    """The analysis results on disk made with the settings ``cfg`` asks for.

    Returns:
        ``{seed: {family: {kind: result}}}`` and one line per result that is missing, unreadable or of other
        settings (with the command that makes it).
    """
    results: dict[int, dict[str, dict[str, dict]]] = {seed: {} for seed in seeds}
    problems = []
    for family in families:
        for seed in seeds:
            for kind in (a.name for a in analyses.PAPER):
                try:
                    result, _ = read_result(settings(_analysis_config(cfg, kind, family, seed)), kind)
                except ReactivationError as err:
                    problems.append(str(err))
                    continue
                results[seed].setdefault(family, {})[kind] = result
    return results, problems


def draw(cfg: DictConfig, seeds: list[int], families: list[str], variant: str = "") -> tuple[list[Path], list[str]]:
    """Every figure of every family (a variant's in its own folder); returns the written files and what the
    figures lacked."""
    written, missing = [], []
    for family in families:
        fcfg = _analysis_config(cfg, "figures", family, None)
        fcfg.seeds, fcfg.formats = list(seeds), list(cfg.formats)
        _, inv, files = make.write(fcfg, subdir=variant)
        written += files
        missing += inv.missing
    return written, missing


def _run_infos(cfg: DictConfig, seeds: list[int], families: list[str], missing: list[str]) -> list[report.RunInfo]:
    infos = []
    for family in families:
        s = settings(_analysis_config(cfg, "kl", family, seeds[0]))
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
        out, results = reproduce_one(_variant_config(cfg, overrides), seeds, families, command, name)
        done[name] = report.Variant(overrides, results, out.name if out else "")
    by_variant = {name: v.results for name, v in done.items()}
    if "report" not in cfg.stages:
        return None, by_variant
    header = [
        ("command", f"`{command}`"),
        ("scale", str(cfg.scale)),
        ("seeds", ", ".join(map(str, seeds))),
        ("families", ", ".join(families)),
        ("time", f"{(time.perf_counter() - start) / 60:.1f} min for all variants"),
        ("written", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    out = Path(cfg.path) / "report.md"
    runs.write_text_atomic(out, report.render_variants(done, header, f"Variants side by side ({cfg.scale} scale)"))
    return out, by_variant


def reproduce_one(
    cfg: DictConfig, seeds: list[int], families: list[str], command: str, variant: str = ""
) -> tuple[Path | None, dict[int, dict[str, dict[str, dict]]]]:
    """The four stages for one set of ``train_overrides`` (``cfg``'s); the report is ``report.md``, or
    ``report_<variant>.md`` for a variant, whose figures go to ``figures/<variant>/``.

    Returns:
        The report's path (``None`` without the report stage) and the results ``{seed: {family: {kind: ...}}}``.
    """
    stages, root = set(cfg.stages), Path(cfg.path)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    trained = train(cfg, seeds, families) if "train" in stages else 0
    timings["training"] = time.perf_counter() - start
    start = time.perf_counter()
    results, missing = (
        (analyse(cfg, seeds, families), []) if "analyse" in stages else load_results(cfg, seeds, families)
    )
    timings["analyses"] = time.perf_counter() - start
    start = time.perf_counter()
    figures, lacking = draw(cfg, seeds, families, variant) if "figures" in stages else ([], [])
    missing += lacking
    timings["figures"] = time.perf_counter() - start
    if "report" not in stages:
        return None, results
    infos = _run_infos(cfg, seeds, families, missing)
    missing = list(dict.fromkeys(missing))  # the figures and the result loading name the same missing files
    header = [
        ("command", f"`{command}`"),
        *([("variant", f"{variant}: train.py " + " ".join(cfg.train_overrides))] if variant else []),
        *([("train overrides", " ".join(cfg.train_overrides))] if cfg.train_overrides and not variant else []),
        ("scale", str(cfg.scale)),
        ("seeds", ", ".join(map(str, seeds))),
        ("families", ", ".join(families)),
        ("runs", f"{len(infos)} ({trained} trained by this call, the rest reused)"),
        *([("training launcher", "{} ({})".format(*launcher(cfg)))] if trained else []),
        ("time", ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items())),
        (
            "machine",
            f"{platform.node()}, {platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} torch threads, device {cfg.device}",
        ),
        ("software", f"Python {platform.python_version()}, torch {torch.__version__}"),
        ("written", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
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
    return out, results


def main_config(overrides: list[str]) -> DictConfig:
    """The pipeline config for these command-line overrides (for tests and notebooks)."""
    return compose_config(ANALYSIS_CONFIG_DIR, "reproduce", overrides)


def verdicts(results: dict[int, dict[str, dict[str, dict]]]) -> list[str]:
    """One line per claim: its number, title and verdict (for the command's closing message)."""
    words = {True: "held", False: "NOT held", None: "not evaluated"}
    lines = []
    for c in claims.reported(results):
        held = claims.claim_held([claims.evaluate(k, results) for k in c.criteria])
        lines.append(f"claim {c.number} ({c.title}): {words[held]}")
    return lines
