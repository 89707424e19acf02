"""The shift decoder G(x_t, t, z_t) of DiTi, a diffusers U-Net conditioned on the (masked) representation.

The official decoder (`model/unet/shift_unet.py`, after PDAE) reuses the frozen U-Net's encoder half and adds a second
middle and output path conditioned on z. Here G is a separate small diffusers `UNet2DConditionModel` without attention
whose class embedding is a learned projection of z_t added to the time embedding (`class_embed_type="projection"`),
i.e. z conditions every residual block as the time-step does; nothing of it is new code.
"""

from __future__ import annotations

import torch
from torch import nn

from hf_methods.common.checks import check_positive_int
from hf_methods.common.diffusion import DIGITS_UNET, require_diffusers


class DiTiShiftDecoder(nn.Module):
    """G(x_t, t, z_t): a diffusers `UNet2DConditionModel` whose class embedding projects z_t (`latent_dim`).

    Args:
        latent_dim: dimension d of z.
        block_out_channels: channels of the U-Net's resolutions (8×8, 4×4 for digits).
        **overrides: other `UNet2DConditionModel` config fields (`sample_size`, `in_channels`, ...; defaults are
            the zoo's 8×8 digits U-Net).
    """

    def __init__(self, latent_dim: int, block_out_channels: tuple[int, ...] = (16, 32), **overrides):
        super().__init__()
        check_positive_int("latent_dim", latent_dim)
        diffusers = require_diffusers()
        config = {**DIGITS_UNET, "block_out_channels": tuple(block_out_channels), **overrides}
        levels = len(config["block_out_channels"])
        self.latent_dim = latent_dim
        self.unet = diffusers.UNet2DConditionModel(
            down_block_types=("DownBlock2D",) * levels,
            up_block_types=("UpBlock2D",) * levels,
            mid_block_type="UNetMidBlock2D",
            class_embed_type="projection",
            projection_class_embeddings_input_dim=latent_dim,
            **config,
        )

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The shift G(x_t, t, z_t), shaped like `sample`."""
        if z.dim() != 2 or z.shape != (sample.shape[0], self.latent_dim):
            raise ValueError(f"`z` must have shape ({sample.shape[0]}, {self.latent_dim}), got {tuple(z.shape)}")
        return self.unet(sample, timestep, encoder_hidden_states=None, class_labels=z).sample


__all__ = ["DiTiShiftDecoder"]
