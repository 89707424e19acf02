"""Fitting PRESTO and its baselines on tabular data: the sparse-difference simulation, a λ path with warm starts,
cross-validation of λ by the Brier score (scikit-learn `KFold`), proportional odds (scipy) and logistic regression on
the rare class (scikit-learn), the proximal step as a `TrainerCallback`, and the recipe's arguments.

Shared by `recipes/presto.py`, `benchmarks/claims/presto.py` and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import TrainerCallback

from hf_methods.harness.recipe import RecipeArguments
from hf_methods.models.presto.configuration_presto import PrestoConfig
from hf_methods.models.presto.modeling_presto import (
    PrestoForOrdinalClassification,
    class_probabilities,
    cumulative_logits,
    ordinal_log_likelihood,
    soft_threshold,
)


@dataclass
class SparseDifferenceData:
    """One draw of the sparse-difference simulation: features, ordinal labels and the true class probabilities."""

    inputs: np.ndarray
    labels: np.ndarray
    probs: np.ndarray


def sparse_difference_simulation(
    n: int,
    *,
    n_features: int = 10,
    intercepts: tuple[float, ...] = (0.0, 3.0, 5.0),
    beta: float = 0.5,
    deviation: float = 0.5,
    deviation_prob: float = 1 / 3,
    features: str = "uniform",
    seed: int = 0,
    n_test: int = 0,
    max_tries: int = 100,
) -> tuple[SparseDifferenceData, SparseDifferenceData | None, np.ndarray]:
    r"""
    The sparse-difference setting of Faletto & Bien (2023, §4.1), as the official generator
    (`Simulations/model_functions.R`, `sim_relaxed_prop_odds_rand`) draws it:

        P(y ≤ k | x) = σ(α_k + xᵀβ_k),  β_{1j} = `beta` · b_j,  β_{kj} = β_{k−1,j} + s_{kj} · `deviation` · b_{kj},

    with b_j, b_{kj} ~ Bernoulli(`deviation_prob`) independently, random signs s_{kj} = ±1 and, for
    `features="uniform"` (the official choice), x ~ U[−1, 1]^p (`"gaussian"`: x ~ N(0, I)). Coefficient draws for
    which some sample's boundaries cross (a negative class probability) are rejected and drawn again, as in the
    official generator, up to `max_tries` times.

    Returns `(train, test or None, slopes)` with `slopes` of shape `(K − 1, p)`. The test set (`n_test` points) shares
    the coefficients of the training set.
    """
    for name, value in (("n", n), ("n_features", n_features)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    if not 0 <= deviation_prob <= 1:
        raise ValueError(f"`deviation_prob` must lie in [0, 1], got {deviation_prob!r}.")
    if features not in ("uniform", "gaussian"):
        raise ValueError(f"`features` must be 'uniform' or 'gaussian', got {features!r}.")
    alphas = np.asarray(intercepts, dtype=np.float64)
    if alphas.ndim != 1 or len(alphas) < 2 or np.any(np.diff(alphas) <= 0):
        raise ValueError(f"`intercepts` must be a strictly increasing sequence of >= 2 values, got {intercepts!r}.")
    rng = np.random.default_rng(seed)

    def draw(size, slopes):
        if features == "uniform":
            x = rng.uniform(-1.0, 1.0, (size, n_features))
        else:
            x = rng.standard_normal((size, n_features))
        eta = alphas + x @ slopes.T
        cumulative = 1 / (1 + np.exp(-eta))
        probs = np.diff(np.concatenate([np.zeros((size, 1)), cumulative, np.ones((size, 1))], axis=1), axis=1)
        u = rng.random((size, 1))
        labels = (u > cumulative).sum(axis=1)  # y = #{k : u > P(y ≤ k | x)}: inverse-cdf sampling
        return SparseDifferenceData(x, labels, probs)

    for _ in range(max_tries):
        slopes = np.zeros((len(alphas), n_features))
        slopes[0] = beta * (rng.random(n_features) < deviation_prob)
        for k in range(1, len(alphas)):
            hits = rng.random(n_features) < deviation_prob
            signs = rng.choice([-1.0, 1.0], size=n_features)
            slopes[k] = slopes[k - 1] + deviation * signs * hits
        train = draw(n, slopes)
        test = draw(n_test, slopes) if n_test else None
        if train.probs.min() >= 0 and (test is None or test.probs.min() >= 0):
            return train, test, slopes
    raise ValueError(f"no coefficient draw without crossed boundaries in {max_tries} tries: lower `deviation`.")


def _as_tensors(inputs, labels) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    return x, y


def lambda_max(inputs, labels, num_classes: int) -> float:
    r"""The smallest λ at which ψ = 0 is optimal from the intercept-only fit: max_{k,j} |∂NLL/∂ψ_{kj}| there."""
    x, y = _as_tensors(inputs, labels)
    counts = torch.bincount(y, minlength=num_classes).double() + 0.5
    cumulative = torch.cumsum(counts, 0)[:-1] / counts.sum()
    intercepts = torch.log(cumulative / (1 - cumulative))
    psi = torch.zeros(num_classes - 1, x.shape[1], dtype=torch.float64, requires_grad=True)
    nll = -ordinal_log_likelihood(cumulative_logits(x, intercepts, psi), y).mean()
    (grad,) = torch.autograd.grad(nll, psi)
    return float(grad.abs().max())


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multi-class Brier score (1/n) Σ_i Σ_k (p_ik − 1[y_i = k])², on the raw (unclipped) probabilities."""
    probs = np.asarray(probs)
    onehot = np.eye(probs.shape[1])[np.asarray(labels)]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


class PrestoFISTA:
    """scikit-learn-style front end of [`PrestoForOrdinalClassification.fit`]: `PrestoFISTA(model, lam).fit(X, y)`
    fits the model in place and returns it; `path` fits a decreasing λ sequence with warm starts.

    Args:
        model ([`PrestoForOrdinalClassification`]): The model to fit.
        lam (`float`, *optional*): Penalty λ (defaults to the model's `config.l1_lambda`).
        max_iter (`int`, *optional*, defaults to 5000), tol (`float`, *optional*, defaults to 1e-9): FISTA stopping.
    """

    def __init__(self, model: PrestoForOrdinalClassification, lam: float | None = None, *, max_iter=5000, tol=1e-9):
        if not isinstance(model, PrestoForOrdinalClassification):
            raise TypeError(f"`model` must be a PrestoForOrdinalClassification, got {type(model).__name__}.")
        self.model, self.lam, self.max_iter, self.tol = model, lam, max_iter, tol

    def fit(self, inputs, labels) -> PrestoForOrdinalClassification:
        x, y = _as_tensors(inputs, labels)
        return self.model.fit(x, y, self.lam, max_iter=self.max_iter, tol=self.tol)

    def path(self, inputs, labels, lambdas) -> list[dict[str, torch.Tensor]]:
        """Fits each λ of `lambdas` in order (sort them decreasing for warm starts); returns the weights per λ."""
        x, y = _as_tensors(inputs, labels)
        weights = []
        for lam in lambdas:
            self.model.fit(x, y, float(lam), max_iter=self.max_iter, tol=self.tol, warm_start=True)
            weights.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})
        return weights


def lambda_grid(inputs, labels, num_classes: int, n_lambdas: int = 10, min_ratio: float = 0.01) -> np.ndarray:
    """`n_lambdas` values log-spaced from `lambda_max` down to `min_ratio` × `lambda_max` (decreasing)."""
    if isinstance(n_lambdas, bool) or not isinstance(n_lambdas, int) or n_lambdas < 1:
        raise ValueError(f"`n_lambdas` must be a positive integer, got {n_lambdas!r}.")
    if not 0 < min_ratio < 1:
        raise ValueError(f"`min_ratio` must lie in (0, 1), got {min_ratio!r}.")
    top = lambda_max(inputs, labels, num_classes)
    return np.geomspace(top, top * min_ratio, n_lambdas)


def presto_cv(
    inputs,
    labels,
    num_classes: int,
    *,
    n_lambdas: int = 10,
    min_ratio: float = 0.01,
    n_folds: int = 5,
    seed: int = 0,
    penalize_first_slope: bool = True,
    max_iter: int = 5000,
    tol: float = 1e-9,
) -> tuple[PrestoForOrdinalClassification, dict]:
    r"""
    Chooses λ by `n_folds`-fold cross-validation (scikit-learn `KFold`, shuffled with `seed`) of the multi-class
    Brier score along a warm-started λ path, then refits on all the data with the chosen λ (warm-started along
    the same path). Returns `(model, {"lambdas", "cv_brier", "lambda"})`.
    """
    from sklearn.model_selection import KFold

    x = np.asarray(inputs, dtype=np.float64)
    y = np.asarray(labels)
    lambdas = lambda_grid(x, y, num_classes, n_lambdas, min_ratio)
    config = PrestoConfig(n_features=x.shape[1], num_classes=num_classes, penalize_first_slope=penalize_first_slope)
    scores = np.zeros((n_folds, len(lambdas)))
    for fold, (train, valid) in enumerate(KFold(n_folds, shuffle=True, random_state=seed).split(x)):
        model = PrestoForOrdinalClassification(config).double()
        solver = PrestoFISTA(model, max_iter=max_iter, tol=tol)
        for j, weights in enumerate(solver.path(x[train], y[train], lambdas)):
            model.load_state_dict(weights)
            with torch.no_grad():
                probs = model(torch.as_tensor(x[valid])).probs.numpy()
            scores[fold, j] = brier_score(probs, y[valid])
    mean = scores.mean(axis=0)
    best = int(np.argmin(mean))
    model = PrestoForOrdinalClassification(config).double()
    PrestoFISTA(model, max_iter=max_iter, tol=tol).path(x, y, lambdas[: best + 1])
    return model, {"lambdas": lambdas, "cv_brier": mean, "lambda": float(lambdas[best])}


def fit_proportional_odds(inputs, labels, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    r"""
    Maximum-likelihood proportional odds, P(y ≤ k | x) = σ(α_k + xᵀβ), by scipy's L-BFGS on the negative
    log-likelihood written in numpy (an implementation independent of the torch solver; α parameterised as
    α_1, α_1 + e^{u_2}, … so they stay ordered). Returns `(alphas (K − 1,), beta (p,))`.
    """
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    x = np.asarray(inputs, dtype=np.float64)
    y = np.asarray(labels)
    n, p = x.shape
    num_boundaries = num_classes - 1

    def unpack(theta):
        alphas = np.cumsum(np.concatenate([theta[:1], np.exp(theta[1:num_boundaries])]))
        return alphas, theta[num_boundaries:]

    def nll(theta):
        alphas, beta = unpack(theta)
        eta = alphas[None, :] + (x @ beta)[:, None]
        upper = np.concatenate([eta, np.full((n, 1), np.inf)], axis=1)[np.arange(n), y]
        lower = np.concatenate([np.full((n, 1), -np.inf), eta], axis=1)[np.arange(n), y]
        prob = np.where(np.isinf(upper), 1.0, expit(upper)) - np.where(np.isinf(lower), 0.0, expit(lower))
        first = np.where(y == 0, log_expit(np.where(np.isinf(upper), 0.0, upper)), 0.0)
        last = np.where(y == num_boundaries, log_expit(-np.where(np.isinf(lower), 0.0, lower)), 0.0)
        middle = np.where((y > 0) & (y < num_boundaries), np.log(np.maximum(prob, 1e-300)), 0.0)
        return -(first + last + middle).mean()

    counts = np.bincount(y, minlength=num_classes) + 0.5
    cumulative = np.cumsum(counts)[:-1] / counts.sum()
    start_alphas = np.log(cumulative / (1 - cumulative))
    theta0 = np.concatenate([start_alphas[:1], np.log(np.diff(start_alphas)), np.zeros(p)])
    result = minimize(nll, theta0, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-10, "ftol": 1e-15})
    return unpack(result.x)


def proportional_odds_probs(inputs, alphas: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Class probabilities `(n, K)` of a proportional-odds fit."""
    eta = torch.as_tensor(np.asarray(alphas)[None, :] + (np.asarray(inputs) @ beta)[:, None])
    return class_probabilities(eta).numpy()


def logistic_rare_class(inputs, labels, num_classes: int):
    """Unpenalised logistic regression (scikit-learn) of 1[y = K − 1] on x: the baseline that cannot borrow strength."""
    from sklearn.linear_model import LogisticRegression

    target = (np.asarray(labels) == num_classes - 1).astype(int)
    return LogisticRegression(C=np.inf, max_iter=5000).fit(np.asarray(inputs), target)


class ProximalL1Callback(TrainerCallback):
    r"""
    The proximal step of PRESTO for `Trainer` training: after each optimiser step, soft-thresholds the model's
    differences ψ (all rows, or rows 2.. when `config.penalize_first_slope` is False) by lr · λ,

        ψ ← S_{lr·λ}(ψ),

    so that SGD/Adam on the smooth loss plus this step is a (stochastic) proximal-gradient method.

    Args:
        lam (`float`, *optional*): The penalty λ (defaults to the model's `config.l1_lambda`).
    """

    def __init__(self, lam: float | None = None):
        if lam is not None and (isinstance(lam, bool) or not lam >= 0):
            raise ValueError(f"`lam` must be >= 0, got {lam!r}.")
        self.lam = lam

    def on_optimizer_step(self, args, state, control, model=None, optimizer=None, **kwargs):
        if model is None or optimizer is None:
            return
        apply_proximal_step(model, optimizer.param_groups[0]["lr"], self.lam)


@torch.no_grad()
def apply_proximal_step(model: PrestoForOrdinalClassification, lr: float, lam: float | None = None) -> None:
    """ψ ← S_{lr·λ}(ψ) on the penalised rows of `model.psi` (see [`ProximalL1Callback`])."""
    lam = model.config.l1_lambda if lam is None else lam
    start = 0 if model.config.penalize_first_slope else 1
    model.psi[start:] = soft_threshold(model.psi[start:], lr * lam)


@dataclass
class PrestoArguments(RecipeArguments):
    """Knobs of `recipes/presto.py`: the simulation and the λ cross-validation."""

    max_steps: int = field(
        default=1, metadata={"help": "Number of CV fits (the recipe fits once; kept for the harness)."}
    )
    n_train: int = field(default=2500, metadata={"help": "Training points of the sparse-difference simulation."})
    n_test: int = field(
        default=10000, metadata={"help": "Test points (rare-class probability MSE is measured there)."}
    )
    n_features: int = field(default=10, metadata={"help": "Number of features p."})
    deviation_prob: float = field(
        default=1 / 3, metadata={"help": "Probability of a non-zero last-boundary difference."}
    )
    n_lambdas: int = field(default=10, metadata={"help": "Number of λ values on the CV path."})
    lambda_min_ratio: float = field(default=0.01, metadata={"help": "Smallest λ as a fraction of λ_max."})
    n_folds: int = field(default=5, metadata={"help": "Cross-validation folds."})
    penalize_first_slope: bool = field(default=True, metadata={"help": "Also penalise ψ_1 = β_1 (lasso)."})

    def validate(self) -> None:
        super().validate()
        for name in ("n_train", "n_test", "n_features", "n_lambdas"):
            if getattr(self, name) < 1:
                raise ValueError(f"`--{name}` must be a positive integer, got {getattr(self, name)!r}.")
        if self.n_folds < 2:
            raise ValueError(f"`--n_folds` must be >= 2, got {self.n_folds!r}.")
        if not 0 <= self.deviation_prob <= 1:
            raise ValueError(f"`--deviation_prob` must lie in [0, 1], got {self.deviation_prob!r}.")
        if not 0 < self.lambda_min_ratio < 1:
            raise ValueError(f"`--lambda_min_ratio` must lie in (0, 1), got {self.lambda_min_ratio!r}.")
