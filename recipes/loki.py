"""Train a digits classifier on some classes, then predict every class with Loki (P64 `loki`, Roberts et al., 2023).

An MLP (`MLPForImageClassification`, 64-h-h-K_obs) is trained with AdamW on the scikit-learn digits of the
`--observed` classes only; at the end argmax and Loki are evaluated on the whole test split, where the unobserved
classes appear too. Loki needs no training of its own: it replaces argmax by the Fréchet mean of the classifier's
probabilities under a label metric (`--metric class-means`: squared distance between the class-mean training images
of all ten classes; `line`: (a − b)² on the digit values; `discrete`: argmax itself). The folder holds the model
(its `id2label` names the observed digits), the predictor under `loki/` (`LokiPredictor.from_pretrained`),
`metrics.json` and the card. The default run takes about 10 s on one core.

Usage:

```bash
accelerate launch recipes/loki.py
accelerate launch recipes/loki.py --observed 0,2,4,6,8 --metric line --output_dir outputs/loki-even
accelerate launch recipes/loki.py --resume_from_checkpoint latest   # continue a killed run
python recipes/loki.py --help                                       # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.common.data import load_digits
from hf_methods.common.mlp import MLPConfig, MLPForImageClassification
from hf_methods.generation.loki.label_metrics import validate_sq_dist
from hf_methods.generation.loki.prediction import LokiPredictor, expected_squared_distance
from hf_methods.generation.loki.training import LokiArguments, digits_label_metric, observed_digits
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "loki"

__all__ = ["LokiArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(LokiArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    observed = observed_digits(args.observed)
    train, test = load_digits(test_size=args.test_size, seed=args.seed)
    x_train, y_train = torch.from_numpy(train.x), torch.from_numpy(train.y)
    x_test, y_test = torch.from_numpy(test.x), torch.from_numpy(test.y)
    keep = torch.isin(y_train, torch.tensor(observed))
    # the model's output i is digit observed[i]
    remap = torch.full((10,), -1, dtype=torch.long)
    remap[torch.tensor(observed)] = torch.arange(len(observed))
    dataset = TensorDictDataset(pixel_values=x_train[keep], labels=remap[y_train[keep]])
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    unseen = sorted(set(range(10)) - set(observed))
    runner.print(f"[{SLUG}] trained on digits {observed} ({len(dataset)} images); unseen: {unseen}")

    config = MLPConfig(
        input_size=64,
        hidden_sizes=[args.hidden_size] * 2,
        num_labels=len(observed),
        id2label={i: str(d) for i, d in enumerate(observed)},
        label2id={str(d): i for i, d in enumerate(observed)},
    )
    model = MLPForImageClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        loss = model(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        runner.log({"train/loss": loss}, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model).eval()
    sq_dist = validate_sq_dist(digits_label_metric(args.metric, x_train, y_train))
    predictor = LokiPredictor(sq_dist, observed=observed, label_names=[str(d) for d in range(10)])
    with torch.no_grad():
        logits = unwrapped(pixel_values=x_test.to(runner.accelerator.device)).logits.cpu()
    loki, argmax = predictor.predict_logits(logits), predictor.argmax_predict(logits)
    is_unseen = torch.isin(y_test, torch.tensor(unseen))
    metrics = {}
    for name, pred in (("loki", loki), ("argmax", argmax)):
        metrics[f"eval/{name}_accuracy"] = float((pred == y_test).double().mean())
        metrics[f"eval/{name}_expected_sq_dist"] = expected_squared_distance(pred, y_test, sq_dist)
        if unseen:
            metrics[f"eval/{name}_unseen_accuracy"] = float((pred[is_unseen] == y_test[is_unseen]).double().mean())
    runner.log(metrics, args.max_steps, force=True)
    if runner.accelerator.is_main_process:
        predictor.save_pretrained(runner.output_dir / "loki")
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
