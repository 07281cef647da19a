"""Quiescence: noise modes, determinism, chunked no-grad rollouts, and loading trained runs."""

from __future__ import annotations

import math

import pytest
import torch

from reactivation import ReactivationError, runs
from reactivation.loading import load_run
from reactivation.models import Ensemble, NoisyGRU, NoisyRNN
from reactivation.modes import noise_factor
from reactivation.quiescence import ensemble_rollout, quiescent_sigma, rollout
from reactivation.tasks import build_task
from reactivation.training import train


def _setup(n_rec=12, sigma2_rec=1e-4):
    task = build_task(
        {"name": "spatial_navigation", "place_cells_num": 10, "sequence_length": 8}, torch.Generator().manual_seed(0)
    )
    model = NoisyRNN(2, n_rec, 10, 10, sigma2_rec=sigma2_rec, generator=torch.Generator().manual_seed(1))
    return task, model


def test_noise_modes():
    assert quiescent_sigma(0.01, "scaled") == 0.01 * math.sqrt(2)
    assert quiescent_sigma(0.01, "same") == 0.01
    assert quiescent_sigma(0.0, "absolute", noise=2e-4) == math.sqrt(4e-4)
    assert quiescent_sigma(0.0, "scaled") == 0.0  # a network trained without noise stays deterministic
    with pytest.raises(ValueError, match="choose one of scaled, same, absolute"):
        quiescent_sigma(0.01, "double")


def test_a_factor_mode_scales_the_trained_noise_and_names_agree_with_their_factors():
    assert quiescent_sigma(0.01, "0.5") == 0.005
    assert quiescent_sigma(0.01, "0") == 0.0
    assert quiescent_sigma(0.01, "3") == 0.03
    # the named modes are the factors sqrt(2) and 1, bit for bit
    assert quiescent_sigma(0.01, repr(math.sqrt(2))) == quiescent_sigma(0.01, "scaled")
    assert quiescent_sigma(0.01, "1") == quiescent_sigma(0.01, "same")
    assert noise_factor("absolute") is None
    for bad in ("-1", "nan", "inf", ""):
        with pytest.raises(ValueError, match="a factor c >= 0"):
            noise_factor(bad)


def test_scaled_mode_multiplies_the_injected_noise_by_exactly_sqrt2():
    task, model = _setup()
    with torch.no_grad():
        model.recurrent.weight.zero_()  # h_1 = (1 - alpha) h_0 + alpha relu(0) + noise = noise from h_0 = 0
    h0 = torch.zeros(5, 12)
    sigma = model.sigma_rec
    same = rollout(
        model,
        task,
        h0,
        1,
        generator=torch.Generator().manual_seed(3),
        sigma_rec=quiescent_sigma(sigma, "same"),
        keep_hidden=True,
    ).hidden
    scaled = rollout(
        model,
        task,
        h0,
        1,
        generator=torch.Generator().manual_seed(3),
        sigma_rec=quiescent_sigma(sigma, "scaled"),
        keep_hidden=True,
    ).hidden
    assert same.abs().max() > 0
    torch.testing.assert_close(scaled, same * math.sqrt(2), rtol=1e-6, atol=0)
    assert abs(same.std().item() / sigma - 1) < 0.5  # the draws are at the trained level


def test_zero_input_zero_noise_rollout_is_deterministic_and_chunking_does_not_matter():
    task, model = _setup(sigma2_rec=0.0)
    h0 = model.initial_state(task.sample(4, torch.Generator().manual_seed(2)).init_code)
    runs_ = [
        rollout(model, task, h0, 50, generator=torch.Generator().manual_seed(s), chunk=c, keep_hidden=True)
        for s, c in ((0, 500), (1, 500), (0, 7))
    ]
    for other in runs_[1:]:
        assert torch.equal(runs_[0].hidden, other.hidden) and torch.equal(runs_[0].decoded, other.decoded)
    assert runs_[0].decoded.shape == (4, 50, 2) and runs_[0].hidden.shape == (4, 50, 12)
    assert torch.equal(runs_[0].final_state, runs_[0].hidden[:, -1])


def test_rollout_keeps_no_gradient_graph():
    task, model = _setup()
    h0 = model.initial_state(task.sample(3, torch.Generator().manual_seed(2)).init_code)
    assert h0.requires_grad  # the start itself comes from a parameter
    out = rollout(model, task, h0, 30, generator=torch.Generator().manual_seed(0), chunk=8, keep_hidden=True)
    for tensor in (out.decoded, out.hidden, out.final_state):
        assert not tensor.requires_grad and tensor.grad_fn is None


def test_active_rollout_matches_the_training_forward():
    task, model = _setup(sigma2_rec=0.0)
    batch = task.sample(3, torch.Generator().manual_seed(5))
    _, outputs = model(batch.inputs, batch.init_code)
    active = rollout(
        model, task, model.initial_state(batch.init_code), 8, inputs=batch.inputs, chunk=3, generator=torch.Generator()
    )
    torch.testing.assert_close(active.decoded, task.decode(outputs).detach())


def test_load_run_restores_weights_and_centres(tiny_config, tmp_path):
    train(tiny_config(), tmp_path)
    setup = load_run(tmp_path, device="cpu")
    state = runs.load_checkpoint(runs.checkpoint_path(tmp_path, 5))
    assert all(torch.equal(v, setup.model.state_dict()[k]) for k, v in state["model"].items())
    assert torch.equal(setup.task.code.centres, state["task"]["code.centres"])
    early = load_run(tmp_path, step=2, device="cpu")
    assert not torch.equal(early.model.recurrent.weight, setup.model.recurrent.weight)
    with pytest.raises(ReactivationError, match=r"no checkpoint at step 3; available steps: \[0, 2, 4, 5\]"):
        load_run(tmp_path, step=3)


def test_kept_outputs_are_the_forwards_outputs_across_chunks_and_decode_to_the_decoded_latent():
    task, model = _setup(sigma2_rec=0.0)
    batch = task.sample(3, torch.Generator().manual_seed(5))
    _, outputs = model(batch.inputs, batch.init_code)
    h0 = model.initial_state(batch.init_code)
    kept = rollout(model, task, h0, 8, inputs=batch.inputs, chunk=3, generator=torch.Generator(), keep_outputs=True)
    torch.testing.assert_close(kept.outputs, outputs.detach())  # (B, T, n_code), the chunks in time order
    torch.testing.assert_close(task.decode(kept.outputs), kept.decoded)
    assert rollout(model, task, h0, 8, inputs=batch.inputs, generator=torch.Generator()).outputs is None


@pytest.mark.parametrize("kind", ["vanilla", "gru"])
@pytest.mark.parametrize("active", [True, False])
def test_an_ensemble_rollout_equals_each_members_own_rollout(kind, active):
    """Mixed noise levels and distributions, chunks that do not divide the steps: member k's decoded latents,
    hidden states, outputs and final state are its single rollout's to float tolerance (batched products round
    differently), and the rollouts are not trivially equal (the members differ)."""
    task, _ = _setup()
    cls = NoisyGRU if kind == "gru" else NoisyRNN
    noise = [{"sigma2_rec": 1e-3}, {"sigma2_rec": 0.0}, {"sigma2_rec": 1e-3, "noise_dist": "uniform"}]
    members = [
        cls(2, 12, 10, 10, sigma2_in=1e-4, **n, generator=torch.Generator().manual_seed(10 + k))
        for k, n in enumerate(noise)
    ]
    ensemble = Ensemble(members)
    steps, chunk = 23, 7
    inputs = torch.randn(3, 5, steps, 2, generator=torch.Generator().manual_seed(2)) * 0.05 if active else None
    h0 = torch.randn(3, 5, 12, generator=torch.Generator().manual_seed(3)) * 0.3
    sigmas = [0.05, 0.0, 0.02]
    together = ensemble_rollout(
        ensemble, [task] * 3, h0, steps, inputs=inputs, sigma_rec=sigmas, chunk=chunk, keep_hidden=True,
        keep_outputs=True, generators=[torch.Generator().manual_seed(100 + k) for k in range(3)],
    )  # fmt: skip
    for k, member in enumerate(members):
        alone = rollout(
            member, task, h0[k], steps, inputs=None if inputs is None else inputs[k], sigma_rec=sigmas[k],
            chunk=chunk, keep_hidden=True, keep_outputs=True, generator=torch.Generator().manual_seed(100 + k),
        )  # fmt: skip
        for name in ("decoded", "hidden", "outputs", "final_state"):
            mine, theirs = getattr(together[k], name), getattr(alone, name)
            assert mine.shape == theirs.shape and torch.allclose(mine, theirs, rtol=1e-5, atol=1e-6), name
    assert not torch.allclose(together[0].hidden, together[1].hidden, atol=1e-3)
    with pytest.raises(ValueError, match="2 tasks for 3 members"):
        ensemble_rollout(ensemble, [task] * 2, h0, steps, generators=[None] * 3)
