"""Learning curves of pretrain-then-ERM against supervised learning, on simulated or your own data.

- [`FactorModel`] / [`factor_model`]: the paper's factor-model instance x = Bz + μ + ε, y = βᵀz + ξ, with its Bayes
  predictor f*(x) = E[y | x] = βᵀ E[z | x] in closed form, so the *excess* risk E[(ŷ − f*(x))²] of any predictor is
  measured exactly;
- [`two_cluster_mixture`]: a two-component Gaussian mixture classification instance;
- [`excess_risk_curve`]: for each labelled-set size n, the excess test risk of pretrain-then-ERM (with m unlabelled
  samples, and with m = n — no extra unlabelled data) and of a fairly tuned supervised baseline (ridge regression
  with its α chosen by leave-one-out cross-validation over a grid), as an [`ExcessRiskCurve`] with `save_plot`;
- [`heldout_risk_curve`]: the same comparison on your data (features of your model, say), by test MSE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hf_methods.analysis.unsup_pretraining.estimator import MLEPretrainThenERM
from hf_methods.common.checks import check_number, check_positive_int

__all__ = [
    "RIDGE_ALPHAS",
    "ExcessRiskCurve",
    "FactorModel",
    "excess_risk_curve",
    "factor_model",
    "loglog_slope",
    "heldout_risk_curve",
    "two_cluster_mixture",
]

#: The ridge baseline's cross-validated α grid (the owner of this default).
RIDGE_ALPHAS = tuple(np.logspace(-3, 4, 15).tolist())


@dataclass
class FactorModel:
    """x = B z + μ + ε, ε ~ N(0, diag(psi)); y = βᵀ z + ξ, ξ ~ N(0, label_noise²); z ~ N(0, I_r)."""

    loadings: np.ndarray  # B, (d, r)
    mean: np.ndarray  # μ, (d,)
    psi: np.ndarray  # noise variances, (d,)
    beta: np.ndarray  # (r,)
    label_noise: float

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        d, r = self.loadings.shape
        z = rng.standard_normal((n, r))
        x = z @ self.loadings.T + self.mean + rng.standard_normal((n, d)) * np.sqrt(self.psi)
        y = z @ self.beta + self.label_noise * rng.standard_normal(n)
        return x, y

    def posterior_mean(self, x: np.ndarray) -> np.ndarray:
        """E[z | x] = (I + BᵀΨ⁻¹B)⁻¹ BᵀΨ⁻¹ (x − μ)."""
        b_scaled = self.loadings / self.psi[:, None]  # Ψ⁻¹B
        precision = np.eye(self.loadings.shape[1]) + self.loadings.T @ b_scaled
        return np.linalg.solve(precision, b_scaled.T @ (x - self.mean).T).T

    def bayes_predictor(self, x: np.ndarray) -> np.ndarray:
        """f*(x) = E[y | x] = βᵀ E[z | x]: the predictor every excess risk is measured against."""
        return self.posterior_mean(x) @ self.beta


def factor_model(
    d: int = 200,
    r: int = 5,
    *,
    loading_scale: float = 1.0,
    noise: float = 1.0,
    label_noise: float = 1.0,
    seed: int = 0,
) -> FactorModel:
    """A factor model with B_ij ~ N(0, loading_scale²), μ = 0, isotropic noise `noise²`, β ~ N(0, I_r)."""
    d, r = check_positive_int("d", d), check_positive_int("r", r)
    if r > d:
        raise ValueError(f"r = {r} must not exceed d = {d}")
    check_number("loading_scale", loading_scale, low=0.0, low_open=True)
    check_number("noise", noise, low=0.0, low_open=True)
    check_number("label_noise", label_noise, low=0.0)
    rng = np.random.default_rng(seed)
    return FactorModel(
        loadings=loading_scale * rng.standard_normal((d, r)),
        mean=np.zeros(d),
        psi=np.full(d, noise**2),
        beta=rng.standard_normal(r),
        label_noise=label_noise,
    )


def two_cluster_mixture(
    n: int, d: int = 50, *, separation: float = 1.5, rng: np.random.Generator | int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """n draws of ½N(−δu, I) + ½N(+δu, I) with u a fixed unit vector (the first axis) and δ = `separation`;
    labels 0/1 by component. The Bayes error is Φ(−δ)."""
    check_positive_int("n", n)
    check_positive_int("d", d)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, d))
    x[:, 0] += np.where(y == 1, separation, -separation)
    return x, y


def _ridge_cv(x: np.ndarray, y: np.ndarray, alphas: Sequence[float]):
    from sklearn.linear_model import RidgeCV

    return RidgeCV(alphas=list(alphas)).fit(x, y)  # efficient leave-one-out CV over the grid


@dataclass
class ExcessRiskCurve:
    """Mean (and per-repeat) excess or test risk against the labelled-set size n, for each method."""

    ns: list[int]
    mean_risk: dict[str, list[float]]
    risks: dict[str, list[list[float]]] = field(default_factory=dict)  # [n][repeat]
    metric: str = "excess risk"
    label: str = ""

    def ratio(self, method: str, baseline: str) -> list[float]:
        """Mean over repeats of the per-repeat ratio method / baseline, for each n."""
        return [float(np.mean(np.array(a) / np.array(b))) for a, b in zip(self.risks[method], self.risks[baseline])]

    def save_plot(self, path) -> None:
        """Risk against n, log-log, with the per-repeat spread (10th–90th percentiles) as bands."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        for i, (method, means) in enumerate(self.mean_risk.items()):
            ax.plot(self.ns, means, "o-", color=f"C{i}", label=method)
            if self.risks.get(method):
                low = [np.percentile(r, 10) for r in self.risks[method]]
                high = [np.percentile(r, 90) for r in self.risks[method]]
                ax.fill_between(self.ns, low, high, color=f"C{i}", alpha=0.15)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("labelled samples n")
        ax.set_ylabel(self.metric)
        ax.set_title(self.label or "pretrain-then-ERM vs supervised", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def loglog_slope(ns: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of log(values) against log(ns)."""
    return float(np.polyfit(np.log(np.asarray(ns, dtype=float)), np.log(np.asarray(values, dtype=float)), 1)[0])


def excess_risk_curve(
    model: FactorModel,
    ns: Sequence[int],
    *,
    m: int = 5000,
    repeats: int = 20,
    n_test: int = 2000,
    seed: int = 0,
    ridge_alphas: Sequence[float] = RIDGE_ALPHAS,
) -> ExcessRiskCurve:
    """Excess test risk E[(ŷ − f*(x))²] against n for: `pretrain (m=…)` (factor analysis on m unlabelled samples,
    then least squares on E[z | x]), `pretrain (m=n)` (the same with only the n labelled inputs as unlabelled data)
    and `ridge (CV)` on the raw inputs. Each repeat draws fresh unlabelled, labelled and test data."""
    ns = [check_positive_int("ns", int(n)) for n in ns]
    check_positive_int("m", m)
    check_positive_int("repeats", repeats)
    r = model.loadings.shape[1]
    if min(ns) <= r + 1:
        raise ValueError(f"every n must exceed r + 1 = {r + 1} for the downstream regression")
    names = (f"pretrain (m={m})", "pretrain (m=n)", "ridge (CV)")
    risks = {name: [[] for _ in ns] for name in names}
    for rep in range(repeats):
        rng = np.random.default_rng([seed, rep])
        x_unlabelled, _ = model.sample(m, rng)
        x_test, _ = model.sample(n_test, rng)
        best = model.bayes_predictor(x_test)
        pretrained = MLEPretrainThenERM("factor", r, random_state=rep).fit_unlabeled(x_unlabelled)
        for i, n in enumerate(ns):
            x, y = model.sample(n, rng)
            predictions = {
                names[0]: pretrained.fit_labeled(x, y).predict(x_test),
                names[1]: MLEPretrainThenERM("factor", r, random_state=rep).fit_unlabeled(x).fit_labeled(x, y).predict(x_test),
                names[2]: _ridge_cv(x, y, ridge_alphas).predict(x_test),
            }  # fmt: skip
            for name, pred in predictions.items():
                risks[name][i].append(float(np.mean((pred - best) ** 2)))
    return ExcessRiskCurve(
        ns=ns,
        mean_risk={name: [float(np.mean(v)) for v in risks[name]] for name in names},
        risks=risks,
        metric="excess risk E[(ŷ − f*(x))²]",
        label=f"factor model d = {model.loadings.shape[0]}, r = {r}, m = {m}, {repeats} repeats",
    )


def heldout_risk_curve(
    x_unlabelled,
    x_train,
    y_train,
    x_test,
    y_test,
    ns: Sequence[int],
    *,
    r: int = 5,
    repeats: int = 5,
    seed: int = 0,
    ridge_alphas: Sequence[float] = RIDGE_ALPHAS,
) -> ExcessRiskCurve:
    """On your own data (e.g. features of a model): test MSE against n of pretrain-then-ERM (factor analysis on
    `x_unlabelled`) and of CV-tuned ridge, each fitted on n examples drawn from the training pool."""
    x_unlabelled, x_train, x_test = (np.asarray(a, dtype=np.float64) for a in (x_unlabelled, x_train, x_test))
    y_train, y_test = np.asarray(y_train, dtype=np.float64), np.asarray(y_test, dtype=np.float64)
    ns = [check_positive_int("ns", int(n)) for n in ns]
    if max(ns) > len(y_train):
        raise ValueError(f"n = {max(ns)} exceeds the {len(y_train)} training examples")
    pretrained = MLEPretrainThenERM("factor", r, random_state=seed).fit_unlabeled(x_unlabelled)
    names = (f"pretrain (m={len(x_unlabelled)})", "ridge (CV)")
    risks = {name: [[] for _ in ns] for name in names}
    rng = np.random.default_rng(seed)
    for _ in range(check_positive_int("repeats", repeats)):
        for i, n in enumerate(ns):
            index = rng.choice(len(y_train), n, replace=False)
            pred_pre = pretrained.fit_labeled(x_train[index], y_train[index]).predict(x_test)
            pred_ridge = _ridge_cv(x_train[index], y_train[index], ridge_alphas).predict(x_test)
            risks[names[0]][i].append(float(np.mean((pred_pre - y_test) ** 2)))
            risks[names[1]][i].append(float(np.mean((pred_ridge - y_test) ** 2)))
    return ExcessRiskCurve(
        ns=ns,
        mean_risk={name: [float(np.mean(v)) for v in risks[name]] for name in names},
        risks=risks,
        metric="test MSE",
    )
