"""The inductive_bias recipe's arguments."""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_methods.common.checks import check_number, check_positive_int
from hf_methods.harness.recipe import RecipeArguments

__all__ = ["InductiveBiasArguments"]


@dataclass
class InductiveBiasArguments(RecipeArguments):
    """Knobs of `recipes/inductive_bias.py` (every field is a command-line flag)."""

    hidden_sizes: str = field(default="80", metadata={"help": "Comma-separated hidden widths of the MLP family."})
    n_trials: int = field(default=20, metadata={"help": "Networks trained from random seeds (sampled hypotheses)."})
    epochs: int = field(default=3, metadata={"help": "Training epochs per network."})
    batch_size: int = field(default=32, metadata={"help": "Training batch size."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate."})
    quantiles: str = field(
        default="0.5,0.25,0.1", metadata={"help": "Target errors ε as quantiles of the sampled errors."}
    )
    kernel_samples: int = field(
        default=2000, metadata={"help": "RBF-GP hypotheses for the kernel comparison (0: skip)."}
    )
    n_train: int = field(default=1437, metadata={"help": "Training digits used (at most 1437)."})

    def hidden_list(self) -> list[int]:
        try:
            sizes = [int(part) for part in self.hidden_sizes.split(",") if part.strip()]
        except ValueError as error:
            raise ValueError(f"--hidden_sizes must be comma-separated integers, got {self.hidden_sizes!r}") from error
        if not sizes or min(sizes) < 1:
            raise ValueError(f"--hidden_sizes must hold positive widths, got {self.hidden_sizes!r}")
        return sizes

    def quantile_list(self) -> list[float]:
        try:
            values = [float(part) for part in self.quantiles.split(",") if part.strip()]
        except ValueError as error:
            raise ValueError(f"--quantiles must be comma-separated numbers, got {self.quantiles!r}") from error
        if not values or not all(0 < q < 1 for q in values):
            raise ValueError(f"--quantiles must lie in (0, 1), got {self.quantiles!r}")
        return values

    def validate(self) -> None:
        super().validate()
        self.hidden_list()
        self.quantile_list()
        check_positive_int("n_trials", self.n_trials)
        if self.n_trials < 3:
            raise ValueError("--n_trials must be at least 3 (a distribution is fitted to the errors)")
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_number("learning_rate", self.learning_rate, low=0.0, low_open=True)
        check_number("kernel_samples", self.kernel_samples, low=0)
        check_positive_int("n_train", self.n_train)
