"""Adam for an ensemble of networks whose parameters are stacked along a leading member dimension.

An ensemble of ``E`` networks is trained as one: every parameter is a tensor of shape ``(E, ...)`` whose slice ``[k]``
is member ``k``'s, and the loss is the sum of the members' losses, so the slice ``[k]`` of each gradient is member
``k``'s own gradient. :class:`StackedAdam` updates all members with one set of tensor ops per stacked parameter, and
each member's update is the one ``torch.optim.Adam`` would make to that member trained alone. Its state converts to
and from each member's ordinary single-run Adam ``state_dict()``, so a member's run directory holds an ordinary resume
file, and an ensemble can resume from single runs and single runs from an ensemble.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["StackedAdam"]


def _scalar_step_dtype() -> torch.dtype:
    # The dtype torch's Adam gives its CPU ``step`` tensors (neither capturable nor fused): float64 only when that is
    # the default dtype. A member's state dict must hold the same dtype as a single run's.
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _member_values(name: str, values: Sequence[float], n_members: int) -> list[float]:
    """Check and convert a per-member hyper-parameter (``lr`` or ``weight_decay``): finite, >= 0, one per member."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a sequence of floats, one per member; got {type(values).__name__}")
    if len(values) != n_members:
        raise ValueError(f"{name} has {len(values)} values but the parameters stack {n_members} members")
    out = []
    for k, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}[{k}] must be a real number; got {type(value).__name__}")
        value = float(value)
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"{name}[{k}] must be finite and >= 0; got {value}")
        out.append(value)
    return out


class StackedAdam:
    """Adam for ``E`` stacked members, equal to ``torch.optim.Adam`` on each member alone.

    Each parameter is a leaf tensor of shape ``(E, ...)``; member ``k`` owns the slice ``[k]`` of it, of its gradient
    and of the two moment buffers (``exp_avg``, ``exp_avg_sq``, also ``(E, ...)``). The update is torch's Adam with
    its defaults (amsgrad, maximize and decoupled weight decay off; L2 ``weight_decay`` added to the gradient, not
    AdamW) and follows the op order of torch's single-tensor implementation, the one ``torch.optim.Adam`` runs on CPU
    by default. So when all members share ``lr`` and ``weight_decay`` the ops are torch's own on the stacked tensor,
    with the same Python scalars, and each member's result is bit-identical to torch's Adam on that member alone (given
    that torch's elementwise kernels round an element alike wherever it lies in a tensor, as they do on the CPUs
    tested, odd sizes included). When ``lr`` or ``weight_decay`` differ between members they enter as ``(E, 1, ..., 1)``
    tensors, and a member's result then matches torch's to float rounding, not bit for bit (on CPU it has come out
    bit-identical too, but nothing promises it). On CUDA, torch's Adam defaults to its multi-tensor (foreach)
    implementation, which rounds differently: the single run to compare with there is ``Adam(..., foreach=False)``.

    Everything per step stays on the parameters' device: the step counts and bias corrections are Python numbers and
    the per-member factors are computed on the device, so a step on CUDA syncs nothing.

    As in torch, a parameter whose ``.grad`` is ``None`` at a step is skipped and its step count stays behind; such a
    parameter's slot is absent from a member's state dict until its first step, as in a single run's.

    Args:
        params: the stacked parameters, leaf tensors with ``requires_grad``, each of shape ``(E, ...)`` with the
            same ``E``, real floating point.
        lr: ``E`` learning rates, one per member (finite, >= 0).
        weight_decay: ``E`` L2 penalties, one per member (finite, >= 0).
        betas: Adam's ``(beta1, beta2)``, shared by all members, each in ``[0, 1)``.
        eps: Adam's epsilon, shared by all members (>= 0).

    Raises:
        ValueError: naming the problem, for parameters that are not stackable leaves or lengths or values that do not
            fit.
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: Sequence[float],
        weight_decay: Sequence[float],
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if isinstance(params, torch.Tensor) or not isinstance(params, Sequence):
            raise ValueError("params must be a sequence of tensors (a list, not a single tensor or a generator)")
        self.params: list[torch.Tensor] = list(params)
        if not self.params:
            raise ValueError("params is empty: there is nothing to optimise")
        seen: set[int] = set()
        for i, p in enumerate(self.params):
            if not isinstance(p, torch.Tensor):
                raise ValueError(f"params[{i}] is a {type(p).__name__}, not a tensor")
            if not p.is_leaf or not p.requires_grad:
                raise ValueError(f"params[{i}] must be a leaf tensor with requires_grad=True")
            if not p.is_floating_point():
                raise ValueError(f"params[{i}] has dtype {p.dtype}; only real floating point is supported")
            if p.ndim == 0:
                raise ValueError(f"params[{i}] is a scalar; it needs a leading member dimension")
            if p.shape[0] != self.params[0].shape[0]:
                raise ValueError(
                    f"params[{i}] has shape {tuple(p.shape)} but params[0] {tuple(self.params[0].shape)}: the leading "
                    "member dimensions differ"
                )
            if id(p) in seen:
                raise ValueError(f"params[{i}] appears more than once")
            seen.add(id(p))
        n_members = self.params[0].shape[0]
        if n_members == 0:
            raise ValueError("the parameters' member dimension is empty: an ensemble needs at least one member")
        lrs = _member_values("lr", lr, n_members)
        decays = _member_values("weight_decay", weight_decay, n_members)
        if len(betas) != 2:
            raise ValueError(f"betas must be (beta1, beta2); got {betas!r}")
        beta1, beta2 = float(betas[0]), float(betas[1])
        for j, beta in enumerate((beta1, beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"betas[{j}] must lie in [0, 1); got {beta}")
        if not (math.isfinite(float(eps)) and float(eps) >= 0.0):
            raise ValueError(f"eps must be finite and >= 0; got {eps}")

        self.n_members: int = n_members
        self.lr: list[float] = lrs
        self.weight_decay: list[float] = decays
        self.betas: tuple[float, float] = (beta1, beta2)
        self.eps: float = float(eps)
        # Shared settings take torch's own scalar path (bit-identical); differing ones need per-member tensors.
        self._shared_lr = all(v == lrs[0] for v in lrs)
        self._shared_decay = all(v == decays[0] for v in decays)
        self.exp_avg: list[torch.Tensor] = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params
        ]
        self.exp_avg_sq: list[torch.Tensor] = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params
        ]
        # Per-parameter step counts, as torch keeps them (a parameter without a gradient does not step).
        self._steps: list[int] = [0] * len(self.params)
        # Per-member factors, one (E,) tensor per device and dtype, made once. The learning rates are kept in float64
        # so that lr / bias_correction1 is rounded once, to the parameter's dtype, as torch rounds its Python float.
        self._lr64: dict[torch.device, torch.Tensor] = {}
        self._decay: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}
        for p in self.params:
            if not self._shared_lr and p.device not in self._lr64:
                self._lr64[p.device] = torch.tensor(lrs, dtype=torch.float64, device=p.device)
            if not self._shared_decay and (p.device, p.dtype) not in self._decay:
                self._decay[(p.device, p.dtype)] = torch.tensor(decays, dtype=p.dtype, device=p.device)
        # Members loaded (load_member_state_dict) since the last step: they fix the step count the others must match.
        self._loaded: set[int] = set()

    @property
    def step_count(self) -> int:
        """Steps taken: all members step together (the most steps any parameter has taken, 0 before the first)."""
        return max(self._steps)

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to ``None`` (torch's default)."""
        for p in self.params:
            p.grad = None

    def _member_view(self, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """An ``(E,)`` tensor viewed as ``(E, 1, ..., 1)`` to broadcast against ``like``, of shape ``(E, ...)``."""
        return values.view((self.n_members,) + (1,) * (like.ndim - 1))

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step for every member, on each stacked parameter that has a gradient."""
        beta1, beta2 = self.betas
        # One (E,) tensor of -lr / bias_correction1 per (device, dtype, step) when learning rates differ.
        neg_step_sizes: dict[tuple[torch.device, torch.dtype, int], torch.Tensor] = {}
        for i, param in enumerate(self.params):
            grad = param.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise RuntimeError(f"params[{i}] has a sparse gradient, which Adam does not support")
            if grad.shape != param.shape:
                raise RuntimeError(f"params[{i}] has shape {tuple(param.shape)} but its grad {tuple(grad.shape)}")
            exp_avg, exp_avg_sq = self.exp_avg[i], self.exp_avg_sq[i]
            self._steps[i] += 1
            # torch reads its float step tensor back as a Python float; the bias corrections are Python floats too.
            step = float(self._steps[i])

            if self._shared_decay:
                if self.weight_decay[0] != 0:
                    grad = grad.add(param, alpha=self.weight_decay[0])
            else:
                # grad + weight_decay[k] * param[k] in one kernel (a member with 0 keeps its gradient).
                grad = torch.addcmul(grad, param, self._member_view(self._decay[(param.device, param.dtype)], param))

            # The moments: the ops and Python scalars of torch's single-tensor Adam, on all members at once.
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)

            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            bias_correction2_sqrt = bias_correction2**0.5  # torch's ** 0.5 rather than math.sqrt: the same rounding
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)

            if self._shared_lr:
                step_size = self.lr[0] / bias_correction1
                param.addcdiv_(exp_avg, denom, value=-step_size)
            else:
                key = (param.device, param.dtype, self._steps[i])
                if key not in neg_step_sizes:
                    # -lr[k] / bias_correction1 rounded once to the parameter's dtype, the value torch's addcdiv
                    # makes of its Python scalar (exactly so on CPU, where the float64 division is a true one).
                    neg_step_sizes[key] = (self._lr64[param.device] / bias_correction1).neg_().to(param.dtype)
                neg_step_size = self._member_view(neg_step_sizes[key], param)
                # param + (neg_step_size * exp_avg) / denom: addcdiv's own order with its scalar moved into t1.
                param.addcdiv_(exp_avg * neg_step_size, denom)
        self._loaded.clear()

    def _check_member(self, k: int, member_params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Check a member index and that ``member_params`` are the single model's parameters in our order."""
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.n_members:
            raise ValueError(f"member index {k!r} is out of range for {self.n_members} members")
        if isinstance(member_params, torch.Tensor) or not isinstance(member_params, Sequence):
            raise ValueError("member_params must be a sequence of tensors (the single model's parameters, in order)")
        members = list(member_params)
        if len(members) != len(self.params):
            raise ValueError(f"member_params has {len(members)} tensors but the ensemble has {len(self.params)}")
        for i, (p, stacked) in enumerate(zip(members, self.params)):
            if not isinstance(p, torch.Tensor) or p.shape != stacked.shape[1:]:
                shape = tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__
                raise ValueError(
                    f"member_params[{i}] has shape {shape}; expected {tuple(stacked.shape[1:])} (params[{i}] without "
                    "its member dimension)"
                )
        return members

    def _template(self, k: int, members: list[torch.Tensor]) -> torch.optim.Adam:
        """The torch Adam a single run of member ``k`` would have made."""
        return torch.optim.Adam(
            members, lr=self.lr[k], betas=self.betas, eps=self.eps, weight_decay=self.weight_decay[k]
        )

    def member_state_dict(self, k: int, member_params: Sequence[torch.Tensor]) -> dict[str, Any]:
        """Member ``k``'s state as the ``state_dict()`` of a single run's ``torch.optim.Adam``.

        It is exactly the dict ``torch.optim.Adam(member_params, lr=lr[k], betas=betas, eps=eps,
        weight_decay=weight_decay[k]).state_dict()`` would have after the member's steps: ``param_groups`` with
        torch's defaults for everything else, and ``state`` holding, for each parameter that has stepped, ``step``
        (a CPU scalar tensor, as torch keeps it) and the member's ``exp_avg`` and ``exp_avg_sq`` slices of shape
        ``params[i].shape[1:]`` (cloned, on the device of ``member_params[i]``). Before the first step the state is
        empty, like a fresh Adam's.

        Args:
            k: the member, ``0 <= k < n_members``.
            member_params: the single model's parameters in the same order as ``params``, each of shape
                ``params[i].shape[1:]``; only used to build the template optimiser (their values are not read).
        """
        members = self._check_member(k, member_params)
        template = self._template(k, members)
        for i, p in enumerate(members):
            if self._steps[i] == 0:
                continue  # torch makes a parameter's state at its first step
            template.state[p] = {
                "step": torch.tensor(float(self._steps[i]), dtype=_scalar_step_dtype()),
                "exp_avg": self.exp_avg[i][k].to(device=p.device, copy=True),
                "exp_avg_sq": self.exp_avg_sq[i][k].to(device=p.device, copy=True),
            }
        return template.state_dict()

    def load_member_state_dict(self, k: int, state: dict[str, Any], member_params: Sequence[torch.Tensor]) -> None:
        """Read a single run's ``torch.optim.Adam`` ``state_dict()`` into member ``k``'s slot.

        The state is loaded into a template torch Adam on ``member_params`` (so torch checks its structure and casts
        its tensors) and read from there. Its settings must be this optimiser's for member ``k`` (``lr[k]``,
        ``weight_decay[k]``, ``betas``, ``eps``, and amsgrad, maximize and decoupled weight decay off): a run's resume
        must not silently change its optimiser. The members of an ensemble step together, so its step counts must
        equal those of the members loaded since the last :meth:`step` (other than ``k``); the first member loaded
        sets :attr:`step_count`. Load every member before stepping: one not loaded keeps its moments.
        Nothing changes when a check fails.

        Args:
            k: the member, ``0 <= k < n_members``.
            state: a single run's Adam ``state_dict()`` (one parameter group over the model's parameters).
            member_params: the single model's parameters in the same order as ``params``, as for
                :meth:`member_state_dict`.

        Raises:
            ValueError: naming the problem: a structure torch cannot load, settings that differ from this
                optimiser's, or step counts that differ from the other loaded members'.
        """
        members = self._check_member(k, member_params)
        template = self._template(k, members)
        if not isinstance(state, dict) or "param_groups" not in state or "state" not in state:
            raise ValueError("state must be a torch optimizer state_dict() (a dict with 'state' and 'param_groups')")
        template.load_state_dict(state)  # raises ValueError itself for a group or parameter count that differs
        group = template.param_groups[0]

        expected: dict[str, Any] = {
            "lr": self.lr[k],
            "weight_decay": self.weight_decay[k],
            "betas": self.betas,
            "eps": self.eps,
            "amsgrad": False,
            "maximize": False,
            "decoupled_weight_decay": False,
        }
        differ = []
        for name, want in expected.items():
            got = group.get(name, want)
            if name == "betas":
                got = tuple(float(b) for b in got)
            elif isinstance(want, float):
                got = float(got)
            else:
                got = bool(got)
            if got != want:
                differ.append(f"{name} {got!r} (this optimiser has {want!r})")
        if differ:
            raise ValueError(f"member {k}'s state has other optimiser settings: " + ", ".join(differ))

        steps: list[int] = []
        moments: list[tuple[torch.Tensor, torch.Tensor] | None] = []
        for i, p in enumerate(members):
            entry = template.state.get(p)
            if not entry:
                steps.append(0)
                moments.append(None)
                continue
            missing = {"step", "exp_avg", "exp_avg_sq"} - set(entry)
            if missing:
                raise ValueError(f"member {k}'s state for parameter {i} lacks {sorted(missing)}")
            raw_step = entry["step"]
            value = float(raw_step.item() if isinstance(raw_step, torch.Tensor) else raw_step)
            if not (value >= 0 and value.is_integer()):
                raise ValueError(f"member {k}'s state for parameter {i} has step {value}, not a whole number >= 0")
            for name in ("exp_avg", "exp_avg_sq"):
                if entry[name].shape != p.shape:
                    raise ValueError(
                        f"member {k}'s {name} for parameter {i} has shape {tuple(entry[name].shape)}; expected "
                        f"{tuple(p.shape)}"
                    )
            steps.append(int(value))
            moments.append((entry["exp_avg"], entry["exp_avg_sq"]))

        others = self._loaded - {k}
        if others and steps != self._steps:
            other = min(others)
            raise ValueError(
                f"member {k}'s state has step {max(steps)} (per parameter {steps}) but member {other}, loaded before "
                f"it, has step {self.step_count} (per parameter {self._steps}); members of an ensemble step together"
            )

        with torch.no_grad():
            for i, pair in enumerate(moments):
                if pair is None:
                    self.exp_avg[i][k].zero_()
                    self.exp_avg_sq[i][k].zero_()
                else:
                    self.exp_avg[i][k].copy_(pair[0])
                    self.exp_avg_sq[i][k].copy_(pair[1])
        self._steps = steps
        self._loaded.add(k)
