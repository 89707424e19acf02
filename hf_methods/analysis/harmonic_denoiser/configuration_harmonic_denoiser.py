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
"""Bias-free blind denoiser configuration (Mohan et al., ICLR 2020; Kadkhodaie et al., ICLR 2024)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

NOISE_SCHEDULES = ("uniform", "quadratic")


@strict
class BiasFreeDenoiserConfig(PreTrainedConfig):
    r"""
    Configuration of a bias-free convolutional blind denoiser, the "BF-CNN" of Mohan, Kadkhodaie, Simoncelli and
    Fernandez-Granda ("Robust and interpretable blind image denoising via bias-free convolutional neural networks",
    ICLR 2020) used by Kadkhodaie, Guth, Simoncelli and Mallat ("Generalization in diffusion models arises from
    geometry-adaptive harmonic representations", ICLR 2024).

    The network predicts the noise residual f(y) ≈ y − x of a noisy image y = x + σz and denoises with
    D(y) = y − f(y). It has no additive constant anywhere (convolutions without bias, batch normalisation that
    neither subtracts a mean nor adds a shift), so in evaluation mode it is piecewise linear and positively
    homogeneous of degree one: f(αy) = αf(y) for α > 0, and f(y) = ∇f(y)·y. There is deliberately no field that
    would add a bias.

    Args:
        num_channels (`int`, *optional*, defaults to 1):
            Channels of the images (1 for grayscale).
        num_layers (`int`, *optional*, defaults to 5):
            Convolutions in total (at least 2): a first convolution, `num_layers − 2` convolutions each followed by
            bias-free batch normalisation and a ReLU, and a last convolution back to `num_channels`.
        num_kernels (`int`, *optional*, defaults to 32):
            Channels of the hidden layers.
        kernel_size (`int`, *optional*, defaults to 3):
            Odd side of the square kernels ("same" zero padding).
        first_layer_linear (`bool`, *optional*, defaults to `False`):
            Whether the first convolution is left without a ReLU (the official `BF_CNN` option; off by default).
        noise_schedule (`str`, *optional*, defaults to `"quadratic"`):
            How [`~BiasFreeDenoiser.add_noise`] draws the noise level of each training image: `"uniform"` draws
            σ ~ U[σ_min, σ_max]; `"quadratic"` draws σ = (√σ_min + u (√σ_max − √σ_min))² with u ~ U[0, 1] (the
            official code's default, which favours small noise levels).
        min_noise_level (`float`, *optional*, defaults to 0.0):
            σ_min ≥ 0, on images in [0, 1].
        max_noise_level (`float`, *optional*, defaults to 1.0):
            σ_max > σ_min, on images in [0, 1].
        batch_norm_momentum (`float`, *optional*, defaults to 0.1):
            Weight of the current batch in the running standard deviation of each channel.
        batch_norm_eps (`float`, *optional*, defaults to 1e-5):
            Added to the batch variance in training mode (evaluation mode divides by the running standard deviation
            only, so the network stays exactly homogeneous).

    ```python
    >>> from hf_methods import BiasFreeDenoiser, BiasFreeDenoiserConfig

    >>> model = BiasFreeDenoiser(BiasFreeDenoiserConfig(num_layers=5, num_kernels=32))
    ```"""

    model_type = "hfm-harmonic_denoiser"

    num_channels: int = 1
    num_layers: int = 5
    num_kernels: int = 32
    kernel_size: int = 3
    first_layer_linear: bool = False
    noise_schedule: str = "quadratic"
    min_noise_level: float | int = 0.0
    max_noise_level: float | int = 1.0
    batch_norm_momentum: float | int = 0.1
    batch_norm_eps: float | int = 1e-5

    def __post_init__(self, **kwargs):
        for name in ("min_noise_level", "max_noise_level", "batch_norm_momentum", "batch_norm_eps"):
            setattr(self, name, float(getattr(self, name)))
        # Checked here as well as in `validate_architecture`, so that a bad value raises a plain `ValueError` at
        # construction (`@strict` wraps errors of class validators in its own exception type).
        self._check_fields()
        super().__post_init__(**kwargs)

    def _check_fields(self):
        for name in ("num_channels", "num_layers", "num_kernels", "kernel_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.num_layers < 2:
            raise ValueError(
                f"`num_layers` must be at least 2 (a first and a last convolution), got {self.num_layers}."
            )
        if self.kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be odd (same padding keeps the image size), got {self.kernel_size}.")
        if self.noise_schedule not in NOISE_SCHEDULES:
            raise ValueError(f"`noise_schedule` must be one of {NOISE_SCHEDULES}, got {self.noise_schedule!r}.")
        if not 0.0 <= self.min_noise_level < float("inf"):
            raise ValueError(f"`min_noise_level` must be finite and >= 0, got {self.min_noise_level!r}.")
        if not self.min_noise_level < self.max_noise_level < float("inf"):
            raise ValueError(
                f"`max_noise_level` must be finite and > min_noise_level ({self.min_noise_level}), got "
                f"{self.max_noise_level!r}."
            )
        if not 0.0 < self.batch_norm_momentum <= 1.0:
            raise ValueError(f"`batch_norm_momentum` must be in (0, 1], got {self.batch_norm_momentum!r}.")
        if not self.batch_norm_eps >= 0.0:
            raise ValueError(f"`batch_norm_eps` must be >= 0, got {self.batch_norm_eps!r}.")

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the ranges and choices of the fields."""
        super().validate_architecture()
        self._check_fields()


BiasFreeDenoiserConfig.register_for_auto_class()

__all__ = ["BiasFreeDenoiserConfig"]
