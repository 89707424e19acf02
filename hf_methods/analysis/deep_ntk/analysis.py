"""Analyses of deep NTK classifiers: how close the depth-L classifier is to its infinite-depth limits, and how close a
finite network's empirical NTK is to the closed form.

- [`depth_limit_agreement`] → [`DepthLimitAgreement`]: for each depth, the fraction of test points on which the NTK
  classifier agrees with 1-nearest neighbour, with the majority vote and with the best singular kernel classifier
  (α on a grid), plus its accuracy; [`plot_depth_limits`] draws the three agreement curves against depth.
- [`ntk_mlp`]: a finite fully connected network in the NTK parameterisation whose infinite-width NTK is
  [`ntk_kernel`]; [`empirical_ntk_convergence`] → [`WidthConvergence`]: the relative Frobenius error between its
  empirical NTK (`hf_methods.common.ntk.empirical_ntk`) and the closed form, per width; [`plot_width_convergence`].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hf_methods.analysis.deep_ntk.classifier import (
    _labels,
    majority_vote_predict,
    nearest_neighbor_predict,
    singular_kernel_predict,
)
from hf_methods.analysis.deep_ntk.kernels import (
    _as_matrix,
    _check_depth,
    _check_sphere,
    get_dual_activation,
    ntk_kernel,
    ntk_kernel_layers,
    sphere_normalize,
)
from hf_methods.common.checks import check_positive_int

__all__ = [
    "DEFAULT_ALPHAS",
    "DepthLimitAgreement",
    "NTKMLP",
    "WidthConvergence",
    "depth_limit_agreement",
    "empirical_ntk_convergence",
    "ntk_mlp",
    "plot_depth_limits",
    "plot_width_convergence",
]

#: The α grid of the singular kernel classifier: 1, 1.5, ..., 20.
DEFAULT_ALPHAS = tuple(float(a) for a in np.arange(1.0, 20.0 + 1e-9, 0.5))


@dataclass
class DepthLimitAgreement:
    """Agreement of the depth-L NTK classifier with the three infinite-depth limits, per depth.

    Attributes:
        activation: the activation's name.
        slope_at_one: ξ = ψ'(1).
        regime: the limit the paper's taxonomy predicts for ξ ("1-nn", "majority-vote", "singular-kernel").
        depths: the depths L evaluated.
        agreement_1nn, agreement_majority, agreement_singular: per depth, the fraction of test points on which the
            NTK classifier predicts the same label as 1-NN, a majority vote (any of the most frequent training
            classes when counts tie) and the best singular kernel classifier.
        majority_classes: how many training classes share the largest count (1: the majority vote is unique).
        best_alpha: per depth, the α of that best singular kernel classifier.
        alphas: the α grid searched.
        offdiag_mean, offdiag_min: per depth, the mean and smallest off-diagonal entry of the training NTK divided by
            its diagonal (→ 1: a constant kernel, the majority-vote end; → 0: a diagonal kernel, the 1-NN end).
        ntk_accuracy: per depth, test accuracy of the NTK classifier (empty without test labels).
        nn_accuracy, majority_accuracy: test accuracies of 1-NN and of the majority vote with ties broken towards the
            smallest label (`None` without test labels).
    """

    activation: str
    slope_at_one: float
    regime: str
    depths: list[int]
    agreement_1nn: list[float]
    agreement_majority: list[float]
    agreement_singular: list[float]
    best_alpha: list[float]
    alphas: list[float]
    offdiag_mean: list[float]
    offdiag_min: list[float]
    ntk_accuracy: list[float]
    majority_classes: int = 1
    nn_accuracy: float | None = None
    majority_accuracy: float | None = None


def depth_limit_agreement(
    X_train,
    y_train,
    X_test,
    y_test=None,
    *,
    depths: Sequence[int],
    activation=None,
    hermite_coeffs=None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    rcond: float = 1e-12,
    normalize_inputs: bool = True,
) -> DepthLimitAgreement:
    """Runs the NTK classifier at every depth in `depths` (one pass of the recursion) and compares it with its limits.

    Args:
        X_train, y_train, X_test: training inputs, labels and test inputs (any scale when `normalize_inputs`).
        y_test: test labels, for accuracies (optional).
        depths: hidden-layer counts L ≥ 0, increasing or not.
        activation, hermite_coeffs: the activation (see `get_dual_activation`).
        alphas: the grid of the singular kernel classifier's exponent α > 0.
        rcond: the least-squares cut-off of the kernel solve (see `DeepNTKClassifier`).
        normalize_inputs: put the rows on the unit sphere first (otherwise they must be on it).
    """
    dual = get_dual_activation(activation, hermite_coeffs)
    depth_list = sorted({_check_depth(d) for d in depths})
    if not depth_list:
        raise ValueError("depths must name at least one depth")
    alphas = [float(a) for a in alphas]
    if not alphas or any(not math.isfinite(a) or a <= 0 for a in alphas):
        raise ValueError(f"alphas must be a non-empty sequence of positive numbers, got {alphas}")
    if normalize_inputs:
        train, test = sphere_normalize(X_train, name="X_train"), sphere_normalize(X_test, name="X_test")
    else:
        train, test = _as_matrix("X_train", X_train), _as_matrix("X_test", X_test)
        _check_sphere("X_train", train)
        _check_sphere("X_test", test)
    y_train = _labels("y_train", y_train, train.shape[0])
    if y_test is not None:
        y_test = _labels("y_test", y_test, test.shape[0])
    classes, index = np.unique(y_train, return_inverse=True)
    targets = np.eye(classes.size)[index]
    n = train.shape[0]

    nn_pred = nearest_neighbor_predict(train, y_train, test)
    vote_pred = majority_vote_predict(y_train, test.shape[0])
    # with tied counts every most frequent class is a majority vote (a balanced split ties all of them)
    counts = np.bincount(index, minlength=classes.size)
    majority_classes = classes[counts == counts.max()]
    singular_preds = [singular_kernel_predict(train, y_train, test, a) for a in alphas]
    off_diagonal = ~np.eye(n, dtype=bool)
    rows = {"a1": [], "am": [], "as": [], "alpha": [], "mean": [], "min": [], "acc": []}
    both = np.concatenate([train, test])
    for layer, kernel, _ in ntk_kernel_layers(
        both, train, depth=depth_list[-1], activation=dual, row_scaled=True, at=depth_list
    ):
        gram, cross = kernel[:n], kernel[n:]
        coef = np.linalg.lstsq(gram, targets, rcond=rcond)[0]
        pred = classes[np.argmax(cross @ coef, axis=1)]
        agreements = [float(np.mean(pred == p)) for p in singular_preds]
        best = int(np.argmax(agreements))
        rows["a1"].append(float(np.mean(pred == nn_pred)))
        rows["am"].append(float(np.mean(np.isin(pred, majority_classes))))
        rows["as"].append(agreements[best])
        rows["alpha"].append(alphas[best])
        rows["mean"].append(float(gram[off_diagonal].mean()))
        rows["min"].append(float(gram[off_diagonal].min()))
        if y_test is not None:
            rows["acc"].append(float(np.mean(pred == y_test)))
    return DepthLimitAgreement(
        activation=dual.name,
        slope_at_one=dual.slope_at_one,
        regime=dual.regime,
        depths=depth_list,
        agreement_1nn=rows["a1"],
        agreement_majority=rows["am"],
        agreement_singular=rows["as"],
        best_alpha=rows["alpha"],
        alphas=alphas,
        offdiag_mean=rows["mean"],
        offdiag_min=rows["min"],
        ntk_accuracy=rows["acc"],
        majority_classes=int(majority_classes.size),
        nn_accuracy=None if y_test is None else float(np.mean(nn_pred == y_test)),
        majority_accuracy=None if y_test is None else float(np.mean(vote_pred == y_test)),
    )


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_depth_limits(result: DepthLimitAgreement | Sequence[DepthLimitAgreement], path) -> None:
    """Agreement with 1-NN, majority vote and the best singular kernel against depth: one panel per activation."""
    results = [result] if isinstance(result, DepthLimitAgreement) else list(result)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6), squeeze=False)
    for ax, res in zip(axes[0], results):
        depths = [max(d, 0.5) for d in res.depths]  # depth 0 drawn at 0.5 on the log axis
        ax.plot(depths, res.agreement_1nn, "o-", label="1-NN")
        ax.plot(depths, res.agreement_majority, "s-", label="majority vote")
        ax.plot(depths, res.agreement_singular, "^-", label="best singular kernel")
        if res.ntk_accuracy:
            ax.plot(depths, res.ntk_accuracy, "k--", alpha=0.6, label="NTK test accuracy")
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("depth L (hidden layers)")
        ax.set_ylabel("agreement with the NTK classifier")
        ax.set_title(f"{res.activation}\nξ = ψ'(1) = {res.slope_at_one:.3g} → {res.regime}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------------------- finite networks


class NTKMLP(nn.Module):
    """A bias-free fully connected network in the NTK parameterisation, the finite-width version of [`ntk_kernel`]:

        h¹ = W¹ x,   hˡ = Wˡ φ(hˡ⁻¹) / √n  (l = 2, ..., L),   f(x) = vᵀ φ(hᴸ) / √n,

    every weight N(0, 1). With x on the unit sphere the first layer needs no 1/√d (its pre-activations already have
    covariance xᵀz = Σ⁰); as the width n → ∞ its empirical NTK tends to Kᴸ (Jacot et al., 2018).

    Args:
        in_features: d.
        width: n, the width of every hidden layer.
        depth: L ≥ 1 hidden layers.
        activation: φ as a function of a tensor (normalised so that E[φ(g)²] = 1).
        generator: the seeded generator of the initial weights.
        dtype: the parameters' dtype (float64 keeps the comparison with the closed form clean).
    """

    def __init__(self, in_features, width, depth, activation, generator=None, dtype=torch.float64):
        super().__init__()
        check_positive_int("in_features", in_features)
        check_positive_int("width", width)
        check_positive_int("depth", depth)
        self.activation = activation
        self.width = width
        sizes = [in_features] + [width] * depth
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(fan_out, fan_in, generator=generator, dtype=dtype))
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:])
        )
        self.readout = nn.Parameter(torch.randn(width, 1, generator=generator, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.to(self.readout.dtype) @ self.weights[0].T
        # indexed one by one: a slice of a ParameterList copies it and escapes torch.func.functional_call
        for index in range(1, len(self.weights)):
            h = self.activation(h) @ self.weights[index].T / math.sqrt(self.width)
        return self.activation(h) @ self.readout / math.sqrt(self.width)


def ntk_mlp(in_features: int, width: int, depth: int, activation=None, hermite_coeffs=None, seed: int = 0) -> NTKMLP:
    """A seeded [`NTKMLP`] whose activation is the one of `activation` / `hermite_coeffs` (default ReLU)."""
    dual = get_dual_activation(activation, hermite_coeffs)
    if dual.torch_activation is None:
        raise ValueError(f"activation {dual.name!r} has no torch activation to build a network with")
    return NTKMLP(in_features, width, depth, dual.torch_activation, torch.Generator().manual_seed(seed))


@dataclass
class WidthConvergence:
    """Relative error ‖Θ_n − Kᴸ‖_F / ‖Kᴸ‖_F between the empirical NTK Θ_n of width-n networks and the closed form.

    Attributes:
        activation: the activation's name.
        depth: L.
        widths: the widths n.
        relative_error: per width, the mean over seeds.
        relative_error_per_seed: per width, one value per seed.
    """

    activation: str
    depth: int
    widths: list[int]
    relative_error: list[float]
    relative_error_per_seed: list[list[float]]


def empirical_ntk_convergence(
    X, *, widths: Sequence[int], depth: int, activation=None, hermite_coeffs=None, seeds: Sequence[int] = (0,)
) -> WidthConvergence:
    """Compares `common.ntk.empirical_ntk` of seeded [`ntk_mlp`] networks with [`ntk_kernel`] (not normalised).

    Args:
        X: inputs `(n, d)` with rows on the unit sphere (numpy or torch).
        widths: hidden widths to try.
        depth: hidden layers L ≥ 1.
        activation, hermite_coeffs: the activation (see `get_dual_activation`).
        seeds: one network per seed and width.
    """
    from hf_methods.common.ntk import empirical_ntk

    dual = get_dual_activation(activation, hermite_coeffs)
    x = _as_matrix("X", X)
    _check_sphere("X", x)
    check_positive_int("depth", depth)
    widths = [check_positive_int("widths", w) for w in widths]
    seeds = list(seeds)
    if not widths or not seeds:
        raise ValueError("widths and seeds must each name at least one value")
    closed = ntk_kernel(x, depth=depth, activation=dual, normalize=False)
    inputs = torch.from_numpy(x)
    per_width = []
    for width in widths:
        errors = []
        for seed in seeds:
            model = ntk_mlp(x.shape[1], width, depth, activation=dual, seed=seed)
            theta = empirical_ntk(model, inputs, mode="trace").double().numpy()
            errors.append(float(np.linalg.norm(theta - closed) / np.linalg.norm(closed)))
        per_width.append(errors)
    return WidthConvergence(
        activation=dual.name,
        depth=depth,
        widths=widths,
        relative_error=[float(np.mean(e)) for e in per_width],
        relative_error_per_seed=per_width,
    )


def plot_width_convergence(result: WidthConvergence, path) -> None:
    """Relative error against width on log-log axes, with a 1/√n guide through the first point."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    widths = np.asarray(result.widths, dtype=float)
    for i, errors in enumerate(result.relative_error_per_seed):
        ax.scatter([widths[i]] * len(errors), errors, s=12, alpha=0.5, color="C0")
    ax.plot(widths, result.relative_error, "o-", color="C0", label="empirical vs closed-form NTK")
    ax.plot(widths, result.relative_error[0] * np.sqrt(widths[0] / widths), "k--", alpha=0.5, label="∝ 1/√width")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width n")
    ax.set_ylabel("‖Θ_n − K‖_F / ‖K‖_F")
    ax.set_title(f"{result.activation}, depth {result.depth}", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
