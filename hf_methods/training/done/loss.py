"""KL-DRO instance weights of DONE (Sow, Lin, Wang & Liang, "Doubly Robust Instance-Reweighted Adversarial Training",
ICLR 2024).

DONE weights the adversarial loss `ℓ_i(θ) = ℓ(θ; x_i + δ_i*(θ), y_i)` of each training example by the solution of a
KL-regularised distributionally robust problem over the simplex `Δ_n`:

    max_{w ∈ Δ_n}  Σ_i w_i ℓ_i − r · KL(w ‖ 1/n),        KL(w ‖ 1/n) = Σ_i w_i log(n w_i),

whose maximiser and value have closed forms (the Gibbs / Donsker–Varadhan duality):

    w_i* = exp(ℓ_i / r) / Σ_j exp(ℓ_j / r)                      (:func:`kl_dro_weights`)
    F    = r · log((1/n) Σ_i exp(ℓ_i / r))                       (:func:`kl_dro_objective`)

`r → ∞` gives uniform weights (plain adversarial training), `r → 0` puts all the weight on the largest loss.
Training minimises F(θ). Its gradient is `Σ_i w_i* ∇ℓ_i` (Danskin: the weights are not differentiated), i.e.
`(1/n) Σ_i (exp(ℓ_i/r) / u) ∇ℓ_i` with `u = (1/n) Σ_j exp(ℓ_j/r)`. On mini-batches the paper's compositional
algorithm tracks `u` by a moving average (:class:`KLDRONormalizer`) and steps along
`(1/B) Σ_{i∈B} (exp(ℓ_i/r) / u) ∇ℓ_i` (:class:`DONEWeightedLoss`).

All exponentials are taken as `exp(ℓ_i/r − log u)` with `log u` kept in log space (float64), so small `r` does not
overflow.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_logits_labels, check_reduction

# ----------------------------------------------------------------------------------------------------------- checks


def _check_r(r) -> float:
    if not isinstance(r, (int, float)) or isinstance(r, bool):
        raise TypeError(f"r must be a number, got {type(r).__name__}")
    if not (r > 0 and math.isfinite(r)):
        raise ValueError(f"r must be a positive finite number (the KL regularisation strength), got {r}")
    return float(r)


def _check_beta(beta) -> float:
    if not isinstance(beta, (int, float)) or isinstance(beta, bool):
        raise TypeError(f"beta must be a number, got {type(beta).__name__}")
    if not 0.0 < beta <= 1.0:
        raise ValueError(f"beta must be in (0, 1] (the moving-average rate of the normaliser), got {beta}")
    return float(beta)


def _check_losses(per_sample_losses, name: str = "per_sample_losses") -> torch.Tensor:
    if not isinstance(per_sample_losses, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(per_sample_losses).__name__}")
    if not per_sample_losses.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {per_sample_losses.dtype}")
    if per_sample_losses.dim() != 1:
        raise ValueError(f"{name} must be 1-D (one loss per example), got shape {tuple(per_sample_losses.shape)}")
    if per_sample_losses.numel() == 0:
        raise ValueError(f"{name} is empty: need at least one loss")
    if not torch.isfinite(per_sample_losses).all():
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return per_sample_losses


# ----------------------------------------------------------------------------------------------------------- closed form


def kl_dro_weights(per_sample_losses: torch.Tensor, r: float) -> torch.Tensor:
    r"""The maximiser of the KL-regularised DRO problem: `w* = softmax(ℓ / r)`.

        w* = argmax_{w ∈ Δ_n} Σ_i w_i ℓ_i − r · Σ_i w_i log(n w_i),     w_i* = exp(ℓ_i/r) / Σ_j exp(ℓ_j/r)

    The weights sum to 1; `r → ∞` gives `1/n` each, `r → 0` all the mass on the largest loss (shared equally by
    ties). They are returned detached: by Danskin's theorem the gradient of the regularised maximum is
    `Σ_i w_i* ∇ℓ_i`, with the weights held fixed. Computed in float64 (`softmax` subtracts the maximum, so no
    exponential overflows) and returned in the dtype of the losses.

    Args:
        per_sample_losses (`torch.Tensor` of shape `(n,)`): the (adversarial) loss of each example.
        r (`float`): the KL regularisation strength `r > 0`.

    Returns:
        `torch.Tensor` of shape `(n,)`: non-negative weights summing to 1.

    Example:

    ```python
    >>> kl_dro_weights(torch.tensor([0.1, 0.5, 2.0]), r=1.0)
    tensor([0.1090, 0.1625, 0.7285])
    ```
    """
    losses = _check_losses(per_sample_losses)
    r = _check_r(r)
    return torch.softmax(losses.detach().double() / r, dim=0).to(losses.dtype)


def kl_dro_objective(per_sample_losses: torch.Tensor, r: float) -> torch.Tensor:
    r"""The value of the KL-regularised DRO problem, `F = r · log((1/n) Σ_i exp(ℓ_i / r))` (differentiable).

    `F` lies between the mean loss (`r → ∞`) and the maximum loss (`r → 0`); its gradient is `Σ_i w_i* ∇ℓ_i` with
    `w* = kl_dro_weights(ℓ, r)`.

    Args:
        per_sample_losses (`torch.Tensor` of shape `(n,)`): the loss of each example.
        r (`float`): the KL regularisation strength `r > 0`.
    """
    losses = _check_losses(per_sample_losses)
    r = _check_r(r)
    return r * (torch.logsumexp(losses / r, dim=0) - math.log(losses.numel()))


# ----------------------------------------------------------------------------------------------------------- running normaliser


class KLDRONormalizer(nn.Module):
    r"""The running estimate `u` of `(1/n) Σ_j exp(ℓ_j / r)` and the mini-batch weights `w_i = exp(ℓ_i / r) / u`.

    Each training batch `B` moves the estimate (the compositional step of the paper's CID algorithm):

        u ← (1 − β) · u + β · (1/|B|) Σ_{i∈B} exp(ℓ_i / r)

    and the batch's weights are then `w_i = exp(ℓ_i / r) / u` (with the updated `u`), whose mean over batches is
    ≈ 1, so `(1/|B|) Σ_i w_i ∇ℓ_i` estimates the full-data DRO gradient `Σ_i w_i* ∇ℓ_i`. `β = 1` normalises each
    batch by itself (`w = |B| · softmax(ℓ_B / r)`). The first batch initialises `u` to its own mean (the paper does
    not state `u_0`). In `eval()` mode the estimate is read, not moved.

    The state is kept as `log u` in float64 (buffers `log_u`, `num_updates`), so `exp(ℓ/r)` is never formed when
    `ℓ/r` is large; it is saved in `state_dict()` and moves with `.to()`. Under data parallelism pass a `gather`
    function (e.g. `accelerator.gather`) so every process moves `u` with the global batch.

    Args:
        r (`float`, defaults to 2.0): the KL regularisation strength `r > 0`.
        beta (`float`, defaults to 0.9): the moving-average rate `β ∈ (0, 1]`.
    """

    log_u: torch.Tensor
    num_updates: torch.Tensor

    def __init__(self, r: float = 2.0, beta: float = 0.9):
        super().__init__()
        self.r = _check_r(r)
        self.beta = _check_beta(beta)
        self.register_buffer("log_u", torch.zeros((), dtype=torch.float64))
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    @property
    def u(self) -> float:
        """The current estimate `u` (may be `inf` in float for very small `r`; the weights never use it directly)."""
        return math.exp(self.log_u.item()) if self.log_u.item() < 700 else float("inf")

    def _batch_log_mean_exp(self, scaled: torch.Tensor, gather) -> torch.Tensor:
        """`log((1/|B|) Σ_{i∈B} exp(ℓ_i/r))` over the (global, when `gather` is given) batch."""
        local = torch.logsumexp(scaled, dim=0)
        if gather is None:
            return local - math.log(scaled.numel())
        count = torch.tensor([float(scaled.numel())], dtype=torch.float64, device=scaled.device)
        local, count = gather(local.reshape(1)), gather(count)
        return torch.logsumexp(local, dim=0) - count.sum().log()

    def _update_scaled(self, scaled: torch.Tensor, gather) -> None:
        batch = self._batch_log_mean_exp(scaled, gather).to(self.log_u.device)
        if self.beta == 1.0 or self.num_updates.item() == 0:
            self.log_u.copy_(batch)
        else:
            # log((1 − β) u + β m) without leaving log space
            self.log_u.copy_(torch.logaddexp(self.log_u + math.log1p(-self.beta), batch + math.log(self.beta)))
        self.num_updates += 1

    def _weights_scaled(self, scaled: torch.Tensor) -> torch.Tensor:
        log_u = self.log_u if self.num_updates.item() > 0 else self._batch_log_mean_exp(scaled, None)
        return torch.exp(scaled - log_u.to(scaled.device))

    @torch.no_grad()
    def update(self, per_sample_losses: torch.Tensor, gather=None) -> None:
        """Moves `u` with one batch: `u ← (1 − β) u + β · mean_{i∈B} exp(ℓ_i / r)` (first batch: `u = mean`)."""
        self._update_scaled(_check_losses(per_sample_losses).detach().double() / self.r, gather)

    @torch.no_grad()
    def weights(self, per_sample_losses: torch.Tensor) -> torch.Tensor:
        """`w_i = exp(ℓ_i / r − log u)` with the current `u` (the batch's own mean before the first update)."""
        losses = _check_losses(per_sample_losses)
        return self._weights_scaled(losses.detach().double() / self.r).to(losses.dtype)

    @torch.no_grad()
    def forward(self, per_sample_losses: torch.Tensor, gather=None) -> torch.Tensor:
        """Training mode: update `u` with the batch, then return its weights. Eval mode: weights only."""
        losses = _check_losses(per_sample_losses)
        scaled = losses.detach().double() / self.r  # float64: ℓ/r − log u stays exact for small r
        if self.training:
            self._update_scaled(scaled, gather)
        return self._weights_scaled(scaled).to(losses.dtype)

    def extra_repr(self) -> str:
        return f"r={self.r}, beta={self.beta}"


# ----------------------------------------------------------------------------------------------------------- weighted loss


class DONEWeightedLoss(nn.Module):
    r"""The DONE mini-batch objective: per-example losses weighted by their KL-DRO weights, weights not differentiated.

        L_B(θ) = (1/|B|) Σ_{i∈B} w_i · ℓ_i(θ),        w_i = exp(ℓ_i / r) / u   (detached)

    with `u` the running normaliser of :class:`KLDRONormalizer`. Its gradient `(1/|B|) Σ_i w_i ∇ℓ_i` is the
    paper's stochastic estimate of `∇ r·log((1/n) Σ_i exp(ℓ_i/r))` (Danskin-style: the attack `δ_i` is found first and
    held fixed, and no gradient flows through the weights). With `β = 1` and one batch it is exactly
    `∇ kl_dro_objective(ℓ_B, r)`.

    `forward(logits, labels)` takes the logits of the *adversarial* inputs and uses per-example cross-entropy as
    `ℓ_i`; :meth:`reweight` takes any per-example losses (e.g. a TRADES loss). In training mode each call moves the
    normaliser; in `eval()` mode it does not. `reduction="none"` returns `w_i · ℓ_i` per example; the latest
    weights are kept in `last_weights` (detached) for logging.

    Args:
        r (`float`, defaults to 2.0): the KL regularisation strength `r > 0` (`r → ∞`: plain adversarial training).
        beta (`float`, defaults to 0.9): the normaliser's moving-average rate `β ∈ (0, 1]`.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.

    Example:

    ```python
    >>> loss_fn = DONEWeightedLoss(r=2.0, beta=0.9)
    >>> loss = loss_fn(model(pixel_values=x_adv).logits, labels)
    ```
    """

    def __init__(self, r: float = 2.0, beta: float = 0.9, reduction: str = "mean"):
        super().__init__()
        self.normalizer = KLDRONormalizer(r=r, beta=beta)
        self.reduction = check_reduction(reduction)
        self.last_weights: torch.Tensor | None = None  # the weights of the latest call (detached), for logging

    @property
    def r(self) -> float:
        return self.normalizer.r

    @property
    def beta(self) -> float:
        return self.normalizer.beta

    def reweight(self, per_sample_losses: torch.Tensor, gather=None) -> torch.Tensor:
        """`w_i · ℓ_i` reduced, for per-example losses `ℓ` of shape `(batch,)` (weights detached)."""
        losses = _check_losses(per_sample_losses)
        self.last_weights = self.normalizer(losses, gather)
        weighted = self.last_weights * losses
        if self.reduction == "mean":
            return weighted.mean()
        if self.reduction == "sum":
            return weighted.sum()
        return weighted

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, gather=None) -> torch.Tensor:
        check_logits_labels(logits, labels)
        return self.reweight(F.cross_entropy(logits, labels.long(), reduction="none"), gather)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


__all__ = ["DONEWeightedLoss", "KLDRONormalizer", "kl_dro_objective", "kl_dro_weights"]
