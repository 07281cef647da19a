"""The precision of float32 matrix products: exact float32 (the default), bf16 on CPUs, TF32 on CUDA GPUs.

Tensors stay float32 everywhere (weights, states, Adam moments, checkpoints); only the products inside matrix
multiplications change:

- ``float32``: IEEE float32 products, as PyTorch does by default. Bit-identical to running without this module.
- ``bf16``: on a CPU with bf16 matrix units (AMX, AVX-512 BF16), oneDNN rounds the float32 operands to bfloat16
  (8 significant bits) and accumulates in float32 (PyTorch's ``torch.backends.mkldnn.matmul.fp32_precision =
  "bf16"``). Measured relative error of a 512-wide product: 2.3e-3 (docs/precision.md).
- ``tf32``: on a CUDA GPU of compute capability >= 8.0, cuBLAS rounds to TensorFloat-32 (10 significant bits)
  (``torch.backends.cuda.matmul.fp32_precision = "tf32"``).

:func:`matmul_precision` sets PyTorch's flag for a block of code and restores it after; :func:`check` refuses a
setting the device cannot do, naming what it can (there is no silent fallback to float32).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from reactivation import ConfigError

#: The settings of ``trainer.matmul_precision`` and the analyses' ``matmul_precision``.
PRECISIONS: tuple[str, ...] = ("float32", "bf16", "tf32")


def _cpu_bf16() -> bool:
    # oneDNN's bf16 path needs the mkldnn build and a CPU with native bf16 instructions (else it would emulate).
    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _cuda_tf32(device: torch.device) -> bool:
    return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8


def available(device: torch.device) -> list[str]:
    """The settings ``device`` can run: always ``float32``, ``bf16`` on a capable CPU, ``tf32`` on Ampere or later."""
    found = ["float32"]
    if device.type == "cpu" and _cpu_bf16():
        found.append("bf16")
    if device.type == "cuda" and _cuda_tf32(device):
        found.append("tf32")
    return found


def check(precision: str, device: torch.device, key: str = "trainer.matmul_precision") -> None:
    """Refuse a precision that is unknown or that ``device`` cannot run.

    Raises:
        ConfigError: naming ``key``, the value and the settings available on ``device``.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"{key}={precision!r} is not a precision; choose one of {', '.join(PRECISIONS)}.")
    can = available(device)
    if precision not in can:
        need = (
            "a CPU with bf16 matrix units (AMX or AVX-512 BF16)"
            if precision == "bf16"
            else "a CUDA GPU of compute capability >= 8.0"
        )
        raise ConfigError(
            f"{key}={precision} needs {need}; this device ({device}) can run: {', '.join(can)}. Choose one of those "
            f"(float32 is exact and always available)."
        )


@contextlib.contextmanager
def matmul_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Run the block with float32 matrix products at ``precision`` on ``device`` (checked), then restore the flags.

    ``float32`` sets IEEE products explicitly, so a block is exact even inside another setting's block.
    """
    check(precision, device)
    # torch's stubs do not declare torch.backends.mkldnn.matmul (a module built at import), hence the ignore.
    cpu = torch.backends.mkldnn.matmul  # type: ignore[attr-defined]
    backend = cpu if device.type == "cpu" else torch.backends.cuda.matmul
    before = backend.fp32_precision
    backend.fp32_precision = "ieee" if precision == "float32" else precision
    try:
        yield
    finally:
        backend.fp32_precision = before
