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
"""LightHuBERT configuration (Wang et al., "LightHuBERT: Lightweight and Configurable Speech Representation Learning
with Once-for-All Hidden-Unit BERT", Interspeech 2022).

Self-contained (standard library and transformers only), so a saved checkpoint loads with `trust_remote_code=True`.
"""

import random

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

#: The keys of a subnet description (the names of the official `LightHuBERTSupernetConfig.sample_subnet`).
SUBNET_KEYS = ("embed_dim", "layer_num", "heads_num", "ffn_embed", "atten_dim")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


@strict
class LightHuBERTConfig(PreTrainedConfig):
    r"""
    Configuration of a HuBERT-style speech encoder whose layers may differ in width (LightHuBERT), and optionally of
    the once-for-all *supernet* in which all such encoders of a search space are nested.

    The model: a convolutional waveform encoder (`conv_dim`, `conv_kernel`, `conv_stride`, a LayerNorm after each
    block), a LayerNorm and a projection to `hidden_size`, a grouped convolutional positional embedding, and
    `num_hidden_layers` post-LayerNorm Transformer layers; layer l has `num_attention_heads[l]` heads of
    `attention_head_dim` features and a feed-forward block of `intermediate_size[l]` units. An optional linear
    prediction head maps the last hidden state to `teacher_hidden_size` features (the distillation target).

    With a search space (`embed_dim_choices`, `heads_num_choices`, `ffn_ratio_choices`, `layer_num_choices`, all set
    or all `None`) the configuration describes the supernet: its sizes must be the largest of the space, and a
    subnet is a dict `{"embed_dim", "layer_num", "heads_num" (per layer), "ffn_embed" (per layer), "atten_dim"
    (per layer, heads × head dim)}` as in the official code, turned into a standalone configuration by
    [`~LightHuBERTConfig.subnet_config`].

    Args:
        conv_dim, conv_kernel, conv_stride (`list[int]`): channels, kernel sizes and strides of the waveform
            encoder (HuBERT's by default: 512 channels, kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2).
        conv_bias (`bool`, defaults to `False`): biases in the waveform convolutions.
        hidden_size (`int`, defaults to 768): model width (the embedding dimension).
        num_hidden_layers (`int`, defaults to 12): number of Transformer layers.
        num_attention_heads (`int` or `list[int]`, defaults to 12): heads per layer (an int is used for every layer).
        attention_head_dim (`int`, defaults to 64): features per head (fixed across subnets).
        intermediate_size (`int` or `list[int]`, defaults to 3072): feed-forward units per layer.
        hidden_act (`str`, defaults to `"gelu"`): feed-forward activation, `"gelu"` or `"relu"`.
        hidden_dropout, attention_dropout (`float`, default 0.1): dropout rates (training only).
        num_conv_pos_embeddings (`int`, defaults to 128), num_conv_pos_embedding_groups (`int`, defaults to 16):
            kernel size and groups of the convolutional positional embedding.
        layer_norm_eps (`float`, defaults to 1e-5).
        teacher_hidden_size (`int`, *optional*, defaults to 768): output size of the prediction head (`None`: no
            head).
        mask_time_prob (`float`, defaults to 0.65), mask_time_length (`int`, defaults to 10): HuBERT's span masking
            used for masked-prediction distillation.
        unmasked_loss_weight (`float`, defaults to 0.0): weight of the unmasked frames in the distillation loss.
        initializer_range (`float`, defaults to 0.02).
        embed_dim_choices, heads_num_choices, layer_num_choices (`list[int]`, *optional*), ffn_ratio_choices
            (`list[float]`, *optional*): the search space of a supernet.
    """

    model_type = "hfm-lighthubert"

    conv_dim: list[int] | tuple[int, ...] = (512, 512, 512, 512, 512, 512, 512)
    conv_kernel: list[int] | tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: list[int] | tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    conv_bias: bool = False
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int | list[int] = 12
    attention_head_dim: int = 64
    intermediate_size: int | list[int] = 3072
    hidden_act: str = "gelu"
    hidden_dropout: float | int = 0.1
    attention_dropout: float | int = 0.1
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    layer_norm_eps: float = 1e-5
    teacher_hidden_size: int | None = 768
    mask_time_prob: float | int = 0.65
    mask_time_length: int = 10
    unmasked_loss_weight: float | int = 0.0
    initializer_range: float = 0.02
    embed_dim_choices: list[int] | None = None
    heads_num_choices: list[int] | None = None
    ffn_ratio_choices: list[float | int] | None = None
    layer_num_choices: list[int] | None = None

    def __post_init__(self, **kwargs):
        self.conv_dim, self.conv_kernel, self.conv_stride = (
            list(self.conv_dim),
            list(self.conv_kernel),
            list(self.conv_stride),
        )
        if isinstance(self.num_attention_heads, int) and not isinstance(self.num_attention_heads, bool):
            self.num_attention_heads = [self.num_attention_heads] * self.num_hidden_layers
        if isinstance(self.intermediate_size, int) and not isinstance(self.intermediate_size, bool):
            self.intermediate_size = [self.intermediate_size] * self.num_hidden_layers
        for name in ("hidden_dropout", "attention_dropout", "mask_time_prob", "unmasked_loss_weight"):
            setattr(self, name, float(getattr(self, name)))
        if self.ffn_ratio_choices is not None:
            self.ffn_ratio_choices = [float(r) for r in self.ffn_ratio_choices]
        # Checked here as well as in `validate_architecture`, so that a bad value raises a plain `ValueError` at
        # construction (`@strict` wraps errors of class validators in its own exception type).
        self._check_fields()
        super().__post_init__(**kwargs)

    # ------------------------------------------------------------------------------------------------ validation
    def _check_fields(self):
        if not (len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride) >= 1):
            raise ValueError(
                "`conv_dim`, `conv_kernel` and `conv_stride` must be non-empty and of one length, got "
                f"{len(self.conv_dim)}, {len(self.conv_kernel)} and {len(self.conv_stride)}."
            )
        for name in ("conv_dim", "conv_kernel", "conv_stride"):
            for value in getattr(self, name):
                _positive_int(name, value)
        for name in ("hidden_size", "num_hidden_layers", "attention_head_dim", "num_conv_pos_embeddings"):
            _positive_int(name, getattr(self, name))
        _positive_int("num_conv_pos_embedding_groups", self.num_conv_pos_embedding_groups)
        _positive_int("mask_time_length", self.mask_time_length)
        for name in ("num_attention_heads", "intermediate_size"):
            values = getattr(self, name)
            if not isinstance(values, list) or len(values) != self.num_hidden_layers:
                raise ValueError(
                    f"`{name}` must be an int or a list of num_hidden_layers={self.num_hidden_layers} ints, got "
                    f"{values!r}."
                )
            for value in values:
                _positive_int(name, value)
        if self.hidden_size % self.num_conv_pos_embedding_groups:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be divisible by `num_conv_pos_embedding_groups` "
                f"({self.num_conv_pos_embedding_groups})."
            )
        if self.hidden_act not in ("gelu", "relu"):
            raise ValueError(f"`hidden_act` must be 'gelu' or 'relu', got {self.hidden_act!r}.")
        for name in ("hidden_dropout", "attention_dropout", "mask_time_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {getattr(self, name)!r}.")
        if not self.unmasked_loss_weight >= 0:
            raise ValueError(f"`unmasked_loss_weight` must be >= 0, got {self.unmasked_loss_weight!r}.")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"`layer_norm_eps` must be > 0, got {self.layer_norm_eps!r}.")
        if self.teacher_hidden_size is not None:
            _positive_int("teacher_hidden_size", self.teacher_hidden_size)
        self._check_search_space()

    def _check_search_space(self):
        names = ("embed_dim_choices", "heads_num_choices", "ffn_ratio_choices", "layer_num_choices")
        given = [getattr(self, n) is not None for n in names]
        if not any(given):
            return
        if not all(given):
            raise ValueError(f"a search space needs all of {names} (or none), got {[n for n in names if given]}.")
        for name in names:
            values = getattr(self, name)
            if not isinstance(values, list) or not values:
                raise ValueError(f"`{name}` must be a non-empty list, got {values!r}.")
        for name in ("embed_dim_choices", "heads_num_choices", "layer_num_choices"):
            for value in getattr(self, name):
                _positive_int(name, value)
        if any(not r > 0 for r in self.ffn_ratio_choices):
            raise ValueError(f"`ffn_ratio_choices` must be > 0, got {self.ffn_ratio_choices!r}.")
        largest = {
            "hidden_size": max(self.embed_dim_choices),
            "num_hidden_layers": max(self.layer_num_choices),
        }
        for name, value in largest.items():
            if getattr(self, name) != value:
                raise ValueError(
                    f"a supernet's `{name}` must be the largest choice {value}, got {getattr(self, name)}."
                )
        max_heads = max(self.heads_num_choices)
        max_ffn = int(max(self.ffn_ratio_choices) * self.hidden_size)
        if self.num_attention_heads != [max_heads] * self.num_hidden_layers:
            raise ValueError(f"a supernet's `num_attention_heads` must be {max_heads} in every layer.")
        if self.intermediate_size != [max_ffn] * self.num_hidden_layers:
            raise ValueError(
                f"a supernet's `intermediate_size` must be max(ffn_ratio_choices) × hidden_size = {max_ffn} in every "
                "layer."
            )
        for embed_dim in self.embed_dim_choices:
            if embed_dim % self.num_conv_pos_embedding_groups:
                raise ValueError(
                    f"`embed_dim_choices` must be divisible by num_conv_pos_embedding_groups="
                    f"{self.num_conv_pos_embedding_groups}, got {embed_dim}."
                )

    def validate_architecture(self):
        """Part of `@strict`-powered validation. Validates the ranges and choices of the fields."""
        super().validate_architecture()
        self._check_fields()

    # ------------------------------------------------------------------------------------------------ presets
    @classmethod
    def base(cls, **kwargs) -> "LightHuBERTConfig":
        """The paper's Base supernet: embed {512, 640, 768}, heads {8, 10, 12}, FFN ratio {3.5, 4}, 12 layers."""
        space = dict(
            embed_dim_choices=[512, 640, 768],
            heads_num_choices=[8, 10, 12],
            ffn_ratio_choices=[3.5, 4.0],
            layer_num_choices=[12],
        )
        return cls(**{**space, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072, **kwargs})

    @classmethod
    def small(cls, **kwargs) -> "LightHuBERTConfig":
        """The paper's Small supernet: embed {256, 384, 512}, heads {4, 6, 8}, FFN ratio {3, 3.5, 4}, depth {10-12}."""
        space = dict(
            embed_dim_choices=[256, 384, 512],
            heads_num_choices=[4, 6, 8],
            ffn_ratio_choices=[3.0, 3.5, 4.0],
            layer_num_choices=[10, 11, 12],
        )
        return cls(**{**space, "hidden_size": 512, "num_attention_heads": 8, "intermediate_size": 2048, **kwargs})

    # ------------------------------------------------------------------------------------------------ subnets
    @property
    def is_supernet(self) -> bool:
        return self.embed_dim_choices is not None

    def _require_supernet(self):
        if not self.is_supernet:
            raise ValueError("this configuration has no search space (set `embed_dim_choices` and the others).")

    def _subnet(self, embed_dim, layer_num, heads, ratios):
        return {
            "embed_dim": embed_dim,
            "layer_num": layer_num,
            "heads_num": list(heads),
            "ffn_embed": [int(r * embed_dim) for r in ratios],
            "atten_dim": [h * self.attention_head_dim for h in heads],
        }

    @property
    def max_subnet(self) -> dict:
        """The largest subnet of the search space (the whole supernet)."""
        self._require_supernet()
        depth = max(self.layer_num_choices)
        return self._subnet(
            max(self.embed_dim_choices),
            depth,
            [max(self.heads_num_choices)] * depth,
            [max(self.ffn_ratio_choices)] * depth,
        )

    @property
    def min_subnet(self) -> dict:
        """The smallest subnet of the search space."""
        self._require_supernet()
        depth = min(self.layer_num_choices)
        return self._subnet(
            min(self.embed_dim_choices),
            depth,
            [min(self.heads_num_choices)] * depth,
            [min(self.ffn_ratio_choices)] * depth,
        )

    def sample_subnet(self, rng: random.Random | None = None) -> dict:
        """A subnet drawn uniformly per dimension: depth and width once, heads and FFN ratio once per layer."""
        self._require_supernet()
        rng = rng if rng is not None else random.Random()
        depth = rng.choice(self.layer_num_choices)
        embed_dim = rng.choice(self.embed_dim_choices)
        heads = [rng.choice(self.heads_num_choices) for _ in range(depth)]
        ratios = [rng.choice(self.ffn_ratio_choices) for _ in range(depth)]
        return self._subnet(embed_dim, depth, heads, ratios)

    @property
    def num_subnets(self) -> int:
        """The number of architectures in the search space: Σ_depth |embed| · (|heads| · |ratios|)^depth."""
        self._require_supernet()
        per_layer = len(self.heads_num_choices) * len(self.ffn_ratio_choices)
        return sum(len(self.embed_dim_choices) * per_layer**depth for depth in self.layer_num_choices)

    def check_subnet(self, subnet) -> dict:
        """Validates a subnet against this supernet and returns it normalised (lists, `atten_dim` filled in)."""
        self._require_supernet()
        if not isinstance(subnet, dict):
            raise TypeError(f"`subnet` must be a dict with keys {SUBNET_KEYS[:4]}, got {type(subnet).__name__}.")
        missing = [k for k in SUBNET_KEYS[:4] if k not in subnet]
        unknown = [k for k in subnet if k not in SUBNET_KEYS]
        if missing or unknown:
            raise ValueError(f"`subnet` must have the keys {SUBNET_KEYS[:4]} (missing {missing}, unknown {unknown}).")
        embed_dim, depth = subnet["embed_dim"], subnet["layer_num"]
        _positive_int("subnet['embed_dim']", embed_dim)
        _positive_int("subnet['layer_num']", depth)
        if embed_dim > self.hidden_size or embed_dim % self.num_conv_pos_embedding_groups:
            raise ValueError(
                f"subnet['embed_dim'] must be <= {self.hidden_size} and divisible by "
                f"{self.num_conv_pos_embedding_groups}, got {embed_dim}."
            )
        if depth > self.num_hidden_layers:
            raise ValueError(f"subnet['layer_num'] must be <= {self.num_hidden_layers}, got {depth}.")
        heads, ffn = list(subnet["heads_num"]), list(subnet["ffn_embed"])
        for name, values, limit in (
            ("heads_num", heads, self.num_attention_heads),
            ("ffn_embed", ffn, self.intermediate_size),
        ):
            if len(values) != depth:
                raise ValueError(f"subnet['{name}'] must have layer_num={depth} entries, got {len(values)}.")
            for value, largest in zip(values, limit):
                _positive_int(f"subnet['{name}']", value)
                if value > largest:
                    raise ValueError(f"subnet['{name}'] entries must be <= {largest}, got {value}.")
        atten = [h * self.attention_head_dim for h in heads]
        if "atten_dim" in subnet and list(subnet["atten_dim"]) != atten:
            raise ValueError(
                f"subnet['atten_dim'] must be heads_num × attention_head_dim = {atten}, got {list(subnet['atten_dim'])}."
            )
        return {"embed_dim": embed_dim, "layer_num": depth, "heads_num": heads, "ffn_embed": ffn, "atten_dim": atten}

    def subnet_config(self, subnet: dict) -> "LightHuBERTConfig":
        """The standalone (search-space-free) configuration of `subnet`: a plain model of exactly those sizes."""
        subnet = self.check_subnet(subnet)
        values = self.to_dict()
        for key in ("model_type", "transformers_version", "architectures", "auto_map"):
            values.pop(key, None)
        for key in ("embed_dim_choices", "heads_num_choices", "ffn_ratio_choices", "layer_num_choices"):
            values[key] = None
        values.update(
            hidden_size=subnet["embed_dim"],
            num_hidden_layers=subnet["layer_num"],
            num_attention_heads=subnet["heads_num"],
            intermediate_size=subnet["ffn_embed"],
        )
        return type(self)(**values)

    def num_frames(self, num_samples: int) -> int:
        """Frames the waveform encoder gives for `num_samples` samples: ⌊(n − k) / s⌋ + 1 per block."""
        length = num_samples
        for kernel, stride in zip(self.conv_kernel, self.conv_stride):
            length = (length - kernel) // stride + 1
        return length


LightHuBERTConfig.register_for_auto_class()

__all__ = ["LightHuBERTConfig", "SUBNET_KEYS"]
