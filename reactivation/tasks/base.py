"""What every task returns, and what every task provides."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import torch
from torch import Tensor


@dataclass(frozen=True)
class Batch:
    """One batch of trajectories, all tensors on the task's device.

    Attributes:
        inputs: (B, T, n_in) network input per step (SN: displacement in metres per step,
            drift included; HD: heading change in radians per step).
        init_code: (B, n_code) population code of the initial latent (the network's initial state
            is ``Encoder @ init_code``).
        targets: (B, T, n_code) population code of the latent after each step.
        latent: (B, T, d) true latent after each step (SN: position in metres, d = 2;
            HD: heading in radians wrapped to [-pi, pi), d = 1).
        init_latent: (B, d) true latent the trajectory starts from (same units as ``latent``).
    """

    inputs: Tensor
    init_code: Tensor
    targets: Tensor
    latent: Tensor
    init_latent: Tensor

    def to(self, device: torch.device | str) -> "Batch":
        """Return a copy with every tensor on ``device``."""
        return Batch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


class Task(Protocol):
    """A path-integration task: draws trajectories and owns the population code of its latent.

    Tasks are ``torch.nn.Module`` s so that ``.to(device)`` and ``state_dict()`` carry the code's
    centres (which are drawn once per run and saved with the model).
    """

    n_in: int  # input dimension (SN 2, HD 1)
    n_code: int  # number of units of the population code (= model n_out and n_init)
    latent_dim: int  # dimension of the latent (SN 2, HD 1)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw ``batch_size`` trajectories with ``generator`` (which lives on the task's device)."""
        ...

    def decode(self, outputs: Tensor) -> Tensor:
        """Decode network outputs (..., n_code) into the latent (..., d)."""
        ...

    def decoding_error(self, outputs: Tensor, latent: Tensor) -> Tensor:
        """Scalar decoding error: SN mean squared error in m^2, HD mean squared wrapped error in rad^2."""
        ...


class CodedTask(torch.nn.Module):
    """Shared part of the tasks: the population code (submodule ``code``), decoding and batch assembly."""

    def __init__(self, code: torch.nn.Module) -> None:
        super().__init__()
        self.code = code

    @property
    def n_code(self) -> int:
        """Number of units of the code (= model n_out and n_init)."""
        return self.code.n_units

    def decode(self, outputs: Tensor) -> Tensor:
        """Decode outputs (..., n_code) into the latent (..., d)."""
        return self.code.decode(outputs)

    def _batch(self, inputs: Tensor, init_latent: Tensor, latent: Tensor) -> Batch:
        # Encoding the latents here keeps targets and initial code consistent with ``decode``.
        return Batch(inputs=inputs, init_code=self.code.encode(init_latent), targets=self.code.encode(latent),
                     latent=latent, init_latent=init_latent)
