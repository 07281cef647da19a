"""E noisy networks of one kind and shape run as one batched computation (e.g. E seeds or noise levels at once).

:class:`Ensemble` stacks its members' weights along a leading member dim, so that each product of a forward call
(input projection, every step of the time loop and of its hand-written backward, the readout) is one batched call
(``torch.bmm`` / ``torch.baddbmm``) for all members rather than a Python loop over them. Member k only ever meets
member k's weights and noise: its results are those of the single model :meth:`Ensemble.member` (k), up to the
rounding of the batched products (they need not be bit-identical to the 2-D ones), and its noise is bit-identical
to what that model draws from the same generator.

Layout: activations are (E, B, T, n) at the interface, like a single model's (B, T, n) with E in front. Inside, as in
the single model, everything is time-major, (E, T, B, n): member k's block is then a contiguous (T, B, n) tensor, so
the input projection and the readout run on (E, T * B, n) views and each step of the loop reads (E, B, n) slices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from reactivation.models.base import NoisyRecurrentBase, forward_time_major
from reactivation.models.noise import NoiseSample, member_stds, sample_stacked_noise
from reactivation.models.stacked import StackedLinear

__all__ = ["LAYERS", "SHARED", "Ensemble", "StackedLinear"]

#: Settings every member must share: they fix the shapes and the arithmetic of the batched loop.
SHARED = ("n_in", "n_rec", "n_out", "n_init", "bias", "activation_fn", "alpha")

#: The layers of a model, in the order a single model registers them (so parameters() come in the same order).
LAYERS = ("encoder", "input", "recurrent", "readout")


class Ensemble(nn.Module):
    """E models of the same class and shape, run as one batched computation.

    The members may differ in their weights, noise levels (``sigma2_in``, ``sigma2_rec``, ``sigma2_out``) and
    ``noise_dist``; everything in :data:`SHARED` must be equal. The weights are copied (the members are not
    referenced afterwards) into stacked parameters on the members' device and dtype, in submodules ``encoder``,
    ``input``, ``recurrent``, ``readout`` (:class:`StackedLinear`): ``state_dict()`` has exactly a single model's
    keys, each tensor with a leading member dim, and ``parameters()`` come in a single model's order.

    Attributes:
        kind: the members' class (:class:`~reactivation.models.NoisyRNN` or :class:`~reactivation.models.NoisyGRU`).
        n_members: E.
        n_in, n_rec, n_out, n_init, bias, activation_fn, alpha, n_gates: the shared settings.
        sigma2_in, sigma2_rec, sigma2_out: per-member variances (tuples of E floats).
        sigma_in, sigma_rec, sigma_out: per-member standard deviations (tuples of E floats).
        noise_dist, dt, tau: per-member distribution and leak settings (tuples of E values).

    Args:
        members: E >= 1 models (``NoisyRecurrentBase`` subclasses with a module-level ``time_loop``).

    Raises:
        ValueError: no members, members of different classes, devices or dtypes, or a shared setting that differs
            (naming it and the two values).
    """

    def __init__(self, members: Sequence[NoisyRecurrentBase]) -> None:
        super().__init__()
        members = list(members)
        if not members:
            raise ValueError("an Ensemble needs at least one member")
        first = members[0]
        kind = type(first)
        if not isinstance(first, NoisyRecurrentBase) or kind.time_loop is NoisyRecurrentBase.time_loop:
            raise ValueError(f"member 0 is a {kind.__name__}; members must be noisy models with a time_loop")
        reference = first.readout.weight
        for k, member in enumerate(members[1:], start=1):
            if type(member) is not kind:
                raise ValueError(
                    f"member {k} is a {type(member).__name__} and member 0 a {kind.__name__}; "
                    "the members of an Ensemble must be of one class"
                )
            for name in SHARED:
                mine, theirs = getattr(member, name), getattr(first, name)
                if mine != theirs:
                    raise ValueError(
                        f"member {k} has {name} = {mine!r} and member 0 has {name} = {theirs!r}; "
                        f"the members of an Ensemble must share {', '.join(SHARED)}"
                    )
            for name in ("device", "dtype"):
                mine, theirs = getattr(member.readout.weight, name), getattr(reference, name)
                if mine != theirs:
                    raise ValueError(f"member {k}'s weights have {name} {mine} and member 0's {theirs}")
        self.kind: type[NoisyRecurrentBase] = kind
        self.n_members = len(members)
        self.n_in, self.n_rec, self.n_out, self.n_init = first.n_in, first.n_rec, first.n_out, first.n_init
        self.bias, self.activation_fn, self.alpha = first.bias, first.activation_fn, first.alpha
        self.n_gates = kind.n_gates
        self.sigma2_in = tuple(member.sigma2_in for member in members)
        self.sigma2_rec = tuple(member.sigma2_rec for member in members)
        self.sigma2_out = tuple(member.sigma2_out for member in members)
        self.sigma_in = tuple(math.sqrt(value) for value in self.sigma2_in)  # as the single model computes them
        self.sigma_rec = tuple(math.sqrt(value) for value in self.sigma2_rec)
        self.sigma_out = tuple(math.sqrt(value) for value in self.sigma2_out)
        self.noise_dist = tuple(member.noise_dist for member in members)
        self.dt = tuple(member.dt for member in members)
        self.tau = tuple(member.tau for member in members)

        def stack(name: str) -> StackedLinear:
            layers = [getattr(member, name) for member in members]
            with torch.no_grad():  # a copy of the members' values, not a function of them
                weight = torch.stack([layer.weight for layer in layers])
                bias = torch.stack([layer.bias for layer in layers]) if self.bias else None
            return StackedLinear(weight, bias)

        # Registered in a single model's order (LAYERS), so state_dict keys and parameters() order match its own.
        self.encoder = stack("encoder")
        self.input = stack("input")
        self.recurrent = stack("recurrent")
        self.readout = stack("readout")

    def extra_repr(self) -> str:
        return (
            f"kind={self.kind.__name__}, n_members={self.n_members}, alpha={self.alpha}, "
            f"activation_fn={self.activation_fn!r}, sigma_in={self.sigma_in}, sigma_rec={self.sigma_rec}, "
            f"sigma_out={self.sigma_out}, noise_dist={self.noise_dist}"
        )

    # --- members --------------------------------------------------------------------------------------------------
    def _check_member(self, k: int) -> int:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.n_members:
            raise IndexError(f"member index {k!r} is out of range; this ensemble has {self.n_members} members")
        return k

    def member_state_dict(self, k: int) -> dict[str, Tensor]:
        """Member k's weights as a single model's ``state_dict`` (same keys, shapes without E; cloned tensors)."""
        self._check_member(k)
        return {name: value[k].clone() for name, value in self.state_dict().items()}

    def load_member_state_dict(self, k: int, state: Mapping[str, Tensor]) -> None:
        """Overwrite member k's weights with a single model's ``state_dict`` (of this kind and shape).

        Raises:
            ValueError: a missing or unexpected key, or a tensor whose shape is not the single model's.
        """
        self._check_member(k)
        own = self.state_dict(keep_vars=True)
        missing, unexpected = [key for key in own if key not in state], [key for key in state if key not in own]
        if missing or unexpected:
            raise ValueError(
                f"state for member {k} does not fit this ensemble: missing keys {missing}, unexpected keys {unexpected}"
            )
        for key, value in state.items():
            if tuple(value.shape) != tuple(own[key].shape[1:]):
                raise ValueError(
                    f"state[{key!r}] has shape {tuple(value.shape)}, expected {tuple(own[key].shape[1:])} "
                    f"(member {k} of a {self.kind.__name__} ensemble)"
                )
        with torch.no_grad():
            for key, value in state.items():
                own[key][k].copy_(value)

    def member(self, k: int) -> NoisyRecurrentBase:
        """A new single model of this kind with member k's constructor settings (noise levels included) and weights.

        It lives on the ensemble's device and dtype and shares no storage with the ensemble.
        """
        self._check_member(k)
        model = self.kind(
            self.n_in, self.n_rec, self.n_out, self.n_init,
            sigma2_in=self.sigma2_in[k], sigma2_rec=self.sigma2_rec[k], sigma2_out=self.sigma2_out[k],
            dt=self.dt[k], tau=self.tau[k], activation_fn=self.activation_fn, bias=self.bias,
            noise_dist=self.noise_dist[k],
            generator=torch.Generator(),  # its init is overwritten below; a private stream leaves the global RNG alone
        )  # fmt: skip
        weight = self.readout.weight
        model.to(device=weight.device, dtype=weight.dtype)
        model.load_state_dict(self.member_state_dict(k))
        return model

    # --- noise ----------------------------------------------------------------------------------------------------
    def sample_noise(
        self,
        batch_size: int,
        steps: int,
        generators: Sequence[torch.Generator | None],
        *,
        sigma_in: float | Sequence[float] | None = None,
        sigma_rec: float | Sequence[float] | None = None,
        sigma_out: float | Sequence[float] | None = None,
    ) -> NoiseSample:
        """Draw the noise of one forward call for every member, each from its own generator.

        Member k draws input, recurrent and output noise in that order from ``generators[k]``, at its own standard
        deviations and ``noise_dist`` (output noise always Gaussian) unless overridden, into its contiguous
        (T, B, n) block of an (E, T, B, n) buffer: its values are bit-identical to
        ``member(k).sample_noise(batch_size, steps, generators[k])``. A member whose standard deviation of a kind is 0
        draws nothing for it and gets zeros there; a kind that is 0 for every member is ``None``.

        Args:
            batch_size: B, trajectories per member.
            steps: T, time steps.
            generators: E random streams (on the ensemble's device); one may be ``None`` only for a member that
                draws nothing. The same generator may serve several members (they then draw in member order).
            sigma_in: input-noise standard deviation for this call: one for all members or E of them.
            sigma_rec: recurrent-noise standard deviation (quiescence passes e.g. sqrt 2 times each member's).
            sigma_out: output-noise standard deviation.

        Returns:
            A :class:`NoiseSample` of (E, B, T, n_in), (E, B, T, n_rec), (E, B, T, n_out) tensors (transposed views of
            time-major buffers) on the parameters' device and dtype.

        Raises:
            ValueError: a generator count that is not E, an override with a wrong count, or a missing generator for
                a member that draws.
            ConfigError: an override that is not a finite number >= 0.
        """
        generators = list(generators)
        if len(generators) != self.n_members:
            raise ValueError(f"got {len(generators)} generators for {self.n_members} members")
        stds = (
            member_stds("sigma_in", sigma_in, self.sigma_in),
            member_stds("sigma_rec", sigma_rec, self.sigma_rec),
            member_stds("sigma_out", sigma_out, self.sigma_out),
        )
        weight = self.readout.weight
        return sample_stacked_noise(
            batch_size, steps, (self.n_in, self.n_rec, self.n_out), stds, self.noise_dist, generators,
            device=weight.device, dtype=weight.dtype,
        )  # fmt: skip

    # --- forward --------------------------------------------------------------------------------------------------
    def initial_state(self, init_code: Tensor) -> Tensor:
        """h_0 = Encoder c_0 per member: (E, B, n_init) -> (E, B, n_rec)."""
        if init_code.dim() != 3 or init_code.shape[0] != self.n_members or init_code.shape[2] != self.n_init:
            raise ValueError(
                f"init_code has shape {tuple(init_code.shape)}, expected ({self.n_members}, B, {self.n_init})"
            )
        return self.encoder(init_code)

    def forward(
        self,
        inputs: Tensor,
        init_code: Tensor | None = None,
        *,
        h0: Tensor | None = None,
        noise: NoiseSample | None = None,
        generators: Sequence[torch.Generator | None] | None = None,
        sigma_in: float | Sequence[float] | None = None,
        sigma_rec: float | Sequence[float] | None = None,
        sigma_out: float | Sequence[float] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Run every member over its batch of input sequences (``NoisyRecurrentBase.forward``, member by member).

        Args:
            inputs: (E, B, T, n_in) input per member and step (SN: metres per step; HD: radians per step).
            init_code: (E, B, n_init) code of the initial latent; h_0 = Encoder c_0. Exactly one of this and ``h0``.
            h0: (E, B, n_rec) initial hidden states (any strides, e.g. ``hidden[:, :, -1]`` of a previous call).
            noise: a precomputed :class:`NoiseSample` of (E, B, T, n) tensors (from :meth:`sample_noise`); then
                ``generators`` and the overrides must not be given.
            generators: E random streams of this call's noise (see :meth:`sample_noise`); ``None`` means none, which
                is allowed only when no member draws noise.
            sigma_in: input-noise standard deviation(s) for this call (one float, or E of them).
            sigma_rec: recurrent-noise standard deviation(s) for this call.
            sigma_out: output-noise standard deviation(s) for this call.

        Returns:
            hidden: (E, B, T, n_rec) states h_1..h_T (a view of an (E, T, B, n_rec) buffer).
            outputs: (E, B, T, n_out) readouts y_1..y_T, output noise included (likewise a time-major view).
        """
        members = self.n_members
        if inputs.dim() != 4 or inputs.shape[0] != members or inputs.shape[3] != self.n_in:
            raise ValueError(f"inputs has shape {tuple(inputs.shape)}, expected ({members}, B, T, {self.n_in})")
        _, batch_size, steps, _ = inputs.shape
        if (init_code is None) == (h0 is None):
            raise ValueError("pass exactly one of init_code (E, B, n_init) and h0 (E, B, n_rec)")
        h = self.initial_state(init_code) if init_code is not None else h0
        assert h is not None  # exactly one of init_code and h0 is given (checked above)
        if h.shape != (members, batch_size, self.n_rec):
            raise ValueError(f"h0 has shape {tuple(h.shape)}, expected {(members, batch_size, self.n_rec)}")
        if noise is None:
            noise = self.sample_noise(
                batch_size, steps, [None] * members if generators is None else generators,
                sigma_in=sigma_in, sigma_rec=sigma_rec, sigma_out=sigma_out,
            )  # fmt: skip
        elif any(arg is not None for arg in (generators, sigma_in, sigma_rec, sigma_out)):
            raise ValueError("noise=... is a complete sample; do not also pass generators or sigma_*")
        else:
            noise.check_stacked_shapes(members, batch_size, steps, self.n_in, self.n_rec, self.n_out)
        return forward_time_major(self._run, inputs, h, noise, self.readout.weight, self.readout.bias)

    def _input_bias(self) -> Tensor | None:
        """(E, gates) input + recurrent bias, added once outside the loop (as in the single model)."""
        b_in, b_rec = self.input.bias, self.recurrent.bias
        return None if b_in is None or b_rec is None else b_in + b_rec

    def _run(self, x: Tensor, h: Tensor, zeta: Tensor | None) -> Tensor:
        """The kind's time loop on the stacked weights: x (E, T, B, n_in), h (E, B, n_rec) -> (E, T, B, n_rec)."""
        return self.kind.time_loop(
            x, h, zeta, self.input.weight, self.recurrent.weight, self._input_bias(), self.alpha, self.activation_fn
        )
