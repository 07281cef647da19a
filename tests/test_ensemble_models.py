"""The batched (ensemble) scan and models: gradcheck, equality with E separate single runs, per-member noise."""

from __future__ import annotations

import pytest
import torch

from reactivation.models import Ensemble, NoisyGRU, NoisyRNN
from reactivation.models.scan import leaky_rnn_scan

E, T, B, N = 3, 5, 4, 6


def _scan_inputs(dtype, with_zeta, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=gen, dtype=dtype) * scale).requires_grad_()

    zeta = rand(E, T, B, N, scale=0.1) if with_zeta else None
    return rand(E, T, B, N), rand(E, B, N), rand(E, N, N, scale=0.4), zeta


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("with_zeta", [True, False])
def test_gradcheck_of_the_batched_scan(activation, with_zeta):
    drive, h0, w_rec, zeta = _scan_inputs(torch.float64, with_zeta)
    inputs = (drive, h0, w_rec) if zeta is None else (drive, h0, w_rec, zeta)

    def run(*args):
        return leaky_rnn_scan(args[0], args[1], args[2], args[3] if len(args) > 3 else None, 0.5, activation)

    assert torch.autograd.gradcheck(run, inputs, eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_the_batched_scan_equals_e_separate_scans(activation):
    # Batched products (baddbmm) need not round as single ones (addmm) do: equal to float32 tolerance.
    drive, h0, w_rec, zeta = _scan_inputs(torch.float32, True)
    states = leaky_rnn_scan(drive, h0, w_rec, zeta, 0.2, activation)
    weights = torch.randn(states.shape, generator=torch.Generator().manual_seed(1))
    (states * weights).sum().backward()
    for k in range(E):
        parts = [t[k].detach().clone().requires_grad_() for t in (drive, h0, w_rec, zeta)]
        single = leaky_rnn_scan(*parts, 0.2, activation)
        (single * weights[k]).sum().backward()
        assert torch.allclose(states[k], single, rtol=1e-5, atol=1e-6)
        for stacked, part in zip((drive, h0, w_rec, zeta), parts):
            assert torch.allclose(stacked.grad[k], part.grad, rtol=1e-4, atol=1e-6)


SHAPES = {
    "vanilla": (NoisyRNN, 2, "relu"),
    "gru": (NoisyGRU, 2, "tanh"),
    "hd": (NoisyRNN, 1, "relu"),
}
# Mixed members: one without recurrent noise, one with uniform noise.
NOISE = [
    {"sigma2_rec": 1e-2, "sigma2_in": 1e-3},
    {"sigma2_rec": 0.0, "sigma2_in": 1e-3},
    {"sigma2_rec": 4e-2, "sigma2_in": 1e-3, "noise_dist": "uniform"},
]


def _members(kind):
    cls, n_in, activation = SHAPES[kind]
    return [
        cls(n_in, 16, 8, 8, activation_fn=activation, **noise, generator=torch.Generator().manual_seed(k))
        for k, noise in enumerate(NOISE)
    ]


@pytest.mark.parametrize("kind", SHAPES)
def test_each_member_runs_and_learns_as_its_single_model(kind):
    members = _members(kind)
    ensemble = Ensemble(members)
    gen = torch.Generator().manual_seed(5)
    inputs = torch.randn(E, B, T, members[0].n_in, generator=gen)
    init = torch.rand(E, B, 8, generator=gen)
    targets = torch.rand(E, B, T, 8, generator=gen)
    streams = [torch.Generator().manual_seed(100 + k) for k in range(E)]
    hidden, outputs = ensemble(inputs, init, generators=streams)
    assert hidden.shape == (E, B, T, 16) and outputs.shape == (E, B, T, 8)
    torch.mean((outputs - targets) ** 2, dim=(1, 2, 3)).sum().backward()
    for k, single in enumerate(members):
        h, y = single(inputs[k], init[k], generator=torch.Generator().manual_seed(100 + k))
        torch.mean((y - targets[k]) ** 2).backward()
        assert torch.allclose(hidden[k], h, rtol=1e-5, atol=1e-6)
        assert torch.allclose(outputs[k], y, rtol=1e-5, atol=1e-6)
        for (name, stacked), p in zip(ensemble.named_parameters(), single.parameters()):
            assert torch.allclose(stacked.grad[k], p.grad, rtol=1e-4, atol=1e-7), name


def test_noise_of_each_member_is_its_single_models_draw_bit_for_bit():
    members = _members("vanilla")
    ensemble = Ensemble(members)
    noise = ensemble.sample_noise(B, T, [torch.Generator().manual_seed(k) for k in range(E)])
    for k, single in enumerate(members):
        own = single.sample_noise(B, T, torch.Generator().manual_seed(k))
        assert torch.equal(noise.input[k], own.input)
        if own.recurrent is None:  # no recurrent noise: nothing drawn, zeros in the stack
            assert not noise.recurrent[k].any()
        else:
            assert torch.equal(noise.recurrent[k], own.recurrent)


def test_state_dicts_round_trip_and_mismatched_members_are_refused():
    members = _members("vanilla")
    ensemble = Ensemble(members)
    assert set(ensemble.state_dict()) == set(members[0].state_dict())
    for k, single in enumerate(members):
        state = ensemble.member_state_dict(k)
        assert all(torch.equal(v, single.state_dict()[name]) for name, v in state.items())
        assert all(torch.equal(v, ensemble.member(k).state_dict()[name]) for name, v in state.items())
    ensemble.load_member_state_dict(0, members[2].state_dict())
    assert torch.equal(ensemble.recurrent.weight[0], members[2].recurrent.weight)
    wider = NoisyRNN(2, 32, 8, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="n_rec"):
        Ensemble([members[0], wider])
