"""The DiTi objective: a time-step-chunked representation makes up a frozen diffusion model's error.

DiTi (Yue et al., ICLR 2024) trains the encoder E and a shift decoder G against a frozen ε-prediction model ε_θ in
the PDAE form (Zhang et al., 2022): for t ~ U{0, …, T−1}, ε ~ N(0, I) and x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε,

    L = w(t) · ‖ε − (ε_θ(x_t, t) + c(t) · G(x_t, t, z_t))‖²,
    c(t) = −√α_t (1 − ᾱ_{t−1}) / √(1 − ᾱ_t)            (ᾱ_{−1} = 1, so c(0) = 0),
    w(t) = SNR(t)^γ / (1 + SNR(t)),  SNR(t) = ᾱ_t / (1 − ᾱ_t),  γ = 0.1,

where z_t is z = E(x₀) restricted to the chunks of the time-steps up to t (official `pdae_timestep_loss` in
`model/diffusion/gaussian_diffusion.py`, masks from `trainer/diti_trainer.py`):

- mode `"base"`: z_t = z ⊙ masks[idx(t)] (chunks 0..idx(t), all receiving gradient);
- mode `"stop_grad"` (the paper's default): z_t = sg(z) ⊙ receding[idx(t)] + z ⊙ k_masks[idx(t)], so the chunks
  before idx(t) are read but not trained at t, and chunk i is trained only by the time-steps of range i.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hf_methods.common.checks import check_number, check_reduction, reduce_loss
from hf_methods.common.diffusion import denoiser_output

DITI_MODES = ("stop_grad", "base")


def _alphas_cumprod(scheduler_or_alphas) -> torch.Tensor:
    alphas_cumprod = getattr(scheduler_or_alphas, "alphas_cumprod", scheduler_or_alphas)
    if not isinstance(alphas_cumprod, torch.Tensor) or alphas_cumprod.dim() != 1 or alphas_cumprod.numel() < 2:
        raise ValueError("give a diffusers scheduler or its `alphas_cumprod` (a 1-D tensor of at least 2 values)")
    alphas_cumprod = alphas_cumprod.double()
    if not ((alphas_cumprod > 0) & (alphas_cumprod < 1)).all() or (alphas_cumprod.diff() > 0).any():
        raise ValueError("`alphas_cumprod` must be non-increasing values in (0, 1)")
    return alphas_cumprod


def shift_coefficients(scheduler_or_alphas) -> torch.Tensor:
    r"""c(t) = −√α_t (1 − ᾱ_{t−1}) / √(1 − ᾱ_t) for every t, with ᾱ_{−1} = 1 (so c(0) = 0), as float32 `(T,)`.

    The posterior mean of the reverse step moves by c(t)·G when ε̂ = ε_θ + c(t)·G replaces ε_θ, which is how the
    decoder's output enters the sampler (PDAE's "mean shift").

    Args:
        scheduler_or_alphas: a diffusers scheduler (its `alphas_cumprod`) or the tensor ᾱ_0, …, ᾱ_{T−1} itself.
    """
    alphas_cumprod = _alphas_cumprod(scheduler_or_alphas)
    previous = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
    alphas = alphas_cumprod / previous
    return (-alphas.sqrt() * (1 - previous) / (1 - alphas_cumprod).sqrt()).float()


def loss_weights(scheduler_or_alphas, gamma: float = 0.1) -> torch.Tensor:
    r"""w(t) = SNR(t)^γ / (1 + SNR(t)), SNR(t) = ᾱ_t / (1 − ᾱ_t), for every t, as float32 `(T,)` (official γ = 0.1)."""
    check_number("gamma", gamma, low=0.0)
    alphas_cumprod = _alphas_cumprod(scheduler_or_alphas)
    snr = alphas_cumprod / (1 - alphas_cumprod)
    return (snr**gamma / (1 + snr)).float()


def check_mode(mode: str) -> str:
    if mode not in DITI_MODES:
        raise ValueError(f"`mode` must be one of {DITI_MODES}, got {mode!r}")
    return mode


def conditioning_code(
    representation: torch.Tensor,
    chunk_index: torch.Tensor,
    masks: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    mode: str = "stop_grad",
) -> torch.Tensor:
    r"""z_t, the part of z the decoder sees at each sample's time-step range.

    `"base"`: z ⊙ masks[i]; `"stop_grad"`: sg(z) ⊙ receding[i] + z ⊙ k_masks[i], with i = idx(t) per sample.

    Args:
        representation: z of shape `(batch_size, latent_dim)`.
        chunk_index: idx(t) per sample, a long tensor `(batch_size,)`.
        masks: `(masks, k_masks, receding_masks)` from `chunk_masks(config)`, each `(num_chunks, latent_dim)`.
        mode: `"stop_grad"` or `"base"`.
    """
    check_mode(mode)
    cumulative, k_masks, receding = (m.to(device=representation.device, dtype=representation.dtype) for m in masks)
    if representation.dim() != 2 or representation.shape[1] != cumulative.shape[1]:
        raise ValueError(
            f"`representation` must have shape (batch_size, {cumulative.shape[1]}), got {tuple(representation.shape)}"
        )
    if chunk_index.shape != representation.shape[:1]:
        raise ValueError(f"`chunk_index` must have shape ({representation.shape[0]},), got {tuple(chunk_index.shape)}")
    if mode == "base":
        return representation * cumulative[chunk_index]
    return representation.detach() * receding[chunk_index] + representation * k_masks[chunk_index]


def diti_loss(
    representation: torch.Tensor,
    pixel_values: torch.Tensor,
    *,
    frozen_diffusion: Callable,
    decoder: Callable,
    scheduler,
    chunk_index: torch.Tensor,
    masks: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    mode: str = "stop_grad",
    gamma: float = 0.1,
    timesteps: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""The DiTi loss L = w(t)·‖ε − (ε_θ(x_t, t) + c(t)·G(x_t, t, z_t))‖², averaged over pixels per sample.

    Args:
        representation: z = E(x₀), `(batch_size, latent_dim)`.
        pixel_values: x₀, `(batch_size, C, H, W)` in the diffusion model's scale ([-1, 1]).
        frozen_diffusion: ε_θ(x_t, t), e.g. a diffusers `UNet2DModel` (run without gradient).
        decoder: G(x_t, t, z_t) returning a tensor shaped like x_t (e.g. `DiTiShiftDecoder`).
        scheduler: the diffusers noise scheduler ε_θ was trained with (its `alphas_cumprod` and `add_noise`).
        chunk_index: idx(t) for every t, `(T,)` (`timestep_chunk_index(config)`).
        masks: `chunk_masks(config)`.
        mode: `"stop_grad"` (default, the paper's) or `"base"`; see [`conditioning_code`].
        gamma: γ of the weight w(t).
        timesteps, noise: fixed t `(batch_size,)` and ε (drawn when not given).
        reduction: `"mean"`, `"sum"` or `"none"` (one value per sample).
    """
    check_reduction(reduction)
    check_mode(mode)
    if not isinstance(pixel_values, torch.Tensor) or not pixel_values.is_floating_point() or pixel_values.dim() < 2:
        raise ValueError("`pixel_values` must be a float tensor of images shaped (batch_size, ...)")
    batch = pixel_values.shape[0]
    if representation.shape[0] != batch:
        raise ValueError(f"`representation` has {representation.shape[0]} rows for {batch} images")
    num_timesteps = scheduler.config.num_train_timesteps
    if chunk_index.shape != (num_timesteps,):
        raise ValueError(
            f"`chunk_index` must give idx(t) for the scheduler's {num_timesteps} time-steps, got shape "
            f"{tuple(chunk_index.shape)}: the encoder's num_train_timesteps must match the scheduler's"
        )
    device = pixel_values.device
    if timesteps is None:
        timesteps = torch.randint(0, num_timesteps, (batch,), generator=generator).to(device)
    elif timesteps.shape != (batch,) or timesteps.min() < 0 or timesteps.max() >= num_timesteps:
        raise ValueError(f"`timesteps` must be {batch} integers in [0, {num_timesteps})")
    if noise is None:
        noise = torch.randn(pixel_values.shape, generator=generator, dtype=pixel_values.dtype).to(device)
    elif noise.shape != pixel_values.shape:
        raise ValueError(f"`noise` must have the shape of `pixel_values` {tuple(pixel_values.shape)}")
    noisy = scheduler.add_noise(pixel_values, noise, timesteps)
    with torch.no_grad():
        eps = denoiser_output(frozen_diffusion, noisy, timesteps)
    code = conditioning_code(representation, chunk_index.to(device)[timesteps], masks, mode)
    shift = denoiser_output(decoder, noisy, timesteps, z=code)
    view = (batch,) + (1,) * (pixel_values.dim() - 1)
    coef = shift_coefficients(scheduler).to(device)[timesteps].view(view)
    weight = loss_weights(scheduler, gamma).to(device)[timesteps].view(view)
    per_sample = (weight * (noise - (eps + coef * shift)).pow(2)).flatten(1).mean(dim=1)
    return reduce_loss(per_sample, reduction)


__all__ = ["DITI_MODES", "conditioning_code", "diti_loss", "loss_weights", "shift_coefficients"]
