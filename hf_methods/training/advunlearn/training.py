"""Training and evaluation pieces shared by `recipes/advunlearn.py`, the claim check and the tests.

- [`AdvUnlearnArguments`]: the recipe's arguments;
- [`train_text_to_image`]: the base model, a diffusers `UNet2DConditionModel` and a `CLIPTextModel` trained together
  on scikit-learn's 8×8 digits with the prompts of `text.PROMPT_TEMPLATES` (10% empty prompts for classifier-free
  guidance);
- [`train_digit_classifier`]: the judge, an `MLPForImageClassification` on the digits (images in [-1, 1]);
- [`erase_concept`]: ESD on the text encoder (`attack=None`) or AdvUnlearn, through [`AdvUnlearnTrainer`];
- [`generate`], [`concept_rate`], [`attack_success_rate`], [`retain_accuracy`]: the evaluation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from hf_methods.common.checks import check_positive_int
from hf_methods.harness.recipe import RecipeArguments

from .attack import SoftPromptAttack, prefix_embeddings
from .text import (
    PROMPT_TEMPLATES,
    TextConditionedUNet,
    digit_prompts,
    digit_tokenizer,
    encode_text,
    tiny_clip_text_encoder,
    tokenize,
)

__all__ = [
    "PROMPT_TEMPLATES",
    "AdvUnlearnArguments",
    "classify",
    "load_or_train_base",
    "attack_success_rate",
    "concept_rate",
    "erase_concept",
    "generate",
    "retain_accuracy",
    "retain_prompts_for",
    "train_digit_classifier",
    "train_text_to_image",
]


@dataclass
class AdvUnlearnArguments(RecipeArguments):
    max_steps: int = field(default=150, metadata={"help": "Unlearning steps (updates of the text encoder)."})
    checkpoint_every: int = field(default=50, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=10, metadata={"help": "Log training metrics every N steps."})
    concept_digit: int = field(default=3, metadata={"help": "The digit whose concept is erased (0-9)."})
    attack: bool = field(default=True, metadata={"help": "AdvUnlearn (attack in the loop); --attack false: ESD."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate of the text encoder."})
    retain_weight: float = field(default=0.3, metadata={"help": "γ of L = L_u + γ L_r."})
    negative_guidance: float = field(default=1.0, metadata={"help": "η of the ESD target."})
    start_guidance: float = field(default=3.0, metadata={"help": "Guidance scale of the partial sampling of z_t."})
    num_sampling_steps: int = field(default=10, metadata={"help": "DDIM steps of the schedule z_t is drawn from."})
    concept_batch_size: int = field(default=4, metadata={"help": "Concept prompts per step."})
    retain_batch_size: int = field(default=4, metadata={"help": "Retain prompts per step."})
    attack_k: int = field(default=1, metadata={"help": "Adversarial prefix tokens."})
    attack_steps: int = field(default=5, metadata={"help": "Attack steps per attack."})
    attack_lr: float = field(default=1e-2, metadata={"help": "Adam learning rate of the attack."})
    attack_every: int = field(default=2, metadata={"help": "Run the attack every N steps (latest δ in between)."})
    warmup_steps_before_attack: int = field(default=30, metadata={"help": "Plain ESD steps before attacks start."})
    base_steps: int = field(default=600, metadata={"help": "Steps of the base text-to-image model's training."})
    base_batch_size: int = field(default=64, metadata={"help": "Batch size of the base model's training."})
    base_learning_rate: float = field(default=2e-3, metadata={"help": "AdamW learning rate of the base model."})
    eval_images: int = field(default=8, metadata={"help": "Images per prompt (and per attack trial) at evaluation."})
    eval_attack_trials: int = field(default=2, metadata={"help": "Soft-prompt attacks run on the erased encoder."})
    eval_attack_steps: int = field(default=30, metadata={"help": "Adam steps of each evaluation attack (lr 1e-2)."})
    judge_steps: int = field(default=400, metadata={"help": "Training steps of the digit classifier that judges."})

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.concept_digit <= 9:
            raise ValueError(f"--concept_digit must be in [0, 9], got {self.concept_digit}")
        for name in ("learning_rate", "attack_lr", "base_learning_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("retain_weight", "negative_guidance", "start_guidance", "warmup_steps_before_attack"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        for name in (
            "num_sampling_steps",
            "concept_batch_size",
            "retain_batch_size",
            "attack_k",
            "attack_steps",
            "attack_every",
            "base_steps",
            "base_batch_size",
            "eval_images",
            "eval_attack_trials",
            "eval_attack_steps",
            "judge_steps",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.attack_k > 2:
            raise ValueError(f"--attack_k must be 1 or 2 (the prompts leave room for 2 tokens), got {self.attack_k}")


def load_or_train_base(args: AdvUnlearnArguments, output_dir, log=print):
    """The base model of a recipe run: when resuming (`--resume_from_checkpoint`), loaded from `<output_dir>/unet`
    and `<output_dir>/original_text_encoder` where the interrupted run saved it; else trained with `args` and saved
    there.

    Returns `(unet, text_encoder, tokenizer, scheduler)`.
    """
    from pathlib import Path

    from transformers import CLIPTextModel

    from hf_methods.common.diffusion import ddpm_scheduler, require_diffusers

    diffusers = require_diffusers()
    folder = Path(output_dir)
    if (
        args.resume_from_checkpoint
        and (folder / "unet" / "config.json").is_file()
        and (folder / "original_text_encoder" / "config.json").is_file()
    ):
        log(f"[advunlearn] base model loaded from {folder}")
        unet = diffusers.UNet2DConditionModel.from_pretrained(folder / "unet").eval().requires_grad_(False)
        encoder = CLIPTextModel.from_pretrained(folder / "original_text_encoder")
        return unet, encoder, digit_tokenizer(), ddpm_scheduler()
    log(f"[advunlearn] training the base text-to-image model ({args.base_steps} steps)")
    unet, encoder, tokenizer, scheduler, losses = train_text_to_image(
        steps=args.base_steps, batch_size=args.base_batch_size, learning_rate=args.base_learning_rate, seed=args.seed
    )
    log(f"[advunlearn] base model: final denoising loss {sum(losses[-20:]) / len(losses[-20:]):.4f}")
    unet.save_pretrained(folder / "unet")
    encoder.save_pretrained(folder / "original_text_encoder")
    return unet, encoder, tokenizer, scheduler


def retain_prompts_for(concept_digit: int) -> list[str]:
    """Every prompt of every other digit (the retain set)."""
    return [p for d in range(10) if d != concept_digit for p in digit_prompts(d)]


def train_text_to_image(
    *,
    steps: int,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    seed: int = 0,
    drop_rate: float = 0.1,
    progress: bool = False,
):
    """Trains the base text-to-image model on digits; returns `(unet, text_encoder, tokenizer, scheduler, losses)`.

    Each training image gets a random prompt of its digit (a random template of `PROMPT_TEMPLATES`), replaced by the
    empty prompt with probability `drop_rate` so the same model gives the unconditional prediction of guidance.
    """
    from hf_methods.common.diffusion import ddpm_scheduler, digits_images, tiny_unet, train_denoiser

    torch.manual_seed(seed)
    tokenizer = digit_tokenizer()
    text_encoder = tiny_clip_text_encoder(tokenizer)
    unet = tiny_unet(cross_attention_dim=text_encoder.config.hidden_size, block_out_channels=(16, 32))
    scheduler = ddpm_scheduler()
    images, labels = digits_images("train", seed=seed)
    table = torch.stack([tokenize(tokenizer, digit_prompts(d)) for d in range(10)])  # (10, templates, length)
    empty = tokenize(tokenizer, "")[0]
    draw = torch.Generator().manual_seed(seed + 1)

    def conditioning(batch_labels: torch.Tensor) -> dict:
        template = torch.randint(0, table.shape[1], (len(batch_labels),), generator=draw)
        ids = table[batch_labels.cpu(), template]
        drop = torch.rand(len(batch_labels), generator=draw) < drop_rate
        ids[drop] = empty
        return {"input_ids": ids.to(batch_labels.device)}

    model = TextConditionedUNet(unet, text_encoder)
    losses = train_denoiser(
        model, images, scheduler, steps=steps, batch_size=batch_size, learning_rate=learning_rate,
        conditions=labels, conditioning_fn=conditioning, seed=seed, progress=progress,
    )  # fmt: skip
    unet.eval().requires_grad_(False)
    text_encoder.eval()
    return unet, text_encoder, tokenizer, scheduler, losses


def train_digit_classifier(*, steps: int = 400, seed: int = 0):
    """The judge: an `MLPForImageClassification` 64-128-10 on digits in [-1, 1]; returns `(model, test accuracy)`."""
    from hf_methods.common.diffusion import digits_images
    from hf_methods.common.evaluation import accuracy
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    x, y = digits_images("train", seed=seed)
    x_test, y_test = digits_images("test", seed=seed)
    model = MLPForImageClassification(MLPConfig(input_size=64, hidden_sizes=[128], num_labels=10))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    draw = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(0, len(x), (128,), generator=draw)
        # light pixel noise: generated digits are never exactly on the data manifold
        pixels = x[index].flatten(1) + 0.1 * torch.randn(len(index), 64, generator=draw)
        loss = model(pixel_values=pixels, labels=y[index]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return model, accuracy(model, x_test.flatten(1), y_test)


@torch.no_grad()
def classify(classifier, images: torch.Tensor) -> torch.Tensor:
    """Predicted digits of `(N, 1, 8, 8)` images in [-1, 1] (clipped to that range first)."""
    return classifier(pixel_values=images.clamp(-1, 1).flatten(1)).logits.argmax(-1)


@torch.no_grad()
def generate(
    unet,
    scheduler,
    text_encoder,
    input_ids: torch.Tensor,
    *,
    prefix: torch.Tensor | None = None,
    guidance_scale: float = 3.0,
    num_inference_steps: int = 20,
    seed: int = 0,
) -> torch.Tensor:
    """Images for `input_ids` (one per row) with DDIM and classifier-free guidance; an adversarial `prefix` is
    prepended to every prompt when given."""
    from hf_methods.common.diffusion import require_diffusers, sample

    diffusers = require_diffusers()

    if prefix is None:
        hidden = encode_text(text_encoder, input_ids)
    else:
        hidden = encode_text(text_encoder, inputs_embeds=prefix_embeddings(text_encoder, input_ids, prefix))
    empty = encode_text(text_encoder, input_ids.new_tensor(_empty_ids(text_encoder, input_ids.shape[1])))
    ddim = diffusers.DDIMScheduler.from_config(scheduler.config)
    return sample(
        unet, ddim, (len(input_ids), *_image_shape(unet)), num_inference_steps=num_inference_steps,
        conditioning={"encoder_hidden_states": hidden},
        unconditional={"encoder_hidden_states": empty.expand(len(input_ids), -1, -1)},
        guidance_scale=guidance_scale, generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip


def _empty_ids(text_encoder, length: int) -> list[list[int]]:
    config = text_encoder.config
    return [[config.bos_token_id, config.eos_token_id] + [config.pad_token_id] * (length - 2)]


def _image_shape(unet) -> tuple[int, int, int]:
    size = unet.config.sample_size
    size = size if isinstance(size, int) else size[0]
    return (unet.config.in_channels, size, size)


def concept_rate(unet, scheduler, text_encoder, tokenizer, classifier, digit: int, *, per_prompt: int, seed: int = 0):
    """Fraction of images generated from the plain prompts of `digit` that the judge reads as `digit`."""
    ids = tokenize(tokenizer, digit_prompts(digit)).repeat_interleave(per_prompt, dim=0)
    images = generate(unet, scheduler, text_encoder, ids, seed=seed)
    return (classify(classifier, images) == digit).float().mean().item()


def retain_accuracy(
    unet, scheduler, text_encoder, tokenizer, classifier, concept_digit: int, *, per_digit: int, seed=0
):
    """Fraction of images of the *other* digits ("a photo of the digit d") that the judge reads as d."""
    digits = [d for d in range(10) if d != concept_digit]
    ids = tokenize(tokenizer, [digit_prompts(d)[0] for d in digits]).repeat_interleave(per_digit, dim=0)
    images = generate(unet, scheduler, text_encoder, ids, seed=seed)
    wanted = torch.tensor(digits).repeat_interleave(per_digit)
    return (classify(classifier, images) == wanted).float().mean().item()


def attack_success_rate(
    unet,
    scheduler,
    text_encoder,
    tokenizer,
    classifier,
    digit: int,
    *,
    attack: SoftPromptAttack,
    trials: int,
    images_per_trial: int,
    attack_batch: int = 8,
    seed: int = 0,
) -> list[float]:
    """Per attack trial, the fraction of its images the judge reads as `digit` (the attack succeeded on them).

    Each trial attacks the prompt "a photo of the digit <digit>" of `text_encoder` from a fresh random prefix with
    the denoising objective of UnlearnDiffAtk: at every step `attack_batch` training images of the digit are noised
    at random timesteps and δ minimises ‖ε(x_t, t, c(δ ⊕ prompt)) − ε‖². Then `images_per_trial` images are generated
    with the adversarial prompt and judged.
    """
    from hf_methods.common.diffusion import digits_images

    check_positive_int("trials", trials)
    images, labels = digits_images("train")
    targets = images[labels == digit]
    ids = tokenize(tokenizer, digit_prompts(digit)[0])
    rates = []
    for trial in range(trials):
        draw = torch.Generator().manual_seed(10_000 * (seed + 1) + trial)

        def batches(step, draw=draw):
            x0 = targets[torch.randint(0, len(targets), (attack_batch,), generator=draw)]
            t = torch.randint(0, scheduler.config.num_train_timesteps, (attack_batch,), generator=draw)
            noise = torch.randn(x0.shape, generator=draw)
            return scheduler.add_noise(x0, noise, t), t, noise

        prefix, _ = attack(text_encoder, unet, ids, batches=batches, generator=draw)
        out = generate(unet, scheduler, text_encoder, ids.repeat(images_per_trial, 1), prefix=prefix,
                       seed=20_000 * (seed + 1) + trial)  # fmt: skip
        rates.append((classify(classifier, out) == digit).float().mean().item())
    return rates


def erase_concept(
    unet,
    scheduler,
    text_encoder,
    tokenizer,
    *,
    concept_digit: int,
    adversarial: bool,
    steps: int,
    learning_rate: float = 1e-3,
    retain_weight: float = 0.3,
    attack: SoftPromptAttack | None = None,
    output_dir: str = "advunlearn-out",
    seed: int = 0,
    retain_batch_size: int = 4,
    **trainer_kwargs,
):
    """Erases `concept_digit` from a *copy* of `text_encoder` with [`AdvUnlearnTrainer`] (AdvUnlearn when
    `adversarial`, else ESD on the text encoder); returns `(erased text encoder, trainer)`."""
    from transformers import TrainingArguments

    from .trainer import AdvUnlearnTrainer

    encoder = copy.deepcopy(text_encoder).train().requires_grad_(True)
    args = TrainingArguments(
        output_dir=output_dir, max_steps=steps, learning_rate=learning_rate, per_device_train_batch_size=retain_batch_size,
        lr_scheduler_type="constant", optim="adamw_torch", weight_decay=0.0, logging_steps=max(1, steps // 10),
        save_strategy="no", report_to=[], seed=seed, use_cpu=True, disable_tqdm=True,
        dataloader_num_workers=0,
    )  # fmt: skip
    trainer = AdvUnlearnTrainer(
        model=encoder, args=args, unet=unet, scheduler=scheduler, tokenizer=tokenizer,
        concept=digit_prompts(concept_digit), retain_prompts=retain_prompts_for(concept_digit),
        attack=(attack or SoftPromptAttack()) if adversarial else None, retain_weight=retain_weight, seed=seed,
        **trainer_kwargs,
    )  # fmt: skip
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the logs stay in trainer.state.log_history
    trainer.train()
    encoder.eval()
    return encoder, trainer
