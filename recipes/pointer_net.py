"""Recipe for P61 `pointer_net`: train a Pointer Network on sorting or the planar convex hull.

Vinyals, Fortunato, Jaitly, "Pointer Networks" (NeurIPS 2015). An LSTM encoder reads the input points, an LSTM
decoder points at one input position per step (u_j^i = vᵀ tanh(W_1 e_j + W_2 d_i), softmax over j); training is
teacher-forced cross-entropy on the target index sequence. The data are built in code: `--task sorting` (sort
`--min_points`…`--max_points` uniform numbers) or `--task convex_hull` (the hull of uniform points in the unit square,
labels from `scipy.spatial.ConvexHull`, counter-clockwise from the lowest-index vertex, closed). After training, the
model decodes `--num_eval_examples` examples of `--eval_points` points (greedy, or beam search with `--num_beams`)
under the task's constraint (no position twice).

Usage:

```bash
accelerate launch recipes/pointer_net.py                                   # sorting 5–10 numbers, 300 steps
accelerate launch recipes/pointer_net.py --max_steps 3000 --eval_points 12 # length generalisation
accelerate launch recipes/pointer_net.py --task convex_hull --hidden_size 128 --max_steps 2000 --num_beams 3
accelerate launch recipes/pointer_net.py --resume_from_checkpoint latest
```

The output folder (default `outputs/pointer_net`) loads anywhere with
`AutoModelForPreTraining.from_pretrained(folder, trust_remote_code=True)`.
"""

from __future__ import annotations

import statistics

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.pointer_net.training import PointerNetArguments, evaluate_pointer_net

SLUG = "pointer_net"

__all__ = ["PointerNetArguments", "main"]


def main(argv=None):
    from hf_methods.common.batches import TensorDictDataset, collate_batch
    from hf_methods.models.pointer_net.modeling_pointer_net import PointerNetForSequenceOrdering
    from hf_methods.models.pointer_net.tasks import make_task

    args = parse_recipe_args(PointerNetArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    model = PointerNetForSequenceOrdering(args.pointer_net_config())
    train = make_task(args.task, args.num_train_examples, args.min_points, args.max_points, seed=args.seed)
    evaluation = make_task(
        args.task, args.num_eval_examples, args.eval_points, args.eval_points, seed=10_000 + args.seed
    )
    loader = torch.utils.data.DataLoader(
        TensorDictDataset(**train), batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        loss = model(**batch).loss
        runner.accelerator.backward(loss)
        runner.accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
        runner.log({"train/loss": loss}, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    evaluation = {k: v.to(unwrapped.device) for k, v in evaluation.items()}
    per_example = evaluate_pointer_net(unwrapped, args.task, evaluation, num_beams=args.num_beams)
    metrics = {f"eval/{name}": statistics.fmean(values) for name, values in per_example.items()}
    runner.finish(model, metrics=metrics, datasets=None, base_model=None)
    return metrics


if __name__ == "__main__":
    main()
