"""Measurements of lazy versus rich training (Kumar et al., ICLR 2024, "Grokking as the Transition from Lazy to Rich
Training Dynamics").

A network trains *lazily* when it stays close to its linearisation f(θ₀) + J₀(θ − θ₀), i.e. behaves as kernel
regression with its initial neural tangent kernel (NTK) K₀, and *richly* when its features (hence its NTK) move
towards the task. The paper reads the transition from these quantities, each computed here:

- [`kernel_alignment`]: the centred NTK–target alignment of the paper's code,
  A(K, y) = ȳᵀ K̄ ȳ / (‖K̄‖_F ‖ȳ‖²), with ȳ = y − mean(y) and K̄ = K − 1 mean_rows(K) (each column centred);
  rises when the kernel learns the target's directions (`center=False` gives the uncentred A = yᵀKy / (‖K‖_F ‖y‖²));
- [`kernel_distance`]: 1 − ⟨K_a, K_b⟩_F / (‖K_a‖_F ‖K_b‖_F), how far the kernel has moved (Fort et al., 2020);
- [`relative_weight_change`]: ‖θ − θ₀‖ / ‖θ₀‖ over the trainable parameters;
- [`kernel_regression_mse`]: test MSE of ridge(-less) kernel regression with K₀, the error a lazy network tends to;
- [`linearized_gd_losses`]: the exact train/test losses of the linearised model trained by full-batch gradient descent
  on the mean squared error from a zero output, in closed form from the eigendecomposition of K₀:
  with c = 2η/P and K₀ = V diag(λ) Vᵀ, the train outputs after t steps are V diag(1 − (1 − cλ)^t) Vᵀ y and the test
  outputs K₀(test, train) V diag((1 − (1 − cλ)^t)/λ) Vᵀ y;
- [`LazyRichTrace`]: these numbers over training (what [`LazyRichTrackerCallback`] records), with `save_plot`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.common.checks import check_number

__all__ = [
    "LazyRichTrace",
    "kernel_alignment",
    "kernel_distance",
    "kernel_regression_mse",
    "linearized_gd_losses",
    "parameter_snapshot",
    "relative_weight_change",
]


def _check_kernel(name: str, kernel, square: bool = True) -> torch.Tensor:
    if not isinstance(kernel, torch.Tensor) or not kernel.is_floating_point() or kernel.dim() != 2:
        raise TypeError(f"{name} must be a 2-D float tensor, got {getattr(kernel, 'shape', type(kernel).__name__)}")
    if square and kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"{name} must be a square (N, N) Gram matrix, got shape {tuple(kernel.shape)}")
    if kernel.numel() == 0:
        raise ValueError(f"{name} is empty")
    return kernel


def _check_targets(name: str, targets, rows: int) -> torch.Tensor:
    if not isinstance(targets, torch.Tensor) or not targets.is_floating_point():
        raise TypeError(
            f"{name} must be a float tensor (N,) or (N, K), got {getattr(targets, 'dtype', type(targets))}"
        )
    if targets.dim() not in (1, 2) or targets.shape[0] != rows:
        raise ValueError(f"{name} must have shape ({rows},) or ({rows}, K), got {tuple(targets.shape)}")
    return targets.reshape(rows, -1)


def kernel_alignment(kernel: torch.Tensor, targets: torch.Tensor, *, center: bool = True) -> float:
    """Kernel–target alignment A(K, y) = ȳᵀ K̄ ȳ / (‖K̄‖_F ‖ȳ‖²) (summed over target columns for `(N, K)` targets).

    Centring follows the paper's code: the targets lose their mean and each column of K its mean over rows
    (K̄ = K − 1 meanᵀ). With `center=False` this is yᵀ K y / (‖K‖_F ‖y‖²), the alignment of Cristianini et al.

    Args:
        kernel (`torch.Tensor` of shape `(N, N)`): a Gram matrix, e.g. an empirical NTK on probe inputs.
        targets (`torch.Tensor` of shape `(N,)` or `(N, K)`): float targets (one-hot rows for classes).
        center (`bool`): centre the kernel and the targets first.
    """
    kernel = _check_kernel("kernel", kernel).double()
    y = _check_targets("targets", targets, kernel.shape[0]).double()
    if center:
        y = y - y.mean(dim=0, keepdim=True)
        kernel = kernel - kernel.mean(dim=0, keepdim=True)
    denominator = kernel.norm() * y.square().sum()
    if denominator == 0:
        raise ValueError("kernel_alignment is undefined for a zero kernel or constant targets")
    return float(torch.einsum("nk,nm,mk->", y, kernel, y) / denominator)


def kernel_distance(kernel_a: torch.Tensor, kernel_b: torch.Tensor) -> float:
    """1 − ⟨K_a, K_b⟩_F / (‖K_a‖_F ‖K_b‖_F): 0 for kernels equal up to scale, up to 2 for opposite ones."""
    a, b = _check_kernel("kernel_a", kernel_a, square=False), _check_kernel("kernel_b", kernel_b, square=False)
    if a.shape != b.shape:
        raise ValueError(f"kernel_a and kernel_b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.double(), b.double()
    norms = a.norm() * b.norm()
    if norms == 0:
        raise ValueError("kernel_distance is undefined for a zero kernel")
    return float(1 - (a * b).sum() / norms)


def parameter_snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the trainable parameters (θ₀ for [`relative_weight_change`])."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def relative_weight_change(
    model: nn.Module | Mapping[str, torch.Tensor], initial: Mapping[str, torch.Tensor]
) -> float:
    """‖θ − θ₀‖ / ‖θ₀‖, the norms taken over every parameter of `initial` together.

    Args:
        model (`nn.Module` or a mapping name → tensor): the current parameters θ.
        initial (mapping name → tensor): θ₀, e.g. from [`parameter_snapshot`] before training.
    """
    if isinstance(model, nn.Module):
        current = dict(model.named_parameters())
    elif isinstance(model, Mapping):
        current = dict(model)
    else:
        raise TypeError(f"model must be an nn.Module or a mapping of tensors, got {type(model).__name__}")
    if not isinstance(initial, Mapping) or not initial:
        raise ValueError("initial must be a non-empty mapping name → tensor (see parameter_snapshot)")
    missing = sorted(set(initial) - set(current))
    if missing:
        raise ValueError(f"initial names parameters the model does not have: {missing[:5]}")
    change = sum(float((current[n].detach().double() - t.double()).square().sum()) for n, t in initial.items())
    size = sum(float(t.double().square().sum()) for t in initial.values())
    if size == 0:
        raise ValueError("the initial parameters are all zero: the relative change is undefined")
    return math.sqrt(change / size)


def kernel_regression_mse(
    kernel_train: torch.Tensor,
    kernel_test_train: torch.Tensor,
    train_targets: torch.Tensor,
    test_targets: torch.Tensor,
    *,
    ridge: float = 0.0,
) -> float:
    """Test MSE of kernel regression f(x) = K(x, X)(K(X, X) + ridge·I)⁺ y (a least-squares solve when `ridge = 0`).

    This is where the linearised model trained to convergence from a zero output ends (the paper's "K₀ regression
    MSE" when the kernel is the initial NTK).

    Args:
        kernel_train (`(P, P)`), kernel_test_train (`(T, P)`): the kernel on the training points and test × train.
        train_targets (`(P,)` or `(P, K)`), test_targets (`(T,)` or `(T, K)`): float targets.
        ridge (`float`): ≥ 0, added to the diagonal.
    """
    k = _check_kernel("kernel_train", kernel_train).double()
    kt = _check_kernel("kernel_test_train", kernel_test_train, square=False).double()
    if kt.shape[1] != k.shape[0]:
        raise ValueError(f"kernel_test_train must have {k.shape[0]} columns, got shape {tuple(kt.shape)}")
    y = _check_targets("train_targets", train_targets, k.shape[0]).double()
    yt = _check_targets("test_targets", test_targets, kt.shape[0]).double()
    ridge = check_number("ridge", ridge, low=0.0)
    system = k + ridge * torch.eye(k.shape[0], dtype=k.dtype)
    coefficients = torch.linalg.lstsq(system, y, driver="gelsd").solution
    return float((kt @ coefficients - yt).square().mean())


def linearized_gd_losses(
    kernel_train: torch.Tensor,
    kernel_test_train: torch.Tensor,
    train_targets: torch.Tensor,
    test_targets: torch.Tensor,
    *,
    learning_rate: float,
    steps,
) -> tuple[list[float], list[float]]:
    """Train and test MSE of the linearised model after each of `steps` full-batch GD steps, in closed form.

    The linearised model f_lin(θ) = J₀(θ − θ₀) (centred: zero at θ₀) trained by θ ← θ − η ∇ mean_μ (f_lin(x_μ) − y_μ)²
    moves in function space as f ← f − (2η/P) K₀ (f − y), exactly, so with c = 2η/P and K₀ = V diag(λ) Vᵀ:

        f_t(train) = V diag(1 − (1 − cλ)^t) Vᵀ y,     f_t(test) = K₀(test, train) V diag((1 − (1 − cλ)^t) / λ) Vᵀ y

    ((1 − (1 − cλ)^t)/λ → c·t for λ → 0). Eigenvalues below 1e-12·λ_max are treated as zero.

    Args:
        kernel_train (`(P, P)`), kernel_test_train (`(T, P)`): the initial NTK of the trained model (including any
            output scale) on the training points and test × train.
        train_targets (`(P,)`), test_targets (`(T,)`): float targets (minus the initial outputs, for a non-centred
            model).
        learning_rate (`float`): η > 0.
        steps (iterable of `int`): the step counts t ≥ 0 to report.

    Returns:
        `(train_losses, test_losses)`, one MSE per step count.
    """
    k = _check_kernel("kernel_train", kernel_train).double()
    kt = _check_kernel("kernel_test_train", kernel_test_train, square=False).double()
    if kt.shape[1] != k.shape[0]:
        raise ValueError(f"kernel_test_train must have {k.shape[0]} columns, got shape {tuple(kt.shape)}")
    y = _check_targets("train_targets", train_targets, k.shape[0]).double()
    yt = _check_targets("test_targets", test_targets, kt.shape[0]).double()
    learning_rate = check_number("learning_rate", learning_rate, low=0.0, low_open=True)
    steps = [int(t) for t in steps]
    if any(t < 0 for t in steps):
        raise ValueError(f"steps must be integers >= 0, got {steps[:5]}...")
    eigenvalues, vectors = torch.linalg.eigh((k + k.T) / 2)
    eigenvalues = torch.where(
        eigenvalues > 1e-12 * eigenvalues.abs().max(), eigenvalues, torch.zeros_like(eigenvalues)
    )
    c = 2 * learning_rate / k.shape[0]
    if float(c * eigenvalues.max()) >= 2:
        raise ValueError(
            f"learning_rate {learning_rate:g} diverges: 2η/P · λ_max = {float(c * eigenvalues.max()):.3g} ≥ 2"
        )
    projected = vectors.T @ y
    test_map = kt @ vectors
    train_losses, test_losses = [], []
    for t in steps:
        fitted = 1 - (1 - c * eigenvalues) ** t
        safe = torch.where(eigenvalues > 0, eigenvalues, torch.ones_like(eigenvalues))
        per_lambda = torch.where(eigenvalues > 0, fitted / safe, torch.full_like(eigenvalues, c * t))
        train_losses.append(float((vectors @ (fitted[:, None] * projected) - y).square().mean()))
        test_losses.append(float((test_map @ (per_lambda[:, None] * projected) - yt).square().mean()))
    return train_losses, test_losses


@dataclass
class LazyRichTrace:
    """Lazy/rich measurements over training, one entry per measured step.

    Attributes:
        steps (`list[int]`): optimisation steps of the measurements.
        probe_loss (`list[float]`): the model's loss on the probe set (MSE for float targets, cross-entropy for
            class labels).
        linearized_probe_loss (`list[float]`): the same loss for the linearisation at the current weights,
            f(θ₀) + J₀(θ − θ₀).
        linearization_error (`list[float]`): ‖f(θ) − f_lin(θ)‖² / ‖f(θ) − f(θ₀)‖² on the probe set (0 while lazy; 0
            when the model has not moved).
        alignment (`list[float]`): centred NTK–target alignment on the probe set ([`kernel_alignment`]).
        kernel_distance (`list[float]`): [`kernel_distance`] of the probe NTK from the initial one.
        relative_weight_change (`list[float]`): ‖θ − θ₀‖ / ‖θ₀‖.
    """

    steps: list[int] = field(default_factory=list)
    probe_loss: list[float] = field(default_factory=list)
    linearized_probe_loss: list[float] = field(default_factory=list)
    linearization_error: list[float] = field(default_factory=list)
    alignment: list[float] = field(default_factory=list)
    kernel_distance: list[float] = field(default_factory=list)
    relative_weight_change: list[float] = field(default_factory=list)

    def as_records(self) -> list[dict[str, float]]:
        """One dict per measured step."""
        keys = [k for k in self.__dataclass_fields__ if k != "steps"]
        return [{"step": s, **{k: getattr(self, k)[i] for k in keys}} for i, s in enumerate(self.steps)]

    def save_plot(self, path, *, title: str = "Lazy → rich diagnostics") -> None:
        """Probe losses (network vs linearisation, log scale), alignment, kernel distance and weight change; a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
        left.plot(self.steps, self.probe_loss, label="model")
        left.plot(self.steps, self.linearized_probe_loss, "k--", label="linearised at θ")
        left.set_yscale("log")
        left.set_xlabel("step")
        left.set_ylabel("probe loss")
        left.legend(fontsize=8)
        right.plot(self.steps, self.alignment, label="NTK–target alignment")
        right.plot(self.steps, self.kernel_distance, label="kernel distance from K₀")
        right.plot(self.steps, self.linearization_error, label="linearisation error")
        right.set_xlabel("step")
        twin = right.twinx()
        twin.plot(self.steps, self.relative_weight_change, color="gray", ls=":", label="‖θ−θ₀‖/‖θ₀‖")
        twin.set_ylabel("relative weight change")
        lines = right.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        right.legend(lines, [line.get_label() for line in lines], fontsize=8)
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
