"""Tests of P44 `wad`: knowledge generation, the weighted loss, the rounds, the Trainer and the recipe."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hf_methods.training.wad.knowledge import (
    class_similarity_scores,
    promotion_fraction,
    prototype_pseudo_labels,
    pseudo_labels_and_weights,
    select_reliable,
)
from hf_methods.training.wad.loss import WADLoss, wad_objective, weighted_pseudo_label_loss


def _features(n_u=17, n_l=12, dim=5, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    f_u = torch.randn(n_u, dim, generator=g, dtype=torch.float64)
    f_l = torch.randn(n_l, dim, generator=g, dtype=torch.float64)
    y_l = torch.arange(n_l) % classes
    return f_u, f_l, y_l


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


# ------------------------------------------------------------------------------------------------------- knowledge


def test_nearest_scores_match_a_loop_over_labelled_examples():
    f_u, f_l, y_l = _features()
    scores = class_similarity_scores(f_u, f_l, y_l, mode="nearest", chunk_size=5)  # several chunks
    for i, u in enumerate(f_u.tolist()):
        for c in range(3):
            best = max(_cos(u, x) for x, y in zip(f_l.tolist(), y_l.tolist()) if y == c)
            assert scores[i, c].item() == pytest.approx(best, abs=1e-12)


def test_prototype_scores_match_numpy_class_means():
    f_u, f_l, y_l = _features()
    scores = class_similarity_scores(f_u, f_l, y_l, mode="prototype").numpy()
    u, labelled = f_u.numpy(), f_l.numpy()
    labelled = labelled / np.linalg.norm(labelled, axis=1, keepdims=True)
    for c in range(3):
        a = labelled[y_l.numpy() == c].mean(0)
        a /= np.linalg.norm(a)
        np.testing.assert_allclose(scores[:, c], u @ a / np.linalg.norm(u, axis=1), atol=1e-12)


def test_weight_is_the_official_top_two_formula():
    f_u, f_l, y_l = _features(n_u=40)
    yhat, w = prototype_pseudo_labels(f_u, f_l, y_l)
    scores = class_similarity_scores(f_u, f_l, y_l)
    for i, row in enumerate(scores.tolist()):
        s = sorted(row)
        assert w[i].item() == pytest.approx(s[-1] * (1 - s[-2] / s[-1]), abs=1e-12)  # official eval.py
        assert yhat[i].item() == row.index(s[-1])
    assert (w >= 0).all() and (w <= 2).all()


def test_weights_separate_points_near_a_class_from_points_between_classes():
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(4)[:3] * 5  # three known classes; unknown points sit at the unused fourth axis
    f_l = (centres.repeat_interleave(5, 0) + 0.3 * torch.randn(15, 4, generator=g)).float()
    y_l = torch.arange(3).repeat_interleave(5)
    known = centres.repeat_interleave(20, 0) + 0.3 * torch.randn(60, 4, generator=g)
    unknown = torch.tensor([1.0, 1.0, 1.0, 5.0]) + 0.3 * torch.randn(60, 4, generator=g)
    yhat, w = prototype_pseudo_labels(torch.cat([known, unknown]), f_l, y_l)
    assert torch.equal(yhat[:60], torch.arange(3).repeat_interleave(20))
    from hf_methods.training.wad.training import weight_auroc

    assert weight_auroc(w, torch.arange(120) < 60) > 0.95


def test_promotion_fraction_is_the_official_polynomial_decay():
    def polynomial_decay(step, high, low, decay_steps, power=2):  # datasets.py of the official code, written out
        step = min(step, decay_steps)
        return (high - low) * (1 - step / decay_steps) ** power + low

    values = [promotion_fraction(t, 0.1, 5) for t in range(1, 7)]
    assert values == pytest.approx([polynomial_decay(t, 0.1, 0, 5, 2) for t in range(1, 7)])
    assert values == pytest.approx([0.064, 0.036, 0.016, 0.004, 0.0, 0.0])
    assert promotion_fraction(1, 0.5, 2, power=1.0) == pytest.approx(0.25)


def test_select_reliable_takes_the_smallest_cross_entropies():
    g = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(30, 4, generator=g), torch.randint(0, 4, (30,), generator=g)
    losses = [-torch.log_softmax(row, 0)[y].item() for row, y in zip(logits, labels)]
    chosen = select_reliable(logits, labels, 7)
    assert chosen.tolist() == sorted(range(30), key=losses.__getitem__)[:7]
    assert len(select_reliable(logits, labels, 0)) == 0


# ------------------------------------------------------------------------------------------------------- loss


def test_weighted_loss_matches_a_loop_and_divides_by_the_batch_size():
    g = torch.Generator().manual_seed(2)
    logits, labels = torch.randn(9, 5, generator=g, dtype=torch.float64), torch.randint(0, 5, (9,), generator=g)
    weights = torch.rand(9, generator=g, dtype=torch.float64)
    per = weighted_pseudo_label_loss(logits, labels, weights, reduction="none")
    for i in range(9):
        row = logits[i].tolist()
        ce = math.log(sum(math.exp(v) for v in row)) - row[labels[i]]
        assert per[i].item() == pytest.approx(weights[i].item() * ce, abs=1e-12)
    assert weighted_pseudo_label_loss(logits, labels, weights).item() == pytest.approx(per.sum().item() / 9)
    ones = torch.ones(9, dtype=torch.float64)
    torch.testing.assert_close(WADLoss()(logits, labels, ones), F.cross_entropy(logits, labels))


def test_objective_and_gradients():
    g = torch.Generator().manual_seed(3)
    logits_l = torch.randn(4, 3, generator=g, requires_grad=True)
    logits_u = torch.randn(6, 3, generator=g, requires_grad=True)
    y, yhat = torch.randint(0, 3, (4,), generator=g), torch.randint(0, 3, (6,), generator=g)
    w = torch.rand(6, generator=g, requires_grad=True)
    loss = wad_objective(logits_l, y, logits_u, yhat, w)
    expected = F.cross_entropy(logits_l, y) + (w * F.cross_entropy(logits_u, yhat, reduction="none")).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert w.grad is None  # the weights are constants of the student's loss
    assert logits_u.grad.abs().sum() > 0 and logits_l.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda u, l, y: ([1.0], l, y), TypeError, "unlabelled_features"),
        (lambda u, l, y: (u[0], l, y), ValueError, "unlabelled_features"),
        (lambda u, l, y: (u, l[:, :3], y), ValueError, "feature size"),
        (lambda u, l, y: (u, l, y.double()), TypeError, "labelled_labels"),
        (lambda u, l, y: (u, l, y[:-1]), ValueError, "labelled_labels"),
        (lambda u, l, y: (u, l, y.clamp(max=1) * 2), ValueError, r"class\(es\) \[1\]"),
        (lambda u, l, y: (u, l[:0], y[:0]), ValueError, "labelled_features is empty"),
    ],
)
def test_knowledge_rejects_bad_inputs(change, error, match):
    with pytest.raises(error, match=match):
        prototype_pseudo_labels(*change(*_features()))


def test_knowledge_rejects_bad_mode_and_num_classes():
    f_u, f_l, y_l = _features()
    with pytest.raises(ValueError, match="mode"):
        prototype_pseudo_labels(f_u, f_l, y_l, mode="mean")
    with pytest.raises(ValueError, match="num_classes"):
        prototype_pseudo_labels(f_u, f_l, torch.zeros_like(y_l), num_classes=1)
    with pytest.raises(ValueError, match="labelled_labels must lie"):
        prototype_pseudo_labels(f_u, f_l, y_l, num_classes=2)
    with pytest.raises(ValueError, match="scores"):
        pseudo_labels_and_weights(torch.zeros(3, 1))


def test_schedule_and_selection_reject_bad_inputs():
    with pytest.raises(ValueError, match="alpha"):
        promotion_fraction(1, 1.5, 5)
    with pytest.raises(ValueError, match="rounds"):
        promotion_fraction(1, 0.1, 0)
    with pytest.raises(ValueError, match="round_index"):
        promotion_fraction(0, 0.1, 5)
    with pytest.raises(ValueError, match="power"):
        promotion_fraction(1, 0.1, 5, power=0.0)
    with pytest.raises(ValueError, match="count"):
        select_reliable(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), 4)
    with pytest.raises(ValueError, match="pseudo_labels"):
        select_reliable(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long), 1)


def test_loss_rejects_bad_weights():
    logits, labels = torch.zeros(3, 2), torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match="weights must have shape"):
        WADLoss()(logits, labels, torch.ones(2))
    with pytest.raises(TypeError, match="weights must be a floating"):
        WADLoss()(logits, labels, torch.ones(3, dtype=torch.long))
    with pytest.raises(ValueError, match="weights must be finite"):
        WADLoss()(logits, labels, torch.tensor([1.0, math.nan, 1.0]))
    with pytest.raises(ValueError, match="reduction"):
        WADLoss(reduction="max")


# ------------------------------------------------------------------------------------------------------- trainer


def _toy_trainer(tmp_path, **kwargs):
    import datasets
    from transformers import TrainingArguments

    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification, MLPModel
    from hf_methods.training.wad import WADTrainer

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 8, generator=g) * 3
    x_l = centres.repeat_interleave(4, 0) + 0.3 * torch.randn(12, 8, generator=g)
    y_l = torch.arange(3).repeat_interleave(4)
    x_u = torch.cat([centres.repeat_interleave(10, 0), torch.zeros(10, 8)]) + 0.3 * torch.randn(40, 8, generator=g)
    labelled = datasets.Dataset.from_dict({"pixel_values": x_l.tolist(), "labels": y_l.tolist()})
    unlabelled = datasets.Dataset.from_dict({"pixel_values": x_u.tolist()})
    torch.manual_seed(0)
    student = MLPForImageClassification(MLPConfig(input_size=8, hidden_sizes=[16], num_labels=3))
    teacher = MLPModel(MLPConfig(input_size=8, hidden_sizes=[16], hidden_act="tanh"))
    args = TrainingArguments(
        str(tmp_path), max_steps=2, per_device_train_batch_size=8, learning_rate=1e-2, report_to=[],
        save_strategy="no", use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    options = {"labeled_dataset": labelled, "unlabeled_dataset": unlabelled, "rounds": 2, "alpha": 0.4, **kwargs}
    return WADTrainer(student, args, teacher=teacher, **options)


def test_trainer_runs_rounds_and_promotes(tmp_path):
    trainer = _toy_trainer(tmp_path)
    teacher_before = {k: v.clone() for k, v in trainer.teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    pseudo_labels, weights = trainer.generate_knowledge()
    trainer.train()
    assert [h["round"] for h in trainer.history] == [1, 2, 3]
    assert [h["promoted"] for h in trainer.history] == [int(0.1 * 40), 0, 0]  # α(1 − 1/2)² = 0.1 of 40
    promoted = trainer.promoted_index
    assert len(promoted) == 4 and len(trainer.unlabelled_index) == 36
    assert set(promoted.tolist()).isdisjoint(trainer.unlabelled_index.tolist())
    assert torch.equal(trainer.promoted_labels, pseudo_labels[promoted])  # the teacher's labels, fixed teacher
    assert len(trainer.labelled_pool[1]) == 16
    assert all(torch.equal(v, trainer.teacher.state_dict()[k]) for k, v in teacher_before.items())
    assert any(not torch.equal(v, trainer.model.state_dict()[k]) for k, v in student_before.items())
    assert math.isfinite(trainer.history[-1]["train_loss"]) and (weights >= 0).all()


def test_trainer_uniform_weights_and_reference_refresh(tmp_path):
    trainer = _toy_trainer(tmp_path, uniform_weights=True)
    _, weights = trainer.generate_knowledge()
    assert torch.equal(weights, torch.ones_like(weights))
    trainer.promote(0.25)
    trainer.refresh_reference()
    reference, labels = trainer._reference
    assert len(reference) == len(labels) == 12 + 10


def test_trainer_rejects_bad_arguments(tmp_path):
    import datasets

    with pytest.raises(TypeError, match="labeled_dataset must be a datasets.Dataset"):
        _toy_trainer(tmp_path, labeled_dataset={"pixel_values": torch.zeros(2, 8)})
    with pytest.raises(ValueError, match="unlabeled_dataset has no column 'pixel_values'"):
        _toy_trainer(tmp_path, unlabeled_dataset=datasets.Dataset.from_dict({"x": [[0.0] * 8]}))
    with pytest.raises(ValueError, match="similarity"):
        _toy_trainer(tmp_path, similarity="cosine")
    with pytest.raises(ValueError, match="rounds"):
        _toy_trainer(tmp_path, rounds=0)
    with pytest.raises(ValueError, match="alpha"):
        _toy_trainer(tmp_path, alpha=-0.1)
    with pytest.raises(ValueError, match="train_dataset"):
        _toy_trainer(tmp_path, train_dataset=None)
    with pytest.raises(ValueError, match="every class"):
        _toy_trainer(
            tmp_path, labeled_dataset=datasets.Dataset.from_dict({"pixel_values": [[0.0] * 8] * 2, "labels": [0, 2]})
        )
    with pytest.raises(ValueError, match="resume"):
        _toy_trainer(tmp_path).train(resume_from_checkpoint=True)


# ------------------------------------------------------------------------------------------------------- training


def test_mismatch_digits_split():
    from hf_methods.training.wad.training import mismatch_digits

    data = mismatch_digits(0, mismatch=0.6)
    assert torch.equal(torch.bincount(data.y_labelled), torch.full((6,), 10))
    assert abs((~data.u_known).float().mean().item() - 0.6) < 0.01
    assert set(data.u_class[~data.u_known].tolist()) == {6, 7, 8, 9}
    assert torch.equal(data.u_label[data.u_known], data.u_class[data.u_known])  # 0-5 keep their index
    assert data.y_test.max() == 5 and len(data.y_test) > 200
    rows = {tuple(r.tolist()) for r in data.x_labelled}
    assert not any(tuple(r.tolist()) in rows for r in data.x_unlabelled[:100])
    assert torch.equal(mismatch_digits(0).x_unlabelled, data.x_unlabelled)  # seeded
    with pytest.raises(ValueError, match="mismatch"):
        mismatch_digits(0, mismatch=1.0)


def test_pools_state_round_trip():
    from hf_methods.training.wad.training import PCATeacher, WADPools, digits_student, mismatch_digits, pool_features

    data = mismatch_digits(1)
    teacher = PCATeacher(torch.cat([data.x_labelled, data.x_unlabelled]), 16)
    features = pool_features(teacher, data.x_labelled), pool_features(teacher, data.x_unlabelled)
    make = lambda: WADPools(data.x_labelled, data.y_labelled, data.x_unlabelled, *features, num_classes=6)  # noqa: E731
    pools, other = make(), make()
    chosen = pools.promote(digits_student(6, 8), 0.1)
    assert len(chosen) == int(0.1 * len(data.x_unlabelled))
    other.load_state_dict(pools.state_dict())
    assert torch.equal(other.unlabelled_index, pools.unlabelled_index)
    assert torch.equal(other.weights, pools.weights) and torch.equal(other.labelled[1], pools.labelled[1])
    x, yhat, w = pools.unlabelled_batch(3, 16, seed=0)
    assert x.shape == (16, 64) and torch.equal(pools.unlabelled_batch(3, 16, seed=0)[2], w)


def test_arguments_reject_bad_flags():
    from hf_methods.training.wad.training import WADArguments

    for flags, name in [
        ({"rounds": 0}, "--rounds"),
        ({"alpha": 2.0}, "--alpha"),
        ({"similarity": "mean"}, "--similarity"),
        ({"teacher": "resnet"}, "--teacher"),
        ({"mismatch": 1.0}, "--mismatch"),
        ({"known_classes": "0,0,1"}, "--known_classes"),
        ({"known_classes": "a,b"}, "--known_classes"),
        ({"learning_rate": 0.0}, "--learning_rate"),
        ({"max_steps": 3}, "--max_steps"),
    ]:
        with pytest.raises(ValueError, match=name):
            WADArguments(output_dir="x", **flags).validate()
    assert WADArguments(output_dir="x", max_steps=1500, rounds=5).steps_per_round == 250


def test_recipe_runs_a_few_steps(tmp_path):
    import json

    from recipes.wad import main

    metrics = main(["--output_dir", str(tmp_path), "--max_steps", "6", "--rounds", "1", "--log_every", "0",
                    "--checkpoint_every", "0", "--cpu_threads", "1"])  # fmt: skip
    assert 0.0 <= metrics["eval/known_class_accuracy"] <= 1.0 and metrics["eval/weight_auroc"] > 0.75
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "README.md").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["slug"] == "wad"


@pytest.mark.slow
def test_recipe_resume_is_exact_across_a_promotion(tmp_path):
    from safetensors.torch import load_file

    from recipes.wad import main

    common = ["--max_steps", "40", "--rounds", "1", "--alpha", "0.4", "--log_every", "0", "--cpu_threads", "1"]
    main(["--output_dir", str(tmp_path / "a"), "--checkpoint_every", "0", *common])
    main(["--output_dir", str(tmp_path / "b"), "--checkpoint_every", "25", *common])
    first = sorted((tmp_path / "b" / "checkpoints").iterdir())[0]  # step 25: after the promotion at step 20
    main(["--output_dir", str(tmp_path / "b"), "--resume_from_checkpoint", str(first), "--checkpoint_every", "25",
          *common])  # fmt: skip
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("wad").usage, namespace)
    assert len(namespace["trainer"].history) == 3 and namespace["w"].shape == namespace["yhat"].shape
