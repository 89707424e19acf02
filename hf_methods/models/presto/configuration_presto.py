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
"""PRESTO configuration: cumulative-logit model shrunk towards proportional odds (Faletto & Bien, ICML 2023)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class PrestoConfig(PreTrainedConfig):
    r"""
    Configuration of a PRESTO ordinal classifier, from "Predicting Rare Events by Shrinking Towards Proportional
    Odds" (Faletto & Bien, ICML 2023). Each of the K − 1 category boundaries has its own intercept and slope,

        P(y ≤ k | x) = σ(α_k + xᵀβ_k),  k = 1, …, K − 1,

    and the slopes are stored as ψ_1 = β_1, ψ_k = β_k − β_{k−1}: the PRESTO objective puts an L1 penalty λ on the
    differences ψ_2, …, ψ_{K−1} (and on ψ_1 when `penalize_first_slope`), which shrinks the model towards
    proportional odds (one slope shared by all boundaries).

    Args:
        n_features (`int`, *optional*, defaults to 10):
            Number p of input features.
        num_classes (`int`, *optional*, defaults to 4):
            Number K ≥ 2 of ordered classes; class K − 1 (0-based) is the last, typically rare, outcome.
        l1_lambda (`float`, *optional*, defaults to 0.01):
            Default penalty λ ≥ 0 of [`PrestoForOrdinalClassification.fit`].
        penalize_first_slope (`bool`, *optional*, defaults to `True`):
            Whether the L1 penalty also applies to ψ_1 = β_1 (a lasso on the first boundary's slope, as in the
            ordinalNet-based official code), or only to the differences.
        initializer_range (`float`, *optional*, defaults to 1.0):
            Half-width of the initial, evenly spaced intercepts α_k ∈ [−r, r] (slopes start at zero).

    ```python
    >>> from hf_methods import PrestoConfig, PrestoForOrdinalClassification

    >>> model = PrestoForOrdinalClassification(PrestoConfig(n_features=10, num_classes=4))
    ```"""

    model_type = "hfm-presto"

    n_features: int = 10
    num_classes: int = 4
    l1_lambda: float | int = 0.01
    penalize_first_slope: bool = True
    initializer_range: float | int = 1.0

    def __post_init__(self, **kwargs):
        self.l1_lambda = float(self.l1_lambda)
        self.initializer_range = float(self.initializer_range)
        self._check_fields()
        super().__post_init__(**kwargs)

    def _check_fields(self):
        if isinstance(self.n_features, bool) or self.n_features <= 0:
            raise ValueError(f"`n_features` must be a positive integer, got {self.n_features!r}.")
        if isinstance(self.num_classes, bool) or self.num_classes < 2:
            raise ValueError(f"`num_classes` must be an integer >= 2, got {self.num_classes!r}.")
        if not self.l1_lambda >= 0 or self.l1_lambda == float("inf"):
            raise ValueError(f"`l1_lambda` must be finite and >= 0, got {self.l1_lambda!r}.")
        if not self.initializer_range >= 0 or self.initializer_range == float("inf"):
            raise ValueError(f"`initializer_range` must be finite and >= 0, got {self.initializer_range!r}.")

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the ranges of the fields."""
        super().validate_architecture()
        self._check_fields()


PrestoConfig.register_for_auto_class()

__all__ = ["PrestoConfig"]
