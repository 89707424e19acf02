"""`HPMForPreTraining`: a transformers ViT-MAE with the loss predictor and hard-patch masking of HPM.

Wang et al., "Hard Patches Mining for Masked Image Modeling" (CVPR 2023); official code `Haochen-Wang409/HPM`
(`models_mae_learn_loss.py`: the loss-predictor decoder, `generate_mask`, `forward_learning_loss`).

The model is [`transformers.ViTMAEForPreTraining`] (encoder `vit`, pixel reconstructor `decoder`) plus a second
decoder of the same form, `loss_predictor`, whose p²·C outputs per patch are averaged into one predicted difficulty
ŝ_i. Masks are passed to ViT-MAE through its `noise` argument (it keeps the patches of lowest noise), so the encoder
and decoders are transformers' own.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import torch
from transformers.models.vit_mae.modeling_vit_mae import (
    ViTMAEDecoder,
    ViTMAEForPreTraining,
    ViTMAEForPreTrainingOutput,
    build_2d_sinusoidal_position_embedding,
)

from hf_methods.common.checks import check_number

from .configuration_hpm import HPMConfig
from .loss import hard_patch_ranking_loss, patch_reconstruction_losses


def num_masked_patches(num_patches: int, mask_ratio: float) -> int:
    """How many of `num_patches` ViT-MAE masks at `mask_ratio` (it keeps int(L · (1 − mask_ratio)))."""
    return num_patches - int(num_patches * (1 - mask_ratio))


def easy_to_hard_ratio(epoch: float, total_epochs: int, max_ratio: float = 0.5) -> float:
    """The easy-to-hard schedule α_t = max_ratio · (t + 1) / T of the share of masked patches mined as hard.

    Args:
        epoch (`float`): the current epoch t, counted from 0 (t ∈ [0, T)).
        total_epochs (`int`): the number of epochs T.
        max_ratio (`float`): α at the last epoch (0.5 in the official code).
    """
    if not isinstance(total_epochs, int) or isinstance(total_epochs, bool) or total_epochs < 1:
        raise ValueError(f"total_epochs must be a positive integer, got {total_epochs!r}")
    epoch = check_number("epoch", epoch, low=0, high=total_epochs, high_open=True)
    max_ratio = check_number("max_ratio", max_ratio, low=0, high=1)
    return max_ratio * (epoch + 1) / total_epochs


def hard_patch_mask(
    predicted_losses: torch.Tensor,
    mask_ratio: float,
    hard_ratio: float,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """HPM's mask: the predicted-hardest patches plus random ones, `(batch, num_patches)`, 1 = masked.

    Of the M = L − int(L · (1 − mask_ratio)) masked patches, the int(M · hard_ratio) with the largest ŝ are masked
    and the others are drawn uniformly from the remaining patches (`generate_mask` of the official code).

    Args:
        predicted_losses (`torch.Tensor` of shape `(batch, num_patches)`): ŝ for every patch of the unmasked images.
        mask_ratio (`float`): the share of patches masked, in [0, 1).
        hard_ratio (`float`): the share α of the masked patches chosen as the hardest, in [0, 1].
        generator (`torch.Generator`, *optional*): for the random part.
    """
    if not isinstance(predicted_losses, torch.Tensor) or not predicted_losses.is_floating_point():
        raise TypeError("predicted_losses must be a floating-point tensor of shape (batch, num_patches)")
    if predicted_losses.dim() != 2:
        raise ValueError(
            f"predicted_losses must be 2-D (batch, num_patches), got shape {tuple(predicted_losses.shape)}"
        )
    mask_ratio = check_number("mask_ratio", mask_ratio, low=0, high=1, high_open=True)
    hard_ratio = check_number("hard_ratio", hard_ratio, low=0, high=1)
    batch, length = predicted_losses.shape
    num_masked = num_masked_patches(length, mask_ratio)
    num_hard = int(num_masked * hard_ratio)
    device = predicted_losses.device
    # random scores in [0, 1) for every patch; the hardest get 2 so they come first; then the top M are masked
    order = torch.rand(batch, length, generator=generator, device=generator.device if generator else device).to(device)
    if num_hard > 0:
        hardest = predicted_losses.detach().topk(num_hard, dim=1).indices
        order = order.scatter(1, hardest, 2.0)
    mask = torch.zeros(batch, length, device=device)
    mask.scatter_(1, order.topk(num_masked, dim=1).indices, 1.0)
    return mask


def mask_to_noise(mask: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """ViT-MAE `noise` that reproduces `mask` (1 = masked): masked patches get noise in [1, 1.5), kept ones [0, 0.5)."""
    jitter = torch.rand(mask.shape, generator=generator, device=generator.device if generator else mask.device)
    return mask.float() + 0.5 * jitter.to(mask.device)


@dataclass
class HPMForPreTrainingOutput(ViTMAEForPreTrainingOutput):
    """[`transformers.models.vit_mae.modeling_vit_mae.ViTMAEForPreTrainingOutput`] plus the parts of HPM's loss.

    Args:
        reconstruction_loss (`torch.Tensor`): mean ℓ over the masked patches.
        ranking_loss (`torch.Tensor`): the loss predictor's ranking loss over the masked patches.
        patch_losses (`torch.Tensor` of shape `(batch, num_patches)`): ℓ_i for every patch (detached).
        predicted_losses (`torch.Tensor` of shape `(batch, num_patches)`): ŝ_i for every patch.
    """

    reconstruction_loss: torch.Tensor | None = None
    ranking_loss: torch.Tensor | None = None
    patch_losses: torch.Tensor | None = None
    predicted_losses: torch.Tensor | None = None


class HPMForPreTraining(ViTMAEForPreTraining):
    """ViT-MAE with HPM's loss predictor: L = L_rec(masked patches) + w · L_pred.

    `forward(pixel_values)` masks at random (a plain MAE step that also trains the loss predictor);
    `forward(pixel_values, predicted_losses=ŝ, hard_ratio=α)` (or `epoch=t, total_epochs=T` for α_t) masks the
    predicted-hardest patches. ŝ must be predicted on the *unmasked* images, by [`predict_patch_losses`] of an EMA
    copy of the model (as the official training does, see [`HPMTrainer`]) or of the model itself: given only
    `epoch` and `total_epochs`, the model predicts ŝ itself, without gradients.
    `model.vit` is the encoder to fine-tune or probe downstream.
    """

    config_class = HPMConfig

    def __init__(self, config: HPMConfig):
        super().__init__(config)
        predictor_config = copy.deepcopy(config)
        predictor_config.decoder_num_hidden_layers = config.loss_predictor_num_hidden_layers
        self.loss_predictor = ViTMAEDecoder(
            predictor_config, num_patches=self.vit.embeddings.patch_embeddings.num_patches
        )
        self.post_init()
        self._init_sincos_position_embeddings()

    @torch.no_grad()
    def _init_sincos_position_embeddings(self):
        # The fixed 2-D sin-cos position embeddings of MAE (ViT-MAE's own initialisation leaves them at zero when the
        # model is built from a config in the installed transformers release); loading a checkpoint overwrites them.
        grid = int(self.vit.embeddings.patch_embeddings.num_patches**0.5)
        for parameter in (
            self.vit.embeddings.position_embeddings,
            self.decoder.decoder_pos_embed,
            self.loss_predictor.decoder_pos_embed,
        ):
            if parameter.device.type == "meta":
                continue
            table = build_2d_sinusoidal_position_embedding(
                height=grid, width=grid, embed_dim=parameter.shape[-1], cls_token=True
            )
            half = table.shape[-1] // 2
            table = torch.cat([table[..., half:], table[..., :half]], dim=-1)
            parameter.copy_(table.reshape(parameter.shape).to(parameter.dtype))

    @contextlib.contextmanager
    def _without_masking(self):
        ratio = self.config.mask_ratio
        self.config.mask_ratio = 0.0
        try:
            yield
        finally:
            self.config.mask_ratio = ratio

    def encode_all_patches(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The encoder's last hidden state with every patch visible, `(batch, 1 + num_patches, hidden_size)`."""
        batch = pixel_values.shape[0]
        length = self.vit.embeddings.patch_embeddings.num_patches
        in_order = torch.arange(length, device=pixel_values.device, dtype=torch.float32).expand(batch, length)
        with self._without_masking():
            return self.vit(pixel_values, noise=in_order).last_hidden_state

    def predict_patch_losses(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """ŝ for every patch of the unmasked images, `(batch, num_patches)` (the mask-generation pass of HPM)."""
        batch = pixel_values.shape[0]
        length = self.vit.embeddings.patch_embeddings.num_patches
        latent = self.encode_all_patches(pixel_values)
        ids_restore = torch.arange(length, device=pixel_values.device).expand(batch, length)
        return self.loss_predictor(latent, ids_restore).logits.mean(-1)

    def generate_mask(
        self,
        predicted_losses: torch.Tensor,
        epoch: float,
        total_epochs: int,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The mask of epoch t (1 = masked): α_t = max_hard_ratio · (t + 1)/T of the masked patches are the hardest."""
        hard_ratio = easy_to_hard_ratio(epoch, total_epochs, self.config.max_hard_ratio)
        return hard_patch_mask(predicted_losses, self.config.mask_ratio, hard_ratio, generator=generator)

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        predicted_losses: torch.Tensor | None = None,
        hard_ratio: float | None = None,
        epoch: float | None = None,
        total_epochs: int | None = None,
        generator: torch.Generator | None = None,
        **kwargs,
    ) -> HPMForPreTrainingOutput:
        """One HPM step.

        Args:
            pixel_values (`torch.Tensor` of shape `(batch, num_channels, height, width)`): the images.
            noise (`torch.Tensor` of shape `(batch, num_patches)`, *optional*): ViT-MAE's masking noise (the lowest
                noise is kept); excludes the hard-mining arguments.
            predicted_losses (`torch.Tensor` of shape `(batch, num_patches)`, *optional*): ŝ of the unmasked images
                (from an EMA teacher); with `hard_ratio` or `epoch`/`total_epochs`, the hardest are masked.
            hard_ratio (`float`, *optional*): α, the share of masked patches mined as hard.
            epoch, total_epochs (*optional*): give α_t = max_hard_ratio · (t + 1)/T instead of `hard_ratio`.
            generator (`torch.Generator`, *optional*): for the random part of the mask.
        """
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.dim() != 4:
            raise ValueError("pixel_values must be a tensor of shape (batch, num_channels, height, width)")
        mining = (
            predicted_losses is not None or hard_ratio is not None or epoch is not None or total_epochs is not None
        )
        if noise is not None and mining:
            raise ValueError("pass either noise or the hard-mining arguments (predicted_losses, hard_ratio, epoch)")
        if mining:
            if hard_ratio is None:
                if epoch is None or total_epochs is None:
                    raise ValueError("hard mining needs hard_ratio, or both epoch and total_epochs")
                hard_ratio = easy_to_hard_ratio(epoch, total_epochs, self.config.max_hard_ratio)
            elif epoch is not None or total_epochs is not None:
                raise ValueError("pass either hard_ratio or epoch/total_epochs, not both")
            if predicted_losses is None:
                with torch.no_grad():
                    predicted_losses = self.predict_patch_losses(pixel_values)
            length = self.vit.embeddings.patch_embeddings.num_patches
            if predicted_losses.shape != (pixel_values.shape[0], length):
                raise ValueError(
                    f"predicted_losses must have shape (batch, num_patches) = {(pixel_values.shape[0], length)}, "
                    f"got {tuple(predicted_losses.shape)}"
                )
            mask = hard_patch_mask(predicted_losses, self.config.mask_ratio, hard_ratio, generator=generator)
            noise = mask_to_noise(mask, generator=generator)
        elif noise is None and generator is not None:
            length = self.vit.embeddings.patch_embeddings.num_patches
            noise = torch.rand(pixel_values.shape[0], length, generator=generator).to(pixel_values.device)

        outputs = self.vit(pixel_values, noise=noise, **kwargs)
        latent, mask, ids_restore = outputs.last_hidden_state, outputs.mask, outputs.ids_restore
        reconstruction = self.decoder(latent, ids_restore).logits
        scores = self.loss_predictor(latent, ids_restore).logits.mean(-1)

        target = self.patchify(pixel_values)
        patch_losses = patch_reconstruction_losses(reconstruction, target, norm_pix=self.config.norm_pix_loss)
        reconstruction_loss = (patch_losses * mask).sum() / mask.sum()

        # the ranking loss compares the masked patches of each image (the same number M in every image)
        num_masked = int(mask[0].sum().item())
        masked = mask.argsort(dim=1, descending=True, stable=True)[:, :num_masked]
        ranking_loss = hard_patch_ranking_loss(scores.gather(1, masked), patch_losses.detach().gather(1, masked))
        loss = reconstruction_loss + self.config.ranking_loss_weight * ranking_loss
        return HPMForPreTrainingOutput(
            loss=loss,
            logits=reconstruction,
            mask=mask,
            ids_restore=ids_restore,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            reconstruction_loss=reconstruction_loss.detach(),
            ranking_loss=ranking_loss.detach(),
            patch_losses=patch_losses.detach(),
            predicted_losses=scores,
        )
