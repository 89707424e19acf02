"""Binary-weight MLP trained in field space (Li, Huang, Zou & Huang, "Statistical mechanics of continual learning").

Every binary weight w ∈ {−1, +1} carries a continuous field θ that sets a Boltzmann distribution

    q_θ(w) = exp(β θ w) / (2 cosh(β θ)),   mean m = tanh(β θ),   variance σ² = 1 − m²,

and a layer's pre-activation is approximated by a Gaussian (central limit over the N_in inputs):

    z = (m · a) / √N_in + √((σ² · a²) / N_in + 1e-30) · ε,   ε ~ N(0, 1).

This module is self-contained (torch and transformers only) so a saved model loads with the Auto classes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ImageClassifierOutput

from .configuration_binary_continual import FORWARD_MODES, VariationalBinaryMLPConfig

# the official code keeps this constant inside the square root: the variance is exactly zero once fields saturate
VARIANCE_FLOOR = 1e-30


def tanh_beta_schedule(progress: float, beta_max: float = 10.0, offset: float = 0.1, rate: float = 2.0) -> float:
    """β = β_max · tanh(offset + rate · progress), `progress` ∈ [0, 1] over the whole continual run.

    The official code sets β at the start of every epoch with progress = (epochs done + 1) / (tasks · epochs).
    """
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be in [0, 1], got {progress}")
    return beta_max * math.tanh(offset + rate * progress)


class BinaryMeanFieldLinear(nn.Module):
    r"""
    A linear layer whose binary weights w ∈ {±1}^(out × in) are described by fields θ (no bias, as in the paper).

    q_θ(w) = exp(βθw) / (2cosh βθ), m = tanh(βθ), σ² = 1 − m². The forward pass, for an input a of width N:

    - `"gaussian"`: z = m·a/√N + √(σ²·a²/N + 1e-30)·ε, ε ~ N(0, 1) per unit and example (local reparameterisation);
    - `"mean"`: z = m·a/√N (the mean field, ε = 0);
    - `"sample"`: z = w·a/√N with w ~ q_θ drawn once per call (a binary network).

    Args:
        in_features (`int`): input width N.
        out_features (`int`): output width.
        field_init_std (`float`, defaults to 1.0): std of the normal initialisation of θ.
    """

    def __init__(self, in_features: int, out_features: int, field_init_std: float = 1.0):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"in_features and out_features must be > 0, got {in_features}, {out_features}")
        self.in_features, self.out_features = in_features, out_features
        self.field = nn.Parameter(torch.randn(out_features, in_features) * field_init_std)

    def mean_and_variance(self, beta: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """m = tanh(βθ) and σ² = 1 − m² of every weight."""
        m = torch.tanh(beta * self.field)
        return m, 1.0 - m * m

    def sample_weights(self, beta: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Binary weights w ∈ {±1} with P(w = +1) = (1 + m)/2 = exp(βθ)/(2cosh βθ)."""
        m = torch.tanh(beta * self.field.detach())
        u = torch.rand(m.shape, generator=generator, device=m.device, dtype=m.dtype)
        return torch.where(u < (1.0 + m) / 2.0, 1.0, -1.0).to(m.dtype)

    def forward(
        self,
        inputs: torch.Tensor,
        beta: float | torch.Tensor,
        mode: str = "gaussian",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        if mode not in FORWARD_MODES:
            raise ValueError(f"mode must be one of {FORWARD_MODES}, got {mode!r}")
        if inputs.shape[-1] != self.in_features:
            raise ValueError(
                f"inputs must have {self.in_features} features in the last dim, got {tuple(inputs.shape)}"
            )
        scale = 1.0 / math.sqrt(self.in_features)
        if mode == "sample":
            return F.linear(inputs, self.sample_weights(beta, generator)) * scale
        m, var = self.mean_and_variance(beta)
        mean = F.linear(inputs, m) * scale
        if mode == "mean":
            return mean
        std = torch.sqrt(F.linear(inputs * inputs, var) * scale**2 + VARIANCE_FLOOR)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + std * eps

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class VariationalBinaryMLP(PreTrainedModel):
    r"""
    A binary-weight MLP in field space: [`BinaryMeanFieldLinear`] layers, ReLU between them, logits at the end
    (softmax cross-entropy when `labels` are given). The inverse temperature β is a persistent buffer (saved with
    the weights); [`~VariationalBinaryMLP.set_beta`] changes it.

    Args:
        config ([`VariationalBinaryMLPConfig`]): the widths, β and its schedule, the field initialisation.
    """

    config_class = VariationalBinaryMLPConfig
    base_model_prefix = "binary_mlp"
    main_input_name = "pixel_values"

    def __init__(self, config: VariationalBinaryMLPConfig):
        super().__init__(config)
        sizes = config.sizes
        self.layers = nn.ModuleList(
            BinaryMeanFieldLinear(n_in, n_out, config.field_init_std) for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )
        self.register_buffer("beta", torch.tensor(float(config.beta)), persistent=True)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, BinaryMeanFieldLinear):
            init.normal_(module.field, mean=0.0, std=self.config.field_init_std)

    def set_beta(self, beta: float) -> None:
        """Sets the inverse temperature β (> 0) used by every layer."""
        if not beta > 0 or not math.isfinite(beta):
            raise ValueError(f"beta must be finite and > 0, got {beta}")
        self.beta.fill_(float(beta))

    def fields(self) -> list[torch.Tensor]:
        """The field tensors θ of every layer, input layer first."""
        return [layer.field for layer in self.layers]

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        mode: str | None = None,
        generator: torch.Generator | None = None,
        **kwargs,
    ) -> ImageClassifierOutput:
        """Logits of the network; `mode` (default: `config.forward_mode`) picks the Gaussian-field, mean-field or
        sampled-binary forward pass. With `labels`, `loss` is the mean cross-entropy (no KL: see the trainer)."""
        mode = self.config.forward_mode if mode is None else mode
        if not torch.is_floating_point(pixel_values):
            raise TypeError(f"pixel_values must be a float tensor, got {pixel_values.dtype}")
        x = pixel_values.reshape(pixel_values.shape[0], -1)
        if x.shape[1] != self.config.sizes[0]:
            raise ValueError(
                f"pixel_values must flatten to (batch, {self.config.sizes[0]}) features, got {tuple(pixel_values.shape)}"
            )
        beta = self.beta.to(x.dtype)
        for i, layer in enumerate(self.layers):
            x = layer(x, beta, mode=mode, generator=generator)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(x, labels)
        return ImageClassifierOutput(loss=loss, logits=x)


VariationalBinaryMLP.register_for_auto_class("AutoModel")

__all__ = ["BinaryMeanFieldLinear", "VariationalBinaryMLP", "VariationalBinaryMLPConfig", "tanh_beta_schedule"]
