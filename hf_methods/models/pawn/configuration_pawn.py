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
"""PAWN configuration (Miralles-González et al., "Not all tokens are created equal", arXiv 2501.03940)."""

import math

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

# The five next-token metrics, in the (alphabetical) order of the official code as reported by a port.
PAWN_METRICS = ("entropy", "max_log_prob", "log_prob", "rank", "top_p")
PAWN_AGGREGATIONS = ("pawn", "mpn", "hsff")
PAWN_LABELS = {0: "human", 1: "machine"}
SMOLLM2_ALIAS = "smollm2-135m-instruct"


@strict
class PawnConfig(PreTrainedConfig):
    r"""
    Configuration of a PAWN (Perplexity Attention Weighted Network) machine-written-text detector: small trainable
    heads over a frozen causal language model (the *backbone*). Per position i (row i predicts token t_{i+1}):

        f_i = MLP_m(m_i)                      m_i: next-token metrics (log-prob, entropy, max log-prob, rank/V, top-p)
        a_i = MLP_g([h_i ; h_{i+1} ; i / L])  h_i: the backbone's last hidden state, L = `pos_scale`
        w_{i,g} = softmax_i(a_{i,g})          softmax over positions, one per gate g; padding gets −∞
        z = Σ_i w_i ⊙ f_i                     each gate weights `num_features // num_gates` features
        logit = MLP_o(z)

    Only the heads are saved; the backbone is referenced by `backbone_name_or_path` (loaded offline, see
    [`PawnForSequenceClassification.get_backbone`]) or built in code from `backbone_config` (tiny test backbones).

    Args:
        backbone_name_or_path (`str`, *optional*, defaults to `"smollm2-135m-instruct"`):
            Folder (or Hub id, cached) of the frozen `AutoModelForCausalLM`. The alias `"smollm2-135m-instruct"`
            resolves to the converted offline SmolLM2-135M-Instruct folder of hf-methods.
        backbone_config (`dict`, *optional*):
            A causal-LM config dict (with `model_type`); when given, the backbone is built from it with random weights
            drawn from `backbone_seed` instead of being loaded (used by tests and synthetic experiments).
        backbone_seed (`int`, *optional*, defaults to 0):
            Seed of the weights of a backbone built from `backbone_config`.
        backbone_hidden_size (`int`, *optional*, defaults to 576):
            Width d of the backbone's last hidden state (576 for SmolLM2-135M). Taken from `backbone_config` when
            given.
        metrics (`list[str]`, *optional*, defaults to the five metrics):
            Next-token metrics fed to the metric MLP, a subset (in any order) of `PAWN_METRICS`.
        aggregation (`str`, *optional*, defaults to `"pawn"`):
            `"pawn"` (gated weighted sum), `"mpn"` (metrics only, mean over tokens; the paper's MPN ablation) or
            `"hsff"` (hidden states only: per-token MLP of [h_i; h_{i+1}; i/L], mean; the paper's HSFF ablation).
        num_features (`int`, *optional*, defaults to 256):
            Width F of the metric features f_i.
        num_gates (`int`, *optional*, defaults to 256):
            Number G of gates; must divide `num_features`.
        mlp_hidden_size (`int`, *optional*, defaults to 256):
            Width of the hidden layers of the three MLPs.
        mlp_num_layers (`int`, *optional*, defaults to 3):
            Number of hidden (residual, LayerNorm + GELU) layers of each MLP.
        max_length (`int`, *optional*, defaults to 512):
            Longest token sequence accepted by `forward`; longer inputs raise a `ValueError` (truncate them with the
            tokenizer: `truncation=True, max_length=config.max_length`).
        pos_scale (`int`, *optional*, defaults to 512):
            Fixed denominator L of the position feature i / L (not the sequence length).
        concat_next_hidden (`bool`, *optional*, defaults to `True`):
            Gate reads [h_i; h_{i+1}; i/L] (paper) instead of [h_i; i/L].
        dropout_tokens (`float`, *optional*, defaults to 0.15):
            Training only: probability that a valid token's gate logit is set to −∞ (at least one token is kept).
        label_smoothing (`float`, *optional*, defaults to 0.2):
            ε of the smoothed binary target y(1−ε) + ε/2.
        pos_weight (`float`, *optional*, defaults to 1.0):
            Weight of the positive (machine) class in the BCE loss.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Std of the normal initialisation of linear weights.
        decision_threshold (`float`, *optional*, defaults to 0.0):
            The detector logit t above which a text is called machine-written (0 ⇔ P(machine) = 0.5; the recipe sets
            it to the threshold it calibrates on its training documents). The model's two-class `logits`
            `[0, logit − t]` for the labels `human` / `machine` apply it, so `pipeline("text-classification")`
            answers by the calibrated threshold, with score sigmoid(logit − t) for `machine`.

    ```python
    >>> from hf_methods.models.pawn import PawnConfig, PawnForSequenceClassification

    >>> config = PawnConfig(backbone_name_or_path="smollm2-135m-instruct")
    >>> detector = PawnForSequenceClassification(config)  # heads only; the backbone loads on the first raw forward
    ```"""

    model_type = "hfm-pawn"

    backbone_name_or_path: str | None = SMOLLM2_ALIAS
    backbone_config: dict | None = None
    backbone_seed: int = 0
    backbone_hidden_size: int = 576
    metrics: list[str] | tuple[str, ...] = PAWN_METRICS
    aggregation: str = "pawn"
    num_features: int = 256
    num_gates: int = 256
    mlp_hidden_size: int = 256
    mlp_num_layers: int = 3
    max_length: int = 512
    pos_scale: int = 512
    concat_next_hidden: bool = True
    dropout_tokens: float | int = 0.15
    label_smoothing: float | int = 0.2
    pos_weight: float | int = 1.0
    initializer_range: float | int = 0.02
    decision_threshold: float | int = 0.0

    def __post_init__(self, **kwargs):
        self.metrics = list(self.metrics)
        for name in ("dropout_tokens", "label_smoothing", "pos_weight", "initializer_range", "decision_threshold"):
            setattr(self, name, float(getattr(self, name)))
        if self.backbone_config is not None:
            if not isinstance(self.backbone_config, dict) or "model_type" not in self.backbone_config:
                raise ValueError("`backbone_config` must be a config dict with a `model_type` (config.to_dict()).")
            self.backbone_hidden_size = int(self.backbone_config["hidden_size"])
        # Two labels, always: `logits` = [0, logit − decision_threshold] for (human, machine). A config saved when the
        # model had one `machine` logit (id2label {0: "machine"}) loads as the two-label form: the heads are the same.
        num_labels = kwargs.pop("num_labels", None)
        given = kwargs.pop("id2label", None) or self.id2label or PAWN_LABELS
        id2label = {int(k): v for k, v in given.items()}
        kwargs.pop("label2id", None)
        if num_labels not in (None, 1, 2) or id2label not in (PAWN_LABELS, {0: "machine"}):
            raise ValueError(
                "`num_labels` must be 2 with id2label {0: 'human', 1: 'machine'} (the detector's two-class logits), "
                f"got num_labels={num_labels}, id2label={id2label}."
            )
        self.id2label = dict(PAWN_LABELS)
        self.label2id = {label: i for i, label in PAWN_LABELS.items()}
        self._check_fields()
        super().__post_init__(**kwargs)

    def _check_fields(self):
        if self.backbone_name_or_path is None and self.backbone_config is None:
            raise ValueError("Give `backbone_name_or_path` or `backbone_config`: PAWN needs a frozen backbone.")
        for name in (
            "backbone_hidden_size",
            "num_features",
            "num_gates",
            "mlp_hidden_size",
            "max_length",
            "pos_scale",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.mlp_num_layers < 0:
            raise ValueError(f"`mlp_num_layers` must be >= 0, got {self.mlp_num_layers!r}.")
        if self.max_length < 2:
            raise ValueError(f"`max_length` must be >= 2 (metrics need a next token), got {self.max_length}.")
        if self.num_features % self.num_gates != 0:
            raise ValueError(
                f"`num_gates` ({self.num_gates}) must divide `num_features` ({self.num_features}): each gate weights "
                "num_features // num_gates features."
            )
        unknown = [m for m in self.metrics if m not in PAWN_METRICS]
        if unknown or not self.metrics or len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"`metrics` must be distinct names from {PAWN_METRICS}, got {self.metrics!r}.")
        if self.aggregation not in PAWN_AGGREGATIONS:
            raise ValueError(f"`aggregation` must be one of {PAWN_AGGREGATIONS}, got {self.aggregation!r}.")
        if not 0.0 <= self.dropout_tokens < 1.0:
            raise ValueError(f"`dropout_tokens` must be in [0, 1), got {self.dropout_tokens!r}.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1), got {self.label_smoothing!r}.")
        if not self.pos_weight > 0:
            raise ValueError(f"`pos_weight` must be > 0, got {self.pos_weight!r}.")
        if not math.isfinite(self.decision_threshold):
            raise ValueError(f"`decision_threshold` must be a finite logit, got {self.decision_threshold!r}.")

    @property
    def num_metrics(self) -> int:
        return len(self.metrics)

    @property
    def backbone_id(self) -> str:
        """A string naming the backbone, stored with cached features to detect a mismatch."""
        if self.backbone_config is not None:
            model_type = self.backbone_config.get("model_type")
            return f"in-code:{model_type}:d{self.backbone_hidden_size}:seed{self.backbone_seed}"
        return str(self.backbone_name_or_path)

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        super().validate_architecture()
        self._check_fields()


PawnConfig.register_for_auto_class()

__all__ = ["PAWN_AGGREGATIONS", "PAWN_LABELS", "PAWN_METRICS", "PawnConfig"]
