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
"""PyTorch LightHuBERT encoder (Wang et al., Interspeech 2022): a HuBERT-style model whose layers may differ in width.

This is the *standalone* model: a subnet extracted from a once-for-all supernet, or the supernet's largest network
(saved supernets load as it). It is self-contained (torch, transformers, safetensors and its own configuration only),
so a saved checkpoint loads with `AutoModel.from_pretrained(path, trust_remote_code=True)` without hf-methods. The
sliceable supernet built on it lives outside this file (`hf_methods.models.lighthubert.supernet`).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_lighthubert import LightHuBERTConfig

_ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu}


def masked_prediction_loss(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    mask_time_indices: torch.Tensor | None = None,
    frame_mask: torch.Tensor | None = None,
    unmasked_weight: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""
    Masked-prediction distillation loss: the student's predictions of the teacher's hidden states, scored on the
    masked frames M (and, with weight λ_u, on the unmasked ones U):

        ℓ_t = (1/D) ‖ŷ_t − y_t‖²,     L = mean_{t∈M} ℓ_t + λ_u · mean_{t∈U} ℓ_t

    (per example for `reduction="none"`). Without `mask_time_indices` every frame counts as masked. `frame_mask`
    (true on real frames) excludes padding from both means.

    Args:
        predictions (`torch.FloatTensor` of shape `(batch, frames, dim)`): the student's predictions ŷ.
        targets (`torch.FloatTensor` of the same shape): the teacher's hidden states y (not differentiated).
        mask_time_indices (`torch.BoolTensor` of shape `(batch, frames)`, *optional*): true on masked frames.
        frame_mask (`torch.BoolTensor` of shape `(batch, frames)`, *optional*): true on real (non-padding) frames.
        unmasked_weight (`float`, defaults to 0): λ_u ≥ 0.
        reduction (`str`, defaults to `"mean"`): `"mean"` over the batch's frames, or `"none"` (one value per
            example).
    """
    if predictions.dim() != 3 or predictions.shape != targets.shape:
        raise ValueError(
            "`predictions` and `targets` must both be (batch, frames, dim) of one shape, got "
            f"{tuple(predictions.shape)} and {tuple(targets.shape)} (check teacher_hidden_size and the frame count)."
        )
    if reduction not in ("mean", "none"):
        raise ValueError(f"`reduction` must be 'mean' or 'none', got {reduction!r}.")
    if not unmasked_weight >= 0:
        raise ValueError(f"`unmasked_weight` must be >= 0, got {unmasked_weight!r}.")
    batch, frames = predictions.shape[:2]
    for name, mask in (("mask_time_indices", mask_time_indices), ("frame_mask", frame_mask)):
        if mask is not None and tuple(mask.shape) != (batch, frames):
            raise ValueError(f"`{name}` must have shape {(batch, frames)}, got {tuple(mask.shape)}.")
    per_frame = (predictions - targets.detach().to(predictions.dtype)).pow(2).mean(-1)
    real = torch.ones_like(per_frame, dtype=torch.bool) if frame_mask is None else frame_mask.bool()
    masked = real if mask_time_indices is None else real & mask_time_indices.bool()
    groups = [(masked, 1.0)]
    if unmasked_weight > 0:
        groups.append((real & ~masked, unmasked_weight))
    dims = (1,) if reduction == "none" else (0, 1)
    loss = 0.0
    for selection, weight in groups:
        weights = selection.to(per_frame.dtype)
        loss = loss + weight * (per_frame * weights).sum(dims) / weights.sum(dims).clamp_min(1.0)
    return loss


@dataclass
class LightHuBERTOutput(ModelOutput):
    r"""
    Output of [`LightHuBERTModel`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is given):
            [`masked_prediction_loss`] of `predictions` against `labels`.
        last_hidden_state (`torch.FloatTensor` of shape `(batch, frames, hidden_size)`):
            The encoder's output.
        predictions (`torch.FloatTensor` of shape `(batch, frames, teacher_hidden_size)`, *optional*):
            The prediction head's output (when the model has one).
        extract_features (`torch.FloatTensor` of shape `(batch, frames, conv_dim[-1])`):
            The normalised waveform-encoder features.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, with `output_hidden_states=True`):
            The input of the first layer and the output of every layer.
    """

    loss: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None
    predictions: torch.FloatTensor | None = None
    extract_features: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


class LightHuBERTFeatureEncoder(nn.Module):
    """The waveform encoder: Conv1d → LayerNorm (over channels) → GELU per block, as HuBERT with `feat_extract_norm=
    "layer"`."""

    def __init__(self, config: LightHuBERTConfig):
        super().__init__()
        channels = [1, *config.conv_dim]
        self.conv_layers = nn.ModuleList(
            nn.Conv1d(channels[i], channels[i + 1], kernel, stride=stride, bias=config.conv_bias)
            for i, (kernel, stride) in enumerate(zip(config.conv_kernel, config.conv_stride))
        )
        self.layer_norms = nn.ModuleList(nn.LayerNorm(dim, eps=config.layer_norm_eps) for dim in config.conv_dim)

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        hidden = input_values[:, None, :]
        for conv, norm in zip(self.conv_layers, self.layer_norms):
            hidden = F.gelu(norm(conv(hidden).transpose(1, 2)).transpose(1, 2))
        return hidden


class LightHuBERTPositionalConvEmbedding(nn.Module):
    """Grouped convolution over time (kernel `num_conv_pos_embeddings`, 'same' length) followed by GELU.

    HuBERT wraps this convolution in weight normalisation; here the weight is a plain tensor so that a slice of it is
    the weight of a smaller model (the official supernet slices the normalised weight).
    """

    def __init__(self, config: LightHuBERTConfig):
        super().__init__()
        self.conv = nn.Conv1d(
            config.hidden_size,
            config.hidden_size,
            config.num_conv_pos_embeddings,
            padding=config.num_conv_pos_embeddings // 2,
            groups=config.num_conv_pos_embedding_groups,
        )
        self.remove_last = config.num_conv_pos_embeddings % 2 == 0

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        position = self.conv(hidden_states.transpose(1, 2))
        if self.remove_last:
            position = position[:, :, :-1]
        return F.gelu(position).transpose(1, 2)


class LightHuBERTAttention(nn.Module):
    r"""
    Multi-head self-attention with a fixed head dimension d_h; the number of heads is the query projection's width
    divided by d_h (so a sliced supernet projection selects whole heads):

        softmax(Q_h K_hᵀ / sqrt(d_h) + mask) V_h, concatenated over heads and projected by `out_proj`.
    """

    def __init__(self, hidden_size: int, num_heads: int, head_dim: int, dropout: float):
        super().__init__()
        self.head_dim, self.dropout = head_dim, dropout
        self.q_proj = nn.Linear(hidden_size, num_heads * head_dim)
        self.k_proj = nn.Linear(hidden_size, num_heads * head_dim)
        self.v_proj = nn.Linear(hidden_size, num_heads * head_dim)
        self.out_proj = nn.Linear(num_heads * head_dim, hidden_size)

    def forward(self, hidden_states: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, frames, _ = hidden_states.shape

        def split_heads(x):
            return x.view(batch, frames, -1, self.head_dim).transpose(1, 2)

        query = split_heads(self.q_proj(hidden_states))
        key = split_heads(self.k_proj(hidden_states))
        value = split_heads(self.v_proj(hidden_states))
        mask = None if frame_mask is None else frame_mask[:, None, None, :]
        attended = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(attended.transpose(1, 2).reshape(batch, frames, -1))


class LightHuBERTFeedForward(nn.Module):
    """FFN(x) = fc2(act(fc1(x))) with `intermediate_size` hidden units."""

    def __init__(self, hidden_size: int, intermediate_size: int, activation: str):
        super().__init__()
        self.activation = _ACTIVATIONS[activation]
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.fc2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation(self.fc1(hidden_states)))


class LightHuBERTEncoderLayer(nn.Module):
    """A post-LayerNorm Transformer layer (HuBERT Base): x ← LN(x + Attn(x)); x ← LN(x + FFN(x))."""

    def __init__(self, config: LightHuBERTConfig, layer_idx: int):
        super().__init__()
        self.attention = LightHuBERTAttention(
            config.hidden_size,
            config.num_attention_heads[layer_idx],
            config.attention_head_dim,
            config.attention_dropout,
        )
        self.attention_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = LightHuBERTFeedForward(
            config.hidden_size, config.intermediate_size[layer_idx], config.hidden_act
        )
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden_states: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        attended = self.dropout(self.attention(hidden_states, frame_mask))
        hidden_states = self.attention_layer_norm(hidden_states + attended)
        transformed = self.dropout(self.feed_forward(hidden_states))
        return self.final_layer_norm(hidden_states + transformed)


class LightHuBERTEncoder(nn.Module):
    """Positional convolution, LayerNorm and the Transformer layers."""

    def __init__(self, config: LightHuBERTConfig):
        super().__init__()
        self.pos_conv_embed = LightHuBERTPositionalConvEmbedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(LightHuBERTEncoderLayer(config, i) for i in range(config.num_hidden_layers))

    def forward(self, hidden_states, frame_mask=None, layers=None, output_hidden_states=False):
        """Runs `layers` (all of them by default); returns the last hidden state and, if asked, every layer's."""
        if frame_mask is not None:
            hidden_states = hidden_states * frame_mask[..., None].to(hidden_states.dtype)
        hidden_states = self.layer_norm(hidden_states + self.pos_conv_embed(hidden_states))
        hidden_states = self.dropout(hidden_states)
        all_hidden = [hidden_states] if output_hidden_states else None
        for layer in self.layers if layers is None else layers:
            hidden_states = layer(hidden_states, frame_mask)
            if output_hidden_states:
                all_hidden.append(hidden_states)
        return hidden_states, (tuple(all_hidden) if output_hidden_states else None)


class LightHuBERTPreTrainedModel(PreTrainedModel):
    config: LightHuBERTConfig
    base_model_prefix = "lighthubert"
    main_input_name = "input_values"
    _no_split_modules = ["LightHuBERTEncoderLayer"]

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
        """Linear: normal(0, `initializer_range`), zero bias; LayerNorm: ones/zeros; convolutions: Kaiming normal."""
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            if module.weight is not None:
                init.ones_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv1d):
            init.kaiming_normal_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, LightHuBERTModel):
            init.uniform_(module.mask_emb)

    def _frame_mask(self, attention_mask: torch.Tensor | None, frames: int) -> torch.Tensor | None:
        """`(batch, frames)` bool, true on frames computed from real samples (None when nothing is padded)."""
        if attention_mask is None:
            return None
        lengths = attention_mask.long().sum(-1)
        for kernel, stride in zip(self.config.conv_kernel, self.config.conv_stride):
            lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
        mask = torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]
        return None if bool(mask.all()) else mask


class LightHuBERTModel(LightHuBERTPreTrainedModel):
    r"""
    A HuBERT-style speech encoder with per-layer widths (a LightHuBERT subnet), plus an optional prediction head that
    maps its output to the teacher's hidden size for masked-prediction distillation.

    Args:
        config ([`LightHuBERTConfig`]): the sizes (a supernet configuration gives its largest network).
    """

    def __init__(self, config: LightHuBERTConfig):
        super().__init__(config)
        self.feature_extractor = LightHuBERTFeatureEncoder(config)
        self.feature_layer_norm = nn.LayerNorm(config.conv_dim[-1], eps=config.layer_norm_eps)
        self.post_extract_proj = nn.Linear(config.conv_dim[-1], config.hidden_size)
        self.mask_emb = nn.Parameter(torch.empty(config.hidden_size))
        self.encoder = LightHuBERTEncoder(config)
        self.prediction_head = (
            nn.Linear(config.hidden_size, config.teacher_hidden_size, bias=False)
            if config.teacher_hidden_size is not None
            else None
        )
        self.post_init()

    def _encoder_layers(self):
        """The Transformer layers this forward runs (all of them; a supernet runs its active depth)."""
        return self.encoder.layers

    def freeze_feature_encoder(self):
        """Stops gradients to the waveform encoder (as HuBERT fine-tuning does)."""
        self.feature_extractor.requires_grad_(False)

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        mask_time_indices: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> LightHuBERTOutput | tuple:
        r"""
        Args:
            input_values (`torch.FloatTensor` of shape `(batch, samples)`): raw (normalised) waveforms, e.g. from a
                `Wav2Vec2FeatureExtractor`.
            attention_mask (`torch.LongTensor` of shape `(batch, samples)`, *optional*): 1 on real samples, 0 on
                padding.
            mask_time_indices (`torch.BoolTensor` of shape `(batch, frames)`, *optional*): frames replaced by the
                learned mask embedding (masked prediction).
            labels (`torch.FloatTensor` of shape `(batch, frames, teacher_hidden_size)`, *optional*): the teacher's
                hidden states; `loss` is then [`masked_prediction_loss`] of the prediction head's output.
            output_hidden_states (`bool`, *optional*): also return every layer's hidden state.
            return_dict (`bool`, *optional*): return a [`LightHuBERTOutput`] (defaults to `config.return_dict`).
        """
        if not isinstance(input_values, torch.Tensor):
            raise TypeError(f"`input_values` must be a torch.Tensor, got {type(input_values).__name__}.")
        if input_values.dim() != 2:
            raise ValueError(f"`input_values` must be (batch, samples), got shape {tuple(input_values.shape)}.")
        if input_values.shape[1] < self.config.conv_kernel[0]:
            raise ValueError(
                f"`input_values` is too short ({input_values.shape[1]} samples) for the waveform encoder."
            )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        output_hidden_states = output_hidden_states if output_hidden_states is not None else False

        features = self.feature_extractor(input_values).transpose(1, 2)
        features = self.feature_layer_norm(features)
        hidden_states = self.post_extract_proj(features)
        batch, frames, width = hidden_states.shape
        frame_mask = self._frame_mask(attention_mask, frames)
        if mask_time_indices is not None:
            if tuple(mask_time_indices.shape) != (batch, frames):
                raise ValueError(
                    f"`mask_time_indices` must have shape {(batch, frames)} (frames of the waveform encoder), got "
                    f"{tuple(mask_time_indices.shape)}."
                )
            # the leading slice of the mask embedding: the whole of it in a standalone model
            mask_emb = self.mask_emb[:width].to(hidden_states.dtype)
            hidden_states = torch.where(mask_time_indices.bool()[..., None], mask_emb, hidden_states)
        hidden_states, all_hidden = self.encoder(
            hidden_states, frame_mask, layers=self._encoder_layers(), output_hidden_states=output_hidden_states
        )
        predictions = self.prediction_head(hidden_states) if self.prediction_head is not None else None
        loss = None
        if labels is not None:
            if predictions is None:
                raise ValueError("`labels` needs a prediction head: set `teacher_hidden_size` in the config.")
            loss = masked_prediction_loss(
                predictions, labels, mask_time_indices, frame_mask, unmasked_weight=self.config.unmasked_loss_weight
            )
        output = LightHuBERTOutput(
            loss=loss,
            last_hidden_state=hidden_states,
            predictions=predictions,
            extract_features=features,
            hidden_states=all_hidden,
        )
        return output if return_dict else output.to_tuple()


LightHuBERTModel.register_for_auto_class("AutoModel")

__all__ = ["LightHuBERTPreTrainedModel", "LightHuBERTModel", "LightHuBERTOutput", "masked_prediction_loss"]
