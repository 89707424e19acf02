"""Deep NTK classifiers on sphere-projected digits and their infinite-depth limits (P29 `deep_ntk`, Radhakrishnan,
Belkin & Uhler, PNAS 2023).

scikit-learn digits → PCA(`--pca_dim`) fitted on the training digits → rows put on the unit sphere. For every depth of
`--depths` the recipe fits the infinitely wide network's NTK classifier (interpolating kernel regression on one-hot
labels) and measures how often it agrees with its three limits: 1-nearest neighbour, the majority vote and the best
singular kernel classifier Σ_i ‖x − x_i‖^{−α} (α on a grid). It writes `<output_dir>/analysis.json` and
`depth-limits.png`, and saves the classifier at `--depth` (`DeepNTKClassifier.from_pretrained(<output_dir>)`) with
`metrics.json` and the card. Nothing is trained by gradient descent, so there are no checkpoints to resume: the run is
a closed-form computation of a few seconds (the default ReLU sweep up to depth 500 takes about 15 s on one core).

Usage:

```bash
accelerate launch recipes/deep_ntk.py                                          # ReLU (ξ = 1)
accelerate launch recipes/deep_ntk.py --hermite_coeffs 0,0,0.7071068,0.7071068 --output_dir outputs/deep_ntk-1nn
python recipes/deep_ntk.py --help                                              # every knob
```
"""

from __future__ import annotations

import dataclasses
import json

from hf_methods.analysis.deep_ntk.analysis import depth_limit_agreement, plot_depth_limits
from hf_methods.analysis.deep_ntk.classifier import DeepNTKClassifier
from hf_methods.analysis.deep_ntk.training import DeepNTKArguments, SavableClassifier, sphere_digits
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "deep_ntk"

__all__ = ["DeepNTKArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(DeepNTKArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    x_train, y_train, x_test, y_test = sphere_digits(args.n_train, args.n_test, args.pca_dim, args.seed)
    dual = args.dual_kwargs()
    runner.print(f"[{SLUG}] {len(x_train)} training / {len(x_test)} test digits on S^{args.pca_dim - 1}, {dual}")
    result = depth_limit_agreement(
        x_train,
        y_train,
        x_test,
        y_test,
        depths=args.depth_list(),
        alphas=args.alphas(),
        rcond=args.rcond,
        normalize_inputs=False,
        **dual,
    )
    classifier = DeepNTKClassifier(depth=args.depth, rcond=args.rcond, **dual).fit(x_train, y_train)
    metrics = {
        "eval/accuracy": classifier.score(x_test, y_test),
        "eval/slope_at_one": result.slope_at_one,
        "eval/nn_accuracy": result.nn_accuracy,
        "eval/majority_accuracy": result.majority_accuracy,
    }
    deepest = -1
    metrics.update(
        {
            f"eval/agreement_1nn@{result.depths[deepest]}": result.agreement_1nn[deepest],
            f"eval/agreement_majority@{result.depths[deepest]}": result.agreement_majority[deepest],
            f"eval/agreement_singular@{result.depths[deepest]}": result.agreement_singular[deepest],
        }
    )
    runner.log(metrics, 0, force=True)
    if runner.is_main_process:
        runner.output_dir.mkdir(parents=True, exist_ok=True)
        (runner.output_dir / "analysis.json").write_text(json.dumps(dataclasses.asdict(result), indent=2) + "\n")
        plot_depth_limits(result, runner.output_dir / "depth-limits.png")
    runner.finish(SavableClassifier(classifier), metrics=metrics)
    return metrics


if __name__ == "__main__":
    main()
