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
"""Terminator (HyperZ·Z·W slow-fast network) configuration (Zhang, 2024)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

TERMINATOR_ACTIVATIONS = ("gelu", "relu", "silu", "tanh")
# Number of earlier block inputs concatenated into each block in the official CIFAR-10 configuration (5 blocks).
OFFICIAL_CONCAT_PREVIOUS = (0, 0, 1, 1, 2)


@strict
class TerminatorConfig(PreTrainedConfig):
    r"""
    Configuration of a Terminator network, from "HyperZ·Z·W Operator Connects Slow-Fast Networks for Full Context
    Interaction" (Harvie Zhang, 2024; official code `hyperevolnet/Terminator`).

    The network is a stack of SFNE blocks without residual connections. Block `i` maps `channels[i]` channels to
    `channels[i + 1] = channels[i] · bottleneck_factors[i]` channels at the full `image_size × image_size` resolution
    (no down-sampling: the global hyper-kernels are as large as the feature map). A global average pool and a linear
    layer give the logits.

    Args:
        image_size (`int`, *optional*, defaults to 8):
            Height and width of the (square) input images.
        channels (`list[int]`, *optional*, defaults to `[1, 8, 16]`):
            `channels[0]` is the number of input image channels; `channels[i + 1]` the output channels of block `i`.
            The number of SFNE blocks is `len(channels) - 1`. Each entry must be a multiple of the one before.
        bottleneck_factors (`list[int]`, *optional*):
            Channel growth of each block (`channels[i + 1] / channels[i]`); derived from `channels` when omitted and
            checked against it when given.
        global_kernel_size (`int`, *optional*):
            Side of the global hyper-kernels; must equal `image_size` (full context). Defaults to `image_size`.
        local_kernel_sizes (`list[int]`, *optional*, defaults to `[3, 9, 5, 7]`):
            Sides of the four context-dependent local hyper-kernels of each block (odd numbers).
        magnet_hidden (`int`, *optional*, defaults to 64):
            Hidden width of the slow networks (MAGNet) of the global hyper-kernels.
        local_magnet_hidden (`int`, *optional*, defaults to 32):
            Hidden width of the slow networks of the local hyper-kernels and of the hyper-channel interaction.
        interaction_channel_hidden (`int`, *optional*, defaults to 16):
            Hidden width of the channel slow network of the hyper interaction.
        magnet_layers (`int`, *optional*, defaults to 2):
            Number of multiplicative layers of every slow network.
        omega_0 (`float`, *optional*, defaults to 1.0):
            Base frequency ω₀ of the MAGNet sine filters.
        magnet_gamma_alpha (`float`, *optional*, defaults to 6.0):
            Shape α of the Gamma(α / (l + 1), 1) law of the filter scales of layer `l`.
        concat_previous (`list[int]`, *optional*):
            How many earlier block inputs (0, 1 or 2) each block concatenates, tiled along channels, to its ten branch
            outputs. Defaults to the official pattern `[0, 0, 1, 1, 2]` cut to the number of blocks.
        standardization_groups (`int`, *optional*, defaults to 12):
            Groups of the block-output standardisation (G-IBS); the groups used by a block are the greatest common
            divisor of this number and the block's output channels.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Nonlinearity after each block: one of `"gelu"`, `"relu"`, `"silu"`, `"tanh"`.
        dropout (`float`, *optional*, defaults to 0.0):
            Channel dropout (`Dropout2d`) probability after each block.
        slow_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight λ of the slow neural loss added to the classification loss when `labels` are given.
        label_smoothing (`float`, *optional*, defaults to 0.0):
            Label smoothing of the cross-entropy (the official training uses 0.09).
        num_labels (`int`, *optional*, defaults to 10):
            Number of classes.

    ```python
    >>> from hf_methods import TerminatorConfig, TerminatorForImageClassification

    >>> model = TerminatorForImageClassification(TerminatorConfig(image_size=8, channels=[1, 8, 16]))
    ```"""

    model_type = "hfm-terminator"

    image_size: int = 8
    channels: list[int] | tuple[int, ...] = (1, 8, 16)
    bottleneck_factors: list[int] | tuple[int, ...] | None = None
    global_kernel_size: int | None = None
    local_kernel_sizes: list[int] | tuple[int, ...] = (3, 9, 5, 7)
    magnet_hidden: int = 64
    local_magnet_hidden: int = 32
    interaction_channel_hidden: int = 16
    magnet_layers: int = 2
    omega_0: float | int = 1.0
    magnet_gamma_alpha: float | int = 6.0
    concat_previous: list[int] | tuple[int, ...] | None = None
    standardization_groups: int = 12
    hidden_act: str = "gelu"
    dropout: float | int = 0.0
    slow_loss_weight: float | int = 1.0
    label_smoothing: float | int = 0.0

    def __post_init__(self, **kwargs):
        self.channels = [int(c) for c in self.channels] if isinstance(self.channels, (list, tuple)) else self.channels
        self.local_kernel_sizes = (
            list(self.local_kernel_sizes) if isinstance(self.local_kernel_sizes, (list, tuple)) else None
        )
        for name in ("omega_0", "magnet_gamma_alpha", "dropout", "slow_loss_weight", "label_smoothing"):
            setattr(self, name, float(getattr(self, name)))
        # Checked here (a plain `ValueError` at construction) and again in `validate_architecture`.
        self._check_fields()
        num_blocks = len(self.channels) - 1
        factors = [self.channels[i + 1] // self.channels[i] for i in range(num_blocks)]
        if self.bottleneck_factors is None:
            self.bottleneck_factors = factors
        else:
            self.bottleneck_factors = list(self.bottleneck_factors)
            if self.bottleneck_factors != factors:
                raise ValueError(
                    f"`bottleneck_factors` must be channels[i + 1] / channels[i] = {factors} for channels "
                    f"{self.channels}, got {self.bottleneck_factors!r}."
                )
        if self.global_kernel_size is None:
            self.global_kernel_size = self.image_size
        if self.concat_previous is None:
            self.concat_previous = [OFFICIAL_CONCAT_PREVIOUS[min(i, 4)] for i in range(num_blocks)]
        else:
            self.concat_previous = list(self.concat_previous)
        self._check_derived_fields()
        if self.id2label is None and kwargs.get("num_labels") is None:
            kwargs["num_labels"] = 10  # ten classes by default (digits, Fashion-MNIST)
        super().__post_init__(**kwargs)

    def _check_fields(self):
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int) or self.image_size < 1:
            raise ValueError(f"`image_size` must be a positive integer, got {self.image_size!r}.")
        channels = self.channels
        if not isinstance(channels, list) or len(channels) < 2 or any(c < 1 for c in channels):
            raise ValueError(
                f"`channels` must list the input channels and at least one block's output channels (positive "
                f"integers), got {channels!r}."
            )
        for i in range(len(channels) - 1):
            if channels[i + 1] % channels[i]:
                raise ValueError(
                    f"`channels` must grow by integer factors (channels[{i + 1}] = {channels[i + 1]} is not a multiple "
                    f"of channels[{i}] = {channels[i]})."
                )
        sizes = self.local_kernel_sizes
        if sizes is None or len(sizes) != 4 or any(isinstance(k, bool) or k < 1 or k % 2 == 0 for k in sizes):
            raise ValueError(f"`local_kernel_sizes` must be four odd positive integers, got {sizes!r}.")
        for name in (
            "magnet_hidden",
            "local_magnet_hidden",
            "interaction_channel_hidden",
            "magnet_layers",
            "standardization_groups",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if not self.omega_0 > 0:
            raise ValueError(f"`omega_0` (the MAGNet base frequency) must be > 0, got {self.omega_0!r}.")
        if not self.magnet_gamma_alpha > 0:
            raise ValueError(f"`magnet_gamma_alpha` must be > 0, got {self.magnet_gamma_alpha!r}.")
        if self.hidden_act not in TERMINATOR_ACTIVATIONS:
            raise ValueError(f"`hidden_act` must be one of {TERMINATOR_ACTIVATIONS}, got {self.hidden_act!r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout!r}.")
        if not self.slow_loss_weight >= 0:
            raise ValueError(f"`slow_loss_weight` must be >= 0, got {self.slow_loss_weight!r}.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1), got {self.label_smoothing!r}.")

    def _check_derived_fields(self):
        if self.global_kernel_size != self.image_size:
            raise ValueError(
                f"`global_kernel_size` must equal `image_size` ({self.image_size}): the global hyper-kernel covers the "
                f"whole feature map, got {self.global_kernel_size!r}."
            )
        num_blocks = len(self.channels) - 1
        previous = self.concat_previous
        if len(previous) != num_blocks or any(not 0 <= p <= min(i, 2) for i, p in enumerate(previous)):
            raise ValueError(
                f"`concat_previous` must give, for each of the {num_blocks} blocks, 0, 1 or 2 earlier block inputs "
                f"(block i has i of them), got {previous!r}."
            )

    @property
    def num_blocks(self) -> int:
        return len(self.channels) - 1

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the ranges and choices of the fields."""
        super().validate_architecture()
        self._check_fields()
        self._check_derived_fields()


TerminatorConfig.register_for_auto_class()

__all__ = ["TerminatorConfig"]
