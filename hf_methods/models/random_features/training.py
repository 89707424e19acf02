"""Training pieces shared by `recipes/random_features.py` and the tests.

- [`RandomFeaturesArguments`]: the recipe's arguments; `args.random_features_config()` builds the `RandomFeatureConfig`;
- [`target_data`]: the target sin(2πkx) on a training grid or at uniform test points;
- [`relative_mse`]: Σ(ŷ − y)² / Σ(y − ȳ)² of a model's predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hf_methods.common.data import sinusoid
from hf_methods.harness.recipe import RecipeArguments

from .configuration_random_features import RANDOM_FEATURE_ACTIVATIONS, RANDOM_FEATURE_WEIGHT_DISTS, RandomFeatureConfig

SOLVERS = ("closed_form", "sgd")


@dataclass
class RandomFeaturesArguments(RecipeArguments):
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

    def random_features_config(self) -> RandomFeatureConfig:
        """The `RandomFeatureConfig` of this run (1-D input and output; the features drawn from `--seed`)."""
        return RandomFeatureConfig(
            in_dim=1,
            out_dim=1,
            width=self.width,
            activation=self.activation,
            weight_dist=self.weight_dist,
            bandwidth=self.bandwidth,
            ridge=self.ridge,
            feature_seed=self.seed,
        )


def target_data(args: RandomFeaturesArguments, split: str) -> tuple[torch.Tensor, torch.Tensor]:
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
