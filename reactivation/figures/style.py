"""Shared look of every figure: colours, fonts, paper order of conditions (docs/spec.md §8).

The style is applied through :func:`apply_style`, a ``matplotlib.rc_context``: it changes rcParams only
inside the ``with`` block, so importing or plotting never alters a user's global matplotlib settings.
Fonts are a fallback list of family names (no font files): Arial where installed, else Helvetica, else
DejaVu Sans (shipped with matplotlib, so always present).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib as mpl
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from reactivation import CONDITIONS, KL_ROWS, ConfigError  # the package root: errors and names only, no torch

# Paper colours (docs/spec.md §8).
ACTIVE = "#2ca7c5"
QUIESCENT = "#ee3233"
# A no-noise network run with noise added ("absolute" quiescence mode, docs/spec.md §6).
QUIESCENT_NOISY = "#7b4fa0"
PHASE_COLOURS: dict[str, str] = {"active": ACTIVE, "quiescent": QUIESCENT, "quiescent_noisy": QUIESCENT_NOISY}
PHASE_LABELS: dict[str, str] = {
    "active": "active",
    "quiescent": "quiescent",
    "quiescent_noisy": "quiescent, noise added",
}

# Paper order of the four trained conditions, and of the KL table's rows (quiescent) and columns (active).
KL_COLUMNS: tuple[str, ...] = CONDITIONS

LABELS: dict[str, str] = {
    "noisy_unbiased": "noisy, unbiased",
    "noisy_biased": "noisy, biased",
    "no-noise_unbiased": "no noise, unbiased",
    "no-noise_biased": "no noise, biased",
    "random": "random network",
    "uniform": "uniform",
}

# Noisy conditions are saturated, no-noise ones lighter; unbiased blue-green, biased orange-brown.
CONDITION_COLOURS: dict[str, str] = {
    "noisy_unbiased": "#1b7f99",
    "noisy_biased": "#c2571a",
    "no-noise_unbiased": "#8fd0e0",
    "no-noise_biased": "#f2b07e",
    "random": "#7f7f7f",
    "uniform": "#bdbdbd",
}

FONT_FALLBACK: tuple[str, ...] = ("Arial", "Helvetica", "DejaVu Sans")

# Generic family "sans-serif" resolved through the list: matplotlib picks the first installed name
# silently, whereas listing missing names in font.family itself logs a "font not found" warning per name.
STYLE: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": [*FONT_FALLBACK, *mpl.rcParamsDefault["font.sans-serif"]],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.5,
    "image.cmap": "viridis",
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    # Text stays text in vector output (editable in Illustrator/Inkscape) instead of outlined paths.
    "pdf.fonttype": 42,
    "svg.fonttype": "none",
}

P = ParamSpec("P")
R = TypeVar("R")


def apply_style(**overrides: Any) -> AbstractContextManager:
    """The package style as a context manager: ``with apply_style(): fig = ...``.

    rcParams are restored when the block exits. Most settings (fonts, line widths, spines) are read when
    artists are created, so build figures inside the block; ``savefig.*`` settings are read when saving.

    Args:
        **overrides: rcParams to set on top of :data:`STYLE`, e.g. ``apply_style(**{"font.size": 12})``.
    """
    # matplotlib types rc_context's keys as a Literal of every rcParam name; these are checked at run time instead
    # (an unknown key raises KeyError), as overrides are any strings.
    rc: dict[Any, Any] = {**STYLE, **overrides}
    return mpl.rc_context(rc)


def styled(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run a panel function inside :func:`apply_style`."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with apply_style():
            return func(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout ``Figure`` of ``width`` × ``height`` inches, outside pyplot's registry.

    Built directly rather than with ``plt.subplots`` so no figure is left open in pyplot (no memory growth
    in loops, no stray windows in notebooks); ``fig.savefig`` works on it with any file backend.
    """
    return Figure(figsize=(width, height), layout="constrained")


def supported_formats() -> list[str]:
    """File formats matplotlib can save here (``png``, ``pdf``, ``svg``, ...), sorted."""
    return sorted(Figure().canvas.get_supported_filetypes())


def check_formats(formats: Any) -> None:
    """Check a ``formats`` setting before any figure is drawn (a bad one would fail only at the first save).

    Raises:
        ConfigError: not a non-empty list of formats matplotlib can save, naming the bad ones and the choices.
    """
    known = supported_formats()
    bad = [f for f in formats if f not in known] if isinstance(formats, list) else None
    if not formats or bad is None or bad:
        shown = f"[{','.join(map(str, formats))}]" if isinstance(formats, list) else str(formats)
        raise ConfigError(
            f"formats={shown} is not allowed"
            + (f" ({', '.join(map(str, bad))} unknown)" if bad else "")
            + f": formats must be a non-empty list of {', '.join(known)}, e.g. formats=[png,pdf]."
        )


def save(fig: Figure, path: str | Path, **kwargs: Any) -> None:
    """``fig.savefig(path, **kwargs)`` with the package's ``savefig.*`` settings (dpi, tight bounding box).

    The one place of the figures package that writes files; the format follows the suffix (png, pdf, svg).
    """
    with apply_style():
        fig.savefig(path, **kwargs)


def label(name: str) -> str:
    """Human-readable label of a condition or KL row (the name itself if unknown)."""
    return LABELS.get(name, name)


def colour(name: str) -> str:
    """Colour of a condition, KL row or phase (grey if unknown)."""
    return CONDITION_COLOURS.get(name) or PHASE_COLOURS.get(name) or "#555555"


def shades(base: str, n: int, max_mix: float = 0.6) -> list[tuple[float, float, float]]:
    """``n`` RGB shades of ``base``, from ``base`` itself to ``max_mix`` of the way to white.

    Used to tell several trajectories of one phase apart while keeping the phase colour.
    """
    if n <= 0:
        return []  # (np.zeros(1) below would make one shade of none, and a caller draw a line it was not asked for)
    rgb = np.asarray(to_rgb(base))
    mixes = np.linspace(0.0, max_mix, n) if n > 1 else np.zeros(1)
    return [(float(r), float(g), float(b)) for r, g, b in (rgb + m * (1.0 - rgb) for m in mixes)]


def in_paper_order(names: Any, order: tuple[str, ...] = KL_ROWS) -> list[str]:
    """``names`` sorted into ``order``; names not in ``order`` follow, in their given order."""
    names = list(names)
    return [n for n in order if n in names] + [n for n in names if n not in order]
