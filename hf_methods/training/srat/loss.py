"""The SRAT objective: class-reweighted adversarial loss plus a feature-separation loss (Wang et al., 2021).

Separable Reweighted Adversarial Training (SRAT) trains on PGD adversarial examples `x'_i` of an imbalanced set with

    min_θ  (1/B) Σ_i [ w_{y_i} · ℓ(f(x'_i), y_i)  +  λ · L_sep(z(x'_i)) ]

- `w_y`: a class weight, large for rare classes: the effective-number weights of Cui et al. (2019)
  `w_c ∝ (1 − β) / (1 − β^{n_c})` or inverse frequencies `w_c ∝ 1 / n_c`, both normalised to `Σ_c w_c = C`, applied
  with *deferred re-weighting* (DRW, Cao et al., 2019): `w = 1` for the first epochs, then the class weights
  ([`DeferredReweighting`]);
- `ℓ`: cross-entropy, or the focal loss `(1 − p_y)^γ · (−log p_y)` (`focal_gamma > 0`);
- `L_sep`: a supervised-contrastive loss on the (L2-normalised) penultimate features `z` of the adversarial examples
  of the batch, pulling features of a class together and pushing other classes away ([`feature_separation_loss`]).

No official code of the paper was found: the separation loss (its supervised-contrastive form, temperature and weight)
is reconstructed from the paper's description, and every default here is this library's choice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_number, check_reduction, reduce_loss

WEIGHTINGS = ("effective_num", "inverse", "none")


# ----------------------------------------------------------------------------------------------------------- checks


def _check_labels(labels: torch.Tensor, batch: int, num_classes: int | None = None) -> None:
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"labels must be an integer tensor of class indices, got dtype {labels.dtype}")
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},) to match the batch, got {tuple(labels.shape)}")
    if num_classes is not None and labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got range [{int(labels.min())}, {int(labels.max())}]"
        )


def _check_logits(logits: torch.Tensor) -> int:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if logits.dim() != 2:
        raise ValueError(f"logits must be 2-D (batch, num_classes), got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got dtype {logits.dtype}")
    if logits.shape[1] < 2:
        raise ValueError(f"logits must have at least 2 classes, got {logits.shape[1]}")
    return logits.shape[1]


def _check_features(features: torch.Tensor) -> None:
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"features must be a torch.Tensor, got {type(features).__name__}")
    if features.dim() != 2:
        raise ValueError(f"features must be 2-D (batch, feature_dim), got shape {tuple(features.shape)}")
    if not features.is_floating_point():
        raise TypeError(f"features must be a floating-point tensor, got dtype {features.dtype}")


def _is_array_like(value) -> bool:
    """A tensor, a numpy array or a (non-string) sequence."""
    if isinstance(value, (str, bytes)):
        return False
    return isinstance(value, (torch.Tensor, Sequence)) or hasattr(value, "__array__")


def _as_weight_tensor(class_weights, num_classes: int | None = None) -> torch.Tensor:
    """`class_weights` (a sequence or tensor) as a 1-D float tensor of finite non-negative values."""
    if not _is_array_like(class_weights):
        raise TypeError(
            f"class_weights must be a sequence or tensor of per-class weights, got {type(class_weights).__name__}"
        )
    weights = torch.as_tensor(class_weights).detach()
    if not weights.is_floating_point():
        weights = weights.double()
    if weights.dim() != 1 or weights.numel() < 2:
        raise ValueError(
            f"class_weights must be 1-D with one weight per class (>= 2), got shape {tuple(weights.shape)}"
        )
    if num_classes is not None and weights.numel() != num_classes:
        raise ValueError(f"class_weights must have {num_classes} entries (one per class), got {weights.numel()}")
    if not torch.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(f"class_weights must be finite and >= 0, got {weights.tolist()}")
    return weights


def _class_counts(class_counts) -> torch.Tensor:
    if not _is_array_like(class_counts):
        raise TypeError(f"class_counts must be a sequence of per-class counts, got {type(class_counts).__name__}")
    counts = torch.as_tensor(class_counts)
    if counts.dim() != 1 or counts.numel() < 2:
        raise ValueError(f"class_counts must be 1-D with one count per class (>= 2), got shape {tuple(counts.shape)}")
    if counts.is_floating_point() and not torch.equal(counts, counts.round()):
        raise ValueError(f"class_counts must be whole numbers, got {counts.tolist()}")
    if (counts < 1).any():
        raise ValueError(
            f"class_counts must all be >= 1 (a class without training examples has no finite weight), "
            f"got {counts.tolist()}"
        )
    return counts.double()


# ----------------------------------------------------------------------------------------------------------- weights


def effective_number_weights(class_counts, beta: float = 0.9999) -> torch.Tensor:
    r"""Class-balanced weights by the effective number of samples (Cui et al., CVPR 2019).

        E_c = (1 − β^{n_c}) / (1 − β),      w_c = (1 / E_c) · C / Σ_k (1 / E_k)

    so the weights sum to the number of classes `C`. `β = 0` gives `w_c = 1` (no reweighting); `β → 1` gives inverse
    frequencies. `β = 0.9999` is the value of the deferred re-weighting schedule of Cao et al. (2019).

    Args:
        class_counts (sequence of `int`): training examples per class, each >= 1.
        beta (`float`, defaults to 0.9999): `β ∈ [0, 1)`.

    Returns:
        `torch.Tensor` (float64) of shape `(C,)`.
    """
    counts = _class_counts(class_counts)
    if not isinstance(beta, (int, float)) or isinstance(beta, bool):
        raise TypeError(f"beta must be a number, got {type(beta).__name__}")
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    # (1 − β^n)/(1 − β) computed as −expm1(n·log β)/(1 − β): no cancellation for β close to 1
    effective = -torch.expm1(counts * math.log(beta)) / (1.0 - beta) if beta > 0 else torch.ones_like(counts)
    weights = 1.0 / effective
    return weights * len(counts) / weights.sum()


def inverse_frequency_weights(class_counts) -> torch.Tensor:
    """`w_c = (1 / n_c) · C / Σ_k (1 / n_k)`: inverse class frequencies, summing to the number of classes."""
    counts = _class_counts(class_counts)
    weights = 1.0 / counts
    return weights * len(counts) / weights.sum()


def class_weights_from_counts(class_counts, kind: str = "effective_num", beta: float = 0.9999) -> torch.Tensor:
    """The class weights of `kind`: `"effective_num"` (Cui et al.), `"inverse"` (1/n_c) or `"none"` (all ones)."""
    if kind not in WEIGHTINGS:
        raise ValueError(f"class_weights must be one of {WEIGHTINGS} or a sequence of weights, got {kind!r}")
    if kind == "effective_num":
        return effective_number_weights(class_counts, beta)
    if kind == "inverse":
        return inverse_frequency_weights(class_counts)
    return torch.ones(len(_class_counts(class_counts)), dtype=torch.float64)


class DeferredReweighting:
    """Deferred re-weighting (DRW, Cao et al., NeurIPS 2019): uniform weights before `drw_start`, class weights after.

        w(epoch) = 1                      for epoch < drw_start
                 = class weights          for epoch >= drw_start

    `drw_start = 0` applies the weights from the first epoch (plain re-weighting, the baseline SRAT's paper finds
    hurts the well-represented classes); `kind="none"` never reweights.

    Args:
        class_counts (sequence of `int`, *optional*): training examples per class (needed unless `kind` is a sequence
            of weights or `"none"` with `num_classes`).
        kind (`str` or sequence of `float`, defaults to `"effective_num"`): `"effective_num"`, `"inverse"`, `"none"`,
            or the per-class weights themselves.
        drw_start (`int`, defaults to 0): the first (0-based) epoch trained with the class weights.
        beta (`float`, defaults to 0.9999): `β` of the effective number.
        num_classes (`int`, *optional*): the number of classes, when no counts are given.

    Example:

    ```python
    >>> schedule = DeferredReweighting([500, 50], kind="effective_num", drw_start=20)
    >>> schedule.weights_at(0), schedule.weights_at(20)
    (tensor([1., 1.], dtype=torch.float64), tensor([0.1856, 1.8144], dtype=torch.float64))
    ```
    """

    def __init__(
        self,
        class_counts=None,
        kind: str | Sequence[float] | torch.Tensor = "effective_num",
        drw_start: int = 0,
        beta: float = 0.9999,
        num_classes: int | None = None,
    ):
        if not isinstance(drw_start, int) or isinstance(drw_start, bool):
            raise TypeError(f"drw_start must be an int (an epoch), got {type(drw_start).__name__}")
        if drw_start < 0:
            raise ValueError(f"drw_start must be >= 0, got {drw_start}")
        self.drw_start = drw_start
        if isinstance(kind, str):
            if kind not in WEIGHTINGS:
                raise ValueError(f"class_weights must be one of {WEIGHTINGS} or a sequence of weights, got {kind!r}")
            if class_counts is None:
                if kind != "none" or num_classes is None:
                    raise ValueError(f"class_weights={kind!r} needs class_counts (training examples per class)")
                self.weights = torch.ones(num_classes, dtype=torch.float64)
            else:
                self.weights = class_weights_from_counts(class_counts, kind, beta)
        else:
            self.weights = _as_weight_tensor(kind).double()
        if num_classes is not None and len(self.weights) != num_classes:
            raise ValueError(f"class_weights must have {num_classes} entries (one per class), got {len(self.weights)}")
        self.kind = kind if isinstance(kind, str) else "custom"

    @property
    def num_classes(self) -> int:
        return len(self.weights)

    def is_active(self, epoch: int) -> bool:
        """Whether the class weights apply in (0-based) `epoch`."""
        return self.kind != "none" and epoch >= self.drw_start

    def weights_at(self, epoch: int) -> torch.Tensor:
        """The per-class weights of (0-based) `epoch` (float64; cast them to the logits' dtype)."""
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        return self.weights.clone() if self.is_active(epoch) else torch.ones_like(self.weights)

    def __repr__(self) -> str:
        weights = ", ".join(f"{w:.3g}" for w in self.weights.tolist())
        return f"DeferredReweighting(kind={self.kind!r}, drw_start={self.drw_start}, weights=[{weights}])"


# ----------------------------------------------------------------------------------------------------------- terms


def reweighted_classification_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    class_weights=None,
    focal_gamma: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""`w_{y_i} · (1 − p_{y_i})^γ · (−log p_{y_i})` per example (`γ = 0`: weighted cross-entropy).

    `"mean"` averages over the batch, `(1/B) Σ_i w_{y_i} ℓ_i`: the paper's sum over examples scaled by the batch size.
    This is not torch's `F.cross_entropy(weight=w)` mean, which divides by `Σ_i w_{y_i}` instead of `B`.

    Args:
        logits (`torch.Tensor` of shape `(batch, C)`), labels (`torch.LongTensor` of shape `(batch,)`).
        class_weights (sequence or tensor of shape `(C,)`, *optional*): `w`; `None` means all ones.
        focal_gamma (`float`, defaults to 0): the focal exponent `γ >= 0`.
        reduction (`str`): `"mean"`, `"sum"` or `"none"`.
    """
    num_classes = _check_logits(logits)
    _check_labels(labels, logits.shape[0], num_classes)
    focal_gamma = check_number("focal_gamma", focal_gamma, low=0)
    check_reduction(reduction)
    log_p = F.log_softmax(logits, dim=1).gather(1, labels.long().unsqueeze(1)).squeeze(1)
    loss = -log_p
    if focal_gamma > 0:
        loss = (1 - log_p.exp()).clamp_min(0).pow(focal_gamma) * loss
    if class_weights is not None:
        weights = _as_weight_tensor(class_weights, num_classes).to(device=logits.device, dtype=logits.dtype)
        loss = weights[labels.long()] * loss
    return reduce_loss(loss, reduction)


def feature_separation_loss(
    features: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 0.1,
    normalize: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""The feature-separation loss of SRAT, in the supervised-contrastive form (Khosla et al., 2020), per anchor i:

        L_sep,i = − (1/|P(i)|) Σ_{p ∈ P(i)} log( exp(z_i·z_p / τ) / Σ_{a ≠ i} exp(z_i·z_a / τ) )

    with `z = h / ‖h‖₂` the normalised features of the batch, `P(i)` the other examples of the batch with the label of
    i and `a` running over every other example of the batch. An anchor with no positive in the batch (`P(i) = ∅`,
    frequent for a rare class) has `L_sep,i = 0` and still counts in the `"mean"` (as in the reference SupCon code).
    The loss falls as same-class features align and other classes move apart; it is a batch-level objective.

    Args:
        features (`torch.Tensor` of shape `(batch, d)`): the penultimate features (of adversarial examples in SRAT).
        labels (`torch.LongTensor` of shape `(batch,)`): class indices.
        temperature (`float`, defaults to 0.1): `τ > 0`.
        normalize (`bool`, defaults to `True`): L2-normalise the features first (`False`: raw dot products).
        reduction (`str`): `"mean"`, `"sum"` or `"none"` (one value per anchor).
    """
    _check_features(features)
    _check_labels(labels, features.shape[0])
    temperature = check_number("temperature", temperature, low=0, low_open=True)
    check_reduction(reduction)
    batch = features.shape[0]
    z = F.normalize(features, dim=1) if normalize else features
    similarity = z @ z.T / temperature
    self_mask = torch.eye(batch, dtype=torch.bool, device=features.device)
    # the anchor is left out of its own denominator; a finite floor (not −inf) keeps a lone anchor free of NaNs
    similarity = similarity.masked_fill(self_mask, torch.finfo(similarity.dtype).min)
    log_prob = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    positives = (labels.unsqueeze(0) == labels.unsqueeze(1)) & ~self_mask
    num_positives = positives.sum(dim=1)
    loss = -log_prob.masked_fill(~positives, 0.0).sum(dim=1) / num_positives.clamp_min(1)
    return reduce_loss(loss, reduction)


# ----------------------------------------------------------------------------------------------------------- module


class SeparableReweightedATLoss(nn.Module):
    r"""The SRAT objective on the logits and penultimate features of (adversarial) examples.

        L = (1/B) Σ_i [ w_{y_i} · ℓ(f(x'_i), y_i)  +  λ · L_sep,i ]

        ℓ(f, y)  = −(1 − p_y)^γ log p_y                    (cross-entropy for γ = 0, focal loss for γ > 0)
        L_sep,i  = −(1/|P(i)|) Σ_{p∈P(i)} log( exp(z_i·z_p/τ) / Σ_{a≠i} exp(z_i·z_a/τ) ),   z = h/‖h‖₂

    where `x'_i` is the adversarial example of `x_i`, `h(x'_i)` its penultimate features, `w` the class weights
    (set per call for deferred re-weighting) and `λ` the separation weight. With `λ = 0` and `w = 1` this is plain
    (Madry) adversarial training; with `λ = 0` it is reweighted adversarial training. The module only computes the
    loss: the attack and the DRW schedule are run by [`SRATTrainer`] (or `training.train_imbalanced_at`).

    The separation term is a reconstruction (the paper's code is not public): supervised-contrastive on normalised
    adversarial features, `τ = 0.1`, `λ = 1` by default.

    Args:
        class_weights (sequence or tensor of shape `(C,)`, *optional*): default weights `w` (`None`: all ones);
            `forward(..., class_weights=...)` overrides them for one call.
        separation_weight (`float`, defaults to 1.0): `λ >= 0`.
        temperature (`float`, defaults to 0.1): `τ > 0` of the separation loss.
        focal_gamma (`float`, defaults to 0.0): `γ >= 0` (0: cross-entropy).
        normalize_features (`bool`, defaults to `True`): L2-normalise the features in the separation loss.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` (one value per example).

    Example:

    ```python
    >>> loss_fn = SeparableReweightedATLoss(separation_weight=1.0, temperature=0.1)
    >>> loss = loss_fn(logits, features, labels, class_weights=schedule.weights_at(epoch))
    ```
    """

    def __init__(
        self,
        class_weights=None,
        separation_weight: float = 1.0,
        temperature: float = 0.1,
        focal_gamma: float = 0.0,
        normalize_features: bool = True,
        reduction: str = "mean",
    ):
        super().__init__()
        self.class_weights = None if class_weights is None else _as_weight_tensor(class_weights)
        self.separation_weight = check_number("separation_weight", separation_weight, low=0)
        self.temperature = check_number("temperature", temperature, low=0, low_open=True)
        self.focal_gamma = check_number("focal_gamma", focal_gamma, low=0)
        self.normalize_features = bool(normalize_features)
        self.reduction = check_reduction(reduction)

    def terms(
        self, logits: torch.Tensor, features: torch.Tensor, labels: torch.Tensor, class_weights=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example `(w_y·ℓ, L_sep)`, each of shape `(batch,)` (the separation term before its weight `λ`)."""
        num_classes = _check_logits(logits)
        _check_labels(labels, logits.shape[0], num_classes)
        _check_features(features)
        if features.shape[0] != logits.shape[0]:
            raise ValueError(
                f"features must have one row per example ({logits.shape[0]}), got shape {tuple(features.shape)}"
            )
        weights = self.class_weights if class_weights is None else class_weights
        classification = reweighted_classification_loss(logits, labels, weights, self.focal_gamma, reduction="none")
        if self.separation_weight > 0:
            separation = feature_separation_loss(
                features, labels, self.temperature, self.normalize_features, reduction="none"
            )
        else:  # λ = 0: skip the B×B similarity matrix (the term does not enter the loss)
            separation = features.new_zeros(features.shape[0]).to(logits.dtype)
        return classification, separation.to(classification.dtype)

    def forward(
        self, logits: torch.Tensor, features: torch.Tensor, labels: torch.Tensor, class_weights=None
    ) -> torch.Tensor:
        classification, separation = self.terms(logits, features, labels, class_weights)
        return reduce_loss(classification + self.separation_weight * separation, self.reduction)

    def extra_repr(self) -> str:
        return (
            f"separation_weight={self.separation_weight}, temperature={self.temperature}, "
            f"focal_gamma={self.focal_gamma}, normalize_features={self.normalize_features}"
        )


__all__ = [
    "WEIGHTINGS",
    "DeferredReweighting",
    "SeparableReweightedATLoss",
    "class_weights_from_counts",
    "effective_number_weights",
    "feature_separation_loss",
    "inverse_frequency_weights",
    "reweighted_classification_loss",
]
