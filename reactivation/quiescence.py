"""Quiescence (docs/spec.md §6): a trained network run with its input switched off.

The same model and forward as in training, zero input, started from the encoded true initial state of a
batch; only the recurrent noise level changes, by mode:

==========  ============================  ==============================================================
mode        quiescent sigma_rec           use
==========  ============================  ==============================================================
scaled      sigma_rec * sqrt(2)           default: variance doubled (the theory's Langevin condition)
same        sigma_rec                     paper Fig C.1; GRUs ("no variance doubling")
absolute    sqrt(2 * noise)               a fixed level, also for networks trained without noise
a number c  c * sigma_rec                 the noise temperature sweep (c = sqrt(2) is ``scaled``, 1 ``same``)
==========  ============================  ==============================================================

A number is written as a string (``"1.5"``), so every mode is a ``str`` key; :func:`reactivation.modes.noise_factor`
reads it.

Rollouts run without autograd and in chunks, so 10,000 steps x 200 trajectories keep only the decoded
latents (and, if asked, the hidden states) rather than a graph or every intermediate. :func:`ensemble_rollout`
runs E networks (e.g. every condition of an analysis) as one batched computation, each member as :func:`rollout`
would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from reactivation.modes import noise_factor

if TYPE_CHECKING:  # annotations only: quiescence imports no model or task at run time
    from reactivation.models import NoisyRecurrentBase
    from reactivation.models.ensemble import Ensemble
    from reactivation.tasks.base import CodedTask


def quiescent_sigma(trained_sigma_rec: float, mode: str, noise: float = 1e-4) -> float:
    """Recurrent noise standard deviation of the quiescent phase.

    Args:
        trained_sigma_rec: the model's training sigma_rec (standard deviation per step).
        mode: ``scaled``, ``same``, ``absolute`` or a factor c as a string (:func:`noise_factor`).
        noise: the variance that ``absolute`` doubles (e.g. 1e-4 gives sqrt(2e-4)).

    Raises:
        ValueError: an unknown mode or a negative ``noise``.
    """
    factor = noise_factor(mode)
    if factor is not None:
        return trained_sigma_rec * factor
    if noise < 0:
        raise ValueError(f"noise={noise!r} is a variance and must be >= 0")
    return math.sqrt(2.0 * noise)


@dataclass(frozen=True)
class Rollout:
    """What a rollout keeps (all on CPU).

    Attributes:
        decoded: (B, T, d) decoded latent per step (SN: position, m; HD: heading, rad).
        hidden: (B, T, n_rec) hidden states, or ``None`` when not kept.
        outputs: (B, T, n_code) network outputs (output noise included), or ``None`` when not kept.
        final_state: (B, n_rec) the last hidden state (to continue the rollout).
    """

    decoded: Tensor
    hidden: Tensor | None
    final_state: Tensor
    outputs: Tensor | None = None


def rollout(
    model: NoisyRecurrentBase,
    task: CodedTask,
    h0: Tensor,
    steps: int,
    *,
    generator: torch.Generator,
    sigma_rec: float | None = None,
    inputs: Tensor | None = None,
    chunk: int = 500,
    keep_hidden: bool = False,
    keep_outputs: bool = False,
) -> Rollout:
    """Run ``model`` from ``h0`` for ``steps`` steps and decode its outputs.

    Args:
        model: a noisy RNN or GRU (its own noise levels unless ``sigma_rec`` is given).
        task: the task whose code decodes the outputs.
        h0: (B, n_rec) initial hidden state, on the model's device.
        steps: number of steps T.
        generator: random stream of the noise (on the model's device).
        sigma_rec: recurrent noise standard deviation for this rollout (default: the model's).
        inputs: (B, T, n_in) inputs (the active phase); ``None`` means zero input (quiescence).
        chunk: steps run per forward call; bounds the memory of each call.
        keep_hidden: also return the hidden states (B x T x n_rec floats: mind long rollouts).
        keep_outputs: also return the outputs (B x T x n_code floats), e.g. to export them.

    Returns:
        A :class:`Rollout`.
    """

    def forward(x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        return model(x, h0=h, generator=generator, sigma_rec=sigma_rec)

    return _rollout(forward, task.decode, model.n_in, h0, steps, inputs, chunk, keep_hidden, keep_outputs)


def ensemble_rollout(
    ensemble: Ensemble,
    tasks: Sequence[CodedTask],
    h0: Tensor,
    steps: int,
    *,
    generators: Sequence[torch.Generator],
    sigma_rec: Sequence[float] | None = None,
    inputs: Tensor | None = None,
    chunk: int = 500,
    keep_hidden: bool = False,
    keep_outputs: bool = False,
) -> list[Rollout]:
    """:func:`rollout` of E networks at once: member k's result is ``rollout(ensemble.member(k), tasks[k], ...)``
    with that member's ``h0``, generator, noise level and inputs, up to the rounding of the batched products (its
    noise is bit-identical: each member draws from its own generator, as the single model does).

    Args:
        ensemble: E networks of one kind and shape (:class:`~reactivation.models.ensemble.Ensemble`).
        tasks: E tasks (of one kind and code width) that decode each member's outputs.
        h0: (E, B, n_rec) initial hidden states.
        steps: number of steps T.
        generators: E random streams, one per member.
        sigma_rec: E recurrent noise standard deviations (default: the members' own).
        inputs: (E, B, T, n_in) inputs, or ``None`` for zero input.
        chunk: as in :func:`rollout`.
        keep_hidden: as in :func:`rollout`.
        keep_outputs: as in :func:`rollout`.

    Returns:
        E :class:`Rollout`, one per member, each of a single rollout's shapes.
    """
    if len(tasks) != ensemble.n_members:
        raise ValueError(f"got {len(tasks)} tasks for {ensemble.n_members} members")

    def forward(x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        return ensemble(x, h0=h, generators=generators, sigma_rec=sigma_rec)

    def decode(outputs: Tensor) -> Tensor:
        return torch.stack([task.decode(out) for task, out in zip(tasks, outputs)])

    both = _rollout(forward, decode, ensemble.n_in, h0, steps, inputs, chunk, keep_hidden, keep_outputs)
    return [
        Rollout(
            decoded=both.decoded[k],
            hidden=None if both.hidden is None else both.hidden[k],
            final_state=both.final_state[k],
            outputs=None if both.outputs is None else both.outputs[k],
        )
        for k in range(ensemble.n_members)
    ]


@torch.no_grad()
def _rollout(
    forward: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]],
    decode: Callable[[Tensor], Tensor],
    n_in: int,
    h0: Tensor,
    steps: int,
    inputs: Tensor | None,
    chunk: int,
    keep_hidden: bool,
    keep_outputs: bool,
) -> Rollout:
    """The chunked rollout of one network (h0 (B, n_rec), time dim -2) or an ensemble (h0 (E, B, n_rec))."""
    if inputs is not None and inputs.shape[-2] != steps:
        raise ValueError(f"inputs have {inputs.shape[-2]} steps but steps={steps}")
    h, lead = h0, h0.shape[:-1]
    zeros = torch.zeros(*lead, min(chunk, steps), n_in, device=h0.device, dtype=h0.dtype)
    decoded, hidden, kept = [], [], []
    for start in range(0, steps, chunk):
        length = min(chunk, steps - start)
        x = zeros[..., :length, :] if inputs is None else inputs[..., start : start + length, :]
        states, outputs = forward(x, h)
        h = states[..., -1, :].clone()  # a view would keep the whole chunk's states alive during the next chunk
        decoded.append(decode(outputs).cpu())
        if keep_hidden:
            hidden.append(states.cpu())
        if keep_outputs:
            kept.append(outputs.cpu())
        del states, outputs  # free this chunk's buffers before the next one is allocated (bounded memory)
    return Rollout(
        decoded=torch.cat(decoded, dim=-2),
        hidden=torch.cat(hidden, dim=-2) if keep_hidden else None,
        final_state=h,
        outputs=torch.cat(kept, dim=-2) if keep_outputs else None,
    )
