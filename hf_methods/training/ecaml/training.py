"""Training pieces shared by `recipes/ecaml.py`, the claim check and the tests: zero-shot metric learning on digits.

- [`ECAMLArguments`]: the arguments of `recipes/ecaml.py`;
- [`zero_shot_digits`]: scikit-learn's digits split by class: the seen classes' training images to train on, their
  test images, and every image of the unseen classes for zero-shot evaluation; optionally a spurious side channel
  (a one-hot of the seen label; a random one-hot for unseen classes) that offers the embedding a shortcut;
- [`embedding_mlp`], [`ecaml_step_loss`] (metric loss + EC on detached features), [`evaluate_embeddings`],
  [`spurious_weight_share`] and [`train_zero_shot`] (the plain-torch loop of the claim check).

`DigitsEmbeddingDataset` and [`train_zero_shot`] are generic for any embedding model built by [`embedding_mlp`]; the
EC term is switched off with `ec_weight=0`, which gives the base-loss baseline from the same seed, initial weights and
batch order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

from .evaluation import METRIC_LOSSES, resolve_metric_loss, retrieval_metrics
from .loss import PAIRS, SAMPLINGS, EnergyConfusionLoss

NUM_CLASSES = 10
RECALL_KS = (1, 2, 4, 8)


@dataclass
class ECAMLArguments(RecipeArguments):
    max_steps: int = field(
        default=1000, metadata={"help": "Optimisation steps (1000 ≈ 90 epochs of the seen classes)."}
    )
    checkpoint_every: int = field(default=250, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=50, metadata={"help": "Log training metrics every N steps."})
    seen_classes: list[int] = field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        metadata={"help": "Digit classes trained on; the others are the unseen (zero-shot) evaluation classes."},
    )
    spurious_channel: bool = field(
        default=False,
        metadata={
            "help": "Append a 5-d side channel to the head's input: a one-hot of the seen label on seen classes, a "
            "random one-hot on unseen ones (a shortcut that does not transfer; the claim check's setting)."
        },
    )
    metric_loss: str = field(
        default="binomial_deviance", metadata={"help": f"Base metric loss: one of {sorted(METRIC_LOSSES)}."}
    )
    ec_weight: float = field(default=0.13, metadata={"help": "λ of the energy-confusion term λ·log E (0: off)."})
    num_partners: int = field(default=10, metadata={"help": "EC partners drawn per anchor (official random_num)."})
    ec_pairs: str = field(default="negative", metadata={"help": f"EC pair kind: one of {PAIRS}."})
    ec_sampling: str = field(default="uniform", metadata={"help": f"EC partner scheme: one of {SAMPLINGS}."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate (constant)."})
    weight_decay: float = field(default=2e-4, metadata={"help": "L2 penalty added to the gradient (official 2e-4)."})
    batch_size: int = field(default=64, metadata={"help": "Batch size per process."})
    hidden_sizes: list[int] = field(default_factory=lambda: [128, 64], metadata={"help": "MLP backbone widths."})
    hidden_act: str = field(default="relu", metadata={"help": "MLP activation: tanh, relu, gelu or sigmoid."})
    embedding_size: int = field(default=32, metadata={"help": "Embedding dimension."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out (seen-class test images)."})

    def validate(self) -> None:
        super().validate()
        if self.metric_loss not in METRIC_LOSSES:
            raise ValueError(f"--metric_loss must be one of {sorted(METRIC_LOSSES)}, got {self.metric_loss!r}")
        if self.ec_pairs not in PAIRS:
            raise ValueError(f"--ec_pairs must be one of {PAIRS}, got {self.ec_pairs!r}")
        if self.ec_sampling not in SAMPLINGS:
            raise ValueError(f"--ec_sampling must be one of {SAMPLINGS}, got {self.ec_sampling!r}")
        if not self.ec_weight >= 0:
            raise ValueError(f"--ec_weight must be >= 0, got {self.ec_weight}")
        for name in ("num_partners", "learning_rate", "batch_size", "embedding_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError(f"--batch_size must be >= 2 (metric losses need pairs), got {self.batch_size}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight_decay must be >= 0, got {self.weight_decay}")
        if not self.hidden_sizes or any(h <= 0 for h in self.hidden_sizes):
            raise ValueError(f"--hidden_sizes must be positive widths, got {self.hidden_sizes}")
        if self.hidden_act not in ("tanh", "relu", "gelu", "sigmoid"):
            raise ValueError(f"--hidden_act must be tanh, relu, gelu or sigmoid, got {self.hidden_act!r}")
        seen = set(self.seen_classes)
        if len(seen) != len(self.seen_classes) or not seen <= set(range(NUM_CLASSES)):
            raise ValueError(f"--seen_classes must be distinct digits in 0..9, got {self.seen_classes}")
        if not 2 <= len(seen) <= NUM_CLASSES - 2:
            raise ValueError(
                f"--seen_classes must leave at least 2 seen and 2 unseen classes, got {self.seen_classes}"
            )
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")

    def build_energy_confusion(self) -> EnergyConfusionLoss | None:
        """The EC term of this run, or `None` when `--ec_weight 0`."""
        if self.ec_weight == 0:
            return None
        return EnergyConfusionLoss(self.num_partners, self.ec_weight, pairs=self.ec_pairs, sampling=self.ec_sampling)


# ----------------------------------------------------------------------------------------------------------- data


@dataclass
class EmbeddingSplit:
    """Images `x` (N, 64), labels `y` (N,) and side features `s` (N, side) or `None`."""

    x: torch.Tensor
    y: torch.Tensor
    s: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.y)

    def inputs(self, index=None) -> dict[str, torch.Tensor]:
        index = slice(None) if index is None else index
        out = {"pixel_values": self.x[index]}
        if self.s is not None:
            out["side_features"] = self.s[index]
        return out


@dataclass
class ZeroShotDigits:
    """`train` (seen classes, training split), `seen_test` (seen classes, test split), `unseen` (all images of the
    unseen classes, both splits: none of them is ever trained on)."""

    train: EmbeddingSplit
    seen_test: EmbeddingSplit
    unseen: EmbeddingSplit
    seen_classes: tuple[int, ...]


def zero_shot_digits(
    seed: int, seen_classes: Sequence[int] = (0, 1, 2, 3, 4), *, spurious: bool = False, test_size: float = 0.2
) -> ZeroShotDigits:
    """The zero-shot class split of digits (seeded by `seed` only).

    With `spurious=True` every split gets side features of size `len(seen_classes)`: the one-hot of the label's
    position among the seen classes for seen-class images (train and test: a perfect shortcut), and a random one-hot
    for unseen-class images (noise: the shortcut does not transfer to new classes).
    """
    from hf_methods.common.data import load_digits
    from hf_methods.common.splits import class_split

    train, test = load_digits(test_size=test_size, seed=seed)
    seen = tuple(sorted(int(c) for c in seen_classes))
    train_seen, train_unseen = class_split(train.y, seen)
    test_seen, test_unseen = class_split(test.y, seen)
    x_train, y_train = (torch.from_numpy(a) for a in (train.x, train.y))
    x_test, y_test = (torch.from_numpy(a) for a in (test.x, test.y))
    splits = {
        "train": (x_train[train_seen], y_train[train_seen]),
        "seen_test": (x_test[test_seen], y_test[test_seen]),
        "unseen": (
            torch.cat([x_train[train_unseen], x_test[test_unseen]]),
            torch.cat([y_train[train_unseen], y_test[test_unseen]]),
        ),
    }
    rng = np.random.default_rng(seed + 1)
    position = {c: i for i, c in enumerate(seen)}
    out = {}
    for name, (x, y) in splits.items():
        side = None
        if spurious:
            if name == "unseen":
                hot = torch.from_numpy(rng.integers(0, len(seen), size=len(y)))
            else:
                hot = torch.tensor([position[int(c)] for c in y])
            side = nn.functional.one_hot(hot, len(seen)).float()
        out[name] = EmbeddingSplit(x, y, side)
    return ZeroShotDigits(out["train"], out["seen_test"], out["unseen"], seen)


class DigitsEmbeddingDataset(torch.utils.data.Dataset):
    """An `EmbeddingSplit` as `{"pixel_values", "labels"[, "side_features"]}` items (for DataLoaders and Trainers)."""

    def __init__(self, split: EmbeddingSplit):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {**self.split.inputs(i), "labels": self.split.y[i]}


# ----------------------------------------------------------------------------------------------------------- model


def embedding_mlp(
    hidden_sizes: Sequence[int] = (128, 64),
    embedding_size: int = 32,
    side_features_size: int = 0,
    hidden_act: str = "relu",
    input_size: int = 64,
):
    """`MLPForMetricLearning`: MLP backbone 64-h…-h, then a linear head on `[h; side features]`."""
    from hf_methods.common.mlp import MLPConfig

    from .modeling import MLPForMetricLearning

    config = MLPConfig(
        input_size=input_size,
        hidden_sizes=list(hidden_sizes),
        hidden_act=hidden_act,
        num_labels=1,  # unused: the model has no classifier
        embedding_size=embedding_size,
        side_features_size=side_features_size,
    )
    return MLPForMetricLearning(config)


def ecaml_step_loss(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    metric_loss,
    energy_confusion: EnergyConfusionLoss | None,
    metric_loss_kwargs: dict | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """`L_metric(head(h), y) + λ log E(head(h.detach()), y)` of one batch; returns `(loss, parts)`."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    labels = batch["labels"]
    out = model(**inputs)
    loss = resolve_metric_loss(metric_loss)(out.embeddings, labels, **(metric_loss_kwargs or {}))
    parts = {"metric": loss.detach()}
    if energy_confusion is not None:
        head = model.module.get_embedding_head() if hasattr(model, "module") else model.get_embedding_head()
        ec = energy_confusion(head(out.features.detach()), labels)
        loss = loss + ec
        parts["energy_confusion"] = ec.detach()
    return loss, parts


# ----------------------------------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def embed(model: nn.Module, split: EmbeddingSplit, batch_size: int = 1024) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = torch.cat(
        [model(**split.inputs(slice(i, i + batch_size))).embeddings for i in range(0, len(split), batch_size)]
    )
    model.train(was_training)
    return out


def evaluate_embeddings(model: nn.Module, split: EmbeddingSplit, *, seed: int = 0) -> dict[str, float]:
    """Recall@1/2/4/8 and NMI of the model's embeddings of `split`."""
    return retrieval_metrics(embed(model, split), split.y, RECALL_KS, seed=seed)


def spurious_weight_share(model: nn.Module, side_features_size: int) -> float:
    """‖W[:, side]‖²_F / ‖W‖²_F of the embedding head: the share of its weight norm on the side-channel inputs."""
    weight = model.get_embedding_head().weight.detach()
    return (weight[:, weight.shape[1] - side_features_size :].pow(2).sum() / weight.pow(2).sum()).item()


def train_zero_shot(
    data: ZeroShotDigits,
    *,
    seed: int,
    ec_weight: float,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 2e-4,
    hidden_sizes: Sequence[int] = (128, 64),
    hidden_act: str = "relu",
    embedding_size: int = 32,
    num_partners: int = 10,
    ec_pairs: str = "negative",
    ec_sampling: str = "uniform",
    metric_loss: str = "binomial_deviance",
    eval_every: int = 0,
) -> dict:
    """Trains an embedding MLP on `data.train` in plain torch (no Accelerator: fast) and evaluates it.

    The initial weights (`torch.manual_seed(seed)`) and the batch order (its own generator) depend on `seed` only,
    so the run with `ec_weight=0` (the base loss alone) and the ECAML run of a seed start from the same network
    and see the same batches; only the EC partner draws use torch's global generator after initialisation.
    Returns unseen-class (zero-shot) and seen-class test metrics, the head's spurious weight share (when the data
    has side features), the curve of unseen Recall@1 every `eval_every` steps and the training time.
    """
    side = 0 if data.train.s is None else data.train.s.shape[1]
    torch.manual_seed(seed)
    model = embedding_mlp(hidden_sizes, embedding_size, side, hidden_act)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    ec = EnergyConfusionLoss(num_partners, ec_weight, pairs=ec_pairs, sampling=ec_sampling) if ec_weight > 0 else None
    order = torch.Generator().manual_seed(seed)
    n = len(data.train)
    batches = iter(())
    curve, start = [], time.perf_counter()
    for step in range(steps):
        idx = next(batches, None)
        if idx is None:
            batches = iter(torch.randperm(n, generator=order).split(batch_size))
            idx = next(batches)
        if len(idx) < 2:  # a last batch of one example has no pair
            continue
        batch = {**data.train.inputs(idx), "labels": data.train.y[idx]}
        loss, _ = ecaml_step_loss(model, batch, metric_loss, ec)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if eval_every and ((step + 1) % eval_every == 0):
            curve.append((step + 1, evaluate_embeddings(model, data.unseen, seed=seed)["recall@1"]))
    seconds = time.perf_counter() - start
    result = {
        "unseen": evaluate_embeddings(model, data.unseen, seed=seed),
        "seen_test": evaluate_embeddings(model, data.seen_test, seed=seed),
        "curve": curve,
        "train_seconds": seconds,
    }
    if side:
        result["spurious_weight_share"] = spurious_weight_share(model, side)
    return result


__all__ = [
    "DigitsEmbeddingDataset",
    "ECAMLArguments",
    "EmbeddingSplit",
    "ZeroShotDigits",
    "ecaml_step_loss",
    "embed",
    "embedding_mlp",
    "evaluate_embeddings",
    "spurious_weight_share",
    "train_zero_shot",
    "zero_shot_digits",
]
