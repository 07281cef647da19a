"""The precision of float32 matrix products: exact float32 (the default), bf16 on CPUs, TF32 on CUDA GPUs.

Tensors stay float32 everywhere (weights, states, Adam moments, checkpoints); only the products inside matrix
multiplications change:

- ``float32``: IEEE float32 products, as PyTorch does by default. Bit-identical to running without this module.
- ``bf16``: on a CPU where PyTorch's oneDNN matmul rounds the float32 operands to bfloat16 (8 significant bits) and
  accumulates in float32 (PyTorch's ``torch.backends.mkldnn.matmul.fp32_precision = "bf16"``). Measured relative
  error of a 512-wide product: 2.3e-3 (docs/precision.md).
- ``tf32``: on a CUDA GPU of compute capability >= 8.0, cuBLAS rounds to TensorFloat-32 (10 significant bits)
  (``torch.backends.cuda.matmul.fp32_precision = "tf32"``).

Whether a CPU has the bf16 path is measured, not read from its flags (:func:`probe`): the flag is only a request,
and oneDNN keeps exact float32 products on CPUs without AMX, AVX-512 BF16 ones included (docs/precision.md).

:func:`matmul_precision` sets PyTorch's flag for a block of code and restores it after; :func:`check` refuses a
setting the device cannot do, naming what it can (there is no silent fallback to float32).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator

import torch

from reactivation import ConfigError

#: The settings of ``trainer.matmul_precision`` and the analyses' ``matmul_precision``.
PRECISIONS: tuple[str, ...] = ("float32", "bf16", "tf32")


# The probe's product: (M, K) by (K, N), every operand entry 1 + 2^-10 or 1. In float32 each output entry is exactly
# K * (1 + 2^-10) = 64.0625, whatever the order of the sum; rounding the operands to bf16 (8 significant bits) turns
# 1 + 2^-10 into 1, so the entries become exactly K = 64, a relative change of 2^-10 = 9.8e-4. M * K * N = 65536 is
# above 16^3, the size under which PyTorch never hands a product to oneDNN.
_M, _K, _N = 32, 64, 32
_ENTRY = 1.0 + 2.0**-10
#: A product counts as rounded when it moved by more than this (relative): far above what another float32 kernel's
#: summation order gives (4e-7 measured for random 512-wide products, exactly 0 for the probe's), far below 2^-10.
ROUNDED_CHANGE = 1e-4
#: The forms of product the models run (reactivation/models/ops.py): a single network's mm / addmm (with out= and a
#: transposed operand, as the scan and its backward call it), an ensemble's bmm / baddbmm.
PROBE_FORMS: tuple[str, ...] = ("mm", "addmm(out=, transposed)", "bmm", "baddbmm")


@dataclasses.dataclass(frozen=True)
class Probe:
    """What one small product of each form, in each mode, showed about this CPU's bf16 path.

    Attributes:
        taken: every form's bf16-mode product was rounded (the path exists and speeds the products up).
        detail: one sentence naming what was measured, for error messages and test skip reasons.
    """

    taken: bool
    detail: str


def _products() -> dict[str, torch.Tensor]:
    """One probe product of each of :data:`PROBE_FORMS` in the current mode: (M, N) or (2, M, N) float32 tensors."""
    a = torch.full((_M, _K), _ENTRY)
    b = torch.ones(_K, _N)
    a2, b2 = a.expand(2, _M, _K).contiguous(), b.expand(2, _K, _N).contiguous()
    return {
        "mm": a.mm(b),
        "addmm(out=, transposed)": torch.addmm(torch.zeros(_M, _N), a, torch.ones(_N, _K).t(), out=torch.empty(_M, _N)),
        "bmm": torch.bmm(a2, b2),
        "baddbmm": torch.baddbmm(torch.zeros(2, _M, _N), a2, b2),
    }


def _measure(mode: str) -> dict[str, torch.Tensor]:
    """:func:`_products` with the CPU flag set to ``mode`` (``"ieee"`` or ``"bf16"``), the flag restored after."""
    cpu = torch.backends.mkldnn.matmul  # type: ignore[attr-defined]  # see matmul_precision
    before = cpu.fp32_precision
    cpu.fp32_precision = mode
    try:
        return _products()
    finally:
        cpu.fp32_precision = before


@functools.cache
def probe() -> Probe:
    """Measure whether bf16 mode rounds this CPU's float32 products: one small product of each form in each mode.

    Measured once per process: four 32 x 64 by 64 x 32 products per mode, about 10 ms in all (most of it oneDNN
    setting up its kernels; docs/precision.md).
    """
    if not torch.backends.mkldnn.is_available():
        return Probe(False, "this PyTorch build has no oneDNN (mkldnn), which does PyTorch's bf16 products on CPUs")
    try:
        exact, rounded = _measure("ieee"), _measure("bf16")
    except RuntimeError as err:  # oneDNN refusing bf16 on this CPU (a TORCH_CHECK) is one more way to lack it
        return Probe(False, f"a product in bf16 mode failed: {err}")
    change = {form: ((rounded[form] - exact[form]).abs().max() / exact[form].abs().max()).item() for form in exact}
    kept = [form for form in PROBE_FORMS if change[form] <= ROUNDED_CHANGE]
    what = f"in bf16 mode, a {_M}x{_K} by {_K}x{_N} product of entries 1 + 2^-10 and 1"
    exact_value, rounded_value = f"{_K * _ENTRY:g}", f"{_K:g}"
    if not kept:
        return Probe(
            True,
            f"{what} came out {rounded_value}, not the float32 {exact_value} (operands rounded to bf16), in every "
            f"form the models use ({', '.join(PROBE_FORMS)})",
        )
    values = ", ".join(sorted({f"{rounded[form].flatten()[0].item():g}" for form in kept}))
    forms = ", ".join(kept) + ("" if len(kept) == len(PROBE_FORMS) else "; the other forms were rounded")
    return Probe(
        False,
        f"{what} came out {values}, the float32 value, not the {rounded_value} of bf16-rounded operands ({forms}): "
        f"PyTorch's oneDNN does not round float32 products to bf16 on this CPU",
    )


def _cpu_bf16() -> bool:
    return probe().taken


def _cuda_tf32(device: torch.device) -> bool:
    return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8


def available(device: torch.device) -> list[str]:
    """The settings ``device`` can run: always ``float32``, ``bf16`` on a CPU where :func:`probe` found the bf16 path,
    ``tf32`` on Ampere or later."""
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
    if precision in can:
        return
    if precision == "bf16" and device.type == "cpu":
        # Refused rather than run in float32: the run or result would be named and recorded as bf16 while being
        # float32 products at float32 speed, the one thing asked for (the speed-up) missing without a word.
        raise ConfigError(
            f"{key}=bf16 needs a CPU on which PyTorch rounds float32 products to bf16 (Intel AMX: Xeon Sapphire "
            f"Rapids or later; docs/precision.md), and this one does not: {probe().detail}. bf16 here would run "
            f"float32 products at float32 speed under a bf16 name. Use float32 instead (exact, and no slower on "
            f"this CPU)."
        )
    need = (
        "a CPU with bf16 matrix products (Intel AMX)"
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
