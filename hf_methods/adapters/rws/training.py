"""The digits experiment of robust weight signatures, shared by the recipe, the claim and the tests.

A small CNN (two 3×3 conv layers, then a linear classifier) is pretrained on clean scikit-learn digits (θ_pre), then
fine-tuned from θ_pre on clean images (θ_std) and on corrupted images (θ_c, a fresh corruption drawn every batch).
The signature of the conv layers is extracted from (θ_std, θ_c, θ_pre) and patched into clean models.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.data import load_digits
from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeArguments

from .corruptions import CORRUPTIONS, apply_image_corruption
from .signature import RobustWeightSignature

IMAGE_SHAPE = (1, 8, 8)


class DigitsCNN(nn.Module):
    """conv 3×3 (1→c1) → ReLU → conv 3×3 (c1→c2) → ReLU → 2×2 max-pool → linear classifier, for 8×8 digits.

    `forward(pixel_values)` takes `(N, 64)` or `(N, 1, 8, 8)` images in [0, 1] and returns logits `(N, num_labels)`.
    """

    def __init__(self, channels: tuple[int, int] = (16, 32), num_labels: int = 10):
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.classifier = nn.Linear(c2 * 4 * 4, num_labels)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = pixel_values.reshape(-1, *IMAGE_SHAPE)
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return self.classifier(F.max_pool2d(x, 2).flatten(1))


def corrupt_digits(x: torch.Tensor, corruption: str | None, severity: float, generator=None) -> torch.Tensor:
    """Corrupts flat `(N, 64)` digits as 8×8 images; `corruption=None` returns `x`."""
    if corruption is None:
        return x
    images = apply_image_corruption(x.reshape(-1, *IMAGE_SHAPE), corruption, severity, generator=generator)
    return images.reshape(x.shape)


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    learning_rate: float,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    batch_size: int = 32,
    corruption: str | None = None,
    severity: float = 0.0,
    seed: int = 0,
) -> nn.Module:
    """Trains `model` in place with cross-entropy; each batch is corrupted afresh when `corruption` is set."""
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got epochs={epochs!r}, batch_size={batch_size!r}")
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum)
    elif optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=g)
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            inputs = corrupt_digits(x[idx], corruption, severity, generator=g)
            opt.zero_grad()
            F.cross_entropy(model(inputs), y[idx]).backward()
            opt.step()
    model.eval()
    return model


def relative_change(a: nn.Module, b: nn.Module, reference: nn.Module) -> dict[str, float]:
    """‖θ_a[l] − θ_b[l]‖ / ‖θ_ref[l]‖ for every weight tensor l (biases left out)."""
    pa, pb, pr = dict(a.named_parameters()), dict(b.named_parameters()), dict(reference.named_parameters())
    return {
        name: float((pa[name] - pb[name]).detach().norm() / pr[name].detach().norm())
        for name in pa
        if name.endswith("weight")
    }


def signature_size(signature: RobustWeightSignature) -> dict[str, float]:
    """Bits per signature value measured from the saved safetensors file, and the ratio to a float32 copy."""
    with tempfile.TemporaryDirectory() as folder:
        signature.save_pretrained(folder)
        size = (Path(folder) / "rws_signature.safetensors").stat().st_size
    bits = 8.0 * size / signature.num_values
    return {"bits_per_value": bits, "compression_vs_float32": 32.0 / bits, "file_bytes": float(size)}


def _subset(split, classes):
    x, y = torch.as_tensor(split.x), torch.as_tensor(split.y).long()
    keep = torch.isin(y, torch.as_tensor(classes))
    return x[keep], y[keep]


def run_rws_experiment(
    *,
    seed: int = 0,
    corruption: str = "gaussian_noise",
    severity: float = 0.5,
    channels: tuple[int, int] = (16, 32),
    pretrain_epochs: int = 10,
    pretrain_learning_rate: float = 1e-3,
    finetune_epochs: int = 5,
    finetune_learning_rate: float = 0.01,
    momentum: float = 0.9,
    batch_size: int = 32,
    n_shallow_layers: int = 2,
    scales: tuple[float, ...] = (0.0, 0.5, 1.0),
    bits: tuple[int, ...] = (8, 4),
    transfer_source_classes: tuple[int, ...] = (0, 1, 2, 3, 4),
    transfer_target_classes: tuple[int, ...] = (5, 6, 7, 8, 9),
) -> dict:
    """Pretrain → clean and corrupted fine-tunes → extract the RWS → patch; returns every measured number.

    Noisy test accuracies use one fixed corrupted copy of the test split per seed (the same for every model).
    """
    train, test = load_digits(test_size=0.2, seed=0)
    x, y = torch.as_tensor(train.x), torch.as_tensor(train.y).long()
    x_test, y_test = torch.as_tensor(test.x), torch.as_tensor(test.y).long()
    x_test_c = corrupt_digits(x_test, corruption, severity, generator=torch.Generator().manual_seed(10_000 + seed))
    tune = dict(
        epochs=finetune_epochs, learning_rate=finetune_learning_rate, optimizer="sgd", momentum=momentum,
        batch_size=batch_size,
    )  # fmt: skip

    torch.manual_seed(seed)
    pretrained = train_classifier(
        DigitsCNN(channels), x, y, epochs=pretrain_epochs, learning_rate=pretrain_learning_rate, optimizer="adam",
        batch_size=batch_size, seed=seed,
    )  # fmt: skip
    clean = train_classifier(copy.deepcopy(pretrained), x, y, seed=seed + 1, **tune)
    robust = train_classifier(
        copy.deepcopy(pretrained), x, y, corruption=corruption, severity=severity, seed=seed + 2, **tune
    )
    out = {
        "pretrained": {
            "clean": accuracy(pretrained, x_test, y_test),
            "corrupted": accuracy(pretrained, x_test_c, y_test),
        },
        "clean_model": {"clean": accuracy(clean, x_test, y_test), "corrupted": accuracy(clean, x_test_c, y_test)},
        "robust_model": {"clean": accuracy(robust, x_test, y_test), "corrupted": accuracy(robust, x_test_c, y_test)},
        "relative_change": relative_change(robust, clean, clean),
    }

    rws = RobustWeightSignature.extract(clean, robust, pretrained, n_shallow_layers, corruption=corruption)
    out["patched_tensors"] = rws.parameter_names
    out["cosine_with_clean_update"] = rws.inner_products(
        {n: p - dict(pretrained.named_parameters())[n] for n, p in clean.named_parameters()}
    )
    patched = copy.deepcopy(clean)
    originals = {n: p.detach().clone() for n, p in patched.named_parameters()}
    out["scales"] = {}
    for scale in scales:
        rws.apply(patched, scale=scale)
        out["scales"][str(scale)] = {
            "clean": accuracy(patched, x_test, y_test),
            "corrupted": accuracy(patched, x_test_c, y_test),
        }
        rws.remove(patched)
    out["remove_max_abs_error"] = max(
        float((p.detach() - originals[n]).abs().max()) for n, p in patched.named_parameters()
    )
    out["float32"] = signature_size(rws)
    out["quantized"] = {}
    for b in bits:
        q = rws.quantize(b)
        q.apply(patched, scale=1.0)
        out["quantized"][str(b)] = {
            "clean": accuracy(patched, x_test, y_test),
            "corrupted": accuracy(patched, x_test_c, y_test),
            **signature_size(q),
        }
        q.remove(patched)
    shallow = sum(p.numel() for n, p in clean.named_parameters() if n in rws.parameter_names)
    out["fraction_of_model_patched"] = shallow / sum(p.numel() for p in clean.parameters())

    # transfer: the signature of a (source-classes) pair patched into a clean model of the target classes
    xs, ys = _subset(train, transfer_source_classes)
    xt, yt = _subset(train, transfer_target_classes)
    xt_test, yt_test = _subset(test, transfer_target_classes)
    keep = torch.isin(y_test, torch.as_tensor(transfer_target_classes))
    xt_test_c = x_test_c[keep]
    clean_s = train_classifier(copy.deepcopy(pretrained), xs, ys, seed=seed + 3, **tune)
    robust_s = train_classifier(
        copy.deepcopy(pretrained), xs, ys, corruption=corruption, severity=severity, seed=seed + 4, **tune
    )
    clean_t = train_classifier(copy.deepcopy(pretrained), xt, yt, seed=seed + 5, **tune)
    rws_s = RobustWeightSignature.extract(clean_s, robust_s, pretrained, n_shallow_layers, corruption=corruption)
    transfer = {
        "clean_target": {
            "clean": accuracy(clean_t, xt_test, yt_test),
            "corrupted": accuracy(clean_t, xt_test_c, yt_test),
        }
    }
    rws_s.apply(clean_t, scale=1.0)
    transfer["patched_target"] = {
        "clean": accuracy(clean_t, xt_test, yt_test),
        "corrupted": accuracy(clean_t, xt_test_c, yt_test),
    }
    out["transfer"] = transfer
    return out


# ------------------------------------------------------------------------------------------------------------ recipe


@dataclass
class RWSArguments(RecipeArguments):
    """Flags of `recipes/rws.py`: the robust fine-tune of a digits CNN, then its robust weight signature."""

    max_steps: int = field(default=225, metadata={"help": "Steps of the corrupted fine-tune (225 = 5 epochs)."})
    checkpoint_every: int = field(default=75, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=25, metadata={"help": "Log training metrics every N steps."})
    corruption: str = field(default="gaussian_noise", metadata={"help": f"One of {sorted(CORRUPTIONS)}."})
    severity: float = field(
        default=0.5, metadata={"help": "Noise σ, blur σ (pixels) or contrast factor, on [0, 1] images."}
    )
    n_shallow_layers: int = field(default=2, metadata={"help": "Layers (from the input) the signature covers."})
    bits: int = field(default=8, metadata={"help": "Bits per saved signature value (1-8), 0 = float32."})
    scale: float = field(default=1.0, metadata={"help": "Default α stored with the signature."})
    project: bool = field(default=True, metadata={"help": "Project out the clean fine-tuning direction."})
    pretrain_epochs: int = field(default=10, metadata={"help": "Adam epochs of the clean pretraining (θ_pre)."})
    pretrain_learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate of the pretraining."})
    clean_epochs: int = field(default=5, metadata={"help": "SGD epochs of the clean fine-tune (θ_std)."})
    learning_rate: float = field(default=0.01, metadata={"help": "SGD learning rate of both fine-tunes."})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum of both fine-tunes."})
    batch_size: int = field(default=32, metadata={"help": "Batch size."})
    channels: str = field(default="16,32", metadata={"help": "Channels of the two conv layers, 'c1,c2'."})

    def validate(self) -> None:
        super().validate()
        if self.corruption not in CORRUPTIONS:
            raise ValueError(f"--corruption must be one of {sorted(CORRUPTIONS)}, got {self.corruption!r}")
        if self.severity < 0:
            raise ValueError(f"--severity must be >= 0, got {self.severity!r}")
        if not 0 <= self.bits <= 8:
            raise ValueError(f"--bits must be 0 (float32) or in [1, 8], got {self.bits!r}")
        for name in ("n_shallow_layers", "pretrain_epochs", "clean_epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("pretrain_learning_rate", "learning_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"--momentum must be in [0, 1), got {self.momentum!r}")
        self.channel_sizes()

    def channel_sizes(self) -> tuple[int, int]:
        try:
            sizes = tuple(int(c) for c in self.channels.split(","))
        except ValueError:
            sizes = ()
        if len(sizes) != 2 or min(sizes) < 1:
            raise ValueError(f"--channels must be two positive integers 'c1,c2', got {self.channels!r}")
        return sizes
