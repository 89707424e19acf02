"""Naive Bayes vs logistic regression as linear-evaluation heads on frozen features (P51 `dis_vs_gen`, Zheng et al.).

Measures both heads' test error as the number of training examples m grows (`--sizes`, balanced draws, `--repeats`
each) on a feature set: `digits` (pixels; the default), `minilm-corpora` (frozen all-MiniLM-L6-v2 embeddings of
paragraphs of the three offline corpora, labelled by corpus: the paper's linear evaluation of a pretrained model) or
`gaussian` (the paper's simulation). The folder holds the naive-Bayes head fitted on the whole training pool
(`GaussianNBHead.from_pretrained`), `analysis.json` (the curve and m* at a 5-point tolerance of each head's final
error), `sample-complexity.png`, `metrics.json` and the card. Both heads fit in closed form or by L-BFGS, so
`--max_steps` and checkpoints do not apply. The default run takes about 20 s on one core.

Usage:

```bash
accelerate launch recipes/dis_vs_gen.py
python recipes/dis_vs_gen.py --features minilm-corpora --sizes 6,12,24,48,96,192,384 --output_dir outputs/dvg-minilm
python recipes/dis_vs_gen.py --help                                       # every knob
```
"""

from __future__ import annotations

import dataclasses
import json

from hf_methods.analysis.dis_vs_gen.analysis import linear_eval, sample_complexity_curve, samples_to_reach
from hf_methods.analysis.dis_vs_gen.naive_bayes import GaussianNBHead
from hf_methods.analysis.dis_vs_gen.training import DisVsGenArguments, feature_set
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "dis_vs_gen"

__all__ = ["DisVsGenArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(DisVsGenArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    train_x, train_y, test_x, test_y = feature_set(
        args.features, seed=args.seed, paragraphs_per_corpus=args.paragraphs_per_corpus,
        gaussian_features=args.gaussian_features,
    )  # fmt: skip
    runner.print(f"[{SLUG}] {args.features}: {len(train_y)} train / {len(test_y)} test, n = {train_x.shape[1]}")
    curve = sample_complexity_curve(
        train_x, train_y, test_x, test_y, args.size_list(), repeats=args.repeats, seed=args.seed, C=args.logistic_C,
        label=f"{args.features}: naive Bayes vs logistic regression",
    )  # fmt: skip
    num_labels = int(max(train_y.max(), test_y.max())) + 1
    full = {
        head: linear_eval(train_x, train_y, test_x, test_y, head=head, num_labels=num_labels, C=args.logistic_C)
        for head in curve.mean_error
    }
    mstar = {head: samples_to_reach(curve, head, full[head].error + 0.05) for head in curve.mean_error}
    metrics = {f"eval/{head}_error_full": full[head].error for head in full}
    for head, m in mstar.items():
        metrics[f"eval/{head}_samples_to_within_5pts"] = float(m) if m is not None else float("nan")
    runner.log(metrics, step=0, force=True)
    if runner.accelerator.is_main_process:
        analysis = {"curve": dataclasses.asdict(curve), "full_pool": {h: dataclasses.asdict(r) for h, r in full.items()},
                    "samples_to_within_5pts": mstar}  # fmt: skip
        (runner.output_dir / "analysis.json").write_text(json.dumps(analysis, indent=2) + "\n")
        curve.save_plot(runner.output_dir / "sample-complexity.png")
    head = GaussianNBHead(train_x.shape[1], num_labels).fit(train_x, train_y)
    runner.finish(head, metrics=metrics)
    return metrics


if __name__ == "__main__":
    main()
