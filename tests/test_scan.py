"""Tests of the vanilla-RNN time loop as one autograd node (reactivation.models.scan).

The model-level comparisons against the step-by-step reference of docs/spec.md §4 are in test_models.py; here the
Function is checked on its own: numerical gradients (gradcheck), and that no-grad calls keep nothing for backward.
"""

from __future__ import annotations

import pytest
import torch

from reactivation.models.scan import LeakyRNNScan, leaky_rnn_forward, leaky_rnn_scan

ACTIVATIONS = ["relu", "tanh", "sigmoid"]


def tensors(steps=4, batch=3, n=5, seed=0, zeta=True):
    """Tiny float64 inputs; W_rec scaled so that the loop neither explodes nor saturates."""
    g = torch.Generator().manual_seed(seed)
    drive = torch.randn(steps, batch, n, generator=g, dtype=torch.float64)
    h0 = torch.randn(batch, n, generator=g, dtype=torch.float64)
    w_rec = torch.randn(n, n, generator=g, dtype=torch.float64) / n**0.5
    noise = 0.1 * torch.randn(steps, batch, n, generator=g, dtype=torch.float64) if zeta else None
    return drive, h0, w_rec, noise


def plain_loop(drive, h0, w_rec, zeta, alpha, activation):
    """docs/spec.md §4 written out with ordinary autograd ops, one step at a time."""
    phi = getattr(torch, activation)
    h, states = h0, []
    for t in range(drive.shape[0]):
        h = (1 - alpha) * h + alpha * phi(drive[t] + h @ w_rec.T) + (0 if zeta is None else zeta[t])
        states.append(h)
    return torch.stack(states)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("with_zeta", [False, True])
@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_gradcheck_drive_h0_weights_and_noise(activation, with_zeta, alpha):
    drive, h0, w_rec, zeta = tensors(zeta=with_zeta)
    inputs = [drive, h0, w_rec] + ([zeta] if with_zeta else [])
    for tensor in inputs:
        tensor.requires_grad_(True)

    def fn(drive, h0, w_rec, zeta=None):
        return leaky_rnn_scan(drive, h0, w_rec, zeta, alpha, activation)

    assert torch.autograd.gradcheck(fn, tuple(inputs), eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("steps", [1, 2, 9])
def test_matches_plain_autograd_loop(activation, steps):
    drive, h0, w_rec, zeta = tensors(steps=steps, seed=1)
    for tensor in (drive, h0, w_rec):
        tensor.requires_grad_(True)
    ours = leaky_rnn_scan(drive, h0, w_rec, zeta, 0.3, activation)
    ref = plain_loop(drive, h0, w_rec, zeta, 0.3, activation)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-14)
    weights = torch.randn(ref.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    grads = torch.autograd.grad((ours * weights).sum(), (drive, h0, w_rec))
    ref_grads = torch.autograd.grad((ref * weights).sum(), (drive, h0, w_rec))
    for name, grad, ref_grad in zip(("drive", "h0", "w_rec"), grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-12, msg=name)


def test_only_the_inputs_that_need_it_get_a_gradient():
    drive, h0, w_rec, zeta = tensors()
    w_rec.requires_grad_(True)
    out = leaky_rnn_scan(drive, h0, w_rec, zeta, 0.2, "tanh")
    (grad_w,) = torch.autograd.grad(out.sum(), (w_rec,))
    (ref_w,) = torch.autograd.grad(plain_loop(drive, h0, w_rec, zeta, 0.2, "tanh").sum(), (w_rec,))
    torch.testing.assert_close(grad_w, ref_w, rtol=1e-10, atol=1e-12)


def test_no_grad_keeps_nothing_for_backward():
    drive, h0, w_rec, zeta = tensors()
    for tensor in (drive, h0, w_rec):
        tensor.requires_grad_(True)
    with torch.no_grad():
        states = leaky_rnn_scan(drive, h0, w_rec, zeta, 0.2, "relu")
    assert states.grad_fn is None and not states.requires_grad
    # Nothing requires grad: also no node, even with grad mode on.
    plain = [t.detach() for t in (drive, h0, w_rec)]
    assert leaky_rnn_scan(*plain, zeta, 0.2, "relu").grad_fn is None
    # The loop itself returns no phi buffer when it is not asked to keep one.
    again, phi = leaky_rnn_forward(*plain, zeta, 0.2, "relu", keep_phi=False)
    assert phi is None
    torch.testing.assert_close(again, states, rtol=0, atol=0)
    # With grad: one node that saved phi (T, B, n) besides h0, W_rec and the states.
    node = leaky_rnn_scan(drive, h0, w_rec, zeta, 0.2, "relu").grad_fn
    assert isinstance(node, LeakyRNNScan._backward_cls) and node.kept_phi
    assert [tuple(t.shape) for t in node.saved_tensors] == [(3, 5), (5, 5), (4, 3, 5), (4, 3, 5)]


def test_states_are_one_contiguous_time_major_buffer():
    drive, h0, w_rec, zeta = tensors(steps=6)
    states = leaky_rnn_scan(drive.transpose(0, 1).contiguous().transpose(0, 1), h0, w_rec, zeta, 0.2, "relu")
    assert states.shape == (6, 3, 5) and states.is_contiguous()
    torch.testing.assert_close(states, plain_loop(drive, h0, w_rec, zeta, 0.2, "relu"), rtol=1e-12, atol=1e-14)


def test_backward_without_saved_phi_is_refused():
    drive, h0, w_rec, zeta = tensors()
    w_rec.requires_grad_(True)
    states = LeakyRNNScan.apply(drive, h0, w_rec, zeta, 0.2, "relu", False)
    with pytest.raises(RuntimeError, match="keep_phi"):
        states.sum().backward()


def test_drive_is_overwritten_only_when_the_caller_allows_it_and_no_grad_is_needed():
    drive, h0, w_rec, zeta = tensors(steps=6)
    expected = plain_loop(drive, h0, w_rec, zeta, 0.2, "tanh")
    kept = drive.clone()
    states = leaky_rnn_scan(drive, h0, w_rec, zeta, 0.2, "tanh")  # default: the caller's drive is left alone
    assert torch.equal(drive, kept) and states.data_ptr() != drive.data_ptr()
    states = leaky_rnn_scan(drive, h0, w_rec, zeta, 0.2, "tanh", drive_is_scratch=True)
    assert states.data_ptr() == drive.data_ptr()  # the states went where the drive was
    torch.testing.assert_close(states, expected, rtol=1e-12, atol=1e-14)
    # With a gradient to take, the drive is never overwritten (autograd may still need it).
    drive = kept.clone()
    w_rec.requires_grad_(True)
    states = leaky_rnn_scan(drive, h0, w_rec, zeta, 0.2, "tanh", drive_is_scratch=True)
    assert torch.equal(drive, kept) and states.data_ptr() != drive.data_ptr()
    torch.testing.assert_close(states, expected, rtol=1e-12, atol=1e-14)
