"""Train a Terminator (P02 `terminator`, Harvie Zhang 2024: HyperZ·Z·W slow-fast network) on digits or Fashion-MNIST.

The network is a stack of SFNE blocks without residual connections (`--channels`: the input channels, then each
block's output channels); every block has ten branches built on slow-network hyper-kernels (global HyperZ·Z·W over
the whole image, four context-dependent local kernels, hyper-channel and hyper interactions, recursive gated units).
The loss is the cross-entropy plus `--slow_loss_weight` times the slow neural loss between the blocks' global
hyper-kernels. AdamW with a warmup-cosine schedule replaces the paper's Kar3 optimiser. The default run trains the
two-block 1-8-16 network (about 40k parameters) on scikit-learn's 8×8 digits for 450 steps (about 20 epochs; about a
minute on one idle core) and evaluates on the held-out 20%. `--dataset fashion_mnist` uses the 28×28 Fashion-MNIST
asset (`--n_train` / `--n_test` to subsample it).

Usage:

```bash
accelerate launch recipes/terminator.py                                   # digits, 1-8-16, 450 steps
accelerate launch recipes/terminator.py --max_steps 690 --learning_rate 3e-3
accelerate launch recipes/terminator.py --dataset fashion_mnist --n_train 10000 --n_test 2000 --max_steps 2000
accelerate launch recipes/terminator.py --resume_from_checkpoint latest   # continue a killed run
python recipes/terminator.py --help                                       # every knob
```

The output folder holds the model with its code and a `ViTImageProcessor`, so
`pipeline("image-classification", model=folder, trust_remote_code=True)` classifies grey-scale images anywhere.
"""

from __future__ import annotations

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.terminator.training import (
    TerminatorArguments,
    accuracy,
    image_data,
    make_optimizer,
    make_scheduler,
    terminator_image_processor,
)

SLUG = "terminator"

__all__ = ["TerminatorArguments", "main"]


def main(argv: list[str] | None = None):
    from hf_methods.models.terminator.modeling_terminator import TerminatorForImageClassification

    args = parse_recipe_args(TerminatorArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    x_train, y_train, x_test, y_test = image_data(
        args.dataset, seed=args.seed, n_train=args.n_train, n_test=args.n_test
    )
    dataset = TensorDictDataset(pixel_values=x_train, labels=y_train)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)

    torch.manual_seed(args.seed)
    config = args.terminator_config()
    model = TerminatorForImageClassification(config)
    runner.print(
        f"[{SLUG}] {len(x_train)} train / {len(x_test)} test {args.dataset} images, channels {config.channels}, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters"
    )
    optimizer = make_optimizer(model, args.learning_rate, args.weight_decay)
    scheduler = make_scheduler(optimizer, args.lr_scheduler, args.max_steps, args.warmup_ratio)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(scheduler)  # stepped once per optimisation step by us

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        lr = scheduler.get_last_lr()[0]
        out = model(pixel_values=batch["pixel_values"], labels=batch["labels"])
        optimizer.zero_grad()
        runner.accelerator.backward(out.loss)
        optimizer.step()
        scheduler.step()
        runner.log({"train/loss": out.loss, "train/slow_loss": out.slow_loss, "train/lr": lr}, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    device = unwrapped.device
    metrics = {"eval/accuracy": accuracy(unwrapped, x_test.to(device), y_test.to(device))}
    runner.log(metrics, args.max_steps, force=True)
    if runner.is_main_process:
        terminator_image_processor(config).save_pretrained(runner.output_dir)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
