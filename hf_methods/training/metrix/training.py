"""Training pieces shared by `recipes/metrix.py`, the claim check and the tests: zero-shot retrieval on digits.

- [`MetrixArguments`]: the arguments of `recipes/metrix.py`; `args.build_loss()` builds the [`MetrixLoss`];
- [`zero_shot_digits`]: scikit-learn's 1797 digits split by class (train on the seen classes, retrieve among the
  unseen ones), with the shared `class_split`;
- [`digits_embedder`] (an MLP 64-128-32 whose 32 outputs are the embedding), [`embed`];
- [`evaluate_zero_shot`]: Recall@K and clustering NMI on the unseen classes and the utilization of the unseen
  embeddings with respect to the training ones;
- [`train_embedder`]: the plain-torch loop of the claim check (the same [`metrix_step_loss`] as the Trainer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

from .loss import BASES, LEVELS, PAIRINGS, MetrixLoss

#: The recipe's levels: the three Metrix levels, or "none" for the base loss alone (the baseline).
RECIPE_LEVELS = ("none", *LEVELS)
#: The submodule of [`digits_embedder`] whose output is mixed at the feature level (the hidden features).
FEATURE_MODULE = "mlp.layers"


def parse_classes(text: str) -> list[int]:
    """`"0-4"` or `"0,1,2,3,4"` → `[0, 1, 2, 3, 4]`."""
    classes: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            low, high = (int(v) for v in part.split("-", 1))
            classes.extend(range(low, high + 1))
        else:
            classes.append(int(part))
    return sorted(set(classes))


@dataclass
class MetrixArguments(RecipeArguments):
    max_steps: int = field(default=420, metadata={"help": "Optimisation steps (420 ≈ 30 epochs of 14 batches)."})
    checkpoint_every: int = field(default=200, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=20, metadata={"help": "Log training metrics every N steps."})
    level: str = field(
        default="embedding",
        metadata={"help": f"What Metrix mixes: one of {list(LEVELS)}, or 'none' for the base loss alone."},
    )
    base: str = field(default="contrastive", metadata={"help": f"The base metric loss: one of {list(BASES)}."})
    alpha: float = field(default=2.0, metadata={"help": "λ ~ Beta(α, α)."})
    weight: float = field(default=0.4, metadata={"help": "Weight of the positive-negative Metrix term."})
    anchor_negative_weight: float | None = field(
        default=None,
        metadata={"help": "Weight of the anchor-negative term (default: 0.3 at the embedding level, else --weight)."},
    )
    pairing: str = field(default="random", metadata={"help": f"One of {list(PAIRINGS)}."})
    top_k: int | None = field(
        default=None, metadata={"help": "Mix only the k hardest negatives (default: 1 at the input level, else all)."}
    )
    margin: float = field(default=0.5, metadata={"help": "Margin m of the base loss (on cosine similarity)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate."})
    weight_decay: float = field(default=1e-4, metadata={"help": "Adam weight decay (the official 1e-4)."})
    batch_size: int = field(default=64, metadata={"help": "Batch size per process (random batches, as for CUB)."})
    hidden_size: int = field(default=128, metadata={"help": "Width of the MLP's hidden layer."})
    embedding_size: int = field(default=32, metadata={"help": "Dimension of the embedding."})
    seen_classes: str = field(
        default="0-4", metadata={"help": "Training classes ('0-4' or '0,2,4'); the rest are unseen."}
    )

    def validate(self) -> None:
        super().validate()
        if self.level not in RECIPE_LEVELS:
            raise ValueError(f"--level must be one of {list(RECIPE_LEVELS)}, got {self.level!r}")
        if self.base not in BASES:
            raise ValueError(f"--base must be one of {list(BASES)}, got {self.base!r}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"--pairing must be one of {list(PAIRINGS)}, got {self.pairing!r}")
        for name in ("alpha", "learning_rate", "batch_size", "hidden_size", "embedding_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError(f"--batch_size must be >= 2 (pairs need two examples), got {self.batch_size}")
        for name in ("weight", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if self.anchor_negative_weight is not None and self.anchor_negative_weight < 0:
            raise ValueError(f"--anchor_negative_weight must be >= 0, got {self.anchor_negative_weight}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"--top_k must be >= 1, got {self.top_k}")
        try:
            seen = parse_classes(self.seen_classes)
        except ValueError:
            raise ValueError(f"--seen_classes must look like '0-4' or '0,2,4', got {self.seen_classes!r}") from None
        if not seen or any(c < 0 or c > 9 for c in seen) or len(seen) > 9:
            raise ValueError(f"--seen_classes must name 1 to 9 digits in 0..9, got {self.seen_classes!r}")

    def build_loss(self) -> MetrixLoss:
        """The objective of this run (at `--level none` a `MetrixLoss` whose clean part alone is used)."""
        return MetrixLoss(
            base=self.base,
            level="embedding" if self.level == "none" else self.level,
            alpha=self.alpha,
            weight=self.weight,
            anchor_negative_weight=self.anchor_negative_weight,
            pairing=self.pairing,
            top_k=self.top_k,
            margin=self.margin,
            seed=self.seed,
        )


# ----------------------------------------------------------------------------------------------------------- data


@dataclass
class ZeroShotDigits:
    """Digits split by class: `x`/`y` of the seen (training) classes, `x_test`/`y_test` of the unseen ones."""

    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    seen_classes: list[int]


def zero_shot_digits(seen_classes=range(5)) -> ZeroShotDigits:
    """All 1797 digits (x in [0, 1]); the seen classes to train on, the others to retrieve among (zero-shot)."""
    from hf_methods.common.data import load_digits
    from hf_methods.common.splits import class_split

    train, test = load_digits(test_size=0.2, seed=0)
    x = torch.from_numpy(np.concatenate([train.x, test.x]))
    y = torch.from_numpy(np.concatenate([train.y, test.y]))
    seen_idx, unseen_idx = class_split(y, seen_classes)
    seen_idx, unseen_idx = torch.from_numpy(seen_idx), torch.from_numpy(unseen_idx)
    return ZeroShotDigits(x[seen_idx], y[seen_idx], x[unseen_idx], y[unseen_idx], sorted(int(c) for c in seen_classes))


# ----------------------------------------------------------------------------------------------------------- model


def digits_embedder(hidden_size: int = 128, embedding_size: int = 32):
    """The MLP 64-`hidden_size`-`embedding_size` (ReLU); its `logits` are the embedding (L2-normalised by the
    losses and the retrieval)."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    config = MLPConfig(input_size=64, hidden_sizes=[hidden_size], hidden_act="relu", num_labels=embedding_size)
    return MLPForImageClassification(config)


@torch.no_grad()
def embed(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """L2-normalised embeddings of `x` in eval mode (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(pixel_values=x[i : i + batch_size]).logits for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return torch.nn.functional.normalize(out, dim=-1)


def evaluate_zero_shot(model: nn.Module, data: ZeroShotDigits, *, seed: int = 0) -> dict[str, float]:
    """Recall@{1,2,4,8} and NMI among the unseen classes, and the utilization of the unseen embeddings."""
    from hf_methods.common.metric_learning import clustering_nmi, recall_at_k

    from .analysis import utilization

    test = embed(model, data.x_test)
    train = embed(model, data.x)
    recalls = recall_at_k(test, data.y_test, ks=(1, 2, 4, 8))
    metrics = {f"recall_at_{k}": v for k, v in recalls.items()}
    metrics["nmi"] = clustering_nmi(test, data.y_test, seed=seed)
    metrics["utilization"] = utilization(train, test)
    metrics["seen_recall_at_1"] = recall_at_k(train, data.y, ks=(1,))[1]
    return metrics


# ----------------------------------------------------------------------------------------------------------- loop


def train_embedder(
    data: ZeroShotDigits,
    *,
    level: str,
    seed: int,
    epochs: int,
    base: str = "contrastive",
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    alpha: float = 2.0,
    weight: float = 0.4,
    anchor_negative_weight: float | None = None,
    pairing: str = "random",
    top_k: int | None = None,
    margin: float = 0.5,
    hidden_size: int = 128,
    embedding_size: int = 32,
    clip_value: float = 10.0,
) -> dict:
    """Trains the digits embedder on the seen classes in plain torch and evaluates it zero-shot.

    `level="none"` trains the base loss alone. The initial weights and the batch order depend on `seed` only, so
    every level of a seed starts from the same network and sees the same batches; λ and the pairing come from the
    loss's own generator (seeded by `seed`). Gradients are clipped by value at `clip_value`, as in the official code.
    Returns the metrics of [`evaluate_zero_shot`] and the mean training loss parts.
    """
    if level not in RECIPE_LEVELS:
        raise ValueError(f"level must be one of {RECIPE_LEVELS}, got {level!r}")
    from .trainer import metrix_step_loss

    torch.manual_seed(seed)
    model = digits_embedder(hidden_size, embedding_size)
    loss_fn = MetrixLoss(
        base=base,
        level="embedding" if level == "none" else level,
        alpha=alpha,
        weight=weight,
        anchor_negative_weight=anchor_negative_weight,
        pairing=pairing,
        top_k=top_k,
        margin=margin,
        seed=seed,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    order = torch.Generator().manual_seed(seed)
    n = len(data.y)
    clean_sum, metrix_sum, steps = 0.0, 0.0, 0
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=order).split(batch_size):
            if len(idx) < 2:
                continue
            inputs, labels = {"pixel_values": data.x[idx]}, data.y[idx]
            if level == "none":
                clean = loss_fn.clean_loss(model(**inputs).logits, labels).mean()
                loss, logs = clean, {"clean_loss": clean.item(), "metrix_loss": 0.0}
            else:
                loss, logs = metrix_step_loss(model, inputs, labels, loss_fn, feature_module=FEATURE_MODULE)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_value_(model.parameters(), clip_value)
            optimizer.step()
            clean_sum, metrix_sum, steps = clean_sum + logs["clean_loss"], metrix_sum + logs["metrix_loss"], steps + 1
    result = evaluate_zero_shot(model, data, seed=seed)
    result.update({"train_clean_loss": clean_sum / max(steps, 1), "train_metrix_loss": metrix_sum / max(steps, 1)})
    result["steps"] = steps
    return result


__all__ = [
    "FEATURE_MODULE",
    "RECIPE_LEVELS",
    "MetrixArguments",
    "ZeroShotDigits",
    "digits_embedder",
    "embed",
    "evaluate_zero_shot",
    "parse_classes",
    "train_embedder",
    "zero_shot_digits",
]
