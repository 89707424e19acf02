"""Recipe for P01 `random_features`: fit a bandlimited random network f_N(x) = Σ_j c_j σ(a_jᵀx − b_j) + c_0.

Li, Sonoda, Cao, Wang, Liang, "How Powerful are Shallow Neural Networks with Bandlimited Random Weights?" (ICML 2023).
The hidden parameters a_j, b_j ~ U[−λ, λ] are drawn from `--seed` and frozen; only the readout is trained, either in
closed form (`--solver closed_form`: ridge on the normalised Gram matrix, one solve, no step loop) or by Adam on the
mean squared error (`--solver sgd`, `--max_steps` steps). The target is sin(2πkx) on [−1, 1] (`--k`): `--n_train`
grid points to fit, `--n_test` uniform points to evaluate the relative test MSE Σ(ŷ − y)² / Σ(y − ȳ)².

Usage:

```bash
accelerate launch recipes/random_features.py                                 # λ=16, N=400, k=2, closed form
accelerate launch recipes/random_features.py --bandwidth 1                   # too narrow a range: the error floor
accelerate launch recipes/random_features.py --bandwidth 16 --k 4 --width 1600
accelerate launch recipes/random_features.py --solver sgd --max_steps 2000 --learning_rate 0.01
accelerate launch recipes/random_features.py --solver sgd --resume_from_checkpoint latest
accelerate launch recipes/random_features.py --push_to_hub --hub_model_id me/random-features-sin
```

The output folder (default `outputs/random_features`) loads anywhere with
`AutoModel.from_pretrained(folder, trust_remote_code=True)`.
"""

from __future__ import annotations

import torch

from hf_methods.harness.recipe import RecipeRunner, parse_recipe_args
from hf_methods.models.random_features.training import RandomFeaturesArguments, relative_mse, target_data

SLUG = "random_features"

__all__ = ["RandomFeaturesArguments", "main"]


def main(argv=None):
    from hf_methods.models.random_features.modeling_random_features import RandomFeatureModel

    args = parse_recipe_args(RandomFeaturesArguments, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    config = args.random_features_config()
    model = RandomFeatureModel(config)
    x_train, y_train = target_data(args, "train")
    x_test, y_test = target_data(args, "test")

    if args.solver == "closed_form":
        # One ridge solve on the normalised Gram matrix; every process computes the same readout.
        model = runner.prepare(model)
        unwrapped = runner.accelerator.unwrap_model(model)
        train_rel_mse = unwrapped.fit_readout(x_train.to(unwrapped.device), y_train.to(unwrapped.device))
        runner.log({"train/rel_mse": train_rel_mse}, step=0, force=True)
        runner.print(f"[{SLUG}] closed-form readout (ridge {args.ridge:g}): train relative MSE {train_rel_mse:.4g}")
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)  # the readout: a, b are buffers
        dataset = torch.utils.data.TensorDataset(x_train, y_train)
        loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True)
        model, optimizer, loader = runner.prepare(model, optimizer, loader)
        start_step = runner.resume()
        model.train()
        for step, (inputs, labels) in runner.steps(loader, start_step):
            loss = model(inputs=inputs, labels=labels).loss
            runner.accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            runner.log({"train/loss": loss}, step)
            runner.maybe_checkpoint(step)
        unwrapped = runner.accelerator.unwrap_model(model)
        train_rel_mse = relative_mse(unwrapped, x_train, y_train)

    unwrapped.eval()
    metrics = {"eval/rel_mse": relative_mse(unwrapped, x_test, y_test), "train/rel_mse": train_rel_mse}
    runner.finish(model, metrics=metrics, datasets=None, base_model=None)
    return metrics


if __name__ == "__main__":
    main()
