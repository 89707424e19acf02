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
"""Configuration of Medusa / Hydra / Hydra++ draft heads (Ankner et al., "Hydra: Sequentially-Dependent Draft Heads
for Medusa Decoding", COLM 2024)."""

from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

HEAD_KINDS = ("medusa", "hydra", "hydra++")
ACCEPTANCE_MODES = ("greedy", "typical")


@strict
class HydraConfig(PreTrainedConfig):
    r"""
    Configuration of a set of draft heads that sit on a frozen causal LM and guess the next `num_heads` tokens after
    the base model's own next token, for tree speculative decoding.

    Three head kinds:

    - `"medusa"` (the baseline, sequentially independent): head k sees the base's last hidden state h_t only,
      `p_k = softmax(W_k · ResBlock^L(h_t))`, and guesses x_{t+k+2}.
    - `"hydra"` (sequentially dependent): head k also sees the input embeddings of the tokens already speculated on
      its tree path, `input_k = [h_t, E(x_{t+1}), …, E(x_{t+k+1})] ∈ R^{(k+2)d}`.
    - `"hydra++"`: Hydra heads on top of a one-layer causal "prefix attention" decoder layer run over the base's hidden
      states, deeper heads (4 ResBlocks), dropout 0.2 and the teacher-distillation objective (soft cross-entropy
      against the base distribution, data cross-entropy weight 0).

    Fields left as `None` take the per-kind default of the official recipe and are stored resolved.

    Args:
        base_model_name_or_path (`str`, *optional*):
            The base model the heads were built for (a Hub id or a local folder). Heads that record their base
            reference its input embedding and `lm_head` instead of storing copies (see `save_base_weights`); heads
            without one are standalone.
        hidden_size (`int`, *optional*, defaults to 576):
            Hidden size d of the base model.
        vocab_size (`int`, *optional*, defaults to 49152):
            Vocabulary size V of the base model.
        head_kind (`str`, *optional*, defaults to `"hydra"`):
            One of `"medusa"`, `"hydra"`, `"hydra++"`.
        num_heads (`int`, *optional*, defaults to 4):
            Number K of draft heads; head k guesses the token k+2 positions after the last verified one.
        num_layers (`int`, *optional*):
            ResBlocks per head (default 1, 4 for `"hydra++"`). Every block has its own weights (the official code
            repeats one instance for blocks 2..L; we do not).
        dropout (`float`, *optional*):
            Dropout before every block and before the LM head (default 0.0, 0.2 for `"hydra++"`).
        share_lm_head (`bool`, *optional*, defaults to `False`):
            `False` (official): each head has its own `Linear(d, V)` initialised from the base `lm_head`. `True`:
            all heads use one frozen copy of the base `lm_head` (legacy Medusa; far cheaper to train on CPU).
        lm_head_bias (`bool`, *optional*):
            Whether per-head LM heads have a bias (official Hydra: yes; Medusa: no). Ignored with `share_lm_head`.
        lm_loss_weight (`float`, *optional*):
            Weight of the data cross-entropy (default 1.0, 0.0 for `"hydra++"`).
        teacher_loss_weight (`float`, *optional*):
            Weight of the soft cross-entropy against the base distribution (default 0.0, 1.0 for `"hydra++"`).
        prefix_layer_config (`dict`, *optional*):
            `LlamaConfig` keyword arguments of the one-layer prefix-attention decoder (`"hydra++"` only). Filled from
            the base config by [`HydraHeads.from_base`]; a small default otherwise.
        tree_choices (`list[list[int]]`, *optional*):
            The static candidate tree as a list of paths (Medusa's `medusa_choices`): `[0, 1]` is the top-2 guess of
            head 1 under the top-1 guess of head 0. Default: `default_tree(num_heads, tree_size)`.
        tree_size (`int`, *optional*, defaults to 16):
            Number of candidate nodes of the default tree (ignored when `tree_choices` is given).
        acceptance (`str`, *optional*, defaults to `"greedy"`):
            `"greedy"` (lossless: output equals greedy decoding) or `"typical"` (Medusa/Hydra typical acceptance,
            lossy with respect to the sampling distribution).
        posterior_threshold (`float`, *optional*, defaults to 0.09):
            ε of typical acceptance: accept x if p(x) > min(ε, δ·exp(−H(p))).
        posterior_alpha (`float`, *optional*, defaults to 0.3):
            δ of typical acceptance.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of layers not copied from the base.
        save_base_weights (`bool`, *optional*, defaults to `False`):
            Whether `save_pretrained` stores the heads' frozen copies of the base input embedding (Hydra kinds) and
            of the shared `lm_head` (`share_lm_head=True`). By default heads that record `base_model_name_or_path`
            leave them out (on SmolLM2-135M they are 2 × 28M parameters, far more than the heads themselves) and
            take them from the base they are loaded on; `True` keeps the copies, for heads that load without the
            base.

    ```python
    >>> from hf_methods.generation.hydra import HydraConfig

    >>> config = HydraConfig(hidden_size=576, vocab_size=49152, head_kind="hydra++", num_heads=4)
    >>> config.num_layers, config.dropout, config.teacher_loss_weight
    (4, 0.2, 1.0)
    ```"""

    model_type = "hfm-hydra"

    base_model_name_or_path: str | None = None
    hidden_size: int = 576
    vocab_size: int = 49152
    head_kind: str = "hydra"
    num_heads: int = 4
    num_layers: int | None = None
    dropout: float | int | None = None
    share_lm_head: bool = False
    lm_head_bias: bool | None = None
    lm_loss_weight: float | int | None = None
    teacher_loss_weight: float | int | None = None
    prefix_layer_config: dict[str, Any] | None = None
    tree_choices: list[list[int]] | None = None
    tree_size: int = 16
    acceptance: str = "greedy"
    posterior_threshold: float | int = 0.09
    posterior_alpha: float | int = 0.3
    initializer_range: float | int = 0.02
    save_base_weights: bool = False

    def __post_init__(self, **kwargs):
        plus = self.head_kind == "hydra++"
        if self.num_layers is None:
            self.num_layers = 4 if plus else 1
        if self.dropout is None:
            self.dropout = 0.2 if plus else 0.0
        if self.lm_head_bias is None:
            self.lm_head_bias = self.head_kind != "medusa"
        if self.lm_loss_weight is None:
            self.lm_loss_weight = 0.0 if plus else 1.0
        if self.teacher_loss_weight is None:
            self.teacher_loss_weight = 1.0 if plus else 0.0
        for name in (
            "dropout",
            "lm_loss_weight",
            "teacher_loss_weight",
            "posterior_threshold",
            "posterior_alpha",
            "initializer_range",
        ):
            setattr(self, name, float(getattr(self, name)))
        if plus and self.prefix_layer_config is None:
            heads = max(1, self.hidden_size // 64) if self.hidden_size % 64 == 0 else 1
            self.prefix_layer_config = {
                "num_attention_heads": heads,
                "num_key_value_heads": heads,
                "head_dim": self.hidden_size // heads,
                "intermediate_size": 4 * self.hidden_size,
                "rms_norm_eps": 1e-5,
                "max_position_embeddings": 8192,
            }
        if self.tree_choices is not None:
            self.tree_choices = [[int(i) for i in path] for path in self.tree_choices]
        self._check_fields()
        super().__post_init__(**kwargs)

    def _check_fields(self):
        for name in ("hidden_size", "vocab_size", "num_heads", "num_layers", "tree_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.head_kind not in HEAD_KINDS:
            raise ValueError(f"`head_kind` must be one of {HEAD_KINDS}, got {self.head_kind!r}.")
        if self.acceptance not in ACCEPTANCE_MODES:
            raise ValueError(f"`acceptance` must be one of {ACCEPTANCE_MODES}, got {self.acceptance!r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout!r}.")
        if self.lm_loss_weight < 0 or self.teacher_loss_weight < 0:
            raise ValueError(
                f"`lm_loss_weight` and `teacher_loss_weight` must be >= 0, got {self.lm_loss_weight!r} and "
                f"{self.teacher_loss_weight!r}."
            )
        if self.lm_loss_weight == 0 and self.teacher_loss_weight == 0:
            raise ValueError("`lm_loss_weight` and `teacher_loss_weight` cannot both be 0: the heads would not train.")
        if not 0.0 < self.posterior_threshold <= 1.0:
            raise ValueError(f"`posterior_threshold` must be in (0, 1], got {self.posterior_threshold!r}.")
        if not self.posterior_alpha > 0:
            raise ValueError(f"`posterior_alpha` must be > 0, got {self.posterior_alpha!r}.")
        if self.tree_choices is not None:
            check_tree_choices(self.tree_choices, self.num_heads, name="tree_choices")

    @property
    def references_base(self) -> bool:
        """True when the frozen base weights are not stored with the heads but taken from the recorded base."""
        return bool(self.base_model_name_or_path) and not self.save_base_weights

    def validate_architecture(self):
        """Part of `@strict`-powered validation: ranges, choices and the tree's depth against `num_heads`."""
        super().validate_architecture()
        self._check_fields()


def check_tree_choices(tree_choices, num_heads: int, name: str = "tree_choices") -> None:
    """Raises `ValueError` naming `name` unless `tree_choices` is a non-empty list of non-empty paths of
    non-negative ints, no deeper than `num_heads`, closed under prefixes and without duplicates."""
    if not isinstance(tree_choices, (list, tuple)) or len(tree_choices) == 0:
        raise ValueError(f"`{name}` must be a non-empty list of paths (lists of ints), got {tree_choices!r}.")
    seen = set()
    for path in tree_choices:
        if not isinstance(path, (list, tuple)) or len(path) == 0:
            raise ValueError(f"`{name}`: every path must be a non-empty list of ints, got {path!r}.")
        if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in path):
            raise ValueError(f"`{name}`: path entries must be non-negative ints (top-k ranks), got {path!r}.")
        if len(path) > num_heads:
            raise ValueError(
                f"`{name}`: path {list(path)} has depth {len(path)} but there are only {num_heads} draft heads "
                "(`num_heads`); use a shallower tree or more heads."
            )
        key = tuple(path)
        if key in seen:
            raise ValueError(f"`{name}`: path {list(path)} appears twice.")
        seen.add(key)
    for key in seen:
        if len(key) > 1 and key[:-1] not in seen:
            raise ValueError(f"`{name}`: path {list(key)} is listed but its parent {list(key[:-1])} is not.")


HydraConfig.register_for_auto_class()

__all__ = ["ACCEPTANCE_MODES", "HEAD_KINDS", "HydraConfig", "check_tree_choices"]
