"""`DiTiTrainer`: a `transformers.Trainer` that trains a `DiTiEncoder` and its shift decoder against a frozen DDPM."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Trainer

from hf_methods.common.checkpointing import ExtraStateCheckpointMixin

from .decoder import DiTiShiftDecoder
from .loss import check_mode, diti_loss
from .modeling_diti import chunk_masks, timestep_chunk_index


class DiTiTrainer(ExtraStateCheckpointMixin, Trainer):
    r"""Trains a [`DiTiEncoder`] (the `model`) with the DiTi loss (see `hf_methods.models.diti.loss`):

        L = w(t) · ‖ε − (ε_θ(x_t, t) + c(t) · G(x_t, t, z_t))‖²,

    ε_θ being `frozen_diffusion` (never updated; its parameters are frozen here) and G the shift decoder, trained with
    the encoder (its parameters join the optimizer as a second group; its state is saved in every checkpoint as
    `diti_decoder.pt` and in `save_model` as `shift_decoder.pt`). Batches carry `pixel_values` in [-1, 1]; other
    columns (labels) are ignored: the objective is unsupervised.

    Args:
        model ([`DiTiEncoder`]): the encoder; its config gives k, T and the time-step partition.
        frozen_diffusion (`nn.Module`): ε_θ(x_t, t), e.g. a trained diffusers `UNet2DModel`.
        scheduler: the diffusers noise scheduler ε_θ was trained with (`DDPMScheduler`); its `num_train_timesteps`
            must equal the config's.
        decoder (`nn.Module`, *optional*): G(x_t, t, z) → shift shaped like x_t; a [`DiTiShiftDecoder`] by default.
        mode (`str`, *optional*, defaults to `"stop_grad"`): `"stop_grad"` (each chunk trained by its own time-step
            range only, the paper's default) or `"base"` (cumulative masks, all visible chunks trained).
        gamma (`float`, *optional*, defaults to 0.1): γ of the weight w(t) = SNR^γ / (1 + SNR).
        *args, **kwargs: passed to `transformers.Trainer`.

    Example:

    ```python
    >>> trainer = DiTiTrainer(model=encoder, frozen_diffusion=unet, scheduler=ddpm_scheduler(), args=args,
    ...                       train_dataset=dataset)
    >>> trainer.train()
    ```
    """

    extra_state_file = "diti_decoder.pt"
    extra_state_description = "the DiTi shift decoder"
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args,
        frozen_diffusion: nn.Module,
        scheduler,
        decoder: nn.Module | None = None,
        mode: str = "stop_grad",
        gamma: float = 0.1,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        config = getattr(self.model, "config", None)
        if config is None or not hasattr(config, "chunk_slices"):
            raise TypeError(f"model must be a DiTiEncoder, got {type(self.model).__name__}")
        if not isinstance(frozen_diffusion, nn.Module):
            raise TypeError(
                f"frozen_diffusion must be an nn.Module (a trained denoiser), got {type(frozen_diffusion)}"
            )
        steps = getattr(getattr(scheduler, "config", None), "num_train_timesteps", None)
        if steps != config.num_train_timesteps:
            raise ValueError(
                f"scheduler has {steps} training time-steps but the encoder's config.num_train_timesteps is "
                f"{config.num_train_timesteps}"
            )
        self.mode = check_mode(mode)
        self.gamma = gamma
        self.noise_scheduler = scheduler
        device = self.args.device
        self.frozen_diffusion = frozen_diffusion.to(device).eval().requires_grad_(False)
        self.decoder = (decoder if decoder is not None else DiTiShiftDecoder(config.latent_dim)).to(device)
        self.chunk_index = timestep_chunk_index(config)
        self.masks = chunk_masks(config)

    def extra_state_module(self) -> nn.Module:
        return self.decoder

    def create_optimizer(self, model=None):
        """The Trainer's optimizer over the encoder, plus the decoder's parameters as one more group."""
        optimizer = super().create_optimizer(model)
        known = {id(p) for group in optimizer.param_groups for p in group["params"]}
        extra = [p for p in self.decoder.parameters() if p.requires_grad and id(p) not in known]
        if extra:
            optimizer.add_param_group({"params": extra, "weight_decay": 0.0})
        return optimizer

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        pixel_values = inputs.get("pixel_values")
        if pixel_values is None:
            raise ValueError("DiTiTrainer needs a 'pixel_values' column (images in [-1, 1]) in every batch")
        outputs = model(pixel_values=pixel_values)
        loss = diti_loss(
            outputs.representation,
            pixel_values,
            frozen_diffusion=self.frozen_diffusion,
            decoder=self.decoder,
            scheduler=self.noise_scheduler,
            chunk_index=self.chunk_index,
            masks=self.masks,
            mode=self.mode,
            gamma=self.gamma,
        )
        return (loss, outputs) if return_outputs else loss

    def train(self, *args, **kwargs):
        self.decoder.train()
        return super().train(*args, **kwargs)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        """Saves the encoder (`save_pretrained`) and the decoder's state as `shift_decoder.pt` next to it."""
        super().save_model(output_dir, _internal_call)
        import os

        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if self.args.should_save:
            torch.save(self.decoder.state_dict(), os.path.join(output_dir, "shift_decoder.pt"))


__all__ = ["DiTiTrainer"]
