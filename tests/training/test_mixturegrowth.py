"""Tests of P58 `mixturegrowth`: template mixing, the grown block layout, the coefficient rules against numpy, the
two-member training, the Auto round trip, the Trainer callback, the recipe and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hf_methods.training.mixturegrowth import (
    GrowthCallback,
    TemplateMixingConfig,
    TemplateMixingMLP,
    grow_mixture,
    members_loss,
    orthogonal_coefficients,
)

IN, HIDDEN, CLASSES = 6, 4, 3


def member(seed: int, **kwargs) -> TemplateMixingMLP:
    torch.manual_seed(seed)
    config = TemplateMixingConfig(input_size=IN, hidden_sizes=[HIDDEN, HIDDEN], num_labels=CLASSES, **kwargs)
    return TemplateMixingMLP(config).double()


def pair(seed: int = 0, **kwargs) -> TemplateMixingMLP:
    torch.manual_seed(seed)
    config = TemplateMixingConfig(
        input_size=IN, hidden_sizes=[2 * HIDDEN, 2 * HIDDEN], num_labels=CLASSES, num_members=2, **kwargs
    )
    return TemplateMixingMLP(config).double()


def inputs(n: int = 7, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, IN, generator=g, dtype=torch.float64), torch.randint(0, CLASSES, (n,), generator=g)


def _give_batch_norm_statistics(model):
    """Non-trivial running statistics and affine parameters, so the tests see them travel."""
    g = torch.Generator().manual_seed(1)
    for norm in model.norms:
        for name in ("weight", "bias", "running_mean"):
            getattr(norm, name).data.copy_(torch.randn(norm.num_features, generator=g, dtype=torch.float64))
        norm.running_var.data.copy_(torch.rand(norm.num_features, generator=g, dtype=torch.float64) + 0.5)


# ----------------------------------------------------------------------------------------------------- references


def np_block(alpha, templates):
    """W = Σ_k α_k T_k in plain numpy."""
    return sum(a * t for a, t in zip(alpha, templates))


def np_member_forward(model, x):
    """A single member, eval mode, written out with numpy: x → (W x → BN → ReLU)* → classifier."""
    h = x.numpy()
    for layer, norm in zip(model.layers, model.norms):
        t, a = layer.templates.detach().numpy(), layer.coefficients.detach().numpy()
        w = np_block(a[0], t[0])
        z = h @ w.T
        mean, var = norm.running_mean.numpy(), norm.running_var.numpy()
        z = (z - mean) / np.sqrt(var + norm.eps) * norm.weight.detach().numpy() + norm.bias.detach().numpy()
        h = np.maximum(z, 0)
    t, a = model.classifier.templates.detach().numpy(), model.classifier.coefficients.detach().numpy()
    return h @ np_block(a[0], t[0]).T


def np_last_right_singular_vector(a):
    _, _, vh = np.linalg.svd(a, full_matrices=True)
    v = vh[-1]
    return v if v[np.abs(v).argmax()] > 0 else -v


# ----------------------------------------------------------------------------------------------------- math


def test_member_forward_matches_numpy_reference():
    model = member(0)
    _give_batch_norm_statistics(model)
    model.eval()
    x, _ = inputs()
    np.testing.assert_allclose(model(pixel_values=x).logits.detach().numpy(), np_member_forward(model, x), atol=1e-10)


def test_grown_layer_is_the_diag_block_layout_of_the_official_code():
    grown = grow_mixture(member(0), member(1), coefs="orthogonal")
    layer = grown.layers[1]
    t, a = layer.templates.detach().numpy(), layer.coefficients.detach().numpy()
    w = [np_block(a[b], t[s]) for b, s in enumerate([0, 1, 0, 1])]
    expected = np.block([[w[0], w[2]], [w[3], w[1]]])
    np.testing.assert_allclose(layer.weight().detach().numpy(), expected, atol=1e-12)
    # first layer stacks the members' rows, the classifier their columns: no new block there
    first, last = grown.layers[0], grown.classifier
    np.testing.assert_allclose(
        first.weight().detach().numpy(),
        np.vstack(
            [np_block(first.coefficients[b].detach().numpy(), first.templates[b].detach().numpy()) for b in (0, 1)]
        ),
        atol=1e-12,
    )
    np.testing.assert_allclose(
        last.weight().detach().numpy(),
        np.hstack(
            [np_block(last.coefficients[b].detach().numpy(), last.templates[b].detach().numpy()) for b in (0, 1)]
        ),
        atol=1e-12,
    )


def test_growth_keeps_the_members_weights_and_templates():
    a, b = member(0), member(1)
    grown = grow_mixture(a, b, coefs="orthogonal")
    for target, ma, mb in [*zip(grown.layers, a.layers, b.layers), (grown.classifier, a.classifier, b.classifier)]:
        blocks = target.block_weights()
        torch.testing.assert_close(blocks[0], ma.block_weights()[0], rtol=0, atol=0)
        torch.testing.assert_close(blocks[1], mb.block_weights()[0], rtol=0, atol=0)
    # the new blocks reuse the *learned* templates of the members (sets 0 and 1), with new coefficients
    layer = grown.layers[1]
    assert layer.block_sets == [0, 1, 0, 1]
    torch.testing.assert_close(layer.templates[0], a.layers[1].templates[0], rtol=0, atol=0)
    torch.testing.assert_close(layer.templates[1], b.layers[1].templates[0], rtol=0, atol=0)


def test_zero_growth_computes_the_sum_of_the_members_logits():
    a, b = member(0), member(1)
    for m in (a, b):
        _give_batch_norm_statistics(m)
    a.eval(), b.eval()
    grown = grow_mixture(a, b, coefs="zero").eval()
    x, _ = inputs()
    expected = a(pixel_values=x).logits + b(pixel_values=x).logits
    torch.testing.assert_close(grown(pixel_values=x).logits, expected, rtol=0, atol=1e-12)
    # batch norm: the members' weights, biases *and* running statistics, concatenated
    torch.testing.assert_close(
        grown.norms[0].running_mean, torch.cat([a.norms[0].running_mean, b.norms[0].running_mean])
    )
    torch.testing.assert_close(grown.norms[1].running_var, torch.cat([a.norms[1].running_var, b.norms[1].running_var]))


@pytest.mark.parametrize("rows", [1, 2, 3, 5])
def test_orthogonal_coefficients_against_numpy_svd(rows):
    g = torch.Generator().manual_seed(rows)
    previous = torch.randn(rows, 3, generator=g, dtype=torch.float64)
    new = orthogonal_coefficients(previous)
    expected = np_last_right_singular_vector(previous.numpy())
    np.testing.assert_allclose(new.numpy(), expected, atol=1e-10)
    assert new.norm().item() == pytest.approx(1.0)
    if rows < 3:  # fewer vectors than templates: orthogonal to all of them
        np.testing.assert_allclose(previous.numpy() @ new.numpy(), 0.0, atol=1e-10)
    else:  # the unit direction the stacked coefficients shrink most
        sigma_min = np.linalg.svd(previous.numpy(), compute_uv=False).min()
        assert np.linalg.norm(previous.numpy() @ new.numpy()) == pytest.approx(sigma_min)


def test_orthogonal_growth_follows_the_official_sequential_rule():
    a, b = member(0, num_templates=3), member(1, num_templates=3)
    grown = grow_mixture(a, b, coefs="orthogonal", scale=2.0)
    alpha = grown.layers[1].coefficients.detach().numpy()
    np.testing.assert_allclose(alpha[2], 2.0 * np_last_right_singular_vector(alpha[:2]), atol=1e-10)
    np.testing.assert_allclose(alpha[3], 2.0 * np_last_right_singular_vector(alpha[:3]), atol=1e-10)
    # 3 templates, 2 members: α₂ ⟂ α₀, α₁
    np.testing.assert_allclose(alpha[:2] @ alpha[2], 0.0, atol=1e-10)


def test_copy_zero_random_and_random_init_rules():
    a, b = member(0), member(1)
    copy = grow_mixture(a, b, coefs="copy", scale=0.5, seed=3).layers[1].coefficients.detach()
    noise = copy[2] - copy[0]
    torch.testing.assert_close(copy[3] - copy[1], noise)  # the same noise for both, as in the official code
    assert noise.norm().item() == pytest.approx(0.5) and (noise >= 0).all()
    random = grow_mixture(a, b, coefs="random", scale=0.5, seed=3).layers[1].coefficients.detach()
    assert ((random[2:] >= 0) & (random[2:] < 0.5)).all()
    fresh = grow_mixture(a, b, coefs="random_init", seed=3)
    layer = fresh.layers[1]
    assert layer.block_sets == [0, 1, 2, 3] and layer.templates.shape[0] == 4
    torch.testing.assert_close(layer.coefficients[2:].norm(dim=1), torch.ones(2, dtype=torch.float64))
    # new random templates, not the members' ones; the members' blocks are unchanged
    assert not torch.allclose(layer.templates[2], layer.templates[0])
    torch.testing.assert_close(layer.block_weights()[0], a.layers[1].block_weights()[0], rtol=0, atol=0)
    # random draws are seeded
    again = grow_mixture(a, b, coefs="random_init", seed=3)
    torch.testing.assert_close(again.layers[1].templates, layer.templates, rtol=0, atol=0)


def test_members_loss_against_a_loop():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 2, 4, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 4, (5,), generator=g)
    per_example = members_loss(logits, labels, reduction="none")
    for i in range(5):
        expected = 0.0
        for m in range(2):
            row = logits[i, m].tolist()
            expected += np.log(sum(np.exp(v) for v in row)) - row[labels[i]]
        assert per_example[i].item() == pytest.approx(expected, abs=1e-12)
    assert members_loss(logits, labels).item() == pytest.approx(per_example.mean().item())


def test_two_member_model_trains_each_member_as_if_alone():
    """A two-member model is two independent members: same outputs and the same gradients as each member alone."""
    a, b = member(0), member(1)
    model = TemplateMixingMLP(
        TemplateMixingConfig(input_size=IN, hidden_sizes=[2 * HIDDEN] * 2, num_labels=CLASSES, num_members=2)
    ).double()
    with torch.no_grad():
        for target, ma, mb in [*zip(model.layers, a.layers, b.layers), (model.classifier, a.classifier, b.classifier)]:
            target.templates[0], target.templates[1] = ma.templates[0], mb.templates[0]
            target.coefficients[0], target.coefficients[1] = ma.coefficients[0], mb.coefficients[0]
    x, y = inputs(9)
    out = model(pixel_values=x, labels=y)  # training mode: batch statistics
    out_a, out_b = a(pixel_values=x, labels=y), b(pixel_values=x, labels=y)
    torch.testing.assert_close(out.member_logits[:, 0], out_a.logits)
    torch.testing.assert_close(out.member_logits[:, 1], out_b.logits)
    torch.testing.assert_close(out.logits, out_a.logits + out_b.logits)
    out.loss.backward()
    (out_a.loss + out_b.loss).backward()
    torch.testing.assert_close(model.layers[1].templates.grad[0], a.layers[1].templates.grad[0])
    torch.testing.assert_close(model.classifier.coefficients.grad[1], b.classifier.coefficients.grad[0])
    # the new blocks' coefficients are unused before growth
    assert model.layers[1].coefficients.grad[2:].abs().max() == 0


def test_grow_mixture_from_a_two_member_model_matches_growth_from_separate_members():
    model = pair(0)
    grown_in_one = grow_mixture(model, coefs="orthogonal")
    assert model.config.trains_members  # the input is left untouched
    a, b = member(5), member(6)
    with torch.no_grad():
        for target, ma, mb in [*zip(model.layers, a.layers, b.layers), (model.classifier, a.classifier, b.classifier)]:
            ma.templates[0], mb.templates[0] = target.templates[0], target.templates[1]
            ma.coefficients[0], mb.coefficients[0] = target.coefficients[0], target.coefficients[1]
    grown_from_two = grow_mixture(a, b, coefs="orthogonal")
    x, _ = inputs()
    grown_in_one.eval(), grown_from_two.eval()
    torch.testing.assert_close(grown_in_one(pixel_values=x).logits, grown_from_two(pixel_values=x).logits)


# ----------------------------------------------------------------------------------------------------- HF form


def test_save_pretrained_auto_model_round_trip(tmp_path):
    from transformers import AutoConfig, AutoModel

    import hf_methods  # noqa: F401  (registers the Auto classes)

    grown = grow_mixture(member(0), member(1), coefs="random_init").float().eval()
    grown.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert config.model_type == "hfm-mixturegrowth" and config.grown and config.block_template_sets == [0, 1, 2, 3]
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, TemplateMixingMLP)
    x, _ = inputs()
    torch.testing.assert_close(loaded(pixel_values=x.float()).logits, grown(pixel_values=x.float()).logits)


def _trainer(tmp_path, model, callback, **kwargs):
    from transformers import Trainer, TrainingArguments

    from hf_methods.common.batches import TensorDictDataset, collate_batch

    g = torch.Generator().manual_seed(0)
    dataset = TensorDictDataset(pixel_values=torch.randn(16, IN, generator=g), labels=torch.randint(0, 3, (16,)))
    defaults = dict(
        output_dir=str(tmp_path),
        num_train_epochs=3,
        per_device_train_batch_size=8,
        learning_rate=0.1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    args = TrainingArguments(**{**defaults, **kwargs})
    return Trainer(model=model, args=args, train_dataset=dataset, data_collator=collate_batch, callbacks=[callback])


def test_growth_callback_grows_during_trainer_run(tmp_path):
    from transformers import TrainerCallback

    model = pair(0).float()
    callback = GrowthCallback(grow_at_epoch=2, learning_rate=0.01)
    trainer = _trainer(tmp_path, model, callback)
    seen = []

    class Spy(TrainerCallback):  # records the model's form at each step
        def on_step_begin(self, args, state, control, model=None, **kwargs):
            seen.append(model.config.grown)

    trainer.add_callback(Spy())
    before = model.layers[1].coefficients.detach().clone()
    trainer.train()
    assert model.config.grown and callback.grown_at_step == 4  # 2 steps per epoch, grown before epoch 2
    assert seen == [False] * 4 + [True] * 2
    alpha = model.layers[1].coefficients.detach()
    assert not torch.allclose(alpha[2:], before[2:])  # new coefficients set and trained
    assert trainer.optimizer.param_groups[0]["initial_lr"] == 0.01


@pytest.mark.slow
def test_growth_callback_at_step_and_resume_keeps_the_grown_coefficients(tmp_path):
    from safetensors.torch import load_file

    model = pair(0).float()
    trainer = _trainer(tmp_path, model, GrowthCallback(grow_at_step=3), save_strategy="steps", save_steps=4)
    trainer.train()
    assert model.config.grown
    saved = load_file(tmp_path / "checkpoint-4" / "model.safetensors")["layers.1.coefficients"]
    # resume from the checkpoint of step 4 (after growth): the model switches to its grown form, coefficients intact
    from transformers import TrainerCallback

    seen = {}

    class Spy(TrainerCallback):  # runs right after GrowthCallback.on_train_begin, before any step
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            seen.update(grown=model.config.grown, coefficients=model.layers[1].coefficients.detach().clone())

    fresh = pair(1).float()
    resumed = _trainer(tmp_path, fresh, GrowthCallback(grow_at_step=3), max_steps=8, save_strategy="no")
    resumed.add_callback(Spy())
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-4"))
    assert seen["grown"] and fresh.config.grown
    torch.testing.assert_close(seen["coefficients"], saved)


# ----------------------------------------------------------------------------------------------------- errors


def test_error_config_num_members():
    with pytest.raises(ValueError, match="num_members must be 1 or 2"):
        TemplateMixingConfig(num_members=3)


def test_error_config_grown_single_member():
    with pytest.raises(ValueError, match="grown=True needs num_members=2"):
        TemplateMixingConfig(grown=True)


def test_error_config_odd_width_with_two_members():
    with pytest.raises(ValueError, match="hidden_sizes must be even"):
        TemplateMixingConfig(hidden_sizes=[7], num_members=2)


def test_error_config_block_template_sets():
    with pytest.raises(ValueError, match="block_template_sets"):
        TemplateMixingConfig(block_template_sets=[1, 0, 0, 1])
    with pytest.raises(ValueError, match="block_template_sets"):
        TemplateMixingConfig(block_template_sets=[0, 1, 4, 1])


def test_error_config_sizes_and_activation():
    with pytest.raises(ValueError, match="num_templates must be >= 1"):
        TemplateMixingConfig(num_templates=0)
    with pytest.raises(TypeError, match="input_size must be an int"):
        TemplateMixingConfig(input_size=2.5)
    with pytest.raises(ValueError, match="hidden_sizes must list"):
        TemplateMixingConfig(hidden_sizes=[])
    with pytest.raises(ValueError, match="hidden_act"):
        TemplateMixingConfig(hidden_act="swish")


def test_error_grow_mixture_wrong_type_and_mismatch():
    with pytest.raises(TypeError, match="model_a must be a TemplateMixingMLP"):
        grow_mixture(torch.nn.Linear(2, 2), member(0))
    with pytest.raises(TypeError, match="model_b must be a TemplateMixingMLP"):
        grow_mixture(member(0), torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="differ in \\['num_templates'\\]"):
        grow_mixture(member(0), member(1, num_templates=3))
    with pytest.raises(ValueError, match="model_b must be a single member"):
        grow_mixture(member(0), pair(0))


def test_error_grow_mixture_alone_needs_two_members_and_coefs_choice():
    with pytest.raises(ValueError, match="two-member model"):
        grow_mixture(member(0))
    with pytest.raises(ValueError, match="coefs must be one of"):
        grow_mixture(member(0), member(1), coefs="svd")


def test_error_grow_twice_and_random_init_needs_new_sets():
    model = pair(0)
    with pytest.raises(ValueError, match="block_template_sets"):
        model.grow_("random_init")
    with pytest.raises(ValueError, match="scale must be"):
        model.grow_("orthogonal", scale=-1.0)
    model.grow_("orthogonal")
    with pytest.raises(ValueError, match="has not grown yet"):
        model.grow_("orthogonal")


def test_error_members_loss_inputs():
    logits, labels = torch.randn(4, 2, 3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="member_logits must be 3-D"):
        members_loss(logits[:, 0], labels)
    with pytest.raises(ValueError, match="labels must lie in"):
        members_loss(logits, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(TypeError, match="integer tensor"):
        members_loss(logits, labels.float())
    with pytest.raises(ValueError, match="reduction must be"):
        members_loss(logits, labels, reduction="avg")


def test_error_forward_bad_inputs():
    model = member(0)
    with pytest.raises(ValueError, match="pixel_values must flatten"):
        model(pixel_values=torch.randn(2, IN + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="labels must have shape"):
        model(pixel_values=torch.randn(2, IN, dtype=torch.float64), labels=torch.tensor([0, 1, 2]))


def test_error_growth_callback_arguments():
    with pytest.raises(ValueError, match="exactly one of"):
        GrowthCallback()
    with pytest.raises(ValueError, match="exactly one of"):
        GrowthCallback(grow_at_epoch=1, grow_at_step=4)
    with pytest.raises(ValueError, match="grow_at_epoch must be"):
        GrowthCallback(grow_at_epoch=-1)
    with pytest.raises(ValueError, match="coefs must be one of"):
        GrowthCallback(grow_at_step=1, coefs="none")
    with pytest.raises(ValueError, match="learning_rate must be"):
        GrowthCallback(grow_at_step=1, learning_rate=0.0)


def test_error_growth_callback_on_a_single_member():
    from transformers import TrainerControl, TrainerState

    callback = GrowthCallback(grow_at_step=1)
    with pytest.raises(ValueError, match="two-member model"):
        callback.on_step_begin(None, TrainerState(), TrainerControl(), model=member(0))
    with pytest.raises(TypeError, match="grows a TemplateMixingMLP"):
        callback.on_step_begin(None, TrainerState(), TrainerControl(), model=torch.nn.Linear(2, 2))


def test_orthogonal_coefficients_rejects_bad_input():
    with pytest.raises(ValueError, match="previous must be a 2-D tensor"):
        orthogonal_coefficients(torch.randn(3))


# ----------------------------------------------------------------------------------------------------- training, recipe


def test_cross_entropy_of_the_grown_model_is_torch_cross_entropy():
    grown = grow_mixture(member(0), member(1))
    x, y = inputs()
    out = grown(pixel_values=x, labels=y)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, y))
    assert out.member_logits is None


def test_growth_schedule_resets_at_growth():
    from hf_methods.training.mixturegrowth.training import growth_schedule

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = growth_schedule(optimizer, member_steps=10, grown_steps=4, growth_lr_ratio=0.1)
    lrs = []
    for _ in range(14):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[5] == pytest.approx(0.05) and lrs[9] < 0.003
    assert lrs[10] == pytest.approx(0.01) and lrs[12] == pytest.approx(0.005)


def test_arguments_validation():
    from hf_methods.training.mixturegrowth.training import MixtureGrowthArguments

    config = MixtureGrowthArguments(output_dir="x", member_width=8, coefs="random_init").build_config(5, 3)
    assert config.hidden_sizes == [16, 16] and config.block_template_sets == [0, 1, 2, 3] and config.trains_members
    for kwargs, message in [
        ({"coefs": "svd"}, "--coefs"),
        ({"dataset": "mnist"}, "--dataset"),
        ({"grow_at_step": 5000}, "--grow_at_step"),
        ({"growth_learning_rate": 0.0}, "--growth_learning_rate"),
        ({"member_width": 0}, "--member_width"),
    ]:
        with pytest.raises(ValueError, match=message):
            MixtureGrowthArguments(output_dir="x", **kwargs).validate()


def test_recipe_runs_a_few_steps_and_grows(tmp_path):
    import json
    import sys

    from hf_methods.zoo import repo_root

    sys.path.insert(0, str(repo_root() / "recipes"))
    try:
        import mixturegrowth as recipe
    finally:
        sys.path.pop(0)
    metrics = recipe.main(
        [
            "--output_dir",
            str(tmp_path / "out"),
            "--dataset",
            "digits",
            "--member_width",
            "8",
            "--max_steps",
            "6",
            "--grow_at_step",
            "3",
            "--checkpoint_every",
            "0",
            "--log_every",
            "0",
            "--cpu_threads",
            "1",
        ]
    )
    assert 0.0 <= metrics["eval/accuracy"] <= 1.0
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["grown"] and config["hidden_sizes"] == [16, 16]


def test_record_usage_runs_as_written(tmp_path, monkeypatch):
    from hf_methods.zoo import get_method

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(get_method("mixturegrowth").usage, namespace)
    assert namespace["logits"].shape == (4, 10)
    assert namespace["reloaded"].config.hidden_sizes == [128, 128] and namespace["reloaded"].config.grown


@pytest.mark.slow
@pytest.mark.parametrize("grow_at_step", [10, 20], ids=["resumed-after-growth", "resumed-before-growth"])
def test_recipe_resume_is_bit_exact_across_growth(tmp_path, grow_at_step):
    import subprocess
    import sys

    from safetensors.torch import load_file

    from hf_methods.zoo import repo_root

    recipe = str(repo_root() / "recipes" / "mixturegrowth.py")
    common = ["--max_steps", "30", "--grow_at_step", str(grow_at_step), "--dataset", "digits", "--member_width", "8"]
    common += ["--log_every", "0", "--cpu_threads", "1", "--coefs", "random_init"]
    run = lambda *flags: subprocess.run([sys.executable, recipe, *flags, *common], check=True, capture_output=True)  # noqa: E731
    run("--output_dir", tmp_path / "a", "--checkpoint_every", "0")
    resumed = tmp_path / "b"
    run("--output_dir", resumed, "--checkpoint_every", "15")
    first = sorted((resumed / "checkpoints").iterdir())[0]  # saved after step 15
    run("--output_dir", resumed, "--resume_from_checkpoint", first, "--checkpoint_every", "15")
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
