"""Training pieces shared by `recipes/blindspot.py`, the claim check and the tests: unlearning a subpopulation of
scikit-learn's Friedman #1 regression problem from an MLP regressor.

- [`BlindspotArguments`]: the arguments of `recipes/blindspot.py`;
- [`friedman_unlearning_data`]: `make_friedman1` (generated in code, nothing downloaded), targets standardised with
  the training set's statistics, the training examples with x_0 < `forget_below` as the forget set (a contiguous
  subpopulation, as "age ≤ 30" is in the paper's AgeDB experiment), test examples split the same way;
- [`regression_mlp`] (the ReLU MLP 10-h-h-1, `MLPForImageClassification` with one output) and
  [`mlp_activation_layers`] (its hidden activations, the layers of the attention-transfer term);
- [`train_original`]: the model to unlearn from, trained on all training data (SGD with momentum, MSE: the shared
  `hf_methods.common.unlearning.train_epochs`, the same loop as the shared "retrain" baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

Split = tuple[torch.Tensor, torch.Tensor]

__all__ = [
    "BlindspotArguments",
    "FriedmanUnlearningData",
    "friedman_unlearning_data",
    "mlp_activation_layers",
    "regression_mlp",
    "split_mae",
    "train_original",
]


@dataclass
class BlindspotArguments(RecipeArguments):
    max_steps: int = field(
        default=75, metadata={"help": "Unlearning steps (75 = one epoch of the 4800 training examples at batch 64)."}
    )
    checkpoint_every: int = field(default=25, metadata={"help": "Save a resumable checkpoint every N steps."})
    n_samples: int = field(default=6000, metadata={"help": "Size of the make_friedman1 data set (train + test)."})
    noise: float = field(default=1.0, metadata={"help": "Standard deviation of make_friedman1's Gaussian noise."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of the examples held out as the test set."})
    forget_below: float = field(
        default=0.2, metadata={"help": "Training examples with feature x_0 below this value form the forget set."}
    )
    hidden_size: int = field(default=128, metadata={"help": "Width of the two ReLU hidden layers."})
    original_epochs: int = field(default=40, metadata={"help": "Epochs of training of the original model."})
    original_learning_rate: float = field(
        default=1e-2, metadata={"help": "SGD (momentum 0.9) learning rate of the original model (MSE)."}
    )
    proxy_epochs: int = field(default=2, metadata={"help": "Epochs of the blindspot proxy on the retain data."})
    proxy_learning_rate: float = field(default=1e-2, metadata={"help": "Adam learning rate of the proxy (L1)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate of the unlearning run."})
    at_beta: float = field(default=50.0, metadata={"help": "β, the weight of the attention-transfer term."})
    batch_size: int = field(default=64, metadata={"help": "Batch size (forget and retain examples mixed)."})

    def validate(self) -> None:
        super().validate()
        for name in ("n_samples", "hidden_size", "original_epochs", "proxy_epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"--{name} must be an int > 0, got {value!r}")
        for name in ("original_learning_rate", "proxy_learning_rate", "learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.noise < 0:
            raise ValueError(f"--noise must be >= 0, got {self.noise}")
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")
        if not 0.0 < self.forget_below < 1.0:
            raise ValueError(f"--forget_below must be in (0, 1) (x_0 is uniform on [0, 1]), got {self.forget_below}")
        if self.at_beta < 0:
            raise ValueError(f"--at_beta must be >= 0, got {self.at_beta}")


@dataclass
class FriedmanUnlearningData:
    """One seed's split: the forget and retain parts of the training set, and the test set split the same way."""

    forget: Split
    retain: Split
    test: Split
    test_forget: Split
    test_retain: Split
    target_mean: float
    target_std: float

    @property
    def train(self) -> Split:
        """All training examples (forget first, then retain)."""
        return torch.cat([self.forget[0], self.retain[0]]), torch.cat([self.forget[1], self.retain[1]])


def friedman_unlearning_data(
    seed: int, *, n_samples: int = 6000, noise: float = 1.0, test_size: float = 0.2, forget_below: float = 0.2
) -> FriedmanUnlearningData:
    """`sklearn.datasets.make_friedman1(n_samples, n_features=10, noise)` with its forget subpopulation x_0 < t.

    y = 10 sin(π x_0 x_1) + 20 (x_2 − 0.5)² + 10 x_3 + 5 x_4 + noise, x uniform on [0, 1]^10 (features 5–9 are
    irrelevant). The targets are standardised with the mean and standard deviation of the training targets (the
    errors below are in those units). The first `test_size` fraction of the generated examples is the test set.
    """
    from sklearn.datasets import make_friedman1

    if not (isinstance(n_samples, int) and n_samples >= 10):
        raise ValueError(f"n_samples must be an int >= 10, got {n_samples!r}")
    if not 0.0 < forget_below < 1.0:
        raise ValueError(f"forget_below must be in (0, 1), got {forget_below}")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    x, y = make_friedman1(n_samples=n_samples, n_features=10, noise=noise, random_state=seed)
    x, y = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    n_test = int(round(test_size * n_samples))
    x_test, y_test, x_train, y_train = x[:n_test], y[:n_test], x[n_test:], y[n_test:]
    mean, std = y_train.mean().item(), y_train.std().item()
    y_train, y_test = (y_train - mean) / std, (y_test - mean) / std
    in_forget, test_in_forget = x_train[:, 0] < forget_below, x_test[:, 0] < forget_below
    if not in_forget.any() or in_forget.all():
        raise ValueError(f"forget_below={forget_below} leaves the forget or the retain set empty")
    return FriedmanUnlearningData(
        forget=(x_train[in_forget], y_train[in_forget]),
        retain=(x_train[~in_forget], y_train[~in_forget]),
        test=(x_test, y_test),
        test_forget=(x_test[test_in_forget], y_test[test_in_forget]),
        test_retain=(x_test[~test_in_forget], y_test[~test_in_forget]),
        target_mean=mean,
        target_std=std,
    )


def regression_mlp(hidden_size: int = 128, input_size: int = 10, num_layers: int = 2) -> nn.Module:
    """The ReLU MLP input-h-…-h-1: `MLPForImageClassification` with one output used as the regression prediction."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    config = MLPConfig(input_size=input_size, hidden_sizes=[hidden_size] * num_layers, hidden_act="relu", num_labels=1)
    return MLPForImageClassification(config)


def mlp_activation_layers(num_layers: int = 2) -> list[str]:
    """The submodule names of the hidden activations of [`regression_mlp`] (`mlp.layers.1`, `mlp.layers.3`, ...)."""
    return [f"mlp.layers.{2 * i + 1}" for i in range(num_layers)]


def train_original(
    data: FriedmanUnlearningData, *, seed: int, epochs: int, lr: float, hidden_size: int = 128, batch_size: int = 64
) -> nn.Module:
    """The model to unlearn from: [`regression_mlp`] (seeded) trained with the shared SGD/MSE loop on all training
    data, exactly as the shared "retrain" baseline trains the gold model on the retain data alone."""
    from hf_methods.common.unlearning import train_epochs

    torch.manual_seed(seed)
    model = regression_mlp(hidden_size)
    return train_epochs(model, data.train, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed).eval()


@torch.no_grad()
def split_mae(model: nn.Module, split: Split) -> float:
    """Mean absolute error of `model` on `(inputs, targets)` (eval mode, restored)."""
    from hf_methods.common.unlearning import predict

    x, y = split
    return (predict(model, x).reshape(y.shape) - y).abs().mean().item()
