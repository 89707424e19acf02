"""Learn permuted-digits tasks in sequence with a binary-weight network in field space (P42 `binary_continual`).

Variational continual learning of Li, Huang, Zou & Huang ("Statistical mechanics of continual learning: variational
principle and mean-field potential", 2023): every binary weight w ∈ {±1} has a field θ with q_θ(w) ∝ exp(βθw); the
network (`VariationalBinaryMLP`, 64-256-10 by default) is trained with a Gaussian-field forward pass and the loss
CE + λ_KL·KL(q_θ ‖ q_θp), θp being the previous task's fields (`--prior previous_task`, the paper), the fields before
the last Adam step (`--prior streaming`, the official `Chan-Li/VCL` code) or absent (`--prior none`). Tasks are
scikit-learn's 8×8 digits under fixed pixel permutations (one per task, every task permuted); Adam lr 0.01, betas
(0.9, 0.99), batch 64, 5 epochs per task, β = 10·tanh(0.1 + 2·progress) set per epoch over the whole run. The prior
fields are checkpointed with the model, so a killed run resumes where it stopped. At the end the recipe reports the
test accuracy of every task with the mean-field, Gaussian-field and sampled-binary forward passes. The default run
(5 tasks, 575 steps) takes a few seconds on one CPU core.

Usage:

```bash
accelerate launch recipes/binary_continual.py                                   # 5 tasks, previous-task prior
accelerate launch recipes/binary_continual.py --prior streaming --output_dir outputs/bc-streaming
accelerate launch recipes/binary_continual.py --prior none --output_dir outputs/bc-none   # the no-KL baseline
accelerate launch recipes/binary_continual.py --resume_from_checkpoint latest   # continue a killed run
python recipes/binary_continual.py --help                                       # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.binary_continual.modeling_binary_continual import (
    VariationalBinaryMLP,
    VariationalBinaryMLPConfig,
)
from hf_methods.training.binary_continual.training import (
    BinaryContinualArguments,
    FieldPrior,
    continual_beta,
    evaluate,
    permuted_digits_tasks,
)

SLUG = "binary_continual"

__all__ = ["BinaryContinualArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(BinaryContinualArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    # every task shares the images and labels; task t sees the pixels under its own permutation (seeded)
    tasks = permuted_digits_tasks(args.num_tasks, seed=args.seed, test_size=args.test_size)
    from hf_methods.common.data import load_digits

    train, _ = load_digits(test_size=args.test_size, seed=args.seed)
    x, y = train.tensors()
    dataset = TensorDictDataset(pixel_values=x, labels=y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    kl_weight = args.effective_kl_weight(len(dataset))

    config = VariationalBinaryMLPConfig(
        sizes=[x.shape[1], *[args.hidden_size] * args.num_hidden_layers, 10],
        beta_schedule=args.beta_schedule,
        beta_max=args.beta_max,
    )
    model = VariationalBinaryMLP(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, betas=(0.9, 0.99), eps=1e-8)
    field_prior = FieldPrior(args.prior)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(field_prior)  # the prior fields are part of the training state
    per_epoch = len(loader)
    per_task = per_epoch * args.epochs_per_task
    total_epochs = args.num_tasks * args.epochs_per_task
    if args.max_steps == 0:
        args.max_steps = per_task * args.num_tasks
    runner.print(
        f"[{SLUG}] {args.num_tasks} permuted-digits tasks × {args.epochs_per_task} epochs ({per_task} steps each), "
        f"prior {args.prior!r}, KL weight {kl_weight:.3g}"
    )

    unwrapped = runner.accelerator.unwrap_model(model)
    perms = [task.permutation.to(device) for task in tasks]
    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        task = min(step // per_task, args.num_tasks - 1)
        if step > 0 and step % per_task == 0 and step // per_task < args.num_tasks:
            field_prior.end_task(unwrapped)  # task `task - 1` just ended
            row = {
                f"eval/task{j}_accuracy": evaluate(unwrapped, t.x_test.to(device), t.y_test.to(device))
                for j, t in enumerate(tasks)
            }
            runner.log(row, step, force=True)
        beta = continual_beta(unwrapped.config, min(step // per_epoch, total_epochs - 1), total_epochs)
        unwrapped.set_beta(beta)
        loss = model(pixel_values=batch["pixel_values"][:, perms[task]], labels=batch["labels"]).loss
        kl = field_prior.kl(unwrapped, beta) if kl_weight > 0 else None
        if kl is not None:
            loss = loss + kl_weight * kl
        field_prior.observe(unwrapped)
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        logs = {"train/loss": loss, "train/beta": beta, "train/task": task}
        if kl is not None:
            logs["train/kl"] = kl
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    metrics = {}
    for mode in ("mean", "gaussian", "sample"):
        accs = [
            evaluate(unwrapped, t.x_test.to(device), t.y_test.to(device), mode, draws=5, seed=args.seed) for t in tasks
        ]
        metrics[f"eval/average_accuracy_{mode}"] = sum(accs) / len(accs)
        if mode == "mean":
            metrics.update({f"eval/task{j}_accuracy": a for j, a in enumerate(accs)})
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
