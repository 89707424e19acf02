"""P16 `tanglenas`: weight superposition against output superposition written as a plain loop, the α rules against
their closed forms, the supernet's derive / extract / save round trip, the Trainer's two optimisers, the recipe, and
one error per bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hf_methods.training.tanglenas import (
    EntangledConv2d,
    EntangledLinear,
    TangleNASConvConfig,
    TangleNASConvNet,
    TangleNASSearchLoss,
    TangleNASTrainer,
    architecture_weights,
    supernet_cross_entropy,
)
from hf_methods.training.tanglenas.entangled import kernel_mask, width_mask
from hf_methods.training.tanglenas.training import saved_activation_bytes

TINY = {"kernel_size_choices": [[1, 3], [3]], "channel_choices": [[2, 4], [3]], "hidden_choices": [4, 6]}


def _fill(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


# ------------------------------------------------------------------------------------------ references (plain loops)


def reference_conv_output_mixing(layer, x, alpha_kernel, alpha_width):
    """Σ_k Σ_c α_k α_c pad(conv(x; W[:c, :, centre k×k], b[:c], padding k//2)), every candidate on its own."""
    big_w, big_b = layer.weight.detach(), layer.bias.detach()
    size = big_w.shape[-1]
    total = torch.zeros(x.shape[0], layer.out_channels, x.shape[2], x.shape[3], dtype=x.dtype)
    for k, a_k in zip(layer.choices["kernel_size"], alpha_kernel):
        start = (size - k) // 2
        for c, a_c in zip(layer.choices["out_channels"], alpha_width):
            out = F.conv2d(x, big_w[:c, :, start : start + k, start : start + k], big_b[:c], padding=k // 2)
            total[:, :c] += float(a_k) * float(a_c) * out
    return total


def reference_linear_output_mixing(layer, x, alpha):
    total = torch.zeros(x.shape[0], layer.out_features, dtype=x.dtype)
    for c, a in zip(layer.choices["out_features"], alpha):
        total[:, :c] += float(a) * (x @ layer.weight.detach()[:c].T + layer.bias.detach()[:c])
    return total


# ---------------------------------------------------------------------------------------------------- α rules


def test_darts_weights_are_the_softmax():
    beta = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    expected = [math.exp(b) / sum(math.exp(v) for v in beta.tolist()) for b in beta.tolist()]
    np.testing.assert_allclose(architecture_weights(beta, "darts").numpy(), expected, atol=1e-15)


def test_drnas_evaluation_is_the_dirichlet_mean_and_samples_are_differentiable():
    beta = torch.tensor([0.5, -0.5, 1.5], dtype=torch.float64, requires_grad=True)
    conc = [b + 1 if b > 0 else math.exp(b) for b in beta.tolist()]  # elu(β) + 1
    mean = architecture_weights(beta, "drnas", training=False)
    np.testing.assert_allclose(mean.detach().numpy(), [c / sum(conc) for c in conc], atol=1e-15)
    torch.manual_seed(0)
    sample = architecture_weights(beta, "drnas", training=True)
    assert abs(sample.sum().item() - 1) < 1e-12 and (sample > 0).all()
    (sample * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum().backward()
    assert beta.grad is not None and beta.grad.abs().sum() > 0


def test_gdas_sample_is_one_hot_with_a_soft_gradient():
    beta = torch.tensor([0.1, 0.2, 0.3], requires_grad=True)
    alpha = architecture_weights(beta, "gdas", tau=0.5, generator=torch.Generator().manual_seed(0))
    assert sorted(alpha.tolist()) == [0.0, 0.0, 1.0]
    (alpha * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert beta.grad.abs().sum() > 0
    assert architecture_weights(beta, "gdas", training=False).tolist() == [0.0, 0.0, 1.0]


def test_masks_match_indicator_sums():
    alpha = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    m = width_mask(alpha, [1, 3, 4], 4)
    expected = [sum(a for a, c in zip(alpha.tolist(), [1, 3, 4]) if o < c) for o in range(4)]
    np.testing.assert_allclose(m.numpy(), expected, atol=1e-15)
    mask = kernel_mask(alpha, [1, 3, 5], 5)
    for h in range(5):
        for w in range(5):
            inside = [max(abs(h - 2), abs(w - 2)) <= k // 2 for k in (1, 3, 5)]
            assert mask[h, w].item() == pytest.approx(sum(a for a, i in zip(alpha.tolist(), inside) if i))


# ------------------------------------------------------------------------------------- weight vs output mixing


def test_conv_weight_mixing_equals_output_mixing():
    layer = EntangledConv2d(3, [2, 3, 5], [1, 3, 5]).double()
    _fill(layer)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    alpha_k = layer.arch_params["kernel_size"].softmax(-1).detach()
    alpha_w = layer.arch_params["out_channels"].softmax(-1).detach()
    reference = reference_conv_output_mixing(layer, x, alpha_k.tolist(), alpha_w.tolist())
    torch.testing.assert_close(layer(x), reference, rtol=0, atol=1e-10)


def test_linear_weight_mixing_equals_output_mixing():
    layer = EntangledLinear(5, [2, 4, 7]).double()
    _fill(layer, seed=3)
    x = torch.randn(4, 5, dtype=torch.float64)
    alpha = layer.arch_params["out_features"].softmax(-1).detach().tolist()
    torch.testing.assert_close(layer(x), reference_linear_output_mixing(layer, x, alpha), rtol=0, atol=1e-12)


def test_one_hot_alpha_is_the_chosen_sliced_op():
    layer = EntangledConv2d(2, [2, 4], [1, 3, 5]).double()
    _fill(layer, seed=4)
    with torch.no_grad():
        layer.arch_params["kernel_size"].copy_(torch.tensor([0.0, 5.0, 0.0]))
        layer.arch_params["out_channels"].copy_(torch.tensor([5.0, 0.0]))
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    layer.set_search_mode("gdas")
    layer.eval()  # GDAS's evaluation form: the argmax one-hot
    mixed = layer(x)
    sliced = F.conv2d(x, layer.weight.detach()[:2, :, 1:4, 1:4], layer.bias.detach()[:2], padding=1)
    torch.testing.assert_close(mixed[:, :2], sliced, rtol=0, atol=1e-12)
    assert mixed[:, 2:].abs().max().item() == 0.0
    layer.set_choice(kernel_size=3, out_channels=2)
    layer.set_search_mode("discrete")
    torch.testing.assert_close(layer(x), sliced, rtol=0, atol=1e-12)


def test_gradients_reach_beta_and_weights():
    layer = EntangledConv2d(1, [2, 4], [1, 3])
    layer(torch.randn(2, 1, 4, 4)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.arch_params.values())
    assert layer.weight.grad.abs().sum() > 0


def test_parameters_are_those_of_the_largest_op_and_activations_of_one_op():
    layer = EntangledConv2d(4, [2, 4, 8], [1, 3, 5])
    weights = [p for n, p in layer.named_parameters() if "arch" not in n]
    assert sum(p.numel() for p in weights) == 8 * 4 * 5 * 5 + 8
    plain = layer.extract()

    def per_batch(fn):
        return saved_activation_bytes(fn, torch.randn(32, 4, 6, 6)) - saved_activation_bytes(
            fn, torch.randn(16, 4, 6, 6)
        )

    assert per_batch(layer) <= 1.2 * per_batch(plain)


# ------------------------------------------------------------------------------------ supernet, derive, extract


def test_derive_architecture_is_the_argmax():
    model = TangleNASConvNet(TangleNASConvConfig(**TINY))
    with torch.no_grad():
        model.convs[0].arch_params["kernel_size"].copy_(torch.tensor([1.0, 0.0]))
        model.convs[0].arch_params["out_channels"].copy_(torch.tensor([0.0, 2.0]))
        model.hidden.arch_params["out_features"].copy_(torch.tensor([3.0, 0.0]))
    assert model.derive_architecture() == {"kernel_sizes": [1, 3], "channels": [4, 3], "hidden_size": 4}
    assert len(model.arch_parameters()) == 3  # single-candidate choices have no β
    assert len(model.arch_parameters()) + len(model.weight_parameters()) == len(list(model.parameters()))


def test_extracted_subnet_matches_discrete_supernet_and_round_trips(tmp_path):
    model = TangleNASConvNet(TangleNASConvConfig(**TINY)).double()
    _fill(model, seed=5)
    architecture = {"kernel_sizes": [1, 3], "channels": [2, 3], "hidden_size": 6}
    subnet = model.extract_subnet(architecture)
    assert subnet.arch_parameters() == [] and subnet.config.is_subnet()
    assert model.search_mode == "darts"  # extraction leaves the supernet's mode alone
    x = torch.rand(3, 64, dtype=torch.float64)
    model.set_architecture(architecture)
    torch.testing.assert_close(subnet(pixel_values=x).logits, model(pixel_values=x).logits, rtol=0, atol=1e-12)
    subnet.save_pretrained(tmp_path)
    loaded = TangleNASConvNet.from_pretrained(tmp_path).double()
    assert torch.equal(loaded(pixel_values=x).logits, subnet(pixel_values=x).logits)
    sizes = sum(p.numel() for p in subnet.parameters())
    assert sizes == (1 * 1 * 1 * 2 + 2) + (3 * 2 * 9 + 3) + (3 * 16 * 6 + 6) + (6 * 10 + 10)


def test_supernet_forward_loss_and_space():
    model = TangleNASConvNet(TangleNASConvConfig(**TINY))
    out = model(pixel_values=torch.rand(4, 1, 8, 8), labels=torch.tensor([0, 1, 2, 3]))
    assert out.logits.shape == (4, 10) and torch.isfinite(out.loss)
    assert len(list(model.architecture_space())) == 2 * 2 * 2


# ------------------------------------------------------------------------------------------------- loss, trainer


def test_search_loss_is_cross_entropy_written_out():
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], dtype=torch.float64)
    labels = torch.tensor([2, 0])
    expected = [-(row[y] - math.log(sum(math.exp(v) for v in row))) for row, y in zip(logits.tolist(), [2, 0])]
    np.testing.assert_allclose(supernet_cross_entropy(logits, labels, "none").numpy(), expected, atol=1e-14)
    assert TangleNASSearchLoss()(logits, labels).item() == pytest.approx(sum(expected) / 2)


def _dataset(n, seed):
    from hf_methods.common.batches import TensorDictDataset

    gen = torch.Generator().manual_seed(seed)
    return TensorDictDataset(
        pixel_values=torch.rand(n, 64, generator=gen), labels=torch.randint(0, 10, (n,), generator=gen)
    )


def _trainer(tmp_path, model, **kwargs):
    from transformers import TrainingArguments

    from hf_methods.common.batches import collate_batch

    args = TrainingArguments(
        str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=8,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        remove_unused_columns=False,
    )
    return TangleNASTrainer(
        model=model,
        args=args,
        train_dataset=_dataset(24, 0),
        arch_dataset=_dataset(16, 1),
        data_collator=collate_batch,
        **kwargs,
    )


def test_trainer_updates_beta_with_its_own_optimiser(tmp_path):
    torch.manual_seed(0)
    model = TangleNASConvNet(TangleNASConvConfig(**TINY))
    before = [p.detach().clone() for p in model.arch_parameters()]
    weights_before = model.hidden.weight.detach().clone()
    trainer = _trainer(tmp_path, model, arch_lr=1e-2, optimizer="drnas")
    trainer.train()
    assert model.search_mode == "drnas"
    assert any(not torch.equal(b, p) for b, p in zip(before, model.arch_parameters()))
    assert not torch.equal(weights_before, model.hidden.weight)
    held = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert not held & {id(p) for p in model.arch_parameters()}
    assert {id(p) for p in trainer.arch_optimizer.param_groups[0]["params"]} == {
        id(p) for p in model.arch_parameters()
    }
    assert all(p.requires_grad for p in model.arch_parameters())


# -------------------------------------------------------------------------------------------------------- errors


def test_error_unknown_alpha_mode():
    with pytest.raises(ValueError, match="mode"):
        architecture_weights(torch.zeros(3), "softmax")


def test_error_beta_not_1d():
    with pytest.raises(ValueError, match="beta"):
        architecture_weights(torch.zeros(2, 3), "darts")


def test_error_even_kernel_candidate():
    with pytest.raises(ValueError, match="kernel_size_choices"):
        EntangledConv2d(1, [2], [2, 3])


def test_error_repeated_width_candidate():
    with pytest.raises(ValueError, match="out_features_choices"):
        EntangledLinear(4, [2, 2])


def test_error_choices_not_a_list():
    with pytest.raises(TypeError, match="out_channels_choices"):
        EntangledConv2d(1, 4, [3])


def test_error_unknown_search_mode():
    with pytest.raises(ValueError, match="mode"):
        EntangledLinear(4, [2, 4]).set_search_mode("spos")


def test_error_choice_not_a_candidate():
    with pytest.raises(ValueError, match="out_features"):
        EntangledLinear(4, [2, 4]).set_choice(out_features=3)


def test_error_mixing_input_width():
    with pytest.raises(ValueError, match="input"):
        EntangledLinear(4, [2, 4])(torch.randn(2, 3))


def test_error_config_layer_count_mismatch():
    with pytest.raises(ValueError, match="same number of layers"):
        TangleNASConvConfig(kernel_size_choices=[[3]], channel_choices=[[2], [2]])


def test_error_config_odd_image_size():
    with pytest.raises(ValueError, match="image_size"):
        TangleNASConvConfig(image_size=7)


def test_error_config_search_mode():
    with pytest.raises(ValueError, match="search_mode"):
        TangleNASConvConfig(search_mode="evolution")


def test_error_architecture_value():
    model = TangleNASConvNet(TangleNASConvConfig(**TINY))
    with pytest.raises(ValueError, match=r"architecture\['channels'\]\[0\]"):
        model.set_architecture({"kernel_sizes": [1, 3], "channels": [8, 3], "hidden_size": 4})


def test_error_architecture_keys():
    model = TangleNASConvNet(TangleNASConvConfig(**TINY))
    with pytest.raises(ValueError, match="architecture"):
        model.extract_subnet({"kernel_sizes": [1, 3]})


def test_error_pixel_values_shape():
    model = TangleNASConvNet(TangleNASConvConfig(**TINY))
    with pytest.raises(ValueError, match="pixel_values"):
        model(pixel_values=torch.rand(2, 63))


def test_error_trainer_optimizer(tmp_path):
    with pytest.raises(ValueError, match="optimizer"):
        _trainer(tmp_path, TangleNASConvNet(TangleNASConvConfig(**TINY)), optimizer="spos")


def test_error_trainer_arch_lr(tmp_path):
    with pytest.raises(ValueError, match="arch_lr"):
        _trainer(tmp_path, TangleNASConvNet(TangleNASConvConfig(**TINY)), arch_lr=0.0)


def test_error_trainer_model_without_arch_parameters(tmp_path):
    with pytest.raises(TypeError, match="model"):
        _trainer(tmp_path, torch.nn.Linear(64, 10))


def test_error_trainer_subnet_has_nothing_to_search(tmp_path):
    subnet = TangleNASConvNet(TangleNASConvConfig(**TINY)).extract_subnet()
    with pytest.raises(ValueError, match="no architecture parameters"):
        _trainer(tmp_path, subnet)


def test_error_recipe_arguments():
    from hf_methods.training.tanglenas.training import TangleNASArguments

    with pytest.raises(ValueError, match="--optimizer"):
        TangleNASArguments(output_dir="x", optimizer="spos").validate()
    with pytest.raises(ValueError, match="--channels"):
        TangleNASArguments(output_dir="x", channels="4,x").validate()


# ------------------------------------------------------------------------------------------- usage and recipe


def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("tanglenas").usage, namespace)  # builds data and a supernet, searches 4 steps, extracts
    assert namespace["subnet"].config.is_subnet()
    assert namespace["architecture"] == namespace["supernet"].derive_architecture()


def test_recipe_runs_a_few_steps_and_saves_a_reloadable_subnet(tmp_path):
    import importlib.util
    import json

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_tanglenas", repo_root() / "recipes" / "tanglenas.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "run"
    flags = ["--output_dir", str(out), "--max_steps", "3", "--finetune_steps", "2", "--checkpoint_every", "0"]
    metrics = recipe.main([*flags, "--channels", "2,4", "--hidden_sizes", "8,16", "--log_every", "0"])
    assert 0.0 <= metrics["eval/test_accuracy"] <= 1.0
    architecture = json.loads((out / "architecture.json").read_text())
    subnet = TangleNASConvNet.from_pretrained(out)
    assert subnet.config.channel_choices == [[c] for c in architecture["channels"]]
    assert subnet(pixel_values=torch.rand(2, 64)).logits.shape == (2, 10)
