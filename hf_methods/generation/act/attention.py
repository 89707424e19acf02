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
"""The ACT calibration of post-softmax attention and the `act_eager` attention function.

The function is eager attention (`repeat_kv`, scores + additive mask, fp32 softmax) with the calibration applied to
the selected heads of each layer, read from `module.config.act_config`. It is registered with transformers'
`AttentionInterface` *and* `AttentionMaskInterface` under `"act_eager"`: without the mask registration
`masking_utils` finds no mask function for the key, passes `attention_mask=None`, and attention silently becomes
bidirectional.
"""

from __future__ import annotations

import torch
from torch import nn

from .configuration_act import ACT_ATTENTION_KEY, CONFIG_ATTRIBUTE, ActConfig


def _causal_visibility(q_len: int, kv_len: int, device) -> torch.Tensor:
    """`[Q, K]` bool: query i (the last Q of K positions) sees key j <= i + K - Q."""
    return torch.ones(q_len, kv_len, dtype=torch.bool, device=device).tril(kv_len - q_len)


def find_sinks(
    probs: torch.Tensor,
    threshold: float = 0.1,
    visible: torch.Tensor | None = None,
    threshold_mode: str = "absolute",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Sink scores and sink sets of attention maps, as ACT detects them (steps 1-2 of `calibrate_attention`).

    Args:
        probs (`torch.Tensor` of shape `[..., Q, K]`): post-softmax attention.
        threshold (`float`, *optional*, defaults to 0.1): threshold on the sink score (see `threshold_mode`).
        visible (`torch.Tensor`, *optional*): bool `[..., Q, K]` visibility (default: causal, queries last).
        threshold_mode (`str`, *optional*, defaults to `"absolute"`): `"absolute"` compares $s_j$ with `threshold`;
            `"relative"` with $\alpha / N$, $\alpha$ = `threshold` and $N$ the number of keys some valid query sees
            (the prompt length without padding).

    Returns:
        `(score [..., K], sinks [..., K], hidden_sinks [..., K], valid_queries [..., Q])`: the score
        $s_j = \frac{1}{|\{i \text{ valid}: i \text{ sees } j\}|}\sum_i A_{ij}$, every key above the threshold, the
        same without the first one (the sinks ACT calibrates), and the non-padding queries.
    """
    q_len, kv_len = probs.shape[-2:]
    if q_len > kv_len:
        raise ValueError(f"probs: more queries ({q_len}) than keys ({kv_len}); expected causal self-attention maps")
    if visible is None:
        visible = _causal_visibility(q_len, kv_len, probs.device)
    elif visible.shape[-2:] != probs.shape[-2:]:
        raise ValueError(f"visible has shape {tuple(visible.shape)}, expected [..., {q_len}, {kv_len}] like probs")
    visible = visible.to(torch.bool)
    # a query is real (not padding) when it can see its own key position
    valid_q = torch.diagonal(visible, offset=kv_len - q_len, dim1=-2, dim2=-1)  # [..., Q]
    seen_by = (visible & valid_q.unsqueeze(-1)).sum(-2)  # [..., K]: queries that can see key j (N - j if unpadded)
    received = (probs * valid_q.unsqueeze(-1).to(probs.dtype)).sum(-2)  # [..., K]
    score = received / seen_by.clamp(min=1).to(probs.dtype)
    if threshold_mode == "relative":  # alpha / N, N the prompt's length without padding
        length = (seen_by > 0).sum(-1, keepdim=True).clamp(min=1).to(probs.dtype)
        threshold = threshold / length
    elif threshold_mode != "absolute":
        raise ValueError(f"threshold_mode must be 'absolute' or 'relative', got {threshold_mode!r}")
    sink = (score > threshold) & (seen_by > 0)
    # drop the first sink (the initial one); argmax of an all-False row is 0, whose entry is already False
    hidden = sink.scatter(-1, sink.to(torch.int8).argmax(-1, keepdim=True), False)
    return score, sink, hidden, valid_q


def calibrate_attention(
    probs: torch.Tensor,
    beta: float = 0.4,
    threshold: float = 0.1,
    visible: torch.Tensor | None = None,
    threshold_mode: str = "absolute",
) -> torch.Tensor:
    r"""Calibrates post-softmax attention maps (ACT, Yu et al. 2024, `atten_process_*` of the official code).

    For one head with attention map $A \in \mathbb{R}^{N \times N}$ (causal, rows sum to 1):

    1. sink score of key $j$: $s_j = \frac{1}{N - j} \sum_{i \ge j} A_{ij}$, the mean attention it receives from the
       queries that can see it;
    2. sink set $S = \{ j : s_j > \tau \}$ minus its first element (the initial / BOS sink is kept), with
       $\tau$ = `threshold` (absolute, the official criterion) or $\tau = \alpha / N$ (`threshold_mode="relative"`,
       $\alpha$ = `threshold`, relative to the uniform level $1/N$);
    3. with $m_i = \sum_{s \in S} A_{is}$,

       $$\hat A_{ij} = \beta A_{ij} \ (j \in S), \qquad
         \hat A_{ij} = A_{ij} \Big(1 + \frac{(1 - \beta)\, m_i}{\sum_{k \notin S} A_{ik}}\Big) \ (j \notin S).$$

    Rows still sum to 1 and masked (zero) entries stay zero. The official code also sets $\hat A_{00} = 1$, which the
    formula already gives (row 0 only sees key 0, and key 0 is never a calibrated sink).

    Departures from the official code (which handles batch element 0 of an unpadded prompt only): `visible` makes the
    normaliser $N - j$ the number of *valid* queries that can see key $j$, so padded batches give each row the result
    of its unpadded prompt; padding queries (which cannot see themselves) and rows with no non-sink mass are returned
    unchanged.

    Args:
        probs (`torch.Tensor` of shape `[..., Q, K]`):
            Post-softmax attention of the heads to calibrate.
        beta (`float`, *optional*, defaults to 0.4): fraction of attention a hidden sink keeps.
        threshold (`float`, *optional*, defaults to 0.1): sink threshold on $s_j$, or alpha in relative mode.
        visible (`torch.Tensor` of shape broadcastable to `[..., Q, K]`, *optional*):
            Which query sees which key (bool). Defaults to causal attention where the Q queries are the last Q of the
            K positions.
        threshold_mode (`str`, *optional*, defaults to `"absolute"`): `"absolute"` or `"relative"` (alpha / N).

    Returns:
        `torch.Tensor`: the calibrated maps, same shape and dtype as `probs`.
    """
    if probs.dim() < 2:
        raise ValueError(f"probs must have shape [..., Q, K], got {tuple(probs.shape)}")
    _, _, sink, valid_q = find_sinks(probs, threshold, visible, threshold_mode)
    s = sink.unsqueeze(-2).to(probs.dtype)  # [..., 1, K]
    sink_mass = (probs * s).sum(-1, keepdim=True)  # m_i
    rest = (probs * (1 - s)).sum(-1, keepdim=True)  # sum_{k not in S} A_ik
    scale = 1 + (1 - beta) * sink_mass / rest.clamp_min(torch.finfo(probs.dtype).tiny)
    calibrated = probs * s * beta + probs * (1 - s) * scale
    keep = (rest > 0) & valid_q.unsqueeze(-1)
    return torch.where(keep, calibrated, probs)


def _repeat_kv(states: torch.Tensor, n_rep: int) -> torch.Tensor:
    """`[B, H_kv, S, D] -> [B, H_kv * n_rep, S, D]` (grouped-query attention), as transformers' `repeat_kv`."""
    if n_rep == 1:
        return states
    batch, heads, seq, dim = states.shape
    return states[:, :, None].expand(batch, heads, n_rep, seq, dim).reshape(batch, heads * n_rep, seq, dim)


def _settings(module: nn.Module) -> tuple[list[int], ActConfig | None]:
    """The calibrated heads of this module's layer and the ACT settings, read from `module.config.act_config`."""
    config = getattr(module, "config", None)
    raw = getattr(config, CONFIG_ATTRIBUTE, None)
    if not raw:
        return [], None
    cache = getattr(module, "_act_parsed", None)
    key = id(raw), repr(raw)
    if cache is None or cache[0] != key:
        act = raw if isinstance(raw, ActConfig) else ActConfig.from_dict(raw)
        heads = act.heads_by_layer().get(getattr(module, "layer_idx", None), [])
        cache = (key, heads, act)
        module._act_parsed = cache
    return cache[1], cache[2]


def act_eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    softcap: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention with ACT on the layer's calibrated heads (the `AttentionInterface` signature).

    Args:
        module (`nn.Module`): the attention module; `module.layer_idx` and `module.config.act_config` select the heads.
        query (`torch.Tensor` of shape `[B, H, Q, D]`), key / value (`[B, H_kv, K, D]`): projected states.
        attention_mask (`torch.Tensor` of shape `[B, 1, Q, K]`, *optional*): additive float mask from `eager_mask`.
        scaling (`float`, *optional*): score scale, defaults to `D ** -0.5`.
        dropout (`float`, *optional*, defaults to 0.0): attention dropout (training only).
        softcap (`float`, *optional*): tanh soft-capping of the scores (Gemma 2 style).

    Returns:
        `(attn_output [B, Q, H, D], attn_weights [B, H, Q, K])`; the weights are the calibrated ones.
    """
    if kwargs.get("s_aux") is not None:
        raise ValueError("act_eager does not support attention sinks as learned logits (`s_aux`, e.g. gpt-oss)")
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    n_rep = query.shape[1] // key.shape[1]
    key_states = _repeat_kv(key, n_rep)
    value_states = _repeat_kv(value, n_rep)

    scores = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    mask = None
    if attention_mask is not None:
        mask = attention_mask[:, :, :, : key_states.shape[-2]]
        scores = scores + mask
    probs = nn.functional.softmax(scores, dim=-1, dtype=torch.float32)

    heads, act = _settings(module)
    q_len, kv_len = probs.shape[-2:]
    if heads and act is not None and act.beta != 1.0 and (q_len == kv_len or not act.prefill_only):
        if max(heads) >= probs.shape[1]:
            raise ValueError(
                f"act_config.heads: layer {module.layer_idx} has {probs.shape[1]} query heads, got head {max(heads)}"
            )
        if mask is None:
            visible = None
        elif mask.dtype == torch.bool:
            visible = mask
        else:
            visible = mask > torch.finfo(mask.dtype).min / 2
        index = torch.tensor(heads, device=probs.device)
        probs = probs.index_copy(
            1, index, calibrate_attention(probs[:, index], act.beta, act.threshold, visible, act.threshold_mode)
        )

    attn_weights = probs.to(query.dtype)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value_states)
    attn_output = attn_output.transpose(1, 2).contiguous()
    return attn_output, attn_weights


def register_act_attention(key: str = ACT_ATTENTION_KEY) -> str:
    """Registers `act_eager_attention_forward` and the eager mask under `key` (idempotent); returns `key`."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(key, act_eager_attention_forward)
    # REQUIRED: without a mask function for `key`, masking_utils passes attention_mask=None (non-causal attention)
    AttentionMaskInterface.register(key, eager_mask)
    return key


__all__ = ["act_eager_attention_forward", "calibrate_attention", "find_sinks", "register_act_attention"]
