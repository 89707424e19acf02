"""Fit PRESTO on the sparse-difference ordinal simulation (P40 `presto`, Faletto & Bien, ICML 2023).

Draws `--n_train` points of the simulation of §4.1 as the official generator does (x ~ U[-1, 1]^p, K = 4, intercepts
(0, 3, 5), a sparse first slope of 0.5s and ±0.5 differences between adjacent slopes, each coordinate non-zero with
probability `--deviation_prob`), chooses λ by
`--n_folds`-fold cross-validation of the Brier score over `--n_lambdas` values (warm-started FISTA path), refits on
all the data and writes the fitted `PrestoForOrdinalClassification` as a Hub-ready folder, with the rare-class
probability MSE on `--n_test` fresh points (against the true probabilities) in `metrics.json`. The fit is a proximal
solver, not a gradient loop, so `--max_steps` and checkpoints do not apply. The default run takes about 10 s on one
core.

Usage:

```bash
accelerate launch recipes/presto.py                                   # the default run
python recipes/presto.py --n_train 1000 --deviation_prob 0.5 --output_dir outputs/presto-half
python recipes/presto.py --help                                       # every knob
```
"""

from __future__ import annotations

import numpy as np
import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.presto.training import PrestoArguments, presto_cv, sparse_difference_simulation

SLUG = "presto"

__all__ = ["PrestoArguments", "main"]


def main(argv=None):
    args = parse_recipe_args(PrestoArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    train, test, _ = sparse_difference_simulation(
        args.n_train, n_features=args.n_features, deviation_prob=args.deviation_prob, seed=args.seed,
        n_test=args.n_test,
    )  # fmt: skip
    model, info = presto_cv(
        train.inputs, train.labels, 4, n_lambdas=args.n_lambdas, min_ratio=args.lambda_min_ratio,
        n_folds=args.n_folds, seed=args.seed, penalize_first_slope=args.penalize_first_slope,
    )  # fmt: skip
    model.config.l1_lambda = info["lambda"]
    with torch.no_grad():
        rare = model(torch.as_tensor(test.inputs)).probs[:, -1].numpy()
    metrics = {
        "eval/rare_class_mse": float(np.mean((rare - test.probs[:, -1]) ** 2)),
        "cv/lambda": info["lambda"],
        "cv/brier": float(info["cv_brier"].min()),
        "train/nonzero_differences": int((model.psi[1:] != 0).sum()),
    }
    runner.log(metrics, step=0, force=True)
    runner.print(f"[{SLUG}] λ = {info['lambda']:.4g}, rare-class MSE {metrics['eval/rare_class_mse']:.3g}")
    runner.finish(model.float(), metrics=metrics, datasets=None, base_model=None)
    return metrics


if __name__ == "__main__":
    main()
