"""benchmarks/gpu.py's correctness check (not its timings): CPU against CPU, and CPU against CUDA where there is one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu.py"
PRESETS = ["spatial_navigation/noisy_unbiased", "spatial_navigation/noisy_unbiased_gru",
           "head_direction/noisy_unbiased"]


@pytest.fixture(scope="module")
def gpu():
    """The script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("benchmarks_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(gpu, preset: str, device: str) -> dict:
    # Tiny sizes: 16 units, B 4, T 6, the tiny scale's 32 cells; 20 quiescent steps in chunks of 7 (uneven last
    # chunk).
    return gpu.check_correctness(preset, device, gpu.tiny_overrides(preset), quiescent_steps=20, chunk=7)


@pytest.mark.parametrize("preset", PRESETS)
def test_cpu_against_cpu_is_exact(gpu, preset):
    result = _check(gpu, preset, "cpu")
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


def test_verdict_catches_a_difference(gpu):
    x = torch.linspace(-1.0, 1.0, 101)
    assert gpu._verdict(gpu.compare(x, x * (1 + 1e-7)), gpu.TOL)["pass"]
    assert not gpu._verdict(gpu.compare(x, x * (1 + 1e-3)), gpu.TOL)["pass"]  # a TF32-sized error fails
    bad = x.clone()
    bad[3] = float("nan")
    assert not gpu._verdict(gpu.compare(x, bad), gpu.TOL)["pass"]
    assert gpu.compare(x, x[:5])["norm_rel"] == float("inf")


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="CUDA is not available on this machine: the CPU-against-CUDA check needs a GPU")
@pytest.mark.parametrize("preset", PRESETS)
def test_cpu_against_cuda(gpu, preset):
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 tolerances: TF32 would fail them by design
    torch.backends.cudnn.allow_tf32 = False
    try:
        result = _check(gpu, preset, "cuda")
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags
    failed = {name: c for name, c in result["checks"].items() if not c["pass"]}
    assert result["pass"], failed
    assert result["checks"]["forward/backward results on the device"]["devices"] == ["cuda:0"]
