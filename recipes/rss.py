"""Robust self-supervised training on the two-Gaussian task (P20 `rss`, Saberi et al., ICLR 2024).

The default run is one fit of the official simulation (`deepmancer/rss-training-iclr2024`,
`SVM_Robustness.ipynb`): d = 200, 10 labelled in-domain samples from N(±μ₀, I) with ‖μ₀‖ = 1, 2000 unlabelled
samples from the shifted mixture N(±μ₁, I), μ₁ = μ₀ + 0.5·v, a bias-free linear score s = θᵀx
(`MLPForImageClassification` with no hidden layer and one output), and the closed-form robust ramp losses

    (1/m) Σ_i clip(1 − γ·y_i·θᵀx_i, 0, 1) + λ·(1/n) Σ_j clip(1 − γ'·|θᵀx'_j|, 0, 1),

trained full-batch with Adam (lr 0.07, coupled weight decay) and the plateau schedule of the official code
(`transformers.get_scheduler("reduce_lr_on_plateau")`, stepped with the step's loss). `--robust_loss wrm` replaces
the closed form by the penalised gradient-ascent inner maximisation (`penalized_inner_max`) with a logistic loss on
the score, which works for any model (e.g. `--hidden_size 64`). `--lam 0` is the labelled-only ERM baseline. At the
end the recipe reports test and validation accuracy, and the Bayes accuracy Φ(‖μ₀‖/σ). Which unlabelled examples
a step uses depends only on the seed and the step, so a killed and resumed run ends with the same weights. The
default run takes a few seconds (see `benchmarks/claims/rss.py` for the seeded comparison with ERM, where
hyper-parameters are chosen on the validation split).

Usage:

```bash
accelerate launch recipes/rss.py                                          # RSS, γ=2, γ'=0.5, λ=1
accelerate launch recipes/rss.py --lam 0 --output_dir outputs/rss-erm    # the ERM baseline
accelerate launch recipes/rss.py --num_unlabeled 500 --shift 0            # in-domain unlabelled data (plain SSL)
accelerate launch recipes/rss.py --robust_loss wrm --hidden_size 64 --gamma 1 --gamma_unlabeled 1 --learning_rate 1e-2
accelerate launch recipes/rss.py --resume_from_checkpoint latest          # continue a killed run
python recipes/rss.py --help                                              # every knob
```
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import get_scheduler

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.rss.data import bayes_accuracy, make_two_gaussian_task
from hf_methods.training.rss.loss import robust_self_training_loss
from hf_methods.training.rss.training import RSSArguments, linear_binary_model, unlabeled_batch_indices

SLUG = "rss"

__all__ = ["RSSArguments", "main"]


def _logistic(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(−y·s)) per sample, for a single score and 0/1 labels (the smooth loss of `--robust_loss wrm`)."""
    return F.softplus(-(2 * labels.to(scores.dtype) - 1) * scores[:, 0])


@torch.no_grad()
def _accuracy(model, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of sign(s) against labels ±1."""
    if len(y) == 0:
        return float("nan")
    scores = model(pixel_values=x).logits[:, 0]
    return (torch.sign(scores) == y).float().mean().item()


def main(argv: list[str] | None = None):
    args = parse_recipe_args(RSSArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device
    acc = runner.accelerator

    # the task depends on --data_seed only, so every process builds the same data
    task = make_two_gaussian_task(
        args.dim,
        args.num_labeled,
        args.num_unlabeled,
        args.num_validation,
        args.num_test,
        mean_norm=args.mean_norm,
        sigma=args.sigma,
        shift=args.shift,
        seed=args.data_seed,
    )
    labels01 = ((task.y_train + 1) / 2).long()
    dataset = torch.utils.data.TensorDataset(task.x_train, labels01)
    batch_size = args.batch_size or len(dataset)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    unlabeled_batch_size = args.unlabeled_batch_size or max(args.num_unlabeled, 1)
    runner.print(
        f"[{SLUG}] d={args.dim}: {args.num_labeled} labelled, {args.num_unlabeled} unlabelled (shift "
        f"{args.shift}·‖μ₀‖), {args.num_validation} validation, {args.num_test} test samples; Bayes accuracy "
        f"{bayes_accuracy(args.mean_norm, args.sigma):.3f}"
    )

    model = linear_binary_model(args.dim, hidden_size=args.hidden_size, bias=args.bias, seed=args.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=args.learning_rate, weight_decay=args.weight_decay)
    plateau = args.lr_scheduler_type == "reduce_lr_on_plateau"
    scheduler = get_scheduler(
        args.lr_scheduler_type,
        optimizer,
        num_warmup_steps=0,
        num_training_steps=args.max_steps,
        scheduler_specific_kwargs={"patience": args.plateau_patience, "factor": 0.1} if plateau else None,
    )
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(scheduler)  # stepped once per optimisation step by us

    def forward(z: torch.Tensor):
        return model(pixel_values=z)

    start = runner.resume()
    model.train()
    for step, (x, y) in runner.steps(loader, start):
        lr = optimizer.param_groups[0]["lr"]
        unlabeled = None
        if args.lam > 0 and args.num_unlabeled > 0:
            idx = unlabeled_batch_indices(
                step,
                args.num_unlabeled,
                unlabeled_batch_size,
                seed=args.seed,
                process_index=acc.process_index,
                num_processes=acc.num_processes,
            )
            unlabeled = task.x_unlabeled[idx].to(device)
        out = robust_self_training_loss(
            forward,
            x,
            y,
            unlabeled,
            gamma=args.gamma,
            gamma_unlabeled=args.gamma_unlabeled,
            lam=args.lam,
            robust_loss=args.robust_loss,
            loss_fn=_logistic,
            inner_steps=args.inner_steps,
            inner_step_size=args.inner_step_size,
        )
        optimizer.zero_grad()
        acc.backward(out.loss)
        optimizer.step()
        if plateau:  # the official schedule watches the loss: the same value on every process
            scheduler.step(acc.reduce(out.loss.detach(), reduction="mean").item())
        else:
            scheduler.step()
        logs = {"train/loss": out.loss, "train/labeled_loss": out.labeled_loss, "train/lr": lr}
        if out.unlabeled_loss is not None:
            logs["train/unlabeled_loss"] = out.unlabeled_loss
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    unwrapped = acc.unwrap_model(model)
    unwrapped.eval()
    metrics = {
        "eval/test_accuracy": _accuracy(unwrapped, task.x_test.to(device), task.y_test.to(device)),
        "eval/validation_accuracy": _accuracy(unwrapped, task.x_val.to(device), task.y_val.to(device)),
        "eval/train_accuracy": _accuracy(unwrapped, task.x_train.to(device), task.y_train.to(device)),
        "eval/bayes_accuracy": bayes_accuracy(args.mean_norm, args.sigma),
    }
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "tabular-classification"})
    return metrics


if __name__ == "__main__":
    main()
