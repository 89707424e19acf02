"""Score, prune and retrain on noisy-label digits with EL2N or GraNd (P33 `data_diet`, Paul, Ganguli & Dziugaite, 2021).

scikit-learn's 8×8 digits (1437 train / 360 test images), a fraction `--noise_rate` of the *training* labels moved to
another class. The recipe follows the paper's three steps:

1. **score**: `--n_runs` fresh ReLU MLPs 64-256-256-10 are trained for `--score_epoch` epochs with
   `transformers.Trainer` (`EL2NScorer`; GraNd is scored at initialisation by default, `GraNdScorer`) and each
   training example's score is averaged over the runs;
2. **prune**: the score is written to the `datasets.Dataset` as a column and the kept examples are selected
   (`prune_dataset`: `--keep_frac` of them, `--mode keep_max` keeps the hardest, `--offset_frac` skips the very
   hardest first, mostly mislabelled examples);
3. **retrain**: a *fresh* MLP trains on the kept subset for `--max_steps` steps (SGD with Nesterov momentum 0.9,
   learning rate 0.1, weight decay 5e-4, batch 128, ×0.2 at 30/60/80% of the steps, the official schedule's
   fractions), through `RecipeRunner` (checkpoints, resume, logs, Hub-ready output folder).

The scores and the kept indices are written to `<output_dir>/data_diet_scores.json` (and read back on resume, so a
resumed run prunes exactly the same subset). At the end the recipe reports the clean test accuracy and how many of
the corrupted labels the pruning removed. The default run takes about 30 s on one CPU core.

Usage:

```bash
accelerate launch recipes/data_diet.py                                        # EL2N, keep the hardest 60% after 5%
accelerate launch recipes/data_diet.py --score grand --output_dir outputs/data_diet-grand
accelerate launch recipes/data_diet.py --mode random --offset_frac 0 --output_dir outputs/data_diet-random
accelerate launch recipes/data_diet.py --keep_frac 0.5 --offset_frac 0 --noise_rate 0
accelerate launch recipes/data_diet.py --resume_from_checkpoint latest       # continue a killed run
python recipes/data_diet.py --help                                            # every knob
```
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.data_diet import EL2NScorer, GraNdScorer, prune_dataset
from hf_methods.training.data_diet.training import (
    DataDietArguments,
    accuracy,
    digits_mlp,
    make_optimizer,
    make_scheduler,
    noisy_digits_dataset,
    scoring_args,
)

SLUG = "data_diet"
SCORES_FILE = "data_diet_scores.json"

__all__ = ["DataDietArguments", "main"]


def compute_scores(args: DataDietArguments, train) -> list[float]:
    """The averaged scores of the training set (`--n_runs` runs seeded `--seed`, `--seed` + 1, ...)."""
    scorer_cls = EL2NScorer if args.score == "el2n" else GraNdScorer
    training_args = scoring_args(
        learning_rate=args.learning_rate,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
    )  # the scoring runs save nothing: their Trainer output folder is a temporary one
    scorer = scorer_cls(
        lambda: digits_mlp(args.hidden_size),
        n_runs=args.n_runs,
        score_epoch=args.resolved_score_epoch,
        training_args=training_args,
        seed=args.seed,
    )
    return scorer.score(train).tolist()


def main(argv: list[str] | None = None):
    args = parse_recipe_args(DataDietArguments, argv, slug=SLUG)
    # the split and the label noise depend on the seed only, so every process builds the same data
    data = noisy_digits_dataset(args.seed, args.noise_rate, test_size=args.test_size)
    scores_path = Path(args.output_dir) / SCORES_FILE
    if args.resume_from_checkpoint and scores_path.is_file():
        scores = json.loads(scores_path.read_text())["scores"]
    else:
        # before the runner's Accelerator: building TrainingArguments resets accelerate's shared state
        scores = compute_scores(args, data.train)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device
    subset = prune_dataset(
        data.train, scores, args.keep_frac, offset_frac=args.offset_frac, mode=args.mode, score_column=args.score,
        seed=args.seed,
    )  # fmt: skip
    kept = subset["sample_idx"][:]
    if runner.is_main_process:
        scores_path.parent.mkdir(parents=True, exist_ok=True)
        scores_path.write_text(json.dumps({"score": args.score, "scores": scores, "kept": list(kept)}) + "\n")
    table = subset.with_format("torch")[:]
    noisy_total = data.is_noisy.sum().item()
    noisy_kept = (table["labels"] != table["clean_labels"]).sum().item()
    runner.print(
        f"[{SLUG}] kept {len(subset)} of {len(data.train)} training images ({args.mode}, {args.score}, "
        f"offset {args.offset_frac:g}); corrupted labels kept: {noisy_kept} of {noisy_total}"
    )

    pairs = torch.utils.data.TensorDataset(table["pixel_values"], table["labels"])
    loader = torch.utils.data.DataLoader(pairs, batch_size=args.batch_size, shuffle=True)
    torch.manual_seed(args.seed)
    model = digits_mlp(args.hidden_size)
    optimizer = make_optimizer(model, args.learning_rate, args.momentum, args.weight_decay)
    scheduler = make_scheduler(optimizer, args.max_steps)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(scheduler)  # stepped once per optimisation step by us

    start = runner.resume()
    model.train()
    for step, (x, y) in runner.steps(loader, start):
        lr = scheduler.get_last_lr()[0]
        loss = torch.nn.functional.cross_entropy(model(pixel_values=x).logits, y)
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        runner.log({"train/loss": loss, "train/lr": lr}, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    metrics = {
        "eval/clean_accuracy": accuracy(unwrapped, data.x_test.to(device), data.y_test.to(device)),
        "eval/kept_fraction": len(subset) / len(data.train),
        "eval/corrupted_removed_fraction": 1.0 - noisy_kept / max(noisy_total, 1),
    }
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
