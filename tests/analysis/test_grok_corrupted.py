"""Tests of P48 `grok_corrupted`: the Fourier IPR against the official formula in numpy, its limits, the neuron IPR of
any pair of layers, pruning (a new model, the original untouched, the pruned network equal to the narrower one), the
label corruption, the accuracies, the pruning curve, the Trainer callback, the recipe, and the errors."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.analysis.grok_corrupted import (
    CorruptedModularSplit,
    FourierIPR,
    GrokCorruptedArguments,
    IPRCallback,
    corrupt_labels,
    corrupted_modular_arithmetic,
    fourier_ipr,
    inverse_participation_ratio,
    prune_low_ipr_neurons,
    prune_neurons,
    pruning_curve,
    split_accuracies,
    train_corrupted,
)
from hf_methods.training.grokking_tickets import modular_arithmetic
from hf_methods.training.grokking_tickets.training import grokking_mlp

P, N = 11, 24


def tiny(seed: int = 0):
    return grokking_mlp(seed, modulus=P, hidden_size=N)


def numpy_ipr(vector: np.ndarray, r: float) -> float:
    """The official `calculate_ipr(np.absolute(np.fft.rfft(v)), r)`, one vector, written out term by term."""
    spectrum = np.abs(np.fft.rfft(vector))
    norm = np.sqrt(sum(float(s) ** 2 for s in spectrum))
    return sum((float(s) / norm) ** (2 * r) for s in spectrum)


# -------------------------------------------------------------------------------------------------------------- IPR


@pytest.mark.parametrize("r", [2.0, 1.5])
def test_ipr_matches_the_official_formula(r):
    vectors = torch.randn(5, 23, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = [numpy_ipr(v, r) for v in vectors.numpy()]
    np.testing.assert_allclose(inverse_participation_ratio(vectors, r).numpy(), expected, rtol=1e-10)


def test_ipr_limits_single_frequency_flat_spectrum_and_zero():
    n = torch.arange(97, dtype=torch.float64)
    pure = torch.stack([torch.cos(2 * torch.pi * 5 * n / 97 + 0.3), 2.0 * torch.sin(2 * torch.pi * 17 * n / 97)])
    delta = torch.zeros(1, 97, dtype=torch.float64)
    delta[0, 0] = 1.0  # |rfft| is 1 at all 49 frequencies
    torch.testing.assert_close(inverse_participation_ratio(pure), torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(inverse_participation_ratio(delta), torch.tensor([1 / 49], dtype=torch.float64))
    torch.testing.assert_close(
        inverse_participation_ratio(delta, r=3.0), torch.tensor([1 / 49**2], dtype=torch.float64)
    )
    assert inverse_participation_ratio(torch.zeros(2, 10)).tolist() == [0.0, 0.0]


def test_fourier_ipr_averages_u_v_and_w_as_the_paper():
    model = tiny()
    result = fourier_ipr(model)
    w1, w2 = model.fc_in.weight.detach().double().numpy(), model.fc_out.weight.detach().double().numpy()
    for k in range(N):
        u, v, w = numpy_ipr(w1[k, :P], 2), numpy_ipr(w1[k, P:], 2), numpy_ipr(w2[:, k], 2)
        assert result.ipr[k] == pytest.approx((u + v + w) / 3, rel=1e-9)
        assert result.ipr_in[0][k] == pytest.approx(u, rel=1e-9) and result.ipr_out[k] == pytest.approx(w, rel=1e-9)
    assert result.mean == pytest.approx(float(np.mean(result.ipr)))
    assert result.fraction_periodic == pytest.approx(float(np.mean(np.array(result.ipr) >= 0.5)))


def test_a_periodic_neuron_has_ipr_one_and_its_frequency():
    model = tiny()
    n = torch.arange(P, dtype=torch.float32)
    with torch.no_grad():
        model.fc_in.weight[3] = torch.cat(
            [torch.cos(2 * torch.pi * 4 * n / P), torch.cos(2 * torch.pi * 4 * n / P + 1)]
        )
        model.fc_out.weight[:, 3] = torch.sin(2 * torch.pi * 4 * n / P)
    result = fourier_ipr(model)
    assert result.ipr[3] == pytest.approx(1.0, abs=1e-6) and result.dominant_frequency[3] == 4
    assert result.highest(1) == [3] and 3 not in result.lowest(N - 1)


def test_fourier_ipr_on_any_mlp_by_layer_name_or_module():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 6))
    by_name = fourier_ipr(net, "0", "2", input_blocks=1)
    by_module = fourier_ipr(net, net[0], net[2], input_blocks=1)
    assert by_name.ipr == by_module.ipr and len(by_name.ipr_in) == 1
    inputs_only = fourier_ipr(net, "0", None, input_blocks=4)
    w = net[0].weight.detach().double().numpy()
    expected = [np.mean([numpy_ipr(w[k, 4 * b : 4 * b + 4], 2) for b in range(4)]) for k in range(8)]
    np.testing.assert_allclose(inputs_only.ipr, expected, rtol=1e-9)
    assert inputs_only.ipr_out is None


# ---------------------------------------------------------------------------------------------------------- pruning


def test_pruning_returns_a_new_model_and_leaves_the_original_untouched():
    model = tiny()
    before = copy.deepcopy(model.state_dict())
    ipr = fourier_ipr(model)
    pruned = prune_low_ipr_neurons(model, 10)
    assert pruned is not model
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    gone = ipr.lowest(10)
    kept = [k for k in range(N) if k not in gone]
    assert (pruned.fc_in.weight[gone] == 0).all() and (pruned.fc_out.weight[:, gone] == 0).all()
    assert torch.equal(pruned.fc_in.weight[kept], model.fc_in.weight[kept])
    assert sorted(ipr.ipr)[:10] == sorted(ipr.ipr[k] for k in gone)


def test_pruned_network_equals_the_network_without_those_neurons():
    model = tiny()
    pruned = prune_low_ipr_neurons(model, 7)
    kept = fourier_ipr(model).highest(N - 7)
    x = modular_arithmetic(P, 0.5, seed=0).x_test
    w1, w2 = model.fc_in.weight.detach()[kept], model.fc_out.weight.detach()[:, kept]
    one_hot = torch.cat([nn.functional.one_hot(x[:, 0], P), nn.functional.one_hot(x[:, 1], P)], dim=1).float()
    expected = (one_hot @ w1.T).square() @ w2.T  # f = W₂ (W₁ [e_a; e_b])² over the kept neurons only
    torch.testing.assert_close(pruned(input_ids=x).logits, expected, atol=1e-5, rtol=1e-5)  # fewer summands


def test_highest_prunes_the_most_periodic_and_zero_prunes_nothing():
    model = tiny()
    ipr = fourier_ipr(model)
    top = ipr.highest(5)
    pruned = prune_low_ipr_neurons(model, 5, ipr=ipr, highest=True)
    assert (pruned.fc_in.weight[top] == 0).all() and (pruned.fc_in.weight.abs().sum(1) > 0).sum() == N - 5
    assert torch.equal(prune_low_ipr_neurons(model, 0).fc_in.weight, model.fc_in.weight)


def test_prune_neurons_zeroes_the_bias_of_the_input_layer():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    pruned = prune_neurons(net, [1, 4], net[0], net[2])
    assert (pruned[0].bias[[1, 4]] == 0).all() and (pruned[2].weight[:, [1, 4]] == 0).all()
    assert (net[0].bias[[1, 4]] != 0).all()  # the original keeps its neurons


# ------------------------------------------------------------------------------------------------------------- data


def test_corruption_replaces_a_seeded_fraction_of_training_labels_only():
    split = corrupted_modular_arithmetic(P, 0.5, 0.35, seed=3)
    n_train = len(split.y_train)
    assert split.num_corrupted == int(0.35 * n_train)
    clean = ~split.corrupted
    assert torch.equal(split.y_train[clean], split.y_train_clean[clean])
    assert torch.equal(split.y_train_clean, (split.x_train[:, 0] + split.x_train[:, 1]) % P)
    assert torch.equal(split.y_test, (split.x_test[:, 0] + split.x_test[:, 1]) % P)
    assert int(split.y_train.min()) >= 0 and int(split.y_train.max()) < P
    again = corrupted_modular_arithmetic(P, 0.5, 0.35, seed=3)
    assert torch.equal(again.y_train, split.y_train) and torch.equal(again.corrupted, split.corrupted)
    assert corrupt_labels(modular_arithmetic(P, 0.5), 0.0).num_corrupted == 0


def test_split_accuracies_against_a_plain_loop():
    split = corrupted_modular_arithmetic(P, 0.5, 0.4, seed=0)
    model = tiny()
    result = split_accuracies(model, split)
    with torch.no_grad():
        predicted = model(input_ids=split.x_train).logits.argmax(-1).tolist()
        predicted_test = model(input_ids=split.x_test).logits.argmax(-1).tolist()
    labels, flags = split.y_train.tolist(), split.corrupted.tolist()
    hits = [p == y for p, y in zip(predicted, labels)]
    assert result.train == pytest.approx(sum(hits) / len(hits))
    assert result.corrupted == pytest.approx(sum(h for h, f in zip(hits, flags) if f) / sum(flags))
    assert result.clean == pytest.approx(sum(h for h, f in zip(hits, flags) if not f) / (len(flags) - sum(flags)))
    assert result.test == pytest.approx(np.mean([p == y for p, y in zip(predicted_test, split.y_test.tolist())]))


def test_pruning_curve_starts_at_the_model_and_leaves_it_untouched():
    split = corrupted_modular_arithmetic(P, 0.5, 0.35, seed=0)
    model = tiny()
    before = model.fc_in.weight.clone()
    curve = pruning_curve(model, split, [0, 6, 12])
    start = split_accuracies(model, split)
    assert curve.counts == [0, 6, 12] and curve.test[0] == start.test and curve.corrupted[0] == start.corrupted
    assert curve.test[2] == split_accuracies(prune_low_ipr_neurons(model, 12), split).test
    assert torch.equal(model.fc_in.weight, before)


# --------------------------------------------------------------------------------------------------- training, callback


def test_train_corrupted_traces_ipr_and_accuracies(tmp_path):
    split = corrupted_modular_arithmetic(P, 0.6, 0.3, seed=0)
    trace = train_corrupted(tiny(), split, max_steps=12, eval_every=5)
    assert trace.steps == [0, 5, 10, 12] and len(trace.mean_ipr) == 4 and trace.noise == 0.3
    assert set(trace.accuracy) == {"train", "corrupted", "clean", "test"}
    assert all(sum(h) == N for h in trace.histograms)
    trace.save_plot(tmp_path / "trace.png")
    assert (tmp_path / "trace.png").read_bytes()[:4] == b"\x89PNG"


def test_callback_tracks_ipr_in_a_trainer(tmp_path):
    from transformers import Trainer, TrainingArguments

    from hf_methods.common.batches import TensorDictDataset, collate_batch

    split = corrupted_modular_arithmetic(P, 0.5, 0.35, seed=0)
    train = TensorDictDataset(input_ids=split.x_train, labels=split.y_train)
    args = TrainingArguments(
        str(tmp_path),
        max_steps=4,
        per_device_train_batch_size=len(train),
        learning_rate=1e-2,
        report_to=[],
        save_strategy="no",
        remove_unused_columns=False,
        use_cpu=True,
    )
    model = tiny()
    callback = IPRCallback(split, every=2)
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=collate_batch, callbacks=[callback])
    trainer.train()
    assert callback.trace.steps == [0, 2, 4]
    assert callback.trace.mean_ipr[-1] == pytest.approx(fourier_ipr(model).mean)
    logged = [entry for entry in trainer.state.log_history if "ipr/mean" in entry]
    assert [entry["step"] for entry in logged] == [0, 2, 4] and "accuracy/corrupted" in logged[-1]


def test_recipe_runs_a_few_steps(tmp_path):
    import json

    from recipes.grok_corrupted import main

    out = tmp_path / "run"
    common = ["--modulus", "7", "--hidden_size", "16", "--prune", "4", "--log_every", "2"]
    metrics = main(["--output_dir", out, "--max_steps", "4", "--checkpoint_every", "2", *common])
    assert 0.0 <= metrics["eval/pruned/corrupted_accuracy"] <= 1.0
    analysis = json.loads((out / "analysis.json").read_text())
    assert len(analysis["ipr"]["ipr"]) == 16 and analysis["pruned_neurons"] == 4
    assert (out / "ipr.png").is_file() and (out / "pruning.png").is_file() and (out / "training.png").is_file()
    resumed = main(["--output_dir", out, "--max_steps", "6", "--resume_from_checkpoint", "latest", *common])
    assert set(resumed) == set(metrics)


def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("grok_corrupted").usage, namespace)
    assert isinstance(namespace["ipr"], FourierIPR) and isinstance(namespace["split"], CorruptedModularSplit)
    assert 0.0 <= namespace["after"].corrupted <= 1.0


# ----------------------------------------------------------------------------------------------------------- errors


def test_ipr_rejects_bad_vectors_and_exponent():
    with pytest.raises(TypeError, match="vectors must be a torch.Tensor"):
        inverse_participation_ratio([[1.0, 2.0]])
    with pytest.raises(ValueError, match="vectors must be 2-D"):
        inverse_participation_ratio(torch.ones(5))
    with pytest.raises(TypeError, match="vectors must be a real floating-point"):
        inverse_participation_ratio(torch.ones(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="r must be"):
        inverse_participation_ratio(torch.ones(2, 5), r=0.5)


def test_fourier_ipr_rejects_bad_layers():
    model = tiny()
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        fourier_ipr("model")
    with pytest.raises(ValueError, match="input_layer 'fc1' is not a submodule"):
        fourier_ipr(model, "fc1")
    with pytest.raises(ValueError, match="input_layer must have a 2-D weight"):
        fourier_ipr(nn.Sequential(nn.ReLU()), "0", None)
    with pytest.raises(TypeError, match="output_layer must be a submodule name"):
        fourier_ipr(model, "fc_in", 3)
    with pytest.raises(ValueError, match="input_blocks=3 must split"):
        fourier_ipr(model, input_blocks=3)
    with pytest.raises(ValueError, match="must be the two sides of one hidden layer"):
        fourier_ipr(model, "fc_in", "fc_in")
    with pytest.raises(ValueError, match="periodic_threshold"):
        fourier_ipr(model, periodic_threshold=1.5)


def test_pruning_rejects_bad_counts_and_neurons():
    model = tiny()
    with pytest.raises(ValueError, match=r"n must be in \[0, 24\]"):
        prune_low_ipr_neurons(model, N + 1)
    with pytest.raises(TypeError, match="n must be an int"):
        prune_low_ipr_neurons(model, 2.5)
    with pytest.raises(ValueError, match="ipr has 24 neurons but"):
        prune_low_ipr_neurons(grokking_mlp(0, modulus=P, hidden_size=N + 1), 2, ipr=fourier_ipr(model))
    with pytest.raises(TypeError, match="ipr must be a FourierIPR"):
        prune_low_ipr_neurons(model, 2, ipr=[0.1] * N)
    with pytest.raises(ValueError, match=r"neurons must lie in \[0, 24\)"):
        prune_neurons(model, [0, N])
    with pytest.raises(TypeError, match="neurons must be a sequence"):
        prune_neurons(model, 3)
    with pytest.raises(ValueError, match="output_layer is not a submodule"):
        prune_neurons(model, [0], "fc_in", nn.Linear(N, P))


def test_data_and_accuracy_reject_bad_inputs():
    with pytest.raises(ValueError, match="noise must be"):
        corrupted_modular_arithmetic(P, 0.5, 1.0)
    with pytest.raises(TypeError, match="split must be a ModularArithmeticSplit"):
        corrupt_labels({"x": 1}, 0.1)
    with pytest.raises(TypeError, match="split must be a CorruptedModularSplit"):
        split_accuracies(tiny(), modular_arithmetic(P, 0.5))
    with pytest.raises(ValueError, match="counts must name at least one"):
        pruning_curve(tiny(), corrupted_modular_arithmetic(P, 0.5, 0.2), [])
    with pytest.raises(ValueError, match="every must be a positive integer"):
        IPRCallback(every=0)
    with pytest.raises(TypeError, match="split must be a CorruptedModularSplit or None"):
        IPRCallback(modular_arithmetic(P, 0.5))
    with pytest.raises(ValueError, match="max_steps must be a positive integer"):
        train_corrupted(tiny(), corrupted_modular_arithmetic(P, 0.5, 0.2), max_steps=0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"noise": 1.0}, "--noise"),
        ({"prune": 600}, "--prune"),
        ({"train_fraction": 0.0}, "--train_fraction"),
        ({"weight_decay": -1.0}, "--weight_decay"),
        ({"adam_beta1": 1.0}, "--adam_beta1"),
        ({"ipr_exponent": 0.5}, "--ipr_exponent"),
        ({"operation": "divide"}, "--operation"),
        ({"modulus": 1}, "--modulus"),
    ],
)
def test_bad_recipe_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GrokCorruptedArguments(output_dir="x", **kwargs).validate()
