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
"""Bandlimited random-feature network configuration (Li et al., ICML 2023)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

RANDOM_FEATURE_ACTIVATIONS = ("tanh", "sigmoid", "relu", "cos")
RANDOM_FEATURE_WEIGHT_DISTS = ("uniform", "gaussian")


@strict
class RandomFeatureConfig(PreTrainedConfig):
    r"""
    Configuration of a depth-2 random network with frozen, bandlimited hidden parameters, from "How Powerful are
    Shallow Neural Networks with Bandlimited Random Weights?" (Li, Sonoda, Cao, Wang, Liang, ICML 2023):

        f_N(x) = Σ_{j=1..N} c_j σ(a_jᵀx − b_j) + c_0,

    where the hidden parameters (a_j, b_j) are drawn i.i.d. from a distribution on a bounded domain Ω of "bandwidth" λ
    and frozen, and only the readout (c_j, c_0) is trained. They are drawn from a `torch.Generator` seeded with
    `feature_seed`, so they are a function of the configuration alone.

    Args:
        in_dim (`int`, *optional*, defaults to 1):
            Dimension d of the inputs x.
        width (`int`, *optional*, defaults to 400):
            Number N of hidden units.
        out_dim (`int`, *optional*, defaults to 1):
            Number of outputs (one readout per output).
        activation (`str`, *optional*, defaults to `"tanh"`):
            Activation σ: one of `"tanh"`, `"sigmoid"`, `"relu"`, `"cos"`.
        weight_dist (`str`, *optional*, defaults to `"uniform"`):
            Distribution of the hidden parameters: `"uniform"` draws a_j, b_j ~ U[−λ, λ] (supported on the bounded
            domain Ω = [−λ, λ]^{d+1} of the paper); `"gaussian"` draws them from N(0, λ²) (unbounded support).
        bandwidth (`float`, *optional*, defaults to 1.0):
            The range λ > 0 of the hidden parameters.
        ridge (`float`, *optional*, defaults to 1e-6):
            Ridge ρ ≥ 0 added to the *normalised* Gram matrix ΦᵀΦ / n by [`RandomFeatureModel.fit_readout`].
        feature_seed (`int`, *optional*, defaults to 0):
            Seed of the `torch.Generator` that draws the frozen hidden parameters.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the readout weights (before any fit).

    ```python
    >>> from hf_methods import RandomFeatureConfig, RandomFeatureModel

    >>> config = RandomFeatureConfig(in_dim=1, width=400, bandwidth=16.0, activation="tanh")
    >>> model = RandomFeatureModel(config)
    ```"""

    model_type = "hfm-random_features"

    in_dim: int = 1
    width: int = 400
    out_dim: int = 1
    activation: str = "tanh"
    weight_dist: str = "uniform"
    bandwidth: float | int = 1.0
    ridge: float | int = 1e-6
    feature_seed: int = 0
    initializer_range: float | int = 0.02

    def __post_init__(self, **kwargs):
        # Integers are accepted for the float fields (`bandwidth=16`) and stored as floats.
        self.bandwidth = float(self.bandwidth)
        self.ridge = float(self.ridge)
        self.initializer_range = float(self.initializer_range)
        # Checked here as well as in `validate_architecture`, so that a bad value raises a plain `ValueError` at
        # construction (`@strict` wraps errors of class validators in its own exception type).
        self._check_fields()
        super().__post_init__(**kwargs)

    def _check_fields(self):
        for name in ("in_dim", "width", "out_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.activation not in RANDOM_FEATURE_ACTIVATIONS:
            raise ValueError(f"`activation` must be one of {RANDOM_FEATURE_ACTIVATIONS}, got {self.activation!r}.")
        if self.weight_dist not in RANDOM_FEATURE_WEIGHT_DISTS:
            raise ValueError(f"`weight_dist` must be one of {RANDOM_FEATURE_WEIGHT_DISTS}, got {self.weight_dist!r}.")
        if not self.bandwidth > 0 or self.bandwidth == float("inf"):
            raise ValueError(
                f"`bandwidth` (the range λ of the hidden parameters) must be finite and > 0, got {self.bandwidth!r}."
            )
        if not self.ridge >= 0 or self.ridge == float("inf"):
            raise ValueError(f"`ridge` must be finite and >= 0, got {self.ridge!r}.")
        if not self.initializer_range >= 0:
            raise ValueError(f"`initializer_range` must be >= 0, got {self.initializer_range!r}.")

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the ranges and choices of the fields."""
        super().validate_architecture()
        self._check_fields()


RandomFeatureConfig.register_for_auto_class()

__all__ = ["RandomFeatureConfig"]
