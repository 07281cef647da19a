"""``report.md``: docs/spec.md §9's claims with mean ± std over seeds, the KL tables, summaries, runs and configuration.

:func:`render` turns what the pipeline gathered (a :class:`Gathered`) into markdown; it reads no files, so a test
can feed it hand-made results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from reactivation import CONDITIONS as _CONDITIONS
from reactivation import KL_ROWS as _KL_ROWS
from reactivation.analysis import claims
from reactivation.analysis.aggregate import Summary, summarize_tree
from reactivation.tasks import TASKS

_SHORT = {
    "noisy_unbiased": "Uσ",
    "noisy_biased": "Bσ",
    "no-noise_unbiased": "U (no noise)",
    "no-noise_biased": "B (no noise)",
    "random": "R (random)",
    "uniform": "𝒰 (uniform)",
}
#: The density-ratio clip of the published KL routine (docs/spec.md §7 decision "ratio clip").
_PUBLISHED_RATIO_CLIP = (1e-7, 1e7)
_FAMILY_TITLES = {
    "sn": "Spatial navigation, vanilla RNN",
    "sn_gru": "Spatial navigation, GRU",
    "hd": "Head direction",
    "track": "Linear track",
}


def _task(family: str):
    """The task class of a family (its error name and geometry)."""
    return TASKS[claims.FAMILY_KEYS[family][0]]


@dataclass
class RunInfo:
    """One training run as the report lists it."""

    family: str
    condition: str
    preset: str
    seed: int
    run_dir: str
    step: int
    test: dict[str, float]


@dataclass
class Gathered:
    """Everything a report shows.

    Attributes:
        results: ``{seed: {family: {kind: result}}}`` (kind: kl, variance, distance, manifold).
        runs: every run used.
        figures: written figure files, relative to the report's folder.
        header: ``(key, value)`` lines of the header (scale, seeds, machine, timings, command).
        configuration: ``(title, yaml text)`` blocks: the pipeline's settings and each preset's training config.
        missing: what could not be found or computed, with the command that makes it.
        kl_ratio_clip: ``[low, high]`` the KL results clipped each density ratio to (their ``ratio_clip`` setting),
            or ``None``: unclipped.
    """

    results: dict[int, dict[str, dict[str, dict]]]
    runs: list[RunInfo] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    header: list[tuple[str, str]] = field(default_factory=list)
    configuration: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    kl_ratio_clip: tuple[float, float] | list[float] | None = None


def _verdict(held: bool | None) -> str:
    return {True: "**held**", False: "**not held**", None: "not evaluated"}[held]


def claims_section(results: dict) -> list[str]:
    lines = [
        "## Claims (docs/spec.md §9)",
        "",
        "Each criterion compares two statistics, mean ± std over seeds (population std, ddof 0). A criterion",
        "holds when it holds on the means; *seeds* counts the single seeds where it held on their own values.",
        "A claim holds when all its criteria hold.",
        "",
        "| claim | verdict |",
        "|---|---|",
    ]
    details = ["", "| claim | criterion | left side | right side | on the means | seeds |", "|---|---|---|---|---|---|"]
    for claim in claims.reported(results):
        outcomes = [claims.evaluate(c, results) for c in claim.criteria]
        lines.append(f"| {claim.number}. {claim.title} | {_verdict(claims.claim_held(outcomes))} |")
        for o in outcomes:
            sides, seeds = _sides(o)
            details.append(
                f"| {claim.number} | {o.criterion.text()} | {sides[0]} | {sides[1]} | {_verdict(o.held)} | {seeds} |"
            )
    return [*lines, *details, ""]


def _sides(o: claims.Outcome) -> tuple[tuple[str, str], str]:
    """The two sides of an evaluated criterion as the report prints them, and its ``held/defined`` seed count."""
    lhs, rhs = (q.label if q.constant else s.format() for q, s in ((o.criterion.lhs, o.lhs), (o.criterion.rhs, o.rhs)))
    return (lhs, rhs), f"{len(o.seeds_held)}/{len(o.seeds)}" if o.seeds else "–"


@dataclass
class Variant:
    """One variant of a side-by-side report: its ``train.py`` overrides, its results and its own report file."""

    overrides: list[str]
    results: dict[int, dict[str, dict[str, dict]]]
    report: str


def render_variants(variants: dict[str, Variant], header: list[tuple[str, str]], title: str) -> str:
    """The markdown of ``report.md`` for variants: the claims of docs/spec.md §9 under each variant, side by side.

    Each cell is ``left side vs right side, verdict (seeds held/defined)``, as in each variant's own report.
    """
    names = list(variants)
    lines = [f"# {title}", "", *[f"- **{key}:** {value}" for key, value in header], ""]
    lines += ["## Variants", "", "| variant | train.py overrides | report |", "|---|---|---|"]
    for name, v in variants.items():
        lines.append(f"| {name} | {' '.join(f'`{o}`' for o in v.overrides) or '(none)'} | [{v.report}]({v.report}) |")
    columns = " | ".join(names)
    lines += ["", "## Claims side by side (docs/spec.md §9)", ""]
    lines += ["Verdicts on the means over seeds; each variant's report has every table and figure.", ""]
    lines += [f"| claim | {columns} |", "|---" * (len(names) + 1) + "|"]
    details = ["", f"| claim | criterion | {columns} |", "|---" * (len(names) + 2) + "|"]
    first = variants[names[0]].results
    for claim in claims.reported(first):
        outcomes = {name: [claims.evaluate(c, v.results) for c in claim.criteria] for name, v in variants.items()}
        verdicts = (_verdict(claims.claim_held(outcomes[name])) for name in names)
        lines.append(f"| {claim.number}. {claim.title} | " + " | ".join(verdicts) + " |")
        for i, criterion in enumerate(claim.criteria):
            if all(outcomes[name][i].held is None for name in names):
                continue  # its family was not asked for: the verdict table says "not evaluated" already
            cells = []
            for name in names:
                o = outcomes[name][i]
                (lhs, rhs), seeds = _sides(o)
                cells.append(f"{lhs} vs {rhs}, {_verdict(o.held)} ({seeds})")
            details.append(f"| {claim.number} | {criterion.text()} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, *details, ""])


def _by_family(results: dict, family: str, kind: str) -> dict[int, dict]:
    return {seed: r[family][kind] for seed, r in results.items() if kind in r.get(family, {})}


def ratio_clip_note(ratio_clip: tuple[float, float] | list[float] | None) -> str:
    """The report's line saying whether, and to what, the KL estimates clipped each density ratio."""
    if ratio_clip is None:
        low, high = _PUBLISHED_RATIO_CLIP
        return f"KL density ratios unclipped (the published code clipped them to [{low:g}, {high:g}]: ratio_clip)."
    low, high = (float(r) for r in ratio_clip)
    published = " as in the published code" if (low, high) == _PUBLISHED_RATIO_CLIP else ""
    return f"KL density ratios clipped to [{low:g}, {high:g}]{published}."


def _kl_section(results: dict, ratio_clip: tuple[float, float] | list[float] | None = None) -> list[str]:
    lines = [
        "## KL divergences (nats)",
        "",
        "KL(quiescent row ‖ active column), mean ± std over seeds, rows and columns in the paper's order",
        "(paper Fig. 2 / C.2). Small negative values are Monte Carlo error.",
        # Clipped and unclipped tables differ wherever a quiescent cloud reaches places of vanishing active density.
        ratio_clip_note(ratio_clip),
        "",
    ]
    for family in claims.FAMILY_KEYS:
        by_seed = _by_family(results, family, "kl")
        if not by_seed:
            continue
        table = summarize_tree(by_seed)
        rows = [r for r in _KL_ROWS if r in table] + [r for r in table if r not in _KL_ROWS]
        cols = [c for c in _CONDITIONS if any(c in table[r] for r in rows)]
        lines += [
            f"### {_FAMILY_TITLES[family]} ({len(by_seed)} seeds)",
            "",
            "| quiescent ↓ / active → | " + " | ".join(_SHORT[c] for c in cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        for r in rows:
            cells = [table[r][c].format() if c in table[r] else "–" for c in cols]
            lines.append(f"| {_SHORT.get(r, r)} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _leaf_table(title: str, note: str, by_seed: dict[int, dict], columns: list[str] | None) -> list[str]:
    table = summarize_tree(by_seed)
    conds = [c for c in _CONDITIONS if c in table] + [c for c in table if c not in _CONDITIONS]
    if columns is None:  # one number per condition
        rows = [f"| {_SHORT.get(c, c)} | {table[c].format()} |" for c in conds]
        return [title, "", note, "", "| condition | value |", "|---|---|", *rows, ""]
    present = [k for k in columns if any(isinstance(table[c], dict) and k in table[c] for c in conds)]
    rows = []
    for c in conds:
        cells = [table[c][k].format() if k in table[c] and isinstance(table[c][k], Summary) else "–" for k in present]
        rows.append(f"| {_SHORT.get(c, c)} | " + " | ".join(cells) + " |")
    return [
        title,
        "",
        note,
        "",
        "| condition | " + " | ".join(present) + " |",
        "|---" * (len(present) + 1) + "|",
        *rows,
        "",
    ]


def _summaries_section(results: dict) -> list[str]:
    lines = ["## Variance, distance and manifold summaries", ""]
    for family in claims.FAMILY_KEYS:
        name, geometry = _FAMILY_TITLES[family], _task(family).geometry_type
        if by_seed := _by_family(results, family, "variance"):
            lines += _leaf_table(
                f"### {name}: quiescent output variance",
                f"Mean over trajectories ({geometry.variance_note}).",
                by_seed,
                None,
            )
        if by_seed := _by_family(results, family, "distance"):
            # Columns the results lack (the velocities of a space without a direction) are left out.
            cols = [
                "active",
                "quiescent",
                "quiescent_noisy",
                "active_velocity",
                "quiescent_velocity",
                "quiescent_noisy_velocity",
            ]
            lines += _leaf_table(
                f"### {name}: mean step between decoded outputs",
                f"{geometry.unit}/step (velocity: signed mean); quiescent_noisy: a no-noise network "
                "run with noise (absolute mode).",
                by_seed,
                cols,
            )
        if by_seed := _by_family(results, family, "manifold"):
            cols = ["pca_share", "curve_gap", "ring_active", "ring_quiescent"]
            lines += _leaf_table(
                f"### {name}: hidden-state manifold and ring",
                "pca_share: share of quiescent hidden variance in the active top-10 PCs; curve_gap: "
                "largest gap between the cumulative explained-variance curves (PCs 1–10); ring: "
                "share of decoded positions 0.2–0.45 m from the centre (box) or the reward end "
                "(track).",
                by_seed,
                cols,
            )
    return lines


def _flat(by_seed: dict[int, dict], pick) -> dict[int, dict]:
    """``{seed: {condition: {column: number}}}`` from each seed's result, ``pick(entry)`` giving the columns."""
    return {seed: {c: pick(entry) for c, entry in result.items()} for seed, result in by_seed.items()}


def _columns(table: dict[int, dict]) -> list[str]:
    """The columns of a :func:`_flat` table, in the order of its first entry."""
    first = next(iter(table.values()))
    return list(next(iter(first.values())))


def _number(value) -> float:
    return math.nan if value is None else float(value)


def _drift_columns(entry: dict) -> dict[str, float]:
    return {
        "PCA slope": entry["pca"]["slope"],
        "PCA cosine": entry["pca"]["cosine"],
        "ceiling slope": entry["reference"]["slope"],
        "ceiling cosine": entry["reference"]["cosine"],
        "decoded slope": entry["decoded"]["slope"],
        "decoded cosine": entry["decoded"]["cosine"],
        # along and across the active manifold (results written before 2026-12-07 have no split: NaN)
        **{
            f"{part} {key}": _number(entry.get(f"pca_{part}", {}).get(key))
            for part in ("normal", "tangent")
            for key in ("slope", "cosine")
        },
    }


def _temperature_columns(entry: dict) -> dict[str, float]:
    kl = {f"KL c={c:.3g}": _number(k) for c, k in zip(entry["factors"], entry["kl"])}
    return {**kl, "least-KL c": _number(entry["best_factor"])}


def _diffusion_columns(entry: dict) -> dict[str, float]:
    return {
        "active exponent": _number(entry["active"]["exponent"]),
        "quiescent exponent": _number(entry["quiescent"]["exponent"]),
        "active acf time": _number(entry["active"]["acf_time"]),  # null where it outlasts the lags: left out
        "quiescent acf time": _number(entry["quiescent"]["acf_time"]),
    }


def theory_section(results: dict) -> list[str]:
    """The checks of the theory (docs/theory.md): drift against score, the noise temperature, diffusion."""
    sections = []
    for family in claims.FAMILY_KEYS:
        name, unit = _FAMILY_TITLES[family], _task(family).geometry_type.unit
        if by_seed := _by_family(results, family, "drift"):
            table = _flat(by_seed, _drift_columns)
            sections += _leaf_table(
                f"### {name}: zero-input drift against s² ∇ log p (output_drift.py)",
                "Slope of the drift on the score times the noise variance, and their cosine, in the active top-k "
                "principal components and in the decoded latent; theory: 1 and 1. *ceiling*: the same estimator on "
                "a Gaussian whose optimal drift is exact, which a perfect denoiser meets (on a Gaussian line and on "
                "a ring: docs/theory.md). *normal*, *tangent*: the PCA comparison across and along the active "
                "manifold. R (random): the untrained network.",
                table,
                _columns(table),
            )
        if by_seed := _by_family(results, family, "temperature"):
            table = _flat(by_seed, _temperature_columns)
            sections += _leaf_table(
                f"### {name}: KL(quiescent ‖ active) against the noise factor c (output_temperature.py)",
                "σ_q = c · σ_rec, nats; theory: least near c = √2 ≈ 1.41 (Langevin sampling of the active states).",
                table,
                _columns(table),
            )
        if by_seed := _by_family(results, family, "diffusion"):
            sections += _leaf_table(
                f"### {name}: diffusion or sequence (output_diffusion.py)",
                "Log-log slope of the mean squared displacement of decoded trajectories against lag (1 diffusive, "
                f"2 ballistic; {unit}², short lags) and the step autocorrelation's 1/e time (steps; a seed whose "
                "autocorrelation never falls below 1/e is left out of the mean).",
                table := _flat(by_seed, _diffusion_columns),
                _columns(table),
            )
    return ["## Theory checks", "", *sections] if sections else []


def _runs_section(runs: list[RunInfo]) -> list[str]:
    lines = [
        "## Runs",
        "",
        "| preset | seed | steps | test loss | decoding error | run directory |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(runs, key=lambda r: (r.preset, r.seed)):
        error = r.test.get(_task(r.family).error_name, math.nan)
        lines.append(
            f"| {r.preset} | {r.seed} | {r.step} | {r.test.get('loss', math.nan):.3g} | {error:.3g} | `{r.run_dir}` |"
        )
    return [*lines, ""]


def render(g: Gathered, title: str = "Reproduction report") -> str:
    """The markdown text of a report."""
    lines = [f"# {title}", ""]
    lines += [f"- **{key}:** {value}" for key, value in g.header] + [""]
    lines += claims_section(g.results) + _kl_section(g.results, g.kl_ratio_clip) + _summaries_section(g.results)
    lines += theory_section(g.results)
    if g.figures:
        lines += ["## Figures", "", *[f"- [{Path(f).name}]({f})" for f in g.figures], ""]
    lines += _runs_section(g.runs)
    if g.missing:
        lines += ["## Missing", "", *[f"- {m}" for m in g.missing], ""]
    lines += ["## Configuration", ""]
    for title_, text in g.configuration:
        lines += [f"<details><summary>{title_}</summary>", "", "```yaml", text.rstrip(), "```", "", "</details>", ""]
    return "\n".join(lines)
