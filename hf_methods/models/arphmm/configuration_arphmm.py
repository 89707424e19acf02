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
"""Autoregressive partially-hidden Markov model configuration (Juesas, Ramasso, Drujont, Placet, PHME 2016)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class ARPHMMConfig(PreTrainedConfig):
    r"""
    Configuration of an autoregressive partially-hidden Markov model (ARPHMM), from "Autoregressive Hidden Markov
    Models with partial knowledge on latent space applied to aero-engines prognostics" (Juesas, Ramasso, Drujont,
    Placet, PHME 2016). A hidden chain s_t ∈ {1..Q} with initial law π and transitions A switches between per-state
    autoregressive processes

        y_t = −B_k x_{t−1} + c_k + e_t,   e_t ~ N(0, σ_k²),   x_{t−1} = (y_{t−1}, ..., y_{t−P}),

    and every time step may carry a plausibility pl_t ∈ [0, 1]^Q of the states (the partial knowledge).

    Args:
        n_states (`int`, *optional*, defaults to 4):
            Number Q of hidden (degradation) states.
        ar_order (`int`, *optional*, defaults to 2):
            Order P of the per-state autoregressions (length of the lag window x_{t−1}).
        left_to_right (`bool`, *optional*, defaults to `True`):
            Restrict the chain to start in state 1 and to move only from state k to k or k + 1 (degradation never
            reverses). Zero transitions stay zero under EM.
        include_bias (`bool`, *optional*, defaults to `True`):
            Fit a per-state intercept c_k (the official code has none: set `False` for the pure −B_k x_{t−1} model).
        min_variance (`float`, *optional*, defaults to 1e-6):
            Floor on the per-state noise variances σ_k² in the M-step.
        prior_count (`float`, *optional*, defaults to 1e-5):
            Pseudo-count added to the expected transition and initial-state counts before normalising (the official
            code adds 1e-5); on allowed transitions only when `left_to_right`.

    ```python
    >>> from hf_methods import ARPHMMConfig, ARPHMMModel

    >>> model = ARPHMMModel(ARPHMMConfig(n_states=4, ar_order=2))
    ```"""

    model_type = "hfm-arphmm"

    n_states: int = 4
    ar_order: int = 2
    left_to_right: bool = True
    include_bias: bool = True
    min_variance: float | int = 1e-6
    prior_count: float | int = 1e-5

    def __post_init__(self, **kwargs):
        self.min_variance = float(self.min_variance)
        self.prior_count = float(self.prior_count)
        self._check_fields()
        super().__post_init__(**kwargs)

    def _check_fields(self):
        for name, low in (("n_states", 1), ("ar_order", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"`{name}` must be an integer >= {low}, got {value!r}.")
        if not self.min_variance > 0 or self.min_variance == float("inf"):
            raise ValueError(f"`min_variance` must be finite and > 0, got {self.min_variance!r}.")
        if not self.prior_count >= 0 or self.prior_count == float("inf"):
            raise ValueError(f"`prior_count` must be finite and >= 0, got {self.prior_count!r}.")

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the ranges of the fields."""
        super().validate_architecture()
        self._check_fields()


ARPHMMConfig.register_for_auto_class()

__all__ = ["ARPHMMConfig"]
