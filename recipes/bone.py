"""Fine-tune SmolLM2-135M-Instruct with Bone (P46 `bone`, Kang, arXiv 2409.15371), LoRA or PiSSA on word problems.

The task is built in code (`hf_methods.common.instruct`): arithmetic word problems with exact integer answers, the
loss taken on the answer tokens only, evaluated by held-out answer loss and greedy exact-match accuracy. `--method`
picks the adapter on the same layers:

- `bone`: PEFT's MiSS through `hf_methods.adapters.bone.BoneConfig`; `--variant bat` (default) is the paper-v1 Bone
  (`W'_{a,b} = W_{a,b} + W_{a,b} B_a + B_a`), `bone` the v4+/DiSHA Bone, `mini` MiSS-mini;
- `lora` / `pissa`: `peft.LoraConfig` (PiSSA = `init_lora_weights="pissa"`), with the rank matched to Bone's
  trainable-parameter count unless `--lora_rank` is given (`Σ r·(in + out)` over the targeted layers ≈ Bone's `Σ d·r`;
  the paper pairs Bone r=64, 87.0M with LoRA/PiSSA r=36, 89.9M). `--lora_alpha 0` takes the official scripts'
  alphas (`JL-er/MiSS:scripts/math/run_lora.sh` 2·r, `run_pissa.sh` r).

The paper's LLaMA2-7B recipe (`JL-er/Bone@49719aa:hf-ft/scripts/run_bone.sh`): r=64 on q,k,v,o,gate,up,down, lr 2e-5,
cosine, no warmup, no weight decay, batch 64, one epoch of MetaMathQA, bf16; every one of those is a flag here. The
embedded default is the CPU-scale setting of `benchmarks/claims/bone.py` (short run, larger learning rate).

Checkpoints hold the adapter weights only (plus optimizer and RNG state); PiSSA re-derives its residual base from the
SVD of the frozen weights on resume. The output folder is a plain PEFT adapter (`adapter_config.json` +
`adapter_model.safetensors`, `peft_type` MISS or LORA) that loads with `PeftModel.from_pretrained` without hf-methods;
a PiSSA adapter is saved converted to plain LoRA against the original base (`path_initial_model_for_weight_conversion`).

Usage:

```bash
accelerate launch recipes/bone.py                                  # Bone (Bat) r=64 on all seven projections
accelerate launch recipes/bone.py --method lora --output_dir outputs/bone-lora
accelerate launch recipes/bone.py --method pissa --output_dir outputs/bone-pissa
accelerate launch recipes/bone.py --variant bone --r 64            # the v4+ / MiSS "Bone"
accelerate launch recipes/bone.py --resume_from_checkpoint latest  # continue a killed run
python recipes/bone.py --help                                      # every knob
```
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hf_methods.harness.recipe import RecipeArguments, RecipeRunner, parse_recipe_args

SLUG = "bone"
BASE_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
METHODS = ("bone", "lora", "pissa")
VARIANTS = ("bat", "bone", "miss", "mini")


@dataclass
class BoneArguments(RecipeArguments):
    max_steps: int = field(default=10, metadata={"help": "Optimisation steps."})
    checkpoint_every: int = field(default=0, metadata={"help": "Save a resumable checkpoint every N steps (0: end)."})
    log_every: int = field(default=1, metadata={"help": "Log the training loss every N steps."})
    method: str = field(default="bone", metadata={"help": f"Adapter: one of {METHODS}."})
    variant: str = field(default="bat", metadata={"help": f"Bone variant: one of {VARIANTS} ('bat' = paper v1)."})
    r: int = field(default=64, metadata={"help": "Bone block size r (paper: 64)."})
    mini_r: int = field(default=64, metadata={"help": "Block width along out_features for --variant mini."})
    lora_rank: int = field(default=0, metadata={"help": "LoRA/PiSSA rank (0: matched to Bone's parameter count)."})
    lora_alpha: float = field(default=0.0, metadata={"help": "LoRA alpha (0: 2·rank for lora, rank for pissa)."})
    target_modules: str = field(
        default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
        metadata={"help": "Comma-separated module names to adapt, or 'all-linear'."},
    )
    layers: str = field(
        default="22-29",
        metadata={"help": "Decoder layers to adapt: 'a-b', a comma list, or 'all' (the paper adapts every layer)."},
    )
    dropout: float = field(default=0.0, metadata={"help": "Adapter dropout (not applied by --variant bat)."})
    learning_rate: float = field(default=3e-4, metadata={"help": "AdamW learning rate (paper, 7B: 2e-5)."})
    lr_schedule: str = field(default="cosine", metadata={"help": "'cosine' (to 0, as the paper) or 'constant'."})
    warmup_steps: int = field(default=0, metadata={"help": "Linear warm-up steps."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    batch_size: int = field(default=8, metadata={"help": "Examples per step and process."})
    max_length: int = field(default=64, metadata={"help": "Token budget per example (prompt truncated on the left)."})
    n_train: int = field(default=512, metadata={"help": "Training word problems (seed 0 of the generator)."})
    n_eval: int = field(default=32, metadata={"help": "Held-out problems (seed 1, minus any seen in training)."})
    eval_every: int = field(default=0, metadata={"help": "Held-out answer loss every N steps (0: only at the end)."})
    n_accuracy: int = field(default=32, metadata={"help": "Held-out problems for greedy exact match (0: skip)."})
    chat_template: bool = field(
        default=False,
        metadata={
            "help": "Wrap problems in the tokenizer's chat template (with SmolLM2's system prompt, ~60 tokens) "
            "instead of the shorter plain 'Question: ... Answer: ' layout (~35 tokens)."
        },
    )
    bf16: bool = field(default=False, metadata={"help": "Load the base in bfloat16 (the paper trains in bf16)."})
    cpu_threads: int = field(default=2, metadata={"help": "torch threads on CPU (0: torch's default)."})

    def validate(self) -> None:
        super().validate()
        if self.method not in METHODS:
            raise ValueError(f"--method must be one of {METHODS}, got {self.method!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"--variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"--lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        for name in ("r", "mini_r", "learning_rate", "batch_size", "max_length", "n_train", "n_eval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("lora_rank", "lora_alpha", "warmup_steps", "weight_decay", "eval_every", "n_accuracy"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")


def parse_targets(target_modules: str) -> list[str] | str:
    names = [t.strip() for t in target_modules.split(",") if t.strip()]
    if not names:
        raise ValueError("--target_modules is empty")
    return "all-linear" if names == ["all-linear"] else names


def parse_layers(layers: str) -> list[int] | None:
    layers = layers.strip()
    if layers in ("", "all"):
        return None
    out = []
    for part in layers.split(","):
        lo, _, hi = part.partition("-")
        if not lo.strip().isdigit() or (hi and not hi.strip().isdigit()):
            raise ValueError(f"--layers must look like '22-29', '0,5,7' or 'all', got {layers!r}")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def build_adapter(model, args: BoneArguments):
    """Wraps `model` in a `PeftModel` for `args.method`; returns `(peft_model, info)` with the parameter counts."""
    from peft import LoraConfig, get_peft_model

    from hf_methods.adapters.bone import BoneConfig, count_bone_parameters, get_bone_model, matched_lora_rank

    targets = parse_targets(args.target_modules)
    mini = {"mini_r": args.mini_r} if args.variant == "mini" else {}
    layers = parse_layers(args.layers)
    if layers is not None:
        if targets == "all-linear":
            raise ValueError("--layers needs --target_modules as a list of names, not 'all-linear'")
        n_layers = model.config.num_hidden_layers
        if not all(0 <= i < n_layers for i in layers):
            raise ValueError(f"--layers {args.layers!r}: the model has layers 0..{n_layers - 1}")
    bone_config = BoneConfig(
        r=args.r,
        target_modules=targets,
        variant=args.variant,
        dropout=args.dropout,
        layers_to_transform=layers,
        **mini,
    )
    bone_params = count_bone_parameters(model, bone_config)
    info = {"bone_parameters": bone_params}
    if args.method == "bone":
        peft_model = get_bone_model(model, bone_config)
    else:
        rank = args.lora_rank or matched_lora_rank(model, bone_config, bone_params)
        alpha = args.lora_alpha or (2.0 * rank if args.method == "lora" else float(rank))
        config = LoraConfig(
            r=rank,
            lora_alpha=alpha,
            lora_dropout=args.dropout,
            target_modules=targets,
            layers_to_transform=layers,
            init_lora_weights="pissa" if args.method == "pissa" else True,
        )
        peft_model = get_peft_model(model, config)
        info.update(lora_rank=rank, lora_alpha=alpha)
    info["trainable_parameters"] = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    for cfg in peft_model.peft_config.values():
        cfg.base_model_name_or_path = BASE_MODEL_ID  # Hub-ready: name the base, not the local asset folder
    return peft_model, info


def make_data(tokenizer, args: BoneArguments):
    """`(train_dataset, eval_dataset, eval_problems)`: fixed problem sets, independent of `--seed`.

    Without `--chat_template` the tokenizer's chat template is switched off (in place), so prompts use the plain
    layout of `hf_methods.common.instruct.format_prompt` in training and in the exact-match evaluation alike.
    """
    from hf_methods.common.instruct import sft_splits

    if not args.chat_template:
        tokenizer.chat_template = None

    return sft_splits(tokenizer, args.n_train, args.n_eval, args.max_length)


def lr_at(step: int, args: BoneArguments) -> float:
    if step < args.warmup_steps:
        return args.learning_rate * (step + 1) / args.warmup_steps
    if args.lr_schedule == "constant":
        return args.learning_rate
    progress = (step - args.warmup_steps) / max(1, args.max_steps - args.warmup_steps)
    return args.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


def eval_loss(model, loader) -> float:
    from hf_methods.common.instruct import answer_loss

    was_training = model.training
    model.eval()
    loss = answer_loss(model, loader)
    model.train(was_training)
    return loss


class _AdapterCheckpoint:
    """accelerate save/load hooks that checkpoint only the adapter weights of a PeftModel (not the 135M base)."""

    FILE = "adapter_state.safetensors"

    def __init__(self, accelerator):
        self.accelerator = accelerator

    def save(self, models, weights, output_dir):
        from peft.utils import get_peft_model_state_dict
        from safetensors.torch import save_file

        if self.accelerator.is_main_process:
            state = get_peft_model_state_dict(self.accelerator.unwrap_model(models[0]))
            save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(Path(output_dir) / self.FILE))
        if weights:
            weights.pop(0)

    def load(self, models, input_dir):
        from peft.utils import set_peft_model_state_dict
        from safetensors.torch import load_file

        model = models.pop(0)
        set_peft_model_state_dict(self.accelerator.unwrap_model(model), load_file(str(Path(input_dir) / self.FILE)))


class _PissaAsLora(torch.nn.Module):
    """Saves a trained PiSSA adapter converted to a LoRA that applies to the *original* base weights.

    An `nn.Module` shell so `RecipeRunner.finish` can unwrap it like a model; it only forwards `save_pretrained`.
    """

    def __init__(self, peft_model, initial_dir: Path):
        super().__init__()
        self.__dict__["peft_model"] = peft_model  # not a registered submodule: nothing to unwrap or move
        self.initial_dir = initial_dir

    def save_pretrained(self, save_directory, **kwargs):
        self.peft_model.save_pretrained(
            save_directory, path_initial_model_for_weight_conversion=str(self.initial_dir), **kwargs
        )


def main(argv: list[str] | None = None):
    from hf_methods.common.data import load_smollm2
    from hf_methods.common.instruct import collate_sft, exact_match_accuracy

    args = parse_recipe_args(BoneArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    acc = runner.accelerator
    if acc.device.type == "cpu" and args.cpu_threads > 0:
        torch.set_num_threads(args.cpu_threads)

    base, tokenizer = load_smollm2(dtype=torch.bfloat16 if args.bf16 else torch.float32)
    model, info = build_adapter(base, args)
    runner.print(f"[{SLUG}] {args.method}" + (f" ({args.variant})" if args.method == "bone" else "") + f": {info}")
    pissa_init = None
    if args.method == "pissa" and acc.is_main_process:
        pissa_init = runner.output_dir / "pissa_init"
        model.save_pretrained(pissa_init)  # the initial adapter, for the conversion to plain LoRA at the end

    chat_template = tokenizer.chat_template
    train_ds, eval_ds, eval_problems = make_data(tokenizer, args)  # may switch the chat template off
    collate = collate_sft(tokenizer.pad_token_id)
    loader = torch.utils.data.DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, collate_fn=collate)
    eval_loader = torch.utils.data.DataLoader(eval_ds, batch_size=args.batch_size, collate_fn=collate)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=args.learning_rate, weight_decay=args.weight_decay
    )
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    hooks = _AdapterCheckpoint(acc)
    acc.register_save_state_pre_hook(hooks.save)
    acc.register_load_state_pre_hook(hooks.load)

    start = runner.resume()
    unwrapped = acc.unwrap_model(model)
    if start == 0 and args.eval_every:
        runner.log({"eval/answer_loss": eval_loss(unwrapped, eval_loader)}, 0, force=True)
    model.train()
    for step, batch in runner.steps(loader, start):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args)
        loss = model(**batch).loss
        optimizer.zero_grad()
        acc.backward(loss)
        optimizer.step()
        runner.log({"train/loss": loss, "train/lr": lr_at(step, args)}, step)
        if args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.max_steps:
            runner.log({"eval/answer_loss": eval_loss(unwrapped, eval_loader)}, step + 1, force=True)
        runner.maybe_checkpoint(step)

    metrics = {"eval/answer_loss": eval_loss(unwrapped, eval_loader)}
    if args.n_accuracy:
        unwrapped.eval()
        metrics["eval/exact_match"] = exact_match_accuracy(unwrapped, tokenizer, eval_problems[: args.n_accuracy])
    metrics["trainable_parameters"] = info["trainable_parameters"]
    runner.log(metrics, args.max_steps, force=True)
    tokenizer.chat_template = chat_template  # the saved tokenizer keeps SmolLM2's chat template
    to_save = _PissaAsLora(unwrapped, pissa_init) if pissa_init is not None else model
    runner.finish(
        to_save,
        metrics=metrics,
        tokenizer=tokenizer,
        base_model=BASE_MODEL_ID,
        model_name=f"smollm2-135m-{args.method}",
        card_kwargs={"pipeline_tag": "text-generation"},
    )
    return metrics


if __name__ == "__main__":
    main()
