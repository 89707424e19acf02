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
"""D2NWG configuration (Soro et al., "Diffusion-Based Neural Network Weights Generation", arXiv 2402.18153)."""

import math

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

D2NWG_SET_POOLINGS = ("moments", "linear")
D2NWG_RECONSTRUCTION_LOSSES = ("mse", "l1")

# The default target model: a linear classifier 64 -> 2 on flattened 8x8 digits (130 parameters).
DEFAULT_PARAMETER_SPEC = (("weight", (2, 64)), ("bias", (2,)))


@strict
class D2NWGConfig(PreTrainedConfig):
    r"""
    Configuration of a D2NWG weight generator: the three networks of "Diffusion-Based Neural Network Weights
    Generation" (Soro et al.), shared by [`WeightVAE`], [`DatasetSetEncoder`], [`LatentWeightDiffusion`] and the
    composite [`D2NWGModel`]:

    1. a weight VAE compresses the flattened parameters w ∈ R^P of a target model into a latent z ∈ R^d and back,
       trained with reconstruction + `kl_weight` · KL(q(z|w) ‖ N(0, I));
    2. a dataset set-encoder maps a support set (C classes × K samples × F features, classes in label order) to a
       condition vector c;
    3. a latent denoiser ε_θ(z_t, t, c) is trained with the ε-prediction objective on the scaled latents
       `latent_scale` · z, conditioned by concatenation on c.

    `parameter_spec` is the flattening order of the target model's state dict: a generated vector is useless
    without it, so it lives in the config and travels with every checkpoint.

    Args:
        parameter_spec (`list[list]`, *optional*, defaults to `[["weight", [2, 64]], ["bias", [2]]]`):
            `[name, shape]` of each target-model parameter, in flattening order. P = Σ prod(shape).
        vae_hidden_sizes (`list[int]`, *optional*, defaults to `[128]`):
            Widths of the VAE encoder's hidden layers (the decoder mirrors them).
        latent_dim (`int`, *optional*, defaults to 16):
            Size d of the weight latent.
        kl_weight (`float`, *optional*, defaults to 1e-6):
            Weight of the KL term of the VAE loss (the official value: the VAE is close to a plain autoencoder).
        reconstruction_loss (`str`, *optional*, defaults to `"mse"`):
            `"mse"` or `"l1"` (the official stage-1 loss is an L1 reconstruction), summed over parameters and averaged
            over the batch.
        num_classes (`int`, *optional*, defaults to 2):
            Number C of classes of a support set (the outputs of the target classifier, in label order).
        samples_per_class (`int`, *optional*, defaults to 5):
            Number K of support samples per class.
        feature_dim (`int`, *optional*, defaults to 64):
            Size F of a support sample's features (raw pixels here; CLIP features in the paper).
        set_pooling (`str`, *optional*, defaults to `"moments"`):
            How the set encoder reads a support set: `"moments"` pools each class by the mean and standard deviation
            of its K samples (invariant to the order of samples within a class); `"linear"` mixes the C·K samples
            of every feature with a learned linear map to `set_mixing_dim` values, as the official `MyMLPEncoder`.
        set_mixing_dim (`int`, *optional*, defaults to 4):
            Output size of the `"linear"` pooling's sample-mixing map.
        set_hidden_size (`int`, *optional*, defaults to 128):
            Width of the set encoder's hidden layer.
        condition_dim (`int`, *optional*, defaults to 64):
            Size of the dataset embedding c.
        denoiser_hidden_size (`int`, *optional*, defaults to 256):
            Width of the latent denoiser's hidden layers.
        denoiser_num_layers (`int`, *optional*, defaults to 3):
            Number of residual hidden blocks of the latent denoiser.
        time_embed_dim (`int`, *optional*, defaults to 64):
            Size of the sinusoidal timestep embedding (even).
        num_train_timesteps (`int`, *optional*, defaults to 200):
            Number T of diffusion steps; timesteps must lie in [0, T).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of linear weights.

    ```python
    >>> from hf_methods.models.d2nwg import D2NWGConfig, D2NWGModel

    >>> config = D2NWGConfig(parameter_spec=[["weight", [2, 64]], ["bias", [2]]], latent_dim=16)
    >>> model = D2NWGModel(config)  # vae, dataset_encoder and denoiser
    ```"""

    model_type = "hfm-d2nwg"

    parameter_spec: list | tuple = DEFAULT_PARAMETER_SPEC
    vae_hidden_sizes: list[int] | tuple[int, ...] = (128,)
    latent_dim: int = 16
    kl_weight: float | int = 1e-6
    reconstruction_loss: str = "mse"
    num_classes: int = 2
    samples_per_class: int = 5
    feature_dim: int = 64
    set_pooling: str = "moments"
    set_mixing_dim: int = 4
    set_hidden_size: int = 128
    condition_dim: int = 64
    denoiser_hidden_size: int = 256
    denoiser_num_layers: int = 3
    time_embed_dim: int = 64
    num_train_timesteps: int = 200
    initializer_range: float | int = 0.02

    def __post_init__(self, **kwargs):
        self.parameter_spec = self._normalise_spec(self.parameter_spec)
        self.vae_hidden_sizes = list(self.vae_hidden_sizes)
        self.kl_weight = float(self.kl_weight)
        self.initializer_range = float(self.initializer_range)
        # Checked here as well as in `validate_architecture`, so that a bad value raises a plain `ValueError` at
        # construction (`@strict` wraps errors of class validators in its own exception type).
        self._check_fields()
        super().__post_init__(**kwargs)

    @staticmethod
    def _normalise_spec(spec) -> list:
        if not isinstance(spec, (list, tuple)) or len(spec) == 0:
            raise ValueError(f"`parameter_spec` must be a non-empty list of [name, shape] pairs, got {spec!r}.")
        normalised, names = [], set()
        for entry in spec:
            if not isinstance(entry, (list, tuple)) or len(entry) != 2:
                raise ValueError(f"`parameter_spec` entries must be [name, shape] pairs, got {entry!r}.")
            name, shape = entry
            if not isinstance(name, str) or not name:
                raise ValueError(f"`parameter_spec` names must be non-empty strings, got {name!r}.")
            if name in names:
                raise ValueError(f"`parameter_spec` names a parameter twice: {name!r}.")
            names.add(name)
            if not isinstance(shape, (list, tuple)) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
            ):
                raise ValueError(
                    f"`parameter_spec` shape of {name!r} must be a list of positive integers, got {shape!r}."
                )
            normalised.append([name, [int(s) for s in shape]])
        return normalised

    @property
    def num_parameters_generated(self) -> int:
        """P: the length of a flattened parameter vector of the target model."""
        return sum(math.prod(shape) for _, shape in self.parameter_spec)

    def _check_fields(self):
        for name in (
            "latent_dim",
            "num_classes",
            "samples_per_class",
            "feature_dim",
            "set_mixing_dim",
            "set_hidden_size",
            "condition_dim",
            "denoiser_hidden_size",
            "time_embed_dim",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if not self.vae_hidden_sizes or any(
            isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in self.vae_hidden_sizes
        ):
            raise ValueError(
                f"`vae_hidden_sizes` must be a non-empty list of positive integers, got {self.vae_hidden_sizes!r}."
            )
        if isinstance(self.denoiser_num_layers, bool) or self.denoiser_num_layers < 1:
            raise ValueError(f"`denoiser_num_layers` must be >= 1, got {self.denoiser_num_layers!r}.")
        if self.time_embed_dim % 2:
            raise ValueError(f"`time_embed_dim` must be even (sine and cosine halves), got {self.time_embed_dim}.")
        if isinstance(self.num_train_timesteps, bool) or self.num_train_timesteps < 2:
            raise ValueError(f"`num_train_timesteps` must be an integer >= 2, got {self.num_train_timesteps!r}.")
        if not (self.kl_weight >= 0 and math.isfinite(self.kl_weight)):
            raise ValueError(f"`kl_weight` must be finite and >= 0, got {self.kl_weight!r}.")
        if self.reconstruction_loss not in D2NWG_RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"`reconstruction_loss` must be one of {D2NWG_RECONSTRUCTION_LOSSES}, got {self.reconstruction_loss!r}."
            )
        if self.set_pooling not in D2NWG_SET_POOLINGS:
            raise ValueError(f"`set_pooling` must be one of {D2NWG_SET_POOLINGS}, got {self.set_pooling!r}.")
        if self.set_pooling == "moments" and self.samples_per_class < 2:
            raise ValueError(
                "`samples_per_class` must be >= 2 with set_pooling='moments' (a standard deviation needs two "
                f"samples), got {self.samples_per_class}."
            )
        if not self.initializer_range >= 0:
            raise ValueError(f"`initializer_range` must be >= 0, got {self.initializer_range!r}.")

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the ranges and choices of the fields."""
        super().validate_architecture()
        self._check_fields()


D2NWGConfig.register_for_auto_class()

__all__ = ["D2NWGConfig"]
