"""Experiment pieces shared by `recipes/arphmm.py`, the claim and the tests.

- [`ARPHMMArguments`]: the recipe's arguments; `args.arphmm_config()` builds the `ARPHMMConfig`;
- [`run_to_failure_experiment`]: fit an ARHMM (pl ≡ 1) or an ARPHMM (soft plausibilities) on synthetic
  run-to-failure units and evaluate state decoding and online RUL prediction on held-out units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hf_methods.harness.recipe import RecipeArguments

from .configuration_arphmm import ARPHMMConfig
from .data import make_run_to_failure, soft_plausibilities

N_STATES = 4  # the synthetic generator's number of degradation states


@dataclass
class ARPHMMArguments(RecipeArguments):
    ar_order: int = field(default=2, metadata={"help": "Order P of the per-state autoregressions."})
    max_iter: int = field(default=100, metadata={"help": "Maximum number of EM iterations (the step loop of EM)."})
    tol: float = field(default=1e-4, metadata={"help": "Relative log-likelihood change that stops EM."})
    prior_count: float = field(default=1e-5, metadata={"help": "Pseudo-count on the transition counts."})
    num_train: int = field(default=20, metadata={"help": "Synthetic training units (run to failure)."})
    num_test: int = field(default=10, metadata={"help": "Synthetic held-out units."})
    min_length: int = field(default=150, metadata={"help": "Shortest unit life."})
    max_length: int = field(default=250, metadata={"help": "Longest unit life."})
    unknown_fraction: float = field(default=0.3, metadata={"help": "Fraction of steps with no prior (pl ≡ 1)."})
    no_plausibilities: bool = field(default=False, metadata={"help": "Fit a plain ARHMM (pl ≡ 1) instead."})

    def validate(self) -> None:
        super().validate()
        for name in ("max_iter", "num_train", "num_test"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.ar_order < 0:
            raise ValueError(f"--ar_order must be >= 0, got {self.ar_order}")
        if not 8 <= self.min_length <= self.max_length:
            raise ValueError(
                f"--min_length/--max_length must satisfy 8 <= min <= max, got {self.min_length}, {self.max_length}"
            )
        if not self.tol >= 0:
            raise ValueError(f"--tol must be >= 0, got {self.tol}")
        if not self.prior_count >= 0:
            raise ValueError(f"--prior_count must be >= 0, got {self.prior_count}")
        if not 0 <= self.unknown_fraction <= 1:
            raise ValueError(f"--unknown_fraction must lie in [0, 1], got {self.unknown_fraction}")

    def arphmm_config(self) -> ARPHMMConfig:
        return ARPHMMConfig(n_states=N_STATES, ar_order=self.ar_order, prior_count=self.prior_count)


def make_units(num: int, min_length: int, max_length: int, unknown_fraction: float, *, seed: int):
    """Synthetic units and their soft plausibilities (seeded by `seed`)."""
    units = make_run_to_failure(num, min_length, max_length, seed=seed)
    pls = [
        soft_plausibilities(u.states, N_STATES, unknown_fraction=unknown_fraction, seed=seed * 1000 + i)
        for i, u in enumerate(units)
    ]
    return units, pls


@torch.no_grad()
def evaluate(model, units) -> dict[str, float]:
    """State-decoding accuracy (argmax of the smoothed γ, no prior) and online RUL RMSE over the held-out `units`."""
    p = model.config.ar_order
    correct = total = 0
    squared = 0.0
    for unit in units:
        decoded = model.posterior_states(unit.signal).argmax(-1)
        correct += (decoded == unit.states[p:]).sum().item()
        total += decoded.numel()
        squared += (model.predict_rul(unit.signal) - unit.rul[p:]).pow(2).sum().item()
    return {"state_accuracy": correct / total, "rul_rmse": (squared / total) ** 0.5}


def fit_and_evaluate(config: ARPHMMConfig, train, train_pls, test, *, max_iter=100, tol=1e-4) -> dict:
    """Fits EM (+ the RUL head) on `train` with `train_pls` (None: a plain ARHMM) and evaluates on `test`."""
    from .modeling_arphmm import ARPHMMModel

    signals = [u.signal for u in train]
    model = ARPHMMModel(config).fit(signals, train_pls, max_iter=max_iter, tol=tol)
    model.fit_rul(signals, [u.rul for u in train], train_pls)
    history = list(model.fit_history)
    steps = sum(len(s) - config.ar_order for s in signals)
    result = evaluate(model, test)
    result.update(
        log_likelihood_history=history,
        min_log_likelihood_increase=min((b - a for a, b in zip(history, history[1:])), default=0.0),
        em_iterations=len(history),
        log_likelihood_per_step=history[-1] / steps,
    )
    return result, model
