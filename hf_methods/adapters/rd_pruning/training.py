"""Pieces shared by `recipes/rd_pruning.py`, the claim check and the tests: a digits MLP, its training, and the
rate–distortion allocation against the paper's uniform and global magnitude baselines at one sparsity.

- [`RDPruningArguments`]: the arguments of `recipes/rd_pruning.py`;
- [`digits_mlp`], [`train_dense`], [`accuracy`]: the model to prune and its plain cross-entropy training;
- [`prune_copy`]: a pruned copy of a model by `"rd"` (the DP allocation), `"uniform"` or `"global"` magnitude.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.common.evaluation import accuracy  # noqa: F401  (re-exported for the recipe, claim and tests)
from hf_methods.harness.recipe import RecipeArguments

PRUNE_KINDS = ("rd", "uniform", "global")
ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid")


@dataclass
class RDPruningArguments(RecipeArguments):
    """Arguments of `recipes/rd_pruning.py`: train an MLP on scikit-learn digits, prune it by the rate–distortion
    allocation (or a baseline) at `--target_sparsity`, optionally fine-tune with the masks fixed, save it baked."""

    max_steps: int = field(default=600, metadata={"help": "Dense training steps before pruning."})
    checkpoint_every: int = field(default=0, metadata={"help": "Checkpoint every N dense steps (0: only at the end)."})
    hidden_sizes: str = field(default="256,256", metadata={"help": "Comma-separated hidden widths of the MLP."})
    hidden_act: str = field(default="relu", metadata={"help": f"Activation, one of {ACTIVATIONS}."})
    batch_size: int = field(default=64, metadata={"help": "Training batch size."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate (dense training, fine-tuning)."})
    prune: str = field(default="rd", metadata={"help": f"Allocation: one of {PRUNE_KINDS}."})
    target_sparsity: float = field(default=0.9, metadata={"help": "Fraction of the weights pruned, in [0, 1)."})
    levels: int = field(default=50, metadata={"help": "Amount steps S of each rate–distortion curve (paper: 100)."})
    calibration_size: int = field(default=256, metadata={"help": "Training images used to measure distortion."})
    worst_case: bool = field(default=False, metadata={"help": "Worst-case (max over samples) distortion curves."})
    finetune_steps: int = field(default=0, metadata={"help": "Fine-tuning steps after pruning, masks fixed."})

    def validate(self) -> None:
        super().validate()
        sizes = parse_hidden_sizes(self.hidden_sizes)
        if not sizes:
            raise ValueError("--hidden_sizes is empty")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"--hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if self.prune not in PRUNE_KINDS:
            raise ValueError(f"--prune must be one of {PRUNE_KINDS}, got {self.prune!r}")
        if not 0.0 <= self.target_sparsity < 1.0:
            raise ValueError(f"--target_sparsity must be in [0, 1), got {self.target_sparsity}")
        for name in ("batch_size", "learning_rate", "levels", "calibration_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.finetune_steps < 0:
            raise ValueError(f"--finetune_steps must be >= 0, got {self.finetune_steps}")


def parse_hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--hidden_sizes must be comma-separated ints, got {text!r}") from None
    if any(s <= 0 for s in sizes):
        raise ValueError(f"--hidden_sizes must be positive, got {text!r}")
    return sizes


def digits_mlp(hidden_sizes=(256, 256), hidden_act: str = "relu", seed: int = 0):
    """A fresh `MLPForImageClassification` 64 → hidden_sizes → 10 (PyTorch's default init under `seed`)."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    config = MLPConfig(input_size=64, hidden_sizes=list(hidden_sizes), hidden_act=hidden_act, num_labels=10)
    return MLPForImageClassification(config)


def train_step(model: nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    model.train()
    loss = nn.functional.cross_entropy(model(pixel_values=x).logits, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def train_dense(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, batch_size: int, lr: float, seed=0):
    """Adam on cross-entropy for `steps` minibatches (data order from `seed`); returns the last loss."""
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss = float("nan")
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch_size,), generator=g)
        loss = train_step(model, optimizer, x[idx], y[idx])
    return loss


def prune_copy(model: nn.Module, kind: str, target_sparsity: float, calibration, *, levels=50, worst_case=False):
    """A pruned (masked, not baked) deep copy of `model`, the masks, and the pruner (for its curves).

    `kind`: `"rd"` (the DP allocation over the rate–distortion curves), `"uniform"` (the same fraction of every
    layer) or `"global"` (one magnitude threshold over all layers).
    """
    from hf_methods.adapters.rd_pruning.pruner import RDLayerAdaptivePruner
    from hf_methods.common.masks import apply_masks

    if kind not in PRUNE_KINDS:
        raise ValueError(f"kind must be one of {PRUNE_KINDS}, got {kind!r}")
    pruned = copy.deepcopy(model)
    pruner = RDLayerAdaptivePruner(pruned, calibration, levels=levels, worst_case=worst_case)
    if kind == "rd":
        masks = pruner.apply(pruner.allocate(target_sparsity))
    else:
        masks = pruner.baseline_masks(target_sparsity, "uniform" if kind == "uniform" else "global")
        apply_masks(pruned, masks)
    return pruned, masks, pruner
