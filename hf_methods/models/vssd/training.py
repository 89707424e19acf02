"""Training pieces of VSSD shared by `recipes/vssd.py`, `benchmarks/claims/vssd.py` and the tests.

- [`VSSDArguments`]: the recipe's arguments; `args.vssd_config()` builds the `VSSDConfig` in one call;
- [`digits_images`]: scikit-learn's 8×8 digits as `(N, 1, 8, 8)` images in [0, 1], split stratified;
- [`digits_image_processor`]: the `ViTImageProcessor` that turns 8×8 grayscale images (uint8) into those tensors, saved
  next to a checkpoint so that `pipeline("image-classification")` works on it;
- [`train_vssd_on_digits`]: a seeded AdamW run (cosine schedule with warm-up) returning test accuracy per epoch;
- [`accuracy`]: top-1 accuracy of a classifier on tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hf_methods.common.data import load_digits
from hf_methods.harness.recipe import RecipeArguments

from .configuration_vssd import VSSD_MIXERS, VSSD_SSD_MODES, VSSDConfig
from .modeling_vssd import VSSDForImageClassification

DIGIT_LABELS = {i: str(i) for i in range(10)}


def digits_images(test_size: float = 0.2, seed: int = 0, channels: int = 1):
    """`(x_train, y_train, x_test, y_test)`: 8×8 digits as float32 `(N, channels, 8, 8)` images in [0, 1] (the grey
    value repeated over `channels`, 1 or 3) and int64 labels."""
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 (grey) or 3 (grey repeated as RGB), got {channels!r}")
    train, test = load_digits(test_size=test_size, seed=seed, flatten=False)
    x, y, x_test, y_test = (*train.tensors(), *test.tensors())
    return x.repeat(1, channels, 1, 1), y, x_test.repeat(1, channels, 1, 1), y_test


def digits_image_processor():
    """A `ViTImageProcessor` for 8×8 digits: resize to 8×8, rescale uint8 by 1/255, no normalisation.

    The digits data are pixel/16 in [0, 1]; an image given as uint8 `round(255 · x)` comes back as x to within 1/510.
    `pipeline("image-classification")` opens every image as RGB, so a model served by it is trained on 3 channels
    (`digits_images(channels=3)`, the recipe's default).
    """
    from transformers import ViTImageProcessor

    return ViTImageProcessor(
        do_resize=True,
        size={"height": 8, "width": 8},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=False,
        image_mean=[0.0],
        image_std=[1.0],
    )


def _int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--{flag} must be comma-separated integers, e.g. '1,1', got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"--{flag} must list positive integers, got {text!r}")
    return values


@dataclass
class VSSDArguments(RecipeArguments):
    """Arguments of `recipes/vssd.py`: a tiny VSSD trained on 8×8 digits with AdamW."""

    max_steps: int = field(default=460, metadata={"help": "Optimisation steps (23 steps per epoch at batch 64)."})
    embed_dim: int = field(default=32, metadata={"help": "Width of the first stage (doubles per stage)."})
    depths: str = field(default="1,1", metadata={"help": "Blocks per stage, comma-separated."})
    num_heads: str = field(default="2,4", metadata={"help": "Heads per stage, comma-separated."})
    mixer_types: str = field(
        default="ssd,attention",
        metadata={"help": f"Token mixer per stage, comma-separated, each one of {VSSD_MIXERS} (the paper's hybrid)."},
    )
    ssd_mode: str = field(default="non_causal", metadata={"help": f"SSD mixer, one of {VSSD_SSD_MODES}."})
    ssd_state_size: int = field(default=16, metadata={"help": "State size N of the SSD mixers."})
    num_channels: int = field(
        default=3,
        metadata={
            "help": "Input channels: 3 (the grey digit repeated as RGB, what `pipeline('image-classification')` feeds "
            "the saved model) or 1 (grey)."
        },
    )
    patch_size: int = field(default=1, metadata={"help": "Stem downsampling: 1 for 8×8 digits (2 or 4 for larger)."})
    drop_path_rate: float = field(default=0.1, metadata={"help": "Stochastic depth (linear over blocks up to this)."})
    learning_rate: float = field(default=2e-3, metadata={"help": "AdamW peak learning rate."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.05, metadata={"help": "Fraction of steps of linear warm-up."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "A `transformers.get_scheduler` name."})
    batch_size: int = field(default=64, metadata={"help": "Training batch size."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of the digits held out (stratified)."})

    def validate(self) -> None:
        super().validate()
        self.stage_lists()  # raises naming --depths / --num_heads / --mixer_types
        if self.ssd_mode not in VSSD_SSD_MODES:
            raise ValueError(f"--ssd_mode must be one of {VSSD_SSD_MODES}, got {self.ssd_mode!r}")
        for name in ("embed_dim", "ssd_state_size", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.num_channels not in (1, 3):
            raise ValueError(f"--num_channels must be 1 or 3, got {self.num_channels}")
        if self.patch_size not in (1, 2, 4):
            raise ValueError(f"--patch_size must be 1, 2 or 4, got {self.patch_size}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight_decay must be >= 0, got {self.weight_decay}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"--warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise ValueError(f"--drop_path_rate must be in [0, 1), got {self.drop_path_rate}")
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"--test_size must be in (0, 1), got {self.test_size}")
        from transformers.trainer_utils import SchedulerType

        if self.lr_scheduler_type not in {s.value for s in SchedulerType}:
            raise ValueError(f"--lr_scheduler_type {self.lr_scheduler_type!r} is not a transformers scheduler name")
        self.vssd_config()  # the architecture itself must be valid (heads dividing widths, image size, ...)

    def stage_lists(self) -> tuple[list[int], list[int], list[str]]:
        depths = _int_list(self.depths, "depths")
        heads = _int_list(self.num_heads, "num_heads")
        mixers = [m.strip() for m in str(self.mixer_types).split(",") if m.strip()]
        if len(heads) != len(depths):
            raise ValueError(f"--num_heads must give one value per stage of --depths ({len(depths)}), got {heads}")
        if len(mixers) != len(depths) or any(m not in VSSD_MIXERS for m in mixers):
            raise ValueError(
                f"--mixer_types must give one of {VSSD_MIXERS} per stage of --depths ({len(depths)}), got {mixers}"
            )
        return depths, heads, mixers

    def vssd_config(self) -> VSSDConfig:
        depths, heads, mixers = self.stage_lists()
        try:
            return digits_vssd_config(
                embed_dim=self.embed_dim,
                depths=depths,
                num_heads=heads,
                mixer_types=mixers,
                ssd_mode=self.ssd_mode,
                ssd_state_size=self.ssd_state_size,
                patch_size=self.patch_size,
                num_channels=self.num_channels,
                drop_path_rate=self.drop_path_rate,
            )
        except ValueError as err:
            raise ValueError(f"the architecture flags do not make a valid VSSDConfig: {err}") from err


def digits_vssd_config(**overrides) -> VSSDConfig:
    """A tiny VSSD for 8×8 grayscale digits (patch 1, two stages 8×8 → 4×4, width 32 → 64), overridable."""
    kwargs = dict(
        image_size=8,
        patch_size=1,
        num_channels=1,
        embed_dim=32,
        depths=[1, 1],
        num_heads=[2, 4],
        ssd_state_size=16,
        drop_path_rate=0.1,
        num_labels=10,
        id2label=DIGIT_LABELS,
        label2id={v: k for k, v in DIGIT_LABELS.items()},
    )
    kwargs.update(overrides)
    return VSSDConfig(**kwargs)


@torch.no_grad()
def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy of `model(pixel_values=...)` on `(x, y)`; eval mode inside, the mode restored after."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(y), batch_size):
        logits = model(pixel_values=x[start : start + batch_size]).logits
        correct += (logits.argmax(-1) == y[start : start + batch_size].to(logits.device)).sum().item()
    model.train(was_training)
    return correct / max(len(y), 1)


def make_optimizer_and_scheduler(model, *, learning_rate, weight_decay, total_steps, warmup_ratio, scheduler="cosine"):
    """AdamW without decay on biases, norms and the SSD's dt_bias / A_log / D (as the official `_no_weight_decay`),
    and a `transformers.get_scheduler` schedule with linear warm-up."""
    from transformers import get_scheduler

    no_decay = ("bias", "A_log", "D", "norm")
    decay, rest = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        leaf = name.rsplit(".", 1)[-1]
        (rest if param.dim() <= 1 or leaf in no_decay or leaf.endswith("bias") else decay).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=learning_rate
    )
    schedule = get_scheduler(
        scheduler, optimizer, num_warmup_steps=int(warmup_ratio * total_steps), num_training_steps=total_steps
    )
    return optimizer, schedule


def train_vssd_on_digits(
    config: VSSDConfig,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    weight_decay: float = 0.05,
    warmup_ratio: float = 0.05,
    test_size: float = 0.2,
    eval_every: int = 1,
) -> dict:
    """Trains `VSSDForImageClassification(config)` on 8×8 digits from seed `seed` (init and batch order).

    Returns `{"accuracy": final test accuracy, "curve": [(epoch, test accuracy), ...], "train_accuracy", "params"}`.
    """
    torch.manual_seed(seed)
    x, y, x_test, y_test = digits_images(test_size=test_size, seed=0)  # one split for every seed: seeds vary the model
    model = VSSDForImageClassification(config)
    steps_per_epoch = -(-len(y) // batch_size)
    optimizer, schedule = make_optimizer_and_scheduler(
        model,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        total_steps=epochs * steps_per_epoch,
        warmup_ratio=warmup_ratio,
    )
    generator = torch.Generator().manual_seed(seed)
    curve = []
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            loss = model(pixel_values=x[idx], labels=y[idx]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if (epoch + 1) % eval_every == 0 or epoch + 1 == epochs:
            curve.append((epoch + 1, accuracy(model, x_test, y_test)))
    return {
        "accuracy": curve[-1][1],
        "curve": curve,
        "train_accuracy": accuracy(model, x, y),
        "params": sum(p.numel() for p in model.parameters()),
    }


__all__ = [
    "DIGIT_LABELS",
    "VSSDArguments",
    "accuracy",
    "digits_image_processor",
    "digits_images",
    "digits_vssd_config",
    "make_optimizer_and_scheduler",
    "train_vssd_on_digits",
]
