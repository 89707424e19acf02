"""Tests of the weight compander (P10): the compander's math, the parametrization, baking and the plain reload."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.adapters.weight_compander import (
    WeightCompander,
    WeightCompanderConfig,
    apply_weight_compander,
    arctan_compander,
    compander_values,
    get_weight_compander_model,
    merge_and_unload,
    near_zero_fraction,
    remove_weight_compander,
    tanh_compander,
)


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


# ------------------------------------------------------------------------------------------------------ the function


@pytest.mark.parametrize("fn", [tanh_compander, arctan_compander])
def test_compander_is_odd_monotone_bounded_and_expands_small_weights(fn):
    v = torch.linspace(-50, 50, 20001, dtype=torch.float64)
    alpha, beta = torch.tensor(0.7, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64)
    w = fn(v, alpha, beta)
    assert torch.allclose(fn(-v, alpha, beta), -w)  # odd
    assert (w.diff() >= 0).all()  # monotone (flat only where float64 saturates)
    inner = fn(torch.linspace(-2, 2, 4001, dtype=torch.float64), alpha, beta)
    assert (inner.diff() > 0).all()  # strictly increasing where it is not saturated
    assert w.abs().max() <= 0.7  # bounded by α
    eps = torch.tensor(1e-6, dtype=torch.float64)
    slope = fn(eps, alpha, beta) / eps
    assert slope.item() == pytest.approx(3.0, rel=1e-6)  # slope β at the origin: small weights expanded


def test_compander_matches_the_closed_form_in_numpy():
    v = np.random.default_rng(0).normal(size=100)
    a, b = 0.5, 2.5
    t = torch.from_numpy(v)
    expected_tanh = a * np.tanh(b * v / a)
    expected_atan = 2 * a / math.pi * np.arctan(math.pi * b * v / (2 * a))
    np.testing.assert_allclose(
        tanh_compander(t, torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)).numpy(),
        expected_tanh,
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        arctan_compander(t, torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)).numpy(),
        expected_atan,
        rtol=1e-12,
    )


# ---------------------------------------------------------------------------------------------- the parametrization


def test_apply_computes_with_the_companded_weights():
    model = _mlp()
    raw = [model[0].weight.detach().clone(), model[2].weight.detach().clone()]
    apply_weight_compander(model, alpha=0.3, beta=2.0)
    x = torch.randn(4, 6)
    h = torch.tanh(x @ (0.3 * torch.tanh(2.0 * raw[0] / 0.3)).T + model[0].bias)
    expected = h @ (0.3 * torch.tanh(2.0 * raw[1] / 0.3)).T + model[2].bias
    torch.testing.assert_close(model(x), expected)
    assert torch.equal(model[0].parametrizations.weight.original, raw[0])  # v is the former weight


def test_learnable_alpha_beta_get_gradients_and_fixed_ones_do_not():
    model = apply_weight_compander(_mlp(), learnable=True)
    model(torch.randn(4, 6)).square().sum().backward()
    wc = model[0].parametrizations.weight[0]
    assert wc.log_alpha.grad is not None and wc.log_alpha.grad.abs() > 0
    assert wc.log_beta.grad is not None and wc.log_beta.grad.abs() > 0
    fixed = apply_weight_compander(_mlp(), learnable=False)
    names = [n for n, _ in fixed.named_parameters()]
    assert not any("log_alpha" in n or "log_beta" in n for n in names)
    assert set(compander_values(fixed)) == {"0", "2"}
    assert compander_values(fixed)["0"] == pytest.approx({"alpha": 1.0, "beta": 2.0})


def test_learned_alpha_stays_positive_and_bounds_the_weights_after_training():
    model = apply_weight_compander(_mlp(), alpha=0.2, beta=4.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    for _ in range(20):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    for name, values in compander_values(model).items():
        module = model[int(name)]
        assert values["alpha"] > 0 and values["beta"] > 0
        assert module.weight.abs().max() <= values["alpha"] + 1e-6


def test_bake_reproduces_the_outputs_and_leaves_vanilla_keys():
    base = _mlp()
    keys = set(base.state_dict())
    model = apply_weight_compander(base, alpha=0.4, beta=3.0)
    x = torch.randn(5, 6)
    before = model(x).detach()
    remove_weight_compander(model)
    assert set(model.state_dict()) == keys
    torch.testing.assert_close(model(x), before, rtol=0, atol=0)  # same weights, same kernel


def test_config_entry_point_and_merge_alias():
    model = get_weight_compander_model(_mlp(), WeightCompanderConfig(alpha=0.5, beta=1.5, exclude=("2",)))
    assert set(compander_values(model)) == {"0"}
    merge_and_unload(model)
    assert compander_values(model) == {}


def test_near_zero_fraction_counts_against_the_reference():
    model = nn.Sequential(nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.005], [0.5, -0.001]]))
    assert near_zero_fraction(model) == pytest.approx(0.5)


def test_baked_model_saves_and_reloads_with_plain_transformers(tmp_path):
    from transformers import LlamaForCausalLM

    from hf_methods.common.tiny import tiny_llama

    model = tiny_llama(seed=0)
    ids = torch.randint(3, 259, (2, 10), generator=torch.Generator().manual_seed(0))
    plain = model(input_ids=ids).logits.detach()
    apply_weight_compander(model, alpha=0.05, beta=2.0, exclude=("lm_head",))
    with torch.no_grad():
        companded = model(input_ids=ids).logits
    assert not torch.allclose(companded, plain)  # the compander changed the function
    remove_weight_compander(model).save_pretrained(tmp_path)
    reloaded = LlamaForCausalLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, companded, rtol=0, atol=0)


# --------------------------------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "1", True])
def test_bad_alpha_is_rejected(bad):
    with pytest.raises(ValueError, match="alpha"):
        apply_weight_compander(_mlp(), alpha=bad)


@pytest.mark.parametrize("bad", [0.0, -2.0, float("inf")])
def test_bad_beta_is_rejected(bad):
    with pytest.raises(ValueError, match="beta"):
        WeightCompander(beta=bad)


def test_unknown_compander_is_rejected():
    with pytest.raises(ValueError, match="compander"):
        apply_weight_compander(_mlp(), compander="mu-law")


def test_bad_modules_are_rejected():
    with pytest.raises(TypeError, match="modules"):
        apply_weight_compander(_mlp(), modules=("Linear",))


def test_modules_matching_nothing_are_rejected():
    with pytest.raises(ValueError, match="modules"):
        apply_weight_compander(_mlp(), modules=(nn.Conv2d,))


def test_single_string_exclude_is_rejected():
    with pytest.raises(TypeError, match="exclude"):
        apply_weight_compander(_mlp(), exclude="lm_head")


def test_non_module_model_is_rejected():
    with pytest.raises(TypeError, match="model"):
        apply_weight_compander("bert")


def test_applying_twice_is_rejected():
    model = apply_weight_compander(_mlp())
    with pytest.raises(ValueError, match="already"):
        apply_weight_compander(model)


def test_removing_without_compander_is_rejected():
    with pytest.raises(ValueError, match="no weight compander"):
        remove_weight_compander(_mlp())


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="beta"):
        WeightCompanderConfig(beta=-1)
    with pytest.raises(TypeError, match="config"):
        get_weight_compander_model(_mlp(), {"alpha": 1.0})


def test_bad_relative_threshold_is_rejected():
    with pytest.raises(ValueError, match="relative"):
        near_zero_fraction(_mlp(), relative=1.5)


# --------------------------------------------------------------------------------------------- training and recipe


def test_train_digits_bakes_and_reports():
    from hf_methods.adapters.weight_compander.training import train_digits

    out = train_digits(use_compander=True, seed=0, epochs=1, hidden_sizes=(16,), train_fraction=0.1)
    assert 0.0 <= out["accuracy"] <= 1.0 and 0.0 <= out["near_zero_fraction"] <= 1.0
    assert set(out["companders"]) == {"mlp.layers.0", "classifier"}
    assert 32.0 <= out["bits_per_weight"] < 40.0  # float32 plus the safetensors header
    with pytest.raises(ValueError, match="train_fraction"):
        train_digits(use_compander=False, train_fraction=0.0)


def test_recipe_runs_and_saves_a_vanilla_model(tmp_path):
    from safetensors.torch import load_file

    metrics = _recipe().main(
        ["--output_dir", str(tmp_path), "--max_steps", "4", "--hidden_size", "16", "--checkpoint_every", "0"]
    )
    assert "eval/accuracy" in metrics and "compander/classifier/alpha" in metrics
    keys = set(load_file(tmp_path / "model.safetensors"))
    assert keys and not any("parametrizations" in k or "log_alpha" in k for k in keys)


@pytest.mark.parametrize(
    "name, value", [("beta", 0.0), ("alpha", -1.0), ("compander", "mu"), ("train_fraction", 2.0), ("dropout", 1.0)]
)
def test_recipe_arguments_reject_bad_values(name, value):
    from hf_methods.adapters.weight_compander.training import WeightCompanderArguments

    with pytest.raises(ValueError, match=f"--{name}"):
        WeightCompanderArguments(output_dir="x", **{name: value}).validate()


@pytest.mark.slow
def test_record_usage_runs_as_written(tmp_path, monkeypatch):
    from hf_methods.zoo import get_method

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(get_method("weight_compander").usage, namespace)
    from transformers import LlamaForCausalLM

    reloaded = LlamaForCausalLM.from_pretrained(tmp_path / "out")
    torch.testing.assert_close(
        reloaded.model.layers[0].mlp.up_proj.weight, namespace["model"].model.layers[0].mlp.up_proj.weight
    )


def _recipe():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "recipes" / "weight_compander.py"
    spec = importlib.util.spec_from_file_location("recipe_weight_compander", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_disable_makes_the_compander_the_identity_and_restores_it():
    from hf_methods.adapters.weight_compander import disable_weight_compander

    base = _mlp()
    x = torch.randn(3, 6)
    expected = base(x).detach()
    model = apply_weight_compander(base, alpha=0.2)
    with disable_weight_compander(model):
        torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
    assert not torch.allclose(model(x), expected)
    with pytest.raises(ValueError, match="no weight compander"):
        with disable_weight_compander(_mlp()):
            pass
