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
"""PyTorch transcoder (Dunefsky, Chlenski, Nanda, "Transcoders Find Interpretable LLM Feature Circuits", NeurIPS 2024).

A transcoder imitates one dense MLP sublayer of a language model with a wide MLP whose hidden units (the *features*)
fire sparsely. This file is self-contained (torch, transformers, safetensors and its own configuration only), so that
a saved checkpoint loads with `AutoModel.from_pretrained(path, trust_remote_code=True)` without hf-methods installed.
The hooks that harvest MLP activations and splice a transcoder into a language model live in hf-methods
(`hf_methods.models.transcoder.hooks`).
"""

from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_transcoder import TranscoderConfig

TRANSCODER_REDUCTIONS = ("mean", "none")


def transcoder_loss(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    feature_activations: torch.Tensor,
    l1_coeff: float,
    reduction: str = "mean",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""
    The transcoder objective of the official trainer (`sae_training/sparse_autoencoder.py`, `is_transcoder`):

        L = mean_{t, k} [ (ŷ_{t,k} − y_{t,k})² / ‖y_t‖₂ ]  +  λ · mean_t Σ_i |z_{t,i}|,

    i.e. the squared error of each token divided by the *norm* (not the squared norm) of its target MLP output, then
    averaged over tokens t and output dimensions k (so it carries a 1/d_out factor), plus λ times the per-token L1 norm
    of the feature activations averaged over tokens.

    Args:
        predictions (`torch.FloatTensor` of shape `(..., d_out)`): transcoder outputs ŷ.
        targets (`torch.FloatTensor` of shape `(..., d_out)`): MLP outputs y.
        feature_activations (`torch.FloatTensor` of shape `(..., d_sae)`): feature activations z.
        l1_coeff (`float`): sparsity coefficient λ.
        reduction (`str`, *optional*, defaults to `"mean"`): `"mean"` over tokens, or `"none"` (one value per token).

    Returns:
        `tuple(torch.FloatTensor)`: `(loss, reconstruction, sparsity)`, where `loss = reconstruction + λ · sparsity`;
        scalars for `"mean"`, shape `(...)` for `"none"`.
    """
    if reduction not in TRANSCODER_REDUCTIONS:
        raise ValueError(f"`reduction` must be one of {TRANSCODER_REDUCTIONS}, got {reduction!r}.")
    if predictions.shape != targets.shape:
        raise ValueError(
            f"`targets` must have the shape of the predictions {tuple(predictions.shape)}, got {tuple(targets.shape)}."
        )
    targets = targets.to(predictions.dtype)
    # per token: Σ_k (ŷ_k − y_k)² / ‖y‖₂ / d_out (the official code averages the elementwise ratio over k)
    reconstruction = (predictions - targets).pow(2).mean(dim=-1) / targets.norm(dim=-1)
    sparsity = feature_activations.abs().sum(dim=-1)
    loss = reconstruction + l1_coeff * sparsity
    if reduction == "mean":
        return loss.mean(), reconstruction.mean(), sparsity.mean()
    return loss, reconstruction, sparsity


@dataclass
class TranscoderOutput(ModelOutput):
    r"""
    Output of [`TranscoderModel`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            The transcoder objective `reconstruction_loss + l1_coeff * sparsity_loss` (see [`transcoder_loss`]).
        reconstruction_loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            mean_{t,k} (ŷ − y)² / ‖y‖₂.
        sparsity_loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            mean_t ‖z_t‖₁ (not multiplied by λ).
        mlp_output (`torch.FloatTensor` of shape `(..., d_out)`):
            The transcoder's imitation ŷ of the MLP output.
        feature_activations (`torch.FloatTensor` of shape `(..., d_sae)`):
            The sparse feature activations z = ReLU(W_encᵀ(x − b_dec) + b_enc).
        hidden_pre (`torch.FloatTensor` of shape `(..., d_sae)`):
            The feature pre-activations W_encᵀ(x − b_dec) + b_enc.
    """

    loss: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None
    sparsity_loss: torch.FloatTensor | None = None
    mlp_output: torch.FloatTensor | None = None
    feature_activations: torch.FloatTensor | None = None
    hidden_pre: torch.FloatTensor | None = None


class TranscoderPreTrainedModel(PreTrainedModel):
    config: TranscoderConfig
    base_model_prefix = "transcoder"
    main_input_name = "inputs"
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
        """As the official code: Kaiming-uniform W_enc and W_dec, decoder rows scaled to unit norm, zero biases."""
        if isinstance(module, TranscoderModel):
            init.kaiming_uniform_(module.W_enc)
            init.kaiming_uniform_(module.W_dec)
            # `init.copy_` skips tensors that `from_pretrained` loaded, so a checkpoint keeps its decoder bit for bit
            init.copy_(module.W_dec, module.W_dec / module.W_dec.norm(dim=1, keepdim=True))
            for bias in (module.b_enc, module.b_dec, module.b_dec_out):
                init.zeros_(bias)


class TranscoderModel(TranscoderPreTrainedModel):
    r"""
    A transcoder (Dunefsky et al., 2024): a sparse, wide replacement for one MLP sublayer of a language model.

        z = ReLU(W_encᵀ (x − b_dec) + b_enc),      ŷ = W_decᵀ z + b_dec_out,

    with `W_enc` of shape `(d_in, d_sae)`, `W_dec` of shape `(d_sae, d_out)` (one row per feature, kept at unit norm
    during training), the input bias `b_dec` (subtracted from x, initialised to the mean MLP input) and a separate
    output bias `b_dec_out` (initialised to the mean MLP output). The layout and names follow the official code, so
    that `W_dec[i]` is feature i's write direction and `W_enc[:, i]` its read direction.

    Args:
        config ([`TranscoderConfig`]): model configuration.
    """

    def __init__(self, config: TranscoderConfig):
        super().__init__(config)
        self.W_enc = nn.Parameter(torch.empty(config.d_in, config.d_sae))
        self.b_enc = nn.Parameter(torch.empty(config.d_sae))
        self.W_dec = nn.Parameter(torch.empty(config.d_sae, config.d_out))
        self.b_dec = nn.Parameter(torch.empty(config.d_in))
        self.b_dec_out = nn.Parameter(torch.empty(config.d_out))
        self.post_init()

    def _check_inputs(self, inputs, name: str = "inputs", width: int | None = None) -> torch.Tensor:
        width = self.config.d_in if width is None else width
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(f"`{name}` must be a torch.Tensor, got {type(inputs).__name__}.")
        if inputs.dim() == 0 or inputs.shape[-1] != width:
            raise ValueError(f"`{name}` must have shape (..., {width}), got {tuple(inputs.shape)}.")
        if not inputs.is_floating_point():
            raise TypeError(f"`{name}` must be a floating-point tensor, got {inputs.dtype}.")
        return inputs

    def pre_activations(self, inputs: torch.Tensor) -> torch.Tensor:
        """W_encᵀ(x − b_dec) + b_enc, shape `(..., d_sae)`."""
        x = self._check_inputs(inputs).to(self.W_enc.dtype)
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """The feature activations z = ReLU(W_encᵀ(x − b_dec) + b_enc), shape `(..., d_sae)`."""
        return torch.relu(self.pre_activations(inputs))

    def decode(self, feature_activations: torch.Tensor) -> torch.Tensor:
        """The MLP-output imitation ŷ = W_decᵀ z + b_dec_out, shape `(..., d_out)`."""
        z = self._check_inputs(feature_activations, "feature_activations", self.config.d_sae)
        return z.to(self.W_dec.dtype) @ self.W_dec + self.b_dec_out

    def forward(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> TranscoderOutput | tuple:
        r"""
        Runs the transcoder on MLP inputs.

        Args:
            inputs (`torch.FloatTensor` of shape `(..., d_in)`):
                MLP inputs x (the post-LayerNorm residual stream that enters the MLP).
            labels (`torch.FloatTensor` of shape `(..., d_out)`, *optional*):
                The true MLP outputs y; when given, the output holds the loss of [`transcoder_loss`].
            return_dict (`bool`, *optional*):
                Whether to return a [`TranscoderOutput`] instead of a plain tuple.

        Returns:
            [`TranscoderOutput`] or `tuple(torch.FloatTensor)`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        hidden_pre = self.pre_activations(inputs)
        feature_activations = torch.relu(hidden_pre)
        mlp_output = feature_activations @ self.W_dec + self.b_dec_out
        loss = reconstruction = sparsity = None
        if labels is not None:
            labels = self._check_inputs(labels, "labels", self.config.d_out)
            if labels.shape[:-1] != mlp_output.shape[:-1]:
                raise ValueError(
                    f"`labels` must have shape {tuple(mlp_output.shape)} to match the inputs, "
                    f"got {tuple(labels.shape)}."
                )
            loss, reconstruction, sparsity = transcoder_loss(
                mlp_output, labels, feature_activations, self.config.l1_coeff
            )
        output = TranscoderOutput(
            loss=loss,
            reconstruction_loss=reconstruction,
            sparsity_loss=sparsity,
            mlp_output=mlp_output,
            feature_activations=feature_activations,
            hidden_pre=hidden_pre,
        )
        return output if return_dict else output.to_tuple()

    @torch.no_grad()
    def normalize_decoder_(self) -> None:
        """Scales every decoder row W_dec[i] to unit norm (the official trainer does it before every step)."""
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(torch.finfo(self.W_dec.dtype).tiny))

    @torch.no_grad()
    def remove_parallel_decoder_grad_(self) -> None:
        r"""
        Projects out of `W_dec.grad` its component along each (unit-norm) decoder row,
        g_i ← g_i − (g_i · w_i) w_i, so that a step moves the rows along the unit sphere (official trainer, after
        `backward`). Without it and the renormalisation, the L1 penalty could be dodged by growing decoder rows while
        shrinking activations.
        """
        if self.W_dec.grad is None:
            return
        parallel = (self.W_dec.grad * self.W_dec).sum(dim=1, keepdim=True)
        self.W_dec.grad.sub_(parallel * self.W_dec)

    @torch.no_grad()
    def initialize_biases_(self, inputs: torch.Tensor, mlp_outputs: torch.Tensor) -> None:
        """Sets b_dec to the mean MLP input and b_dec_out to the mean MLP output (the official `"mean"` init).

        Args:
            inputs (`torch.FloatTensor` of shape `(n, d_in)`): harvested MLP inputs.
            mlp_outputs (`torch.FloatTensor` of shape `(n, d_out)`): the matching MLP outputs.
        """
        x = self._check_inputs(inputs).reshape(-1, self.config.d_in)
        y = self._check_inputs(mlp_outputs, "mlp_outputs", self.config.d_out).reshape(-1, self.config.d_out)
        if x.shape[0] == 0 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"`inputs` and `mlp_outputs` must hold the same number (> 0) of tokens, got {x.shape[0]} and "
                f"{y.shape[0]}."
            )
        self.b_dec.copy_(x.mean(dim=0))
        self.b_dec_out.copy_(y.mean(dim=0))


TranscoderModel.register_for_auto_class("AutoModel")

__all__ = ["TranscoderModel", "TranscoderOutput", "TranscoderPreTrainedModel", "transcoder_loss"]
