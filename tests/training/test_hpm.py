"""Tests of P50 `hpm` (hard patches mining): the ranking loss, the masks, the model, the trainer and the recipe."""

import math

import numpy as np
import pytest
import torch

from hf_methods.training.hpm import (
    HardPatchRankingLoss,
    HPMConfig,
    HPMForPreTraining,
    HPMTrainer,
    easy_to_hard_ratio,
    hard_patch_mask,
    hard_patch_ranking_loss,
    mask_to_noise,
    patch_reconstruction_losses,
)
from hf_methods.training.hpm.trainer import ema_update, teacher_momentum


def tiny_config(**kwargs):
    base = dict(
        image_size=8,
        patch_size=2,
        num_channels=1,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        decoder_hidden_size=16,
        decoder_num_hidden_layers=1,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=32,
        mask_ratio=0.75,
    )
    base.update(kwargs)
    return HPMConfig(**base)


def tiny_model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return HPMForPreTraining(tiny_config(**kwargs)).eval()


def images(n=4, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------------- ranking loss


def ranking_loop(predicted, target):
    """The relative loss written out pair by pair in Python floats, one value per image."""
    out = []
    for s, loss in zip(predicted.tolist(), target.tolist()):
        total, valid = 0.0, 0
        for i in range(len(s)):
            for j in range(len(s)):
                sig = 1.0 / (1.0 + math.exp(-(s[j] - s[i])))
                if loss[j] > loss[i]:
                    total -= math.log(sig)
                    valid += 1
                elif loss[j] < loss[i]:
                    total -= math.log(1.0 - sig)
                    valid += 1
        out.append(total / max(valid, 1))
    return out


def test_ranking_loss_matches_the_pairwise_loop():
    g = torch.Generator().manual_seed(0)
    predicted = torch.randn(5, 7, generator=g, dtype=torch.float64)
    target = torch.rand(5, 7, generator=g, dtype=torch.float64)
    target[0, 3] = target[0, 5]  # a tie: that pair is excluded from the sum and from the count
    target[1] = 0.5  # all tied: no valid pair, loss 0
    per_image = hard_patch_ranking_loss(predicted, target, reduction="none")
    np.testing.assert_allclose(per_image.numpy(), ranking_loop(predicted, target), rtol=1e-10)
    assert per_image[1].item() == 0.0
    torch.testing.assert_close(hard_patch_ranking_loss(predicted, target), per_image.mean())
    torch.testing.assert_close(HardPatchRankingLoss("sum")(predicted, target), per_image.sum())


def test_ranking_loss_is_zero_ish_for_a_perfect_confident_ranking_and_log2_for_flat_scores():
    target = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    assert hard_patch_ranking_loss(target * 1000, target).item() < 1e-6
    assert hard_patch_ranking_loss(torch.zeros(1, 4), target).item() == pytest.approx(math.log(2))


def test_ranking_loss_does_not_reach_the_targets():
    predicted = torch.randn(3, 6, requires_grad=True)
    target = torch.rand(3, 6, requires_grad=True)
    hard_patch_ranking_loss(predicted, target).backward()
    assert predicted.grad is not None and target.grad is None


def test_patch_reconstruction_losses_per_patch_mse():
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(2, 3, 4, generator=g), torch.randn(2, 3, 4, generator=g)
    expected = [[sum((a - b) ** 2 for a, b in zip(p, t)) / 4 for p, t in zip(pp, tt)] for pp, tt in zip(pred, target)]
    torch.testing.assert_close(patch_reconstruction_losses(pred, target), torch.tensor(expected))
    t = target.numpy()
    normed = (t - t.mean(-1, keepdims=True)) / np.sqrt(t.var(-1, ddof=1, keepdims=True) + 1e-6)
    expected = ((pred.numpy() - normed) ** 2).mean(-1)
    np.testing.assert_allclose(patch_reconstruction_losses(pred, target, norm_pix=True).numpy(), expected, rtol=1e-5)


# ---------------------------------------------------------------------------------------------------- masking


def test_easy_to_hard_schedule_grows_to_the_maximum():
    ratios = [easy_to_hard_ratio(t, 10, 0.5) for t in range(10)]
    assert ratios == pytest.approx([0.5 * (t + 1) / 10 for t in range(10)])
    assert ratios[-1] == pytest.approx(0.5)


@pytest.mark.parametrize("hard_ratio", [0.0, 0.5, 1.0])
def test_hard_patch_mask_takes_the_predicted_hardest(hard_ratio):
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(50, 16, generator=g)
    mask = hard_patch_mask(scores, 0.75, hard_ratio, generator=g)
    num_masked = 16 - int(16 * 0.25)
    assert mask.sum(1).eq(num_masked).all()
    num_hard = int(num_masked * hard_ratio)
    if num_hard:
        hardest = scores.topk(num_hard, dim=1).indices
        assert mask.gather(1, hardest).eq(1).all()
    if hard_ratio == 1.0:
        torch.testing.assert_close(mask, torch.zeros(50, 16).scatter(1, scores.topk(12, dim=1).indices, 1.0))


def test_random_part_of_the_mask_is_uniform():
    # with α = 0.5, 6 hardest + 6 random among the other 10: each other patch is masked with probability 6/10
    scores = torch.arange(16.0).expand(4000, 16)
    mask = hard_patch_mask(scores, 0.75, 0.5, generator=torch.Generator().manual_seed(0))
    assert mask[:, 10:].eq(1).all()
    np.testing.assert_allclose(mask[:, :10].mean(0).numpy(), 0.6, atol=0.04)


def test_mask_to_noise_reproduces_the_mask_in_vit_mae():
    model = tiny_model()
    mask = hard_patch_mask(torch.randn(4, 16), 0.75, 1.0)
    out = model(pixel_values=images(), noise=mask_to_noise(mask))
    torch.testing.assert_close(out.mask, mask)


# ------------------------------------------------------------------------------------------------------ model


def test_position_embeddings_are_the_fixed_sincos_tables():
    model = tiny_model()
    for table in (
        model.vit.embeddings.position_embeddings,
        model.decoder.decoder_pos_embed,
        model.loss_predictor.decoder_pos_embed,
    ):
        assert table.abs().sum() > 0 and not table.requires_grad
    assert len(model.loss_predictor.decoder_layers) == model.config.loss_predictor_num_hidden_layers


def test_forward_loss_is_reconstruction_plus_weighted_ranking():
    model = tiny_model(ranking_loss_weight=0.3)
    x = images()
    out = model(pixel_values=x, generator=torch.Generator().manual_seed(0))
    # reconstruction: MSE of the masked 2×2 patches, patchified by hand (row-major patches, pixels row-major)
    patches = x.numpy().reshape(4, 4, 2, 4, 2).transpose(0, 1, 3, 2, 4).reshape(4, 16, 4)
    per_patch = ((out.logits.detach().numpy() - patches) ** 2).mean(-1)
    mask = out.mask.numpy()
    rec = (per_patch * mask).sum() / mask.sum()
    assert out.reconstruction_loss.item() == pytest.approx(rec, rel=1e-5)
    masked = [np.flatnonzero(row) for row in mask]
    s = torch.stack([out.predicted_losses.detach()[b, idx] for b, idx in enumerate(masked)])
    ell = torch.tensor(np.stack([per_patch[b, idx] for b, idx in enumerate(masked)]))
    rank = np.mean(ranking_loop(s.double(), ell.double()))
    assert out.ranking_loss.item() == pytest.approx(rank, rel=1e-4)
    assert out.loss.item() == pytest.approx(rec + 0.3 * rank, rel=1e-4)


def test_ranking_loss_trains_only_the_loss_predictor_and_encoder_not_the_reconstructor():
    x, noise = images(), torch.rand(4, 16, generator=torch.Generator().manual_seed(3))
    grads = {}
    for weight in (0.0, 1.0):
        model = tiny_model(ranking_loss_weight=weight)
        model(pixel_values=x, noise=noise).loss.backward()
        grads[weight] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    for name, grad in grads[0.0].items():
        if name.startswith("decoder."):
            torch.testing.assert_close(grads[1.0][name], grad)  # ℓ is detached: no ranking gradient here
    assert any(n.startswith("loss_predictor.") for n in grads[1.0])
    assert not any(n.startswith("loss_predictor.") and g.abs().sum() > 0 for n, g in grads[0.0].items())


def test_predict_patch_losses_sees_the_unmasked_image_and_restores_the_mask_ratio():
    model = tiny_model()
    x = images()
    predicted = model.predict_patch_losses(x)
    assert predicted.shape == (4, 16) and model.config.mask_ratio == 0.75
    # the same as running the loss predictor by hand on the encoder's output with all 16 patches kept
    latent = model.encode_all_patches(x)
    assert latent.shape == (4, 17, 16)
    by_hand = model.loss_predictor(latent, torch.arange(16).expand(4, 16)).logits.mean(-1)
    torch.testing.assert_close(predicted, by_hand)
    # changing a single pixel changes the prediction: the image is not masked
    x2 = x.clone()
    x2[:, :, 0, 0] += 1.0
    assert not torch.allclose(model.predict_patch_losses(x2), predicted)


def test_hard_mining_masks_the_predicted_hardest_patches():
    model = tiny_model()
    x = images(8)
    predicted = torch.randn(8, 16)
    out = model(pixel_values=x, predicted_losses=predicted, hard_ratio=1.0)
    torch.testing.assert_close(out.mask, torch.zeros(8, 16).scatter(1, predicted.topk(12, dim=1).indices, 1.0))
    # epoch/total_epochs give α_t; without predicted_losses the model predicts them itself
    out = model(pixel_values=x, epoch=9, total_epochs=10)  # α = 0.5: the 6 self-predicted hardest are masked
    hardest = model.predict_patch_losses(x).topk(6, dim=1).indices
    assert out.mask.gather(1, hardest).eq(1).all()


def test_save_and_load_round_trip(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    loaded = HPMForPreTraining.from_pretrained(tmp_path).eval()
    assert loaded.config.model_type == "hfm-hpm" and loaded.config.max_hard_ratio == 0.5
    x, noise = images(), torch.rand(4, 16)
    torch.testing.assert_close(loaded(pixel_values=x, noise=noise).loss, model(pixel_values=x, noise=noise).loss)
    torch.testing.assert_close(loaded.predict_patch_losses(x), model.predict_patch_losses(x))


# ---------------------------------------------------------------------------------------------------- trainer


def test_ema_update_and_momentum_schedule():
    teacher, student = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = teacher.weight.detach().clone()
    ema_update(teacher, student, 0.9)
    torch.testing.assert_close(teacher.weight, 0.9 * before + 0.1 * student.weight.detach())
    assert teacher_momentum(0.0, 0.99, 0.999, 0.1) == pytest.approx(0.99)
    assert teacher_momentum(0.05, 0.99, 0.999, 0.1) == pytest.approx(0.9945)
    assert teacher_momentum(0.5, 0.99, 0.999, 0.1) == pytest.approx(0.999)


def test_trainer_mines_with_its_ema_teacher(tmp_path):
    from datasets import Dataset
    from transformers import TrainingArguments

    model = tiny_model()
    data = Dataset.from_dict({"pixel_values": images(16).tolist()}).with_format("torch")
    args = TrainingArguments(
        str(tmp_path), max_steps=3, per_device_train_batch_size=8, report_to=[], use_cpu=True, save_strategy="no"
    )
    trainer = HPMTrainer(model=model, args=args, train_dataset=data, teacher_momentum_start=0.5)
    start = {n: p.detach().clone() for n, p in trainer.teacher.named_parameters()}
    trainer.train()
    moved = [n for n, p in trainer.teacher.named_parameters() if not torch.equal(p, start[n])]
    assert moved, "the EMA teacher must follow the model"
    assert all(not p.requires_grad for p in trainer.teacher.parameters())
    assert 0.0 < trainer.current_hard_ratio() <= 0.5


# ------------------------------------------------------------------------------------------------------ errors


def test_error_ranking_loss_shapes_and_types():
    with pytest.raises(ValueError, match="predicted_losses must be 2-D"):
        hard_patch_ranking_loss(torch.randn(4), torch.rand(4))
    with pytest.raises(ValueError, match="patch_losses must have shape"):
        hard_patch_ranking_loss(torch.randn(2, 4), torch.rand(2, 5))
    with pytest.raises(TypeError, match="patch_losses must be a floating-point"):
        hard_patch_ranking_loss(torch.randn(2, 4), torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 patches"):
        hard_patch_ranking_loss(torch.randn(2, 1), torch.rand(2, 1))
    with pytest.raises(ValueError, match="reduction"):
        HardPatchRankingLoss("max")


def test_error_reconstruction_shapes():
    with pytest.raises(ValueError, match="predicted and target"):
        patch_reconstruction_losses(torch.randn(2, 3, 4), torch.randn(2, 3, 5))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"mask_ratio": 1.0}, "mask_ratio"), ({"hard_ratio": -0.1}, "hard_ratio"), ({"hard_ratio": 1.5}, "hard_ratio")],
)
def test_error_hard_patch_mask_ratios(kwargs, match):
    args = {"mask_ratio": 0.75, "hard_ratio": 0.5, **kwargs}
    with pytest.raises(ValueError, match=match):
        hard_patch_mask(torch.randn(2, 16), args["mask_ratio"], args["hard_ratio"])


def test_error_hard_patch_mask_scores():
    with pytest.raises(ValueError, match="predicted_losses must be 2-D"):
        hard_patch_mask(torch.randn(16), 0.75, 0.5)
    with pytest.raises(TypeError, match="predicted_losses must be a floating-point"):
        hard_patch_mask(torch.ones(2, 16, dtype=torch.long), 0.75, 0.5)


def test_error_schedule_arguments():
    with pytest.raises(ValueError, match="total_epochs"):
        easy_to_hard_ratio(0, 0)
    with pytest.raises(ValueError, match="epoch"):
        easy_to_hard_ratio(10, 10)
    with pytest.raises(ValueError, match="max_ratio"):
        easy_to_hard_ratio(0, 10, 1.5)


def test_error_config_values():
    with pytest.raises(ValueError, match="max_hard_ratio"):
        tiny_config(max_hard_ratio=2.0)
    with pytest.raises(ValueError, match="ranking_loss_weight"):
        tiny_config(ranking_loss_weight=-1.0)
    with pytest.raises(ValueError, match="mask_ratio"):
        tiny_config(mask_ratio=1.0)
    with pytest.raises(ValueError, match="loss_predictor_num_hidden_layers"):
        tiny_config(loss_predictor_num_hidden_layers=0)


def test_error_forward_arguments():
    model = tiny_model()
    x = images()
    with pytest.raises(ValueError, match="either noise or the hard-mining"):
        model(pixel_values=x, noise=torch.rand(4, 16), hard_ratio=0.5)
    with pytest.raises(ValueError, match="hard_ratio, or both epoch and total_epochs"):
        model(pixel_values=x, predicted_losses=torch.randn(4, 16))
    with pytest.raises(ValueError, match="not both"):
        model(pixel_values=x, hard_ratio=0.5, epoch=0, total_epochs=2)
    with pytest.raises(ValueError, match="predicted_losses must have shape"):
        model(pixel_values=x, predicted_losses=torch.randn(4, 15), hard_ratio=0.5)
    with pytest.raises(ValueError, match="pixel_values must be a tensor"):
        model(pixel_values=x.flatten(1))


def test_error_trainer_model_and_momentum(tmp_path):
    from transformers import TrainingArguments

    args = TrainingArguments(str(tmp_path), max_steps=1, report_to=[], use_cpu=True)
    with pytest.raises(TypeError, match="HPMForPreTraining"):
        HPMTrainer(model=torch.nn.Linear(2, 2), args=args)
    with pytest.raises(ValueError, match="teacher_momentum_end"):
        HPMTrainer(model=tiny_model(), args=args, teacher_momentum_end=1.0)


def test_error_recipe_arguments():
    from hf_methods.training.hpm.training import HPMArguments

    for kwargs, match in [
        ({"method": "beit"}, "--method"),
        ({"mask_ratio": 1.0}, "--mask_ratio"),
        ({"max_hard_ratio": 1.5}, "--max_hard_ratio"),
        ({"teacher_momentum_start": 1.0}, "--teacher_momentum_start"),
        ({"learning_rate": 0.0}, "--learning_rate"),
    ]:
        with pytest.raises(ValueError, match=match):
            HPMArguments(output_dir="x", **kwargs).validate()


# ------------------------------------------------------------------------------------------- training, recipe


def test_arguments_build_the_config():
    from hf_methods.training.hpm.training import HPMArguments

    assert HPMArguments(output_dir="x", method="mae").build_config().ranking_loss_weight == 0.0
    config = HPMArguments(output_dir="x", hidden_size=32, mask_ratio=0.5).build_config()
    assert config.hidden_size == 32 and config.intermediate_size == 128 and config.mask_ratio == 0.5


def test_recipe_runs_a_few_steps(tmp_path):
    import json

    from recipes.hpm import main

    metrics = main(["--max_steps", "3", "--output_dir", str(tmp_path), "--log_every", "0", "--cpu_threads", "1"])
    assert 0.0 <= metrics["eval/linear_probe_accuracy"] <= 1.0
    assert (tmp_path / "config.json").exists() and (tmp_path / "model.safetensors").exists()
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "hfm-hpm"
    loaded = HPMForPreTraining.from_pretrained(tmp_path)
    assert loaded.config.max_hard_ratio == 0.5


def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("hpm").usage, namespace)
    assert torch.isfinite(namespace["out"].loss)
