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
"""Medusa / Hydra / Hydra++ draft heads as a `PreTrainedModel`, and `HydraForCausalLM` (base + heads).

Self-contained (torch, transformers and files of this folder only; hf-methods, when installed, only maps the offline
SmolLM2 asset to its Hub id), so a saved head checkpoint loads with
`AutoModel.from_pretrained(folder, trust_remote_code=True)` on a machine without hf-methods.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_hydra import HydraConfig
from .generation_hydra import hydra_generate


@dataclass
class HydraHeadsOutput(ModelOutput):
    """Output of [`HydraHeads.forward`].

    Args:
        loss (`torch.FloatTensor`, *optional*): sum over heads of the weighted data and teacher losses.
        logits (`torch.FloatTensor` of shape `(batch, num_heads, seq_len, vocab_size)`): head k at position t scores
            the token x_{t+k+2}.
        head_losses (`torch.FloatTensor` of shape `(num_heads,)`, *optional*): the per-head loss terms.
        head_accuracy (`torch.FloatTensor` of shape `(num_heads,)`, *optional*): per-head top-1 agreement with the
            targets (the labels, or the teacher's argmax when only the teacher is used).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    head_losses: torch.FloatTensor | None = None
    head_accuracy: torch.FloatTensor | None = None


class HydraResBlock(nn.Module):
    r"""Medusa's residual block, `ResBlock(x) = x + SiLU(W x + b)` with W zero-initialised (the identity at init).

    When the input is wider than the output (the first block of a Hydra head, input `(k+2)·d`), the residual branch is
    a learned `Linear(in, out)` instead of the identity, as in the official `HydraMLP`. Departure: we initialise it to
    `[I, 0, …, 0]` (pass h_t through, ignore the token embeddings) instead of PyTorch's default random init, so a
    Hydra head starts exactly where a Medusa head starts (the base `lm_head` on h_t); this matters for the short CPU
    trainings of the recipe and the claim.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.linear._hydra_zero_init = True
        self.residual = nn.Identity() if in_features == out_features else nn.Linear(in_features, out_features)
        if in_features != out_features:
            self.residual._hydra_eye_init = True
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.act(self.linear(x))


class HydraHead(nn.Module):
    """One draft head's trunk: `num_layers` ResBlocks (independent weights), dropout before each block (and before
    the LM head, applied by [`HydraHeads`])."""

    def __init__(self, in_features: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.blocks = nn.ModuleList(
            [HydraResBlock(in_features if i == 0 else hidden_size, hidden_size) for i in range(num_layers)]
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(self.dropout(x))
        return self.dropout(x)


class HydraPreTrainedModel(PreTrainedModel):
    config: HydraConfig
    config_class = HydraConfig
    base_model_prefix = "hydra"
    main_input_name = "hidden_states"
    _no_split_modules = ["HydraHead"]

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
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            if getattr(module, "_hydra_zero_init", False):
                nn.init.zeros_(module.weight)
            elif getattr(module, "_hydra_eye_init", False):
                nn.init.zeros_(module.weight)
                module.weight[:, : module.out_features].copy_(torch.eye(module.out_features))
            else:
                nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif type(module).__name__.endswith("RMSNorm"):
            nn.init.ones_(module.weight)


class HydraHeads(HydraPreTrainedModel):
    r"""
    The draft heads of Medusa, Hydra or Hydra++ for one base causal LM (see [`HydraConfig`] for the three kinds).

    Holds the base input embedding E (Hydra kinds: the heads read the embeddings of the speculated tokens), the
    optional one-layer prefix-attention decoder (Hydra++), the head trunks, and the LM heads. Build it on a base with
    [`HydraHeads.from_base`], which copies E and the base `lm_head` into the heads.

    E and the shared `lm_head` (`share_lm_head=True`) are frozen base weights: heads that record their base
    (`config.base_model_name_or_path`) save without them and take them from the base again when loaded
    (`HydraHeads.from_pretrained(folder, base_model=base)`, or on first use by `hydra_generate` /
    [`HydraForCausalLM`], or `tie_to_base()` which loads the recorded base). `config.save_base_weights=True` stores
    them, for standalone heads.

    Training (teacher forcing on data tokens, as the official `HydraModel.forward`): for head k and position t,

        medusa:   z_{k,t} = W_k · Head_k(h_t)
        hydra:    z_{k,t} = W_k · Head_k([h_t, E(x_{t+1}), …, E(x_{t+k+1})])
        hydra++:  as hydra with h_t replaced by PrefixLayer(h_{≤t})_t

    and z_{k,t} scores x_{t+k+2}. The loss is Σ_k [ λ_lm · CE(z_{k,t}, x_{t+k+2})
    + λ_teacher · CE(z_{k,t}, softmax(base_logits_{t+k+1})) ], averaged over valid positions.
    """

    def __init__(self, config: HydraConfig):
        super().__init__(config)
        d, V, K = config.hidden_size, config.vocab_size, config.num_heads
        self.sequential = config.head_kind != "medusa"
        if self.sequential:
            # frozen copy of the base input embedding E (official: base_model.model.embed_tokens)
            self.embed_tokens = nn.Embedding(V, d)
            self.embed_tokens.weight.requires_grad_(False)
        if config.head_kind == "hydra++":
            from transformers import LlamaConfig, LlamaModel

            # one causal decoder layer over the base hidden states (official: deepcopy(base_config) with one layer);
            # it never sees token ids, so its own embedding table is shrunk to one row
            prefix = dict(config.prefix_layer_config)
            prefix.update(
                hidden_size=d,
                num_hidden_layers=1,
                vocab_size=1,
                pad_token_id=None,
                bos_token_id=None,
                eos_token_id=None,
                tie_word_embeddings=False,
            )
            self.prefix_layer = LlamaModel(LlamaConfig(**prefix))
        self.heads = nn.ModuleList(
            [HydraHead((k + 2) * d if self.sequential else d, d, config.num_layers, config.dropout) for k in range(K)]
        )
        if config.share_lm_head:
            self.lm_head = nn.Linear(d, V, bias=False)
            self.lm_head.weight.requires_grad_(False)
        else:
            self.lm_heads = nn.ModuleList([nn.Linear(d, V, bias=config.lm_head_bias) for _ in range(K)])
        self.post_init()
        # whether E and the shared lm_head hold the base's weights (from_base, tie_to_base, or a standalone checkpoint)
        self.has_base_weights = False
        if config.references_base:
            # a checkpoint of heads that reference their base has no such tensors: not a missing weight
            self._keys_to_ignore_on_load_missing = set(self._keys_to_ignore_on_load_missing or ()) | {
                rf"^{re.escape(name)}$" for name in self.base_weight_names()
            }

    # ------------------------------------------------------------------------------------------------ building
    @classmethod
    def from_base(cls, base_model, **config_kwargs) -> HydraHeads:
        """Builds heads for `base_model` (a causal LM): records its hidden size, vocabulary and name, copies its input
        embedding and `lm_head` into the heads, and (Hydra++) sizes the prefix layer like one base decoder layer."""
        base_config = base_model.config
        if "hidden_size" in config_kwargs and config_kwargs["hidden_size"] != base_config.hidden_size:
            raise ValueError(
                f"`hidden_size` ({config_kwargs['hidden_size']}) differs from the base model's "
                f"({base_config.hidden_size})."
            )
        kwargs = {
            "hidden_size": base_config.hidden_size,
            "vocab_size": base_model.get_output_embeddings().weight.shape[0],
            "base_model_name_or_path": getattr(base_config, "_name_or_path", None) or None,
        }
        if config_kwargs.get("head_kind") == "hydra++" and config_kwargs.get("prefix_layer_config") is None:
            kwargs["prefix_layer_config"] = {
                key: getattr(base_config, key)
                for key in (
                    "num_attention_heads",
                    "num_key_value_heads",
                    "head_dim",
                    "intermediate_size",
                    "rms_norm_eps",
                    "max_position_embeddings",
                    "rope_parameters",
                    "hidden_act",
                )
                if getattr(base_config, key, None) is not None
            }
        config = HydraConfig(**{**kwargs, **config_kwargs})
        heads = cls(config)
        heads.load_base_weights(base_model)
        return heads

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, base_model=None, **kwargs):
        r"""`PreTrainedModel.from_pretrained`, plus the base the heads run on.

        Args:
            base_model (`PreTrainedModel` or `str`, *optional*):
                The base causal LM (or its folder / Hub id). Heads saved without the base weights (the default for
                heads that record `base_model_name_or_path`) take the base input embedding and `lm_head` from it,
                without copying them. Without it such heads stay untied until `hydra_generate` / `HydraForCausalLM`
                run them on a base, or `tie_to_base()` loads the recorded base.
        """
        loaded = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        heads = loaded[0] if isinstance(loaded, tuple) else loaded  # output_loading_info=True
        heads.has_base_weights = not heads.config.references_base
        if base_model is not None and heads.needs_base_weights:
            heads.tie_to_base(base_model)
        return loaded

    def base_weight_names(self) -> list[str]:
        """State-dict names of the frozen base weights the heads hold: E (Hydra kinds), the shared `lm_head`."""
        names = ["embed_tokens.weight"] if self.sequential else []
        return names + (["lm_head.weight"] if self.config.share_lm_head else [])

    @property
    def needs_base_weights(self) -> bool:
        """True for heads that reference their base and are not tied to it yet."""
        return self.config.references_base and not self.has_base_weights

    def _check_base(self, base_model) -> None:
        out = base_model.get_output_embeddings() if hasattr(base_model, "get_output_embeddings") else None
        if out is None or out.weight.shape != (self.config.vocab_size, self.config.hidden_size):
            raise ValueError(
                "`base_model` must be a causal LM whose `lm_head` is (vocab_size, hidden_size) = "
                f"{(self.config.vocab_size, self.config.hidden_size)}."
            )

    @torch.no_grad()
    def tie_to_base(self, base_model=None) -> HydraHeads:
        """Makes E and the shared `lm_head` read `base_model`'s own tensors (frozen here; no copy when dtype and
        device match). `base_model` may be a model, a folder or Hub id, or `None` for the recorded
        `config.base_model_name_or_path` (the offline asset when it names one and hf-methods is installed)."""
        if base_model is None or isinstance(base_model, (str, Path)):
            base_model = load_base_model(base_model or self.config.base_model_name_or_path)
        self._check_base(base_model)

        def frozen(source, like):
            return nn.Parameter(source.detach().to(device=like.device, dtype=like.dtype), requires_grad=False)

        if self.sequential:
            embedding = base_model.get_input_embeddings().weight[: self.config.vocab_size]
            self.embed_tokens.weight = frozen(embedding, self.embed_tokens.weight)
        if self.config.share_lm_head:
            self.lm_head.weight = frozen(base_model.get_output_embeddings().weight, self.lm_head.weight)
        self.has_base_weights = True
        return self

    @torch.no_grad()
    def load_base_weights(self, base_model) -> None:
        """Copies the base input embedding into E and the base `lm_head` into every head's LM head (bias zero)."""
        self._check_base(base_model)
        out = base_model.get_output_embeddings()
        if self.sequential:
            self.embed_tokens.weight.copy_(base_model.get_input_embeddings().weight[: self.config.vocab_size])
        for lm_head in [self.lm_head] if self.config.share_lm_head else self.lm_heads:
            lm_head.weight.copy_(out.weight)
            if lm_head.bias is not None:
                lm_head.bias.zero_()
        self.has_base_weights = True

    # ------------------------------------------------------------------------------------------------ pieces
    def head_lm(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """Logits of head `k` from its trunk output `x`."""
        return self.lm_head(x) if self.config.share_lm_head else self.lm_heads[k](x)

    def head_logits(self, k: int, head_input: torch.Tensor) -> torch.Tensor:
        """Logits of head `k` for an input `[..., in_features]` (`h`, or `[h, E(x_{t+1}), …, E(x_{t+k+1})]`)."""
        return self.head_lm(k, self.heads[k](head_input))

    def embed(self, input_ids: torch.LongTensor) -> torch.Tensor:
        return self.embed_tokens(input_ids)

    def run_prefix_layer(self, hidden_states, attention_mask=None, position_ids=None, cache=None):
        """Hydra++: the prefix-attention layer over base hidden states (identity for the other kinds)."""
        if self.config.head_kind != "hydra++":
            return hidden_states
        return self.prefix_layer(
            inputs_embeds=hidden_states,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=cache is not None,
        ).last_hidden_state

    # ------------------------------------------------------------------------------------------------ training
    def forward(
        self,
        hidden_states: torch.FloatTensor,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        teacher_logits: torch.FloatTensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> HydraHeadsOutput:
        r"""
        Args:
            hidden_states (`torch.FloatTensor` of shape `(batch, seq_len, hidden_size)`):
                The base model's last hidden states (after its final norm, i.e. what its `lm_head` reads).
            input_ids (`torch.LongTensor` of shape `(batch, seq_len)`, *optional*):
                The tokens; required by the Hydra kinds (the heads read E(x_{t+1}), …), teacher-forced.
            attention_mask (`torch.LongTensor` of shape `(batch, seq_len)`, *optional*):
                1 for real tokens (used by the Hydra++ prefix layer and to mask the loss when `labels` is not given).
            labels (`torch.LongTensor` of shape `(batch, seq_len)`, *optional*):
                Data tokens (usually `input_ids`), `-100` where no loss is taken; head k at t is scored against
                `labels[t + k + 2]`.
            teacher_logits (`torch.FloatTensor` of shape `(batch, seq_len, vocab_size)`, *optional*):
                The base logits, for the teacher term (head k at t against `softmax(teacher_logits[t + k + 1])`).
                With `share_lm_head=True` they default to `lm_head(hidden_states)`.
        """
        config = self.config
        if self.needs_base_weights:
            raise ValueError(
                f"these heads take the input embedding / lm_head of their base `{config.base_model_name_or_path}`, "
                "which they were saved without: load them with `HydraHeads.from_pretrained(folder, base_model=base)` "
                "or call `heads.tie_to_base(base)` (`tie_to_base()` loads the recorded base)."
            )
        if hidden_states.dim() != 3 or hidden_states.shape[-1] != config.hidden_size:
            raise ValueError(
                f"`hidden_states` must be (batch, seq_len, {config.hidden_size}), got {tuple(hidden_states.shape)}."
            )
        B, T, d = hidden_states.shape
        if self.sequential and input_ids is None:
            raise ValueError(f"`input_ids` is required by `{config.head_kind}` heads (they read token embeddings).")
        if input_ids is not None and input_ids.shape != (B, T):
            raise ValueError(f"`input_ids` must be (batch, seq_len) = {(B, T)}, got {tuple(input_ids.shape)}.")
        if labels is not None and labels.shape != (B, T):
            raise ValueError(f"`labels` must be (batch, seq_len) = {(B, T)}, got {tuple(labels.shape)}.")
        if attention_mask is not None and attention_mask.shape != (B, T):
            raise ValueError(
                f"`attention_mask` must be (batch, seq_len) = {(B, T)}, got {tuple(attention_mask.shape)}."
            )

        h = self.run_prefix_layer(hidden_states, attention_mask=attention_mask)
        if self.sequential:
            e = self.embed(input_ids)
            zeros = e.new_zeros(B, config.num_heads + 1, d)
            padded = torch.cat([e, zeros], dim=1)  # positions past the end read a zero embedding
            shifted = [padded[:, j : j + T] for j in range(1, config.num_heads + 1)]  # shifted[j-1][t] = E(x_{t+j})
        logits = []
        for k in range(config.num_heads):
            x = torch.cat([h, *shifted[: k + 1]], dim=-1) if self.sequential else h
            logits.append(self.head_logits(k, x))
        logits = torch.stack(logits, dim=1)  # (B, K, T, V)

        loss = head_losses = head_accuracy = None
        want_teacher = config.teacher_loss_weight > 0
        if labels is not None or teacher_logits is not None:
            if want_teacher and teacher_logits is None:
                if not config.share_lm_head:
                    raise ValueError(
                        "`teacher_logits` (the base logits) are required for the teacher loss when the heads have "
                        "their own LM heads (`share_lm_head=False`)."
                    )
                with torch.no_grad():
                    teacher_logits = self.lm_head(hidden_states)
            if teacher_logits is not None and teacher_logits.shape[:2] != (B, T):
                raise ValueError(f"`teacher_logits` must be (batch, seq_len, vocab) with (batch, seq_len) = {(B, T)}.")
            if config.lm_loss_weight > 0 and labels is None:
                raise ValueError("`labels` are required for the data loss (`lm_loss_weight` > 0).")
            head_losses, head_accuracy = self._losses(logits, labels, teacher_logits, attention_mask)
            loss = head_losses.sum()
        return HydraHeadsOutput(loss=loss, logits=logits, head_losses=head_losses, head_accuracy=head_accuracy)

    def _losses(self, logits, labels, teacher_logits, attention_mask):
        config = self.config
        B, K, T, V = logits.shape
        losses, accuracy = [], []
        for k in range(K):
            s = k + 2  # head k at t predicts x_{t+s}
            if T <= s:
                losses.append(logits.new_zeros(()))
                accuracy.append(logits.new_zeros(()))
                continue
            z = logits[:, k, : T - s].reshape(-1, V)
            if labels is not None:
                target = labels[:, s:].reshape(-1)
                valid = target != -100
            else:
                valid = (
                    attention_mask[:, s:] > 0
                    if attention_mask is not None
                    else torch.ones(B, T - s, dtype=torch.bool, device=logits.device)
                ).reshape(-1)
                target = None
            n = valid.sum().clamp(min=1)
            term = logits.new_zeros(())
            if config.lm_loss_weight > 0:
                ce = F.cross_entropy(z, target.clamp(min=0), reduction="none")
                term = term + config.lm_loss_weight * (ce * valid).sum() / n
            if config.teacher_loss_weight > 0:
                # soft cross-entropy against the frozen base: CE(z, softmax(base_logits_{t+s-1}))
                teacher = teacher_logits[:, s - 1 : T - 1].reshape(-1, V).float().softmax(-1)
                soft = -(teacher * z.float().log_softmax(-1)).sum(-1)
                term = term + config.teacher_loss_weight * (soft * valid).sum() / n
            losses.append(term)
            with torch.no_grad():
                ref = target if target is not None else teacher_logits[:, s - 1 : T - 1].reshape(-1, V).argmax(-1)
                accuracy.append(((z.argmax(-1) == ref) & valid).sum() / n)
        return torch.stack(losses), torch.stack(accuracy)

    # ------------------------------------------------------------------------------------------------ saving
    def save_pretrained(self, save_directory, *args, is_main_process: bool = True, **kwargs):
        """`PreTrainedModel.save_pretrained`, plus `custom_generate/generate.py` so a Hub repo of these heads carries
        its decoding strategy (`base.generate(..., custom_generate=repo, trust_remote_code=True)`).

        Heads that record their base (`config.base_model_name_or_path`) are saved without the frozen base weights
        (E, the shared `lm_head`) unless `config.save_base_weights` is True."""
        ignored = self._keys_to_ignore_on_save
        if self.config.references_base:
            self._keys_to_ignore_on_save = set(ignored or ()) | set(self.base_weight_names())
        elif kwargs.get("state_dict") is None:
            # tied to a base whose embedding and lm_head are one tensor, E and lm_head share memory: store copies
            state_dict = self.state_dict()
            kwargs["state_dict"] = {
                k: v.clone() if k in self.base_weight_names() else v for k, v in state_dict.items()
            }
        try:
            result = super().save_pretrained(save_directory, *args, is_main_process=is_main_process, **kwargs)
        finally:
            self._keys_to_ignore_on_save = ignored
        if is_main_process:
            folder = Path(save_directory) / "custom_generate"
            folder.mkdir(parents=True, exist_ok=True)
            source = Path(__file__).with_name("generation_hydra.py").read_text()
            (folder / "generate.py").write_text(source)
        return result


class HydraForCausalLM(nn.Module):
    r"""
    A base causal LM plus its draft heads; `generate()` runs tree speculative decoding with the heads.

    With the default greedy acceptance, `generate` returns token for token what `base_model.generate(do_sample=False)`
    returns (the lossless guarantee); `forward` is the base model's.

    Args:
        base_model ([`PreTrainedModel`]): a causal LM with `GenerationMixin`.
        heads ([`HydraHeads`]): draft heads built for it (same hidden size and vocabulary).
        tree_choices (`list[list[int]]`, *optional*): overrides the heads' tree.

    ```python
    >>> model = HydraForCausalLM(base, HydraHeads.from_base(base, head_kind="hydra"))
    >>> out = model.generate(**inputs, max_new_tokens=32)   # == base.generate(**inputs, do_sample=False, ...)
    ```
    """

    def __init__(self, base_model, heads: HydraHeads, tree_choices=None):
        super().__init__()
        if not isinstance(heads, HydraPreTrainedModel):
            raise TypeError(f"`heads` must be a HydraHeads, got {type(heads).__name__}.")
        if not hasattr(base_model, "generate") or base_model.get_output_embeddings() is None:
            raise TypeError(f"`base_model` must be a causal LM with `generate`, got {type(base_model).__name__}.")
        if base_model.config.hidden_size != heads.config.hidden_size:
            raise ValueError(
                f"`heads` were built for hidden size {heads.config.hidden_size}, the base model has "
                f"{base_model.config.hidden_size}."
            )
        if heads.needs_base_weights:
            heads.tie_to_base(base_model)
        self.base_model = base_model
        self.heads = heads
        self.tree_choices = copy.deepcopy(tree_choices)

    @property
    def config(self):
        return self.base_model.config

    @property
    def device(self):
        return self.base_model.device

    def forward(self, *args, **kwargs):
        return self.base_model(*args, **kwargs)

    def generate(self, *args, **kwargs):
        """`base_model.generate(..., custom_generate=hydra_generate, draft_heads=self.heads)`."""
        kwargs.setdefault("tree_choices", self.tree_choices)
        return self.base_model.generate(*args, custom_generate=hydra_generate, draft_heads=self.heads, **kwargs)

    def save_pretrained(self, save_directory, **kwargs):
        """Saves the heads only (the base stays where `heads.config.base_model_name_or_path` points)."""
        return self.heads.save_pretrained(save_directory, **kwargs)

    @classmethod
    def from_pretrained(cls, base_model, heads_path, **kwargs) -> HydraForCausalLM:
        """`base_model` (a model, or a folder / Hub id for `AutoModelForCausalLM` with `kwargs`; `None`: the base the
        heads record) plus the heads saved at `heads_path`, tied to it."""
        if base_model is None:
            base_model = HydraConfig.from_pretrained(heads_path).base_model_name_or_path
            if not base_model:
                raise ValueError(f"the heads at {heads_path} record no base model: pass `base_model`.")
        if isinstance(base_model, (str, Path)):
            base_model = load_base_model(base_model, **kwargs)
        return cls(base_model, HydraHeads.from_pretrained(heads_path, base_model=base_model))


def load_base_model(name_or_path, **kwargs):
    """The causal LM `name_or_path` names, with `AutoModelForCausalLM.from_pretrained`; the offline SmolLM2 asset of
    hf-methods (when installed) answers to its Hub id, so heads recording it resolve their base offline."""
    if not name_or_path:
        raise ValueError("no base model given, and the heads record none (`config.base_model_name_or_path`).")
    try:
        from hf_methods.common.data import SMOLLM2_ALIAS, SMOLLM2_HUB_ID, load_smollm2
    except ImportError:  # this file runs as remote code on a machine without hf-methods
        pass
    else:
        if str(name_or_path) in (SMOLLM2_ALIAS, SMOLLM2_HUB_ID):
            return load_smollm2(**kwargs)[0]
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)


HydraHeads.register_for_auto_class("AutoModel")

__all__ = [
    "HydraForCausalLM",
    "HydraHeads",
    "HydraHeadsOutput",
    "HydraPreTrainedModel",
    "HydraResBlock",
    "load_base_model",
]
