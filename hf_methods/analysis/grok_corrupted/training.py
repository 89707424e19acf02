"""Training pieces shared by `recipes/grok_corrupted.py`, the claim check and the tests.

- [`GrokCorruptedArguments`]: the arguments of the recipe (every knob a flag, validated);
- [`train_corrupted`]: full-batch AdamW on the corrupted training labels (in place), measuring the IPR trace;
- [`run_grok_corrupted`]: one seed of the paper's experiment: train the quadratic MLP on modular addition with
  corrupted labels, measure accuracies and IPRs, prune the lowest-IPR neurons and measure again.

The network is the bias-free quadratic MLP f(a, b) = W₂ (W₁ [e_a; e_b])² of [`hf_methods.training.grokking_tickets`]
(`GrokkingMLPForModularArithmetic`, squared error to the one-hot answer, init N(0, 0.25 / (2N)^{2/3})), the one of the
official code (`d-doshi/Grokking`, `utils/models.py`, `fcn`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from hf_methods.common.checks import check_number, check_positive_int
from hf_methods.harness.recipe import RecipeArguments
from hf_methods.training.grokking_tickets.data import OPERATIONS
from hf_methods.training.grokking_tickets.training import grokking_mlp, make_optimizer

from .analysis import IPRTrace, PruningCurve, SplitAccuracy, pruning_curve, split_accuracies
from .data import CorruptedModularSplit, corrupted_modular_arithmetic
from .ipr import fourier_ipr
from .prune import prune_low_ipr_neurons


@dataclass
class GrokCorruptedArguments(RecipeArguments):
    max_steps: int = field(default=500, metadata={"help": "Full-batch AdamW steps."})
    checkpoint_every: int = field(default=100, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(
        default=10, metadata={"help": "Log the loss, accuracies (corrupted / clean / test) and IPRs every N steps."}
    )
    modulus: int = field(default=97, metadata={"help": "The modulus p."})
    operation: str = field(default="add", metadata={"help": f"One of {sorted(OPERATIONS)}."})
    train_fraction: float = field(default=0.5, metadata={"help": "Fraction of the p² pairs used for training."})
    noise: float = field(
        default=0.35, metadata={"help": "ξ: fraction of training labels replaced by uniform random residues."}
    )
    hidden_size: int = field(default=500, metadata={"help": "Hidden width N of the quadratic MLP."})
    learning_rate: float = field(default=1e-2, metadata={"help": "AdamW learning rate (constant)."})
    weight_decay: float = field(
        default=0.0,
        metadata={"help": "AdamW (decoupled) weight decay: 0 memorises the corrupted labels, 5 unlearns them."},
    )
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW β1."})
    adam_beta2: float = field(default=0.98, metadata={"help": "AdamW β2."})
    prune: int = field(default=300, metadata={"help": "Number of lowest-IPR neurons pruned at the end."})
    ipr_exponent: float = field(default=2.0, metadata={"help": "r of IPR_r = Σ_k (|v̂_k| / ‖v̂‖)^{2r}."})

    def validate(self) -> None:
        super().validate()
        if self.operation not in OPERATIONS:
            raise ValueError(f"--operation must be one of {sorted(OPERATIONS)}, got {self.operation!r}")
        if self.modulus < 2:
            raise ValueError(f"--modulus must be >= 2, got {self.modulus}")
        if not 0.0 < self.train_fraction < 1.0:
            raise ValueError(f"--train_fraction must be in (0, 1), got {self.train_fraction}")
        if not 0.0 <= self.noise < 1.0:
            raise ValueError(f"--noise must be in [0, 1), got {self.noise}")
        for name in ("hidden_size", "learning_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight_decay must be >= 0, got {self.weight_decay}")
        for name in ("adam_beta1", "adam_beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"--{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.prune <= self.hidden_size:
            raise ValueError(f"--prune must be in [0, --hidden_size={self.hidden_size}], got {self.prune}")
        if self.ipr_exponent <= 0.5:
            raise ValueError(f"--ipr_exponent must be > 0.5, got {self.ipr_exponent}")

    def split(self) -> CorruptedModularSplit:
        """The corrupted train/test split of this run (seeded by `--seed`)."""
        return corrupted_modular_arithmetic(
            self.modulus, self.train_fraction, self.noise, operation=self.operation, seed=self.seed
        )

    def build_model(self) -> nn.Module:
        """The quadratic MLP at initialisation, seeded by `--seed`."""
        return grokking_mlp(self.seed, modulus=self.modulus, hidden_size=self.hidden_size)


def train_corrupted(
    model: nn.Module,
    split: CorruptedModularSplit,
    *,
    max_steps: int,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.98),
    eval_every: int = 10,
) -> IPRTrace:
    """Full-batch AdamW on `split`'s (partly corrupted) training labels, in place, with the loss of the model's config
    (the squared error to the one-hot label for the quadratic MLP). Every `eval_every` steps, at step 0 and at the
    end, the IPR statistics and the four accuracies are appended to the returned [`IPRTrace`].

    Args:
        model (`nn.Module`): a modular-arithmetic model returning `.loss` given `input_ids` and `labels`.
        split ([`CorruptedModularSplit`]): the data.
        max_steps (`int`): full-batch steps.
        lr, weight_decay, betas: AdamW's (the official runs: lr 1e-2, β = (0.9, 0.98), wd ∈ {0, 5, ...}).
        eval_every (`int`): steps between measurements.
    """
    if not isinstance(split, CorruptedModularSplit):
        raise TypeError(f"split must be a CorruptedModularSplit, got {type(split).__name__}")
    max_steps = check_positive_int("max_steps", max_steps)
    eval_every = check_positive_int("eval_every", eval_every)
    check_number("weight_decay", weight_decay, low=0.0)
    optimizer = make_optimizer(model, lr, weight_decay, betas)
    trace = IPRTrace()
    model.train()
    trace.measure(model, 0, split)
    for step in range(1, max_steps + 1):
        loss = model(input_ids=split.x_train, labels=split.y_train).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % eval_every == 0 or step == max_steps:
            trace.measure(model, step, split)
    return trace


@dataclass
class GrokCorruptedResult:
    """One run of [`run_grok_corrupted`]: accuracies before and after pruning, IPR summaries, the training trace and
    the pruning curve (all plain numbers)."""

    seed: int
    weight_decay: float
    pruned_neurons: int
    before: SplitAccuracy
    after: SplitAccuracy
    mean_ipr: float
    fraction_periodic: float
    mean_ipr_kept: float
    trace: IPRTrace
    curve: PruningCurve


def run_grok_corrupted(
    seed: int,
    *,
    modulus: int = 97,
    train_fraction: float = 0.5,
    noise: float = 0.35,
    hidden_size: int = 500,
    max_steps: int = 500,
    learning_rate: float = 1e-2,
    weight_decay: float = 0.0,
    prune: int = 300,
    eval_every: int = 10,
    curve_points: int = 20,
) -> GrokCorruptedResult:
    """Trains the quadratic MLP (seed `seed`) on modular addition with a fraction `noise` of corrupted training labels,
    then removes its `prune` lowest-IPR neurons, and measures the accuracies before and after, and the pruning curve
    at `curve_points` + 1 evenly spaced counts of neurons."""
    split = corrupted_modular_arithmetic(modulus, train_fraction, noise, seed=seed)
    model = grokking_mlp(seed, modulus=modulus, hidden_size=hidden_size)
    trace = train_corrupted(
        model, split, max_steps=max_steps, lr=learning_rate, weight_decay=weight_decay, eval_every=eval_every
    )
    ipr = fourier_ipr(model)
    pruned = prune_low_ipr_neurons(model, prune, ipr=ipr)
    step = max(1, hidden_size // check_positive_int("curve_points", curve_points))
    counts = sorted(set(range(0, hidden_size + 1, step)) | {hidden_size, prune})
    return GrokCorruptedResult(
        seed=seed,
        weight_decay=float(weight_decay),
        pruned_neurons=prune,
        before=split_accuracies(model, split),
        after=split_accuracies(pruned, split),
        mean_ipr=ipr.mean,
        fraction_periodic=ipr.fraction_periodic,
        mean_ipr_kept=sum(ipr.ipr[k] for k in ipr.highest(hidden_size - prune)) / max(1, hidden_size - prune),
        trace=trace,
        curve=pruning_curve(model, split, counts, ipr=ipr),
    )


__all__ = ["GrokCorruptedArguments", "GrokCorruptedResult", "run_grok_corrupted", "train_corrupted"]
