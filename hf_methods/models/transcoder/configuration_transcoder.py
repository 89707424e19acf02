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
"""Transcoder configuration (Dunefsky, Chlenski, Nanda, "Transcoders Find Interpretable LLM Feature Circuits", 2024)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class TranscoderConfig(PreTrainedConfig):
    r"""
    Configuration of a transcoder: a wide, sparsely activating MLP trained to imitate one dense MLP sublayer of a
    language model, mapping the MLP's input x (the post-LayerNorm residual stream) to its output y:

        z = ReLU(W_encᵀ (x − b_dec) + b_enc),      ŷ = W_decᵀ z + b_dec_out,

    trained on  mean_t [ ‖ŷ_t − y_t‖² / ‖y_t‖₂ ] / d_out  +  λ · mean_t ‖z_t‖₁  (see [`transcoder_loss`]).

    Args:
        d_in (`int`, *optional*, defaults to 768):
            Width of the MLP input x (the model's hidden size).
        d_out (`int`, *optional*):
            Width of the MLP output y; defaults to `d_in`.
        expansion (`int`, *optional*, defaults to 32):
            Number of features per input dimension: `d_sae = expansion * d_in` unless `d_sae` is given.
        d_sae (`int`, *optional*):
            Number of transcoder features (the hidden width); defaults to `expansion * d_in`.
        l1_coeff (`float`, *optional*, defaults to 1.4e-4):
            Sparsity coefficient λ of the L1 penalty on the feature activations (the paper's default).
        layer (`int`, *optional*):
            Index of the language-model layer whose MLP the transcoder replaces (metadata used by `splice`).
        base_model_name (`str`, *optional*):
            Name or path of the language model the transcoder was trained on (metadata).

    ```python
    >>> from hf_methods import TranscoderConfig, TranscoderModel

    >>> config = TranscoderConfig(d_in=768, expansion=32, l1_coeff=1.4e-4, layer=8)
    >>> transcoder = TranscoderModel(config)  # 24,576 features for a GPT-2-small MLP
    ```"""

    model_type = "hfm-transcoder"

    d_in: int = 768
    d_out: int | None = None
    expansion: int = 32
    d_sae: int | None = None
    l1_coeff: float | int = 1.4e-4
    layer: int | None = None
    base_model_name: str | None = None

    def __post_init__(self, **kwargs):
        self.l1_coeff = float(self.l1_coeff)
        # Checked before the defaults are filled in, and again in `validate_architecture`, so that a bad value raises a
        # plain `ValueError` at construction (`@strict` wraps errors of class validators in its own exception type).
        self._check_fields()
        if self.d_out is None:
            self.d_out = self.d_in
        if self.d_sae is None:
            self.d_sae = self.expansion * self.d_in
        super().__post_init__(**kwargs)

    def _check_fields(self):
        for name in ("d_in", "d_out", "expansion", "d_sae"):
            value = getattr(self, name)
            if value is None and name in ("d_out", "d_sae"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if not self.l1_coeff >= 0 or self.l1_coeff == float("inf"):
            raise ValueError(
                f"`l1_coeff` (the sparsity coefficient λ) must be finite and >= 0, got {self.l1_coeff!r}."
            )
        if self.layer is not None and (isinstance(self.layer, bool) or self.layer < 0):
            raise ValueError(f"`layer` must be None or an integer >= 0, got {self.layer!r}.")

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the ranges of the fields."""
        super().validate_architecture()
        self._check_fields()


TranscoderConfig.register_for_auto_class()

__all__ = ["TranscoderConfig"]
