"""Training pieces shared by `recipes/stable.py`, the claim check and the tests.

- [`digits_graph`]: scikit-learn digits as a node-classification graph (k-NN graph of the pixels, random split);
- [`attack_graph`]: the DICE or random attack at a rate of the edge count;
- [`train_node_classifier`]: full-batch training of [`STABLEForNodeClassification`] with model selection on the
  validation nodes (the official loop: 200 epochs, Adam lr 1e-2, weight decay 5e-4);
- [`StableArguments`]: the recipe's arguments.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from hf_methods.common.graph import dice_attack, knn_graph, num_undirected_edges, random_attack
from hf_methods.harness.recipe import RecipeArguments

from .configuration_stable import STABLEConfig

ATTACKS = ("dice", "random", "none")

__all__ = [
    "ATTACKS",
    "DigitsGraph",
    "StableArguments",
    "attack_graph",
    "digits_graph",
    "node_accuracy",
    "train_node_classifier",
]


@dataclass
class DigitsGraph:
    """Node features `x` (N, 64) in [0, 1], `labels` (N,), the clean k-NN `adj` (N, N) and boolean split masks."""

    x: torch.Tensor
    labels: torch.Tensor
    adj: torch.Tensor
    train_mask: torch.Tensor
    val_mask: torch.Tensor
    test_mask: torch.Tensor


def digits_graph(k: int = 10, train_fraction: float = 0.1, val_fraction: float = 0.1, seed: int = 0) -> DigitsGraph:
    """The 1,797 scikit-learn digits as nodes of the symmetrised `k`-NN graph (Euclidean, pixels in [0, 1]).

    The nodes are split at random (from `seed`) into `train_fraction` labelled, `val_fraction` validation and the
    rest test nodes (10 % / 10 % / 80 % as in the paper's splits).
    """
    from sklearn.datasets import load_digits

    if not (0 < train_fraction < 1 and 0 < val_fraction < 1 and train_fraction + val_fraction < 1):
        raise ValueError(
            f"`train_fraction` and `val_fraction` must be in (0, 1) with a sum < 1, got {train_fraction}, "
            f"{val_fraction}."
        )
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    labels = torch.tensor(data.target, dtype=torch.long)
    adj = knn_graph(x, k)
    n = x.shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_train, n_val = int(round(train_fraction * n)), int(round(val_fraction * n))
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][order[:n_train]] = True
    masks[1][order[n_train : n_train + n_val]] = True
    masks[2][order[n_train + n_val :]] = True
    return DigitsGraph(x, labels, adj, *masks)


def attack_graph(adj: torch.Tensor, labels: torch.Tensor, attack: str, rate: float, seed: int = 0) -> torch.Tensor:
    """`adj` after `attack` ("dice", "random" flips or "none") of `int(rate × |E|)` undirected edges."""
    if attack not in ATTACKS:
        raise ValueError(f"`attack` must be one of {ATTACKS}, got {attack!r}.")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"`rate` (perturbed edges / edges) must be in [0, 1], got {rate!r}.")
    budget = int(rate * num_undirected_edges(adj))
    generator = torch.Generator().manual_seed(seed)
    if attack == "dice":
        return dice_attack(adj, labels, budget, generator=generator)
    if attack == "random":
        return random_attack(adj, budget, "flip", generator=generator)
    return adj.clone()


@torch.no_grad()
def node_accuracy(model, x: torch.Tensor, adj: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> float:
    """Accuracy of `model` on the nodes of `mask` (eval mode; the training mode is restored)."""
    was_training = model.training
    model.eval()
    logits = model(x, adjacency=adj).logits
    model.train(was_training)
    return (logits[mask].argmax(-1) == labels[mask]).float().mean().item()


def train_node_classifier(
    config: STABLEConfig,
    x: torch.Tensor,
    adj: torch.Tensor,
    labels: torch.Tensor,
    train_mask: torch.Tensor,
    val_mask: torch.Tensor,
    *,
    epochs: int = 200,
    learning_rate: float = 1e-2,
    weight_decay: float = 5e-4,
    seed: int = 0,
):
    """Trains a [`STABLEForNodeClassification`] full batch on the training nodes and keeps the weights of the epoch
    with the lowest validation loss or the highest validation accuracy (whichever improved last, as in the official
    loop). Returns `(model, {"val_accuracy", "best_epoch"})`; the model is in eval mode.
    """
    from .modeling_stable import STABLEForNodeClassification

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = STABLEForNodeClassification(config)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
        train_labels = torch.where(train_mask, labels, torch.full_like(labels, -100))
        # Ã once, sparse: full-batch epochs on a sparse graph cost O(edges), not O(N²)
        propagation = model.propagation_matrix(x.shape[0], adjacency=adj).to_sparse()
        best_loss, best_acc, best_state, best_epoch = float("inf"), -1.0, None, 0
        for epoch in range(epochs):
            model.train()
            loss = F.cross_entropy(_logits(model, x, propagation), train_labels, ignore_index=-100)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.eval()
            with torch.no_grad():
                logits = _logits(model, x, propagation)
            val_loss = F.cross_entropy(logits[val_mask], labels[val_mask]).item()
            val_acc = (logits[val_mask].argmax(-1) == labels[val_mask]).float().mean().item()
            if val_loss < best_loss:
                best_loss, best_state, best_epoch = val_loss, copy.deepcopy(model.state_dict()), epoch
            if val_acc > best_acc:
                best_acc, best_state, best_epoch = val_acc, copy.deepcopy(model.state_dict()), epoch
    model.load_state_dict(best_state)
    model.eval()
    return model, {"val_accuracy": node_accuracy(model, x, adj, labels, val_mask), "best_epoch": best_epoch}


def _logits(model, x, propagation):
    """The forward of [`STABLEForNodeClassification`] on a precomputed propagation matrix (Ã is built once)."""
    hidden = F.relu(model.conv1(propagation, x))
    return model.conv2(propagation, model.dropout(hidden))


@dataclass
class StableArguments(RecipeArguments):
    """Arguments of `recipes/stable.py` (the steps are full-batch epochs of the node classifier)."""

    attack: str = field(default="dice", metadata={"help": f"Structure attack on the digits graph, one of {ATTACKS}."})
    ptb_rate: float = field(default=0.2, metadata={"help": "Perturbed edges as a fraction of the graph's edges."})
    knn: int = field(default=10, metadata={"help": "Neighbours per node of the digits k-NN graph."})
    jaccard_t: float = field(default=0.03, metadata={"help": "Jaccard pre-pruning threshold on raw features."})
    cos_t: float = field(default=0.25, metadata={"help": "Drop edges whose representation cosine is <= this."})
    k: int = field(default=7, metadata={"help": "Reliable neighbours added per node."})
    beta: float = field(default=2.0, metadata={"help": "Self-loop weight of the DGI encoder's normalisation."})
    alpha: float = field(default=0.6, metadata={"help": "Exponent α of the advanced GCN normalisation."})
    embedding_dim: int = field(default=512, metadata={"help": "Width of the DGI representations."})
    dgi_epochs: int = field(default=300, metadata={"help": "Most DGI epochs (early stopping with --dgi_patience)."})
    dgi_patience: int = field(default=20, metadata={"help": "DGI epochs without a new lowest loss before stopping."})
    dgi_learning_rate: float = field(default=1e-3, metadata={"help": "DGI Adam learning rate."})
    hidden_size: int = field(default=16, metadata={"help": "Hidden width of the GCN classifier."})
    dropout: float = field(default=0.5, metadata={"help": "Dropout of the GCN classifier."})
    learning_rate: float = field(default=1e-2, metadata={"help": "Adam learning rate of the classifier."})
    weight_decay: float = field(default=5e-4, metadata={"help": "Adam weight decay of the classifier."})

    def validate(self) -> None:
        super().validate()
        if self.attack not in ATTACKS:
            raise ValueError(f"--attack must be one of {ATTACKS}, got {self.attack!r}")
        if not 0.0 <= self.ptb_rate <= 1.0:
            raise ValueError(f"--ptb_rate must be in [0, 1], got {self.ptb_rate}")
        for name in ("knn", "embedding_dim", "dgi_epochs", "dgi_patience", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.k < 0:
            raise ValueError(f"--k must be >= 0, got {self.k}")
        if not 0.0 <= self.jaccard_t <= 1.0:
            raise ValueError(f"--jaccard_t must be in [0, 1], got {self.jaccard_t}")
        if not -1.0 <= self.cos_t <= 1.0:
            raise ValueError(f"--cos_t must be in [-1, 1], got {self.cos_t}")
        if not self.beta >= 0:
            raise ValueError(f"--beta must be >= 0, got {self.beta}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")
        for name in ("learning_rate", "dgi_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight_decay must be >= 0, got {self.weight_decay}")

    def stable_config(self, num_labels: int = 10) -> STABLEConfig:
        """The classifier's config (input: the DGI representations)."""
        return STABLEConfig(
            in_dim=self.embedding_dim,
            hidden_size=self.hidden_size,
            num_labels=num_labels,
            alpha=self.alpha,
            dropout=self.dropout,
        )
