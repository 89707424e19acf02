"""Gradient boosting of hidden units ("Sequential Training of Neural Networks with Gradient Boosting", Emami &
Martínez-Muñoz; official code `GAA-UAM/GBNN`, `gbnn/GBNN.py`: `GNEGNE.fit`, `to_NN`).

GBNN does not train a network end to end, so it is not a `transformers.Trainer`: [`GradientBoostedMLPTrainer`] fits
small networks one after the other (each with L-BFGS, to the pseudo-residuals of the ensemble so far) and *returns* an
ordinary transformers model, [`GradientBoostedMLPModel`], that holds all of their units.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.optimize import minimize

from .configuration_gbnn import GBNN_ACTIVATIONS, GBNN_OBJECTIVES, GradientBoostedMLPConfig
from .loss import BoostingLoss, boosting_loss_for

if TYPE_CHECKING:
    from .modeling_gbnn import GradientBoostedMLPModel

OUTPUT_LOSSES = ("squared", "log_exponential", "multinomial")


# ------------------------------------------------------------------------------------------- a small numpy MLP


def _activate(z: np.ndarray, activation: str) -> np.ndarray:
    if activation == "logistic":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # σ(z), without overflow warnings
    if activation == "tanh":
        return np.tanh(z)
    if activation == "relu":
        return np.maximum(z, 0.0)
    return z


def _activation_derivative(a: np.ndarray, activation: str) -> np.ndarray:
    """σ'(z) written in terms of a = σ(z)."""
    if activation == "logistic":
        return a * (1.0 - a)
    if activation == "tanh":
        return 1.0 - a * a
    if activation == "relu":
        return (a > 0).astype(a.dtype)
    return np.ones_like(a)


def _unpack(theta: np.ndarray, d: int, h: int, m: int):
    sizes = (d * h, h, h * m, m)
    w1, b1, w2, b2 = np.split(theta, np.cumsum(sizes)[:-1])
    return w1.reshape(d, h), b1, w2.reshape(h, m), b2


def mlp_forward(params: dict[str, np.ndarray], x: np.ndarray, activation: str = "logistic") -> np.ndarray:
    """Outputs `σ(x W1 + b1) W2 + b2` of a one-hidden-layer network `params` = {"w1", "b1", "w2", "b2"}."""
    return _activate(x @ params["w1"] + params["b1"], activation) @ params["w2"] + params["b2"]


def mlp_objective(
    theta: np.ndarray,
    x: np.ndarray,
    targets: np.ndarray,
    hidden_size: int,
    activation: str = "logistic",
    l2: float = 1e-4,
    output_loss: str = "squared",
) -> tuple[float, np.ndarray]:
    r"""
    Objective and gradient (by hand-written backpropagation) of a one-hidden-layer network with n examples:

        J(θ) = (1/n) Σ_i ℓ(out_i, t_i) + α/(2n) (‖W1‖² + ‖W2‖²),   out = σ(x W1 + b1) W2 + b2,

    with ℓ = ½ Σ_k (out_k − t_k)² (`"squared"`, the learner of a boosting step, as scikit-learn's `MLPRegressor`),
    log(1 + e^{−2 t out}) with t = ±1 (`"log_exponential"`) or the softmax cross-entropy against one-hot t
    (`"multinomial"`). The biases are not penalised.

    Args:
        theta (`np.ndarray`): flat parameters (W1 `(d, h)`, b1 `(h,)`, W2 `(h, m)`, b2 `(m,)`).
        x (`np.ndarray` of shape `(n, d)`): inputs.
        targets (`np.ndarray` of shape `(n, m)`): targets (pseudo-residuals, ±1 labels or one-hot labels).
        hidden_size (`int`): h.
        activation (`str`): σ.
        l2 (`float`): α.
        output_loss (`str`): ℓ.

    Returns:
        `(J, ∂J/∂θ)`.
    """
    n, d = x.shape
    m = targets.shape[1]
    w1, b1, w2, b2 = _unpack(theta, d, hidden_size, m)
    a = _activate(x @ w1 + b1, activation)
    out = a @ w2 + b2
    if output_loss == "squared":
        diff = out - targets
        value = 0.5 * np.sum(diff * diff) / n
        delta = diff / n
    elif output_loss == "log_exponential":
        margin = -2.0 * targets * out
        value = np.sum(np.logaddexp(0.0, margin)) / n
        delta = -2.0 * targets * (0.5 * (1.0 + np.tanh(0.5 * margin))) / n  # −2t σ(−2t·out) / n
    else:
        shifted = out - out.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        value = -np.sum(targets * log_p) / n
        delta = (np.exp(log_p) - targets) / n
    value += 0.5 * l2 / n * (np.sum(w1 * w1) + np.sum(w2 * w2))
    grad_w2 = a.T @ delta + l2 / n * w2
    grad_b2 = delta.sum(0)
    delta_hidden = (delta @ w2.T) * _activation_derivative(a, activation)
    grad_w1 = x.T @ delta_hidden + l2 / n * w1
    grad_b1 = delta_hidden.sum(0)
    return float(value), np.concatenate([grad_w1.ravel(), grad_b1, grad_w2.ravel(), grad_b2])


def glorot_init(d: int, h: int, m: int, activation: str, rng: np.random.Generator) -> np.ndarray:
    """Glorot-uniform weights and biases, bound √(f / (fan_in + fan_out)) with f = 2 for logistic, else 6 (the
    initialisation of scikit-learn's MLPs, which the official code fits)."""
    factor = 2.0 if activation == "logistic" else 6.0
    parts = []
    for fan_in, fan_out in ((d, h), (h, m)):
        bound = math.sqrt(factor / (fan_in + fan_out))
        parts.append(rng.uniform(-bound, bound, fan_in * fan_out))
        parts.append(rng.uniform(-bound, bound, fan_out))
    return np.concatenate(parts)


def fit_mlp_lbfgs(
    x: np.ndarray,
    targets: np.ndarray,
    hidden_size: int,
    *,
    activation: str = "logistic",
    l2: float = 1e-4,
    max_iter: int = 200,
    tol: float = 0.0,
    output_loss: str = "squared",
    rng: np.random.Generator | int = 0,
) -> dict[str, np.ndarray]:
    """
    Fits a one-hidden-layer network to `targets` with L-BFGS (`scipy.optimize.minimize(method="L-BFGS-B")`, as
    scikit-learn's `MLPRegressor(solver="lbfgs")` of the official code does), minimising [`mlp_objective`].

    Returns:
        `dict` with `w1` `(d, h)`, `b1` `(h,)`, `w2` `(h, m)`, `b2` `(m,)` (float64).
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    d, m = x.shape[1], targets.shape[1]
    theta0 = glorot_init(d, hidden_size, m, activation, rng)
    result = minimize(
        mlp_objective,
        theta0,
        args=(x, targets, hidden_size, activation, l2, output_loss),
        method="L-BFGS-B",
        jac=True,
        options={"maxiter": max_iter, "maxfun": 15000, "gtol": tol},
    )
    w1, b1, w2, b2 = _unpack(result.x, d, hidden_size, m)
    return {"w1": w1, "b1": b1, "w2": w2, "b2": b2}


# ------------------------------------------------------------------------------------------- gradient boosting


def _as_float64(name: str, value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a numeric array or tensor, got {type(value).__name__}.") from None
    return array


def _is_integer_labels(labels) -> bool:
    if isinstance(labels, torch.Tensor):
        return not labels.is_floating_point() and labels.dtype != torch.bool
    return np.issubdtype(np.asarray(labels).dtype, np.integer)


class GradientBoostedMLPTrainer:
    r"""
    Trains a one-hidden-layer network by gradient boosting (GBNN, Emami & Martínez-Muñoz) and returns it as a
    [`GradientBoostedMLPModel`].

    With L the loss of the objective and T = `total_units` / J, J = `units_per_step`:

    1. F_0 = argmin_c Σ_i L(y_i, c) (the mean for L2, ½ log((1+ȳ)/(1−ȳ)) for the log-exponential loss, 0 for the
       multinomial one);
    2. for t = 1..T: r_i = −∂L(y_i, F_{t−1}(x_i))/∂F; fit a network f_t with J hidden units to r by least squares
       with L-BFGS, on a fresh random `subsample` of the training set; take the Newton step ρ_t = η ρ̂ on the whole
       training set ([`BoostingLoss.newton_step`]); F_t = F_{t−1} + ρ_t f_t;
    3. assemble F_T = F_0 + Σ_t ρ_t f_t into one network of T·J units ([`~GradientBoostedMLPTrainer.to_model`]).

    Labels decide the objective when `objective="auto"`: floating-point labels are regression targets (`"squared"`),
    integer labels are classes 0..K−1 (`"log_exponential"` for K = 2, `"multinomial"` for K >= 3). Inputs should be
    standardised, as for any MLP.

    The subsample and the learner initialisation of step t are drawn from `numpy.random.default_rng([seed, t])`, so a
    fit is reproducible and can stop and resume at any step ([`~GradientBoostedMLPTrainer.state_dict`]).

    Args:
        total_units (`int`, *optional*, defaults to 200): hidden units of the final network, T·J.
        units_per_step (`int`, *optional*, defaults to 1): units J fitted per boosting step (must divide
            `total_units`).
        eta (`float`, *optional*, defaults to 1.0): shrinkage η of the Newton step.
        subsample (`float`, *optional*, defaults to 0.5): fraction of the training set each learner is fitted on.
        inner_max_iter (`int`, *optional*, defaults to 200): L-BFGS iterations of each learner.
        inner_l2 (`float`, *optional*, defaults to 1e-4): L2 penalty α of each learner (scikit-learn's `alpha`).
        inner_tol (`float`, *optional*, defaults to 0.0): L-BFGS gradient tolerance (0: run `inner_max_iter`
            iterations unless the line search stalls, as the official code does).
        activation (`str`, *optional*, defaults to `"logistic"`): hidden activation.
        objective (`str`, *optional*, defaults to `"auto"`): `"auto"`, `"squared"`, `"log_exponential"` or
            `"multinomial"`.
        num_labels (`int`, *optional*): number of classes (default: largest label + 1).
        seed (`int`, *optional*, defaults to 0): seed of the subsamples and initialisations.

    Example:

    ```python
    >>> model = GradientBoostedMLPTrainer(total_units=100).fit(x_train, y_train)  # a GradientBoostedMLPModel
    >>> model.truncate_hidden(75)  # the model after the first 75 boosting steps
    ```
    """

    def __init__(
        self,
        total_units: int = 200,
        units_per_step: int = 1,
        eta: float = 1.0,
        subsample: float = 0.5,
        inner_max_iter: int = 200,
        inner_l2: float = 1e-4,
        inner_tol: float = 0.0,
        activation: str = "logistic",
        objective: str = "auto",
        num_labels: int | None = None,
        seed: int = 0,
    ):
        for name, value in (("total_units", total_units), ("units_per_step", units_per_step)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be an int >= 1, got {value!r}.")
        if total_units % units_per_step:
            raise ValueError(
                f"`total_units` ({total_units}) must be a multiple of `units_per_step` ({units_per_step})."
            )
        if not (isinstance(eta, (int, float)) and math.isfinite(eta) and eta > 0):
            raise ValueError(f"`eta` must be a finite number > 0, got {eta!r}.")
        if not (isinstance(subsample, (int, float)) and 0 < subsample <= 1):
            raise ValueError(f"`subsample` must be in (0, 1], got {subsample!r}.")
        if not isinstance(inner_max_iter, int) or isinstance(inner_max_iter, bool) or inner_max_iter < 1:
            raise ValueError(f"`inner_max_iter` must be an int >= 1, got {inner_max_iter!r}.")
        if not (isinstance(inner_l2, (int, float)) and inner_l2 >= 0):
            raise ValueError(f"`inner_l2` must be >= 0, got {inner_l2!r}.")
        if not (isinstance(inner_tol, (int, float)) and inner_tol >= 0):
            raise ValueError(f"`inner_tol` must be >= 0, got {inner_tol!r}.")
        if activation not in GBNN_ACTIVATIONS:
            raise ValueError(f"`activation` must be one of {GBNN_ACTIVATIONS}, got {activation!r}.")
        if objective != "auto" and objective not in GBNN_OBJECTIVES:
            raise ValueError(f"`objective` must be 'auto' or one of {GBNN_OBJECTIVES}, got {objective!r}.")
        if num_labels is not None and (
            not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 2
        ):
            raise ValueError(f"`num_labels` must be None or an int >= 2, got {num_labels!r}.")
        self.total_units, self.units_per_step = total_units, units_per_step
        self.num_steps = total_units // units_per_step
        self.eta, self.subsample = float(eta), float(subsample)
        self.inner_max_iter, self.inner_l2, self.inner_tol = inner_max_iter, float(inner_l2), float(inner_tol)
        self.activation, self.objective, self.num_labels, self.seed = activation, objective, num_labels, seed
        self._reset()

    def _reset(self) -> None:
        self.loss: BoostingLoss | None = None
        self.initial_score: np.ndarray | None = None
        self.learners: list[dict[str, np.ndarray]] = []
        self.steps: list[float] = []
        self.train_losses: list[float] = []
        self._x = self._y = self._scores = None

    # ------------------------------------------------------------------------------------------- fitting
    def fit(self, inputs, labels) -> GradientBoostedMLPModel:
        """
        Runs all T boosting steps on `(inputs, labels)` and returns the assembled [`GradientBoostedMLPModel`].

        Args:
            inputs (array or `torch.Tensor` of shape `(n, d)`): training features.
            labels (array or `torch.Tensor` of shape `(n,)` or `(n, m)`): integer classes or float targets.
        """
        self.start(inputs, labels)
        while self.step_count < self.num_steps:
            self.step()
        return self.to_model()

    def start(self, inputs, labels) -> None:
        """Sets the training data and the initial model F_0 (step 1 of the algorithm); forgets any earlier fit."""
        x = _as_float64("inputs", inputs)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"`inputs` must be 2-D (n_samples >= 2, n_features), got shape {x.shape}.")
        if not np.isfinite(x).all():
            raise ValueError("`inputs` must be finite (no NaN or inf).")
        objective, num_labels = self._resolve_objective(labels, len(x))
        self._reset()
        self.resolved_objective, self.resolved_num_labels = objective, num_labels
        self.loss = boosting_loss_for(objective, num_labels)
        raw = labels.detach().cpu() if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
        y = self.loss.encode_labels(raw)
        self._x, self._y = x, y.numpy()
        self.initial_score = self.loss.initial_score(y).numpy()
        self._scores = np.broadcast_to(self.initial_score, self._y.shape).copy()
        if self.subsample < 1 and int(self.subsample * len(x)) < 1:
            raise ValueError(f"`subsample`={self.subsample} leaves no example of the {len(x)} to fit a learner on.")

    def _resolve_objective(self, labels, n: int) -> tuple[str, int]:
        values = _as_float64("labels", labels)
        if values.ndim not in (1, 2) or values.shape[0] != n:
            raise ValueError(f"`labels` must have shape ({n},) or ({n}, m) to match the inputs, got {values.shape}.")
        if not np.isfinite(values).all():
            raise ValueError("`labels` must be finite (no NaN or inf).")
        objective = self.objective
        if objective == "auto":
            if not _is_integer_labels(labels):
                objective = "squared"
            else:
                k = self.num_labels or int(values.max()) + 1
                objective = "log_exponential" if k == 2 else "multinomial"
        if objective == "squared":
            return objective, 2
        if values.ndim != 1 or not np.array_equal(values, np.round(values)):
            raise ValueError(f"`labels` must be 1-D integer class indices for the {objective} objective.")
        k = self.num_labels or max(int(values.max()) + 1, 2)
        if values.min() < 0 or values.max() >= k:
            raise ValueError(f"`labels` must lie in [0, {k - 1}], got values in [{values.min():g}, {values.max():g}].")
        if objective == "log_exponential" and k != 2:
            raise ValueError(f"the log_exponential objective is binary: `labels` must be 0 or 1 (got {k} classes).")
        if objective == "multinomial" and k < 3:
            raise ValueError("the multinomial objective needs >= 3 classes; use log_exponential for 2.")
        return objective, k

    @property
    def step_count(self) -> int:
        """Boosting steps taken so far."""
        return len(self.steps)

    def step(self) -> float:
        """Runs one boosting step (step 2 of the algorithm); returns the mean training loss after it."""
        if self._x is None:
            raise RuntimeError("call `start(inputs, labels)` (or `fit`) before `step()`.")
        if self.step_count >= self.num_steps:
            raise RuntimeError(f"all {self.num_steps} boosting steps are done; `to_model()` assembles the network.")
        x, y, t = self._x, self._y, self.step_count
        residuals = self.loss.pseudo_residuals(torch.from_numpy(y), torch.from_numpy(self._scores)).numpy()
        rng = np.random.default_rng([self.seed, t])
        if self.subsample < 1:
            rows = np.sort(rng.choice(len(x), int(self.subsample * len(x)), replace=False))
            x_fit, r_fit = x[rows], residuals[rows]
        else:
            x_fit, r_fit = x, residuals
        learner = fit_mlp_lbfgs(
            x_fit,
            r_fit,
            self.units_per_step,
            activation=self.activation,
            l2=self.inner_l2,
            max_iter=self.inner_max_iter,
            tol=self.inner_tol,
            rng=rng,
        )
        f = mlp_forward(learner, x, self.activation)
        rho = self.eta * self.loss.newton_step(torch.from_numpy(y), torch.from_numpy(residuals), torch.from_numpy(f))
        self._scores = self._scores + rho * f
        self.learners.append(learner)
        self.steps.append(float(rho))
        loss = float(self.loss(*self._loss_inputs(self._scores, y)))
        self.train_losses.append(loss)
        return loss

    def _loss_inputs(self, scores: np.ndarray, y: np.ndarray):
        scores_t = torch.from_numpy(scores)
        if self.resolved_objective == "squared":
            return scores_t, torch.from_numpy(y)
        labels = (y[:, 0] > 0).astype(np.int64) if self.resolved_objective == "log_exponential" else y.argmax(1)
        return scores_t, torch.from_numpy(labels)

    # ------------------------------------------------------------------------------------------- the ensemble
    def decision_function(self, inputs, num_steps: int | None = None) -> np.ndarray:
        """
        The staged boosting scores F_t(x) = F_0 + Σ_{s<=t} ρ_s f_s(x), computed learner by learner in float64.

        Args:
            inputs (array or `torch.Tensor` of shape `(n, d)`): features.
            num_steps (`int`, *optional*): t (default: every step taken so far).

        Returns:
            `np.ndarray` of shape `(n, m)`.
        """
        if self.initial_score is None:
            raise RuntimeError("the trainer has not been fitted: call `fit` (or `start` and `step`) first.")
        x = _as_float64("inputs", inputs)
        if x.ndim != 2 or x.shape[1] != self._x.shape[1]:
            raise ValueError(f"`inputs` must have shape (n, {self._x.shape[1]}), got {x.shape}.")
        num_steps = self.step_count if num_steps is None else num_steps
        if not 0 <= num_steps <= self.step_count:
            raise ValueError(f"`num_steps` must be in [0, {self.step_count}], got {num_steps}.")
        scores = np.broadcast_to(self.initial_score, (len(x), len(self.initial_score))).copy()
        for learner, rho in zip(self.learners[:num_steps], self.steps[:num_steps]):
            scores += rho * mlp_forward(learner, x, self.activation)
        return scores

    def to_model(self, dtype: torch.dtype = torch.float32) -> GradientBoostedMLPModel:
        """
        Assembles F_0 + Σ_t ρ_t f_t into one [`GradientBoostedMLPModel`] with T·J hidden units (step 3; the
        official `to_NN`): the hidden layer stacks the learners' hidden layers, the output weights of step t are
        ρ_t times its learner's, and the output bias is F_0 + Σ_t ρ_t b_t, all times 2 for the log-exponential
        objective (whose network outputs 2F).
        """
        from .modeling_gbnn import GradientBoostedMLPModel

        if not self.learners:
            raise RuntimeError("no boosting step was taken: call `fit` (or `start` and `step`) first.")
        config = GradientBoostedMLPConfig(
            input_size=self._x.shape[1],
            hidden_size=len(self.learners) * self.units_per_step,
            objective=self.resolved_objective,
            output_size=self._y.shape[1] if self.resolved_objective == "squared" else 1,
            num_labels=self.resolved_num_labels,
            hidden_act=self.activation,
            units_per_step=self.units_per_step,
        )
        scale = 2.0 if self.resolved_objective == "log_exponential" else 1.0
        w1 = np.concatenate([learner["w1"].T for learner in self.learners])  # (T·J, d)
        b1 = np.concatenate([learner["b1"] for learner in self.learners])
        w2 = np.concatenate([rho * scale * learner["w2"] for learner, rho in zip(self.learners, self.steps)])
        unit_bias = np.zeros_like(w2)  # (T·J, m): step t's share ρ_t b_t on its first unit
        for t, (learner, rho) in enumerate(zip(self.learners, self.steps)):
            unit_bias[t * self.units_per_step] = rho * scale * learner["b2"]
        bias = scale * self.initial_score + unit_bias.sum(0)
        model = GradientBoostedMLPModel(config).to(dtype)  # the dtype first: the weights are copied in it
        with torch.no_grad():
            model.hidden.weight.copy_(torch.from_numpy(w1))
            model.hidden.bias.copy_(torch.from_numpy(b1))
            model.output.weight.copy_(torch.from_numpy(w2.T.copy()))
            model.output.bias.copy_(torch.from_numpy(bias))
            model.unit_output_bias.copy_(torch.from_numpy(unit_bias))
        return model.eval()

    # ------------------------------------------------------------------------------------------- checkpointing
    def state_dict(self) -> dict:
        """The fitted steps (learners, ρ_t, F_0, training scores, losses) as tensors, for resumable checkpoints."""
        if self.initial_score is None:
            return {"step_count": 0}
        learners = (
            {key: torch.from_numpy(np.stack([lrn[key] for lrn in self.learners])) for key in ("w1", "b1", "w2", "b2")}
            if self.learners
            else {}
        )
        return {
            "step_count": self.step_count,
            "initial_score": torch.from_numpy(self.initial_score),
            "scores": torch.from_numpy(self._scores),
            "steps": torch.tensor(self.steps, dtype=torch.float64),
            "train_losses": torch.tensor(self.train_losses, dtype=torch.float64),
            "learners": learners,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores the steps of [`~GradientBoostedMLPTrainer.state_dict`]; `start` must have been called on the same
        data (the training set is not part of the state)."""
        if state["step_count"] == 0:
            return
        if self._x is None:
            raise RuntimeError("call `start(inputs, labels)` on the training data before `load_state_dict`.")
        self.initial_score = state["initial_score"].numpy()
        self._scores = state["scores"].numpy().copy()
        self.steps = state["steps"].tolist()
        self.train_losses = state["train_losses"].tolist()
        stacked = {key: value.numpy() for key, value in state["learners"].items()}
        self.learners = [{key: stacked[key][t].copy() for key in stacked} for t in range(state["step_count"])]
