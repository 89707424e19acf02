"""Train a bias-free blind denoiser on a small digit set and analyse it (P62 `harmonic_denoiser`, Kadkhodaie, Guth,
Simoncelli & Mallat, ICLR 2024).

The recipe draws two disjoint random sets S₁, S₂ of `--train_size` images from scikit-learn's 8×8 digits (seeded by
`--split_seed`; `--swap` trains on S₂), repeats the set to fill a batch when it is small (as the official code tiles
small sets), and trains a bias-free CNN (`BiasFreeDenoiser`) by Adam with cosine decay on the blind denoising error
‖D(x + σz) − x‖², σ drawn per image. It then draws `--num_samples` samples with the Kadkhodaie–Simoncelli sampler and
measures their distance to the nearest training image (memorisation), the exact homogeneity of the network and the
eigendecomposition of its Jacobian at a held-out digit plus noise of σ = `--jacobian_sigma` (the adaptive basis), and
writes `analysis.json`, `samples.png` and `jacobian.png` next to the model (`BiasFreeDenoiser.from_pretrained`),
`metrics.json` and the card. The noise of step s depends only on `(seed, s)`, so a resumed run continues as an
uninterrupted one. The default run (1500 steps of 32 images, N = 800, the claim's settings) takes about a minute on
one idle core.

Run it twice, with and without `--swap`, and compare the samples of the two folders (same `--seed`: same sampler
noise) to see memorisation (small `--train_size`) or generalisation (large).

Usage:

```bash
accelerate launch recipes/harmonic_denoiser.py
accelerate launch recipes/harmonic_denoiser.py --train_size 10 --output_dir outputs/harmonic_denoiser-n10
accelerate launch recipes/harmonic_denoiser.py --resume_from_checkpoint latest   # continue a killed run
python recipes/harmonic_denoiser.py --help                                       # every knob
```
"""

from __future__ import annotations

import json
import math

import torch

from hf_methods.analysis.harmonic_denoiser.analysis import (
    denoiser_jacobian_eigs,
    homogeneity_check,
    nearest_training_distance,
)
from hf_methods.analysis.harmonic_denoiser.modeling_harmonic_denoiser import BiasFreeDenoiser
from hf_methods.analysis.harmonic_denoiser.training import (
    HarmonicDenoiserArguments,
    blind_denoising_loss,
    digits_images_01,
    disjoint_splits,
)
from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "harmonic_denoiser"

__all__ = ["HarmonicDenoiserArguments", "main"]


def main(argv: list[str] | None = None):
    from transformers import get_scheduler

    args = parse_recipe_args(HarmonicDenoiserArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    images, held_out = digits_images_01(test_size=0.1, seed=0)
    set_a, set_b = disjoint_splits(len(images), args.train_size, args.split_seed)
    train = images[set_b if args.swap else set_a]
    repeats = math.ceil(args.batch_size / len(train))  # a small set is tiled so that one batch can be drawn
    loader = torch.utils.data.DataLoader(
        TensorDictDataset(pixel_values=train.repeat(repeats, 1, 1, 1)),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        collate_fn=collate_batch,
    )
    torch.manual_seed(args.seed)
    model = BiasFreeDenoiser(args.denoiser_config())
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=0, num_training_steps=args.max_steps)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    # stepped once per optimisation step by us (accelerate's prepared scheduler would step once per process)
    runner.register_for_checkpointing(scheduler)
    runner.print(f"[{SLUG}] N = {len(train)} digits ({'S2' if args.swap else 'S1'}), {args.max_steps} steps")

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        loss = blind_denoising_loss(runner.accelerator.unwrap_model(model), batch["pixel_values"], generator)
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        if args.log_every and (step + 1) % args.log_every == 0:
            runner.log({"train/loss": loss, "train/lr": scheduler.get_last_lr()[0]}, step)
        runner.maybe_checkpoint(step)

    denoiser = runner.accelerator.unwrap_model(model).eval()
    out = denoiser.sample(
        (args.num_samples, 1, 8, 8),
        h0=args.sample_h0,
        beta=args.sample_beta,
        sigma_L=args.sample_sigma_L,
        max_steps=args.sample_max_steps,
        generator=torch.Generator().manual_seed(args.seed),
    )
    nearest = nearest_training_distance(out.samples, train)
    noise = torch.randn(held_out[:1].shape, generator=torch.Generator().manual_seed(args.seed))
    noisy = held_out[:1] + args.jacobian_sigma * noise
    eig = denoiser_jacobian_eigs(denoiser, noisy, num_vectors=8)
    homogeneity = homogeneity_check(denoiser, torch.cat([noisy, held_out[1:2] + args.jacobian_sigma * noise]))
    metrics = {
        "eval/mean_relative_nearest_distance": nearest.mean_relative_distance,
        "eval/mean_nearest_similarity": sum(nearest.max_similarities) / len(nearest.max_similarities),
        "eval/converged_fraction": float(out.converged.double().mean()),
        "eval/effective_dimension": eig.effective_dimension,
        "eval/jacobian_asymmetry": eig.asymmetry,
        "eval/homogeneity_error": homogeneity.max_error,
    }
    runner.log(metrics, args.max_steps, force=True)
    if runner.is_main_process:
        runner.output_dir.mkdir(parents=True, exist_ok=True)
        analysis = {
            "train_size": len(train),
            "swap": args.swap,
            "sample_steps": out.num_steps.tolist(),
            "nearest_indices": nearest.indices,
            "relative_nearest_distances": nearest.relative_distances,
            "nearest_similarities": nearest.max_similarities,
            "eigenvalues": eig.eigenvalues.tolist(),
            "effective_dimension": eig.effective_dimension,
            "homogeneity": {
                "alphas": homogeneity.alphas,
                "scaling_errors": homogeneity.scaling_errors,
                "jacobian_identity_error": homogeneity.jacobian_identity_error,
            },
        }
        (runner.output_dir / "analysis.json").write_text(json.dumps(analysis, indent=2) + "\n")
        nearest.save_plot(runner.output_dir / "samples.png")
        eig.save_plot(runner.output_dir / "jacobian.png")
    runner.finish(denoiser, metrics=metrics, card_kwargs={"pipeline_tag": "image-to-image"})
    return metrics


if __name__ == "__main__":
    main()
