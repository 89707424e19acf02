"""Train a tiny VSSD (P03 `vssd`, Shi, Dong, Li & Xu, 2024) on 8×8 digits: NC-SSD at 8×8, attention at 4×4.

scikit-learn's 8×8 digits (1437 train / 360 test images, pixel/16 in [0, 1], the grey value repeated as RGB by
default since image pipelines open images as RGB; `--num_channels 1` keeps one channel), a hybrid VSSD with a
stride-1 stem (`--patch_size 1`), a first stage of width 32 with the non-causal SSD mixer over the 8×8 grid and a
second stage of width 64 with multi-head self-attention over 4×4 (the paper's layout: NC-SSD stages, attention last),
trained with AdamW (no decay on biases, norms and the SSD's dt/A/D, as in the official code), a cosine schedule with
linear warm-up from `transformers.get_scheduler` and stochastic depth. The output folder holds the model with its
remote code and a `ViTImageProcessor` for 8×8 grayscale images, so that

    pipeline("image-classification", model="outputs/vssd")

classifies a PIL digit image (as uint8 pixels) offline. `--ssd_mode causal` swaps NC-SSD for Mamba2's causal SSD (the
ablation of `benchmarks/claims/vssd.py`). The default run (460 steps, 20 epochs, 124,864 parameters) took 107 s on one
thread of a busy 2-core machine and reached 0.983 test accuracy.

Usage:

```bash
accelerate launch recipes/vssd.py                                         # the default run
accelerate launch recipes/vssd.py --ssd_mode causal --output_dir outputs/vssd-causal
accelerate launch recipes/vssd.py --mixer_types ssd,ssd --depths 2,2      # NC-SSD in both stages
accelerate launch recipes/vssd.py --resume_from_checkpoint latest         # continue a killed run
python recipes/vssd.py --help                                             # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.vssd.modeling_vssd import VSSDForImageClassification
from hf_methods.models.vssd.training import (
    VSSDArguments,
    accuracy,
    digits_image_processor,
    digits_images,
    make_optimizer_and_scheduler,
)

SLUG = "vssd"

__all__ = ["VSSDArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(VSSDArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    x, y, x_test, y_test = digits_images(test_size=args.test_size, seed=args.seed, channels=args.num_channels)
    dataset = TensorDictDataset(pixel_values=x, labels=y)
    # the loader's own generator: starting an epoch's iterator draws its base seed from it, not from torch's global
    # RNG, so stochastic depth sees the same random stream whether the run was resumed or not
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=True,
        collate_fn=collate_batch,
        generator=torch.Generator().manual_seed(args.seed),
    )
    config = args.vssd_config()
    model = VSSDForImageClassification(config)
    runner.print(
        f"[{SLUG}] {len(y)} train / {len(y_test)} test digits; VSSD {config.mixer_types} "
        f"(ssd_mode={config.ssd_mode}), {sum(p.numel() for p in model.parameters()):,} parameters"
    )
    optimizer, scheduler = make_optimizer_and_scheduler(
        model,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        total_steps=args.max_steps,
        warmup_ratio=args.warmup_ratio,
        scheduler=args.lr_scheduler_type,
    )
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    # stepped once per optimisation step by us (accelerate's prepared scheduler would step once per process)
    runner.register_for_checkpointing(scheduler)

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        lr = scheduler.get_last_lr()[0]
        loss = model(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        runner.log({"train/loss": loss, "train/lr": lr}, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    metrics = {
        "eval/accuracy": accuracy(unwrapped, x_test.to(device), y_test.to(device)),
        "eval/train_accuracy": accuracy(unwrapped, x.to(device), y.to(device)),
    }
    runner.log(metrics, args.max_steps, force=True)
    # the image processor is saved next to the weights (RecipeRunner saves any processor passed as `tokenizer`)
    runner.finish(
        model,
        metrics=metrics,
        tokenizer=digits_image_processor(),
        card_kwargs={"pipeline_tag": "image-classification"},
    )
    return metrics


if __name__ == "__main__":
    main()
