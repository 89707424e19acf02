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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

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


@torch.no_grad()
def choice_log_probs(model, examples: Sequence[dict], tokenizer=None, batch_size: int = 8) -> list[torch.Tensor]:
    """Log-softmax of each example's choice tokens at its last prompt position (label-word scoring)."""
    items = _encode(examples, tokenizer)
    if any("choice_ids" not in it for it in items):
        raise ValueError("examples need 'choice_ids' (or 'choices' with a tokenizer) and 'label' to be scored")
    device = next(model.parameters()).device
    out: list[torch.Tensor] = [torch.empty(0)] * len(items)
    # only the last prompt position is scored: run the decoder, then the LM head on those positions alone
    fast = (
        isinstance(getattr(model, "lm_head", None), torch.nn.Linear)
        and hasattr(model, "model")
        and getattr(model.config, "final_logit_softcapping", None) is None
    )
    for idx, ids, mask in _batches(items, batch_size, _pad_id(model)):
        ids, mask = ids.to(device), mask.to(device)
        rows, last = torch.arange(len(idx), device=device), mask.sum(1) - 1
        if fast:
            hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
            logits = model.lm_head(hidden[rows, last])
        else:
            logits = model(input_ids=ids, attention_mask=mask).logits[rows, last]
        logp = torch.log_softmax(logits.float(), dim=-1)
        for row, i in enumerate(idx):
            out[i] = logp[row, items[i]["choice_ids"]].cpu()
    return out


def choice_accuracy(model, examples: Sequence[dict], tokenizer=None, batch_size: int = 8) -> float:
    """Accuracy of picking the highest-scoring choice token (ties go to the first choice)."""
    items = _encode(examples, tokenizer)
    scores = choice_log_probs(model, items, batch_size=batch_size)
    return sum(int(s.argmax()) == it["label"] for s, it in zip(scores, items)) / len(items)


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
        threshold (`float`): the threshold used.
    """

    layers: list[int]
    hidden_sink_rate: torch.Tensor
    hidden_sink_mass: torch.Tensor
    first_sink_score: torch.Tensor
    positions: dict[tuple[int, int], list[list[int]]] = field(repr=False)
    threshold: float

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
) -> SinkStatistics:
    """Measures ACT's sinks (score > `threshold`; hidden = all but the first) of every head on `examples`.

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
                score, _, hidden, _ = find_sinks(probs, threshold)
                rate[r] += hidden.any(-1).float().cpu()
                mass[r] += (probs * hidden.unsqueeze(-2)).sum(-1).mean(-1).cpu()
                first[r] += score[:, 0].cpu()
                for h in range(n_heads):
                    positions[(layer, h)].append(hidden[h].nonzero().flatten().tolist())
    n = len(items)
    return SinkStatistics(layers, rate / n, mass / n, first / n, positions, threshold)


# ----------------------------------------------------------------------------------------------------------- search
def _default_layers(num_layers: int) -> list[int]:
    # the official code calibrates layers 2..30 of 32-layer Llamas (`signal in range(2, 31)`): skip the first two and
    # the last layer; tiny models (< 4 layers) use every layer
    return list(range(2, num_layers - 1)) if num_layers >= 4 else list(range(num_layers))


def find_act_heads(
    model,
    calibration_dataset: Sequence[dict],
    tokenizer=None,
    *,
    beta: float = 0.4,
    threshold: float = 0.1,
    layers: Sequence[int] | None = None,
    candidate_heads: Sequence[tuple[int, int]] | None = None,
    max_candidates: int | None = None,
    strategy: str = "greedy",
    eval_fn: Callable[[Any], float] | None = None,
    batch_size: int = 8,
    show_progress: bool = True,
    return_history: bool = False,
    statistics: SinkStatistics | None = None,
):
    """ACT's offline head selection: calibrate one head at a time and keep it when calibration accuracy improves.

    The official code (`scripts/calibration.sh`) evaluates every `(layer, head)` alone (`LAYER_NUM`/`HEAD_NUM`) on a
    calibration set and keeps the heads that beat the uncalibrated model (`strategy="independent"`). The default
    `strategy="greedy"` adds the heads one after the other and keeps a head only if it improves on the *current* set,
    so the returned set never scores below the uncalibrated model on the calibration data (a departure: the union of
    individually good heads can hurt).

    Heads without any hidden sink on the calibration prompts are skipped: calibrating them changes nothing there.

    Args:
        model (`PreTrainedModel`): a supported causal decoder (see `apply_act`).
        calibration_dataset (`Sequence[dict]`): examples (see the module docstring).
        tokenizer (*optional*): needed for text examples.
        beta (`float`, *optional*, defaults to 0.4), threshold (`float`, *optional*, defaults to 0.1): ACT settings.
        layers (`Sequence[int]`, *optional*): layers to search; defaults to all but the first two and the last.
        candidate_heads (`Sequence[tuple[int, int]]`, *optional*): explicit candidates (overrides `layers`).
        max_candidates (`int`, *optional*): keep only the candidates with the most hidden-sink mass (cheap search).
        strategy (`str`, *optional*, defaults to `"greedy"`): `"greedy"` or `"independent"` (official).
        eval_fn (`Callable[[model], float]`, *optional*): the score to maximise; defaults to choice accuracy.
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

    if strategy not in ("greedy", "independent"):
        raise ValueError(f"strategy must be 'greedy' or 'independent', got {strategy!r}")
    if max_candidates is not None and (not isinstance(max_candidates, int) or max_candidates < 1):
        raise ValueError(f"max_candidates must be a positive int or None, got {max_candidates!r}")
    base = ActConfig(
        beta=beta, threshold=threshold, base_model_name_or_path=getattr(model, "name_or_path", None) or None
    )
    modules = _check_model(model)
    all_layers = sorted(idx for idx, _ in modules)
    n_heads = model.config.num_attention_heads
    items = _encode(calibration_dataset, tokenizer)
    if eval_fn is None:
        if any("choice_ids" not in it for it in items):
            raise ValueError("calibration_dataset needs choices and labels (or pass eval_fn=)")

        def eval_fn(m):
            return choice_accuracy(m, items, batch_size=batch_size)

    if candidate_heads is not None:
        candidates = list(ActConfig(heads=candidate_heads).heads)
        ActConfig(heads=candidates)  # validates types
        bad = [c for c in candidates if c[0] not in all_layers or c[1] >= n_heads]
        if bad:
            raise ValueError(f"candidate_heads: {bad} are out of range ({len(all_layers)} layers x {n_heads} heads)")
    else:
        search_layers = _default_layers(len(all_layers)) if layers is None else [int(layer) for layer in layers]
        bad = [layer for layer in search_layers if layer not in all_layers]
        if bad:
            raise ValueError(f"layers: {bad} are not attention layers of the model ({len(all_layers)} layers)")
        candidates = [(layer, h) for layer in search_layers for h in range(n_heads)]
    needed = sorted({c[0] for c in candidates})
    stats = statistics
    if stats is None or stats.threshold != threshold or not set(needed) <= set(stats.layers):
        stats = sink_statistics(model, items, threshold=threshold, layers=needed)
    ranked = [c for c in stats.ranked_heads() if c in set(candidates)]
    if max_candidates is not None:
        ranked = ranked[:max_candidates]
    else:  # keep the search order of the official loop (layer, then head)
        ranked = sorted(ranked)

    with act_calibrate(model, base):
        baseline = float(eval_fn(model))
    kept: list[tuple[int, int]] = []
    best = baseline
    history = []
    bar = tqdm(ranked, desc="act head search", disable=not show_progress)
    for cand in bar:
        trial = [*kept, cand] if strategy == "greedy" else [cand]
        with act_calibrate(model, base.with_heads(trial)):
            score = float(eval_fn(model))
        reference = best if strategy == "greedy" else baseline
        keep = score > reference
        if keep:
            kept.append(cand)
            if strategy == "greedy":
                best = score
        history.append({"head": list(cand), "score": score, "kept": keep})
        bar.set_postfix(kept=len(kept), score=f"{best:.3f}", refresh=False)
    bar.close()
    result = base.with_heads(kept)
    if not return_history:
        return result
    if strategy == "independent" and kept:
        with act_calibrate(model, result):
            best = float(eval_fn(model))
    return result, {"baseline": baseline, "final": best, "candidates": history}


__all__ = ["SinkStatistics", "choice_accuracy", "choice_log_probs", "find_act_heads", "sink_statistics"]
