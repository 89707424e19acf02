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
"""Monotone deep Boltzmann machine configuration (Feng, Winston, Kolter, 2023)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class MonotoneDBMConfig(PreTrainedConfig):
    r"""
    Configuration of a monotone deep Boltzmann machine ("Monotone deep Boltzmann machines", Feng, Winston, Kolter,
    2023), in a dense form: the variables are layers of categorical groups, the first layer holds the pixels (one
    group of `num_bins` intensity bins per pixel), the last layer is the label (one group of `num_labels` classes),
    and every pair of groups may be coupled, inside a layer too, except a group with itself (hollow couplings):

        W = −(AᵀA − blockdiag(AᵀA)),   ‖A_g‖₂² ≤ 1 − m for every group g (columns A_g of group g),

    which makes I − W ⪰ m·I, so the mean-field fixed point q = prox_f^α((1 − α)q + α(Wq + b)) is unique.

    Args:
        group_counts (`list[int]`, *optional*, defaults to `[64, 8, 1]`):
            Number of categorical groups in each layer: pixels, hidden layers, label (the last count must be 1).
        group_sizes (`list[int]`, *optional*, defaults to `[2, 8, 10]`):
            Number of states of a group in each layer: intensity bins, hidden states, classes.
        coupling_rank (`int`, *optional*):
            Number of rows of A (`None`: the number of variables, so W can be any hollow coupling).
        alpha (`float`, *optional*, defaults to 0.125):
            Step α ∈ (0, 1) of the damped forward–backward splitting (α = 1 would be plain softmax mean-field).
        monotone_margin (`float`, *optional*, defaults to 0.01):
            Strong-monotonicity margin m ∈ (0, 1).
        tol (`float`, *optional*, defaults to 1e-4):
            Relative residual ‖q_{k+1} − q_k‖ / ‖q_k‖ at which the fixed-point iteration stops.
        max_iter (`int`, *optional*, defaults to 300):
            Most forward–backward iterations.
        backward_tol (`float`, *optional*, defaults to 1e-4), backward_max_iter (`int`, *optional*, defaults to 300):
            Same, for the fixed-point iteration of the implicit (DEQ) backward pass.
        classification_weight (`float`, *optional*, defaults to 0.5), completion_weight (`float`, defaults to 0.5):
            Weights of the label cross-entropy and of the focal loss on unobserved pixels.
        focal_gamma (`float`, *optional*, defaults to 2.0):
            γ of the focal loss −(1 − p)^γ log p on unobserved pixels (0: cross-entropy).
        initializer_range (`float`, *optional*, defaults to 1.0):
            A is drawn N(0, initializer_range² / n) before the per-group rescaling.

    ```python
    >>> from hf_methods.models.monotone_dbm import MonotoneDBMConfig, MonotoneDBMModel

    >>> model = MonotoneDBMModel(MonotoneDBMConfig(group_counts=[64, 8, 1], group_sizes=[2, 8, 10]))
    ```"""

    model_type = "hfm-monotone_dbm"

    group_counts: list[int] | tuple[int, ...] = (64, 8, 1)
    group_sizes: list[int] | tuple[int, ...] = (2, 8, 10)
    coupling_rank: int | None = None
    alpha: float | int = 0.125
    monotone_margin: float | int = 0.01
    tol: float | int = 1e-4
    max_iter: int = 300
    backward_tol: float | int = 1e-4
    backward_max_iter: int = 300
    classification_weight: float | int = 0.5
    completion_weight: float | int = 0.5
    focal_gamma: float | int = 2.0
    initializer_range: float | int = 1.0

    def __post_init__(self, **kwargs):
        self.group_counts = list(self.group_counts)
        self.group_sizes = list(self.group_sizes)
        for name in (
            "alpha",
            "monotone_margin",
            "tol",
            "backward_tol",
            "classification_weight",
            "completion_weight",
            "focal_gamma",
            "initializer_range",
        ):
            value = getattr(self, name)
            if not isinstance(value, bool):
                setattr(self, name, float(value))
        self._check_fields()
        super().__post_init__(**kwargs)

    def _check_fields(self):
        counts, sizes = self.group_counts, self.group_sizes
        if len(counts) < 2 or len(counts) != len(sizes):
            raise ValueError(
                f"`group_counts` and `group_sizes` must be lists of the same length >= 2 (pixels, ..., label), got "
                f"{counts!r} and {sizes!r}."
            )
        for name, values in (("group_counts", counts), ("group_sizes", sizes)):
            if any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values):
                raise ValueError(f"`{name}` must hold positive integers, got {values!r}.")
        if counts[-1] != 1:
            raise ValueError(f"`group_counts` must end with 1 (the label layer is one group), got {counts!r}.")
        if any(s < 2 for s in sizes):
            raise ValueError(f"`group_sizes` must be >= 2 (a categorical variable has 2+ states), got {sizes!r}.")
        if self.coupling_rank is not None and (isinstance(self.coupling_rank, bool) or self.coupling_rank <= 0):
            raise ValueError(f"`coupling_rank` must be None or a positive integer, got {self.coupling_rank!r}.")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(
                f"`alpha` must lie in (0, 1) (alpha = 1 is plain softmax mean-field, without the uniqueness "
                f"guarantee), got {self.alpha!r}."
            )
        if not 0.0 < self.monotone_margin < 1.0:
            raise ValueError(f"`monotone_margin` (m) must lie in (0, 1), got {self.monotone_margin!r}.")
        for name in ("tol", "backward_tol"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)!r}.")
        for name in ("max_iter", "backward_max_iter"):
            value = getattr(self, name)
            if isinstance(value, bool) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        for name in ("classification_weight", "completion_weight", "focal_gamma", "initializer_range"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"`{name}` must be >= 0, got {getattr(self, name)!r}.")

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the ranges and choices of the fields."""
        super().validate_architecture()
        self._check_fields()

    @property
    def num_pixels(self) -> int:
        return self.group_counts[0]

    @property
    def num_bins(self) -> int:
        return self.group_sizes[0]

    @property
    def num_classes(self) -> int:
        return self.group_sizes[-1]

    @property
    def num_variables(self) -> int:
        return sum(c * s for c, s in zip(self.group_counts, self.group_sizes))


MonotoneDBMConfig.register_for_auto_class()

__all__ = ["MonotoneDBMConfig"]
