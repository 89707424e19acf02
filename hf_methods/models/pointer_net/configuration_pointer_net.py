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
"""Pointer Network configuration (Vinyals, Fortunato, Jaitly, "Pointer Networks", NeurIPS 2015)."""

import math

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

#: Decoding constraints of [`PointerNetForSequenceOrdering.generate`].
POINTER_CONSTRAINTS = ("permutation", "cycle")


@strict
class PointerNetConfig(PreTrainedConfig):
    r"""
    Configuration of a Pointer Network (Ptr-Net): an LSTM encoder reads the input points P = (P_1, …, P_n), an LSTM
    decoder emits one output per step, and the output of step i is an *input position*, chosen by content-based
    attention over the encoder states (paper, Eq. 3):

        u_j^i = vᵀ tanh(W_1 e_j + W_2 d_i),   j = 1 … n
        p(C_i | C_1, …, C_{i−1}, P) = softmax(u^i)

    so the output "vocabulary" has as many entries as the input has points, whatever n is. The decoder's input at
    step i is the coordinates of the point pointed at step i − 1 (a learned start vector at step 0); its initial state
    is the encoder's final state.

    Args:
        input_dim (`int`, *optional*, defaults to 2):
            Dimension d of each input point (1 for sorting numbers, 2 for planar problems).
        hidden_size (`int`, *optional*, defaults to 256):
            Width of the encoder and decoder LSTMs (the paper uses 256 or 512).
        num_layers (`int`, *optional*, defaults to 1):
            Number of stacked LSTM layers in the encoder and in the decoder (the paper uses 1).
        attention_size (`int`, *optional*):
            Width of the pointer attention (rows of W_1, W_2 and length of v); defaults to `hidden_size`.
        dropout (`float`, *optional*, defaults to 0.0):
            Dropout between stacked LSTM layers (only used when `num_layers > 1`).
        init_range (`float`, *optional*, defaults to 0.08):
            Every weight is initialised from U(−init_range, init_range), as in the paper.
        max_points (`int`, *optional*, defaults to 1024):
            Largest number of input points accepted by `forward` and `generate` (a guard against mistaken shapes;
            the model itself has no length limit).

    ```python
    >>> from hf_methods.models.pointer_net import PointerNetConfig, PointerNetForSequenceOrdering

    >>> config = PointerNetConfig(input_dim=1, hidden_size=64)
    >>> model = PointerNetForSequenceOrdering(config)
    ```"""

    model_type = "hfm-pointer_net"

    input_dim: int = 2
    hidden_size: int = 256
    num_layers: int = 1
    attention_size: int | None = None
    dropout: float | int = 0.0
    init_range: float | int = 0.08
    max_points: int = 1024

    def __post_init__(self, **kwargs):
        self.dropout = float(self.dropout)
        self.init_range = float(self.init_range)
        # Checked here as well as in `validate_architecture`, so that a bad value raises a plain `ValueError` at
        # construction (`@strict` wraps errors of class validators in its own exception type).
        self._check_fields()
        if self.attention_size is None:
            self.attention_size = self.hidden_size
        super().__post_init__(**kwargs)

    def _check_fields(self):
        for name in ("input_dim", "hidden_size", "num_layers", "max_points"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.attention_size is not None and (isinstance(self.attention_size, bool) or self.attention_size <= 0):
            raise ValueError(f"`attention_size` must be a positive integer or None, got {self.attention_size!r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout!r}.")
        if not (math.isfinite(self.init_range) and self.init_range > 0):
            raise ValueError(f"`init_range` (weights ~ U(−r, r)) must be finite and > 0, got {self.init_range!r}.")

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the ranges of the fields."""
        super().validate_architecture()
        self._check_fields()


PointerNetConfig.register_for_auto_class()

__all__ = ["POINTER_CONSTRAINTS", "PointerNetConfig"]
