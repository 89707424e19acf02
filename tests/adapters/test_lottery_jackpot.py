"""Tests of lottery jackpots (P49): the swap rule, the straight-through gradient, the magnitude initialisation, frozen
weights, exact sparsity, the baked model's plain-transformers round trip, the Trainer, the recipe and bad inputs."""

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.adapters.lottery_jackpot import (
    JackpotMask,
    JackpotMaskConfig,
    JackpotSearchTrainer,
    apply_jackpot_masks,
    bake_jackpot,
    disable_jackpot_masks,
    jackpot_masks,
    jackpot_sparsity,
    jackpot_swap,
    jackpot_weights,
    load_jackpot_masks,
    save_jackpot_masks,
)
from hf_methods.adapters.lottery_jackpot.training import (
    JackpotArguments,
    jackpot_config,
    search_jackpot,
    search_step,
)


def small_mlp(seed=0):
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    return MLPForImageClassification(MLPConfig(input_size=12, hidden_sizes=[16, 16], num_labels=4)).eval()


def toy_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 12, generator=g)
    return x, (x[:, :4].argmax(1))


# ----------------------------------------------------------------------------------------------- references (numpy)


def swap_reference(mask, scores):
    """The short restriction written out: τ = k-th smallest score (k = #pruned); revive m=0 ∧ s>τ, drop m=1 ∧ s≤τ;
    swap only if both sets are non-empty and equally large."""
    mask, scores = mask.copy().ravel(), scores.ravel()
    k = int((~mask).sum())
    tau = np.sort(scores)[k - 1]
    revive = [i for i in range(mask.size) if not mask[i] and scores[i] > tau]
    drop = [i for i in range(mask.size) if mask[i] and scores[i] <= tau]
    if revive and len(revive) == len(drop):
        mask[revive] = True
        mask[drop] = False
    return mask


def magnitude_reference(w, sparsity):
    flat = np.abs(w).ravel()
    keep = int(round((1 - sparsity) * flat.size))
    order = np.argsort(-flat, kind="stable")
    out = np.zeros(flat.size, bool)
    out[order[:keep]] = True
    return out.reshape(w.shape)


# ------------------------------------------------------------------------------------------------------------ math


@pytest.mark.parametrize("seed", range(6))
def test_swap_matches_reference(seed):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(7, 9, generator=g) > 0.7
    p = JackpotMask(mask)
    with torch.no_grad():  # scores that move a few entries across τ, sometimes unevenly
        p.scores.add_(torch.randn(7, 9, generator=g) * 0.02)
    expected = swap_reference(mask.numpy(), p.scores.detach().numpy())
    p.swap()
    np.testing.assert_array_equal(p.mask.numpy().ravel(), expected)
    assert int(p.mask.sum()) == int(mask.sum())


def test_swap_frozen_when_sets_differ():
    # with distinct scores the two sets always have equal size; only ties at τ make them differ
    mask = torch.tensor([True, True, True, False, False])
    p = JackpotMask(mask)
    with torch.no_grad():  # τ = 2nd smallest = 0.3: revive {4} (1 entry), drop {0, 1} (2 entries) → no swap
        p.scores.copy_(torch.tensor([0.3, 0.3, 0.9, 0.3, 0.95]))
    assert p.swap() == 0
    assert torch.equal(p.mask, mask)
    with torch.no_grad():  # τ = 0.3: revive {4}, drop {1} → one swap
        p.scores.copy_(torch.tensor([0.8, 0.3, 0.9, 0.2, 0.95]))
    assert p.swap() == 1
    assert p.mask.tolist() == [True, False, True, False, True]


def test_initial_scores_and_straight_through_gradient():
    torch.manual_seed(0)
    layer = nn.Linear(6, 5)
    w = layer.weight.detach().clone()
    mask = torch.rand(5, 6) > 0.5
    torch.nn.utils.parametrize.register_parametrization(layer, "weight", JackpotMask(mask))
    p = layer.parametrizations.weight[0]
    assert torch.equal(p.scores.detach(), torch.where(mask, 1.0, 0.99))
    x = torch.randn(3, 6)
    torch.testing.assert_close(layer(x), x @ (w * mask).T + layer.bias)
    layer(x).pow(2).sum().backward()
    # reference: the gradient of the loss w.r.t. the masked weight, times W
    masked = (w * mask).requires_grad_()
    (x @ masked.T + layer.bias.detach()).pow(2).sum().backward()
    torch.testing.assert_close(p.scores.grad, masked.grad * w)


@pytest.mark.parametrize("layerwise", ["uniform", "l1"])
def test_initial_mask_is_magnitude_mask(layerwise):
    model = small_mlp()
    weights = {n: m.weight.detach().numpy().copy() for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    apply_jackpot_masks(model, JackpotMaskConfig(0.75, layerwise=layerwise))
    masks = jackpot_masks(model)
    if layerwise == "uniform":
        for name, w in weights.items():
            np.testing.assert_array_equal(masks[f"{name}.weight"].numpy(), magnitude_reference(w, 0.75))
    else:  # one global threshold over all layers
        flat = np.concatenate([np.abs(w).ravel() for w in weights.values()])
        tau = np.sort(flat)[::-1][int(round(0.25 * flat.size)) - 1]
        for name, w in weights.items():
            np.testing.assert_array_equal(masks[f"{name}.weight"].numpy(), np.abs(w) >= tau)
    assert jackpot_sparsity(model)["global"] == pytest.approx(0.75, abs=1e-3)


def test_layer_sparsity_and_exclude():
    model = apply_jackpot_masks(small_mlp(), jackpot_config(0.9, classifier_sparsity=0.5))
    stats = jackpot_sparsity(model)
    assert stats["classifier.weight"] == pytest.approx(0.5)
    assert stats["mlp.layers.0.weight"] == pytest.approx(0.9, abs=1e-2)
    dense_head = apply_jackpot_masks(small_mlp(), jackpot_config(0.9, classifier_sparsity=-1))
    assert "classifier.weight" not in jackpot_masks(dense_head)


def test_search_keeps_weights_and_sparsity_and_learns():
    model = small_mlp()
    x, y = toy_data()
    apply_jackpot_masks(model, JackpotMaskConfig(0.8, layerwise="uniform"))
    before_w, before_m = jackpot_weights(model), jackpot_masks(model)
    biases = {n: p.detach().clone() for n, p in model.named_parameters() if n.endswith("bias")}
    swaps = search_jackpot(model, x, y, epochs=5, lr=0.1, batch_size=16)
    after_m = jackpot_masks(model)
    for name, w in jackpot_weights(model).items():
        assert torch.equal(w, before_w[name])  # bit-identical
        assert int(after_m[name].sum()) == int(before_m[name].sum())  # exact sparsity
    for n, p in model.named_parameters():
        if n.endswith("bias"):
            assert torch.equal(p, biases[n])
    assert sum(swaps) > 0 and any(not torch.equal(after_m[n], before_m[n]) for n in after_m)


def test_search_step_only_moves_scores():
    model = apply_jackpot_masks(small_mlp(), JackpotMaskConfig(0.5))
    x, y = toy_data(16)
    scores = [p for n, p in model.named_parameters() if n.endswith(".scores")]
    before = [s.detach().clone() for s in scores]
    opt = torch.optim.SGD(scores, lr=0.1, weight_decay=5e-4)
    search_step(model, opt, x, y)
    assert any(not torch.equal(a, b) for a, b in zip(before, scores))
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        n for n, _ in model.named_parameters() if n.endswith(".scores")
    ]


# --------------------------------------------------------------------------------------------- saving and reloading


def test_baked_model_round_trips_with_plain_transformers(tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from hf_methods.common.tiny import tiny_llama

    model = apply_jackpot_masks(tiny_llama(seed=0), JackpotMaskConfig(0.7, exclude=("lm_head",)))
    x, _ = toy_data(8)
    ids = torch.randint(3, 259, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # move a few scores, then swap, so the mask is not just the magnitude one
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.01)
    jackpot_swap(model)
    masks = jackpot_masks(model)
    save_jackpot_masks(model, tmp_path / "masks")
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    bake_jackpot(model).save_pretrained(tmp_path / "baked")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "baked").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, expected, rtol=0, atol=0)
    state = load_file(str(tmp_path / "baked" / "model.safetensors"))
    kept = sum(int((state[n] != 0).sum()) for n in masks)
    assert kept == sum(int(m.sum()) for m in masks.values())  # the fraction kept, measured from the saved file
    fresh = load_jackpot_masks(tiny_llama(seed=0), tmp_path / "masks")
    with torch.no_grad():
        torch.testing.assert_close(fresh(input_ids=ids).logits, expected, rtol=0, atol=0)


def test_disable_gives_dense_output():
    dense = small_mlp()
    x, _ = toy_data(8)
    with torch.no_grad():
        expected = dense(pixel_values=x).logits
        model = apply_jackpot_masks(dense, JackpotMaskConfig(0.5))
        with disable_jackpot_masks(model):
            torch.testing.assert_close(model(pixel_values=x).logits, expected, rtol=0, atol=0)
        assert not torch.allclose(model(pixel_values=x).logits, expected)


# ------------------------------------------------------------------------------------------------------- Trainer


def test_trainer_swaps_after_each_step(tmp_path):
    from datasets import Dataset
    from transformers import TrainingArguments

    model = apply_jackpot_masks(small_mlp(), JackpotMaskConfig(0.8, layerwise="uniform"))
    before_w, before_m = jackpot_weights(model), jackpot_masks(model)
    x, y = toy_data(64)
    ds = Dataset.from_dict({"pixel_values": x.tolist(), "labels": y.tolist()}).with_format("torch")
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=6, per_device_train_batch_size=16, learning_rate=0.5,
        report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True, lr_scheduler_type="constant",
    )  # fmt: skip
    trainer = JackpotSearchTrainer(model=model, args=args, train_dataset=ds)
    trainer.train()
    assert len(trainer.swaps) == 6 and sum(trainer.swaps) > 0
    for name, w in jackpot_weights(model).items():
        assert torch.equal(w, before_w[name])
        assert int(jackpot_masks(model)[name].sum()) == int(before_m[name].sum())


# --------------------------------------------------------------------------------------------------------- recipe


def test_recipe_runs(tmp_path):
    from recipes.lottery_jackpot import main

    out = tmp_path / "out"
    metrics = main(["--output_dir", str(out), "--max_steps", "4", "--pretrain_epochs", "1", "--hidden_size", "32"])
    assert metrics["sparsity/kept_fraction"] < 0.1
    assert (out / "model.safetensors").is_file() and (out / "masks.safetensors").is_file()


# ---------------------------------------------------------------------------------------------------- bad inputs


def test_bad_sparsity_value():
    with pytest.raises(ValueError, match="sparsity"):
        JackpotMaskConfig(sparsity=1.0)


def test_bad_sparsity_type():
    with pytest.raises(TypeError, match="sparsity"):
        JackpotMaskConfig(sparsity="0.9")


def test_bad_layerwise():
    with pytest.raises(ValueError, match="layerwise"):
        JackpotMaskConfig(layerwise="l2")


def test_bad_exclude():
    with pytest.raises(TypeError, match="exclude"):
        JackpotMaskConfig(exclude="classifier")


def test_bad_layer_sparsity_value():
    with pytest.raises(ValueError, match="layer_sparsity"):
        JackpotMaskConfig(layer_sparsity={"classifier": 1.5})


def test_bad_layer_sparsity_type():
    with pytest.raises(TypeError, match="layer_sparsity"):
        JackpotMaskConfig(layer_sparsity=[("classifier", 0.5)])


def test_unknown_layer_sparsity_name():
    with pytest.raises(ValueError, match="layer_sparsity"):
        apply_jackpot_masks(small_mlp(), JackpotMaskConfig(layer_sparsity={"head": 0.5}))


def test_bad_model_and_config_types():
    with pytest.raises(TypeError, match="model"):
        apply_jackpot_masks("model", JackpotMaskConfig())
    with pytest.raises(TypeError, match="config"):
        apply_jackpot_masks(small_mlp(), {"sparsity": 0.9})


def test_masks_applied_twice():
    model = apply_jackpot_masks(small_mlp(), JackpotMaskConfig())
    with pytest.raises(ValueError, match="already"):
        apply_jackpot_masks(model, JackpotMaskConfig())


def test_no_masks():
    with pytest.raises(ValueError, match="no jackpot masks"):
        jackpot_swap(small_mlp())
    with pytest.raises(ValueError, match="no jackpot masks"):
        bake_jackpot(small_mlp())


def test_load_mask_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        load_jackpot_masks(small_mlp(), {"classifier.weight": torch.ones(3, 3, dtype=torch.bool)})


def test_trainer_needs_masks(tmp_path):
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    with pytest.raises(ValueError, match="apply_jackpot_masks"):
        JackpotSearchTrainer(model=small_mlp(), args=args)


def test_recipe_arguments():
    with pytest.raises(ValueError, match="--sparsity"):
        JackpotArguments(sparsity=1.2).validate()
    with pytest.raises(ValueError, match="--layerwise"):
        JackpotArguments(layerwise="x").validate()
    with pytest.raises(ValueError, match="--classifier_sparsity"):
        JackpotArguments(classifier_sparsity=2.0).validate()
