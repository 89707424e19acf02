"""Excess risk of MLE pretraining + ERM against supervised ridge on a factor model (P36 `unsup_pretraining`).

Draws a factor model x = Bz + ε (d = `--d`, r = `--r`, B_ij ~ N(0, `--loading_scale`²)), y = βᵀz + ξ, and measures,
for each labelled-set size in `--ns` (`--repeats` fresh draws each), the excess risk E[(ŷ − f*(x))²] against the
closed-form Bayes predictor of: factor analysis (MLE) on `--m` unlabelled inputs then least squares on E[z | x];
the same with only the n labelled inputs; ridge regression on x with leave-one-out-CV α. The folder holds the
pretrained estimator fitted at the largest n as a torch module (`FactorRegressionModel.from_pretrained`),
`analysis.json`, `excess-risk.png`, `metrics.json` and the card. Fits are closed-form or EM, so `--max_steps` and
checkpoints do not apply. The default run takes about 10 s on one core.

Usage:

```bash
accelerate launch recipes/unsup_pretraining.py
python recipes/unsup_pretraining.py --loading_scale 0.3 --label_noise 0.1 --output_dir outputs/up-weak-signal
python recipes/unsup_pretraining.py --help                                  # every knob
```
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from hf_methods.analysis.unsup_pretraining.analysis import excess_risk_curve, factor_model, loglog_slope
from hf_methods.analysis.unsup_pretraining.estimator import MLEPretrainThenERM
from hf_methods.analysis.unsup_pretraining.training import UnsupPretrainingArguments
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "unsup_pretraining"

__all__ = ["UnsupPretrainingArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(UnsupPretrainingArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    model = factor_model(args.d, args.r, loading_scale=args.loading_scale, noise=args.noise,
                         label_noise=args.label_noise, seed=args.seed)  # fmt: skip
    ns = args.n_list()
    curve = excess_risk_curve(model, ns, m=args.m, repeats=args.repeats, n_test=args.n_test, seed=args.seed)
    pre = f"pretrain (m={args.m})"
    metrics = {}
    for i, n in enumerate(ns):
        for name, risks in curve.mean_risk.items():
            metrics[f"eval/excess_{name.split(' ')[0]}{'' if '=n' not in name else '_m_eq_n'}_n{n}"] = risks[i]
    metrics["eval/pretrain_slope"] = loglog_slope(ns, curve.mean_risk[pre])
    runner.log(metrics, step=0, force=True)
    if runner.accelerator.is_main_process:
        (runner.output_dir / "analysis.json").write_text(json.dumps(dataclasses.asdict(curve), indent=2) + "\n")
        curve.save_plot(runner.output_dir / "excess-risk.png")
    rng = np.random.default_rng([args.seed, 999])
    x_u, _ = model.sample(args.m, rng)
    x, y = model.sample(ns[-1], rng)
    module = (
        MLEPretrainThenERM("factor", args.r, random_state=args.seed).fit_unlabeled(x_u).fit_labeled(x, y).to_module()
    )
    runner.finish(module, metrics=metrics)
    return metrics


if __name__ == "__main__":
    main()
