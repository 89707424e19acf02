"""The objective a FedAU round descends, written as a loss on the participants' pooled examples.

With one full-batch local gradient step (Q = 1, local learning rate η) and η_g = 1, FedAU's update
w_{t+1} = w_t + (1/N) Σ_{n∈S_t} ω_n (w_n − w_t) equals one gradient step of size η on

    L(w) = Σ_{n∈S_t} (ω_n / N) f_n(w),   f_n(w) = (1/m_n) Σ_{i∈D_n} ℓ(w; x_i, y_i),

i.e. on the examples' losses weighted by a_i = ω_{n(i)} / (N · m_{n(i)}) and summed. In expectation over the
participation (ω_n ≈ 1/p_n) this is (1/N) Σ_n f_n, the objective FedAU optimises; FedAvg's mean over participants
weighs each f_n by 1/|S_t| instead. [`FedAUWeightedCrossEntropy`] is that loss for classifiers (with Q > 1 the local
steps drift and the identity is first-order only); [`fedau_example_weights`] computes the a_i.
"""

from __future__ import annotations

import torch
from torch import nn

from hf_methods.common.checks import check_logits_labels, check_number, check_reduction, reduce_loss

__all__ = ["FedAUWeightedCrossEntropy", "fedau_example_weights", "fedau_weighted_cross_entropy"]


def fedau_example_weights(
    client_of_example: torch.Tensor, aggregation_weights: torch.Tensor, num_clients: int
) -> torch.Tensor:
    """a_i = ω_{n(i)} / (N · m_{n(i)}), with m_n the number of client n's examples in `client_of_example`.

    Args:
        client_of_example: `(batch,)` integer client index n(i) ∈ [0, N) of each example.
        aggregation_weights: `(N,)` FedAU weights ω_n (e.g. `FedAUAggregator.weight(n)` of each client).
        num_clients: N, the number of all clients.
    """
    check_number("num_clients", num_clients, low=1)
    if not isinstance(client_of_example, torch.Tensor) or client_of_example.is_floating_point():
        raise TypeError("client_of_example must be an integer tensor of client indices")
    if aggregation_weights.shape != (num_clients,):
        raise ValueError(
            f"aggregation_weights must have shape ({num_clients},), got {tuple(aggregation_weights.shape)}"
        )
    if client_of_example.numel() and (int(client_of_example.min()) < 0 or int(client_of_example.max()) >= num_clients):
        raise ValueError(f"client_of_example must lie in [0, {num_clients})")
    counts = torch.bincount(client_of_example, minlength=num_clients).to(aggregation_weights.dtype)
    return aggregation_weights[client_of_example] / (num_clients * counts[client_of_example])


def fedau_weighted_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, example_weights: torch.Tensor, *, reduction: str = "sum"
) -> torch.Tensor:
    """a_i · CE(logits_i, y_i) per example, reduced; `reduction="sum"` is the round's objective L(w).

    Args:
        logits: `(batch, K)` scores; labels: `(batch,)` class indices.
        example_weights: `(batch,)` non-negative a_i (see [`fedau_example_weights`]).
        reduction: `"sum"` (the objective), `"mean"` (the sum divided by the batch size) or `"none"`.
    """
    check_logits_labels(logits, labels)
    check_reduction(reduction)
    if not isinstance(example_weights, torch.Tensor) or not example_weights.is_floating_point():
        raise TypeError("example_weights must be a floating-point tensor")
    if example_weights.shape != labels.shape:
        raise ValueError(f"example_weights must have shape {tuple(labels.shape)}, got {tuple(example_weights.shape)}")
    if not torch.isfinite(example_weights).all() or (example_weights < 0).any():
        raise ValueError("example_weights must be finite and >= 0")
    per_example = example_weights.to(logits.dtype) * nn.functional.cross_entropy(logits, labels, reduction="none")
    return reduce_loss(per_example, reduction)


class FedAUWeightedCrossEntropy(nn.Module):
    """L(w) = Σ_i a_i · CE(f_w(x_i), y_i), a_i = ω_{n(i)} / (N m_{n(i)}): FedAU's round objective (see the module).

    Args:
        reduction: `"sum"` (default: the objective itself), `"mean"` or `"none"`.
    """

    def __init__(self, reduction: str = "sum"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, example_weights: torch.Tensor) -> torch.Tensor:
        return fedau_weighted_cross_entropy(logits, labels, example_weights, reduction=self.reduction)
