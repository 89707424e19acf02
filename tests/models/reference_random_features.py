"""Numpy reference for P01 (bandlimited random networks, Li et al., ICML 2023), independent of torch.

The model f_N(x) = Σ_j c_j σ(a_jᵀx − b_j) + c_0 and its ridge readout, written plainly in float64, plus the
simulation of the claim check (target sin(2πkx) on [−1, 1], a_j, b_j ~ U[−λ, λ], ridge on the normalised Gram
matrix) with numpy's own random generator, so its numbers do not depend on torch's.
"""

from __future__ import annotations

import numpy as np

ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "relu": lambda z: np.maximum(z, 0.0),
    "cos": np.cos,
}


def features(x: np.ndarray, a: np.ndarray, b: np.ndarray, activation: str = "tanh") -> np.ndarray:
    """H[i, j] = σ(a_jᵀx_i − b_j) for x of shape (n, d), a of shape (N, d), b of shape (N,)."""
    return ACTIVATIONS[activation](x @ a.T - b[None, :])


def ridge_readout(h: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge readout with a bias column, on the normalised Gram matrix: w = (ΦᵀΦ/n + ρI)^{-1} Φᵀy/n, Φ = [H, 1].

    Returns (c of shape (N, out), c_0 of shape (out,)).
    """
    y = y.reshape(len(y), -1)
    n = h.shape[0]
    phi = np.concatenate([h, np.ones((n, 1))], axis=1)
    w = np.linalg.solve(phi.T @ phi / n + ridge * np.eye(phi.shape[1]), phi.T @ y / n)
    return w[:-1], w[-1]


def relative_mse(pred: np.ndarray, y: np.ndarray) -> float:
    pred, y = pred.reshape(len(pred), -1), y.reshape(len(y), -1)
    return float(((pred - y) ** 2).sum() / ((y - y.mean(axis=0)) ** 2).sum())


def simulate(
    k: float, lam: float, width: int, seed: int = 0, n_train: int = 1000, n_test: int = 1000, ridge: float = 1e-6
) -> float:
    """Relative test MSE of a tanh random network with a, b ~ U[−λ, λ] fitted to sin(2πkx) on a grid of [−1, 1]."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-lam, lam, size=(width, 1))
    b = rng.uniform(-lam, lam, size=width)
    x_train = np.linspace(-1.0, 1.0, n_train)[:, None]
    x_test = rng.uniform(-1.0, 1.0, size=(n_test, 1))

    def target(x):
        return np.sin(2 * np.pi * k * x)

    c, c0 = ridge_readout(features(x_train, a, b), target(x_train), ridge)
    return relative_mse(features(x_test, a, b) @ c + c0, target(x_test))
