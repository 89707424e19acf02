"""Adversarially train an MLP on digits with DONE's KL-DRO instance weights (P18 `done`, Sow et al., ICLR 2024).

scikit-learn's 8×8 digits (1437 train / 360 test images, pixels in [0, 1]), a ReLU MLP 64-256-256-10
(`MLPForImageClassification`), SGD with momentum 0.9 and the learning rate divided by 10 at 50% and 75% of the run.
Every step first attacks the batch with PGD-ℓ∞ (`--eps`, `--attack_steps`, step 2.5·eps/steps, random start), then
minimises `(1/B) Σ_i w_i ℓ_i` of the per-example adversarial losses with `w_i = exp(ℓ_i / r) / u` (`--method done`;
`u` is a moving average of the batch means of `exp(ℓ/r)` with rate `--beta`, checkpointed with the model so a
resumed run continues with the same normaliser) or the plain mean (`--method at`, standard adversarial training).
`--objective trades` reweights TRADES losses instead of cross-entropy. At the end the recipe reports clean and
PGD-20 robust test accuracy, per class, and the worst class. The default run (40 epochs) takes well under a minute
on one CPU core; see `benchmarks/claims/done.py` for the seeded AT-vs-DONE comparison.

Usage:

```bash
accelerate launch recipes/done.py --r 2 --beta 0.9                          # the default run (40 epochs)
accelerate launch recipes/done.py --method at --output_dir outputs/done-at   # the adversarial-training baseline
accelerate launch recipes/done.py --objective trades --trades_beta 6
accelerate launch recipes/done.py --resume_from_checkpoint latest            # continue a killed run
ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 recipes/done.py --max_steps 5 --output_dir /tmp/done
python recipes/done.py --help                                                # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.done.training import (
    DONEArguments,
    digits_mlp,
    digits_tensors,
    evaluate_robustness,
    make_optimizer,
    make_scheduler,
    robust_training_loss,
)

SLUG = "done"

__all__ = ["DONEArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(DONEArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    # the split depends on the seed only, so every process builds the same data
    x, y, x_test, y_test = digits_tensors(args.seed, args.test_size)
    loader = torch.utils.data.DataLoader(
        TensorDictDataset(pixel_values=x, labels=y), batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch
    )
    runner.print(
        f"[{SLUG}] {len(y)} train / {len(y_test)} test images; {args.method.upper()}"
        + (f" with r={args.r:g}, β={args.beta:g}" if args.method == "done" else "")
        + f", PGD-ℓ∞ ε={args.eps:g} × {args.attack_steps} steps, objective {args.objective}"
    )

    model = digits_mlp(args.hidden_size)
    optimizer = make_optimizer(model, args.learning_rate, args.momentum, args.weight_decay)
    scheduler = make_scheduler(optimizer, args.max_steps)
    weighted_loss = args.build_weighted_loss()
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    # stepped once per optimisation step by us (accelerate's prepared scheduler would step once per process)
    runner.register_for_checkpointing(scheduler)
    if weighted_loss is not None:
        weighted_loss.to(device)
        runner.register_for_checkpointing(weighted_loss)  # the running normaliser u is training state
    unwrapped = runner.accelerator.unwrap_model(model)
    gather = runner.accelerator.gather if runner.accelerator.num_processes > 1 else None
    train_attack = args.train_attack()

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        lr = scheduler.get_last_lr()[0]
        loss, losses, weights = robust_training_loss(
            model,
            batch["pixel_values"],
            batch["labels"],
            train_attack,
            weighted_loss,
            objective=args.objective,
            trades_beta=args.trades_beta,
            attack_model=unwrapped,
            gather=gather,
        )
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        logs = {"train/loss": loss, "train/adversarial_loss": losses.mean(), "train/lr": lr}
        if weighted_loss is not None:
            logs["train/max_weight"] = weights.max()
            logs["train/log_u"] = weighted_loss.normalizer.log_u.float()
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    # every process holds the same weights and the whole (small) data set: evaluate the unwrapped model locally
    result = evaluate_robustness(unwrapped, x_test.to(device), y_test.to(device), args.eval_attack(), seed=args.seed)
    metrics = {
        "eval/robust_accuracy": result["robust_accuracy"],
        "eval/worst_class_robust_accuracy": result["worst_class_robust_accuracy"],
        "eval/worst_robust_class": result["worst_robust_class"],
        "eval/clean_accuracy": result["clean_accuracy"],
        "eval/worst_class_clean_accuracy": result["worst_class_clean_accuracy"],
    }
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
