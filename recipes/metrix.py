"""Train a digits embedder with Metrix for zero-shot retrieval (P57 `metrix`, Venkataramanan, Psomas et al., ICLR 2022).

scikit-learn's 8×8 digits split by class: the MLP 64-128-32 (ReLU; its 32 outputs are the embedding, compared by
cosine similarity) trains on the images of the seen classes (`--seen_classes 0-4`, 901 images) and is evaluated on
the unseen ones (5-9, 896 images): Recall@K of leave-one-out retrieval among them, clustering NMI, and the
utilization (mean distance of each unseen embedding to the nearest training embedding). The loss is the base metric
loss (`--base contrastive` on cosine similarity, margin 0.5, or `multisimilarity`) plus the Metrix term with λ ~
Beta(2, 2) and weight 0.4 (0.3 for anchor-negative pairs at the embedding level), mixing embeddings, intermediate
features (`--level feature`: the MLP's hidden layer) or inputs (`--level input`, hardest negative only), as in the
official code (`billpsomas/Metrix_ICLR22`); `--level none` trains the base loss alone. Adam with learning rate 1e-3
and weight decay 1e-4, random batches of 64, gradients clipped by value at 10. The generator of λ and of the pairing
is checkpointed with the model, so a killed and resumed run ends with the same weights as an uninterrupted one.
The default run (420 steps ≈ 30 epochs) takes about 40 s on one CPU thread; see `benchmarks/claims/metrix.py` for the
seeded comparison with the base loss.

Usage:

```bash
accelerate launch recipes/metrix.py                                          # Metrix on embeddings (default)
accelerate launch recipes/metrix.py --level none --output_dir outputs/metrix-base    # the contrastive baseline
accelerate launch recipes/metrix.py --level feature --base multisimilarity
accelerate launch recipes/metrix.py --resume_from_checkpoint latest          # continue a killed run
python recipes/metrix.py --help                                              # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.metrix.trainer import metrix_step_loss
from hf_methods.training.metrix.training import (
    FEATURE_MODULE,
    MetrixArguments,
    digits_embedder,
    evaluate_zero_shot,
    parse_classes,
    zero_shot_digits,
)

SLUG = "metrix"

__all__ = ["MetrixArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(MetrixArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    data = zero_shot_digits(parse_classes(args.seen_classes))
    loader = torch.utils.data.DataLoader(
        TensorDictDataset(pixel_values=data.x, labels=data.y),
        batch_size=args.batch_size,
        shuffle=True,
        collate_fn=collate_batch,
    )
    runner.print(
        f"[{SLUG}] {len(data.y)} training images of classes {data.seen_classes}, {len(data.y_test)} unseen-class "
        f"images to retrieve among; level={args.level}, base={args.base}"
    )

    model = digits_embedder(args.hidden_size, args.embedding_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    loss_fn = args.build_loss()
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(loss_fn)  # the generator of λ and of the pairing

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        inputs, labels = {"pixel_values": batch["pixel_values"]}, batch["labels"]
        if args.level == "none":
            loss = loss_fn.clean_loss(model(**inputs).logits, labels).mean()
            logs = {}
        else:
            loss, logs = metrix_step_loss(model, inputs, labels, loss_fn, feature_module=_feature_module(model))
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        runner.accelerator.clip_grad_value_(model.parameters(), 10.0)
        optimizer.step()
        runner.log({"train/loss": loss, **{f"train/{k}": v for k, v in logs.items()}}, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    data.x, data.x_test = data.x.to(device), data.x_test.to(device)
    metrics = {f"eval/{k}": v for k, v in evaluate_zero_shot(unwrapped, data, seed=args.seed).items()}
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-feature-extraction"})
    return metrics


def _feature_module(model) -> str:
    """The hidden layers' name, with the prefix a distributed wrapper adds."""
    return f"module.{FEATURE_MODULE}" if hasattr(model, "module") else FEATURE_MODULE


if __name__ == "__main__":
    main()
