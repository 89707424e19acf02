"""Training pieces shared by `recipes/terminator.py`, `benchmarks/claims/terminator.py` and the tests.

- [`TerminatorArguments`]: the recipe's arguments; `args.terminator_config()` builds the `TerminatorConfig`;
- [`image_data`]: digits (8×8) or Fashion-MNIST (28×28) as `(batch, 1, H, W)` tensors in [0, 1];
- [`PlainCNN`] and [`matched_plain_cnn`]: the same-size plain convolutional baseline;
- [`train_classifier`] / [`accuracy`]: AdamW with a warmup-cosine schedule (the official code uses its own Kar3
  optimiser) and test accuracy;
- [`terminator_image_processor`]: the `ViTImageProcessor` saved next to a checkpoint for
  `pipeline("image-classification")`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import ImageClassifierOutput

from hf_methods.harness.recipe import RecipeArguments

from .configuration_terminator import TERMINATOR_ACTIVATIONS, TerminatorConfig

DATASETS = ("digits", "fashion_mnist")
SCHEDULERS = ("cosine", "linear", "constant_with_warmup")


@dataclass
class TerminatorArguments(RecipeArguments):
    max_steps: int = field(default=450, metadata={"help": "Number of optimisation steps (~20 digits epochs)."})
    dataset: str = field(default="digits", metadata={"help": f"Training data, one of {DATASETS}."})
    n_train: int = field(
        default=0, metadata={"help": "Use only the first N training images (0: all; Fashion-MNIST has 60,000)."}
    )
    n_test: int = field(default=0, metadata={"help": "Evaluate on the first N test images only (0: all)."})
    channels: str = field(
        default="1,8,16", metadata={"help": "Comma-separated channels: the input channels, then each block's output."}
    )
    magnet_hidden: int = field(default=48, metadata={"help": "Hidden width of the global slow networks."})
    local_magnet_hidden: int = field(default=16, metadata={"help": "Hidden width of the local slow networks."})
    magnet_layers: int = field(default=2, metadata={"help": "Layers of every slow network."})
    omega_0: float = field(default=1.0, metadata={"help": "MAGNet base frequency ω₀."})
    hidden_act: str = field(default="gelu", metadata={"help": f"Block nonlinearity, one of {TERMINATOR_ACTIVATIONS}."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout2d after each block."})
    slow_loss_weight: float = field(default=1.0, metadata={"help": "Weight λ of the slow neural loss."})
    label_smoothing: float = field(default=0.0, metadata={"help": "Label smoothing (the official runs use 0.09)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate."})
    weight_decay: float = field(default=5e-5, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.05, metadata={"help": "Fraction of the steps with a linear warmup."})
    lr_scheduler: str = field(default="cosine", metadata={"help": f"Schedule, one of {SCHEDULERS}."})
    batch_size: int = field(default=64, metadata={"help": "Batch size."})

    def validate(self) -> None:
        super().validate()
        if self.dataset not in DATASETS:
            raise ValueError(f"--dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.lr_scheduler not in SCHEDULERS:
            raise ValueError(f"--lr_scheduler must be one of {SCHEDULERS}, got {self.lr_scheduler!r}")
        for name in ("batch_size", "magnet_hidden", "local_magnet_hidden", "magnet_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name in ("n_train", "n_test"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0 (0: all), got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight_decay must be >= 0, got {self.weight_decay}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"--warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        self.channel_list()  # raises on a malformed --channels
        self.terminator_config()  # the config's own checks, with their messages

    def channel_list(self) -> list[int]:
        try:
            channels = [int(c) for c in self.channels.split(",")]
        except ValueError:
            raise ValueError(f"--channels must be comma-separated integers such as 1,8,16, got {self.channels!r}")
        if channels[0] != 1:
            raise ValueError(f"--channels must start with 1 (the grey-scale input channel), got {self.channels!r}")
        return channels

    @property
    def image_size(self) -> int:
        return 8 if self.dataset == "digits" else 28

    def terminator_config(self, **overrides) -> TerminatorConfig:
        """The `TerminatorConfig` of this run (class names 0–9 as labels)."""
        kwargs = dict(
            image_size=self.image_size,
            channels=self.channel_list(),
            magnet_hidden=self.magnet_hidden,
            local_magnet_hidden=self.local_magnet_hidden,
            magnet_layers=self.magnet_layers,
            omega_0=self.omega_0,
            hidden_act=self.hidden_act,
            dropout=self.dropout,
            slow_loss_weight=self.slow_loss_weight,
            label_smoothing=self.label_smoothing,
            num_labels=10,
        )
        kwargs.update(overrides)
        return TerminatorConfig(**kwargs)


def image_data(dataset: str = "digits", *, seed: int = 0, n_train: int = 0, n_test: int = 0):
    """`(x_train, y_train, x_test, y_test)`: images `(n, 1, H, W)` float32 in [0, 1] and int64 labels.

    `"digits"`: scikit-learn's 8×8 digits (pixels / 16), a stratified 80/20 split drawn from `seed`.
    `"fashion_mnist"`: the 28×28 Fashion-MNIST train/test sets (pixels / 255), an offline asset.
    `n_train` / `n_test` keep only the first images of each split (0: all).
    """
    if dataset == "digits":
        from hf_methods.common.data import load_digits

        train, test = load_digits(seed=seed, flatten=False)
    elif dataset == "fashion_mnist":
        from hf_methods.common.data import load_fashion_mnist

        train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    else:
        raise ValueError(f"`dataset` must be one of {DATASETS}, got {dataset!r}")
    tensors = []
    for split in (train, test):
        x = torch.as_tensor(split.x, dtype=torch.float32)
        if x.max() > 1.0:  # byte images
            x = x / 255.0
        tensors += [x.reshape(len(x), 1, x.shape[-2], x.shape[-1]), torch.as_tensor(split.y, dtype=torch.long)]
    if n_train:
        tensors[0], tensors[1] = tensors[0][:n_train], tensors[1][:n_train]
    if n_test:
        tensors[2], tensors[3] = tensors[2][:n_test], tensors[3][:n_test]
    return tuple(tensors)


class PlainCNN(nn.Module):
    """A plain convolutional baseline: three 3×3 convolutions (widths w, 2w, 2w) with BatchNorm and GELU, a global
    average pool and a linear layer. No residual connection, no hyper-kernel. Returns `ImageClassifierOutput`s."""

    def __init__(self, width: int, num_channels: int = 1, num_labels: int = 10):
        super().__init__()
        widths = [num_channels, width, 2 * width, 2 * width]
        layers = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.GELU()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(widths[-1], num_labels)

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None) -> ImageClassifierOutput:
        logits = self.classifier(self.features(pixel_values).mean(dim=(2, 3)))
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return ImageClassifierOutput(loss=loss, logits=logits)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def plain_cnn_parameters(width: int, num_channels: int = 1, num_labels: int = 10) -> int:
    """Parameter count of `PlainCNN(width, num_channels, num_labels)` in closed form (convolutions with bias,
    BatchNorm weight and bias, the linear head)."""
    widths = [num_channels, width, 2 * width, 2 * width]
    convs = sum(9 * c_in * c_out + c_out + 2 * c_out for c_in, c_out in zip(widths[:-1], widths[1:]))
    return convs + widths[-1] * num_labels + num_labels


def matched_plain_cnn(target_parameters: int, num_channels: int = 1, num_labels: int = 10) -> PlainCNN:
    """The [`PlainCNN`] whose parameter count is closest to `target_parameters`."""
    if isinstance(target_parameters, bool) or target_parameters < 1:
        raise ValueError(f"`target_parameters` must be a positive integer, got {target_parameters!r}")
    best = min(
        range(1, 1024), key=lambda w: abs(plain_cnn_parameters(w, num_channels, num_labels) - target_parameters)
    )
    return PlainCNN(best, num_channels, num_labels)


def make_optimizer(model: nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)


def make_scheduler(optimizer, name: str, max_steps: int, warmup_ratio: float):
    from transformers import get_scheduler

    return get_scheduler(
        name, optimizer, num_warmup_steps=math.ceil(warmup_ratio * max_steps), num_training_steps=max_steps
    )


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    max_steps: int,
    learning_rate: float = 1e-3,
    weight_decay: float = 5e-5,
    batch_size: int = 64,
    warmup_ratio: float = 0.05,
    lr_scheduler: str = "cosine",
    seed: int = 0,
    log_every: int = 0,
) -> list[dict[str, float]]:
    """Trains `model` (called as `model(pixel_values=, labels=)`, returning `.loss`) with AdamW for `max_steps`
    steps of reshuffled epochs drawn from `seed`. Returns the log: every `log_every` steps (and at the last step)
    the step, the mean training loss since the last entry and, for a Terminator, its mean slow loss."""
    if max_steps < 1:
        raise ValueError(f"`max_steps` must be >= 1, got {max_steps}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(model, learning_rate, weight_decay)
    scheduler = make_scheduler(optimizer, lr_scheduler, max_steps, warmup_ratio)
    model.train()
    log, losses, slow_losses, order, position = [], [], [], torch.empty(0, dtype=torch.long), 0
    for step in range(1, max_steps + 1):
        if position + batch_size > len(order):
            order, position = torch.randperm(len(x), generator=generator), 0
        index = order[position : position + batch_size]
        position += batch_size
        out = model(pixel_values=x[index], labels=y[index])
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(out.loss.item())
        slow = getattr(out, "slow_loss", None)
        if slow is not None:
            slow_losses.append(slow.item())
        if (log_every and step % log_every == 0) or step == max_steps:
            entry = {"step": step, "loss": sum(losses) / len(losses)}
            if slow_losses:
                entry["slow_loss"] = sum(slow_losses) / len(slow_losses)
            log.append(entry)
            losses, slow_losses = [], []
    model.eval()
    return log


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy of `model` (eval mode) on `(x, y)`."""
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model(pixel_values=x[start : start + batch_size]).logits
        correct += (logits.argmax(-1) == y[start : start + batch_size]).sum().item()
    return correct / len(x)


def terminator_image_processor(config: TerminatorConfig):
    """A `ViTImageProcessor` for grey-scale images of `config.image_size` pixels: resize, pixels / 255, no mean/std
    normalisation (the models are trained on pixels in [0, 1]). Save it next to the model for the pipeline."""
    import warnings

    from transformers import ViTImageProcessor

    with warnings.catch_warnings():  # without torchvision transformers falls back to its PIL backend and says so
        warnings.simplefilter("ignore")
        return ViTImageProcessor(
            do_resize=True,
            size={"height": config.image_size, "width": config.image_size},
            do_rescale=True,
            rescale_factor=1 / 255,
            do_normalize=False,
        )
