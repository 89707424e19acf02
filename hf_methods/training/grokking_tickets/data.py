"""Modular-arithmetic data: every pair `(a, b)` of residues modulo `p` and its answer, split into train and test."""

from __future__ import annotations

from dataclasses import dataclass

import torch

OPERATIONS = {
    "add": lambda a, b, p: (a + b) % p,
    "subtract": lambda a, b, p: (a - b) % p,
    "multiply": lambda a, b, p: (a * b) % p,
}


@dataclass
class ModularArithmeticSplit:
    """A train/test split of the table `a ∘ b mod p`: `x_*` are `(n, 2)` int64 operand pairs, `y_*` the answers."""

    modulus: int
    operation: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def to_dataset_dict(self):
        """The split as a `datasets.DatasetDict` with `"train"` and `"test"` (columns `input_ids`, `labels`)."""
        from datasets import Dataset, DatasetDict

        return DatasetDict(
            {
                name: Dataset.from_dict({"input_ids": x.tolist(), "labels": y.tolist()})
                for name, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test))
            }
        )


def modular_arithmetic(
    modulus: int = 97, train_fraction: float = 0.3, *, operation: str = "add", seed: int = 0
) -> ModularArithmeticSplit:
    """All p² ordered pairs `(a, b)` with the answer `a ∘ b mod p`, a seeded random `train_fraction` of them for
    training and the rest for testing (as in the quadratic-network experiments of Gromov, 2023, and Doshi et al.,
    2023; the official grokking-ticket code also offers a symmetric split over pairs a < b, not used here).

    Args:
        modulus (`int`): p ≥ 2.
        train_fraction (`float`): the fraction of the p² pairs used for training, in (0, 1).
        operation (`str`): `"add"`, `"subtract"` or `"multiply"`.
        seed (`int`): seed of the split's permutation.
    """
    if isinstance(modulus, bool) or not isinstance(modulus, int) or modulus < 2:
        raise ValueError(f"modulus must be an int >= 2, got {modulus!r}")
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, (int, float)) or not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be a fraction in (0, 1), got {train_fraction!r}")
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {sorted(OPERATIONS)}, got {operation!r}")
    a, b = torch.meshgrid(torch.arange(modulus), torch.arange(modulus), indexing="ij")
    pairs = torch.stack([a.flatten(), b.flatten()], dim=1)
    answers = OPERATIONS[operation](pairs[:, 0], pairs[:, 1], modulus)
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))
    n_train = int(round(train_fraction * len(pairs)))
    if not 0 < n_train < len(pairs):
        raise ValueError(f"train_fraction {train_fraction} leaves an empty train or test split of {len(pairs)} pairs")
    train, test = order[:n_train].sort().values, order[n_train:].sort().values
    return ModularArithmeticSplit(modulus, operation, pairs[train], answers[train], pairs[test], answers[test])


__all__ = ["OPERATIONS", "ModularArithmeticSplit", "modular_arithmetic"]
