"""Training pieces shared by `recipes/diti.py`, the claim check and the tests.

- [`textured_digits`]: scikit-learn's 8×8 digits with a fine attribute added, a checkerboard texture of random signed
  amplitude s (x = (1 − A)·digit + s·checkerboard, s ~ U[−A, A]); the digit is the coarse attribute;
- [`train_base_diffusion`]: the frozen diffusion model, a small diffusers `UNet2DModel` fitted with the zoo's
  ε-prediction loop;
- [`train_diti`]: the encoder and shift decoder trained with the DiTi loss in a plain torch loop (the claim check's
  loop; the recipe runs the same loss through `RecipeRunner`, and [`DiTiTrainer`] through `transformers.Trainer`);
- [`DiTiArguments`]: the recipe's arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hf_methods.common.checks import check_number, check_positive_int
from hf_methods.harness.recipe import RecipeArguments

from .loss import DITI_MODES, diti_loss

BASE_CHANNELS = (16, 32)


def checkerboard(size: int = 8) -> torch.Tensor:
    """(−1)^(i+j) on a `size`×`size` grid, the highest spatial frequency of the image: the fine texture."""
    index = torch.arange(size)
    return ((index[:, None] + index[None, :]) % 2 * -2 + 1).float()


def textured_digits(
    split: str = "train", *, amplitude: float = 0.25, seed: int = 0, test_size: float = 0.2
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""Digits carrying two independent attributes: the digit (coarse shape) and a checkerboard texture (fine).

    x = (1 − A)·d + s·checkerboard, with d the digit image in [-1, 1], s ~ U[−A, A] drawn per image (seeded by
    `seed` and the split) and A = `amplitude`, so x stays in [-1, 1].

    Returns:
        images `(N, 1, 8, 8)` and `{"digit": (N,) long, "texture": (N,) float}`.
    """
    from hf_methods.common.diffusion import digits_images

    check_number("amplitude", amplitude, low=0.0, high=1.0, high_open=True)
    images, labels = digits_images(split, test_size=test_size, seed=seed)
    generator = torch.Generator().manual_seed(seed * 2 + (split == "test"))
    texture = (torch.rand(len(images), generator=generator) * 2 - 1) * amplitude
    images = (1 - amplitude) * images + texture.view(-1, 1, 1, 1) * checkerboard(images.shape[-1])
    return images, {"digit": labels.long(), "texture": texture}


def base_unet(block_out_channels=BASE_CHANNELS):
    """The frozen base ε_θ: the zoo's digits U-Net (`tiny_unet`) at `block_out_channels` channels."""
    from hf_methods.common.diffusion import tiny_unet

    return tiny_unet(block_out_channels=tuple(block_out_channels))


def train_base_diffusion(
    images: torch.Tensor,
    scheduler,
    *,
    steps: int,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
    seed: int = 0,
    block_out_channels=BASE_CHANNELS,
):
    """Fits ε_θ on `images` with the ε-prediction loss, then freezes it; returns `(unet, losses)`."""
    from hf_methods.common.diffusion import train_denoiser

    torch.manual_seed(seed)
    unet = base_unet(block_out_channels)
    losses = train_denoiser(
        unet, images, scheduler, steps=steps, batch_size=batch_size, learning_rate=learning_rate, seed=seed
    )
    return unet.eval().requires_grad_(False), losses


def train_diti(
    encoder,
    images: torch.Tensor,
    frozen_diffusion,
    scheduler,
    *,
    steps: int,
    mode: str = "stop_grad",
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    seed: int = 0,
    decoder=None,
    gamma: float = 0.1,
):
    """Trains `encoder` (a [`DiTiEncoder`]) and the shift decoder with the DiTi loss by Adam; returns (decoder, losses).

    Minibatches, time-steps and noise come from a generator seeded with `seed`; the decoder (a
    [`DiTiShiftDecoder`] unless given) is initialised under `seed` as well.
    """
    from .decoder import DiTiShiftDecoder
    from .modeling_diti import chunk_masks, timestep_chunk_index

    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    check_number("learning_rate", learning_rate, low=0.0, low_open=True)
    config = encoder.config
    if decoder is None:
        torch.manual_seed(seed)
        decoder = DiTiShiftDecoder(config.latent_dim)
    chunk_index, masks = timestep_chunk_index(config), chunk_masks(config)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=learning_rate)
    frozen_diffusion.eval().requires_grad_(False)
    encoder.train()
    decoder.train()
    losses = []
    for _ in range(steps):
        index = torch.randint(0, len(images), (min(batch_size, len(images)),), generator=generator)
        x0 = images[index]
        z = encoder(pixel_values=x0).representation
        loss = diti_loss(
            z,
            x0,
            frozen_diffusion=frozen_diffusion,
            decoder=decoder,
            scheduler=scheduler,
            chunk_index=chunk_index,
            masks=masks,
            mode=mode,
            gamma=gamma,
            generator=generator,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    encoder.eval()
    decoder.eval()
    return decoder, losses


@dataclass
class DiTiArguments(RecipeArguments):
    max_steps: int = field(default=300, metadata={"help": "DiTi optimisation steps (encoder + shift decoder)."})
    checkpoint_every: int = field(default=100, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=20, metadata={"help": "Log training metrics every N steps."})
    base_steps: int = field(
        default=400, metadata={"help": "Steps fitting the frozen base diffusion model before DiTi."}
    )
    base_learning_rate: float = field(default=2e-3, metadata={"help": "AdamW learning rate of the base model."})
    latent_dim: int = field(default=16, metadata={"help": "Dimension d of the representation z."})
    num_chunks: int = field(default=4, metadata={"help": "Number k of chunks / time-step ranges (1: PDAE)."})
    num_train_timesteps: int = field(default=1000, metadata={"help": "Diffusion time-steps T."})
    mode: str = field(default="stop_grad", metadata={"help": f"Conditioning mode: one of {DITI_MODES}."})
    gamma: float = field(default=0.1, metadata={"help": "γ of the loss weight SNR^γ / (1 + SNR)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate of encoder and decoder."})
    batch_size: int = field(default=64, metadata={"help": "Batch size per process."})
    texture_amplitude: float = field(
        default=0.25, metadata={"help": "Amplitude A of the checkerboard texture of the data (0: plain digits)."}
    )

    def validate(self) -> None:
        super().validate()
        if self.mode not in DITI_MODES:
            raise ValueError(f"--mode must be one of {DITI_MODES}, got {self.mode!r}")
        for name in ("base_steps", "latent_dim", "num_chunks", "num_train_timesteps", "batch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.num_chunks > self.latent_dim:
            raise ValueError(f"--num_chunks ({self.num_chunks}) must be <= --latent_dim ({self.latent_dim})")
        if self.num_train_timesteps < 2:
            raise ValueError(f"--num_train_timesteps must be >= 2, got {self.num_train_timesteps}")
        for name in ("learning_rate", "base_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.gamma < 0:
            raise ValueError(f"--gamma must be >= 0, got {self.gamma}")
        if not 0 <= self.texture_amplitude < 1:
            raise ValueError(f"--texture_amplitude must be in [0, 1), got {self.texture_amplitude}")

    def build_config(self):
        """The encoder's `DiTiConfig` for these arguments."""
        from .configuration_diti import DiTiConfig

        return DiTiConfig(
            latent_dim=self.latent_dim, num_chunks=self.num_chunks, num_train_timesteps=self.num_train_timesteps
        )


__all__ = [
    "DiTiArguments",
    "base_unet",
    "checkerboard",
    "textured_digits",
    "train_base_diffusion",
    "train_diti",
]
