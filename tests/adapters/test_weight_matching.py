"""P37 `weight_matching`: permutations leave the function unchanged, weight matching against brute force and a
planted permutation, the barrier against a hand-written loop, the singular-vector analysis against numpy, the merged
model reloading with plain transformers, and one test per rejected input."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.adapters.weight_matching import (
    PermutationSpec,
    add_merge_partner,
    apply_permutation,
    average_models,
    bake_merge_partner,
    interpolate_models,
    interpolation_barrier,
    merge_partner_disabled,
    parameter_distance,
    permutation_spec,
    singular_overlap_objective,
    singular_vector_alignment,
    weight_matching,
)
from hf_methods.adapters.weight_matching.permutation import permute_tensors
from hf_methods.common.tiny import tiny_llama


def mlp(hidden=(8, 6), act="relu", seed=0, dropout=0.0, head=True):
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification, MLPModel

    torch.manual_seed(seed)
    config = MLPConfig(input_size=5, hidden_sizes=list(hidden), hidden_act=act, num_labels=3, dropout=dropout)
    return (MLPForImageClassification if head else MLPModel)(config).eval()


def batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"pixel_values": torch.rand(n, 5, generator=g), "labels": torch.randint(0, 3, (n,), generator=g)}


def random_perm(spec, model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {p: torch.randperm(n, generator=g) for p, n in spec.sizes(dict(model.named_parameters())).items()}


def token_ids():
    return torch.randint(3, 259, (2, 10), generator=torch.Generator().manual_seed(0))


# ------------------------------------------------------------------------------------------ specs and invariance


def test_mlp_spec_names_rows_bias_and_next_columns():
    spec = permutation_spec(mlp())
    assert spec.perm_to_axes == {
        "P_0": (("mlp.layers.0.weight", 0), ("mlp.layers.0.bias", 0), ("mlp.layers.2.weight", 1)),
        "P_1": (("mlp.layers.2.weight", 0), ("mlp.layers.2.bias", 0), ("classifier.weight", 1)),
    }
    # in the headless model the last hidden layer is the output: only P_0
    assert list(permutation_spec(mlp(head=False)).perm_to_axes) == ["P_0"]


@pytest.mark.parametrize("act,dropout", [("relu", 0.0), ("tanh", 0.1), ("gelu", 0.0)])
def test_permuted_mlp_computes_the_same_function(act, dropout):
    model = mlp(hidden=(8, 6, 7), act=act, dropout=dropout)
    spec = permutation_spec(model)
    perm = random_perm(spec, model)
    assert all(not torch.equal(v, torch.arange(len(v))) for v in perm.values())
    permuted = apply_permutation(model, perm, spec)
    x = batch()["pixel_values"]
    with torch.no_grad():
        # float32 sums in another order: a few ulps
        torch.testing.assert_close(permuted(pixel_values=x).logits, model(pixel_values=x).logits, atol=1e-6, rtol=0)
    assert parameter_distance(model, permuted) > 0.1  # the weights did move


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("tied", [False, True])
def test_permuted_llama_computes_the_same_function(residual, tied):
    model = tiny_llama(seed=0, tie_word_embeddings=tied, mlp_bias=True)
    spec = permutation_spec(model, residual=residual)
    assert ("residual" in spec.perm_to_axes) == residual
    permuted = apply_permutation(model, random_perm(spec, model))
    with torch.no_grad():
        expected = model(input_ids=token_ids()).logits
        torch.testing.assert_close(permuted(input_ids=token_ids()).logits, expected, atol=2e-5, rtol=0)
    assert not torch.equal(permuted.model.layers[0].mlp.up_proj.weight, model.model.layers[0].mlp.up_proj.weight)


@pytest.mark.parametrize("family", ["qwen2", "qwen3"])
def test_permuted_qwen_computes_the_same_function(family):
    """Qwen2: q/k/v biases (output side, not permuted by the residual stream); Qwen3: per-head q_norm/k_norm, here
    with head_dim == hidden_size so that a spec mistaking them for residual RMSNorms would break the function."""
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    config = AutoConfig.for_model(
        family,
        vocab_size=259,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32 if family == "qwen3" else 8,
        max_position_embeddings=64,
    )
    model = AutoModelForCausalLM.from_config(config).eval()
    spec = permutation_spec(model, residual=True)
    assert not any("q_norm" in name for name, _ in spec.perm_to_axes["residual"])
    permuted = apply_permutation(model, random_perm(spec, model, seed=1))
    with torch.no_grad():
        expected = model(input_ids=token_ids()).logits
        torch.testing.assert_close(permuted(input_ids=token_ids()).logits, expected, atol=2e-5, rtol=0)


def test_permute_tensors_equals_permutation_matrices():
    """W → P_l W P_{l−1}ᵀ with P[i, perm[i]] = 1, written with numpy matrices."""
    spec = PermutationSpec({"a": (("w", 0),), "b": (("w", 1),)})
    w = torch.randn(4, 3, dtype=torch.float64)
    perm = {"a": torch.tensor([2, 0, 3, 1]), "b": torch.tensor([1, 2, 0])}
    p_a = np.eye(4)[perm["a"].numpy()]
    p_b = np.eye(3)[perm["b"].numpy()]
    np.testing.assert_array_equal(permute_tensors({"w": w}, perm, spec)["w"].numpy(), p_a @ w.numpy() @ p_b.T)


# ------------------------------------------------------------------------------------------ weight matching


def test_weight_matching_one_hidden_layer_equals_brute_force():
    """With one permutation, one assignment step is exact: compare with all 6! permutations (numpy loops)."""
    a, b = mlp(hidden=(6,), seed=0), mlp(hidden=(6,), seed=1)
    perm = weight_matching(a, b)
    wa = {k: v.detach().double().numpy() for k, v in a.named_parameters()}
    wb = {k: v.detach().double().numpy() for k, v in b.named_parameters()}

    def objective(p):
        p = list(p)
        return (
            float((wa["mlp.layers.0.weight"] * wb["mlp.layers.0.weight"][p]).sum())
            + float((wa["mlp.layers.0.bias"] * wb["mlp.layers.0.bias"][p]).sum())
            + float((wa["classifier.weight"] * wb["classifier.weight"][:, p]).sum())
        )

    best = max(objective(p) for p in itertools.permutations(range(6)))
    assert objective(perm["P_0"].tolist()) == pytest.approx(best, rel=1e-12)
    assert perm.objective == pytest.approx(best, rel=1e-12)


def test_weight_matching_recovers_a_planted_permutation():
    a = mlp(hidden=(16, 12, 10), seed=0)
    spec = permutation_spec(a)
    b = apply_permutation(a, random_perm(spec, a, seed=3))
    with torch.no_grad():  # a little noise: the match must still be the planted one
        for p in b.parameters():
            p.add_(1e-4 * torch.randn_like(p))
    assert parameter_distance(a, b) > 1.0
    matched = apply_permutation(b, weight_matching(a, b))
    assert parameter_distance(a, matched) < 0.01


def test_weight_matching_never_increases_the_distance_and_is_seeded():
    a, b = mlp(hidden=(12, 10, 8), seed=0), mlp(hidden=(12, 10, 8), seed=1)
    perm = weight_matching(a, b, seed=4)
    assert parameter_distance(a, apply_permutation(b, perm)) < parameter_distance(a, b)
    again = weight_matching(a, b, seed=4)
    assert all(torch.equal(perm[k], again[k]) for k in perm)
    assert 1 <= perm.iterations <= 100


def test_weight_matching_accepts_state_dicts_and_init_perm():
    a, b = mlp(seed=0), mlp(seed=1)
    spec = permutation_spec(a)
    from_modules = weight_matching(a, b, spec)
    from_dicts = weight_matching(dict(a.named_parameters()), dict(b.named_parameters()), spec)
    assert all(torch.equal(from_modules[k], from_dicts[k]) for k in spec.perm_to_axes)
    # starting at the optimum: no sweep improves it, the result stays
    restarted = weight_matching(a, b, spec, init_perm=from_modules)
    assert restarted.iterations == 1 and all(torch.equal(restarted[k], from_modules[k]) for k in spec.perm_to_axes)


# ------------------------------------------------------------------------------------------ merging and barrier


def test_interpolate_models_endpoints_and_midpoint():
    a, b = mlp(seed=0), mlp(seed=1)
    for name, p in interpolate_models(a, b, 0.0).named_parameters():
        assert torch.equal(p, a.get_parameter(name))
    for name, p in interpolate_models(a, b, 1.0).named_parameters():
        assert torch.equal(p, b.get_parameter(name))
    for name, p in interpolate_models(a, b, 0.25).named_parameters():
        torch.testing.assert_close(p, 0.75 * a.get_parameter(name) + 0.25 * b.get_parameter(name))
    merged = average_models([a, b, mlp(seed=2)], [0.5, 0.3, 0.2])
    c = mlp(seed=2)
    for name, p in merged.named_parameters():
        ref = 0.5 * a.get_parameter(name) + 0.3 * b.get_parameter(name) + 0.2 * c.get_parameter(name)
        torch.testing.assert_close(p, ref)


def test_interpolation_barrier_against_a_numpy_loop():
    a, b = mlp(seed=0), mlp(seed=1)
    data = [batch(10, seed=0), batch(6, seed=1)]
    result = interpolation_barrier(a, b, data, num_points=5)

    def np_loss(params, x, y):  # the MLP forward and cross-entropy written out
        h = x
        for i in (0, 2):
            h = np.maximum(h @ params[f"mlp.layers.{i}.weight"].T + params[f"mlp.layers.{i}.bias"], 0.0)
        z = h @ params["classifier.weight"].T + params["classifier.bias"]
        z = z - z.max(1, keepdims=True)
        return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).sum())

    pa = {k: v.detach().double().numpy() for k, v in a.named_parameters()}
    pb = {k: v.detach().double().numpy() for k, v in b.named_parameters()}
    losses = []
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        params = {k: (1 - t) * pa[k] + t * pb[k] for k in pa}
        total = sum(np_loss(params, d["pixel_values"].double().numpy(), d["labels"].numpy()) for d in data)
        losses.append(total / 16)
    np.testing.assert_allclose(result.losses, losses, rtol=1e-5)
    gaps = [loss - ((1 - t) * losses[0] + t * losses[-1]) for t, loss in zip(result.ts, losses)]
    assert result.barrier == pytest.approx(max(gaps), abs=1e-5)
    assert result.ts == [0.0, 0.25, 0.5, 0.75, 1.0]
    # a model with itself has no barrier; extra metrics are recorded per t
    same = interpolation_barrier(
        a,
        a,
        data[0],
        num_points=3,
        metric_fn=lambda o, d: {"acc": (o.logits.argmax(-1) == d["labels"]).float().mean()},
    )
    assert same.barrier == pytest.approx(0.0, abs=1e-6)
    assert len(same.metrics["acc"]) == 3


def test_merged_llama_saves_and_reloads_with_plain_transformers(tmp_path):
    from transformers import LlamaForCausalLM

    a, b = tiny_llama(seed=0), tiny_llama(seed=1)
    merged = interpolate_models(a, apply_permutation(b, weight_matching(a, b)), 0.5)
    assert type(merged) is LlamaForCausalLM
    merged.save_pretrained(tmp_path)
    reloaded = LlamaForCausalLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(
            reloaded(input_ids=token_ids()).logits, merged(input_ids=token_ids()).logits, rtol=0, atol=0
        )


# ------------------------------------------------------------------------------------------ singular vectors


def test_permutation_keeps_singular_values():
    model = mlp(hidden=(9, 7))
    permuted = apply_permutation(model, random_perm(permutation_spec(model), model))
    for name in ("mlp.layers.0.weight", "mlp.layers.2.weight", "classifier.weight"):
        s = np.linalg.svd(model.get_parameter(name).detach().double().numpy(), compute_uv=False)
        s_p = np.linalg.svd(permuted.get_parameter(name).detach().double().numpy(), compute_uv=False)
        np.testing.assert_allclose(s_p, s, rtol=1e-12, atol=1e-14)


def test_singular_vector_alignment_against_numpy():
    a, b = mlp(hidden=(9, 7), seed=0), mlp(hidden=(9, 7), seed=1)
    result = singular_vector_alignment(a, b, k=2)
    assert list(result.layers) == ["mlp.layers.0.weight", "mlp.layers.2.weight", "classifier.weight"]
    tops, bottoms = [], []
    for name, layer in result.layers.items():
        ua, sa, vta = np.linalg.svd(a.get_parameter(name).detach().double().numpy(), full_matrices=False)
        ub, sb, vtb = np.linalg.svd(b.get_parameter(name).detach().double().numpy(), full_matrices=False)
        overlap = [abs(float(ua[:, i] @ ub[:, i])) for i in range(len(sa))]
        np.testing.assert_allclose(layer.u_overlap.numpy(), overlap, atol=1e-10)
        np.testing.assert_allclose(
            layer.v_overlap.numpy(), [abs(float(vta[i] @ vtb[i])) for i in range(len(sa))], atol=1e-10
        )
        np.testing.assert_allclose(layer.singular_values_a.numpy(), sa, rtol=1e-12)
        tops.append(np.mean(overlap[:2]))
        bottoms.append(np.mean(overlap[-2:]))
    assert result.top_u == pytest.approx(np.mean(tops), abs=1e-10)
    assert result.bottom_u == pytest.approx(np.mean(bottoms), abs=1e-10)
    same = singular_vector_alignment(a, a, k=1, parameters=["mlp.layers.2.weight"])
    assert same.top_u == pytest.approx(1.0, abs=1e-10) and same.bottom_v == pytest.approx(1.0, abs=1e-10)


def test_singular_overlap_objective_sums_to_the_frobenius_product():
    g = torch.Generator().manual_seed(0)
    w_a, w_b = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    terms = singular_overlap_objective(w_a, w_b)
    assert terms.shape == (4, 4)
    assert terms.sum().item() == pytest.approx((w_a.double() * w_b.double()).sum().item(), rel=1e-10)


# ------------------------------------------------------------------------------------------ linear-path parametrization


def test_merge_partner_parametrization_matches_interpolation_disable_and_bake():
    a, b = tiny_llama(seed=0), tiny_llama(seed=1)
    b = apply_permutation(b, weight_matching(a, b))
    names = [n for n, _ in a.named_parameters() if ".mlp." in n]
    expected_model = interpolate_models(a, b, 0.3)
    with torch.no_grad():
        base = a(input_ids=token_ids()).logits
    # only the MLP weights merged: build the reference from A with B's MLP weights mixed in
    reference = interpolate_models(a, a, 0.0)
    with torch.no_grad():
        for n in names:
            reference.get_parameter(n).copy_(expected_model.get_parameter(n))
        merged_ref = reference(input_ids=token_ids()).logits
    add_merge_partner(a, b, 0.3, parameters=names, learnable_t=True)
    with torch.no_grad():
        torch.testing.assert_close(a(input_ids=token_ids()).logits, merged_ref, atol=1e-5, rtol=0)
        with merge_partner_disabled(a):
            torch.testing.assert_close(a(input_ids=token_ids()).logits, base, atol=0, rtol=0)
    assert any(n.endswith(".t") and p.requires_grad for n, p in a.named_parameters())
    bake_merge_partner(a)
    assert not any("parametrizations" in n for n, _ in a.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(a(input_ids=token_ids()).logits, merged_ref, atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------------ rejected inputs


def test_unsupported_architecture_is_refused():
    from transformers import BertModel

    from hf_methods.common.tiny import tiny_bert_config

    with pytest.raises(ValueError, match="`model`.*PermutationSpec"):
        permutation_spec(BertModel(tiny_bert_config()))
    with pytest.raises(ValueError, match="`model`"):
        weight_matching(nn.Linear(3, 3), nn.Linear(3, 3))
    with pytest.raises(TypeError, match="`model`"):
        permutation_spec("llama")


def test_residual_needs_a_llama_with_a_head():
    from transformers import LlamaModel

    from hf_methods.common.tiny import tiny_llama_config

    with pytest.raises(ValueError, match="residual"):
        permutation_spec(mlp(), residual=True)
    with pytest.raises(ValueError, match="residual"):
        permutation_spec(LlamaModel(tiny_llama_config()), residual=True)


@pytest.mark.parametrize(
    "perm_to_axes,match",
    [
        ({}, "perm_to_axes"),
        ({"p": ()}, "acts on no tensor"),
        ({"p": (("mlp.layers.0.weight", 0),), "q": (("mlp.layers.0.weight", 0),)}, "both"),
    ],
)
def test_bad_spec_is_refused(perm_to_axes, match):
    with pytest.raises(ValueError, match=match):
        PermutationSpec(perm_to_axes)


def test_spec_not_matching_the_model_is_refused():
    a, b = mlp(), mlp(seed=1)
    with pytest.raises(ValueError, match="`spec`.*does not have"):
        weight_matching(a, b, PermutationSpec({"p": (("nope.weight", 0),)}))
    with pytest.raises(ValueError, match="`spec`.*different sizes"):
        weight_matching(a, b, PermutationSpec({"p": (("mlp.layers.0.weight", 0), ("mlp.layers.0.weight", 1))}))
    with pytest.raises(ValueError, match="`spec`.*no axis"):
        weight_matching(a, b, PermutationSpec({"p": (("mlp.layers.0.bias", 1),)}))
    with pytest.raises(TypeError, match="`spec`"):
        weight_matching(a, b, {"p": (("mlp.layers.0.bias", 0),)})
    with pytest.raises(ValueError, match="`spec` is required"):
        weight_matching(dict(a.named_parameters()), dict(b.named_parameters()))


def test_weight_matching_rejects_other_architectures_and_bad_arguments():
    a = mlp(hidden=(8, 6))
    with pytest.raises(ValueError, match="`model_b`"):
        weight_matching(a, mlp(hidden=(8, 5)))
    with pytest.raises(TypeError, match="`model_b`"):
        weight_matching(a, "model")
    with pytest.raises(ValueError, match="`max_iter`"):
        weight_matching(a, mlp(seed=1), max_iter=0)
    with pytest.raises(ValueError, match="`perm"):
        weight_matching(a, mlp(seed=1), init_perm={"P_0": torch.arange(8)})


@pytest.mark.parametrize(
    "perm,match",
    [
        ({"P_0": torch.arange(8)}, "no permutation 'P_1'"),
        ({"P_0": torch.arange(7), "P_1": torch.arange(6)}, "length 8"),
        ({"P_0": torch.zeros(8, dtype=torch.long), "P_1": torch.arange(6)}, "not a permutation"),
        ({"P_0": torch.arange(8.0), "P_1": torch.arange(6)}, "integer"),
    ],
)
def test_apply_permutation_rejects_a_bad_perm(perm, match):
    with pytest.raises(ValueError, match=match):
        apply_permutation(mlp(), perm)


def test_apply_permutation_rejects_bad_types():
    with pytest.raises(TypeError, match="`perm`"):
        apply_permutation(mlp(), [0, 1])
    with pytest.raises(TypeError, match="`model`"):
        apply_permutation({"w": torch.ones(2)}, {})


def test_merging_rejects_bad_arguments():
    a = mlp()
    with pytest.raises(ValueError, match="`t`"):
        interpolate_models(a, mlp(seed=1), 1.5)
    with pytest.raises(ValueError, match="`model_b`"):
        interpolate_models(a, mlp(hidden=(8, 5)), 0.5)
    with pytest.raises(TypeError, match="`model_b`"):
        interpolate_models(a, None, 0.5)
    with pytest.raises(ValueError, match="`weights`"):
        average_models([a, mlp(seed=1)], [1.0])
    with pytest.raises(ValueError, match="`models`"):
        average_models([])
    with pytest.raises(ValueError, match="`models\\[1\\]`"):
        average_models([a, mlp(hidden=(8, 5))])
    with pytest.raises(ValueError, match="`model_b`"):
        parameter_distance(a, mlp(hidden=(8, 5)))


def test_barrier_rejects_bad_arguments():
    a, b = mlp(), mlp(seed=1)
    with pytest.raises(ValueError, match="`num_points`"):
        interpolation_barrier(a, b, batch(), num_points=1)
    with pytest.raises(ValueError, match="`data`"):
        interpolation_barrier(a, b, 5)
    with pytest.raises(ValueError, match="`data`"):
        interpolation_barrier(a, b, [])
    with pytest.raises(ValueError, match="`loss_fn`"):
        interpolation_barrier(a, b, {"pixel_values": batch()["pixel_values"]})
    with pytest.raises(ValueError, match="`model_b`"):
        interpolation_barrier(a, mlp(hidden=(8, 5)), batch())


def test_alignment_rejects_bad_arguments():
    a, b = mlp(), mlp(seed=1)
    with pytest.raises(ValueError, match="`k`"):
        singular_vector_alignment(a, b, k=0)
    with pytest.raises(ValueError, match="`k`"):
        singular_vector_alignment(a, b, k=4)  # the classifier is 3 x 6: 3 singular values
    with pytest.raises(ValueError, match="`parameters`.*not a matrix"):
        singular_vector_alignment(a, b, parameters=["mlp.layers.0.bias"])
    with pytest.raises(ValueError, match="`parameters`.*no parameter"):
        singular_vector_alignment(a, b, parameters=["nope.weight"])
    with pytest.raises(TypeError, match="`model_b`"):
        singular_vector_alignment(a, "b")
    with pytest.raises(ValueError, match="`w_a` and `w_b`"):
        singular_overlap_objective(torch.ones(3, 2), torch.ones(2, 3))


def test_merge_partner_rejects_bad_arguments():
    with pytest.raises(ValueError, match="`t`"):
        add_merge_partner(mlp(), mlp(seed=1), t=-0.1)
    with pytest.raises(TypeError, match="`partner`"):
        add_merge_partner(mlp(), "b")
    with pytest.raises(ValueError, match="`partner`"):
        add_merge_partner(mlp(), mlp(hidden=(8, 5)))
    with pytest.raises(ValueError, match="`parameters`.*no parameter"):
        add_merge_partner(mlp(), mlp(seed=1), parameters=["nope.weight"])
    tied = tiny_llama(seed=0, tie_word_embeddings=True)
    with pytest.raises(ValueError, match="`parameters`.*tied"):
        add_merge_partner(tied, tiny_llama(seed=1, tie_word_embeddings=True), parameters=["model.embed_tokens.weight"])


# ------------------------------------------------------------------------------------------ training and recipe


def _recipe():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "recipes" / "weight_matching.py"
    spec = importlib.util.spec_from_file_location("recipe_weight_matching", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_runs_and_saves_the_merged_model(tmp_path):
    from hf_methods.common.mlp import MLPForImageClassification

    out = tmp_path / "out"
    metrics = _recipe().main(
        ["--output_dir", str(out), "--max_steps", "4", "--hidden_sizes", "16,12", "--num_points", "3", "--top_k", "2"]
    )
    assert metrics["eval/barrier_after"] <= metrics["eval/barrier_before"] + 1e-6
    assert metrics["eval/function_max_abs_diff"] < 1e-5
    reloaded = MLPForImageClassification.from_pretrained(out)
    assert reloaded.config.hidden_sizes == [16, 12]
    assert (out / "README.md").is_file() and (out / "metrics.json").is_file()


@pytest.mark.parametrize(
    "name,value",
    [
        ("hidden_sizes", "8,x"),
        ("hidden_act", "swish"),
        ("partner_seed", 0),
        ("num_points", 1),
        ("merge_t", 1.5),
        ("max_iter", 0),
        ("top_k", 1000),
    ],
)
def test_recipe_arguments_reject_bad_values(name, value):
    from hf_methods.adapters.weight_matching.training import WeightMatchingArguments

    with pytest.raises(ValueError, match=f"--{name}"):
        WeightMatchingArguments(output_dir="x", **{name: value}).validate()


@pytest.mark.slow
def test_record_usage_runs_as_written(tmp_path, monkeypatch):
    from transformers import LlamaForCausalLM

    from hf_methods.zoo import get_method

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(get_method("weight_matching").usage, namespace)
    reloaded = LlamaForCausalLM.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        ids = namespace["ids"]
        torch.testing.assert_close(reloaded(input_ids=ids).logits, namespace["merged"](input_ids=ids).logits)
