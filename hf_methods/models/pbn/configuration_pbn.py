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
"""PBN configuration (Troisemaine et al., "A Practical Approach to Novel Class Discovery in Tabular Data")."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

PBN_ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "gelu")
PBN_LATENT_NORMS = ("l1", "l2")


@strict
class PBNConfig(PreTrainedConfig):
    r"""
    Configuration of a Projection-Based Network (PBN) for novel class discovery on tabular data: an MLP encoder φ
    to a latent space, a mirrored decoder ψ and a linear classifier g over the known classes, trained with

        L = w · CE(g(φ(x_known)), y_known) + (1 − w) · Σ_i ‖ψ(φ(x_i)) − x_i‖² / B

    over mixed batches of B known and unlabelled samples. The novel classes are then found by clustering φ(x) of the
    unlabelled samples (k-means or NCD k-means).

    Args:
        input_dim (`int`, *optional*, defaults to 64):
            Number of tabular features.
        hidden_dims (`list[int]`, *optional*, defaults to `[64]`):
            Widths of the encoder's hidden layers (the decoder mirrors them). May be empty (linear projection).
        latent_dim (`int`, *optional*, defaults to 16):
            Width of the latent space φ(x).
        num_known (`int`, *optional*, defaults to 5):
            Number of known classes (outputs of the classifier g).
        w (`float`, *optional*, defaults to 0.5):
            Trade-off w ∈ [0, 1] between cross-entropy (w = 1: classification only) and reconstruction (w = 0).
        activation (`str`, *optional*, defaults to `"relu"`):
            Activation between linear layers, one of `PBN_ACTIVATIONS`.
        use_batchnorm (`bool`, *optional*, defaults to `False`):
            BatchNorm1d after each hidden activation.
        dropout (`float`, *optional*, defaults to 0.0):
            Dropout probability after each hidden activation.
        latent_norm (`str`, *optional*):
            `"l1"` or `"l2"`: normalise φ(x) before the decoder and the classifier (as the official code); the
            clustering reads the unnormalised projection.
        initializer_range (`float`, *optional*, defaults to 0.0):
            Std of a normal initialisation of the linear weights; 0 keeps PyTorch's default (Kaiming-uniform) init,
            as the official code.

    ```python
    >>> from hf_methods.models.pbn import PBNConfig, PBNForNovelClassDiscovery
    >>> model = PBNForNovelClassDiscovery(PBNConfig(input_dim=64, latent_dim=16, num_known=5, w=0.5))
    ```"""

    model_type = "hfm-pbn"

    input_dim: int = 64
    hidden_dims: list[int] | tuple[int, ...] = (64,)
    latent_dim: int = 16
    num_known: int = 5
    w: float | int = 0.5
    activation: str = "relu"
    use_batchnorm: bool = False
    dropout: float | int = 0.0
    latent_norm: str | None = None
    initializer_range: float | int = 0.0

    def __post_init__(self, **kwargs):
        self.hidden_dims = list(self.hidden_dims)
        self.w = float(self.w)
        self.dropout = float(self.dropout)
        self.initializer_range = float(self.initializer_range)
        self._check_fields()
        super().__post_init__(**kwargs)

    def _check_fields(self):
        for name in ("input_dim", "latent_dim", "num_known"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        for width in self.hidden_dims:
            if isinstance(width, bool) or not isinstance(width, int) or width <= 0:
                raise ValueError(f"`hidden_dims` must hold positive integers, got {self.hidden_dims!r}.")
        if not 0.0 <= self.w <= 1.0:
            raise ValueError(f"`w` (the cross-entropy weight) must be in [0, 1], got {self.w!r}.")
        if self.activation not in PBN_ACTIVATIONS:
            raise ValueError(f"`activation` must be one of {PBN_ACTIVATIONS}, got {self.activation!r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout!r}.")
        if self.latent_norm is not None and self.latent_norm not in PBN_LATENT_NORMS:
            raise ValueError(f"`latent_norm` must be None or one of {PBN_LATENT_NORMS}, got {self.latent_norm!r}.")
        if not self.initializer_range >= 0:
            raise ValueError(f"`initializer_range` must be >= 0, got {self.initializer_range!r}.")

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        super().validate_architecture()
        self._check_fields()


PBNConfig.register_for_auto_class()

__all__ = ["PBN_ACTIVATIONS", "PBN_LATENT_NORMS", "PBNConfig"]
