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
"""STABLE configuration (Li et al., "Reliable Representations Make A Stronger Defender: Unsupervised Structure
Refinement for Robust GNN", KDD 2022, arXiv 2207.00012)."""

import math

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class STABLEConfig(PreTrainedConfig):
    r"""
    Configuration of STABLE's node classifier: the "advanced GCN", a two-layer GCN whose propagation matrix is

        Ã = D^α (A + I) D^α,  D_ii = Σ_j (A + I)_ij,  then rows normalised to sum 1 when α ≠ −0.5

    (α = −0.5 is the usual symmetric GCN normalisation of Kipf & Welling). A larger α shrinks the messages of
    high-degree neighbours less than GCN does and, after the row normalisation, lets a node keep more of its own
    representation when its neighbourhood has been polluted by inserted edges (paper §4.3).

        H = ReLU(Ã X W₁ + b₁),  logits = Ã dropout(H) W₂ + b₂

    In STABLE the node features X are the contrastive (DGI) representations and A the refined graph
    ([`stable_refine_graph`]); with raw features and the attacked graph at α = −0.5 the same model is the plain GCN
    baseline.

    Args:
        in_dim (`int`, *optional*, defaults to 512):
            Width F of the node features the classifier reads (512: the DGI representations of the paper).
        hidden_size (`int`, *optional*, defaults to 16):
            Width of the hidden GCN layer.
        num_labels (`int`, *optional*, defaults to 2):
            Number of node classes (≥ 2).
        alpha (`float`, *optional*, defaults to -0.5):
            Exponent α of the degree normalisation. The paper tunes it in [−0.5, 2], growing with the perturbation
            rate (Cora: −0.5, −0.3, 0.3, 0.6, 0.6 at 0–20 %); since the rate is unknown in practice, choose it on
            validation nodes.
        dropout (`float`, *optional*, defaults to 0.5):
            Dropout on the hidden layer during training.

    ```python
    >>> from hf_methods.models.stable import STABLEConfig, STABLEForNodeClassification

    >>> model = STABLEForNodeClassification(STABLEConfig(in_dim=512, num_labels=10, alpha=0.3))
    ```"""

    model_type = "hfm-stable"

    in_dim: int = 512
    hidden_size: int = 16
    alpha: float | int = -0.5
    dropout: float | int = 0.5

    def __post_init__(self, **kwargs):
        for name in ("alpha", "dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"`{name}` must be a number, got {value!r}.")
            setattr(self, name, float(value))
        if kwargs.get("num_labels") is None and not kwargs.get("id2label") and self.id2label is None:
            kwargs["num_labels"] = 2
        self._check_fields()
        super().__post_init__(**kwargs)
        if self.num_labels is None or self.num_labels < 2:
            raise ValueError(f"`num_labels` must be >= 2 (node classes), got {self.num_labels!r}.")

    def _check_fields(self):
        for name in ("in_dim", "hidden_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if not math.isfinite(self.alpha) or not -5.0 <= self.alpha <= 5.0:
            raise ValueError(
                f"`alpha` must be a finite exponent in [-5, 5] (the paper uses -0.5 to 2), got {self.alpha}."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout!r}.")

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        super().validate_architecture()
        self._check_fields()


STABLEConfig.register_for_auto_class()

__all__ = ["STABLEConfig"]
