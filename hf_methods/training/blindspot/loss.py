"""The Blindspot unlearning objective of Tarun et al. (ICML 2023), "Deep Regression Unlearning".

A copy of the trained model f is fine-tuned on batches that mix retain examples (forget flag u_i = 0) and forget
examples (u_i = 1). With c = (1/B) Σ_i u_i the fraction of forget examples in the batch of size B, the official code
(`unlearn.py`, `fit_one_forget_cycle` and `forget_loss`) minimises

    L = c · L_f + (1 − c) · L_r,
    L_r = mean_{i: u_i=0} |f(x_i) − y_i|,
    L_f = mean_{i: u_i=1} |f(x_i) − g(x_i)| + β Σ_l mean_{i: u_i=1, positions} (Q_l(x_i) − Q_l^g(x_i))²,

where g is the "blindspot" proxy model (a fresh model trained briefly on the retain data only), Q_l = vec(mean_c
a_l²)/‖vec(mean_c a_l²)‖₂ is the attention map of layer l's activation a_l (Zagoruyko & Komodakis), and β = 50.

Because c · mean_{i∈F} = (1/B) Σ_{i∈F} and (1 − c) · mean_{i∈R} = (1/B) Σ_{i∈R}, the batch loss is exactly the batch
mean of one term per example:

    ℓ_i = (1 − u_i) · |f(x_i) − y_i| + u_i · (|f(x_i) − g(x_i)| + β Σ_l ‖Q_l(x_i) − Q_l^g(x_i)‖² / D_l),

with D_l the number of positions of Q_l (|·| is averaged over the output dimensions). [`BlindspotUnlearningLoss`]
returns these per-example terms (`reduction="none"`) and their mean (the official loss, c recomputed per batch).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hf_methods.common.distill import attention_transfer_loss

Activations = torch.Tensor | Sequence[torch.Tensor]

__all__ = ["BlindspotUnlearningLoss", "attention_distance", "blindspot_unlearning_loss"]


def _as_list(activations: Activations | None, name: str) -> list[torch.Tensor]:
    if activations is None:
        return []
    if isinstance(activations, torch.Tensor):
        return [activations]
    if isinstance(activations, (list, tuple)) and all(isinstance(a, torch.Tensor) for a in activations):
        return list(activations)
    raise TypeError(
        f"{name} must be a tensor or a sequence of tensors (one per layer), got {type(activations).__name__}"
    )


def attention_distance(activation: torch.Tensor, proxy_activation: torch.Tensor) -> torch.Tensor:
    """mean over positions of (Q(a) − Q(a_g))², one value per example: the official `attention_diff` per example.

    Q is the attention map of `hf_methods.common.distill.attention_map` with p = 2 (Σ_c a² normalised to unit
    length; the official mean over channels gives the same unit vector). The shared `attention_transfer_loss`
    returns ‖Q − Q_g‖₂ per example; squaring it and dividing by the number of positions D gives the official mean.
    For 2-D activations `(batch, features)` the map is the normalised a² over features (the official formula would
    average the features away and leave a constant; see the record's notes).

    Args:
        activation (`torch.Tensor`): `(batch, channels, ...)` or `(batch, features)` activation of the model.
        proxy_activation (`torch.Tensor`): the same layer's activation of the proxy (no gradient flows into it).
    """
    if activation.shape != proxy_activation.shape:
        raise ValueError(
            "activations and proxy_activations must pair up layer by layer with equal shapes, got "
            f"{tuple(activation.shape)} and {tuple(proxy_activation.shape)}"
        )
    positions = activation[0].numel() if activation.dim() == 2 else activation[0, 0].numel()
    distance = attention_transfer_loss(activation, proxy_activation, p=2.0, reduction="none")
    return distance.pow(2) / positions


def blindspot_unlearning_loss(
    predictions: torch.Tensor,
    labels: torch.Tensor,
    forget_mask: torch.Tensor,
    proxy_predictions: torch.Tensor,
    activations: Activations | None = None,
    proxy_activations: Activations | None = None,
    *,
    at_beta: float = 50.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """ℓ_i = (1 − u_i)|f(x_i) − y_i| + u_i(|f(x_i) − g(x_i)| + β Σ_l ‖Q_l − Q_l^g‖² / D_l); see the module docstring.

    Args:
        predictions (`torch.Tensor`): f(x), `(batch,)` or `(batch, outputs)`.
        labels (`torch.Tensor`): float targets y of the same shape (only read on retain examples).
        forget_mask (`torch.Tensor`): `(batch,)` bool or 0/1 flags u_i, 1 for a forget example.
        proxy_predictions (`torch.Tensor`): g(x) of the blindspot model, shape of `predictions` (detached).
        activations, proxy_activations: a tensor or a sequence of tensors, layer l of the model paired with layer l
            of the proxy; empty or `None` (or `at_beta=0`) drops the attention-transfer term.
        at_beta (`float`): β ≥ 0, the weight of the attention-transfer term (50 in the official code).
        reduction (`str`): `"mean"` (the official batch loss), `"sum"` or `"none"` (one ℓ_i per example).
    """
    if not isinstance(predictions, torch.Tensor) or not predictions.is_floating_point():
        raise TypeError("predictions must be a floating-point tensor")
    if predictions.dim() not in (1, 2) or predictions.shape[0] == 0:
        raise ValueError(f"predictions must be (batch,) or (batch, outputs), got shape {tuple(predictions.shape)}")
    if not isinstance(labels, torch.Tensor) or not labels.is_floating_point():
        raise TypeError("labels must be a floating-point tensor of regression targets")
    if labels.shape != predictions.shape:
        if labels.numel() == predictions.numel() and labels.shape[:1] == predictions.shape[:1]:
            labels = labels.reshape(predictions.shape)
        else:
            raise ValueError(
                f"labels must have the shape of predictions {tuple(predictions.shape)}, got {tuple(labels.shape)}"
            )
    if not isinstance(proxy_predictions, torch.Tensor) or proxy_predictions.shape != predictions.shape:
        shape = tuple(proxy_predictions.shape) if isinstance(proxy_predictions, torch.Tensor) else None
        raise ValueError(
            f"proxy_predictions must have the shape of predictions {tuple(predictions.shape)}, got {shape}"
        )
    if not isinstance(forget_mask, torch.Tensor) or forget_mask.shape != predictions.shape[:1]:
        shape = tuple(forget_mask.shape) if isinstance(forget_mask, torch.Tensor) else type(forget_mask).__name__
        raise ValueError(f"forget_mask must have shape ({predictions.shape[0]},), got {shape}")
    if forget_mask.dtype != torch.bool:
        if forget_mask.is_complex() or not ((forget_mask == 0) | (forget_mask == 1)).all():
            raise ValueError("forget_mask must hold booleans or 0/1 flags (1 = forget example)")
        forget_mask = forget_mask != 0
    if not (isinstance(at_beta, (int, float)) and at_beta >= 0):
        raise ValueError(f"at_beta must be a number >= 0, got {at_beta!r}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    acts, proxy_acts = _as_list(activations, "activations"), _as_list(proxy_activations, "proxy_activations")
    if len(acts) != len(proxy_acts):
        raise ValueError(
            f"activations and proxy_activations must list the same layers, got {len(acts)} and {len(proxy_acts)}"
        )

    batch = predictions.shape[0]
    retain_term = (predictions - labels).abs().reshape(batch, -1).mean(1)
    forget_term = (predictions - proxy_predictions.detach()).abs().reshape(batch, -1).mean(1)
    if at_beta > 0:
        for act, proxy_act in zip(acts, proxy_acts):
            if act.shape[0] != batch:
                raise ValueError(f"every activation must have the batch size {batch}, got shape {tuple(act.shape)}")
            forget_term = forget_term + at_beta * attention_distance(act, proxy_act.detach()).to(forget_term.dtype)
    # a forget example's label is not used: its term copies the proxy instead
    per_example = torch.where(forget_mask, forget_term, retain_term)
    if reduction == "none":
        return per_example
    return per_example.sum() if reduction == "sum" else per_example.mean()


class BlindspotUnlearningLoss(nn.Module):
    """The Blindspot unlearning loss as a module: L = c·L_f + (1 − c)·L_r (see [`blindspot_unlearning_loss`]).

    Args:
        at_beta (`float`, defaults to 50.0): β, the weight of the attention-transfer term of L_f.
        reduction (`str`, defaults to `"mean"`): `"mean"` (the official batch loss), `"sum"` or `"none"`.

    Example:

    ```python
    >>> loss = BlindspotUnlearningLoss(at_beta=50.0)
    >>> loss(predictions, labels, forget_mask, proxy_predictions, [h1, h2], [g1, g2])
    ```
    """

    def __init__(self, at_beta: float = 50.0, reduction: str = "mean"):
        super().__init__()
        if not (isinstance(at_beta, (int, float)) and at_beta >= 0):
            raise ValueError(f"at_beta must be a number >= 0, got {at_beta!r}")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.at_beta, self.reduction = float(at_beta), reduction

    def forward(
        self,
        predictions: torch.Tensor,
        labels: torch.Tensor,
        forget_mask: torch.Tensor,
        proxy_predictions: torch.Tensor,
        activations: Activations | None = None,
        proxy_activations: Activations | None = None,
    ) -> torch.Tensor:
        return blindspot_unlearning_loss(
            predictions,
            labels,
            forget_mask,
            proxy_predictions,
            activations,
            proxy_activations,
            at_beta=self.at_beta,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"at_beta={self.at_beta}, reduction={self.reduction!r}"
