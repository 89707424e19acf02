"""Erase a digit from a tiny text-to-image model's text encoder with AdvUnlearn (P53 `advunlearn`, Zhang et al.,
NeurIPS 2024), or with ESD on the text encoder (`--attack false`).

Everything is built here, nothing is downloaded: first a base text-to-image model is trained on scikit-learn's 8×8
digits (a diffusers `UNet2DConditionModel` conditioned through cross-attention on a 2-layer `CLIPTextModel`, prompts
such as "a photo of the digit three" or "handwritten 3", 10% empty prompts for classifier-free guidance; `--base_steps`
steps). Then the U-Net is frozen and the text encoder is trained to erase `--concept_digit` (all its phrasings): the
ESD loss (η = `--negative_guidance`) on the concept prompt with a 1-token adversarial prefix found by a soft-prompt
attack in the loop (after `--warmup_steps_before_attack` steps, every `--attack_every` steps, warm-started from the
latest prefix), plus γ = `--retain_weight` times the retain loss on the other digits' prompts. At the end a digit
classifier judges generations: the concept rate of the plain prompts, the retained-digit accuracy and the success rate
of a fresh 30-step soft-prompt attack. The output folder holds the erased text encoder (a plain `CLIPTextModel` with its
tokenizer, loadable with `CLIPTextModel.from_pretrained`) and the base U-Net in `unet/`. The default run takes a few
minutes on one CPU core (most of it the base model); see `benchmarks/claims/advunlearn.py` for the seeded comparison
with ESD.

Usage:

```bash
accelerate launch recipes/advunlearn.py                                   # AdvUnlearn, erase the digit three
accelerate launch recipes/advunlearn.py --attack false --output_dir outputs/advunlearn-esd   # the ESD baseline
accelerate launch recipes/advunlearn.py --concept_digit 7 --retain_weight 0.3 --attack_steps 10
accelerate launch recipes/advunlearn.py --resume_from_checkpoint latest  # continue a killed run
python recipes/advunlearn.py --help                                      # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.advunlearn.attack import SoftPromptAttack
from hf_methods.training.advunlearn.text import digit_prompts, tokenize
from hf_methods.training.advunlearn.trainer import AdvUnlearnObjective
from hf_methods.training.advunlearn.training import (
    AdvUnlearnArguments,
    attack_success_rate,
    concept_rate,
    load_or_train_base,
    retain_accuracy,
    retain_prompts_for,
    train_digit_classifier,
)

SLUG = "advunlearn"

__all__ = ["AdvUnlearnArguments", "main"]


def main(argv: list[str] | None = None):
    from transformers import get_scheduler

    args = parse_recipe_args(AdvUnlearnArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    # the base model depends on the seed only; it is saved in <output_dir>/unet and reused when resuming
    unet, text_encoder, tokenizer, scheduler = load_or_train_base(args, runner.output_dir, runner.print)
    unet.to(device)
    retain = tokenize(tokenizer, retain_prompts_for(args.concept_digit))
    loader = torch.utils.data.DataLoader(
        TensorDictDataset(input_ids=retain), batch_size=args.retain_batch_size, shuffle=True, collate_fn=collate_batch
    )
    attack = SoftPromptAttack(k=args.attack_k, steps=args.attack_steps, lr=args.attack_lr) if args.attack else None
    objective = AdvUnlearnObjective(
        unet,
        text_encoder,  # frozen copy taken here: the original model's text side
        scheduler,
        tokenizer,
        concept=digit_prompts(args.concept_digit),
        attack=attack,
        negative_guidance=args.negative_guidance,
        retain_weight=args.retain_weight,
        start_guidance=args.start_guidance,
        num_sampling_steps=args.num_sampling_steps,
        concept_batch_size=args.concept_batch_size,
        warmup_steps_before_attack=args.warmup_steps_before_attack,
        attack_every=args.attack_every,
        seed=args.seed,
    )
    runner.print(
        f"[{SLUG}] erasing the digit {args.concept_digit} ({'AdvUnlearn' if attack else 'ESD'} on the text encoder), "
        f"{len(retain)} retain prompts"
    )
    text_encoder.train().requires_grad_(True)
    optimizer = torch.optim.AdamW(text_encoder.parameters(), lr=args.learning_rate, weight_decay=0.0)
    lr_scheduler = get_scheduler("constant", optimizer)
    text_encoder, optimizer, loader = runner.prepare(text_encoder, optimizer, loader)
    runner.register_for_checkpointing(lr_scheduler, objective)  # δ and the objective's random state

    start = runner.resume()
    for step, batch in runner.steps(loader, start):
        loss = objective(text_encoder, batch["input_ids"], step)
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        lr_scheduler.step()
        runner.log({"train/loss": loss}, step)
        runner.maybe_checkpoint(step)

    encoder = runner.accelerator.unwrap_model(text_encoder).eval()
    judge, judge_accuracy = train_digit_classifier(steps=args.judge_steps, seed=args.seed)
    per, digit = args.eval_images, args.concept_digit
    metrics = {
        "eval/concept_rate": concept_rate(unet, scheduler, encoder, tokenizer, judge, digit, per_prompt=per),
        "eval/retain_accuracy": retain_accuracy(unet, scheduler, encoder, tokenizer, judge, digit, per_digit=per),
        "eval/attack_success_rate": sum(
            attack_success_rate(
                unet, scheduler, encoder, tokenizer, judge, digit, attack=SoftPromptAttack(steps=args.eval_attack_steps,
                lr=1e-2, init="random"), trials=args.eval_attack_trials, images_per_trial=per,
            )
        ) / args.eval_attack_trials,
        "eval/judge_accuracy": judge_accuracy,
    }  # fmt: skip
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(encoder, metrics=metrics, tokenizer=tokenizer, card_kwargs={"pipeline_tag": "text-to-image"})
    return metrics


if __name__ == "__main__":
    main()
