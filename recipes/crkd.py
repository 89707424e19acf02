"""Novel class discovery on digits with class-relation knowledge distillation (P19 `crkd`, Gu et al., ICCV 2023).

scikit-learn's 8×8 digits: classes 0–4 labelled (known), 5–9 unlabelled (novel). The recipe first trains the
known-class model (a ReLU MLP encoder with a cosine-prototype head; cross-entropy of logits / τ on two augmented
views, `--pretrain_steps` AdamW steps, deterministic given the seed), keeps a frozen copy as the teacher, and then
trains the discovery model (the pretrained encoder and known head plus `--num_heads` new novel heads) for
`--max_steps` steps on mixed batches of labelled and unlabelled images: UNO's swapped prediction with Sinkhorn–Knopp
pseudo-labels, plus `--alpha` × CrKD's class-relation distillation from the teacher on the unlabelled images
(`kleinzcy/Cr-KD-NCD`, `rKD.py:train_discover`; `--alpha 0` is plain UNO). SGD with linear warmup and cosine decay.
Each step's two views come from a generator seeded by (seed, step), so a killed and resumed run sees the same views.
At the end it reports the Hungarian-matched novel-class accuracy of the best head on the unlabelled training images
and on held-out novel test images, and the known-class test accuracy. The default run takes about a minute on one
CPU thread.

Usage:

```bash
accelerate launch recipes/crkd.py                                  # CrKD (alpha 0.1), the default run
accelerate launch recipes/crkd.py --alpha 0 --output_dir outputs/uno  # the UNO baseline
accelerate launch recipes/crkd.py --resume_from_checkpoint latest    # continue a killed run
python recipes/crkd.py --help                                        # every knob
```
"""

from __future__ import annotations

import copy

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.crkd.modeling_crkd import CrKDNCDModel
from hf_methods.training.crkd.trainer import NoiseShiftAugment, crkd_discovery_loss
from hf_methods.training.crkd.training import (
    CrKDArguments,
    evaluate_ncd,
    ncd_digits,
    pretrain_known_classes,
    student_from_pretrained,
    warmup_cosine,
)

SLUG = "crkd"

__all__ = ["CrKDArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(CrKDArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device
    augment = NoiseShiftAugment(max_shift=args.max_shift, noise_std=args.noise_std)

    # the split and the pretrained model depend on the seed only, so every process (and a resumed run) rebuilds them
    data = ncd_digits(args.seed, args.num_known_classes, args.test_size)
    runner.print(
        f"[{SLUG}] {len(data.y_labeled)} labelled images of classes 0-{args.num_known_classes - 1}, "
        f"{len(data.y_unlabeled)} unlabelled images of classes {args.num_known_classes}-9"
    )
    torch.manual_seed(args.seed)
    pretrained = CrKDNCDModel(args.model_config())
    pretrain_known_classes(
        pretrained,
        data.x_labeled,
        data.y_labeled,
        steps=args.pretrain_steps,
        seed=args.seed,
        lr=args.pretrain_learning_rate,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        warmup_fraction=args.warmup_fraction,
        augment=augment,
    )
    teacher = copy.deepcopy(pretrained).to(device).eval().requires_grad_(False)
    runner.print(f"[{SLUG}] known-class model: test accuracy {evaluate_ncd(teacher, data)['known_test_accuracy']:.3f}")
    model = student_from_pretrained(pretrained, args.seed + 1)

    dataset = TensorDictDataset(
        pixel_values=torch.cat([data.x_labeled, data.x_unlabeled]),
        labels=torch.cat([data.y_labeled, torch.full_like(data.y_unlabeled, -1)]),
        labeled_mask=torch.cat(
            [torch.ones(len(data.y_labeled), dtype=torch.bool), torch.zeros(len(data.y_unlabeled), dtype=torch.bool)]
        ),
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, shuffle=True, drop_last=True, collate_fn=collate_batch
    )
    optimizer = torch.optim.SGD(
        model.parameters(), lr=args.learning_rate, momentum=args.momentum, weight_decay=args.weight_decay
    )
    scheduler = warmup_cosine(optimizer, args.max_steps, args.warmup_fraction)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(scheduler)  # stepped once per optimisation step by us
    unwrapped = runner.accelerator.unwrap_model(model)

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        lr = scheduler.get_last_lr()[0]
        unwrapped.normalize_prototypes()
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        views = [augment(batch["pixel_values"].cpu(), generator).to(device) for _ in range(2)]
        terms = crkd_discovery_loss(
            model,
            teacher if args.alpha > 0 else None,
            views,
            batch["labels"],
            batch["labeled_mask"].bool(),
            alpha=args.alpha,
            kd_temperature=args.kd_temperature,
            temperature=args.temperature,
            sinkhorn_epsilon=args.sinkhorn_epsilon,
            sinkhorn_iterations=args.sinkhorn_iterations,
        )
        optimizer.zero_grad()
        runner.accelerator.backward(terms.loss)
        optimizer.step()
        scheduler.step()
        unwrapped.head_losses += terms.cluster.detach()  # the best-head tracker, saved with the model
        logs = {"train/loss": terms.loss, "train/cluster": terms.cluster.mean(), "train/kd": terms.kd, "train/lr": lr}
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    unwrapped.normalize_prototypes()
    results = evaluate_ncd(unwrapped, data)
    metrics = {f"eval/{k}": v for k, v in results.items()}
    metrics["eval/best_head"] = unwrapped.best_head
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
