"""Tests of P01 `random_features`: the torch model against the numpy reference, the error floor, freezing, errors.

The generic model matrix (save/load, Auto classes, remote code, a training step) lives in `tests/test_model_matrix.py`.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from hf_methods.models.random_features.configuration_random_features import RandomFeatureConfig
from hf_methods.models.random_features.modeling_random_features import (
    RandomFeatureModel,
    RandomFeatureOutput,
    draw_hidden_parameters,
)
from hf_methods.models.random_features.sweep import SweepResult, bandwidth_sweep, sinusoid_target

from . import reference_random_features as ref


def tiny_model(**kwargs) -> RandomFeatureModel:
    defaults = {"in_dim": 2, "width": 16, "out_dim": 3, "bandwidth": 2.0, "feature_seed": 7}
    return RandomFeatureModel(RandomFeatureConfig(**{**defaults, **kwargs}))


def data(n=40, in_dim=2, out_dim=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(n, in_dim, generator=generator, dtype=torch.float64) - 1
    y = torch.randn(n, out_dim, generator=generator, dtype=torch.float64)
    return x, y


# --- the math against the numpy reference ------------------------------------------------------------------------


@pytest.mark.parametrize("width", [24, 80], ids=["narrower-than-data", "wider-than-data"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "cos"])
def test_features_and_readout_match_numpy_reference(activation, width):
    model = tiny_model(activation=activation, width=width).to(torch.float64)
    x, y = data()
    a, b = model.a.numpy(), model.b.numpy()

    np.testing.assert_allclose(model.features(x).numpy(), ref.features(x.numpy(), a, b, activation), atol=1e-12)

    train_rel_mse = model.fit_readout(x, y, ridge=1e-3)
    c, c0 = ref.ridge_readout(ref.features(x.numpy(), a, b, activation), y.numpy(), 1e-3)
    np.testing.assert_allclose(model.readout.weight.detach().numpy(), c.T, atol=1e-6)
    np.testing.assert_allclose(model.readout.bias.detach().numpy(), c0, atol=1e-6)

    predictions = model(x).predictions.detach().numpy()
    np.testing.assert_allclose(predictions, ref.features(x.numpy(), a, b, activation) @ c + c0, atol=1e-6)
    assert train_rel_mse == pytest.approx(ref.relative_mse(predictions, y.numpy()), rel=1e-9)


def test_fit_readout_solves_the_normal_equations_written_plainly():
    model = tiny_model(in_dim=1, out_dim=1, width=6).to(torch.float64)
    x = torch.linspace(-1, 1, 25, dtype=torch.float64).unsqueeze(-1)
    y = torch.cos(3 * x).squeeze(-1)
    ridge = 1e-2
    model.fit_readout(x, y, ridge=ridge)

    # minimise (1/n) Σ_i (wᵀφ_i − y_i)² + ρ‖w‖², φ_i = [σ(a_jx_i − b_j)]_j ∪ [1]: (1/n Σ φ_iφ_iᵀ + ρI) w = 1/n Σ φ_i y_i
    n, width = len(x), model.config.width
    lhs = [[0.0] * (width + 1) for _ in range(width + 1)]
    rhs = [0.0] * (width + 1)
    for i in range(n):
        phi = [math.tanh(model.a[j, 0].item() * x[i, 0].item() - model.b[j].item()) for j in range(width)] + [1.0]
        for p in range(width + 1):
            rhs[p] += phi[p] * y[i].item() / n
            for q in range(width + 1):
                lhs[p][q] += phi[p] * phi[q] / n
    for p in range(width + 1):
        lhs[p][p] += ridge
    w = np.linalg.solve(np.array(lhs), np.array(rhs))

    np.testing.assert_allclose(model.readout.weight.detach().numpy()[0], w[:-1], atol=1e-8)
    np.testing.assert_allclose(model.readout.bias.detach().numpy(), w[-1:], atol=1e-8)

    # first-order optimality of the ridge objective at the fitted readout
    weight = model.readout.weight.detach().clone().requires_grad_(True)
    bias = model.readout.bias.detach().clone().requires_grad_(True)
    features = model.features(x)
    objective = ((features @ weight.T + bias).squeeze(-1) - y).pow(2).mean() + ridge * (
        weight.pow(2).sum() + bias.pow(2).sum()
    )
    objective.backward()
    assert weight.grad.abs().max() < 1e-10 and bias.grad.abs().max() < 1e-10


def test_zero_ridge_gives_the_minimum_norm_least_squares_readout():
    model = tiny_model(width=60).to(torch.float64)
    x, y = data(n=30)
    model.fit_readout(x, y, ridge=0.0)
    phi = np.concatenate([model.features(x).numpy(), np.ones((30, 1))], axis=1)
    w = np.linalg.lstsq(phi, y.numpy(), rcond=None)[0]
    np.testing.assert_allclose(model.readout.weight.detach().numpy(), w[:-1].T, atol=1e-6)
    np.testing.assert_allclose(model(x).predictions.detach().numpy(), y.numpy(), atol=1e-6)


def test_numpy_reference_simulation_shows_the_floor():
    floor = [ref.simulate(k=2, lam=1.0, width=n, seed=0) for n in (100, 800)]
    assert min(floor) > 0.5 and abs(floor[0] - floor[1]) < 0.05
    assert ref.simulate(k=2, lam=16.0, width=800, seed=0) < 0.01


# --- the paper's claim at small scale ------------------------------------------------------------------------------


def test_error_floor_for_small_bandwidth_and_none_for_large():
    result = bandwidth_sweep(sinusoid_target(2), bandwidths=[1.0, 16.0], widths=[100, 800], seed=0)
    narrow_100, narrow_800 = result.get(1.0, 100), result.get(1.0, 800)
    # λ = 1: the error stays at a floor, whatever the width (Li et al., Theorem: bounded Ω => nonzero lower bound)
    assert narrow_100 > 0.5 and narrow_800 > 0.5
    assert narrow_100 - narrow_800 < 0.05
    # λ = 16 covers the ridgelet spectrum of sin(4πx): the floor is gone
    assert result.get(16.0, 800) < 0.01
    assert result.smallest_sufficient_bandwidth(800, 0.01) == 16.0


def test_sweep_result_average_dict_and_plot(tmp_path):
    results = [
        bandwidth_sweep(sinusoid_target(1), bandwidths=[1.0, 4.0], widths=[20, 40], n_train=200, n_test=100, seed=s)
        for s in (0, 1)
    ]
    mean = SweepResult.average(results)
    assert mean.settings["seeds"] == [0, 1]
    assert mean.rel_mse[0][1] == pytest.approx((results[0].rel_mse[0][1] + results[1].rel_mse[0][1]) / 2)
    assert mean.to_dict()["widths"] == [20, 40]
    assert "λ" in mean.table()
    mean.save_plot(str(tmp_path / "sweep.png"))
    assert (tmp_path / "sweep.png").stat().st_size > 0


# --- hidden parameters: seeded, frozen, saved ----------------------------------------------------------------------


def test_hidden_parameters_are_a_function_of_the_config():
    first, second = tiny_model(), tiny_model()
    assert torch.equal(first.a, second.a) and torch.equal(first.b, second.b)
    a, b = draw_hidden_parameters(first.config)
    assert torch.equal(first.a, a) and torch.equal(first.b, b)
    other = tiny_model(feature_seed=8)
    assert not torch.equal(first.a, other.a)

    uniform = tiny_model(width=4000, bandwidth=3.0)
    assert uniform.a.abs().max() <= 3.0 and uniform.b.abs().max() <= 3.0
    assert uniform.a.abs().max() > 2.9
    gaussian = tiny_model(width=4000, bandwidth=3.0, weight_dist="gaussian")
    assert gaussian.a.std().item() == pytest.approx(3.0, rel=0.05)


def test_hidden_buffers_are_frozen_and_only_the_readout_trains():
    model = tiny_model()
    assert {name for name, _ in model.named_buffers()} == {"a", "b"}
    assert {name for name, _ in model.named_parameters()} == {"readout.weight", "readout.bias"}
    assert not model.a.requires_grad and not model.b.requires_grad

    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = data(in_dim=2, out_dim=3)
    loss = model(x.float(), labels=y.float()).loss
    loss.backward()
    assert model.a.grad is None and model.b.grad is None
    optimizer.step()
    after = model.state_dict()
    assert torch.equal(before["a"], after["a"]) and torch.equal(before["b"], after["b"])
    assert not torch.equal(before["readout.weight"], after["readout.weight"])


def test_save_and_load_are_bit_exact(tmp_path):
    model = tiny_model()
    x, y = data()
    model.fit_readout(x, y)
    model.save_pretrained(tmp_path)
    loaded = RandomFeatureModel.from_pretrained(tmp_path)
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    assert torch.equal(model(x.float()).predictions, loaded(x.float()).predictions)

    # a checkpoint whose buffers are not the ones `feature_seed` would draw still loads them as saved
    model.a.add_(1.0)
    model.save_pretrained(tmp_path / "edited")
    assert torch.equal(RandomFeatureModel.from_pretrained(tmp_path / "edited").a, model.a)


def test_forward_output_and_loss():
    model = tiny_model(out_dim=1)
    x = torch.randn(5, 7, 2)
    labels = torch.randn(5, 7)
    output = model(x, labels=labels)
    assert isinstance(output, RandomFeatureOutput)
    assert output.predictions.shape == (5, 7, 1) and output.features.shape == (5, 7, 16)
    torch.testing.assert_close(output.loss, torch.nn.functional.mse_loss(output.predictions.squeeze(-1), labels))
    loss, predictions, features = model(x, labels=labels, return_dict=False)
    assert torch.equal(predictions, output.predictions)


def test_config_accepts_integer_floats_and_round_trips():
    config = RandomFeatureConfig(bandwidth=16, ridge=0)
    assert config.bandwidth == 16.0 and isinstance(config.bandwidth, float)
    assert RandomFeatureConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()


def test_package_import_is_lazy():
    code = (
        "import sys, hf_methods.models.random_features as rf; "
        "assert 'hf_methods.models.random_features.modeling_random_features' not in sys.modules; "
        "assert 'RandomFeatureModel' in dir(rf)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- clear errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 0}, "width"),
        ({"width": -4}, "width"),
        ({"in_dim": 0}, "in_dim"),
        ({"out_dim": 0}, "out_dim"),
        ({"activation": "gelu"}, "activation"),
        ({"weight_dist": "laplace"}, "weight_dist"),
        ({"bandwidth": 0.0}, "bandwidth"),
        ({"bandwidth": -1.0}, "bandwidth"),
        ({"ridge": -1e-3}, "ridge"),
    ],
    ids=[
        "width-zero",
        "width-negative",
        "in_dim",
        "out_dim",
        "activation",
        "weight_dist",
        "bandwidth-zero",
        "bandwidth-negative",
        "ridge",
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomFeatureConfig(**kwargs)


def test_forward_rejects_wrong_input_dim():
    with pytest.raises(ValueError, match=r"`inputs` must have shape \(\.\.\., in_dim=2\)"):
        tiny_model()(torch.randn(4, 3))


def test_forward_rejects_flat_input_with_hint():
    with pytest.raises(ValueError, match="unsqueeze"):
        tiny_model(in_dim=1)(torch.randn(4))


def test_forward_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="`labels`"):
        tiny_model()(torch.randn(4, 2), labels=torch.randn(5, 3))


def test_fit_readout_rejects_mismatched_number_of_samples():
    x, y = data(n=10)
    with pytest.raises(ValueError, match="mismatched number of samples"):
        tiny_model().fit_readout(x, y[:9])


def test_fit_readout_rejects_wrong_out_dim():
    x, y = data(n=10, out_dim=2)
    with pytest.raises(ValueError, match="out_dim=3"):
        tiny_model().fit_readout(x, y)


def test_fit_readout_rejects_wrong_input_dim():
    x, y = data(n=10, in_dim=3)
    with pytest.raises(ValueError, match="in_dim=2"):
        tiny_model().fit_readout(x, y)


def test_fit_readout_rejects_negative_ridge():
    x, y = data(n=10)
    with pytest.raises(ValueError, match="ridge"):
        tiny_model().fit_readout(x, y, ridge=-1.0)


def test_sinusoid_target_rejects_bad_frequency():
    with pytest.raises(ValueError, match="k"):
        sinusoid_target(0)


def test_recipe_arguments_build_the_config_in_one_call():
    from hf_methods.models.random_features.training import RandomFeaturesArguments, relative_mse, target_data

    args = RandomFeaturesArguments(output_dir="unused", width=32, bandwidth=4.0, seed=3, k=1.0, n_test=50)
    config = args.random_features_config()
    assert (config.width, config.bandwidth, config.feature_seed, config.in_dim, config.out_dim) == (32, 4.0, 3, 1, 1)
    model = RandomFeatureModel(config)
    x, y = target_data(args, "train")
    model.fit_readout(x, y)
    assert relative_mse(model, *target_data(args, "test")) < 0.05
    with pytest.raises(ValueError, match="--solver"):
        RandomFeaturesArguments(output_dir="unused", solver="lbfgs").validate()


def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("random_features").usage, namespace)  # defines its own x, y
    assert namespace["train_rel_mse"] < 1e-3 and namespace["predictions"].shape == (5, 1)
