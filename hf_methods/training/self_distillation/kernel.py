"""Self-distillation in kernel ridge regression, in closed form (Borup & Andersen, NeurIPS 2021, sections 3–4).

Kernel ridge regression with Gram matrix `K` (n×n) and regulariser `λ > 0` fits `f(x) = k(x)ᵀ(K + λI)⁻¹ ỹ` to
targets `ỹ`; on the training points its predictions are `A ỹ` with `A = K(K + λI)⁻¹`. Self-distillation with
ground-truth weight `α ∈ [0, 1]` refits the same model to a mix of the labels and the previous fit:

    ŷ⁽⁰⁾ = y,   ỹ⁽ᵗ⁾ = α y + (1 − α) ŷ⁽ᵗ⁻¹⁾,   f⁽ᵗ⁾(x) = k(x)ᵀ(K + λI)⁻¹ ỹ⁽ᵗ⁾,   ŷ⁽ᵗ⁾ = A ỹ⁽ᵗ⁾,

so step 1 is the ordinary fit `ŷ⁽¹⁾ = A y` (the teacher) and every later step distils. With `K = V D Vᵀ`,
`ŷ⁽ᵗ⁾ = V B⁽ᵗ⁾ Vᵀ y` where the diagonal `B⁽ᵗ⁾ = A_D((1 − α) B⁽ᵗ⁻¹⁾ + α I)`, `B⁽¹⁾ = A_D = D(D + λI)⁻¹` (the paper's
Theorem 4.1: every step is an explicit function of the initial fit). For `α > 0` the steps converge to

    f⁽∞⁾(x) = α k(x)ᵀ(αK + λI)⁻¹ y = k(x)ᵀ(K + (λ/α) I)⁻¹ y,

the original problem with the regularisation amplified from `λ` to `λ/α`; for `α = 0` they collapse to zero (Mobahi,
Farajtabar & Bartlett, 2020). Each step is affine in its own `α`: `ŷ⁽ᵗ⁾ = g + α h` with `g = A ŷ⁽ᵗ⁻¹⁾` and
`h = A(y − ŷ⁽ᵗ⁻¹⁾)`, so the `α` that brings the step closest to a target `y*` (in squared error) is
`α* = ⟨h, y* − g⟩ / ‖h‖²`, clipped to `[0, 1]` ([`optimal_alpha`]).

The official notebook (`Kennethborup/self_distillation`, `toy_example.ipynb`) forms `(K + λI)⁻¹` explicitly; here
the symmetric positive-definite systems are solved with a Cholesky factorisation (`scipy.linalg.cho_solve`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import linalg

__all__ = [
    "krr_distillation_affine_terms",
    "krr_distillation_limit",
    "krr_distillation_spectrum",
    "krr_self_distillation",
    "optimal_alpha",
]


def _check_kernel(K, name: str = "K") -> np.ndarray:
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be a square (n, n) Gram matrix, got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError(f"{name} must be finite")
    if not np.allclose(K, K.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(K).max()))):
        raise ValueError(f"{name} must be symmetric (a Gram matrix k(x_i, x_j))")
    return K


def _check_targets(y, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"y must have shape (n,) or (n, outputs) with n = {n} rows of K, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y must be finite")
    return y


def _check_lam(lam: float) -> float:
    if isinstance(lam, bool) or not isinstance(lam, (int, float, np.floating, np.integer)):
        raise TypeError(f"lam must be a number, got {type(lam).__name__}")
    if not lam > 0:
        raise ValueError(f"lam (the ridge regulariser λ) must be > 0, got {lam}")
    return float(lam)


def _check_alpha(alpha, name: str = "alpha") -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(alpha).__name__}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{name} (the ground-truth weight) must be in [0, 1], got {alpha}")
    return float(alpha)


def _alphas(alpha, steps: int) -> list[float]:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1 (step 1 is the initial fit), got {steps}")
    if isinstance(alpha, (Sequence, np.ndarray)) and not isinstance(alpha, str):
        alphas = [_check_alpha(a, "alpha[t]") for a in np.ravel(alpha)]
        if len(alphas) != steps:
            raise ValueError(f"a sequence alpha must give one weight per step ({steps}), got {len(alphas)}")
        return alphas
    return [_check_alpha(alpha)] * steps


def _eval_kernel(K_eval, n: int) -> np.ndarray | None:
    if K_eval is None:
        return None
    K_eval = np.asarray(K_eval, dtype=np.float64)
    if K_eval.ndim != 2 or K_eval.shape[1] != n:
        raise ValueError(f"K_eval must have shape (m, n) = (points, {n} training points), got {K_eval.shape}")
    return K_eval


def krr_self_distillation(
    K,
    y,
    alpha: float | Sequence[float],
    steps: int,
    lam: float,
    *,
    K_eval=None,
    return_all: bool = False,
) -> np.ndarray:
    """The `steps`-th self-distillation fit of kernel ridge regression, computed by refitting step after step.

    `ỹ⁽ᵗ⁾ = α y + (1 − α) ŷ⁽ᵗ⁻¹⁾` with `ŷ⁽⁰⁾ = y` (step 1 is the plain fit), `ŷ⁽ᵗ⁾ = K(K + λI)⁻¹ ỹ⁽ᵗ⁾`, and
    `f⁽ᵗ⁾(x) = k(x)ᵀ(K + λI)⁻¹ ỹ⁽ᵗ⁾` at new points.

    Args:
        K (`array (n, n)`): the Gram matrix `k(x_i, x_j)` of the training inputs (symmetric, positive semi-definite).
        y (`array (n,)` or `(n, outputs)`): the training targets.
        alpha (`float` or sequence of `steps` floats in `[0, 1]`): the ground-truth weight, one for all steps or one
            per step (the first step's weight has no effect: its previous fit is `y` itself).
        steps (`int`): number of fits, `>= 1` (`steps=1` is ordinary kernel ridge regression).
        lam (`float`): the ridge regulariser `λ > 0`.
        K_eval (`array (m, n)`, *optional*): the kernel `k(x, x_i)` between evaluation points and training points;
            when given, `f⁽ᵗ⁾` is returned at those points instead of the training predictions `ŷ⁽ᵗ⁾`.
        return_all (`bool`): return every step, stacked along a new first axis `(steps, ...)`.

    Returns:
        `np.ndarray`: `ŷ⁽ˢᵗᵉᵖˢ⁾` (or `f⁽ˢᵗᵉᵖˢ⁾(x)` on `K_eval`), or all steps with `return_all=True`.
    """
    K = _check_kernel(K)
    n = K.shape[0]
    y = _check_targets(y, n)
    lam = _check_lam(lam)
    alphas = _alphas(alpha, steps)
    K_eval = _eval_kernel(K_eval, n)
    factor = linalg.cho_factor(K + lam * np.eye(n), lower=True)
    previous, outputs = y, []
    for a in alphas:
        coef = linalg.cho_solve(factor, a * y + (1.0 - a) * previous)  # (K + λI)⁻¹ ỹ⁽ᵗ⁾
        previous = K @ coef
        if return_all or K_eval is not None:
            outputs.append(previous if K_eval is None else K_eval @ coef)
    if return_all:
        return np.stack(outputs)
    return previous if K_eval is None else outputs[-1]


def krr_distillation_limit(K, y, alpha: float, lam: float, *, K_eval=None) -> np.ndarray:
    """The infinite-step limit `f⁽∞⁾(x) = α k(x)ᵀ(αK + λI)⁻¹ y` (kernel ridge regression with `λ/α`).

    On the training points this is `ŷ⁽∞⁾ = αK(αK + λI)⁻¹ y`, the fixed point of `ŷ = A(α y + (1 − α) ŷ)`. With
    `α = 0` the limit is the zero function (the collapse of distillation without ground truth).

    Args:
        K (`array (n, n)`), y (`array (n,)` or `(n, outputs)`), lam (`float > 0`): as in [`krr_self_distillation`].
        alpha (`float` in `[0, 1]`): the ground-truth weight.
        K_eval (`array (m, n)`, *optional*): evaluate `f⁽∞⁾` at these points instead of the training points.
    """
    K = _check_kernel(K)
    n = K.shape[0]
    y = _check_targets(y, n)
    lam = _check_lam(lam)
    alpha = _check_alpha(alpha)
    K_eval = _eval_kernel(K_eval, n)
    coef = alpha * linalg.cho_solve(linalg.cho_factor(alpha * K + lam * np.eye(n), lower=True), y)
    return (K if K_eval is None else K_eval) @ coef


def krr_distillation_spectrum(eigenvalues, alpha: float | Sequence[float], steps: int, lam: float) -> np.ndarray:
    """The diagonals of `B⁽¹⁾, …, B⁽ˢᵗᵉᵖˢ⁾`: `B⁽ᵗ⁾ = A_D((1 − α) B⁽ᵗ⁻¹⁾ + α I)`, `B⁽¹⁾ = A_D = D(D + λI)⁻¹`.

    With `K = V diag(eigenvalues) Vᵀ`, step `t` predicts `ŷ⁽ᵗ⁾ = V diag(B⁽ᵗ⁾) Vᵀ y` (Theorem 4.1 of the paper, the
    recursion of the official notebook's `Recurser`).

    Args:
        eigenvalues (`array (n,)`): the eigenvalues `d_i >= 0` of `K`.
        alpha, steps, lam: as in [`krr_self_distillation`].

    Returns:
        `np.ndarray (steps, n)`: row `t − 1` holds the diagonal of `B⁽ᵗ⁾`.
    """
    d = np.asarray(eigenvalues, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"eigenvalues must be 1-D, got shape {d.shape}")
    if np.any(d < -1e-10 * max(1.0, float(np.abs(d).max(initial=0.0)))):
        raise ValueError("eigenvalues must be >= 0 (K must be positive semi-definite)")
    lam = _check_lam(lam)
    alphas = _alphas(alpha, steps)
    a = d / (d + lam)
    rows, b = [], np.ones_like(d)  # B⁽⁰⁾ = I: the previous "fit" of step 1 is y itself
    for alpha_t in alphas:
        b = a * ((1.0 - alpha_t) * b + alpha_t)
        rows.append(b)
    return np.stack(rows)


def krr_distillation_affine_terms(K, y, previous, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """`(g, h)` with `ŷ⁽ᵗ⁾ = g + α h` for one step: `g = A ŷ⁽ᵗ⁻¹⁾`, `h = A(y − ŷ⁽ᵗ⁻¹⁾)`, `A = K(K + λI)⁻¹`.

    Args:
        K, y, lam: as in [`krr_self_distillation`].
        previous (`array`, same shape as `y`): the previous step's training predictions `ŷ⁽ᵗ⁻¹⁾`.
    """
    K = _check_kernel(K)
    n = K.shape[0]
    y = _check_targets(y, n)
    previous = np.asarray(previous, dtype=np.float64)
    if previous.shape != y.shape:
        raise ValueError(f"previous must have the shape of y {y.shape}, got {previous.shape}")
    lam = _check_lam(lam)
    factor = linalg.cho_factor(K + lam * np.eye(n), lower=True)
    g = K @ linalg.cho_solve(factor, previous)
    h = K @ linalg.cho_solve(factor, y - previous)
    return g, h


def optimal_alpha(g, h, target, *, clip: bool = True) -> float:
    """The weight `α` minimising `‖target − (g + α h)‖²`: `α* = ⟨h, target − g⟩ / ‖h‖²`, clipped to `[0, 1]`.

    A distillation step is affine in its ground-truth weight (`g + α h`, see [`krr_distillation_affine_terms`]),
    so the best `α` for it has this closed form (the paper's section 4.2). `target` is what the step should be close
    to: the noise-free function on the training points in the kernel analysis, or, for networks, labels of held-out
    data with `g`, `h` read off two fits (at `α = 0` and `α = 1`: `g = f_0`, `h = f_1 − f_0`). The paper restricts
    `α` to `[0, 1]`, which `clip=True` does; the unconstrained minimiser can be negative on noisy data.

    Args:
        g, h, target (`array`s of one shape): the step's offset, its slope in `α`, and the target.
        clip (`bool`): clip to `[0, 1]` (the minimiser over `[0, 1]`, the squared error being a parabola in `α`).

    Returns:
        `float`: `α*`; `0.0` when `h = 0` (every `α` gives the same fit).
    """
    g, h, target = (np.asarray(v, dtype=np.float64) for v in (g, h, target))
    if not g.shape == h.shape == target.shape:
        raise ValueError(f"g, h and target must have one shape, got {g.shape}, {h.shape} and {target.shape}")
    if not all(np.all(np.isfinite(v)) for v in (g, h, target)):
        raise ValueError("g, h and target must be finite")
    norm = float(np.vdot(h, h))
    if norm == 0.0:
        return 0.0
    alpha = float(np.vdot(h, target - g)) / norm
    return min(max(alpha, 0.0), 1.0) if clip else alpha
