"""Search a weight-entangled CNN on digits with TangleNAS, then extract the subnet (P16 `tanglenas`, Sukthanker et al.,
AutoML 2024).

scikit-learn's 8×8 digits (1150 fitting / 287 validation / 360 test images per seed). The supernet has `--num_conv_layers`
convolutions whose kernel size (`--kernel_sizes`, centre crops of the largest kernel) and width (`--channels`,
leading channels) are searched, a 2×2 max pool and a hidden linear layer of searched width (`--hidden_sizes`). Every
candidate is a slice of the largest layer, and the supernet runs one forward pass with the superimposed weights
W_mix = Σ_i α_i pad(W[slice_i]) (TangleNAS), α made from the architecture parameters β by `--optimizer` (darts:
softmax, drnas: Dirichlet, gdas: hard Gumbel-softmax). Each step updates β with Adam on a validation batch, then the
weights with AdamW on a training batch (first-order bi-level DARTS). At the end the argmax architecture is derived,
extracted as a standalone `TangleNASConvNet` holding the supernet's slices, fine-tuned for `--finetune_steps` steps
and saved (with `architecture.json`). Both optimisers are checkpointed, so a killed and resumed search ends with the
same supernet. The default run takes well under a minute on 2 CPU cores.

Usage:

```bash
accelerate launch recipes/tanglenas.py                                     # DARTS rule, 360 search steps
accelerate launch recipes/tanglenas.py --optimizer drnas --arch_lr 6e-4
accelerate launch recipes/tanglenas.py --kernel_sizes 3,5,7 --channels 8,16,32 --num_conv_layers 3
accelerate launch recipes/tanglenas.py --resume_from_checkpoint latest     # continue a killed search
python recipes/tanglenas.py --help                                         # every knob
```
"""

from __future__ import annotations

import json

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.tanglenas.loss import TangleNASSearchLoss
from hf_methods.training.tanglenas.modeling import TangleNASConvNet
from hf_methods.training.tanglenas.trainer import architecture_step
from hf_methods.training.tanglenas.training import TangleNASArguments, digits_split

SLUG = "tanglenas"

__all__ = ["TangleNASArguments", "main"]


def validation_batch(step: int, num_examples: int, batch_size: int, seed: int) -> torch.Tensor:
    """Indices of the validation batch of `step`: epochs of seeded permutations, a function of (seed, step) only, so
    a resumed search sees the same architecture batches."""
    per_epoch = max(1, num_examples // batch_size)
    epoch, index = divmod(step, per_epoch)
    order = torch.randperm(num_examples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return order[index * batch_size : (index + 1) * batch_size]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(TangleNASArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device
    data = digits_split(args.seed)
    train = TensorDictDataset(pixel_values=data.x, labels=data.y)
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    x_val, y_val = data.x_val.to(device), data.y_val.to(device)

    model = TangleNASConvNet(args.build_config())
    runner.print(
        f"[{SLUG}] {len(train)} fitting / {len(y_val)} validation / {len(data.y_test)} test images; "
        f"{sum(1 for _ in model.architecture_space())} architectures, {args.optimizer} rule"
    )
    weight_optimizer = torch.optim.AdamW(
        model.weight_parameters(), lr=args.learning_rate, weight_decay=args.weight_decay
    )
    arch_optimizer = torch.optim.Adam(
        model.arch_parameters(), lr=args.arch_lr, betas=(0.5, 0.999), weight_decay=args.arch_weight_decay
    )
    loss_fn = TangleNASSearchLoss()
    model, weight_optimizer, arch_optimizer, loader = runner.prepare(model, weight_optimizer, arch_optimizer, loader)
    supernet = runner.accelerator.unwrap_model(model)

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        idx = validation_batch(step, len(y_val), args.batch_size, args.seed).to(device)
        arch_loss = architecture_step(
            supernet, {"pixel_values": x_val[idx], "labels": y_val[idx]}, arch_optimizer, loss_fn
        )
        loss = loss_fn(model(pixel_values=batch["pixel_values"]).logits, batch["labels"])
        weight_optimizer.zero_grad()
        runner.accelerator.backward(loss)
        for p in supernet.arch_parameters():
            p.grad = None  # β moves only in architecture steps
        weight_optimizer.step()
        runner.log({"train/loss": loss, "train/arch_loss": arch_loss}, step)
        runner.maybe_checkpoint(step)

    architecture = supernet.derive_architecture()
    metrics = {"eval/supernet_val_accuracy": accuracy(supernet, x_val, y_val)}
    subnet = supernet.extract_subnet(architecture).to(device)
    metrics["eval/inherited_test_accuracy"] = accuracy(subnet, data.x_test.to(device), data.y_test.to(device))
    if args.finetune_steps:
        # fine-tune the extracted subnet from its inherited weights (the same process on every rank: tiny data)
        generator = torch.Generator().manual_seed(args.seed)
        optimizer = torch.optim.AdamW(subnet.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
        subnet.train()
        x, y = data.x.to(device), data.y.to(device)
        for _ in range(args.finetune_steps):
            idx = torch.randint(0, len(y), (args.batch_size,), generator=generator).to(device)
            step_loss = loss_fn(subnet(pixel_values=x[idx]).logits, y[idx])
            optimizer.zero_grad()
            step_loss.backward()
            optimizer.step()
    metrics["eval/test_accuracy"] = accuracy(subnet, data.x_test.to(device), data.y_test.to(device))
    runner.print(f"[{SLUG}] derived architecture: {architecture}")
    runner.log(metrics, args.max_steps, force=True)
    if runner.is_main_process:
        runner.output_dir.mkdir(parents=True, exist_ok=True)
        (runner.output_dir / "architecture.json").write_text(json.dumps(architecture, indent=2) + "\n")
    runner.finish(subnet, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
