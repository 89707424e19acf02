"""AdvUnlearn (P53): the ESD target and losses against the equations written out, the text encoder on word embeddings,
the prefix layout, the soft-prompt attack, the Trainer (only the text encoder changes; the erased encoder reloads
with plain transformers), the recipe and one test per rejected input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")

from hf_methods.training.advunlearn import (  # noqa: E402
    AdvUnlearnTrainer,
    ESDLoss,
    SoftPromptAttack,
    digit_tokenizer,
    encode_text,
    esd_loss,
    esd_target,
    prefix_embeddings,
    retain_loss,
    sample_to_step,
    tiny_clip_text_encoder,
)
from hf_methods.training.advunlearn.text import digit_prompts, tokenize  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    return digit_tokenizer()


def tiny_stack(tokenizer, seed=0):
    from hf_methods.common.diffusion import ddpm_scheduler, tiny_unet

    torch.manual_seed(seed)
    encoder = tiny_clip_text_encoder(tokenizer, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    unet = tiny_unet(cross_attention_dim=16, block_out_channels=(8, 16), norm_num_groups=4, attention_head_dim=4)
    return unet, encoder, ddpm_scheduler(num_train_timesteps=50)


# ------------------------------------------------------------------------------------------------ the losses


def test_esd_target_matches_the_equation_elementwise():
    g = torch.Generator().manual_seed(0)
    e0, ep = torch.randn(3, 1, 2, 2, generator=g), torch.randn(3, 1, 2, 2, generator=g)
    for eta in (0.0, 1.0, 2.5):
        got = esd_target(e0, ep, eta).numpy()
        a, b = e0.numpy(), ep.numpy()
        for index in np.ndindex(a.shape):
            # ε* = ε(c₀) − η (ε(c_p) − ε(c₀)): guided *away* from the concept
            assert got[index] == pytest.approx(a[index] - eta * (b[index] - a[index]), abs=1e-6)
    # the sign: with η = 1 the target lies on the far side of ε(c₀) from ε(c_p)
    torch.testing.assert_close(esd_target(e0, ep, 1.0) - e0, -(ep - e0))


def test_esd_and_retain_losses_are_per_sample_mean_squared_errors():
    g = torch.Generator().manual_seed(1)
    pred, e0, ep = (torch.randn(4, 1, 3, 3, generator=g, dtype=torch.float64) for _ in range(3))
    per_sample = esd_loss(pred, e0, ep, negative_guidance=0.7, reduction="none")
    for i in range(4):
        target = e0[i].numpy() - 0.7 * (ep[i].numpy() - e0[i].numpy())
        assert per_sample[i].item() == pytest.approx(float(np.mean((pred[i].numpy() - target) ** 2)), rel=1e-12)
    assert ESDLoss(0.7)(pred, e0, ep).item() == pytest.approx(per_sample.mean().item(), rel=1e-12)
    kept = retain_loss(pred, e0, reduction="sum").item()
    assert kept == pytest.approx(float(np.sum(np.mean((pred.numpy() - e0.numpy()) ** 2, axis=(1, 2, 3)))), rel=1e-12)


def test_esd_loss_sends_no_gradient_to_the_frozen_predictions():
    pred, e0, ep = (torch.randn(2, 1, 2, 2, requires_grad=True) for _ in range(3))
    esd_loss(pred, e0, ep).backward()
    assert pred.grad is not None and e0.grad is None and ep.grad is None


# ----------------------------------------------------------------------------------------- text and attack


def test_tokenizer_pads_prompts_and_the_empty_prompt(tokenizer):
    ids = tokenize(tokenizer, ["a photo of the digit three", ""])
    assert ids.shape == (2, tokenizer.model_max_length)
    words = tokenizer.convert_ids_to_tokens(ids[0].tolist())
    assert words[:8] == ["<bos>", "a", "photo", "of", "the", "digit", "three", "<eos>"] and words[8] == "<pad>"
    assert tokenizer.convert_ids_to_tokens(ids[1, :3].tolist()) == ["<bos>", "<eos>", "<pad>"]
    assert tokenizer.unk_token_id not in ids


def test_encode_text_on_word_embeddings_matches_the_model_forward(tokenizer):
    _, encoder, _ = tiny_stack(tokenizer)
    ids = tokenize(tokenizer, digit_prompts(3))
    direct = encoder(input_ids=ids).last_hidden_state
    from_embeddings = encode_text(encoder, inputs_embeds=encoder.get_input_embeddings()(ids))
    torch.testing.assert_close(from_embeddings, direct, rtol=1e-5, atol=1e-6)  # same kernels, different entry


def test_prefix_is_inserted_after_the_start_token(tokenizer):
    _, encoder, _ = tiny_stack(tokenizer)
    ids = tokenize(tokenizer, ["the number three", "three"])
    prefix = torch.randn(2, 16)
    got = prefix_embeddings(encoder, ids, prefix)
    table = encoder.get_input_embeddings().weight
    for row in range(2):
        expected = [table[ids[row, 0]], prefix[0], prefix[1]] + [table[i] for i in ids[row, 1:-2]]
        torch.testing.assert_close(got[row], torch.stack(expected))


def test_attack_lowers_its_objective_and_leaves_the_models_untouched(tokenizer):
    unet, encoder, scheduler = tiny_stack(tokenizer)
    ids = tokenize(tokenizer, ["three", "the number three"])
    g = torch.Generator().manual_seed(0)
    noisy, target = torch.randn(2, 1, 8, 8, generator=g), torch.randn(2, 1, 8, 8, generator=g)
    t = torch.tensor([10, 30])
    before = {k: v.clone() for k, v in {**encoder.state_dict(), **unet.state_dict()}.items()}
    encoder.train()
    attack = SoftPromptAttack(k=1, steps=12, lr=5e-2, init="random")
    prefix, losses = attack(encoder, unet, ids, batches=(noisy, t, target), generator=torch.Generator().manual_seed(0))
    final = attack.objective(encoder, unet, ids, prefix, noisy, t, target).item()
    assert prefix.shape == (1, 16) and not prefix.requires_grad
    assert final < losses[0]
    after = {**encoder.state_dict(), **unet.state_dict()}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert encoder.training and all(p.requires_grad for p in encoder.parameters())
    # "latest" resumes from the given δ, a single step moves it by at most lr per coordinate (Adam)
    again, _ = SoftPromptAttack(k=1, steps=1, lr=1e-3)(encoder, unet, ids, batches=(noisy, t, target),
                                                       init_embeddings=prefix)  # fmt: skip
    assert (again - prefix).abs().max() <= 1e-3 + 1e-6


def test_sample_to_step_stops_where_asked(tokenizer):
    import diffusers

    unet, encoder, scheduler = tiny_stack(tokenizer)
    ddim = diffusers.DDIMScheduler.from_config(scheduler.config)
    cond = encode_text(encoder, tokenize(tokenizer, ["three"]))
    noise = torch.randn(1, 1, 8, 8)
    z, t = sample_to_step(unet, ddim, cond, cond, num_inference_steps=5, stop_step=0, guidance_scale=3.0,
                          initial_noise=noise)  # fmt: skip
    assert torch.equal(z, noise) and t == int(ddim.timesteps[0])
    z, t = sample_to_step(unet, ddim, cond, cond, num_inference_steps=5, stop_step=3, guidance_scale=3.0,
                          initial_noise=noise)  # fmt: skip
    assert t == int(ddim.timesteps[3]) and not torch.equal(z, noise)


# ------------------------------------------------------------------------------------------------- trainer


def make_trainer(tokenizer, tmp_path, *, attack, steps=3, save_steps=None, **kwargs):
    from transformers import TrainingArguments

    unet, encoder, scheduler = tiny_stack(tokenizer)
    save = {"save_strategy": "steps", "save_steps": save_steps} if save_steps else {"save_strategy": "no"}
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=steps, learning_rate=1e-2, per_device_train_batch_size=2,
                             report_to=[], use_cpu=True, disable_tqdm=True, seed=0, **save)  # fmt: skip
    trainer = AdvUnlearnTrainer(
        model=encoder, args=args, unet=unet, scheduler=scheduler, tokenizer=tokenizer, concept=digit_prompts(3)[:2],
        retain_prompts=digit_prompts(1)[:2] + digit_prompts(7)[:2], attack=attack, num_sampling_steps=3,
        concept_batch_size=2, **kwargs,
    )  # fmt: skip
    return trainer, unet, encoder


def test_trainer_updates_only_the_text_encoder_and_saves_a_plain_clip_encoder(tokenizer, tmp_path):
    from transformers import CLIPTextModel

    attack = SoftPromptAttack(k=1, steps=2, lr=1e-2)
    trainer, unet, encoder = make_trainer(tokenizer, tmp_path, attack=attack, warmup_steps_before_attack=1)
    unet_before = {k: v.clone() for k, v in unet.state_dict().items()}
    encoder_before = {k: v.clone() for k, v in encoder.state_dict().items()}
    trainer.train()
    assert all(torch.equal(unet_before[k], v) for k, v in unet.state_dict().items())
    original = trainer.original_text_encoder.state_dict()
    assert all(torch.equal(encoder_before[k], original[k]) for k in encoder_before)  # ε_orig stays frozen
    assert any(not torch.equal(encoder_before[k], v) for k, v in encoder.state_dict().items())
    assert len(trainer.attack_losses) == 2 and trainer.adversarial_prefix.shape == (1, 16)  # steps 1, 2 attack

    encoder.save_pretrained(tmp_path / "erased")
    reloaded = CLIPTextModel.from_pretrained(tmp_path / "erased").eval()
    ids = tokenize(tokenizer, ["a photo of the digit three"])
    torch.testing.assert_close(
        reloaded(input_ids=ids).last_hidden_state, encoder.eval()(input_ids=ids).last_hidden_state
    )


@pytest.mark.slow
def test_trainer_resumes_exactly_with_the_adversarial_prefix(tokenizer, tmp_path):
    attack = SoftPromptAttack(k=1, steps=1, lr=1e-2)
    full, _, full_encoder = make_trainer(tokenizer, tmp_path / "full", attack=attack, steps=2)
    full.train()
    first, _, _ = make_trainer(tokenizer, tmp_path / "cut", attack=attack, steps=2, save_steps=1)
    first.train()
    checkpoint = tmp_path / "cut" / "checkpoint-1"
    assert (checkpoint / AdvUnlearnTrainer.extra_state_file).is_file()
    resumed, _, resumed_encoder = make_trainer(tokenizer, tmp_path / "cut", attack=attack, steps=2)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    torch.testing.assert_close(resumed.adversarial_prefix, full.adversarial_prefix)
    for key, value in full_encoder.state_dict().items():
        torch.testing.assert_close(resumed_encoder.state_dict()[key], value)


def test_trainer_without_attack_is_esd_on_the_text_encoder(tokenizer, tmp_path):
    trainer, _, encoder = make_trainer(tokenizer, tmp_path, attack=None, steps=1, retain_weight=0.0)
    trainer.train()
    assert trainer.adversarial_prefix is None and trainer.attack_losses == []


# ---------------------------------------------------------------------------------------------- bad inputs


def test_esd_loss_rejects_a_negative_guidance():
    with pytest.raises(ValueError, match="negative_guidance"):
        ESDLoss(negative_guidance=-1.0)


def test_esd_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="must share one shape"):
        esd_loss(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(3, 4))


def test_esd_loss_rejects_integer_tensors():
    with pytest.raises(TypeError, match="concept must be a float tensor"):
        esd_loss(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.long))


def test_esd_loss_rejects_an_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        ESDLoss(reduction="max")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"k": 0}, ValueError, "k must be a positive integer"),
        ({"steps": 1.5}, TypeError, "steps must be an integer"),
        ({"lr": 0.0}, ValueError, "lr must be"),
        ({"init": "zeros"}, ValueError, "init must be"),
        ({"method": "fgsm"}, ValueError, "method must be one of"),
    ],
)
def test_attack_rejects_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        SoftPromptAttack(**kwargs)


def test_attack_rejects_a_latest_embedding_of_the_wrong_shape(tokenizer):
    unet, encoder, _ = tiny_stack(tokenizer)
    ids = tokenize(tokenizer, ["three"])
    batch = (torch.zeros(1, 1, 8, 8), torch.tensor([3]), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="init_embeddings must have shape"):
        SoftPromptAttack(k=1, steps=1)(encoder, unet, ids, batches=batch, init_embeddings=torch.zeros(2, 16))


def test_attack_rejects_batches_of_the_wrong_kind(tokenizer):
    unet, encoder, _ = tiny_stack(tokenizer)
    with pytest.raises(TypeError, match="batches must be"):
        SoftPromptAttack(k=1, steps=1)(encoder, unet, tokenize(tokenizer, ["three"]), batches=[1, 2, 3])


def test_prefix_rejects_a_prefix_that_pushes_out_the_prompt(tokenizer):
    _, encoder, _ = tiny_stack(tokenizer)
    ids = tokenize(tokenizer, ["a photo of the digit three"])  # 8 of 10 positions used
    with pytest.raises(ValueError, match="must be padding"):
        prefix_embeddings(encoder, ids, torch.zeros(3, 16))
    with pytest.raises(ValueError, match="prefix must have shape"):
        prefix_embeddings(encoder, ids, torch.zeros(1, 7))


def test_encode_text_needs_exactly_one_input(tokenizer):
    _, encoder, _ = tiny_stack(tokenizer)
    with pytest.raises(ValueError, match="exactly one of input_ids and inputs_embeds"):
        encode_text(encoder)


def test_digit_prompts_rejects_a_digit_out_of_range():
    with pytest.raises(ValueError, match="digit must be an int in"):
        digit_prompts(10)


def test_sample_to_step_rejects_a_stop_step_out_of_range(tokenizer):
    import diffusers

    unet, encoder, scheduler = tiny_stack(tokenizer)
    cond = encode_text(encoder, tokenize(tokenizer, ["three"]))
    with pytest.raises(ValueError, match="stop_step must be in"):
        sample_to_step(unet, diffusers.DDIMScheduler.from_config(scheduler.config), cond, cond, num_inference_steps=3,
                       stop_step=3, guidance_scale=1.0, initial_noise=torch.zeros(1, 1, 8, 8))  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"concept": []}, ValueError, "concept must be a non-empty"),
        ({"attack": "pgd"}, TypeError, "attack must be a SoftPromptAttack"),
        ({"retain_prompts": [], "retain_weight": 0.3}, ValueError, "retain_weight > 0 needs retain_prompts"),
        ({"retain_weight": -0.1}, ValueError, "retain_weight"),
        ({"warmup_steps_before_attack": -1}, ValueError, "warmup_steps_before_attack must be >= 0"),
        ({"attack_every": 0}, ValueError, "attack_every must be a positive integer"),
        ({"model": torch.nn.Linear(2, 2)}, TypeError, "model must be the text encoder"),
        ({"unet": "unet"}, TypeError, "unet must be a torch module"),
    ],
)
def test_trainer_rejects_bad_arguments(tokenizer, tmp_path, kwargs, error, match):
    from transformers import TrainingArguments

    unet, encoder, scheduler = tiny_stack(tokenizer)
    base = {"model": encoder, "unet": unet, "scheduler": scheduler, "tokenizer": tokenizer, "concept": ["three"],
            "retain_prompts": ["one"]}  # fmt: skip
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=1, report_to=[], use_cpu=True)
    with pytest.raises(error, match=match):
        AdvUnlearnTrainer(args=args, **{**base, **kwargs})


@pytest.mark.parametrize(
    ("flag", "value", "match"),
    [
        ("--concept_digit", "10", "concept_digit must be in"),
        ("--learning_rate", "0", "learning_rate must be > 0"),
        ("--retain_weight", "-1", "retain_weight must be >= 0"),
        ("--attack_k", "3", "attack_k must be 1 or 2"),
        ("--attack_steps", "0", "attack_steps must be >= 1"),
    ],
)
def test_recipe_arguments_reject_bad_values(tmp_path, flag, value, match):
    from hf_methods.harness.recipe import parse_recipe_args
    from hf_methods.training.advunlearn.training import AdvUnlearnArguments

    with pytest.raises(ValueError, match=match):
        parse_recipe_args(AdvUnlearnArguments, ["--output_dir", str(tmp_path / "o"), flag, value], slug="advunlearn")


# -------------------------------------------------------------------------------------------------- recipe


def load_recipe():
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_advunlearn", repo_root() / "recipes" / "advunlearn.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    return recipe


TINY_RECIPE = ["--num_sampling_steps", "2", "--attack_steps", "1", "--warmup_steps_before_attack", "1",
               "--eval_images", "1", "--eval_attack_trials", "1", "--eval_attack_steps", "2", "--judge_steps", "5"]  # fmt: skip


def test_recipe_runs_a_few_steps(tmp_path):
    import json

    from transformers import CLIPTextModel

    recipe = load_recipe()
    out = tmp_path / "run"
    metrics = recipe.main(["--output_dir", str(out), "--max_steps", "3", "--base_steps", "2", "--base_batch_size", "8",
                           "--checkpoint_every", "2", "--log_every", "1", *TINY_RECIPE])  # fmt: skip
    assert 0.0 <= metrics["eval/concept_rate"] <= 1.0
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert (out / "unet" / "config.json").is_file()
    CLIPTextModel.from_pretrained(out)  # the erased encoder is a plain CLIPTextModel
    assert json.loads((out / "metrics.json").read_text())["slug"] == "advunlearn"
    assert len(list((out / "checkpoints").iterdir())) >= 1


@pytest.mark.slow
def test_recipe_resumes_from_its_checkpoint(tmp_path):
    recipe = load_recipe()
    out = tmp_path / "run"
    recipe.main(["--output_dir", str(out), "--max_steps", "2", "--base_steps", "2", "--base_batch_size", "8",
                 "--checkpoint_every", "1", *TINY_RECIPE])  # fmt: skip
    # the resumed run reloads the saved base model and the objective's state (δ, random state) and carries on
    again = recipe.main(
        ["--output_dir", str(out), "--max_steps", "3", "--resume_from_checkpoint", "latest", *TINY_RECIPE]
    )
    assert 0.0 <= again["eval/retain_accuracy"] <= 1.0
    assert (out / "model.safetensors").is_file()


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("advunlearn").usage, namespace)
    assert namespace["trainer"].adversarial_prefix is not None
