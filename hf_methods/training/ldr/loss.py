"""Label-distributionally robust losses: LDR-KL and adaptive ALDR-KL (Zhu, Ying & Yang, ICML 2023).

For scores `f ∈ R^K` of one example with (possibly noisy) label `y`, a margin `c ≥ 0` and a temperature `λ > 0`,
the LDR-KL loss takes the worst case over a distribution `p` on the classes, regularised towards the uniform
distribution `u` by a KL divergence:

    L(f, y) = max_{p ∈ Δ_K}  Σ_k p_k (c·1[k≠y] + f_k − f_y)  −  λ·KL(p ‖ u)
            = λ · log( (1/K) Σ_k exp((c·1[k≠y] + f_k − f_y) / λ) ),

the maximiser being `p* = softmax((c·1[k≠y] + f − f_y)/λ)`. With `c = 0`, `λ = 1` and raw logits this is the
cross-entropy minus `log K`; `λ → 0` gives the Crammer–Singer hinge `max_k(c·1[k≠y] + f_k − f_y)`; `λ → ∞` gives
the mean margin `(1/K) Σ_k (c·1[k≠y] + f_k − f_y)`.

ALDR-KL makes `λ` per example, `λ_i ∈ [λ0(1 − 1/α), λ0]`, chosen in closed form from how peaked the model's
prediction on that example is (see :class:`ALDRKLLoss`). Both follow the official code
(`Optimization-AI/ICML2023_LDR`, `loss.py`: `LDRLoss_V1`, `ALDRLoss_V1`) including its score normalisation;
every departure is listed in the class docstrings.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_logits_labels, check_number, check_reduction, check_sample_idx, reduce_loss

# ----------------------------------------------------------------------------------------------------------- checks


# ----------------------------------------------------------------------------------------------------------- pieces


def softplus_mean_normalize(logits: torch.Tensor) -> torch.Tensor:
    """The LDR-KL score normalisation of the official code: `f ← softplus(f) / mean_k softplus(f_k)` per row.

    The result is positive with row mean 1, so the margin `c` and temperature `λ` act on a fixed scale however large
    the logits grow (`LDRLoss_V1`). Gradients flow through the denominator, as in the official code.
    """
    scores = F.softplus(logits)
    return scores / scores.mean(dim=1, keepdim=True)


def l1_normalize(logits: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """The ALDR-KL score normalisation of the official code: `f ← f / (‖f‖₁ / K)` per row (`ALDRLoss_V1`).

    `eps` bounds the denominator away from 0 (the official code divides by it as is, giving NaN for an all-zero row).
    """
    scale = logits.abs().mean(dim=1, keepdim=True)
    return logits / scale.clamp_min(eps)


def margin_shifted_scores(scores: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """`d_k = c·1[k≠y] + f_k − f_y` for every class k (row-wise; `d_y = 0`)."""
    score_y = scores.gather(1, labels.long().unsqueeze(1))
    not_label = torch.ones_like(scores).scatter_(1, labels.long().unsqueeze(1), 0.0)
    return margin * not_label + scores - score_y


def _log_mean_exp(values: torch.Tensor, temperature: torch.Tensor | float) -> torch.Tensor:
    """`T · log((1/K) Σ_k exp(v_k / T))` per row, computed as `T · (logsumexp(v/T) − log K)` (stable for small T).

    `temperature` is a number or a tensor of shape `(batch,)` (one temperature per row).
    """
    num_classes = values.shape[1]
    row_temperature = temperature.unsqueeze(1) if isinstance(temperature, torch.Tensor) else temperature
    return temperature * (torch.logsumexp(values / row_temperature, dim=1) - math.log(num_classes))


# ----------------------------------------------------------------------------------------------------------- LDR-KL


def ldr_kl_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    lambda_: float = 10.0,
    margin: float = 0.1,
    normalize: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""The LDR-KL loss (functional form of :class:`LDRKLLoss`).

        L(f, y) = λ · log( (1/K) Σ_k exp((c·1[k≠y] + f_k − f_y) / λ) )

    Args:
        logits (`torch.Tensor` of shape `(batch, K)`): the model's scores.
        labels (`torch.LongTensor` of shape `(batch,)`): class indices in `[0, K)`.
        lambda_ (`float`, defaults to 10.0): the KL regularisation strength / temperature `λ > 0`.
        margin (`float`, defaults to 0.1): the margin `c ≥ 0` added to every wrong class.
        normalize (`bool`, defaults to `True`): apply the official code's `softplus(f)/mean(softplus(f))` to the
            logits first. `False` uses raw logits (then `c = 0, λ = 1` gives cross-entropy − log K).
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` (per-example losses).
    """
    check_logits_labels(logits, labels)
    lambda_ = check_number("lambda_", lambda_, low=0, low_open=True)
    margin = check_number("margin", margin, low=0)
    check_reduction(reduction)
    scores = softplus_mean_normalize(logits) if normalize else logits
    loss = _log_mean_exp(margin_shifted_scores(scores, labels, margin), lambda_)
    return reduce_loss(loss, reduction)


class LDRKLLoss(nn.Module):
    r"""Label-distributionally robust loss with KL regularisation (LDR-KL).

        L(f, y) = max_{p ∈ Δ_K} Σ_k p_k (c·1[k≠y] + f_k − f_y) − λ·KL(p ‖ u)
                = λ · log( (1/K) Σ_k exp((c·1[k≠y] + f_k − f_y) / λ) )

    Matches the official `LDRLoss_V1` (`threshold` = `margin`, `Lambda` = `lambda_`), with the defaults of its
    experiments (`λ = 10`, `c = 0.1`; the class itself defaults to `threshold=2, Lambda=1`). The official code always
    normalises the scores; here `normalize=False` switches that off. The log-mean-exp is computed as
    `λ·(logsumexp(d/λ) − log K)`, which equals the official max-shifted form.

    Args:
        lambda_ (`float`, defaults to 10.0): temperature `λ > 0`.
        margin (`float`, defaults to 0.1): margin `c ≥ 0`.
        normalize (`bool`, defaults to `True`): `f ← softplus(f)/mean(softplus(f))` first, as in the official code.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.

    Example:

    ```python
    >>> loss = LDRKLLoss(lambda_=10.0, margin=0.1)(logits, labels)
    ```
    """

    def __init__(self, lambda_: float = 10.0, margin: float = 0.1, normalize: bool = True, reduction: str = "mean"):
        super().__init__()
        self.lambda_ = check_number("lambda_", lambda_, low=0, low_open=True)
        self.margin = check_number("margin", margin, low=0)
        self.normalize = bool(normalize)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return ldr_kl_loss(logits, labels, self.lambda_, self.margin, self.normalize, self.reduction)

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_}, margin={self.margin}, normalize={self.normalize}"


# ----------------------------------------------------------------------------------------------------------- ALDR-KL


class ALDRKLLoss(nn.Module):
    r"""Adaptive LDR-KL: LDR-KL with a per-example temperature `λ_i` adapted to how noisy its label looks.

    The objective maximises over `λ_i` too: `max_{p, λ_i} Σ_k p_k d_k − λ_i KL(p ‖ u) − (α log K / (2 λ0))
    (λ_i − λ0)²` with `d_k = c·1[k≠y] + f_k − f_y`; for a fixed `p` the best `λ_i` is `λ0 − λ0 KL(p ‖ u)/(α log K)`.
    The official code (`ALDRLoss_V1`) takes one such closed-form step per visit of example i, with `p` the softmax
    of the scores at the previous `λ_i`:

        f̃   = f / (‖f‖₁ / K)                                       (score normalisation; optional softplus first)
        p_i = softmax(f̃ / λ_i^old)                                  (smoothed: p ← (p + 1e-5) / Σ(p + 1e-5))
        λ_i ← λ0 − λ0 · KL(p_i ‖ u) / (α log K)                     (stored; no gradient)
        L_i = λ_i · log( (1/K) Σ_k exp((c·1[k≠y] + f̃_k − f̃_y) / λ_i) ) − (α log K / (2 λ0)) (λ_i − λ0)²

    Since `0 ≤ KL(p ‖ u) ≤ log K`, `λ_i ∈ [λ0 (1 − 1/α), λ0]`; `α > 1` keeps it positive (default `α = 2`:
    `[λ0/2, λ0]`). A confident prediction (large KL, often a clean label the model has learnt) gets a small `λ_i`
    (close to a hinge); an unsure one gets `λ_i ≈ λ0` (close to the mean margin, robust to a wrong label).

    As in the official code, the new `λ_i` is used detached (no gradient flows into it, so the quadratic term is a
    constant that only shifts the reported loss value) and the score normalisation is differentiated through.
    The margin does not enter `p_i`, exactly as in the official code. Departures from the official code:

    - `normalize=False` switches the L1 normalisation off (the official code always applies it);
    - the L1 norm is clamped at `1e-12` (the official code gives NaN for an all-zero logit row);
    - the new `λ_i` is clamped into `[λ0 (1 − 1/α), λ0]`, which only removes floating-point round-off;
    - in `eval()` mode the buffer is read but not updated (the official code always updates it);
    - the buffer is a registered buffer `lambdas` of shape `(num_samples,)`, so it moves with `.to()` and is saved in
      `state_dict()` (checkpoint it with the model and optimizer to resume exactly).

    If an index occurs twice in a batch, which of its updates is stored is unspecified (as in the official code).
    Under data parallelism each process updates only the indices it sees; call :meth:`sync` with a gather function
    (e.g. `accelerator.gather`) after each step to keep the buffers identical on every process.

    Args:
        num_samples (`int`): size of the training set; `sample_idx` indexes into `[0, num_samples)`.
        lambda0 (`float`, defaults to 10.0): the reference temperature `λ0 > 0` (the official `Lambda`).
        alpha (`float`, defaults to 2.0): `α > 1`, the strength of the pull of `λ_i` towards `λ0`.
        margin (`float`, defaults to 0.1): margin `c ≥ 0` (the official `threshold`).
        normalize (`bool`, defaults to `True`): apply `f ← f/(‖f‖₁/K)` first, as the official code does.
        softplus (`bool`, defaults to `False`): apply `softplus` before the normalisation (the official code does so
            only for CIFAR-100).
        smoothing (`float`, defaults to 1e-5): added to `p_i` before renormalising it, to keep `log p` finite.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"`.

    Example:

    ```python
    >>> loss_fn = ALDRKLLoss(num_samples=len(train_set), lambda0=10.0, alpha=2.0)
    >>> loss = loss_fn(logits, labels, sample_idx)  # sample_idx: the examples' positions in the training set
    ```
    """

    lambdas: torch.Tensor

    def __init__(
        self,
        num_samples: int,
        lambda0: float = 10.0,
        alpha: float = 2.0,
        margin: float = 0.1,
        normalize: bool = True,
        softplus: bool = False,
        smoothing: float = 1e-5,
        reduction: str = "mean",
    ):
        super().__init__()
        if not isinstance(num_samples, int) or isinstance(num_samples, bool):
            raise TypeError(f"num_samples must be an int, got {type(num_samples).__name__}")
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples = num_samples
        self.lambda0 = check_number("lambda0", lambda0, low=0, low_open=True)
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool):
            raise TypeError(f"alpha must be a number, got {type(alpha).__name__}")
        if not (alpha > 1 and math.isfinite(alpha)):
            raise ValueError(
                f"alpha must be a finite number > 1 (λ_i ranges over [λ0(1 − 1/α), λ0], which must stay positive), "
                f"got {alpha}"
            )
        self.alpha = float(alpha)
        self.margin = check_number("margin", margin, low=0)
        self.normalize = bool(normalize)
        self.softplus = bool(softplus)
        if not (0 <= smoothing < 1):
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.smoothing = float(smoothing)
        self.reduction = check_reduction(reduction)
        self.register_buffer("lambdas", torch.full((num_samples,), self.lambda0, dtype=torch.float32))

    @property
    def lambda_min(self) -> float:
        """The smallest value a `λ_i` can take: `λ0 (1 − 1/α)`."""
        return self.lambda0 * (1.0 - 1.0 / self.alpha)

    def _check_index(self, sample_idx, batch_size: int) -> torch.Tensor:
        if sample_idx is None:
            raise ValueError(
                "sample_idx is required by ALDRKLLoss: pass each example's index in the training set "
                "(shape (batch,), integers in [0, num_samples))"
            )
        return check_sample_idx(sample_idx, batch_size, self.num_samples, matches="logits").to(self.lambdas.device)

    def normalize_scores(self, logits: torch.Tensor) -> torch.Tensor:
        """`f̃ = f / (‖f‖₁/K)` (after `softplus` if `softplus=True`); the raw logits when `normalize=False`."""
        scores = F.softplus(logits) if self.softplus else logits
        return l1_normalize(scores) if self.normalize else scores

    @torch.no_grad()
    def updated_lambdas(self, scores: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        """The closed-form step `λ ← λ0 − λ0·KL(p ‖ u)/(α log K)` with `p = softmax(f̃/λ_old)` (smoothed)."""
        num_classes = scores.shape[1]
        dtype = torch.promote_types(scores.dtype, torch.float32)
        prob = torch.softmax(scores.to(dtype) / old.to(dtype).unsqueeze(1), dim=1) + self.smoothing
        prob = prob / prob.sum(dim=1, keepdim=True)
        kl = (prob * torch.log(num_classes * prob)).sum(dim=1)
        new = self.lambda0 - self.lambda0 * kl / (self.alpha * math.log(num_classes))
        return new.clamp(self.lambda_min, self.lambda0)

    def forward(
        self, logits: torch.Tensor, labels: torch.Tensor, sample_idx: torch.Tensor | None = None
    ) -> torch.Tensor:
        num_classes = check_logits_labels(logits, labels)
        idx = self._check_index(sample_idx, logits.shape[0])
        scores = self.normalize_scores(logits)
        lambdas = self.updated_lambdas(scores.detach(), self.lambdas[idx])
        if self.training:
            self.lambdas[idx] = lambdas.to(self.lambdas.dtype)  # float64 logits update the float32 buffer
        lambdas = lambdas.to(device=logits.device, dtype=scores.dtype)
        shifted = margin_shifted_scores(scores, labels, self.margin)
        penalty = self.alpha * math.log(num_classes) / (2.0 * self.lambda0) * (lambdas - self.lambda0) ** 2
        loss = _log_mean_exp(shifted, lambdas) - penalty
        return reduce_loss(loss, self.reduction)

    def reference_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss with every `λ_i = λ0` (then the penalty vanishes); needs no index and leaves the buffer alone.

        Useful for evaluation examples, which have no entry in the buffer.
        """
        check_logits_labels(logits, labels)
        shifted = margin_shifted_scores(self.normalize_scores(logits), labels, self.margin)
        return reduce_loss(_log_mean_exp(shifted, self.lambda0), self.reduction)

    @torch.no_grad()
    def sync(self, sample_idx: torch.Tensor, gather) -> None:
        """Makes the `λ` buffer identical across data-parallel processes after a step.

        `gather` concatenates a tensor over processes (e.g. `accelerator.gather`); every process then writes the
        gathered `(index, λ)` pairs into its buffer. Each process must pass the `sample_idx` of its own batch.
        """
        idx = sample_idx.long().to(self.lambdas.device)
        all_idx = gather(idx)
        all_lambdas = gather(self.lambdas[idx])
        self.lambdas[all_idx.to(self.lambdas.device)] = all_lambdas.to(self.lambdas)

    def extra_repr(self) -> str:
        return (
            f"num_samples={self.num_samples}, lambda0={self.lambda0}, alpha={self.alpha}, margin={self.margin}, "
            f"normalize={self.normalize}, softplus={self.softplus}"
        )


# ----------------------------------------------------------------------------------------------------------- CE


class CrossEntropyLoss(nn.Module):
    """Plain cross-entropy `−log softmax(f)_y`, with the same `(logits, labels)` checks as the LDR losses."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_logits_labels(logits, labels)
        return F.cross_entropy(logits, labels.long(), reduction=self.reduction)


LOSSES: dict[str, type[nn.Module]] = {
    "ce": CrossEntropyLoss,
    "ldr_kl": LDRKLLoss,
    "aldr_kl": ALDRKLLoss,
}
"""Name -> loss class. `ALDRKLLoss` needs `num_samples` and is called with `sample_idx` (see :func:`needs_index`)."""


def needs_index(loss: nn.Module) -> bool:
    """Whether `loss` must be called as `loss(logits, labels, sample_idx)`."""
    return isinstance(loss, ALDRKLLoss)


def build_loss(name: str, *, num_samples: int | None = None, **kwargs) -> nn.Module:
    """Instantiates `LOSSES[name]`; `num_samples` is passed to losses that keep a per-example state."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    cls = LOSSES[name]
    if cls is ALDRKLLoss:
        if num_samples is None:
            raise ValueError("loss 'aldr_kl' needs num_samples (the size of the training set)")
        return cls(num_samples, **kwargs)
    return cls(**kwargs)


__all__ = [
    "ALDRKLLoss",
    "CrossEntropyLoss",
    "LDRKLLoss",
    "LOSSES",
    "build_loss",
    "l1_normalize",
    "ldr_kl_loss",
    "margin_shifted_scores",
    "needs_index",
    "softplus_mean_normalize",
]
