"""Federated lottery tickets with HideNseek on non-IID digits (P14 `hidenseek`, Vallapuram et al., 2022).

The server prunes a freshly initialised MLP 64-256-256-10 (Kaiming-normal weights, zero biases, ReLU) once with
iterative SynFlow to `--density` (no data), then freezes the weights. scikit-learn's digits are split into a test
set, a server-side validation part and `--num_clients` clients holding `--classes_per_client` label shards each.
Every round (one recipe step) each client starts from the global scores, trains its sign supermask
w = m ⊙ sign(s) ⊙ |w₀| for `--local_epochs` epochs, and uploads one bit per kept weight; the server averages the
votes (`HideNseekAggregator`, the rule `HideNseekStrategy` runs on a Flower server). The output folder holds the
global model with its effective weights baked in, a plain `MLPForImageClassification` checkpoint that loads
without hf-methods. Checkpoints hold the global scores, so a killed run resumes where it stopped. The default run
reaches about 0.67 global test accuracy (dense FedAvg on the same split: about 0.96; see
`benchmarks/claims/hidenseek.py`) while each client uploads 16,896 bits per round.

Usage:

```bash
accelerate launch recipes/hidenseek.py                                  # 30 rounds, density 0.2 (~25 s, 1 thread)
accelerate launch recipes/hidenseek.py --density 0.05 --synflow_iterations 100
accelerate launch recipes/hidenseek.py --upload sign                    # deterministic sign votes
accelerate launch recipes/hidenseek.py --resume_from_checkpoint latest  # continue a killed run
python recipes/hidenseek.py --help                                      # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.hidenseek.aggregation import HideNseekAggregator
from hf_methods.training.hidenseek.trainer import HideNseekFederatedTrainer
from hf_methods.training.hidenseek.training import HideNseekArguments, digits_mlp, federated_digits

SLUG = "hidenseek"

__all__ = ["HideNseekArguments", "main"]


class _Rounds(torch.utils.data.DataLoader):
    """The round numbers as a loader, so `RecipeRunner.steps` drives one federated round per step."""

    def set_epoch(self, epoch: int) -> None:  # nothing is shuffled: round t is always round t
        pass


def main(argv: list[str] | None = None):
    args = parse_recipe_args(HideNseekArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    # the whole federation runs in this process (a Flower deployment would run HideNseekStrategy instead)
    data = federated_digits(
        args.seed,
        num_clients=args.num_clients,
        classes_per_client=args.classes_per_client,
        validation_size=args.validation_size,
        test_size=args.test_size,
    )
    model = digits_mlp(args.seed, args.hidden(), args.hidden_act)
    fl = HideNseekFederatedTrainer(
        model,
        data.clients,
        density=args.density,
        rounds=args.max_steps,
        local_epochs=args.local_epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        upload=args.upload,
        synflow_iterations=args.synflow_iterations,
        aggregator=HideNseekAggregator(weighting=args.weighting),
        seed=args.seed,
    )
    runner.print(
        f"[{SLUG}] {len(data.clients)} clients ({sum(len(c[1]) for c in data.clients)} images), "
        f"{len(data.y_val)} server validation / {len(data.y_test)} test images; SynFlow kept {fl.kept_weights} "
        f"weights ({fl.density:.1%})"
    )
    runner.register_for_checkpointing(fl)  # global scores, rounds done, bits uploaded
    start = runner.resume()
    rounds = _Rounds(list(range(args.max_steps)), batch_size=1)
    for step, _ in runner.steps(rounds, start):
        fl.fit(1)  # round step + 1
        logs = {"train/upload_bits": fl.upload_bits[-1]}
        if args.log_every and (step % args.log_every == 0 or step + 1 == args.max_steps):
            logs["eval/val_accuracy"] = accuracy(fl.global_model(), data.x_val, data.y_val)
        runner.log(logs, step)
        runner.maybe_checkpoint(step)

    dense = fl.export_dense()
    participants = len(data.clients)
    metrics = {
        "eval/test_accuracy": accuracy(dense, data.x_test, data.y_test),
        "eval/val_accuracy": accuracy(dense, data.x_val, data.y_val),
        "eval/kept_weights": fl.kept_weights,
        "eval/upload_bits_per_client_round": fl.upload_bits[-1] / participants,
        "eval/upload_bits_total": sum(fl.upload_bits),
    }
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(dense, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
