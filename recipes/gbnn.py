"""Grow a one-hidden-layer network unit by unit with gradient boosting (P11 `gbnn`, Emami & Martínez-Muñoz).

A scikit-learn bundled tabular set (`--dataset`, default digits: 1438 train / 359 test images, no download), features
standardised on the training part, then `--max_steps` boosting steps: each fits `--units_per_step` logistic units with
L-BFGS (`--inner_max_iter` iterations, L2 `--inner_l2`) to the pseudo-residuals of the ensemble so far, on a random
`--subsample` of the training set, and adds them with a Newton step shrunk by `--eta`. The loss follows the labels:
softmax cross-entropy (multi-class), log-exponential (binary) or squared error (diabetes). A step is the unit of the
progress bar, the logs and the checkpoints (the fitted steps are saved with each checkpoint and each step's subsample
and initialisation are seeded by (--seed, step), so a resumed run ends with the same network). The output folder
holds an ordinary transformers model (`AutoModel.from_pretrained` after `import hf_methods`, or with
`trust_remote_code=True`) with test metrics of the full network and of the network cut to its first units. The
default run (digits, 100 units) takes about 25 s on one busy CPU thread and reaches about 0.97 test accuracy (0.96
with its first 75 units).

Usage:

```bash
accelerate launch recipes/gbnn.py                                          # digits, 100 units
accelerate launch recipes/gbnn.py --dataset breast_cancer --max_steps 50 --output_dir outputs/gbnn-bc
accelerate launch recipes/gbnn.py --dataset diabetes --eta 0.5 --units_per_step 2
accelerate launch recipes/gbnn.py --resume_from_checkpoint latest          # continue a killed run
python recipes/gbnn.py --help                                              # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.gbnn.training import GBNNArguments, evaluate, tabular_split

SLUG = "gbnn"

__all__ = ["GBNNArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(GBNNArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    data = tabular_split(args.dataset, seed=args.seed, test_size=args.test_size)
    runner.print(
        f"[{SLUG}] {args.dataset}: {len(data.y_train)} train / {len(data.y_test)} test rows, "
        f"{data.x_train.shape[1]} features; {args.max_steps} steps x {args.units_per_step} unit(s)"
    )
    trainer = args.build_trainer()
    trainer.start(data.x_train, data.y_train)
    runner.register_for_checkpointing(trainer)  # the fitted steps are the training state

    # one boosting step per "batch": a one-item loader gives the runner its step counter, progress bar and resume
    loader = runner.prepare(torch.utils.data.DataLoader([0], batch_size=1))
    start = runner.resume()
    for step, _ in runner.steps(loader, start):
        loss = trainer.step()
        runner.log({"train/loss": loss, "train/rho": trainer.steps[-1]}, step)
        runner.maybe_checkpoint(step)

    model = trainer.to_model()
    metrics = {f"eval/{k}": v for k, v in evaluate(model, data.x_test, data.y_test).items()}
    units = model.config.hidden_size
    keep = args.truncate_to or max(1, (3 * units) // 4)
    cut = trainer.to_model().truncate_hidden(keep)
    metrics.update({f"eval/{k}_first_{keep}_units": v for k, v in evaluate(cut, data.x_test, data.y_test).items()})
    metrics["train/final_loss"] = trainer.train_losses[-1]
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(
        model,
        metrics=metrics,
        card_kwargs={"pipeline_tag": "tabular-regression" if args.dataset == "diabetes" else "tabular-classification"},
    )
    return metrics


if __name__ == "__main__":
    main()
