"""StackedAdam: each stacked member's update and state are those of torch.optim.Adam on that member alone."""

import io

import pytest
import torch

from reactivation.optim import StackedAdam

E = 3
# (16, 8) and (4, 16) as in a small network; (5, 3) has a size that is no multiple of a SIMD width, so a member's
# elements fall at other vector lanes in the stack than alone.
SHAPES = [(16, 8), (4, 16), (5, 3)]
SHARED_LR = [2e-2] * E
SHARED_DECAY = [1e-2] * E
MEMBER_LR = [1e-3, 5e-3, 2e-2]
MEMBER_DECAY = [0.0, 1e-2, 0.1]


def _data(steps: int, seed: int = 0) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
    """Random stacked initial values (E, *shape) and `steps` rounds of random stacked gradients."""
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn((E, *shape), generator=gen) for shape in SHAPES]
    grads = [[torch.randn((E, *shape), generator=gen) for shape in SHAPES] for _ in range(steps)]
    return init, grads


def _stacked(init: list[torch.Tensor], lr: list[float], decay: list[float]) -> tuple[list[torch.Tensor], StackedAdam]:
    params = [x.clone().requires_grad_() for x in init]
    return params, StackedAdam(params, lr, decay)


def _single(init: list[torch.Tensor], k: int, lr: list[float], decay: list[float]):
    params = [x[k].clone().requires_grad_() for x in init]
    return params, torch.optim.Adam(params, lr=lr[k], weight_decay=decay[k])


def _step_stacked(params, opt, grads) -> None:
    for g in grads:
        opt.zero_grad()
        for p, gp in zip(params, g):
            p.grad = gp.clone()
        opt.step()


def _step_single(params, opt, grads, k: int) -> None:
    for g in grads:
        opt.zero_grad()
        for p, gp in zip(params, g):
            p.grad = gp[k].clone()
        opt.step()


def _assert_state_dicts_equal(ours: dict, theirs: dict) -> None:
    assert ours.keys() == theirs.keys()
    assert ours["param_groups"] == theirs["param_groups"]
    assert ours["state"].keys() == theirs["state"].keys()
    for index, entry in theirs["state"].items():
        assert ours["state"][index].keys() == entry.keys()
        for name, value in entry.items():
            got = ours["state"][index][name]
            assert got.dtype == value.dtype and got.device == value.device, (index, name)
            assert torch.equal(got, value), (index, name)


@pytest.mark.parametrize("decay", [SHARED_DECAY, [0.0] * E], ids=["decay", "no-decay"])
def test_shared_settings_bit_identical_to_torch_adam(decay):
    init, grads = _data(10)
    params, opt = _stacked(init, SHARED_LR, decay)
    _step_stacked(params, opt, grads)
    assert opt.step_count == 10
    for k in range(E):
        single, single_opt = _single(init, k, SHARED_LR, decay)
        _step_single(single, single_opt, grads, k)
        for i, (p, stacked) in enumerate(zip(single, params)):
            assert torch.equal(stacked[k], p), (k, i)
            assert not torch.equal(p, init[i][k])  # it did move


def test_per_member_settings_match_torch_adam():
    init, grads = _data(10)
    params, opt = _stacked(init, MEMBER_LR, MEMBER_DECAY)
    _step_stacked(params, opt, grads)
    moved = []
    for k in range(E):
        single, single_opt = _single(init, k, MEMBER_LR, MEMBER_DECAY)
        _step_single(single, single_opt, grads, k)
        for p, stacked in zip(single, params):
            torch.testing.assert_close(stacked[k], p, rtol=1e-6, atol=0)
        moved.append((single[0] - init[0][k]).abs().mean().item())
    # The members really took their own learning rates: the one with the largest moved furthest.
    assert moved[0] < moved[1] < moved[2]


def test_member_state_dict_is_torch_adams_and_resumes_it():
    init, grads = _data(9)
    params, opt = _stacked(init, MEMBER_LR, MEMBER_DECAY)
    _step_stacked(params, opt, grads[:6])
    resumed_runs = []
    for k in range(E):
        single, single_opt = _single(init, k, MEMBER_LR, MEMBER_DECAY)
        _step_single(single, single_opt, grads[:6], k)
        ours, theirs = opt.member_state_dict(k, single), single_opt.state_dict()
        # Per-member settings are promised to float rounding: the structure, settings and steps exactly, the moments
        # to rounding.
        assert ours.keys() == theirs.keys()
        assert ours["param_groups"] == theirs["param_groups"]
        assert ours["param_groups"][0]["lr"] == MEMBER_LR[k]
        assert ours["state"].keys() == theirs["state"].keys() == set(range(len(SHAPES)))
        for index, entry in theirs["state"].items():
            assert ours["state"][index].keys() == entry.keys()
            assert torch.equal(ours["state"][index]["step"], entry["step"])
            for name in ("exp_avg", "exp_avg_sq"):
                torch.testing.assert_close(ours["state"][index][name], entry[name], rtol=1e-6, atol=0)
        # A fresh torch Adam on the member's params, loaded from our state, continues as the stacked one does.
        resumed = [p[k].detach().clone().requires_grad_() for p in params]
        resumed_opt = torch.optim.Adam(resumed, lr=MEMBER_LR[k], weight_decay=MEMBER_DECAY[k])
        resumed_opt.load_state_dict(ours)
        resumed_runs.append((resumed, resumed_opt))
    _step_stacked(params, opt, grads[6:])
    for k, (resumed, resumed_opt) in enumerate(resumed_runs):
        _step_single(resumed, resumed_opt, grads[6:], k)
        assert torch.equal(resumed_opt.state_dict()["state"][0]["step"], torch.tensor(9.0))
        for p, stacked in zip(resumed, params):
            torch.testing.assert_close(stacked[k], p, rtol=1e-6, atol=0)


def test_member_state_dict_exact_with_shared_settings():
    init, grads = _data(8)
    params, opt = _stacked(init, SHARED_LR, SHARED_DECAY)
    _step_stacked(params, opt, grads[:5])
    singles = []
    for k in range(E):
        single, single_opt = _single(init, k, SHARED_LR, SHARED_DECAY)
        _step_single(single, single_opt, grads[:5], k)
        _assert_state_dicts_equal(opt.member_state_dict(k, single), single_opt.state_dict())
        # Resume a fresh single run from our state (round trip through torch.save, as a resume file would).
        buffer = io.BytesIO()
        torch.save(opt.member_state_dict(k, single), buffer)
        buffer.seek(0)
        resumed = [p[k].detach().clone().requires_grad_() for p in params]
        resumed_opt = torch.optim.Adam(resumed, lr=SHARED_LR[k], weight_decay=SHARED_DECAY[k])
        resumed_opt.load_state_dict(torch.load(buffer))
        singles.append((resumed, resumed_opt))
    _step_stacked(params, opt, grads[5:])
    for k, (resumed, resumed_opt) in enumerate(singles):
        _step_single(resumed, resumed_opt, grads[5:], k)
        for p, stacked in zip(resumed, params):
            assert torch.equal(stacked[k], p)


def test_member_state_dict_before_any_step_is_a_fresh_adams():
    init, _ = _data(0)
    params, opt = _stacked(init, MEMBER_LR, MEMBER_DECAY)
    single, single_opt = _single(init, 1, MEMBER_LR, MEMBER_DECAY)
    ours = opt.member_state_dict(1, single)
    assert ours["state"] == {}
    assert ours == single_opt.state_dict()
    assert opt.step_count == 0


def test_state_tensors_are_clones():
    init, grads = _data(2)
    params, opt = _stacked(init, SHARED_LR, SHARED_DECAY)
    _step_stacked(params, opt, grads)
    single, _ = _single(init, 0, SHARED_LR, SHARED_DECAY)
    state = opt.member_state_dict(0, single)
    before = opt.exp_avg[0][0].clone()
    state["state"][0]["exp_avg"].add_(1.0)
    assert torch.equal(opt.exp_avg[0][0], before)


@pytest.mark.parametrize(
    ("lr", "decay"), [(SHARED_LR, SHARED_DECAY), (MEMBER_LR, MEMBER_DECAY)], ids=["shared", "member"]
)
def test_load_member_state_dicts_then_continue(lr, decay):
    init, grads = _data(10)
    singles = []
    for k in range(E):
        single, single_opt = _single(init, k, lr, decay)
        _step_single(single, single_opt, grads[:4], k)
        singles.append((single, single_opt))
    # The ensemble starts from the single runs' params and optimiser states (it had taken other steps before).
    params, opt = _stacked(init, lr, decay)
    _step_stacked(params, opt, grads[:1])
    with torch.no_grad():
        for i, p in enumerate(params):
            p.copy_(torch.stack([single[i] for single, _ in singles]))
    for k, (single, single_opt) in enumerate(singles):
        opt.load_member_state_dict(k, single_opt.state_dict(), single)
    assert opt.step_count == 4
    _step_stacked(params, opt, grads[4:])
    assert opt.step_count == 10
    for k, (single, single_opt) in enumerate(singles):
        _step_single(single, single_opt, grads[4:], k)
        for p, stacked in zip(single, params):
            if lr is SHARED_LR:
                assert torch.equal(stacked[k], p)
            else:
                torch.testing.assert_close(stacked[k], p, rtol=1e-6, atol=0)


def test_load_fresh_state_zeroes_the_member():
    init, grads = _data(3)
    params, opt = _stacked(init, SHARED_LR, SHARED_DECAY)
    _step_stacked(params, opt, grads)
    single, single_opt = _single(init, 2, SHARED_LR, SHARED_DECAY)
    opt.load_member_state_dict(2, single_opt.state_dict(), single)
    assert opt.step_count == 0
    assert all(not m[2].any() for m in opt.exp_avg + opt.exp_avg_sq)
    assert opt.exp_avg[0][0].any()  # the other members keep theirs
    assert opt.member_state_dict(2, single)["state"] == {}


def test_parameter_without_grad_is_skipped_as_torch_does():
    init, grads = _data(4)
    params, opt = _stacked(init, SHARED_LR, SHARED_DECAY)
    single, single_opt = _single(init, 1, SHARED_LR, SHARED_DECAY)
    for t, g in enumerate(grads):
        opt.zero_grad()
        single_opt.zero_grad()
        assert all(p.grad is None for p in params)
        for i in range(len(SHAPES)):
            if i == 1 and t < 2:
                continue  # parameter 1 gets no gradient in the first two steps
            params[i].grad = g[i].clone()
            single[i].grad = g[i][1].clone()
        opt.step()
        single_opt.step()
        if t == 0:
            assert 1 not in opt.member_state_dict(1, single)["state"]
    _assert_state_dicts_equal(opt.member_state_dict(1, single), single_opt.state_dict())
    assert opt.step_count == 4
    for p, stacked in zip(single, params):
        assert torch.equal(stacked[1], p)


def test_bad_settings_raise():
    init, _ = _data(0)
    params = [x.clone().requires_grad_() for x in init]
    with pytest.raises(ValueError, match="lr has 2 values but the parameters stack 3"):
        StackedAdam(params, [1e-3] * 2, [0.0] * 2)
    with pytest.raises(ValueError, match="weight_decay has 2 values"):
        StackedAdam(params, [1e-3] * E, [0.0] * 2)
    with pytest.raises(ValueError, match=r"lr\[1\] must be finite and >= 0"):
        StackedAdam(params, [1e-3, -1.0, 1e-3], [0.0] * E)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        StackedAdam(params, [1e-3] * E, [0.0] * E, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="leaf tensor with requires_grad"):
        StackedAdam([init[0]], [1e-3] * E, [0.0] * E)
    with pytest.raises(ValueError, match="leading member dimensions differ"):
        StackedAdam([params[0], torch.zeros(2, 3, requires_grad=True)], [1e-3] * E, [0.0] * E)
    with pytest.raises(ValueError, match="appears more than once"):
        StackedAdam([params[0], params[0]], [1e-3] * E, [0.0] * E)
    opt = StackedAdam(params, [1e-3] * E, [0.0] * E)
    wrong = [torch.zeros(s) for s in reversed(SHAPES)]
    with pytest.raises(ValueError, match=r"member_params\[0\] has shape"):
        opt.member_state_dict(0, wrong)
    with pytest.raises(ValueError, match="out of range"):
        opt.member_state_dict(E, [x[0] for x in params])


def _trained_single(init, k, lr, decay, grads):
    single, single_opt = _single(init, k, lr, decay)
    _step_single(single, single_opt, grads, k)
    return single, single_opt.state_dict()


def test_load_step_mismatch_raises_and_changes_nothing():
    init, grads = _data(5)
    params, opt = _stacked(init, SHARED_LR, SHARED_DECAY)
    single0, state0 = _trained_single(init, 0, SHARED_LR, SHARED_DECAY, grads[:3])
    single1, state1 = _trained_single(init, 1, SHARED_LR, SHARED_DECAY, grads[:5])
    opt.load_member_state_dict(0, state0, single0)
    assert opt.step_count == 3
    before = [m.clone() for m in opt.exp_avg]
    with pytest.raises(ValueError, match="member 1's state has step 5 .* member 0, loaded before it, has step 3"):
        opt.load_member_state_dict(1, state1, single1)
    assert opt.step_count == 3
    assert all(torch.equal(a, b) for a, b in zip(before, opt.exp_avg))
    # Reloading the one loaded member may change the step; after a step, a new first load sets it again.
    opt.load_member_state_dict(0, _trained_single(init, 0, SHARED_LR, SHARED_DECAY, grads[:5])[1], single0)
    opt.load_member_state_dict(1, state1, single1)
    assert opt.step_count == 5


def test_load_settings_mismatch_raises():
    init, grads = _data(2)
    params, opt = _stacked(init, MEMBER_LR, MEMBER_DECAY)
    single, state = _trained_single(init, 0, MEMBER_LR, MEMBER_DECAY, grads)
    with pytest.raises(ValueError, match=r"member 1's state has other optimiser settings: lr 0\.001 .*weight_decay"):
        opt.load_member_state_dict(1, state, single)  # member 0's run loaded into slot 1
    other = torch.optim.Adam(single, lr=MEMBER_LR[0], weight_decay=MEMBER_DECAY[0], betas=(0.8, 0.999), amsgrad=True)
    with pytest.raises(ValueError, match=r"betas \(0\.8, 0\.999\).*amsgrad True"):
        opt.load_member_state_dict(0, other.state_dict(), single)
    with pytest.raises(ValueError, match="state must be a torch optimizer state_dict"):
        opt.load_member_state_dict(0, {"state": {}}, single)
    assert opt.step_count == 0
