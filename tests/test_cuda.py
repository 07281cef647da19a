"""CUDA correctness against the CPU reference (tests/cuda_check.py): CPU against CPU everywhere, and CPU against CUDA
where there is one. benchmarks/gpu.py runs this file and records its outcome per test.

    python -m pytest tests/test_cuda.py             # tiny sizes (CUDA tests skipped without CUDA)
    python -m pytest tests/test_cuda.py -m slow     # CPU against CUDA at the presets' own (paper) sizes
"""

from __future__ import annotations

import pytest
import torch

from tests.cuda_check import TOL, check_correctness, compare, largest_difference, tiny_overrides, verdict

PRESETS = [
    "spatial_navigation/noisy_unbiased",
    "spatial_navigation/noisy_unbiased_gru",
    "head_direction/noisy_unbiased",
]
NO_CUDA = "CUDA is not available on this machine: the CPU-against-CUDA check needs a GPU"


def _check(preset: str, device: str) -> dict:
    # Tiny sizes: 16 units, B 4, T 6, the tiny scale's 32 cells; 20 quiescent steps in chunks of 7 (uneven last
    # chunk).
    return check_correctness(preset, device, tiny_overrides(), quiescent_steps=20, chunk=7)


@pytest.fixture
def float32():
    """TF32 off for matrix products and cuDNN during the test (the float32 tolerance would fail it by design)."""
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


def _assert_passes(result: dict, record_property) -> None:
    record_property("largest_difference", largest_difference(result))
    failed = {name: c for name, c in result["checks"].items() if not c["pass"]}
    assert result["pass"], failed
    assert result["checks"]["forward/backward results on the device"]["devices"] == ["cuda:0"]


@pytest.mark.parametrize("preset", PRESETS)
def test_cpu_against_cpu_is_exact(preset, record_property):
    result = _check(preset, "cpu")
    record_property("largest_difference", largest_difference(result))
    assert result["pass"], result
    assert result["sizes"] == {"B": 4, "T": 6, "n_rec": 16, "n_out": 32}
    compared = {name: c for name, c in result["checks"].items() if "norm_rel" in c}
    # Forward, loss, all four gradients, the quiescent forward and the noise-free rollout (hidden, final, decoded).
    assert {"hidden states", "outputs", "loss", "grad recurrent.weight", "grad encoder.weight"} <= set(compared)
    assert "rollout() without noise: final state" in compared
    for name, c in compared.items():
        assert c["finite"], name
        # Same device, same kernels, same inputs: the two runs must agree to the bit (or nearly).
        assert c["max_abs"] <= 1e-6 and c["norm_rel"] <= 1e-6, (name, c)
    assert result["checks"]["noisy device rollout(): finite, state on the device"]["pass"]


def test_verdict_catches_a_difference():
    x = torch.linspace(-1.0, 1.0, 101)
    assert verdict(compare(x, x * (1 + 1e-7)), TOL)["pass"]
    assert not verdict(compare(x, x * (1 + 1e-3)), TOL)["pass"]  # a TF32-sized error fails
    bad = x.clone()
    bad[3] = float("nan")
    assert not verdict(compare(x, bad), TOL)["pass"]
    assert compare(x, x[:5])["norm_rel"] == float("inf")


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
@pytest.mark.parametrize("preset", PRESETS)
def test_cpu_against_cuda(preset, float32, record_property):
    _assert_passes(_check(preset, "cuda"), record_property)


@pytest.mark.slow  # the CPU reference (B 200, T 100, 512 units, 300 quiescent steps): up to a minute per preset
@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
@pytest.mark.parametrize("preset", PRESETS)
def test_cpu_against_cuda_paper_sizes(preset, float32, record_property):
    # The presets' own sizes, where cuBLAS and cuDNN choose other kernels (split-K, tiling) than at the tiny sizes.
    _assert_passes(check_correctness(preset, "cuda"), record_property)
