"""Reduced-precision matrix products (issue 15): the setting, its checks, its place in a run's identity, and how
close bf16 products keep a network's outputs and gradients to exact float32 ones."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from reactivation import ConfigError, ReactivationError, precision, runs
from reactivation.analysis import results
from reactivation.analysis.settings import compose_analysis, settings
from reactivation.config import compose_train, preflight, with_added_keys
from reactivation.loading import build, comparable, load_run
from reactivation.models import NoisyGRU, NoisyRNN
from reactivation.precision import PRECISIONS, PROBE_FORMS, ROUNDED_CHANGE, matmul_precision
from reactivation.training import train

CPU = torch.device("cpu")
BF16 = "bf16" in precision.available(CPU)
# The reason is the probe's measurement, so a skipped run says why (e.g. an AVX-512 BF16 CPU without AMX).
needs_bf16 = pytest.mark.skipif(not BF16, reason=f"no bf16 product path on this CPU: {precision.probe().detail}")


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


# The probe: bf16 is offered only where a product in bf16 mode is rounded (issue 25, item 3).


@pytest.fixture
def fake_cpu(monkeypatch):
    """``fake_cpu(rounded)``: from now on the probe sees a CPU whose bf16-mode products are rounded in the forms
    ``rounded`` (a set of :data:`PROBE_FORMS`) and stay float32 in the others. The real probe is back after."""

    def make(rounded: set[str]) -> None:
        def measure(mode: str) -> dict[str, torch.Tensor]:
            # The probe's entries: K * (1 + 2^-10) = 64.0625 exact, K = 64 from bf16-rounded operands.
            return {f: torch.full((2, 2), 64.0 if mode == "bf16" and f in rounded else 64.0625) for f in PROBE_FORMS}

        monkeypatch.setattr(precision, "_measure", measure)
        precision.probe.cache_clear()

    yield make
    precision.probe.cache_clear()


def _relative_change_in_bf16_mode() -> float:
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn(64, 128, generator=gen), torch.randn(128, 64, generator=gen)
    flag = torch.backends.mkldnn.matmul  # type: ignore[attr-defined]  # not in torch's stubs
    before = flag.fp32_precision
    try:
        flag.fp32_precision = "ieee"
        exact = a.mm(b)
        flag.fp32_precision = "bf16"  # set directly: matmul_precision would refuse bf16 where the probe found none
        rounded = a.mm(b)
    finally:
        flag.fp32_precision = before
    return ((rounded - exact).norm() / exact.norm()).item()


def test_the_probe_agrees_with_what_an_ordinary_product_does_in_bf16_mode():
    """On any CPU: where the probe found the path, a random product moves by bf16's ~2e-3; where it did not, by
    no more than float32 rounding (another kernel's summation order)."""
    found = precision.probe()
    change = _relative_change_in_bf16_mode()
    assert found.taken == BF16
    if found.taken:
        assert 1e-3 < change < 1e-2, found.detail
    else:
        assert change <= ROUNDED_CHANGE, found.detail


def test_a_cpu_whose_bf16_products_stay_float32_is_refused_before_any_work(fake_cpu, tmp_path):
    fake_cpu(rounded=set())
    found = precision.probe()
    assert not found.taken and "came out 64.0625, the float32 value" in found.detail
    assert precision.available(CPU) == ["float32"]
    refusal = (
        r"trainer.matmul_precision=bf16 needs a CPU on which PyTorch rounds float32 products to bf16 \(Intel AMX: "
        r".* came out 64.0625, the float32 value.* Use float32 instead"
    )
    with pytest.raises(ConfigError, match=refusal):
        precision.check("bf16", CPU)
    before = _flag()
    with pytest.raises(ConfigError, match=refusal), matmul_precision("bf16", CPU):
        pytest.fail("the block ran")
    assert _flag() == before  # refused before the flag was set
    argv = ["config=linear_track/noisy_biased", "seed=0", "trainer.matmul_precision=bf16", f"path={tmp_path}"]
    with pytest.raises(ConfigError, match=refusal):
        preflight(argv, check=build)  # as `reactivation train` checks its command line
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    with pytest.raises(ConfigError, match="^matmul_precision=bf16 needs a CPU on which PyTorch rounds"):
        settings(compose_analysis("kl", "tiny", "linear_track", "vanilla", 0, device="cpu", matmul_precision="bf16"))
    preflight(argv[:2] + argv[3:], check=build)  # float32 still runs


def test_bf16_is_refused_unless_every_form_of_product_is_rounded(fake_cpu):
    fake_cpu(rounded=set(PROBE_FORMS) - {"baddbmm"})  # an ensemble's products would stay float32
    found = precision.probe()
    assert not found.taken and "(baddbmm; the other forms were rounded)" in found.detail
    assert "bf16" not in precision.available(CPU)
    fake_cpu(rounded=set(PROBE_FORMS))
    found = precision.probe()
    assert found.taken and "came out 64, not the float32 64.0625" in found.detail
    assert precision.available(CPU) == ["float32", "bf16"]
    precision.check("bf16", CPU)


def test_a_product_that_fails_in_bf16_mode_reads_as_no_bf16_path(monkeypatch, fake_cpu):
    fake_cpu(rounded=set())  # clears the cache now and after the test

    def measure(mode: str) -> dict[str, torch.Tensor]:
        if mode == "bf16":
            raise RuntimeError("mkldnn_matmul: mkldnn_matmul bf16 path needs the cpu support ...")
        return {}

    monkeypatch.setattr(precision, "_measure", measure)
    found = precision.probe()
    assert not found.taken and "a product in bf16 mode failed: mkldnn_matmul" in found.detail
    assert "bf16" not in precision.available(CPU)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="ONEDNN_MAX_CPU_ISA names x86 ISAs")
@pytest.mark.parametrize("isa", ["AVX512_CORE_BF16", "AVX2"])
def test_the_real_probe_finds_no_bf16_path_where_onednn_may_not_use_amx(isa):
    """oneDNN capped below AMX (``ONEDNN_MAX_CPU_ISA``) is this CPU as an AVX-512 BF16 CPU (the AMD EPYC of issue 25)
    or an AVX2 one. Measured with torch 2.13 / oneDNN 3.12: both keep float32 products (docs/precision.md)."""
    script = (
        "import json, torch\n"
        "from reactivation import ConfigError, precision\n"
        "found = precision.probe()\n"
        "try:\n"
        "    precision.check('bf16', torch.device('cpu'))\n"
        "    refused = ''\n"
        "except ConfigError as err:\n"
        "    refused = str(err)\n"
        "print(json.dumps({'taken': found.taken, 'refused': refused}))\n"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": isa}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["taken"] is False
    assert "came out 64.0625, the float32 value" in seen["refused"] and "Use float32 instead" in seen["refused"]


@needs_bf16
def test_a_bf16_run_reads_back_on_a_cpu_without_the_path_but_does_not_train_there(tmp_path, tiny_config, fake_cpu):
    """Its analyses run at their own matmul_precision, so only training (resuming) needs the bf16 path."""
    cfg = tiny_config("linear_track/noisy_biased", "trainer.matmul_precision=bf16")
    train(cfg, tmp_path)
    fake_cpu(rounded=set())
    setup = load_run(tmp_path, device="cpu")
    assert setup.config.trainer.matmul_precision == "bf16"
    gen = torch.Generator().manual_seed(0)
    inputs, init = torch.randn(4, 5, setup.model.n_in, generator=gen), torch.rand(4, setup.model.n_init, generator=gen)
    with matmul_precision("float32", CPU):  # as an analysis at its default matmul_precision
        _, outputs = setup.model(inputs, init, generator=gen)
    assert torch.isfinite(outputs).all()
    with pytest.raises(ConfigError, match="trainer.matmul_precision=bf16 needs a CPU on which PyTorch rounds"):
        train(cfg, tmp_path)


def test_an_old_runs_config_without_the_added_keys_loads_with_the_values_it_was_trained_with(tmp_path, tiny_config):
    train(tiny_config("spatial_navigation/noisy_unbiased"), tmp_path)
    ((run_dir, config),) = runs.iter_runs(tmp_path)
    del config["trainer"]["matmul_precision"]
    for key in ("motion", "ratinabox_agents", "ratinabox_steps"):
        del config["task"][key]
    runs.save_config(run_dir, config)  # as a run trained before these keys existed wrote it
    cfg = load_run(run_dir, device="cpu").config
    assert cfg.trainer.matmul_precision == "float32" and cfg.task.motion == "generator"
    assert cfg.task.ratinabox_agents == 20
    # Another task's config does not get spatial navigation's keys (its build would refuse them as unknown).
    hd = OmegaConf.to_container(tiny_config("head_direction/noisy_biased"), resolve=True)
    del hd["trainer"]["matmul_precision"]
    filled = with_added_keys(hd)
    assert filled["trainer"]["matmul_precision"] == "float32" and "motion" not in filled["task"]
    assert "matmul_precision" not in hd["trainer"]  # a copy: the saved config is left as it is
