"""Spikes from a network's cell outputs, as an experimentalist would record them (docs/replay.md).

A network's outputs (place-cell or head-direction-cell activations, one per code unit) become firing rates by one
scale for the whole population: the mean over cells of each cell's largest active-phase output fires at
``peak_rate`` Hz. Counts in a time bin of ``bin_steps`` network steps of ``dt`` seconds are Poisson with the bin's
summed rate times ``dt``: the sum of one Poisson count per step, drawn at once.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def rate_scale(active_outputs: Tensor, peak_rate: float) -> float:
    """Hz per unit of output, so that a typical cell's largest active output fires at ``peak_rate`` Hz.

    Args:
        active_outputs: (..., n_cells) outputs of the active phase.
        peak_rate: Hz.

    Returns:
        ``peak_rate / q``, q the mean over cells of each cell's maximum output (clipped below at 0).

    Raises:
        ValueError: every output is <= 0 (no cell ever fires).
    """
    per_cell = active_outputs.reshape(-1, active_outputs.shape[-1]).clamp(min=0).amax(dim=0)
    q = float(per_cell.double().mean())
    if not q > 0:
        raise ValueError("no output is above 0 in the active phase: these outputs cannot be turned into rates")
    return peak_rate / q


def bin_counts(outputs: Tensor, hz_per_unit: float, dt: float, bin_steps: int, generator: torch.Generator) -> Tensor:
    """Poisson spike counts of (B, T, n) outputs in bins of ``bin_steps`` steps: (B, T // bin_steps, n) float64.

    A cell's rate is ``hz_per_unit * max(output, 0)`` Hz at each step; a bin's count is Poisson with mean the bin's
    summed rate times ``dt`` (the steps left over after the last whole bin are dropped).
    """
    n_bins = outputs.shape[1] // bin_steps
    kept = outputs[:, : n_bins * bin_steps].double().clamp(min=0)
    expected = kept.reshape(outputs.shape[0], n_bins, bin_steps, -1).sum(dim=2) * (hz_per_unit * dt)
    return torch.poisson(expected, generator=generator)


def bin_latents(latent: np.ndarray, bin_steps: int) -> np.ndarray:
    """(B, T, k) embedded latents → (B, T // bin_steps, k): each bin's mean point (on a circle's embedding, the
    direction of the mean, which :meth:`~reactivation.geometry.Geometry.unembed` reads back as the circular mean)."""
    n_bins = latent.shape[1] // bin_steps
    kept = np.asarray(latent, dtype=np.float64)[:, : n_bins * bin_steps]
    return kept.reshape(latent.shape[0], n_bins, bin_steps, -1).mean(axis=2)
