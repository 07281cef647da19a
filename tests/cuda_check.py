"""The CPU-against-device correctness check of tests/test_cuda.py: one model run on CPU and on a device.

For the SN noisy vanilla RNN, the SN noisy GRU and the HD network, the same model (same seed, the CPU model's state
dict copied to the device) is run on CPU and on the device on ONE batch and ONE noise sample drawn on CPU: forward,
MSE, backward; the hidden states, outputs, loss and every parameter gradient are compared. Quiescence: the same
zero-input forward with the same (CPU-drawn) noise, a noise-free ``rollout()`` on both devices, and a noisy device
``rollout()`` fed by a device generator (finite, state left on the device).

The caller switches TF32 off for matrix products and cuDNN: TF32 keeps a 10-bit mantissa, a relative error near 1e-3
per product, which fails the float32 tolerance below by design.
"""

from __future__ import annotations

import math
from dataclasses import fields

import torch
from torch import Tensor

from reactivation.config import compose_train
from reactivation.loading import build
from reactivation.models.noise import NoiseSample
from reactivation.quiescence import rollout
from reactivation.seeding import generator

#: Tolerance of the CPU-vs-device check, on the norm-relative difference ||device - cpu|| / ||cpu|| of every compared
#: tensor (float32, TF32 off). Measured on CPU at the paper sizes (untrained models, one training batch), float32
#: differs from float64 by at most 2e-6 in this measure (hidden states, outputs, loss and every gradient of the
#: three models), so two correct float32 implementations (cuBLAS against MKL/oneDNN summation orders) differ by about
#: that. 1e-4 leaves a 50x margin (longer quiescent runs, split-K products, ReLU pre-activations within rounding of 0
#: taking the other branch) while TF32 (a 10-bit mantissa, ~1e-3) or a wrong kernel (O(1)) fail.
TOL = 1e-4


def tiny_overrides(n_rec: int = 16, batch_size: int = 4, steps: int = 6) -> tuple:
    """Config overrides that shrink a preset but keep its structure: ``scale=tiny`` (each task's own tiny sizes,
    cell counts included: reactivation/configs/train/sizes/<task>/<model>/tiny.yaml), then fewer units, trajectories
    and steps."""
    return ("scale=tiny", f"rnn.n_rec={n_rec}", f"task.batch_size={batch_size}", f"task.sequence_length={steps}")


def compare(reference: Tensor, other: Tensor) -> dict:
    """Differences of ``other`` from ``reference`` (any devices; computed in float64 on CPU).

    Returns ``max_abs`` (largest absolute difference, in the tensor's units), ``max_rel`` (that over the largest
    absolute reference value: robust to elements near 0), ``norm_rel`` (||other - reference|| / ||reference||, the
    verdict's measure) and ``finite`` (whether ``other`` is all finite).
    """
    a, b = reference.detach().cpu().double(), other.detach().cpu().double()
    if a.shape != b.shape:
        return {
            "max_abs": math.inf,
            "max_rel": math.inf,
            "norm_rel": math.inf,
            "finite": False,
            "error": f"shape {tuple(b.shape)} != {tuple(a.shape)}",
        }
    finite = bool(torch.isfinite(b).all())
    if a.numel() == 0:
        return {"max_abs": 0.0, "max_rel": 0.0, "norm_rel": 0.0, "finite": finite}
    diff = a - b
    max_abs, scale, norm = diff.abs().max().item(), a.abs().max().item(), a.norm().item()

    def ratio(x: float, y: float) -> float:
        return x / y if y > 0 else (0.0 if x == 0 else math.inf)

    return {
        "max_abs": max_abs,
        "max_rel": ratio(max_abs, scale),
        "norm_rel": ratio(diff.norm().item(), norm),
        "finite": finite,
    }


def verdict(result: dict, tol: float) -> dict:
    """``result`` (a :func:`compare` result) with ``tol`` and ``pass``: finite and ``norm_rel <= tol``."""
    result["tol"] = tol
    result["pass"] = bool(result["finite"] and result["norm_rel"] <= tol)
    return result


def _move_noise(noise: NoiseSample, device: torch.device) -> NoiseSample:
    # .to keeps the strides (time-major storage under the batch-major view), as sample_noise lays them out.
    return NoiseSample(
        **{
            f.name: None if getattr(noise, f.name) is None else getattr(noise, f.name).to(device)
            for f in fields(NoiseSample)
        }
    )


def _forward_backward(setup, inputs: Tensor, init_code: Tensor, targets: Tensor, noise: NoiseSample):
    """The training step's forward, MSE (as reactivation.training) and backward, on one fixed batch and noise."""
    setup.model.zero_grad(set_to_none=True)
    hidden, outputs = setup.model(inputs, init_code, noise=noise)
    loss = torch.mean((outputs - targets) ** 2)
    loss.backward()
    return hidden, outputs, loss, {name: p.grad for name, p in setup.model.named_parameters()}


def check_correctness(
    preset: str,
    device: str = "cuda",
    overrides: tuple = (),
    seed: int = 0,
    quiescent_steps: int = 300,
    chunk: int = 128,
) -> dict:
    """Run one model on CPU and on ``device`` from the same weights, batch and noise; compare everything.

    Args:
        preset: a training preset, e.g. ``spatial_navigation/noisy_unbiased``.
        device: the device checked against the CPU reference (``cpu`` checks the plumbing: differences are 0).
        overrides: extra config overrides (e.g. :func:`tiny_overrides` for a fast test).
        seed: seed of the model, task centres, batch and noise.
        quiescent_steps: steps of the quiescent comparisons (zero input, from the batch's initial states).
        chunk: ``rollout()`` chunk length in those comparisons (not a divisor of the steps, so that the uneven last
            chunk and the hand-over of the state between chunks are exercised too).

    Returns:
        ``{"preset", "device", "sizes": {B, T, n_rec, n_out}, "checks": {name: comparison}, "pass": bool}``; every
        comparison has ``max_abs``, ``max_rel``, ``norm_rel``, ``finite``, ``tol`` and ``pass`` (see :func:`compare`),
        except informational ones (``tol`` None, no effect on the verdict).
    """
    device = torch.device(device)
    cfg = compose_train([f"config={preset}", f"seed={seed}", *overrides, "device=cpu"])
    ref, dev = build(cfg), build(cfg)
    dev.model.to(device)
    dev.task.to(device)
    dev.model.load_state_dict(ref.model.state_dict())
    dev.task.load_state_dict(ref.task.state_dict())
    cfg = ref.config
    batch_size, steps = cfg.task.batch_size, cfg.task.sequence_length
    batch = ref.task.sample(batch_size, generator(seed, "train_batches"))
    noise = ref.model.sample_noise(batch_size, steps, generator(seed, "train_noise"))
    checks: dict[str, dict] = {}

    r_hidden, r_out, r_loss, r_grads = _forward_backward(ref, batch.inputs, batch.init_code, batch.targets, noise)
    d_hidden, d_out, d_loss, d_grads = _forward_backward(
        dev, batch.inputs.to(device), batch.init_code.to(device), batch.targets.to(device), _move_noise(noise, device)
    )
    checks["hidden states"] = verdict(compare(r_hidden, d_hidden), TOL)
    checks["outputs"] = verdict(compare(r_out, d_out), TOL)
    checks["loss"] = verdict(compare(r_loss, d_loss), TOL)
    for name, grad in r_grads.items():
        other = d_grads[name]
        checks[f"grad {name}"] = (
            verdict(compare(grad, other), TOL)
            if other is not None
            else {"finite": False, "pass": False, "tol": TOL, "error": "no gradient"}
        )
    placed = [d_hidden, d_out, d_loss, *(g for g in d_grads.values() if g is not None)]
    checks["forward/backward results on the device"] = {
        "pass": all(t.device.type == device.type for t in placed),
        "tol": None,
        "devices": sorted({str(t.device) for t in placed}),
    }

    # Quiescence. (a) The public forward with zero input and the same CPU-drawn noise at the quiescent level.
    sigma_q = ref.model.sigma_rec * math.sqrt(2.0)
    with torch.no_grad():
        h0_ref = ref.model.initial_state(batch.init_code)
        h0_dev = dev.model.initial_state(batch.init_code.to(device))
        q_noise = ref.model.sample_noise(batch_size, quiescent_steps, generator(seed, "analysis"), sigma_rec=sigma_q)
        zeros = torch.zeros(batch_size, quiescent_steps, ref.model.n_in)
        q_ref, _ = ref.model(zeros, h0=h0_ref, noise=q_noise)
        q_dev, _ = dev.model(zeros.to(device), h0=h0_dev, noise=_move_noise(q_noise, device))
    checks[f"quiescent forward, same noise ({quiescent_steps} steps)"] = verdict(compare(q_ref, q_dev), TOL)

    # (b) rollout() itself draws its noise from a generator on its own device, so the two devices can only be
    # compared without noise: sigma_rec 0, and the presets have no input or output noise.
    if ref.model.sigma_in == 0 and ref.model.sigma_out == 0:
        roll_ref = rollout(
            ref.model,
            ref.task,
            h0_ref,
            quiescent_steps,
            generator=generator(seed, "analysis"),
            sigma_rec=0.0,
            chunk=chunk,
            keep_hidden=True,
        )
        roll_dev = rollout(
            dev.model,
            dev.task,
            h0_dev,
            quiescent_steps,
            generator=generator(seed, "analysis", device),
            sigma_rec=0.0,
            chunk=chunk,
            keep_hidden=True,
        )
        checks["rollout() without noise: hidden"] = verdict(compare(roll_ref.hidden, roll_dev.hidden), TOL)
        checks["rollout() without noise: final state"] = verdict(
            compare(roll_ref.final_state, roll_dev.final_state), TOL
        )
        # The decoder averages the centres of the top-3 outputs: a near tie may pick another cell on the other
        # device, which moves that point by a centre spacing. Informational only.
        moved = (roll_ref.decoded - roll_dev.decoded).abs().amax(dim=-1) > 1e-4
        checks["rollout() without noise: decoded"] = {
            **compare(roll_ref.decoded, roll_dev.decoded),
            "tol": None,
            "pass": True,
            "points_moved": int(moved.sum()),
            "points": int(moved.numel()),
        }
    # (c) A noisy rollout on the device from a device generator: finite, and its state stays on the device.
    roll = rollout(
        dev.model,
        dev.task,
        h0_dev,
        quiescent_steps,
        generator=generator(seed, "analysis", device),
        sigma_rec=sigma_q,
        chunk=chunk,
    )
    finite = bool(torch.isfinite(roll.decoded).all() and torch.isfinite(roll.final_state).all())
    checks["noisy device rollout(): finite, state on the device"] = {
        "pass": finite and roll.final_state.device.type == device.type,
        "tol": None,
        "finite": finite,
        "final_state_device": str(roll.final_state.device),
        "decoded_device": str(roll.decoded.device),
    }

    return {
        "preset": preset,
        "device": str(device),
        "sizes": {"B": batch_size, "T": steps, "n_rec": cfg.rnn.n_rec, "n_out": cfg.rnn.n_out},
        "checks": checks,
        "pass": all(c["pass"] for c in checks.values()),
    }


def largest_difference(result: dict) -> str:
    """The largest verdict-bearing ``norm_rel`` of a :func:`check_correctness` result, and where: one line that
    tests/test_cuda.py records (``record_property``) and benchmarks/gpu.py reports from the pytest JUnit XML."""
    scored = {name: c["norm_rel"] for name, c in result["checks"].items() if c.get("tol") and "norm_rel" in c}
    name = max(scored, key=scored.get)
    return f"{scored[name]:.1e} ({name}; tolerance {TOL:g})"
