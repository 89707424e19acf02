"""Training pieces shared by `recipes/adawac.py`, the claim check and the tests.

- [`AdaWACArguments`]: the arguments of `recipes/adawac.py` (every knob a flag, validated);
- [`tiny_unet`], [`make_optimizer`]: the tiny UNet and the official optimiser (SGD, momentum 0.9, weight decay 1e-4);
- [`adawac_step_loss`] / [`erm_step_loss`]: one batch's loss for AdaWAC (two views) and for ERM (one view, the
  official `--loss base`);
- [`foreground_dice`]: the test metric, per image Dice of the predicted foreground against the true mask;
- [`train_segmentation`]: the plain-torch loop of the claim check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

from .data import PhotometricAugmentation, ShapesSegmentation
from .loss import AdaWACLoss, dice_ce_loss

METHODS = ("adawac", "erm")


@dataclass
class AdaWACArguments(RecipeArguments):
    max_steps: int = field(default=450, metadata={"help": "Optimisation steps (450 = 30 epochs of 15 batches)."})
    checkpoint_every: int = field(default=150, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=20, metadata={"help": "Log training metrics every N steps."})
    method: str = field(default="adawac", metadata={"help": "'adawac' (two views, β per sample) or 'erm' (one view)."})
    num_train: int = field(default=480, metadata={"help": "Training images (synthetic 16×16 discs and squares)."})
    num_test: int = field(default=500, metadata={"help": "Test images (fully labelled, no label-sparse ones)."})
    sparse_fraction: float = field(default=0.5, metadata={"help": "Fraction of training masks zeroed (label-sparse)."})
    sparse_cue: bool = field(
        default=True, metadata={"help": "Label-sparse images form their own subpopulation (striped background)."}
    )
    lr_w: float = field(default=8.0, metadata={"help": "Mirror step η of the β update (official scripts: 8)."})
    dac_coef: float = field(default=2.0, metadata={"help": "Weight of the latent consistency term (--dac-encoder)."})
    dice_ratio: float = field(default=0.5, metadata={"help": "λ_dice: weight of the (unweighted) Dice term."})
    learning_rate: float = field(default=0.01, metadata={"help": "SGD learning rate (constant; official 0.01)."})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum."})
    weight_decay: float = field(default=1e-4, metadata={"help": "SGD weight decay."})
    batch_size: int = field(default=32, metadata={"help": "Batch size per process."})
    base_channels: int = field(default=8, metadata={"help": "Channels of the UNet's first block (doubled per level)."})
    depth: int = field(default=2, metadata={"help": "Downsamplings of the UNet (the latent is at 16/2^depth)."})
    aug_scale: float = field(default=0.2, metadata={"help": "Intensity scale jitter a ∈ [1 − s, 1 + s]."})
    aug_shift: float = field(default=0.1, metadata={"help": "Intensity shift jitter b ∈ [−s, s]."})
    aug_noise: float = field(default=0.1, metadata={"help": "Std of the Gaussian noise added to each view."})

    def validate(self) -> None:
        super().validate()
        if self.method not in METHODS:
            raise ValueError(f"--method must be one of {METHODS}, got {self.method!r}")
        for name in ("num_train", "num_test", "batch_size", "base_channels", "depth", "learning_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.sparse_fraction <= 1.0:
            raise ValueError(f"--sparse_fraction must be in [0, 1], got {self.sparse_fraction}")
        if not 0.0 <= self.dice_ratio <= 1.0:
            raise ValueError(f"--dice_ratio must be in [0, 1], got {self.dice_ratio}")
        for name in ("lr_w", "dac_coef", "momentum", "weight_decay", "aug_shift", "aug_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.aug_scale < 1.0:
            raise ValueError(f"--aug_scale must be in [0, 1), got {self.aug_scale}")
        if 16 % 2**self.depth:
            raise ValueError(f"--depth must leave 16×16 images divisible by 2^depth, got {self.depth}")

    def augmentation(self) -> PhotometricAugmentation:
        return PhotometricAugmentation(scale=self.aug_scale, shift=self.aug_shift, noise_std=self.aug_noise)

    def build_loss(self, num_samples: int) -> AdaWACLoss:
        return AdaWACLoss(num_samples, lr_w=self.lr_w, dac_coef=self.dac_coef, dice_ratio=self.dice_ratio)


def tiny_unet(base_channels: int = 8, depth: int = 2, seed: int | None = None):
    """The tiny UNet of the recipe and the claim (1 input channel, 2 classes); seeded when `seed` is given."""
    from .modeling_unet import TinyUNetConfig, TinyUNetForSegmentation

    if seed is not None:
        torch.manual_seed(seed)
    return TinyUNetForSegmentation(
        TinyUNetConfig(in_channels=1, num_labels=2, base_channels=base_channels, depth=depth)
    )


def make_optimizer(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 1e-4):
    """SGD with momentum and weight decay, as in the official `train_dac.py`."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def adawac_step_loss(model: nn.Module, loss_fn: AdaWACLoss, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """AdaWAC's loss on a batch with `pixel_values`, `pixel_values_2`, `labels`, `sample_idx` (updates β)."""
    out1 = model(pixel_values=batch["pixel_values"], return_latent=True)
    out2 = model(pixel_values=batch["pixel_values_2"], return_latent=True)
    labels = batch["labels"]
    return loss_fn(out1.logits, out2.logits, out1.latent, out2.latent, labels, labels, batch["sample_idx"])


def erm_step_loss(model: nn.Module, batch: dict[str, torch.Tensor], dice_ratio: float) -> torch.Tensor:
    """The official ERM baseline (`--loss base`): `λ_dice·Dice + (1−λ_dice)·CE` on the first augmented view."""
    return dice_ce_loss(model(pixel_values=batch["pixel_values"]).logits, batch["labels"], dice_ratio)


@torch.no_grad()
def foreground_dice(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, batch_size: int = 500) -> float:
    """Mean over images of the Dice `2|P∩T| / (|P| + |T|)` of the predicted foreground P (argmax ≠ 0) against the true
    mask T; an image where both are empty counts 1 (the official `calculate_metric_percase` convention)."""
    was_training = model.training
    model.eval()
    scores = []
    for start in range(0, len(masks), batch_size):
        pred = model(pixel_values=images[start : start + batch_size]).logits.argmax(dim=1) > 0
        true = masks[start : start + batch_size] > 0
        inter = (pred & true).flatten(1).sum(1).float()
        total = (pred.flatten(1).sum(1) + true.flatten(1).sum(1)).float()
        scores.append(torch.where(total > 0, 2 * inter / total.clamp_min(1), torch.ones_like(total)))
    model.train(was_training)
    return torch.cat(scores).mean().item()


def train_segmentation(
    train: ShapesSegmentation,
    test: ShapesSegmentation,
    method: str,
    *,
    seed: int,
    epochs: int,
    lr: float,
    batch_size: int = 32,
    lr_w: float = 8.0,
    dac_coef: float = 2.0,
    dice_ratio: float = 0.5,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    base_channels: int = 8,
    depth: int = 2,
    augmentation: PhotometricAugmentation | None = None,
) -> dict:
    """Trains the tiny UNet with AdaWAC or ERM in plain torch (no Accelerator: fast) and returns its metrics.

    The initial weights, the batch order and the augmentation draws depend on `seed` only, so both methods of a seed
    start from the same network and see the same batches (ERM uses the first of the two views AdaWAC sees). Returns
    the test foreground Dice after each epoch (`curve`) and at the end, and for AdaWAC the final β buffer
    (`beta_sup`, one value per training sample).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    augmentation = augmentation or PhotometricAugmentation()
    n = len(train)
    model = tiny_unet(base_channels, depth, seed=seed)
    loss_fn = AdaWACLoss(n, lr_w=lr_w, dac_coef=dac_coef, dice_ratio=dice_ratio)
    optimizer = make_optimizer(model, lr, momentum, weight_decay)
    order = torch.Generator().manual_seed(seed)
    views = torch.Generator().manual_seed(10_000 + seed)
    curve = []
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=order).split(batch_size):
            clean = train.images[idx]
            batch = {
                "pixel_values": augmentation(clean, views),
                "pixel_values_2": augmentation(clean, views),
                "labels": train.masks[idx],
                "sample_idx": idx,
            }
            loss = (
                adawac_step_loss(model, loss_fn, batch)
                if method == "adawac"
                else erm_step_loss(model, batch, dice_ratio)
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        curve.append(foreground_dice(model, test.images, test.true_masks))
    result = {"test_dice": curve[-1], "curve": curve}
    if method == "adawac":
        result["beta_sup"] = loss_fn.beta[:, 0].tolist()
        result["max_simplex_violation"] = max(
            (loss_fn.beta.double().sum(dim=1) - 1).abs().max().item(), (-loss_fn.beta).clamp_min(0).max().item()
        )
    return result


__all__ = [
    "AdaWACArguments",
    "METHODS",
    "adawac_step_loss",
    "erm_step_loss",
    "foreground_dice",
    "make_optimizer",
    "tiny_unet",
    "train_segmentation",
]
