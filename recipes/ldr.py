"""Train a tanh MLP on noisy-label digits with LDR-KL / ALDR-KL (P35 `ldr`, Zhu, Ying & Yang, ICML 2023).

scikit-learn's 8×8 digits (1437 train / 360 test images), a fraction `--noise_rate` of the *training* labels
corrupted (`--noise_kind uniform`: replaced by another class drawn uniformly; `flip`: c → c+1), a tanh MLP
64-256-256-10 (`MLPForImageClassification`), SGD with momentum 0.9 and the learning rate divided by 10 at 50% and 75%
of the run, as in the official experiments (`Optimization-AI/ICML2023_LDR`, `experiment.py`: lr 1e-3, weight decay
5e-3, batch 64, 100 epochs for the tabular MLPs, λ = 10, c = 0.1, α = 2). Each batch carries the examples'
`sample_idx`, which ALDR-KL uses to index its per-example temperature buffer; that buffer is checkpointed with the
model, so a killed and resumed run ends with the same weights as an uninterrupted one. At the end the recipe reports
the accuracy on the clean test set, on the noisy training labels and on the true training labels. The default run
takes about 15 s on 2 CPU cores and reaches about 0.87 clean test accuracy (cross-entropy: about 0.82; see
`benchmarks/claims/ldr.py` for the seeded comparison).

Usage:

```bash
accelerate launch recipes/ldr.py --loss aldr_kl --noise_rate 0.6          # the default run (~100 epochs)
accelerate launch recipes/ldr.py --loss ce --output_dir outputs/ldr-ce    # the cross-entropy baseline
accelerate launch recipes/ldr.py --loss ldr_kl --lambda_ 10 --margin 0.1
accelerate launch recipes/ldr.py --resume_from_checkpoint latest          # continue a killed run
accelerate launch recipes/ldr.py --cpu_threads 1       # the MLP is small: one thread is often fastest on a busy CPU
ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 recipes/ldr.py --max_steps 5 --output_dir /tmp/ldr
python recipes/ldr.py --help                                             # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.ldr.loss import needs_index
from hf_methods.training.ldr.training import (
    LDRArguments,
    accuracy,
    digits_mlp,
    make_optimizer,
    make_scheduler,
    noisy_digits,
)

SLUG = "ldr"

__all__ = ["LDRArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(LDRArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    # the split and the label noise depend on the seed only, so every process builds the same data
    data = noisy_digits(args.seed, args.noise_rate, kind=args.noise_kind, test_size=args.test_size)
    dataset = TensorDictDataset(pixel_values=data.x, labels=data.y_noisy, index_column="sample_idx")
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    runner.print(
        f"[{SLUG}] {len(dataset)} train / {len(data.y_test)} test images, "
        f"{(data.y_noisy != data.y_clean).float().mean().item():.1%} of the training labels corrupted "
        f"({args.noise_kind})"
    )

    model = digits_mlp(args.hidden_size)
    optimizer = make_optimizer(model, args.learning_rate, args.momentum, args.weight_decay)
    scheduler = make_scheduler(optimizer, args.max_steps)
    loss_fn = args.build_loss(num_samples=len(dataset)).to(device)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    # stepped once per optimisation step by us (accelerate's prepared scheduler would step once per process)
    runner.register_for_checkpointing(scheduler)
    if needs_index(loss_fn):
        runner.register_for_checkpointing(loss_fn)  # the λ buffer is part of the training state

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        lr = scheduler.get_last_lr()[0]
        logits = model(pixel_values=batch["pixel_values"]).logits
        if needs_index(loss_fn):
            loss = loss_fn(logits, batch["labels"], batch["sample_idx"])
            if runner.accelerator.num_processes > 1:
                loss_fn.sync(batch["sample_idx"], runner.accelerator.gather)
        else:
            loss = loss_fn(logits, batch["labels"])
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        logs = {"train/loss": loss, "train/lr": lr}
        if needs_index(loss_fn):
            logs["train/mean_lambda"] = loss_fn.lambdas.mean()
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    # every process holds the same weights and the whole (small) data set: evaluate the unwrapped model locally
    unwrapped = runner.accelerator.unwrap_model(model)
    x_train, y_clean, y_noisy = (t.to(device) for t in (data.x, data.y_clean, data.y_noisy))
    x_test, y_test = data.x_test.to(device), data.y_test.to(device)
    metrics = {
        "eval/clean_accuracy": accuracy(unwrapped, x_test, y_test),
        "eval/noisy_train_accuracy": accuracy(unwrapped, x_train, y_noisy),
        "eval/clean_train_accuracy": accuracy(unwrapped, x_train, y_clean),
    }
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
