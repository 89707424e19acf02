"""LightHuBERT (P07): search spaces, subnet slicing and extraction, the distillation loss, the trainer and the recipe."""

import itertools
import random

import numpy as np
import pytest
import torch

from hf_methods.models.lighthubert import (
    LightHuBERTConfig,
    LightHuBERTModel,
    LightHuBERTSupernet,
    OnceForAllDistillationTrainer,
    masked_prediction_loss,
)
from hf_methods.models.lighthubert.training import (
    LightHuBERTArguments,
    LightHuBERTMaskingCollator,
    distill_supernet,
    evaluate_subnets,
    mid_subnet,
    span_mask,
    synthetic_speech,
    tiny_hubert_teacher,
    toy_supernet_config,
)
from tests.models.cases_lighthubert import tiny_lighthubert_kwargs


@pytest.fixture(scope="module")
def supernet():
    torch.manual_seed(0)
    return LightHuBERTSupernet(toy_supernet_config(layer_num_choices=[1, 2])).eval()


@pytest.fixture(scope="module")
def clips():
    return synthetic_speech(3, seed=0)


# ------------------------------------------------------------------------------------------------ search spaces
def test_paper_search_spaces_hold_over_a_billion_subnets():
    base, small = LightHuBERTConfig.base(), LightHuBERTConfig.small()
    # Base: 3 widths × (3 heads × 2 ratios)^12; Small: 3 widths × Σ_{d=10..12} (3 heads × 3 ratios)^d
    assert base.num_subnets == 3 * 6**12
    assert small.num_subnets == 3 * (9**10 + 9**11 + 9**12)
    assert small.num_subnets > 10**9 and base.num_subnets > 10**9
    assert base.max_subnet["atten_dim"] == [768] * 12 and base.min_subnet["ffn_embed"] == [1792] * 12


def test_num_subnets_counts_the_enumerated_space():
    config = toy_supernet_config(layer_num_choices=[1, 2])
    enumerated = sum(
        1
        for depth in config.layer_num_choices
        for _ in itertools.product(
            config.embed_dim_choices, *([config.heads_num_choices] * depth), *([config.ffn_ratio_choices] * depth)
        )
    )
    assert config.num_subnets == enumerated == 3 * 9 + 3 * 81


def test_sample_subnet_is_in_the_space_and_seeded():
    config = toy_supernet_config()
    draws = [config.sample_subnet(random.Random(s)) for s in range(30)]
    assert draws[3] == config.sample_subnet(random.Random(3))
    for subnet in draws:
        assert subnet["embed_dim"] in (32, 48, 64) and subnet["layer_num"] == 2
        assert all(h in (2, 3, 4) for h in subnet["heads_num"])
        assert all(f in {int(r * subnet["embed_dim"]) for r in (2, 3, 4)} for f in subnet["ffn_embed"])
        assert subnet["atten_dim"] == [16 * h for h in subnet["heads_num"]]
    assert len({s["embed_dim"] for s in draws}) == 3


def test_subnet_config_is_a_plain_config_of_the_subnet_sizes():
    config = toy_supernet_config()
    sub = config.subnet_config({"embed_dim": 48, "layer_num": 1, "heads_num": [3], "ffn_embed": [96]})
    assert not sub.is_supernet and sub.hidden_size == 48 and sub.num_hidden_layers == 1
    assert sub.num_attention_heads == [3] and sub.intermediate_size == [96] and sub.teacher_hidden_size == 64


# ------------------------------------------------------------------------------------------------ slicing
def test_supernet_slice_equals_extracted_subnet(supernet, clips):
    rng = random.Random(0)
    with torch.no_grad():
        for _ in range(4):
            subnet = supernet.sample_subnet(rng)
            standalone = supernet.extract_subnet().eval()
            assert type(standalone) is LightHuBERTModel and not standalone.config.is_supernet
            assert all(p.requires_grad for p in standalone.parameters())  # a trainable, owned copy
            mask = span_mask(3, 49, prob=0.5, length=5, seed=1)
            a = supernet(clips, mask_time_indices=mask)
            b = standalone(clips, mask_time_indices=mask)
            # same kernels on the same (contiguous) numbers: bit-identical
            assert torch.equal(a.last_hidden_state, b.last_hidden_state) and torch.equal(a.predictions, b.predictions)
            assert a.last_hidden_state.shape == (3, 49, subnet["embed_dim"])
            assert supernet.num_subnet_parameters() == sum(p.numel() for p in standalone.parameters())
    supernet.set_subnet(supernet.max_subnet)


def test_subnet_parameters_match_the_closed_form(supernet):
    subnet = {"embed_dim": 48, "layer_num": 2, "heads_num": [2, 3], "ffn_embed": [96, 144]}
    e, conv = 48, 32
    frontend = (32 * 10) + (32 * 32 * 3) + (32 * 32 * 2) + 3 * 2 * 32 + 2 * conv  # convs (no bias), their LNs, LN
    expected = frontend + (conv * e + e) + e + (e * (e // 4) * 16 + e) + 2 * e  # proj, mask emb, pos conv, LN
    for heads, ffn in zip(subnet["heads_num"], subnet["ffn_embed"]):
        a = 16 * heads
        expected += 3 * (e * a + a) + (a * e + e) + 2 * 2 * e + (e * ffn + ffn) + (ffn * e + e)
    expected += e * 64  # prediction head, no bias
    assert supernet.num_subnet_parameters(subnet) == expected


def test_depth_keeps_the_leading_layers(supernet, clips):
    shallow = {"embed_dim": 64, "layer_num": 1, "heads_num": [4], "ffn_embed": [256]}
    with torch.no_grad():
        supernet.set_subnet(shallow)
        out = supernet(clips, output_hidden_states=True)
        supernet.set_subnet(supernet.max_subnet)
        full = supernet(clips, output_hidden_states=True)
    assert len(out.hidden_states) == 2 and len(full.hidden_states) == 3
    assert torch.equal(out.hidden_states[1], full.hidden_states[1])


def test_supernet_save_loads_as_supernet_and_as_plain_max_subnet(supernet, clips, tmp_path):
    import json

    from transformers import AutoModel

    supernet.save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModel"] == "modeling_lighthubert.LightHuBERTModel"
    reloaded = LightHuBERTSupernet.from_pretrained(tmp_path).eval()
    plain = AutoModel.from_pretrained(tmp_path).eval()
    assert type(plain) is LightHuBERTModel
    with torch.no_grad():
        expected = supernet(clips).last_hidden_state
        assert torch.equal(reloaded(clips).last_hidden_state, expected)
        assert torch.equal(plain(clips).last_hidden_state, expected)


def test_padding_does_not_change_real_frames():
    torch.manual_seed(0)
    model = LightHuBERTModel(LightHuBERTConfig(**tiny_lighthubert_kwargs())).eval()
    long, short = torch.randn(1, 600), torch.randn(1, 400)
    batch = torch.cat([long, torch.cat([short, torch.zeros(1, 200)], 1)])
    attention_mask = torch.ones(2, 600, dtype=torch.long)
    attention_mask[1, 400:] = 0
    with torch.no_grad():
        padded = model(batch, attention_mask=attention_mask).last_hidden_state
        alone = model(short).last_hidden_state
    frames = model.config.num_frames(400)
    torch.testing.assert_close(padded[1, :frames], alone[0], rtol=1e-4, atol=1e-5)  # shapes differ: not bit-exact


# ------------------------------------------------------------------------------------------------ the loss
def test_masked_prediction_loss_matches_a_python_loop():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 5, 3, generator=g), torch.randn(2, 5, 3, generator=g)
    mask = torch.tensor([[1, 0, 1, 0, 0], [0, 1, 1, 1, 0]], dtype=torch.bool)
    real = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)

    def frame_loss(b, t):
        return sum((float(pred[b, t, d]) - float(target[b, t, d])) ** 2 for d in range(3)) / 3

    def mean_of(selected):
        return sum(frame_loss(b, t) for b, t in selected) / len(selected)

    frames = [(b, t) for b in range(2) for t in range(5) if real[b, t]]
    masked = [f for f in frames if mask[f]]
    unmasked = [f for f in frames if not mask[f]]
    got = masked_prediction_loss(pred, target, mask, real, unmasked_weight=0.5)
    assert got.item() == pytest.approx(mean_of(masked) + 0.5 * mean_of(unmasked), rel=1e-6)
    per_example = masked_prediction_loss(pred, target, mask, real, reduction="none")
    assert per_example.shape == (2,)
    assert per_example[1].item() == pytest.approx(mean_of([f for f in masked if f[0] == 1]), rel=1e-6)
    everything = masked_prediction_loss(pred, target)
    assert everything.item() == pytest.approx(float((pred - target).pow(2).mean()), rel=1e-6)


def test_model_loss_uses_labels_and_gradients_reach_the_student():
    torch.manual_seed(0)
    config = LightHuBERTConfig(**tiny_lighthubert_kwargs(unmasked_loss_weight=1.0))
    model = LightHuBERTModel(config)
    frames = config.num_frames(400)
    labels = torch.randn(2, frames, 24)
    mask = torch.zeros(2, frames, dtype=torch.bool)
    mask[:, :5] = True
    out = model(torch.randn(2, 400), mask_time_indices=mask, labels=labels)
    expected = masked_prediction_loss(out.predictions, labels, mask, unmasked_weight=1.0)
    assert torch.equal(out.loss, expected)
    out.loss.backward()
    assert model.mask_emb.grad is not None and model.mask_emb.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------------------ training
def _trainer(supernet, stage, tmp_path, steps=3):
    from transformers import TrainingArguments

    args = TrainingArguments(
        str(tmp_path),
        max_steps=steps,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        report_to=[],
        remove_unused_columns=False,
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
    )
    data = [{"input_values": clip} for clip in synthetic_speech(16, seed=1)]
    return OnceForAllDistillationTrainer(
        model=supernet,
        teacher=tiny_hubert_teacher(0),
        stage=stage,
        args=args,
        train_dataset=data,
        data_collator=LightHuBERTMaskingCollator(supernet.config),
    )


@pytest.mark.slow
def test_trainer_stage1_trains_the_max_subnet(tmp_path):
    torch.manual_seed(0)
    supernet = LightHuBERTSupernet(toy_supernet_config())
    before = {n: p.detach().clone() for n, p in supernet.named_parameters()}
    _trainer(supernet, 1, tmp_path).train()
    changed = [n for n, p in supernet.named_parameters() if not torch.equal(before[n], p)]
    assert "encoder.layers.1.feed_forward.fc1.weight" in changed
    # the max subnet uses every row: the last FFN unit was trained too
    weight = supernet.encoder.layers[0].feed_forward.fc1.weight
    assert not torch.equal(weight[-1], before["encoder.layers.0.feed_forward.fc1.weight"][-1])


def test_trainer_stage2_draws_subnets_and_ends_at_the_max_subnet(tmp_path):
    torch.manual_seed(0)
    supernet = LightHuBERTSupernet(toy_supernet_config())
    drawn = []
    original = supernet.set_subnet

    def spy(subnet):
        drawn.append(subnet)
        return original(subnet)

    supernet.set_subnet = spy
    _trainer(supernet, 2, tmp_path, steps=4).train()
    sampled = drawn[:4]
    assert len({s["embed_dim"] for s in drawn}) > 1 or len({tuple(s["heads_num"]) for s in sampled}) > 1
    assert supernet.active_subnet == supernet.max_subnet


def test_distill_supernet_stage2_lowers_the_min_subnet_loss():
    torch.manual_seed(0)
    config = toy_supernet_config(unmasked_loss_weight=1.0)
    supernet = LightHuBERTSupernet(config)
    teacher = tiny_hubert_teacher(0)
    train, held_out = synthetic_speech(64, seed=0), synthetic_speech(16, seed=1)
    subnets = {"min": config.min_subnet, "mid": mid_subnet(config)}
    before = evaluate_subnets(supernet, teacher, held_out, subnets)
    losses = distill_supernet(supernet, teacher, train, stages=[(1, 3), (2, 6)], batch_size=4, warmup_steps=2)
    after = evaluate_subnets(supernet, teacher, held_out, subnets)
    assert len(losses) == 9 and all(np.isfinite(losses))
    assert after["min"] < before["min"]
    assert supernet.active_subnet == config.max_subnet and not supernet.training


def test_recipe_runs_a_few_steps(tmp_path):
    import json

    from recipes.lighthubert import main

    out = tmp_path / "run"
    metrics = main(
        [
            "--output_dir",
            str(out),
            "--max_steps",
            "4",
            "--stage1_steps",
            "2",
            "--num_clips",
            "32",
            "--eval_clips",
            "8",
            "--batch_size",
            "4",
            "--checkpoint_every",
            "0",
            "--log_every",
            "0",
        ]
    )
    assert set(metrics) >= {"eval/loss_min", "eval/loss_max"}
    assert json.loads((out / "config.json").read_text())["embed_dim_choices"] == [32, 48, 64]
    assert (out / "min_subnet" / "model.safetensors").is_file()
    assert (out / "preprocessor_config.json").is_file()


# ------------------------------------------------------------------------------------------------ real speech
@pytest.mark.assets
def test_real_speech_clips_through_the_feature_extractor():
    from hf_methods.common.data import load_speech_clips
    from hf_methods.models.lighthubert.training import lighthubert_feature_extractor

    clips = load_speech_clips()[:2]
    extractor = lighthubert_feature_extractor(sampling_rate=16000)
    inputs = extractor([c.waveform for c in clips], sampling_rate=16000, padding=True, return_tensors="pt")
    config = LightHuBERTConfig(**tiny_lighthubert_kwargs(conv_stride=[5, 4, 4], conv_kernel=[10, 4, 4]))
    torch.manual_seed(0)
    model = LightHuBERTModel(config).eval()
    with torch.no_grad():
        out = model(inputs["input_values"], attention_mask=inputs["attention_mask"])
    assert out.last_hidden_state.shape[:2] == (2, config.num_frames(inputs["input_values"].shape[1]))
    assert torch.isfinite(out.last_hidden_state).all()
    assert abs(inputs["input_values"][0, : len(clips[0].waveform)].mean().item()) < 1e-3  # zero-mean normalised


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("lighthubert").usage, namespace)
    assert sum(p.numel() for p in namespace["loaded"].parameters()) == namespace["supernet"].num_subnet_parameters(
        namespace["config"].min_subnet
    )


# ------------------------------------------------------------------------------------------------ errors
def test_error_subnet_outside_the_space(supernet):
    with pytest.raises(ValueError, match="embed_dim"):
        supernet.set_subnet({"embed_dim": 80, "layer_num": 2, "heads_num": [2, 2], "ffn_embed": [64, 64]})
    with pytest.raises(ValueError, match="heads_num"):
        supernet.set_subnet({"embed_dim": 32, "layer_num": 2, "heads_num": [2], "ffn_embed": [64, 64]})
    with pytest.raises(ValueError, match="ffn_embed"):
        supernet.set_subnet({"embed_dim": 32, "layer_num": 2, "heads_num": [2, 2], "ffn_embed": [64, 999]})


def test_error_subnet_keys_and_type(supernet):
    with pytest.raises(ValueError, match="missing"):
        supernet.set_subnet({"embed_dim": 32})
    with pytest.raises(TypeError, match="subnet"):
        supernet.set_subnet([32, 2])
    with pytest.raises(ValueError, match="atten_dim"):
        supernet.set_subnet({"embed_dim": 32, "layer_num": 1, "heads_num": [2], "ffn_embed": [64], "atten_dim": [64]})


def test_error_supernet_needs_a_search_space():
    with pytest.raises(ValueError, match="search space"):
        LightHuBERTSupernet(LightHuBERTConfig(**tiny_lighthubert_kwargs()))


def test_error_supernet_sizes_must_be_the_largest_choice():
    with pytest.raises(ValueError, match="hidden_size"):
        toy_supernet_config(hidden_size=48)


def test_error_trainer_stage_and_model(tmp_path, supernet):
    from transformers import TrainingArguments

    args = TrainingArguments(str(tmp_path), report_to=[], use_cpu=True)
    teacher = tiny_hubert_teacher(0)
    with pytest.raises(ValueError, match="stage"):
        OnceForAllDistillationTrainer(model=supernet, teacher=teacher, stage=3, args=args)
    plain = LightHuBERTModel(LightHuBERTConfig(**tiny_lighthubert_kwargs()))
    with pytest.raises(TypeError, match="LightHuBERTSupernet"):
        OnceForAllDistillationTrainer(model=plain, teacher=teacher, args=args)


def test_error_forward_inputs():
    model = LightHuBERTModel(LightHuBERTConfig(**tiny_lighthubert_kwargs(teacher_hidden_size=None)))
    with pytest.raises(ValueError, match="input_values"):
        model(torch.zeros(400))
    with pytest.raises(TypeError, match="input_values"):
        model([0.0] * 400)
    with pytest.raises(ValueError, match="mask_time_indices"):
        model(torch.zeros(1, 400), mask_time_indices=torch.zeros(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="teacher_hidden_size"):
        model(torch.zeros(1, 400), labels=torch.zeros(1, 39, 24))


def test_error_loss_shapes_and_reduction():
    with pytest.raises(ValueError, match="predictions"):
        masked_prediction_loss(torch.zeros(1, 4, 3), torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match="mask_time_indices"):
        masked_prediction_loss(torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), torch.zeros(1, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="reduction"):
        masked_prediction_loss(torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), reduction="sum")
    with pytest.raises(ValueError, match="unmasked_weight"):
        masked_prediction_loss(torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), unmasked_weight=-1.0)


def test_error_training_arguments():
    with pytest.raises(ValueError, match="stage1_steps"):
        LightHuBERTArguments(output_dir="x", max_steps=10, stage1_steps=20).validate()
    with pytest.raises(ValueError, match="mask_time_prob"):
        LightHuBERTArguments(output_dir="x", mask_time_prob=1.5).validate()
    with pytest.raises(ValueError, match="learning_rate"):
        LightHuBERTArguments(output_dir="x", learning_rate=0).validate()
    with pytest.raises(ValueError, match="stages"):
        distill_supernet(None, None, torch.zeros(1, 1000), stages=[(3, 10)])
    with pytest.raises(ValueError, match="prob"):
        span_mask(1, 10, prob=1.0, length=2, seed=0)
