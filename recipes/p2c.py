"""Train a classifier with auxiliary preference heads on a simulated annotated task (P60 `p2c`, Kim, Shin & Kang,
ICML 2023, "Prefer to Classify").

No annotated text data set with every annotator's vote ships offline, so the recipe simulates one (see
`hf_methods.training.p2c.training`): 200 labelled examples of 20 `make_classification` features, 5 simulated
annotators voting with probability σ(s) for a latent score s, majority-vote labels and vote-fraction soft labels;
each example is paired with 10 partners of the same label (2000 pairs) whose extractive preference says which member
got the larger vote share. The model is `P2CForSequenceClassification` on a ReLU MLP encoder with 3 preference heads,
trained with the P2C loss (λ_cls = λ_pref = 1, λ_cons = 1 with the official extractive soft-label consistency,
λ_div = 0.1 subtracted) with Adam at a constant rate and no weight decay, as the official code does. At the end the
recipe reports the test accuracy against the consensus label 1[s > 0] and against the test items' majority votes,
and the preference heads' pair accuracy. The default run takes about 15 s on one CPU core.

For text, build the model around any encoder (`P2CForSequenceClassification.from_backbone(AutoModel...)`) and train
it with `P2CTrainer` on rows `input_ids`, `pair_input_ids`, `labels`, `preference` (see the method's usage).

Usage:

```bash
accelerate launch recipes/p2c.py                                   # P2C, the default run
accelerate launch recipes/p2c.py --objective ce --output_dir outputs/p2c-ce          # the cross-entropy baseline
accelerate launch recipes/p2c.py --objective soft_label --output_dir outputs/p2c-soft
accelerate launch recipes/p2c.py --consistency preference --lambda_cons 0.1 --lambda_div 1.0
accelerate launch recipes/p2c.py --resume_from_checkpoint latest   # continue a killed run
python recipes/p2c.py --help                                       # every knob
```
"""

from __future__ import annotations

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.p2c.training import (
    P2CArguments,
    PairDataset,
    collate_batch,
    evaluate,
    evaluation_pairs_for,
    objective_loss,
    p2c_mlp,
    sample_pairs,
)

SLUG = "p2c"

__all__ = ["P2CArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(P2CArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    # the task and the pairs depend on the seed only, so every process builds the same data
    task = args.build_task()
    pairs = sample_pairs(task.labels, args.pairs_per_example, torch.Generator().manual_seed(20_000 + args.seed))
    dataset = PairDataset(task.x, task.votes, task.labels, pairs)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    runner.print(
        f"[{SLUG}] {len(task.labels)} labelled examples, {len(dataset)} pairs "
        f"({(dataset.columns['preference'] == 2).float().mean().item():.0%} ties), {len(task.test_labels)} test items; "
        f"{task.majority_error:.1%} of the majority labels disagree with the consensus"
    )

    model = p2c_mlp(
        args.num_features, args.hidden_size, args.num_layers, args.num_preference_heads, args.classifier_dropout
    )
    loss_fn = args.build_loss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        loss, terms = objective_loss(args.objective, loss_fn, model, batch)
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        runner.log({f"train/{name}": value for name, value in terms.items()}, step)
        runner.maybe_checkpoint(step)

    # every process holds the same weights and the whole (small) test set: evaluate the unwrapped model locally
    unwrapped = runner.accelerator.unwrap_model(model)
    task_on_device = type(task)(**{k: v.to(device) for k, v in vars(task).items()})
    results = evaluate(unwrapped, task_on_device, evaluation_pairs_for(task, 2000, args.seed).to(device))
    metrics = {f"eval/{name}": value for name, value in results.items()}
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics, card_kwargs={"pipeline_tag": "text-classification"})
    return metrics


if __name__ == "__main__":
    main()
