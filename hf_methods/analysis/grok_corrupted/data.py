"""Modular arithmetic with a fraction of corrupted training labels (Doshi et al., 2023, Sec. 2).

The clean table `a ∘ b mod p` and its train/test split come from [`hf_methods.training.grokking_tickets`]
(`modular_arithmetic`); this module replaces the labels of a seeded fraction ξ of the training pairs by uniform
random residues and keeps track of which pairs were corrupted, so that accuracy can be measured separately on the
corrupted and the clean training pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hf_methods.common.checks import check_number
from hf_methods.training.grokking_tickets.data import ModularArithmeticSplit, modular_arithmetic


@dataclass
class CorruptedModularSplit:
    """A modular-arithmetic split whose training labels are partly corrupted.

    Attributes:
        modulus (`int`), operation (`str`): the table `a ∘ b mod p`.
        noise (`float`): the corrupted fraction ξ of the training pairs.
        x_train (`torch.LongTensor` of shape `(n, 2)`): the training pairs.
        y_train (`torch.LongTensor` of shape `(n,)`): the training labels the network is fit to (corrupted ones
            included).
        y_train_clean (`torch.LongTensor` of shape `(n,)`): the true answers of the training pairs.
        corrupted (`torch.BoolTensor` of shape `(n,)`): which training pairs had their label replaced. A replaced
            label is uniform over the p residues, so about 1/p of them equal the true answer by chance.
        x_test, y_test: the held-out pairs and their true answers (never corrupted).
    """

    modulus: int
    operation: str
    noise: float
    x_train: torch.Tensor
    y_train: torch.Tensor
    y_train_clean: torch.Tensor
    corrupted: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def num_corrupted(self) -> int:
        return int(self.corrupted.sum())

    def subsets(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """`{"train", "corrupted", "clean", "test"}` → `(input_ids, labels)`; "corrupted" is scored against the
        corrupted labels (what memorisation means), "clean" is the uncorrupted training pairs."""
        return {
            "train": (self.x_train, self.y_train),
            "corrupted": (self.x_train[self.corrupted], self.y_train[self.corrupted]),
            "clean": (self.x_train[~self.corrupted], self.y_train[~self.corrupted]),
            "test": (self.x_test, self.y_test),
        }


def corrupt_labels(split: ModularArithmeticSplit, noise: float, *, seed: int = 0) -> CorruptedModularSplit:
    """Replaces the labels of `int(noise · n_train)` training pairs by uniform random residues.

    The official code (`d-doshi/Grokking`, `utils/datasets.py`, `noisy_dataset`) corrupts the first ξ·n_train pairs of
    an already shuffled training list with `torch.randint(0, p)`; here the split is sorted, so a seeded random subset of
    that size is corrupted instead (the same distribution).

    Args:
        split ([`ModularArithmeticSplit`]): the clean split.
        noise (`float`): ξ ∈ [0, 1), the fraction of training labels to corrupt.
        seed (`int`): seed of the choice of pairs and of their random labels.
    """
    if not isinstance(split, ModularArithmeticSplit):
        raise TypeError(f"split must be a ModularArithmeticSplit, got {type(split).__name__}")
    noise = check_number("noise", noise, low=0.0, high=1.0, high_open=True)
    n_train, p = len(split.y_train), split.modulus
    n_noise = int(noise * n_train)
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(n_train, generator=generator)[:n_noise]
    corrupted = torch.zeros(n_train, dtype=torch.bool)
    corrupted[chosen] = True
    y_train = split.y_train.clone()
    y_train[chosen] = torch.randint(0, p, (n_noise,), generator=generator)
    return CorruptedModularSplit(
        modulus=p,
        operation=split.operation,
        noise=noise,
        x_train=split.x_train,
        y_train=y_train,
        y_train_clean=split.y_train,
        corrupted=corrupted,
        x_test=split.x_test,
        y_test=split.y_test,
    )


def corrupted_modular_arithmetic(
    modulus: int = 97,
    train_fraction: float = 0.5,
    noise: float = 0.35,
    *,
    operation: str = "add",
    seed: int = 0,
) -> CorruptedModularSplit:
    """All pairs `(a, b)` mod `modulus`, a seeded `train_fraction` of them for training, and a fraction `noise` of the
    training labels corrupted (the paper's setting: p = 97, 50% training data, ξ = 0.35).

    Args:
        modulus (`int`): p ≥ 2.
        train_fraction (`float`): the fraction of the p² pairs used for training, in (0, 1).
        noise (`float`): ξ ∈ [0, 1), the fraction of training labels replaced by uniform random residues.
        operation (`str`): `"add"`, `"subtract"` or `"multiply"`.
        seed (`int`): seed of the split and of the corruption.
    """
    split = modular_arithmetic(modulus, train_fraction, operation=operation, seed=seed)
    return corrupt_labels(split, noise, seed=seed)


__all__ = ["CorruptedModularSplit", "corrupt_labels", "corrupted_modular_arithmetic"]
