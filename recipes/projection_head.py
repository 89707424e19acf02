"""Layer-wise feature weighting of a contrastive two-layer linear network (P22 `projection_head`, Xue et al., ICLR 2024).

Synthetic inputs x = Σ_j s_j z_j e_j in d = 10 (strengths 3 … 0.2, a random orthonormal basis), whose augmented views
drop feature j with probability rising from `--drop_min` (strongest) to `--drop_max` (weakest); a bias-free network
h = W_1 x, z = W_2 h trained by plain full-batch gradient descent on the spectral contrastive loss. At the end the
recipe measures the per-feature gains of both layers (`layerwise_feature_gains`) and the accuracy of logistic probes on
x, h (pre-projection) and z (post-projection) for a downstream label set by the weakest feature, and writes them to
`<output_dir>/analysis.json` with a plot of the gains, next to the network (`LinearContrastiveNet.from_pretrained`),
`metrics.json` and the card. The two views of step s depend only on `(seed, s)`, so a resumed run continues as an
uninterrupted one. The default run (2000 steps) takes about 20 seconds on one core.

Usage:

```bash
accelerate launch recipes/projection_head.py
accelerate launch recipes/projection_head.py --drop_max 0.0 --output_dir outputs/projection_head-no-drop
accelerate launch recipes/projection_head.py --resume_from_checkpoint latest   # continue a killed run
python recipes/projection_head.py --help                                       # every knob
```
"""

from __future__ import annotations

import dataclasses
import json

import torch

from hf_methods.analysis.projection_head.analysis import LayerwiseFeatureGains, plot_feature_gains
from hf_methods.analysis.projection_head.training import (
    ProjectionHeadArguments,
    evaluate_feature_weighting,
    feature_weighting_loss,
    feature_weighting_setup,
)
from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "projection_head"

__all__ = ["ProjectionHeadArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(ProjectionHeadArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    config = args.feature_config()
    setup = feature_weighting_setup(config, torch.Generator().manual_seed(args.seed))
    # full-batch gradient descent: the loader holds the indices of every pretraining point as one batch
    loader = torch.utils.data.DataLoader(
        TensorDictDataset(index=torch.arange(config.num_samples)),
        batch_size=config.num_samples,
        collate_fn=collate_batch,
    )
    optimizer = torch.optim.SGD(setup.net.parameters(), lr=config.learning_rate)
    net, optimizer, loader = runner.prepare(setup.net, optimizer, loader)
    setup.net = net
    runner.print(f"[{SLUG}] {config.num_samples} points, d = {len(config.strengths)}, init scale {config.init_scale}")

    start = runner.resume()
    for step, _ in runner.steps(loader, start):
        loss = feature_weighting_loss(setup, torch.Generator().manual_seed(args.seed * 100_003 + step))
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        if args.log_every and (step + 1) % args.log_every == 0:
            runner.log({"train/loss": loss}, step)
        runner.maybe_checkpoint(step)

    setup.net = runner.accelerator.unwrap_model(net)
    result = evaluate_feature_weighting(setup, config, torch.Generator().manual_seed(args.seed + 1))
    metrics = {
        "eval/gain_exponent": result.exponent,
        "eval/log_ratio_layer1": result.log_ratios[0],
        "eval/log_ratio_layer2": result.log_ratios[1],
        "eval/probe_accuracy_input": result.probe_accuracy_input,
        "eval/probe_accuracy_pre": result.probe_accuracy_pre,
        "eval/probe_accuracy_post": result.probe_accuracy_post,
    }
    runner.log(metrics, args.max_steps, force=True)
    if runner.is_main_process:
        runner.output_dir.mkdir(parents=True, exist_ok=True)
        (runner.output_dir / "analysis.json").write_text(json.dumps(dataclasses.asdict(result), indent=2) + "\n")
        gains = LayerwiseFeatureGains(result.gains, result.log_ratios, [1.0, result.exponent])
        plot_feature_gains(gains, runner.output_dir / "feature_gains.png")
    runner.finish(setup.net, metrics=metrics, card_kwargs={"pipeline_tag": "feature-extraction"})
    return metrics


if __name__ == "__main__":
    main()
