"""The digits experiment of the weight compander, shared by the claim and the tests.

A `MLPForImageClassification` (dropout, weight decay: the standard regularisation WC is added to) is trained on a
subset of scikit-learn digits with or without the compander; the compander is baked before evaluation and saving, so
the measured model is a plain one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from hf_methods.common.data import load_digits
from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

from .compander import apply_weight_compander, compander_values, near_zero_fraction, remove_weight_compander


def train_digits(
    *,
    use_compander: bool,
    seed: int = 0,
    train_fraction: float = 0.25,
    hidden_sizes=(256, 256),
    dropout: float = 0.2,
    weight_decay: float = 5e-4,
    epochs: int = 60,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    alpha: float = 1.0,
    beta: float = 2.0,
    learnable: bool = True,
    compander: str = "tanh",
) -> dict:
    """Train one model and return its test accuracy, near-zero fraction, learned α/β and saved size.

    Weight decay (coupled L2 in Adam) acts on the weights the optimiser updates: v with the compander, w without;
    α and β are not decayed.
    """
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction!r}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got epochs={epochs!r}, batch_size={batch_size!r}")
    train, test = load_digits(test_size=0.2, seed=0)
    g = torch.Generator().manual_seed(seed)
    x, y = torch.as_tensor(train.x), torch.as_tensor(train.y).long()
    keep = torch.randperm(len(y), generator=g)[: max(1, int(round(train_fraction * len(y))))]
    x, y = x[keep], y[keep]
    torch.manual_seed(seed)
    model = MLPForImageClassification(
        MLPConfig(input_size=64, hidden_sizes=list(hidden_sizes), num_labels=10, dropout=dropout, hidden_act="relu")
    )
    if use_compander:
        apply_weight_compander(model, alpha=alpha, beta=beta, learnable=learnable, compander=compander)
    companders = [p for n, p in model.named_parameters() if "log_alpha" in n or "log_beta" in n]
    others = [p for n, p in model.named_parameters() if not ("log_alpha" in n or "log_beta" in n)]
    groups = [{"params": others, "weight_decay": weight_decay}]
    if companders:
        groups.append({"params": companders, "weight_decay": 0.0})
    opt = torch.optim.Adam(groups, lr=learning_rate)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=g)
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad()
            F.cross_entropy(model(pixel_values=x[idx]).logits, y[idx]).backward()
            opt.step()
    values = compander_values(model) if use_compander else {}
    if use_compander:
        remove_weight_compander(model)
    model.eval()
    with torch.no_grad():
        pred = model(pixel_values=torch.as_tensor(test.x)).logits.argmax(-1)
    accuracy = (pred == torch.as_tensor(test.y)).float().mean().item()
    n_weights = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        size = sum(f.stat().st_size for f in Path(folder).glob("*.safetensors"))
    return {
        "accuracy": accuracy,
        "near_zero_fraction": near_zero_fraction(model, modules=(torch.nn.Linear,)),
        "bits_per_weight": 8.0 * size / n_weights,
        "companders": values,
        "n_train": len(y),
    }


# ------------------------------------------------------------------------------------------------------------ recipe

from dataclasses import dataclass, field  # noqa: E402

from hf_methods.harness.recipe import RecipeArguments  # noqa: E402

from .compander import COMPANDERS  # noqa: E402


@dataclass
class WeightCompanderArguments(RecipeArguments):
    """Flags of `recipes/weight_compander.py` (digits MLP with dropout + weight decay, with or without WC)."""

    max_steps: int = field(default=720, metadata={"help": "Optimisation steps (720 ≈ 60 epochs of 12 batches)."})
    checkpoint_every: int = field(default=240, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=40, metadata={"help": "Log training metrics every N steps."})
    use_compander: bool = field(default=True, metadata={"help": "Reparameterise the Linear weights with WC."})
    alpha: float = field(default=1.0, metadata={"help": "Initial bound α of the compander (per layer)."})
    beta: float = field(default=2.0, metadata={"help": "Initial slope β at the origin of the compander (per layer)."})
    learnable: bool = field(default=True, metadata={"help": "Learn α and β per layer."})
    compander: str = field(default="tanh", metadata={"help": f"Compander function: one of {sorted(COMPANDERS)}."})
    train_fraction: float = field(default=0.25, metadata={"help": "Fraction of the digits training split used."})
    hidden_size: int = field(default=256, metadata={"help": "Width of the two ReLU hidden layers."})
    dropout: float = field(default=0.2, metadata={"help": "Dropout after each hidden layer."})
    weight_decay: float = field(default=5e-4, metadata={"help": "Adam L2 weight decay (not on α, β)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate."})
    batch_size: int = field(default=32, metadata={"help": "Batch size per process."})

    def validate(self) -> None:
        super().validate()
        for name in ("alpha", "beta", "learning_rate", "batch_size", "hidden_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)!r}")
        if self.compander not in COMPANDERS:
            raise ValueError(f"--compander must be one of {sorted(COMPANDERS)}, got {self.compander!r}")
        if not 0.0 < self.train_fraction <= 1.0:
            raise ValueError(f"--train_fraction must be in (0, 1], got {self.train_fraction!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout!r}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight_decay must be >= 0, got {self.weight_decay!r}")
