"""Tests of P56 `shrinkmatch`: the shrink loss against the paper's equation and the official per-sample loop, the
FixMatch consistency loss, the auxiliary head, one training step, the Trainer (and FixMatch as its switch), the
recipe and the errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from hf_methods.training.shrinkmatch import (
    AuxHeadWrapper,
    FixMatchTrainer,
    ShrinkMatchState,
    ShrinkMatchTrainer,
    fixmatch_consistency_loss,
    shrink_class_space,
    shrink_loss,
    ssl_step,
)

TAU = 0.95


def loop_reference(probs, logits, tau):
    """The shrink loss written like the official loop (`CIFAR/shrinkmatch.py`), in Python floats."""
    losses, cutoffs = [], []
    for p_row, z_row in zip(probs.tolist(), logits.tolist()):
        order = sorted(range(len(p_row)), key=lambda k: -p_row[k])
        p = [p_row[k] for k in order]
        z = [z_row[k] for k in order]
        if p[0] >= tau:
            losses.append(0.0)
            cutoffs.append(1)
            continue
        for c in range(2, len(p)):
            sub_conf = p[0] / (p[0] + sum(p[c:]))
            if sub_conf >= tau or c == len(p) - 1:
                kept = [z[0], *z[c:]]
                ce = -kept[0] + math.log(sum(math.exp(v) for v in kept))
                losses.append(ce * p[0] * (1.0 if sub_conf >= tau else 0.0))
                cutoffs.append(c)
                break
        else:  # two classes: nothing can be removed
            losses.append(0.0)
            cutoffs.append(1)
    return losses, cutoffs


def _random(n, num_classes, sharpness, seed=0):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, num_classes, generator=g, dtype=torch.float64) * sharpness, dim=1)
    return probs, torch.randn(n, num_classes, generator=g, dtype=torch.float64) * 2


# ----------------------------------------------------------------------------------------------------- the math


@pytest.mark.parametrize("num_classes", [2, 3, 10, 30])
@pytest.mark.parametrize("sharpness", [1.0, 4.0, 10.0])
def test_vectorised_loss_matches_the_loop(num_classes, sharpness):
    probs, logits = _random(64, num_classes, sharpness, seed=num_classes)
    expected, cutoffs = loop_reference(probs, logits, TAU)
    torch.testing.assert_close(
        shrink_loss(probs, logits, TAU, reduction="none"), torch.tensor(expected, dtype=torch.float64)
    )
    assert shrink_class_space(probs, TAU).cutoff.tolist() == cutoffs
    # reduction "mean" divides by the whole batch (certain samples included), as the official loss / B
    torch.testing.assert_close(shrink_loss(probs, logits, TAU), torch.tensor(sum(expected) / 64, dtype=torch.float64))


def test_cutoff_is_the_smallest_passing_one():
    probs = torch.cat([_random(400, 10, 5.0, seed=1)[0], _random(100, 10, 0.2, seed=2)[0]])  # flat rows cannot pass
    space = shrink_class_space(probs, TAU)
    top = probs.sort(dim=1, descending=True).values
    for row, c, passed in zip(top.tolist(), space.cutoff.tolist(), space.passed.tolist()):
        if row[0] >= TAU:
            assert c == 1 and not passed
            continue
        confs = [row[0] / (row[0] + sum(row[k:])) for k in range(2, 10)]
        assert passed == any(v >= TAU for v in confs)
        assert c == (2 + next(i for i, v in enumerate(confs) if v >= TAU) if passed else 9)
    assert space.passed.any() and (~space.passed & space.uncertain).any()  # both cases occur


def test_worked_example_of_the_equation():
    # p sorted: 0.6 ≥ 0.35 ≥ 0.03 ≥ 0.02; τ = 0.9: conf(c=2) = 0.6 / (0.6 + 0.05) = 0.923 ≥ 0.9, so class 1 (0.35) goes
    probs = torch.tensor([[0.03, 0.6, 0.02, 0.35]], dtype=torch.float64)
    logits = torch.tensor([[0.5, 1.0, -1.0, 3.0]], dtype=torch.float64)
    space = shrink_class_space(probs, 0.9)
    assert space.keep.tolist() == [[True, True, True, False]]
    assert space.top_class.item() == 1 and space.cutoff.item() == 2
    assert space.sub_confidence.item() == pytest.approx(0.6 / 0.65)
    expected = 0.6 * (-1.0 + math.log(math.exp(0.5) + math.exp(1.0) + math.exp(-1.0)))
    assert shrink_loss(probs, logits, 0.9).item() == pytest.approx(expected)


def test_all_certain_batch_gives_zero_and_removed_classes_get_no_gradient():
    probs = F.one_hot(torch.arange(6) % 4, 4).double() * 0.97 + 0.0075
    logits = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    assert shrink_loss(probs, logits, TAU).item() == 0.0
    probs = torch.tensor([[0.03, 0.6, 0.02, 0.35]], dtype=torch.float64)
    logits = torch.randn(1, 4, dtype=torch.float64, requires_grad=True)
    shrink_loss(probs, logits, 0.9).backward()
    assert logits.grad[0, 3] == 0 and (logits.grad[0, :3] != 0).all()


def test_fixmatch_consistency_loss_is_the_masked_soft_cross_entropy():
    probs, logits = _random(32, 10, 8.0, seed=3)
    expected = []
    for p, z in zip(probs.tolist(), logits.tolist()):
        log_norm = math.log(sum(math.exp(v) for v in z))
        ce = -sum(pk * (zk - log_norm) for pk, zk in zip(p, z))
        expected.append(ce if max(p) >= TAU else 0.0)
    got = fixmatch_consistency_loss(probs, logits, TAU, reduction="none")
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    assert 0 < sum(v > 0 for v in expected) < 32


# ----------------------------------------------------------------------------------------------------- errors


def test_error_probabilities_that_are_logits():
    with pytest.raises(ValueError, match="probs_weak must hold probabilities: rows >= 0 that sum to 1"):
        shrink_loss(torch.randn(4, 5), torch.randn(4, 5))


def test_error_negative_probabilities():
    with pytest.raises(ValueError, match="probs_weak must hold probabilities"):
        shrink_loss(torch.tensor([[1.5, -0.5]]), torch.randn(1, 2))


def test_error_shape_mismatch():
    with pytest.raises(ValueError, match="logits_strong must have the shape of probs_weak"):
        shrink_loss(torch.full((4, 5), 0.2), torch.randn(4, 6))


def test_error_probs_not_2d():
    with pytest.raises(ValueError, match="probs_weak must be 2-D"):
        shrink_loss(torch.full((5,), 0.2), torch.randn(5))


def test_error_probs_type():
    with pytest.raises(TypeError, match="probs_weak must be a torch.Tensor"):
        shrink_loss([[0.5, 0.5]], torch.randn(1, 2))
    with pytest.raises(TypeError, match="probs_weak must be a floating-point tensor"):
        shrink_loss(torch.ones(2, 1, dtype=torch.long).expand(2, 2), torch.randn(2, 2))


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5, float("nan")])
def test_error_threshold(threshold):
    with pytest.raises(ValueError, match="threshold must be"):
        shrink_loss(torch.full((2, 4), 0.25), torch.randn(2, 4), threshold)


def test_error_reduction():
    with pytest.raises(ValueError, match="reduction must be"):
        shrink_loss(torch.full((2, 4), 0.25), torch.randn(2, 4), reduction="avg")


# ----------------------------------------------------------------------------------------------------- the model


def _mlp(hidden=32, num_labels=10):
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(0)
    return MLPForImageClassification(
        MLPConfig(input_size=64, hidden_sizes=[hidden, hidden], hidden_act="relu", num_labels=num_labels)
    )


def test_aux_head_reads_the_classifier_features():
    backbone = _mlp(hidden=32)
    model = AuxHeadWrapper(backbone).eval()
    assert [m.out_features for m in model.head_aux if isinstance(m, torch.nn.Linear)] == [8, 8, 10]  # d/4, d/4, C
    x = torch.rand(5, 64)
    out = model(pixel_values=x, aux_start=2)
    torch.testing.assert_close(out.logits, backbone(pixel_values=x).logits)
    torch.testing.assert_close(out.features, backbone.mlp(x).last_hidden_state)
    torch.testing.assert_close(out.aux_logits, model.head_aux(out.features[2:]))
    assert model(pixel_values=x).aux_logits is None  # inference skips the head


def test_aux_head_errors():
    with pytest.raises(ValueError, match="classifier_name='head'"):
        AuxHeadWrapper(_mlp(), classifier_name="head")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        AuxHeadWrapper("mlp")
    with pytest.raises(ValueError, match="num_labels must be >= 2"):
        AuxHeadWrapper(_mlp(), num_labels=1)
    with pytest.raises(ValueError, match="aux_start must be"):
        AuxHeadWrapper(_mlp())(pixel_values=torch.rand(3, 64), aux_start=4)


def test_ratio_state_is_an_ema_started_at_the_first_batch():
    state = ShrinkMatchState(10, ratio_momentum=0.9)
    assert state.update_ratio(0.5) == pytest.approx(0.5)
    assert state.update_ratio(1.0) == pytest.approx(0.9 * 0.5 + 0.1)
    probs = torch.softmax(torch.randn(8, 10), dim=1)
    aligned = state.align(probs)
    expected = probs / (probs.mean(0) / 32)  # the queue holds one batch mean and 31 zero rows
    torch.testing.assert_close(aligned, expected / expected.sum(1, keepdim=True))
    with pytest.raises(ValueError, match="ratio_momentum must be"):
        ShrinkMatchState(10, ratio_momentum=1.0)


def _views(n_labeled=4, n_unlabeled=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.rand(n_labeled, 64, generator=g),
        torch.arange(n_labeled) % 10,
        torch.rand(n_unlabeled, 64, generator=g),
    )


def test_step_is_fixmatch_plus_the_reweighted_shrink_term():
    x, y, u = _views()
    u_strong = (u + 0.1).clamp(0, 1)
    model = AuxHeadWrapper(_mlp()).train()
    state = ShrinkMatchState(10, ratio_momentum=0.9)
    state.update_ratio(0.4)  # r̄ = 0.4 before; this batch has no certain sample, so r̄ becomes 0.36
    out = ssl_step(model, x, y, u, u_strong, state=state, threshold=0.3, lambda_u=2.0)
    logits = model(pixel_values=torch.cat([x, u, u_strong]), aux_start=12)
    probs = torch.softmax(logits.logits[4:12].detach(), dim=1)
    certain = (probs.max(1).values >= 0.3).float().mean().item()
    ratio = 0.9 * 0.4 + 0.1 * certain
    expected = (
        F.cross_entropy(logits.logits[:4], y)
        + 2.0 * fixmatch_consistency_loss(probs, logits.logits[12:], 0.3)
        + 2.0 * ratio * shrink_loss(probs, logits.aux_logits, 0.3)
    )
    torch.testing.assert_close(out.loss, expected)
    assert out.certain_ratio_ema == pytest.approx(ratio)
    out.loss.backward()
    assert model.head_aux[0].weight.grad.abs().sum() > 0


def test_fixmatch_step_leaves_the_aux_head_alone():
    x, y, u = _views()
    model = AuxHeadWrapper(_mlp()).train()
    out = ssl_step(model, x, y, u, u, state=ShrinkMatchState(10), shrink=False)
    out.loss.backward()
    assert model.head_aux[0].weight.grad is None
    assert out.shrink_loss == 0.0 and out.gradient_fraction == out.certain_ratio


def test_unlabeled_indices_are_seeded_passes():
    from hf_methods.training.shrinkmatch.objective import unlabeled_indices

    first = torch.cat([unlabeled_indices(s, 10, 4, seed=3) for s in range(5)])  # 20 = two passes over 10 samples
    assert sorted(first[:10].tolist()) == list(range(10)) and sorted(first[10:].tolist()) == list(range(10))
    assert torch.equal(unlabeled_indices(2, 10, 4, seed=3), first[8:12])


# ----------------------------------------------------------------------------------------------------- Trainer


def _datasets(n_labeled=20, n_unlabeled=64):
    from datasets import Dataset

    g = torch.Generator().manual_seed(0)
    labeled = Dataset.from_dict(
        {
            "pixel_values": torch.rand(n_labeled, 64, generator=g).numpy(),
            "labels": (torch.arange(n_labeled) % 10).numpy(),
        }
    ).with_format("torch")
    unlabeled = Dataset.from_dict({"pixel_values": torch.rand(n_unlabeled, 64, generator=g).numpy()})
    return labeled, unlabeled.with_format("torch")


def _trainer(tmp_path, cls=ShrinkMatchTrainer, model=None, **kwargs):
    from transformers import TrainingArguments

    labeled, unlabeled = _datasets()
    defaults = dict(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=0.1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
    )
    trainer_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k not in TrainingArguments.__dataclass_fields__}
    args = TrainingArguments(**{**defaults, **kwargs})
    model = AuxHeadWrapper(_mlp()) if model is None else model
    return cls(
        model=model,
        args=args,
        train_dataset=labeled,
        unlabeled_dataset=unlabeled,
        image_shape=(1, 8, 8),
        mu=2,
        threshold=0.2,
        **trainer_kwargs,
    )


def test_trainer_trains_with_datasets_and_checkpoints_its_state(tmp_path):
    trainer = _trainer(tmp_path, save_strategy="steps", save_steps=2, ema_momentum=0.5)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    ema_before = trainer.ema_model.model.classifier.weight.clone()
    trainer.train()
    assert any(not torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items())
    assert not torch.equal(trainer.ema_model.model.classifier.weight, ema_before)  # the EMA model followed
    logged = trainer.state.log_history[0]
    assert {"labeled_loss", "unlabeled_loss", "shrink_loss", "certain_ratio", "gradient_fraction"} <= set(logged)
    ratio = float(trainer.ssl_state.certain_ratio_ema)
    saved = torch.load(tmp_path / "checkpoint-2" / "shrinkmatch_state.pt", weights_only=True)
    assert "state.certain_ratio_ema" in saved and any(k.startswith("ema.") for k in saved)
    resumed = _trainer(tmp_path, ema_momentum=0.5)
    resumed._load_from_checkpoint(str(tmp_path / "checkpoint-2"))
    torch.testing.assert_close(resumed.ssl_state.certain_ratio_ema, saved["state.certain_ratio_ema"])
    assert math.isfinite(ratio)
    assert trainer.evaluate(_datasets()[0])["eval_loss"] > 0


def test_fixmatch_trainer_is_the_switch_and_takes_a_plain_classifier(tmp_path):
    trainer = _trainer(tmp_path, cls=FixMatchTrainer, model=_mlp())
    assert trainer.shrink is False
    trainer.train()
    assert "shrink_loss" not in trainer.state.log_history[0]
    with pytest.raises(ValueError, match="FixMatchTrainer has no shrink term"):
        _trainer(tmp_path, cls=FixMatchTrainer, shrink=True)


def test_trainer_errors(tmp_path):
    with pytest.raises(TypeError, match="AuxHeadWrapper"):
        _trainer(tmp_path, model=_mlp())
    with pytest.raises(ValueError, match="lambda_u must be"):
        _trainer(tmp_path, lambda_u=-1.0)
    with pytest.raises(ValueError, match="threshold must be"):
        ShrinkMatchTrainer(unlabeled_dataset=_datasets()[1], threshold=2.0)
    with pytest.raises(ValueError, match="mu must be"):
        ShrinkMatchTrainer(unlabeled_dataset=_datasets()[1], mu=0)
    with pytest.raises(TypeError, match="unlabeled_dataset must be"):
        ShrinkMatchTrainer(unlabeled_dataset=None)
    with pytest.raises(ValueError, match="unlabeled_dataset is empty"):
        ShrinkMatchTrainer(unlabeled_dataset=_datasets()[1].select([]))
    with pytest.raises(ValueError, match="image_shape must be"):
        ShrinkMatchTrainer(unlabeled_dataset=_datasets()[1], image_shape=(8, 8))


# ----------------------------------------------------------------------------------------------------- training code


def test_ssl_digits_split_and_a_short_run():
    from hf_methods.training.shrinkmatch.training import ssl_digits, train_ssl

    data = ssl_digits(0, labels_per_class=2)
    assert data.y_labeled.bincount().tolist() == [2] * 10 and len(data.x_unlabeled) == 1437
    result = train_ssl(
        data.x_labeled, data.y_labeled, data.x_unlabeled[:200], data.x_test, data.y_test,
        steps=6, batch_size=4, mu=2, hidden_size=16, eval_every=3, log_every=3,
    )  # fmt: skip
    assert len(result["curve"]) == 2 and 0 <= result["test_accuracy"] <= 1
    assert len(result["stats"]) == 2 and result["stats_columns"][0] == "step"
    with pytest.raises(ValueError, match="labels_per_class"):
        ssl_digits(0, labels_per_class=0)


def test_arguments_validate():
    from hf_methods.training.shrinkmatch.training import ShrinkMatchArguments

    for kwargs, match in [
        ({"method": "mixmatch"}, "--method"),
        ({"threshold": 1.5}, "--threshold"),
        ({"mu": 0}, "--mu"),
        ({"ema_momentum": 1.0}, "--ema_momentum"),
        ({"learning_rate": 0.0}, "--learning_rate"),
    ]:
        with pytest.raises(ValueError, match=match):
            ShrinkMatchArguments(output_dir="x", **kwargs).validate()


def test_recipe_runs_a_few_steps(tmp_path):
    import json

    from recipes.shrinkmatch import main

    common = ["--max_steps", "4", "--hidden_size", "16", "--batch_size", "4", "--mu", "2", "--log_every", "2"]
    metrics = main(["--output_dir", str(tmp_path / "a"), "--checkpoint_every", "2", "--cpu_threads", "1", *common])
    assert 0 <= metrics["eval/accuracy"] <= 1
    assert (tmp_path / "a" / "model.safetensors").is_file() and (tmp_path / "a" / "README.md").is_file()
    summary = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert summary["slug"] == "shrinkmatch"
    from hf_methods.common.mlp import MLPForImageClassification

    MLPForImageClassification.from_pretrained(tmp_path / "a")  # the saved EMA classifier loads without the room


def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("shrinkmatch").usage, namespace)
    assert torch.isfinite(namespace["loss"]) and namespace["loss"] > 0


@pytest.mark.slow
def test_recipe_resume_is_bit_exact(tmp_path):
    import subprocess
    import sys

    from safetensors.torch import load_file

    from hf_methods.zoo import repo_root

    recipe = str(repo_root() / "recipes" / "shrinkmatch.py")
    common = ["--max_steps", "20", "--hidden_size", "32", "--log_every", "0", "--cpu_threads", "1"]
    run = lambda *flags: subprocess.run([sys.executable, recipe, *flags, *common], check=True, capture_output=True)  # noqa: E731
    run("--output_dir", tmp_path / "a", "--checkpoint_every", "0")
    resumed = tmp_path / "b"
    run("--output_dir", resumed, "--checkpoint_every", "10")
    first = sorted((resumed / "checkpoints").iterdir())[0]  # saved after step 10
    run("--output_dir", resumed, "--resume_from_checkpoint", first, "--checkpoint_every", "10")
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
