"""Recipe for P52 `ponita`: train PONITA on the charged-particle N-body task, simulated in code.

Bekkers, Vadgama, Hesselink, van der Linden, Romero, "Fast, Expressive SE(n) Equivariant Networks through
Weight-Sharing in Position-Orientation Space" (ICLR 2024). Five particles of charge ±1 interact by Coulomb forces (the
official simulator, ported to numpy); from each particle's position, velocity and charge at frame 30 the model
predicts its displacement to frame 40 (1000 simulator steps later), as in the official N-body experiment. The model
is PONITA in fiber-bundle mode (`--num_ori` orientations; `--num_ori -1` for the exactly equivariant point-cloud
mode) on the fully connected graph of each system; Adam with warm-up and cosine decay on the mean squared error. The
kernels are calibrated once on the first batch before training (the flag is saved with the weights). At the end the
recipe reports the test MSE of the predicted positions and that of the constant-velocity prediction. The default run
(300 steps) takes about a minute on one CPU thread.

Usage:

```bash
accelerate launch recipes/ponita.py                                    # the default run
accelerate launch recipes/ponita.py --max_steps 2000 --num_train 2000 --hidden_dim 64
accelerate launch recipes/ponita.py --num_ori -1 --output_dir outputs/ponita-point-cloud
accelerate launch recipes/ponita.py --resume_from_checkpoint latest    # continue a killed run
python recipes/ponita.py --help                                         # every knob
```

The output folder (default `outputs/ponita`) loads anywhere with
`AutoModel.from_pretrained(folder, trust_remote_code=True)`.
"""

from __future__ import annotations

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.ponita import PonitaModel
from hf_methods.models.ponita.training import (
    PonitaArguments,
    collate_graphs,
    constant_velocity_mse,
    evaluate_nbody,
    make_nbody_task,
    nbody_samples,
)

SLUG = "ponita"

__all__ = ["PonitaArguments", "main"]


def main(argv: list[str] | None = None):
    from transformers import get_cosine_schedule_with_warmup

    args = parse_recipe_args(PonitaArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)

    # the trajectories depend on the seed only, so every process simulates the same data
    train = make_nbody_task(args.num_train, seed=args.seed, num_particles=args.num_particles)
    test = make_nbody_task(args.num_test, seed=args.seed + 1, num_particles=args.num_particles)
    train_samples, test_samples = nbody_samples(train), nbody_samples(test)
    loader = torch.utils.data.DataLoader(
        train_samples, batch_size=args.batch_size, shuffle=True, drop_last=True, collate_fn=collate_graphs
    )
    runner.print(f"[{SLUG}] {len(train)} train / {len(test)} test systems of {args.num_particles} particles")

    model = PonitaModel(args.build_config())
    # the official one-time rescaling of the kernels, on a fixed first batch (a resumed run loads calibrated weights)
    first = collate_graphs(train_samples[: args.batch_size])
    model.calibrate(**{k: v for k, v in first.items() if k != "vector_labels"})
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, args.warmup_steps, max(args.max_steps, 1))
    model, optimizer, loader = runner.prepare(model, optimizer, loader)
    runner.register_for_checkpointing(scheduler)

    start = runner.resume()
    model.train()
    for step, batch in runner.steps(loader, start):
        lr = scheduler.get_last_lr()[0]
        loss = model(**batch).loss
        optimizer.zero_grad()
        runner.accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        runner.log({"train/loss": loss, "train/lr": lr}, step)
        runner.maybe_checkpoint(step)

    unwrapped = runner.accelerator.unwrap_model(model)
    metrics = {
        "eval/test_mse": evaluate_nbody(unwrapped, test_samples),
        "eval/constant_velocity_mse": constant_velocity_mse(test),
    }
    runner.log(metrics, args.max_steps, force=True)
    runner.finish(model, metrics=metrics)
    return metrics


if __name__ == "__main__":
    main()
