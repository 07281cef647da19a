"""The check every panel test makes of a figure (no pyplot figure left open; a non-blank saved image)."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display needed, and no backend switch mid-session

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from reactivation.figures import style  # noqa: E402


def check(fig: Figure, tmp_path, name: str = "panel") -> None:
    """No pyplot figure left open, and the saved PNG is a non-blank image."""
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == []
    path = tmp_path / f"{name}.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a glyph missing from the fallback fonts
        style.save(fig, path)
    rgb = mpimg.imread(path)[..., :3]
    assert rgb.std() > 0 and not np.all(rgb == 1.0)


#: Axis labels that need no unit: categories, counts and dimensionless ratios named as such.
UNITLESS_LABELS = (
    "condition",
    "principal component",
    "training step",
    "active distribution",
    "quiescent distribution",
    "MSD exponent",
)


def readable(fig: Figure) -> list[str]:
    """What keeps ``fig`` from reading without the docs: an image or colour-mapped scatter without a colour bar
    whose label has a unit, or a labelled axis without a unit "(...)" (categories and counts excepted).

    Returns:
        One line per problem (empty: readable).
    """
    problems: list[str] = []
    bars, norms = set(), []  # a colour bar drawn for one of several mappables sharing a norm serves them all
    for ax in fig.axes:
        for mappable in [*ax.images, *ax.collections]:
            bar = getattr(mappable, "colorbar", None)
            if bar is not None:
                bars.add(bar.ax)
                norms.append(mappable.norm)
    for ax in fig.axes:
        if ax in bars:
            label = ax.get_ylabel() or ax.get_xlabel()
            if "(" not in label:
                problems.append(f"colour bar label {label!r} has no unit")
            continue
        name = ax.get_title() or "untitled axes"
        for mappable in [*ax.images, *(c for c in ax.collections if c.get_array() is not None and c.cmap.N > 2)]:
            covered = getattr(mappable, "colorbar", None) is not None or any(mappable.norm is n for n in norms)
            if not covered and type(mappable).__name__ != "Quiver":
                problems.append(f"{name}: a {type(mappable).__name__} without a colour bar")
        if ax.name == "polar":
            continue
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            if label and "(" not in label and label not in UNITLESS_LABELS:
                problems.append(f"{name}: axis label {label!r} has no unit")
    return problems
