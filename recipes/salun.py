"""Unlearn one digit class (or a random 10% of the images) from a tiny CNN with SalUn (P27 `salun`, Fan et al., ICLR 2024).

scikit-learn's 8×8 digits (1437 train / 360 test images), a tiny CNN (two 3×3 convolutions, 16/32 channels, and a
linear layer) trained on all training images for `--pretrain_epochs` (the original model, rebuilt identically from
`--seed` on every start, so a resumed run unlearns the same model), then SalUn: the weight-saliency mask keeps the
`--keep_ratio` weights with the largest |∇θ (−ℓ_CE)| on the forget set (one global ranking), and every step fits
the forget images to random labels and the retain images to their labels, updating only the masked weights (the
others are put back to their original values after every step, their momentum zeroed), with SGD as the official
code (`OPTML-Group/Unlearn-Saliency`, `Classification/unlearn/RL.py`: momentum 0.9, weight decay 5e-4, constant
learning rate). Each epoch is a pass over the forget batches then a pass over the retain batches (`--schedule
sequential`). At the end the recipe reports UA, RA, TA and MIA-efficacy of the original and of the unlearned model.
The default run (class-wise forgetting of digit 3, 5 epochs) takes well under a minute on one core.

Usage:

```bash
accelerate launch recipes/salun.py                                        # forget digit 3, mask of 50%
accelerate launch recipes/salun.py --scenario random --forget_fraction 0.1
accelerate launch recipes/salun.py --keep_ratio 1.0                       # no mask: plain random-label unlearning
accelerate launch recipes/salun.py --resume_from_checkpoint latest        # continue a killed run
python recipes/salun.py --help                                            # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.unlearning import train_epochs, unlearning_metrics
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.salun.loss import SalUnLoss, draw_random_labels
from hf_methods.training.salun.saliency import compute_weight_saliency_mask
from hf_methods.training.salun.trainer import (
    ForgetRetainBatchSampler,
    UnlearningDataset,
    frozen_values,
    mask_gradients,
    restore_masked_weights,
)
from hf_methods.training.salun.training import (
    NUM_CLASSES,
    LabelGenerator,
    SalUnArguments,
    digits_unlearning_split,
    tiny_cnn,
)

SLUG = "salun"

__all__ = ["SalUnArguments", "main"]


def _collate(batch):
    return batch  # UnlearningDataset.__getitems__ returns collated batches


def main(argv: list[str] | None = None):
    args = parse_recipe_args(SalUnArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    data = digits_unlearning_split(
        args.seed,
        args.scenario,
        forget_class=args.forget_class,
        forget_fraction=args.forget_fraction,
        test_size=args.test_size,
    )
    # the original model depends on the seed only: every process (and every resumed start) rebuilds the same one
    original = train_epochs(
        tiny_cnn(args.seed), data.train, epochs=args.pretrain_epochs, lr=args.pretrain_lr, seed=args.seed
    ).eval()
    before = unlearning_metrics(original, data.forget, data.retain, data.test)
    runner.print(
        f"[{SLUG}] {args.scenario} forgetting: {len(data.forget[1])} forget / {len(data.retain[1])} retain / "
        f"{len(data.test[1])} test images; original UA={before.unlearning_accuracy:.3f} "
        f"RA={before.remaining_accuracy:.3f} TA={before.testing_accuracy:.3f}"
    )

    model = tiny_cnn(args.seed)
    model.load_state_dict(original.state_dict())
    mask = None
    if args.keep_ratio < 1.0:
        mask = compute_weight_saliency_mask(original, data.forget, keep_ratio=args.keep_ratio)
    dataset = UnlearningDataset(data.forget, data.retain, input_name=model.main_input_name)
    sampler = ForgetRetainBatchSampler(
        dataset.num_forget, dataset.num_retain, args.batch_size, seed=args.seed, schedule=args.schedule
    )
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=_collate)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=args.learning_rate, momentum=args.momentum, weight_decay=args.weight_decay
    )
    loss_fn = SalUnLoss(retain_weight=args.retain_weight)
    labels_rng = LabelGenerator(args.seed)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(labels_rng)  # the random labels continue where a killed run stopped
    unwrapped = runner.accelerator.unwrap_model(model)
    if mask is not None:
        mask = {name: m.to(device) for name, m in mask.items()}
        theta0 = frozen_values(unwrapped, mask)  # θ_0 outside the mask, taken before any step (and any resume)

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        logits = model(pixel_values=batch["pixel_values"]).logits
        random_labels = draw_random_labels(
            batch["labels"], NUM_CLASSES, mode=args.random_labels, generator=labels_rng.generator
        )
        loss = loss_fn(logits, batch["labels"], random_labels, batch["is_forget"])
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        if mask is not None:
            mask_gradients(unwrapped, mask)
        optimizer.step()
        if mask is not None:
            restore_masked_weights(unwrapped, mask, theta0, optimizer)
        runner.log({"train/loss": loss, "train/forget_fraction": batch["is_forget"].float().mean()}, step)
        runner.maybe_checkpoint(step)

    after = unlearning_metrics(unwrapped.cpu(), data.forget, data.retain, data.test)  # the data sets live on CPU
    metrics = {f"eval/original_{k}": v for k, v in before.to_dict().items()}
    metrics.update({f"eval/{k}": v for k, v in after.to_dict().items()})
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
