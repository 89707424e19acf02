"""P13 `srat`: class weights, the separation loss and the SRAT objective against the formulas written plainly, the
DRW schedule, the Fisher ratio, the feature capture, the Trainer, the recipe and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hf_methods.common.adversarial import PGDConfig
from hf_methods.training.srat import (
    DeferredReweighting,
    SeparableReweightedATLoss,
    class_weights_from_counts,
    effective_number_weights,
    feature_separation_loss,
    inverse_frequency_weights,
    reweighted_classification_loss,
)

K = 4


def _batch(n=9, d=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, K, generator=g, dtype=dtype) * 2
    features = torch.randn(n, d, generator=g, dtype=dtype)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3, 1, 0][:n])  # class 3 (and 2) have a single member: no positive
    return logits, features, labels


# ----------------------------------------------------------------------------------------------------------- weights


def _effective_reference(counts, beta):
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    return [w * len(counts) / sum(raw) for w in raw]


@pytest.mark.parametrize("beta", [0.9, 0.99, 0.9999, 0.5])
def test_effective_number_weights_match_the_formula(beta):
    counts = [500, 120, 30, 7]
    expected = _effective_reference(counts, beta)
    got = effective_number_weights(counts, beta)
    assert got.dtype == torch.float64
    assert got.tolist() == pytest.approx(expected, rel=1e-9)
    assert got.sum().item() == pytest.approx(len(counts))


def test_effective_number_weights_limits():
    counts = np.array([400, 40, 4])
    assert effective_number_weights(counts, 0.0).tolist() == [1.0, 1.0, 1.0]  # β = 0: no reweighting
    inverse = [(1 / n) * 3 / sum(1 / m for m in counts) for n in counts]
    assert inverse_frequency_weights(counts).tolist() == pytest.approx(inverse, rel=1e-12)
    # β → 1: the effective number tends to n, the weights to inverse frequencies
    assert effective_number_weights(counts, 1 - 1e-9).tolist() == pytest.approx(inverse, rel=1e-5)
    assert class_weights_from_counts(counts, "none").tolist() == [1.0, 1.0, 1.0]
    assert torch.equal(class_weights_from_counts(counts, "inverse"), inverse_frequency_weights(counts))


def test_drw_schedule_defers_the_weights():
    schedule = DeferredReweighting([90, 10], kind="effective_num", drw_start=3)
    weights = effective_number_weights([90, 10])
    for epoch in range(3):
        assert schedule.weights_at(epoch).tolist() == [1.0, 1.0] and not schedule.is_active(epoch)
    for epoch in (3, 4, 50):
        assert torch.equal(schedule.weights_at(epoch), weights) and schedule.is_active(epoch)
    assert torch.equal(DeferredReweighting([90, 10], drw_start=0).weights_at(0), weights)  # plain reweighting
    assert DeferredReweighting([90, 10], kind="none", drw_start=0).weights_at(9).tolist() == [1.0, 1.0]
    assert DeferredReweighting(kind=[2.0, 0.5], drw_start=1).weights_at(1).tolist() == [2.0, 0.5]
    assert DeferredReweighting(kind="none", num_classes=3).num_classes == 3
    assert "drw_start=3" in repr(schedule)


# ----------------------------------------------------------------------------------------------------------- losses


def _separation_reference(features, labels, tau, normalize=True):
    """L_sep,i = −(1/|P(i)|) Σ_p log(exp(z_i·z_p/τ) / Σ_{a≠i} exp(z_i·z_a/τ)), in Python floats."""
    rows = features.tolist()
    if normalize:
        rows = [[v / math.sqrt(sum(u * u for u in r)) for v in r] for r in rows]
    ys = labels.tolist()
    out = []
    for i, zi in enumerate(rows):
        dots = [sum(a * b for a, b in zip(zi, za)) / tau for za in rows]
        denominator = sum(math.exp(dots[a]) for a in range(len(rows)) if a != i)
        positives = [p for p in range(len(rows)) if p != i and ys[p] == ys[i]]
        if not positives:
            out.append(0.0)
            continue
        out.append(-sum(math.log(math.exp(dots[p]) / denominator) for p in positives) / len(positives))
    return out


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("tau", [0.1, 0.5, 2.0])
def test_separation_loss_matches_the_loop(normalize, tau):
    _, features, labels = _batch()
    got = feature_separation_loss(features, labels, tau, normalize=normalize, reduction="none")
    expected = _separation_reference(features, labels, tau, normalize)
    assert got.tolist() == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert got[6].item() == 0.0  # the lone class-3 anchor
    mean = feature_separation_loss(features, labels, tau, normalize=normalize)
    assert mean.item() == pytest.approx(sum(expected) / len(expected), rel=1e-9)


def test_separation_loss_falls_when_classes_separate():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    mixed = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    separated = F.one_hot(labels, 3).double() + 0.01 * mixed.double()
    assert feature_separation_loss(separated, labels) < feature_separation_loss(mixed.double(), labels)
    # a lone anchor (batch of one) is finite, zero, and gives zero gradient
    lone = torch.randn(1, 3, requires_grad=True)
    loss = feature_separation_loss(lone, torch.tensor([1]))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(lone.grad, torch.zeros_like(lone))


def test_reweighted_classification_loss_matches_the_loop():
    logits, _, labels = _batch()
    weights = [0.5, 2.0, 1.0, 3.0]
    for gamma in (0.0, 2.0):
        got = reweighted_classification_loss(logits, labels, weights, gamma, reduction="none")
        expected = []
        for row, y in zip(logits.tolist(), labels.tolist()):
            p_y = math.exp(row[y]) / sum(math.exp(v) for v in row)
            expected.append(weights[y] * (1 - p_y) ** gamma * -math.log(p_y))
        assert got.tolist() == pytest.approx(expected, rel=1e-9)
    torch.testing.assert_close(reweighted_classification_loss(logits, labels), F.cross_entropy(logits, labels))


def test_srat_loss_is_weighted_ce_plus_lambda_separation():
    logits, features, labels = _batch()
    weights = torch.tensor([0.5, 2.0, 1.0, 3.0])
    loss_fn = SeparableReweightedATLoss(separation_weight=0.7, temperature=0.2, reduction="none")
    got = loss_fn(logits, features, labels, class_weights=weights)
    ce = [w * c for w, c in zip(weights[labels].tolist(), F.cross_entropy(logits, labels, reduction="none").tolist())]
    sep = _separation_reference(features, labels, 0.2)
    assert got.tolist() == pytest.approx([c + 0.7 * s for c, s in zip(ce, sep)], rel=1e-9)
    # λ = 0 and no weights: plain adversarial training's cross-entropy
    plain = SeparableReweightedATLoss(separation_weight=0.0)
    torch.testing.assert_close(plain(logits, features, labels), F.cross_entropy(logits, labels))
    # weights given at construction are the default; a per-call value overrides them
    fixed = SeparableReweightedATLoss(class_weights=weights, separation_weight=0.0, reduction="sum")
    assert fixed(logits, features, labels).item() == pytest.approx(sum(ce))
    unweighted = fixed(logits, features, labels, class_weights=torch.ones(K))
    assert unweighted.item() == pytest.approx(F.cross_entropy(logits, labels, reduction="sum").item())


def test_srat_loss_gradients_reach_logits_and_features():
    logits, features, labels = _batch(dtype=torch.float32)
    logits.requires_grad_(True)
    features.requires_grad_(True)
    SeparableReweightedATLoss()(logits, features, labels).backward()
    assert logits.grad.abs().sum() > 0 and features.grad.abs().sum() > 0


# ----------------------------------------------------------------------------------------------------------- training


def test_fisher_ratio_matches_numpy_and_is_scale_invariant():
    from hf_methods.training.srat import fisher_ratio

    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 4)
    features = torch.randn(12, 3, generator=g) + labels[:, None].float()
    h, y = features.double().numpy(), labels.numpy()
    mu = h.mean(0)
    between = sum((y == c).sum() * ((h[y == c].mean(0) - mu) ** 2).sum() for c in range(3))
    within = sum(((h[y == c] - h[y == c].mean(0)) ** 2).sum() for c in range(3))
    assert fisher_ratio(features, labels) == pytest.approx(between / within, rel=1e-9)
    assert fisher_ratio(features * 7.0, labels) == pytest.approx(between / within, rel=1e-6)


def test_features_are_the_classifier_input():
    from hf_methods.training.srat import logits_and_features
    from hf_methods.training.srat.training import digits_mlp

    model = digits_mlp(hidden_size=8).eval()
    x = torch.rand(3, 64)
    logits, features = logits_and_features(model, x)
    torch.testing.assert_close(features, model.mlp(x).last_hidden_state)
    torch.testing.assert_close(logits, model.classifier(features))
    with pytest.raises(ValueError, match="feature_module 'head'"):
        logits_and_features(model, x, feature_module="head")


def test_imbalanced_digits_follow_the_step_profile():
    from hf_methods.training.srat import imbalanced_digits

    data = imbalanced_digits(0, minority_classes=(5, 6, 7, 8, 9), minority_count=15)
    assert data.class_counts[5:] == [15] * 5 and min(data.class_counts[:5]) > 130
    assert torch.bincount(data.y, minlength=10).tolist() == data.class_counts
    assert data.majority_classes == (0, 1, 2, 3, 4)
    assert len(data.y_test) == 360 and torch.bincount(data.y_test).min() >= 35  # the test set stays balanced


def test_train_loop_learns_and_records_the_separation_loss():
    from hf_methods.training.srat import imbalanced_digits, train_imbalanced_at

    data = imbalanced_digits(0)
    data.x, data.y = data.x[::4], data.y[::4]  # a quarter of the set: a fast test
    probe = {"x": data.x_test[:60], "y": data.y_test[:60], "attack": PGDConfig(eps=0.1, steps=2)}
    model, history = train_imbalanced_at(
        data,
        seed=0,
        epochs=3,
        attack=PGDConfig(eps=0.1, steps=2),
        class_weights="effective_num",
        drw_start=1,
        separation_weight=1.0,
        hidden_size=32,
        lr=3e-3,
        probe=probe,
    )
    assert len(history["separation_loss"]) == 3 and len(history["probe_separation_loss"]) == 4
    assert history["classification_loss"][-1] < history["classification_loss"][0]
    assert history["probe_separation_loss"][-1] < history["probe_separation_loss"][0]


# ----------------------------------------------------------------------------------------------------------- Trainer


def _dataset(n=48):
    from datasets import Dataset

    g = torch.Generator().manual_seed(0)
    labels = [0] * (n * 3 // 4) + [1] * (n // 8) + [2] * (n - n * 3 // 4 - n // 8)
    x = torch.rand(n, 64, generator=g)
    return Dataset.from_dict({"pixel_values": x.tolist(), "labels": labels})


def _trainer(tmp_path, dataset=None, **kwargs):
    from transformers import TrainingArguments

    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification
    from hf_methods.training.srat import SRATTrainer

    torch.manual_seed(0)
    model = MLPForImageClassification(MLPConfig(input_size=64, hidden_sizes=[16], num_labels=3, hidden_act="relu"))
    args = TrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=2,
        per_device_train_batch_size=16,
        learning_rate=1e-2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
    )
    options = {"attack": PGDConfig(eps=0.1, steps=2), "drw_start": 1, **kwargs}
    return SRATTrainer(model=model, args=args, train_dataset=_dataset() if dataset is None else dataset, **options)


def test_trainer_counts_classes_trains_and_switches_drw_on(tmp_path):
    trainer = _trainer(tmp_path)
    assert torch.equal(trainer.reweighting.weights, effective_number_weights([36, 6, 6]))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    assert any(not torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items())
    logged = [entry for entry in trainer.state.log_history if "separation_loss" in entry]
    assert len(logged) == 6  # 3 steps per epoch, 2 epochs, logged every step
    assert [entry["drw_active"] for entry in logged] == [0.0] * 3 + [1.0] * 3
    assert all(entry["separation_loss"] > 0 for entry in logged)
    # evaluation runs the attack too (under the Trainer's no_grad) and reports the SRAT objective
    assert math.isfinite(trainer.evaluate(_dataset())["eval_loss"])


def test_trainer_loss_is_the_srat_loss_on_attacked_inputs(tmp_path):
    trainer = _trainer(tmp_path, attack=PGDConfig(eps=0.0, steps=0), separation_weight=0.5)
    model = trainer.model.eval()
    batch = {"pixel_values": torch.rand(8, 64), "labels": torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])}
    features = model.mlp(batch["pixel_values"]).last_hidden_state
    expected = SeparableReweightedATLoss(separation_weight=0.5)(model.classifier(features), features, batch["labels"])
    torch.testing.assert_close(trainer.compute_loss(model, batch), expected)  # eps = 0: the clean inputs
    # PGD raises the cross-entropy (the attack's objective; the separation term may move either way)
    clean = _trainer(tmp_path, attack=PGDConfig(eps=0.0, steps=0), separation_weight=0.0)
    attacked = _trainer(tmp_path, attack=PGDConfig(eps=0.3, steps=3), separation_weight=0.0)
    for trainer in (clean, attacked):
        trainer.model.load_state_dict(model.state_dict())
    assert attacked.compute_loss(attacked.model.eval(), batch) > clean.compute_loss(clean.model.eval(), batch) + 0.1


def test_trainer_errors(tmp_path):
    from hf_methods.training.srat import SRATTrainer

    with pytest.raises(TypeError, match="attack must be a PGDConfig"):
        _trainer(tmp_path, attack={"eps": 0.1})
    with pytest.raises(ValueError, match="feature_module 'head'"):
        _trainer(tmp_path, feature_module="head")
    with pytest.raises(ValueError, match="no 'label' column"):
        _trainer(tmp_path, label_column="label")
    with pytest.raises(ValueError, match="class_weights must be one of"):
        _trainer(tmp_path, class_weights="balanced")
    with pytest.raises(ValueError, match="3 entries"):
        _trainer(tmp_path, class_weights=[1.0, 2.0])
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'attack'"):
        SRATTrainer(model=torch.nn.Linear(2, 2))
    trainer = _trainer(tmp_path)
    with pytest.raises(ValueError, match="'labels' column"):
        trainer.compute_loss(trainer.model, {"pixel_values": torch.rand(2, 64)})


# ----------------------------------------------------------------------------------------------------------- bad input


def test_error_logits_not_2d():
    with pytest.raises(ValueError, match="logits must be 2-D"):
        SeparableReweightedATLoss()(torch.randn(4), torch.randn(4, 3), torch.zeros(4, dtype=torch.long))


def test_error_labels_out_of_range_and_dtype():
    logits, features = torch.randn(4, K), torch.randn(4, 3)
    with pytest.raises(ValueError, match="labels must lie in"):
        SeparableReweightedATLoss()(logits, features, torch.tensor([0, 1, 2, K]))
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        SeparableReweightedATLoss()(logits, features, torch.zeros(4))


def test_error_features_shape():
    logits, labels = torch.randn(4, K), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="features must be 2-D"):
        SeparableReweightedATLoss()(logits, torch.randn(4), labels)
    with pytest.raises(ValueError, match="features must have one row per example"):
        SeparableReweightedATLoss()(logits, torch.randn(3, 5), labels)
    with pytest.raises(TypeError, match="features must be a floating-point"):
        feature_separation_loss(torch.ones(4, 2, dtype=torch.long), labels)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"separation_weight": -1.0}, ValueError, "separation_weight must be"),
        ({"temperature": 0.0}, ValueError, "temperature must be"),
        ({"temperature": float("nan")}, ValueError, "temperature must be"),
        ({"focal_gamma": -0.5}, ValueError, "focal_gamma must be"),
        ({"reduction": "avg"}, ValueError, "reduction must be"),
        ({"separation_weight": "1"}, TypeError, "separation_weight must be a number"),
        ({"class_weights": "effective_num"}, TypeError, "class_weights must be a sequence"),
        ({"class_weights": [1.0, -1.0]}, ValueError, "finite and >= 0"),
    ],
)
def test_error_loss_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SeparableReweightedATLoss(**kwargs)


def test_error_class_weights_length():
    with pytest.raises(ValueError, match="class_weights must have 4 entries"):
        SeparableReweightedATLoss()(torch.randn(2, K), torch.randn(2, 3), torch.tensor([0, 1]), class_weights=[1, 2])


@pytest.mark.parametrize(
    ("counts", "error", "match"),
    [
        ([10, 0, 3], ValueError, "class_counts must all be >= 1"),
        ([10], ValueError, "one count per class"),
        ([1.5, 2.0], ValueError, "whole numbers"),
        ("10,3", TypeError, "class_counts must be a sequence"),
    ],
)
def test_error_class_counts(counts, error, match):
    with pytest.raises(error, match=match):
        effective_number_weights(counts)


@pytest.mark.parametrize("beta", [1.0, -0.1, 1.5])
def test_error_beta(beta):
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
        effective_number_weights([5, 3], beta)


def test_error_drw_arguments():
    with pytest.raises(ValueError, match="drw_start must be >= 0"):
        DeferredReweighting([5, 3], drw_start=-1)
    with pytest.raises(TypeError, match="drw_start must be an int"):
        DeferredReweighting([5, 3], drw_start=0.5)
    with pytest.raises(ValueError, match="class_weights must be one of"):
        DeferredReweighting([5, 3], kind="cb")
    with pytest.raises(ValueError, match="needs class_counts"):
        DeferredReweighting(kind="inverse")
    with pytest.raises(ValueError, match="epoch must be an int >= 0"):
        DeferredReweighting([5, 3]).weights_at(-1)


# ----------------------------------------------------------------------------------------- arguments, recipe, usage


def test_arguments_validate_with_clear_errors():
    from hf_methods.training.srat import SRATArguments
    from hf_methods.training.srat.training import parse_classes

    assert parse_classes("5-9") == (5, 6, 7, 8, 9) and parse_classes("0, 3-4") == (0, 3, 4)
    for field, value, match in [
        ("minority_classes", "5-x", "--minority_classes"),
        ("minority_classes", "0-9", "--minority_classes"),
        ("class_weights", "balanced", "--class_weights"),
        ("beta", 1.0, "--beta"),
        ("eps", 0.0, "--eps"),
        ("separation_weight", -1.0, "--separation_weight"),
        ("minority_count", 0, "--minority_count"),
        ("test_size", 1.0, "--test_size"),
    ]:
        with pytest.raises(ValueError, match=match):
            SRATArguments(output_dir="x", **{field: value}).validate()
    args = SRATArguments(output_dir="x", separation_weight=0.0, eps=0.2, attack_steps=4)
    assert args.build_loss().separation_weight == 0.0
    assert args.train_attack().step_size == pytest.approx(2.5 * 0.2 / 4)


def test_recipe_runs_a_few_steps(tmp_path):
    import importlib.util
    import json

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_srat", repo_root() / "recipes" / "srat.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    metrics = recipe.main(
        ["--output_dir", tmp_path, "--max_steps", "15", "--hidden_size", "16", "--eval_attack_steps", "2"]
        + ["--attack_steps", "2", "--drw_start", "1", "--checkpoint_every", "10", "--log_every", "1"]
    )
    assert 0.0 <= metrics["eval/robust_accuracy"] <= metrics["eval/clean_accuracy"] + 0.2
    assert metrics["eval/fisher_ratio"] > 0
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "README.md").is_file()
    logged = [json.loads(line) for line in (tmp_path / "logs" / "srat.jsonl").read_text().splitlines()]
    drw = [entry["train/drw_active"] for entry in logged if "train/drw_active" in entry]
    assert drw[0] == 0.0 and drw[-1] == 1.0  # 13 batches per epoch: DRW on from step 13


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("srat").usage, namespace)  # defines data, model and Trainer, and trains 2 epochs
    assert namespace["trainer"].state.global_step == 8
    assert torch.isfinite(namespace["loss"])
