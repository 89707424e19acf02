"""Train a digits MLP with the weight compander (P10 `weight_compander`, Cakaj, Mehnert & Yang, IJCNN 2023).

A ReLU MLP 64-256-256-10 (`MLPForImageClassification`, dropout 0.2) on 25% of scikit-learn's digits training split,
Adam with L2 weight decay, every Linear weight reparameterised as w = α·tanh(β·v/α) with learnable per-layer α, β
(`--use_compander False` trains the plain baseline). Checkpoints keep the parametrization (so resume is exact); the
final folder holds the baked, vanilla model, loadable with `from_pretrained` and no parametrization. The learned α, β
are logged and written to the metrics. The default run takes well under a minute on one CPU core.

Usage:

```bash
accelerate launch recipes/weight_compander.py                       # WC, default settings
accelerate launch recipes/weight_compander.py --use_compander False --output_dir outputs/wc-baseline
accelerate launch recipes/weight_compander.py --resume_from_checkpoint latest
python recipes/weight_compander.py --help                            # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.adapters.weight_compander.compander import (
    apply_weight_compander,
    compander_values,
    near_zero_fraction,
    remove_weight_compander,
)
from hf_methods.adapters.weight_compander.training import WeightCompanderArguments
from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.common.data import load_digits
from hf_methods.common.mlp import MLPConfig, MLPForImageClassification
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "weight_compander"

__all__ = ["WeightCompanderArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(WeightCompanderArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    train, test = load_digits(test_size=0.2, seed=0)
    g = torch.Generator().manual_seed(args.seed)
    n = max(1, int(round(args.train_fraction * len(train.y))))
    keep = torch.randperm(len(train.y), generator=g)[:n]
    x, y = torch.as_tensor(train.x)[keep], torch.as_tensor(train.y).long()[keep]
    dataset = TensorDictDataset(pixel_values=x, labels=y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    runner.print(f"[{SLUG}] {len(dataset)} train / {len(test.y)} test images, compander={args.use_compander}")

    torch.manual_seed(args.seed)
    config = MLPConfig(
        input_size=64, hidden_sizes=[args.hidden_size] * 2, num_labels=10, dropout=args.dropout, hidden_act="relu"
    )
    model = MLPForImageClassification(config)
    if args.use_compander:
        apply_weight_compander(
            model, alpha=args.alpha, beta=args.beta, learnable=args.learnable, compander=args.compander
        )
    is_wc = lambda name: "log_alpha" in name or "log_beta" in name  # noqa: E731
    groups = [{"params": [p for n, p in model.named_parameters() if not is_wc(n)], "weight_decay": args.weight_decay}]
    wc_params = [p for n, p in model.named_parameters() if is_wc(n)]
    if wc_params:
        groups.append({"params": wc_params, "weight_decay": 0.0})
    optimizer = torch.optim.Adam(groups, lr=args.learning_rate)
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

    unwrapped = runner.accelerator.unwrap_model(model)
    metrics = {}
    if args.use_compander:
        for name, values in compander_values(unwrapped).items():
            metrics[f"compander/{name}/alpha"] = values["alpha"]
            metrics[f"compander/{name}/beta"] = values["beta"]
        remove_weight_compander(unwrapped)  # the saved weights are plain tensors
    unwrapped.eval()
    with torch.no_grad():
        pred = unwrapped(pixel_values=torch.as_tensor(test.x).to(device)).logits.argmax(-1).cpu()
    metrics["eval/accuracy"] = (pred == torch.as_tensor(test.y)).float().mean().item()
    metrics["eval/near_zero_fraction"] = near_zero_fraction(unwrapped, modules=(torch.nn.Linear,))
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(unwrapped, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
