"""Semi-supervised digits with unknown classes in the unlabelled data, by Weight-Aware Distillation (P44 `wad`, Du et
al., ICCV 2023).

scikit-learn's 8×8 digits: `--labels_per_class` labelled images of each known class (`--known_classes`, default 0–5),
an unlabelled pool of which a fraction `--mismatch` (default 60%) comes from the unknown classes, and the known-class
test images. A frozen teacher (`--teacher pca`: a PCA-32 projection of the training images; `simclr`: an MLP trained
with NT-Xent on shift + noise views) labels every unlabelled image with its most similar known class (largest cosine
to that class's labelled images, as in the official code, or `--similarity prototype`) and weights it by the top-two
similarity margin. The student (ReLU MLP 64-128-128-C) trains with Adam (5e-4, reset each round as in the official
code) on `mean CE(labelled) + mean w·CE(unlabelled, pseudo-label)`, 32 + 32 images a step, for `--rounds + 1` rounds
splitting `--max_steps`; after round t the `α(1 − t/T)²` fraction of the pool on which the student agrees best with
the teacher joins the labelled groups. The pools are checkpointed, so a killed and resumed run ends with the same
weights. The default run takes well under a minute on one CPU core; at the end it reports the known-class test
accuracy, the AUROC of the first-round weights for known versus unknown unlabelled images, and the purity of the
promoted images (see `benchmarks/claims/wad.py` for the seeded comparison with naive pseudo-labelling).

Usage:

```bash
accelerate launch recipes/wad.py                                          # the default run
accelerate launch recipes/wad.py --uniform_weights true --output_dir outputs/wad-naive   # w ≡ 1 (ablation)
accelerate launch recipes/wad.py --teacher simclr --teacher_epochs 100 --similarity prototype
accelerate launch recipes/wad.py --mismatch 0.3 --labels_per_class 25
accelerate launch recipes/wad.py --resume_from_checkpoint latest          # continue a killed run
python recipes/wad.py --help                                              # every knob
```
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.wad.knowledge import promotion_fraction
from hf_methods.training.wad.loss import wad_objective
from hf_methods.training.wad.training import (
    WADArguments,
    WADPools,
    accuracy,
    digits_augment,
    digits_student,
    mismatch_digits,
    pool_features,
    round_of,
    weight_auroc,
)

SLUG = "wad"

__all__ = ["WADArguments", "main"]


def main(argv: list[str] | None = None):
    from tqdm.auto import tqdm

    args = parse_recipe_args(WADArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    acc = runner.accelerator
    device = acc.device

    # the split and the teacher depend on the seed only, so every process (and a resumed run) rebuilds the same ones
    data = mismatch_digits(
        args.seed,
        known_classes=args.known_class_tuple(),
        labels_per_class=args.labels_per_class,
        mismatch=args.mismatch,
    )
    teacher = args.build_teacher(torch.cat([data.x_labelled, data.x_unlabelled]))
    pools = WADPools(
        data.x_labelled,
        data.y_labelled,
        data.x_unlabelled,
        pool_features(teacher, data.x_labelled),
        pool_features(teacher, data.x_unlabelled),
        num_classes=data.num_classes,
        similarity=args.similarity,
        uniform_weights=args.uniform_weights,
    )
    first_auroc = weight_auroc(pools.weights, data.u_known)
    runner.print(
        f"[{SLUG}] {len(data.y_labelled)} labelled / {len(data.x_unlabelled)} unlabelled "
        f"({(~data.u_known).float().mean().item():.0%} unknown-class) / {len(data.y_test)} test images; "
        f"{args.teacher} teacher, weight AUROC known vs unknown {first_auroc:.3f}"
    )

    student = digits_student(data.num_classes, args.hidden_size)
    optimizer = torch.optim.Adam(student.parameters(), lr=args.learning_rate)
    student, optimizer = runner.prepare(student, optimizer)
    runner.register_for_checkpointing(pools)  # the promotions are part of the training state

    start = runner.resume()
    per_round, rank, world = args.steps_per_round, acc.process_index, acc.num_processes
    student.train()
    bar = tqdm(total=args.max_steps, initial=start, desc=SLUG, disable=not acc.is_local_main_process)
    for step in range(start, args.max_steps):
        t, k = round_of(step, per_round), step % per_round
        if k == 0:
            optimizer.state.clear()  # a fresh Adam each round, as in the official code (checkpoint-safe)
        augment = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        x_l, y_l = pools.labelled_batch(step, args.batch_size, args.seed)
        x_u, yhat, w = pools.unlabelled_batch(step, args.batch_size, args.seed + 7919)
        if args.augment:
            x_l = digits_augment(x_l, noise_std=0.0, generator=augment)
            x_u = digits_augment(x_u, noise_std=0.0, generator=augment)
        # each process takes its share of the step's batch (all processes hold the same pools)
        x_l, y_l = x_l[rank::world].to(device), y_l[rank::world].to(device)
        x_u, yhat, w = x_u[rank::world].to(device), yhat[rank::world].to(device), w[rank::world].to(device)
        logits_l = student(pixel_values=x_l).logits
        logits_u = student(pixel_values=x_u).logits
        loss = wad_objective(logits_l, y_l, logits_u, yhat, w)
        optimizer.zero_grad()
        acc.backward(loss)
        optimizer.step()
        if k == per_round - 1 or step + 1 == args.max_steps:
            pools.promote(acc.unwrap_model(student), promotion_fraction(t, args.alpha, args.rounds))
        runner.log(
            {
                "train/loss": loss,
                "train/labelled_ce": F.cross_entropy(logits_l.detach(), y_l),
                "train/mean_weight": w.mean(),
                "train/round": float(t),
                "train/labelled_pool": float(len(pools.promoted_index) + len(data.y_labelled)),
            },
            step,
        )
        runner.maybe_checkpoint(step)
        bar.update(1)
    bar.close()

    unwrapped = acc.unwrap_model(student)
    promoted = pools.promoted_index
    purity = (data.u_label[promoted] == pools.promoted_labels).float().mean().item() if len(promoted) else 0.0
    metrics = {
        "eval/known_class_accuracy": accuracy(unwrapped, data.x_test.to(device), data.y_test.to(device)),
        "eval/weight_auroc": first_auroc,
        "eval/promoted": float(len(promoted)),
        "eval/promoted_purity": purity,
    }
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(student, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
