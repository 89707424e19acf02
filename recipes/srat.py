"""Adversarially train an MLP on step-imbalanced digits with SRAT (P13 `srat`, Wang et al., 2021, arXiv:2107.13639).

scikit-learn's 8×8 digits (pixels in [0, 1]); in the training part the classes of `--minority_classes` (default 5-9)
keep `--minority_count` images each (default 15, an imbalance ratio of about 10), the others all of theirs; the test
part stays balanced. A ReLU MLP 64-256-256-10 (`MLPForImageClassification`) is trained with AdamW on PGD-ℓ∞
adversarial examples (`--eps 0.15`, `--attack_steps 5`) and the SRAT objective: the cross-entropy weighted by
effective-number class weights from epoch `--drw_start` on (deferred re-weighting) plus `--separation_weight` times a
supervised-contrastive separation loss on the penultimate features of the adversarial examples. `--separation_weight 0`
gives reweighted adversarial training, `--class_weights none --separation_weight 0` plain adversarial training.
At the end the recipe reports clean and PGD-20 accuracy per class, their minority and majority means, and the Fisher
ratio of the adversarial test features. The default run (520 steps, 40 epochs) takes about 15 s on one CPU thread.

Usage:

```bash
accelerate launch recipes/srat.py                                              # SRAT, DRW from epoch 20
accelerate launch recipes/srat.py --separation_weight 0 --output_dir outputs/srat-at-rw   # AT + RW (DRW)
accelerate launch recipes/srat.py --class_weights none --separation_weight 0 --output_dir outputs/srat-at
accelerate launch recipes/srat.py --resume_from_checkpoint latest              # continue a killed run
accelerate launch recipes/srat.py --cpu_threads 1     # the MLP is small: one thread is often fastest on a busy CPU
python recipes/srat.py --help                                                  # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.srat.loss import DeferredReweighting
from hf_methods.training.srat.training import (
    SRATArguments,
    adversarial_examples,
    digits_mlp,
    evaluate_imbalanced_robustness,
    imbalanced_digits,
    logits_and_features,
    make_optimizer,
    parse_classes,
)

SLUG = "srat"

__all__ = ["SRATArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(SRATArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    # the split and the imbalance depend on the seed only, so every process builds the same data
    data = imbalanced_digits(
        args.seed, parse_classes(args.minority_classes), args.minority_count, test_size=args.test_size
    )
    dataset = TensorDictDataset(pixel_values=data.x, labels=data.y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    schedule = DeferredReweighting(data.class_counts, args.class_weights, drw_start=args.drw_start, beta=args.beta)
    runner.print(f"[{SLUG}] {len(dataset)} train images, class sizes {data.class_counts}; {schedule}")

    model = digits_mlp(args.hidden_size)
    optimizer = make_optimizer(model, args.learning_rate, args.weight_decay)
    loss_fn = args.build_loss()
    attack = args.train_attack()
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    steps_per_epoch = len(loader)

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        epoch = step // steps_per_epoch  # the DRW schedule depends on the step only: a resumed run continues it
        x, y = batch["pixel_values"], batch["labels"]
        x_adv = adversarial_examples(model, x, y, attack)
        logits, features = logits_and_features(model, x_adv)
        weights = schedule.weights_at(epoch).to(device=device, dtype=logits.dtype)
        classification, separation = loss_fn.terms(logits, features, y, weights)
        loss = (classification + loss_fn.separation_weight * separation).mean()
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        logs = {
            "train/loss": loss.detach(),
            "train/classification_loss": classification.detach().mean(),
            "train/separation_loss": separation.detach().mean(),
            "train/drw_active": float(schedule.is_active(epoch)),
        }
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    # every process holds the same weights and the whole (small) test set: evaluate the unwrapped model locally
    unwrapped = runner.accelerator.unwrap_model(model)
    data.x_test, data.y_test = data.x_test.to(device), data.y_test.to(device)
    result = evaluate_imbalanced_robustness(
        unwrapped, data, args.eval_attack(), seed=args.seed, temperature=args.temperature
    )
    metrics = {f"eval/{k}": v for k, v in result.items() if not k.endswith("per_class")}
    runner.log(metrics, args.max_steps, force=True)
    runner.print(f"[{SLUG}] " + ", ".join(f"{k.split('/')[-1]} {v:.3f}" for k, v in metrics.items()))
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
