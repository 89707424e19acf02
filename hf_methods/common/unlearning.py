"""Machine-unlearning baselines and metrics shared by the unlearning methods.

Evaluation (classification, as in the unlearning literature since Jia et al., 2023, "Model Sparsity Can Simplify
Machine Unlearning", and SalUn, Fan et al., 2024):

- UA, unlearning accuracy: 1 − accuracy on the forget set D_f;
- RA, remaining accuracy: accuracy on the retain set D_r;
- TA, testing accuracy: accuracy on the test set (for class-wise forgetting, the test examples of the other classes);
- MIA-efficacy: a membership-inference attack (an RBF `sklearn.svm.SVC` on the true-class confidence, trained with
  D_r as members and the test set as non-members) applied to D_f: the fraction of D_f it calls non-members;
- Avg. Gap: the mean absolute difference of these four numbers to those of the model retrained without D_f.

For regression, [`regression_unlearning_metrics`] reports the errors on each split and the same attack on the
per-example loss.

Baselines ([`unlearn_baseline`]): `"finetune"` (train on D_r only), `"gradient_ascent"` (ascend the loss on D_f),
`"random_label"` (train on D_f with random labels, and D_r), `"retrain"` (train from a fresh initialisation on D_r:
exact unlearning, the gold standard). Each returns a new model and leaves the given one untouched.

Example:

```python
>>> retrained = unlearn_baseline("retrain", model, forget, retain, model_init=make_model, epochs=20, lr=1e-3)
>>> gold = unlearning_metrics(retrained, forget, retain, test)
>>> unlearning_metrics(unlearned, forget, retain, test).average_gap(gold)
```
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .adversarial import logits_of

Split = tuple[torch.Tensor, torch.Tensor]  # (inputs, targets)
BASELINES = ("finetune", "gradient_ascent", "random_label", "retrain")


def _check_split(split, name: str) -> Split:
    if not (isinstance(split, (tuple, list)) and len(split) == 2 and all(isinstance(t, torch.Tensor) for t in split)):
        raise TypeError(f"{name} must be a pair of tensors (inputs, targets)")
    if split[0].shape[0] != split[1].shape[0] or split[0].shape[0] == 0:
        raise ValueError(
            f"{name}: inputs and targets must have the same non-zero length, got {split[0].shape[0]} and {split[1].shape[0]}"
        )
    return split[0], split[1]


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """The model's scores on `x`, in eval mode (the mode is restored), batched."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([logits_of(model(x[i : i + batch_size])) for i in range(0, len(x), batch_size)])
    finally:
        model.train(was_training)


def true_class_confidence(model: nn.Module, split: Split) -> np.ndarray:
    """softmax(f(x))_y for each example: the feature of the confidence-based membership attack."""
    x, y = split
    return F.softmax(predict(model, x), dim=-1).gather(1, y[:, None]).squeeze(1).double().numpy()


def membership_attack_efficacy(members: np.ndarray, non_members: np.ndarray, targets: np.ndarray) -> float:
    """Fit an RBF SVC (C = 3, gamma = "auto") to tell member from non-member features, then return the fraction of
    `targets` it classifies as non-members (higher = the targets look less like training data)."""
    from sklearn.svm import SVC

    members, non_members, targets = (
        np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in (members, non_members, targets)
    )
    if min(len(members), len(non_members), len(targets)) == 0:
        raise ValueError("members, non_members and targets must all be non-empty")
    n = min(len(members), len(non_members))  # balanced attack training set, as the official attack does
    rng = np.random.default_rng(0)
    members, non_members = (
        members[rng.permutation(len(members))[:n]],
        non_members[rng.permutation(len(non_members))[:n]],
    )
    attack = SVC(C=3, gamma="auto", kernel="rbf").fit(
        np.concatenate([members, non_members]), np.concatenate([np.ones(n), np.zeros(n)])
    )
    return float((attack.predict(targets) == 0).mean())


@dataclass
class UnlearningMetrics:
    """UA, RA, TA and MIA-efficacy (all fractions in [0, 1]) of one classifier."""

    unlearning_accuracy: float
    remaining_accuracy: float
    testing_accuracy: float
    mia_efficacy: float

    def average_gap(self, reference: UnlearningMetrics) -> float:
        """Mean |difference| of the four metrics to `reference` (usually the retrained model)."""
        ours, theirs = asdict(self), asdict(reference)
        return float(np.mean([abs(ours[k] - theirs[k]) for k in ours]))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _accuracy(model: nn.Module, split: Split) -> float:
    x, y = split
    return (predict(model, x).argmax(-1) == y).float().mean().item()


def unlearning_metrics(model: nn.Module, forget: Split, retain: Split, test: Split) -> UnlearningMetrics:
    """UA, RA, TA and MIA-efficacy of a classifier (see the module docstring)."""
    forget, retain, test = (_check_split(s, n) for s, n in ((forget, "forget"), (retain, "retain"), (test, "test")))
    return UnlearningMetrics(
        unlearning_accuracy=1.0 - _accuracy(model, forget),
        remaining_accuracy=_accuracy(model, retain),
        testing_accuracy=_accuracy(model, test),
        mia_efficacy=membership_attack_efficacy(
            true_class_confidence(model, retain),
            true_class_confidence(model, test),
            true_class_confidence(model, forget),
        ),
    )


def regression_unlearning_metrics(model: nn.Module, forget: Split, retain: Split, test: Split) -> dict[str, float]:
    """Mean squared and absolute errors on each split, and the membership attack on the per-example squared error."""
    out, losses = {}, {}
    for name, split in (("forget", forget), ("retain", retain), ("test", test)):
        x, y = _check_split(split, name)
        pred = predict(model, x).reshape(y.shape).double()
        err = pred - y.double()
        losses[name] = err.pow(2).reshape(len(y), -1).mean(1).numpy()
        out[f"{name}_mse"] = err.pow(2).mean().item()
        out[f"{name}_mae"] = err.abs().mean().item()
    out["mia_efficacy"] = membership_attack_efficacy(losses["retain"], losses["test"], losses["forget"])
    return out


def _loader(split: Split, batch_size: int, generator: torch.Generator):
    x, y = split
    order = torch.randperm(len(x), generator=generator)
    for i in range(0, len(x), batch_size):
        idx = order[i : i + batch_size]
        yield x[idx], y[idx]


def _task_loss(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if y.dtype.is_floating_point:
        return F.mse_loss(scores.reshape(y.shape), y)
    return F.cross_entropy(scores, y)


def train_epochs(
    model: nn.Module,
    split: Split,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 64,
    seed: int = 0,
    ascent: bool = False,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
) -> nn.Module:
    """SGD (momentum, weight decay) on `split` in place: cross-entropy for integer targets, MSE for float targets;
    `ascent=True` maximises the loss instead (gradient ascent)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        for x, y in _loader(split, batch_size, generator):
            loss = _task_loss(logits_of(model(x)), y)
            optimizer.zero_grad()
            (-loss if ascent else loss).backward()
            optimizer.step()
    return model


def unlearn_baseline(
    name: str,
    model: nn.Module,
    forget: Split,
    retain: Split,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 64,
    seed: int = 0,
    num_classes: int | None = None,
    model_init: Callable[[], nn.Module] | None = None,
) -> nn.Module:
    """A baseline unlearning method applied to a copy of `model` (see the module docstring for the four names).

    Args:
        name (`str`): one of `BASELINES`.
        model (`nn.Module`): the original model (not modified).
        forget, retain (`(inputs, targets)`): the forget set D_f and the retain set D_r.
        epochs, lr, batch_size, seed: the SGD run (momentum 0.9, weight decay 5e-4).
        num_classes (`int`): needed by `"random_label"`.
        model_init (`callable`): a fresh model, needed by `"retrain"`.
    """
    if name not in BASELINES:
        raise ValueError(f"name must be one of {BASELINES}, got {name!r}")
    forget, retain = _check_split(forget, "forget"), _check_split(retain, "retain")
    if not (isinstance(epochs, int) and epochs >= 1) or not lr > 0:
        raise ValueError(f"epochs must be an int >= 1 and lr > 0, got epochs={epochs!r}, lr={lr!r}")
    kwargs = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed}
    if name == "retrain":
        if model_init is None:
            raise ValueError("the 'retrain' baseline needs model_init (a function returning a fresh model)")
        torch.manual_seed(seed)
        return train_epochs(model_init(), retain, **kwargs)
    unlearned = copy.deepcopy(model)
    if name == "finetune":
        return train_epochs(unlearned, retain, **kwargs)
    if name == "gradient_ascent":
        return train_epochs(unlearned, forget, ascent=True, **kwargs)
    if not (isinstance(num_classes, int) and num_classes >= 2):
        raise ValueError(f"the 'random_label' baseline needs num_classes >= 2, got {num_classes!r}")
    x_f, y_f = forget
    generator = torch.Generator().manual_seed(seed)
    random_labels = torch.randint(0, num_classes, y_f.shape, generator=generator)
    mixed = (torch.cat([x_f, retain[0]]), torch.cat([random_labels, retain[1]]))
    return train_epochs(unlearned, mixed, **kwargs)
