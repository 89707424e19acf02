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
"""PyTorch Pointer Network (Vinyals, Fortunato, Jaitly, "Pointer Networks", NeurIPS 2015).

This file is self-contained (torch, transformers, safetensors and its own configuration only), so that a saved
checkpoint loads with `AutoModelForPreTraining.from_pretrained(path, trust_remote_code=True)` without hf-methods
installed.
"""

from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import Seq2SeqModelOutput
from transformers.utils import ModelOutput

from .configuration_pointer_net import POINTER_CONSTRAINTS, PointerNetConfig

#: Value of `decoder_pointer_ids` that feeds the learned start vector (the paper's "⇒" symbol) to the decoder.
START_POINTER = -1
#: Value of `labels` ignored by the loss (padding after a shorter target).
IGNORE_INDEX = -100


def shift_pointers_right(labels: torch.Tensor) -> torch.Tensor:
    """Decoder inputs for teacher forcing: `[START_POINTER, labels[:, 0], …, labels[:, T − 2]]`.

    Ignored label positions (`-100`) become `START_POINTER`; they only feed steps whose outputs the loss ignores.
    """
    shifted = labels.new_full(labels.shape, START_POINTER)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == IGNORE_INDEX, START_POINTER)


@dataclass
class PointerNetOutput(ModelOutput):
    r"""
    Output of [`PointerNetForSequenceOrdering`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            Mean cross-entropy of the pointer distributions against `labels` over the non-ignored steps.
        logits (`torch.FloatTensor` of shape `(batch_size, target_length, num_points)`):
            Pointer scores u_j^i (Eq. 3); padded points hold the dtype's lowest value.
        decoder_last_hidden_state (`torch.FloatTensor` of shape `(batch_size, target_length, hidden_size)`):
            Decoder states d_i.
        encoder_last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_points, hidden_size)`):
            Encoder states e_j.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    decoder_last_hidden_state: torch.FloatTensor | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None


@dataclass
class PointerGenerateOutput(ModelOutput):
    r"""
    Output of [`PointerNetForSequenceOrdering.generate`].

    Args:
        sequences (`torch.LongTensor` of shape `(batch_size, length)`):
            The chosen input positions, one row per example; `-1` after the end of a shorter sequence. Under the
            `"cycle"` constraint a sequence ends by repeating its first position (the closed polygon).
        sequences_scores (`torch.FloatTensor` of shape `(batch_size,)`):
            Sum over the steps of log p(C_i | C_<i, P) of each returned sequence (under the constraint's masks).
        lengths (`torch.LongTensor` of shape `(batch_size,)`):
            Number of positions in each sequence.
    """

    sequences: torch.LongTensor | None = None
    sequences_scores: torch.FloatTensor | None = None
    lengths: torch.LongTensor | None = None


class PointerAttention(nn.Module):
    r"""
    The pointer mechanism (paper, Eq. 3): content-based attention whose normalised scores *are* the output.

        u_j^i = vᵀ tanh(W_1 e_j + W_2 d_i),   j = 1 … n

    Unlike attention in a sequence-to-sequence model, the scores are not used to blend the e_j into a context vector;
    softmax(u^i) is the distribution over input positions of the i-th output.
    """

    def __init__(self, hidden_size: int, attention_size: int):
        super().__init__()
        self.encoder_proj = nn.Linear(hidden_size, attention_size, bias=False)  # W_1
        self.decoder_proj = nn.Linear(hidden_size, attention_size, bias=False)  # W_2
        self.v = nn.Linear(attention_size, 1, bias=False)  # v

    def project_keys(self, encoder_states: torch.Tensor) -> torch.Tensor:
        """W_1 e_j, computed once per input and reused at every decoding step."""
        return self.encoder_proj(encoder_states)

    def forward(self, keys: torch.Tensor, decoder_states: torch.Tensor) -> torch.Tensor:
        """Scores `(batch, T, n)` from `keys` W_1 e `(batch, n, A)` and decoder states `(batch, T, H)`."""
        queries = self.decoder_proj(decoder_states)  # W_2 d_i: (batch, T, A)
        return self.v(torch.tanh(keys.unsqueeze(1) + queries.unsqueeze(2))).squeeze(-1)


class PointerNetPreTrainedModel(PreTrainedModel):
    config: PointerNetConfig
    config_class = PointerNetConfig
    base_model_prefix = "pointer_net"
    main_input_name = "points"
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
        """Every weight ~ U(−init_range, init_range) (the paper: U(−0.08, 0.08)); `init.*` skips loaded tensors."""
        bound = self.config.init_range
        if isinstance(module, (nn.LSTM, nn.Linear)):
            for param in module.parameters(recurse=False):
                init.uniform_(param, -bound, bound)
        elif isinstance(module, PointerNetModel):
            init.uniform_(module.decoder_start, -bound, bound)

    # ------------------------------------------------------------------------------------------------ input checks
    def _check_points(self, points, attention_mask) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns `points` and a boolean mask `(batch, n)` of the real (non-padded) points."""
        if not isinstance(points, torch.Tensor) or not points.is_floating_point():
            raise TypeError(f"`points` must be a float torch.Tensor, got {type(points).__name__}.")
        d = self.config.input_dim
        if points.dim() != 3 or points.shape[-1] != d:
            hint = " (add a trailing axis: `points.unsqueeze(-1)`)" if d == 1 and points.dim() == 2 else ""
            raise ValueError(
                f"`points` must have shape (batch_size, num_points, input_dim={d}), got {tuple(points.shape)}{hint}."
            )
        batch, n, _ = points.shape
        if batch == 0 or n == 0:
            raise ValueError(f"`points` must hold at least one example with one point, got {tuple(points.shape)}.")
        if n > self.config.max_points:
            raise ValueError(f"`points` has {n} points, more than `config.max_points`={self.config.max_points}.")
        if attention_mask is None:
            return points, torch.ones(batch, n, dtype=torch.bool, device=points.device)
        if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != (batch, n):
            shape = tuple(attention_mask.shape) if isinstance(attention_mask, torch.Tensor) else type(attention_mask)
            raise ValueError(f"`attention_mask` must have shape (batch_size, num_points)={(batch, n)}, got {shape}.")
        mask = attention_mask.bool()
        lengths = mask.sum(-1)
        if (lengths == 0).any():
            raise ValueError("`attention_mask` leaves an example without any point.")
        prefix = torch.arange(n, device=mask.device) < lengths.unsqueeze(-1)
        if not torch.equal(mask, prefix):
            raise ValueError("`attention_mask` must be right-padded: ones for the real points first, then zeros.")
        return points, mask

    @staticmethod
    def _check_pointer_ids(ids, name: str, mask: torch.Tensor, allowed_special: tuple[int, ...]) -> torch.Tensor:
        if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"`{name}` must be an integer torch.Tensor, got {getattr(ids, 'dtype', type(ids))}.")
        batch, n = mask.shape
        if ids.dim() != 2 or ids.shape[0] != batch or ids.shape[1] == 0:
            raise ValueError(f"`{name}` must have shape (batch_size={batch}, target_length), got {tuple(ids.shape)}.")
        ids = ids.long()
        special = torch.zeros_like(ids, dtype=torch.bool)
        for value in allowed_special:
            special |= ids == value
        in_range = (ids >= 0) & (ids < n)
        if not (special | in_range).all():
            bad = ids[~(special | in_range)][0].item()
            raise ValueError(f"`{name}` must hold positions in [0, num_points={n}) or {allowed_special}, got {bad}.")
        points_at = mask.gather(1, ids.clamp(0, n - 1))
        if not (special | points_at).all():
            raise ValueError(f"`{name}` points at a padded position (where `attention_mask` is 0).")
        return ids


class PointerNetModel(PointerNetPreTrainedModel):
    r"""
    The encoder–decoder of a Pointer Network without its pointing head: an LSTM encoder over the input points and an
    LSTM decoder whose input at step i is the coordinates of the point pointed at step i − 1 (a learned start vector
    at step 0) and whose initial state is the encoder's final state.

    Args:
        config ([`PointerNetConfig`]): Model configuration.
    """

    def __init__(self, config: PointerNetConfig):
        super().__init__(config)
        lstm = dict(
            input_size=config.input_dim,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.encoder = nn.LSTM(**lstm)
        self.decoder = nn.LSTM(**lstm)
        self.decoder_start = nn.Parameter(torch.empty(config.input_dim))  # the "⇒" input of the first step
        self.post_init()

    def encode(self, points: torch.Tensor, mask: torch.Tensor):
        """Encoder states `(batch, n, H)` (zeros at padded points) and the final `(h, c)` at each example's length."""
        lengths = mask.sum(-1)
        if bool((lengths == points.shape[1]).all()):
            return self.encoder(points)
        packed = nn.utils.rnn.pack_padded_sequence(points, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, final = self.encoder(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=points.shape[1])
        return states, final

    def decoder_inputs(self, points: torch.Tensor, pointer_ids: torch.Tensor) -> torch.Tensor:
        """Coordinates of the points at `pointer_ids` `(batch, T)`; the learned start vector where it is `-1`."""
        index = pointer_ids.clamp(min=0).unsqueeze(-1).expand(-1, -1, points.shape[-1])
        gathered = points.gather(1, index)
        start = self.decoder_start.to(points.dtype).expand_as(gathered)
        return torch.where((pointer_ids == START_POINTER).unsqueeze(-1), start, gathered)

    def forward(
        self,
        points: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_pointer_ids: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> Seq2SeqModelOutput | tuple:
        r"""
        Args:
            points (`torch.FloatTensor` of shape `(batch_size, num_points, input_dim)`):
                The input points P_1 … P_n (right-padded when examples have different numbers of points).
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_points)`, *optional*):
                1 for real points, 0 for padding (right padding only).
            decoder_pointer_ids (`torch.LongTensor` of shape `(batch_size, target_length)`):
                The position fed to the decoder at each step: `-1` for the start vector, else the index of the point
                whose coordinates are fed (teacher forcing: [`shift_pointers_right`] of the labels).

        Returns:
            [`~modeling_outputs.Seq2SeqModelOutput`] with `last_hidden_state` (the decoder states d_i) and
            `encoder_last_hidden_state` (the encoder states e_j).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        points, mask = self._check_points(points, attention_mask)
        if decoder_pointer_ids is None:
            raise ValueError("`decoder_pointer_ids` is required: the decoder's input positions (-1 = start).")
        decoder_pointer_ids = self._check_pointer_ids(decoder_pointer_ids, "decoder_pointer_ids", mask, (-1,))
        encoder_states, state = self.encode(points, mask)
        decoder_states, _ = self.decoder(self.decoder_inputs(points, decoder_pointer_ids), state)
        output = Seq2SeqModelOutput(last_hidden_state=decoder_states, encoder_last_hidden_state=encoder_states)
        return output if return_dict else output.to_tuple()


class PointerNetForSequenceOrdering(PointerNetPreTrainedModel):
    r"""
    Pointer Network (Vinyals et al., NeurIPS 2015) with its pointing head: at each output step a distribution over the
    input positions,

        u_j^i = vᵀ tanh(W_1 e_j + W_2 d_i),   p(C_i | C_<i, P) = softmax_j(u_j^i),

    trained by teacher forcing with the cross-entropy of the target index sequence, decoded with
    [`~PointerNetForSequenceOrdering.generate`] (greedy or beam search, never repeating an index).

    Args:
        config ([`PointerNetConfig`]): Model configuration.
    """

    def __init__(self, config: PointerNetConfig):
        super().__init__(config)
        self.pointer_net = PointerNetModel(config)
        self.pointer = PointerAttention(config.hidden_size, config.attention_size)
        self.post_init()

    def forward(
        self,
        points: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_pointer_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> PointerNetOutput | tuple:
        r"""
        Args:
            points (`torch.FloatTensor` of shape `(batch_size, num_points, input_dim)`):
                The input points (right-padded when examples have different numbers of points).
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_points)`, *optional*):
                1 for real points, 0 for padding; padded points get no probability.
            decoder_pointer_ids (`torch.LongTensor` of shape `(batch_size, target_length)`, *optional*):
                Decoder inputs (`-1` = start vector, else a point index); defaults to `shift_pointers_right(labels)`.
            labels (`torch.LongTensor` of shape `(batch_size, target_length)`, *optional*):
                Target positions C_1 … C_m in `[0, num_points)`, `-100` where ignored (padding of shorter targets).

        Returns:
            [`PointerNetOutput`] or a tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        points, mask = self._check_points(points, attention_mask)
        if labels is not None:
            labels = self._check_pointer_ids(labels, "labels", mask, (IGNORE_INDEX,))
            if decoder_pointer_ids is None:
                decoder_pointer_ids = shift_pointers_right(labels)
        if decoder_pointer_ids is None:
            raise ValueError("Give `labels` (teacher forcing) or `decoder_pointer_ids`; to decode, use `generate`.")
        decoder_pointer_ids = self._check_pointer_ids(decoder_pointer_ids, "decoder_pointer_ids", mask, (-1,))
        if labels is not None and labels.shape != decoder_pointer_ids.shape:
            raise ValueError(
                f"`labels` {tuple(labels.shape)} and `decoder_pointer_ids` {tuple(decoder_pointer_ids.shape)} must "
                "have the same shape."
            )
        encoder_states, state = self.pointer_net.encode(points, mask)
        decoder_inputs = self.pointer_net.decoder_inputs(points, decoder_pointer_ids)
        decoder_states, _ = self.pointer_net.decoder(decoder_inputs, state)
        logits = self.pointer(self.pointer.project_keys(encoder_states), decoder_states)
        logits = logits.masked_fill(~mask.unsqueeze(1), torch.finfo(logits.dtype).min)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX
            )
        output = PointerNetOutput(
            loss=loss,
            logits=logits,
            decoder_last_hidden_state=decoder_states,
            encoder_last_hidden_state=encoder_states,
        )
        return output if return_dict else output.to_tuple()

    # ---------------------------------------------------------------------------------------------------- decoding
    def _start_decoding(self, points, attention_mask, constraint, max_length, num_beams):
        if constraint not in POINTER_CONSTRAINTS:
            raise ValueError(f"`constraint` must be one of {POINTER_CONSTRAINTS}, got {constraint!r}.")
        if isinstance(num_beams, bool) or not isinstance(num_beams, int) or num_beams < 1:
            raise ValueError(f"`num_beams` must be a positive integer, got {num_beams!r}.")
        points, mask = self._check_points(points, attention_mask)
        n = points.shape[1]
        longest = n if constraint == "permutation" else n + 1
        if max_length is None:
            max_length = longest
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"`max_length` must be a positive integer, got {max_length!r}.")
        encoder_states, state = self.pointer_net.encode(points, mask)
        keys = self.pointer.project_keys(encoder_states)
        return points, mask, keys, state, min(max_length, longest)

    def _step_log_probs(self, points, keys, state, previous, mask, visited, start, step, constraint):
        """One decoder step: log p(C_i = j | C_<i, P) under the constraint (disallowed j get −inf), the new state."""
        inputs = self.pointer_net.decoder_inputs(points, previous.unsqueeze(1))
        decoder_state, state = self.pointer_net.decoder(inputs, state)
        scores = self.pointer(keys, decoder_state).squeeze(1)
        allowed = mask & ~visited
        if constraint == "cycle" and step >= 1:
            # closing the cycle (pointing at its first position again) is allowed once it holds three distinct points
            # (a polygon), and is the only move left when every point is used
            close = (step >= 3) | ~allowed.any(-1)
            allowed = allowed.scatter(
                1, start.unsqueeze(1), close.unsqueeze(1) | allowed.gather(1, start.unsqueeze(1))
            )
        # the mask goes on before the softmax: the distribution is renormalised over the allowed positions
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        log_probs = scores.log_softmax(-1).masked_fill(~allowed, float("-inf"))
        return log_probs, state

    @staticmethod
    def _update_constraint(choice, mask, visited, start, finished, step, constraint):
        """Marks `choice` visited; returns (visited, start, finished) after this step."""
        active = ~finished
        safe = choice.clamp(min=0)
        visited = visited | (nn.functional.one_hot(safe, visited.shape[1]).bool() & active.unsqueeze(1))
        if step == 0:
            start = safe
        if constraint == "permutation":
            done = (visited | ~mask).all(-1)
        else:
            done = (choice == start) & (step >= 1)
        return visited, start, finished | (active & done)

    @torch.no_grad()
    def generate(
        self,
        points: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        num_beams: int = 1,
        constraint: str = "permutation",
        max_length: int | None = None,
    ) -> PointerGenerateOutput:
        r"""
        Decodes index sequences, greedily (`num_beams=1`) or by beam search, never pointing twice at a position.

        `transformers`' `GenerationMixin.generate` assumes a fixed vocabulary; here the output "vocabulary" is the
        input positions, so this is a pointer decoding loop of its own. At every step already chosen positions and
        padded points are masked out *before* the softmax.

        Args:
            points (`torch.FloatTensor` of shape `(batch_size, num_points, input_dim)`): the input points.
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_points)`, *optional*): 1 for real points.
            num_beams (`int`, *optional*, defaults to 1): 1 for greedy decoding, more for beam search.
            constraint (`str`, *optional*, defaults to `"permutation"`):
                `"permutation"`: every real point exactly once (sorting, TSP tours without the closing edge);
                `"cycle"`: distinct points, then the first point again, which ends the sequence (a closed polygon:
                convex hulls). Closing is allowed once the cycle holds three distinct points, or when no point is left.
            max_length (`int`, *optional*): at most this many steps (default: every point once, plus the closing
                step under `"cycle"`).

        Returns:
            [`PointerGenerateOutput`].
        """
        if num_beams != 1:
            return self.beam_search(points, attention_mask, num_beams, constraint, max_length)
        points, mask, keys, state, max_length = self._start_decoding(points, attention_mask, constraint, max_length, 1)
        batch, n = mask.shape
        previous = torch.full((batch,), START_POINTER, dtype=torch.long, device=points.device)
        visited = torch.zeros_like(mask)
        start = torch.zeros(batch, dtype=torch.long, device=points.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=points.device)
        scores = torch.zeros(batch, dtype=keys.dtype, device=points.device)
        sequences = []
        for step in range(max_length):
            if finished.all():
                break
            log_probs, state = self._step_log_probs(
                points, keys, state, previous, mask, visited, start, step, constraint
            )
            # ranks Σ log p with `topk` as beam search does, so that a beam of width 1 breaks near-ties the same way
            best, choice = (scores.unsqueeze(1) + log_probs).topk(1, dim=-1)
            best, choice = best.squeeze(-1), choice.squeeze(-1).masked_fill(finished, -1)
            scores = torch.where(finished, scores, best)
            visited, start, finished = self._update_constraint(
                choice, mask, visited, start, finished, step, constraint
            )
            sequences.append(choice)
            previous = choice.clamp(min=0)
        sequences = torch.stack(sequences, 1)
        return PointerGenerateOutput(sequences=sequences, sequences_scores=scores, lengths=(sequences >= 0).sum(-1))

    @torch.no_grad()
    def beam_search(
        self,
        points: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        num_beams: int = 3,
        constraint: str = "permutation",
        max_length: int | None = None,
    ) -> PointerGenerateOutput:
        r"""
        Beam search restricted to valid outputs (paper, §4.1): keeps the `num_beams` highest Σ log p partial
        sequences, expanding each only with allowed positions; returns the best finished one per example. With
        `num_beams=1` it returns what greedy decoding returns. Arguments as in [`~PointerNetForSequenceOrdering.generate`].
        """
        points, mask, keys, state, max_length = self._start_decoding(
            points, attention_mask, constraint, max_length, num_beams
        )
        batch, n = mask.shape
        k = num_beams
        device = points.device
        # every example's beams side by side: row b·k + r is beam r of example b
        points, mask, keys = (t.repeat_interleave(k, 0) for t in (points, mask, keys))
        state = tuple(s.repeat_interleave(k, 1) for s in state)
        beam_scores = torch.full((batch, k), float("-inf"), dtype=keys.dtype, device=device)
        beam_scores[:, 0] = 0.0  # the k beams start identical: expand only the first at step 0
        previous = torch.full((batch * k,), START_POINTER, dtype=torch.long, device=device)
        visited = torch.zeros_like(mask)
        start = torch.zeros(batch * k, dtype=torch.long, device=device)
        finished = torch.zeros(batch * k, dtype=torch.bool, device=device)
        sequences = torch.empty(batch * k, 0, dtype=torch.long, device=device)
        for step in range(max_length):
            if finished.all():
                break
            log_probs, state = self._step_log_probs(
                points, keys, state, previous, mask, visited, start, step, constraint
            )
            # a finished beam continues with one "no position" move (emitted as −1) that keeps its score
            log_probs = torch.where(finished.unsqueeze(1), float("-inf"), log_probs)
            log_probs[:, 0] = torch.where(finished, 0.0, log_probs[:, 0])
            candidates = (beam_scores.reshape(-1, 1) + log_probs).reshape(batch, k * n)
            beam_scores, flat = candidates.topk(k, dim=-1)
            source = (flat // n + torch.arange(batch, device=device).unsqueeze(1) * k).reshape(-1)
            choice = (flat % n).reshape(-1)
            state = tuple(s.index_select(1, source) for s in state)
            visited, start, finished = visited[source], start[source], finished[source]
            sequences = sequences[source]
            choice = choice.masked_fill(finished, -1)
            visited, start, finished = self._update_constraint(
                choice, mask, visited, start, finished, step, constraint
            )
            sequences = torch.cat([sequences, choice.unsqueeze(1)], 1)
            previous = choice.clamp(min=0)
        # `topk` keeps the beams sorted by score: the first beam of each example is the best one
        best = torch.arange(batch, device=device) * k
        sequences = sequences[best]
        keep = int((sequences >= 0).sum(-1).max())
        sequences = sequences[:, :keep]
        return PointerGenerateOutput(
            sequences=sequences, sequences_scores=beam_scores[:, 0], lengths=(sequences >= 0).sum(-1)
        )


PointerNetModel.register_for_auto_class("AutoModel")
PointerNetForSequenceOrdering.register_for_auto_class("AutoModelForPreTraining")

__all__ = [
    "IGNORE_INDEX",
    "START_POINTER",
    "PointerAttention",
    "PointerGenerateOutput",
    "PointerNetForSequenceOrdering",
    "PointerNetModel",
    "PointerNetOutput",
    "PointerNetPreTrainedModel",
    "shift_pointers_right",
]
