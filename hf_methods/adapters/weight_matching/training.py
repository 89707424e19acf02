"""Pieces shared by `recipes/weight_matching.py`, the claim check and the tests: digits MLPs trained from different
seeds, and the weight-matching analysis of a pair of them.

- [`WeightMatchingArguments`]: the arguments of `recipes/weight_matching.py`;
- [`digits_mlp`], [`train_mlp`], [`digits_batches`]: the models to match and their plain cross-entropy training;
- [`accuracy_metric`]: top-1 accuracy as a `metric_fn` of [`interpolation_barrier`];
- [`analyse_pair`]: weight matching of B to A and everything the paper measures about it (barrier before/after,
  distance ratio R, singular values unchanged, singular-vector overlaps with and without the permutation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid")


@dataclass
class WeightMatchingArguments(RecipeArguments):
    """Arguments of `recipes/weight_matching.py`: train two MLPs on scikit-learn digits from different seeds (one
    loop, each model with its own data order), match B to A by weight matching, measure the loss barrier before and
    after and the singular-vector alignment, and save the merged model `(1 − t) θ_A + t π(θ_B)`."""

    max_steps: int = field(default=230, metadata={"help": "Training steps of each model (230 ≈ 10 epochs at 64)."})
    partner_seed: int = field(default=1, metadata={"help": "Seed of model B's init and data order (A uses --seed)."})
    hidden_sizes: str = field(default="512,512,512", metadata={"help": "Comma-separated hidden widths of the MLPs."})
    hidden_act: str = field(default="relu", metadata={"help": f"Activation, one of {ACTIVATIONS}."})
    batch_size: int = field(default=64, metadata={"help": "Training batch size."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate."})
    max_iter: int = field(default=100, metadata={"help": "Maximum weight-matching sweeps."})
    matching_seed: int = field(default=0, metadata={"help": "Seed of weight matching's random layer order."})
    num_points: int = field(default=11, metadata={"help": "Points t on the linear path for the loss barrier."})
    merge_t: float = field(default=0.5, metadata={"help": "Saved model: (1 − t) θ_A + t π(θ_B), t in [0, 1]."})
    top_k: int = field(default=5, metadata={"help": "Top/bottom singular indices averaged in the alignment."})

    def validate(self) -> None:
        super().validate()
        parse_hidden_sizes(self.hidden_sizes)
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"--hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if self.partner_seed == self.seed:
            raise ValueError(f"--partner_seed must differ from --seed ({self.seed}): the two models must differ")
        for name in ("batch_size", "learning_rate", "max_iter", "top_k"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.num_points < 2:
            raise ValueError(f"--num_points must be >= 2, got {self.num_points}")
        if not 0.0 <= self.merge_t <= 1.0:
            raise ValueError(f"--merge_t must be in [0, 1], got {self.merge_t}")
        if self.max_steps < 1:
            raise ValueError(f"--max_steps must be >= 1, got {self.max_steps}")
        if self.top_k > min(parse_hidden_sizes(self.hidden_sizes)):
            raise ValueError(f"--top_k must be at most the smallest hidden width, got {self.top_k}")


def parse_hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--hidden_sizes must be comma-separated ints, got {text!r}") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise ValueError(f"--hidden_sizes must be positive ints, got {text!r}")
    return sizes


def digits_mlp(hidden_sizes=(512, 512, 512), hidden_act: str = "relu", seed: int = 0):
    """A fresh `MLPForImageClassification` 64 → hidden_sizes → 10 (PyTorch's default init under `seed`)."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    config = MLPConfig(input_size=64, hidden_sizes=list(hidden_sizes), hidden_act=hidden_act, num_labels=10)
    return MLPForImageClassification(config)


def train_mlp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int, lr: float, seed=0):
    """Adam on cross-entropy for `epochs` passes over `(x, y)` in a data order drawn from `seed`; returns the last
    epoch's mean loss."""
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    last = float("nan")
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(pixel_values=x[idx]).logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        last = total / len(x)
    model.eval()
    return last


def digits_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> list[dict[str, torch.Tensor]]:
    """`[{"pixel_values", "labels"}, ...]` batches for [`interpolation_barrier`] / [`evaluate_loss`]."""
    return [
        {"pixel_values": x[i : i + batch_size], "labels": y[i : i + batch_size]} for i in range(0, len(x), batch_size)
    ]


def accuracy_metric(outputs, batch) -> dict[str, float]:
    """Top-1 accuracy of `outputs.logits` against `batch["labels"]` (a `metric_fn` of the barrier)."""
    return {"accuracy": (outputs.logits.argmax(-1) == batch["labels"]).float().mean().item()}


def hidden_weight_names(model: nn.Module) -> list[str]:
    """The weights of the hidden `Linear` layers of an hf-methods MLP (their output axis is permuted)."""
    return [f"mlp.{name}.weight" for name, m in model.mlp.named_modules() if isinstance(m, nn.Linear)]


def analyse_pair(model_a, model_b, batches, *, num_points=11, max_iter=100, matching_seed=0, top_k=5) -> dict:
    """Matches `model_b` to `model_a` and measures what the P37 paper looks at (JSON-serialisable dict).

    Keys: `perm` (the permutations as lists), `iterations`, `barrier_before` / `barrier_after` (`BarrierResult`
    dicts, test loss and accuracy along the path), `distance_before` / `distance_after` and `distance_ratio`
    `R = ‖θ_A − π(θ_B)‖ / ‖θ_A − θ_B‖`, `max_singular_value_change` (relative, over all permuted weights),
    `alignment_before` / `alignment_after` (singular-vector overlaps of the hidden layers' weights), and
    `function_max_abs_diff` (the permuted B against B on the batches).
    """
    from hf_methods.adapters.weight_matching.analysis import singular_vector_alignment
    from hf_methods.adapters.weight_matching.merging import interpolation_barrier, parameter_distance
    from hf_methods.adapters.weight_matching.permutation import apply_permutation, weight_matching

    perm = weight_matching(model_a, model_b, max_iter=max_iter, seed=matching_seed)
    permuted = apply_permutation(model_b, perm)
    with torch.no_grad():
        diff = max(
            (permuted(**b).logits - model_b(**b).logits).abs().max().item() for b in batches
        )  # permutations leave the function unchanged (up to summation order)
    before = interpolation_barrier(model_a, model_b, batches, num_points=num_points, metric_fn=accuracy_metric)
    after = interpolation_barrier(model_a, permuted, batches, num_points=num_points, metric_fn=accuracy_metric)
    d_before, d_after = parameter_distance(model_a, model_b), parameter_distance(model_a, permuted)
    change = 0.0
    params_b, params_p = dict(model_b.named_parameters()), dict(permuted.named_parameters())
    for name in perm.spec.axes_to_perm:
        if params_b[name].dim() == 2:
            s_b = torch.linalg.svdvals(params_b[name].detach().double())
            s_p = torch.linalg.svdvals(params_p[name].detach().double())
            change = max(change, ((s_b - s_p).abs().max() / s_b.max()).item())
    hidden = hidden_weight_names(model_a)
    return {
        "perm": {p: v.tolist() for p, v in perm.items()},
        "iterations": perm.iterations,
        "function_max_abs_diff": diff,
        "barrier_before": before.to_dict(),
        "barrier_after": after.to_dict(),
        "distance_before": d_before,
        "distance_after": d_after,
        "distance_ratio": d_after / d_before,
        "max_singular_value_change": change,
        "alignment_before": singular_vector_alignment(model_a, model_b, top_k, parameters=hidden).to_dict(),
        "alignment_after": singular_vector_alignment(model_a, permuted, top_k, parameters=hidden).to_dict(),
    }


__all__ = [
    "WeightMatchingArguments",
    "accuracy_metric",
    "analyse_pair",
    "digits_batches",
    "digits_mlp",
    "hidden_weight_names",
    "parse_hidden_sizes",
    "train_mlp",
]
