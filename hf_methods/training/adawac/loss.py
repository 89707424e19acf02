"""AdaWAC: adaptively weighted data-augmentation consistency (Dong, Xie & Ward, ICML 2023).

Each training sample i keeps a pair of weights β_i = (β_i^sup, β_i^con) on the simplex Δ² that splits its loss
between the supervised cross-entropy and an unsupervised consistency term between two augmented views (x_i¹, x_i²):

    ℓ_CE,i  = ½ (CE(f(x_i¹), y_i¹) + CE(f(x_i²), y_i²))              (pixel cross-entropy, mean over pixels)
    ℓ_DAC,i = dac_coef · mean((z(x_i¹) − z(x_i²))²)                   (z: the encoder's latent, mean over its entries)

and training solves the saddle-point problem

    min_θ max_{β_i ∈ Δ²}  (1/n) Σ_i  β_i^sup ℓ_CE,i(θ) + β_i^con ℓ_DAC,i(θ)

by online mirror descent: when sample i is visited, its weights take one exponentiated-gradient (mirror ascent)
step with step size η = `lr_w`, then θ takes a gradient step on the loss weighted by the *new* β_i:

    β_i^sup ← β_i^sup · exp(η ℓ_CE,i),   β_i^con ← β_i^con · exp(η ℓ_DAC,i),   β_i ← β_i / ‖β_i‖₁.

At the saddle point a sample whose supervised loss stays above its consistency loss (label-dense) is assigned to
the supervised term, and one whose supervised loss is small (label-sparse: few or no labelled pixels) to the
consistency term. As in the official code (`gail-yxie/adawac`, `models.py`, `UNETS_AW_AC`), the model loss also
carries a Dice term that is not reweighted:

    L_i = λ_dice · Dice + (1 − λ_dice) · (β_i^sup ℓ_CE,i + β_i^con ℓ_DAC,i),   λ_dice = `dice_ratio`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.checks import check_number, check_reduction, check_sample_idx, reduce_loss

_DICE_MODES = ("batch", "sample")
_INTEGER_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


# ----------------------------------------------------------------------------------------------------------- checks


def _check_segmentation(logits, labels, *, logits_name: str = "logits", labels_name: str = "labels") -> int:
    """Validates `(logits (B, C, H, W), labels (B, H, W))`; returns the number of classes C."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{logits_name} must be a torch.Tensor, got {type(logits).__name__}")
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{labels_name} must be a torch.Tensor, got {type(labels).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"{logits_name} must be a floating-point tensor, got dtype {logits.dtype}")
    if logits.dim() != 4:
        raise ValueError(f"{logits_name} must be 4-D (batch, num_classes, H, W), got shape {tuple(logits.shape)}")
    num_classes = logits.shape[1]
    if num_classes < 2:
        raise ValueError(f"{logits_name} must have at least 2 classes (dim 1), got {num_classes}")
    if labels.dtype not in _INTEGER_DTYPES:
        raise TypeError(f"{labels_name} must be an integer tensor of class indices, got dtype {labels.dtype}")
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(labels.shape) != expected:
        raise ValueError(f"{labels_name} must have shape {expected} to match {logits_name}, got {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"{labels_name} must lie in [0, {num_classes}), got range [{int(labels.min())}, {int(labels.max())}]"
        )
    return num_classes


def _check_dice_mode(dice_mode: str) -> str:
    if dice_mode not in _DICE_MODES:
        raise ValueError(f"dice_mode must be one of {_DICE_MODES}, got {dice_mode!r}")
    return dice_mode


# ----------------------------------------------------------------------------------------------------------- pieces


def pixel_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy averaged over pixels: `(1/HW) Σ_p −log softmax(f_p)_{y_p}`, shape `(batch,)`."""
    return F.cross_entropy(logits, labels.long(), reduction="none").flatten(1).mean(dim=1)


def soft_dice_loss(
    logits: torch.Tensor, labels: torch.Tensor, dice_mode: str = "batch", smooth: float = 1e-5
) -> torch.Tensor:
    r"""Soft Dice loss on softmax probabilities, averaged over the classes (background included), shape `(batch,)`.

        Dice = (1/C) Σ_c [ 1 − (2 Σ p_c t_c + s) / (Σ p_c² + Σ t_c² + s) ],   p = softmax(f), t = one_hot(y)

    `dice_mode="batch"` sums over every pixel of the batch and gives every sample that one value, as the official
    `DiceLossFull` does (the Dice of a label-empty sample is then well defined through the rest of the batch);
    `dice_mode="sample"` sums over each sample's own pixels.
    """
    _check_dice_mode(dice_mode)
    num_classes = logits.shape[1]
    probs = torch.softmax(logits, dim=1)
    target = F.one_hot(labels.long(), num_classes).movedim(-1, 1).to(probs.dtype)
    dims = (0, 2, 3) if dice_mode == "batch" else (2, 3)
    intersect = (probs * target).sum(dim=dims)
    denominator = (probs * probs).sum(dim=dims) + (target * target).sum(dim=dims)
    per_class = 1.0 - (2.0 * intersect + smooth) / (denominator + smooth)  # (C,) or (B, C)
    dice = per_class.mean(dim=-1)
    return dice.expand(logits.shape[0]) if dice_mode == "batch" else dice


def latent_consistency(latent1: torch.Tensor, latent2: torch.Tensor) -> torch.Tensor:
    """`mean((z¹ − z²)²)` over every entry of each sample's latent, shape `(batch,)` (official `MSELoss` per sample)."""
    return (latent1 - latent2).pow(2).flatten(1).mean(dim=1)


def dice_ce_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    dice_ratio: float = 0.5,
    dice_mode: str = "batch",
    reduction: str = "mean",
) -> torch.Tensor:
    """The ERM objective of the official code (`--loss base`): `λ_dice · Dice + (1 − λ_dice) · CE` on one view.

    Args:
        logits (`torch.Tensor` of shape `(batch, C, H, W)`): the model's per-pixel scores.
        labels (`torch.LongTensor` of shape `(batch, H, W)`): class indices in `[0, C)`.
        dice_ratio (`float`, defaults to 0.5): `λ_dice ∈ [0, 1]`.
        dice_mode (`str`, defaults to `"batch"`): see :func:`soft_dice_loss`.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` (per sample).
    """
    _check_segmentation(logits, labels)
    dice_ratio = check_number("dice_ratio", dice_ratio, low=0.0, high=1.0)
    check_reduction(reduction)
    dice = soft_dice_loss(logits, labels, dice_mode)
    loss = dice_ratio * dice + (1.0 - dice_ratio) * pixel_cross_entropy(logits, labels)
    return reduce_loss(loss, reduction)


@torch.no_grad()
def mirror_ascent_step(
    beta: torch.Tensor, loss_sup: torch.Tensor, loss_con: torch.Tensor, lr_w: float
) -> torch.Tensor:
    """One exponentiated-gradient (mirror ascent) step of the rows of `beta` (shape `(batch, 2)`) on Δ².

        β^sup ← β^sup exp(η ℓ_sup),  β^con ← β^con exp(η ℓ_con),  β ← β / ‖β‖₁

    The official code multiplies only `β^sup` by `exp(η (ℓ_sup − ℓ_con))` before normalising, which is the same row.
    Here the step is taken as a softmax of `log β + η ℓ` in float64, which cannot overflow for large `η ℓ`. No graph
    is built: the weights follow the losses' values, not their gradients.
    """
    dtype = torch.promote_types(beta.dtype, torch.float64)
    gains = torch.stack([loss_sup.detach(), loss_con.detach()], dim=1).to(dtype)
    return torch.softmax(torch.log(beta.to(dtype)) + lr_w * gains, dim=1)


# ----------------------------------------------------------------------------------------------------------- AdaWAC


class AdaWACLoss(nn.Module):
    r"""AdaWAC's per-sample weighted supervised + consistency loss, with the weights β as a buffer (see the module
    docstring for the saddle-point problem and the update).

    For a batch of two augmented views, with `η = lr_w`, `λ_dice = dice_ratio`:

        ℓ_CE,i  = ½ (CE_i(logits1, labels1) + CE_i(logits2, labels2))
        ℓ_DAC,i = dac_coef · mean((latent1_i − latent2_i)²)
        β_i     ← normalize₁(β_i^sup e^{η ℓ_CE,i}, β_i^con e^{η ℓ_DAC,i})           (training mode only, no gradient)
        L_i     = λ_dice · ½ (Dice(logits1, labels1) + Dice(logits2, labels2))
                  + (1 − λ_dice) · (β_i^sup ℓ_CE,i + β_i^con ℓ_DAC,i)

    and the loss is the mean (or sum, or the vector) of `L_i`. Gradients reach both views' logits and latents; the
    weights are used detached, as in the official code, which also takes the β step before the loss is formed.

    Departures from the official code (`UNETS_AW_AC`, `--loss adawac`):

    - `dice_mode="sample"` offers a per-sample Dice; the default `"batch"` is the official batch-wide Dice;
    - the β step is computed in float64 as a softmax of `log β + η ℓ` (the same row, without overflow); the buffer
      is float32 like the official tensor, and a weight that underflows to 0 stays 0, as there;
    - in `eval()` mode the buffer is read but not updated (the official module always updates it);
    - `beta` is a registered buffer, so it moves with `.to()` and is saved in `state_dict()`.

    If an index occurs twice in a batch, which of its updates is stored is unspecified (as in the official code).
    Under data parallelism call :meth:`sync` with a gather function after each step.

    Args:
        num_samples (`int`): size of the training set; `sample_idx` indexes into `[0, num_samples)`.
        lr_w (`float`, defaults to 1.0): the mirror step size η ≥ 0 (official default 1.0; its UNet/TransUNet
            scripts use 8.0). `lr_w=0` freezes β at (½, ½).
        dac_coef (`float`, defaults to 2.0): the weight of the latent consistency term (official `--dac-encoder`).
        dice_ratio (`float`, defaults to 0.5): λ_dice ∈ [0, 1] (official `--dice-ratio`).
        dice_mode (`str`, defaults to `"batch"`): `"batch"` (official) or `"sample"`; see :func:`soft_dice_loss`.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` (one value per sample).

    Example:

    ```python
    >>> loss_fn = AdaWACLoss(num_samples=len(train_set), lr_w=8.0, dac_coef=2.0, dice_ratio=0.5)
    >>> out1 = model(pixel_values=view1, return_latent=True)
    >>> out2 = model(pixel_values=view2, return_latent=True)
    >>> loss = loss_fn(out1.logits, out2.logits, out1.latent, out2.latent, labels, labels, sample_idx)
    >>> loss_fn.beta[sample_idx]  # the samples' (β^sup, β^con), rows on the simplex
    ```
    """

    beta: torch.Tensor

    def __init__(
        self,
        num_samples: int,
        lr_w: float = 1.0,
        dac_coef: float = 2.0,
        dice_ratio: float = 0.5,
        dice_mode: str = "batch",
        reduction: str = "mean",
    ):
        super().__init__()
        if not isinstance(num_samples, int) or isinstance(num_samples, bool):
            raise TypeError(f"num_samples must be an int, got {type(num_samples).__name__}")
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples = num_samples
        self.lr_w = check_number("lr_w", lr_w, low=0.0)
        self.dac_coef = check_number("dac_coef", dac_coef, low=0.0)
        self.dice_ratio = check_number("dice_ratio", dice_ratio, low=0.0, high=1.0)
        self.dice_mode = _check_dice_mode(dice_mode)
        self.reduction = check_reduction(reduction)
        self.register_buffer("beta", torch.full((num_samples, 2), 0.5))

    # ------------------------------------------------------------------------------------------------ checks
    def _check_index(self, sample_idx, batch_size: int) -> torch.Tensor:
        if sample_idx is None:
            raise ValueError(
                "sample_idx is required: AdaWAC keeps one (β^sup, β^con) per training sample, indexed by the sample's "
                "position in the training set"
            )
        return check_sample_idx(sample_idx, batch_size, self.num_samples, matches="logits1").to(self.beta.device)

    @staticmethod
    def _check_latents(latent1, latent2, batch_size: int) -> None:
        for name, latent in (("latent1", latent1), ("latent2", latent2)):
            if not isinstance(latent, torch.Tensor):
                raise TypeError(
                    f"{name} must be a torch.Tensor (the model's latent, e.g. `model(..., return_latent=True).latent`), "
                    f"got {type(latent).__name__}"
                )
            if not latent.is_floating_point():
                raise TypeError(f"{name} must be a floating-point tensor, got dtype {latent.dtype}")
            if latent.dim() < 2 or latent.shape[0] != batch_size:
                raise ValueError(
                    f"{name} must have shape (batch={batch_size}, ...) with at least 2 dims, got {tuple(latent.shape)}"
                )
        if latent1.shape != latent2.shape:
            raise ValueError(
                f"latent1 and latent2 must have the same shape (two views of the same samples), "
                f"got {tuple(latent1.shape)} and {tuple(latent2.shape)}"
            )

    # ------------------------------------------------------------------------------------------------ terms
    def terms(self, logits1, logits2, latent1, latent2, labels1, labels2) -> dict[str, torch.Tensor]:
        """The per-sample terms `ce` (ℓ_CE), `dac` (ℓ_DAC, dac_coef included) and `dice`, shape `(batch,)` each."""
        _check_segmentation(logits1, labels1, logits_name="logits1", labels_name="labels1")
        _check_segmentation(logits2, labels2, logits_name="logits2", labels_name="labels2")
        if logits1.shape != logits2.shape:
            raise ValueError(
                f"logits1 and logits2 must have the same shape (two views), got {tuple(logits1.shape)} and "
                f"{tuple(logits2.shape)}"
            )
        self._check_latents(latent1, latent2, logits1.shape[0])
        ce = 0.5 * (pixel_cross_entropy(logits1, labels1) + pixel_cross_entropy(logits2, labels2))
        dice = 0.5 * (
            soft_dice_loss(logits1, labels1, self.dice_mode) + soft_dice_loss(logits2, labels2, self.dice_mode)
        )
        dac = self.dac_coef * latent_consistency(latent1, latent2).to(ce.dtype)
        return {"ce": ce, "dac": dac, "dice": dice}

    def forward(
        self,
        logits1: torch.Tensor,
        logits2: torch.Tensor,
        latent1: torch.Tensor,
        latent2: torch.Tensor,
        labels1: torch.Tensor,
        labels2: torch.Tensor,
        sample_idx: torch.Tensor | None = None,
    ) -> torch.Tensor:
        terms = self.terms(logits1, logits2, latent1, latent2, labels1, labels2)
        idx = self._check_index(sample_idx, logits1.shape[0])
        beta = mirror_ascent_step(
            self.beta[idx], terms["ce"].to(self.beta.device), terms["dac"].to(self.beta.device), self.lr_w
        )
        if self.training:
            self.beta[idx] = beta.to(self.beta.dtype)
        else:
            beta = self.beta[idx]  # evaluation reads the stored weights
        beta = beta.to(device=terms["ce"].device, dtype=terms["ce"].dtype)
        weighted = beta[:, 0] * terms["ce"] + beta[:, 1] * terms["dac"]
        loss = self.dice_ratio * terms["dice"] + (1.0 - self.dice_ratio) * weighted
        return reduce_loss(loss, self.reduction)

    def supervised_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """`λ_dice · Dice + (1 − λ_dice) · CE` on one view (the ERM objective); needs no index, leaves β alone."""
        return dice_ce_loss(logits, labels, self.dice_ratio, self.dice_mode, self.reduction)

    @torch.no_grad()
    def sync(self, sample_idx: torch.Tensor, gather) -> None:
        """Makes the β buffer identical across data-parallel processes after a step.

        `gather` concatenates a tensor over processes (e.g. `accelerator.gather`); every process then writes the
        gathered `(index, β)` rows into its buffer. Each process passes the `sample_idx` of its own batch.
        """
        idx = sample_idx.long().to(self.beta.device)
        all_idx = gather(idx)
        all_beta = gather(self.beta[idx])
        self.beta[all_idx.to(self.beta.device)] = all_beta.to(self.beta)

    def extra_repr(self) -> str:
        return (
            f"num_samples={self.num_samples}, lr_w={self.lr_w}, dac_coef={self.dac_coef}, "
            f"dice_ratio={self.dice_ratio}, dice_mode={self.dice_mode!r}"
        )


__all__ = [
    "AdaWACLoss",
    "dice_ce_loss",
    "latent_consistency",
    "mirror_ascent_step",
    "pixel_cross_entropy",
    "soft_dice_loss",
]
