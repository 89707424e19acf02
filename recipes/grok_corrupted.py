"""Grokking with corrupted labels, read through the Fourier IPR of the neurons (P48 `grok_corrupted`, Doshi et al.).

The recipe trains the setting of the official code (`d-doshi/Grokking`): every pair (a, b) mod p (`--modulus 97`)
with its sum, a seeded `--train_fraction 0.5` of them for training, of which `--noise 0.35` get a uniform random
label; the bias-free quadratic MLP f(a, b) = W₂ (W₁ [e_a; e_b])² (`--hidden_size 500`) trained full batch with AdamW
(`--learning_rate 1e-2`, β = (0.9, 0.98), `--weight_decay 0`) on the squared error to the one-hot label. Every
`--log_every` steps it logs the loss, the accuracies on all / corrupted / clean training pairs and on the test pairs,
and the mean Fourier IPR of the neurons. At the end it removes the `--prune 300` lowest-IPR neurons and writes to
`<output_dir>`: `analysis.json` (per-neuron IPRs, accuracies before and after pruning, the pruning curve, the training
trace), `ipr.png`, `pruning.png`, `training.png`, the trained (unpruned) model, `metrics.json` and the card.

Without weight decay the network memorises the corrupted labels and generalises; pruning removes the memorisation.
With `--weight_decay 5` it unlearns the corrupted labels (corrupted-train accuracy falls) while generalising. The
default run (500 steps) takes about 45 s on an idle CPU core.

Usage:

```bash
accelerate launch recipes/grok_corrupted.py
accelerate launch recipes/grok_corrupted.py --weight_decay 5 --output_dir outputs/grok_corrupted-wd5
accelerate launch recipes/grok_corrupted.py --resume_from_checkpoint latest   # continue a killed run
python recipes/grok_corrupted.py --help                                       # every knob
```
"""

from __future__ import annotations

import dataclasses
import json

import torch

from hf_methods.analysis.grok_corrupted.analysis import IPRTrace, pruning_curve, split_accuracies
from hf_methods.analysis.grok_corrupted.ipr import fourier_ipr
from hf_methods.analysis.grok_corrupted.prune import prune_low_ipr_neurons
from hf_methods.analysis.grok_corrupted.training import GrokCorruptedArguments
from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.grokking_tickets.training import make_optimizer

SLUG = "grok_corrupted"

__all__ = ["GrokCorruptedArguments", "main"]


class CheckpointedTrace:
    """The [`IPRTrace`] of the run, saved with each checkpoint so a resumed run ends with the whole curve."""

    def __init__(self):
        self.trace = IPRTrace()

    def state_dict(self) -> dict:
        return {"trace": dataclasses.asdict(self.trace)}

    def load_state_dict(self, state: dict) -> None:
        self.trace = IPRTrace(**state["trace"])


def main(argv: list[str] | None = None):
    args = parse_recipe_args(GrokCorruptedArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    split = args.split()
    model = args.build_model()
    runner.print(
        f"[{SLUG}] {args.operation} mod {args.modulus}: {len(split.y_train)} training pairs "
        f"({split.num_corrupted} corrupted), {len(split.y_test)} test pairs"
    )
    # full batch: one batch per epoch holds every training pair
    dataset = TensorDictDataset(input_ids=split.x_train, labels=split.y_train)
    loader = torch.utils.data.DataLoader(dataset, batch_size=len(dataset), shuffle=True, collate_fn=collate_batch)
    optimizer = make_optimizer(model, args.learning_rate, args.weight_decay, (args.adam_beta1, args.adam_beta2))
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    recorded = CheckpointedTrace()
    runner.register_for_checkpointing(recorded)
    ipr_kwargs = {"r": args.ipr_exponent}

    start = runner.resume()
    if start == 0:
        recorded.trace.measure(runner.accelerator.unwrap_model(model), 0, split, **ipr_kwargs)
    model.train()
    for step, batch in runner.steps(loader, start):
        loss = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        logs = {"train/loss": loss}
        if args.log_every and ((step + 1) % args.log_every == 0 or step + 1 == args.max_steps):
            measured = recorded.trace.measure(runner.accelerator.unwrap_model(model), step + 1, split, **ipr_kwargs)
            logs.update({f"eval/{key}": value for key, value in measured.items()})
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    ipr = fourier_ipr(unwrapped, r=args.ipr_exponent)
    pruned = prune_low_ipr_neurons(unwrapped, args.prune, ipr=ipr)
    before, after = split_accuracies(unwrapped, split), split_accuracies(pruned, split)
    curve = pruning_curve(unwrapped, split, ipr=ipr)
    metrics = {f"eval/{name}_accuracy": value for name, value in dataclasses.asdict(before).items()}
    metrics.update({f"eval/pruned/{name}_accuracy": value for name, value in dataclasses.asdict(after).items()})
    metrics.update({"eval/mean_ipr": ipr.mean, "eval/fraction_periodic": ipr.fraction_periodic})
    runner.log(metrics, args.max_steps, force=True)
    if runner.is_main_process:
        runner.output_dir.mkdir(parents=True, exist_ok=True)
        analysis = {
            "pruned_neurons": args.prune,
            "before": dataclasses.asdict(before),
            "after": dataclasses.asdict(after),
            "ipr": dataclasses.asdict(ipr),
            "pruning_curve": dataclasses.asdict(curve),
            "trace": dataclasses.asdict(recorded.trace),
        }
        (runner.output_dir / "analysis.json").write_text(json.dumps(analysis, indent=1) + "\n")
        ipr.save_plot(runner.output_dir / "ipr.png")
        curve.save_plot(runner.output_dir / "pruning.png")
        recorded.trace.save_plot(runner.output_dir / "training.png")
    runner.finish(unwrapped, metrics=metrics, card_kwargs={"pipeline_tag": "text-classification"})
    return metrics


if __name__ == "__main__":
    main()
