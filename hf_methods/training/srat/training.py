"""Training pieces shared by `recipes/srat.py`, the claim check and the tests: PGD training on step-imbalanced digits.

- [`SRATArguments`]: the arguments of `recipes/srat.py`;
- [`imbalanced_digits`]: scikit-learn's digits, the training part step-imbalanced (`step_imbalance`), test balanced;
- [`digits_mlp`]: the ReLU MLP 64-256-256-10 (`MLPForImageClassification`);
- [`capture_features`] / [`logits_and_features`]: the penultimate features of any classifier, read as the input of
  its head module (`"classifier"` for the MLP and most transformers image/sequence classifiers);
- [`srat_step`] and [`train_imbalanced_at`]: one optimisation step and the plain-torch loop of the claim check
  (plain AT, reweighted AT with DRW and SRAT are the same loop with other weights / separation weight);
- [`evaluate_imbalanced_robustness`] and [`fisher_ratio`]: class-wise clean and robust accuracy (minority and
  majority means), the separation loss and the Fisher ratio of the adversarial features.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.common.adversarial import PGDConfig, classwise_robust_accuracy, pgd_attack
from hf_methods.harness.recipe import RecipeArguments

from .loss import WEIGHTINGS, DeferredReweighting, SeparableReweightedATLoss, feature_separation_loss

NUM_CLASSES = 10
MINORITY_CLASSES = (5, 6, 7, 8, 9)


# ----------------------------------------------------------------------------------------------------------- arguments


def parse_classes(spec: str) -> tuple[int, ...]:
    """`"5-9"` or `"5,6,7"` (or a mix, `"0,5-9"`) as a sorted tuple of class indices in [0, 10)."""
    classes: set[int] = set()
    try:
        for part in str(spec).split(","):
            part = part.strip()
            if "-" in part:
                low, high = (int(v) for v in part.split("-"))
                classes.update(range(low, high + 1))
            elif part:
                classes.add(int(part))
    except ValueError:
        raise ValueError(f"--minority_classes must look like '5-9' or '5,6,7', got {spec!r}") from None
    if not classes or min(classes) < 0 or max(classes) >= NUM_CLASSES or len(classes) == NUM_CLASSES:
        raise ValueError(
            f"--minority_classes must name between 1 and {NUM_CLASSES - 1} classes in [0, {NUM_CLASSES}), got {spec!r}"
        )
    return tuple(sorted(classes))


@dataclass
class SRATArguments(RecipeArguments):
    max_steps: int = field(default=520, metadata={"help": "Optimisation steps (520 = 40 epochs of 13 batches)."})
    checkpoint_every: int = field(default=130, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=13, metadata={"help": "Log training metrics every N steps."})
    minority_classes: str = field(default="5-9", metadata={"help": "The under-represented classes ('5-9', '1,3')."})
    minority_count: int = field(default=15, metadata={"help": "Training examples kept of each minority class."})
    eps: float = field(default=0.15, metadata={"help": "ℓ∞ radius of the PGD attack (pixels in [0, 1])."})
    attack_steps: int = field(default=5, metadata={"help": "PGD steps in training (step 2.5·eps/steps)."})
    eval_attack_steps: int = field(default=20, metadata={"help": "PGD steps of the final robust evaluation."})
    class_weights: str = field(
        default="effective_num", metadata={"help": f"Class weights applied by DRW: one of {list(WEIGHTINGS)}."}
    )
    beta: float = field(default=0.9999, metadata={"help": "β of the effective-number weights."})
    drw_start: int = field(default=20, metadata={"help": "First (0-based) epoch trained with the class weights."})
    separation_weight: float = field(default=1.0, metadata={"help": "λ of the feature-separation loss (0: AT+RW)."})
    temperature: float = field(default=0.1, metadata={"help": "τ of the feature-separation loss."})
    focal_gamma: float = field(default=0.0, metadata={"help": "γ of the focal loss (0: cross-entropy)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate (constant)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    batch_size: int = field(default=64, metadata={"help": "Batch size per process."})
    hidden_size: int = field(default=256, metadata={"help": "Width of the two ReLU hidden layers."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out as the (balanced) test set."})

    def validate(self) -> None:
        super().validate()
        parse_classes(self.minority_classes)
        if self.class_weights not in WEIGHTINGS:
            raise ValueError(f"--class_weights must be one of {list(WEIGHTINGS)}, got {self.class_weights!r}")
        for name in ("minority_count", "attack_steps", "eval_attack_steps", "batch_size", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name in ("eps", "learning_rate", "temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("separation_weight", "focal_gamma", "weight_decay", "drw_start"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.beta < 1.0:
            raise ValueError(f"--beta must be in [0, 1), got {self.beta}")
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")

    def train_attack(self) -> PGDConfig:
        return PGDConfig(eps=self.eps, steps=self.attack_steps)

    def eval_attack(self) -> PGDConfig:
        return PGDConfig(eps=self.eps, steps=self.eval_attack_steps)

    def build_loss(self) -> SeparableReweightedATLoss:
        return SeparableReweightedATLoss(
            separation_weight=self.separation_weight, temperature=self.temperature, focal_gamma=self.focal_gamma
        )


# ----------------------------------------------------------------------------------------------------------- data


@dataclass
class ImbalancedDigits:
    """One seed's data: the step-imbalanced training tensors, the balanced test tensors and the class sizes."""

    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_counts: list[int]
    minority_classes: tuple[int, ...]

    @property
    def majority_classes(self) -> tuple[int, ...]:
        return tuple(c for c in range(NUM_CLASSES) if c not in self.minority_classes)


def imbalanced_digits(
    seed: int, minority_classes=MINORITY_CLASSES, minority_count: int = 15, *, test_size: float = 0.2
) -> ImbalancedDigits:
    """Digits split into train and test by `seed`; in training every class of `minority_classes` keeps
    `minority_count` random examples (`hf_methods.common.splits.step_imbalance`), the others all theirs. The test set
    stays balanced (about 36 images per class), so per-class accuracies weigh every class alike."""
    from hf_methods.common.data import load_digits
    from hf_methods.common.splits import class_sizes, step_imbalance

    train, test = load_digits(test_size=test_size, seed=seed)
    keep = step_imbalance(train.y, minority_classes, minority_count, seed=seed)
    x, y = train.tensors()
    x_test, y_test = test.tensors()
    counts = class_sizes(train.y[keep], NUM_CLASSES).tolist()
    return ImbalancedDigits(x[keep], y[keep], x_test, y_test, counts, tuple(sorted(int(c) for c in minority_classes)))


def digits_mlp(hidden_size: int = 256, hidden_act: str = "relu"):
    """The MLP 64-h-h-10 (`MLPForImageClassification`) of the recipe and the claim."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    config = MLPConfig(input_size=64, hidden_sizes=[hidden_size] * 2, hidden_act=hidden_act, num_labels=NUM_CLASSES)
    return MLPForImageClassification(config)


# ----------------------------------------------------------------------------------------------------------- features


def feature_module_of(model: nn.Module, name: str) -> nn.Module:
    """The submodule `name` (dotted path) of `model`, whose input is taken as the penultimate feature."""
    module = model
    for part in name.split("."):
        if not hasattr(module, part):
            raise ValueError(
                f"feature_module {name!r}: {type(model).__name__} has no submodule {part!r}; name the head whose "
                "input is the penultimate feature (e.g. 'classifier', 'score')"
            )
        module = getattr(module, part)
    if not isinstance(module, nn.Module):
        raise ValueError(f"feature_module {name!r} is not an nn.Module of {type(model).__name__}")
    return module


@contextmanager
def capture_features(model: nn.Module, feature_module: str = "classifier") -> Iterator[list[torch.Tensor]]:
    """Within the block, the input of `model.<feature_module>` in each forward pass is appended to the yielded list.

    The head's input is the penultimate feature `h(x)` (flattened to `(batch, d)`); gradients flow through it.
    """
    module = feature_module_of(model, feature_module)
    captured: list[torch.Tensor] = []

    def hook(_module, args):
        captured.append(args[0].reshape(args[0].shape[0], -1))

    handle = module.register_forward_pre_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def logits_and_features(
    model: nn.Module, x: torch.Tensor, feature_module: str = "classifier", input_name: str = "pixel_values"
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(logits, penultimate features)` of one forward pass of `model(**{input_name: x})`."""
    with capture_features(model, feature_module) as captured:
        output = model(**{input_name: x})
    if len(captured) != 1:
        raise ValueError(f"feature_module {feature_module!r} ran {len(captured)} times in one forward (expected 1)")
    logits = output.logits if hasattr(output, "logits") else output[0]
    return logits, captured[0]


# ----------------------------------------------------------------------------------------------------------- training


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def adversarial_examples(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: PGDConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """PGD inputs of `x` against the (Hugging Face) classifier, attacked in eval mode, the mode restored after."""
    was_training = model.training
    model.eval()
    try:
        return pgd_attack(lambda inputs: model(pixel_values=inputs).logits, x, y, attack, generator=generator)
    finally:
        model.train(was_training)


def srat_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: SeparableReweightedATLoss,
    attack: PGDConfig | None,
    class_weights: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """One SRAT step: x' = PGD(x) (clean x when `attack` is None), then a gradient step on the SRAT loss of x'.

    Returns the batch means of the weighted classification loss, the separation loss and the total loss.
    """
    x_train = x if attack is None else adversarial_examples(model, x, y, attack, generator)
    model.train()
    logits, features = logits_and_features(model, x_train)
    classification, separation = loss_fn.terms(logits, features, y, class_weights)
    loss = (classification + loss_fn.separation_weight * separation).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {
        "loss": loss.item(),
        "classification_loss": classification.mean().item(),
        "separation_loss": separation.mean().item(),
    }


def plain_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    """One step of plain (clean, unweighted) cross-entropy training: the baseline of the cost benchmark."""
    model.train()
    loss = nn.functional.cross_entropy(model(pixel_values=x).logits, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def train_imbalanced_at(
    data: ImbalancedDigits,
    *,
    seed: int,
    epochs: int,
    attack: PGDConfig,
    class_weights: str = "none",
    drw_start: int = 0,
    beta: float = 0.9999,
    separation_weight: float = 0.0,
    temperature: float = 0.1,
    focal_gamma: float = 0.0,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    batch_size: int = 64,
    hidden_size: int = 256,
    probe: dict | None = None,
) -> tuple[nn.Module, dict]:
    """Adversarial training on `data` in plain torch (fast); returns the model and its per-epoch history.

    Plain AT is `class_weights="none", separation_weight=0`; reweighted AT with DRW is `class_weights="effective_num",
    drw_start=E`; SRAT adds `separation_weight > 0`. The initial weights, the batch order and the attacks' random
    starts depend on `seed` only, so every variant of a seed starts from the same network and sees the same batches.

    `probe={"x", "y", "attack"}` (e.g. the test set and the evaluation attack) also records, before training and after
    every epoch, the separation loss of the probe's adversarial features (the whole probe as one batch).
    """
    torch.manual_seed(seed)
    model = digits_mlp(hidden_size)
    schedule = DeferredReweighting(data.class_counts, class_weights, drw_start=drw_start, beta=beta)
    loss_fn = SeparableReweightedATLoss(
        separation_weight=separation_weight, temperature=temperature, focal_gamma=focal_gamma
    )
    optimizer = make_optimizer(model, lr, weight_decay)
    order = torch.Generator().manual_seed(seed)
    attack_rng = torch.Generator().manual_seed(10_000 + seed)
    n = len(data.y)
    history: dict[str, list[float]] = {"loss": [], "classification_loss": [], "separation_loss": []}
    if probe is not None:
        history["probe_separation_loss"] = [probe_separation_loss(model, probe, temperature, seed)]
    for epoch in range(epochs):
        weights = schedule.weights_at(epoch).float()
        sums = {key: 0.0 for key in ("loss", "classification_loss", "separation_loss")}
        batches = torch.randperm(n, generator=order).split(batch_size)
        for idx in batches:
            step = srat_step(model, optimizer, data.x[idx], data.y[idx], loss_fn, attack, weights, attack_rng)
            for key in sums:
                sums[key] += step[key]
        for key, total in sums.items():
            history[key].append(total / len(batches))
        if probe is not None:
            history["probe_separation_loss"].append(probe_separation_loss(model, probe, temperature, seed))
    return model, history


# ----------------------------------------------------------------------------------------------------------- evaluation


def fisher_ratio(features: torch.Tensor, labels: torch.Tensor) -> float:
    r"""Between-class over within-class scatter of features (trace form of Fisher's criterion):

        J = Σ_c n_c ‖μ_c − μ‖² / Σ_i ‖h_i − μ_{y_i}‖²

    with `μ_c` the mean feature of class c and `μ` the overall mean. Larger means better separated classes; J is
    invariant to a global scaling of the features.
    """
    if features.dim() != 2 or labels.shape != features.shape[:1]:
        raise ValueError(
            f"features must be (n, d) with one label each, got {tuple(features.shape)} and {tuple(labels.shape)}"
        )
    h = features.double()
    overall = h.mean(dim=0)
    between, within = 0.0, 0.0
    for c in labels.unique():
        members = h[labels == c]
        center = members.mean(dim=0)
        between += len(members) * (center - overall).pow(2).sum().item()
        within += (members - center).pow(2).sum().item()
    return between / within if within > 0 else math.inf


@torch.no_grad()
def _features_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        return logits_and_features(model, x)[1]
    finally:
        model.train(was_training)


def probe_separation_loss(model: nn.Module, probe: dict, temperature: float, seed: int) -> float:
    """The separation loss of the probe set's adversarial features (the whole set as one batch)."""
    x_adv = adversarial_examples(
        model, probe["x"], probe["y"], probe["attack"], torch.Generator().manual_seed(20_000 + seed)
    )
    features = _features_of(model, x_adv)
    return feature_separation_loss(features, probe["y"], temperature).item()


def evaluate_imbalanced_robustness(
    model: nn.Module,
    data: ImbalancedDigits,
    attack: PGDConfig,
    *,
    seed: int = 0,
    temperature: float = 0.1,
) -> dict:
    """Clean and PGD class-wise test accuracy (per class, minority and majority means), and on the adversarial test
    features the Fisher ratio (raw and L2-normalised features) and the separation loss."""
    minority, majority = list(data.minority_classes), list(data.majority_classes)
    clean = classwise_robust_accuracy(model, data.x_test, data.y_test, None, NUM_CLASSES)
    robust = classwise_robust_accuracy(
        model, data.x_test, data.y_test, attack, NUM_CLASSES, generator=torch.Generator().manual_seed(20_000 + seed)
    )
    # the features of the adversarial test set (an attack of its own, seeded alike)
    x_adv = adversarial_examples(model, data.x_test, data.y_test, attack, torch.Generator().manual_seed(20_000 + seed))
    features = _features_of(model, x_adv)

    def mean_over(values: list[float], classes: list[int]) -> float:
        return sum(values[c] for c in classes) / len(classes)

    return {
        "clean_per_class": clean.per_class,
        "robust_per_class": robust.per_class,
        "clean_accuracy": clean.overall,
        "robust_accuracy": robust.overall,
        "clean_minority_accuracy": mean_over(clean.per_class, minority),
        "clean_majority_accuracy": mean_over(clean.per_class, majority),
        "robust_minority_accuracy": mean_over(robust.per_class, minority),
        "robust_majority_accuracy": mean_over(robust.per_class, majority),
        "robust_worst_class_accuracy": robust.worst,
        "fisher_ratio": fisher_ratio(features, data.y_test),
        "fisher_ratio_normalized": fisher_ratio(nn.functional.normalize(features, dim=1), data.y_test),
        "separation_loss": feature_separation_loss(features, data.y_test, temperature).item(),
    }


__all__ = [
    "ImbalancedDigits",
    "SRATArguments",
    "capture_features",
    "digits_mlp",
    "evaluate_imbalanced_robustness",
    "fisher_ratio",
    "imbalanced_digits",
    "logits_and_features",
    "parse_classes",
    "plain_step",
    "srat_step",
    "train_imbalanced_at",
]
