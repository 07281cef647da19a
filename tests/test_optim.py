"""One torch Adam on stacked members: each member's update and state are those of torch's Adam on that member alone
(reactivation.optim)."""

import io

import pytest
import torch

from reactivation import optim

E = 3
# (16, 8) and (4, 16) as in a small network; (5, 3) has a size that is no multiple of a SIMD width, so a member's
# elements fall at other vector lanes in the stack than alone.
SHAPES = [(16, 8), (4, 16), (5, 3)]
LR, DECAY = 2e-2, 1e-2


def _data(steps: int, seed: int = 0) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
    """Random stacked initial values (E, *shape) and `steps` rounds of random stacked gradients."""
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn((E, *shape), generator=gen) for shape in SHAPES]
    grads = [[torch.randn((E, *shape), generator=gen) for shape in SHAPES] for _ in range(steps)]
    return init, grads


def _stacked(init, decay: float = DECAY):
    params = [x.clone().requires_grad_() for x in init]
    return params, optim.adam(params, LR, decay)


def _single(init, k: int, decay: float = DECAY, lr: float = LR):
    params = [x[k].clone().requires_grad_() for x in init]
    return params, optim.adam(params, lr, decay)


def _step(params, opt, grads, k: int | None = None, skip: int | None = None) -> None:
    """Step with each round of ``grads`` (member ``k``'s slices, or the stacks); parameter ``skip`` gets none."""
    for g in grads:
        opt.zero_grad()
        for i, (p, gp) in enumerate(zip(params, g)):
            p.grad = None if i == skip else (gp if k is None else gp[k]).clone()
        opt.step()


def _assert_state_dicts_equal(ours: dict, theirs: dict) -> None:
    assert ours["param_groups"] == theirs["param_groups"]
    assert ours["state"].keys() == theirs["state"].keys()
    for index, entry in theirs["state"].items():
        assert ours["state"][index].keys() == entry.keys()
        for name, value in entry.items():
            got = ours["state"][index][name]
            assert got.dtype == value.dtype and got.device == value.device, (index, name)
            assert torch.equal(got, value), (index, name)


@pytest.mark.parametrize("decay", [DECAY, 0.0], ids=["decay", "no-decay"])
def test_each_stacked_member_steps_bit_identically_to_torch_adam_alone(decay):
    init, grads = _data(12)
    params, opt = _stacked(init, decay)
    _step(params, opt, grads)
    for k in range(E):
        alone, single = _single(init, k, decay)
        _step(alone, single, grads, k)
        for stacked, own in zip(params, alone):
            assert torch.equal(stacked.detach()[k], own.detach())
    assert not torch.equal(params[0].detach(), init[0])  # it did step


def test_a_members_state_dict_is_a_single_runs_and_resumes_it():
    init, grads = _data(8)
    params, opt = _stacked(init)
    _step(params, opt, grads[:5])
    for k in range(E):
        alone, single = _single(init, k)
        _step(alone, single, grads[:5], k)
        state = optim.member_state_dict(opt, k)
        _assert_state_dicts_equal(state, single.state_dict())
        # through a file, as a run's resume.pt carries it, into a fresh single run that goes on
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        resumed_params = [p.detach().clone().requires_grad_() for p in alone]
        resumed = optim.adam(resumed_params, LR, DECAY)
        resumed.load_state_dict(torch.load(buffer, weights_only=True))
        _step(resumed_params, resumed, grads[5:], k)
        _step(alone, single, grads[5:], k)
        assert all(torch.equal(a.detach(), b.detach()) for a, b in zip(resumed_params, alone))


def test_before_any_step_a_members_state_is_a_fresh_adams():
    init, _ = _data(0)
    _, opt = _stacked(init)
    _assert_state_dicts_equal(optim.member_state_dict(opt, 1), _single(init, 1)[1].state_dict())


def test_a_members_state_is_a_copy():
    init, grads = _data(2)
    params, opt = _stacked(init)
    _step(params, opt, grads)
    state = optim.member_state_dict(opt, 0)
    state["state"][0]["exp_avg"].zero_()
    state["state"][0]["step"].zero_()
    assert opt.state[params[0]]["exp_avg"][0].abs().sum() > 0 and float(opt.state[params[0]]["step"]) == 2


def test_a_parameter_without_gradient_is_left_out_of_a_members_state_as_torch_leaves_it_out():
    init, grads = _data(3)
    params, opt = _stacked(init)
    _step(params, opt, grads, skip=2)
    alone, single = _single(init, 1)
    _step(alone, single, grads, 1, skip=2)
    state = optim.member_state_dict(opt, 1)
    assert 2 not in state["state"]
    _assert_state_dicts_equal(state, single.state_dict())


def test_single_runs_resume_as_an_ensemble_that_goes_on_bit_identically():
    init, grads = _data(9)
    singles = [_single(init, k) for k in range(E)]
    for k, (alone, single) in enumerate(singles):
        _step(alone, single, grads[:4], k)
    # the ensemble starts from the single runs' weights and optimiser states
    params, opt = _stacked([torch.stack([alone[i].detach() for alone, _ in singles]) for i in range(len(SHAPES))])
    optim.load_member_states(opt, [single.state_dict() for _, single in singles])
    _step(params, opt, grads[4:])
    for k, (alone, single) in enumerate(singles):
        _step(alone, single, grads[4:], k)
        assert all(torch.equal(p.detach()[k], a.detach()) for p, a in zip(params, alone))
        _assert_state_dicts_equal(optim.member_state_dict(opt, k), single.state_dict())


def _stepped_states(steps: list[int], lrs: list[float] | None = None) -> list[dict]:
    init, grads = _data(max(steps))
    states = []
    for k, n in enumerate(steps):
        alone, single = _single(init, k, lr=(lrs or [LR] * E)[k])
        _step(alone, single, grads[:n], k)
        states.append(single.state_dict())
    return states


@pytest.mark.parametrize(
    ("states", "message"),
    [
        (lambda: _stepped_states([3, 3, 2]), r"member 2's step counts .* differ from member 0's"),
        (lambda: _stepped_states([3, 3, 3], [LR, 1e-3, LR]), r"member 1's optimiser settings .* not the ensemble's"),
        (lambda: _stepped_states([3, 3]), r"2 member states for an ensemble of 3 members"),
    ],
    ids=["steps", "settings", "count"],
)
def test_member_states_that_do_not_fit_are_refused_and_change_nothing(states, message):
    init, grads = _data(1)
    params, opt = _stacked(init)
    _step(params, opt, grads)
    before = optim.member_state_dict(opt, 0)
    with pytest.raises(ValueError, match=message):
        optim.load_member_states(opt, states())
    _assert_state_dicts_equal(optim.member_state_dict(opt, 0), before)


def test_a_member_out_of_range_is_refused():
    init, _ = _data(0)
    with pytest.raises(ValueError, match="member 3 is out of range for 3 members"):
        optim.member_state_dict(_stacked(init)[1], 3)
