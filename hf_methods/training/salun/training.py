"""Training pieces shared by `recipes/salun.py`, the claim check and the tests: unlearning on scikit-learn's digits.

- [`SalUnArguments`]: the arguments of `recipes/salun.py`;
- [`digits_unlearning_split`]: digits split into train / test, the training set split into a forget set D_f and a
  retain set D_r, for class-wise forgetting (every training image of one class) or random forgetting (a random
  fraction of the training images);
- [`tiny_cnn`] (two 3×3 convolutions, 16/32 channels, and a linear layer) and [`train_original`] (the model to
  unlearn, trained on D_f ∪ D_r with the SGD of `hf_methods.common.unlearning.train_epochs`);
- [`unlearning_arguments`] and [`salun_unlearn`]: SalUn (or random labels without a mask) through
  [`SalUnTrainer`], on a copy of the model, with the official optimiser (SGD, momentum 0.9, weight decay 5e-4 on
  every weight, constant learning rate, no clipping);
- [`LabelGenerator`]: the random-label generator of the recipe, checkpointable.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

from .loss import RANDOM_LABEL_MODES
from .trainer import SCHEDULES, SalUnTrainer

NUM_CLASSES = 10
SCENARIOS = ("class", "random")
Split = tuple[torch.Tensor, torch.Tensor]


@dataclass
class SalUnArguments(RecipeArguments):
    max_steps: int = field(
        default=120, metadata={"help": "Unlearning steps (120 = 5 epochs of 3 forget + 21 retain batches)."}
    )
    checkpoint_every: int = field(default=40, metadata={"help": "Save a resumable checkpoint every N steps."})
    scenario: str = field(
        default="class", metadata={"help": "'class' (forget every image of --forget_class) or 'random'."}
    )
    forget_class: int = field(default=3, metadata={"help": "The class to forget (scenario 'class')."})
    forget_fraction: float = field(
        default=0.1, metadata={"help": "Fraction of training images to forget (scenario 'random')."}
    )
    keep_ratio: float = field(default=0.5, metadata={"help": "Fraction of weights in the saliency mask (1: no mask)."})
    learning_rate: float = field(default=0.01, metadata={"help": "Unlearning SGD learning rate (constant)."})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum."})
    weight_decay: float = field(default=5e-4, metadata={"help": "SGD weight decay."})
    batch_size: int = field(default=64, metadata={"help": "Batch size (forget and retain batches)."})
    random_labels: str = field(
        default="uniform", metadata={"help": f"Random labels of the forget set: one of {RANDOM_LABEL_MODES}."}
    )
    schedule: str = field(
        default="sequential", metadata={"help": f"Batch order of an epoch: one of {SCHEDULES} (forget then retain)."}
    )
    retain_weight: float = field(default=1.0, metadata={"help": "α, the weight of the retain loss."})
    pretrain_epochs: int = field(default=20, metadata={"help": "Epochs of training of the original model."})
    pretrain_lr: float = field(default=0.05, metadata={"help": "SGD learning rate of the original model."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out as the test set."})

    def validate(self) -> None:
        super().validate()
        if self.scenario not in SCENARIOS:
            raise ValueError(f"--scenario must be one of {SCENARIOS}, got {self.scenario!r}")
        if not 0 <= self.forget_class < NUM_CLASSES:
            raise ValueError(f"--forget_class must be in [0, {NUM_CLASSES}), got {self.forget_class}")
        if not 0.0 < self.forget_fraction < 1.0:
            raise ValueError(f"--forget_fraction must be in (0, 1), got {self.forget_fraction}")
        if not 0.0 < self.keep_ratio <= 1.0:
            raise ValueError(f"--keep_ratio must be in (0, 1], got {self.keep_ratio}")
        if self.random_labels not in RANDOM_LABEL_MODES:
            raise ValueError(f"--random_labels must be one of {RANDOM_LABEL_MODES}, got {self.random_labels!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"--schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("learning_rate", "batch_size", "pretrain_epochs", "pretrain_lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("momentum", "weight_decay", "retain_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")


@dataclass
class UnlearningData:
    """One seed's split: the forget set D_f, the retain set D_r and the test set (for class-wise forgetting, the test
    images of the other classes; `test_forget` holds those of the forgotten class, empty for random forgetting)."""

    forget: Split
    retain: Split
    test: Split
    test_forget: Split

    @property
    def train(self) -> Split:
        return torch.cat([self.forget[0], self.retain[0]]), torch.cat([self.forget[1], self.retain[1]])


def digits_unlearning_split(
    seed: int,
    scenario: str = "class",
    *,
    forget_class: int = 3,
    forget_fraction: float = 0.1,
    test_size: float = 0.2,
) -> UnlearningData:
    """Digits (8×8 images, flat, in [0, 1]) split by `seed`, with a forget set chosen by `scenario`.

    Args:
        seed (`int`): seeds the train/test split and, for random forgetting, the choice of D_f.
        scenario (`str`): `"class"` (D_f = every training image of `forget_class`) or `"random"` (D_f = a random
            `forget_fraction` of the training images, all classes).
    """
    from hf_methods.common.data import load_digits

    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, got {scenario!r}")
    train, test = load_digits(test_size=test_size, seed=seed)
    x, y = train.tensors()
    x_test, y_test = test.tensors()
    if scenario == "class":
        if not 0 <= forget_class < NUM_CLASSES:
            raise ValueError(f"forget_class must be in [0, {NUM_CLASSES}), got {forget_class!r}")
        chosen = y == forget_class
        in_test = y_test == forget_class
        test_split, test_forget = (x_test[~in_test], y_test[~in_test]), (x_test[in_test], y_test[in_test])
    else:
        if not 0.0 < forget_fraction < 1.0:
            raise ValueError(f"forget_fraction must be in (0, 1), got {forget_fraction!r}")
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(20_000 + seed))
        chosen = torch.zeros(len(y), dtype=torch.bool)
        chosen[order[: int(round(forget_fraction * len(y)))]] = True
        test_split, test_forget = (x_test, y_test), (x_test[:0], y_test[:0])
    return UnlearningData((x[chosen], y[chosen]), (x[~chosen], y[~chosen]), test_split, test_forget)


def tiny_cnn(seed: int | None = None, num_labels: int = NUM_CLASSES):
    """The 8×8-digits CNN (conv 16 → conv 32 → linear), freshly initialised (from `seed` when given)."""
    from .modeling_cnn import TinyCNNConfig, TinyCNNForImageClassification

    if seed is not None:
        torch.manual_seed(seed)
    return TinyCNNForImageClassification(TinyCNNConfig(num_labels=num_labels))


def train_original(
    data: UnlearningData, *, seed: int, epochs: int = 20, lr: float = 0.05, batch_size: int = 64
) -> nn.Module:
    """The model to unlearn: [`tiny_cnn`] trained on D_f ∪ D_r (SGD, momentum 0.9, weight decay 5e-4)."""
    from hf_methods.common.unlearning import train_epochs

    model = tiny_cnn(seed)
    return train_epochs(model, data.train, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed).eval()


def unlearning_arguments(output_dir: str, *, epochs: int, lr: float, batch_size: int = 64, seed: int = 0):
    """`TrainingArguments` of an unlearning run as the official code: a constant learning rate, no gradient clipping,
    no checkpoints or logs (the SGD optimiser itself is built by [`salun_unlearn`])."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=epochs,
        learning_rate=lr,
        per_device_train_batch_size=batch_size,
        lr_scheduler_type="constant",
        max_grad_norm=0.0,
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        dataloader_pin_memory=False,
    )


def salun_unlearn(
    model: nn.Module,
    forget: Split,
    retain: Split,
    *,
    mask: dict[str, torch.Tensor] | None,
    epochs: int = 5,
    lr: float = 0.01,
    batch_size: int = 64,
    seed: int = 0,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    num_classes: int | None = None,
    random_labels: str = "uniform",
    schedule: str = "sequential",
    retain_weight: float = 1.0,
) -> nn.Module:
    """Unlearns `forget` from a copy of `model` with [`SalUnTrainer`] and returns the copy (`model` is untouched).

    `mask` is a saliency mask ([`compute_weight_saliency_mask`]); `mask=None` is random-label unlearning of every
    weight. The optimiser is SGD with momentum and weight decay on every weight, as the official code.
    """
    from transformers import PrinterCallback

    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    unlearned = copy.deepcopy(model).train()
    optimizer = torch.optim.SGD(unlearned.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    with tempfile.TemporaryDirectory(prefix="salun-") as output_dir:
        trainer = SalUnTrainer(
            unlearned,
            unlearning_arguments(output_dir, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed),
            forget_dataset=forget,
            retain_dataset=retain,
            mask=mask,
            num_classes=num_classes,
            random_labels=random_labels,
            schedule=schedule,
            retain_weight=retain_weight,
            copy_model=False,  # already a copy, which the optimiser holds
            optimizers=(optimizer, None),
        )
        trainer.remove_callback(PrinterCallback)  # no end-of-run metrics printed for each call
        unlearned = trainer.unlearn()
    return unlearned.eval()


class LabelGenerator:
    """A CPU `torch.Generator` for the random labels, with `state_dict` / `load_state_dict` so a recipe checkpoint
    restores it (a resumed run draws the same labels as an uninterrupted one)."""

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["state"])


__all__ = [
    "LabelGenerator",
    "SalUnArguments",
    "UnlearningData",
    "digits_unlearning_split",
    "salun_unlearn",
    "tiny_cnn",
    "train_original",
    "unlearning_arguments",
]
