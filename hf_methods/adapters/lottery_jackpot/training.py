"""Training pieces shared by `recipes/lottery_jackpot.py`, the claim check and the tests.

- [`JackpotArguments`]: the recipe's arguments;
- [`pretrain_digits_mlp`]: the dense "pretrained" MLP 64-256-256-10 on scikit-learn digits (the embedded default);
- [`jackpot_config`]: the default mask configuration (hidden layers at `sparsity`, the classifier at its own rate);
- [`search_epoch`] / [`search_jackpot`]: the score search with the swap after every optimizer step;
- [`accuracy`].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.adapters.lottery_jackpot.model import LAYERWISE, JackpotMaskConfig, jackpot_swap
from hf_methods.common.evaluation import accuracy  # noqa: F401  (re-exported for the recipe, claim and tests)
from hf_methods.harness.recipe import RecipeArguments

NUM_CLASSES = 10


@dataclass
class JackpotArguments(RecipeArguments):
    """Arguments of `recipes/lottery_jackpot.py` (pretrain a dense digits MLP, then search a jackpot mask in it)."""

    max_steps: int = field(default=345, metadata={"help": "Search steps (345 = 15 epochs of batch 64 on digits)."})
    checkpoint_every: int = field(default=0, metadata={"help": "Save a resumable checkpoint every N steps (0: end)."})
    sparsity: float = field(default=0.95, metadata={"help": "Fraction of the hidden-layer weights pruned."})
    classifier_sparsity: float = field(
        default=0.5,
        metadata={"help": "Fraction of the classifier's weights pruned (-1: leave it dense, as official)."},
    )
    layerwise: str = field(default="uniform", metadata={"help": f"Layer rates: one of {LAYERWISE}."})
    learning_rate: float = field(default=0.1, metadata={"help": "SGD learning rate of the scores."})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum."})
    weight_decay: float = field(default=0.0, metadata={"help": "Weight decay of the scores (weights stay frozen)."})
    batch_size: int = field(default=64, metadata={"help": "Examples per step."})
    hidden_size: int = field(default=256, metadata={"help": "Hidden width of the pretrained MLP."})
    pretrain_epochs: int = field(default=30, metadata={"help": "Epochs of dense pretraining (Adam 1e-3)."})

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"--sparsity must be in [0, 1), got {self.sparsity}")
        if self.classifier_sparsity != -1 and not 0.0 <= self.classifier_sparsity < 1.0:
            raise ValueError(f"--classifier_sparsity must be in [0, 1) or -1, got {self.classifier_sparsity}")
        if self.layerwise not in LAYERWISE:
            raise ValueError(f"--layerwise must be one of {LAYERWISE}, got {self.layerwise!r}")
        for name in ("learning_rate", "batch_size", "hidden_size", "pretrain_epochs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("momentum", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")


def jackpot_config(sparsity: float, classifier_sparsity: float = 0.5, layerwise: str = "uniform"):
    """Hidden layers at `sparsity`; the classifier at `classifier_sparsity` (-1: dense, as the official code)."""
    if classifier_sparsity == -1:
        return JackpotMaskConfig(sparsity, layerwise=layerwise, exclude=("classifier",))
    return JackpotMaskConfig(sparsity, layerwise=layerwise, layer_sparsity={"classifier": classifier_sparsity})


def digits_tensors(seed: int = 0):
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=0.2, seed=seed)
    as_t = lambda s: (torch.as_tensor(s.x, dtype=torch.float32), torch.as_tensor(s.y, dtype=torch.long))  # noqa: E731
    return as_t(train), as_t(test)


def pretrain_digits_mlp(x, y, *, hidden_size=256, epochs=30, lr=1e-3, batch_size=64, seed=0):
    """A dense tanh MLP 64-h-h-10 trained with Adam: the "pretrained model" the jackpot is searched in."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    model = MLPForImageClassification(
        MLPConfig(input_size=x.shape[1], hidden_sizes=[hidden_size] * 2, hidden_act="tanh", num_labels=NUM_CLASSES)
    )
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            loss = F.cross_entropy(model(pixel_values=x[idx]).logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def score_parameters(model: nn.Module) -> list[nn.Parameter]:
    params = [p for n, p in model.named_parameters() if n.endswith(".scores")]
    if not params:
        raise ValueError("model carries no jackpot scores (call apply_jackpot_masks first)")
    return params


def search_step(model, optimizer, x, y) -> tuple[float, int]:
    """One SGD step on the scores, then the mask swap; returns (loss, weights swapped)."""
    loss = F.cross_entropy(model(pixel_values=x).logits, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item(), jackpot_swap(model)


def search_jackpot(model, x, y, *, epochs=15, lr=0.1, momentum=0.9, weight_decay=0.0, batch_size=64, seed=0):
    """The jackpot search: SGD on the scores only, swap after every step. Returns the swap counts per step."""
    opt = torch.optim.SGD(score_parameters(model), lr=lr, momentum=momentum, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    swaps = []
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            swaps.append(search_step(model, opt, x[idx], y[idx])[1])
    return swaps
