"""Semi-supervised digits with ShrinkMatch or FixMatch (P56 `shrinkmatch`, Yang et al., ICCV 2023).

scikit-learn's 8×8 digits (1437 train / 360 test images), `--labels_per_class` labelled training images per class and
every training image unlabelled; a ReLU MLP 64-256-256-10 (`MLPForImageClassification`) with ShrinkMatch's auxiliary
head. Each step takes `--batch_size` labelled images (weak view) and `--mu` times as many unlabelled ones (weak and
strong views from `hf_methods.common.augment`) and minimises `L_x + λ_u L_u + λ_u r̄ L_shrink` (`--method fixmatch`
drops the shrink term). SGD with Nesterov momentum and the official cosine decay (to cos(7π/16)); an EMA copy of the
model is kept and is what the output folder holds (the classifier alone, loadable with
`AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True)`). The running certain-sample ratio
r̄, the EMA weights and the scheduler are checkpointed, and the unlabelled batches and augmentations depend only on
`(seed, step)`, so a resumed run continues as an uninterrupted one. The default run (600 steps) takes about half a
minute on one core.

Usage:

```bash
accelerate launch recipes/shrinkmatch.py                                   # ShrinkMatch, 3 labels per class
accelerate launch recipes/shrinkmatch.py --method fixmatch --output_dir outputs/fixmatch
accelerate launch recipes/shrinkmatch.py --labels_per_class 5 --threshold 0.9 --max_steps 1200
accelerate launch recipes/shrinkmatch.py --resume_from_checkpoint latest   # continue a killed run
python recipes/shrinkmatch.py --help                                       # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.common.ema import ema_teacher
from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.shrinkmatch.objective import (
    ShrinkMatchState,
    augment_views,
    default_views,
    ssl_step,
    step_generator,
    unlabeled_indices,
)
from hf_methods.training.shrinkmatch.training import (
    IMAGE_SHAPE,
    NUM_CLASSES,
    ShrinkMatchArguments,
    digits_model,
    make_optimizer,
    make_scheduler,
    ssl_digits,
)

SLUG = "shrinkmatch"

__all__ = ["ShrinkMatchArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(ShrinkMatchArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    acc = runner.accelerator
    device = acc.device

    # the split depends on the seed only, so every process builds the same data
    data = ssl_digits(args.seed, args.labels_per_class, test_size=args.test_size)
    labeled = TensorDictDataset(pixel_values=data.x_labeled, labels=data.y_labeled)
    loader = torch.utils.data.DataLoader(labeled, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    x_unlabeled = data.x_unlabeled.to(device)
    runner.print(
        f"[{SLUG}] {args.method}: {len(labeled)} labelled / {len(x_unlabeled)} unlabelled / {len(data.y_test)} test "
        f"images, τ = {args.threshold}"
    )

    model = digits_model(args.hidden_size)
    teacher = ema_teacher(model, args.ema_momentum)
    state = ShrinkMatchState(NUM_CLASSES, args.ratio_momentum).to(device)
    optimizer = make_optimizer(model, args.learning_rate, args.momentum, args.weight_decay)
    scheduler = make_scheduler(optimizer, args.max_steps)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    teacher.to(device)
    # stepped once per optimisation step by us; r̄, the alignment queue and the EMA model are training state too
    runner.register_for_checkpointing(scheduler, state, teacher)
    weak_fn, strong_fn = default_views()
    unlabeled_batch = args.mu * args.batch_size

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        generator = step_generator(args.seed * 1009 + acc.process_index, step)
        indices = unlabeled_indices(step, len(x_unlabeled), unlabeled_batch * acc.num_processes, args.seed)
        u = x_unlabeled[indices[acc.process_index * unlabeled_batch : (acc.process_index + 1) * unlabeled_batch]]
        x_weak = augment_views(batch["pixel_values"], weak_fn, image_shape=IMAGE_SHAPE, generator=generator)
        u_weak = augment_views(u, weak_fn, image_shape=IMAGE_SHAPE, generator=generator)
        u_strong = augment_views(u, strong_fn, image_shape=IMAGE_SHAPE, generator=generator)
        out = ssl_step(
            model,
            x_weak,
            batch["labels"],
            u_weak,
            u_strong,
            state=state,
            threshold=args.threshold,
            lambda_u=args.lambda_u,
            shrink=args.method == "shrinkmatch",
            ratio_reweighting=not args.no_ratio_reweighting,
            distribution_alignment=args.distribution_alignment,
            gather=acc.gather if acc.num_processes > 1 else None,
        )
        lr = scheduler.get_last_lr()[0]
        optimizer.zero_grad()
        acc.backward(out.loss)
        optimizer.step()
        scheduler.step()
        teacher.update_parameters(acc.unwrap_model(model))
        logs = {
            "train/loss": out.loss,
            "train/lr": lr,
            "train/certain_ratio": out.certain_ratio,
            "train/gradient_fraction": out.gradient_fraction,
        }
        if args.method == "shrinkmatch":
            logs |= {"train/shrink_loss": out.shrink_loss, "train/certain_ratio_ema": out.certain_ratio_ema}
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    # every process holds the same weights and the whole (small) test set: evaluate locally
    x_test, y_test = data.x_test.to(device), data.y_test.to(device)
    metrics = {
        "eval/accuracy": accuracy(teacher.module, x_test, y_test),
        "eval/student_accuracy": accuracy(acc.unwrap_model(model), x_test, y_test),
    }
    runner.log(metrics, args.max_steps, force=True)
    # the Hub folder holds the EMA classifier (the evaluated model) without the training-time auxiliary head
    runner.finish(teacher.module.model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
