"""Fine-tune SmolLM2-135M-Instruct with Bone (P46 `bone`, Kang, arXiv 2409.15371), LoRA or PiSSA on word problems.

The default task is built in code (`hf_methods.common.instruct`): arithmetic word problems with exact integer answers,
the loss taken on the answer tokens only, evaluated by held-out answer loss and greedy exact-match accuracy. Your own
data: `--dataset_name_or_path data.jsonl`, one JSON object per line with a `prompt` and an `answer` field (or a
`datasets` name with those columns); `--n_eval` rows are held out at random, the loss is again on the answer tokens,
and the evaluation is the held-out answer loss (exact match needs integer answers, so it is only run on the built-in
problems). The base is `--model_name_or_path` (default: the offline SmolLM2-135M-Instruct; `tiny` for a smoke run;
a local folder or Hub id), named on the output's card. `--method` picks the adapter on the same layers:

- `bone`: PEFT's MiSS through `hf_methods.adapters.bone.BoneConfig`; `--variant bat` (default) is the paper-v1 Bone
  (`W'_{a,b} = W_{a,b} + W_{a,b} B_a + B_a`), `bone` the v4+/DiSHA Bone, `mini` MiSS-mini;
- `lora` / `pissa`: `peft.LoraConfig` (PiSSA = `init_lora_weights="pissa"`), with the rank matched to Bone's
  trainable-parameter count unless `--lora_rank` is given (`Σ r·(in + out)` over the targeted layers ≈ Bone's `Σ d·r`;
  the paper pairs Bone r=64, 87.0M with LoRA/PiSSA r=36, 89.9M). `--lora_alpha 0` takes the official scripts'
  alphas (`JL-er/MiSS:scripts/math/run_lora.sh` 2·r, `run_pissa.sh` r).

The paper's LLaMA2-7B recipe (`JL-er/Bone@49719aa:hf-ft/scripts/run_bone.sh`): r=64 on q,k,v,o,gate,up,down, lr 2e-5,
cosine, no warmup, no weight decay, batch 64, one epoch of MetaMathQA, bf16; every one of those is a flag here. The
embedded default is the CPU-scale setting of `benchmarks/claims/bone.py` (all seven projections of all layers, 100
steps of batch 8; the claim picks each method's learning rate from {1e-4, 3e-4, 1e-3} on a validation split).

The adapter building, data, schedule, training step and evaluation live in `hf_methods.adapters.bone.training`
(shared with the claim check and the tests), and so do the arguments, `BoneArguments`, whose `bone_config()` builds
the adapter's config in one call; this file is the `accelerate launch` entry point around them.

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
accelerate launch recipes/bone.py --dataset_name_or_path my.jsonl  # rows {"prompt": ..., "answer": ...}
accelerate launch recipes/bone.py --model_name_or_path tiny --r 16 --max_steps 5  # seconds: smoke run
accelerate launch recipes/bone.py --resume_from_checkpoint latest  # continue a killed run
python recipes/bone.py --help                                      # every knob
```
"""

from __future__ import annotations

from pathlib import Path

import torch

from hf_methods.adapters.bone.training import BoneArguments, card_details
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "bone"
__all__ = ["BoneArguments", "main"]


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
    from hf_methods.adapters.bone.training import (
        build_adapter,
        evaluate,
        make_optimizer,
        make_scheduler,
        train_step,
        word_problem_splits,
    )
    from hf_methods.common.data import load_causal_lm, load_user_dataset
    from hf_methods.common.instruct import collate_sft, prompt_answer_pairs, split_pairs, user_sft_dataset

    args = parse_recipe_args(BoneArguments, argv, slug=SLUG)
    user_data = None
    if args.dataset_name_or_path is not None:  # read before the model: a bad file fails in seconds
        user_data = load_user_dataset(args.dataset_name_or_path)
    runner = RecipeRunner(args, slug=SLUG)
    acc = runner.accelerator

    base, tokenizer, base_id = load_causal_lm(
        args.model_name_or_path, dtype=torch.bfloat16 if args.bf16 else torch.float32
    )
    chat_template = tokenizer.chat_template
    if user_data is not None:
        train_pairs, test_pairs = split_pairs(prompt_answer_pairs(user_data), args.n_train, args.n_eval)
        data = {
            split: user_sft_dataset(pairs, tokenizer, args.max_length, chat_template=args.chat_template)
            for split, pairs in (("train", train_pairs), ("test", test_pairs))
        }
    else:
        data = word_problem_splits(
            tokenizer, args.n_train, args.n_eval, args.max_length, chat_template=args.chat_template
        )
    bone_config = args.bone_config(base.config.num_hidden_layers)
    model, info = build_adapter(
        base,
        args.method,
        bone_config,
        lora_rank=args.lora_rank,
        lora_alpha=args.lora_alpha,
        dropout=args.dropout,
        base_model_name=base_id,
    )
    runner.print(f"[{SLUG}] {args.method}" + (f" ({args.variant})" if args.method == "bone" else "") + f": {info}")
    pissa_init = None
    if args.method == "pissa" and acc.is_main_process:
        pissa_init = runner.output_dir / "pissa_init"
        model.save_pretrained(pissa_init)  # the initial adapter, for the conversion to plain LoRA at the end

    collate = collate_sft(tokenizer.pad_token_id)
    loader = torch.utils.data.DataLoader(data["train"], batch_size=args.batch_size, shuffle=True, collate_fn=collate)
    optimizer = make_optimizer(model, args.learning_rate, args.weight_decay)
    scheduler = make_scheduler(optimizer, args.lr_schedule, args.max_steps, args.warmup_steps)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(scheduler)  # stepped once per optimizer step; restored on resume
    hooks = _AdapterCheckpoint(acc)
    acc.register_save_state_pre_hook(hooks.save)
    acc.register_load_state_pre_hook(hooks.load)

    start = runner.resume()
    unwrapped = acc.unwrap_model(model)

    def held_out(n_accuracy: int = 0) -> dict:
        problems = data.get("test_problems", [])  # exact match: the built-in problems only (integer answers)
        return evaluate(
            unwrapped,
            tokenizer,
            data["test"],
            problems,
            batch_size=args.batch_size,
            n_accuracy=n_accuracy if problems else 0,
        )

    if start == 0 and args.eval_every:
        runner.log({"eval/answer_loss": held_out()["answer_loss"]}, 0, force=True)
    model.train()
    for step, batch in runner.steps(loader, start):
        lr = scheduler.get_last_lr()[0]
        loss = train_step(model, batch, optimizer, scheduler, backward=acc.backward)
        runner.log({"train/loss": loss, "train/lr": lr}, step)
        if args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.max_steps:
            runner.log({"eval/answer_loss": held_out()["answer_loss"]}, step + 1, force=True)
        runner.maybe_checkpoint(step)

    final = held_out(args.n_accuracy)
    metrics = {"eval/answer_loss": final["answer_loss"]}
    if "exact_match" in final:
        metrics["eval/exact_match"] = final["exact_match"]
    metrics["trainable_parameters"] = info["trainable_parameters"]
    runner.log(metrics, args.max_steps, force=True)
    tokenizer.chat_template = chat_template  # the saved tokenizer keeps SmolLM2's chat template
    to_save = _PissaAsLora(unwrapped, pissa_init) if pissa_init is not None else model
    runner.finish(to_save, metrics=metrics, tokenizer=tokenizer, **card_details(args, base_id))
    return metrics


if __name__ == "__main__":
    main()
