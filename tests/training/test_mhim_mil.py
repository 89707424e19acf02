"""P63 `mhim_mil`: the consistency loss against its equation in Python floats, the masking rules of the official
`select_mask_fn`, the cosine schedule, the EMA teacher in closed form, the ABMIL model (pooling, masking, save/load),
the MHIM step and Trainer, the synthetic bags, errors, the recipe."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hf_methods.training.mhim_mil import (
    ABMILConfig,
    ABMILForBagClassification,
    MHIMConsistencyLoss,
    MHIMTrainer,
    collate_bags,
    cosine_decay,
    mhim_consistency_loss,
    mhim_instance_mask,
    mhim_loss,
    mhim_teacher,
)

TINY = {"input_dim": 6, "hidden_size": 8, "attention_size": 4}


def _model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return ABMILForBagClassification(ABMILConfig(**{**TINY, **kwargs}))


def _softmax(row):
    top = max(row)
    e = [math.exp(v - top) for v in row]
    return [v / sum(e) for v in e]


# ------------------------------------------------------------------------------------------------ consistency loss


def test_consistency_loss_matches_equation():
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(4, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g).double()
    expected = []
    for s, t in zip(student.tolist(), teacher.tolist()):
        p_t = _softmax([v / 0.1 for v in t])
        log_p_s = [math.log(p) for p in _softmax([v / 1.0 for v in s])]
        expected.append(-sum(a * b for a, b in zip(p_t, log_p_s)))
    got = mhim_consistency_loss(student, teacher, reduction="none")
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(MHIMConsistencyLoss()(student, teacher), got.mean())
    # temperatures enter as written
    got_t = mhim_consistency_loss(student, teacher, teacher_temperature=0.5, student_temperature=2.0, reduction="sum")
    ref = sum(
        -sum(a * math.log(b) for a, b in zip(_softmax([v / 0.5 for v in t]), _softmax([v / 2.0 for v in s])))
        for s, t in zip(student.tolist(), teacher.tolist())
    )
    assert abs(got_t.item() - ref) < 1e-10


def test_consistency_loss_gives_teacher_no_gradient():
    student = torch.randn(3, 4, requires_grad=True)
    teacher = torch.randn(3, 4, requires_grad=True)
    mhim_consistency_loss(student, teacher).backward()
    assert student.grad is not None and teacher.grad is None


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"student_features": torch.rand(3)}, ValueError, "student_features must be 2-D"),
        ({"teacher_features": torch.rand(3, 5)}, ValueError, "teacher_features must have the shape"),
        ({"teacher_features": torch.ones(3, 4, dtype=torch.long)}, TypeError, "teacher_features must be a floating"),
        ({"teacher_temperature": 0.0}, ValueError, "teacher_temperature"),
        ({"student_temperature": -1.0}, ValueError, "student_temperature"),
        ({"reduction": "max"}, ValueError, "reduction"),
    ],
)
def test_consistency_loss_errors(kwargs, error, match):
    args = {"student_features": torch.rand(3, 4), "teacher_features": torch.rand(3, 4), **kwargs}
    with pytest.raises(error, match=match):
        mhim_consistency_loss(**args)


# ------------------------------------------------------------------------------------------------------- masking


def test_high_attention_mask_with_hr_one_is_top_k():
    g = torch.Generator().manual_seed(1)
    attention = torch.rand(3, 40, generator=g)
    for r_h in (0.01, 0.1, 0.25):
        masked = mhim_instance_mask(attention, mask_ratio_h=r_h, mask_ratio_hr=1.0)
        k = int(np.ceil(40 * r_h))
        for b in range(3):
            top = set(torch.argsort(attention[b], descending=True)[:k].tolist())
            assert set(torch.nonzero(masked[b]).flatten().tolist()) == top
            assert masked[b, attention[b].argmax()]  # the teacher's top instance is always masked


def test_high_attention_mask_randomised_among_top_candidates():
    g = torch.Generator().manual_seed(2)
    attention = torch.rand(1, 50, generator=g)
    r_h, r_hr = 0.1, 0.5
    k = int(np.ceil(50 * r_h / r_hr))  # 10 candidates
    top = set(torch.argsort(attention[0], descending=True)[:k].tolist())
    seen = set()
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        masked = set(
            torch.nonzero(mhim_instance_mask(attention, mask_ratio_h=r_h, mask_ratio_hr=r_hr, generator=gen)[0])
            .flatten()
            .tolist()
        )
        assert len(masked) == int(np.ceil(k * r_hr)) and masked <= top
        seen |= masked
    assert len(seen) > int(np.ceil(k * r_hr))  # different draws pick different candidates


def test_low_random_masks_union_and_official_fallback():
    g = torch.Generator().manual_seed(3)
    attention = torch.rand(1, 20, generator=g)
    low = mhim_instance_mask(attention, mask_ratio_h=0.0, mask_ratio_l=0.2)[0]
    assert set(torch.nonzero(low).flatten().tolist()) == set(torch.argsort(attention[0])[:4].tolist())
    rand = mhim_instance_mask(attention, mask_ratio_h=0.0, mask_ratio=0.3, generator=torch.Generator().manual_seed(0))
    assert int(rand.sum()) == 6
    both = mhim_instance_mask(attention, mask_ratio_h=0.1, mask_ratio_hr=1.0, mask_ratio_l=0.2)[0]
    assert both.sum() == 6 and both[attention[0].argmax()] and (both | ~low).all()
    # r_h / r_hr > 1: every instance is a candidate, ⌈n·r_h⌉ are masked (the official code's fallback)
    fallback = mhim_instance_mask(attention, mask_ratio_h=0.3, mask_ratio_hr=0.2, generator=torch.Generator())
    assert int(fallback.sum()) == 6
    assert not mhim_instance_mask(attention, mask_ratio_h=0.0).any()


def test_mask_skips_padding_and_keeps_one_instance():
    attention = torch.tensor([[0.5, 0.9, 0.1, 0.99], [0.2, 0.3, 0.1, 0.0]])
    pad = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    masked = mhim_instance_mask(attention, mask_ratio_h=0.3, mask_ratio_hr=1.0, attention_mask=pad)
    assert masked.tolist() == [[False, True, False, False], [True, True, False, False]]  # ⌈3·0.3⌉ = 1, ⌈4·0.3⌉ = 2
    everything = mhim_instance_mask(attention, mask_ratio_h=1.0, attention_mask=pad)
    assert everything.tolist() == [[True, True, False, False], [True, True, True, False]]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"attention": torch.rand(5)}, ValueError, "attention must be 2-D"),
        ({"attention": torch.ones(2, 5, dtype=torch.long)}, TypeError, "attention must be a floating"),
        ({"mask_ratio_h": 1.5}, ValueError, "mask_ratio_h"),
        ({"mask_ratio_hr": 0.0}, ValueError, "mask_ratio_hr"),
        ({"mask_ratio_l": -0.1}, ValueError, "mask_ratio_l"),
        ({"mask_ratio": 2.0}, ValueError, "mask_ratio"),
        ({"attention_mask": torch.ones(2, 4)}, ValueError, "attention_mask must be"),
    ],
)
def test_mask_errors(kwargs, error, match):
    args = {"attention": torch.rand(2, 5), "mask_ratio_h": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        mhim_instance_mask(**args)


def test_cosine_decay_is_the_official_schedule():
    total = 10
    official = [0.0 + 0.5 * (0.01 - 0.0) * (1 + math.cos(math.pi * i / total)) for i in range(total)]
    assert [cosine_decay(0.01, 0.0, i, total) for i in range(total)] == pytest.approx(official, abs=1e-15)
    assert cosine_decay(0.01, 0.0, total, total) == pytest.approx(0.0, abs=1e-15)


# ---------------------------------------------------------------------------------------------------- the model


def test_abmil_pooling_matches_formula_and_masking_equals_subset():
    model = _model().eval()
    bag = torch.rand(1, 7, 6, generator=torch.Generator().manual_seed(0))
    out = model(instances=bag)
    h = model.projection(bag[0])
    s = model.attention(h).squeeze(-1)
    a = torch.softmax(s, 0)
    torch.testing.assert_close(out.attentions[0], a)
    torch.testing.assert_close(out.bag_features[0], (a[:, None] * h).sum(0))
    torch.testing.assert_close(out.logits[0], model.classifier((a[:, None] * h).sum(0)))
    keep = torch.tensor([[1, 0, 1, 1, 0, 1, 1]])
    masked = model(instances=bag, attention_mask=keep)
    subset = model(instances=bag[:, keep[0].bool()])
    torch.testing.assert_close(masked.logits, subset.logits, atol=1e-6, rtol=0)  # same kernels, different length
    assert (masked.attentions[0][~keep[0].bool()] == 0).all()


def test_abmil_padded_batch_matches_single_bags():
    model = _model().eval()
    g = torch.Generator().manual_seed(1)
    bags = [torch.rand(5, 6, generator=g), torch.rand(3, 6, generator=g)]
    batch = collate_bags([{"instances": b, "labels": i} for i, b in enumerate(bags)])
    out = model(instances=batch["instances"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    for i, bag in enumerate(bags):
        torch.testing.assert_close(out.logits[i], model(instances=bag[None]).logits[0], atol=1e-6, rtol=0)
    assert torch.isfinite(out.loss)


def test_abmil_save_load_with_auto_classes(tmp_path):
    from transformers import AutoConfig, AutoModel

    import hf_methods.auto  # noqa: F401  (registers the hf-methods Auto classes)

    model = _model().eval()
    model.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "hfm-mhim_mil"
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded).__name__ == "ABMILForBagClassification"
    bag = torch.rand(1, 9, 6)
    torch.testing.assert_close(loaded(instances=bag).logits, model(instances=bag).logits)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_dim": 0}, "input_dim"),
        ({"num_labels": 1}, "num_labels"),
        ({"hidden_act": "swish"}, "hidden_act"),
        ({"attention_act": "x"}, "attention_act"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ABMILConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"instances": torch.rand(1, 4, 5)}, ValueError, r"instances must have shape"),
        ({"instances": torch.ones(1, 4, 6, dtype=torch.long)}, TypeError, "instances must be a float"),
        ({"instances": torch.rand(1, 0, 6)}, ValueError, "at least one instance"),
        ({"attention_mask": torch.zeros(1, 4)}, ValueError, "keeps no instance"),
        ({"attention_mask": torch.ones(1, 3)}, ValueError, "attention_mask must have shape"),
        ({"labels": torch.tensor([2])}, ValueError, "labels must lie in"),
        ({"labels": torch.tensor([0.0])}, TypeError, "labels must be an integer"),
        ({"labels": torch.tensor([0, 1])}, ValueError, "one class per bag"),
    ],
)
def test_model_errors(kwargs, error, match):
    args = {"instances": torch.rand(1, 4, 6), **kwargs}
    with pytest.raises(error, match=match):
        _model()(**args)


# ------------------------------------------------------------------------------------------- EMA teacher, MHIM step


def test_ema_teacher_first_update_is_an_ema_step():
    pretrained, student = _model(0), _model(1)
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    teacher = mhim_teacher(pretrained, momentum=0.9)
    teacher.update_parameters(student)
    for name, value in teacher.module.state_dict().items():
        torch.testing.assert_close(value, 0.9 * before[name] + 0.1 * student.state_dict()[name])
    for name, value in pretrained.state_dict().items():  # the pretrained model is untouched
        assert torch.equal(value, before[name])
    assert not any(p.requires_grad for p in teacher.parameters())


def test_mhim_loss_is_ce_on_kept_instances_plus_consistency():
    student, teacher = _model(0), mhim_teacher(_model(1), 0.99)
    bag, label = torch.rand(1, 12, 6, generator=torch.Generator().manual_seed(4)), torch.tensor([1])
    terms = mhim_loss(student, teacher, bag, label, mask_ratio_h=0.2, mask_ratio_hr=1.0, cl_alpha=0.3)
    t_out = teacher.module(instances=bag)
    top = torch.argsort(t_out.attentions[0], descending=True)[:3]
    assert set(torch.nonzero(terms.masked[0]).flatten().tolist()) == set(top.tolist())
    keep = torch.ones(12, dtype=torch.bool)
    keep[top] = False
    s_out = student(instances=bag[:, keep], labels=label)
    expected = s_out.loss + 0.3 * mhim_consistency_loss(s_out.bag_features, t_out.bag_features)
    torch.testing.assert_close(terms.loss, expected, atol=1e-6, rtol=0)
    terms.loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    with pytest.raises(ValueError, match="cl_alpha"):
        mhim_loss(student, teacher, bag, label, cl_alpha=-1.0)


def test_trainer_runs_on_a_dataset_and_moves_the_teacher(tmp_path):
    from datasets import Dataset
    from transformers import TrainingArguments

    g = torch.Generator().manual_seed(0)
    bags = Dataset.from_dict(
        {"instances": [torch.rand(int(n), 6, generator=g).tolist() for n in (5, 8, 6, 7)], "labels": [0, 1, 0, 1]}
    )
    pretrained, student = _model(0), _model(0)
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    args = TrainingArguments(str(tmp_path), max_steps=3, per_device_train_batch_size=2, report_to=[], use_cpu=True,
                             learning_rate=1e-2, save_strategy="no", logging_strategy="no")  # fmt: skip
    trainer = MHIMTrainer(model=student, teacher=pretrained, args=args, train_dataset=bags, ema_momentum=0.5)
    trainer.train()
    assert trainer.state.global_step == 3
    moved = any(not torch.equal(v, before[k]) for k, v in trainer.teacher.module.state_dict().items())
    assert moved and all(torch.equal(v, before[k]) for k, v in pretrained.state_dict().items())
    assert trainer.current_mask_ratio_h() == pytest.approx(0.0, abs=1e-12)  # cosine decay ends at 0


def test_trainer_errors(tmp_path):
    from transformers import TrainingArguments

    args = TrainingArguments(str(tmp_path), max_steps=1, report_to=[], use_cpu=True)
    with pytest.raises(TypeError, match="teacher must be the pre-trained"):
        MHIMTrainer(model=_model(), args=args)
    with pytest.raises(ValueError, match="mask_ratio_h_schedule"):
        MHIMTrainer(model=_model(), teacher=_model(), args=args, mask_ratio_h_schedule="step")
    with pytest.raises(ValueError, match="mask_ratio_hr"):
        MHIMTrainer(model=_model(), teacher=_model(), args=args, mask_ratio_hr=0.0)
    with pytest.raises(ValueError, match="momentum"):
        MHIMTrainer(model=_model(), teacher=_model(), args=args, ema_momentum=1.0)


def test_collate_bags_errors():
    with pytest.raises(ValueError, match="at least one bag"):
        collate_bags([])
    with pytest.raises(ValueError, match="same instance size"):
        collate_bags([{"instances": torch.rand(3, 4), "labels": 0}, {"instances": torch.rand(3, 5), "labels": 1}])
    with pytest.raises(ValueError, match="non-empty"):
        collate_bags([{"instances": torch.rand(0, 4), "labels": 0}])


# ---------------------------------------------------------------------------------------------- data, recipe, record


def test_digit_bags_structure():
    from hf_methods.training.mhim_mil.training import digit_bags

    train, test = digit_bags(0, 20, 20)
    for bags, easy in ((train, 1), (test, 0)):
        for i in range(len(bags)):
            assert 30 <= len(bags.instances[i]) <= 60
            if bags.labels[i] == 1:
                assert len(bags.easy[i]) == easy and 1 <= len(bags.hard[i]) <= 3
            else:
                assert not bags.easy[i] and not bags.hard[i]
    i = 1  # a positive training bag: its easy 9 is the scaled one
    assert bags.labels[i] == 1 and train.instances[i][train.easy[i][0]].max() > 1.0
    with pytest.raises(ValueError, match="min_size"):
        digit_bags(0, 2, 2, min_size=3, max_size=4)


def test_arguments_validate():
    from hf_methods.training.mhim_mil.training import MHIMArguments

    for kwargs, match in (
        ({"mask_ratio_h": 2.0}, "--mask_ratio_h"),
        ({"mask_ratio_hr": 0.0}, "--mask_ratio_hr"),
        ({"ema_momentum": 1.0}, "--ema_momentum"),
        ({"learning_rate": 0.0}, "--learning_rate"),
        ({"mask_ratio_h_schedule": "x"}, "--mask_ratio_h_schedule"),
        ({"num_train_bags": 0}, "--num_train_bags"),
        ({"pretrain_epochs": -1}, "--pretrain_epochs"),
        ({"cl_alpha": -1.0}, "--cl_alpha"),
    ):
        with pytest.raises(ValueError, match=match):
            MHIMArguments(output_dir="x", **kwargs).validate()


def test_recipe_runs_a_few_steps(tmp_path):
    import json
    import sys

    from hf_methods.zoo import repo_root

    sys.path.insert(0, str(repo_root()))
    try:
        from recipes.mhim_mil import main
    finally:
        sys.path.pop(0)
    metrics = main(
        ["--max_steps", "4", "--pretrain_epochs", "0", "--num_train_bags", "6", "--num_test_bags", "6",
         "--output_dir", str(tmp_path), "--checkpoint_every", "0", "--hidden_size", "16", "--attention_size", "8",
         "--cpu_threads", "1"]
    )  # fmt: skip
    assert 0.0 <= metrics["eval/test_auc"] <= 1.0
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "README.md").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["slug"] == "mhim_mil"


def test_recipe_resume_matches_uninterrupted_run(tmp_path):
    import sys

    from safetensors.torch import load_file

    from hf_methods.zoo import repo_root

    sys.path.insert(0, str(repo_root()))
    try:
        from recipes.mhim_mil import main
    finally:
        sys.path.pop(0)
    common = ["--pretrain_epochs", "1", "--num_train_bags", "4", "--num_test_bags", "4", "--hidden_size", "8",
              "--attention_size", "4", "--mask_ratio_h", "0.2", "--mask_ratio_hr", "0.5", "--ema_momentum", "0.9",
              "--learning_rate", "0.01", "--checkpoint_every", "3", "--cpu_threads", "1",
              "--mask_ratio_h_schedule", "constant"]  # fmt: skip
    # a constant r_h: the cosine schedule follows --max_steps, which a killed run keeps but this 3-step stand-in does not
    main(["--max_steps", "6", "--output_dir", str(tmp_path / "full"), *common])
    main(["--max_steps", "3", "--output_dir", str(tmp_path / "part"), *common])
    main(["--max_steps", "6", "--output_dir", str(tmp_path / "part"), "--resume_from_checkpoint", "latest", *common])
    full, part = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "part" / "model.safetensors")
    assert full.keys() == part.keys() and all(torch.equal(full[k], part[k]) for k in full)


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("mhim_mil").usage, namespace)
    assert namespace["trainer"].state.global_step == 2
