"""Sampling hypotheses that fit the training data, and their test errors, for two hypothesis spaces.

- Kernel space (the official `kernel_inductive_bias.py`): the noise-free Gaussian-process posterior with an RBF kernel
  k(a, b) = exp(−‖a − b‖² / (2σ²)) interpolates the training targets; its test outputs are

      f_test = K_tX K_XX⁻¹ Y + S z,   S Sᵀ = K_tt − K_tX K_XX⁻¹ K_Xt,   z ~ N(0, I) per output column,

  and each draw's test MSE against one-hot targets is one sample. The official code solves K_XX α = Y and
  K_XX A = K_Xt with Adam (10 000 epochs, approximate); here both are exact Cholesky solves (with a small jitter on
  the diagonal) and S is the symmetric square root of the posterior covariance (eigenvalues clipped at 0).
- Model space (the official `nn_inductive_bias.py`): a network trained from `n_trials` random initialisations and
  data orders (Adam, MSE against one-hot targets); each trained network's test MSE is one sample. Any `nn.Module`
  factory works, so the measure can compare architectures.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from hf_methods.analysis.inductive_bias.estimate import InductiveBias, inductive_bias_from_errors
from hf_methods.common.checks import check_number, check_positive_int

__all__ = [
    "gp_posterior_errors",
    "inductive_bias_kernel",
    "inductive_bias_models",
    "model_errors",
    "one_hot_targets",
    "rbf_kernel",
]


def rbf_kernel(a: torch.Tensor, b: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """k(a, b) = exp(−‖a − b‖² / (2σ²)) for row sets `a (n, d)` and `b (m, d)` → `(n, m)`."""
    return torch.exp(-torch.cdist(a, b).pow(2) / (2 * sigma**2))


def one_hot_targets(labels, num_classes: int | None = None) -> torch.Tensor:
    """Integer labels as float64 one-hot rows (the targets both hypothesis spaces are scored against)."""
    labels = torch.as_tensor(labels).long()
    return torch.nn.functional.one_hot(labels, num_classes or int(labels.max()) + 1).double()


def _as_float64(x, name: str) -> torch.Tensor:
    x = torch.as_tensor(x).double().reshape(len(x), -1)
    if x.shape[0] == 0 or not torch.isfinite(x).all():
        raise ValueError(f"{name} must be a non-empty finite (samples, features) array")
    return x


@torch.no_grad()
def gp_posterior_errors(
    x_train,
    y_train: torch.Tensor,
    x_test,
    y_test: torch.Tensor,
    *,
    n_samples: int = 10_000,
    sigma: float = 1.0,
    jitter: float = 1e-8,
    seed: int = 0,
    chunk_size: int = 1000,
) -> np.ndarray:
    """Test MSEs of `n_samples` draws of the noise-free RBF-GP posterior fitted to `(x_train, y_train)`.

    Args:
        x_train, x_test: `(n, d)` inputs; y_train, y_test: `(n, k)` targets (e.g. [`one_hot_targets`]).
        sigma: the RBF length scale σ.
        jitter: added to the diagonal of K_XX for the Cholesky solve.
    """
    check_positive_int("n_samples", n_samples)
    check_number("sigma", sigma, low=0.0, low_open=True)
    x_train, x_test = _as_float64(x_train, "x_train"), _as_float64(x_test, "x_test")
    y_train, y_test = torch.as_tensor(y_train).double(), torch.as_tensor(y_test).double()
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError("x_train and x_test must have the same number of features")
    if y_train.shape[0] != x_train.shape[0] or y_test.shape[0] != x_test.shape[0] or y_train.dim() != 2:
        raise ValueError("y_train / y_test must be (n, k) target matrices with one row per input")
    k_xx = rbf_kernel(x_train, x_train, sigma) + jitter * torch.eye(len(x_train), dtype=torch.float64)
    k_tx = rbf_kernel(x_test, x_train, sigma)
    chol = torch.linalg.cholesky(k_xx)
    mean = k_tx @ torch.cholesky_solve(y_train, chol)  # K_tX K_XX⁻¹ Y
    cov = rbf_kernel(x_test, x_test, sigma) - k_tx @ torch.cholesky_solve(k_tx.T, chol)
    eigenvalues, eigenvectors = torch.linalg.eigh((cov + cov.T) / 2)
    root = (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T  # symmetric square root
    generator = torch.Generator().manual_seed(seed)
    errors = []
    for start in range(0, n_samples, chunk_size):
        count = min(chunk_size, n_samples - start)
        z = torch.randn(count, x_test.shape[0], y_test.shape[1], generator=generator, dtype=torch.float64)
        outputs = mean.unsqueeze(0) + torch.einsum("ab,sbk->sak", root, z)
        errors.append((outputs - y_test).pow(2).mean(dim=(1, 2)))
    return torch.cat(errors).numpy()


def inductive_bias_kernel(
    x_train, y_train, x_test, y_test, *, target_error: float, n_samples: int = 10_000, sigma: float = 1.0,
    seed: int = 0,
) -> InductiveBias:  # fmt: skip
    """Inductive bias of the RBF-kernel (GP posterior) hypothesis space at `target_error` (see the module doc).

    `y_train` / `y_test` are integer labels or `(n, k)` targets; labels are one-hot encoded.
    """
    y_train, y_test = torch.as_tensor(y_train), torch.as_tensor(y_test)
    if y_train.dim() == 1:
        k = int(max(y_train.max(), y_test.max())) + 1
        y_train, y_test = one_hot_targets(y_train, k), one_hot_targets(y_test, k)
    errors = gp_posterior_errors(x_train, y_train, x_test, y_test, n_samples=n_samples, sigma=sigma, seed=seed)
    return inductive_bias_from_errors(errors, target_error)


def model_errors(
    model_factory: Callable[[int], nn.Module],
    x_train,
    labels_train,
    x_test,
    labels_test,
    *,
    n_trials: int = 20,
    epochs: int = 3,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    on_trained: Callable[[int, nn.Module, float], None] | None = None,
) -> np.ndarray:
    """Test MSEs (against one-hot targets) of `n_trials` networks `model_factory(trial_seed)` trained by Adam on
    the MSE to one-hot targets for `epochs` epochs, each with its own initialisation and data order.

    The factory's module is called on a batch of inputs and returns logits-like outputs `(batch, k)` (a tensor,
    or a transformers output with `.logits`). `on_trained(trial, model, test_mse)` is called after each trial (to
    keep the best network, say).
    """
    from hf_methods.common.adversarial import logits_of

    check_positive_int("n_trials", n_trials)
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_number("learning_rate", learning_rate, low=0.0, low_open=True)
    x_train, x_test = torch.as_tensor(x_train).float(), torch.as_tensor(x_test).float()
    labels_train, labels_test = torch.as_tensor(labels_train).long(), torch.as_tensor(labels_test).long()
    k = int(max(labels_train.max(), labels_test.max())) + 1
    y_train, y_test = one_hot_targets(labels_train, k).float(), one_hot_targets(labels_test, k).float()
    errors = []
    for trial in range(n_trials):
        trial_seed = seed * 100_003 + trial
        torch.manual_seed(trial_seed)
        model = model_factory(trial_seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        generator = torch.Generator().manual_seed(trial_seed)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x_train), generator=generator)
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                outputs = logits_of(model(x_train[index]))
                if outputs.shape != y_train[index].shape:
                    raise ValueError(
                        f"the model returns {tuple(outputs.shape)} outputs for {tuple(y_train[index].shape)} targets"
                    )
                loss = (outputs - y_train[index]).pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        model.eval()
        with torch.no_grad():
            outputs = logits_of(model(x_test))
            errors.append(float((outputs - y_test).pow(2).mean()))
        if on_trained is not None:
            on_trained(trial, model, errors[-1])
    return np.asarray(errors)


def inductive_bias_models(
    model_factory: Callable[[int], nn.Module], x_train, labels_train, x_test, labels_test, *, target_error: float,
    n_trials: int = 20, epochs: int = 3, batch_size: int = 32, learning_rate: float = 1e-3, seed: int = 0,
) -> InductiveBias:  # fmt: skip
    """Inductive bias of a model family (trained networks from random seeds) at `target_error`."""
    errors = model_errors(
        model_factory, x_train, labels_train, x_test, labels_test, n_trials=n_trials, epochs=epochs,
        batch_size=batch_size, learning_rate=learning_rate, seed=seed,
    )  # fmt: skip
    return inductive_bias_from_errors(errors, target_error)
