"""The training objective (docs/spec.md §5): the mean squared error of the network's outputs on the cell code.

One module, so that a single run's loss, the stacked members' losses and the test loss are the same function
(tests replace it here to make training diverge on purpose).
"""

from __future__ import annotations

import torch


def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The 0-d mean squared error of (B, T, n) outputs against (B, T, n) targets."""
    return torch.mean((outputs - targets) ** 2)


def member_mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(E,) mean squared error of each member: (E, B, T, n) outputs and targets."""
    return torch.mean((outputs - targets) ** 2, dim=(1, 2, 3))
