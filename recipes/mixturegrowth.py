"""Train two template-mixing members and grow them into one network (P58 `mixturegrowth`, Pham et al., WACV 2024).

A two-member `TemplateMixingMLP` (two half-width MLPs side by side, `--member_width` each, whose layers are mixtures
of parameter templates) is trained for `--grow_at_step` steps, each member on its own; at that step the members are
grown in place into one network of twice the width (`--coefs orthogonal`: the new blocks are new, orthogonal
combinations of the members' learned templates; `random_init`: new random weights), and the grown network is trained
until `--max_steps`. SGD with Nesterov momentum, a cosine decay from `--learning_rate` over the members' steps, then a
new cosine decay from `--growth_learning_rate` (the official code also fine-tunes the grown network at a smaller
rate). The default data is scikit-learn's `make_classification` (5000 samples, 40 features, 20 classes; a task an MLP
does not saturate); `--dataset digits` uses the 8×8 digits. The run reports the test accuracy of the members and of
their summed logits just before growth, of the grown network right after growth and at the end. The default run
(30 epochs, growth after 20) takes under a minute on one CPU core; a killed run resumes exactly from its checkpoints
(the growth is re-applied to the restored weights without re-initialising them).

Usage:

```bash
accelerate launch recipes/mixturegrowth.py                                 # the default run
accelerate launch recipes/mixturegrowth.py --coefs random_init --output_dir outputs/mixturegrowth-random
accelerate launch recipes/mixturegrowth.py --dataset digits --member_width 32 --max_steps 460 --grow_at_step 300
accelerate launch recipes/mixturegrowth.py --resume_from_checkpoint latest  # continue a killed run
python recipes/mixturegrowth.py --help                                     # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.mixturegrowth.modeling_mixturegrowth import TemplateMixingMLP
from hf_methods.training.mixturegrowth.training import (
    MixtureGrowthArguments,
    accuracy,
    classification_data,
    growth_schedule,
    make_optimizer,
    member_accuracies,
)

SLUG = "mixturegrowth"

__all__ = ["MixtureGrowthArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(MixtureGrowthArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    data = classification_data(args.dataset, seed=args.seed, test_size=args.test_size)
    dataset = TensorDictDataset(pixel_values=data.x, labels=data.y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    runner.print(
        f"[{SLUG}] {args.dataset}: {len(dataset)} train / {len(data.y_test)} test examples, {data.num_classes} classes; "
        f"two members of width {args.member_width}, grown at step {args.grow_at_step} ({args.coefs})"
    )

    model = TemplateMixingMLP(args.build_config(data.num_features, data.num_classes))
    optimizer = make_optimizer(model, args.learning_rate, args.momentum, args.weight_decay)
    scheduler = growth_schedule(
        optimizer,
        args.grow_at_step,
        args.max_steps - args.grow_at_step,
        args.growth_learning_rate / args.learning_rate,
    )
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(scheduler)  # stepped once per optimisation step by us
    unwrapped = runner.accelerator.unwrap_model(model)
    x_test, y_test = data.x_test.to(device), data.y_test.to(device)
    metrics: dict[str, float] = {}

    start = runner.resume()
    if start > args.grow_at_step:
        unwrapped.grow_("none")  # the checkpoint holds the grown network's coefficients
    model.train()
    for step, batch in runner.steps(loader, start):
        if step == args.grow_at_step and unwrapped.config.trains_members:
            metrics.update(_before_growth(unwrapped, x_test, y_test))
            generator = torch.Generator().manual_seed(args.seed)
            unwrapped.grow_(args.coefs, scale=args.coefs_scale, generator=generator)
            metrics["eval/accuracy_at_growth"] = accuracy(unwrapped, x_test, y_test)
            runner.log(metrics, step, force=True)
        lr = scheduler.get_last_lr()[0]
        loss = model(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        runner.log({"train/loss": loss, "train/lr": lr, "train/grown": float(unwrapped.config.grown)}, step)
        runner.maybe_checkpoint(step)

    if unwrapped.config.trains_members:  # --grow_at_step equal to --max_steps: grow at the end
        metrics.update(_before_growth(unwrapped, x_test, y_test))
        unwrapped.grow_(args.coefs, scale=args.coefs_scale, generator=torch.Generator().manual_seed(args.seed))
        metrics["eval/accuracy_at_growth"] = accuracy(unwrapped, x_test, y_test)
    metrics["eval/accuracy"] = accuracy(unwrapped, x_test, y_test)
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "tabular-classification"})
    return metrics


def _before_growth(model: TemplateMixingMLP, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    members = member_accuracies(model, x, y)
    return {
        "eval/member0_accuracy": members[0],
        "eval/member1_accuracy": members[1],
        "eval/members_summed_accuracy": accuracy(model, x, y),
    }


if __name__ == "__main__":
    main()
