"""Training a PBN (Troisemaine et al.): novel-class-discovery splits of tabular data, the fitting loop (AdamW on
mixed batches of known and unlabelled samples), a `transformers.Trainer` for the same objective, the k-fold
hyper-parameter search over hidden known classes, and the recipe's arguments."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import Trainer

from hf_methods.common.clustering import cluster_accuracy
from hf_methods.common.splits import class_split
from hf_methods.harness.recipe import RecipeArguments
from hf_methods.models.pbn.configuration_pbn import PBNConfig
from hf_methods.models.pbn.discovery import discover_novel_classes
from hf_methods.models.pbn.modeling_pbn import PBNForNovelClassDiscovery

UNLABELLED = -100
SEARCH_KEYS = ("w", "learning_rate", "epochs", "hidden_dims", "latent_dim", "batch_size")


@dataclass
class NCDSplit:
    """Known samples with labels remapped to `0..c-1`, unlabelled samples of the novel classes (their labels, remapped
    to `0..k-1`, are for evaluation only and must never reach training or model selection)."""

    x_known: torch.Tensor
    y_known: torch.Tensor
    x_unlabelled: torch.Tensor
    y_novel: torch.Tensor

    @property
    def num_known(self) -> int:
        return int(self.y_known.max()) + 1

    @property
    def num_novel(self) -> int:
        return int(self.y_novel.max()) + 1


def ncd_split(x, y, known_classes) -> NCDSplit:
    """Splits a labelled tabular set into known classes (labelled) and the other classes (unlabelled)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y = np.asarray(y).astype(np.int64)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"`x` must be (n, features) with one label per row, got {tuple(x.shape)} and {y.shape}.")
    known_idx, novel_idx = class_split(y, known_classes)
    _, y_known = np.unique(y[known_idx], return_inverse=True)
    _, y_novel = np.unique(y[novel_idx], return_inverse=True)
    return NCDSplit(x[known_idx], torch.as_tensor(y_known), x[novel_idx], torch.as_tensor(y_novel))


def digits_ncd(known_classes=(0, 1, 2, 3, 4)) -> NCDSplit:
    """scikit-learn's 8×8 digits (all 1797, 64 features in [0, 1]): known classes labelled, the others unlabelled."""
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=0.2, seed=0)
    x = np.concatenate([train.x, test.x])
    y = np.concatenate([train.y, test.y])
    return ncd_split(x, y, known_classes)


def mixed_tensors(split: NCDSplit) -> tuple[torch.Tensor, torch.Tensor]:
    """All samples with their training labels: known-class ids, `UNLABELLED` (-100) for the unlabelled samples."""
    x = torch.cat([split.x_known, split.x_unlabelled])
    labels = torch.cat([split.y_known, torch.full((len(split.x_unlabelled),), UNLABELLED, dtype=torch.long)])
    return x, labels


def fit_pbn(
    model: PBNForNovelClassDiscovery,
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int = 30,
    learning_rate: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
) -> PBNForNovelClassDiscovery:
    """Trains `model` in place with AdamW on shuffled mixed batches (known and unlabelled samples together, labels
    -100 for the unlabelled ones) and returns it in eval mode. Batches of one sample are skipped, as in the
    official code."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
    if x.shape[0] != labels.shape[0]:
        raise ValueError(f"`x` and `labels` must have the same length, got {x.shape[0]} and {labels.shape[0]}.")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, x.shape[0], batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2:
                continue
            loss = model(inputs=x[idx], labels=labels[idx]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


class PBNTrainer(Trainer):
    """`transformers.Trainer` for the PBN objective on mixed batches (`inputs`, `labels` with -100 = unlabelled).

    The loss is the model's [`pbn_loss`] (w·CE + (1 − w)·Σ‖x̂ − x‖²/B); the cross-entropy and reconstruction terms
    are accumulated in the trainer and logged next to the loss. Use AdamW (the Trainer default), as the paper.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._term_sums = {"ce_loss": 0.0, "reconstruction_loss": 0.0}
        self._term_count = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(inputs=inputs["inputs"], labels=inputs["labels"])
        if model.training:
            self._term_sums["ce_loss"] += outputs.ce_loss.detach().item()
            self._term_sums["reconstruction_loss"] += outputs.reconstruction_loss.detach().item()
            self._term_count += 1
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def log(self, logs, *args, **kwargs):
        if self._term_count and "loss" in logs:
            for name, total in self._term_sums.items():
                logs[name] = round(total / self._term_count, 6)
                self._term_sums[name] = 0.0
            self._term_count = 0
        super().log(logs, *args, **kwargs)


def build_pbn(input_dim: int, num_known: int, params: dict, seed: int) -> PBNForNovelClassDiscovery:
    """A fresh PBN with the architecture entries of `params` (`w`, `hidden_dims`, `latent_dim`), seeded."""
    torch.manual_seed(seed)
    config = PBNConfig(
        input_dim=input_dim,
        num_known=num_known,
        w=params.get("w", 0.5),
        hidden_dims=list(params.get("hidden_dims", [64])),
        latent_dim=params.get("latent_dim", 16),
    )
    return PBNForNovelClassDiscovery(config)


def train_and_discover(split: NCDSplit, params: dict, *, seed: int = 0, n_clusters: int | None = None) -> dict:
    """Trains a PBN with `params` on a split and clusters its unlabelled samples with k-means.

    `n_clusters` defaults to the true number of novel classes. Returns `{"model", "clusters", "accuracy"}` where
    `accuracy` is the Hungarian clustering accuracy against `split.y_novel` (evaluation only).
    """
    model = build_pbn(split.x_known.shape[1], split.num_known, params, seed)
    x, labels = mixed_tensors(split)
    fit_pbn(
        model,
        x,
        labels,
        epochs=params.get("epochs", 30),
        learning_rate=params.get("learning_rate", 1e-3),
        batch_size=params.get("batch_size", 256),
        seed=seed,
    )
    k = split.num_novel if n_clusters is None else n_clusters
    clusters = discover_novel_classes(model, split.x_unlabelled, k, seed=seed)
    return {"model": model, "clusters": clusters, "accuracy": cluster_accuracy(clusters, split.y_novel)}


def expand_grid(grid: dict) -> list[dict]:
    """All combinations of a `{name: [values]}` grid, as a list of parameter dicts."""
    if not isinstance(grid, dict) or not grid:
        raise ValueError("`grid` must be a non-empty dict {name: list of values}.")
    unknown = [k for k in grid if k not in SEARCH_KEYS]
    if unknown:
        raise ValueError(f"`grid` has unknown hyper-parameters {unknown}; known: {SEARCH_KEYS}.")
    names = list(grid)
    for name in names:
        if not isinstance(grid[name], (list, tuple)) or not grid[name]:
            raise ValueError(f"`grid[{name!r}]` must be a non-empty list of values.")
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def hidden_class_folds(num_known: int, n_folds: int, hidden_per_fold: int, seed: int = 0) -> list[list[int]]:
    """`n_folds` sets of `hidden_per_fold` known classes to hide, covering the classes round-robin in a seeded
    order (every class is hidden about equally often)."""
    if not 1 <= hidden_per_fold < num_known - 1:
        raise ValueError(
            f"`hidden_per_fold` must be in [1, num_known - 2 = {num_known - 2}] (at least two classes stay known and "
            f"clustering needs one hidden class), got {hidden_per_fold!r}."
        )
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 1:
        raise ValueError(f"`n_folds` must be a positive integer, got {n_folds!r}.")
    order = np.random.default_rng(seed).permutation(num_known).tolist()
    cycle = itertools.cycle(order)
    return [sorted(next(cycle) for _ in range(hidden_per_fold)) for _ in range(n_folds)]


def ncd_kfold_hparam_search(
    x_known: torch.Tensor,
    y_known: torch.Tensor,
    grid: dict,
    *,
    n_folds: int = 3,
    hidden_per_fold: int = 1,
    seed: int = 0,
) -> tuple[dict, list[tuple[dict, float]]]:
    """The paper's hyper-parameter search that needs no novel labels.

    In each of `n_folds` folds, `hidden_per_fold` *known* classes are hidden and play the novel classes: a PBN is
    trained on the remaining known classes (labelled) plus the hidden-class samples (unlabelled), and scored by the
    Hungarian clustering accuracy of k-means (k = the number of hidden classes) on the hidden samples. The
    configuration with the best mean score over folds is returned. Only known-class data is read.

    Args:
        x_known (`(n, d)` tensor), y_known (`(n,)` tensor): the labelled known-class samples.
        grid (`dict`): `{name: [values]}` over `w`, `learning_rate`, `epochs`, `hidden_dims`, `latent_dim`,
            `batch_size`.
        n_folds, hidden_per_fold, seed: fold count, classes hidden per fold, seed of the folds and the models.

    Returns:
        `(best_params, [(params, mean fold accuracy), ...])`.
    """
    y = np.asarray(y_known).astype(np.int64)
    classes = np.unique(y)
    folds = hidden_class_folds(len(classes), n_folds, hidden_per_fold, seed)
    configs = expand_grid(grid)
    splits = [ncd_split(x_known, y, [c for c in classes if c not in set(classes[h])]) for h in folds]
    results = []
    for params in configs:
        scores = [train_and_discover(split, params, seed=seed)["accuracy"] for split in splits]
        results.append((params, float(np.mean(scores))))
    best = max(results, key=lambda item: item[1])[0]
    return best, results


@dataclass
class PBNArguments(RecipeArguments):
    max_steps: int = field(default=210, metadata={"help": "Optimisation steps (210 ≈ 30 epochs of 7 batches)."})
    checkpoint_every: int = field(default=100, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=20, metadata={"help": "Log training metrics every N steps."})
    w: float = field(default=0.5, metadata={"help": "Cross-entropy weight w in [0, 1] (1 − w on reconstruction)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate."})
    batch_size: int = field(default=256, metadata={"help": "Mixed batch size (known and unlabelled samples)."})
    hidden_size: int = field(default=64, metadata={"help": "Width of the encoder's hidden layer."})
    latent_dim: int = field(default=16, metadata={"help": "Width of the latent space."})
    num_known: int = field(default=5, metadata={"help": "Digits 0..num_known-1 are known; the others are novel."})
    clustering: str = field(default="kmeans", metadata={"help": "'kmeans' or 'ncd_kmeans' for the novel classes."})
    estimate_k: bool = field(default=True, metadata={"help": "Estimate the number of novel classes (silhouette)."})

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.w <= 1.0:
            raise ValueError(f"--w must be in [0, 1], got {self.w}")
        for name in ("learning_rate", "batch_size", "hidden_size", "latent_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if not 2 <= self.num_known <= 8:
            raise ValueError(f"--num_known must be in [2, 8] (two novel digits at least), got {self.num_known}")
        if self.clustering not in ("kmeans", "ncd_kmeans"):
            raise ValueError(f"--clustering must be 'kmeans' or 'ncd_kmeans', got {self.clustering!r}")


__all__ = [
    "NCDSplit",
    "PBNArguments",
    "PBNTrainer",
    "build_pbn",
    "digits_ncd",
    "expand_grid",
    "fit_pbn",
    "hidden_class_folds",
    "mixed_tensors",
    "ncd_kfold_hparam_search",
    "ncd_split",
    "train_and_discover",
]
