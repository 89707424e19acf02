"""Search a digits cell with ENAS, ENAS + memory buffer, or random search (P47 `enas_memory`, Adam & Lorraine, 2019).

scikit-learn's 8×8 digits (1150 train / 287 validation / 360 test images), a feed-forward ENAS cell of `--num_nodes`
nodes choosing among `--ops` (each node reads one earlier node through a shared `Linear` and applies an activation),
shared weights trained with SGD on one sampled cell per minibatch, and every `--controller_every` steps a controller
phase of `--controller_steps` REINFORCE updates (reward: the sampled cell's accuracy on a validation minibatch). With
`--variant enas_memory` the controller is also trained on a memory buffer of past architectures (replayed
REINFORCE + reconstruction of their decisions from its hidden state); `--variant random` samples cells uniformly and
trains no controller. The controller, its optimizer, the baseline and the memory buffer are checkpointed with the
shared weights, so a killed run resumes where it stopped. At the end the best of `--num_candidates` sampled cells
(by shared-weight validation accuracy) is saved as a standalone `ENASCellForImageClassification` (`from_pretrained`
loads it), the controller next to it in `controller/`, and the hidden-state probe's Spearman ρ is reported. The
default run takes well under a minute on one CPU core.

Usage:

```bash
accelerate launch recipes/enas_memory.py                                   # ENAS + memory buffer (default)
accelerate launch recipes/enas_memory.py --variant enas --output_dir outputs/enas
accelerate launch recipes/enas_memory.py --variant random --output_dir outputs/enas-random
accelerate launch recipes/enas_memory.py --resume_from_checkpoint latest   # continue a killed run
python recipes/enas_memory.py --help                                       # every knob
```
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hf_methods.common.batches import TensorDictDataset, collate_batch
from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.training.enas_memory.analysis import hidden_state_graph_correlation
from hf_methods.training.enas_memory.training import ENASMemoryArguments, build_search, search_digits

SLUG = "enas_memory"

__all__ = ["ENASMemoryArguments", "main"]


def main(argv: list[str] | None = None):
    args = parse_recipe_args(ENASMemoryArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    device = runner.accelerator.device

    # the split depends on the seed only, so every process builds the same data
    data = search_digits(args.seed, args.validation_size, args.test_size)
    dataset = TensorDictDataset(pixel_values=data.train[0], labels=data.train[1])
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch)
    search = build_search(
        args.variant,
        seed=args.seed,
        num_nodes=args.num_nodes,
        ops=args.op_list,
        cell_width=args.cell_width,
        controller_hidden_size=args.controller_hidden_size,
        memory_buffer_size=args.memory_buffer_size,
        controller_learning_rate=args.controller_learning_rate,
        entropy_weight=args.entropy_weight,
        baseline_decay=args.baseline_decay,
        replay_batch_size=args.replay_batch_size,
        replay_weight=args.replay_weight,
        reconstruction_weight=args.reconstruction_weight,
    )
    runner.print(
        f"[{SLUG}] {args.variant}: {len(dataset)} train / {len(data.validation[1])} validation / "
        f"{len(data.test[1])} test digits; {args.num_nodes} nodes, ops {args.op_list}"
    )
    supernet = search.supernet
    optimizer = torch.optim.SGD(
        supernet.parameters(), lr=args.learning_rate, momentum=args.momentum, weight_decay=args.weight_decay
    )
    model, optimizer, loader = runner.prepare(supernet, optimizer, loader)
    # the controller, its Adam state, the baseline, the memory buffer and the sampling generator
    runner.register_for_checkpointing(search.state)
    x_val, y_val = (t.to(device) for t in data.validation)
    reward_fn = search.reward_function(x_val, y_val, batch_size=args.reward_batch_size)

    start = runner.resume()
    model.train()
    controller_stats: dict[str, float] = {}
    for step, batch in runner.steps(loader, start):
        # child phase; every process draws the same cell (same seeded generator), so data parallelism stays in sync
        supernet.set_architecture(search.sample_architecture())
        loss = F.cross_entropy(model(pixel_values=batch["pixel_values"]).logits, batch["labels"])
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        runner.accelerator.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        if (step + 1) % args.controller_every == 0:  # controller phase
            steps = [search.controller_step(reward_fn) for _ in range(args.controller_steps)]
            steps = [s for s in steps if s]
            if steps:
                controller_stats = {f"controller/{k}": sum(s[k] for s in steps) / len(steps) for k in steps[0]}
        runner.log({"train/loss": loss, **controller_stats}, step)
        runner.maybe_checkpoint(step)

    architecture, shared_accuracy = search.derive((x_val, y_val), args.num_candidates)
    best = search.supernet.extract(architecture)
    probe = hidden_state_graph_correlation(search.controller, n=200, seed=args.seed)
    x_test, y_test = (t.to(device) for t in data.test)
    with torch.no_grad():
        best.eval()
        test_accuracy = (best(pixel_values=x_test).logits.argmax(-1) == y_test).float().mean().item()
    metrics = {
        "eval/shared_weight_validation_accuracy": shared_accuracy,
        "eval/test_accuracy": test_accuracy,
        "eval/hidden_state_graph_spearman": probe.spearman_rho,
    }
    runner.print(f"[{SLUG}] derived cell {architecture.tolist()}")
    if runner.is_main_process:
        search.controller.save_pretrained(runner.output_dir / "controller")
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(best, metrics=metrics, card_kwargs={"pipeline_tag": "image-classification"})
    return metrics


if __name__ == "__main__":
    main()
