"""Train a Projection-Based Network for novel class discovery on tabular digits (P23 `pbn`, Troisemaine et al.,
"A Practical Approach to Novel Class Discovery in Tabular Data").

scikit-learn's 8×8 digits as 64-feature tabular data (all 1797 samples): digits `0..num_known-1` are the known,
labelled classes, the others are unlabelled. A PBN (encoder 64 → hidden → latent, mirrored decoder, linear
classifier over the known classes) is trained with AdamW on shuffled mixed batches with
w·CE(known) + (1 − w)·Σ‖x̂ − x‖²/B, as in the official code (ColinTr/PracticalNCD). At the end the recipe estimates
the number of novel classes from the silhouette of k-means on the latents (`--estimate_k`), clusters the
unlabelled samples (`--clustering kmeans|ncd_kmeans`) and reports the Hungarian accuracy against the true novel
digits (evaluation only; nothing in training reads them). The default run (30 epochs) takes a few seconds.

Usage:

```bash
accelerate launch recipes/pbn.py                                  # w = 0.5, k-means, estimated k
accelerate launch recipes/pbn.py --w 1.0 --output_dir outputs/pbn-ce   # cross-entropy only
accelerate launch recipes/pbn.py --clustering ncd_kmeans --estimate_k false
accelerate launch recipes/pbn.py --resume_from_checkpoint latest  # continue a killed run
python recipes/pbn.py --help                                      # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.common.clustering import cluster_accuracy
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.pbn import PBNConfig, PBNForNovelClassDiscovery
from hf_methods.models.pbn.discovery import discover_novel_classes, estimate_num_novel_classes
from hf_methods.models.pbn.training import PBNArguments, digits_ncd, mixed_tensors

SLUG = "pbn"

__all__ = ["PBNArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(PBNArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)

    split = digits_ncd(known_classes=tuple(range(args.num_known)))
    x, labels = mixed_tensors(split)
    dataset = TensorDictDataset(inputs=x, labels=labels)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    runner.print(
        f"[{SLUG}] {len(split.x_known)} known ({split.num_known} classes) / {len(split.x_unlabelled)} unlabelled"
    )

    config = PBNConfig(
        input_dim=x.shape[1],
        hidden_dims=[args.hidden_size],
        latent_dim=args.latent_dim,
        num_known=split.num_known,
        w=args.w,
    )
    model = PBNForNovelClassDiscovery(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        out = model(inputs=batch["inputs"], labels=batch["labels"])
        optimizer.zero_grad()
        runner.accelerator.backward(out.loss)
        optimizer.step()
        logs = {"train/loss": out.loss, "train/ce": out.ce_loss, "train/reconstruction": out.reconstruction_loss}
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model).eval()
    device = runner.accelerator.device
    x_unlab = split.x_unlabelled.to(device)
    with torch.no_grad():
        latents = unwrapped.encode(x_unlab)
    k = estimate_num_novel_classes(latents, range(2, 11), seed=args.seed) if args.estimate_k else split.num_novel
    clusters = discover_novel_classes(
        unwrapped,
        x_unlab,
        k,
        method=args.clustering,
        x_known=split.x_known.to(device),
        y_known=split.y_known,
        seed=args.seed,
    )
    metrics = {"eval/num_novel_classes": float(k), "eval/novel_accuracy": cluster_accuracy(clusters, split.y_novel)}
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "tabular-classification"})
    return metrics


if __name__ == "__main__":
    main()
