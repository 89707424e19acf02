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
"""Tree speculative decoding with Medusa / Hydra / Hydra++ draft heads, as a `generate(custom_generate=...)` strategy.

```python
out = base.generate(input_ids, custom_generate=hydra_generate, draft_heads=heads, max_new_tokens=64)
```

One round (Medusa/Hydra, batch size 1):

1. the heads read the hidden state h_t of the last verified token and propose a static tree of candidate
   continuations under the root x_{t+1} (the base's own next token): Medusa takes the top-k of each independent head,
   Hydra runs head k once per expanded depth-k parent on `[h_t, E(root), E(c_1), …, E(c_k)]`;
2. one base forward verifies every tree node: a float additive 4D mask lets each node see the prefix, itself and its
   ancestors, with position ids `past_len + depth`;
3. greedy acceptance keeps the longest path whose every candidate equals the base's argmax at its parent (lossless:
   the output equals greedy decoding) — or Medusa's typical acceptance (`acceptance="typical"`, lossy);
4. the KV cache is compacted to the accepted path with `index_select` over `cache.layers`, and the base's argmax at
   the last accepted node (the bonus token) is the next root; Hydra++ feeds the accepted hidden states through its
   prefix-attention layer (own cache, kept the same length as the base cache).

This file imports only torch and transformers: it is also written as `custom_generate/generate.py` into saved head
checkpoints, where :func:`generate` is the Hub entry point.
"""

from __future__ import annotations

import heapq
import math
import time
from pathlib import Path

import torch

__all__ = ["HydraTree", "default_tree", "generate", "hydra_generate"]


# ----------------------------------------------------------------------------------------------------------- trees
def default_tree(num_heads: int, size: int = 16, rank_decay: float = 0.4, top1: float = 0.6) -> list[list[int]]:
    """The `size` most likely paths under a simple model of acceptance: the rank-r guess of a head is right with
    probability `top1 · rank_decay**r`, independently along a path (a path's score is the product).

    Medusa ships trees tuned on real acceptance statistics (`mc_sim_7b_63`, 63 nodes); this generator makes a small,
    CPU-sized tree of any size and depth ≤ `num_heads`. The result is closed under prefixes.
    """
    if num_heads < 1 or size < 1:
        raise ValueError(f"`num_heads` and `size` must be >= 1, got {num_heads} and {size}.")

    def score(path):
        return math.prod(top1 * rank_decay**r for r in path)

    heap = [(-score((0,)), (0,))]
    chosen: list[tuple[int, ...]] = []
    seen = {(0,)}
    while heap and len(chosen) < size:
        _, path = heapq.heappop(heap)
        chosen.append(path)
        # a child scores at most its parent and a younger sibling at most its elder, so the heap pops in score order
        # and every chosen path's prefixes are chosen before it
        successors = [path[:-1] + (path[-1] + 1,)]
        if len(path) < num_heads:
            successors.append(path + (0,))
        for nxt in successors:
            if nxt not in seen:
                seen.add(nxt)
                heapq.heappush(heap, (-score(nxt), nxt))
    return [list(p) for p in sorted(chosen, key=lambda p: (len(p), p))]


def _check_tree_choices(tree_choices, num_heads: int) -> None:
    if not isinstance(tree_choices, (list, tuple)) or len(tree_choices) == 0:
        raise ValueError(f"`tree_choices` must be a non-empty list of paths (lists of ints), got {tree_choices!r}.")
    seen = set()
    for path in tree_choices:
        if not isinstance(path, (list, tuple)) or len(path) == 0:
            raise ValueError(f"`tree_choices`: every path must be a non-empty list of ints, got {path!r}.")
        if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in path):
            raise ValueError(f"`tree_choices`: path entries must be non-negative ints (top-k ranks), got {path!r}.")
        if len(path) > num_heads:
            raise ValueError(
                f"`tree_choices`: path {list(path)} has depth {len(path)} but there are only {num_heads} draft heads."
            )
        if tuple(path) in seen:
            raise ValueError(f"`tree_choices`: path {list(path)} appears twice.")
        seen.add(tuple(path))
    for key in seen:
        if len(key) > 1 and key[:-1] not in seen:
            raise ValueError(f"`tree_choices`: path {list(key)} is listed but its parent {list(key[:-1])} is not.")


class HydraTree:
    """Buffers of a static candidate tree (Medusa's `generate_medusa_buffers`).

    Node 0 is the root; node i ≥ 1 is `paths[i-1]`, sorted by (depth, path). `ancestors[i, j]` is True when node j is
    node i or one of its ancestors (the tree attention mask); `depth[i]` gives the position offset.
    """

    def __init__(self, tree_choices, num_heads: int):
        _check_tree_choices(tree_choices, num_heads)
        self.paths = sorted((tuple(p) for p in tree_choices), key=lambda p: (len(p), p))
        index = {(): 0} | {p: i + 1 for i, p in enumerate(self.paths)}
        self.num_nodes = len(self.paths) + 1
        self.depth = torch.tensor([0] + [len(p) for p in self.paths])
        self.max_depth = int(self.depth.max())
        parent = [-1] + [index[p[:-1]] for p in self.paths]
        self.rank = [-1] + [p[-1] for p in self.paths]
        # lineage[i] = node indices root..i
        self.lineage = [[0]]
        for i in range(1, self.num_nodes):
            self.lineage.append(self.lineage[parent[i]] + [i])
        self.ancestors = torch.zeros(self.num_nodes, self.num_nodes, dtype=torch.bool)
        for i, line in enumerate(self.lineage):
            self.ancestors[i, line] = True
        has_child = set(parent[1:])
        self.leaf_paths = [self.lineage[i] for i in range(self.num_nodes) if i not in has_child]
        # per depth: node ids, their parents (unique, sorted), the row of each node's parent, and the top-k needed
        self.levels = []
        for d in range(1, self.max_depth + 1):
            nodes = [i for i in range(1, self.num_nodes) if int(self.depth[i]) == d]
            parents = sorted({parent[i] for i in nodes})
            row = {p: r for r, p in enumerate(parents)}
            self.levels.append(
                {
                    "nodes": torch.tensor(nodes),
                    "parents": parents,
                    "parent_lineage": torch.tensor([self.lineage[p] for p in parents]),  # (P, d)
                    "parent_row": torch.tensor([row[parent[i]] for i in nodes]),
                    "rank": torch.tensor([self.rank[i] for i in nodes]),
                    "topk": max(self.rank[i] for i in nodes) + 1,
                }
            )

    def mask(self, past_len: int, dtype: torch.dtype, device) -> torch.Tensor:
        """The float additive 4D mask `(1, 1, N, past_len + N)`: 0 where attention is allowed, `finfo.min` elsewhere."""
        n = self.num_nodes
        full = torch.zeros(n, past_len + n, dtype=dtype, device=device)
        full[:, past_len:] = torch.where(self.ancestors.to(device), 0.0, torch.finfo(dtype).min).to(dtype)
        return full[None, None]


@torch.no_grad()
def propose(heads, tree: HydraTree, h: torch.Tensor, root: torch.Tensor) -> torch.Tensor:
    """Candidate tokens of every tree node (node 0 is `root`) from the heads at hidden state `h` (shape `(d,)`)."""
    tokens = torch.empty(tree.num_nodes, dtype=torch.long, device=root.device)
    tokens[0] = root
    if not heads.sequential:
        # Medusa: independent heads, the rank-r child at depth d is the r-th best guess of head d-1
        for d, level in enumerate(tree.levels, start=1):
            top = heads.head_logits(d - 1, h[None]).topk(level["topk"], dim=-1).indices[0]
            tokens[level["nodes"]] = top[level["rank"]]
        return tokens
    for d, level in enumerate(tree.levels, start=1):
        # Hydra: head d-1 reads [h, E(root), E(c_1), …, E(c_{d-1})] for each expanded parent on its own path
        lineage = level["parent_lineage"].to(root.device)  # (P, d)
        embeds = heads.embed(tokens[lineage]).flatten(1)  # (P, d * hidden)
        x = torch.cat([h[None].expand(lineage.shape[0], -1), embeds], dim=-1)
        top = heads.head_logits(d - 1, x).topk(level["topk"], dim=-1).indices  # (P, topk)
        tokens[level["nodes"]] = top[level["parent_row"], level["rank"]]
    return tokens


# ----------------------------------------------------------------------------------------------------------- decoding
def _typical_mask(probs: torch.Tensor, threshold: float, alpha: float) -> torch.Tensor:
    """Medusa's typical acceptance: x is acceptable when p(x) > min(ε, δ · exp(−H(p)))."""
    entropy = -(probs * probs.clamp_min(1e-20).log()).sum(-1, keepdim=True)
    return probs > torch.minimum(torch.full_like(entropy, threshold), alpha * torch.exp(-entropy))


class _Selector:
    """Per-node scores (logits after the logits processors, given the tokens on the node's path) and next tokens."""

    def __init__(self, logits, prefix_ids, node_tokens, lineage, processor, mode, config, cfg_heads):
        self.logits, self.prefix_ids, self.node_tokens, self.lineage = logits, prefix_ids, node_tokens, lineage
        self.processor, self.mode = processor, mode
        self.do_sample = bool(getattr(config, "do_sample", False))
        self.temperature = float(getattr(config, "temperature", None) or 1.0)
        self.threshold, self.alpha = cfg_heads
        self._scores, self._probs = {}, {}
        self._argmax = None if processor else logits.argmax(-1)

    def scores(self, i: int) -> torch.Tensor:
        if i not in self._scores:
            row = self.logits[i].float()
            if self.processor:
                path = self.node_tokens[self.lineage[i][1:]] if self.lineage is not None else self.node_tokens[:0]
                seq = torch.cat([self.prefix_ids[0], path])[None]
                row = self.processor(seq, row[None].clone())[0]
            self._scores[i] = row
        return self._scores[i]

    def argmax(self, i: int) -> int:
        return int(self._argmax[i]) if self._argmax is not None else int(self.scores(i).argmax())

    def probs(self, i: int) -> torch.Tensor:
        if i not in self._probs:
            t = self.temperature if self.do_sample else 1.0
            self._probs[i] = (self.scores(i) / t).softmax(-1)
        return self._probs[i]

    def next_token(self, i: int) -> int:
        """The token after node i: the argmax, or (typical + sampling) a sample from the typical set."""
        if self.mode == "typical" and self.do_sample:
            probs = self.probs(i)
            probs = probs * _typical_mask(probs[None], self.threshold, self.alpha)[0]
            if probs.sum() <= 0:
                return int(self.probs(i).argmax())
            return int(torch.multinomial(probs / probs.sum(), 1))
        return self.argmax(i)

    def accepts(self, parent: int, token: int) -> bool:
        if self.mode == "greedy":
            return token == self.argmax(parent)
        probs = self.probs(parent)
        return bool(_typical_mask(probs[None], self.threshold, self.alpha)[0, token])


def _accept(selector: _Selector, tree: HydraTree, tokens: torch.Tensor) -> list[int]:
    """The accepted node path (root first): the longest accepted prefix over the leaf paths; ties go to the first
    path (greedy) or the highest summed log-probability (typical, as Medusa's `evaluate_posterior`)."""
    best, best_key = [0], (0, 0.0)
    for path in tree.leaf_paths:
        j = 1
        while j < len(path) and selector.accepts(path[j - 1], int(tokens[path[j]])):
            j += 1
        key = (j, 0.0)
        if selector.mode == "typical" and j > 1:
            key = (j, sum(float(selector.probs(path[i - 1])[tokens[path[i]]].log()) for i in range(1, j)))
        if key > best_key:
            best, best_key = path[:j], key
    return best


def _compact_cache(cache, keep: torch.Tensor) -> None:
    """Keeps only the cache positions `keep` (prefix + accepted tree nodes): `DynamicLayer.crop` drops a suffix only."""
    for layer in cache.layers:
        layer.keys = layer.keys.index_select(-2, keep)
        layer.values = layer.values.index_select(-2, keep)


@torch.no_grad()
def hydra_generate(
    model,
    input_ids: torch.LongTensor,
    logits_processor=None,
    stopping_criteria=None,
    generation_config=None,
    draft_heads=None,
    tree_choices: list[list[int]] | None = None,
    acceptance: str | None = None,
    stats: dict | None = None,
    **model_kwargs,
):
    r"""
    Tree speculative decoding with draft heads; pass as `model.generate(..., custom_generate=hydra_generate)`.

    Args:
        model ([`PreTrainedModel`]): the base causal LM (called by `generate` itself).
        input_ids (`torch.LongTensor` of shape `(1, prompt_len)`): the prompt; batch size 1 only (as the originals).
        logits_processor, stopping_criteria, generation_config: prepared by `generate`; processors are applied to
            every node's logits with the node's own path as context, stopping criteria token by token.
        draft_heads ([`HydraHeads`]): the heads (any kind); heads saved without their base's weights are tied to
            `model` here.
        tree_choices (`list[list[int]]`, *optional*): the candidate tree; default `draft_heads.config.tree_choices`,
            else `default_tree(num_heads, tree_size)`.
        acceptance (`str`, *optional*): `"greedy"` (lossless) or `"typical"` (lossy); default from the heads' config.
        stats (`dict`, *optional*): filled with `base_forwards`, `new_tokens`, `rounds`, `accepted` (per round),
            `tokens_per_forward`, `tree_nodes`, and seconds spent in `time_base`, `time_heads`, `time_total`.

    Returns:
        `torch.LongTensor` of shape `(1, prompt_len + new_tokens)` (a `GenerateDecoderOnlyOutput` when
        `return_dict_in_generate=True`).
    """
    start = time.perf_counter()
    if draft_heads is None or not hasattr(draft_heads, "head_logits"):
        raise TypeError(f"`draft_heads` must be HydraHeads (got {type(draft_heads).__name__}).")
    if input_ids is None or input_ids.dim() != 2:
        raise ValueError("`input_ids` must be a (batch, seq_len) tensor of token ids.")
    # before the batch check: generate() has already expanded the prompt to num_beams / num_return_sequences rows
    if (getattr(generation_config, "num_beams", 1) or 1) > 1 or (
        getattr(generation_config, "num_return_sequences", 1) or 1
    ) > 1:
        raise ValueError("hydra_generate does not support `num_beams` > 1 or `num_return_sequences` > 1.")
    if input_ids.shape[0] != 1:
        raise ValueError(
            f"hydra_generate supports batch size 1 only (like Medusa/Hydra), got `input_ids` with batch size "
            f"{input_ids.shape[0]}; loop over the prompts."
        )
    if stopping_criteria is None or generation_config is None:
        raise ValueError("call hydra_generate through `model.generate(..., custom_generate=hydra_generate)`.")
    hc = draft_heads.config
    if getattr(draft_heads, "needs_base_weights", False):  # heads saved without the base weights: take this model's
        draft_heads.tie_to_base(model)
    if model.config.hidden_size != hc.hidden_size or model.get_output_embeddings().weight.shape[0] != hc.vocab_size:
        raise ValueError(
            f"`draft_heads` were built for hidden size {hc.hidden_size} and vocabulary {hc.vocab_size}; the model has "
            f"{model.config.hidden_size} and {model.get_output_embeddings().weight.shape[0]}."
        )
    mode = acceptance or hc.acceptance
    if mode not in ("greedy", "typical"):
        raise ValueError(f"`acceptance` must be 'greedy' or 'typical', got {mode!r}.")
    if mode == "greedy" and getattr(generation_config, "do_sample", False):
        raise ValueError(
            "greedy acceptance reproduces greedy decoding: pass `do_sample=False`, or `acceptance='typical'` to "
            "sample (lossy)."
        )
    tree_choices = tree_choices if tree_choices is not None else hc.tree_choices
    if tree_choices is None:
        tree_choices = default_tree(hc.num_heads, hc.tree_size)
    tree = HydraTree(tree_choices, hc.num_heads)
    draft_heads.eval()
    streamer = model_kwargs.get("streamer")

    # left padding (batch size 1): decode the unpadded prompt and put the padding back at the end
    attention_mask = model_kwargs.get("attention_mask")
    pad = 0
    if attention_mask is not None and not bool(attention_mask.all()):
        real = attention_mask[0].bool()
        pad = int((~real).sum())
        if not bool(real[pad:].all()):
            raise ValueError("`attention_mask` may only mask left padding (batch size 1).")
    padding, ids = input_ids[:, :pad], input_ids[:, pad:]

    from transformers import DynamicCache

    cache = model_kwargs.get("cache")
    if cache is None or cache.get_seq_length() > 0:
        cache = DynamicCache(config=model.config)
    device = ids.device
    processor = logits_processor if logits_processor is not None and len(logits_processor) > 0 else None
    thresholds = (hc.posterior_threshold, hc.posterior_alpha)
    counters = {"base_forwards": 0, "rounds": 0, "accepted": [], "time_base": 0.0, "time_heads": 0.0}

    def append(ids, new_tokens):
        for token in new_tokens:
            ids = torch.cat([ids, torch.tensor([[token]], dtype=ids.dtype, device=device)], dim=1)
            if streamer is not None:
                streamer.put(torch.tensor([token]))
            if bool(stopping_criteria(torch.cat([padding, ids], dim=1), None).any()):
                return ids, True
        return ids, False

    # prefill
    t0 = time.perf_counter()
    length = ids.shape[1]
    out = model(
        input_ids=ids,
        cache=cache,
        use_cache=True,
        output_hidden_states=True,
        logits_to_keep=1,
        position_ids=torch.arange(length, device=device)[None],
    )
    counters["time_base"] += time.perf_counter() - t0
    counters["base_forwards"] += 1
    selector = _Selector(out.logits[0, -1:], ids, ids[0, :0], None, processor, mode, generation_config, thresholds)
    ids, done = append(ids, [selector.next_token(0)])
    hidden = out.hidden_states[-1].to(draft_heads.dtype)
    prefix_cache = None
    t0 = time.perf_counter()
    if hc.head_kind == "hydra++":
        prefix_cache = DynamicCache()
        hidden = draft_heads.run_prefix_layer(
            hidden, position_ids=torch.arange(length, device=device)[None], cache=prefix_cache
        )
    h = hidden[0, -1]
    counters["time_heads"] += time.perf_counter() - t0

    while not done:
        past = cache.get_seq_length()
        t0 = time.perf_counter()
        tokens = propose(draft_heads, tree, h, ids[0, -1])
        counters["time_heads"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        out = model(
            input_ids=tokens[None],
            cache=cache,
            use_cache=True,
            output_hidden_states=True,
            logits_to_keep=0,
            attention_mask=tree.mask(past, model.dtype, device),
            position_ids=(past + tree.depth.to(device))[None],
        )
        counters["time_base"] += time.perf_counter() - t0
        counters["base_forwards"] += 1
        counters["rounds"] += 1
        selector = _Selector(out.logits[0], ids, tokens, tree.lineage, processor, mode, generation_config, thresholds)
        path = _accept(selector, tree, tokens)
        counters["accepted"].append(len(path) - 1)
        keep = torch.cat([torch.arange(past, device=device), past + torch.tensor(path, device=device)])
        _compact_cache(cache, keep)
        new = [int(tokens[i]) for i in path[1:]] + [selector.next_token(path[-1])]
        ids, done = append(ids, new)
        if done:
            break
        t0 = time.perf_counter()
        accepted_hidden = out.hidden_states[-1][:, path].to(draft_heads.dtype)
        if prefix_cache is not None:
            accepted_hidden = draft_heads.run_prefix_layer(
                accepted_hidden, position_ids=(past + torch.arange(len(path), device=device))[None], cache=prefix_cache
            )
        h = accepted_hidden[0, -1]
        counters["time_heads"] += time.perf_counter() - t0

    if streamer is not None:
        streamer.end()
    sequences = torch.cat([padding, ids], dim=1)
    if stats is not None:
        new_tokens = ids.shape[1] - length
        stats.update(counters)
        stats.update(
            new_tokens=new_tokens,
            tokens_per_forward=new_tokens / counters["base_forwards"],
            tree_nodes=tree.num_nodes,
            time_total=time.perf_counter() - start,
        )
    if getattr(generation_config, "return_dict_in_generate", False):
        from transformers.generation.utils import GenerateDecoderOnlyOutput

        return GenerateDecoderOnlyOutput(sequences=sequences, past_key_values=cache)
    return sequences


# ----------------------------------------------------------------------------------------------------------- Hub entry
_GENERATE_LOCALS = (
    "prefix_allowed_tokens_fn",
    "synced_gpus",
    "assistant_model",
    "negative_prompt_ids",
    "negative_prompt_attention_mask",
    "custom_generate",
    "trust_remote_code",
    "use_model_defaults",
    "assistant_tokenizer",
    "tokenizer",
)


def generate(
    model,
    input_ids=None,
    generation_config=None,
    inputs=None,
    draft_heads=None,
    draft_heads_trust_remote_code: bool | None = None,
    trust_remote_code: bool | None = None,
    **kwargs,
):
    """Entry point of `custom_generate/generate.py` in a saved head checkpoint.

    `base.generate(input_ids, custom_generate=repo, trust_remote_code=True, draft_heads=..., ...)` runs
    :func:`hydra_generate`, where `draft_heads` is a `HydraHeads`, or the folder / Hub repo id of saved heads, loaded
    with `AutoModel.from_pretrained(draft_heads, trust_remote_code=<yours>)` and tied to `model`.

    Trust is the caller's alone: `trust_remote_code=True` given to `base.generate` lets transformers run *this* file
    and is not handed on to it, so it never extends to a `draft_heads` repository. Heads load without remote code
    when hf-methods is installed (its classes are registered); a `draft_heads` repository whose code would have to
    run is refused unless you pass `draft_heads_trust_remote_code=True` (or `trust_remote_code=True` when calling
    this function yourself) after reading that code, or you load the heads yourself and pass the model.
    """
    input_ids = input_ids if input_ids is not None else inputs
    if draft_heads is None:
        # transformers copies this file into its modules cache and does not pass on `custom_generate=`: the file
        # cannot tell which repo it came from
        raise ValueError("pass `draft_heads=`: HydraHeads, or the folder / Hub repo id of the saved heads.")
    if isinstance(draft_heads, (str, Path)):
        from transformers import AutoModel

        trust = draft_heads_trust_remote_code if draft_heads_trust_remote_code is not None else trust_remote_code
        try:
            draft_heads = AutoModel.from_pretrained(draft_heads, trust_remote_code=trust)
        except ValueError as err:
            if "trust_remote_code" not in str(err):
                raise
            raise ValueError(
                f"`draft_heads={str(draft_heads)!r}` needs its own code to load, and you have not trusted it: the "
                "`trust_remote_code=True` given to `generate` covers the `custom_generate` repository only. Read that "
                "code, then pass `draft_heads_trust_remote_code=True`, or load the heads yourself "
                "(`AutoModel.from_pretrained(..., trust_remote_code=True)`) and pass the model as `draft_heads`."
            ) from err
        draft_heads = draft_heads.to(model.device)
    for key in _GENERATE_LOCALS:
        if kwargs.get(key) is None or key in ("custom_generate", "trust_remote_code"):
            kwargs.pop(key, None)
    for key in ("logits_processor", "stopping_criteria", "streamer"):
        if kwargs.get(key) is None:
            kwargs.pop(key, None)
    return model.generate(
        input_ids,
        generation_config=generation_config,
        custom_generate=hydra_generate,
        draft_heads=draft_heads,
        **kwargs,
    )
