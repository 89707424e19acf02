"""Train a D2NWG weight generator on a zoo of digit-pair classifiers (P15 `d2nwg`, Soro et al.).

The zoo (`hf_methods.models.d2nwg.training.build_digit_pair_zoo`, or a folder written by
`scripts/build_d2nwg_zoo.py` given with `--zoo_dir`): linear classifiers 64 → 2 trained on ordered pairs of
scikit-learn digit classes. `--num_heldout_pairs` unordered pairs (both orders) drawn with `--seed` are kept out of
training. Stage 1 fits the weight VAE (`--vae_steps`); stage 2, the resumable loop of this script (`--max_steps`),
fits the conditional latent denoiser and the dataset set-encoder with the ε-prediction loss, drawing a fresh support
set of every weight vector's dataset at each step. The run ends by generating `--num_samples` classifiers for each
unseen dataset from 5 training images per class and reporting their test accuracy next to the zoo's own classifiers
of those datasets. The output folder holds the `D2NWGModel` (loadable with `AutoModel` and remote code) and the
diffusers scheduler in `scheduler/`: `D2NWGPipeline.from_pretrained(output_dir)` rebuilds the pipeline. The default
run takes about a minute on one core.

Usage:

```bash
accelerate launch recipes/d2nwg.py                                    # the default run
python scripts/build_d2nwg_zoo.py --output_dir outputs/d2nwg-zoo      # build the zoo once ...
accelerate launch recipes/d2nwg.py --zoo_dir outputs/d2nwg-zoo        # ... and reuse it
accelerate launch recipes/d2nwg.py --resume_from_checkpoint latest    # continue a killed run
python recipes/d2nwg.py --help                                        # every knob
```
"""

from __future__ import annotations

import statistics

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.common.diffusion import epsilon_loss
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.d2nwg.pipeline import D2NWGPipeline
from hf_methods.models.d2nwg.training import (
    D2NWGArguments,
    build_digit_pair_zoo,
    classifier_accuracy,
    evaluate_generation,
    load_digit_classes,
    split_pairs,
)
from hf_methods.models.d2nwg.zoo import WeightZoo

SLUG = "d2nwg"

__all__ = ["D2NWGArguments", "main"]


def main(argv: list[str] | None = None):
    from transformers import get_scheduler

    args = parse_recipe_args(D2NWGArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    classes = load_digit_classes()
    if args.zoo_dir:
        zoo = WeightZoo.load(args.zoo_dir)
    else:
        zoo = build_digit_pair_zoo(models_per_task=args.models_per_task, classes=classes)
    pairs = [tuple(p) for p in zoo.metadata["pairs"]]
    index = {p: i for i, p in enumerate(pairs)}
    seen, unseen = split_pairs(args.num_heldout_pairs, args.seed)
    train_zoo = zoo.subset([index[p] for p in seen if p in index])
    runner.print(
        f"[{SLUG}] zoo of {len(zoo)} classifiers on {zoo.num_tasks} digit-pair datasets; training on "
        f"{len(train_zoo)} ({len(seen)} seen datasets), {len(unseen)} unseen datasets held out"
    )

    pipe = D2NWGPipeline(args.build_config(), scheduler=None)
    model = pipe.model.to(device)
    trainable = [p for name, p in model.named_parameters() if not name.startswith("vae.")]
    optimizer = torch.optim.AdamW(trainable, lr=args.learning_rate)
    lr_scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=0, num_training_steps=args.max_steps)
    rows = TensorDictDataset(row=torch.arange(len(train_zoo)))
    loader = torch.utils.data.DataLoader(rows, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(lr_scheduler)
    unwrapped = runner.accelerator.unwrap_model(model)
    pipe.model = unwrapped

    start = runner.resume()
    if start == 0:  # stage 1 (a resumed run finds the trained VAE and the latent scale in its checkpoint)
        vae_losses = pipe.train_vae(
            train_zoo,
            steps=args.vae_steps,
            batch_size=args.vae_batch_size,
            learning_rate=args.vae_learning_rate,
            seed=args.seed,
        )
        unwrapped.fit_latent_scale(train_zoo.vectors.to(device))
        runner.print(f"[{SLUG}] stage 1: VAE loss {statistics.fmean(vae_losses[-50:]):.4f}")
    unwrapped.vae.eval().requires_grad_(False)
    latents = unwrapped.encode_weights(train_zoo.vectors.to(device))

    model.train()
    for step, batch in runner.steps(loader, start):
        rows_ = batch["row"].cpu()
        # randomness from (seed, step) alone: a resumed run draws the same support sets, timesteps and noise
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        support = train_zoo.sample_support_sets(train_zoo.task_ids[rows_], args.samples_per_class, generator)
        loss = epsilon_loss(
            model,
            pipe.scheduler,
            latents[rows_.to(device)],
            conditioning={"support_set": support.to(device)},
            generator=generator,
        )
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        lr_scheduler.step()
        runner.log({"train/loss": loss, "train/lr": lr_scheduler.get_last_lr()[0]}, step)
        runner.maybe_checkpoint(step)

    unwrapped.eval()
    results = evaluate_generation(
        pipe, classes, unseen, num_samples=args.num_samples, samples_per_class=args.samples_per_class, seed=args.seed
    )
    direct = []
    for pair in unseen:
        if pair in index:
            x_test, y_test = classes.task(pair, "test")
            own = (zoo.task_ids == index[pair]).nonzero().flatten().tolist()
            direct += [classifier_accuracy(zoo.state_dict_of(i), x_test, y_test) for i in own]
    metrics = {
        "eval/unseen_accuracy": statistics.fmean(r["mean_accuracy"] for r in results),
        "eval/unseen_best_of_n_accuracy": statistics.fmean(r["best_accuracy"] for r in results),
    }
    if direct:
        metrics["eval/unseen_direct_training_accuracy"] = statistics.fmean(direct)
    runner.log(metrics, args.max_steps, force=True)
    if runner.is_main_process:
        pipe.scheduler.save_pretrained(runner.output_dir / "scheduler")
    runner.finish(model, metrics=metrics)
    return metrics


if __name__ == "__main__":
    main()
