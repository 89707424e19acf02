"""Training pieces shared by `recipes/mhim_mil.py`, the claim check and the tests: MIL on bags of digits.

- [`MHIMArguments`]: the arguments of `recipes/mhim_mil.py` (every knob a flag, validated);
- [`digit_bags`]: synthetic multiple-instance data from scikit-learn's digits. A bag holds 30–60 digit images
  (64-d); it is positive when it holds a "9". A positive *training* bag holds one easy 9 (a clean 9 scaled ×1.5) and
  1–3 hard 9s (Gaussian noise or an occluded 4×4 quadrant); a positive *test* bag holds only hard 9s, so a model
  that only learned the easy 9 generalises worse. The same corruptions hit a fraction of the negative instances, so
  "corrupted" is no shortcut for "positive". Train bags use the training digits, test bags held-out ones;
- [`train_abmil`]: the plain attention-MIL baseline (one bag per step, Adam, as the official `model=pure`);
- [`train_mhim`]: MHIM-MIL from a pre-trained baseline through [`mhim_loss`] and [`mhim_teacher`];
- [`bag_auc`]: AUC and accuracy of a model on bags.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

from .configuration_mhim_mil import ABMILConfig
from .masking import cosine_decay
from .modeling_mhim_mil import ABMILForBagClassification
from .trainer import mhim_loss, mhim_teacher


@dataclass
class MHIMArguments(RecipeArguments):
    max_steps: int = field(default=4000, metadata={"help": "MHIM steps, one bag each (4000 = 10 epochs of 400)."})
    checkpoint_every: int = field(default=1000, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=200, metadata={"help": "Log training metrics every N steps."})
    pretrain_epochs: int = field(default=10, metadata={"help": "Epochs of the ABMIL baseline (the teacher init)."})
    num_train_bags: int = field(default=400, metadata={"help": "Training bags."})
    num_test_bags: int = field(default=400, metadata={"help": "Test bags (positives hold only hard 9s)."})
    hidden_size: int = field(default=128, metadata={"help": "Instance projection / bag feature size."})
    attention_size: int = field(default=64, metadata={"help": "Hidden width of the attention scorer."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Adam learning rate (official 2e-4)."})
    weight_decay: float = field(default=1e-5, metadata={"help": "Adam weight decay (official 1e-5)."})
    mask_ratio_h: float = field(default=0.01, metadata={"help": "High-attention mask ratio r_h at the start."})
    mask_ratio_hr: float = field(default=0.5, metadata={"help": "Random fraction r_hr of the top candidates masked."})
    mask_ratio_l: float = field(default=0.0, metadata={"help": "Low-attention mask ratio r_l."})
    mask_ratio: float = field(default=0.0, metadata={"help": "Random mask ratio r."})
    mask_ratio_h_schedule: str = field(default="cosine", metadata={"help": "'cosine' (decay r_h to 0) or 'constant'."})
    cl_alpha: float = field(default=0.1, metadata={"help": "Weight α of the consistency loss."})
    teacher_temperature: float = field(default=0.1, metadata={"help": "Teacher temperature τ_t."})
    ema_momentum: float = field(default=0.9999, metadata={"help": "EMA momentum m of the teacher."})

    def validate(self) -> None:
        super().validate()
        for name in ("num_train_bags", "num_test_bags", "hidden_size", "attention_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.pretrain_epochs < 0:
            raise ValueError(f"--pretrain_epochs must be >= 0, got {self.pretrain_epochs}")
        for name in ("learning_rate", "teacher_temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("weight_decay", "cl_alpha"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        for name in ("mask_ratio_h", "mask_ratio_l", "mask_ratio"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"--{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 < self.mask_ratio_hr <= 1:
            raise ValueError(f"--mask_ratio_hr must be in (0, 1], got {self.mask_ratio_hr}")
        if self.mask_ratio_h_schedule not in ("cosine", "constant"):
            raise ValueError(
                f"--mask_ratio_h_schedule must be 'cosine' or 'constant', got {self.mask_ratio_h_schedule!r}"
            )
        if not 0 <= self.ema_momentum < 1:
            raise ValueError(f"--ema_momentum must be in [0, 1), got {self.ema_momentum}")

    def model_config(self) -> ABMILConfig:
        return ABMILConfig(input_dim=64, hidden_size=self.hidden_size, attention_size=self.attention_size)

    def mhim_kwargs(self) -> dict:
        return {
            "mask_ratio_hr": self.mask_ratio_hr,
            "mask_ratio_l": self.mask_ratio_l,
            "mask_ratio": self.mask_ratio,
            "cl_alpha": self.cl_alpha,
            "teacher_temperature": self.teacher_temperature,
        }


@dataclass
class Bags:
    """Bags as a list of `(L_i, 64)` tensors, their labels, and per bag the positions of its easy and hard 9s."""

    instances: list[torch.Tensor]
    labels: torch.Tensor
    easy: list[list[int]]
    hard: list[list[int]]

    def __len__(self) -> int:
        return len(self.instances)

    def to_dataset(self):
        """A `datasets.Dataset` with columns `instances` (list of 64-d lists) and `labels`."""
        from datasets import Dataset

        return Dataset.from_dict({"instances": [b.tolist() for b in self.instances], "labels": self.labels.tolist()})


def _corrupt(image: torch.Tensor, generator: torch.Generator, noise_std: float) -> torch.Tensor:
    """Gaussian noise of `noise_std` (clipped to [0, 1]) or one random 4×4 quadrant set to 0, with equal odds."""
    if torch.rand((), generator=generator) < 0.5:
        return (image + noise_std * torch.randn(image.shape, generator=generator)).clamp(0, 1)
    grid = image.reshape(8, 8).clone()
    row, col = (int(v) * 4 for v in torch.randint(0, 2, (2,), generator=generator))
    grid[row : row + 4, col : col + 4] = 0
    return grid.reshape(-1)


def _make_bags(x, y, num_bags, *, easy_positive, generator, min_size, max_size, easy_scale, noise_std, neg_corrupt):
    nines = torch.nonzero(y == 9).flatten()
    others = torch.nonzero(y != 9).flatten()
    bags, labels, easy, hard = [], [], [], []
    for b in range(num_bags):
        positive = b % 2 == 1
        size = int(torch.randint(min_size, max_size + 1, (), generator=generator))
        items, kinds = [], []
        if positive:
            if easy_positive:
                items.append(x[nines[torch.randint(len(nines), (), generator=generator)]] * easy_scale)
                kinds.append("easy")
            for _ in range(int(torch.randint(1, 4, (), generator=generator))):
                nine = x[nines[torch.randint(len(nines), (), generator=generator)]]
                items.append(_corrupt(nine, generator, noise_std))
                kinds.append("hard")
        while len(items) < size:
            image = x[others[torch.randint(len(others), (), generator=generator)]]
            if torch.rand((), generator=generator) < neg_corrupt:
                image = _corrupt(image, generator, noise_std)
            items.append(image)
            kinds.append("neg")
        order = torch.randperm(len(items), generator=generator).tolist()
        bags.append(torch.stack([items[i] for i in order]))
        kinds = [kinds[i] for i in order]
        easy.append([i for i, k in enumerate(kinds) if k == "easy"])
        hard.append([i for i, k in enumerate(kinds) if k == "hard"])
        labels.append(int(positive))
    return Bags(bags, torch.tensor(labels), easy, hard)


def digit_bags(
    seed: int = 0,
    num_train_bags: int = 400,
    num_test_bags: int = 400,
    *,
    min_size: int = 30,
    max_size: int = 60,
    easy_scale: float = 1.5,
    noise_std: float = 0.3,
    negative_corruption: float = 0.25,
) -> tuple[Bags, Bags]:
    """Train and test bags (half positive) from the digits split of `seed` (see the module docstring)."""
    from hf_methods.common.data import load_digits

    if not 1 <= min_size <= max_size:
        raise ValueError(f"min_size and max_size must satisfy 1 <= min_size <= max_size, got {min_size}, {max_size}")
    if min_size < 5:
        raise ValueError(f"min_size must be >= 5 (a positive bag holds up to 4 nines), got {min_size}")
    train, test = load_digits(test_size=0.2, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    common = dict(
        generator=generator,
        min_size=min_size,
        max_size=max_size,
        easy_scale=easy_scale,
        noise_std=noise_std,
        neg_corrupt=negative_corruption,
    )
    x_train, y_train = train.tensors()
    x_test, y_test = test.tensors()
    train_bags = _make_bags(x_train, y_train, num_train_bags, easy_positive=True, **common)
    test_bags = _make_bags(x_test, y_test, num_test_bags, easy_positive=False, **common)
    return train_bags, test_bags


def _epoch_order(n: int, steps: int, generator: torch.Generator):
    done = 0
    while done < steps:
        for i in torch.randperm(n, generator=generator).tolist():
            if done == steps:
                return
            yield i
            done += 1


def train_abmil(
    model: ABMILForBagClassification,
    bags: Bags,
    *,
    steps: int,
    seed: int,
    lr: float = 2e-4,
    weight_decay: float = 1e-5,
    optimizer: torch.optim.Optimizer | None = None,
    eval_every: int = 0,
    eval_fn=None,
) -> torch.optim.Optimizer:
    """Plain ABMIL training, one bag per Adam step (bags visited in seeded random order); returns the optimizer so
    a run can be continued with the same state. With `eval_every > 0`, `eval_fn(step)` is called after every
    `eval_every` steps."""
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for step, i in enumerate(_epoch_order(len(bags), steps, generator)):
        loss = model(instances=bags.instances[i].unsqueeze(0), labels=bags.labels[i : i + 1]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if eval_every and eval_fn is not None and (step + 1) % eval_every == 0:
            eval_fn(step + 1)
            model.train()
    return optimizer


def train_mhim(
    pretrained: ABMILForBagClassification,
    bags: Bags,
    *,
    steps: int,
    seed: int,
    lr: float = 2e-4,
    weight_decay: float = 1e-5,
    mask_ratio_h: float = 0.01,
    mask_ratio_h_schedule: str = "cosine",
    ema_momentum: float = 0.9999,
    eval_every: int = 0,
    eval_fn=None,
    **mhim_kwargs,
) -> tuple[ABMILForBagClassification, nn.Module, dict]:
    """MHIM-MIL from `pretrained` (left untouched): the student is a copy of it, the teacher an EMA copy of it.

    Returns the student, the teacher module and statistics: `easy_masked_fraction` (share of positive bags whose
    easy 9 was masked), `hard_masked_fraction` (share of hard 9s masked) and `mean_masked` (instances per bag).
    With `eval_every > 0`, `eval_fn(step, student)` is called after every `eval_every` steps.
    """
    student = copy.deepcopy(pretrained).train()
    teacher = mhim_teacher(pretrained, ema_momentum)
    optimizer = torch.optim.Adam(student.parameters(), lr=lr, weight_decay=weight_decay)
    order_gen = torch.Generator().manual_seed(seed)
    mask_gen = torch.Generator().manual_seed(seed + 1)
    easy_hits = easy_total = hard_hits = hard_total = masked_total = 0
    for step, i in enumerate(_epoch_order(len(bags), steps, order_gen)):
        r_h = mask_ratio_h if mask_ratio_h_schedule == "constant" else cosine_decay(mask_ratio_h, 0.0, step, steps)
        terms = mhim_loss(
            student,
            teacher,
            bags.instances[i].unsqueeze(0),
            bags.labels[i : i + 1],
            mask_ratio_h=r_h,
            generator=mask_gen,
            **mhim_kwargs,
        )
        optimizer.zero_grad()
        terms.loss.backward()
        optimizer.step()
        with torch.no_grad():
            teacher.update_parameters(student)
        masked = terms.masked[0]
        masked_total += int(masked.sum())
        easy_total += len(bags.easy[i])
        easy_hits += int(masked[bags.easy[i]].sum()) if bags.easy[i] else 0
        hard_total += len(bags.hard[i])
        hard_hits += int(masked[bags.hard[i]].sum()) if bags.hard[i] else 0
        if eval_every and eval_fn is not None and (step + 1) % eval_every == 0:
            eval_fn(step + 1, student)
            student.train()
    stats = {
        "easy_masked_fraction": easy_hits / max(easy_total, 1),
        "hard_masked_fraction": hard_hits / max(hard_total, 1),
        "mean_masked": masked_total / max(steps, 1),
    }
    return student, teacher.module, stats


@torch.no_grad()
def bag_auc(model: nn.Module, bags: Bags) -> dict[str, float]:
    """ROC AUC of the positive-class probability and the accuracy of the arg-max, over `bags` (eval mode)."""
    from sklearn.metrics import roc_auc_score

    was_training = model.training
    model.eval()
    probs = torch.stack([model(instances=b.unsqueeze(0)).logits.softmax(-1)[0, 1] for b in bags.instances])
    model.train(was_training)
    labels = bags.labels.numpy()
    return {
        "auc": float(roc_auc_score(labels, probs.numpy())),
        "accuracy": float(((probs > 0.5).long() == bags.labels).float().mean()),
    }


__all__ = ["Bags", "MHIMArguments", "bag_auc", "digit_bags", "train_abmil", "train_mhim"]
