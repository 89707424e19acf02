"""Train a tiny UNet on synthetic segmentation with label-sparse samples, with AdaWAC or ERM (P34 `adawac`).

Dong, Xie & Ward (ICML 2023). The data: 16×16 noisy images of discs and squares (background 0, shape 1), half of the
training masks zeroed (`--sparse_fraction 0.5`: label-sparse samples, their shapes present but unannotated), by
default forming their own subpopulation (`--sparse_cue`: a faint striped background). Each batch is augmented twice
photometrically (intensity scale/shift, Gaussian noise). AdaWAC (`--method adawac`) keeps one (β^sup, β^con) per
training sample, found through the batch's `sample_idx`, takes a mirror-ascent step on it per visit
(`--lr_w 8`, as in the official UNet script) and trains on `λ_dice·Dice + (1 − λ_dice)·(β^sup ℓ_CE + β^con ℓ_DAC)`
with the consistency term on the UNet's bottleneck (`--dac_coef 2`). ERM (`--method erm`) trains on
`λ_dice·Dice + (1 − λ_dice)·CE` of one view, the official `--loss base`. SGD with momentum 0.9 and weight decay 1e-4,
as in the official `train_dac.py`. The β buffer is checkpointed with the model, so a resumed run continues exactly.
At the end the recipe reports the foreground Dice on a fully labelled test set and the mean β^sup of label-sparse
and label-dense samples. The default run (450 steps) takes under a minute on one CPU thread.

Usage:

```bash
accelerate launch recipes/adawac.py                                   # AdaWAC, the default run
accelerate launch recipes/adawac.py --method erm --output_dir outputs/adawac-erm
accelerate launch recipes/adawac.py --lr_w 1.0 --dac_coef 2.0 --dice_ratio 0.5
accelerate launch recipes/adawac.py --resume_from_checkpoint latest   # continue a killed run
python recipes/adawac.py --help                                       # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.adawac.data import IndexedSegmentation, TwoViewCollator, make_shapes_segmentation
from hf_methods.training.adawac.training import (
    AdaWACArguments,
    adawac_step_loss,
    erm_step_loss,
    foreground_dice,
    make_optimizer,
    tiny_unet,
)

SLUG = "adawac"

__all__ = ["AdaWACArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(AdaWACArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    # the data depend on the seed only, so every process builds the same sets
    train = make_shapes_segmentation(
        args.num_train, seed=args.seed, sparse_fraction=args.sparse_fraction, sparse_cue=args.sparse_cue
    )
    test = make_shapes_segmentation(args.num_test, seed=args.seed + 1_000_000)
    dataset = IndexedSegmentation(train.images, train.masks)
    # the augmentation draws come from torch's global generator: seeded by --seed, saved with every checkpoint
    collator = TwoViewCollator(args.augmentation())
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collator)
    runner.print(
        f"[{SLUG}] {len(dataset)} train images ({int(train.sparse.sum())} label-sparse), {len(test)} test images; "
        f"method {args.method}"
    )

    model = tiny_unet(args.base_channels, args.depth)
    optimizer = make_optimizer(model, args.learning_rate, args.momentum, args.weight_decay)
    loss_fn = args.build_loss(num_samples=len(dataset)).to(device)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(loss_fn)  # the β buffer is part of the training state

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        if args.method == "adawac":
            loss = adawac_step_loss(model, loss_fn, batch)
            if runner.accelerator.num_processes > 1:
                loss_fn.sync(batch["sample_idx"], runner.accelerator.gather)
        else:
            loss = erm_step_loss(model, batch, args.dice_ratio)
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        logs = {"train/loss": loss}
        if args.method == "adawac":
            logs["train/mean_beta_sup"] = loss_fn.beta[:, 0].mean()
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    beta_sup = loss_fn.beta[:, 0].cpu()
    metrics = {"eval/test_dice": foreground_dice(unwrapped, test.images.to(device), test.true_masks.to(device))}
    if args.method == "adawac" and train.sparse.any() and (~train.sparse).any():
        metrics["eval/mean_beta_sup_label_sparse"] = beta_sup[train.sparse].mean().item()
        metrics["eval/mean_beta_sup_label_dense"] = beta_sup[~train.sparse].mean().item()
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-segmentation"})
    return metrics


if __name__ == "__main__":
    main()
