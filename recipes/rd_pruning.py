"""Prune a digits MLP by the rate–distortion allocation (P38 `rd_pruning`, Xu, Wang et al., ICCV 2023).

Trains an MLP (default 64-256-256-10, ReLU) on scikit-learn's digits with Adam (`--max_steps`, checkpointed and
resumable), measures every layer's rate–distortion curve on `--calibration_size` training images (`--levels` amounts,
mean or `--worst_case` squared error of the logits), allocates the per-layer amounts at `--target_sparsity` by the
exact dynamic programme (`--prune rd`; `uniform` and `global` magnitude are the baselines), optionally fine-tunes
`--finetune_steps` with the masks fixed, and saves the model baked: a plain `save_pretrained` checkpoint whose zeros
are the pruned weights (`eval/saved_kept_fraction` is read back from the saved files).

The pieces live in `hf_methods.adapters.rd_pruning` (`training.py`, `pruner.py`); this file is the
`accelerate launch` entry point around them.

Usage:

```bash
accelerate launch recipes/rd_pruning.py                                   # RD allocation at 90 % sparsity
accelerate launch recipes/rd_pruning.py --prune uniform --output_dir outputs/rd_pruning-uniform
accelerate launch recipes/rd_pruning.py --target_sparsity 0.95 --finetune_steps 200
accelerate launch recipes/rd_pruning.py --resume_from_checkpoint latest     # continue a killed dense run
python recipes/rd_pruning.py --help                                        # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.adapters.rd_pruning.training import RDPruningArguments
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "rd_pruning"
__all__ = ["RDPruningArguments", "main"]


def main(argv: list[str] | None = None):
    from hf_methods.adapters.rd_pruning import output_distortion, saved_kept_fraction
    from hf_methods.adapters.rd_pruning.training import (
        accuracy,
        digits_mlp,
        parse_hidden_sizes,
        prune_copy,
        train_dense,
    )
    from hf_methods.common.batches import TensorDictDataset, collate_batch
    from hf_methods.common.data import load_digits
    from hf_methods.common.masks import bake

    args = parse_recipe_args(RDPruningArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    train, test = load_digits(seed=args.seed)
    x, y = torch.tensor(train.x), torch.tensor(train.y)
    xt, yt = torch.tensor(test.x), torch.tensor(test.y)
    loader = torch.utils.data.DataLoader(
        TensorDictDataset(pixel_values=x, labels=y), batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch
    )
    model = digits_mlp(parse_hidden_sizes(args.hidden_sizes), args.hidden_act, seed=args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        loss = torch.nn.functional.cross_entropy(model(pixel_values=batch["pixel_values"]).logits, batch["labels"])
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        runner.log({"train/loss": loss}, step)
        runner.maybe_checkpoint(step)

    dense = runner.accelerator.unwrap_model(model).cpu().eval()
    g = torch.Generator().manual_seed(args.seed)
    calib = {"pixel_values": x[torch.randperm(len(x), generator=g)[: args.calibration_size]]}
    pruned, masks, pruner = prune_copy(
        dense, args.prune, args.target_sparsity, calib, levels=args.levels, worst_case=args.worst_case
    )
    metrics = {
        "eval/dense_accuracy": accuracy(dense, xt, yt),
        "eval/pruned_accuracy": accuracy(pruned, xt, yt),
        "eval/output_distortion": output_distortion(dense, masks, {"pixel_values": xt}),
    }
    if args.prune == "rd":
        runner.print(f"[{SLUG}] per-layer amounts: {pruner.amounts}")
    if args.finetune_steps:  # masks stay fixed (parametrize): pruned weights get no gradient
        train_dense(pruned, x, y, steps=args.finetune_steps, batch_size=args.batch_size, lr=args.learning_rate)
        metrics["eval/finetuned_accuracy"] = accuracy(pruned, xt, yt)
    bake(pruned)
    runner.finish(pruned, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    if runner.is_main_process:
        kept = saved_kept_fraction(runner.output_dir, list(masks))
        metrics["eval/saved_kept_fraction"] = kept
        runner.print(f"[{SLUG}] fraction of the pruned layers' weights kept (saved files): {kept:.4f}")
    return metrics


if __name__ == "__main__":
    main()
