"""Diffusion glue over `diffusers` (optional extra `diffusion`: `pip install 'hf-methods[diffusion]'`).

diffusers already holds the noise schedules (`DDPMScheduler`, `DDIMScheduler`, their `add_noise` and `step`) and the
denoisers (`UNet2DModel`, `UNet2DConditionModel`); the diffusion methods of the zoo build on those. This block adds
only what diffusers leaves to a training script, once for all of them:

- [`tiny_unet`]: the small U-Net the zoo trains on 8×8 digits (unconditional, class-conditional or text-conditional
  through cross-attention), built from a config, nothing downloaded;
- [`ddpm_scheduler`]: the training noise schedule the zoo's diffusion models share;
- [`epsilon_loss`]: the ε-prediction objective of Ho et al. (2020), for any denoiser `f(x_t, t, **conditioning)`
  (a diffusers U-Net, or a plain module on vectors, e.g. a latent-diffusion MLP);
- [`sample`]: ancestral / DDIM sampling with a diffusers scheduler, with classifier-free guidance;
- [`train_denoiser`]: a short AdamW loop fitting a denoiser with [`epsilon_loss`] (the base models the claims and
  tests freeze and build upon);
- [`digits_images`]: scikit-learn's digits as `(N, 1, 8, 8)` images in [-1, 1], the scale diffusion models expect.

Example:

```python
>>> unet, scheduler = tiny_unet(), ddpm_scheduler()
>>> images, labels = digits_images("train")
>>> losses = train_denoiser(unet, images, scheduler, steps=10)
>>> x = sample(unet, scheduler, (4, 1, 8, 8), num_inference_steps=20, generator=torch.Generator().manual_seed(0))
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from hf_methods.common.checks import check_number, check_positive_int, check_reduction, reduce_loss

__all__ = [
    "DIGITS_UNET",
    "ddpm_scheduler",
    "denoiser_output",
    "digits_images",
    "epsilon_loss",
    "require_diffusers",
    "sample",
    "tiny_unet",
    "train_denoiser",
]

#: The U-Net the zoo trains on 8×8 digits: two resolutions (8×8, 4×4), attention at 4×4, ~0.7 M parameters.
DIGITS_UNET: dict[str, Any] = {
    "sample_size": 8,
    "in_channels": 1,
    "out_channels": 1,
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "norm_num_groups": 8,
}


def require_diffusers():
    """Import and return `diffusers`, or raise an ImportError naming the extra that installs it."""
    try:
        import diffusers
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "This needs diffusers: pip install 'hf-methods[diffusion]' (or pip install diffusers)"
        ) from error
    return diffusers


def tiny_unet(
    *,
    cross_attention_dim: int | None = None,
    num_class_embeds: int | None = None,
    attention_head_dim: int = 8,
    **overrides,
):
    """A small diffusers U-Net for 8×8 images ([`DIGITS_UNET`], any field overridable).

    Args:
        cross_attention_dim: width of the conditioning sequence; when given the model is a `UNet2DConditionModel`
            (text conditioning through cross-attention at 4×4, as in Stable Diffusion), called as
            `unet(x, t, encoder_hidden_states=...)`.
        num_class_embeds: number of classes for a class-conditional `UNet2DModel` (`unet(x, t, class_labels=...)`).
        attention_head_dim: channels per attention head.
        **overrides: any other `UNet2DModel` / `UNet2DConditionModel` config field (e.g. `block_out_channels`).
    """
    diffusers = require_diffusers()
    if cross_attention_dim is not None and num_class_embeds is not None:
        raise ValueError("give cross_attention_dim (text conditioning) or num_class_embeds (class labels), not both")
    config = {**DIGITS_UNET, **overrides}
    if cross_attention_dim is not None:
        check_positive_int("cross_attention_dim", cross_attention_dim)
        return diffusers.UNet2DConditionModel(
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=cross_attention_dim,
            attention_head_dim=attention_head_dim,
            **config,
        )
    if num_class_embeds is not None:
        check_positive_int("num_class_embeds", num_class_embeds)
    return diffusers.UNet2DModel(
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=attention_head_dim,
        num_class_embeds=num_class_embeds,
        **config,
    )


def ddpm_scheduler(num_train_timesteps: int = 1000, beta_schedule: str = "squaredcos_cap_v2"):
    """The zoo's training noise schedule: a diffusers `DDPMScheduler` with ε-prediction.

    The cosine schedule (Nichol & Dhariwal, 2021) is the default: on 8×8 images the linear one destroys the signal
    within the first few hundred steps, leaving most of the trained timesteps uninformative.
    """
    diffusers = require_diffusers()
    if check_positive_int("num_train_timesteps", num_train_timesteps) < 2:
        raise ValueError(f"num_train_timesteps must be at least 2, got {num_train_timesteps}")
    return diffusers.DDPMScheduler(
        num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule, prediction_type="epsilon"
    )


def denoiser_output(denoiser: Callable, noisy: torch.Tensor, timesteps: torch.Tensor, **conditioning) -> torch.Tensor:
    """`denoiser(noisy, timesteps, **conditioning)` as a tensor (a diffusers output's `.sample`, a tuple's first)."""
    output = denoiser(noisy, timesteps, **conditioning)
    if hasattr(output, "sample"):
        output = output.sample
    elif isinstance(output, tuple):
        output = output[0]
    if not isinstance(output, torch.Tensor) or output.shape != noisy.shape:
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(f"the denoiser must return a tensor shaped like its input {tuple(noisy.shape)}, got {got}")
    return output


def epsilon_loss(
    denoiser: Callable,
    scheduler,
    x0: torch.Tensor,
    *,
    conditioning: Mapping[str, Any] | None = None,
    timesteps: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """The ε-prediction objective (Ho et al., 2020, Eq. 14):

        L(x₀) = E_{t, ε} ‖ε − ε_θ(√ᾱ_t x₀ + √(1 − ᾱ_t) ε, t)‖²,   t ~ U{0, …, T−1}, ε ~ N(0, I),

    averaged over the dimensions of each sample (one value per sample with `reduction="none"`).

    Args:
        denoiser: `f(x_t, t, **conditioning)` predicting ε (a diffusers U-Net or any module).
        scheduler: a diffusers scheduler with `add_noise` and `config.num_train_timesteps` (its ᾱ_t).
        x0: clean samples `(B, ...)`.
        conditioning: keyword arguments for the denoiser (`encoder_hidden_states`, `class_labels`, ...).
        timesteps, noise: fixed t and ε (drawn when not given).
    """
    check_reduction(reduction)
    if not isinstance(x0, torch.Tensor) or not x0.is_floating_point() or x0.dim() < 2:
        raise ValueError("x0 must be a float tensor with a batch dimension, shaped (B, ...)")
    batch = x0.shape[0]
    if timesteps is None:
        high = scheduler.config.num_train_timesteps
        timesteps = torch.randint(0, high, (batch,), generator=generator, device="cpu").to(x0.device)
    elif timesteps.shape != (batch,):
        raise ValueError(f"timesteps must have shape ({batch},), got {tuple(timesteps.shape)}")
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device="cpu", dtype=x0.dtype).to(x0.device)
    elif noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    noisy = scheduler.add_noise(x0, noise, timesteps)
    predicted = denoiser_output(denoiser, noisy, timesteps, **dict(conditioning or {}))
    per_sample = (predicted.float() - noise.float()).pow(2).flatten(1).mean(dim=1)
    return reduce_loss(per_sample, reduction)


@torch.no_grad()
def sample(
    denoiser: Callable,
    scheduler,
    shape: tuple[int, ...],
    *,
    num_inference_steps: int = 50,
    conditioning: Mapping[str, Any] | None = None,
    unconditional: Mapping[str, Any] | None = None,
    guidance_scale: float = 1.0,
    generator: torch.Generator | None = None,
    initial_noise: torch.Tensor | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw samples by running `scheduler.step` from pure noise, with classifier-free guidance when asked:

        ε̂ = ε_θ(x_t, t, ∅) + w · (ε_θ(x_t, t, c) − ε_θ(x_t, t, ∅))      (Ho & Salimans, 2022)

    Args:
        denoiser: `f(x_t, t, **conditioning)` predicting ε.
        scheduler: a diffusers scheduler (DDPM: ancestral sampling; DDIM: deterministic with `eta=0`). Its timesteps
            are set to `num_inference_steps` here.
        shape: `(B, ...)` of the samples.
        conditioning: keyword arguments for the conditional prediction c.
        unconditional: keyword arguments for the unconditional prediction ∅; needed when `guidance_scale != 1`.
        guidance_scale: w; 1 is plain conditional sampling (no second forward).
        generator: seeds the initial noise and the scheduler's noise.
        initial_noise: x_T to start from (drawn when not given).
    """
    check_positive_int("num_inference_steps", num_inference_steps)
    check_number("guidance_scale", guidance_scale, low=0.0)
    if guidance_scale != 1.0 and unconditional is None:
        raise ValueError(
            "guidance_scale != 1 needs `unconditional` keyword arguments for the unconditional prediction"
        )
    if device is None:
        parameters = getattr(denoiser, "parameters", None)
        device = next(parameters()).device if parameters is not None else torch.device("cpu")
    if initial_noise is None:
        x = torch.randn(shape, generator=generator, device="cpu").to(device)
    elif tuple(initial_noise.shape) != tuple(shape):
        raise ValueError(f"initial_noise must have shape {tuple(shape)}, got {tuple(initial_noise.shape)}")
    else:
        x = initial_noise.to(device)
    x = x * getattr(scheduler, "init_noise_sigma", 1.0)
    scheduler.set_timesteps(num_inference_steps)
    conditioning = dict(conditioning or {})
    for t in scheduler.timesteps:
        timesteps = torch.full((shape[0],), int(t), device=device, dtype=torch.long)
        model_input = scheduler.scale_model_input(x, t)
        eps = denoiser_output(denoiser, model_input, timesteps, **conditioning)
        if guidance_scale != 1.0:
            eps_uncond = denoiser_output(denoiser, model_input, timesteps, **dict(unconditional))
            eps = eps_uncond + guidance_scale * (eps - eps_uncond)
        x = scheduler.step(eps, t, x, generator=generator).prev_sample
    return x


def train_denoiser(
    denoiser: torch.nn.Module,
    data: torch.Tensor,
    scheduler,
    *,
    steps: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    conditions: torch.Tensor | None = None,
    conditioning_fn: Callable[[torch.Tensor], Mapping[str, Any]] | None = None,
    seed: int = 0,
    progress: bool = False,
) -> list[float]:
    """Fit a denoiser with [`epsilon_loss`] by AdamW on minibatches of `data` (cosine learning-rate decay).

    Args:
        data: clean samples `(N, ...)`.
        conditions: one condition per sample (labels, token ids, ...), passed through `conditioning_fn` to make the
            denoiser's keyword arguments for each batch (e.g. `lambda y: {"class_labels": y}`).
        progress: show a tqdm bar.

    Returns:
        the loss of every step.
    """
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    check_number("learning_rate", learning_rate, low=0.0, low_open=True)
    if (conditions is None) != (conditioning_fn is None):
        raise ValueError("give both `conditions` and `conditioning_fn`, or neither")
    if conditions is not None and len(conditions) != len(data):
        raise ValueError(f"conditions has {len(conditions)} rows for {len(data)} samples")
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(denoiser.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    device = next(denoiser.parameters()).device
    was_training = denoiser.training
    denoiser.train()
    losses = []
    for _ in tqdm(range(steps), desc="denoiser", disable=not progress):
        index = torch.randint(0, len(data), (min(batch_size, len(data)),), generator=generator)
        kwargs = dict(conditioning_fn(conditions[index].to(device))) if conditions is not None else {}
        loss = epsilon_loss(denoiser, scheduler, data[index].to(device), conditioning=kwargs, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    denoiser.train(was_training)
    return losses


def digits_images(split: str = "train", *, test_size: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 digits as `(images (N, 1, 8, 8) in [-1, 1], labels (N,))` for `split` "train" or "test"."""
    from hf_methods.common.data import load_digits

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    train, test = load_digits(test_size=test_size, seed=seed, flatten=False)
    part = train if split == "train" else test
    return torch.from_numpy(part.x) * 2.0 - 1.0, torch.from_numpy(part.y)
