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
