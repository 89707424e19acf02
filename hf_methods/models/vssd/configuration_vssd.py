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
"""VSSD configuration (Shi, Dong, Li, Xu, "VSSD: Vision Mamba with Non-Causal State Space Duality", arXiv 2407.18559).

Self-contained (transformers and the standard library only) so that a saved checkpoint loads with
`trust_remote_code=True` where hf-methods is not installed.
"""

import math

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

VSSD_MIXERS = ("ssd", "attention")
VSSD_SSD_MODES = ("non_causal", "causal")
VSSD_CONV_NORMS = ("layer_norm", "batch_norm")
VSSD_ACTIVATIONS = ("gelu", "relu", "silu")


def default_mixer_types(num_stages: int) -> list[str]:
    """The paper's hybrid layout: NC-SSD in every stage but the last, which uses multi-head self-attention.

    One stage alone is NC-SSD (a model with no SSD at all would not be VSSD).
    """
    if num_stages <= 1:
        return ["ssd"] * num_stages
    return ["ssd"] * (num_stages - 1) + ["attention"]


@strict
class VSSDConfig(PreTrainedConfig):
    r"""
    Configuration of a VSSD backbone ([`VSSDModel`]) and its image classifier ([`VSSDForImageClassification`]): a
    convolutional stem, then stages of blocks at halving resolution (doubling width), each block

        x ← x + DWConv3×3(x)                  conditional positional encoding (CPE)
        x ← x + DropPath(Mixer(LN(x)))        NC-SSD, or multi-head self-attention in the last stage by default
        x ← x + DWConv3×3(x)
        x ← x + DropPath(MLP(LN(x)))

    and a convolutional patch merging between stages; LayerNorm, mean pooling and a linear head classify. The defaults
    are VSSD-Tiny of the official code (`YuHengsss/VSSD`, `configs/vssd/vssd_tiny_e300.yaml`).

    Args:
        image_size (`int`, *optional*, defaults to 224):
            Side of the (square) training images; the model accepts any side divisible by
            `patch_size * 2 ** (len(depths) - 1)`.
        patch_size (`int`, *optional*, defaults to 4):
            Downsampling of the stem: 4 (two stride-2 convolutions, the paper), 2 or 1 (stride-1 stem, for 8×8
            images).
        num_channels (`int`, *optional*, defaults to 3):
            Channels of the input images.
        embed_dim (`int`, *optional*, defaults to 64):
            Width of the first stage; stage i has width `embed_dim * 2**i`.
        depths (`list[int]`, *optional*, defaults to `[2, 4, 8, 4]`):
            Number of blocks per stage.
        num_heads (`list[int]`, *optional*, defaults to `[2, 4, 8, 16]`):
            Heads per stage (SSD heads of width `ssd_expansion * width / heads`, or attention heads of width
            `width / heads`).
        mixer_types (`list[str]`, *optional*):
            Token mixer per stage, `"ssd"` or `"attention"`. Defaults to the paper's hybrid layout: `"ssd"` in every
            stage but the last, `"attention"` in the last (`ATTN_TYPES: [mamba2, mamba2, mamba2, standard]`).
        ssd_mode (`str`, *optional*, defaults to `"non_causal"`):
            `"non_causal"`: NC-SSD, y = C (Bᵀ (dA ⊙ x)) + D ⊙ x, linear in the number of tokens (the paper);
            `"causal"`: Mamba2's causal SSD over the raster scan, y_i = Σ_{j≤i} (C_i·B_j) exp(a Σ_{k=j+1..i} dt_k)
            dt_j x_j + D x_i with a = −exp(A_log), computed in its quadratic masked form (a pure-torch reference for
            ablations, O(L²)).
        ssd_expansion (`int`, *optional*, defaults to 2):
            Inner width of the SSD mixer: `ssd_expansion * width`.
        ssd_state_size (`int`, *optional*, defaults to 64):
            State size N (width of B and C per group).
        ssd_ngroups (`int`, *optional*, defaults to 1):
            Groups of (B, C); must divide every SSD stage's heads. Head h reads group h mod `ssd_ngroups`, as in the
            official NC-SSD.
        ssd_conv_kernel (`int`, *optional*, defaults to 3):
            Side of the depthwise convolution on (x, B, C) inside the SSD mixer (odd; 1 makes it pointwise).
        ssd_positive_da (`bool`, *optional*, defaults to `True`):
            NC-SSD token weights dA = dt · exp(A_log) > 0 (`SSD_POSITIVE_DA: True`); `False` keeps Mamba2's sign,
            dA = −dt · exp(A_log).
        ssd_a_init_range (`list[float]`, *optional*, defaults to `[1.0, 16.0]`):
            A = exp(A_log) is initialised uniformly in this range.
        ssd_dt_min (`float`, *optional*, defaults to 0.001), ssd_dt_max (`float`, *optional*, defaults to 0.1):
            dt = softplus(dt_bias) is initialised log-uniformly in [dt_min, dt_max].
        ssd_dt_init_floor (`float`, *optional*, defaults to 1e-4):
            Lower clamp of the initial dt.
        mlp_ratio (`float`, *optional*, defaults to 4.0):
            Hidden width of the block MLP relative to the stage width.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation of the block MLP: `"gelu"`, `"relu"` or `"silu"`.
        conv_norm (`str`, *optional*, defaults to `"layer_norm"`):
            Normalisation of the stem and patch-merging convolutions: `"layer_norm"` (over channels, per position) or
            `"batch_norm"` (the official code). LayerNorm is the default so that a training step leaves the
            checkpoint's buffers alone and a prediction does not depend on the batch.
        drop_rate (`float`, *optional*, defaults to 0.0):
            Dropout in the MLP and on attention probabilities.
        drop_path_rate (`float`, *optional*, defaults to 0.2):
            Stochastic depth, increasing linearly over blocks from 0 to this value.
        layer_norm_eps (`float`, *optional*, defaults to 1e-5):
            Epsilon of the LayerNorms.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Std of the truncated normal initialisation of linear layers.

    ```python
    >>> from hf_methods.models.vssd import VSSDConfig, VSSDForImageClassification

    >>> config = VSSDConfig(embed_dim=32, depths=[1, 1], num_heads=[2, 4], image_size=8, patch_size=1, num_labels=10)
    >>> model = VSSDForImageClassification(config)
    ```"""

    model_type = "hfm-vssd"

    image_size: int = 224
    patch_size: int = 4
    num_channels: int = 3
    embed_dim: int = 64
    depths: list[int] | tuple[int, ...] = (2, 4, 8, 4)
    num_heads: list[int] | tuple[int, ...] = (2, 4, 8, 16)
    mixer_types: list[str] | tuple[str, ...] | None = None
    ssd_mode: str = "non_causal"
    ssd_expansion: int = 2
    ssd_state_size: int = 64
    ssd_ngroups: int = 1
    ssd_conv_kernel: int = 3
    ssd_positive_da: bool = True
    ssd_a_init_range: list[float] | tuple[float, ...] = (1.0, 16.0)
    ssd_dt_min: float | int = 0.001
    ssd_dt_max: float | int = 0.1
    ssd_dt_init_floor: float | int = 1e-4
    mlp_ratio: float | int = 4.0
    hidden_act: str = "gelu"
    conv_norm: str = "layer_norm"
    drop_rate: float | int = 0.0
    drop_path_rate: float | int = 0.2
    layer_norm_eps: float | int = 1e-5
    initializer_range: float | int = 0.02

    def __post_init__(self, **kwargs):
        self.depths = list(self.depths)
        self.num_heads = list(self.num_heads)
        if self.mixer_types is None:
            self.mixer_types = default_mixer_types(len(self.depths))
        self.mixer_types = list(self.mixer_types)
        self.ssd_a_init_range = [float(v) for v in self.ssd_a_init_range]
        for name in (
            "ssd_dt_min",
            "ssd_dt_max",
            "ssd_dt_init_floor",
            "mlp_ratio",
            "drop_rate",
            "drop_path_rate",
            "layer_norm_eps",
            "initializer_range",
        ):
            setattr(self, name, float(getattr(self, name)))
        self._check_fields()
        super().__post_init__(**kwargs)

    def _check_fields(self):
        for name in ("image_size", "num_channels", "embed_dim", "ssd_expansion", "ssd_state_size", "ssd_ngroups"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.patch_size not in (1, 2, 4):
            raise ValueError(f"`patch_size` must be 1, 2 or 4 (the stem's downsampling), got {self.patch_size!r}.")
        if not self.depths or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in self.depths):
            raise ValueError(f"`depths` must be a non-empty list of positive integers, got {self.depths!r}.")
        num_stages = len(self.depths)
        if len(self.num_heads) != num_stages or any(
            isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in self.num_heads
        ):
            raise ValueError(
                f"`num_heads` must list one positive integer per stage ({num_stages} stages), got {self.num_heads!r}."
            )
        if len(self.mixer_types) != num_stages or any(m not in VSSD_MIXERS for m in self.mixer_types):
            raise ValueError(
                f"`mixer_types` must list one of {VSSD_MIXERS} per stage ({num_stages} stages), got "
                f"{self.mixer_types!r}."
            )
        if self.ssd_mode not in VSSD_SSD_MODES:
            raise ValueError(f"`ssd_mode` must be one of {VSSD_SSD_MODES}, got {self.ssd_mode!r}.")
        if self.conv_norm not in VSSD_CONV_NORMS:
            raise ValueError(f"`conv_norm` must be one of {VSSD_CONV_NORMS}, got {self.conv_norm!r}.")
        if self.hidden_act not in VSSD_ACTIVATIONS:
            raise ValueError(f"`hidden_act` must be one of {VSSD_ACTIVATIONS}, got {self.hidden_act!r}.")
        reduction = self.patch_size * 2 ** (num_stages - 1)
        if self.image_size % reduction != 0:
            raise ValueError(
                f"`image_size` ({self.image_size}) must be divisible by patch_size * 2**(stages - 1) = {reduction}."
            )
        if self.embed_dim % 2 != 0:
            raise ValueError(
                f"`embed_dim` must be even (the stem's first convolution has embed_dim // 2 channels), "
                f"got {self.embed_dim}."
            )
        for stage, (heads, mixer) in enumerate(zip(self.num_heads, self.mixer_types)):
            width = self.embed_dim * 2**stage
            inner = width * self.ssd_expansion if mixer == "ssd" else width
            if inner % heads != 0:
                what = "ssd_expansion * width" if mixer == "ssd" else "width"
                raise ValueError(
                    f"`num_heads[{stage}]` ({heads}) must divide the {mixer} mixer's {what} ({inner}) of stage {stage}."
                )
            if mixer == "ssd" and heads % self.ssd_ngroups != 0:
                raise ValueError(
                    f"`ssd_ngroups` ({self.ssd_ngroups}) must divide `num_heads[{stage}]` ({heads}) of SSD stage "
                    f"{stage}."
                )
        if self.ssd_conv_kernel < 1 or self.ssd_conv_kernel % 2 == 0:
            raise ValueError(f"`ssd_conv_kernel` must be a positive odd integer, got {self.ssd_conv_kernel!r}.")
        low_high = self.ssd_a_init_range
        if len(low_high) != 2 or not 0 < low_high[0] <= low_high[1]:
            raise ValueError(f"`ssd_a_init_range` must be [low, high] with 0 < low <= high, got {low_high!r}.")
        if not 0 < self.ssd_dt_min <= self.ssd_dt_max:
            raise ValueError(
                f"`ssd_dt_min` and `ssd_dt_max` must satisfy 0 < ssd_dt_min <= ssd_dt_max, got "
                f"{self.ssd_dt_min!r} and {self.ssd_dt_max!r}."
            )
        if not self.ssd_dt_init_floor > 0:
            raise ValueError(f"`ssd_dt_init_floor` must be > 0, got {self.ssd_dt_init_floor!r}.")
        if not (self.mlp_ratio > 0 and math.isfinite(self.mlp_ratio)):
            raise ValueError(f"`mlp_ratio` must be a positive number, got {self.mlp_ratio!r}.")
        for name in ("drop_rate", "drop_path_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {getattr(self, name)!r}.")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"`layer_norm_eps` must be > 0, got {self.layer_norm_eps!r}.")
        if not self.initializer_range > 0:
            raise ValueError(f"`initializer_range` must be > 0, got {self.initializer_range!r}.")

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    @property
    def hidden_sizes(self) -> list[int]:
        """Width of each stage: `embed_dim * 2**i`."""
        return [self.embed_dim * 2**i for i in range(self.num_stages)]

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        super().validate_architecture()
        self._check_fields()


VSSDConfig.register_for_auto_class()

__all__ = ["VSSD_MIXERS", "VSSD_SSD_MODES", "VSSDConfig", "default_mixer_types"]
