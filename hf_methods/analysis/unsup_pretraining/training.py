"""The unsup_pretraining recipe's arguments."""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_methods.common.checks import check_number, check_positive_int
from hf_methods.harness.recipe import RecipeArguments

__all__ = ["UnsupPretrainingArguments"]


@dataclass
class UnsupPretrainingArguments(RecipeArguments):
    """Knobs of `recipes/unsup_pretraining.py` (every field is a command-line flag)."""

    d: int = field(default=200, metadata={"help": "Input dimension of the factor model."})
    r: int = field(default=5, metadata={"help": "Number of latent factors (also the pretrained model's)."})
    m: int = field(default=5000, metadata={"help": "Unlabelled samples for pretraining."})
    ns: str = field(default="20,40,80,160", metadata={"help": "Comma-separated labelled-set sizes n."})
    repeats: int = field(default=5, metadata={"help": "Fresh draws per n."})
    n_test: int = field(default=2000, metadata={"help": "Test inputs for the excess risk."})
    loading_scale: float = field(default=1.0, metadata={"help": "Std of the loadings B_ij (signal strength)."})
    noise: float = field(default=1.0, metadata={"help": "Std of the input noise ε."})
    label_noise: float = field(default=1.0, metadata={"help": "Std of the label noise ξ."})

    def n_list(self) -> list[int]:
        try:
            ns = sorted({int(part) for part in self.ns.split(",") if part.strip()})
        except ValueError as error:
            raise ValueError(f"--ns must be comma-separated integers, got {self.ns!r}") from error
        if not ns or ns[0] <= self.r + 1:
            raise ValueError(f"--ns must hold sizes above r + 1 = {self.r + 1}, got {self.ns!r}")
        return ns

    def validate(self) -> None:
        super().validate()
        for name in ("d", "r", "m", "repeats", "n_test"):
            check_positive_int(name, getattr(self, name))
        if self.r > self.d:
            raise ValueError(f"--r ({self.r}) must not exceed --d ({self.d})")
        self.n_list()
        check_number("loading_scale", self.loading_scale, low=0.0, low_open=True)
        check_number("noise", self.noise, low=0.0, low_open=True)
        check_number("label_noise", self.label_noise, low=0.0)
