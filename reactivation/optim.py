"""Each member's Adam state in an ensemble trained as one.

An ensemble of ``E`` networks is trained as one: every parameter is a tensor of shape ``(E, ...)`` whose slice ``[k]``
is member ``k``'s, the loss is the sum of the members' losses (so the slice ``[k]`` of each gradient is member ``k``'s
own), and one ``torch.optim.Adam`` steps the stacked parameters. Adam is elementwise and the members of an ensemble
share its settings (:mod:`reactivation.ensembles` groups runs by learning rate and weight decay), so member ``k``'s
update is the one torch's Adam makes to member ``k`` trained alone, with the same ops and Python scalars: bit for bit
on CPU, where both take torch's single-tensor implementation (tests/test_optim.py; on CUDA both take the multi-tensor
one). What this module adds is the bridge to the members' run directories: :func:`member_state_dict` slices a
member's ordinary single-run ``state_dict()`` out of the stacked state, and :func:`load_member_states` stacks the
members' back, so an ensemble resumes from single runs and single runs from an ensemble.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["adam", "load_member_states", "member_state_dict"]

#: Entries of Adam's per-parameter state that hold one slice per member (the step count is shared).
MOMENTS = ("exp_avg", "exp_avg_sq")


def adam(params: Sequence[torch.Tensor], lr: float, weight_decay: float) -> torch.optim.Adam:
    """The optimiser of a run and of an ensemble alike (torch's defaults otherwise), so their settings compare."""
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _members(optimizer: torch.optim.Optimizer) -> int:
    return int(optimizer.param_groups[0]["params"][0].shape[0])


def member_state_dict(optimizer: torch.optim.Optimizer, k: int) -> dict[str, Any]:
    """Member ``k``'s state as the ``state_dict()`` of a single run's Adam over its own parameters, in the same order.

    Each moment is the stacked one's slice ``[k]`` (cloned), the step count and the settings are the stacked
    optimizer's; before the first step the state is empty, as a fresh Adam's.
    """
    if not 0 <= k < _members(optimizer):
        raise ValueError(f"member {k} is out of range for {_members(optimizer)} members")
    full = optimizer.state_dict()
    state = {
        index: {name: (value[k] if name in MOMENTS else value).clone() for name, value in entry.items()}
        for index, entry in full["state"].items()
    }
    return {"state": state, "param_groups": full["param_groups"]}


def _settings(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in group.items() if key != "params"} for group in groups]


def load_member_states(optimizer: torch.optim.Optimizer, states: Sequence[dict[str, Any]]) -> None:
    """Stack the members' single-run Adam ``state_dict()`` s, in member order, into ``optimizer``.

    Raises:
        ValueError: naming the member, for a state whose settings are not the ensemble's (a resume must not change a
            run's optimiser), whose step counts differ from member 0's (members step together), or whose moments do
            not fit the parameters. Nothing changes when a check fails.
    """
    n, params = _members(optimizer), optimizer.param_groups[0]["params"]
    if len(states) != n:
        raise ValueError(f"{len(states)} member states for an ensemble of {n} members")
    own = _settings(optimizer.state_dict()["param_groups"])
    first = states[0]["state"]
    for k, member in enumerate(states):
        if _settings(member["param_groups"]) != own:
            raise ValueError(f"member {k}'s optimiser settings {_settings(member['param_groups'])} are not the "
                             f"ensemble's {own}")  # fmt: skip
        steps = {i: float(entry["step"]) for i, entry in member["state"].items()}
        if steps != {i: float(entry["step"]) for i, entry in first.items()}:
            raise ValueError(f"member {k}'s step counts {steps} differ from member 0's: members of an ensemble step "
                             "together")  # fmt: skip
    stacked: dict[int, dict[str, torch.Tensor]] = {}
    for index, entry in first.items():
        stacked[index] = {"step": entry["step"].clone()}
        for name in MOMENTS:
            value = torch.stack([member["state"][index][name].to(params[index].device) for member in states])
            if value.shape != params[index].shape:
                raise ValueError(f"the members' {name} of parameter {index} stack to {tuple(value.shape)}, not the "
                                 f"parameter's {tuple(params[index].shape)}")  # fmt: skip
            stacked[index][name] = value
    optimizer.load_state_dict({"state": stacked, "param_groups": optimizer.state_dict()["param_groups"]})
