"""Train a DiTi encoder on textured digits against a frozen diffusion model (P17 `diti`, Yue et al., ICLR 2024).

The data are scikit-learn's 8×8 digits (1437 train / 360 test) carrying two attributes: the digit (coarse shape) and
a checkerboard texture of random signed amplitude (fine), x = (1 − A)·digit + s·checkerboard with s ~ U[−A, A]. The
recipe first fits the frozen base diffusion model ε_θ (a diffusers `UNet2DModel`, the zoo's cosine `DDPMScheduler`,
`--base_steps` steps; kept in `<output_dir>/base_unet` and reused when the run is resumed), then trains the encoder
(`DiTiEncoder`, z in `--num_chunks` chunks tied to time-step ranges) and the shift decoder G (a diffusers
`UNet2DConditionModel`) with the DiTi loss w(t)‖ε − (ε_θ + c(t)·G(x_t, t, z_t))‖² (`--mode stop_grad`, the paper's
default; `--num_chunks 1` is PDAE). At the end it probes every chunk on the test images (texture R², digit accuracy),
fits a linear digit head on the frozen z and writes a Hub-ready folder: `DiTiForImageClassification` with its code
and a `ViTImageProcessor` (so `pipeline("image-classification", model=folder, trust_remote_code=True)` works; the
encoder alone loads with `AutoModel`), plus `shift_decoder/` and `base_unet/` (diffusers folders) for
`counterfactual_interpolate`. The default run takes about a minute of CPU time on one core.

Usage:

```bash
accelerate launch recipes/diti.py                                   # the default run
accelerate launch recipes/diti.py --num_chunks 1 --output_dir outputs/diti-pdae   # the PDAE baseline
accelerate launch recipes/diti.py --resume_from_checkpoint latest   # continue a killed run
python recipes/diti.py --help                                       # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.diti.training import DiTiArguments

SLUG = "diti"

__all__ = ["DiTiArguments", "main"]


def digits_image_processor():
    """A `ViTImageProcessor` mapping 8×8 uint8 images to [-1, 1] (rescale 1/255, normalise by mean 0.5, std 0.5)."""
    from transformers import ViTImageProcessor

    return ViTImageProcessor(
        do_resize=True,
        size={"height": 8, "width": 8},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )


def fit_linear_head(classifier, images: torch.Tensor, labels: torch.Tensor, steps: int = 300) -> None:
    """Fits `classifier.classifier` (a linear layer on frozen z) by full-batch Adam on the cross-entropy."""
    with torch.no_grad():
        z = classifier.diti(pixel_values=images).representation
    head = classifier.classifier
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(head(z), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def main(argv: list[str] | None = None):
    from diffusers import UNet2DModel

    from hf_methods.common.batches import TensorDictDataset, collate_batch
    from hf_methods.common.diffusion import ddpm_scheduler
    from hf_methods.models.diti import (
        DiTiEncoder,
        DiTiForImageClassification,
        DiTiShiftDecoder,
        chunk_masks,
        chunk_probe,
        diti_loss,
        timestep_chunk_index,
    )
    from hf_methods.models.diti.training import textured_digits, train_base_diffusion

    args = parse_recipe_args(DiTiArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device
    images, attributes = textured_digits("train", amplitude=args.texture_amplitude, seed=args.seed)
    test_images, test_attributes = textured_digits("test", amplitude=args.texture_amplitude, seed=args.seed)
    scheduler = ddpm_scheduler(args.num_train_timesteps)

    base_dir = runner.output_dir / "base_unet"
    if args.resume_from_checkpoint and (base_dir / "config.json").is_file():
        base = UNet2DModel.from_pretrained(base_dir).eval().requires_grad_(False)
        runner.print(f"[{SLUG}] reusing the frozen base model of {base_dir}")
    else:
        runner.print(f"[{SLUG}] fitting the frozen base diffusion model ({args.base_steps} steps)")
        base, _ = train_base_diffusion(
            images, scheduler, steps=args.base_steps, learning_rate=args.base_learning_rate, seed=args.seed
        )
        if runner.is_main_process:
            base.save_pretrained(base_dir)
    base.to(device)

    config = args.build_config()
    torch.manual_seed(args.seed)
    encoder = DiTiEncoder(config)
    decoder = DiTiShiftDecoder(config.latent_dim)
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=args.learning_rate)
    dataset = TensorDictDataset(pixel_values=images)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    encoder, decoder, optimizer, loader = runner.prepare(encoder, decoder, optimizer, loader)
    chunk_index, masks = timestep_chunk_index(config), chunk_masks(config)

    start = runner.resume()
    encoder.train()
    decoder.train()
    for step, batch in runner.steps(loader, start):
        x0 = batch["pixel_values"]
        z = encoder(pixel_values=x0).representation
        loss = diti_loss(
            z,
            x0,
            frozen_diffusion=base,
            decoder=decoder,
            scheduler=scheduler,
            chunk_index=chunk_index,
            masks=masks,
            mode=args.mode,
            gamma=args.gamma,
        )
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        runner.log({"train/loss": loss}, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(encoder).cpu().eval()
    probe = chunk_probe(unwrapped, images, attributes, test_images, test_attributes, discrete=["digit"])
    metrics = {}
    for name, scores in probe.chunk_scores.items():
        key = "r2" if probe.metrics[name] == "r2" else "accuracy"
        metrics.update({f"eval/{name}_{key}_chunk{i}": v for i, v in enumerate(scores)})
        metrics[f"eval/{name}_{key}_all"] = probe.full_scores[name]

    labels = {i: str(i) for i in range(10)}
    classifier_config = type(config).from_dict(
        {**config.to_dict(), "num_labels": 10, "id2label": labels, "label2id": {v: k for k, v in labels.items()}}
    )
    classifier = DiTiForImageClassification(classifier_config)
    classifier.diti.load_state_dict(unwrapped.state_dict())
    fit_linear_head(classifier, images, attributes["digit"])
    with torch.no_grad():
        predictions = classifier(pixel_values=test_images).logits.argmax(-1)
    metrics["eval/linear_head_digit_accuracy"] = (predictions == test_attributes["digit"]).float().mean().item()
    runner.log(metrics, args.max_steps, force=True)
    if runner.is_main_process:
        runner.accelerator.unwrap_model(decoder).unet.save_pretrained(runner.output_dir / "shift_decoder")
    runner.finish(
        classifier,
        metrics=metrics,
        tokenizer=digits_image_processor(),
        card_kwargs={"pipeline_tag": "image-classification"},
    )
    return metrics


if __name__ == "__main__":
    main()
