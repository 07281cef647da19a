"""What the training loop steps: the networks of its runs and their optimizer, one run alone (:class:`One`) or
runs of one shape stacked into an :class:`~reactivation.models.Ensemble` (:class:`Stacked`).

Outputs are (E, B, T, n_code) for the E runs (E = 1 for :class:`One`), losses (E,); each run's update is its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from reactivation import ReactivationError, optim
from reactivation.models import Ensemble
from reactivation.tasks import Batch
from reactivation.training import divergence, losses
from reactivation.training.run import Run

log = logging.getLogger(__name__)


class Networks:
    """What the training loop steps: the networks of its runs and their optimizer.

    Outputs are (E, B, T, n_code) for the E runs (E = 1 for :class:`One`), losses (E,).
    """

    runs: list[Run]

    def forward(self, batches: Sequence[Batch], stream: str | None) -> torch.Tensor:
        """(E, B, T, n_code) outputs on the runs' batches, with the noise of each run's ``stream`` (``None``: none)."""
        raise NotImplementedError

    def losses(self, outputs: torch.Tensor, batches: Sequence[Batch]) -> torch.Tensor:
        """(E,) mean squared error of each run's outputs against its batch's targets."""
        raise NotImplementedError

    def update(self, losses: torch.Tensor) -> None:
        """Backpropagate the losses and take one optimizer step (each run's update is its own)."""
        raise NotImplementedError

    def healthy(self, losses: torch.Tensor) -> list[bool]:
        """Per run: not diverged (see :func:`reactivation.training.divergence.healthy`), in one device sync."""
        raise NotImplementedError

    def sync(self) -> None:
        """Copy the current weights and optimizer state into each run's ``model`` and ``optimizer``."""

    def drop(self, failed: Sequence[tuple[Run, ReactivationError]]) -> None:
        """Stop the runs that failed; the others go on."""
        raise NotImplementedError


class One(Networks):
    """A single run: its own model and ``torch.optim.Adam``, exactly as it is built."""

    def __init__(self, run: Run):
        self.runs = [run]

    def forward(self, batches: Sequence[Batch], stream: str | None) -> torch.Tensor:
        run, batch = self.runs[0], batches[0]
        if stream is None:
            _, outputs = run.model(batch.inputs, batch.init_code, sigma_in=0.0, sigma_rec=0.0, sigma_out=0.0)
        else:
            _, outputs = run.model(batch.inputs, batch.init_code, generator=run.streams[stream])
        return outputs.unsqueeze(0)

    def losses(self, outputs: torch.Tensor, batches: Sequence[Batch]) -> torch.Tensor:
        return losses.mse(outputs[0], batches[0].targets).reshape(1)

    def update(self, losses: torch.Tensor) -> None:
        optimizer = self.runs[0].optimizer
        optimizer.zero_grad(set_to_none=True)
        losses[0].backward()
        optimizer.step()

    def healthy(self, losses: torch.Tensor) -> list[bool]:
        run = self.runs[0]
        return [bool(divergence.healthy(losses[0], run.zero_loss, run.params).item())]

    def drop(self, failed: Sequence[tuple[Run, ReactivationError]]) -> None:
        if failed:
            self.runs = []


class Stacked(Networks):
    """Runs of one shape and one optimiser setting as an :class:`~reactivation.models.Ensemble`, stepped by one
    torch Adam on the stacked parameters (:mod:`reactivation.optim`).

    Built from the runs' models and optimizers as restored (fresh or resumed), so member k starts exactly where
    run k would on its own.
    """

    def __init__(self, group: Sequence[Run]):
        self._build(group)

    def _build(self, group: Sequence[Run]) -> None:
        self.runs = list(group)
        self.net = Ensemble([run.model for run in self.runs])
        self.params = list(self.net.parameters())
        tr = self.runs[0].cfg.trainer
        if any((run.cfg.trainer.lr, run.cfg.trainer.weight_decay) != (tr.lr, tr.weight_decay) for run in self.runs):
            raise ValueError("the members of an ensemble share trainer.lr and trainer.weight_decay (ensembles.group)")
        self.optimizer = optim.adam(self.params, tr.lr, tr.weight_decay)
        if self.runs[0].optimizer.state:  # resumed (or rebuilt after a drop): every member has its Adam state
            optim.load_member_states(self.optimizer, [run.optimizer.state_dict() for run in self.runs])
        self.zero_losses = torch.tensor([run.zero_loss for run in self.runs], device=self.runs[0].device)

    def forward(self, batches: Sequence[Batch], stream: str | None) -> torch.Tensor:
        inputs = torch.stack([batch.inputs for batch in batches])
        init_code = torch.stack([batch.init_code for batch in batches])
        if stream is None:
            _, outputs = self.net(inputs, init_code, sigma_in=0.0, sigma_rec=0.0, sigma_out=0.0)
        else:
            _, outputs = self.net(inputs, init_code, generators=[run.streams[stream] for run in self.runs])
        return outputs

    def losses(self, outputs: torch.Tensor, batches: Sequence[Batch]) -> torch.Tensor:
        return losses.member_mse(outputs, torch.stack([batch.targets for batch in batches]))

    def update(self, losses: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        losses.sum().backward()  # member k's parameters get the gradient of its own loss only
        self.optimizer.step()

    def healthy(self, losses: torch.Tensor) -> list[bool]:
        return divergence.healthy(losses, self.zero_losses, self.params).tolist()

    def sync(self) -> None:
        for k, run in enumerate(self.runs):
            run.model.load_state_dict(self.net.member_state_dict(k))
            run.optimizer.load_state_dict(optim.member_state_dict(self.optimizer, k))

    def drop(self, failed: Sequence[tuple[Run, ReactivationError]]) -> None:
        if not failed:
            return
        for _, error in failed:
            log.error("%s; the other members of its ensemble go on.", error)
        self.sync()
        gone = {id(run) for run, _ in failed}
        kept = [run for run in self.runs if id(run) not in gone]
        if kept:
            self._build(kept)  # from the kept runs' synced states
        else:
            self.runs = []
