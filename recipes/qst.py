"""Fine-tune a causal LM (default SmolLM2-135M-Instruct) with Quantized Side Tuning (P04 `qst`, Zhang et al., ACL
2024) on prompt/answer pairs (default: arithmetic word problems).

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
Every one of those is a flag here; the embedded default is a short CPU run with a larger learning rate (1e-3). The
side network follows the official code by default (output gate fixed at σ(1), side layers at PyTorch's default
initialisation); `--identity_init` starts exactly at the base model instead.

The arguments, data, optimizer, schedule (`transformers.get_scheduler`), training step and evaluation live in
`hf_methods.adapters.qst.training`, shared with the claim check and the tests; this file is the entry point.

Note: bitsandbytes' 4-bit layers run a slow fallback on CPU (no `kernels` package): one 4-bit SmolLM2 forward took
15-60 s on a shared 2-core machine, whatever the batch. On a GPU the 4-bit path is the fast one.

Checkpoints hold the side network, the optimizer and the RNG state only (`QSTModel.state_dict()` is the side network).
The output folder holds `qst_config.json` + `qst_model.safetensors`, the tokenizer and the card (`library_name:
hf-methods`: `peft` cannot load a QST side network); reload it with `QSTModel.from_pretrained(base, folder_or_repo_id)`
on the same (4-bit) base.

Usage:

```bash
accelerate launch recipes/qst.py                                   # NF4 base on a GPU, fp32 base on CPU
accelerate launch recipes/qst.py --quantization nf4                # NF4 base on CPU too (slow fallback)
accelerate launch recipes/qst.py --reduction_factor 8 --downsample avgpool
accelerate launch recipes/qst.py --dataset_name_or_path my_pairs.jsonl --n_eval 32
accelerate launch recipes/qst.py --model_name_or_path tiny --max_steps 4  # smoke run
accelerate launch recipes/qst.py --resume_from_checkpoint latest   # continue a killed run
python recipes/qst.py --help                                       # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.adapters.qst.training import QSTArguments
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "qst"
# QST side networks load with `hf_methods.adapters.qst.QSTModel.from_pretrained`, not with `peft`
LIBRARY_NAME = "hf-methods"


def main(argv: list[str] | None = None):
    from hf_methods.adapters.qst import get_qst_model
    from hf_methods.adapters.qst.training import (
        evaluate,
        load_base_model,
        make_optimizer,
        make_scheduler,
        train_step,
        word_problem_data,
    )
    from hf_methods.common.data import load_user_dataset
    from hf_methods.common.instruct import collate_sft, prompt_answer_pairs, split_pairs, user_sft_dataset

    args = parse_recipe_args(QSTArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)

    # the data first: a bad data file fails before the model is loaded
    rows = None
    if args.dataset_name_or_path:
        rows = prompt_answer_pairs(load_user_dataset(args.dataset_name_or_path))
    base, tokenizer, quant, hub_id = load_base_model(args.model_name_or_path, args.quantization, args.double_quant)
    model = get_qst_model(base, args.qst_config(base_model_name_or_path=hub_id or args.model_name_or_path))
    trainable, total = model.get_nb_trainable_parameters()
    runner.print(
        f"[{SLUG}] base: {args.model_name_or_path} ({quant}); trainable {trainable:,d} of {total:,d} parameters"
    )

    if rows is None:
        train_ds, eval_ds, problems = word_problem_data(tokenizer, args.n_train, args.n_eval, args.max_length)
        n_accuracy = args.n_accuracy
    else:
        train_pairs, eval_pairs = split_pairs(rows, args.n_train, args.n_eval)
        train_ds = user_sft_dataset(train_pairs, tokenizer, args.max_length)
        eval_ds = user_sft_dataset(eval_pairs, tokenizer, args.max_length)
        problems, n_accuracy = None, 0  # exact match is the word problems' integer answers only
    collate = collate_sft(tokenizer.pad_token_id)
    loader = torch.utils.data.DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, collate_fn=collate)
    eval_loader = torch.utils.data.DataLoader(eval_ds, batch_size=args.batch_size, collate_fn=collate)
    optimizer = make_optimizer(model, args.learning_rate, adam_beta2=args.adam_beta2, weight_decay=args.weight_decay)
    scheduler = make_scheduler(optimizer, args.lr_scheduler_type, args.max_steps, args.warmup_steps)
    # QSTModel.state_dict() is the side network only, so checkpoints stay small
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(scheduler)  # stepped once per optimizer step; restored on resume
    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        lr = scheduler.get_last_lr()[0]
        loss = train_step(
            model, batch, optimizer, scheduler, max_grad_norm=args.max_grad_norm, accelerator=runner.accelerator
        )
        runner.log({"train/loss": loss, "train/lr": lr}, step)
        if args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.max_steps:
            runner.log(evaluate(model, eval_loader), step, force=True)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    metrics = evaluate(unwrapped, eval_loader, problems, tokenizer, n_accuracy)
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(
        model,
        metrics=metrics,
        tokenizer=tokenizer,
        base_model=hub_id,
        card_kwargs={"library_name": LIBRARY_NAME, "pipeline_tag": "text-generation", "extra_tags": [f"base-{quant}"]},
    )
    return metrics


if __name__ == "__main__":
    main()
