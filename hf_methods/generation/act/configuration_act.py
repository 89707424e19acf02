# Copyright 2025 The hf-methods contributors.
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
"""`ActConfig`: which attention heads ACT calibrates and how (standard library only, cheap to import)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACT_ATTENTION_KEY = "act_eager"
"""The key under which the ACT attention function is registered in `AttentionInterface` and `AttentionMaskInterface`."""

ACT_CONFIG_NAME = "act_config.json"
"""File name of a stand-alone `ActConfig` (`ActConfig.save_pretrained`), the analogue of PEFT's `adapter_config.json`."""

THRESHOLD_MODES = ("absolute", "relative")
"""How `ActConfig.threshold` is read: a mean attention weight, or a factor alpha over the uniform level 1/N."""

CONFIG_ATTRIBUTE = "act_config"
"""Attribute of the model's `PreTrainedConfig` that holds `ActConfig.to_dict()`, so `config.json` carries it."""


def _normalise_heads(heads: Any) -> tuple[tuple[int, int], ...]:
    """`{layer: [heads]}` (int or str keys, as after a JSON round trip) or `[(layer, head), ...]` -> sorted pairs."""
    if heads is None:
        return ()
    pairs: list[tuple[Any, Any]] = []
    if isinstance(heads, Mapping):
        for layer, layer_heads in heads.items():
            if isinstance(layer_heads, (int, str)) or not isinstance(layer_heads, Iterable):
                raise TypeError(
                    f"heads: the value of layer {layer!r} must be a list of head indices, got {layer_heads!r}"
                )
            pairs.extend((layer, head) for head in layer_heads)
    elif isinstance(heads, Iterable) and not isinstance(heads, (str, bytes)):
        for pair in heads:
            if isinstance(pair, (str, bytes)) or not isinstance(pair, Iterable) or len(tuple(pair)) != 2:
                raise TypeError(f"heads: expected (layer, head) pairs, got {pair!r}")
            pairs.append(tuple(pair))
    else:
        raise TypeError(f"heads must be a dict {{layer: [heads]}} or a list of (layer, head) pairs, got {heads!r}")
    out = set()
    for layer, head in pairs:
        try:
            layer_i, head_i = int(layer), int(head)
        except (TypeError, ValueError):
            raise TypeError(f"heads: layer and head indices must be integers, got ({layer!r}, {head!r})") from None
        if isinstance(layer, float) or isinstance(head, float) or isinstance(layer, bool) or isinstance(head, bool):
            raise TypeError(f"heads: layer and head indices must be integers, got ({layer!r}, {head!r})")
        if layer_i < 0 or head_i < 0:
            raise ValueError(f"heads: layer and head indices must be >= 0, got ({layer_i}, {head_i})")
        out.add((layer_i, head_i))
    return tuple(sorted(out))


@dataclass
class ActConfig:
    """Settings of the Attention Calibration Technique (ACT) for one model.

    Args:
        heads (`dict[int, list[int]]` or `list[tuple[int, int]]`, *optional*, defaults to no heads):
            The calibrated attention heads as `(layer, head)` pairs (or `{layer: [heads]}`). Head indices are *query*
            heads (with grouped-query attention, after `repeat_kv`). Stored as a sorted tuple of pairs, which survives
            a JSON round trip unchanged.
        beta (`float`, *optional*, defaults to 0.4):
            The fraction of attention a hidden sink keeps (`BETA` of the official scripts). `beta=1` is a no-op.
        threshold (`float`, *optional*, defaults to 0.1):
            Sink threshold on the mean attention a key receives. With `threshold_mode="absolute"` (the official
            `THRES`) a key is a sink when its score exceeds `threshold` itself, whose meaning then depends on the
            prompt length (0.1 is 10x the uniform level `1/N` at N = 100 tokens); record it.
        threshold_mode (`str`, *optional*, defaults to `"absolute"`):
            `"absolute"` or `"relative"`. With `"relative"`, `threshold` is a factor alpha over the uniform level and
            a key is a sink when its score exceeds `alpha / N`, N being the number of (non-padding) tokens of the
            prompt: the same criterion at every length.
        prefill_only (`bool`, *optional*, defaults to `True`):
            Calibrate only forwards whose query length equals the key length (prefill without cache), as in the
            official classification / multiple-choice evaluation. With `False`, cached decoding steps are calibrated
            too, with the sink set recomputed from the rows of that step (the same formula, with the number of
            queries that can see a key as its normaliser).
        base_model_name_or_path (`str`, *optional*):
            The model the heads were selected on (documentation only, like PEFT's field of the same name).

    Example:

    ```python
    >>> from hf_methods.generation.act import ActConfig
    >>> ActConfig(heads={3: [0, 2], 1: [1]}).heads
    ((1, 1), (3, 0), (3, 2))
    ```
    """

    heads: Any = field(default=())
    beta: float = 0.4
    threshold: float = 0.1
    threshold_mode: str = "absolute"
    prefill_only: bool = True
    base_model_name_or_path: str | None = None

    def __post_init__(self):
        self.heads = _normalise_heads(self.heads)
        if isinstance(self.beta, bool) or not isinstance(self.beta, (int, float)):
            raise TypeError(f"beta must be a float in [0, 1], got {self.beta!r}")
        if not (0.0 <= float(self.beta) <= 1.0) or math.isnan(self.beta):
            raise ValueError(f"beta must be in [0, 1], got {self.beta}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)):
            raise TypeError(f"threshold must be a float in [0, 1), got {self.threshold!r}")
        if self.threshold_mode not in THRESHOLD_MODES:
            raise ValueError(f"threshold_mode must be one of {THRESHOLD_MODES}, got {self.threshold_mode!r}")
        if self.threshold_mode == "absolute":
            if not (0.0 <= float(self.threshold) < 1.0) or math.isnan(self.threshold):
                raise ValueError(f"threshold must be in [0, 1) (a mean attention weight), got {self.threshold}")
        elif not (0.0 < float(self.threshold) < math.inf):
            raise ValueError(
                f"threshold must be a positive factor alpha (sinks score > alpha / N), got {self.threshold}"
            )
        if not isinstance(self.prefill_only, bool):
            raise TypeError(f"prefill_only must be a bool, got {self.prefill_only!r}")
        self.beta, self.threshold = float(self.beta), float(self.threshold)

    # ------------------------------------------------------------------------------------------------ views
    def heads_by_layer(self) -> dict[int, list[int]]:
        """The calibrated heads as `{layer: [heads]}` (layers without heads are absent)."""
        out: dict[int, list[int]] = {}
        for layer, head in self.heads:
            out.setdefault(layer, []).append(head)
        return out

    @property
    def num_heads(self) -> int:
        return len(self.heads)

    def with_heads(self, heads) -> ActConfig:
        """A copy with other heads and the same other settings."""
        return ActConfig(
            heads=heads,
            beta=self.beta,
            threshold=self.threshold,
            threshold_mode=self.threshold_mode,
            prefill_only=self.prefill_only,
            base_model_name_or_path=self.base_model_name_or_path,
        )

    # ------------------------------------------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, Any]:
        return {
            "heads": [list(p) for p in self.heads],
            "beta": self.beta,
            "threshold": self.threshold,
            "threshold_mode": self.threshold_mode,
            "prefill_only": self.prefill_only,
            "base_model_name_or_path": self.base_model_name_or_path,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActConfig:
        if not isinstance(data, Mapping):
            raise TypeError(f"ActConfig.from_dict expects a mapping, got {type(data).__name__}")
        unknown = set(data) - {
            "heads",
            "beta",
            "threshold",
            "threshold_mode",
            "prefill_only",
            "base_model_name_or_path",
            "method",
        }
        if unknown:
            raise ValueError(f"ActConfig: unknown keys {sorted(unknown)}")
        return cls(**{k: v for k, v in data.items() if k != "method"})

    def save_pretrained(self, save_directory: str | Path, **kwargs) -> Path:
        """Writes `<save_directory>/act_config.json`."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / ACT_CONFIG_NAME
        path.write_text(json.dumps({"method": "act", **self.to_dict()}, indent=2) + "\n")
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path) -> ActConfig:
        """Reads an `act_config.json` file, a folder holding one, or a model folder whose `config.json` has ACT."""
        path = Path(path)
        if path.is_dir():
            if (path / ACT_CONFIG_NAME).exists():
                path = path / ACT_CONFIG_NAME
            elif (path / "config.json").exists():
                data = json.loads((path / "config.json").read_text())
                if CONFIG_ATTRIBUTE not in data:
                    raise ValueError(f"{path}/config.json has no {CONFIG_ATTRIBUTE!r}: not an ACT-calibrated model")
                return cls.from_dict(data[CONFIG_ATTRIBUTE])
            else:
                raise FileNotFoundError(f"no {ACT_CONFIG_NAME} or config.json in {path}")
        if not path.is_file():
            raise FileNotFoundError(f"no such ACT config: {path}")
        return cls.from_dict(json.loads(path.read_text()))


__all__ = ["ACT_ATTENTION_KEY", "ACT_CONFIG_NAME", "CONFIG_ATTRIBUTE", "THRESHOLD_MODES", "ActConfig"]
