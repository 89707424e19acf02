"""Pre-train a tiny ViT-MAE with hard patches mining on 8×8 digits (P50 `hpm`, Wang et al., CVPR 2023).

scikit-learn's digits (1437 train / 360 held-out images) as 8×8 grey images cut into 16 patches of 2×2 pixels; a
transformers ViT-MAE encoder (64 × 4 layers) with a pixel reconstructor and HPM's loss predictor (64 × 2 layers
each), 75% of the patches masked. With `--method hpm` an EMA teacher predicts every patch's difficulty on the
unmasked batch and α_t = max_hard_ratio · (t + 1)/T of the masked patches are the predicted-hardest (official code
`Haochen-Wang409/HPM`: `generate_mask`, `engine_pretrain.py`); `--method mae` masks at random. AdamW (β 0.9/0.95)
with warm-up and cosine decay from `transformers.get_cosine_schedule_with_warmup`. The EMA teacher and the
scheduler are checkpointed, so a resumed run continues where it stopped. At the end the recipe reports the
held-out reconstruction loss under random masks and the accuracy of a logistic-regression probe on the frozen
encoder. The default run (30 epochs) takes about a minute on one CPU core.

Usage:

```bash
accelerate launch recipes/hpm.py                                   # HPM, 690 steps (30 epochs)
accelerate launch recipes/hpm.py --method mae --output_dir outputs/hpm-mae   # the MAE baseline
accelerate launch recipes/hpm.py --resume_from_checkpoint latest   # continue a killed run
python recipes/hpm.py --max_steps 5 --output_dir /tmp/hpm          # a quick try
python recipes/hpm.py --help                                       # every knob
```
"""

from __future__ import annotations

import math

import torch
from transformers import get_cosine_schedule_with_warmup

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.hpm.modeling_hpm import HPMForPreTraining
from hf_methods.training.hpm.trainer import ema_update, teacher_momentum
from hf_methods.training.hpm.training import (
    HPMArguments,
    digits_images,
    linear_probe_accuracy,
    make_optimizer,
    random_mask_reconstruction_loss,
    training_step,
)

SLUG = "hpm"

__all__ = ["HPMArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(HPMArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    x, y, x_test, y_test = digits_images(args.seed, args.test_size)
    loader = torch.utils.data.DataLoader(
        TensorDictDataset(pixel_values=x), batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch
    )
    steps_per_epoch = len(loader)
    total_epochs = max(1, math.ceil(args.max_steps / steps_per_epoch))
    runner.print(f"[{SLUG}] {len(x)} train / {len(x_test)} held-out images, {args.method}, {total_epochs} epochs")

    model = HPMForPreTraining(args.build_config())
    teacher = None
    if args.method == "hpm":
        teacher = HPMForPreTraining(model.config).to(device)
        teacher.load_state_dict(model.state_dict())
        teacher.eval().requires_grad_(False)
    optimizer = make_optimizer(model, args.learning_rate, args.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(args.warmup_fraction * args.max_steps), args.max_steps)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(scheduler)  # stepped by us, once per optimisation step
    if teacher is not None:
        runner.register_for_checkpointing(teacher)  # the EMA teacher is part of the training state

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        epoch = min(step // steps_per_epoch, total_epochs - 1)
        # the wrapped model, so that gradients are synchronised across processes
        out = training_step(model, teacher, batch["pixel_values"], epoch=epoch, total_epochs=total_epochs)
        optimizer.zero_grad()
        runner.accelerator.backward(out.loss)
        optimizer.step()
        scheduler.step()
        if teacher is not None:
            momentum = teacher_momentum(
                (step + 1) / args.max_steps,
                args.teacher_momentum_start,
                args.teacher_momentum_end,
                args.momentum_ramp_fraction,
            )
            ema_update(teacher, runner.accelerator.unwrap_model(model), momentum)
        logs = {
            "train/loss": out.loss,
            "train/reconstruction_loss": out.reconstruction_loss,
            "train/ranking_loss": out.ranking_loss,
            "train/lr": scheduler.get_last_lr()[0],
        }
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model).cpu()
    metrics = {
        "eval/reconstruction_loss": random_mask_reconstruction_loss(unwrapped, x_test, seed=args.seed),
        "eval/linear_probe_accuracy": linear_probe_accuracy(unwrapped, x, y, x_test, y_test, seed=args.seed),
    }
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(unwrapped, metrics=metrics, card_kwargs={"pipeline_tag": "image-feature-extraction"})
    return metrics


if __name__ == "__main__":
    main()
