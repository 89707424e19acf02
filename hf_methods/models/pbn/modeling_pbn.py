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
"""PyTorch Projection-Based Network (Troisemaine et al., "A Practical Approach to Novel Class Discovery in Tabular
Data", Data Mining and Knowledge Discovery; official code ColinTr/PracticalNCD).

This file is self-contained (torch, transformers and its own configuration only), so that a saved checkpoint loads
with `AutoModel.from_pretrained(path, trust_remote_code=True)` without hf-methods installed. The clustering of the
latent space (k-means, NCD k-means) lives in `hf_methods.models.pbn.discovery`.
"""

from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_pbn import PBNConfig

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}


def pbn_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    reconstruction: torch.Tensor,
    inputs: torch.Tensor,
    w: float,
    ignore_index: int = -100,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""
    The PBN objective over a mixed batch of B samples, the unlabelled ones marked `labels == ignore_index`:

        L = w · CE(g(φ(x_known)), y_known) + (1 − w) · (1/B) Σ_{i=1..B} ‖ψ(φ(x_i)) − x_i‖²₂

    The reconstruction term is a *sum* over features averaged over the batch (not a mean over all entries), which
    sets its balance with w. A batch without known samples has CE = 0.

    Args:
        logits (`torch.FloatTensor` of shape `(B, num_known)`): g(φ(x)).
        labels (`torch.LongTensor` of shape `(B,)`): known-class ids, `ignore_index` for unlabelled samples.
        reconstruction (`torch.FloatTensor` of shape `(B, input_dim)`): ψ(φ(x)).
        inputs (`torch.FloatTensor` of shape `(B, input_dim)`): x.
        w (`float`): the cross-entropy weight in [0, 1].

    Returns:
        `(loss, ce, mse)` scalar tensors.
    """
    known = labels != ignore_index
    if known.any():
        ce = nn.functional.cross_entropy(logits[known], labels[known])
    else:
        ce = logits.sum() * 0.0
    mse = (reconstruction - inputs.to(reconstruction.dtype)).pow(2).sum() / inputs.shape[0]
    return w * ce + (1.0 - w) * mse, ce, mse


@dataclass
class PBNOutput(ModelOutput):
    r"""
    Output of [`PBNForNovelClassDiscovery`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            w · CE + (1 − w) · reconstruction (see [`pbn_loss`]).
        logits (`torch.FloatTensor` of shape `(B, num_known)`):
            Known-class scores g(φ(x)).
        latents (`torch.FloatTensor` of shape `(B, latent_dim)`):
            The (normalised, when `latent_norm` is set) projection φ(x).
        reconstruction (`torch.FloatTensor` of shape `(B, input_dim)`):
            ψ(φ(x)).
        ce_loss, reconstruction_loss (`torch.FloatTensor` of shape `()`, *optional*):
            The two terms of `loss`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    latents: torch.FloatTensor | None = None
    reconstruction: torch.FloatTensor | None = None
    ce_loss: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None


class PBNPreTrainedModel(PreTrainedModel):
    config: PBNConfig
    base_model_prefix = "pbn"
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
        """Linear layers keep PyTorch's default init unless `initializer_range > 0` (normal weights, zero bias)."""
        if isinstance(module, nn.Linear) and self.config.initializer_range > 0:
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm1d):
            init.ones_(module.weight)
            init.zeros_(module.bias)


def _mlp(dims: list[int], config: PBNConfig, activate_last: bool) -> nn.Sequential:
    """Linear layers through `dims`; activation (+ BatchNorm, dropout) between them, and after the last if asked."""
    layers = []
    for i in range(1, len(dims)):
        layers.append(nn.Linear(dims[i - 1], dims[i]))
        if i < len(dims) - 1 or activate_last:
            layers.append(_ACTIVATIONS[config.activation]())
            if config.use_batchnorm:
                layers.append(nn.BatchNorm1d(dims[i]))
            if config.dropout > 0:
                layers.append(nn.Dropout(config.dropout))
    return nn.Sequential(*layers)


class PBNForNovelClassDiscovery(PBNPreTrainedModel):
    r"""
    Projection-Based Network: encoder φ (MLP `input_dim → hidden_dims → latent_dim`, no activation on the latent),
    decoder ψ (the mirror, linear output) and linear classifier g over the `num_known` known classes. Trained with
    [`pbn_loss`] on mixed batches; the novel classes are found by clustering [`~PBNForNovelClassDiscovery.encode`]
    of the unlabelled samples (see `hf_methods.models.pbn.discover_novel_classes`).

    Args:
        config ([`PBNConfig`]): Model configuration.
    """

    def __init__(self, config: PBNConfig):
        super().__init__(config)
        dims = [config.input_dim, *config.hidden_dims, config.latent_dim]
        self.encoder = _mlp(dims, config, activate_last=False)
        decoder_dims = dims[::-1]
        # the decoder: hidden layers activated, then a linear output layer
        self.decoder = nn.Sequential(
            *_mlp(decoder_dims[:-1], config, activate_last=True), nn.Linear(decoder_dims[-2], decoder_dims[-1])
        )
        self.classifier = nn.Linear(config.latent_dim, config.num_known)
        self.post_init()

    def _check_inputs(self, inputs) -> torch.Tensor:
        if not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point():
            raise TypeError(f"`inputs` must be a float torch.Tensor, got {type(inputs).__name__}.")
        if inputs.dim() != 2 or inputs.shape[1] != self.config.input_dim:
            raise ValueError(
                f"`inputs` must have shape (batch, input_dim={self.config.input_dim}), got {tuple(inputs.shape)}."
            )
        return inputs

    def _normalize(self, z: torch.Tensor) -> torch.Tensor:
        if self.config.latent_norm is None:
            return z
        order = 1 if self.config.latent_norm == "l1" else 2
        return z / torch.linalg.vector_norm(z, ord=order, dim=1, keepdim=True)

    def encode(self, inputs: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        r"""
        The projection φ(x) that is clustered (the official code clusters the unnormalised projection).

        Args:
            inputs (`torch.FloatTensor` of shape `(B, input_dim)`): tabular samples.
            normalize (`bool`, *optional*, defaults to `False`): apply `latent_norm` as in the training forward.

        Returns:
            `torch.FloatTensor` of shape `(B, latent_dim)`.
        """
        z = self.encoder(self._check_inputs(inputs).to(self.dtype))
        return self._normalize(z) if normalize else z

    def forward(
        self, inputs: torch.Tensor, labels: torch.Tensor | None = None, return_dict: bool | None = None
    ) -> PBNOutput | tuple:
        r"""
        Args:
            inputs (`torch.FloatTensor` of shape `(B, input_dim)`): a mixed batch of known and unlabelled samples.
            labels (`torch.LongTensor` of shape `(B,)`, *optional*): known-class ids in `[0, num_known)`, -100 for
                unlabelled samples. When given, `loss` is [`pbn_loss`] with the config's `w`.
            return_dict (`bool`, *optional*): return a [`PBNOutput`] instead of a tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        z = self._normalize(self.encoder(self._check_inputs(inputs).to(self.dtype)))
        logits = self.classifier(z)
        reconstruction = self.decoder(z)
        loss = ce = mse = None
        if labels is not None:
            if not isinstance(labels, torch.Tensor) or labels.shape != inputs.shape[:1]:
                raise ValueError(f"`labels` must be a tensor of shape ({inputs.shape[0]},), got {labels!r}.")
            labels = labels.long()
            bad = (labels != -100) & ((labels < 0) | (labels >= self.config.num_known))
            if bad.any():
                raise ValueError(
                    f"`labels` must be known-class ids in [0, {self.config.num_known}) or -100 (unlabelled)."
                )
            loss, ce, mse = pbn_loss(logits, labels, reconstruction, inputs, self.config.w)
        output = PBNOutput(
            loss=loss, logits=logits, latents=z, reconstruction=reconstruction, ce_loss=ce, reconstruction_loss=mse
        )
        return output if return_dict else output.to_tuple()


PBNForNovelClassDiscovery.register_for_auto_class("AutoModel")

__all__ = ["PBNForNovelClassDiscovery", "PBNOutput", "PBNPreTrainedModel", "pbn_loss"]
