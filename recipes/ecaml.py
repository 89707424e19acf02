"""Train a digits embedding with a metric loss plus ECAML's Energy Confusion term (P43 `ecaml`, Chen & Deng, AAAI 2019).

Zero-shot metric learning on scikit-learn's 8×8 digits: the embedding is trained on the seen classes (`--seen_classes`,
default 0–4, training split) and evaluated on classes it never saw (5–9, every image) by retrieval Recall@1/2/4/8 and
k-means NMI, plus Recall@1 on the seen classes' test images. The model is `MLPForMetricLearning`: a ReLU MLP
64-128-64 (the shared hf-methods MLP) and a linear head to 32-d. Each step minimises the base metric loss
(`--metric_loss`, binomial deviance by default) on `head(h)` plus `--ec_weight · log E` on `head(h.detach())`, with
`--num_partners` partners per anchor (the official λ = 0.13 and 10 partners), so the EC gradient only reaches the
head. `--ec_weight 0` trains the base loss alone. `--spurious_channel` appends the claim check's shortcut: a one-hot
of the seen label fed to the head (a random one-hot for unseen classes). Adam with the official L2 weight decay 2e-4;
the EC partner draws use torch's global generator, whose state accelerate checkpoints, so a resumed run repeats the
same draws. The default run takes a few seconds (see `benchmarks/claims/ecaml.py` for the seeded comparison).

Usage:

```bash
accelerate launch recipes/ecaml.py                                        # binomial deviance + EC, 1000 steps
accelerate launch recipes/ecaml.py --ec_weight 0 --output_dir outputs/ecaml-base   # the baseline
accelerate launch recipes/ecaml.py --spurious_channel --output_dir outputs/ecaml-spurious
accelerate launch recipes/ecaml.py --metric_loss contrastive --num_partners 5
accelerate launch recipes/ecaml.py --resume_from_checkpoint latest        # continue a killed run
python recipes/ecaml.py --help                                            # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.ecaml.training import (
    DigitsEmbeddingDataset,
    ECAMLArguments,
    ecaml_step_loss,
    embedding_mlp,
    evaluate_embeddings,
    spurious_weight_share,
    zero_shot_digits,
)

SLUG = "ecaml"

__all__ = ["ECAMLArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(ECAMLArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)

    # the split depends on the seed only, so every process builds the same data
    data = zero_shot_digits(args.seed, args.seen_classes, spurious=args.spurious_channel, test_size=args.test_size)
    loader = torch.utils.data.DataLoader(
        DigitsEmbeddingDataset(data.train), batch_size=args.batch_size, shuffle=True, drop_last=True
    )
    runner.print(
        f"[{SLUG}] seen classes {list(data.seen_classes)}: {len(data.train)} train / {len(data.seen_test)} test images; "
        f"unseen classes: {len(data.unseen)} images"
    )

    side = 0 if data.train.s is None else data.train.s.shape[1]
    model = embedding_mlp(args.hidden_sizes, args.embedding_size, side, args.hidden_act)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    energy_confusion = args.build_energy_confusion()
    model, optimizer, loader = runner.prepare(model, optimizer, loader)

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        loss, parts = ecaml_step_loss(model, batch, args.metric_loss, energy_confusion)
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        runner.log({"train/loss": loss, **{f"train/{k}_loss": v for k, v in parts.items()}}, step)
        runner.maybe_checkpoint(step)

    # every process holds the same weights and the whole (small) data set: evaluate the unwrapped model locally
    unwrapped = runner.accelerator.unwrap_model(model).cpu()
    metrics = {f"eval/unseen_{k}": v for k, v in evaluate_embeddings(unwrapped, data.unseen, seed=args.seed).items()}
    metrics["eval/seen_recall@1"] = evaluate_embeddings(unwrapped, data.seen_test, seed=args.seed)["recall@1"]
    if side:
        metrics["eval/spurious_weight_share"] = spurious_weight_share(unwrapped, side)
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-feature-extraction"})
    return metrics


if __name__ == "__main__":
    main()
