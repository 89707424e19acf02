"""Train a regression model from bag-level aggregate responses (P21 `aggregate`, Javanmard et al., ICLR 2024).

The default task is the paper's linear model, built in code: `n = 3000` instances with `d = 100` isotropic Gaussian
features, responses `y = xᵀθ + σz` with `‖θ‖² = SNR·σ²` (SNR 0.5), split into fixed random bags of `k = 10`; only the
mean response of each bag is released (`BagDataset.from_responses`, optionally through the Laplace mechanism with
`--privacy_eps`). A linear `MLPForImageClassification` head (no hidden layer; `--hidden_sizes 64,64` for an MLP) is
trained with `AggregateResponseLoss` (`--loss_mode bag | instance | interpolate`, `--rho`) by Adam with a transformers
learning-rate schedule. At the end the recipe reports the excess risk `mean (f(x) − xᵀθ)²` on 2000 noiseless test
points and, for the linear model, the risk of the closed-form estimator of the same loss on the same bags. The
default run takes a few seconds and ends near the closed form (excess risk ≈ 0.2; the bag loss gives ≈ 0.5 and the
instance loss ≈ 0.4 at this SNR; see `benchmarks/claims/aggregate.py`).

Usage:

```bash
accelerate launch recipes/aggregate.py                                   # interpolating loss, ρ = 0.1
accelerate launch recipes/aggregate.py --loss_mode bag --output_dir outputs/aggregate-bag
accelerate launch recipes/aggregate.py --loss_mode instance --snr 8 --output_dir outputs/aggregate-instance
accelerate launch recipes/aggregate.py --privacy_eps 1 --response_bound 3 --bag_size 5   # ε-label-DP bag means
accelerate launch recipes/aggregate.py --bagging curated --hidden_sizes 64,64
accelerate launch recipes/aggregate.py --resume_from_checkpoint latest   # continue a killed run
python recipes/aggregate.py --help                                        # every knob
```
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import get_scheduler

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.aggregate.bagging import BagCollator, BagDataset
from hf_methods.training.aggregate.estimator import linear_interpolating_estimator
from hf_methods.training.aggregate.training import AggregateArguments, excess_risk, linear_task, regression_model

SLUG = "aggregate"

__all__ = ["AggregateArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(AggregateArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    # the data, the bags and the privacy noise depend on the seed only, so every process builds the same release
    task = linear_task(
        args.num_samples, args.num_features, args.snr, noise_std=args.noise_std, seed=args.seed, num_test=args.num_test
    )
    x = torch.from_numpy(task.x).float()
    bags = BagDataset.from_responses(
        x,
        torch.from_numpy(task.y),
        args.bag_size,
        args.bagging,
        seed=args.seed,
        privacy_eps=args.privacy_eps or None,
        response_bound=args.response_bound,
    )
    loader = torch.utils.data.DataLoader(
        bags, batch_size=args.bags_per_batch, shuffle=True, collate_fn=BagCollator(args.bag_size)
    )
    privacy = f"ε = {args.privacy_eps:g} label-DP" if args.privacy_eps else "no privacy noise"
    runner.print(
        f"[{SLUG}] {args.num_samples} instances in {len(bags)} {args.bagging} bags of {args.bag_size} ({privacy}); "
        f"loss {args.loss_mode} (ρ = {args.build_loss().effective_rho:g})"
    )

    model = regression_model(args.num_features, args.parsed_hidden_sizes(), args.hidden_act)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    scheduler = get_scheduler(
        args.lr_scheduler_type, optimizer, num_warmup_steps=args.warmup_steps, num_training_steps=args.max_steps
    )
    loss_fn = args.build_loss()
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    # stepped once per optimisation step by us (accelerate's prepared scheduler would step once per process)
    runner.register_for_checkpointing(scheduler)

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        lr = scheduler.get_last_lr()[0]
        predictions = model(pixel_values=batch["pixel_values"]).logits.squeeze(-1)
        loss = loss_fn(predictions, batch["bag_ids"], batch["bag_targets"])
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        runner.log({"train/loss": loss, "train/lr": lr}, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    x_test = torch.from_numpy(task.x_test).float().to(device)
    f_test = torch.from_numpy(task.f_test).to(device)
    metrics = {"eval/excess_risk": excess_risk(unwrapped, x_test, f_test)}
    if not args.parsed_hidden_sizes():
        # the closed-form minimiser of the same loss on the same released bags, for reference
        bag_ids = np.concatenate([np.full(len(m), a) for a, m in enumerate(bags.members)])
        rows = torch.cat(bags.members).numpy()
        theta = linear_interpolating_estimator(
            task.x[rows], bag_ids, bags.targets.double().numpy()[bag_ids], loss_fn.effective_rho
        )
        metrics["eval/closed_form_excess_risk"] = float(np.mean((task.x_test @ theta - task.f_test) ** 2))
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "tabular-regression"})
    return metrics


if __name__ == "__main__":
    main()
