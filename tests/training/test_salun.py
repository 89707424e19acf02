"""P27 `salun`: the saliency mask against a hand-written gradient, the loss against a Python loop, the Trainer
against the official update loop written out, the frozen weights, the untouched original, errors, the recipe."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.training.salun import (
    ForgetRetainBatchSampler,
    SalUnLoss,
    SalUnTrainer,
    compute_weight_saliency_mask,
    draw_random_labels,
    saliency_mask_from_scores,
    salun_loss,
    weight_saliency,
)
from hf_methods.training.salun.training import unlearning_arguments


class Linear(nn.Module):
    """A linear classifier called as `model(pixel_values=x)` (the keyword the trainer passes)."""

    main_input_name = "pixel_values"

    def __init__(self, d: int = 4, k: int = 3, dtype=torch.float32):
        super().__init__()
        self.fc = nn.Linear(d, k, dtype=dtype)

    def forward(self, pixel_values):
        return self.fc(pixel_values)


def _toy(n_forget=7, n_retain=20, d=4, k=3, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    forget = (torch.randn(n_forget, d, generator=g, dtype=dtype), torch.randint(0, k, (n_forget,), generator=g))
    retain = (torch.randn(n_retain, d, generator=g, dtype=dtype), torch.randint(0, k, (n_retain,), generator=g))
    return forget, retain


# ------------------------------------------------------------------------------------------------- saliency


def test_saliency_matches_the_hand_written_gradient_of_the_linear_model():
    """g = |Σ_batches ∇(−mean CE)|; for f(x) = Wx + b, ∇_W mean CE = mean_i (p_i − e_{y_i}) x_iᵀ (numpy)."""
    torch.manual_seed(0)
    model = Linear(dtype=torch.float64)
    forget, _ = _toy(dtype=torch.float64)
    scores = weight_saliency(model, forget, batch_size=3)  # batches of 3, 3 and 1 examples
    W, b = model.fc.weight.detach().numpy(), model.fc.bias.detach().numpy()
    x, y = forget[0].numpy(), forget[1].numpy()
    gW, gb = np.zeros_like(W), np.zeros_like(b)
    for start in range(0, len(x), 3):
        xb, yb = x[start : start + 3], y[start : start + 3]
        z = xb @ W.T + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(yb)), yb] -= 1.0
        gW -= p.T @ xb / len(yb)  # the gradient of −CE
        gb -= p.mean(0)
    np.testing.assert_allclose(scores["fc.weight"].numpy(), np.abs(gW), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(scores["fc.bias"].numpy(), np.abs(gb), rtol=1e-10, atol=1e-12)


def test_mask_is_the_global_top_fraction_with_an_exact_floor_count_and_positional_ties():
    scores = {"a.weight": torch.tensor([[0.5, 0.1], [0.9, 0.5]]), "a.bias": torch.tensor([0.5, 0.2, 0.0])}
    mask = saliency_mask_from_scores(scores, keep_ratio=0.5)  # ⌊0.5 · 7⌋ = 3 kept
    # ranking by −g with a stable sort: 0.9, then the three 0.5 in position order (weight[0,0], weight[1,1], bias[0])
    assert mask["a.weight"].tolist() == [[True, False], [True, True]]
    assert mask["a.bias"].tolist() == [False, False, False]
    # reference: numpy's stable argsort of −g over the concatenation
    flat = np.concatenate([s.numpy().ravel() for s in scores.values()])
    for keep in (0.1, 0.3, 0.5, 0.9, 1.0):
        chosen = np.zeros(flat.size, dtype=bool)
        chosen[np.argsort(-flat, kind="stable")[: int(keep * flat.size)]] = True
        got = saliency_mask_from_scores(scores, keep) if int(keep * flat.size) else None
        if got is not None:
            assert np.array_equal(np.concatenate([m.numpy().ravel() for m in got.values()]), chosen), keep


def test_mask_of_the_cnn_covers_every_parameter_with_floor_half_and_leaves_the_model_alone():
    from hf_methods.training.salun.training import tiny_cnn

    model = tiny_cnn(seed=0).train()
    g = torch.Generator().manual_seed(0)
    forget = (torch.rand(10, 64, generator=g), torch.randint(0, 10, (10,), generator=g))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    mask = compute_weight_saliency_mask(model, forget, keep_ratio=0.5, batch_size=4)
    n = sum(p.numel() for p in model.parameters())
    assert set(mask) == {name for name, _ in model.named_parameters()}
    assert sum(int(m.sum()) for m in mask.values()) == n // 2 == int(0.5 * n)
    assert all(
        m.dtype == torch.bool and m.shape == p.shape for (_, p), m in zip(model.named_parameters(), mask.values())
    )
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_mask_accepts_a_dataloader_of_dict_batches():
    model = Linear()
    forget, _ = _toy()
    batches = [{"pixel_values": forget[0][i : i + 3], "labels": forget[1][i : i + 3]} for i in range(0, 7, 3)]
    from_loader = weight_saliency(model, batches)
    from_pair = weight_saliency(model, forget, batch_size=3)
    for name in from_pair:
        torch.testing.assert_close(from_loader[name], from_pair[name], rtol=0, atol=0)  # same kernels, same order


# ------------------------------------------------------------------------------------------------- the loss


def test_loss_matches_a_python_loop():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(9, 4, generator=g, dtype=torch.float64) * 2
    labels = torch.randint(0, 4, (9,), generator=g)
    random_labels = torch.randint(0, 4, (9,), generator=g)
    is_forget = torch.tensor([1, 0, 1, 1, 0, 0, 0, 1, 0], dtype=torch.bool)
    alpha = 0.7
    expected = []
    for row, y, y_rand, forget in zip(logits.tolist(), labels.tolist(), random_labels.tolist(), is_forget.tolist()):
        target = y_rand if forget else y
        ce = -row[target] + math.log(sum(math.exp(v) for v in row))
        expected.append(ce if forget else alpha * ce)
    got = salun_loss(logits, labels, random_labels, is_forget, retain_weight=alpha, reduction="none")
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-12)
    module = SalUnLoss(retain_weight=alpha)
    torch.testing.assert_close(module(logits, labels, random_labels, is_forget), got.mean())


def test_random_labels_other_mode_never_returns_the_true_label_and_covers_the_rest():
    labels = torch.full((4000,), 2)
    drawn = draw_random_labels(labels, 5, mode="other", generator=torch.Generator().manual_seed(0))
    assert not (drawn == 2).any() and set(drawn.tolist()) == {0, 1, 3, 4}
    uniform = draw_random_labels(labels, 5, generator=torch.Generator().manual_seed(0))
    assert set(uniform.tolist()) == {0, 1, 2, 3, 4}  # the official CIFAR-10 path may draw the true label
    counts = torch.bincount(drawn, minlength=5)[[0, 1, 3, 4]].float() / 4000
    assert (counts - 0.25).abs().max() < 0.04


# ------------------------------------------------------------------------------------------------- batches


def test_sequential_batches_are_forget_then_retain_and_cover_each_example_once():
    sampler = ForgetRetainBatchSampler(7, 20, 3, seed=0)
    sampler.set_epoch(0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3 + 7
    assert all(i < 7 for b in batches[:3] for i in b) and all(i >= 7 for b in batches[3:] for i in b)
    assert sorted(i for b in batches for i in b) == list(range(27))
    sampler.set_epoch(0)
    assert list(sampler) == batches  # reproducible from (seed, epoch)
    sampler.set_epoch(1)
    assert list(sampler) != batches  # reshuffled every epoch
    mixed = ForgetRetainBatchSampler(7, 20, 3, seed=0, schedule="mixed")
    assert sorted(i for b in mixed for i in b) == list(range(27)) and len(mixed) == 9


# ------------------------------------------------------------------------------------------------- the Trainer


def _reference_unlearning(model, forget, retain, mask, *, epochs, lr, batch_size, seed, k):
    """The official loop (`Classification/unlearn/RL.py`, CIFAR-10 path) written out with plain torch."""
    theta0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    labels_rng = torch.Generator().manual_seed(seed)
    sampler = ForgetRetainBatchSampler(len(forget[1]), len(retain[1]), batch_size, seed=seed)
    x, y = torch.cat([forget[0], retain[0]]), torch.cat([forget[1], retain[1]])
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in sampler:
            idx = torch.tensor(batch)
            is_forget = idx < len(forget[1])
            random = torch.randint(0, k, (len(idx),), generator=labels_rng)
            target = torch.where(is_forget, random, y[idx])
            loss = F.cross_entropy(model(pixel_values=x[idx]), target)
            optimizer.zero_grad()
            loss.backward()
            for n, p in model.named_parameters():
                p.grad *= mask[n]
            optimizer.step()
            with torch.no_grad():
                for n, p in model.named_parameters():
                    p.data = p.data * mask[n] + theta0[n] * ~mask[n]
                    optimizer.state[p]["momentum_buffer"] *= mask[n]
    return model


def test_trainer_matches_the_official_loop_keeps_frozen_weights_and_leaves_the_original_untouched(tmp_path):
    torch.manual_seed(0)
    original = Linear()
    forget, retain = _toy()
    mask = compute_weight_saliency_mask(original, forget, keep_ratio=0.5)
    before = {n: p.detach().clone() for n, p in original.named_parameters()}
    args = unlearning_arguments(str(tmp_path), epochs=2, lr=0.1, batch_size=4, seed=3)
    copy = Linear()
    copy.load_state_dict(original.state_dict())
    optimizer = torch.optim.SGD(copy.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    trainer = SalUnTrainer(
        copy, args, forget_dataset=forget, retain_dataset=retain, mask=mask, num_classes=3,
        copy_model=False, optimizers=(optimizer, None),
    )  # fmt: skip
    unlearned = trainer.unlearn()
    reference = Linear()
    reference.load_state_dict(original.state_dict())
    reference = _reference_unlearning(reference, forget, retain, mask, epochs=2, lr=0.1, batch_size=4, seed=3, k=3)
    for (name, p), (_, q) in zip(unlearned.named_parameters(), reference.named_parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)  # same update rule, kernels may fuse differently
        assert torch.equal(p[~mask[name]], before[name][~mask[name]])  # bit-identical outside the mask
        assert not torch.equal(p[mask[name]], before[name][mask[name]])  # the salient weights moved
        momentum = optimizer.state[p]["momentum_buffer"]
        assert (momentum[~mask[name]] == 0).all()
    assert all(torch.equal(p, before[n]) for n, p in original.named_parameters())


def test_trainer_copies_the_model_by_default_and_freezes_parameters_the_mask_does_not_name(tmp_path):
    torch.manual_seed(0)
    original = Linear()
    before = {n: p.detach().clone() for n, p in original.named_parameters()}
    forget, retain = _toy()
    mask = {"fc.weight": torch.ones(3, 4, dtype=torch.bool)}  # the bias is not named: frozen
    args = unlearning_arguments(str(tmp_path), epochs=1, lr=0.1, batch_size=8)
    unlearned = SalUnTrainer(original, args, forget_dataset=forget, retain_dataset=retain, mask=mask).unlearn()
    assert unlearned is not original
    assert all(torch.equal(p, before[n]) for n, p in original.named_parameters())
    assert torch.equal(unlearned.fc.bias, before["fc.bias"])
    assert (unlearned.fc.weight != before["fc.weight"]).all()


@pytest.mark.slow  # a second Trainer run (~1 s, mostly the Trainer's start-up garbage collection)
def test_salun_unlearn_without_a_mask_moves_every_weight_of_a_new_model():
    from hf_methods.training.salun import salun_unlearn

    torch.manual_seed(0)
    original = Linear()
    before = {n: p.detach().clone() for n, p in original.named_parameters()}
    forget, retain = _toy()
    unlearned = salun_unlearn(original, forget, retain, mask=None, epochs=1, lr=0.1, batch_size=8, num_classes=3)
    assert unlearned is not original
    assert all(torch.equal(p, before[n]) for n, p in original.named_parameters())
    assert all((p != before[n]).all() for n, p in unlearned.named_parameters())


# ------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("keep_ratio", [0.0, 1.5, -0.1, True, "half"])
def test_bad_keep_ratio_is_refused(keep_ratio):
    forget, _ = _toy()
    with pytest.raises(ValueError, match="keep_ratio"):
        compute_weight_saliency_mask(Linear(), forget, keep_ratio=keep_ratio)


def test_keep_ratio_keeping_no_weight_is_refused():
    forget, _ = _toy()
    with pytest.raises(ValueError, match="keeps no weight"):
        compute_weight_saliency_mask(Linear(), forget, keep_ratio=0.01)  # ⌊0.01 · 15⌋ = 0


def test_bad_forget_sets_are_refused():
    with pytest.raises(TypeError, match="forget must be"):
        compute_weight_saliency_mask(Linear(), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="same non-zero length"):
        compute_weight_saliency_mask(Linear(), (torch.zeros(3, 4), torch.zeros(2, dtype=torch.long)))
    with pytest.raises(ValueError, match="forget set is empty"):
        compute_weight_saliency_mask(Linear(), [])
    with pytest.raises(ValueError, match="'labels'"):
        compute_weight_saliency_mask(Linear(), [{"pixel_values": torch.zeros(2, 4)}])
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        compute_weight_saliency_mask("model", _toy()[0])


def _trainer(tmp_path, **overrides):
    forget, retain = _toy()
    kwargs = {"forget_dataset": forget, "retain_dataset": retain, **overrides}
    model = kwargs.pop("model", Linear())
    return SalUnTrainer(model, unlearning_arguments(str(tmp_path), epochs=1, lr=0.1), **kwargs)


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"mask": {"fc.kernel": torch.ones(3, 4)}}, ValueError, "not a parameter"),
        ({"mask": {"fc.weight": torch.ones(4, 3)}}, ValueError, r"mask\['fc.weight'\] must be a tensor of shape"),
        ({"mask": [torch.ones(3, 4)]}, TypeError, "mask must be a dict"),
        ({"random_labels": "flip"}, ValueError, "random_labels"),
        ({"schedule": "interleaved"}, ValueError, "schedule"),
        ({"num_classes": 1}, ValueError, "num_classes"),
        ({"num_classes": 2}, ValueError, r"labels must lie in \[0, num_classes=2\)"),
        ({"retain_weight": -1.0}, ValueError, "retain_weight"),
        ({"train_dataset": [1, 2]}, ValueError, "pass no train_dataset"),
        ({"model": "a model"}, TypeError, "model must be an nn.Module"),
        ({"forget_dataset": torch.zeros(3, 4)}, TypeError, "forget_dataset must be a pair"),
        ({"retain_dataset": (torch.zeros(3, 4), torch.zeros(3))}, TypeError, "retain_dataset: labels must be"),
        ({"retain_dataset": (torch.zeros(3, 5), torch.zeros(3, dtype=torch.long))}, ValueError, "differ in shape"),
    ],
)
def test_bad_trainer_inputs_are_refused(tmp_path, overrides, error, match):
    with pytest.raises(error, match=match):
        _trainer(tmp_path, **overrides)


def test_bad_random_label_arguments_are_refused():
    with pytest.raises(ValueError, match="num_classes"):
        draw_random_labels(torch.zeros(3, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="mode"):
        draw_random_labels(torch.zeros(3, dtype=torch.long), 3, mode="flip")
    with pytest.raises(ValueError, match="reduction"):
        SalUnLoss(reduction="max")


def test_bad_recipe_arguments_are_refused():
    from hf_methods.training.salun.training import SalUnArguments, digits_unlearning_split

    for kwargs, flag in [
        ({"scenario": "sample"}, "--scenario"),
        ({"forget_class": 10}, "--forget_class"),
        ({"forget_fraction": 1.0}, "--forget_fraction"),
        ({"keep_ratio": 0.0}, "--keep_ratio"),
        ({"random_labels": "flip"}, "--random_labels"),
        ({"schedule": "interleaved"}, "--schedule"),
        ({"learning_rate": 0.0}, "--learning_rate"),
        ({"momentum": -0.1}, "--momentum"),
    ]:
        with pytest.raises(ValueError, match=flag):
            SalUnArguments(output_dir="x", **kwargs).validate()
    with pytest.raises(ValueError, match="scenario"):
        digits_unlearning_split(0, "sample")


# ------------------------------------------------------------------------------------------------- data, model, recipe


def test_digits_splits_partition_the_training_set():
    from hf_methods.training.salun.training import digits_unlearning_split

    by_class = digits_unlearning_split(0, "class", forget_class=3)
    assert (by_class.forget[1] == 3).all() and not (by_class.retain[1] == 3).any()
    assert not (by_class.test[1] == 3).any() and (by_class.test_forget[1] == 3).all()
    assert len(by_class.forget[1]) + len(by_class.retain[1]) == 1437
    random = digits_unlearning_split(0, "random", forget_fraction=0.1)
    assert len(random.forget[1]) == round(0.1 * 1437) and len(random.test[1]) == 360
    assert len(set(random.forget[1].tolist())) == 10  # every class is hit


def test_tiny_cnn_takes_flat_or_image_inputs_and_round_trips(tmp_path):
    from hf_methods.training.salun import TinyCNNConfig, TinyCNNForImageClassification

    model = TinyCNNForImageClassification(TinyCNNConfig()).eval()
    x = torch.rand(3, 64)
    logits = model(pixel_values=x).logits
    torch.testing.assert_close(model(pixel_values=x.view(3, 1, 8, 8)).logits, logits, rtol=0, atol=0)
    model.save_pretrained(tmp_path)
    loaded = TinyCNNForImageClassification.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded(pixel_values=x).logits, logits, rtol=0, atol=0)
    with pytest.raises(ValueError, match="pixel_values must have shape"):
        model(pixel_values=torch.rand(3, 63))
    with pytest.raises(ValueError, match="hidden_channels"):
        TinyCNNConfig(hidden_channels=[16])
    with pytest.raises(ValueError, match="image_size"):
        TinyCNNConfig(image_size=6)


def test_recipe_runs_a_few_steps_and_writes_a_hub_folder(tmp_path):
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("salun_recipe", repo_root() / "recipes" / "salun.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "run"
    metrics = recipe.main(
        ["--output_dir", str(out), "--max_steps", "4", "--pretrain_epochs", "1", "--log_every", "0",
         "--checkpoint_every", "0", "--cpu_threads", "1"]
    )  # fmt: skip
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert {"eval/unlearning_accuracy", "eval/original_unlearning_accuracy", "eval/mia_efficacy"} <= set(metrics)
    assert all(0.0 <= v <= 1.0 for v in metrics.values())


@pytest.mark.slow
def test_recipe_resume_is_bit_exact(tmp_path):
    import subprocess
    import sys

    from safetensors.torch import load_file

    from hf_methods.zoo import repo_root

    recipe = str(repo_root() / "recipes" / "salun.py")
    common = ["--max_steps", "40", "--pretrain_epochs", "2", "--log_every", "0", "--cpu_threads", "1"]
    run = lambda *flags: subprocess.run([sys.executable, recipe, *common, *flags], check=True, capture_output=True)  # noqa: E731
    run("--output_dir", tmp_path / "a", "--checkpoint_every", "0")
    resumed = tmp_path / "b"
    run("--output_dir", resumed, "--checkpoint_every", "30")  # checkpoint after step 30: inside the second epoch
    first = sorted((resumed / "checkpoints").iterdir())[0]
    run("--output_dir", resumed, "--resume_from_checkpoint", first, "--checkpoint_every", "30")
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
