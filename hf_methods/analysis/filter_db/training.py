"""Tiny transformers ResNets trained on offline images, with the filter metrics tracked: the training code shared by
`recipes/filter_db.py`, the claim check and the tests of P30 `filter_db`.

- [`load_image_data`]: scikit-learn digits (8×8, resized to `image_size`) or a seeded subset of Fashion-MNIST (28×28),
  one channel in [0, 1];
- [`tiny_resnet_config`]: a `ResNetConfig` of "basic" blocks (two 3×3 convolutions each) with `hidden_sizes =
  (width, 2·width, …)`; its 7×7 stem and 1×1 shortcuts are not 3×3 and are skipped by the metrics;
- [`train_filter_classifier`]: trains a `ResNetForImageClassification` with `transformers.Trainer` and a
  [`FilterQualityCallback`], and returns the test accuracy and the metrics at initialisation and after training.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

import torch

from hf_methods.common.checks import check_number, check_positive_int
from hf_methods.harness.recipe import RecipeArguments

from .callback import FilterQualityCallback
from .quality import ConvQuality

DATASETS = ("digits", "fashion_mnist")


@dataclass
class ImageData:
    """Train and test images `(N, 1, H, W)` in [0, 1] with integer labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_image_data(
    dataset: str = "digits",
    *,
    seed: int = 0,
    num_train: int | None = None,
    num_test: int | None = None,
    image_size: int = 28,
    test_size: float = 0.2,
) -> ImageData:
    """Offline images for the tiny CNNs.

    Args:
        dataset (`str`): `"digits"` (scikit-learn's 1797 8×8 digits, split stratified by `test_size` and `seed`, then
            resized bilinearly to `image_size`) or `"fashion_mnist"` (its train/test splits, 28×28).
        seed (`int`): the split (digits) or subset (Fashion-MNIST) seed.
        num_train, num_test (`int`, *optional*): keep a seeded random subset of this size of each split.
        image_size (`int`): side of the digits after resizing (Fashion-MNIST stays 28×28).
        test_size (`float`): the digits' test fraction.
    """
    from hf_methods.common.data import load_digits, load_fashion_mnist

    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    image_size = check_positive_int("image_size", image_size)
    if dataset == "digits":
        train, test = load_digits(test_size=test_size, seed=seed, flatten=False)
    else:
        train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    generator = torch.Generator().manual_seed(seed)
    splits = []
    for split, size, name in ((train, num_train, "num_train"), (test, num_test, "num_test")):
        x, y = torch.from_numpy(split.x).float(), torch.from_numpy(split.y).long()
        if size is not None:
            size = check_positive_int(name, size)
            if size > len(y):
                raise ValueError(f"{name} must be <= {len(y)} (the {dataset} split's size), got {size}")
            keep = torch.randperm(len(y), generator=generator)[:size]
            x, y = x[keep], y[keep]
        if dataset == "digits" and x.shape[-1] != image_size:
            x = torch.nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
        splits.append((x.contiguous(), y))
    (x_train, y_train), (x_test, y_test) = splits
    return ImageData(x_train, y_train, x_test, y_test)


def tiny_resnet_config(width: int = 16, depths: tuple[int, ...] = (1, 1), num_labels: int = 10, num_channels: int = 1):
    """A `transformers.ResNetConfig` with basic blocks, stem of `width` channels and stages of width · 2^i channels."""
    from transformers import ResNetConfig

    width = check_positive_int("width", width)
    depths = [check_positive_int("depths", d) for d in depths]
    if not depths:
        raise ValueError("depths must name at least one stage")
    return ResNetConfig(
        num_channels=num_channels,
        embedding_size=width,
        hidden_sizes=[width * 2**i for i in range(len(depths))],
        depths=depths,
        layer_type="basic",
        num_labels=num_labels,
    )


@dataclass
class FilterTrainingResult:
    """What [`train_filter_classifier`] returns: the model, its accuracy and the metrics over training."""

    model: torch.nn.Module
    accuracy: float
    initial: ConvQuality
    final: ConvQuality
    history: list[tuple[int, ConvQuality]] = field(default_factory=list)


def train_filter_classifier(
    data: ImageData,
    *,
    width: int = 16,
    depths: tuple[int, ...] = (1, 1),
    seed: int = 0,
    epochs: float = 1.0,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
    weight_decay: float = 0.01,
    track_every: int = 25,
    max_steps: int = -1,
) -> FilterTrainingResult:
    """Trains a tiny `ResNetForImageClassification` with `transformers.Trainer` (AdamW, linear decay) and a
    [`FilterQualityCallback`] measuring the 3×3 filters every `track_every` steps.

    The initialisation is drawn from `torch.manual_seed(seed)` and the batch order from the Trainer's seed, so a seed
    fixes the whole run. `max_steps > 0` overrides `epochs`.
    """
    from transformers import ResNetForImageClassification, Trainer, TrainingArguments

    from hf_methods.common.batches import TensorDictDataset, collate_batch
    from hf_methods.common.evaluation import accuracy

    epochs = check_number("epochs", epochs, low=0, low_open=True)
    learning_rate = check_number("learning_rate", learning_rate, low=0, low_open=True)
    weight_decay = check_number("weight_decay", weight_decay, low=0)
    batch_size = check_positive_int("batch_size", batch_size)
    callback = FilterQualityCallback(every_n_steps=track_every)
    torch.manual_seed(seed)
    model = ResNetForImageClassification(tiny_resnet_config(width, tuple(depths), num_labels=10))
    with tempfile.TemporaryDirectory() as folder:
        args = TrainingArguments(
            output_dir=folder,
            per_device_train_batch_size=batch_size,
            num_train_epochs=epochs,
            max_steps=max_steps,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            lr_scheduler_type="linear",
            seed=seed,
            data_seed=seed,
            save_strategy="no",
            report_to=[],
            logging_strategy="no",
            disable_tqdm=True,
            remove_unused_columns=False,
            use_cpu=True,
            dataloader_num_workers=0,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=TensorDictDataset(pixel_values=data.x_train, labels=data.y_train),
            data_collator=collate_batch,
            callbacks=[callback],
        )
        trainer.train()
    model = trainer.model
    return FilterTrainingResult(
        model=model,
        accuracy=accuracy(model, data.x_test, data.y_test),
        initial=callback.history[0][1],
        final=callback.history[-1][1],
        history=list(callback.history),
    )


# ------------------------------------------------------------------------------------------------------- recipe


@dataclass
class FilterDBArguments(RecipeArguments):
    """Flags of `recipes/filter_db.py`: a tiny ResNet trained on offline images, its 3×3 filters measured."""

    dataset: str = field(default="digits", metadata={"help": "'digits' (scikit-learn, resized) or 'fashion_mnist'."})
    num_train: int = field(default=0, metadata={"help": "Training images to keep (0: the whole split)."})
    num_test: int = field(default=0, metadata={"help": "Test images to keep (0: the whole split)."})
    image_size: int = field(default=28, metadata={"help": "Side of the digits after resizing."})
    width: int = field(default=16, metadata={"help": "Channels of the stem and first stage (stage i: width·2^i)."})
    depths: str = field(default="1,1", metadata={"help": "Basic blocks per stage, comma-separated (e.g. '2,2')."})
    batch_size: int = field(default=128, metadata={"help": "Training batch size."})
    learning_rate: float = field(default=2e-3, metadata={"help": "AdamW learning rate (linear decay to 0)."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW decoupled weight decay."})
    track_every: int = field(default=25, metadata={"help": "Measure the 3×3 filter metrics every N steps."})
    sparsity_eps: float = field(default=0.01, metadata={"help": "Sparsity threshold relative to a layer's peak."})

    def depth_list(self) -> tuple[int, ...]:
        try:
            depths = tuple(int(d) for d in self.depths.split(",") if d.strip())
        except ValueError:
            raise ValueError(f"--depths must be comma-separated integers, got {self.depths!r}") from None
        if not depths or any(d < 1 for d in depths):
            raise ValueError(f"--depths must be positive integers, got {self.depths!r}")
        return depths

    def validate(self) -> None:
        super().validate()
        if self.dataset not in DATASETS:
            raise ValueError(f"--dataset must be one of {DATASETS}, got {self.dataset!r}")
        for name in ("num_train", "num_test"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        for name in ("image_size", "width", "batch_size", "track_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 < self.sparsity_eps <= 1:
            raise ValueError(f"--sparsity_eps must be in (0, 1], got {self.sparsity_eps}")
        self.depth_list()
