"""Unlearn a subpopulation from an MLP regressor with Blindspot unlearning (P12 `blindspot`, Tarun et al., ICML 2023).

scikit-learn's `make_friedman1` (generated in code: 4800 train / 1200 test rows, targets standardised), forget set =
the training rows with x_0 < `--forget_below`. The recipe trains the original ReLU MLP 10-128-128-1 on all training
rows (`--original_epochs` of SGD, MSE), the blindspot proxy (a fresh MLP, `--proxy_epochs` of Adam on L1 over the
retain rows only), then runs the unlearning loop on a copy of the original: Adam at a constant `--learning_rate` on
the Blindspot loss L = c·L_f + (1 − c)·L_r over batches mixing forget and retain rows, with attention transfer on both
hidden ReLU activations (weight `--at_beta`), as in the official `fit_one_forget_cycle` (1 epoch = 75 steps). The
original and the proxy depend on the seed only, so a resumed run rebuilds them identically and continues the
unlearning loop from its checkpoint. At the end it reports the test MAE on the forget and retain subpopulations for
the original and the unlearned model, and the regression membership attack on the training forget rows. The default
run takes about 10 s on one CPU core.

Usage:

```bash
accelerate launch recipes/blindspot.py                                   # the default run
accelerate launch recipes/blindspot.py --at_beta 0 --output_dir outputs/blindspot-no-at
accelerate launch recipes/blindspot.py --resume_from_checkpoint latest   # continue a killed run
python recipes/blindspot.py --help                                       # every knob
```
"""

from __future__ import annotations

import copy

import torch

from hf_methods.common.unlearning import regression_unlearning_metrics
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.blindspot.loss import BlindspotUnlearningLoss
from hf_methods.training.blindspot.trainer import capture_activations
from hf_methods.training.blindspot.training import (
    BlindspotArguments,
    friedman_unlearning_data,
    mlp_activation_layers,
    regression_mlp,
    split_mae,
    train_original,
)
from hf_methods.training.blindspot.unlearning import BlindspotDataset, train_blindspot_model

SLUG = "blindspot"

__all__ = ["BlindspotArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(BlindspotArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    # data, original model and proxy depend on the seed only: every process (and a resumed run) builds the same ones
    data = friedman_unlearning_data(
        args.seed, n_samples=args.n_samples, noise=args.noise, test_size=args.test_size, forget_below=args.forget_below
    )
    original = train_original(
        data, seed=args.seed, epochs=args.original_epochs, lr=args.original_learning_rate, hidden_size=args.hidden_size
    )
    proxy = train_blindspot_model(
        lambda: regression_mlp(args.hidden_size),
        data.retain,
        epochs=args.proxy_epochs,
        lr=args.proxy_learning_rate,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    runner.print(
        f"[{SLUG}] {len(data.forget[0])} forget / {len(data.retain[0])} retain training rows; original test MAE "
        f"forget {split_mae(original, data.test_forget):.4f}, retain {split_mae(original, data.test_retain):.4f}; "
        f"proxy forget {split_mae(proxy, data.test_forget):.4f}"
    )

    dataset = BlindspotDataset.from_splits(data.forget, data.retain)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True)
    model = copy.deepcopy(original)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)  # constant lr, as the official loop
    loss_fn = BlindspotUnlearningLoss(at_beta=args.at_beta)
    layers = mlp_activation_layers(2)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    proxy = proxy.to(device).eval().requires_grad_(False)

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        x = batch["pixel_values"]
        with capture_activations(runner.accelerator.unwrap_model(model), layers) as activations:
            predictions = model(pixel_values=x).logits
        with torch.no_grad(), capture_activations(proxy, layers) as proxy_activations:
            proxy_predictions = proxy(pixel_values=x).logits
        labels = batch["labels"].reshape(predictions.shape)
        loss = loss_fn(predictions, labels, batch["forget"], proxy_predictions, activations, proxy_activations)
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        runner.log({"train/loss": loss, "train/forget_fraction": batch["forget"].float().mean()}, step)
        runner.maybe_checkpoint(step)

    # every process holds the same weights and the whole (small) data set: evaluate the unwrapped model locally
    unlearned = runner.accelerator.unwrap_model(model).cpu()
    attack = regression_unlearning_metrics(unlearned, data.forget, data.retain, data.test)
    metrics = {
        "eval/test_forget_mae": split_mae(unlearned, data.test_forget),
        "eval/test_retain_mae": split_mae(unlearned, data.test_retain),
        "eval/mia_efficacy": attack["mia_efficacy"],
        "eval/original_test_forget_mae": split_mae(original, data.test_forget),
        "eval/original_test_retain_mae": split_mae(original, data.test_retain),
        "eval/proxy_test_forget_mae": split_mae(proxy.cpu(), data.test_forget),
    }
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "tabular-regression"})
    return metrics


if __name__ == "__main__":
    main()
