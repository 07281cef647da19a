"""The divergence guard: when a run's training has diverged, the error that stops it, and what to do about it.

The loop checks every step's loss and the weights before each checkpoint (:func:`healthy`); a run that fails
stops with :class:`Diverged`, whose message names the last good checkpoint and the change of command that trains
a new run instead (:func:`divergence_advice`, which the analyses repeat for a run that stopped so).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from reactivation import ReactivationError, runs

#: A loss this many times that of an all-zero output means training diverged (see healthy).
DIVERGED_FACTOR = 1e4


def healthy(loss: torch.Tensor, zero_loss: float | torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """True (a 0-d bool tensor, so that checking costs one device sync) if training has not diverged.

    Diverged: a non-finite loss or weight, or a loss :data:`DIVERGED_FACTOR` times ``zero_loss``, the loss of a
    network that outputs zeros (an untrained network's is 1-5 times that; SN and HD codes lie in [0, 1]).
    With stacked members, ``loss`` and ``zero_loss`` are (E,) and each parameter (E, ...): the result is (E,).
    """
    ok = torch.isfinite(loss) & (loss <= DIVERGED_FACTOR * torch.as_tensor(zero_loss, device=loss.device))
    for p in params:
        ok = ok & torch.isfinite(p).flatten(ok.dim()).all(-1)
    return ok


class Diverged(ReactivationError):
    """Training of a run diverged at ``step``; ``cause`` says what gave it away (e.g. ``"training loss 8.7e+29"``)."""

    def __init__(self, message: str, step: int, cause: str):
        super().__init__(message)
        self.step, self.cause = step, cause


def divergence_advice(lr: float) -> str:
    """What to do about a run that diverged, trained with learning rate ``lr`` (the end of a message)."""
    # trainer.lr and rnn.sigma2_* name the run directory (only RUNTIME_KEYS stay out of it), so the changed
    # command trains a new run beside this one: no resume=false. The same command unchanged would resume from the
    # last checkpoint and, training being deterministic (bit for bit on CPU), diverge again.
    return (
        f"Lower trainer.lr (e.g. set trainer.lr={lr / 10:g} in the training command) or the noise variances "
        "(rnn.sigma2_*): the command then trains a new run, in the directory that its new value names, and this one "
        "is kept as it is. The same command unchanged would resume this run and diverge again."
    )


def diverged(run_dir: Path, lr: float, step: int, what: str) -> Diverged:
    """The error that stops the run in ``run_dir`` (trained with learning rate ``lr``) at ``step``, given away by
    ``what`` (e.g. ``"training loss nan"``)."""
    steps = runs.checkpoint_steps(run_dir)
    last = f"the last good checkpoint is {runs.checkpoint_path(run_dir, steps[-1])}" if steps else "nothing was saved"
    return Diverged(
        f"training of {run_dir} diverged at step {step} ({what}; non-finite or over {DIVERGED_FACTOR:g} times "
        f"the loss of zero outputs); it stopped without saving that step and {last}. " + divergence_advice(lr),
        step,
        what,
    )
