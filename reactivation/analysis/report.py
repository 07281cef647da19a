"""``report.md``: docs/spec.md §9's claims with mean ± std over seeds, the KL tables, summaries, runs and configuration.

:func:`render` turns what the pipeline gathered (a :class:`Gathered`) into markdown; it reads no files, so a test
can feed it hand-made results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from reactivation.analysis.report_claims import Variant, claims_section, render_variants
from reactivation.analysis.report_tables import kl_section, ratio_clip_note, summaries_section, task_of
from reactivation.analysis.report_theory import theory_section

__all__ = [
    "Gathered",
    "RunInfo",
    "Variant",
    "claims_section",
    "ratio_clip_note",
    "render",
    "render_variants",
    "theory_section",
]


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


def _runs_section(runs: list[RunInfo]) -> list[str]:
    lines = [
        "## Runs",
        "",
        "| preset | seed | steps | test loss | decoding error | run directory |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(runs, key=lambda r: (r.preset, r.seed)):
        error = r.test.get(task_of(r.family).error_name, math.nan)
        lines.append(
            f"| {r.preset} | {r.seed} | {r.step} | {r.test.get('loss', math.nan):.3g} | {error:.3g} | `{r.run_dir}` |"
        )
    return [*lines, ""]


def render(g: Gathered, title: str = "Reproduction report") -> str:
    """The markdown text of a report."""
    lines = [f"# {title}", ""]
    lines += [f"- **{key}:** {value}" for key, value in g.header] + [""]
    lines += claims_section(g.results) + kl_section(g.results, g.kl_ratio_clip) + summaries_section(g.results)
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
