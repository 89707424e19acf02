"""P19 `crkd`: the CrKD loss against the official formula written out, swapped prediction, the model, the Trainer,
the frozen teacher, errors, the recipe."""

from __future__ import annotations

import math

import pytest
import torch

from hf_methods.training.crkd import (
    ClassRelationKDLoss,
    CrKDNCDConfig,
    CrKDNCDModel,
    CrKDNCDTrainer,
    class_relation_kd_loss,
    known_class_weights,
    swapped_prediction_loss,
)
from hf_methods.training.crkd.trainer import NoiseShiftAugment, crkd_discovery_loss

TINY = {"input_size": 16, "hidden_sizes": [12], "num_known_classes": 3, "num_novel_classes": 2, "num_heads": 2,
        "head_hidden_size": 8, "projection_size": 4}  # fmt: skip


def _softmax(row):
    top = max(row)
    e = [math.exp(v - top) for v in row]
    return [v / sum(e) for v in e]


def reference_kd(teacher, logits, unlabeled, kd_t, tau):
    """The official `KD()` written out with Python floats: teacher (V, H, B, C_k), logits (V, H, B, C_k + C_n) as
    nested lists; returns the per-sample losses (averaged over views and heads) and the normalised weights."""
    c_k = len(teacher[0][0][0])
    rows = []  # (v, h, i, ce, w)
    for v in range(len(logits)):
        for h in range(len(logits[v])):
            for i in range(len(logits[v][h])):
                if not unlabeled[i]:
                    continue
                z = [x / tau / kd_t for x in logits[v][h][i]]
                p_old = _softmax([x / tau / kd_t for x in teacher[v][h][i]])
                p_new = _softmax(z[:c_k])
                w = sum(_softmax(z)[:c_k])
                ce = -sum(p_old[c] * math.log(p_new[c]) for c in range(c_k)) * kd_t**2
                rows.append((v, h, i, ce, w))
    mean_w = sum(r[4] for r in rows) / len(rows)
    per_sample = {}
    for v, h, i, ce, w in rows:
        per_sample.setdefault(i, []).append(ce * w / mean_w)
    return [sum(vals) / len(vals) for _, vals in sorted(per_sample.items())], [r[4] / mean_w for r in rows]


def _relation_inputs(shape=(2, 3, 7), known=3, novel=2, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    teacher = (torch.rand(*shape, known, generator=g) * 2 - 1).to(dtype)
    logits = (torch.rand(*shape, known + novel, generator=g) * 2 - 1).to(dtype)
    return teacher, logits


# ------------------------------------------------------------------------------------------------------------ loss


@pytest.mark.parametrize("kd_t,tau", [(4.0, 0.1), (1.0, 1.0), (2.0, 0.5)])
def test_kd_loss_matches_the_official_formula_written_out(kd_t, tau):
    teacher, logits = _relation_inputs()
    unlabeled = torch.tensor([True, False, True, True, False, True, True])
    loss = class_relation_kd_loss(teacher, logits, unlabeled, kd_temperature=kd_t, temperature=tau, reduction="none")
    expected, _ = reference_kd(teacher.tolist(), logits.tolist(), unlabeled.tolist(), kd_t, tau)
    torch.testing.assert_close(loss, torch.tensor(expected, dtype=torch.float64), atol=1e-10, rtol=0)
    mean = class_relation_kd_loss(teacher, logits, unlabeled, kd_temperature=kd_t, temperature=tau)
    torch.testing.assert_close(mean, loss.mean())  # = the official mean over views, samples, then heads


def test_weights_are_the_known_class_mass_normalised_to_mean_one():
    teacher, logits = _relation_inputs(seed=1)
    unlabeled = torch.ones(7, dtype=torch.bool)
    _, ref_weights = reference_kd(teacher.tolist(), logits.tolist(), unlabeled.tolist(), 4.0, 0.1)
    w = known_class_weights(logits, 3, kd_temperature=4.0, temperature=0.1)
    torch.testing.assert_close((w / w.mean()).flatten(), torch.tensor(ref_weights, dtype=torch.float64))
    assert abs(sum(ref_weights) / len(ref_weights) - 1) < 1e-12
    assert (w > 0).all() and (w < 1).all()


def test_kd_gradient_flows_through_the_weights_as_in_the_official_code():
    """No stop-gradient on ω: autograd matches central finite differences of the full formula (float64)."""
    teacher, logits = _relation_inputs(shape=(5,), seed=2)
    logits.requires_grad_(True)
    class_relation_kd_loss(teacher, logits, kd_temperature=2.0, temperature=0.5).backward()
    eps, numeric = 1e-6, torch.zeros_like(logits)
    for idx in torch.cartesian_prod(torch.arange(5), torch.arange(5)):
        i, c = idx.tolist()
        plus, minus = logits.detach().clone(), logits.detach().clone()
        plus[i, c] += eps
        minus[i, c] -= eps
        f = lambda z: class_relation_kd_loss(teacher, z, kd_temperature=2.0, temperature=0.5).item()  # noqa: E731
        numeric[i, c] = (f(plus) - f(minus)) / (2 * eps)
    torch.testing.assert_close(logits.grad, numeric, atol=1e-6, rtol=1e-5)
    assert logits.grad[:, 3:].abs().sum() > 0  # novel logits get a gradient only through the weights


def test_teacher_logits_get_no_gradient():
    teacher, logits = _relation_inputs(shape=(4,))
    teacher.requires_grad_(True)
    logits.requires_grad_(True)
    class_relation_kd_loss(teacher, logits).backward()
    assert teacher.grad is None and logits.grad is not None


def test_kd_loss_is_zero_gap_when_student_copies_teacher_and_all_mass_is_known():
    """With p_new = p_old the per-sample loss is T²·H(p_old) (the cross-entropy's entropy floor), ω = 1."""
    teacher = torch.tensor([[0.3, -0.2, 0.1]], dtype=torch.float64)
    logits = torch.cat([teacher, torch.full((1, 2), -1e4, dtype=torch.float64)], dim=1)
    p = torch.softmax(teacher / 0.4, dim=-1)
    entropy = -(p * p.log()).sum()
    torch.testing.assert_close(class_relation_kd_loss(teacher, logits), 16 * entropy)


def test_module_and_reductions():
    teacher, logits = _relation_inputs(shape=(6,))
    per = ClassRelationKDLoss(reduction="none")(teacher, logits)
    assert per.shape == (6,)
    torch.testing.assert_close(ClassRelationKDLoss(reduction="sum")(teacher, logits), per.sum())
    assert "kd_temperature=4.0" in repr(ClassRelationKDLoss())


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"kd_temperature": 0.0}, ValueError, "kd_temperature"),
        ({"temperature": -1.0}, ValueError, "temperature"),
        ({"reduction": "max"}, ValueError, "reduction"),
        ({"kd_temperature": "4"}, TypeError, "kd_temperature"),
    ],
)
def test_kd_loss_rejects_bad_settings(kwargs, error, match):
    teacher, logits = _relation_inputs(shape=(4,))
    with pytest.raises(error, match=match):
        class_relation_kd_loss(teacher, logits, **kwargs)
    with pytest.raises(error, match=match):
        ClassRelationKDLoss(**kwargs)


def test_kd_loss_rejects_non_tensors():
    with pytest.raises(TypeError, match="teacher_logits must be a torch.Tensor"):
        class_relation_kd_loss([[0.1, 0.2]], torch.zeros(1, 3))


# ----------------------------------------------------------------------------------------------- swapped prediction


def test_swapped_prediction_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 2, 4, 5, generator=g, dtype=torch.float64)
    targets = torch.softmax(torch.randn(3, 2, 4, 5, generator=g, dtype=torch.float64), -1)
    loss = swapped_prediction_loss(logits, targets, temperature=0.5)
    for h in range(2):
        total = 0.0
        for v in range(3):
            for o in range(3):
                if o == v:
                    continue
                for i in range(4):
                    logp = [math.log(p) for p in _softmax([x / 0.5 for x in logits[o, h, i].tolist()])]
                    total += -sum(t * lp for t, lp in zip(targets[v, h, i].tolist(), logp)) / 4
        assert loss[h].item() == pytest.approx(total / 6, abs=1e-10)


def test_swapped_prediction_rejects_bad_shapes():
    with pytest.raises(ValueError, match="views, heads, batch, classes"):
        swapped_prediction_loss(torch.zeros(2, 4, 5), torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="at least 2 views"):
        swapped_prediction_loss(torch.zeros(1, 2, 4, 5), torch.zeros(1, 2, 4, 5))


# ---------------------------------------------------------------------------------------------------- model, step


def test_model_outputs_cosine_logits_and_saves_with_auto_classes(tmp_path):
    from transformers import AutoConfig, AutoModel

    import hf_methods  # noqa: F401  (registers the Auto classes)

    torch.manual_seed(0)
    model = CrKDNCDModel(CrKDNCDConfig(**TINY)).eval()
    x = torch.rand(6, 16)
    out = model(pixel_values=x)
    assert out.known_logits.shape == (6, 3) and out.novel_logits.shape == (2, 6, 2) and out.logits.shape == (6, 5)
    assert out.known_logits.abs().max() <= 1 + 1e-6 and out.novel_logits.abs().max() <= 1 + 1e-6  # cosines
    model.head_losses.copy_(torch.tensor([3.0, 1.0]))
    assert model.best_head == 1
    torch.testing.assert_close(model(pixel_values=x).logits[:, 3:], out.novel_logits[1])  # best head now 1
    model.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "hfm-crkd"
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, CrKDNCDModel) and loaded.best_head == 1
    torch.testing.assert_close(loaded(pixel_values=x).logits, model(pixel_values=x).logits)
    assert torch.equal(loaded.predict_novel(x), model(pixel_values=x).novel_logits[1].argmax(-1))


def test_model_supervised_loss_and_errors():
    model = CrKDNCDModel(CrKDNCDConfig(**TINY))
    out = model(pixel_values=torch.rand(4, 16), labels=torch.tensor([0, 1, 2, 0]))
    expected = torch.nn.functional.cross_entropy(out.known_logits / 0.1, torch.tensor([0, 1, 2, 0]))
    torch.testing.assert_close(out.loss, expected)
    with pytest.raises(ValueError, match="known classes"):
        model(pixel_values=torch.rand(4, 16), labels=torch.tensor([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="pixel_values must flatten"):
        model(pixel_values=torch.rand(4, 15))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_known_classes": 1}, "num_known_classes"),
        ({"num_heads": 0}, "num_heads"),
        ({"hidden_act": "swish"}, "hidden_act"),
        ({"hidden_sizes": []}, "hidden_sizes"),
        ({"logit_temperature": 0.0}, "logit_temperature"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CrKDNCDConfig(**{**TINY, **kwargs})


def test_discovery_step_targets_and_teacher():
    torch.manual_seed(0)
    model, teacher = CrKDNCDModel(CrKDNCDConfig(**TINY)), CrKDNCDModel(CrKDNCDConfig(**TINY)).eval()
    teacher.requires_grad_(False)
    x = torch.rand(8, 16)
    mask = torch.tensor([True, True, True, False, False, False, False, True])
    labels = torch.tensor([0, 1, 2, -1, -1, -1, -1, 1])
    views = [x, x + 0.01]
    terms = crkd_discovery_loss(model, teacher, views, labels, mask, alpha=0.1)
    assert terms.cluster.shape == (2,) and abs(terms.kd_weight_mean - 1) < 1e-6
    terms.loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    plain = crkd_discovery_loss(model, None, views, labels, mask, alpha=0.0)
    torch.testing.assert_close(plain.loss, terms.loss - 0.1 * terms.kd, atol=1e-5, rtol=0)  # same views, same model
    with pytest.raises(ValueError, match="needs a teacher"):
        crkd_discovery_loss(model, None, views, labels, mask, alpha=0.1)
    with pytest.raises(TypeError, match="labeled_mask"):
        crkd_discovery_loss(model, teacher, views, labels, mask.long())
    with pytest.raises(ValueError, match="at least 2"):
        crkd_discovery_loss(model, teacher, views[:1], labels, mask)
    with pytest.raises(ValueError, match=r"labels of labelled samples"):
        crkd_discovery_loss(model, teacher, views, labels.clone().fill_(5), mask)


def test_noise_shift_augment_keeps_shape_and_is_seeded():
    aug = NoiseShiftAugment(max_shift=1, noise_std=0.05)
    x = torch.rand(5, 64)
    a = aug(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and not torch.equal(a, x)
    assert torch.equal(a, aug(x, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="image_shape"):
        aug(torch.rand(2, 10))
    with pytest.raises(ValueError, match="max_shift"):
        NoiseShiftAugment(max_shift=-1)


# --------------------------------------------------------------------------------------------------------- Trainer


def _datasets(n=24):
    from datasets import Dataset

    g = torch.Generator().manual_seed(0)
    lab = Dataset.from_dict(
        {"pixel_values": torch.rand(n, 16, generator=g).tolist(), "labels": [i % 3 for i in range(n)]}
    )
    unl = Dataset.from_dict(
        {"pixel_values": torch.rand(n, 16, generator=g).tolist(), "labels": [i % 2 for i in range(n)]}
    )
    return lab, unl


def _trainer(tmp_path, **kwargs):
    from transformers import TrainingArguments

    torch.manual_seed(0)
    teacher = CrKDNCDModel(CrKDNCDConfig(**TINY))
    model = CrKDNCDModel(CrKDNCDConfig(**TINY))
    lab, unl = _datasets()
    args = TrainingArguments(
        str(tmp_path), max_steps=3, per_device_train_batch_size=16, report_to=[], use_cpu=True, save_strategy="no",
        learning_rate=0.05, logging_strategy="no",
    )  # fmt: skip
    options = {"train_dataset": lab, "unlabeled_dataset": unl, "augment": NoiseShiftAugment(image_shape=(1, 4, 4))}
    return CrKDNCDTrainer(model=model, teacher=teacher, args=args, **{**options, **kwargs})


def test_trainer_trains_and_keeps_the_teacher_frozen(tmp_path):
    trainer = _trainer(tmp_path)
    teacher_before = {k: v.clone() for k, v in trainer.teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert len(trainer.train_dataset) == 48 and sum(trainer.train_dataset.with_format(None)["labeled_mask"]) == 24
    trainer.train()
    assert all(torch.equal(teacher_before[k], v) for k, v in trainer.teacher.state_dict().items())
    assert all(p.grad is None for p in trainer.teacher.parameters())
    assert any(not torch.equal(student_before[k], v) for k, v in trainer.model.state_dict().items())
    assert (trainer.model.head_losses > 0).all()  # every head's clustering loss was tracked
    assert trainer.last_kd_weight_mean == pytest.approx(1.0, abs=1e-5)


def test_trainer_rejects_bad_arguments(tmp_path):
    lab, _ = _datasets()
    with pytest.raises(ValueError, match="unlabeled_dataset"):
        _trainer(tmp_path, unlabeled_dataset=None)
    with pytest.raises(TypeError, match="unlabeled_dataset must be a datasets.Dataset"):
        _trainer(tmp_path, unlabeled_dataset=torch.rand(4, 16))
    with pytest.raises(ValueError, match="no column 'pixel_values'"):
        _trainer(tmp_path, unlabeled_dataset=lab.rename_column("pixel_values", "x"))
    with pytest.raises(ValueError, match="alpha"):
        _trainer(tmp_path, alpha=-0.1)
    with pytest.raises(ValueError, match="num_views"):
        _trainer(tmp_path, num_views=1)
    with pytest.raises(TypeError, match="augment"):
        _trainer(tmp_path, augment="shift")
    with pytest.raises(TypeError, match="teacher"):
        _trainer(tmp_path, teacher="pretrained")


# ------------------------------------------------------------------------------------------- data, recipe, record


def test_ncd_digits_split():
    from hf_methods.training.crkd.training import ncd_digits

    data = ncd_digits(0)
    assert set(data.y_labeled.tolist()) == set(range(5)) and set(data.y_unlabeled.tolist()) == set(range(5))
    assert len(data.y_labeled) + len(data.y_unlabeled) == 1437
    assert set(data.y_test_known.tolist()) == set(range(5)) and len(data.y_test_novel) > 0


def test_arguments_validate():
    from hf_methods.training.crkd.training import CrKDArguments

    assert CrKDArguments(output_dir="x").model_config().num_novel_classes == 5
    for kwargs, match in (
        ({"alpha": -1.0}, "--alpha"),
        ({"num_known_classes": 1}, "--num_known_classes"),
        ({"kd_temperature": 0.0}, "--kd_temperature"),
        ({"warmup_fraction": 1.0}, "--warmup_fraction"),
        ({"num_heads": 0}, "--num_heads"),
    ):
        with pytest.raises(ValueError, match=match):
            CrKDArguments(output_dir="x", **kwargs).validate()


def test_recipe_runs_a_few_steps(tmp_path):
    import json
    import sys

    from hf_methods.zoo import repo_root

    sys.path.insert(0, str(repo_root()))
    try:
        from recipes.crkd import main
    finally:
        sys.path.pop(0)
    metrics = main(
        ["--max_steps", "3", "--pretrain_steps", "2", "--output_dir", str(tmp_path), "--checkpoint_every", "0",
         "--hidden_size", "32", "--head_hidden_size", "16", "--num_heads", "2", "--cpu_threads", "1"]
    )  # fmt: skip
    assert 0.0 <= metrics["eval/novel_train_accuracy"] <= 1.0
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "README.md").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["slug"] == "crkd"


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("crkd").usage, namespace)
    assert torch.isfinite(namespace["loss_kd"])
