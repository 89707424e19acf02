"""Fine-tune SmolLM2-135M-Instruct with Quantized Side Tuning (P04 `qst`, Zhang et al., ACL 2024) on word problems.

The base model is frozen and, on a GPU with bitsandbytes installed, loaded in 4-bit NF4 with double quantization
(`--quantization auto`, the paper's setting); on CPU `auto` keeps it in fp32 because bitsandbytes' 4-bit layers run a
slow fallback there (`--quantization nf4` forces 4-bit anyway; `none` is fp32, `fp4` bitsandbytes' FP4). A QST side
network (`hf_methods.adapters.qst`) of width d/r reads every layer's hidden state through small downsamplers; only
the side network trains and no backpropagation runs through the base model. The task is built in code
(`hf_methods.common.instruct`): arithmetic word problems with exact integer answers, the loss taken on the answer
tokens only, evaluated by held-out answer loss and greedy exact-match accuracy (generation runs the base and side
stacks with their key/value caches).

The official 70B recipe (`YouAreSpecialToMe/QST:qst-70b.sh`): r=16, adapter rank 16, swish, lr 1e-4 constant with
3% warm-up, batch 1 × 16 accumulation, max_grad_norm 0.3, Adam β2 0.999, no weight decay, NF4 + double quant, bf16.
Every one of those is a flag here; the embedded default is a short CPU run with a larger learning rate (1e-3).

Note: bitsandbytes' 4-bit layers run a slow fallback on CPU (no `kernels` package): one 4-bit SmolLM2 forward took
15-60 s on a shared 2-core machine, whatever the batch. On a GPU the 4-bit path is the fast one.

Checkpoints hold the side network, the optimizer and the RNG state only (`QSTModel.state_dict()` is the side network).
The output folder holds `qst_config.json` + `qst_model.safetensors`, the tokenizer and the card; reload it with
`QSTModel.from_pretrained(base, folder)` on the same (4-bit) base.

Usage:

```bash
accelerate launch recipes/qst.py                                   # NF4 base on a GPU, fp32 base on CPU
accelerate launch recipes/qst.py --quantization nf4                # NF4 base on CPU too (slow fallback)
accelerate launch recipes/qst.py --reduction_factor 8 --downsample avgpool
accelerate launch recipes/qst.py --resume_from_checkpoint latest   # continue a killed run
python recipes/qst.py --help                                       # every knob
```
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import torch

from hf_methods.harness.recipe import RecipeArguments, RecipeRunner, parse_recipe_args

SLUG = "qst"
BASE_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
QUANTIZATIONS = ("auto", "nf4", "fp4", "none")


@dataclass
class QSTArguments(RecipeArguments):
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
        default=True, metadata={"help": "Output gate γ = 0 at init (exactly the base model); False: official σ(1)."}
    )
    share_embedding_downsampler: bool = field(
        default=False, metadata={"help": "Share D_0 between the embeddings and layer 1 (as the official code)."}
    )
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate (official 70B: 1e-4)."})
    warmup_ratio: float = field(default=0.03, metadata={"help": "Linear warm-up fraction, then constant (official)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay (official: 0)."})
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW β2 (official: 0.999)."})
    max_grad_norm: float = field(default=0.3, metadata={"help": "Gradient clipping norm (official: 0.3; 0: off)."})
    batch_size: int = field(default=8, metadata={"help": "Examples per step and process."})
    max_length: int = field(default=64, metadata={"help": "Token budget per example (prompt truncated on the left)."})
    n_train: int = field(default=512, metadata={"help": "Training word problems (seed 0 of the generator)."})
    n_eval: int = field(default=64, metadata={"help": "Held-out problems (seed 1, minus any seen in training)."})
    eval_every: int = field(default=0, metadata={"help": "Held-out answer loss every N steps (0: only at the end)."})
    n_accuracy: int = field(default=32, metadata={"help": "Held-out problems for greedy exact match (0: skip)."})
    cpu_threads: int = field(default=2, metadata={"help": "torch threads on CPU (0: torch's default)."})

    def validate(self) -> None:
        super().validate()
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"--quantization must be one of {QUANTIZATIONS}, got {self.quantization!r}")
        for name in (
            "reduction_factor",
            "adapter_rank",
            "learning_rate",
            "batch_size",
            "max_length",
            "n_train",
            "n_eval",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("weight_decay", "max_grad_norm", "eval_every", "n_accuracy", "cpu_threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"--warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0.0 < self.adam_beta2 < 1.0:
            raise ValueError(f"--adam_beta2 must be in (0, 1), got {self.adam_beta2}")


def resolve_quantization(name: str) -> str:
    """`auto`: NF4 when bitsandbytes is installed and a CUDA device is present; fp32 on CPU, where bitsandbytes'
    4-bit layers run a slow fallback (a 4-bit SmolLM2 forward took 15-60 s on a shared 2-core machine)."""
    if name == "auto":
        has_bnb = importlib.util.find_spec("bitsandbytes") is not None
        return "nf4" if has_bnb and torch.cuda.is_available() else "none"
    if name in ("nf4", "fp4") and importlib.util.find_spec("bitsandbytes") is None:
        raise ImportError(f"--quantization {name} needs bitsandbytes: pip install 'hf-methods[quant]'")
    return name


def load_base(args: QSTArguments):
    """`(model, tokenizer, quantization)`: SmolLM2-135M-Instruct from the offline asset, optionally in 4-bit."""
    from hf_methods.common.data import load_smollm2

    quant = resolve_quantization(args.quantization)
    if quant == "none":
        model, tokenizer = load_smollm2()
    else:
        from transformers import BitsAndBytesConfig

        config = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=quant,
            bnb_4bit_use_double_quant=args.double_quant,
            bnb_4bit_compute_dtype=torch.float32,
        )
        device_map = {"": torch.cuda.current_device()} if torch.cuda.is_available() else "cpu"
        model, tokenizer = load_smollm2(quantization_config=config, device_map=device_map)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer, quant


def make_data(tokenizer, args: QSTArguments):
    """`(train_dataset, eval_dataset, eval_problems)`: fixed problem sets, independent of `--seed`."""
    from hf_methods.common.instruct import sft_splits

    return sft_splits(tokenizer, args.n_train, args.n_eval, args.max_length)


def lr_at(step: int, args: QSTArguments) -> float:
    """Linear warm-up over `warmup_ratio` of the run, then constant (the official schedule)."""
    warmup = int(args.warmup_ratio * args.max_steps)
    return args.learning_rate * min(1.0, (step + 1) / warmup) if warmup else args.learning_rate


def evaluate(model, eval_loader, problems, tokenizer, n_accuracy: int) -> dict[str, float]:
    from hf_methods.common.instruct import answer_loss, exact_match_accuracy

    was_training = model.training
    model.eval()
    metrics = {"eval/answer_loss": answer_loss(model, eval_loader)}
    if n_accuracy:
        metrics["eval/exact_match"] = exact_match_accuracy(model, tokenizer, problems[:n_accuracy])
    model.train(was_training)
    return metrics


def main(argv: list[str] | None = None):
    from hf_methods.adapters.qst import QSTConfig, get_qst_model
    from hf_methods.common.instruct import collate_sft

    args = parse_recipe_args(QSTArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    if runner.accelerator.device.type == "cpu" and args.cpu_threads > 0:
        torch.set_num_threads(args.cpu_threads)

    base, tokenizer, quant = load_base(args)
    config = QSTConfig(
        reduction_factor=args.reduction_factor,
        adapter_rank=args.adapter_rank,
        activation=args.activation,
        downsample=args.downsample,
        gate_init=args.gate_init,
        identity_init=args.identity_init,
        share_embedding_downsampler=args.share_embedding_downsampler,
        base_model_name_or_path=BASE_MODEL_ID,
    )
    model = get_qst_model(base, config)
    trainable, total = model.get_nb_trainable_parameters()
    runner.print(f"[{SLUG}] base: {BASE_MODEL_ID} ({quant}); trainable {trainable:,d} of {total:,d} parameters")

    train_ds, eval_ds, problems = make_data(tokenizer, args)
    collate = collate_sft(tokenizer.pad_token_id)
    loader = torch.utils.data.DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, collate_fn=collate)
    eval_loader = torch.utils.data.DataLoader(eval_ds, batch_size=args.batch_size, collate_fn=collate)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=args.learning_rate,
        betas=(0.9, args.adam_beta2),
        weight_decay=args.weight_decay,
    )
    # QSTModel.state_dict() is the side network only, so checkpoints stay small
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args)
        loss = model(**batch).loss
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        if args.max_grad_norm:
            runner.accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        runner.log({"train/loss": loss, "train/lr": lr_at(step, args)}, step)
        if args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.max_steps:
            runner.log(evaluate(model, eval_loader, problems, tokenizer, 0), step, force=True)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    metrics = evaluate(unwrapped, eval_loader, problems, tokenizer, args.n_accuracy)
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(
        model,
        metrics=metrics,
        tokenizer=tokenizer,
        base_model=BASE_MODEL_ID,
        card_kwargs={"pipeline_tag": "text-generation", "extra_tags": [f"base-{quant}"]},
    )
    return metrics


if __name__ == "__main__":
    main()
