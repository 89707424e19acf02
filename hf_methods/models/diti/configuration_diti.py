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
"""DiTi encoder configuration (Yue et al., "Exploring Diffusion Time-steps for Unsupervised Representation Learning",
ICLR 2024)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class DiTiConfig(PreTrainedConfig):
    r"""
    Configuration of a DiTi image encoder: a convolutional encoder E(x₀) = z ∈ R^d whose representation is split into
    `num_chunks` = k contiguous chunks, chunk i tied to the i-th range of diffusion time-steps.

    With the uniform partition of the official code, time-step t ∈ {0, …, T−1} belongs to range

        idx(t) = ⌊t · k / T⌋,

    and chunk i holds the dimensions [⌊d·i/k⌋, ⌊d·(i+1)/k⌋) of z. Training (see `DiTiTrainer`) conditions a decoder at
    step t on the chunks 0..idx(t) only, so chunk i learns the attributes the forward process destroys in range i:
    fine details in the early ranges, coarse shape in the late ones.

    Args:
        image_size (`int`, *optional*, defaults to 8):
            Height and width of the (square) input images.
        num_channels (`int`, *optional*, defaults to 1):
            Number of channels of the input images.
        hidden_sizes (`list[int]`, *optional*, defaults to `[32, 64]`):
            Channels of the convolution layers (3×3, SiLU); every layer after the first halves the resolution.
        latent_dim (`int`, *optional*, defaults to 16):
            Dimension d of the representation z (the paper uses 512).
        num_chunks (`int`, *optional*, defaults to 4):
            Number k of chunks and time-step ranges (the paper uses 64); at most `latent_dim`.
        num_train_timesteps (`int`, *optional*, defaults to 1000):
            Number T of diffusion time-steps of the frozen diffusion model the encoder is trained with.
        timestep_boundaries (`list[int]`, *optional*):
            k − 1 strictly increasing time-steps in (0, T) where ranges 1, …, k−1 start (a non-uniform partition,
            e.g. more, shorter ranges where the frozen model loses most); by default the uniform ⌊t · k / T⌋.
        num_labels (`int`, *optional*, defaults to 10):
            Number of classes of [`DiTiForImageClassification`] (a linear probe on z).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the linear layers.

    ```python
    >>> from hf_methods import DiTiConfig, DiTiEncoder

    >>> config = DiTiConfig(latent_dim=16, num_chunks=4)
    >>> encoder = DiTiEncoder(config)
    >>> config.chunk_slices()
    [(0, 4), (4, 8), (8, 12), (12, 16)]
    ```"""

    model_type = "hfm-diti"

    image_size: int = 8
    num_channels: int = 1
    hidden_sizes: list[int] | tuple[int, ...] = (32, 64)
    latent_dim: int = 16
    num_chunks: int = 4
    num_train_timesteps: int = 1000
    timestep_boundaries: list[int] | tuple[int, ...] | None = None
    num_labels: int = 10
    initializer_range: float | int = 0.02

    def __post_init__(self, **kwargs):
        self.hidden_sizes = list(self.hidden_sizes)
        if self.timestep_boundaries is not None:
            self.timestep_boundaries = list(self.timestep_boundaries)
        self.initializer_range = float(self.initializer_range)
        # checked here as well as in `validate_architecture`, so that a bad value raises a plain ValueError at
        # construction (`@strict` wraps errors of class validators in its own exception type)
        self._check_fields()
        super().__post_init__(**kwargs)

    def _check_fields(self):
        for name in ("image_size", "num_channels", "latent_dim", "num_chunks", "num_train_timesteps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if not self.hidden_sizes or any(
            not isinstance(h, int) or isinstance(h, bool) or h <= 0 for h in self.hidden_sizes
        ):
            raise ValueError(
                f"`hidden_sizes` must be a non-empty list of positive integers, got {self.hidden_sizes!r}."
            )
        if self.image_size < 2 ** (len(self.hidden_sizes) - 1):
            raise ValueError(
                f"`image_size` {self.image_size} is too small for {len(self.hidden_sizes)} convolution layers "
                f"(each after the first halves the resolution)."
            )
        if self.num_chunks > self.latent_dim:
            raise ValueError(
                f"`num_chunks` ({self.num_chunks}) must be at most `latent_dim` ({self.latent_dim}): every chunk needs "
                "at least one dimension."
            )
        if self.num_chunks > self.num_train_timesteps:
            raise ValueError(
                f"`num_chunks` ({self.num_chunks}) must be at most `num_train_timesteps` ({self.num_train_timesteps})."
            )
        if self.timestep_boundaries is not None:
            b = self.timestep_boundaries
            if len(b) != self.num_chunks - 1 or any(not isinstance(v, int) or isinstance(v, bool) for v in b):
                raise ValueError(
                    f"`timestep_boundaries` must list num_chunks − 1 = {self.num_chunks - 1} integer time-steps, "
                    f"got {b!r}."
                )
            if any(v <= 0 or v >= self.num_train_timesteps for v in b) or any(x >= y for x, y in zip(b, b[1:])):
                raise ValueError(
                    f"`timestep_boundaries` must be strictly increasing time-steps in (0, {self.num_train_timesteps}), "
                    f"got {b!r}."
                )
        if not isinstance(self.num_labels, int) or isinstance(self.num_labels, bool) or self.num_labels < 1:
            raise ValueError(f"`num_labels` must be a positive integer, got {self.num_labels!r}.")
        if not self.initializer_range >= 0:
            raise ValueError(f"`initializer_range` must be >= 0, got {self.initializer_range!r}.")

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        super().validate_architecture()
        self._check_fields()

    def chunk_slices(self) -> list[tuple[int, int]]:
        """`[(start, end)]` of each chunk: dimensions [⌊d·i/k⌋, ⌊d·(i+1)/k⌋) of z (the official code's split)."""
        d, k = self.latent_dim, self.num_chunks
        ends = [int(d / k * (i + 1)) for i in range(k)]
        ends[-1] = d
        return [(0 if i == 0 else ends[i - 1], ends[i]) for i in range(k)]

    def timestep_to_chunk(self) -> list[int]:
        """idx(t) for t = 0, …, T−1: ⌊t·k/T⌋, or the number of `timestep_boundaries` ≤ t."""
        T, k = self.num_train_timesteps, self.num_chunks
        if self.timestep_boundaries is None:
            return [int(t / (T / k)) for t in range(T)]
        return [sum(1 for b in self.timestep_boundaries if b <= t) for t in range(T)]


DiTiConfig.register_for_auto_class()

__all__ = ["DiTiConfig"]
