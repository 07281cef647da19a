"""The report's claims (docs/spec.md §9): their verdicts and each criterion's two sides over seeds
(:func:`claims_section`), and the claims of several variants side by side (:func:`render_variants`)."""

from __future__ import annotations

from dataclasses import dataclass

from reactivation.analysis import claims


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
