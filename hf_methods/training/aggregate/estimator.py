"""The interpolating estimator of a linear model in closed form (Javanmard et al., ICLR 2024), for analysis.

For `f_θ(x) = xᵀθ`, bag-mean features `x̄_a`, within-bag centred features `x_i − x̄_a` and bag sizes `k_a`, the
minimiser of `L_ρ(θ) = Σ_a k_a (ȳ_a − x̄_aᵀθ)² + ρ Σ_a Σ_{i∈B_a} ((x_i − x̄_a)ᵀθ)²` solves

    (Σ_a k_a x̄_a x̄_aᵀ + ρ X_cᵀX_c) θ = Σ_a k_a x̄_a ȳ_a,      i.e.  θ̂_ρ = (k X̄ᵀX̄ + ρ X_cᵀX_c)⁻¹ k X̄ᵀȳ

for bags of equal size k. It is computed as the least-squares solution of the stacked system
`[√k_a x̄_aᵀ ; √ρ (x_i − x̄_a)ᵀ] θ ≈ [√k_a ȳ_a ; 0]` with `numpy.linalg.lstsq`, which avoids forming the normal
equations and returns the minimum-norm solution when the system is rank deficient (e.g. `ρ = 0` with fewer bags than
features).
"""

from __future__ import annotations

import math

import numpy as np


def _as_array(name: str, value, ndim: int) -> np.ndarray:
    try:
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a dependency of the package
        pass
    array = np.asarray(value)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {array.shape}")
    return array


def bag_design(X, bag_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`(X̄, X_c, sizes, inverse)`: bag-mean features `(num_bags, d)`, within-bag centred features `(n, d)`, the bag
    sizes `k_a` and each instance's bag index (bags in the order of their sorted ids)."""
    X = _as_array("X", X, 2).astype(np.float64)
    bag_ids = _as_array("bag_ids", bag_ids, 1)
    if not np.issubdtype(bag_ids.dtype, np.integer):
        raise TypeError(f"bag_ids must hold integers, got dtype {bag_ids.dtype}")
    if bag_ids.shape[0] != X.shape[0]:
        raise ValueError(f"bag_ids must have one entry per row of X ({X.shape[0]}), got {bag_ids.shape[0]}")
    _, inverse, sizes = np.unique(bag_ids, return_inverse=True, return_counts=True)
    sums = np.zeros((len(sizes), X.shape[1]))
    np.add.at(sums, inverse, X)
    means = sums / sizes[:, None]
    return means, X - means[inverse], sizes, inverse


def linear_interpolating_estimator(X, bag_ids, y_bar, rho: float) -> np.ndarray:
    r"""The minimiser of the interpolating loss for a linear model without intercept, in closed form.

        θ̂_ρ = argmin_θ  Σ_a k_a (ȳ_a − x̄_aᵀθ)² + ρ Σ_a Σ_{i∈B_a} ((x_i − x̄_a)ᵀθ)²
            = (k X̄ᵀX̄ + ρ X_cᵀX_c)⁻¹ k X̄ᵀȳ                      (bags of equal size k)

    `ρ = 0` is least squares on the bag means (the bag-level estimator), `ρ = 1` least squares of every instance on
    its bag's response (the instance-level estimator).

    Args:
        X (array of shape `(n, d)`): instance features (numpy array or torch tensor).
        bag_ids (integer array of shape `(n,)`): the bag of every instance.
        y_bar (array of shape `(n,)`): each instance's bag aggregate response `ȳ_{a(i)}` (constant within a bag, as
            passed to :class:`AggregateResponseLoss`).
        rho (`float`): `ρ ≥ 0`.

    Returns:
        `np.ndarray` of shape `(d,)` (float64).
    """
    if not isinstance(rho, (int, float, np.floating, np.integer)) or isinstance(rho, bool):
        raise TypeError(f"rho must be a number, got {type(rho).__name__}")
    if not (math.isfinite(rho) and rho >= 0):
        raise ValueError(f"rho must be a finite number >= 0, got {rho}")
    means, centred, sizes, inverse = bag_design(X, bag_ids)
    y_bar = _as_array("y_bar", y_bar, 1).astype(np.float64)
    if y_bar.shape[0] != centred.shape[0]:
        raise ValueError(
            f"y_bar must have shape ({centred.shape[0]},): each instance carries its bag's aggregate response, "
            f"got {y_bar.shape}"
        )
    if not np.isfinite(y_bar).all():
        raise ValueError("y_bar must be finite")
    per_bag = np.zeros(len(sizes))
    per_bag[inverse] = y_bar
    if np.abs(y_bar - per_bag[inverse]).max() > 1e-8 * (1 + np.abs(y_bar).max()):
        raise ValueError("y_bar must be equal within each bag (the bag's aggregate response ȳ_a)")
    weight = np.sqrt(sizes.astype(np.float64))[:, None]
    rows = [weight * means]
    targets = [weight[:, 0] * per_bag]
    if rho > 0:
        rows.append(math.sqrt(rho) * centred)
        targets.append(np.zeros(centred.shape[0]))
    theta, *_ = np.linalg.lstsq(np.vstack(rows), np.concatenate(targets), rcond=None)
    return theta


__all__ = ["bag_design", "linear_interpolating_estimator"]
