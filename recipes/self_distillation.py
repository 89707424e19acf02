"""Distil a digits MLP into itself with ground-truth weighting (P24 `self_distillation`, Borup & Andersen, NeurIPS 2021).

scikit-learn's 8×8 digits (1437 train / 360 test images), a ReLU MLP 64-128-10 (`MLPForImageClassification`) and the
official loss of `Kennethborup/self_distillation` (`self_distiller.py`): `α·MSE(softmax(z), onehot(y)) +
(1 − α)·MSE(softmax(z), softmax(z_teacher))` plus `1e-4·Σ‖θ‖`, Adam 1e-3. The run is a chain of `--fits` fits of
`--max_steps / --fits` steps each: the first fits the labels alone; at the start of every later fit the trained
student is frozen as the teacher and the student starts again from freshly drawn weights (`--reinit_student`, as
the official script builds a new network per step) with a fresh Adam state. The teacher is saved in every checkpoint,
so a killed and resumed run ends with the same weights as an uninterrupted one. At the end the recipe reports the
test accuracy of the final student and of the chain's first fit (the teacher of step 1). The default run (4 fits ×
690 steps) takes well under a minute on one CPU core.

Usage:

```bash
accelerate launch recipes/self_distillation.py                              # 1 teacher fit + 3 steps, α = 0.5
accelerate launch recipes/self_distillation.py --alpha 0 --output_dir outputs/sd-no-gt   # no ground truth
accelerate launch recipes/self_distillation.py --objective kl --temperature 4
accelerate launch recipes/self_distillation.py --resume_from_checkpoint latest          # continue a killed run
python recipes/self_distillation.py --help                                               # every knob
```
"""

from __future__ import annotations

import copy

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.self_distillation.loss import SelfDistillationLoss
from hf_methods.training.self_distillation.trainer import parameter_norm_penalty
from hf_methods.training.self_distillation.training import (
    SelfDistillationArguments,
    accuracy,
    digits_mlp,
    digits_tensors,
)

SLUG = "self_distillation"

__all__ = ["SelfDistillationArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(SelfDistillationArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    data = digits_tensors(args.seed, test_size=args.test_size)  # the split depends on the seed only
    dataset = torch.utils.data.TensorDataset(data.x, data.y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True)
    per_fit = args.steps_per_fit
    runner.print(
        f"[{SLUG}] {len(dataset)} train / {len(data.y_test)} test images; {args.fits} fits of {per_fit} steps, "
        f"α = {args.alpha}, objective {args.objective!r}"
    )

    def initial_weights(fit: int) -> dict[str, torch.Tensor]:
        return digits_mlp(args.hidden_size, seed=args.seed * 100 + fit).state_dict()

    model = digits_mlp(args.hidden_size, seed=args.seed * 100)
    teacher = copy.deepcopy(model).requires_grad_(False).eval()  # replaced by the trained student at each new fit
    first_teacher = copy.deepcopy(model).requires_grad_(False)  # the chain's first fit, kept for the report
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    loss_fn = SelfDistillationLoss(alpha=args.alpha, objective=args.objective, temperature=args.temperature)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    teacher.to(device)
    first_teacher.to(device)
    runner.register_for_checkpointing(teacher, first_teacher)  # part of the training state from fit 2 on

    start = runner.resume()
    unwrapped = runner.accelerator.unwrap_model(model)
    model.train()
    for step, (x, y) in runner.steps(loader, start):
        fit = step // per_fit
        if step > 0 and step % per_fit == 0:  # a new fit: the trained student becomes the (frozen) teacher
            teacher.load_state_dict(unwrapped.state_dict())
            if fit == 1:
                first_teacher.load_state_dict(unwrapped.state_dict())
            if args.reinit_student:
                unwrapped.load_state_dict(initial_weights(fit))
            getattr(optimizer, "optimizer", optimizer).state.clear()  # a fresh Adam state for every fit
        logits = model(pixel_values=x).logits
        teacher_logits = None
        if fit > 0:
            with torch.no_grad():
                teacher_logits = teacher(pixel_values=x).logits
        loss = loss_fn(logits, y, teacher_logits)
        total = (
            loss + args.parameter_norm_coef * parameter_norm_penalty(unwrapped) if args.parameter_norm_coef else loss
        )
        optimizer.zero_grad()
        runner.accelerator.backward(total)
        optimizer.step()
        runner.log({"train/loss": loss, "train/fit": fit}, step)
        runner.maybe_checkpoint(step)

    # every process holds the same weights and the whole (small) data set: evaluate the unwrapped models locally
    x_train, y_train = data.x.to(device), data.y.to(device)
    x_test, y_test = data.x_test.to(device), data.y_test.to(device)
    metrics = {
        "eval/accuracy": accuracy(unwrapped, x_test, y_test),
        "eval/train_accuracy": accuracy(unwrapped, x_train, y_train),
    }
    if args.fits > 1:
        metrics["eval/first_fit_accuracy"] = accuracy(first_teacher, x_test, y_test)
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
