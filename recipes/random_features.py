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

from dataclasses import dataclass, field

import torch

from hf_methods.common.data import sinusoid
from hf_methods.harness.recipe import RecipeArguments, RecipeRunner, parse_recipe_args
from hf_methods.models.random_features.configuration_random_features import (
    RANDOM_FEATURE_ACTIVATIONS,
    RANDOM_FEATURE_WEIGHT_DISTS,
    RandomFeatureConfig,
)

SLUG = "random_features"
SOLVERS = ("closed_form", "sgd")


@dataclass
class Args(RecipeArguments):
    k: float = field(default=2.0, metadata={"help": "Frequency of the target sin(2πkx) on [-1, 1]."})
    bandwidth: float = field(default=16.0, metadata={"help": "Range λ of the hidden parameters: a, b ~ U[-λ, λ]."})
    width: int = field(default=400, metadata={"help": "Number N of hidden units."})
    activation: str = field(default="tanh", metadata={"help": f"Activation, one of {RANDOM_FEATURE_ACTIVATIONS}."})
    weight_dist: str = field(
        default="uniform", metadata={"help": f"Hidden-parameter distribution, one of {RANDOM_FEATURE_WEIGHT_DISTS}."}
    )
    ridge: float = field(default=1e-6, metadata={"help": "Ridge on the normalised Gram matrix (closed_form solver)."})
    solver: str = field(
        default="closed_form",
        metadata={"help": "closed_form: one ridge solve (the step loop is skipped); sgd: Adam on the readout."},
    )
    learning_rate: float = field(default=1e-2, metadata={"help": "Adam learning rate (sgd solver)."})
    batch_size: int = field(default=100, metadata={"help": "Batch size (sgd solver)."})
    n_train: int = field(default=1000, metadata={"help": "Training points (a uniform grid of [-1, 1])."})
    n_test: int = field(default=1000, metadata={"help": "Test points (uniform on [-1, 1], drawn from --seed)."})

    def validate(self) -> None:
        super().validate()
        if self.solver not in SOLVERS:
            raise ValueError(f"--solver must be one of {SOLVERS}, got {self.solver!r}")
        for name in ("batch_size", "n_train", "n_test"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not self.k > 0:
            raise ValueError(f"--k must be > 0, got {self.k}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")


def target_data(args: Args, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The target in code: sin(2πkx) on a grid (train) or at uniform points (test). Edit here to fit another one."""
    if split == "train":
        x, y = sinusoid(args.k, args.n_train, grid=True)
    else:
        x, y = sinusoid(args.k, args.n_test, grid=False, seed=args.seed)
    return torch.from_numpy(x).float(), torch.from_numpy(y).float()


@torch.no_grad()
def relative_mse(model, x: torch.Tensor, y: torch.Tensor) -> float:
    predictions = model(x.to(model.device)).predictions.double().cpu()
    y = y.double()
    return ((predictions - y).pow(2).sum() / (y - y.mean(dim=0)).pow(2).sum()).item()


def main(argv=None):
    from hf_methods.models.random_features.modeling_random_features import RandomFeatureModel

    args = parse_recipe_args(Args, argv, slug=SLUG)
    runner = RecipeRunner(args, slug=SLUG)
    config = RandomFeatureConfig(
        in_dim=1,
        out_dim=1,
        width=args.width,
        activation=args.activation,
        weight_dist=args.weight_dist,
        bandwidth=args.bandwidth,
        ridge=args.ridge,
        feature_seed=args.seed,
    )
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
