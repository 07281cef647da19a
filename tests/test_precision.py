"""Reduced-precision matrix products (issue 15): the setting, its checks, its place in a run's identity, and how
close bf16 products keep a network's outputs and gradients to exact float32 ones."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from reactivation import ConfigError, ReactivationError, precision
from reactivation.analysis import results
from reactivation.analysis.settings import compose_analysis, settings
from reactivation.config import compose_train, preflight
from reactivation.loading import comparable
from reactivation.models import NoisyGRU, NoisyRNN
from reactivation.precision import PRECISIONS, matmul_precision
from reactivation.training import train

CPU = torch.device("cpu")
BF16 = "bf16" in precision.available(CPU)
needs_bf16 = pytest.mark.skipif(not BF16, reason="this CPU has no bf16 matrix units (AMX / AVX-512 BF16)")


def _flag() -> str:
    return torch.backends.mkldnn.matmul.fp32_precision


def test_float32_is_always_available_and_other_settings_are_refused_naming_what_is():
    assert precision.available(CPU)[0] == "float32" and set(precision.available(CPU)) <= set(PRECISIONS)
    with pytest.raises(ConfigError, match="trainer.matmul_precision='fp16' is not a precision; choose one of float32"):
        precision.check("fp16", CPU)
    with pytest.raises(ConfigError, match=r"matmul_precision=tf32 needs a CUDA GPU .* can run: float32"):
        precision.check("tf32", CPU, key="matmul_precision")


def test_the_block_sets_the_flag_and_restores_it_even_after_an_error():
    before = _flag()
    with matmul_precision("float32", CPU):
        assert _flag() == "ieee"
    assert _flag() == before
    if BF16:
        with pytest.raises(RuntimeError, match="inside"), matmul_precision("bf16", CPU):
            assert _flag() == "bf16"
            raise RuntimeError("inside")
        assert _flag() == before


def _forward_backward(model: torch.nn.Module, inputs: torch.Tensor, init: torch.Tensor, seed: int = 0):
    model.zero_grad()
    _, outputs = model(inputs, init, generator=torch.Generator().manual_seed(seed))
    (outputs**2).mean().backward()
    return outputs.detach().clone(), [p.grad.clone() for p in model.parameters()]


def _small(kind: type) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = kind(2, 64, 32, 32, sigma2_rec=1e-4, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(2)
    return model, torch.randn(16, 20, 2, generator=gen) * 0.1, torch.rand(16, 32, generator=gen)


@pytest.mark.parametrize("kind", [NoisyRNN, NoisyGRU])
def test_float32_setting_is_bit_identical_to_no_setting(kind):
    model, inputs, init = _small(kind)
    plain = _forward_backward(model, inputs, init)
    with matmul_precision("float32", CPU):
        exact = _forward_backward(model, inputs, init)
    assert torch.equal(plain[0], exact[0]) and all(torch.equal(a, b) for a, b in zip(plain[1], exact[1]))


@needs_bf16
@pytest.mark.parametrize("kind", [NoisyRNN, NoisyGRU])
def test_bf16_outputs_and_gradients_stay_within_stated_tolerances_of_float32(kind):
    """bf16 keeps 8 significant bits (relative rounding 2^-9 = 2e-3 per operand); over 20 steps and a backward pass
    the measured error stays near 1e-2 of the norm. Tolerances: outputs 2 %, gradients 5 % (relative norms)."""
    model, inputs, init = _small(kind)
    exact = _forward_backward(model, inputs, init)
    with matmul_precision("bf16", CPU):
        rounded = _forward_backward(model, inputs, init)
    out_err = ((rounded[0] - exact[0]).norm() / exact[0].norm()).item()
    grad_err = max(((g - e).norm() / e.norm()).item() for g, e in zip(rounded[1], exact[1]))
    assert 0 < out_err < 0.02  # > 0: the products did take the bf16 path
    assert grad_err < 0.05


def _plain(cfg) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


def test_the_precision_is_part_of_a_runs_identity(tmp_path, tiny_config):
    exact = tiny_config("linear_track/noisy_biased")
    other = tiny_config("linear_track/noisy_biased", "trainer.matmul_precision=bf16")
    assert comparable(_plain(exact)) != comparable(_plain(other))
    run_dir = compose_train(
        ["config=linear_track/noisy_biased", "seed=0", "trainer.matmul_precision=bf16"], with_hydra=True
    ).hydra.run.dir
    assert "trainer.matmul_precision=bf16" in run_dir  # its own directory, beside the float32 run's
    train(exact, tmp_path)
    if BF16:  # a bf16 command pointed at a float32 run's directory refuses to resume or replace it
        with pytest.raises(ReactivationError, match="different configuration"):
            train(other, tmp_path)


def test_a_run_saved_before_the_key_existed_reads_as_float32(tiny_config):
    saved = comparable(_plain(tiny_config("linear_track/noisy_biased")))
    old = {**saved, "trainer": {k: v for k, v in saved["trainer"].items() if k != "matmul_precision"}}
    assert comparable(old) == saved


def test_a_bad_or_unavailable_precision_is_refused_before_training(tmp_path):
    with pytest.raises(ConfigError, match="trainer.matmul_precision='half' is not a precision"):
        preflight(["config=linear_track/noisy_biased", "seed=0", "trainer.matmul_precision=half", f"path={tmp_path}"])


def test_the_analyses_precision_is_checked_recorded_and_names_its_results():
    track = ("kl", "tiny", "linear_track", "vanilla", 0)
    s = settings(compose_analysis(*track, device="cpu"))
    assert results.result_settings(s, "kl")["matmul_precision"] == "float32" and results.settings_tag(s, "kl") == ""
    with pytest.raises(ConfigError, match="matmul_precision=tf32 needs a CUDA GPU"):
        settings(compose_analysis(*track, device="cpu", matmul_precision="tf32"))
    if BF16:
        s = settings(
            compose_analysis("kl", "tiny", "linear_track", "vanilla", 0, device="cpu", matmul_precision="bf16")
        )
        assert results.settings_tag(s, "kl") == "matmul_precision=bf16"  # never the float32 result's file
