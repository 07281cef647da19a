"""The report's tables of the analyses' results over seeds (mean ± std): the KL tables (:func:`kl_section`) and the
variance, distance and manifold summaries (:func:`summaries_section`), and the one table layout they and the theory
checks share (:func:`leaf_table`)."""

from __future__ import annotations

from reactivation import CONDITIONS as _CONDITIONS
from reactivation import KL_ROWS as _KL_ROWS
from reactivation.analysis import claims
from reactivation.analysis.aggregate import Summary, summarize_tree
from reactivation.tasks import TASKS

#: How the tables name each condition (and the random and uniform rows).
SHORT = {
    "noisy_unbiased": "Uσ",
    "noisy_biased": "Bσ",
    "no-noise_unbiased": "U (no noise)",
    "no-noise_biased": "B (no noise)",
    "random": "R (random)",
    "uniform": "𝒰 (uniform)",
}
#: The density-ratio clip of the published KL routine (docs/spec.md §7 decision "ratio clip").
_PUBLISHED_RATIO_CLIP = (1e-7, 1e7)
#: The heading of each family's tables.
FAMILY_TITLES = {
    "sn": "Spatial navigation, vanilla RNN",
    "sn_gru": "Spatial navigation, GRU",
    "hd": "Head direction",
    "track": "Linear track",
}


def task_of(family: str):
    """The task class of a family (its error name and geometry)."""
    return TASKS[claims.FAMILY_KEYS[family][0]]


def by_family(results: dict, family: str, kind: str) -> dict[int, dict]:
    return {seed: r[family][kind] for seed, r in results.items() if kind in r.get(family, {})}


def ratio_clip_note(ratio_clip: tuple[float, float] | list[float] | None) -> str:
    """The report's line saying whether, and to what, the KL estimates clipped each density ratio."""
    if ratio_clip is None:
        low, high = _PUBLISHED_RATIO_CLIP
        return f"KL density ratios unclipped (the published code clipped them to [{low:g}, {high:g}]: ratio_clip)."
    low, high = (float(r) for r in ratio_clip)
    published = " as in the published code" if (low, high) == _PUBLISHED_RATIO_CLIP else ""
    return f"KL density ratios clipped to [{low:g}, {high:g}]{published}."


def kl_section(results: dict, ratio_clip: tuple[float, float] | list[float] | None = None) -> list[str]:
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
        by_seed = by_family(results, family, "kl")
        if not by_seed:
            continue
        table = summarize_tree(by_seed)
        rows = [r for r in _KL_ROWS if r in table] + [r for r in table if r not in _KL_ROWS]
        cols = [c for c in _CONDITIONS if any(c in table[r] for r in rows)]
        lines += [
            f"### {FAMILY_TITLES[family]} ({len(by_seed)} seeds)",
            "",
            "| quiescent ↓ / active → | " + " | ".join(SHORT[c] for c in cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        for r in rows:
            cells = [table[r][c].format() if c in table[r] else "–" for c in cols]
            lines.append(f"| {SHORT.get(r, r)} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def leaf_table(title: str, note: str, by_seed: dict[int, dict], columns: list[str] | None) -> list[str]:
    table = summarize_tree(by_seed)
    conds = [c for c in _CONDITIONS if c in table] + [c for c in table if c not in _CONDITIONS]
    if columns is None:  # one number per condition
        rows = [f"| {SHORT.get(c, c)} | {table[c].format()} |" for c in conds]
        return [title, "", note, "", "| condition | value |", "|---|---|", *rows, ""]
    present = [k for k in columns if any(isinstance(table[c], dict) and k in table[c] for c in conds)]
    rows = []
    for c in conds:
        cells = [table[c][k].format() if k in table[c] and isinstance(table[c][k], Summary) else "–" for k in present]
        rows.append(f"| {SHORT.get(c, c)} | " + " | ".join(cells) + " |")
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


def summaries_section(results: dict) -> list[str]:
    lines = ["## Variance, distance and manifold summaries", ""]
    for family in claims.FAMILY_KEYS:
        name, geometry = FAMILY_TITLES[family], task_of(family).geometry_type
        if by_seed := by_family(results, family, "variance"):
            lines += leaf_table(
                f"### {name}: quiescent output variance",
                f"Mean over trajectories ({geometry.variance_note}).",
                by_seed,
                None,
            )
        if by_seed := by_family(results, family, "distance"):
            # Columns the results lack (the velocities of a space without a direction) are left out.
            cols = [
                "active",
                "quiescent",
                "quiescent_noisy",
                "active_velocity",
                "quiescent_velocity",
                "quiescent_noisy_velocity",
            ]
            lines += leaf_table(
                f"### {name}: mean step between decoded outputs",
                f"{geometry.unit}/step (velocity: signed mean); quiescent_noisy: a no-noise network "
                "run with noise (absolute mode).",
                by_seed,
                cols,
            )
        if by_seed := by_family(results, family, "manifold"):
            cols = ["pca_share", "curve_gap", "ring_active", "ring_quiescent"]
            lines += leaf_table(
                f"### {name}: hidden-state manifold and ring",
                "pca_share: share of quiescent hidden variance in the active top-10 PCs; curve_gap: "
                "largest gap between the cumulative explained-variance curves (PCs 1–10); ring: "
                "share of decoded positions 0.2–0.45 m from the centre (box) or the reward end "
                "(track).",
                by_seed,
                cols,
            )
    return lines
