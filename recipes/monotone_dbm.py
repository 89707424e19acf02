"""Recipe for P32 `monotone_dbm`: a monotone deep Boltzmann machine for joint completion and classification.

Feng, Winston, Kolter, "Monotone deep Boltzmann machines" (2023). The data are scikit-learn's 8×8 digits binarised
at 0.5 (offline). Each step observes a random `--observe_fraction` of the pixels, solves the unique mean-field fixed
point q = prox_f^α((1 − α)q + α(Wq + b)) with the observed pixels clamped, and takes an Adam step on the label
cross-entropy + focal loss on the unobserved pixels (implicit gradient). At the end the held-out label accuracy and
pixel-completion accuracy are logged.

Usage:

```bash
accelerate launch recipes/monotone_dbm.py                                  # 100 steps, 8 hidden groups of 8 states
accelerate launch recipes/monotone_dbm.py --max_steps 200 --hidden_groups 16 --alpha 0.2
accelerate launch recipes/monotone_dbm.py --resume_from_checkpoint latest
```

The output folder (default `outputs/monotone_dbm`) loads anywhere with
`AutoModel.from_pretrained(folder, trust_remote_code=True)`.
"""

from __future__ import annotations

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.monotone_dbm.training import (
    MonotoneDBMArguments,
    binarised_digits,
    evaluate_monotone_dbm,
    marginal_baseline_accuracy,
    random_observation_mask,
)

SLUG = "monotone_dbm"

__all__ = ["MonotoneDBMArguments", "main"]


def main(argv=None):
    from hf_methods.models.monotone_dbm.modeling_monotone_dbm import MonotoneDBMModel

    args = parse_recipe_args(MonotoneDBMArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    torch.manual_seed(args.seed)
    model = MonotoneDBMModel(args.monotone_dbm_config())
    (x_train, y_train), (x_test, y_test) = binarised_digits(seed=args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True
    )
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    start_step = runner.resume()
    generator = torch.Generator().manual_seed(args.seed + start_step)
    model.train()
    for step, (pixels, labels) in runner.steps(loader, start_step):
        mask = random_observation_mask(pixels.shape, args.observe_fraction, generator).to(pixels.device)
        loss = model(pixels, observed_mask=mask, labels=labels).loss
        runner.accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        runner.log({"train/loss": loss}, step)
        runner.maybe_checkpoint(step)
    unwrapped = runner.accelerator.unwrap_model(model)
    unwrapped.eval()
    result = evaluate_monotone_dbm(unwrapped, x_test, y_test, observe_fraction=args.observe_fraction, seed=args.seed)
    metrics = {
        "eval/label_accuracy": result["label_accuracy"],
        "eval/completion_accuracy": result["completion_accuracy"],
        "eval/marginal_baseline_accuracy": marginal_baseline_accuracy(x_train, x_test, result["mask"]),
    }
    runner.finish(model, metrics=metrics, datasets=None, base_model=None)
    return metrics


if __name__ == "__main__":
    main()
