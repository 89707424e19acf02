"""Federated training of an MLP on digits clients with FedAU's aggregation (P41 `fedau`, Wang & Ji, ICLR 2024).

scikit-learn's 8×8 digits (1437 train / 360 test images) divided among `--num_clients` clients by a Dirichlet label
split (`--data_alpha 0.1`: each client holds a few classes); each client participates in a round with its own,
unknown probability p_n, tied to its labels as in the official experiments (`IBM/fedau`, `util/util.py`: a class
popularity m ~ Dir(`--participation_alpha`), p_n = max(`--participation_min`, `--participation_mean` · C · q_nᵀm)),
following a Bernoulli, Markov or cyclic pattern. A participating client runs `--local_steps` SGD steps (batch 16,
lr 0.1, halved every `--lr_decay_every` rounds after `--lr_decay_start`, as the official defaults) from the global
model; the server aggregates the round with `--aggregator`: FedAU (`fedau`, with optional cutoff `--cutoff`), the
mean over participants (`fedavg`), the sum over all clients with weight 1 (`average_all`) or 1/p_n (`known_prob`),
MIFA or FedVARP. The rounds run in this process, clients one after another, through
`hf_methods.common.federated.simulate_federated` (one recipe step is one round); the aggregator's state is saved
with each checkpoint, so a killed and resumed run ends with the same model. The output folder holds the global
model (`save_pretrained`), `aggregator_state.json` (FedAU: each client's participation history and current weight),
the clients' p_n and the card. The default run takes well under a minute on one CPU core.

Usage:

```bash
accelerate launch recipes/fedau.py                                    # FedAU, 40 clients, 1000 rounds
accelerate launch recipes/fedau.py --aggregator fedavg --output_dir outputs/fedau-fedavg
accelerate launch recipes/fedau.py --participation markov --markov_persistence 0.8 --cutoff 50
accelerate launch recipes/fedau.py --resume_from_checkpoint latest     # continue a killed run
python recipes/fedau.py --help                                        # every knob
```

On a Flower server the same rule is `hf_methods.training.fedau.flower.FedAUStrategy`.
"""

from __future__ import annotations

import copy
import json

import torch

from hf_methods.common.evaluation import accuracy
from hf_methods.common.federated import load_parameters, model_parameters
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.fedau.aggregation import FedAUAggregator
from hf_methods.training.fedau.training import FedAUArguments, digits_mlp, mlp_local_update, run_rounds

SLUG = "fedau"

__all__ = ["FedAUArguments", "main"]


class _Checkpointed:
    """The aggregator as accelerate's `register_for_checkpointing` wants it (`state_dict` / `load_state_dict`)."""

    def __init__(self, aggregator):
        self.aggregator = aggregator

    def state_dict(self):
        return {"state": self.aggregator.state_dict()}

    def load_state_dict(self, state):
        self.aggregator.load_state_dict(state["state"])


def _json_state(aggregator) -> dict | None:
    try:
        return json.loads(json.dumps(aggregator.state_dict()))
    except TypeError:  # MIFA / FedVARP keep tensors: they live in the checkpoints only
        return None


def main(argv: list[str] | None = None):
    args = parse_recipe_args(FedAUArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)

    # everything depends on the seed only, so every process builds (and runs) the same federation
    federation = args.build_federation()
    participation = args.build_participation(federation.probabilities)
    aggregator = args.build_aggregator(federation.probabilities)
    sizes = [len(y) for _, y in federation.clients]
    runner.print(
        f"[{SLUG}] {args.num_clients} clients ({min(sizes)}–{max(sizes)} images each), p_n in "
        f"[{federation.probabilities.min():.3f}, {federation.probabilities.max():.3f}] "
        f"(mean {federation.probabilities.mean():.3f}), {args.participation} participation, {args.aggregator}"
    )

    model = digits_mlp(args.hidden_size)
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    worker = copy.deepcopy(model)  # the clients' scratch copy
    local_update = mlp_local_update(
        worker,
        names,
        local_steps=args.local_steps,
        batch_size=args.local_batch_size,
        lr=args.local_lr_at,
        seed=args.seed,
    )
    model = runner.prepare(model)
    runner.register_for_checkpointing(_Checkpointed(aggregator))
    global_model = runner.accelerator.unwrap_model(model)

    # one round per step: a one-item loader gives the runner its step counter, progress bar and resume
    loader = runner.prepare(torch.utils.data.DataLoader([0], batch_size=1))
    start = runner.resume()
    for step, _ in runner.steps(loader, start):
        server_round = step + 1
        params = model_parameters(global_model, names)
        run = run_rounds(
            params,
            federation.clients,
            local_update,
            aggregator,
            participation[step : step + 1],
            first_round=server_round,
        )
        load_parameters(global_model, names, run.parameters)
        logs = {"train/participants": len(run.participants[0]), "train/local_lr": args.local_lr_at(server_round)}
        if isinstance(aggregator, FedAUAggregator) and aggregator.last_weights:
            logs["train/mean_weight"] = sum(aggregator.last_weights.values()) / len(aggregator.last_weights)
        if args.eval_every and server_round % args.eval_every == 0:
            logs["eval/accuracy"] = accuracy(global_model, federation.x_test, federation.y_test)
        runner.log(logs, step, force="eval/accuracy" in logs)
        runner.maybe_checkpoint(step)

    metrics = {
        "eval/accuracy": accuracy(global_model, federation.x_test, federation.y_test),
        "eval/train_accuracy": accuracy(
            global_model, torch.cat([x for x, _ in federation.clients]), torch.cat([y for _, y in federation.clients])
        ),
    }
    runner.log(metrics, args.max_steps, force=True)
    if runner.is_main_process:
        runner.output_dir.mkdir(parents=True, exist_ok=True)
        summary = {
            "aggregator": type(aggregator).__name__,
            "state": _json_state(aggregator),
            "participation_probabilities": [float(p) for p in federation.probabilities],
            "client_sizes": sizes,
        }
        if isinstance(aggregator, FedAUAggregator):
            summary["weights"] = {str(n): aggregator.weight(n) for n in range(args.num_clients)}
        (runner.output_dir / "aggregator_state.json").write_text(json.dumps(summary, indent=1) + "\n")
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
