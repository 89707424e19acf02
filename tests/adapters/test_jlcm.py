"""P55 `jlcm`: bit packing against a bit-string loop, the mapping gradient against autograd and a hand-written loop,
k-means codebooks against Lloyd's fixed point, neuron re-ordering (output-identical), the joint search, the files,
the baked model reloading with plain transformers, and the errors."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.adapters.jlcm import (
    CodebookLinear,
    JLCMQuantizer,
    MappingGradient,
    NeuronPair,
    codebook_bits_per_weight,
    codebook_layers,
    codebook_memory_footprint_bytes,
    dequantize_codebooks,
    disable_codebooks,
    find_neuron_pairs,
    load_codebook_model,
    mapping_weight,
    neuron_groups,
    permute_neurons,
    reorder_neurons,
    save_codebook_model,
)


def small_mlp(seed=0, hidden=(12, 10)):
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    return MLPForImageClassification(
        MLPConfig(input_size=8, hidden_sizes=list(hidden), num_labels=10, hidden_act="relu")
    ).eval()


def pixels(n=32, seed=0):
    return torch.rand(n, 8, generator=torch.Generator().manual_seed(seed))


def logits(model, x):
    with torch.no_grad():
        return model(pixel_values=x).logits


# ------------------------------------------------------------------------------------------------- bit packing


# ------------------------------------------------------------------------------------------- mapping gradient


def test_mapping_weight_grows_for_ste_and_decreases_for_proximal():
    u = torch.tensor([-3.0, -2.0, -1.0, -0.25, 0.0, 0.25, 1.0, 2.0, 3.0])
    torch.testing.assert_close(mapping_weight(u, "ste"), u)
    prox = mapping_weight(u, "proximal")
    torch.testing.assert_close(prox, torch.tensor([-1 / 3, -0.5, -1.0, -2.0, 0.0, 2.0, 1.0, 0.5, 1 / 3]))
    assert (prox[u > 0][1:] <= prox[u > 0][:-1]).all()  # decreasing with the distance on each side


def _scores_and_rows(seed=0, out=3, inp=4, k=4):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(out, inp, k, generator=g)
    rows = torch.randn(out, k, generator=g).sort(dim=1).values
    return scores, rows


@pytest.mark.parametrize("mode", ["ste", "proximal"])
def test_mapping_gradient_matches_a_python_loop(mode):
    scores, rows = _scores_and_rows()
    scores.requires_grad_(True)
    rows.requires_grad_(True)
    upstream = torch.randn(3, 4, generator=torch.Generator().manual_seed(9))
    weight = MappingGradient.apply(scores, rows, mode)
    (weight * upstream).sum().backward()
    index = scores.argmax(-1)
    rms = math.sqrt(sum(v * v for v in upstream.reshape(-1).tolist()) / upstream.numel())
    for r in range(3):
        c = rows[r].tolist()
        gap = (max(c) - min(c)) / 3
        for i in range(4):
            a = int(index[r, i])
            assert weight[r, i].item() == c[a]
            for j in range(4):
                u = (c[j] - c[a]) / gap
                psi = u if mode == "ste" else (0.0 if u == 0 else math.copysign(1.0, u) / max(abs(u), 0.5))
                assert scores.grad[r, i, j].item() == pytest.approx(upstream[r, i].item() / rms * psi, rel=1e-5)
        for j in range(4):
            expected = sum(upstream[r, i].item() for i in range(4) if int(index[r, i]) == j)
            assert rows.grad[r, j].item() == pytest.approx(expected, abs=1e-6)


def test_ste_mode_is_the_one_hot_gradient_relative_to_the_current_codeword():
    """ψ = u is the plain gradient ∂L/∂P_j = g·c_j of a one-hot mapping P (autograd), shifted by g·c_I and scaled."""
    scores, rows = _scores_and_rows(seed=3)
    upstream = torch.randn(3, 4, generator=torch.Generator().manual_seed(4))
    one_hot = torch.nn.functional.one_hot(scores.argmax(-1), 4).float().requires_grad_(True)
    ((one_hot * rows[:, None, :]).sum(-1) * upstream).sum().backward()
    current = rows.gather(1, scores.argmax(-1))
    gap = (rows.max(1).values - rows.min(1).values) / 3
    rms = upstream.pow(2).mean().sqrt()
    expected = (one_hot.grad - (upstream * current)[..., None]) / (gap[:, None, None] * rms)
    scores.requires_grad_(True)
    (MappingGradient.apply(scores, rows, "ste") * upstream).sum().backward()
    torch.testing.assert_close(scores.grad, expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------- the layer


def test_kmeans_codebook_is_a_lloyd_fixed_point_and_mapping_is_nearest():
    linear = nn.Linear(16, 6)
    layer = CodebookLinear.from_linear(linear, bits=2, group_sizes=[2, 4], init="kmeans")
    w = linear.weight.detach()
    start = 0
    for g, size in enumerate([2, 4]):
        block, codes = w[start : start + size], layer.codebook[g].detach()
        idx = layer.indices[start : start + size].long()
        for j in range(4):  # each codeword is the mean of the weights mapped to it
            members = block[idx == j]
            if len(members):
                assert codes[j].item() == pytest.approx(members.mean().item(), abs=1e-5)
        for value, i in zip(block.reshape(-1).tolist(), idx.reshape(-1).tolist()):
            assert abs(value - codes[i].item()) <= min(abs(value - c) for c in codes.tolist()) + 1e-7
        start += size


def test_uniform_init_is_round_to_nearest():
    linear = nn.Linear(10, 4)
    layer = CodebookLinear.from_linear(linear, bits=2, group_sizes=[4], init="uniform")
    w = linear.weight.detach().double()
    levels = np.linspace(float(w.min()), float(w.max()), 4)
    torch.testing.assert_close(layer.codebook[0].double(), torch.tensor(levels), rtol=0, atol=1e-7)
    for value, i in zip(w.reshape(-1).tolist(), layer.indices.reshape(-1).tolist()):
        assert i == int(np.argmin(np.abs(levels - value)))


def test_layer_weight_is_a_grouped_lookup_and_canonicalize_keeps_it():
    layer = CodebookLinear(3, 5, bits=2, group_sizes=[2, 3])
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        layer.codebook.copy_(torch.randn(2, 4, generator=g))
        layer.indices.copy_(torch.randint(0, 4, (5, 3), generator=g).to(torch.uint8))
    expected = [
        [layer.codebook[0 if r < 2 else 1, int(layer.indices[r, i])].item() for i in range(3)] for r in range(5)
    ]
    torch.testing.assert_close(layer.weight.detach(), torch.tensor(expected))
    rounded = torch.tensor(expected).half().float()
    layer.canonicalize()
    assert (layer.codebook[:, 1:] >= layer.codebook[:, :-1]).all()
    torch.testing.assert_close(layer.weight.detach(), rounded, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------- re-ordering


def test_find_neuron_pairs_on_mlp_and_gated_llama():
    pairs = find_neuron_pairs(small_mlp())
    assert pairs == [
        NeuronPair(("mlp.layers.0",), ("mlp.layers.2",)),
        NeuronPair(("mlp.layers.2",), ("classifier",)),
    ]
    from hf_methods.common.tiny import tiny_llama

    llama_pairs = find_neuron_pairs(tiny_llama(seed=0))
    assert (
        NeuronPair(("model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj"), ("model.layers.0.mlp.down_proj",))
        in llama_pairs
    )
    assert len(llama_pairs) == 2


def test_reordering_is_output_identical_and_groups_are_contiguous():
    model = small_mlp().double()
    x = pixels().double()
    before = logits(model, x)
    reference = copy.deepcopy(model)
    groups, changed = reorder_neurons(model, 3, seed=0)
    torch.testing.assert_close(logits(model, x), before, rtol=0, atol=1e-12)  # float64: exact up to round-off
    assert set(groups) == {"mlp.layers.0", "mlp.layers.2"} and sum(groups["mlp.layers.0"]) == 12
    assert "classifier.weight" in changed and "classifier.bias" not in changed
    # the rows are a permutation of the original rows
    rows = {tuple(r) for r in reference.mlp.layers[0].weight.tolist()}
    assert {tuple(r) for r in model.mlp.layers[0].weight.tolist()} == rows


def test_reordering_a_gated_mlp_is_output_identical():
    from hf_methods.common.tiny import tiny_llama

    model = tiny_llama(seed=0).double().eval()
    ids = torch.randint(3, 259, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(input_ids=ids).logits
        reorder_neurons(model, 4, seed=0)
        torch.testing.assert_close(model(input_ids=ids).logits, before, rtol=0, atol=1e-10)


def test_neuron_groups_clusters_by_weight_spread():
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([1.0, 10.0, 1.0, 10.0, 1.0, 10.0])[:, None]
    weight = torch.randn(6, 50, generator=g) * scale
    perm, sizes = neuron_groups([weight], 2, seed=0)
    assert sizes == [3, 3]
    assert perm.tolist() == [0, 2, 4, 1, 3, 5]  # small-spread rows first, original order within a group


# ------------------------------------------------------------------------------------------------- quantizer


def test_quantize_search_lowers_the_objective_and_keeps_k_values_per_group():
    model = small_mlp()
    calib = {"pixel_values": pixels(64)}
    quantizer = JLCMQuantizer(bits=2, n_groups=2, steps=30, mapping_lr=0.01, codebook_lr=1e-2, seed=0)
    quantized = quantizer.quantize(copy.deepcopy(model), calib)
    layers = codebook_layers(quantized)
    assert set(layers) == {"mlp.layers.0", "mlp.layers.2", "classifier"}
    assert quantizer.reconstruction_error["final"] < quantizer.reconstruction_error["initial"]
    assert len(quantizer.history) == 30 and set(quantizer.mapping_stats) == set(layers)
    for layer in layers.values():
        assert layer.scores is None and layer.original_weight is None
        start = 0
        for size in layer.group_sizes.tolist():
            assert layer.weight[start : start + size].unique().numel() <= 4
            start += size


def test_quantize_exclude_and_disable_with_keep_original():
    model = small_mlp()
    x = pixels()
    quantized = JLCMQuantizer(bits=1, n_groups=2, steps=0, exclude=("classifier",), keep_original=True).quantize(
        copy.deepcopy(model), {"pixel_values": x}
    )
    assert isinstance(quantized.classifier, nn.Linear)
    with disable_codebooks(quantized):
        torch.testing.assert_close(logits(quantized, x), logits(model, x), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(logits(quantized, x), logits(model, x), atol=1e-3)


# ------------------------------------------------------------------------------------------------- files


def test_save_load_round_trip_and_measured_bits(tmp_path):
    model = small_mlp(hidden=(24, 16))
    x = pixels()
    quantized = JLCMQuantizer(bits=3, n_groups=2, steps=5).quantize(copy.deepcopy(model), {"pixel_values": x})
    info = save_codebook_model(quantized, tmp_path)
    n_weights = 8 * 24 + 24 * 16 + 16 * 10
    assert info["n_weights"] == n_weights
    size = (tmp_path / "jlcm_quantized.safetensors").stat().st_size
    assert info["bits_per_weight"] == pytest.approx(8 * size / n_weights)
    assert codebook_bits_per_weight(tmp_path) == pytest.approx(info["bits_per_weight"])
    packed = sum(math.ceil(n * 3 / 8) for n in (8 * 24, 24 * 16, 16 * 10))
    assert size >= packed + 3 * 2 * 8 * 2  # the indices plus the float16 codebooks (plus header)
    reloaded = load_codebook_model(small_mlp(seed=1, hidden=(24, 16)), tmp_path)  # other init: all comes from files
    torch.testing.assert_close(logits(reloaded, x), logits(quantized, x), rtol=0, atol=0)
    # footprint: packed indices + float16 codebooks + int32 group sizes + float32 biases
    biases = 4 * (24 + 16 + 10)
    assert codebook_memory_footprint_bytes(quantized) == packed + 3 * (2 * 8 * 2 + 4 * 2) + biases


@pytest.mark.parametrize("kind", ["mlp", "llama"])
def test_baked_model_reloads_with_plain_transformers(tmp_path, kind):
    if kind == "mlp":
        from hf_methods.common.mlp import MLPForImageClassification as cls

        model, inputs = small_mlp(), {"pixel_values": pixels()}
        quantizer = JLCMQuantizer(bits=2, n_groups=2, steps=3)
    else:
        from transformers import LlamaForCausalLM as cls

        from hf_methods.common.tiny import tiny_llama

        model = tiny_llama(seed=0).eval()
        inputs = {"input_ids": torch.randint(3, 259, (2, 8), generator=torch.Generator().manual_seed(0))}
        quantizer = JLCMQuantizer(bits=2, n_groups=2, steps=3, exclude=("lm_head",))
    quantized = quantizer.quantize(model, inputs)
    with torch.no_grad():
        expected = quantized(**inputs).logits
    baked = dequantize_codebooks(quantized)
    assert not codebook_layers(baked)
    baked.save_pretrained(tmp_path)
    reloaded = cls.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, expected, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bits": 0}, "bits"),
        ({"bits": 9}, "bits"),
        ({"n_groups": 0}, "n_groups"),
        ({"steps": -1}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"codebook_lr": 0.0}, "codebook_lr"),
        ({"mapping_lr": -1.0}, "mapping_lr"),
        ({"mapping_update": "sign"}, "mapping_update"),
        ({"init": "random"}, "init"),
    ],
)
def test_quantizer_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        JLCMQuantizer(**kwargs)


def test_quantizer_rejects_bad_targets_model_and_data():
    with pytest.raises(TypeError, match="target_modules"):
        JLCMQuantizer(target_modules="q_proj")
    with pytest.raises(TypeError, match="exclude"):
        JLCMQuantizer(exclude="lm_head")
    with pytest.raises(ValueError, match="target_modules"):
        JLCMQuantizer(target_modules=("nothing",)).quantize(small_mlp(), pixels())
    with pytest.raises(TypeError, match="model"):
        JLCMQuantizer().quantize("model", pixels())
    with pytest.raises(TypeError, match="calib_data"):
        JLCMQuantizer().quantize(small_mlp(), 3)
    with pytest.raises(ValueError, match="calib_data"):
        JLCMQuantizer().quantize(small_mlp(), [])


def test_wrong_neuron_pair_is_caught_by_the_output_check():
    from hf_methods.common.tiny import tiny_llama

    model = tiny_llama(seed=0)
    ids = {"input_ids": torch.randint(3, 259, (2, 8), generator=torch.Generator().manual_seed(0))}
    pair = ("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj")  # q does not feed k
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="changed the model's output"):
        JLCMQuantizer(steps=0, neuron_pairs=[pair], target_modules=("q_proj",)).quantize(model, ids)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the weights were put back


def test_reorder_and_layer_errors():
    model = small_mlp()
    with pytest.raises(ValueError, match="perm"):
        permute_neurons(model, (("mlp.layers.0",), ("mlp.layers.2",)), torch.zeros(12, dtype=torch.long))
    with pytest.raises(ValueError, match="not a module"):
        permute_neurons(model, ("mlp.nope", "classifier"), torch.arange(10))
    with pytest.raises(ValueError, match="out_features"):
        permute_neurons(model, ("mlp.layers.0", "classifier"), torch.arange(12))
    with pytest.raises(TypeError, match="neuron pair"):
        reorder_neurons(model, 2, pairs=["mlp.layers.0"])
    with pytest.raises(ValueError, match="n_groups"):
        neuron_groups([torch.randn(3, 4)], 4)
    with pytest.raises(ValueError, match="group_sizes"):
        CodebookLinear(4, 5, bits=2, group_sizes=[2, 2])
    with pytest.raises(TypeError, match="linear"):
        CodebookLinear.from_linear(nn.Conv1d(2, 2, 1), bits=2, group_sizes=[2])


def test_file_and_model_errors(tmp_path):
    with pytest.raises(ValueError, match="no CodebookLinear"):
        dequantize_codebooks(small_mlp())
    with pytest.raises(ValueError, match="keep_original"):
        quantized = JLCMQuantizer(steps=0, n_groups=1).quantize(small_mlp(), pixels())
        with disable_codebooks(quantized):
            pass
    with pytest.raises(FileNotFoundError, match="jlcm_quantized"):
        load_codebook_model(small_mlp(), tmp_path)
    layer = quantized.classifier
    with torch.no_grad():
        layer.codebook.add_(1e-4)  # no longer float16 values
    with pytest.raises(ValueError, match="canonicalize"):
        save_codebook_model(quantized, tmp_path / "out")


# ------------------------------------------------------------------------------------------------- recipe, usage


def test_recipe_runs_a_few_steps_and_saves_both_forms(tmp_path):
    import importlib.util
    from pathlib import Path

    from hf_methods.common.mlp import MLPForImageClassification

    path = Path(__file__).resolve().parents[2] / "recipes" / "jlcm.py"
    spec = importlib.util.spec_from_file_location("recipe_jlcm", path)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "out"
    args = ["--output_dir", str(out), "--max_steps", "5", "--hidden_size", "16", "--calib_size", "32"]
    metrics = recipe.main([*args, "--calib_steps", "3", "--n_groups", "2"])
    assert (out / "jlcm" / "jlcm_quantized.safetensors").is_file()
    # 1440 weights only: the safetensors header and codebooks weigh, but it stays well under float32's 32 bits
    assert metrics["eval/bits_per_weight"] == pytest.approx(codebook_bits_per_weight(out / "jlcm"))
    assert metrics["eval/bits_per_weight"] < 8
    reloaded = MLPForImageClassification.from_pretrained(out)
    quantized = load_codebook_model(MLPForImageClassification.from_pretrained(out), out / "jlcm")
    x = pixels(16, seed=2).repeat(1, 8)
    torch.testing.assert_close(logits(reloaded, x), logits(quantized, x), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="--bits"):
        recipe.main(["--output_dir", str(tmp_path / "bad"), "--bits", "0"])
    with pytest.raises(ValueError, match="--mapping_update"):
        recipe.main(["--output_dir", str(tmp_path / "bad"), "--mapping_update", "sign"])


@pytest.mark.slow
def test_record_usage_runs_as_written(tmp_path, monkeypatch):
    from hf_methods.zoo import get_method

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(get_method("jlcm").usage, namespace)
    assert 2 < namespace["info"]["bits_per_weight"] < 8  # tiny layers: the codebooks and header weigh
    assert (tmp_path / "baked" / "config.json").is_file()
