"""Training pieces shared by `recipes/bone.py`, the claim check and the tests: Bone vs LoRA vs PiSSA on word problems.

- [`BoneArguments`]: the arguments of `recipes/bone.py`; `args.bone_config(num_layers)` builds the `BoneConfig`;
- [`build_adapter`]: wraps a causal LM in a Bone (`"bone"`), LoRA or PiSSA `PeftModel`, the LoRA/PiSSA rank matched
  to Bone's parameter count on the same layers (as the paper compares Bone r=64, 87.0M, with LoRA/PiSSA r=36, 89.9M);
- [`word_problem_splits`]: fixed training, validation and held-out test sets of arithmetic word problems;
- [`make_optimizer`], [`make_scheduler`] (`transformers.get_scheduler`), [`train_step`];
- [`answer_losses`] (per-problem answer loss) and [`evaluate`] (answer loss and greedy exact match).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from hf_methods.harness.recipe import PretrainedRecipeArguments

BASE_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
ADAPTER_METHODS = ("bone", "lora", "pissa")
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SCHEDULES = ("cosine", "constant", "linear")
VARIANTS = ("bat", "bone", "miss", "mini")


def parse_targets(target_modules: str) -> list[str] | str:
    """`"q_proj,v_proj"` → `["q_proj", "v_proj"]`; `"all-linear"` stays as is (PEFT's keyword)."""
    names = [t.strip() for t in target_modules.split(",") if t.strip()]
    if not names:
        raise ValueError("`target_modules` is empty")
    return "all-linear" if names == ["all-linear"] else names


@dataclass
class BoneArguments(PretrainedRecipeArguments):
    """Arguments of `recipes/bone.py`. The shared `--model_name_or_path` picks the base (default: the offline
    SmolLM2-135M-Instruct; `tiny` for smoke runs) and `--dataset_name_or_path` the data: by default the built-in
    arithmetic word problems, otherwise a JSON/JSONL file (or `datasets` name) whose rows have `prompt` and `answer`
    fields; the loss is taken on the answer tokens only."""

    max_steps: int = field(default=100, metadata={"help": "Optimisation steps."})
    checkpoint_every: int = field(default=0, metadata={"help": "Save a resumable checkpoint every N steps (0: end)."})
    log_every: int = field(default=1, metadata={"help": "Log the training loss every N steps."})
    method: str = field(default="bone", metadata={"help": f"Adapter: one of {ADAPTER_METHODS}."})
    variant: str = field(default="bat", metadata={"help": f"Bone variant: one of {VARIANTS} ('bat' = paper v1)."})
    r: int = field(default=64, metadata={"help": "Bone block size r (paper: 64)."})
    mini_r: int = field(default=64, metadata={"help": "Block width along out_features for --variant mini."})
    lora_rank: int = field(default=0, metadata={"help": "LoRA/PiSSA rank (0: matched to Bone's parameter count)."})
    lora_alpha: float = field(default=0.0, metadata={"help": "LoRA alpha (0: 2·rank for lora, rank for pissa)."})
    target_modules: str = field(
        default=",".join(PROJECTIONS), metadata={"help": "Comma-separated module names to adapt, or 'all-linear'."}
    )
    layers: str = field(
        default="all",
        metadata={"help": "Decoder layers to adapt: 'all' (as the paper), 'a-b', a comma list or 'lastN'."},
    )
    dropout: float = field(default=0.0, metadata={"help": "Adapter dropout (not applied by --variant bat)."})
    learning_rate: float = field(default=3e-4, metadata={"help": "AdamW learning rate (paper, 7B: 2e-5)."})
    lr_schedule: str = field(default="cosine", metadata={"help": f"One of {SCHEDULES} (the paper: cosine to 0)."})
    warmup_steps: int = field(default=0, metadata={"help": "Linear warm-up steps."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    batch_size: int = field(default=8, metadata={"help": "Examples per step and process."})
    max_length: int = field(default=64, metadata={"help": "Token budget per example (prompt truncated on the left)."})
    n_train: int = field(
        default=1024,
        metadata={
            "help": "Training word problems (seed 0 of the generator); with a user data set, at most this many."
        },
    )
    n_eval: int = field(
        default=64,
        metadata={
            "help": "Held-out problems (seed 1, minus any seen in training); with a user data set, rows held out at "
            "random (seed 0) before training."
        },
    )
    eval_every: int = field(default=0, metadata={"help": "Held-out answer loss every N steps (0: only at the end)."})
    n_accuracy: int = field(default=64, metadata={"help": "Held-out problems for greedy exact match (0: skip)."})
    chat_template: bool = field(
        default=False,
        metadata={
            "help": "Wrap problems in the tokenizer's chat template (with SmolLM2's system prompt, ~60 tokens) "
            "instead of the shorter plain 'Question: ... Answer: ' layout (~35 tokens)."
        },
    )
    bf16: bool = field(default=False, metadata={"help": "Load the base in bfloat16 (the paper trains in bf16)."})

    def validate(self) -> None:
        super().validate()
        if self.method not in ADAPTER_METHODS:
            raise ValueError(f"--method must be one of {ADAPTER_METHODS}, got {self.method!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"--variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"--lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        for name in ("r", "mini_r", "learning_rate", "batch_size", "max_length", "n_train", "n_eval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("lora_rank", "lora_alpha", "warmup_steps", "weight_decay", "eval_every", "n_accuracy"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")

    def bone_config(self, num_layers: int | None = None):
        """The `peft.MissConfig` of these arguments (`BoneConfig`); LoRA/PiSSA reuse its targets and layers.

        `num_layers` (the model's) resolves `--layers lastN` and rejects indices out of range.
        """
        from hf_methods.adapters.bone import BoneConfig
        from hf_methods.common.layers import parse_layers

        targets = parse_targets(self.target_modules)
        layers = parse_layers(self.layers, num_layers)
        if layers is not None and targets == "all-linear":
            raise ValueError("--layers needs --target_modules as a list of names, not 'all-linear'")
        return BoneConfig(
            r=self.r,
            target_modules=targets,
            variant=self.variant,
            mini_r=self.mini_r if self.variant == "mini" else None,
            dropout=self.dropout if self.method == "bone" else 0.0,
            layers_to_transform=layers,
        )


def build_adapter(
    model: nn.Module,
    method: str,
    bone_config,
    *,
    lora_rank: int = 0,
    lora_alpha: float = 0.0,
    dropout: float = 0.0,
    base_model_name: str | None = BASE_MODEL_ID,
) -> tuple[nn.Module, dict[str, Any]]:
    """Wraps `model` (in place) in the `PeftModel` of `method` on the layers `bone_config` targets.

    Args:
        model: the base causal LM (PiSSA rewrites its weights: pass a copy to reuse the base).
        method: `"bone"` (the adapter `bone_config` describes), `"lora"` or `"pissa"`.
        bone_config: a `peft.MissConfig` from `BoneConfig`; LoRA/PiSSA use its `target_modules` and
            `layers_to_transform`, and its parameter count for the matched rank.
        lora_rank: LoRA/PiSSA rank; 0 takes [`matched_lora_rank`], the rank whose count `Σ rank·(in + out)` is
            closest to Bone's `Σ r·out`.
        lora_alpha: 0 takes `2·rank` for LoRA and `rank` for PiSSA (the scalings of the official comparison scripts).
        dropout: LoRA/PiSSA dropout (Bone's own is in `bone_config`).
        base_model_name: written into the adapter config so a saved adapter names its Hub base.

    Returns:
        `(peft_model, info)`, `info` holding `bone_parameters`, `trainable_parameters` and, for LoRA/PiSSA,
        `lora_rank` and `lora_alpha`.
    """
    from peft import LoraConfig, get_peft_model

    from .model import count_bone_parameters, get_bone_model, matched_lora_rank

    if method not in ADAPTER_METHODS:
        raise ValueError(f"`method` must be one of {ADAPTER_METHODS}, got {method!r}")
    bone_parameters = count_bone_parameters(model, bone_config)
    info: dict[str, Any] = {"bone_parameters": bone_parameters}
    if method == "bone":
        peft_model = get_bone_model(model, bone_config)
    else:
        rank = lora_rank or matched_lora_rank(model, bone_config, bone_parameters)
        alpha = lora_alpha or (2.0 * rank if method == "lora" else float(rank))
        config = LoraConfig(
            r=rank,
            lora_alpha=alpha,
            lora_dropout=dropout,
            target_modules=bone_config.target_modules,
            layers_to_transform=bone_config.layers_to_transform,
            init_lora_weights="pissa" if method == "pissa" else True,
        )
        peft_model = get_peft_model(model, config)
        info.update(lora_rank=rank, lora_alpha=alpha)
    info["trainable_parameters"] = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    if base_model_name:
        for config in peft_model.peft_config.values():
            config.base_model_name_or_path = base_model_name  # Hub-ready: name the base, not a local folder
    return peft_model, info


def word_problem_splits(
    tokenizer, n_train: int, n_test: int, max_length: int = 64, *, n_validation: int = 0, chat_template: bool = False
) -> dict[str, Any]:
    """Fixed problem sets, independent of any run's seed: `train` (generator seed 0), then `validation` and `test`
    (seed 1, no question shared with training or with each other). Returns the tokenized datasets under
    `train`/`validation`/`test` and the problems under `validation_problems`/`test_problems`.

    Without `chat_template` the tokenizer's chat template is switched off (in place), so prompts use the plain
    `Question: ... Answer: ` layout in training and in the exact-match evaluation alike.
    """
    from hf_methods.common.instruct import build_sft_dataset, train_and_held_out

    if not chat_template:
        tokenizer.chat_template = None
    train, held_out = train_and_held_out(n_train, n_test + n_validation)
    test, validation = held_out[:n_test], held_out[n_test:]
    return {
        "train": build_sft_dataset(train, tokenizer, max_length),
        "validation": build_sft_dataset(validation, tokenizer, max_length) if validation else None,
        "test": build_sft_dataset(test, tokenizer, max_length),
        "validation_problems": validation,
        "test_problems": test,
    }


def card_details(args: BoneArguments, base_id: str | None) -> dict[str, Any]:
    """What `RecipeRunner.finish` writes on the output's card about the base and the data of this run.

    `base_id` is the Hub id `load_causal_lm` reports for `--model_name_or_path` (the offline SmolLM2 alias becomes
    `HuggingFaceTB/SmolLM2-135M-Instruct`); a local folder or `tiny` has no Hub id, so the card names no `base_model`
    and its "Train it" command (which lists `--model_name_or_path`) tells what the base was. A user data set is named
    as the run's data (a `datasets` name also in the card's `datasets`); the default is the built-in word problems.
    """
    from pathlib import Path

    hub_base = base_id if base_id and not Path(base_id).expanduser().exists() else None
    base_name = hub_base or ("tiny-llama" if args.model_name_or_path == "tiny" else Path(base_id or "base").name)
    details: dict[str, Any] = {
        "base_model": hub_base,
        "model_name": f"{base_name.split('/')[-1].lower()}-{args.method}",
        "card_kwargs": {"pipeline_tag": "text-generation"},
    }
    name = args.dataset_name_or_path
    if name is not None:
        local = Path(name).expanduser().exists()
        details["datasets"] = None if local else [name]
        label = Path(name).name if local else name
        details["card_kwargs"]["run_task"] = {"dataset_name": label, "dataset_type": label, "split": "held-out rows"}
    return details


def make_optimizer(model: nn.Module, learning_rate: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """AdamW over the trainable (adapter) parameters only."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)


def make_scheduler(optimizer, schedule: str, max_steps: int, warmup_steps: int = 0):
    """`transformers.get_scheduler(schedule, ...)`: linear warm-up over `warmup_steps`, then `"cosine"` (to 0 at
    `max_steps`, as the paper's recipe), `"linear"` (to 0) or `"constant"`. Step it once per optimizer step."""
    from transformers import get_scheduler

    if schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}, got {schedule!r}")
    name = "constant_with_warmup" if schedule == "constant" else schedule
    return get_scheduler(name, optimizer, num_warmup_steps=warmup_steps, num_training_steps=max_steps)


def train_step(model, batch: dict, optimizer, scheduler=None, backward=None) -> torch.Tensor:
    """One optimisation step on the answer loss of `batch`; returns the (detached) loss.

    `backward` replaces `loss.backward()` (e.g. `accelerator.backward`).
    """
    loss = model(**batch).loss
    optimizer.zero_grad()
    (backward or torch.Tensor.backward)(loss)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.detach()


@torch.no_grad()
def answer_losses(model, loader) -> list[tuple[float, int]]:
    """`(summed cross-entropy, answer tokens)` of every example of `loader` (batches of `build_sft_dataset` rows,
    labels -100 outside the answer), in order: the loss of predicting each answer token from the tokens before it."""
    was_training = model.training
    model.eval()
    out = []
    for batch in loader:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        labels = batch["labels"][:, 1:]
        token_loss = nn.functional.cross_entropy(
            logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none"
        )
        mask = labels != -100
        out += [(float(s), int(n)) for s, n in zip((token_loss * mask).sum(1), mask.sum(1))]
    model.train(was_training)
    return out


def evaluate(model, tokenizer, dataset, problems, *, batch_size: int = 8, n_accuracy: int | None = None) -> dict:
    """Held-out metrics of `model` on `dataset` (built from `problems`, same order).

    Returns `answer_loss` (cross-entropy per answer token over all problems), `problem_losses` (each problem's mean
    per answer token) and, unless `n_accuracy == 0`, `exact_match`: the share of the first `n_accuracy` problems (all
    by default) whose greedy answer's first integer is exact.
    """
    from hf_methods.common.instruct import collate_sft, exact_match_accuracy

    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, collate_fn=collate_sft(tokenizer.pad_token_id)
    )
    losses = answer_losses(model, loader)
    result = {
        "answer_loss": sum(s for s, _ in losses) / max(1, sum(n for _, n in losses)),
        "problem_losses": [s / max(1, n) for s, n in losses],
    }
    if n_accuracy != 0:
        was_training = model.training
        model.eval()
        result["exact_match"] = exact_match_accuracy(model, tokenizer, problems[:n_accuracy])
        model.train(was_training)
    return result


__all__ = [
    "ADAPTER_METHODS",
    "BASE_MODEL_ID",
    "BoneArguments",
    "PROJECTIONS",
    "answer_losses",
    "build_adapter",
    "card_details",
    "evaluate",
    "make_optimizer",
    "make_scheduler",
    "parse_targets",
    "train_step",
    "word_problem_splits",
]
