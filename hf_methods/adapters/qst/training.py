"""Training pieces shared by `recipes/qst.py`, the claim check and the tests.

- [`QSTArguments`]: the arguments of `recipes/qst.py`; `args.qst_config()` builds the `QSTConfig` in one call;
- [`load_base`]: SmolLM2-135M-Instruct from the offline asset, in fp32 or bitsandbytes 4-bit ([`resolve_quantization`]);
  [`load_base_model`]: any base a recipe's `--model_name_or_path` names, the same way;
- [`word_problem_data`]: the fixed training and held-out arithmetic word problems, tokenized for SFT;
- [`make_optimizer`] (AdamW on the trainable parameters), [`make_scheduler`] (`transformers.get_scheduler`),
  [`train_step`] (one step, optional gradient clipping);
- [`evaluate`] (held-out answer loss and greedy exact match), [`sequence_loss`] (mean next-token loss of token ids);
- [`saved_activation_bytes`]: bytes autograd keeps for backward in one training forward.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import torch

from hf_methods.harness.recipe import PretrainedRecipeArguments

BASE_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
QUANTIZATIONS = ("auto", "nf4", "fp4", "none")
SCHEDULES = ("constant_with_warmup", "constant", "linear", "cosine")


@dataclass
class QSTArguments(PretrainedRecipeArguments):
    """Arguments of `recipes/qst.py` (the shared ones, `--model_name_or_path` and `--dataset_name_or_path` among them,
    come from `PretrainedRecipeArguments`)."""

    max_steps: int = field(default=40, metadata={"help": "Optimisation steps."})
    checkpoint_every: int = field(default=20, metadata={"help": "Save a resumable checkpoint every N steps (0: end)."})
    log_every: int = field(default=1, metadata={"help": "Log the training loss every N steps."})
    quantization: str = field(
        default="auto",
        metadata={
            "help": f"Base weights: one of {QUANTIZATIONS} ('auto': nf4 when bitsandbytes is installed and a GPU is "
            "present, else fp32; pass nf4 to quantize on CPU too, slowly)."
        },
    )
    double_quant: bool = field(default=True, metadata={"help": "bitsandbytes double quantization (paper: on)."})
    reduction_factor: int = field(default=16, metadata={"help": "r: side width hidden_size / r (paper: 16)."})
    adapter_rank: int = field(default=16, metadata={"help": "k: downsampler bottleneck (official: 16)."})
    downsample: str = field(
        default="adapter", metadata={"help": "'adapter' (official), 'linear', 'avgpool', 'maxpool'."}
    )
    activation: str = field(default="silu", metadata={"help": "Downsampler activation (official: swish = silu)."})
    gate_init: float = field(default=0.5, metadata={"help": "Initial per-layer gate logit ζ_i (official: 0.5)."})
    identity_init: bool = field(
        default=False,
        metadata={"help": "Start exactly at the base model (output gate γ = 0); default: the official σ(1) mix."},
    )
    train_output_gate: bool = field(
        default=False, metadata={"help": "Train the official output gate logit (official: fixed at 1)."}
    )
    side_init: str = field(
        default="pytorch", metadata={"help": "Side layers: 'pytorch' default init (official) or 'normal' (0.02)."}
    )
    share_embedding_downsampler: bool = field(
        default=False, metadata={"help": "Share D_0 between the embeddings and layer 1 (as the official code)."}
    )
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate (official 70B: 1e-4)."})
    lr_scheduler_type: str = field(
        default="constant_with_warmup", metadata={"help": f"One of {SCHEDULES} (official: constant with warm-up)."}
    )
    warmup_ratio: float = field(default=0.03, metadata={"help": "Linear warm-up fraction of max_steps (official)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay (official: 0)."})
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW β2 (official: 0.999)."})
    max_grad_norm: float = field(default=0.3, metadata={"help": "Gradient clipping norm (official: 0.3; 0: off)."})
    batch_size: int = field(default=8, metadata={"help": "Examples per step and process."})
    max_length: int = field(default=64, metadata={"help": "Token budget per example (prompt truncated on the left)."})
    n_train: int = field(
        default=512,
        metadata={
            "help": "Training word problems (seed 0 of the generator); with --dataset_name_or_path, the most training "
            "rows used (the first ones)."
        },
    )
    n_eval: int = field(
        default=64,
        metadata={
            "help": "Held-out problems (seed 1, minus any seen in training); with --dataset_name_or_path, the number "
            "of rows held out from the end of the file."
        },
    )
    eval_every: int = field(default=0, metadata={"help": "Held-out answer loss every N steps (0: only at the end)."})
    n_accuracy: int = field(
        default=32,
        metadata={"help": "Held-out word problems for greedy exact match (0: skip; not done on a user's data set)."},
    )

    def validate(self) -> None:
        super().validate()
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"--quantization must be one of {QUANTIZATIONS}, got {self.quantization!r}")
        if self.lr_scheduler_type not in SCHEDULES:
            raise ValueError(f"--lr_scheduler_type must be one of {SCHEDULES}, got {self.lr_scheduler_type!r}")
        for name in ("reduction_factor", "adapter_rank", "learning_rate", "batch_size", "max_length", "n_train"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.n_eval <= 0:
            raise ValueError(f"--n_eval must be > 0, got {self.n_eval}")
        for name in ("weight_decay", "max_grad_norm", "eval_every", "n_accuracy"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"--warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0.0 < self.adam_beta2 < 1.0:
            raise ValueError(f"--adam_beta2 must be in (0, 1), got {self.adam_beta2}")
        self.qst_config()  # raises naming the QSTConfig field (e.g. an unknown --downsample)

    def qst_config(self, base_model_name_or_path: str | None = BASE_MODEL_ID):
        """The `QSTConfig` these arguments describe."""
        from .config import QSTConfig

        return QSTConfig(
            reduction_factor=self.reduction_factor,
            adapter_rank=self.adapter_rank,
            activation=self.activation,
            downsample=self.downsample,
            gate_init=self.gate_init,
            identity_init=self.identity_init,
            train_output_gate=self.train_output_gate,
            side_init=self.side_init,
            share_embedding_downsampler=self.share_embedding_downsampler,
            base_model_name_or_path=base_model_name_or_path,
        )

    @property
    def warmup_steps(self) -> int:
        return int(self.warmup_ratio * self.max_steps)


def resolve_quantization(name: str) -> str:
    """`auto`: NF4 when bitsandbytes is installed and a CUDA device is present; fp32 on CPU, where bitsandbytes'
    4-bit layers run a slow fallback (a 4-bit SmolLM2 forward took 15-60 s on a shared 2-core machine)."""
    if name not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {name!r}")
    has_bnb = importlib.util.find_spec("bitsandbytes") is not None
    if name == "auto":
        return "nf4" if has_bnb and torch.cuda.is_available() else "none"
    if name in ("nf4", "fp4") and not has_bnb:
        raise ImportError(f"--quantization {name} needs bitsandbytes: pip install 'hf-methods[quant]'")
    return name


def load_base(quantization: str = "none", double_quant: bool = True):
    """`(model, tokenizer, quantization)`: SmolLM2-135M-Instruct from the offline asset, optionally in 4-bit, in
    eval mode, with a pad token (the EOS token when the tokenizer has none)."""
    from hf_methods.common.data import load_smollm2

    quant = resolve_quantization(quantization)
    if quant == "none":
        model, tokenizer = load_smollm2()
    else:
        from transformers import BitsAndBytesConfig

        config = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=quant,
            bnb_4bit_use_double_quant=double_quant,
            bnb_4bit_compute_dtype=torch.float32,
        )
        device_map = {"": torch.cuda.current_device()} if torch.cuda.is_available() else "cpu"
        model, tokenizer = load_smollm2(quantization_config=config, device_map=device_map)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer, quant


def load_base_model(name_or_path: str, quantization: str = "auto", double_quant: bool = True):
    """`(model, tokenizer, quantization, hub_id)` for a recipe's `--model_name_or_path` (see
    `hf_methods.common.data.load_causal_lm`: the SmolLM2 asset, `"tiny"`, a local folder or a Hub id), optionally in
    bitsandbytes 4-bit, in eval mode, with a pad token (the EOS token when the tokenizer has none). `hub_id` names the
    base on the model card (`None` for `"tiny"`).

    The tiny smoke-test Llama is built in code, not loaded, so it cannot be quantized: `auto` keeps it in fp32 and
    `nf4`/`fp4` raise a `ValueError`.
    """
    from hf_methods.common.data import load_causal_lm

    if name_or_path == "tiny":
        if quantization in ("nf4", "fp4"):
            raise ValueError(f"--quantization {quantization}: the tiny model is built in code and cannot be quantized")
        quant = "none" if quantization == "auto" else resolve_quantization(quantization)
    else:
        quant = resolve_quantization(quantization)
    kwargs = {}
    if quant != "none":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=quant,
            bnb_4bit_use_double_quant=double_quant,
            bnb_4bit_compute_dtype=torch.float32,
        )
        kwargs["device_map"] = {"": torch.cuda.current_device()} if torch.cuda.is_available() else "cpu"
    model, tokenizer, hub_id = load_causal_lm(name_or_path, **kwargs)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer, quant, hub_id


def word_problem_data(tokenizer, n_train: int, n_eval: int, max_length: int = 64):
    """`(train_dataset, eval_dataset, eval_problems)`: fixed problem sets (chat-template prompts, loss on the answer
    tokens), independent of any run's seed."""
    from hf_methods.common.instruct import sft_splits

    return sft_splits(tokenizer, n_train, n_eval, max_length)


def make_optimizer(model, learning_rate: float, *, adam_beta2: float = 0.999, weight_decay: float = 0.0):
    """AdamW on the trainable parameters of `model` (for a `QSTModel`, the side network only)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=learning_rate, betas=(0.9, adam_beta2), weight_decay=weight_decay)


def make_scheduler(optimizer, name: str, max_steps: int, warmup_steps: int = 0):
    """`transformers.get_scheduler(name, ...)`; step it once per optimizer step (the official recipe:
    `"constant_with_warmup"`, a linear warm-up over 3% of the steps, then constant)."""
    from transformers import get_scheduler

    if name not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {name!r}")
    return get_scheduler(name, optimizer, num_warmup_steps=warmup_steps, num_training_steps=max_steps)


def train_step(
    model, batch: dict, optimizer, scheduler=None, *, max_grad_norm: float = 0.0, accelerator=None
) -> torch.Tensor:
    """One optimisation step on `model(**batch).loss`; returns the detached loss.

    Gradients are clipped to `max_grad_norm` (0: no clipping); `accelerator` (an `accelerate.Accelerator`) does the
    backward pass and the clipping when given.
    """
    loss = model(**batch).loss
    optimizer.zero_grad(set_to_none=True)
    if accelerator is not None:
        accelerator.backward(loss)
    else:
        loss.backward()
    if max_grad_norm:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        clip = accelerator.clip_grad_norm_ if accelerator is not None else torch.nn.utils.clip_grad_norm_
        clip(params, max_grad_norm)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.detach()


def evaluate(model, eval_loader, problems=None, tokenizer=None, n_accuracy: int = 0) -> dict[str, float]:
    """`{"eval/answer_loss"}` (mean cross-entropy per answer token over `eval_loader`) and, when `n_accuracy` > 0,
    `"eval/exact_match"` (greedy decoding on the first `n_accuracy` problems)."""
    from hf_methods.common.instruct import answer_loss, exact_match_accuracy

    was_training = model.training
    model.eval()
    metrics = {"eval/answer_loss": answer_loss(model, eval_loader)}
    if n_accuracy:
        metrics["eval/exact_match"] = exact_match_accuracy(model, tokenizer, problems[:n_accuracy])
    model.train(was_training)
    return metrics


@torch.no_grad()
def sequence_loss(model, input_ids: torch.Tensor, batch_size: int = 64) -> float:
    """Mean next-token cross-entropy of `model` on the rows of `input_ids` (every position predicted), in eval mode."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(input_ids), batch_size):
        ids = input_ids[start : start + batch_size]
        n = ids[:, 1:].numel()
        total += model(input_ids=ids, labels=ids).loss.item() * n
        count += n
    model.train(was_training)
    return total / count


def saved_activation_bytes(model, batch: dict) -> tuple[int, torch.Tensor]:
    """`(bytes, loss)`: bytes of the distinct storages autograd saves for backward in one forward of `model(**batch)`,
    parameters (of the model and, for a `QSTModel`, of its base) left out; the loss is returned for the backward."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    base = getattr(model, "base_model", None)
    if base is not None:
        params |= {p.untyped_storage().data_ptr() for p in base.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor):
        if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta":
            storage = tensor.untyped_storage()
            if storage.data_ptr() not in params:
                seen[storage.data_ptr()] = max(seen.get(storage.data_ptr(), 0), storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(**batch).loss
    return sum(seen.values()), loss


__all__ = [
    "BASE_MODEL_ID",
    "QSTArguments",
    "evaluate",
    "load_base",
    "load_base_model",
    "make_optimizer",
    "make_scheduler",
    "resolve_quantization",
    "saved_activation_bytes",
    "sequence_loss",
    "train_step",
    "word_problem_data",
]
