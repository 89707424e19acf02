"""Training pieces shared by `recipes/hpm.py`, the claim check and the tests: HPM and MAE pre-training on 8×8 digits.

- [`HPMArguments`]: the arguments of `recipes/hpm.py`;
- [`tiny_hpm_config`]: the tiny ViT-MAE + loss predictor of the recipe and the claim (16 patches of 2×2 pixels);
- [`digits_images`]: scikit-learn's digits as `(N, 1, 8, 8)` images in [0, 1] with their labels;
- [`pretrain_on_digits`]: the plain-torch pre-training loop (HPM with an EMA teacher, or MAE with random masks);
- [`linear_probe_accuracy`], [`loss_prediction_spearman`], [`hard_mask_difficulty_ratio`]: the evaluations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import get_cosine_schedule_with_warmup

from hf_methods.harness.recipe import RecipeArguments

from .configuration_hpm import HPMConfig
from .modeling_hpm import HPMForPreTraining, easy_to_hard_ratio, hard_patch_mask, mask_to_noise
from .trainer import ema_update, teacher_momentum

METHODS = ("hpm", "mae")


def tiny_hpm_config(**overrides) -> HPMConfig:
    """A ViT-MAE for 8×8 grey images: 2×2 patches (16), encoder 64 × 4 layers, decoders 64 × 2 layers, mask 0.75."""
    kwargs = dict(
        image_size=8,
        patch_size=2,
        num_channels=1,
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=256,
        decoder_hidden_size=64,
        decoder_num_hidden_layers=2,
        decoder_num_attention_heads=4,
        decoder_intermediate_size=256,
        mask_ratio=0.75,
        norm_pix_loss=False,
    )
    kwargs.update(overrides)
    return HPMConfig(**kwargs)


@dataclass
class HPMArguments(RecipeArguments):
    max_steps: int = field(default=690, metadata={"help": "Optimisation steps (690 = 30 epochs of 23 batches)."})
    checkpoint_every: int = field(default=230, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=23, metadata={"help": "Log training metrics every N steps."})
    method: str = field(default="hpm", metadata={"help": "'hpm' (hard patches mining) or 'mae' (random masks)."})
    mask_ratio: float = field(default=0.75, metadata={"help": "Share of the 16 patches masked."})
    max_hard_ratio: float = field(default=0.5, metadata={"help": "α at the last epoch (easy-to-hard schedule)."})
    ranking_loss_weight: float = field(default=1.0, metadata={"help": "Weight of the loss predictor's ranking loss."})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW peak learning rate (cosine decay)."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay."})
    warmup_fraction: float = field(default=0.1, metadata={"help": "Share of the steps with linear warm-up."})
    batch_size: int = field(default=64, metadata={"help": "Batch size per process."})
    teacher_momentum_start: float = field(default=0.99, metadata={"help": "EMA teacher momentum at the start."})
    teacher_momentum_end: float = field(default=0.995, metadata={"help": "EMA teacher momentum after the ramp."})
    momentum_ramp_fraction: float = field(default=0.125, metadata={"help": "Share of the steps the momentum ramps."})
    hidden_size: int = field(default=64, metadata={"help": "Encoder width."})
    num_hidden_layers: int = field(default=4, metadata={"help": "Encoder depth."})
    decoder_num_hidden_layers: int = field(default=2, metadata={"help": "Depth of the reconstructor and predictor."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out for the linear probe."})

    def validate(self) -> None:
        super().validate()
        if self.method not in METHODS:
            raise ValueError(f"--method must be one of {METHODS}, got {self.method!r}")
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"--mask_ratio must be in [0, 1), got {self.mask_ratio}")
        if not 0.0 <= self.max_hard_ratio <= 1.0:
            raise ValueError(f"--max_hard_ratio must be in [0, 1], got {self.max_hard_ratio}")
        for name in ("learning_rate", "batch_size", "hidden_size", "num_hidden_layers", "decoder_num_hidden_layers"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0 or self.ranking_loss_weight < 0:
            raise ValueError("--weight_decay and --ranking_loss_weight must be >= 0")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"--warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        for name in ("teacher_momentum_start", "teacher_momentum_end"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"--{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.momentum_ramp_fraction <= 1.0:
            raise ValueError(f"--momentum_ramp_fraction must be in [0, 1], got {self.momentum_ramp_fraction}")
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")
        if self.hidden_size % 4:
            raise ValueError(f"--hidden_size must be divisible by the 4 attention heads, got {self.hidden_size}")

    def build_config(self) -> HPMConfig:
        """The model configuration of this run (`ranking_loss_weight` 0 for `--method mae`)."""
        return tiny_hpm_config(
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            intermediate_size=4 * self.hidden_size,
            decoder_num_hidden_layers=self.decoder_num_hidden_layers,
            mask_ratio=self.mask_ratio,
            max_hard_ratio=self.max_hard_ratio,
            ranking_loss_weight=self.ranking_loss_weight if self.method == "hpm" else 0.0,
        )


def digits_images(seed: int = 0, test_size: float = 0.2):
    """Digits as float `(N, 1, 8, 8)` images in [0, 1]: `(x_train, y_train, x_test, y_test)` tensors."""
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=test_size, seed=seed, flatten=False)
    x, y = train.tensors()
    x_test, y_test = test.tensors()
    return x, y, x_test, y_test


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with MAE's β = (0.9, 0.95)."""
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)


def training_step(
    model: HPMForPreTraining,
    teacher: HPMForPreTraining | None,
    pixel_values: torch.Tensor,
    *,
    epoch: int,
    total_epochs: int,
    generator: torch.Generator | None = None,
):
    """One forward pass: with a `teacher`, its ŝ on the unmasked batch picks the α_t-hardest masked patches."""
    if teacher is None:
        return model(pixel_values=pixel_values, generator=generator)
    with torch.no_grad():
        predicted = teacher.predict_patch_losses(pixel_values)
    hard_ratio = easy_to_hard_ratio(epoch, total_epochs, teacher.config.max_hard_ratio)  # `model` may be wrapped
    return model(pixel_values=pixel_values, predicted_losses=predicted, hard_ratio=hard_ratio, generator=generator)


@torch.no_grad()
def random_mask_reconstruction_loss(model: HPMForPreTraining, x: torch.Tensor, *, seed: int = 0) -> float:
    """Mean reconstruction loss of the masked patches under random masks (seeded), in eval mode."""
    was_training = model.training
    model.eval()
    loss = model(pixel_values=x, generator=torch.Generator().manual_seed(seed)).reconstruction_loss.item()
    model.train(was_training)
    return loss


def pretrain_on_digits(
    method: str,
    seed: int,
    *,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    warmup_fraction: float = 0.1,
    momentum_start: float = 0.99,
    momentum_end: float = 0.995,
    momentum_ramp_fraction: float = 0.125,
    test_size: float = 0.2,
    config_overrides: dict | None = None,
):
    """Pre-trains HPM (`method="hpm"`, EMA-teacher masks) or MAE (`"mae"`, random masks) in plain torch.

    The initial weights, the batch order and the random parts of the masks depend on `seed` only, so HPM and MAE
    of a seed start from the same network and see the same batches. MAE uses the same model with ranking weight 0
    (its loss predictor gets no gradient and does not touch the encoder). Returns `(model, teacher_or_None, curve)`
    with `curve` the held-out reconstruction loss under random masks after every epoch.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x, _, x_test, _ = digits_images(seed, test_size)
    overrides = dict(config_overrides or {})
    if method == "mae":
        overrides["ranking_loss_weight"] = 0.0
    torch.manual_seed(seed)
    model = HPMForPreTraining(tiny_hpm_config(**overrides))
    teacher = None
    if method == "hpm":
        teacher = HPMForPreTraining(model.config)
        teacher.load_state_dict(model.state_dict())
        teacher.eval().requires_grad_(False)
    optimizer = make_optimizer(model, lr, weight_decay)
    steps_per_epoch = math.ceil(len(x) / batch_size)
    total = epochs * steps_per_epoch
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(warmup_fraction * total), total)
    order = torch.Generator().manual_seed(seed)
    masks = torch.Generator().manual_seed(10_000 + seed)
    curve, step = [], 0
    model.train()
    for epoch in range(epochs):
        for idx in torch.randperm(len(x), generator=order).split(batch_size):
            out = training_step(model, teacher, x[idx], epoch=epoch, total_epochs=epochs, generator=masks)
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if teacher is not None:
                m = teacher_momentum(step / total, momentum_start, momentum_end, momentum_ramp_fraction)
                ema_update(teacher, model, m)
        curve.append(random_mask_reconstruction_loss(model, x_test, seed=seed))
    model.eval()
    return model, teacher, curve


@torch.no_grad()
def encoder_features(model: HPMForPreTraining, x: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Mean-pooled patch tokens of the encoder with every patch visible (MAE's global-pool features)."""
    model.eval()
    parts = [model.encode_all_patches(chunk)[:, 1:].mean(1) for chunk in x.split(batch_size)]
    return torch.cat(parts).numpy()


def linear_probe_accuracy(model, x_train, y_train, x_test, y_test, *, seed: int = 0) -> float:
    """Test accuracy of a logistic regression on the frozen, standardised encoder features (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    probe.fit(encoder_features(model, x_train), y_train.numpy())
    return float(probe.score(encoder_features(model, x_test), y_test.numpy()))


@torch.no_grad()
def loss_prediction_spearman(model: HPMForPreTraining, x: torch.Tensor, *, seed: int = 0) -> float:
    """Mean over images of Spearman's ρ between ŝ (predicted on the unmasked image) and the actual ℓ.

    ℓ is the reconstruction loss of each masked patch under a random mask (seeded); ρ is taken over the masked
    patches of each image (the ranking the predictor is trained for) and averaged over the images whose ρ is defined.
    """
    from scipy.stats import spearmanr

    model.eval()
    predicted = model.predict_patch_losses(x)
    out = model(pixel_values=x, generator=torch.Generator().manual_seed(seed))
    rhos = []
    for scores, losses, mask in zip(predicted, out.patch_losses, out.mask.bool()):
        rho = spearmanr(scores[mask].numpy(), losses[mask].numpy()).statistic
        if np.isfinite(rho):
            rhos.append(float(rho))
    return float(np.mean(rhos))


@torch.no_grad()
def hard_mask_difficulty_ratio(
    model: HPMForPreTraining, x: torch.Tensor, *, hard_ratio: float = 0.5, seed: int = 0
) -> tuple[float, float]:
    """Reconstruction loss of the masked patches under HPM masks (α = `hard_ratio`) and under random masks.

    Both masks have the same number of patches; the HPM mask takes its hard part from ŝ predicted on the unmasked
    images. Returns `(hpm_mask_loss, random_mask_loss)`.
    """
    model.eval()
    g = torch.Generator().manual_seed(seed)
    predicted = model.predict_patch_losses(x)
    mask = hard_patch_mask(predicted, model.config.mask_ratio, hard_ratio, generator=g)
    hard = model(pixel_values=x, noise=mask_to_noise(mask, generator=g)).reconstruction_loss.item()
    random = model(pixel_values=x, generator=g).reconstruction_loss.item()
    return hard, random
