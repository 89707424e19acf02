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
"""`plot_attention_sinks`: attention heatmaps and per-token sink scores before and after ACT (matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from .attention import find_sinks
from .configuration_act import ActConfig
from .modeling_act import _check_model, act_calibrate, capture_attention, get_act_config


@torch.no_grad()
def plot_attention_sinks(
    model,
    tokenizer,
    text: str,
    layers: Sequence[int] | None = None,
    config: ActConfig | None = None,
    path: str | Path = "act-attention-sinks.png",
    heads: Sequence[int] | None = None,
    max_tokens: int = 128,
) -> Path:
    """Saves a PNG with, per layer, the attention map before / after ACT and the per-token sink scores.

    Each row of the figure is one layer: the attention averaged over the shown heads (the layer's calibrated heads,
    or `heads`, or all heads) before calibration, the same after, and the sink score $s_j$ of every token before and
    after, with the threshold as a dashed line. Layers before a calibrated layer are unchanged; later layers also
    change through their inputs.

    Args:
        model (`PreTrainedModel`): a supported causal decoder.
        tokenizer: its tokenizer.
        text (`str`): the prompt.
        layers (`Sequence[int]`, *optional*): layers to show; defaults to up to 4 layers that have calibrated heads.
        config (`ActConfig`, *optional*): the calibration; defaults to the one stored on the model.
        path (`str` or `Path`, *optional*): where to write the PNG.
        heads (`Sequence[int]`, *optional*): query heads to average over (all layers).
        max_tokens (`int`, *optional*, defaults to 128): the prompt is truncated to this many tokens.

    Returns:
        `Path` of the written PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modules = _check_model(model)
    n_layers = len(modules)
    config = config if config is not None else get_act_config(model)
    if config is None:
        raise ValueError("config: the model carries no ActConfig; pass config=ActConfig(heads=...)")
    by_layer = config.heads_by_layer()
    if layers is None:
        layers = sorted(by_layer)[:4] or [n_layers // 2]
    layers = [int(layer) for layer in layers]
    bad = [layer for layer in layers if not 0 <= layer < n_layers]
    if bad:
        raise ValueError(f"layers: {bad} out of range (the model has {n_layers} layers)")
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty string")
    ids = tokenizer(text, return_tensors="pt")["input_ids"][:, :max_tokens].to(next(model.parameters()).device)

    maps = {}
    for name, act in (("before", config.with_heads([])), ("after", config)):
        with act_calibrate(model, act), capture_attention(model, layers=layers) as captured:
            model(input_ids=ids)
        maps[name] = {layer: captured[layer][0].float().cpu() for layer in layers}

    tokens = [tokenizer.decode([t]) for t in ids[0].tolist()]
    fig, axes = plt.subplots(len(layers), 3, figsize=(15, 4.2 * len(layers)), squeeze=False)
    for row, layer in enumerate(layers):
        shown = list(heads) if heads is not None else by_layer.get(layer, list(range(maps["before"][layer].shape[0])))
        label = f"heads {shown}" if len(shown) <= 6 else f"{len(shown)} heads"
        vmax = float(maps["before"][layer][shown].mean(0).max())
        for col, name in enumerate(("before", "after")):
            image = maps[name][layer][shown].mean(0).numpy()
            ax = axes[row][col]
            ax.imshow(image, cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
            ax.set_title(f"layer {layer}, {label}: attention {name} ACT")
            ax.set_xlabel("key position")
            ax.set_ylabel("query position")
        ax = axes[row][2]
        for name, style in (("before", "-"), ("after", "--")):
            score = find_sinks(maps[name][layer][shown], config.threshold)[0].mean(0).numpy()
            ax.plot(score, style, marker=".", label=f"sink score {name}")
        if config.threshold_mode == "relative":  # alpha / N
            level = config.threshold / score.shape[-1]
            ax.axhline(level, color="grey", linestyle=":", label=f"threshold {config.threshold:g}/N = {level:.3g}")
        else:
            ax.axhline(config.threshold, color="grey", linestyle=":", label=f"threshold {config.threshold:g}")
        ax.set_yscale("log")
        ax.set_title(f"layer {layer}: sink score per token (beta={config.beta:g})")
        ax.set_xlabel("token")
        if len(tokens) <= 48:
            ax.set_xticks(range(len(tokens)))
            ax.set_xticklabels([repr(t)[1:-1][:8] for t in tokens], rotation=90, fontsize=6)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


__all__ = ["plot_attention_sinks"]
