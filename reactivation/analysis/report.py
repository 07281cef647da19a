"""``report.md``: SPEC §9's claims with mean ± std over seeds, the KL tables, summaries, runs and configuration.

:func:`render` turns what the pipeline gathered (a :class:`Gathered`) into markdown; it reads no files, so a test
can feed it hand-made results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from reactivation import CONDITIONS as _CONDITIONS
from reactivation.analysis import claims
from reactivation.analysis.aggregate import Summary, summarize_tree
from reactivation.tasks import TASKS

_KL_ROWS = (*_CONDITIONS, "random", "uniform")  # the paper's heat-map order
_SHORT = {
    "noisy_unbiased": "Uσ",
    "noisy_biased": "Bσ",
    "no-noise_unbiased": "U (no noise)",
    "no-noise_biased": "B (no noise)",
    "random": "R (random)",
    "uniform": "𝒰 (uniform)",
}
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
    """

    results: dict[int, dict[str, dict[str, dict]]]
    runs: list[RunInfo] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    header: list[tuple[str, str]] = field(default_factory=list)
    configuration: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _verdict(held: bool | None) -> str:
    return {True: "**held**", False: "**not held**", None: "not evaluated"}[held]


def _claims_section(results: dict) -> list[str]:
    lines = [
        "## Claims (SPEC §9)",
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
            seeds = f"{len(o.seeds_held)}/{len(o.seeds)}" if o.seeds else "–"
            sides = [
                q.label if q.constant else s.format() for q, s in ((o.criterion.lhs, o.lhs), (o.criterion.rhs, o.rhs))
            ]
            details.append(
                f"| {claim.number} | {o.criterion.text()} | {sides[0]} | {sides[1]} | {_verdict(o.held)} | {seeds} |"
            )
    return [*lines, *details, ""]


def _by_family(results: dict, family: str, kind: str) -> dict[int, dict]:
    return {seed: r[family][kind] for seed, r in results.items() if kind in r.get(family, {})}


def _kl_section(results: dict) -> list[str]:
    lines = [
        "## KL divergences (nats)",
        "",
        "KL(quiescent row ‖ active column), mean ± std over seeds, rows and columns in the paper's order",
        "(paper Fig. 2 / C.2). Small negative values are Monte Carlo error.",
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
    lines += _claims_section(g.results) + _kl_section(g.results) + _summaries_section(g.results)
    if g.figures:
        lines += ["## Figures", "", *[f"- [{Path(f).name}]({f})" for f in g.figures], ""]
    lines += _runs_section(g.runs)
    if g.missing:
        lines += ["## Missing", "", *[f"- {m}" for m in g.missing], ""]
    lines += ["## Configuration", ""]
    for title_, text in g.configuration:
        lines += [f"<details><summary>{title_}</summary>", "", "```yaml", text.rstrip(), "```", "", "</details>", ""]
    return "\n".join(lines)
