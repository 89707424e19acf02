"""Search a lottery jackpot (P49 `lottery_jackpot`, Zhang et al., TPAMI 2023) in a pretrained model: a sparse mask over
frozen weights, found by training scores only.

The embedded default builds its own "pretrained" model: a dense tanh MLP 64-256-256-10 trained on scikit-learn digits
(Adam 1e-3, `--pretrain_epochs`, seeded, so every process and every resume rebuilds the same weights). Then the
hidden layers are pruned to `--sparsity` by magnitude (the classifier to `--classifier_sparsity`; `-1` leaves it
dense as the official code does), each weight gets a score (1 kept, 0.99 pruned), and SGD trains the scores only with
the straight-through gradient; after every optimizer step the short-restriction swap exchanges equally many pruned
and kept weights across the score threshold, so the sparsity stays exact and the weights bit-identical.

The output folder holds the baked model (`m ⊙ W` as plain weights: `save_pretrained` / `from_pretrained` without the
masks), `masks.safetensors` (the masks alone, to re-apply to the pretrained model with `load_jackpot_masks`) and the
kept fraction in `metrics.json`.

Usage:

```bash
accelerate launch recipes/lottery_jackpot.py                          # 95% sparse hidden layers, 15 epochs
accelerate launch recipes/lottery_jackpot.py --sparsity 0.9 --classifier_sparsity -1 --layerwise l1
accelerate launch recipes/lottery_jackpot.py --resume_from_checkpoint latest
python recipes/lottery_jackpot.py --help
```
"""

from __future__ import annotations

import torch

from hf_methods.adapters.lottery_jackpot.training import JackpotArguments
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "lottery_jackpot"
__all__ = ["JackpotArguments", "main"]


def main(argv: list[str] | None = None):
    import torch.nn.functional as F

    from hf_methods.adapters.lottery_jackpot import (
        apply_jackpot_masks,
        bake_jackpot,
        jackpot_sparsity,
        jackpot_swap,
        save_jackpot_masks,
    )
    from hf_methods.adapters.lottery_jackpot.training import (
        accuracy,
        digits_tensors,
        jackpot_config,
        pretrain_digits_mlp,
        score_parameters,
    )
    from hf_methods.common.batches import TensorDictDataset, collate_batch

    args = parse_recipe_args(JackpotArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    (x, y), (x_test, y_test) = digits_tensors(args.seed)
    model = pretrain_digits_mlp(x, y, hidden_size=args.hidden_size, epochs=args.pretrain_epochs, seed=args.seed)
    dense_accuracy = accuracy(model, x_test, y_test)
    apply_jackpot_masks(model, jackpot_config(args.sparsity, args.classifier_sparsity, args.layerwise))
    magnitude_accuracy = accuracy(model, x_test, y_test)
    runner.print(f"[{SLUG}] dense {dense_accuracy:.3f}, magnitude-pruned {magnitude_accuracy:.3f}")

    dataset = TensorDictDataset(pixel_values=x, labels=y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    optimizer = torch.optim.SGD(
        score_parameters(model), lr=args.learning_rate, momentum=args.momentum, weight_decay=args.weight_decay
    )
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    start = runner.resume()
    unwrapped = runner.accelerator.unwrap_model(model)
    model.train()
    for step, batch in runner.steps(loader, start):
        loss = F.cross_entropy(model(pixel_values=batch["pixel_values"]).logits, batch["labels"])
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        swapped = jackpot_swap(unwrapped)  # the short restriction, after every optimizer step
        runner.log({"train/loss": loss, "train/swapped": swapped}, step)
        runner.maybe_checkpoint(step)

    stats = jackpot_sparsity(unwrapped)
    metrics = {
        "eval/dense_accuracy": dense_accuracy,
        "eval/magnitude_accuracy": magnitude_accuracy,
        "eval/accuracy": accuracy(unwrapped, x_test.to(device), y_test.to(device)),
        "sparsity/global": stats["global"],
        "sparsity/kept_fraction": stats["kept_fraction"],
    }
    runner.log(metrics, args.max_steps, force=True)
    if runner.accelerator.is_main_process:
        save_jackpot_masks(unwrapped, runner.output_dir)
    bake_jackpot(unwrapped)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
