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
"""Training and evaluation of Medusa / Hydra / Hydra++ draft heads, shared by `recipes/hydra.py`, the claim check,
the perf benchmark and the tests.

Only the heads learn; the base stays frozen. The heads read the base's *last hidden states* (what its `lm_head`
reads), so they can be trained from cached hidden states without running the base again (the official
`--precomputed_data` route), and the teacher logits of the distillation loss are `lm_head(hidden_states)`.

- :class:`HydraArguments`: the recipe's arguments; `args.heads_kwargs()` gives the `HydraHeads.from_base` keyword
  arguments in one call (the head kind and every head field are validated by `HydraConfig`, nowhere else).
- :func:`make_optimizer` (AdamW) and :func:`make_scheduler` (warm-up + cosine, from `transformers.get_scheduler`).
- :func:`head_training_step`: one loss of the heads on a batch of cached base states.
- :func:`train_heads`: a plain single-process loop over cached states (the claim and tests; the recipe runs the same
  step under `accelerate`).
- :func:`load_base`: the frozen base named by `--model_name_or_path`, and the name its heads record.
- :func:`self_distill`: the base's own greedy continuations of prompts (the offline corpora, or the texts of
  `--dataset_name_or_path`) with its hidden states; the recipe keeps them under `<output_dir>/checkpoints/`, with the
  training state that is never pushed.
- :func:`decode_prompts`: tree decoding of prompts with the heads next to plain greedy `generate()`: tokens per base
  forward τ, losslessness, wall-clock and the base/heads time split, per prompt.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hf_methods.harness.recipe import PretrainedRecipeArguments

from .configuration_hydra import HEAD_KINDS, HydraConfig

__all__ = [
    "HydraArguments",
    "decode_prompts",
    "default_weight_decay",
    "head_accuracy_by_depth",
    "head_training_step",
    "load_base",
    "make_optimizer",
    "make_scheduler",
    "self_distill",
    "train_heads",
]

DATA_KEYS = (
    "model_name_or_path",
    "dataset_name_or_path",
    "corpora",
    "n_sequences",
    "prompt_tokens",
    "new_tokens",
    "seed",
)


def default_weight_decay(head_kind: str) -> float:
    """AdamW weight decay of the official recipes: 0.1 for Hydra++, 0 for Medusa and Hydra."""
    return 0.1 if head_kind == "hydra++" else 0.0


@dataclass
class HydraArguments(PretrainedRecipeArguments):
    """Arguments of `recipes/hydra.py` (and their CPU-sized defaults). The base is `--model_name_or_path`; the
    prompts come from `--dataset_name_or_path` (its `text` column) or, by default, from the offline `--corpora`."""

    max_steps: int = field(default=30, metadata={"help": "Optimisation steps of the heads."})
    checkpoint_every: int = field(default=15, metadata={"help": "Save a resumable checkpoint every N steps."})
    head_kind: str = field(default="hydra", metadata={"help": f"One of {HEAD_KINDS}."})
    num_heads: int = field(default=3, metadata={"help": "Number of draft heads."})
    num_layers: int | None = field(default=None, metadata={"help": "ResBlocks per head (default: 1; 4 for hydra++)."})
    share_lm_head: bool = field(
        default=True,
        metadata={
            "help": "One frozen copy of the base lm_head for all heads (CPU default; the official heads have "
            "their own trainable lm_head each: --share_lm_head false)."
        },
    )
    tree_size: int = field(default=16, metadata={"help": "Nodes of the default candidate tree saved with the heads."})
    save_base_weights: bool = field(
        default=False,
        metadata={
            "help": "Also save the heads' frozen copies of the base embedding and shared lm_head (standalone heads). "
            "Default: the heads reference their base and take those weights from it when loaded."
        },
    )
    corpora: str = field(
        default="bible,jargon",
        metadata={"help": "Comma-separated offline corpora for the prompts (without --dataset_name_or_path)."},
    )
    n_sequences: int = field(default=64, metadata={"help": "Self-distilled sequences (the last --n_eval held out)."})
    n_eval: int = field(default=8, metadata={"help": "Held-out sequences for the evaluation."})
    prompt_tokens: int = field(default=16, metadata={"help": "Prompt length in tokens."})
    new_tokens: int = field(default=32, metadata={"help": "Greedy tokens generated by the base per prompt."})
    gen_batch_size: int = field(default=32, metadata={"help": "Batch size of the self-distillation generate()."})
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "Cache of the distilled data (default <output_dir>/checkpoints/distilled-data: training state, "
            "never pushed). Share one folder between runs on the same data settings."
        },
    )
    batch_size: int = field(default=2, metadata={"help": "Training batch size (sequences)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate."})
    weight_decay: float | None = field(default=None, metadata={"help": "AdamW weight decay (default 0; 0.1 hydra++)."})
    lr_scheduler_type: str = field(
        default="cosine", metadata={"help": "`transformers.get_scheduler` name (official: cosine)."}
    )
    warmup_steps: int = field(default=3, metadata={"help": "Linear warm-up steps before the schedule."})
    eval_prompts: int = field(default=2, metadata={"help": "Held-out prompts decoded with the heads at the end."})
    eval_new_tokens: int = field(default=16, metadata={"help": "New tokens per evaluation prompt."})

    def heads_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `HydraHeads.from_base(base, **kwargs)` (validated by `HydraConfig`)."""
        return {
            "head_kind": self.head_kind,
            "num_heads": self.num_heads,
            "num_layers": self.num_layers,
            "share_lm_head": self.share_lm_head,
            "tree_size": self.tree_size,
            "save_base_weights": self.save_base_weights,
        }

    @property
    def distilled_data_dir(self) -> Path:
        """Where the self-distilled data is cached: `--data_dir`, else under `<output_dir>/checkpoints/` (next to the
        training state, which `hf_methods.hub.push.push_folder` leaves out of the Hub-ready folder)."""
        return Path(self.data_dir) if self.data_dir else Path(self.output_dir) / "checkpoints" / "distilled-data"

    def hydra_config(self, **base_fields) -> HydraConfig:
        """The heads' `HydraConfig` (`base_fields`: e.g. `hidden_size`, `vocab_size` of the base)."""
        return HydraConfig(**base_fields, **self.heads_kwargs())

    @property
    def resolved_weight_decay(self) -> float:
        return self.weight_decay if self.weight_decay is not None else default_weight_decay(self.head_kind)

    def validate(self) -> None:
        super().validate()
        self.hydra_config()  # the head kind, sizes and tree: checked once, by the config
        for name in ("n_sequences", "prompt_tokens", "new_tokens", "gen_batch_size", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.n_eval < self.n_sequences:
            raise ValueError(f"--n_eval must be in [0, --n_sequences), got {self.n_eval}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if self.warmup_steps < 0 or (self.weight_decay is not None and self.weight_decay < 0):
            raise ValueError("--warmup_steps and --weight_decay must be >= 0")


# ----------------------------------------------------------------------------------------------------------- training
def make_optimizer(heads, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the trainable head parameters (the copied base embedding / shared lm_head stay frozen)."""
    params = [p for p in heads.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)


def make_scheduler(optimizer, max_steps: int, warmup_steps: int, name: str = "cosine"):
    """`transformers.get_scheduler`: linear warm-up over `warmup_steps`, then `name` (cosine: to 0 at `max_steps`)."""
    from transformers import get_scheduler

    return get_scheduler(name, optimizer, num_warmup_steps=warmup_steps, num_training_steps=max_steps)


def head_training_step(heads, lm_head, input_ids, labels, hidden_states):
    """The heads' output (with `.loss`) on one batch of cached base states.

    The loss of head k (predicting x_{t+k+2}) is `lm_loss_weight · CE(head_k, x_{t+k+2}) + teacher_loss_weight ·
    CE(head_k, softmax(base_logits[t+k+1]))`; the base logits are `lm_head(hidden_states)` (no base forward).
    """
    config = getattr(heads, "module", heads).config
    teacher = None
    if config.teacher_loss_weight > 0:
        with torch.no_grad():
            teacher = lm_head(hidden_states)
    return heads(hidden_states=hidden_states, input_ids=input_ids, labels=labels, teacher_logits=teacher)


def train_heads(
    heads,
    lm_head,
    input_ids: torch.Tensor,
    hidden_states: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float | None = None,
    warmup_steps: int = 0,
    labels: torch.Tensor | None = None,
    seed: int = 0,
) -> list[float]:
    """Trains `heads` for `steps` AdamW steps on random batches of cached states; returns the loss of every step.

    `input_ids` / `hidden_states` are `(N, T)` / `(N, T, d)`: the tokens and the base's last hidden states over them.
    Warm-up then cosine decay, as the recipe; `weight_decay=None` takes the kind's official default.
    """
    config = heads.config
    decay = default_weight_decay(config.head_kind) if weight_decay is None else weight_decay
    optimizer = make_optimizer(heads, learning_rate, decay)
    scheduler = make_scheduler(optimizer, steps, warmup_steps)
    labels = input_ids if labels is None else labels
    g = torch.Generator().manual_seed(seed)
    losses = []
    heads.train()
    for _ in range(steps):
        idx = torch.randint(0, input_ids.shape[0], (batch_size,), generator=g)
        out = head_training_step(heads, lm_head, input_ids[idx], labels[idx], hidden_states[idx])
        out.loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(out.loss.item())
    heads.eval()
    return losses


@torch.no_grad()
def base_hidden_states(base, input_ids: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The base's last hidden states (its `lm_head` input) over `input_ids`, in batches."""
    chunks = [
        base(input_ids=input_ids[i : i + batch_size], output_hidden_states=True).hidden_states[-1]
        for i in range(0, input_ids.shape[0], batch_size)
    ]
    return torch.cat(chunks)


@torch.no_grad()
def head_accuracy_by_depth(heads, base, sequences: torch.Tensor, prompt_len: int) -> list[float]:
    """Top-1 agreement of each head with the tokens of `sequences` after the prompt (e.g. greedy continuations)."""
    hidden = base_hidden_states(base, sequences)
    labels = sequences.clone()
    labels[:, :prompt_len] = -100
    out = head_training_step(heads.eval(), base.get_output_embeddings(), sequences, labels, hidden)
    return [float(a) for a in out.head_accuracy]


# ----------------------------------------------------------------------------------------------------------- decoding
@torch.no_grad()
def decode_prompts(base, heads, prompts, max_new_tokens: int, tree_choices=None) -> dict[str, list]:
    """Decodes each prompt (`(1, L)` or `(L,)` ids) with plain greedy `generate()` and with the heads.

    Returns per-prompt lists: `tau` (new tokens per base forward, prefill counted; plain greedy = 1), `lossless`
    (output identical to greedy), `greedy_s` / `hydra_s` (wall-clock seconds), `time_base` / `time_heads` (seconds in
    base forwards / in the heads), `greedy` (the greedy outputs as lists of ids).
    """
    from .generation_hydra import hydra_generate

    rows = {k: [] for k in ("tau", "lossless", "greedy_s", "hydra_s", "time_base", "time_heads", "greedy")}
    for prompt in prompts:
        prompt = prompt if prompt.dim() == 2 else prompt[None]
        mask = torch.ones_like(prompt)
        start = time.perf_counter()
        reference = base.generate(prompt, attention_mask=mask, do_sample=False, max_new_tokens=max_new_tokens)
        rows["greedy_s"].append(time.perf_counter() - start)
        stats = {}
        start = time.perf_counter()
        out = base.generate(
            prompt,
            attention_mask=mask,
            do_sample=False,
            max_new_tokens=max_new_tokens,
            custom_generate=hydra_generate,
            draft_heads=heads,
            tree_choices=tree_choices,
            stats=stats,
        )
        rows["hydra_s"].append(time.perf_counter() - start)
        rows["tau"].append(stats["tokens_per_forward"])
        rows["lossless"].append(bool(torch.equal(out, reference)))
        rows["time_base"].append(stats["time_base"])
        rows["time_heads"].append(stats["time_heads"])
        rows["greedy"].append(reference[0].tolist())
    return rows


# ----------------------------------------------------------------------------------------------------------- recipe data
def load_base(model_name_or_path: str):
    """`(model, tokenizer, name)` of the frozen base named by `--model_name_or_path` (see
    `hf_methods.common.data.load_causal_lm`). `name` is what the heads record as their base: the Hub id of the offline
    SmolLM2, the folder or Hub id given, or `None` for the unnamed `"tiny"` smoke base (its heads are saved
    standalone)."""
    from hf_methods.common.data import load_causal_lm

    model, tokenizer, name = load_causal_lm(model_name_or_path)
    model.eval().requires_grad_(False)
    return model, tokenizer, name


def prompt_texts(corpora: str, n_sequences: int) -> list[str]:
    """Paragraphs spread over each offline corpus, the corpora interleaved."""
    from hf_methods.common.data import load_corpus

    names = [c.strip() for c in corpora.split(",") if c.strip()]
    per = math.ceil(n_sequences * 2 / len(names))
    pools = [load_corpus(name, max_paragraphs=per * 4)[::4][:per] for name in names]
    return [p for group in zip(*pools) for p in group]


def dataset_texts(name_or_path: str) -> list[str]:
    """The `text` column (else the first string column) of the user's data set `--dataset_name_or_path`."""
    from hf_methods.common.data import load_user_dataset

    dataset = load_user_dataset(name_or_path)
    column = "text" if "text" in dataset.column_names else None
    if column is None:
        strings = [
            name for name, f in dataset.features.items() if getattr(f, "dtype", None) in ("string", "large_string")
        ]
        if not strings:
            raise ValueError(
                f"--dataset_name_or_path {name_or_path}: no text column (columns: {dataset.column_names})"
            )
        column = strings[0]
    return [t for t in dataset[column] if isinstance(t, str) and t.strip()]


@torch.no_grad()
def self_distill(args: HydraArguments, base, tokenizer, data_dir: Path | None = None, is_main: bool = True):
    """The base's own greedy continuations of prompts, with its last hidden states, as a `datasets.Dataset`.

    Prompts are the first `prompt_tokens` tokens of texts of `--dataset_name_or_path` when given, else of paragraphs
    of the offline `--corpora`.

    Cached under `data_dir` (default `args.distilled_data_dir`) and reused while the data settings (`DATA_KEYS`)
    match. Each finished generation batch is kept under `data_dir/parts-<settings hash>/` until the dataset is
    written, so a long self-distillation (thousands of sequences on a CPU) resumes where it was interrupted. Labels
    are -100 on the prompt: the heads learn the base's own continuations only.
    """
    import hashlib

    import datasets
    from tqdm.auto import tqdm

    settings = {k: getattr(args, k) for k in DATA_KEYS}
    data_dir = Path(data_dir) if data_dir is not None else args.distilled_data_dir
    meta = data_dir / "settings.json"
    if meta.exists() and json.loads(meta.read_text()) == settings:
        return datasets.load_from_disk(str(data_dir / "dataset"))
    prompts = []
    texts = (
        dataset_texts(args.dataset_name_or_path)
        if args.dataset_name_or_path
        else prompt_texts(args.corpora, args.n_sequences)
    )
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        if len(ids) >= args.prompt_tokens:
            prompts.append(ids[: args.prompt_tokens])
        if len(prompts) == args.n_sequences:
            break
    if len(prompts) < args.n_sequences:
        raise ValueError(
            f"--n_sequences {args.n_sequences}: the prompt texts gave only {len(prompts)} prompts of "
            f"--prompt_tokens {args.prompt_tokens} tokens"
        )
    rows = {"input_ids": [], "labels": [], "hidden_states": []}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    parts = data_dir / f"parts-{key}"
    for start in tqdm(range(0, len(prompts), args.gen_batch_size), desc="self-distillation", disable=not is_main):
        part = parts / f"{start:06d}.safetensors"
        if part.is_file():
            from safetensors.torch import load_file

            kept = load_file(str(part))
            out, hidden = kept["input_ids"], kept["hidden_states"].float()
        else:
            batch = torch.tensor(prompts[start : start + args.gen_batch_size])  # equal lengths: no padding needed
            out = base.generate(
                batch,
                attention_mask=torch.ones_like(batch),
                do_sample=False,
                max_new_tokens=args.new_tokens,
                min_new_tokens=args.new_tokens,
                pad_token_id=pad,
            )
            hidden = base(input_ids=out, output_hidden_states=True).hidden_states[-1]
            if is_main:
                from safetensors.torch import save_file

                parts.mkdir(parents=True, exist_ok=True)
                tmp = part.with_suffix(".tmp")
                save_file(
                    {"input_ids": out.contiguous(), "hidden_states": hidden.to(torch.float16).contiguous()}, str(tmp)
                )
                tmp.replace(part)
        labels = out.clone()
        labels[:, : args.prompt_tokens] = -100
        rows["input_ids"] += out.tolist()
        rows["labels"] += labels.tolist()
        rows["hidden_states"] += list(hidden.to(torch.float16).numpy())
    seq_len = args.prompt_tokens + args.new_tokens
    features = datasets.Features(
        {
            "input_ids": datasets.Sequence(datasets.Value("int64")),
            "labels": datasets.Sequence(datasets.Value("int64")),
            "hidden_states": datasets.Array2D(shape=(seq_len, base.config.hidden_size), dtype="float16"),
        }
    )
    dataset = datasets.Dataset.from_dict(rows, features=features)
    if is_main:
        data_dir.mkdir(parents=True, exist_ok=True)
        dataset.save_to_disk(str(data_dir / "dataset"))
        meta.write_text(json.dumps(settings))
        if parts.is_dir():
            for part in parts.glob("*.safetensors"):
                part.unlink()
            parts.rmdir()
    return dataset


def dataset_tensors(dataset) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`(input_ids, labels, hidden_states)` of a self-distilled dataset (hidden states back in float32)."""
    t = dataset.with_format("torch")[:]
    return t["input_ids"], t["labels"], t["hidden_states"].float()


@torch.no_grad()
def evaluate(base, heads, eval_data, prompt_tokens: int, n_prompts: int, new_tokens: int) -> dict[str, float]:
    """Per-head top-1 agreement on held-out sequences, and τ of tree decoding on `n_prompts` held-out prompts."""
    ids, labels, hidden = eval_data
    heads.eval()
    metrics = {}
    if ids.shape[0]:
        out = head_training_step(heads, base.get_output_embeddings(), ids, labels, hidden)
        for k, acc in enumerate(out.head_accuracy.tolist()):
            metrics[f"eval/head{k}_top1"] = acc
    n = min(n_prompts, ids.shape[0])
    if n:
        rows = decode_prompts(base, heads, [ids[i, :prompt_tokens] for i in range(n)], new_tokens)
        metrics["eval/tokens_per_forward"] = sum(rows["tau"]) / n
        metrics["eval/lossless"] = float(all(rows["lossless"]))
    return metrics
