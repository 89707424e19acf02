"""The closed-form neural tangent kernel of a deep fully connected network on the unit sphere, and its dual activations.

Radhakrishnan, Belkin & Uhler, "Wide and Deep Neural Networks Achieve Optimality for Classification" (PNAS 2023):
for an activation φ with Hermite expansion φ = Σ_i a_i h_i (h_i the normalised probabilists' Hermite polynomials) and
Σ_i a_i² = 1, the *dual activation* is

    ψ(ρ) = E[φ(u) φ(v)] = Σ_i a_i² ρ^i,    (u, v) standard normals with correlation ρ,

so ψ(1) = 1, and ψ'(ρ) = E[φ'(u) φ'(v)]. For inputs on the unit sphere the NTK of a network with L hidden layers
(NTK parameterisation, no biases, infinite width) follows the recursion

    Σ⁰(x, z) = xᵀz,    Σˡ = ψ(Σˡ⁻¹),    K⁰ = Σ⁰,    Kˡ = Kˡ⁻¹ · ψ'(Σˡ⁻¹) + Σˡ,

and its diagonal is the same for every x: cˡ = Kˡ(x, x) = ξ cˡ⁻¹ + 1 with ξ = ψ'(1). The paper's taxonomy of the
L → ∞ classifier is governed by ξ, the slope of ψ at its fixed point ρ = 1: ξ > 1 (1-nearest neighbour), ξ < 1
(majority vote), ξ = 1 (a singular kernel classifier, e.g. ReLU).

- [`DualActivation`]: ψ and ψ' of one activation (with the torch activation it comes from, when known);
- [`relu_dual`], [`erf_dual`], [`hermite_dual`]: the normalised ReLU (arc-cosine kernel of order 1, Cho & Saul 2009),
  the normalised erf, and any finite Hermite expansion;
- [`get_dual_activation`]: a dual from a name, Hermite coefficients or a `DualActivation`;
- [`ntk_kernel`] / [`ntk_kernel_layers`]: Kᴸ (by default divided by its diagonal cᴸ, which changes no kernel
  classifier on the sphere and keeps Kᴸ finite when cᴸ grows like ξᴸ).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DUAL_ACTIVATIONS",
    "DualActivation",
    "depth_regime",
    "erf_dual",
    "get_dual_activation",
    "hermite_dual",
    "ntk_kernel",
    "ntk_kernel_layers",
    "relu_dual",
    "sphere_normalize",
]

#: Named dual activations of [`get_dual_activation`].
DUAL_ACTIVATIONS = ("relu", "erf")

#: How close to 1 the slope ξ = ψ'(1) must be to count as the critical (singular-kernel) regime.
CRITICAL_TOLERANCE = 1e-9

_SPHERE_TOLERANCE = 1e-5
_SNAP_TOLERANCE = 1e-12


@dataclass(frozen=True)
class DualActivation:
    """The dual activation ψ(ρ) = E[φ(u)φ(v)] of a normalised activation φ (E[φ(g)²] = 1) and its derivative ψ'.

    Args:
        name: a label (shown in plots and results).
        psi: ψ on `[-1, 1]`, vectorised over numpy arrays, with ψ(1) = 1.
        dpsi: ψ' on `[-1, 1]` (= E[φ'(u)φ'(v)]).
        hermite_coeffs: the a_i of φ = Σ a_i h_i when φ is a finite Hermite expansion, else `None`.
        torch_activation: φ itself as a function of a torch tensor, for building a finite network with this kernel
            (`None` when only the dual is known).
    """

    name: str
    psi: Callable[[np.ndarray], np.ndarray]
    dpsi: Callable[[np.ndarray], np.ndarray]
    hermite_coeffs: tuple[float, ...] | None = None
    torch_activation: Callable | None = field(default=None, compare=False)

    @property
    def slope_at_one(self) -> float:
        """ξ = ψ'(1): the slope of ψ at its fixed point ρ = 1, which decides the infinite-depth limit."""
        return float(self.dpsi(np.array(1.0)))

    @property
    def regime(self) -> str:
        """The paper's infinite-depth classifier for this ξ: "1-nn", "majority-vote" or "singular-kernel"."""
        return depth_regime(self.slope_at_one)


def depth_regime(slope_at_one: float) -> str:
    """The limit classifier for ξ = ψ'(1): ξ > 1 → "1-nn", ξ < 1 → "majority-vote", ξ = 1 → "singular-kernel"."""
    if not math.isfinite(slope_at_one) or slope_at_one <= 0:
        raise ValueError(f"slope_at_one must be a positive finite number, got {slope_at_one}")
    if abs(slope_at_one - 1.0) <= CRITICAL_TOLERANCE:
        return "singular-kernel"
    return "1-nn" if slope_at_one > 1.0 else "majority-vote"


# ------------------------------------------------------------------------------------------------ dual activations


def _clip(rho):
    return np.clip(rho, -1.0, 1.0)


def _torch_relu(x):
    import torch

    return math.sqrt(2.0) * torch.relu(x)


def relu_dual() -> DualActivation:
    """The normalised ReLU φ(x) = √2 max(x, 0) (E[φ(g)²] = 1): the arc-cosine kernel of order 1 (Cho & Saul, 2009),

        ψ(ρ) = (√(1 − ρ²) + (π − arccos ρ) ρ) / π,    ψ'(ρ) = (π − arccos ρ) / π,

    so ξ = ψ'(1) = 1: ReLU sits in the critical, singular-kernel regime.
    """

    def psi(rho):
        rho = _clip(rho)
        return (np.sqrt(np.maximum(1.0 - rho * rho, 0.0)) + (math.pi - np.arccos(rho)) * rho) / math.pi

    def dpsi(rho):
        return (math.pi - np.arccos(_clip(rho))) / math.pi

    return DualActivation("relu", psi, dpsi, None, _torch_relu)


_ERF_SCALE = math.asin(2.0 / 3.0)  # E[erf(g)²] = (2/π) arcsin(2/3) for g ~ N(0, 1)


def _torch_erf(x):
    import torch

    return torch.erf(x) / math.sqrt(2.0 / math.pi * _ERF_SCALE)


def erf_dual() -> DualActivation:
    """The normalised erf φ(x) = erf(x) / √((2/π) arcsin(2/3)) (Williams, 1997):

        ψ(ρ) = arcsin(2ρ/3) / arcsin(2/3),    ψ'(ρ) = (2/3) / (√(1 − 4ρ²/9) · arcsin(2/3)),

    so ξ = ψ'(1) ≈ 1.226 > 1 (an odd activation: ψ(0) = 0).
    """

    def psi(rho):
        return np.arcsin(2.0 * _clip(rho) / 3.0) / _ERF_SCALE

    def dpsi(rho):
        rho = _clip(rho)
        return (2.0 / 3.0) / (np.sqrt(1.0 - 4.0 * rho * rho / 9.0) * _ERF_SCALE)

    return DualActivation("erf", psi, dpsi, None, _torch_erf)


def hermite_dual(hermite_coeffs: Sequence[float], *, name: str | None = None) -> DualActivation:
    """The dual of φ = Σ_i a_i h_i, with h_i = He_i / √(i!) the normalised probabilists' Hermite polynomials:

        ψ(ρ) = Σ_i a_i² ρ^i,    ψ'(ρ) = Σ_i i a_i² ρ^(i−1),    ξ = ψ'(1) = Σ_i i a_i².

    Args:
        hermite_coeffs: a_0, a_1, ... with Σ a_i² = 1 (so ψ(1) = 1); signs do not change the kernel.
        name: a label (default: the coefficients).

    Raises:
        ValueError: empty or non-finite coefficients, Σ a_i² ≠ 1 (within 1e-6), or a linear φ (a_i = 0 for i ≥ 2 with
            a_0 = 0 gives ψ(ρ) = ρ: no non-linearity).
    """
    try:
        coeffs = np.asarray([float(a) for a in hermite_coeffs], dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"hermite_coeffs must be a sequence of numbers, got {hermite_coeffs!r}") from None
    if coeffs.size == 0 or not np.all(np.isfinite(coeffs)):
        raise ValueError(f"hermite_coeffs must be a non-empty sequence of finite numbers, got {hermite_coeffs!r}")
    total = float(np.sum(coeffs**2))
    if abs(total - 1.0) > 1e-6:
        raise ValueError(
            f"hermite_coeffs must satisfy Σ a_i² = 1 (so that ψ(1) = 1), got Σ a_i² = {total:.6g}; "
            "divide them by their Euclidean norm"
        )
    weights = coeffs**2  # ψ's power-series coefficients
    if weights[0] == 0.0 and np.all(weights[2:] == 0.0):
        raise ValueError("hermite_coeffs describe the identity φ(x) = x (ψ(ρ) = ρ): give a non-linear activation")
    slope = np.arange(1, weights.size) * weights[1:]

    def psi(rho):
        return np.polynomial.polynomial.polyval(rho, weights)

    def dpsi(rho):
        return np.polynomial.polynomial.polyval(rho, slope) if slope.size else np.zeros_like(np.asarray(rho, float))

    def activation(x):
        # h_i(x) = He_i(x) / √(i!), with He_0 = 1, He_1 = x, He_{i+1} = x He_i − i He_{i−1}
        previous, current = x.new_ones(x.shape), x
        out = coeffs[0] * previous
        if coeffs.size > 1:
            out = out + coeffs[1] * current
        for i in range(1, coeffs.size - 1):
            previous, current = current, x * current - i * previous
            out = out + coeffs[i + 1] / math.sqrt(math.factorial(i + 1)) * current
        return out

    label = name or "hermite(" + ", ".join(f"{a:.4g}" for a in coeffs) + ")"
    return DualActivation(label, psi, dpsi, tuple(float(a) for a in coeffs), activation)


def get_dual_activation(activation=None, hermite_coeffs: Sequence[float] | None = None) -> DualActivation:
    """The dual activation named by `activation` ("relu", "erf" or a `DualActivation`) or by `hermite_coeffs`.

    Exactly one of the two may be given; with neither, ReLU.
    """
    if activation is not None and hermite_coeffs is not None:
        raise ValueError("give either activation or hermite_coeffs, not both")
    if hermite_coeffs is not None:
        return hermite_dual(hermite_coeffs)
    if activation is None or activation == "relu":
        return relu_dual()
    if isinstance(activation, DualActivation):
        return activation
    if activation == "erf":
        return erf_dual()
    raise ValueError(
        f"activation must be one of {DUAL_ACTIVATIONS} or a DualActivation, got {activation!r} "
        "(pass hermite_coeffs for a Hermite expansion)"
    )


# ------------------------------------------------------------------------------------------------------- the kernel


def _as_matrix(name: str, x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from None
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (n_samples, n_features), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def sphere_normalize(x, *, name: str = "X") -> np.ndarray:
    """The rows of `x` divided by their Euclidean norms (float64), the paper's inputs on the unit sphere."""
    x = _as_matrix(name, x)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{name} has a row of zeros, which cannot be put on the unit sphere")
    return x / norms


def _check_sphere(name: str, x: np.ndarray) -> None:
    norms = np.linalg.norm(x, axis=1)
    worst = float(np.max(np.abs(norms - 1.0)))
    if worst > _SPHERE_TOLERANCE:
        raise ValueError(
            f"{name} rows must lie on the unit sphere (‖x‖ = 1); the largest deviation is {worst:.3g}. "
            "Normalise them first (sphere_normalize)"
        )


def _check_depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
        raise ValueError(f"depth must be an integer >= 0 (the number of hidden layers), got {depth!r}")
    return int(depth)


def _slog_add(sign_a, log_a, sign_b, log_b):
    """sign and log-magnitude of sign_a·e^log_a + sign_b·e^log_b (a zero has sign 0 and log −inf)."""
    swap = log_b > log_a
    hi_s, hi_l = np.where(swap, sign_b, sign_a), np.where(swap, log_b, log_a)
    lo_s, lo_l = np.where(swap, sign_a, sign_b), np.where(swap, log_a, log_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(np.isneginf(hi_l), 0.0, np.exp(lo_l - hi_l))
        mantissa = 1.0 + hi_s * lo_s * ratio
        log = np.where(mantissa == 0, -np.inf, hi_l + np.log(np.abs(mantissa)))
    sign = np.where(np.isneginf(log), 0.0, hi_s * np.sign(mantissa))
    return sign, log


def _slog_series(weights: np.ndarray, sign: np.ndarray, log: np.ndarray):
    """Σ_i w_i x^i for x = sign·e^log (w_i ≥ 0), as (sign, log|·|)."""
    out_s = np.where(weights[0] > 0, 1.0, 0.0) * np.ones_like(log)
    out_l = np.full_like(log, np.log(weights[0]) if weights[0] > 0 else -np.inf)
    for i in range(1, weights.size):
        if weights[i] == 0:
            continue
        term_s = sign**i
        with np.errstate(invalid="ignore"):
            term_l = np.where(term_s == 0, -np.inf, math.log(weights[i]) + i * log)
        out_s, out_l = _slog_add(out_s, out_l, term_s, term_l)
    return out_s, out_l


def _row_scaled(sign: np.ndarray, log: np.ndarray) -> np.ndarray:
    top = np.max(np.where(sign == 0, -np.inf, log), axis=1, keepdims=True)
    lost = int(np.isneginf(top).sum())
    if lost:
        warnings.warn(
            f"{lost} kernel row(s) are 0 to within float64 even in the log domain (the depth is too large for this "
            "activation: log-magnitudes below -1.8e308); scores computed from them are meaningless",
            RuntimeWarning,
            stacklevel=3,
        )
    top = np.where(np.isneginf(top), 0.0, top)
    with np.errstate(invalid="ignore"):
        return np.where(sign == 0, 0.0, sign * np.exp(log - top))


def _uses_log_domain(dual: DualActivation, log_domain) -> bool:
    if log_domain is None:  # ψ(0) = 0: off-diagonal correlations can fall to 0 geometrically or faster
        return dual.hermite_coeffs is not None and dual.hermite_coeffs[0] == 0.0
    if log_domain and dual.hermite_coeffs is None:
        raise ValueError(f"log_domain=True needs an activation given by hermite_coeffs, not {dual.name!r}")
    return bool(log_domain)


def ntk_kernel_layers(
    X1,
    X2=None,
    *,
    depth: int,
    activation=None,
    hermite_coeffs=None,
    row_scaled: bool = False,
    log_domain: bool | None = None,
    at: Iterable[int] | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yields `(l, K̃ˡ, Σˡ)` for l = 0, ..., depth, with K̃ˡ = Kˡ / cˡ the NTK divided by its diagonal.

    The normalised recursion, with tˡ = 1 / cˡ (t⁰ = 1, tˡ = tˡ⁻¹ / (ξ + tˡ⁻¹), finite for any depth):

        K̃ˡ = K̃ˡ⁻¹ · ψ'(Σˡ⁻¹) / (ξ + tˡ⁻¹) + Σˡ · tˡ.

    Args: as [`ntk_kernel`], and `at`: the layers to yield (default: every layer; the others are computed, not
    materialised).
    """
    dual = get_dual_activation(activation, hermite_coeffs)
    depth = _check_depth(depth)
    a = _as_matrix("X1", X1)
    b = a if X2 is None else _as_matrix("X2", X2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"X1 has {a.shape[1]} features but X2 has {b.shape[1]}")
    _check_sphere("X1", a)
    if X2 is not None:
        _check_sphere("X2", b)
    wanted = None if at is None else {_check_depth(layer) for layer in at}
    xi = dual.slope_at_one
    sigma = np.clip(a @ b.T, -1.0, 1.0)  # Σ⁰ = ρ = xᵀz
    # A point paired with itself must have ρ = 1 exactly: for ξ > 1 the fixed point ρ = 1 repels, and a rounding error
    # of 1e-16 grows like ξˡ until the diagonal falls away from 1. Correlations within 1e-12 of ±1 are snapped.
    sigma = np.where(np.abs(sigma) > 1.0 - _SNAP_TOLERANCE, np.sign(sigma), sigma)
    inv_diag = 1.0  # t⁰ = 1 / c⁰
    if not _uses_log_domain(dual, log_domain):
        kernel = sigma.copy()  # K⁰ = Σ⁰
        if wanted is None or 0 in wanted:
            yield 0, (_row_scaled(np.sign(kernel), _log_abs(kernel)) if row_scaled else kernel), sigma
        for layer in range(1, depth + 1):
            derivative = dual.dpsi(sigma)
            sigma = np.clip(dual.psi(sigma), -1.0, 1.0)
            new_inv_diag = inv_diag / (xi + inv_diag)
            kernel = kernel * derivative / (xi + inv_diag) + sigma * new_inv_diag
            inv_diag = new_inv_diag
            if wanted is None or layer in wanted:
                yield layer, (_row_scaled(np.sign(kernel), _log_abs(kernel)) if row_scaled else kernel), sigma
        return
    # The same recursion on (sign, log|·|) pairs: for ψ(0) = 0 the off-diagonal Σˡ and K̃ˡ can fall below the
    # smallest float64 long before the ratios between them (which decide the classifier) stop mattering.
    weights = np.asarray(dual.hermite_coeffs) ** 2
    slopes = np.arange(1, weights.size) * weights[1:]
    sig_s, sig_l = np.sign(sigma), _log_abs(sigma)
    ker_s, ker_l = sig_s.copy(), sig_l.copy()

    def emit(layer):
        if positive:  # signs are not tracked on the fast path
            signs_k, signs_s = np.where(np.isneginf(ker_l), 0.0, 1.0), np.where(np.isneginf(sig_l), 0.0, 1.0)
        else:
            signs_k, signs_s = ker_s, sig_s
        value = _row_scaled(signs_k, ker_l) if row_scaled else np.where(signs_k == 0, 0.0, signs_k * np.exp(ker_l))
        return layer, value, np.where(signs_s == 0, 0.0, signs_s * np.exp(sig_l))

    positive = False
    log_inv_diag = 0.0  # log tˡ, kept apart: tˡ itself underflows when cˡ ~ ξˡ is huge
    if wanted is None or 0 in wanted:
        yield emit(0)
    for layer in range(1, depth + 1):
        new_log_inv_diag = log_inv_diag - math.log(xi + inv_diag)
        new_inv_diag = math.exp(new_log_inv_diag)
        # once every entry is non-negative (usually after the first layer) it stays so (ψ, ψ' have non-negative
        # coefficients): plain log-sum-exp from then on, much faster than the signed version
        positive = positive or bool(np.all(sig_s >= 0) and np.all(ker_s >= 0))
        if positive:
            der_l = _log_series_nonnegative(slopes, sig_l)
            sig_l = np.minimum(_log_series_nonnegative(weights, sig_l), 0.0)
            ker_l = np.logaddexp(ker_l + der_l - math.log(xi + inv_diag), sig_l + new_log_inv_diag)
        else:
            der_s, der_l = _slog_series(slopes, sig_s, sig_l)
            sig_s, sig_l = _slog_series(weights, sig_s, sig_l)
            sig_l = np.minimum(sig_l, 0.0)  # |Σ| ≤ 1
            ker_s, ker_l = _slog_add(
                ker_s * der_s, ker_l + der_l - math.log(xi + inv_diag), sig_s, sig_l + new_log_inv_diag
            )
        inv_diag, log_inv_diag = new_inv_diag, new_log_inv_diag
        if wanted is None or layer in wanted:
            yield emit(layer)


def _log_series_nonnegative(weights: np.ndarray, log: np.ndarray) -> np.ndarray:
    """log Σ_i w_i e^{i·log} for non-negative x = e^log (w_i ≥ 0)."""
    out = np.full_like(log, math.log(weights[0]) if weights.size and weights[0] > 0 else -np.inf)
    for i in range(1, weights.size):
        if weights[i] > 0:
            out = np.logaddexp(out, math.log(weights[i]) + i * log)
    return out


def _log_abs(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.abs(x))


def ntk_kernel(
    X1,
    X2=None,
    *,
    depth: int,
    activation=None,
    hermite_coeffs=None,
    normalize: bool = True,
    row_scaled: bool = False,
    return_nngp: bool = False,
    log_domain: bool | None = None,
):
    """The infinite-width NTK Kᴸ(X1, X2) of a fully connected network with `depth` hidden layers, in float64.

        Σ⁰ = X1 X2ᵀ,  Σˡ = ψ(Σˡ⁻¹),  K⁰ = Σ⁰,  Kˡ = Kˡ⁻¹ ψ'(Σˡ⁻¹) + Σˡ  (l = 1, ..., depth).

    This is the kernel of the NTK-parameterised network x ↦ vᵀφ(W_L ⋯ φ(W_1 x)) / √n with weights N(0, 1), every
    layer after the first scaled by 1/√fan-in, and a readout v (see `ntk_mlp`).

    Args:
        X1, X2: inputs `(n1, d)` and `(n2, d)` (numpy or torch) with rows on the unit sphere; `X2=None` → X1.
        depth: hidden layers L ≥ 0 (L = 0 is the linear kernel xᵀz).
        activation: "relu" (default), "erf" or a `DualActivation`.
        hermite_coeffs: instead of `activation`, the Hermite coefficients a_i of φ (Σ a_i² = 1).
        normalize: divide by the diagonal cᴸ = Kᴸ(x, x) (the same for every x on the sphere); `False` returns Kᴸ
            itself, which grows like ξᴸ (overflows for ξ > 1 and large depth).
        row_scaled: divide every row by its largest magnitude instead, computed from logarithms: entries that
            underflow float64 in K̃ᴸ keep their ratios (a row's scale changes no arg-max of K(x, X) A). A row of a
            training point in a training Gram matrix is unchanged (its largest entry is the diagonal, 1).
        return_nngp: also return Σᴸ (the NNGP kernel of the same network).
        log_domain: run the recursion on signs and log-magnitudes (only for `hermite_coeffs`); default: when
            a_0 = 0, where off-diagonal entries can fall to 0 faster than geometrically.

    Returns:
        `(n1, n2)` float64 array (and Σᴸ when `return_nngp`).
    """
    dual = get_dual_activation(activation, hermite_coeffs)
    if row_scaled and not normalize:
        raise ValueError("row_scaled=True already fixes the scale: leave normalize=True")
    depth = _check_depth(depth)
    layers = ntk_kernel_layers(
        X1, X2, depth=depth, activation=dual, row_scaled=row_scaled, log_domain=log_domain, at=[depth]
    )
    ((_, kernel, sigma),) = layers
    inv_diag = 1.0
    for _ in range(depth):
        inv_diag = inv_diag / (dual.slope_at_one + inv_diag)
    if not normalize:
        with np.errstate(over="ignore"):
            kernel = kernel / inv_diag
    return (kernel, sigma) if return_nngp else kernel
