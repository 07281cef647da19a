"""Tests of the noisy models (docs/spec.md §4): shapes, published sizes, noise, reference equivalence, config errors.

Every random draw uses an explicit ``torch.Generator``; the global RNG is never used.
"""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from reactivation import ConfigError
from reactivation.models import MODELS, NOISE_DISTS, Ensemble, NoiseSample, NoisyGRU, NoisyRNN, build_model
from reactivation.models.noise import moments

SMALL = {"n_in": 2, "n_rec": 24, "n_out": 10, "n_init": 12}
NOISY = {"sigma2_in": 0.3**2, "sigma2_rec": 0.1**2, "sigma2_out": 0.2**2}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make(cls=NoisyRNN, seed=0, **kwargs):
    return cls(**{**SMALL, **kwargs}, generator=gen(seed))


def batch(model, batch_size=5, steps=7, seed=100, dtype=torch.float32):
    g = gen(seed)
    inputs = torch.randn(batch_size, steps, model.n_in, generator=g, dtype=dtype)
    init_code = torch.rand(batch_size, model.n_init, generator=g, dtype=dtype)
    return inputs, init_code


def zero_weights(model):
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


# --- plain step-by-step reference of docs/spec.md §4, written for clarity, not speed --------------------------------
PHI = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def _bias(layer, n):
    return layer.bias if layer.bias is not None else torch.zeros(n, dtype=layer.weight.dtype)


def reference_forward(model, inputs, init_code, noise: NoiseSample):
    """One time step at a time, each equation as written in docs/spec.md §4 (noise terms given, already scaled)."""
    phi, alpha, n = PHI[model.activation_fn], model.dt / model.tau, model.n_rec
    batch_size, steps, _ = inputs.shape
    encoder, readout = model.encoder.weight, model.readout.weight
    b_enc, b_out = _bias(model.encoder, n), _bias(model.readout, model.n_out)
    b_in, b_rec = _bias(model.input, model.input.out_features), _bias(model.recurrent, model.recurrent.out_features)

    def term(tensor, t, width):
        return tensor[:, t] if tensor is not None else torch.zeros(batch_size, width, dtype=inputs.dtype)

    h = init_code @ encoder.T + b_enc  # h_0 = Encoder c_0
    hidden, outputs = [], []
    for t in range(steps):
        x_tilde = inputs[:, t] + term(noise.input, t, model.n_in)  # x_t + sigma_in xi_t
        zeta = term(noise.recurrent, t, n)
        if isinstance(model, NoisyGRU):
            w_z, w_r, w_h = model.input.weight.split(n)
            u_z, u_r, u_h = model.recurrent.weight.split(n)
            bi_z, bi_r, bi_h = b_in.split(n)
            br_z, br_r, br_h = b_rec.split(n)
            z = torch.sigmoid(x_tilde @ w_z.T + bi_z + h @ u_z.T + br_z)
            r = torch.sigmoid(x_tilde @ w_r.T + bi_r + h @ u_r.T + br_r)
            c = phi(x_tilde @ w_h.T + bi_h + (r * h) @ u_h.T + br_h)
            h = h + alpha * (1 - z) * (c - h) + zeta
        else:
            u = h @ model.recurrent.weight.T + b_rec + x_tilde @ model.input.weight.T + b_in
            h = (1 - alpha) * h + alpha * phi(u) + zeta
        y = h @ readout.T + b_out + term(noise.output, t, model.n_out)
        hidden.append(h)
        outputs.append(y)
    return torch.stack(hidden, dim=1), torch.stack(outputs, dim=1)


# --- shapes and sizes ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [NoisyRNN, NoisyGRU])
def test_output_shapes(cls):
    model = make(cls, **NOISY)
    inputs, init_code = batch(model, batch_size=3, steps=9)
    hidden, outputs = model(inputs, init_code, generator=gen(1))
    assert hidden.shape == (3, 9, SMALL["n_rec"])
    assert outputs.shape == (3, 9, SMALL["n_out"])
    assert model.initial_state(init_code).shape == (3, SMALL["n_rec"])


@pytest.mark.parametrize(
    "cls, sizes, expected",
    [
        (NoisyRNN, (2, 512, 512, 512), 787_456),  # SN vanilla
        (NoisyGRU, (2, 512, 512, 512), 1_313_792),  # SN GRU
        (NoisyRNN, (1, 128, 512, 512), 147_584),  # HD vanilla
    ],
)
def test_parameter_counts_match_published(cls, sizes, expected):
    model = cls(*sizes, generator=gen(0))
    assert sum(p.numel() for p in model.parameters()) == expected


def test_bias_adds_a_bias_to_every_layer():
    plain, biased = make(), make(bias=True)
    extra = sum(p.numel() for p in biased.parameters()) - sum(p.numel() for p in plain.parameters())
    n_rec, n_out = SMALL["n_rec"], SMALL["n_out"]
    assert extra == 3 * n_rec + n_out  # encoder, input, recurrent, readout
    assert all(layer.bias is None for layer in (plain.encoder, plain.input, plain.recurrent, plain.readout))
    # A zero-input, zero-code pass is exactly zero without biases and not with them.
    inputs, init_code = torch.zeros(2, 3, 2), torch.zeros(2, SMALL["n_init"])
    assert plain(inputs, init_code)[1].abs().max() == 0
    assert biased(inputs, init_code)[1].abs().max() > 0


def test_init_is_pytorch_default_from_the_generator_not_the_global_rng():
    state = torch.get_rng_state()
    a, b, c = make(seed=3), make(seed=3), make(seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb) and not torch.equal(pa, pc), name
        bound = 1 / math.sqrt(pa.shape[1])
        assert pa.abs().max() <= bound and pa.abs().max() > 0.9 * bound, name


# --- noise ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [NoisyRNN, NoisyGRU])
def test_zero_noise_is_deterministic_and_draws_nothing(cls):
    model = make(cls)
    inputs, init_code = batch(model)
    first = model(inputs, init_code)  # no generator needed
    g = gen(5)
    state = g.get_state()
    second = model(inputs, init_code, generator=g)
    assert torch.equal(g.get_state(), state)  # no draw at all
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert model.sample_noise(2, 3, None) == NoiseSample(None, None, None)


@pytest.mark.parametrize("cls", [NoisyRNN, NoisyGRU])
def test_generator_required_when_any_sigma_is_positive(cls):
    inputs, init_code = batch(make(cls))
    with pytest.raises(ValueError, match="Generator"):
        make(cls, sigma2_rec=1e-4)(inputs, init_code)
    with pytest.raises(ValueError, match="Generator"):
        make(cls)(inputs, init_code, sigma_out=0.1)  # override on a noise-free model


@pytest.mark.parametrize("cls", [NoisyRNN, NoisyGRU])
@pytest.mark.parametrize("dist", NOISE_DISTS)
def test_same_seed_same_outputs_different_seed_different(cls, dist):
    model = make(cls, noise_dist=dist, **NOISY)
    inputs, init_code = batch(model)
    a, b, c = (model(inputs, init_code, generator=gen(seed))[1] for seed in (7, 7, 8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_noise_stays_on_in_eval_mode():
    model = make(sigma2_rec=1e-4).eval()
    inputs, init_code = batch(model)
    g = gen(0)
    with torch.no_grad():
        first, second = model(inputs, init_code, generator=g)[1], model(inputs, init_code, generator=g)[1]
    assert not torch.allclose(first, second)


def _check_moments(values, mean, std):
    assert abs(values.mean().item() - mean) < 0.02 * std + 0.01 * abs(mean)
    assert abs(values.std().item() - std) < 0.02 * std


def _expected_moments(dist, sigma):
    """(mean, std) of one input or recurrent noise term of scale ``sigma`` under ``dist``."""
    return {
        "gaussian": (0.0, sigma),
        "uniform": (0.5 * sigma, sigma / math.sqrt(12)),
        "gaussian_matched": (0.0, sigma / math.sqrt(12)),
    }[dist]


@pytest.mark.parametrize("dist", NOISE_DISTS)
def test_noise_moments_via_sample_noise(dist):
    sigma = 0.3
    model = make(noise_dist=dist, n_rec=64, sigma2_in=sigma**2, sigma2_rec=sigma**2, sigma2_out=sigma**2)
    noise = model.sample_noise(64, 50, gen(0))
    _check_moments(noise.recurrent, *_expected_moments(dist, sigma))
    # the library's statement of the same moments (the drift analysis's s and mean) is the draws'
    assert moments(dist, sigma) == pytest.approx(_expected_moments(dist, sigma), rel=1e-12)
    _check_moments(noise.recurrent, *moments(dist, sigma))
    assert noise.recurrent.shape == (64, 50, 64) and noise.input.shape == (64, 50, 2)
    _check_moments(noise.output, 0.0, sigma)  # output noise is Gaussian sigma_out * N(0, 1) in every mode
    if dist == "uniform":
        assert noise.recurrent.min() >= 0 and noise.recurrent.max() < sigma
        assert noise.input.min() >= 0 and noise.input.max() < sigma


@pytest.mark.parametrize("dist", NOISE_DISTS)
def test_recurrent_noise_moments_through_forward_of_zero_weight_net(dist):
    sigma = 0.1
    model = zero_weights(make(n_rec=64, sigma2_rec=sigma**2, sigma2_out=0.2**2, activation_fn="tanh"))
    inputs, init_code = batch(model, batch_size=64, steps=50)
    # The model's distribution is gaussian; the per-call override must switch it.
    hidden, outputs = model(inputs, init_code, generator=gen(0), noise_dist=dist)
    # With W = 0: h_t = (1 - alpha) h_{t-1} + zeta_t and h_0 = 0, so zeta_t = h_t - (1 - alpha) h_{t-1}.
    previous = torch.cat([torch.zeros_like(hidden[:, :1]), hidden[:, :-1]], dim=1)
    zeta = hidden - (1 - model.alpha) * previous
    _check_moments(zeta, *_expected_moments(dist, sigma))
    _check_moments(outputs, 0.0, 0.2)  # zero readout: outputs are the (Gaussian) output noise alone


@pytest.mark.parametrize("cls", [NoisyRNN, NoisyGRU])
@pytest.mark.parametrize("dist", NOISE_DISTS)
def test_sigma_rec_override_scales_the_recurrent_noise_exactly(cls, dist):
    model = zero_weights(make(cls, sigma2_rec=0.01**2, noise_dist=dist, dt=1.0, tau=1.0, activation_fn="tanh"))
    model = model.double()  # float64: the GRU's h_t = h_{t-1} / 2 + zeta_t sums terms of both signs
    inputs, init_code = batch(model, dtype=torch.float64)
    # alpha = 1 and W = 0: h_t = phi(0) + zeta_t = zeta_t (for the GRU: z = 1/2, c = 0, h_t = h_{t-1}/2 + zeta_t).
    own = model(inputs, init_code, generator=gen(2))[0]
    same = model(inputs, init_code, generator=gen(2), sigma_rec=0.01)[0]
    doubled = model(inputs, init_code, generator=gen(2), sigma_rec=0.01 * math.sqrt(2))[0]
    assert torch.equal(own, same)
    assert own.abs().min() > 0
    torch.testing.assert_close(doubled, math.sqrt(2) * own, rtol=1e-9, atol=1e-15)


def test_gaussian_and_uniform_draws_are_the_same_generator_calls_as_before():
    """gaussian_matched was added beside them: the other two still make exactly these calls, in this order."""
    batch_size, steps = 4, 6
    for dist, call in (("gaussian", torch.Tensor.normal_), ("uniform", torch.Tensor.uniform_)):
        model = make(noise_dist=dist, **NOISY)
        noise, g = model.sample_noise(batch_size, steps, gen(3)), gen(3)
        kinds = {
            "input": (model.n_in, model.sigma_in),
            "recurrent": (model.n_rec, model.sigma_rec),
            "output": (model.n_out, model.sigma_out),
        }
        for name, (width, std) in kinds.items():
            draw = torch.Tensor.normal_ if name == "output" else call  # output noise is always Gaussian
            expected = draw(torch.empty(steps, batch_size, width), 0.0, std, generator=g)
            assert torch.equal(getattr(noise, name), expected.transpose(0, 1)), (dist, name)


# Monte Carlo tolerance of the gaussian_matched tests: 5 standard errors of the statistic (a normal statistic is
# that far off with probability 6e-7; the draws are seeded, so a pass is a pass for good).
N_SE = 5.0


@pytest.mark.parametrize("cls", [NoisyRNN, NoisyGRU])
def test_gaussian_matched_noise_is_zero_mean_with_the_uniform_draws_std(cls):
    sigma = 0.3
    model = make(cls, noise_dist="gaussian_matched", n_rec=64, sigma2_in=sigma**2, sigma2_rec=sigma**2,
                 sigma2_out=0.2**2)  # fmt: skip
    noise = model.sample_noise(64, 50, gen(1))
    std = sigma / math.sqrt(12)
    for values in (noise.recurrent, noise.input):
        n = values.numel()  # 204,800 recurrent and 6,400 input terms
        # Standard errors of a normal sample's mean and standard deviation: std / sqrt(n), std / sqrt(2 n).
        assert abs(values.double().mean().item()) < N_SE * std / math.sqrt(n)
        assert abs(values.double().std().item() - std) < N_SE * std / math.sqrt(2 * n)
    out = noise.output.double()  # output noise stays sigma_out * N(0, 1), not divided by sqrt(12)
    assert abs(out.std().item() - 0.2) < N_SE * 0.2 / math.sqrt(2 * out.numel())


def test_gaussian_matched_noise_has_the_variance_of_the_uniform_setting():
    sigma, kinds = 0.3, ("uniform", "gaussian_matched")
    samples = {
        dist: make(noise_dist=dist, n_rec=64, sigma2_rec=sigma**2).sample_noise(64, 50, gen(2)).recurrent.double()
        for dist in kinds
    }
    var, n = {dist: x.var().item() for dist, x in samples.items()}, samples["uniform"].numel()
    # Both are sigma^2 / 12. The standard error of a sample variance is var * sqrt((kurtosis - 1) / n): kurtosis
    # 1.8 for a uniform, 3 for a normal; the difference of two independent variances adds their squares.
    target = sigma**2 / 12
    se = {"uniform": target * math.sqrt(0.8 / n), "gaussian_matched": target * math.sqrt(2.0 / n)}
    for dist in kinds:
        assert abs(var[dist] - target) < N_SE * se[dist], dist
    assert abs(var["gaussian_matched"] - var["uniform"]) < N_SE * math.hypot(*se.values())
    assert abs(samples["uniform"].mean().item() - 0.5 * sigma) < 0.01 * sigma  # ...and only uniform has a mean


@pytest.mark.parametrize("cls", [NoisyRNN, NoisyGRU])
def test_an_ensemble_member_with_gaussian_matched_gets_its_single_models_noise(cls):
    noise = [
        {"noise_dist": "gaussian_matched", "sigma2_in": 1e-3, "sigma2_rec": 4e-2, "sigma2_out": 1e-2},
        {"noise_dist": "uniform", "sigma2_in": 1e-3, "sigma2_rec": 4e-2},
        {"noise_dist": "gaussian", "sigma2_rec": 1e-2},
    ]
    members = [make(cls, seed=k, **kw) for k, kw in enumerate(noise)]
    ensemble = Ensemble(members)
    assert ensemble.noise_dist == ("gaussian_matched", "uniform", "gaussian")
    stacked = ensemble.sample_noise(5, 7, [gen(20 + k) for k in range(len(members))])
    for k, single in enumerate(members):
        own = single.sample_noise(5, 7, gen(20 + k))
        for name in ("input", "recurrent", "output"):
            ours = getattr(own, name)
            if ours is None:  # nothing drawn for this member: zeros in the stack
                assert not getattr(stacked, name)[k].any(), (k, name)
            else:
                assert torch.equal(getattr(stacked, name)[k], ours), (k, name)
    # member(k) keeps the setting, and so its single model draws the same again.
    assert ensemble.member(0).noise_dist == "gaussian_matched"
    inputs = torch.randn(len(members), 5, 7, 2, generator=gen(30))
    init = torch.rand(len(members), 5, SMALL["n_init"], generator=gen(31))
    _, outputs = ensemble(inputs, init, generators=[gen(40 + k) for k in range(len(members))])
    _, single = members[0](inputs[0], init[0], generator=gen(40))
    torch.testing.assert_close(outputs[0], single, rtol=1e-5, atol=1e-6)


def test_a_bad_noise_dist_lists_all_three():
    for bad in ("laplace", "Gaussian", "matched"):
        with pytest.raises(ConfigError) as info:
            make(noise_dist=bad)
        assert str(info.value) == (
            f"rnn.noise_dist = {bad!r} is not allowed; choose one of gaussian, uniform, gaussian_matched"
        )


# --- the fast path against the reference ---------------------------------------------------------------------------
CASES = [
    (NoisyRNN, "relu", False, {}),
    (NoisyRNN, "sigmoid", True, {}),
    (NoisyRNN, "relu", False, {"dt": 1.0}),  # alpha = 1 (the Sorscher preset)
    (NoisyGRU, "tanh", False, {}),
    (NoisyGRU, "relu", True, {"dt": 0.5}),
]


@pytest.mark.parametrize("dist", NOISE_DISTS)
@pytest.mark.parametrize("cls, activation, bias, extra", CASES)
def test_fast_path_matches_reference_outputs_and_gradients(cls, activation, bias, extra, dist):
    model = make(cls, activation_fn=activation, bias=bias, noise_dist=dist, **NOISY, **extra).double()
    inputs, init_code = batch(model, batch_size=4, steps=12, dtype=torch.float64)
    noise = model.sample_noise(4, 12, gen(9))
    assert noise.input.dtype == torch.float64
    hidden, outputs = model(inputs, init_code, noise=noise)
    ref_hidden, ref_outputs = reference_forward(model, inputs, init_code, noise)
    torch.testing.assert_close(hidden, ref_hidden, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(outputs, ref_outputs, rtol=1e-10, atol=1e-12)
    # Gradients of a loss that weights every output differently.
    weights = torch.randn(outputs.shape, generator=gen(10), dtype=torch.float64)
    params = list(model.parameters())
    grads = torch.autograd.grad((outputs * weights).sum() + hidden.square().sum(), params)
    ref_grads = torch.autograd.grad((ref_outputs * weights).sum() + ref_hidden.square().sum(), params)
    for (name, _), grad, ref_grad in zip(model.named_parameters(), grads, ref_grads):
        assert grad.abs().max() > 0, name
        torch.testing.assert_close(grad, ref_grad, rtol=1e-9, atol=1e-11, msg=name)


@pytest.mark.parametrize("cls", [NoisyRNN, NoisyGRU])
def test_fast_path_matches_reference_in_float32(cls):
    model = make(cls, activation_fn="tanh", **NOISY)
    inputs, init_code = batch(model, steps=20)
    noise = model.sample_noise(5, 20, gen(3))
    for ours, ref in zip(model(inputs, init_code, noise=noise), reference_forward(model, inputs, init_code, noise)):
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("steps", [1, 2, 12])
@pytest.mark.parametrize("noisy", [False, True])
def test_vanilla_gradients_through_the_scan_equal_the_reference(activation, steps, noisy):
    # The vanilla loop is one autograd node (models/scan.py); T = 1 has no carry between steps at all.
    model = make(activation_fn=activation, **(NOISY if noisy else {})).double()
    inputs, init_code = batch(model, batch_size=3, steps=steps, dtype=torch.float64)
    init_code.requires_grad_(True)  # dL/dh_0 reaches the encoder's input too
    noise = model.sample_noise(3, steps, gen(11))
    hidden, outputs = model(inputs, init_code, noise=noise)
    assert type(hidden.grad_fn).__name__ == "TransposeBackward0"
    assert type(hidden.grad_fn.next_functions[0][0]).__name__ == "LeakyRNNScanBackward"
    ref_hidden, ref_outputs = reference_forward(model, inputs, init_code, noise)
    torch.testing.assert_close(hidden, ref_hidden, rtol=1e-10, atol=1e-12)
    weights = torch.randn(outputs.shape, generator=gen(12), dtype=torch.float64)
    params = [*model.parameters(), init_code]
    grads = torch.autograd.grad((outputs * weights).sum() + hidden.cos().sum(), params)
    ref_grads = torch.autograd.grad((ref_outputs * weights).sum() + ref_hidden.cos().sum(), params)
    for name, grad, ref_grad in zip([*(name for name, _ in model.named_parameters()), "init_code"], grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad, rtol=1e-9, atol=1e-11, msg=name)


@pytest.mark.parametrize("cls", [NoisyRNN, NoisyGRU])
def test_no_grad_forward_builds_no_graph(cls):
    model = make(cls, **NOISY)
    inputs, init_code = batch(model)
    with torch.no_grad():
        hidden, outputs = model(inputs, init_code, generator=gen(0))
    assert hidden.grad_fn is None and outputs.grad_fn is None
    # The same draws with grad on give the same numbers (one implementation for both).
    grad_hidden, grad_outputs = model(inputs, init_code, generator=gen(0))
    assert grad_hidden.grad_fn is not None
    assert torch.equal(hidden, grad_hidden) and torch.equal(outputs, grad_outputs)


@pytest.mark.parametrize("cls", [NoisyRNN, NoisyGRU])
def test_h0_continuation_equals_one_long_call(cls):
    model = make(cls, **NOISY)
    inputs, init_code = batch(model, steps=10)
    noise = model.sample_noise(5, 10, gen(4))

    def part(sl):
        return NoiseSample(noise.input[:, sl], noise.recurrent[:, sl], noise.output[:, sl])

    hidden, outputs = model(inputs, init_code, noise=noise)
    h1, y1 = model(inputs[:, :5], init_code, noise=part(slice(0, 5)))
    h2, y2 = model(inputs[:, 5:], h0=h1[:, -1], noise=part(slice(5, 10)))
    torch.testing.assert_close(torch.cat([h1, h2], dim=1), hidden, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), outputs, rtol=1e-6, atol=1e-7)


def test_forward_argument_errors():
    model = make(**NOISY)
    inputs, init_code = batch(model)
    h0 = model.initial_state(init_code)
    with pytest.raises(ValueError, match="exactly one"):
        model(inputs, init_code, h0=h0, generator=gen(0))
    with pytest.raises(ValueError, match="exactly one"):
        model(inputs, generator=gen(0))
    noise = model.sample_noise(5, 7, gen(0))
    with pytest.raises(ValueError, match="complete sample"):
        model(inputs, init_code, noise=noise, generator=gen(0))
    with pytest.raises(ValueError, match=r"noise.input has shape \(5, 7, 2\), expected \(5, 3, 2\)"):
        model(inputs[:, :3], init_code, noise=noise)
    with pytest.raises(ValueError, match="inputs"):
        model(inputs[..., :1], init_code, generator=gen(0))
    with pytest.raises(ConfigError, match="sigma_rec"):
        model(inputs, init_code, generator=gen(0), sigma_rec=-1.0)
    with pytest.raises(ConfigError, match="noise_dist"):
        model(inputs, init_code, generator=gen(0), noise_dist="laplace")


# --- configuration errors and build_model -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key, value",
    [
        ("activation_fn", "gelu"),
        ("sigma2_in", -1e-4),
        ("sigma2_rec", -1e-4),
        ("sigma2_out", float("nan")),
        ("noise_dist", "laplace"),
        ("dt", 0.0),
        ("tau", -1.0),
        ("dt", 2.0),  # alpha = 2 > 1
        ("n_rec", 0),
        ("bias", "yes"),
    ],
)
@pytest.mark.parametrize("cls", [NoisyRNN, NoisyGRU])
def test_bad_constructor_values_raise_config_error_naming_the_key(cls, key, value):
    with pytest.raises(ConfigError) as info:
        make(cls, **{key: value})
    assert f"rnn.{key}" in str(info.value) and repr(value) in str(info.value)
    if key in ("activation_fn", "noise_dist"):  # the allowed values are listed
        assert "tanh" in str(info.value) or "uniform" in str(info.value)


def test_attributes_hold_standard_deviations_and_alpha():
    model = make(sigma2_in=4e-4, sigma2_rec=1e-4, sigma2_out=9e-4, dt=0.5, tau=2.0)
    assert (model.sigma_in, model.sigma_rec, model.sigma_out) == pytest.approx((0.02, 0.01, 0.03))
    assert model.alpha == 0.25 and model.n_rec == SMALL["n_rec"]


RNN_CFG = {
    "model": "vanilla", **SMALL, "sigma2_in": 0.0, "sigma2_rec": 1e-4, "sigma2_out": 0.0, "dt": 0.2, "tau": 1.0,
    "bias": False, "activation_fn": "relu", "noise_dist": "gaussian",
}  # fmt: skip


@pytest.mark.parametrize("name", list(MODELS))
def test_build_model_from_dict_and_omegaconf(name):
    cfg = {**RNN_CFG, "model": name}
    from_dict = build_model(cfg, gen(0))
    from_omegaconf = build_model(OmegaConf.create(cfg), gen(0))
    assert type(from_dict) is MODELS[name] and from_dict.sigma_rec == pytest.approx(0.01)
    for a, b in zip(from_dict.parameters(), from_omegaconf.parameters()):
        assert torch.equal(a, b)


def test_build_model_rejects_unknown_model_and_unknown_keys():
    with pytest.raises(ConfigError, match="vanilla, gru"):
        build_model({**RNN_CFG, "model": "lstm"}, gen(0))
    with pytest.raises(ConfigError, match="sigma_rec"):
        build_model({**RNN_CFG, "sigma_rec": 0.01}, gen(0))  # typo for sigma2_rec
    with pytest.raises(ConfigError, match="n_rec"):
        build_model({key: value for key, value in RNN_CFG.items() if key != "n_rec"}, gen(0))
    with pytest.raises(ConfigError, match="rnn.n_out"):
        build_model(OmegaConf.create({**RNN_CFG, "n_out": "???"}), gen(0))
