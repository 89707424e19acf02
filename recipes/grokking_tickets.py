"""Find a grokking ticket and retrain it on modular addition (P59 `grokking_tickets`, Minegishi et al., TMLR 2025).

The recipe follows the official procedure (`gouki510/Grokking-Tickets`, `prune.py`) on the quadratic network that
groks within a CPU budget (Gromov, 2023; Doshi et al., 2023): every pair (a, b) mod p (`--modulus 97`) with its sum,
a seeded `--train_fraction 0.3` of them for training; the MLP f(a, b) = W₂ (W₁ [e_a; e_b])² with `--hidden_size 500`
and no biases, trained full batch with AdamW (`--learning_rate 1e-2`, β = (0.9, 0.98), `--weight_decay 0.3`) on the
squared error to the one-hot answer.

1. the dense network is trained for `--dense_steps` (500) and its final weights are pruned by global magnitude,
   keeping `--keep` of them. The dense run must be past its transition: at the defaults its test accuracy reaches
   100% near step 240, yet a ticket pruned at step 300 stalls below 80% test accuracy (seed 0), while one pruned at
   step 400-500 reaches 95% in 70-80 steps;
2. the kept weights are rewound to the initial weights and retrained for `--max_steps` with the mask fixed
   (`--mask magnitude`); `--mask random` retrains a random mask with the ticket's per-layer densities instead, and
   `--mask dense` the unpruned network from the same initial weights (the baselines).

The test accuracy is logged every `--log_every` steps and `eval/steps_to_threshold` is the first logged step at
`--threshold` (0.95) test accuracy (-1 if never). The masks are saved to `<output_dir>/masks.safetensors` (and are
read back from there on resume); the model is saved with the masks baked in, so it loads with
`AutoModelForSequenceClassification.from_pretrained(out, trust_remote_code=True)`. The default run (500 dense steps,
200 ticket steps) takes about 35 s on an idle CPU core; on seed 0 the dense network reaches 95% test accuracy after
190 steps, the ticket after 70.

Usage:

```bash
accelerate launch recipes/grokking_tickets.py                                    # the grokking ticket
accelerate launch recipes/grokking_tickets.py --mask dense --output_dir outputs/grokking_tickets-dense
accelerate launch recipes/grokking_tickets.py --mask random --output_dir outputs/grokking_tickets-random
accelerate launch recipes/grokking_tickets.py --keep 0.3 --weight_decay 0                  # other pruning rates
accelerate launch recipes/grokking_tickets.py --resume_from_checkpoint latest              # continue a killed run
python recipes/grokking_tickets.py --help                                                # every knob
```
"""

from __future__ import annotations

from pathlib import Path

import torch

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.common.masks import MASKS_FILE, bake, load_masks, save_masks, sparsity_stats
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.grokking_tickets.callback import full_batch_accuracy
from hf_methods.training.grokking_tickets.tickets import grokking_ticket_masks, random_masks_like, rewind_ticket
from hf_methods.training.grokking_tickets.training import GrokkingTicketsArguments, make_optimizer, train_full_batch

SLUG = "grokking_tickets"

__all__ = ["GrokkingTicketsArguments", "main"]


class FirstStepAtThreshold:
    """The first logged step at the test-accuracy threshold (-1 until then), checkpointed with the run."""

    def __init__(self):
        self.step = -1

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])


def ticket_masks(args: GrokkingTicketsArguments, split, initial, runner: RecipeRunner) -> dict | None:
    """The masks of `--mask`: found by training the dense network (deterministic given `--seed`), or read back from
    `<output_dir>/masks.safetensors` when resuming; None for `--mask dense`."""
    if args.mask == "dense":
        return None
    saved = Path(args.output_dir) / MASKS_FILE
    if args.resume_from_checkpoint and saved.is_file():
        runner.print(f"[{SLUG}] masks read from {saved}")
        return load_masks(saved)
    dense = args.build_model()
    dense.load_state_dict(initial.state_dict())
    result = train_full_batch(
        dense,
        split,
        max_steps=args.dense_steps,
        lr=args.learning_rate,
        weight_decay=args.weight_decay,
        betas=(args.adam_beta1, args.adam_beta2),
        eval_every=10,
        threshold=args.threshold,
    )
    runner.print(
        f"[{SLUG}] dense run: {args.dense_steps} steps, test accuracy {result['final_test_accuracy']:.3f}, "
        f"{args.threshold:.0%} reached at step {result['steps_to_threshold']}"
    )
    masks = grokking_ticket_masks(dense, args.keep, scope=args.scope)
    if args.mask == "random":
        masks = random_masks_like(masks, seed=args.seed)
    if runner.is_main_process:
        save_masks(masks, args.output_dir)
    return masks


def main(argv: list[str] | None = None):
    args = parse_recipe_args(GrokkingTicketsArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    split = args.split()
    initial = args.build_model()
    runner.print(
        f"[{SLUG}] {args.operation} mod {args.modulus}: {len(split.y_train)} training / {len(split.y_test)} test pairs"
    )
    masks = ticket_masks(args, split, initial, runner)
    model = initial if masks is None else rewind_ticket(initial, masks)
    if masks is not None:
        density = {k: round(1.0 - v, 4) for k, v in sparsity_stats(masks).items()}
        runner.print(f"[{SLUG}] {args.mask} mask, kept fraction per layer: {density}")

    # full batch: one batch per epoch holds every training pair
    dataset = TensorDictDataset(input_ids=split.x_train, labels=split.y_train)
    loader = torch.utils.data.DataLoader(dataset, batch_size=len(dataset), shuffle=True, collate_fn=collate_batch)
    optimizer = make_optimizer(model, args.learning_rate, args.weight_decay, (args.adam_beta1, args.adam_beta2))
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    first = FirstStepAtThreshold()
    runner.register_for_checkpointing(first)

    start = runner.resume()
    model.train()
    x_test, y_test = split.x_test.to(device), split.y_test.to(device)
    for step, batch in runner.steps(loader, start):
        loss = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        logs = {"train/loss": loss}
        if args.log_every and ((step + 1) % args.log_every == 0 or step + 1 == args.max_steps):
            acc = full_batch_accuracy(runner.accelerator.unwrap_model(model), x_test, y_test)
            logs["eval/test_accuracy"] = acc
            if first.step < 0 and acc >= args.threshold:
                first.step = step + 1
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    metrics = {
        "eval/test_accuracy": full_batch_accuracy(unwrapped, x_test, y_test),
        "eval/train_accuracy": full_batch_accuracy(unwrapped, split.x_train.to(device), split.y_train.to(device)),
        "eval/steps_to_threshold": first.step,
    }
    if masks is not None:
        metrics["eval/kept_fraction"] = 1.0 - sparsity_stats(masks)["global"]
    runner.log(metrics, args.max_steps, force=True)
    bake(unwrapped)  # plain weights (pruned ones are zeros): the saved model needs no hf-methods code
    runner.finish(unwrapped, metrics=metrics, card_kwargs={"pipeline_tag": "text-classification"})
    return metrics


if __name__ == "__main__":
    main()
