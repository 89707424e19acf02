"""Masked hard instance mining for multiple-instance learning (P63 `mhim_mil`, Tang et al., ICCV 2023) on digit bags.

Bags of 30–60 scikit-learn digits (64-d instances), positive when they hold a 9: each positive training bag holds one
easy 9 (scaled ×1.5) and 1–3 hard 9s (noisy or occluded); positive test bags hold only hard 9s. The recipe first
trains the ABMIL baseline for `--pretrain_epochs` (deterministic given the seed, so a resumed run rebuilds it), then
trains MHIM-MIL for `--max_steps` bags: the EMA teacher (initialised from the baseline) masks the instances it attends
to most (`--mask_ratio_h`, decayed to 0 with a cosine schedule, `--mask_ratio_hr`, plus optional `--mask_ratio_l` and
`--mask_ratio`), the student (also initialised from the baseline) is trained on the rest with cross-entropy plus
`--cl_alpha` × the consistency loss to the teacher's bag feature, and the teacher follows by EMA
(`DearCaat/MHIM-MIL`, branch `v1`, `main.py:train_loop`). Adam, one bag per step. The teacher and each step's
masking generator (seeded by (seed, step)) make a resumed run identical to an uninterrupted one. At the end it reports
the student's and the teacher's test AUC and accuracy and saves the student. The default run takes under a minute on
one CPU thread.

Usage:

```bash
accelerate launch recipes/mhim_mil.py                                  # MHIM-MIL, the default run
accelerate launch recipes/mhim_mil.py --mask_ratio_h 0 --cl_alpha 0    # plain ABMIL fine-tuning, for comparison
accelerate launch recipes/mhim_mil.py --resume_from_checkpoint latest  # continue a killed run
python recipes/mhim_mil.py --help                                      # every knob
```
"""

from __future__ import annotations

import copy

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.mhim_mil.masking import cosine_decay
from hf_methods.training.mhim_mil.modeling_mhim_mil import ABMILForBagClassification
from hf_methods.training.mhim_mil.trainer import collate_bags, mhim_loss, mhim_teacher
from hf_methods.training.mhim_mil.training import MHIMArguments, bag_auc, digit_bags, train_abmil

SLUG = "mhim_mil"

__all__ = ["MHIMArguments", "main"]


class _BagList(torch.utils.data.Dataset):
    def __init__(self, bags):
        self.bags = bags

    def __len__(self):
        return len(self.bags)

    def __getitem__(self, i):
        return {"instances": self.bags.instances[i], "labels": self.bags.labels[i]}


def main(argv: list[str] | None = None):
    args = parse_recipe_args(MHIMArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    train, test = digit_bags(args.seed, args.num_train_bags, args.num_test_bags)
    runner.print(f"[{SLUG}] {len(train)} training bags, {len(test)} test bags (test positives: hard 9s only)")
    torch.manual_seed(args.seed)
    pretrained = ABMILForBagClassification(args.model_config())
    train_abmil(
        pretrained,
        train,
        steps=args.pretrain_epochs * len(train),
        seed=args.seed,
        lr=args.learning_rate,
        weight_decay=args.weight_decay,
    )
    baseline = bag_auc(pretrained, test)
    runner.print(f"[{SLUG}] ABMIL baseline: test AUC {baseline['auc']:.3f}, accuracy {baseline['accuracy']:.3f}")
    model = copy.deepcopy(pretrained).train()
    teacher = mhim_teacher(pretrained, args.ema_momentum).to(device)

    loader = torch.utils.data.DataLoader(_BagList(train), batch_size=1, shuffle=True, collate_fn=collate_bags)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(teacher)  # the EMA teacher is training state, resumed with the rest
    unwrapped = runner.accelerator.unwrap_model(model)

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        r_h = (
            args.mask_ratio_h
            if args.mask_ratio_h_schedule == "constant"
            else cosine_decay(args.mask_ratio_h, 0.0, step, args.max_steps)
        )
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        terms = mhim_loss(
            model,
            teacher,
            batch["instances"],
            batch["labels"],
            batch["attention_mask"],
            mask_ratio_h=r_h,
            generator=generator,
            **args.mhim_kwargs(),
        )
        optimizer.zero_grad()
        runner.accelerator.backward(terms.loss)
        optimizer.step()
        with torch.no_grad():
            teacher.update_parameters(unwrapped)
        logs = {
            "train/loss": terms.loss,
            "train/ce": terms.ce,
            "train/consistency": terms.consistency,
            "train/masked": terms.masked.sum().float(),
            "train/mask_ratio_h": r_h,
        }
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    student = bag_auc(unwrapped.cpu(), test)
    teacher_scores = bag_auc(teacher.module.cpu(), test)
    metrics = {
        "eval/test_auc": student["auc"],
        "eval/test_accuracy": student["accuracy"],
        "eval/teacher_test_auc": teacher_scores["auc"],
        "eval/baseline_test_auc": baseline["auc"],
    }
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
