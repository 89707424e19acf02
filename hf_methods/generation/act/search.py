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
"""Sink statistics, few-shot choice accuracy and ACT's offline head search (`find_act_heads`).

A calibration example is a dict, either tokenised

```python
{"input_ids": [1, 523, 77, ...], "choice_ids": [905, 1203, 88], "label": 1}
```

or text, tokenised with the `tokenizer` argument (each choice scored by its first token, as the official code scores
label words by the log-softmax at the last position):

```python
{"text": "... Passage: ...\\nSource:", "choices": [" bible", " jargon", " python"], "label": 0}
```

The head search scores a candidate set of heads by calibration accuracy or by the mean *margin* of the correct label,
`log p(correct) - max log p(other label)`: a continuous score that moves when a head shifts the label probabilities,
where accuracy on a few dozen prompts changes only in steps of `1 / n`.
"""

from __future__ import annotations

import json
import statistics as stats_lib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .attention import find_sinks
from .configuration_act import ActConfig
from .modeling_act import _check_model, act_calibrate, capture_attention


# ----------------------------------------------------------------------------------------------------------- data
def _encode(examples: Sequence[dict], tokenizer=None) -> list[dict[str, Any]]:
    if isinstance(examples, dict) or not isinstance(examples, Sequence) or len(examples) == 0:
        raise ValueError("calibration_dataset must be a non-empty sequence of example dicts")
    out = []
    for i, ex in enumerate(examples):
        if not isinstance(ex, dict):
            raise TypeError(f"calibration_dataset[{i}] must be a dict, got {type(ex).__name__}")
        if "input_ids" in ex:
            ids = [int(t) for t in (ex["input_ids"].tolist() if torch.is_tensor(ex["input_ids"]) else ex["input_ids"])]
            choice_ids = ex.get("choice_ids")
        elif "text" in ex:
            if tokenizer is None:
                raise ValueError(f"calibration_dataset[{i}] is text: pass `tokenizer=` to tokenise it")
            ids = tokenizer(ex["text"])["input_ids"]
            choice_ids = None
            if "choices" in ex:
                choice_ids = [tokenizer(c, add_special_tokens=False)["input_ids"][0] for c in ex["choices"]]
        else:
            raise ValueError(f"calibration_dataset[{i}] needs 'input_ids' or 'text', got keys {sorted(ex)}")
        if not ids:
            raise ValueError(f"calibration_dataset[{i}] is empty")
        item = {"input_ids": ids}
        if choice_ids is not None:
            label = ex.get("label")
            if not isinstance(label, int) or not 0 <= label < len(choice_ids):
                raise ValueError(
                    f"calibration_dataset[{i}]: label must be an int in [0, {len(choice_ids)}), got {label!r}"
                )
            item.update(choice_ids=[int(c) for c in choice_ids], label=label)
        out.append(item)
    return out


def _batches(items: list[dict], batch_size: int, pad_id: int):
    """Right-padded batches, by length so that little padding is computed; yields (indices, ids, mask)."""
    order = sorted(range(len(items)), key=lambda i: len(items[i]["input_ids"]))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(items[i]["input_ids"]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            seq = items[i]["input_ids"]
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        yield idx, ids, mask


def _pad_id(model) -> int:
    pad = getattr(model.config, "pad_token_id", None)
    return 0 if pad is None else int(pad if not isinstance(pad, list) else pad[0])


def _decoder_layers(model) -> nn.ModuleList | None:
    """The decoder's layer list when the model is a plain `<Model>ForCausalLM` (`model.model.layers`, `lm_head`)."""
    decoder = getattr(model, "model", None)
    layers = getattr(decoder, "layers", None)
    head = getattr(model, "lm_head", None)
    if isinstance(layers, nn.ModuleList) and isinstance(head, nn.Linear):
        if getattr(model.config, "final_logit_softcapping", None) is None:
            return layers
    return None


def _last_position_log_probs(model, ids, mask, inputs_embeds=None, start_layer: int = 0) -> torch.Tensor:
    """Log-softmax over the vocabulary at each row's last real position, `[B, V]` (float32).

    With `inputs_embeds` = the hidden states entering layer `start_layer`, only layers `start_layer..` run (their
    `layer_idx` is unchanged, so ACT's per-layer heads still apply).
    """
    rows, last = torch.arange(ids.shape[0], device=ids.device), mask.sum(1) - 1
    layers = _decoder_layers(model)
    if layers is None:
        logits = model(input_ids=ids, attention_mask=mask).logits[rows, last]
    elif inputs_embeds is None:
        logits = model.lm_head(model.model(input_ids=ids, attention_mask=mask).last_hidden_state[rows, last])
    else:
        model.model.layers = nn.ModuleList(list(layers)[start_layer:])
        try:
            hidden = model.model(inputs_embeds=inputs_embeds, attention_mask=mask).last_hidden_state
        finally:
            model.model.layers = layers
        logits = model.lm_head(hidden[rows, last])
    return torch.log_softmax(logits.float(), dim=-1)


@torch.no_grad()
def choice_log_probs(model, examples: Sequence[dict], tokenizer=None, batch_size: int = 8) -> list[torch.Tensor]:
    """Log-softmax of each example's choice tokens at its last prompt position (label-word scoring)."""
    items = _encode(examples, tokenizer)
    if any("choice_ids" not in it for it in items):
        raise ValueError("examples need 'choice_ids' (or 'choices' with a tokenizer) and 'label' to be scored")
    device = next(model.parameters()).device
    out: list[torch.Tensor] = [torch.empty(0)] * len(items)
    for idx, ids, mask in _batches(items, batch_size, _pad_id(model)):
        logp = _last_position_log_probs(model, ids.to(device), mask.to(device))
        for row, i in enumerate(idx):
            out[i] = logp[row, items[i]["choice_ids"]].cpu()
    return out


def choice_accuracy(model, examples: Sequence[dict], tokenizer=None, batch_size: int = 8) -> float:
    """Accuracy of picking the highest-scoring choice token (ties go to the first choice)."""
    items = _encode(examples, tokenizer)
    scores = choice_log_probs(model, items, batch_size=batch_size)
    return sum(int(s.argmax()) == it["label"] for s, it in zip(scores, items)) / len(items)


def choice_margins(log_probs: Sequence[torch.Tensor], labels: Sequence[int]) -> list[float]:
    r"""The correct label's log-probability margin of each example:

    $$\text{margin} = \log p(y) - \max_{c \ne y} \log p(c),$$

    positive exactly when the example is classified correctly (ties aside), and continuous in the probabilities.
    """
    out = []
    for logp, label in zip(log_probs, labels):
        others = torch.cat([logp[:label], logp[label + 1 :]])
        out.append(float(logp[label] - others.max()) if len(others) else 0.0)
    return out


class ChoiceScorer:
    """Scores a fixed set of few-shot examples under many ACT settings, re-running only the layers a setting changes.

    Calibrating heads of layers `>= L` leaves layers `< L` exactly as in the uncalibrated model, so the uncalibrated
    pass stores the hidden states entering each layer of `reuse_layers`, and a setting whose first calibrated layer
    is `L` restarts from the closest stored layer `<= L`. At start the restart is checked against the full forward
    (within 1e-5) and switched off, with a warning, for a model where it is not the same computation.

    Args:
        model (`PreTrainedModel`): the model (scored through ACT's `act_eager` attention, uncalibrated = no heads).
        examples (`Sequence[dict]`): examples with choices and labels (see the module docstring).
        tokenizer (*optional*): needed for text examples.
        batch_size (`int`, *optional*, defaults to 8): evaluation batch size.
        reuse_layers (`Sequence[int]`, *optional*): layers whose input hidden states are kept (memory: one
            `[batch, length, hidden]` tensor per layer and batch).
    """

    def __init__(self, model, examples: Sequence[dict], tokenizer=None, batch_size: int = 8, reuse_layers=()):
        self.model = model
        self.items = _encode(examples, tokenizer)
        if any("choice_ids" not in it for it in self.items):
            raise ValueError("examples need 'choice_ids' (or 'choices' with a tokenizer) and 'label' to be scored")
        self.labels = [it["label"] for it in self.items]
        device = next(model.parameters()).device
        self._batches = [
            (idx, ids.to(device), mask.to(device))
            for idx, ids, mask in _batches(self.items, batch_size, _pad_id(model))
        ]
        layers = _decoder_layers(model)
        wanted = sorted({int(layer) for layer in reuse_layers if int(layer) > 0}) if layers is not None else []
        self._stored: dict[int, list[torch.Tensor]] = {layer: [] for layer in wanted}
        handles = [layers[layer].register_forward_pre_hook(self._keeper(layer)) for layer in wanted]
        try:
            self.baseline = self._score(ActConfig(), start_layer=0)
        finally:
            for handle in handles:
                handle.remove()
        if wanted and not self._restart_is_exact(wanted[0]):
            warnings.warn(f"{type(model).__name__}: restarting from a stored layer differs from the full forward; "
                          "every ACT setting is scored with a full forward")  # fmt: skip
            self._stored = {}

    def _keeper(self, layer: int):
        def keep(module, args):
            self._stored[layer].append(args[0].detach())

        return keep

    def _restart_is_exact(self, layer: int) -> bool:
        idx, ids, mask = self._batches[0]
        with torch.no_grad(), act_calibrate(self.model, ActConfig()):
            restarted = _last_position_log_probs(self.model, ids, mask, self._stored[layer][0], layer)
            full = _last_position_log_probs(self.model, ids, mask)
        return bool(torch.allclose(restarted, full, rtol=0, atol=1e-5))

    @torch.no_grad()
    def _score(self, config: ActConfig, start_layer: int) -> list[torch.Tensor]:
        out: list[torch.Tensor] = [torch.empty(0)] * len(self.items)
        with act_calibrate(self.model, config):
            for b, (idx, ids, mask) in enumerate(self._batches):
                embeds = self._stored[start_layer][b] if start_layer else None
                logp = _last_position_log_probs(self.model, ids, mask, embeds, start_layer)
                for row, i in enumerate(idx):
                    out[i] = logp[row, self.items[i]["choice_ids"]].cpu()
        return out

    def log_probs(self, config: ActConfig | None = None) -> list[torch.Tensor]:
        """The choices' log-probabilities of every example with ACT `config` (None or no heads: uncalibrated)."""
        if config is None or not config.heads or config.beta == 1.0:
            return self.baseline
        first = min(layer for layer, _ in config.heads)
        start = max((layer for layer in self._stored if layer <= first), default=0)
        return self._score(config, start)

    def margins(self, config: ActConfig | None = None) -> list[float]:
        """Per-example correct-label margins (see `choice_margins`)."""
        return choice_margins(self.log_probs(config), self.labels)

    def correct(self, config: ActConfig | None = None) -> list[float]:
        """Per-example 1.0 / 0.0: the highest-scoring choice is the label (ties go to the first choice)."""
        return [float(int(lp.argmax()) == y) for lp, y in zip(self.log_probs(config), self.labels)]


# ----------------------------------------------------------------------------------------------------------- sinks
@dataclass
class SinkStatistics:
    """Per (layer, head) sink statistics of a model on a set of prompts (ACT's detection, no calibration).

    Attributes:
        layers (`list[int]`): the layers measured (rows of the tensors).
        hidden_sink_rate (`torch.Tensor` `[L, H]`): fraction of prompts where the head has at least one hidden
            (non-initial) sink.
        hidden_sink_mass (`torch.Tensor` `[L, H]`): mean attention mass on hidden sinks (`m_i`, averaged over queries
            and prompts): what ACT can move.
        first_sink_score (`torch.Tensor` `[L, H]`): mean sink score of the first token.
        positions (`dict[tuple[int, int], list[list[int]]]`): hidden-sink positions per head, one list per prompt.
        threshold (`float`), threshold_mode (`str`): the sink criterion used (see `ActConfig`).
    """

    layers: list[int]
    hidden_sink_rate: torch.Tensor
    hidden_sink_mass: torch.Tensor
    first_sink_score: torch.Tensor
    positions: dict[tuple[int, int], list[list[int]]] = field(repr=False)
    threshold: float
    threshold_mode: str = "absolute"

    def ranked_heads(self, min_mass: float = 0.0) -> list[tuple[int, int]]:
        """`(layer, head)` pairs by decreasing hidden-sink mass, keeping those with mass > `min_mass`."""
        flat = [
            (float(self.hidden_sink_mass[r, h]), layer, h)
            for r, layer in enumerate(self.layers)
            for h in range(self.hidden_sink_mass.shape[1])
        ]
        return [(layer, h) for mass, layer, h in sorted(flat, key=lambda t: (-t[0], t[1], t[2])) if mass > min_mass]

    @property
    def fraction_heads_with_hidden_sinks(self) -> float:
        return float((self.hidden_sink_rate > 0).float().mean())


@torch.no_grad()
def sink_statistics(
    model,
    examples: Sequence[dict],
    tokenizer=None,
    threshold: float = 0.1,
    layers: Sequence[int] | None = None,
    threshold_mode: str = "absolute",
) -> SinkStatistics:
    """Measures ACT's sinks (score above the threshold; hidden = all but the first) of every head on `examples`.

    The model runs uncalibrated (eager math), one prompt at a time, so every map is a plain causal `N x N` map.
    """
    modules = _check_model(model)
    all_layers = sorted(idx for idx, _ in modules)
    layers = all_layers if layers is None else [int(layer) for layer in layers]
    bad = [layer for layer in layers if layer not in all_layers]
    if bad:
        raise ValueError(f"layers: {bad} are not attention layers of the model ({all_layers[0]}..{all_layers[-1]})")
    items = _encode(examples, tokenizer)
    n_heads = model.config.num_attention_heads
    rate = torch.zeros(len(layers), n_heads)
    mass = torch.zeros(len(layers), n_heads)
    first = torch.zeros(len(layers), n_heads)
    positions: dict[tuple[int, int], list[list[int]]] = {(l, h): [] for l in layers for h in range(n_heads)}
    device = next(model.parameters()).device
    with act_calibrate(model, heads=[]), capture_attention(model, layers=layers) as maps:
        for it in items:
            model(input_ids=torch.tensor([it["input_ids"]], device=device))
            for r, layer in enumerate(layers):
                probs = maps[layer][0].float()  # [H, N, N]
                score, _, hidden, _ = find_sinks(probs, threshold, threshold_mode=threshold_mode)
                rate[r] += hidden.any(-1).float().cpu()
                mass[r] += (probs * hidden.unsqueeze(-2)).sum(-1).mean(-1).cpu()
                first[r] += score[:, 0].cpu()
                for h in range(n_heads):
                    positions[(layer, h)].append(hidden[h].nonzero().flatten().tolist())
    n = len(items)
    return SinkStatistics(layers, rate / n, mass / n, first / n, positions, threshold, threshold_mode)


# ----------------------------------------------------------------------------------------------------------- search
def default_search_layers(num_layers: int) -> list[int]:
    """The layers ACT searches by default: all but the first two and the last (the official code calibrates layers
    2..30 of 32-layer Llamas); models with fewer than 4 layers use every layer."""
    return list(range(2, num_layers - 1)) if num_layers >= 4 else list(range(num_layers))


STRATEGIES = ("greedy", "independent")
SCORES = ("accuracy", "margin")


class HeadSearch:
    r"""ACT's offline head search as resumable state: one candidate head per `step()`.

    Two keep-if-better tests, on a score S of the calibration set (mean accuracy, or mean correct-label margin):

    - `strategy="independent"` (the official per-head test): candidate h is kept when
      $S(\{h\}) > S(\emptyset)$; the result is the union of the kept heads.
    - `strategy="greedy"`: h is kept when $S(K \cup \{h\}) > S(K)$, K the heads kept so far, so the result never
      scores below the uncalibrated model on the calibration set.

    `state_dict()` / `load_state_dict()` hold the progress (a recipe checkpoints it between steps). Arguments are those
    of `find_act_heads`.
    """

    def __init__(
        self,
        model,
        calibration_dataset: Sequence[dict],
        tokenizer=None,
        *,
        beta: float = 0.4,
        threshold: float = 0.1,
        threshold_mode: str = "absolute",
        layers: Sequence[int] | None = None,
        candidate_heads: Sequence[tuple[int, int]] | None = None,
        max_candidates: int | None = None,
        strategy: str = "greedy",
        score: str = "accuracy",
        eval_fn: Callable[[Any], float] | None = None,
        batch_size: int = 8,
        statistics: SinkStatistics | None = None,
    ):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be 'greedy' or 'independent', got {strategy!r}")
        if score not in SCORES:
            raise ValueError(f"score must be 'accuracy' or 'margin', got {score!r}")
        if max_candidates is not None and (not isinstance(max_candidates, int) or max_candidates < 1):
            raise ValueError(f"max_candidates must be a positive int or None, got {max_candidates!r}")
        self.model, self.strategy, self.score, self._eval_fn = model, strategy, score, eval_fn
        self.config = ActConfig(
            beta=beta, threshold=threshold, threshold_mode=threshold_mode,
            base_model_name_or_path=getattr(model, "name_or_path", None) or None,
        )  # fmt: skip
        modules = _check_model(model)
        all_layers = sorted(idx for idx, _ in modules)
        n_heads = model.config.num_attention_heads
        items = _encode(calibration_dataset, tokenizer)
        if eval_fn is None and any("choice_ids" not in it for it in items):
            raise ValueError("calibration_dataset needs choices and labels (or pass eval_fn=)")
        if candidate_heads is not None:
            candidates = list(ActConfig(heads=candidate_heads).heads)
            bad = [c for c in candidates if c[0] not in all_layers or c[1] >= n_heads]
            if bad:
                raise ValueError(
                    f"candidate_heads: {bad} are out of range ({len(all_layers)} layers x {n_heads} heads)"
                )
        else:
            search_layers = default_search_layers(len(all_layers)) if layers is None else [int(x) for x in layers]
            bad = [layer for layer in search_layers if layer not in all_layers]
            if bad:
                raise ValueError(f"layers: {bad} are not attention layers of the model ({len(all_layers)} layers)")
            candidates = [(layer, h) for layer in search_layers for h in range(n_heads)]
        needed = sorted({c[0] for c in candidates})
        st = statistics
        if (
            st is None
            or (st.threshold, st.threshold_mode) != (threshold, threshold_mode)
            or not set(needed) <= set(st.layers)
        ):
            st = sink_statistics(model, items, threshold=threshold, layers=needed, threshold_mode=threshold_mode)
        self.statistics = st
        # heads without a hidden sink on the calibration prompts are skipped: calibrating them changes nothing there
        ranked = [c for c in st.ranked_heads() if c in set(candidates)]
        # with max_candidates: the heads with the most hidden-sink mass; otherwise the official order (layer, head)
        self.candidates = ranked[:max_candidates] if max_candidates is not None else sorted(ranked)
        self.scorer = None
        if eval_fn is None:
            self.scorer = ChoiceScorer(
                model, items, batch_size=batch_size, reuse_layers=sorted({c[0] for c in self.candidates})
            )
        self.baseline: float | None = None
        self.best: float | None = None
        self.kept: list[list[int]] = []
        self.history: list[dict] = []

    def evaluate(self, heads) -> float:
        """The calibration score with ACT on `heads` (same beta and threshold as the search)."""
        config = self.config.with_heads(heads)
        if self._eval_fn is not None:
            with act_calibrate(self.model, config):
                return float(self._eval_fn(self.model))
        values = self.scorer.margins(config) if self.score == "margin" else self.scorer.correct(config)
        return stats_lib.fmean(values)

    @property
    def done(self) -> bool:
        return len(self.history) >= len(self.candidates)

    def step(self) -> dict:
        """Tries the next candidate head; returns its record `{"head", "score", "kept"}`."""
        if self.done:
            raise RuntimeError("the head search has tried every candidate")
        if self.baseline is None:
            self.baseline = self.best = self.evaluate([])
        head = list(self.candidates[len(self.history)])
        greedy = self.strategy == "greedy"
        value = self.evaluate([*self.kept, head] if greedy else [head])
        keep = value > (self.best if greedy else self.baseline)
        if keep:
            self.kept.append(head)
            if greedy:
                self.best = value
        record = {"head": head, "score": value, "kept": keep}
        self.history.append(record)
        return record

    def result(self) -> ActConfig:
        """The kept heads as an `ActConfig`."""
        return self.config.with_heads(self.kept)

    def summary(self) -> dict:
        """`{"baseline", "final", "candidates"}`: calibration scores without / with the kept heads, and the log."""
        if self.baseline is None:
            self.baseline = self.best = self.evaluate([])
        final = self.best if self.strategy == "greedy" or not self.kept else self.evaluate(self.kept)
        return {"baseline": self.baseline, "final": final, "candidates": list(self.history)}

    def state_dict(self) -> dict:
        state = {"baseline": self.baseline, "best": self.best, "kept": self.kept, "history": self.history}
        return {"json": json.dumps({**state, "candidates": [list(c) for c in self.candidates]})}

    def load_state_dict(self, state: dict) -> None:
        data = json.loads(state["json"])
        if [tuple(c) for c in data.pop("candidates")] != [tuple(c) for c in self.candidates]:
            raise ValueError("the checkpoint's head search ran over other candidate heads (other data or settings)")
        self.baseline, self.best, self.kept, self.history = (
            data["baseline"],
            data["best"],
            data["kept"],
            data["history"],
        )


def find_act_heads(
    model,
    calibration_dataset: Sequence[dict],
    tokenizer=None,
    *,
    beta: float = 0.4,
    threshold: float = 0.1,
    threshold_mode: str = "absolute",
    layers: Sequence[int] | None = None,
    candidate_heads: Sequence[tuple[int, int]] | None = None,
    max_candidates: int | None = None,
    strategy: str = "greedy",
    score: str = "accuracy",
    eval_fn: Callable[[Any], float] | None = None,
    batch_size: int = 8,
    show_progress: bool = True,
    return_history: bool = False,
    statistics: SinkStatistics | None = None,
):
    """ACT's offline head selection: calibrate one head at a time and keep it when the calibration score improves.

    The official code evaluates every `(layer, head)` alone on a calibration set and keeps the heads that beat the
    uncalibrated model (`strategy="independent"`, then the union). The default `strategy="greedy"` adds the heads one
    after the other and keeps a head only if it improves on the *current* set, so the returned set never scores below
    the uncalibrated model on the calibration data (a departure: the union of individually good heads can hurt).

    Args:
        model (`PreTrainedModel`): a supported causal decoder (see `apply_act`).
        calibration_dataset (`Sequence[dict]`): examples (see the module docstring).
        tokenizer (*optional*): needed for text examples.
        beta (`float`, *optional*, defaults to 0.4), threshold (`float`, *optional*, defaults to 0.1),
        threshold_mode (`str`, *optional*, defaults to `"absolute"`): the ACT settings (see `ActConfig`).
        layers (`Sequence[int]`, *optional*): layers to search; defaults to all but the first two and the last.
        candidate_heads (`Sequence[tuple[int, int]]`, *optional*): explicit candidates (overrides `layers`).
        max_candidates (`int`, *optional*): keep only the candidates with the most hidden-sink mass (cheap search).
        strategy (`str`, *optional*, defaults to `"greedy"`): `"greedy"` or `"independent"` (official).
        score (`str`, *optional*, defaults to `"accuracy"`): `"accuracy"` or `"margin"` (mean correct-label
            log-probability margin, see `choice_margins`).
        eval_fn (`Callable[[model], float]`, *optional*): a custom score to maximise (replaces `score`).
        batch_size (`int`, *optional*, defaults to 8): evaluation batch size.
        show_progress (`bool`, *optional*, defaults to `True`): tqdm progress bar over candidates.
        return_history (`bool`, *optional*, defaults to `False`): also return the per-candidate log.
        statistics (`SinkStatistics`, *optional*): precomputed `sink_statistics` of the calibration prompts (same
            threshold) covering the candidate layers, to skip recomputing them.

    Returns:
        `ActConfig` (and, with `return_history`, a dict with the baseline score, the final score and one record per
        candidate).
    """
    from tqdm.auto import tqdm

    search = HeadSearch(
        model, calibration_dataset, tokenizer, beta=beta, threshold=threshold, threshold_mode=threshold_mode,
        layers=layers, candidate_heads=candidate_heads, max_candidates=max_candidates, strategy=strategy,
        score=score, eval_fn=eval_fn, batch_size=batch_size, statistics=statistics,
    )  # fmt: skip
    bar = tqdm(total=len(search.candidates), desc="act head search", disable=not show_progress)
    while not search.done:
        search.step()
        bar.update(1)
        bar.set_postfix(kept=len(search.kept), score=f"{search.best:.3f}", refresh=False)
    bar.close()
    result = search.result()
    return (result, search.summary()) if return_history else result


__all__ = [
    "ChoiceScorer",
    "HeadSearch",
    "SinkStatistics",
    "choice_accuracy",
    "choice_log_probs",
    "choice_margins",
    "default_search_layers",
    "find_act_heads",
    "sink_statistics",
]
