"""The Loki recipe's pieces: a digits classifier trained on some classes only, and the label metric of the rest.

`recipes/loki.py` trains an `MLPForImageClassification` on the `--observed` digit classes, then evaluates argmax and
Loki on the whole test split, where the other classes appear too; the label metric is the squared Euclidean distance
between class-mean images (`class_mean_sq_dist`), the line metric |a − b| on the digit values, or the discrete one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hf_methods.common.checks import check_number, check_positive_int
from hf_methods.harness.recipe import RecipeArguments

__all__ = ["LOKI_METRICS", "LokiArguments", "class_mean_sq_dist", "digits_label_metric", "observed_digits"]

#: The label metrics the recipe offers (the owner of this list).
LOKI_METRICS = ("class-means", "line", "discrete")
NUM_DIGITS = 10


def class_mean_sq_dist(x: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """D²[a, b] = ‖μ_a − μ_b‖² between the mean inputs μ_c of each class (flattened), `(K, K)` in float64."""
    from hf_methods.generation.loki.label_metrics import embedding_sq_dist

    missing = sorted(set(range(num_classes)) - set(torch.as_tensor(y).unique().tolist()))
    if missing:
        raise ValueError(f"no example of classes {missing}: a class-mean metric needs every class")
    x = torch.as_tensor(x).reshape(len(x), -1).double()
    means = torch.stack([x[torch.as_tensor(y) == c].mean(0) for c in range(num_classes)])
    return embedding_sq_dist(means)


def digits_label_metric(name: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The `(10, 10)` label metric `name` (one of `LOKI_METRICS`) for the digit classes."""
    from hf_methods.generation.loki.label_metrics import discrete_sq_dist, line_sq_dist

    if name == "class-means":
        return class_mean_sq_dist(x, y, NUM_DIGITS)
    if name == "line":
        return line_sq_dist(NUM_DIGITS)
    if name == "discrete":
        return discrete_sq_dist(NUM_DIGITS)
    raise ValueError(f"metric must be one of {LOKI_METRICS}, got {name!r}")


def observed_digits(observed: str) -> list[int]:
    """Parse `--observed` ("0,1,2,3,4,5,6") into sorted distinct digit classes."""
    try:
        classes = sorted({int(part) for part in observed.split(",") if part.strip()})
    except ValueError as error:
        raise ValueError(f"--observed must be comma-separated digits, got {observed!r}") from error
    if not classes or classes[0] < 0 or classes[-1] >= NUM_DIGITS:
        raise ValueError(f"--observed must name digit classes in 0..9, got {observed!r}")
    if len(classes) < 2:
        raise ValueError("--observed needs at least two classes for a classifier")
    return classes


@dataclass
class LokiArguments(RecipeArguments):
    """Knobs of `recipes/loki.py` (every field is a command-line flag)."""

    observed: str = field(
        default="0,1,2,4,5,7,9", metadata={"help": "Digit classes the classifier is trained on (the rest are unseen)."}
    )
    metric: str = field(default="class-means", metadata={"help": f"Label metric: one of {', '.join(LOKI_METRICS)}."})
    hidden_size: int = field(default=128, metadata={"help": "Width of the MLP's two hidden layers."})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate."})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay."})
    batch_size: int = field(default=64, metadata={"help": "Training batch size."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out for evaluation."})
    max_steps: int = field(default=400, metadata={"help": "Number of optimisation steps."})

    def validate(self) -> None:
        super().validate()
        observed_digits(self.observed)
        if self.metric not in LOKI_METRICS:
            raise ValueError(f"--metric must be one of {LOKI_METRICS}, got {self.metric!r}")
        check_positive_int("hidden_size", self.hidden_size)
        check_positive_int("batch_size", self.batch_size)
        check_number("learning_rate", self.learning_rate, low=0.0, low_open=True)
        check_number("weight_decay", self.weight_decay, low=0.0)
        check_number("test_size", self.test_size, low=0.0, high=1.0, low_open=True, high_open=True)
