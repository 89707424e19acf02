"""P12 `blindspot`: the Blindspot loss against the official formula written out, the trainer, the proxy, Gaussian-amnesiac
relabelling, the original model left untouched, the recipe, and one test per rejected input."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from hf_methods.training.blindspot import (
    BlindspotDataset,
    BlindspotUnlearningLoss,
    BlindspotUnlearningTrainer,
    attention_distance,
    blindspot_unlearn,
    blindspot_unlearning_loss,
    capture_activations,
    gaussian_amnesiac_relabel,
    gaussian_amnesiac_unlearn,
    train_blindspot_model,
)
from hf_methods.training.blindspot.training import (
    BlindspotArguments,
    friedman_unlearning_data,
    mlp_activation_layers,
    regression_mlp,
)

LAYERS = mlp_activation_layers(2)


def _batch(n=8, outputs=1, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    preds = torch.randn(n, outputs, generator=g, dtype=dtype)
    labels = torch.randn(n, outputs, generator=g, dtype=dtype)
    proxy = torch.randn(n, outputs, generator=g, dtype=dtype)
    forget = torch.tensor([1, 0, 0, 1, 1, 0, 0, 0][:n])
    acts = [torch.randn(n, 3, 4, 5, generator=g, dtype=dtype), torch.randn(n, 2, 3, 3, generator=g, dtype=dtype)]
    proxy_acts = [torch.randn_like(a) for a in acts]
    return preds, labels, forget, proxy, acts, proxy_acts


# -------------------------------------------------------------------------------------------------------- references


def official_loss(preds, labels, forget, proxy, acts, proxy_acts, beta):
    """`fit_one_forget_cycle` + `forget_loss` of the official unlearn.py, transcribed with numpy arrays."""
    p, y, g, u = preds.numpy(), labels.numpy(), proxy.numpy(), forget.numpy().astype(bool)

    def attention(x):  # F.normalize(x.pow(2).mean(1).view(B, -1))
        a = (x**2).mean(1).reshape(len(x), -1)
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    label_loss = np.abs(p[~u] - y[~u]).mean() if (~u).any() else 0.0
    proxy_loss = 0.0
    if u.any():
        proxy_loss = np.abs(p[u] - g[u]).mean()
        for a, b in zip(acts, proxy_acts):
            proxy_loss += beta * ((attention(a.numpy()[u]) - attention(b.numpy()[u])) ** 2).mean()
    c = u.sum() / len(u)
    return c * proxy_loss + (1 - c) * label_loss


def per_example_mlp_reference(pred, label, is_forget, proxy, act_rows, proxy_rows, beta):
    """ℓ_i for one example with 2-D activations, in Python floats: Q = a² / ‖a²‖ per unit."""
    if not is_forget:
        return abs(pred - label)

    def q(row):
        sq = [v * v for v in row]
        norm = math.sqrt(sum(v * v for v in sq))
        return [v / norm for v in sq]

    term = abs(pred - proxy)
    for row, prow in zip(act_rows, proxy_rows):
        qa, qb = q(row), q(prow)
        term += beta * sum((x - z) ** 2 for x, z in zip(qa, qb)) / len(qa)
    return term


# ----------------------------------------------------------------------------------------------------------- the loss


@pytest.mark.parametrize("beta", [0.0, 50.0, 3.0])
def test_loss_matches_the_official_code_on_conv_activations(beta):
    preds, labels, forget, proxy, acts, proxy_acts = _batch()
    loss = blindspot_unlearning_loss(preds, labels, forget, proxy, acts, proxy_acts, at_beta=beta)
    expected = official_loss(preds, labels, forget, proxy, acts, proxy_acts, beta)
    assert loss.item() == pytest.approx(float(expected), abs=1e-12)


def test_loss_per_example_with_mlp_activations_matches_a_plain_loop():
    g = torch.Generator().manual_seed(1)
    preds, labels, proxy = (torch.randn(6, generator=g, dtype=torch.float64) for _ in range(3))
    forget = torch.tensor([True, False, True, True, False, False])
    acts = [torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)]
    proxy_acts = [torch.randn_like(a) for a in acts]
    none = BlindspotUnlearningLoss(at_beta=7.0, reduction="none")(preds, labels, forget, proxy, acts, proxy_acts)
    for i in range(6):
        ref = per_example_mlp_reference(
            preds[i].item(),
            labels[i].item(),
            bool(forget[i]),
            proxy[i].item(),
            [a[i].tolist() for a in acts],
            [a[i].tolist() for a in proxy_acts],
            7.0,
        )
        assert none[i].item() == pytest.approx(ref, abs=1e-12)
    mean = BlindspotUnlearningLoss(at_beta=7.0)(preds, labels, forget, proxy, acts, proxy_acts)
    torch.testing.assert_close(mean, none.mean())


def test_batch_limits_all_retain_and_all_forget():
    preds, labels, _, proxy, acts, proxy_acts = _batch()
    keep = torch.zeros(8, dtype=torch.long)
    torch.testing.assert_close(
        blindspot_unlearning_loss(preds, labels, keep, proxy, acts, proxy_acts), (preds - labels).abs().mean()
    )
    drop = torch.ones(8, dtype=torch.bool)
    torch.testing.assert_close(
        blindspot_unlearning_loss(preds, labels, drop, proxy, at_beta=0.0), (preds - proxy).abs().mean()
    )


def test_identical_activations_give_no_attention_term_and_scale_is_ignored():
    _, _, _, _, acts, _ = _batch()
    zero = attention_distance(acts[0], acts[0])
    torch.testing.assert_close(zero, torch.zeros(8, dtype=torch.float64))
    # the attention map is normalised: scaling an activation leaves it unchanged
    torch.testing.assert_close(attention_distance(acts[0], 3.0 * acts[0]), zero, atol=1e-12, rtol=0)


def test_forget_labels_are_ignored_and_no_gradient_reaches_the_proxy():
    preds, labels, forget, proxy, acts, proxy_acts = _batch()
    preds.requires_grad_(True)
    proxy.requires_grad_(True)
    other = labels.clone()
    other[forget.bool()] += 100.0
    a = blindspot_unlearning_loss(preds, labels, forget, proxy, acts, proxy_acts)
    b = blindspot_unlearning_loss(preds, other, forget, proxy, acts, proxy_acts)
    torch.testing.assert_close(a, b)
    a.backward()
    assert proxy.grad is None and preds.grad is not None and preds.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------------- loss errors


def test_error_predictions_type():
    _, labels, forget, proxy, *_ = _batch()
    with pytest.raises(TypeError, match="predictions must be a floating-point"):
        blindspot_unlearning_loss(torch.zeros(8, 1, dtype=torch.long), labels, forget, proxy)


def test_error_labels_shape_and_type():
    preds, labels, forget, proxy, *_ = _batch()
    with pytest.raises(ValueError, match="labels must have the shape"):
        blindspot_unlearning_loss(preds, labels[:5], forget, proxy)
    with pytest.raises(TypeError, match="labels must be a floating-point"):
        blindspot_unlearning_loss(preds, labels.long(), forget, proxy)


def test_error_forget_mask():
    preds, labels, forget, proxy, *_ = _batch()
    with pytest.raises(ValueError, match="forget_mask must have shape"):
        blindspot_unlearning_loss(preds, labels, forget[:3], proxy)
    with pytest.raises(ValueError, match="forget_mask must hold booleans or 0/1"):
        blindspot_unlearning_loss(preds, labels, forget * 3, proxy)


def test_error_proxy_predictions():
    preds, labels, forget, proxy, *_ = _batch()
    with pytest.raises(ValueError, match="proxy_predictions must have the shape"):
        blindspot_unlearning_loss(preds, labels, forget, proxy[:, 0])


def test_error_activations():
    preds, labels, forget, proxy, acts, proxy_acts = _batch()
    with pytest.raises(ValueError, match="the same layers"):
        blindspot_unlearning_loss(preds, labels, forget, proxy, acts, proxy_acts[:1])
    with pytest.raises(ValueError, match="pair up layer by layer"):
        blindspot_unlearning_loss(preds, labels, forget, proxy, acts, proxy_acts[::-1])
    with pytest.raises(TypeError, match="activations must be a tensor or a sequence"):
        blindspot_unlearning_loss(preds, labels, forget, proxy, "h1", proxy_acts)


def test_error_at_beta_and_reduction():
    with pytest.raises(ValueError, match="at_beta must be a number >= 0"):
        BlindspotUnlearningLoss(at_beta=-1.0)
    with pytest.raises(ValueError, match="reduction must be"):
        BlindspotUnlearningLoss(reduction="max")


# ----------------------------------------------------------------------------------------------- trainer and helpers


def _tiny_data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 10, generator=g)
    y = (x[:, 0] * 2 - x[:, 1]).float()
    forget = x[:, 0] < 0.3
    return (x[forget], y[forget]), (x[~forget], y[~forget])


def _mlp(seed=0):
    torch.manual_seed(seed)
    return regression_mlp(hidden_size=8)


def _args(tmp_path, **kwargs):
    from transformers import TrainingArguments

    defaults = dict(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=16,
        learning_rate=1e-2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
    )
    return TrainingArguments(**{**defaults, **kwargs})


def test_capture_activations_returns_the_hidden_layers():
    model = _mlp()
    x = torch.rand(4, 10)
    with capture_activations(model, LAYERS) as acts:
        out = model(pixel_values=x)
    first = torch.relu(model.mlp.layers[0](x))
    torch.testing.assert_close(acts[0], first)
    torch.testing.assert_close(acts[1], torch.relu(model.mlp.layers[2](first)))
    assert out.logits.shape == (4, 1)
    assert not model.mlp.layers[1]._forward_hooks  # hooks removed on exit
    with pytest.raises(ValueError, match="not submodules"):
        with capture_activations(model, ["mlp.nope"]):
            pass


def test_trainer_loss_equals_the_loss_function_and_keeps_the_forget_column(tmp_path):
    forget, retain = _tiny_data()
    model, proxy = _mlp(0), _mlp(1)
    dataset = BlindspotDataset.from_splits(forget, retain)
    # default remove_unused_columns=True: the forget column must survive the Trainer's column filter
    trainer = BlindspotUnlearningTrainer(
        model=model, blindspot_model=proxy, args=_args(tmp_path), train_dataset=dataset, activation_layers=LAYERS
    )
    batch = next(iter(trainer.get_train_dataloader()))
    assert "forget" in batch and batch["forget"].sum() > 0
    loss = trainer.compute_loss(model, batch)
    x = batch["pixel_values"]
    with capture_activations(model, LAYERS) as acts:
        preds = model(pixel_values=x).logits
    with torch.no_grad(), capture_activations(proxy, LAYERS) as proxy_acts:
        proxy_preds = proxy(pixel_values=x).logits
    expected = blindspot_unlearning_loss(
        preds, batch["labels"].reshape(-1, 1), batch["forget"], proxy_preds, acts, proxy_acts, at_beta=50.0
    )
    torch.testing.assert_close(loss, expected)


class _HiddenStatesRegressor(torch.nn.Module):
    """A regressor returning `hidden_states` when asked, like a transformers model."""

    main_input_name = "inputs"

    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = torch.nn.Linear(10, 6), torch.nn.Linear(6, 6), torch.nn.Linear(6, 1)

    def forward(self, inputs, output_hidden_states=False, **kwargs):
        h1 = torch.relu(self.a(inputs))
        h2 = torch.relu(self.b(h1))
        out = {"logits": self.head(h2)}
        if output_hidden_states:
            out["hidden_states"] = (inputs, h1, h2)
        return out


def test_unlearn_with_hidden_states_returns_a_new_model_and_leaves_the_original_untouched(tmp_path):
    forget, retain = _tiny_data()
    torch.manual_seed(0)
    original = _HiddenStatesRegressor()
    before = copy.deepcopy(original.state_dict())
    unlearned = blindspot_unlearn(
        original,
        forget,
        retain,
        model_init=_HiddenStatesRegressor,
        activation_layers=[1, 2],
        epochs=2,
        batch_size=16,
        output_dir=str(tmp_path),
        use_cpu=True,
    )
    assert unlearned is not original
    for k, v in original.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} of the original model changed"
    assert any(not torch.equal(v, before[k]) for k, v in unlearned.state_dict().items())


def test_unlearning_moves_forget_predictions_towards_the_proxy(tmp_path):
    forget, retain = _tiny_data(n=96)
    original = _mlp(0)
    proxy = train_blindspot_model(lambda: _mlp(5), retain, epochs=1, lr=1e-2, batch_size=16)

    def gap(model):
        with torch.no_grad():
            return (model(forget[0]).logits - proxy(forget[0]).logits).abs().mean().item()

    unlearned = blindspot_unlearn(
        original,
        forget,
        retain,
        blindspot_model=proxy,
        activation_layers=LAYERS,
        epochs=8,
        lr=2e-2,
        batch_size=32,
        use_cpu=True,
    )
    assert gap(unlearned) < 0.5 * gap(original)


def test_trainer_errors(tmp_path):
    forget, retain = _tiny_data()
    dataset = BlindspotDataset.from_splits(forget, retain)
    kwargs = dict(model=_mlp(0), args=_args(tmp_path), train_dataset=dataset)
    with pytest.raises(ValueError, match="not submodules of model"):
        BlindspotUnlearningTrainer(**kwargs, blindspot_model=_mlp(1), activation_layers=["mlp.missing"])
    with pytest.raises(TypeError, match="activation_layers must be"):
        BlindspotUnlearningTrainer(**kwargs, blindspot_model=_mlp(1), activation_layers="mlp.layers.1")
    with pytest.raises(TypeError, match="non-empty list of ints or of strs"):
        BlindspotUnlearningTrainer(**kwargs, blindspot_model=_mlp(1), activation_layers=[1, "mlp.layers.1"])
    with pytest.raises(ValueError, match="at_beta"):
        BlindspotUnlearningTrainer(**kwargs, blindspot_model=_mlp(1), at_beta=-2.0)
    trainer = BlindspotUnlearningTrainer(**kwargs, blindspot_model=_mlp(1))  # the MLP returns no hidden_states
    batch = next(iter(trainer.get_train_dataloader()))
    with pytest.raises(ValueError, match="returned no hidden_states"):
        trainer.compute_loss(trainer.model, batch)
    with pytest.raises(ValueError, match="needs a 'forget' column"):
        trainer.compute_loss(trainer.model, {k: v for k, v in batch.items() if k != "forget"})


def test_blindspot_unlearn_errors():
    forget, retain = _tiny_data()
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        blindspot_unlearn("model", forget, retain, model_init=_mlp)
    with pytest.raises(ValueError, match="needs model_init"):
        blindspot_unlearn(_mlp(), forget, retain)
    with pytest.raises(ValueError, match="lr must be > 0"):
        blindspot_unlearn(_mlp(), forget, retain, model_init=_mlp, lr=0.0)
    with pytest.raises(ValueError, match="proxy_epochs must be > 0"):
        blindspot_unlearn(_mlp(), forget, retain, model_init=_mlp, proxy_epochs=0)
    with pytest.raises(TypeError, match="forget must be a pair of tensors"):
        blindspot_unlearn(_mlp(), forget[0], retain, model_init=_mlp)
    with pytest.raises(TypeError, match="model_init must be a callable"):
        train_blindspot_model(_mlp(), retain)


# ------------------------------------------------------------------------------------------------ Gaussian amnesiac


def test_gaussian_relabel_replaces_only_the_forget_labels_with_the_training_statistics():
    g = torch.Generator().manual_seed(0)
    labels = torch.randn(20000, generator=g, dtype=torch.float64) * 3.0 + 7.0
    mask = torch.arange(20000) % 4 == 0
    kept = labels.clone()
    new = gaussian_amnesiac_relabel(labels, mask, generator=torch.Generator().manual_seed(1))
    assert torch.equal(labels, kept)  # the input is not modified
    assert torch.equal(new[~mask], labels[~mask]) and (new[mask] != labels[mask]).all()
    # the draws follow N(mean(y), std(y)) of the whole label set (sample std, as pandas' .std())
    mean, std = labels.mean().item(), labels.std().item()
    assert new[mask].mean().item() == pytest.approx(mean, abs=0.1)
    assert new[mask].std().item() == pytest.approx(std, rel=0.05)
    # the draws are independent of the original forget labels
    corr = np.corrcoef(new[mask].numpy(), labels[mask].numpy())[0, 1]
    assert abs(corr) < 0.05
    fixed = gaussian_amnesiac_relabel(labels, mask, mean=-1.0, std=0.0)
    assert torch.equal(fixed[mask], torch.full((int(mask.sum()),), -1.0, dtype=torch.float64))
    again = gaussian_amnesiac_relabel(labels, mask, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again, new)


def test_gaussian_relabel_errors():
    labels = torch.randn(5)
    with pytest.raises(TypeError, match="labels must be a floating-point"):
        gaussian_amnesiac_relabel(torch.arange(5), torch.zeros(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="forget_mask must have shape"):
        gaussian_amnesiac_relabel(labels, torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="forget_mask must hold booleans or 0/1"):
        gaussian_amnesiac_relabel(labels, torch.full((5,), 2))
    with pytest.raises(ValueError, match="std must be >= 0"):
        gaussian_amnesiac_relabel(labels, torch.ones(5, dtype=torch.bool), std=-1.0)
    with pytest.raises(ValueError, match="fewer than 2 labels"):
        gaussian_amnesiac_relabel(labels[:1], torch.ones(1, dtype=torch.bool))


def test_gaussian_unlearn_leaves_the_original_untouched():
    forget, retain = _tiny_data()
    original = _mlp()
    before = copy.deepcopy(original.state_dict())
    unlearned = gaussian_amnesiac_unlearn(original, forget, retain, batch_size=16)
    assert unlearned is not original
    assert all(torch.equal(v, before[k]) for k, v in original.state_dict().items())
    assert any(not torch.equal(v, before[k]) for k, v in unlearned.state_dict().items())
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        gaussian_amnesiac_unlearn(None, forget, retain)


# -------------------------------------------------------------------------------------------- data, arguments, recipe


def test_friedman_data_forget_subpopulation_and_standardised_targets():
    data = friedman_unlearning_data(0, n_samples=1000, forget_below=0.2)
    assert (data.forget[0][:, 0] < 0.2).all() and (data.retain[0][:, 0] >= 0.2).all()
    assert (data.test_forget[0][:, 0] < 0.2).all() and (data.test_retain[0][:, 0] >= 0.2).all()
    assert len(data.forget[0]) + len(data.retain[0]) == 800 and len(data.test[0]) == 200
    y = data.train[1]
    assert abs(y.mean().item()) < 1e-5 and y.std().item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="forget_below must be in"):
        friedman_unlearning_data(0, forget_below=1.5)
    with pytest.raises(ValueError, match="n_samples must be"):
        friedman_unlearning_data(0, n_samples=5)


@pytest.mark.parametrize(
    "kwargs,flag",
    [
        ({"at_beta": -1.0}, "--at_beta"),
        ({"forget_below": 0.0}, "--forget_below"),
        ({"learning_rate": 0.0}, "--learning_rate"),
        ({"proxy_epochs": 0}, "--proxy_epochs"),
        ({"test_size": 1.0}, "--test_size"),
        ({"noise": -0.1}, "--noise"),
    ],
)
def test_arguments_errors(kwargs, flag):
    with pytest.raises(ValueError, match=flag):
        BlindspotArguments(output_dir="x", **kwargs).validate()


def test_recipe_runs_a_few_steps(tmp_path):
    import importlib.util
    import json

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_blindspot", repo_root() / "recipes" / "blindspot.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "run"
    metrics = recipe.main(
        [
            "--output_dir", str(out), "--max_steps", "4", "--n_samples", "400", "--original_epochs", "2",
            "--proxy_epochs", "1", "--hidden_size", "16", "--checkpoint_every", "2", "--log_every", "0",
        ]
    )  # fmt: skip
    assert {"eval/test_forget_mae", "eval/test_retain_mae", "eval/original_test_forget_mae"} <= set(metrics)
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert json.loads((out / "metrics.json").read_text())["slug"] == "blindspot"
    assert any((out / "checkpoints").iterdir())


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("blindspot").usage, namespace)
    assert namespace["unlearned"] is not namespace["original"]
    assert namespace["y_amnesiac"].shape == namespace["y_train"].shape
