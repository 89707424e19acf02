"""Measure the inductive bias of an MLP family on digits (P25 `inductive_bias`, Boopathy et al., IJCAI 2024).

Trains `--n_trials` MLPs (`MLPForImageClassification`, hidden widths `--hidden_sizes`) from random seeds on the
scikit-learn digits (Adam, MSE to one-hot targets, `--epochs` epochs), fits a scaled non-central χ² to their test
errors and reports the inductive bias −log P(err ≤ ε) in nats and bits at target errors ε set by `--quantiles` of the
sampled errors; with `--kernel_samples` > 0 the RBF-GP hypothesis space (median-distance length scale) is measured
at the same ε for comparison. The folder holds the best sampled network (`MLPForImageClassification`),
`analysis.json`, `error-distribution.png`, `metrics.json` and the card. Each network is a fresh short training, so
`--max_steps` and checkpoints do not apply. The default run takes about 30 s on one core.

Usage:

```bash
accelerate launch recipes/inductive_bias.py
python recipes/inductive_bias.py --hidden_sizes 256,256 --n_trials 50 --output_dir outputs/ib-deep
python recipes/inductive_bias.py --help                                  # every knob
```
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import torch

from hf_methods.analysis.inductive_bias.estimate import fit_error_distribution, inductive_bias_from_errors
from hf_methods.analysis.inductive_bias.spaces import gp_posterior_errors, model_errors, one_hot_targets
from hf_methods.analysis.inductive_bias.training import InductiveBiasArguments
from hf_methods.common.data import load_digits
from hf_methods.common.mlp import MLPConfig, MLPForImageClassification
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "inductive_bias"

__all__ = ["InductiveBiasArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(InductiveBiasArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    train, test = load_digits(seed=args.seed)
    x, y = train.x[: args.n_train], train.y[: args.n_train]
    config = MLPConfig(input_size=64, hidden_sizes=args.hidden_list(), num_labels=10)
    best = {"error": float("inf"), "model": None}

    def keep_best(trial, model, error):
        if error < best["error"]:
            best.update(error=error, model=model)

    errors = model_errors(
        lambda seed: MLPForImageClassification(config), x, y, test.x, test.y, n_trials=args.n_trials,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed,
        on_trained=keep_best,
    )  # fmt: skip
    fit = fit_error_distribution(errors)
    analysis = {"mlp_errors": errors.tolist(), "fit": dataclasses.asdict(fit), "targets": []}
    metrics = {"eval/mean_test_mse": float(errors.mean()), "eval/best_test_mse": best["error"]}
    kernel_errors = None
    if args.kernel_samples:
        sigma = float(torch.pdist(torch.as_tensor(x).double()).median())
        kernel_errors = gp_posterior_errors(
            x, one_hot_targets(y, 10), test.x, one_hot_targets(test.y, 10), n_samples=int(args.kernel_samples),
            sigma=sigma, seed=args.seed,
        )  # fmt: skip
        kernel_fit = fit_error_distribution(kernel_errors)
    for q in args.quantile_list():
        eps = float(np.quantile(errors, q))
        mlp = inductive_bias_from_errors(errors, eps, fit=fit)
        row = {"quantile": q, "epsilon": eps, "mlp_nats": mlp.nats, "mlp_bits": mlp.bits, "mlp_method": mlp.method}
        metrics[f"eval/mlp_bits_q{q:g}"] = mlp.bits
        if kernel_errors is not None:
            kernel = inductive_bias_from_errors(kernel_errors, eps, fit=kernel_fit)
            row.update(kernel_nats=kernel.nats, kernel_bits=kernel.bits, kernel_method=kernel.method)
            metrics[f"eval/kernel_bits_q{q:g}"] = kernel.bits
        analysis["targets"].append(row)
    runner.log(metrics, step=0, force=True)
    if runner.accelerator.is_main_process:
        (runner.output_dir / "analysis.json").write_text(json.dumps(analysis, indent=2) + "\n")
        eps = float(np.quantile(errors, args.quantile_list()[0]))
        inductive_bias_from_errors(errors, eps, fit=fit).save_plot(runner.output_dir / "error-distribution.png")
    runner.finish(best["model"], metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
