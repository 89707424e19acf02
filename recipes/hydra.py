"""Recipe for P09 `hydra`: train Medusa / Hydra / Hydra++ draft heads on a frozen causal LM from self-distilled data.

Ankner et al., "Hydra: Sequentially-Dependent Draft Heads for Medusa Decoding" (COLM 2024).

1. Self-distillation (cached with `datasets` under `--data_dir`, default `<output_dir>/checkpoints/distilled-data`,
   which is training state and never pushed; reused when the data settings match): prompts are the first
   `--prompt_tokens` tokens of the texts of `--dataset_name_or_path` (a `text` column) or, by default, of paragraphs
   of the offline `--corpora`; the base (`--model_name_or_path`, default the offline SmolLM2-135M-Instruct) continues
   each with `--new_tokens` greedy tokens, and the base's last hidden states of every sequence are stored with it
   (the heads then train without running the base again).
2. Training: only the heads learn; the teacher logits of the distillation loss are `lm_head(hidden_states)`. AdamW,
   linear warm-up then `--lr_scheduler_type` (cosine, as the official recipe) from `transformers.get_scheduler`.
3. Evaluation: per-head top-1 agreement with the base's greedy continuation on held-out sequences, and tokens per
   base forward of lossless tree decoding on a few held-out prompts.

The arguments (`HydraArguments`, whose `heads_kwargs()` builds the heads' configuration in one call), the data, the
training step and the evaluation live in `hf_methods.generation.hydra.training`; this file is the `accelerate launch`
entry point around them.

Usage:

```bash
accelerate launch recipes/hydra.py --head_kind hydra++                      # SmolLM2-135M, offline
accelerate launch recipes/hydra.py --head_kind medusa --data_dir outputs/hydra-data   # share the distilled data
accelerate launch recipes/hydra.py --model_name_or_path tiny --max_steps 4 --n_sequences 8 --n_eval 2   # smoke
accelerate launch recipes/hydra.py --head_kind hydra --max_steps 400 --share_lm_head false   # official own heads
accelerate launch recipes/hydra.py --head_kind hydra++ --resume_from_checkpoint latest
accelerate launch recipes/hydra.py --push_to_hub --hub_model_id me/smollm2-hydra-heads
```

The output folder holds the heads only, with `custom_generate/generate.py`. The heads reference their base: the frozen
copies of its embedding and lm_head are not saved (`--save_base_weights` keeps them), and loading takes them from the
base again: `HydraHeads.from_pretrained(folder, base_model=base)`, or
`base.generate(ids, custom_generate=folder, trust_remote_code=True, draft_heads=folder)` (hf-methods installed).
"""

from __future__ import annotations

import os

import torch

from hf_methods.generation.hydra.training import (
    HydraArguments,
    dataset_tensors,
    evaluate,
    head_training_step,
    load_base,
    make_optimizer,
    make_scheduler,
    self_distill,
)
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args

SLUG = "hydra"


def main(argv=None):
    from hf_methods.generation.hydra import HydraHeads

    args = parse_recipe_args(HydraArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    base, tokenizer, base_name = load_base(args.model_name_or_path)
    with runner.accelerator.main_process_first():
        dataset = self_distill(args, base, tokenizer, args.distilled_data_dir, runner.is_main_process)
    split = dataset.train_test_split(test_size=args.n_eval, shuffle=False) if args.n_eval else {"train": dataset}
    train_ids, train_labels, train_hidden = dataset_tensors(split["train"])
    eval_data = dataset_tensors(split["test"]) if args.n_eval else (train_ids[:0], train_labels[:0], train_hidden[:0])

    torch.manual_seed(args.seed)
    heads = HydraHeads.from_base(base, **args.heads_kwargs())
    heads.config.base_model_name_or_path = base_name  # None (the tiny smoke base): saved standalone
    optimizer = make_optimizer(heads, args.learning_rate, args.resolved_weight_decay)
    scheduler = make_scheduler(optimizer, args.max_steps, args.warmup_steps, args.lr_scheduler_type)
    train = torch.utils.data.TensorDataset(train_ids, train_labels, train_hidden)
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=True)
    # prepared, the scheduler is saved and restored with every checkpoint (resume continues the same schedule)
    heads, optimizer, loader, scheduler = runner.prepare(heads, optimizer, loader, scheduler)
    start = runner.resume()
    lm_head = base.get_output_embeddings()
    heads.train()
    for step, (ids, labels, hidden) in runner.steps(loader, start):
        out = head_training_step(heads, lm_head, ids, labels, hidden)
        runner.accelerator.backward(out.loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        logged = {"train/loss": out.loss, "train/lr": scheduler.get_last_lr()[0]}
        logged.update({f"train/head{k}_top1": a for k, a in enumerate(out.head_accuracy)})
        runner.log(logged, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(heads)
    prompt_source = args.dataset_name_or_path or args.corpora
    metrics = {}
    if runner.is_main_process:
        metrics = evaluate(base, unwrapped, eval_data, args.prompt_tokens, args.eval_prompts, args.eval_new_tokens)
    runner.finish(
        heads,
        metrics=metrics,
        base_model=base_name,
        datasets=[f"self-distilled from {base_name or args.model_name_or_path} on {prompt_source}"],
        tokenizer=None,
    )
    return metrics


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
