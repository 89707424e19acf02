"""Training pieces shared by `recipes/self_distillation.py`, the claim check and the tests.

- [`SelfDistillationArguments`]: the arguments of the recipe (every knob a flag, validated);
- [`digits_tensors`], [`digits_mlp`] (seeded), [`accuracy`];
- [`train_fit`]: one fit of a chain in plain torch (Adam, shuffled batches, the self-distillation loss against an
  optional frozen teacher);
- [`distillation_chain`]: a teacher fit followed by `steps` distillation fits, each student re-initialised and
  frozen as the next teacher (the official loop), returning the test accuracy after every fit;
- the Mobahi et al. toy regression set ([`mobahi_toy_data`]) and [`rbf_kernel`] for the kernel analysis.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeArguments

from .loss import OBJECTIVES, self_distillation_loss
from .trainer import parameter_norm_penalty

NUM_CLASSES = 10

# The 11 noisy samples of sin(2πx) at x = 0, 0.1, ..., 1 used by Mobahi, Farajtabar & Bartlett (2020) and by the
# official notebook of Borup & Andersen (`toy_example.ipynb`).
MOBAHI_TOY_Y = (
    0.38476636465198066,
    1.2333967683416893,
    1.33232242218057,
    0.69201594888895180,
    -0.29756145531871736,
    -0.24189291901377769,
    -0.7964485769175675,
    -0.9616480167034174,
    -0.49672509509916934,
    -0.3469066003991437,
    0.5589512650600734,
)


def mobahi_toy_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(x, y, y_true)`: 11 inputs on [0, 1], their noisy targets, and the noise-free `sin(2πx)`."""
    x = np.linspace(0.0, 1.0, 11)
    return x, np.array(MOBAHI_TOY_Y), np.sin(2 * np.pi * x)


def rbf_kernel(a, b, gamma: float) -> np.ndarray:
    """`exp(−γ ‖a_i − b_j‖²)` for 1-D or 2-D inputs (rows are points)."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    return np.exp(-gamma * ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


@dataclass
class SelfDistillationArguments(RecipeArguments):
    max_steps: int = field(
        default=2760,
        metadata={
            "help": "Optimisation steps of the whole chain, split evenly between the --fits (2760 = 4 × 30 epochs)."
        },
    )
    checkpoint_every: int = field(default=690, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=50, metadata={"help": "Log training metrics every N steps."})
    fits: int = field(
        default=4,
        metadata={"help": "Fits in the chain: the teacher fit on the labels, then fits − 1 distillation steps."},
    )
    alpha: float = field(default=0.5, metadata={"help": "Ground-truth weight α in [0, 1] of the distillation steps."})
    objective: str = field(default="mse", metadata={"help": f"The loss: one of {list(OBJECTIVES)}."})
    temperature: float = field(default=1.0, metadata={"help": "KL temperature (objective 'kl' only)."})
    reinit_student: bool = field(
        default=True,
        metadata={"help": "Start every fit from fresh weights (the official loop); otherwise keep training them."},
    )
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate (the official 1e-3)."})
    parameter_norm_coef: float = field(
        default=1e-4, metadata={"help": "Weight of the official regulariser Σ_p ‖p‖₂ (unsquared norms)."}
    )
    batch_size: int = field(default=64, metadata={"help": "Batch size per process."})
    hidden_size: int = field(default=128, metadata={"help": "Width of the MLP's hidden layer."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out as the test set."})

    def validate(self) -> None:
        super().validate()
        if self.fits < 1:
            raise ValueError(f"--fits must be >= 1, got {self.fits}")
        if self.max_steps < self.fits or self.max_steps % self.fits:
            raise ValueError(f"--max_steps must be a positive multiple of --fits ({self.fits}), got {self.max_steps}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"--alpha must be in [0, 1], got {self.alpha}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"--objective must be one of {list(OBJECTIVES)}, got {self.objective!r}")
        for name in ("temperature", "learning_rate", "batch_size", "hidden_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.parameter_norm_coef < 0:
            raise ValueError(f"--parameter_norm_coef must be >= 0, got {self.parameter_norm_coef}")
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")

    @property
    def steps_per_fit(self) -> int:
        return self.max_steps // self.fits


@dataclass
class DigitsTensors:
    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def digits_tensors(seed: int, test_size: float = 0.2, train_size: int | None = None) -> DigitsTensors:
    """scikit-learn's digits, split by `seed`; `train_size` keeps only the first that many training images."""
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=test_size, seed=seed)
    x, y = train.tensors()
    if train_size is not None:
        if not 0 < train_size <= len(y):
            raise ValueError(f"train_size must be in [1, {len(y)}], got {train_size}")
        x, y = x[:train_size], y[:train_size]
    x_test, y_test = test.tensors()
    return DigitsTensors(x, y, x_test, y_test)


def digits_mlp(hidden_size: int = 128, seed: int | None = None):
    """A ReLU MLP 64-h-10 (`MLPForImageClassification`), its weights drawn from `seed` when given."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    config = MLPConfig(input_size=64, hidden_sizes=[hidden_size], hidden_act="relu", num_labels=NUM_CLASSES)
    if seed is None:
        return MLPForImageClassification(config)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return MLPForImageClassification(config)
    finally:
        torch.random.set_rng_state(state)


def train_fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    teacher: nn.Module | None,
    alpha: float,
    epochs: int,
    seed: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    objective: str = "mse",
    temperature: float = 1.0,
    parameter_norm_coef: float = 1e-4,
) -> nn.Module:
    """One fit of a chain in plain torch: Adam on `α·ℓ(z, y) + (1 − α)·ℓ(z, z_teacher) + coef·Σ‖p‖` (no teacher:
    the label term alone). The batch order depends on `seed` only. Returns `model`, trained in place."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    teacher_logits = None
    if teacher is not None:
        teacher.eval()
        with torch.no_grad():
            teacher_logits = teacher(pixel_values=x).logits  # a frozen teacher: its outputs are fixed for the fit
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=order).split(batch_size):
            logits = model(pixel_values=x[idx]).logits
            loss = self_distillation_loss(
                logits,
                y[idx],
                None if teacher_logits is None else teacher_logits[idx],
                alpha=alpha,
                objective=objective,
                temperature=temperature,
            )
            if parameter_norm_coef > 0:
                loss = loss + parameter_norm_coef * parameter_norm_penalty(model)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def distillation_chain(
    data: DigitsTensors,
    alpha: float,
    steps: int,
    *,
    seed: int,
    epochs: int,
    teacher: nn.Module | None = None,
    hidden_size: int = 128,
    **fit_kwargs,
) -> dict:
    """A teacher fit on the labels (skipped when `teacher` is given) and `steps` distillation fits.

    Fit `t` (0 = the teacher) starts from the weights drawn from `seed * 100 + t` and shuffles with the same seed, so
    two chains of one seed with different `α` share their teacher and every student's initial weights. Each trained
    student, frozen, is the next fit's teacher. Returns the test and training accuracies after every fit
    (`test_accuracy[0]` is the teacher's) and the final student.
    """
    test_acc, train_acc = [], []
    if teacher is None:
        teacher = digits_mlp(hidden_size, seed=seed * 100)
        train_fit(teacher, data.x, data.y, teacher=None, alpha=1.0, epochs=epochs, seed=seed * 100, **fit_kwargs)
    teacher = teacher.eval().requires_grad_(False)
    test_acc.append(accuracy(teacher, data.x_test, data.y_test))
    train_acc.append(accuracy(teacher, data.x, data.y))
    first_teacher = teacher
    for t in range(1, steps + 1):
        student = digits_mlp(hidden_size, seed=seed * 100 + t)
        train_fit(
            student, data.x, data.y, teacher=teacher, alpha=alpha, epochs=epochs, seed=seed * 100 + t, **fit_kwargs
        )
        test_acc.append(accuracy(student, data.x_test, data.y_test))
        train_acc.append(accuracy(student, data.x, data.y))
        teacher = copy.deepcopy(student).eval().requires_grad_(False)
    return {"test_accuracy": test_acc, "train_accuracy": train_acc, "teacher": first_teacher, "student": teacher}
