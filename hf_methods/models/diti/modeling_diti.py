# Copyright 2026 The hf-methods Authors. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""PyTorch DiTi encoder (Yue et al., "Exploring Diffusion Time-steps for Unsupervised Representation Learning", ICLR
2024; official code `yue-zhongqi/diti`).

This file is self-contained (torch, transformers, safetensors and its own configuration only), so that a saved
checkpoint loads with `AutoModel.from_pretrained(path, trust_remote_code=True)` without hf-methods or diffusers. The
training objective, which needs the frozen diffusion model, lives in hf-methods (`hf_methods.models.diti.loss`).
"""

from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_diti import DiTiConfig


def chunk_masks(config: DiTiConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""
    The three `(k, d)` masks of the official trainer, row i for time-step range i:

    - `masks[i]`: the cumulative mask, chunks 0..i (dimensions [0, end_i));
    - `k_masks[i]`: chunk i alone (dimensions [start_i, end_i));
    - `receding_masks[i]`: the chunks before i (dimensions [0, start_i)).

    So `masks = receding_masks + k_masks`, and with k = 1 the only row is all ones (cumulative and chunk) and zeros
    (receding).

    Returns:
        `tuple(torch.FloatTensor)` of three tensors of shape `(num_chunks, latent_dim)`.
    """
    k, d = config.num_chunks, config.latent_dim
    masks, k_masks, receding = (torch.zeros(k, d) for _ in range(3))
    for i, (start, end) in enumerate(config.chunk_slices()):
        masks[i, :end] = 1.0
        k_masks[i, start:end] = 1.0
        receding[i, :start] = 1.0
    return masks, k_masks, receding


def timestep_chunk_index(config: DiTiConfig) -> torch.Tensor:
    """idx(t) for every time-step t = 0, …, T−1 as a long tensor of shape `(T,)` (see `DiTiConfig.timestep_to_chunk`)."""
    return torch.tensor(config.timestep_to_chunk(), dtype=torch.long)


@dataclass
class DiTiEncoderOutput(ModelOutput):
    r"""
    Output of [`DiTiEncoder`].

    Args:
        representation (`torch.FloatTensor` of shape `(batch_size, latent_dim)`):
            The representation z = E(x₀); chunk i is `representation[:, start_i:end_i]` with
            `config.chunk_slices()[i] == (start_i, end_i)`.
    """

    representation: torch.FloatTensor | None = None


@dataclass
class DiTiImageClassifierOutput(ModelOutput):
    r"""
    Output of [`DiTiForImageClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            Cross-entropy of `logits` against `labels`.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            Class scores of the linear head on z.
        representation (`torch.FloatTensor` of shape `(batch_size, latent_dim)`):
            The representation z the head reads.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    representation: torch.FloatTensor | None = None


class DiTiPreTrainedModel(PreTrainedModel):
    config: DiTiConfig
    base_model_prefix = "diti"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules = []

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`; a damaged weights file raises an `OSError` naming the checkpoint."""
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except SafetensorError as err:  # transformers lets safetensors' bare error through, with no path
            raise OSError(
                f"The safetensors weights (model*.safetensors) of {pretrained_model_name_or_path} are corrupted or "
                f"truncated ({err}): save or download the checkpoint again."
            ) from err

    @torch.no_grad()
    def _init_weights(self, module):
        """Linear layers: normal(0, `initializer_range`) weights, zero bias; convolutions keep torch's default."""
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)

    def _check_pixel_values(self, pixel_values) -> torch.Tensor:
        config = self.config
        if not isinstance(pixel_values, torch.Tensor):
            raise TypeError(f"`pixel_values` must be a torch.Tensor, got {type(pixel_values).__name__}.")
        if not pixel_values.is_floating_point():
            raise TypeError(f"`pixel_values` must be a float tensor (images in [-1, 1]), got {pixel_values.dtype}.")
        expected = (config.num_channels, config.image_size, config.image_size)
        if config.num_channels == 1 and pixel_values.dim() == 4 and pixel_values.shape[1] == 3:
            # image pipelines open every image as RGB: a grayscale model reads the mean of the three channels
            pixel_values = pixel_values.mean(dim=1, keepdim=True)
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(
                f"`pixel_values` must have shape (batch_size, {', '.join(map(str, expected))}), "
                f"got {tuple(pixel_values.shape)}."
            )
        return pixel_values


class DiTiEncoder(DiTiPreTrainedModel):
    r"""
    The DiTi encoder E: x₀ ↦ z ∈ R^d, a stack of 3×3 convolutions with SiLU (every layer after the first halving the
    resolution), flattened and projected linearly to `latent_dim`. Images are expected in [-1, 1], the scale of the
    diffusion model it is trained with; a grayscale model (`num_channels=1`) also takes 3-channel images (as image
    pipelines give them) and reads the mean of the channels.

    The chunk structure is in the configuration: chunk i of z (`config.chunk_slices()[i]`) is trained to compensate
    the attributes the forward diffusion destroys in time-step range i ([`chunk_masks`], [`timestep_chunk_index`]).

    Args:
        config ([`DiTiConfig`]): model configuration.
    """

    def __init__(self, config: DiTiConfig):
        super().__init__(config)
        layers, channels, size = [], config.num_channels, config.image_size
        for i, hidden in enumerate(config.hidden_sizes):
            stride = 1 if i == 0 else 2
            layers += [nn.Conv2d(channels, hidden, 3, stride=stride, padding=1), nn.SiLU()]
            channels = hidden
            size = size if stride == 1 else (size + 1) // 2
        self.convolutions = nn.Sequential(*layers)
        self.projection = nn.Linear(channels * size * size, config.latent_dim)
        self.post_init()

    def forward(
        self, pixel_values: torch.Tensor, return_dict: bool | None = None, **kwargs
    ) -> DiTiEncoderOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, image_size, image_size)`):
                Images in [-1, 1].
            return_dict (`bool`, *optional*):
                Whether to return a [`DiTiEncoderOutput`] instead of a plain tuple.

        Returns:
            [`DiTiEncoderOutput`] or `tuple(torch.FloatTensor)`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        hidden = self.convolutions(self._check_pixel_values(pixel_values))
        representation = self.projection(hidden.flatten(1))
        output = DiTiEncoderOutput(representation=representation)
        return output if return_dict else output.to_tuple()

    def chunks(self, representation: torch.Tensor) -> list[torch.Tensor]:
        """Splits z `(batch_size, latent_dim)` into its k chunks, in time-step order."""
        if representation.shape[-1] != self.config.latent_dim:
            raise ValueError(
                f"`representation` must end with latent_dim={self.config.latent_dim}, got {tuple(representation.shape)}."
            )
        return [representation[..., start:end] for start, end in self.config.chunk_slices()]


class DiTiForImageClassification(DiTiPreTrainedModel):
    r"""
    A DiTi encoder with a linear head on z: the linear probe of the paper's attribute classification. Freeze the
    encoder (`model.diti.requires_grad_(False)`) to train the probe alone.

    Args:
        config ([`DiTiConfig`]): model configuration (`num_labels` classes).
    """

    def __init__(self, config: DiTiConfig):
        super().__init__(config)
        self.diti = DiTiEncoder(config)
        self.classifier = nn.Linear(config.latent_dim, config.num_labels)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> DiTiImageClassifierOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, image_size, image_size)`):
                Images in [-1, 1].
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Class indices in [0, num_labels); when given, `loss` is the cross-entropy.
            return_dict (`bool`, *optional*):
                Whether to return a [`DiTiImageClassifierOutput`] instead of a plain tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        representation = self.diti(pixel_values, return_dict=True).representation
        logits = self.classifier(representation)
        loss = None
        if labels is not None:
            if labels.shape != logits.shape[:1]:
                raise ValueError(f"`labels` must have shape ({logits.shape[0]},), got {tuple(labels.shape)}.")
            if labels.numel() and (labels.min() < 0 or labels.max() >= self.config.num_labels):
                raise ValueError(f"`labels` must be class indices in [0, {self.config.num_labels}).")
            loss = nn.functional.cross_entropy(logits, labels.long())
        output = DiTiImageClassifierOutput(loss=loss, logits=logits, representation=representation)
        return output if return_dict else output.to_tuple()


DiTiEncoder.register_for_auto_class("AutoModel")
DiTiForImageClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "DiTiEncoder",
    "DiTiEncoderOutput",
    "DiTiForImageClassification",
    "DiTiImageClassifierOutput",
    "DiTiPreTrainedModel",
    "chunk_masks",
    "timestep_chunk_index",
]
