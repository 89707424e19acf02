"""Comp-sum losses and smooth adversarial comp-sum losses (Mao, Mohri & Zhong, ICML 2023).

For scores `h(x, ·) ∈ R^n` of one example with label `y`, write

    u = Σ_{y'≠y} exp(h(x, y') − h(x, y)),      so that   p_y = softmax(h(x, ·))_y = 1 / (1 + u).

A *comp-sum* loss composes a function `Φ^τ` with that sum, `ℓ_τ(h, x, y) = Φ^τ(u)`, with (the paper's eq. 2)

    Φ^τ(u) = log(1 + u)                                 τ = 1
    Φ^τ(u) = (1 / (1 − τ)) · ((1 + u)^{1−τ} − 1)          τ ≥ 0, τ ≠ 1

which gives the sum-exponential loss (τ = 0: `u` itself), the logistic loss / cross-entropy (τ = 1), generalised
cross-entropy `(1 − p_y^q) / q` (τ = 1 + q, q ∈ (0, 1)) and the mean absolute error `1 − p_y` (τ = 2).

The *smooth adversarial comp-sum loss* adds to it a smooth term, the largest change in the vector of score
differences `Δh(x, y) = (h(x, y) − h(x, y'))_{y'}` over the perturbation ball:

    ℓ̃_τ(h, x, y) = ℓ_τ(h, x, y) + ν · sup_{‖x' − x‖_p ≤ γ} ‖Δh(x', y) − Δh(x, y)‖₂,

and ADV-COMP-SUM minimises it, the supremum being approximated by projected gradient ascent. No official code was
released; everything here follows the paper's definitions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.adversarial import PGDConfig, logits_of, pgd_attack, trades_kl
from hf_methods.common.checks import check_logits_labels, check_number, check_reduction, reduce_loss

#: Below this |1 − τ| the general formula is replaced by its expansion around τ = 1 (see `_comp_sum_from_log_one_plus_u`).
TAU_ONE_TOLERANCE = 1e-6


# ----------------------------------------------------------------------------------------------------------- checks


def check_tau(tau: float) -> float:
    """`τ` must be a finite number `≥ 0` (the range over which the paper defines the comp-sum family)."""
    return check_number("tau", tau, low=0)


def _check_attack(attack: PGDConfig) -> PGDConfig:
    if not isinstance(attack, PGDConfig):
        raise TypeError(f"attack must be a PGDConfig (e.g. PGDConfig(eps=0.1, steps=10)), got {type(attack).__name__}")
    return attack


# ----------------------------------------------------------------------------------------------------------- comp-sum


def log_one_plus_u(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    r"""`L = log(1 + u)`, `u = Σ_{y'≠y} exp(h_{y'} − h_y)`, per example: the cross-entropy `logsumexp(h) − h_y`.

    Computed as `log(1 + exp(s))` (`torch.logaddexp(0, s)`) with `s = logsumexp_{y'≠y}(h_{y'} − h_y) = log u`, which
    never exponentiates a raw score difference and, unlike `logsumexp(h) − h_y`, keeps full relative precision when
    `u` is below machine precision (a confidently right example), where `Φ^0(u) = u` must not round to 0.
    """
    differences = logits - logits.gather(1, labels.long().unsqueeze(1))
    not_label = torch.ones_like(differences, dtype=torch.bool).scatter_(1, labels.long().unsqueeze(1), False)
    log_u = torch.logsumexp(differences.masked_fill(~not_label, float("-inf")), dim=1)
    return torch.logaddexp(torch.zeros_like(log_u), log_u)


def _comp_sum_from_log_one_plus_u(log1pu: torch.Tensor, tau: float) -> torch.Tensor:
    r"""`Φ^τ(u)` from `L = log(1 + u)`.

    Since `1 + u = exp(L)`, the general formula is `(exp((1 − τ) L) − 1) / (1 − τ) = expm1((1 − τ) L) / (1 − τ)`;
    `expm1` keeps it accurate when `(1 − τ) L` is small. At `τ = 1` the formula is `0/0`; within
    `TAU_ONE_TOLERANCE` of it the expansion `L + (1 − τ) L² / 2 + (1 − τ)² L³ / 6` is used (relative error below
    `(1 − τ)³ L³ / 24`, under 1e-13 for `L ≤ 100`), so the loss is continuous in τ and is `L` itself at τ = 1.
    """
    a = 1.0 - tau
    if abs(a) < TAU_ONE_TOLERANCE:
        return log1pu * (1.0 + a * log1pu / 2.0 + a * a * log1pu * log1pu / 6.0)
    return torch.expm1(a * log1pu) / a


def comp_sum_loss(
    logits: torch.Tensor, labels: torch.Tensor, tau: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    r"""The comp-sum loss `ℓ_τ = Φ^τ(u)` (functional form of :class:`CompSumLoss`).

        u = Σ_{y'≠y} exp(h_{y'} − h_y),   Φ^1(u) = log(1 + u),   Φ^τ(u) = ((1 + u)^{1−τ} − 1) / (1 − τ)  (τ ≠ 1)

    τ = 0: sum-exponential `u`; τ = 1: cross-entropy; τ = 1 + q: generalised cross-entropy `(1 − p_y^q) / q`;
    τ = 2: mean absolute error `1 − p_y`. The gradient with respect to the logits is `p_y^{τ−1}` times the
    cross-entropy gradient, so τ > 1 down-weights examples the model gets wrong (robust to label noise, slower to
    fit) and τ < 1 up-weights them.

    Args:
        logits (`torch.Tensor` of shape `(batch, n)`): the scores `h(x, ·)`.
        labels (`torch.LongTensor` of shape `(batch,)`): class indices in `[0, n)`.
        tau (`float`, defaults to 1.0): `τ ≥ 0`.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` (per-example losses).

    Example:

    ```python
    >>> loss = comp_sum_loss(logits, labels, tau=1.5)  # generalised cross-entropy with q = 0.5
    ```
    """
    check_logits_labels(logits, labels)
    tau = check_tau(tau)
    check_reduction(reduction)
    return reduce_loss(_comp_sum_from_log_one_plus_u(log_one_plus_u(logits, labels), tau), reduction)


class CompSumLoss(nn.Module):
    r"""Comp-sum loss `ℓ_τ(h, x, y) = Φ^τ(Σ_{y'≠y} exp(h(x, y') − h(x, y)))` (Mao, Mohri & Zhong, 2023, eq. 2).

        Φ^τ(u) = log(1 + u)                                τ = 1   (cross-entropy / logistic loss)
        Φ^τ(u) = ((1 + u)^{1−τ} − 1) / (1 − τ)              τ ≠ 1   (τ = 0 sum-exponential, τ = 1 + q GCE, τ = 2 MAE)

    Computed as `expm1((1 − τ) L) / (1 − τ)` from `L = log(1 + u)`, itself computed from `log u` by a masked
    log-sum-exp (stable for large scores, see :func:`log_one_plus_u`). The paper's MAE is `1 − p_y`, half the `‖e_y − p‖₁ = 2 (1 − p_y)` of Ghosh
    et al. (2017); GCE is Zhang & Sabuncu's (2018) `(1 − p_y^q) / q`.

    Args:
        tau (`float`, defaults to 1.0): `τ ≥ 0`.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.

    Example:

    ```python
    >>> loss = CompSumLoss(tau=2.0)(logits, labels)  # mean absolute error 1 − p_y
    ```
    """

    def __init__(self, tau: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.tau = check_tau(tau)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return comp_sum_loss(logits, labels, self.tau, self.reduction)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, reduction={self.reduction!r}"


# ----------------------------------------------------------------------------------------------------------- smooth term


def score_difference_distance(
    adv_logits: torch.Tensor, clean_logits: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    r"""`‖Δh(x', y) − Δh(x, y)‖₂` per example, with `Δh(x, y) = (h(x, y) − h(x, y'))_{y' = 1..n}`.

    Writing `d = h(x') − h(x)`, the vector is `(d_y − d_{y'})_{y'}`, so the distance is invariant to adding the same
    constant to every score of `x` or of `x'` (unlike a distance between raw logits) and, unlike the KL term of
    TRADES, it compares score differences rather than probabilities. The `y' = y` entry is 0. The gradient at
    `x' = x` is taken as 0 (the subgradient `torch.linalg.vector_norm` uses).

    Args:
        adv_logits, clean_logits (`torch.Tensor` of shape `(batch, n)`): `h(x', ·)` and `h(x, ·)`.
        labels (`torch.LongTensor` of shape `(batch,)`): class indices.

    Returns:
        `torch.Tensor` of shape `(batch,)`.
    """
    check_logits_labels(adv_logits, labels)
    if clean_logits.shape != adv_logits.shape:
        raise ValueError(
            f"clean_logits must have the shape of adv_logits {tuple(adv_logits.shape)}, got {tuple(clean_logits.shape)}"
        )
    d = adv_logits - clean_logits
    d_y = d.gather(1, labels.long().unsqueeze(1))
    return torch.linalg.vector_norm(d_y - d, dim=1)


def _as_model(model: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: logits_of(model(x))


def _check_inputs(x: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor of inputs, got {type(x).__name__}")
    if not isinstance(labels, torch.Tensor) or labels.shape != x.shape[:1]:
        raise ValueError(
            f"labels must be a tensor of shape ({x.shape[0]},) (one class index per input), "
            f"got {getattr(labels, 'shape', labels)}"
        )


def smooth_adv_comp_sum_terms(
    model: Callable,
    x: torch.Tensor,
    labels: torch.Tensor,
    attack: PGDConfig,
    *,
    tau: float = 1.0,
    attack_model: Callable | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The two per-example terms of the smooth adversarial comp-sum loss, with the attack run first.

    1. `x' ≈ argmax_{‖x' − x‖_p ≤ γ} ‖Δh(x', y) − Δh(x, y)‖₂` by `pgd_attack` (the clean scores held fixed,
       detached, during the ascent; random start, since the gradient of the distance at `x' = x` is 0);
    2. `ℓ_τ(h, x, y)` on the clean scores and `‖Δh(x', y) − Δh(x, y)‖₂` at the attack, both differentiable with
       respect to the model (the gradient of the supremum is taken at the fixed maximiser, Danskin-style).

    Args:
        model: a callable from inputs to scores (a tensor, `.logits`, ...), differentiated for the loss.
        x (`torch.Tensor`): clean inputs, batch first.
        labels (`torch.LongTensor` of shape `(batch,)`): class indices.
        attack (`PGDConfig`): the ball `‖x' − x‖_p ≤ γ` (`eps`), the ascent steps and the input range.
        tau (`float`, defaults to 1.0): `τ ≥ 0` of the comp-sum term.
        attack_model (*optional*): the callable the attack runs (default `model`; e.g. the model in eval mode or
            unwrapped from a distributed wrapper).
        generator (`torch.Generator`, *optional*): for the attack's random start.

    Returns:
        `(comp_sum, distance, clean_logits, adv_logits)`: two per-example tensors of shape `(batch,)` and the scores.
    """
    _check_attack(attack)
    _check_inputs(x, labels)
    tau = check_tau(tau)
    forward = _as_model(model)
    attack_forward = _as_model(attack_model) if attack_model is not None else forward
    with torch.no_grad():
        clean_fixed = attack_forward(x).detach()
    check_logits_labels(clean_fixed, labels)

    def attack_objective(adv_logits: torch.Tensor, clean_logits: torch.Tensor) -> torch.Tensor:
        return score_difference_distance(adv_logits, clean_logits, labels)

    x_adv = pgd_attack(attack_forward, x, clean_fixed, attack, loss_fn=attack_objective, generator=generator)
    clean_logits = forward(x)
    adv_logits = forward(x_adv)
    comp = comp_sum_loss(clean_logits, labels, tau, reduction="none")
    return comp, score_difference_distance(adv_logits, clean_logits, labels), clean_logits, adv_logits


def smooth_adv_comp_sum_loss(
    model: Callable,
    x: torch.Tensor,
    labels: torch.Tensor,
    tau: float = 1.0,
    nu: float = 6.0,
    attack: PGDConfig | None = None,
    *,
    reduction: str = "mean",
    attack_model: Callable | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The smooth adversarial comp-sum loss, the objective of ADV-COMP-SUM (Mao, Mohri & Zhong, 2023, Section 6).

        ℓ̃_τ(h, x, y) = ℓ_τ(h, x, y) + ν · sup_{‖x' − x‖_p ≤ γ} ‖Δh(x', y) − Δh(x, y)‖₂,
        Δh(x, y) = (h(x, y) − h(x, y'))_{y'},

    the supremum approximated by projected gradient ascent (`pgd_attack` with the distance as its per-example
    objective). The paper's ρ-margin variant is not implemented. The defaults `ν = 6` and
    `PGDConfig(eps=0.1, steps=10)` are TRADES-style guesses (TRADES' β = 6, PGD-10), not the paper's settings.

    Args:
        model: a callable from inputs to scores (`.logits`, a tensor, ...).
        x (`torch.Tensor`): clean inputs, batch first.
        labels (`torch.LongTensor` of shape `(batch,)`): class indices.
        tau (`float`, defaults to 1.0): `τ ≥ 0` of the comp-sum term (1: cross-entropy).
        nu (`float`, defaults to 6.0): the weight `ν ≥ 0` of the smooth term (0: plain comp-sum training, no attack).
        attack (`PGDConfig`, *optional*): the ball and the ascent; default `PGDConfig(eps=0.1, steps=10)` (ℓ∞ radius
            0.1 of inputs in [0, 1], step 0.025, random start).
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.
        attack_model (*optional*): the callable the attack runs (default `model`).
        generator (`torch.Generator`, *optional*): for the attack's random start.

    Example:

    ```python
    >>> loss = smooth_adv_comp_sum_loss(model, pixel_values, labels, tau=1.0, nu=6.0, attack=PGDConfig(eps=0.1))
    >>> loss.backward()
    ```
    """
    nu = check_number("nu", nu, low=0)
    tau = check_tau(tau)
    check_reduction(reduction)
    attack = PGDConfig(eps=0.1, steps=10) if attack is None else _check_attack(attack)
    if nu == 0:
        _check_inputs(x, labels)
        return comp_sum_loss(_as_model(model)(x), labels, tau, reduction)
    comp, distance, _, _ = smooth_adv_comp_sum_terms(
        model, x, labels, attack, tau=tau, attack_model=attack_model, generator=generator
    )
    return reduce_loss(comp + nu * distance, reduction)


# ----------------------------------------------------------------------------------------------------------- TRADES


def trades_loss(
    model: Callable,
    x: torch.Tensor,
    labels: torch.Tensor,
    beta: float = 6.0,
    attack: PGDConfig | None = None,
    *,
    reduction: str = "mean",
    attack_model: Callable | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The TRADES loss (Zhang et al., ICML 2019), the baseline ADV-COMP-SUM is compared with.

        CE(h(x), y) + β · max_{‖x' − x‖_p ≤ γ} KL(softmax(h(x)) ‖ softmax(h(x')))

    The maximiser is found by `pgd_attack` on the per-example KL with the clean scores held fixed. Departure from the
    official TRADES code: the ascent starts from a uniform point of the ball (`PGDConfig.random_start`) instead of
    `x + 0.001·N(0, I)`; both exist to leave `x' = x`, where the gradient of the KL is 0.

    Args:
        model, x, labels, attack, reduction, attack_model, generator: as in :func:`smooth_adv_comp_sum_loss`.
        beta (`float`, defaults to 6.0): the weight `β ≥ 0` of the KL term (TRADES' `1/λ`; 6 in its experiments).
    """
    beta = check_number("beta", beta, low=0)
    check_reduction(reduction)
    attack = PGDConfig(eps=0.1, steps=10) if attack is None else _check_attack(attack)
    _check_inputs(x, labels)
    forward = _as_model(model)
    attack_forward = _as_model(attack_model) if attack_model is not None else forward
    with torch.no_grad():
        clean_fixed = attack_forward(x).detach()
    check_logits_labels(clean_fixed, labels)
    x_adv = pgd_attack(attack_forward, x, clean_fixed, attack, loss_fn=trades_kl, generator=generator)
    clean_logits = forward(x)
    natural = F.cross_entropy(clean_logits, labels.long(), reduction="none")
    return reduce_loss(natural + beta * trades_kl(forward(x_adv), clean_logits), reduction)


__all__ = [
    "CompSumLoss",
    "TAU_ONE_TOLERANCE",
    "check_tau",
    "comp_sum_loss",
    "log_one_plus_u",
    "score_difference_distance",
    "smooth_adv_comp_sum_loss",
    "smooth_adv_comp_sum_terms",
    "trades_kl",
    "trades_loss",
]
