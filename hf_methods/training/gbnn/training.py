"""Training pieces shared by `recipes/gbnn.py`, the claim check and the tests.

- [`GBNNArguments`]: the arguments of `recipes/gbnn.py`; `args.build_trainer()` builds the boosting trainer;
- [`load_tabular`] / [`tabular_split`]: scikit-learn's bundled tabular sets (no download), standardised on the
  training part;
- [`train_mlp_end_to_end`]: the baselines, a network of the same shape trained end to end by Adam (minibatches) or
  L-BFGS (full batch), returned as the same [`GradientBoostedMLPModel`] class;
- [`evaluate`]: accuracy (classification) or RMSE (regression).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from hf_methods.harness.recipe import RecipeArguments

from .configuration_gbnn import GBNN_ACTIVATIONS, GradientBoostedMLPConfig
from .trainer import GradientBoostedMLPTrainer, fit_mlp_lbfgs, glorot_init

TABULAR_DATASETS = ("breast_cancer", "wine", "iris", "digits", "diabetes")
BASELINE_OPTIMIZERS = ("adam", "lbfgs")


@dataclass
class GBNNArguments(RecipeArguments):
    max_steps: int = field(
        default=100, metadata={"help": "Boosting steps T; the network ends with T × --units_per_step hidden units."}
    )
    checkpoint_every: int = field(default=25, metadata={"help": "Save a resumable checkpoint every N boosting steps."})
    log_every: int = field(default=10, metadata={"help": "Log the training loss every N boosting steps."})
    dataset: str = field(
        default="digits", metadata={"help": f"scikit-learn bundled data set: one of {list(TABULAR_DATASETS)}."}
    )
    units_per_step: int = field(default=1, metadata={"help": "Hidden units J fitted per boosting step."})
    eta: float = field(default=0.1, metadata={"help": "Shrinkage η of each Newton step (the official grid: 0.025-1)."})
    subsample: float = field(default=0.5, metadata={"help": "Fraction of the training set each learner is fitted on."})
    inner_max_iter: int = field(default=200, metadata={"help": "L-BFGS iterations of each learner."})
    inner_l2: float = field(default=1e-4, metadata={"help": "L2 penalty α of each learner."})
    activation: str = field(default="logistic", metadata={"help": f"Hidden activation: one of {GBNN_ACTIVATIONS}."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of the data held out as the test set."})
    truncate_to: int = field(
        default=0, metadata={"help": "Also report test metrics of the network cut to its first N units (0: 75%)."}
    )

    def validate(self) -> None:
        super().validate()
        if self.dataset not in TABULAR_DATASETS:
            raise ValueError(f"--dataset must be one of {list(TABULAR_DATASETS)}, got {self.dataset!r}")
        if self.max_steps < 1:
            raise ValueError(f"--max_steps (boosting steps) must be >= 1, got {self.max_steps}")
        if self.units_per_step < 1:
            raise ValueError(f"--units_per_step must be >= 1, got {self.units_per_step}")
        if not self.eta > 0:
            raise ValueError(f"--eta must be > 0, got {self.eta}")
        if not 0 < self.subsample <= 1:
            raise ValueError(f"--subsample must be in (0, 1], got {self.subsample}")
        if self.inner_max_iter < 1:
            raise ValueError(f"--inner_max_iter must be >= 1, got {self.inner_max_iter}")
        if self.inner_l2 < 0:
            raise ValueError(f"--inner_l2 must be >= 0, got {self.inner_l2}")
        if self.activation not in GBNN_ACTIVATIONS:
            raise ValueError(f"--activation must be one of {list(GBNN_ACTIVATIONS)}, got {self.activation!r}")
        if not 0 < self.test_size < 1:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")
        if not 0 <= self.truncate_to <= self.max_steps * self.units_per_step:
            raise ValueError(
                f"--truncate_to must be in [0, {self.max_steps * self.units_per_step}] (the final unit count), "
                f"got {self.truncate_to}"
            )

    def build_trainer(self) -> GradientBoostedMLPTrainer:
        """The boosting trainer of these arguments (its subsamples and initialisations seeded by --seed)."""
        return GradientBoostedMLPTrainer(
            total_units=self.max_steps * self.units_per_step,
            units_per_step=self.units_per_step,
            eta=self.eta,
            subsample=self.subsample,
            inner_max_iter=self.inner_max_iter,
            inner_l2=self.inner_l2,
            activation=self.activation,
            seed=self.seed,
        )


# ------------------------------------------------------------------------------------------------------------ data


def load_tabular(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Features (float64) and labels of a scikit-learn bundled data set: int64 classes, or float64 targets for
    `"diabetes"` (the only regression set)."""
    import sklearn.datasets as sk

    if name not in TABULAR_DATASETS:
        raise ValueError(f"`name` must be one of {TABULAR_DATASETS}, got {name!r}.")
    x, y = getattr(sk, f"load_{name}")(return_X_y=True)
    y = y.astype(np.float64) if name == "diabetes" else y.astype(np.int64)
    return x.astype(np.float64), y


@dataclass
class TabularSplit:
    """Standardised features (training mean and scale) and labels of one train/test split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets standardised with the training part's mean and standard deviation (constant columns left at 0)."""
    mean, std = x_train.mean(0), x_train.std(0)
    std = np.where(std > 0, std, 1.0)
    return (x_train - mean) / std, (x_test - mean) / std


def tabular_split(name: str, seed: int = 0, test_size: float = 0.2) -> TabularSplit:
    """A seeded random train/test split of [`load_tabular`]`(name)`, features standardised on the training part."""
    x, y = load_tabular(name)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_size * len(x)))
    test, train = order[:n_test], order[n_test:]
    x_train, x_test = standardize(x[train], x[test])
    return TabularSplit(x_train, y[train], x_test, y[test])


# ------------------------------------------------------------------------------------------------------- baselines


def _objective_of(y: np.ndarray) -> tuple[str, int]:
    if np.issubdtype(y.dtype, np.floating):
        return "squared", 2
    k = int(y.max()) + 1
    return ("log_exponential", 2) if k == 2 else ("multinomial", k)


def _targets(y: np.ndarray, objective: str, num_labels: int) -> np.ndarray:
    if objective == "squared":
        return y.reshape(len(y), -1).astype(np.float64)
    if objective == "log_exponential":
        return (2.0 * y - 1.0).reshape(-1, 1)
    return np.eye(num_labels)[y]


def train_mlp_end_to_end(
    x: np.ndarray,
    y: np.ndarray,
    *,
    hidden_size: int = 100,
    optimizer: str = "adam",
    seed: int = 0,
    activation: str = "logistic",
    l2: float = 1e-4,
    epochs: int = 200,
    learning_rate: float = 1e-3,
    batch_size: int = 200,
    max_iter: int = 200,
):
    r"""
    The baseline: a network of the same shape, F(x) = V σ(Wx + b) + c, trained end to end on the same loss as GBNN
    (squared, log-exponential or softmax cross-entropy, from the labels' type) plus α/(2n)·‖weights‖², from
    Glorot-uniform weights — the defaults of scikit-learn's `MLPClassifier`/`MLPRegressor`, the baselines of the paper.

    Args:
        x (`np.ndarray` of shape `(n, d)`): standardised features.
        y (`np.ndarray` of shape `(n,)`): int classes or float targets.
        hidden_size (`int`): hidden units.
        optimizer (`str`): `"adam"` (minibatches of `batch_size`, `epochs` epochs, `learning_rate`, float32) or
            `"lbfgs"` (full batch, `max_iter` L-BFGS iterations, float64).
        seed (`int`): seed of the initialisation and of the minibatch order.

    Returns:
        A [`GradientBoostedMLPModel`] (float32, eval mode; `unit_output_bias` is zero: no unit owns a bias share).
    """
    from .modeling_gbnn import GradientBoostedMLPModel

    if optimizer not in BASELINE_OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {BASELINE_OPTIMIZERS}, got {optimizer!r}.")
    objective, num_labels = _objective_of(y)
    targets = _targets(y, objective, num_labels)
    n, d = x.shape
    m = targets.shape[1]
    config = GradientBoostedMLPConfig(
        input_size=d,
        hidden_size=hidden_size,
        objective=objective,
        output_size=m if objective == "squared" else 1,
        num_labels=num_labels,
        hidden_act=activation,
    )
    scale = 2.0 if objective == "log_exponential" else 1.0  # the model's output layer holds 2F
    rng = np.random.default_rng([seed, 1_000_003])
    if optimizer == "lbfgs":
        params = fit_mlp_lbfgs(
            x, targets, hidden_size, activation=activation, l2=l2, max_iter=max_iter, output_loss=objective, rng=rng
        )
    else:
        theta = glorot_init(d, hidden_size, m, activation, rng)
        sizes = np.cumsum((d * hidden_size, hidden_size, hidden_size * m))
        w1, b1, w2, b2 = np.split(theta, sizes)
        params = {"w1": w1.reshape(d, hidden_size), "b1": b1, "w2": w2.reshape(hidden_size, m), "b2": b2}
    model = GradientBoostedMLPModel(config)
    with torch.no_grad():
        model.hidden.weight.copy_(torch.from_numpy(params["w1"].T.copy()))
        model.hidden.bias.copy_(torch.from_numpy(params["b1"]))
        model.output.weight.copy_(torch.from_numpy(scale * params["w2"].T.copy()))
        model.output.bias.copy_(torch.from_numpy(scale * params["b2"]))
    if optimizer == "adam":
        _adam(model, x, y, seed=seed, l2=l2, epochs=epochs, lr=learning_rate, batch_size=batch_size, scale=scale)
    return model.eval()


def _adam(model, x, y, *, seed, l2, epochs, lr, batch_size, scale) -> None:
    """Minibatch Adam on the model's own loss + α/(2·batch)‖weights‖² (scikit-learn's minibatch penalty)."""
    inputs = torch.as_tensor(x, dtype=torch.float32)
    labels = torch.as_tensor(y, dtype=torch.float32 if np.issubdtype(y.dtype, np.floating) else torch.long)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    batch_size = min(batch_size, len(inputs))
    squared = model.config.objective == "squared"
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(inputs), generator=order).split(batch_size):
            out = model(inputs[idx], labels=labels[idx])
            # the model's squared loss sums over outputs; scikit-learn's is half of it (and a mean): ½ for parity
            loss = out.loss * (0.5 if squared else 1.0)
            penalty = model.hidden.weight.pow(2).sum() + (model.output.weight / scale).pow(2).sum()
            loss = loss + 0.5 * l2 / len(idx) * penalty
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


# ------------------------------------------------------------------------------------------------------ evaluation


@torch.no_grad()
def evaluate(model, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """`{"accuracy"}` for a classification model, `{"rmse"}` for a regression one, on `(x, y)`."""
    was_training = model.training
    model.eval()
    out = model(torch.as_tensor(x, dtype=model.hidden.weight.dtype))
    model.train(was_training)
    if model.config.objective == "squared":
        predictions = out.logits.double().numpy().reshape(np.shape(y))
        return {"rmse": float(np.sqrt(np.mean((predictions - y) ** 2)))}
    return {"accuracy": float((out.logits.argmax(-1).numpy() == y).mean())}
