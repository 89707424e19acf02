"""Blindspot unlearning and Gaussian-amnesiac fine-tuning end to end (Tarun et al., ICML 2023).

- [`train_blindspot_model`]: the proxy ("blindspot") model: a fresh model trained briefly (2 epochs, Adam, lr 0.01,
  L1) on the retain data only, as the official notebooks do (their `fit_one_cycle` is Adam at a constant lr);
- [`blindspot_unlearn`]: the proxy, then [`BlindspotUnlearningTrainer`] on a copy of the model (1 epoch, Adam,
  lr 1e-3, β = 50) over the forget and retain examples together; returns the unlearned copy;
- [`gaussian_amnesiac_relabel`] and [`gaussian_amnesiac_unlearn`]: the paper's second method, forget labels replaced
  by draws from N(mean(y), std(y)) of the whole training set, then 1 epoch of fine-tuning (Adam, lr 1e-3, L1) on the
  relabelled training set.

Every function leaves the given model untouched and returns a new one. Splits are `(inputs, targets)` tensor pairs,
as in `hf_methods.common.unlearning`.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.adversarial import logits_of
from hf_methods.common.unlearning import _check_split

Split = tuple[torch.Tensor, torch.Tensor]

__all__ = [
    "BlindspotDataset",
    "blindspot_unlearn",
    "gaussian_amnesiac_relabel",
    "gaussian_amnesiac_unlearn",
    "train_blindspot_model",
    "train_l1_regressor",
]


def _check_positive(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    for name in ("epochs", "batch_size"):
        if name in values and not isinstance(values[name], int):
            raise ValueError(f"{name} must be an int, got {values[name]!r}")


class BlindspotDataset(torch.utils.data.Dataset):
    """Items `{input_name: x_i, "labels": y_i, "forget": u_i}` (u_i = 1 for a forget example).

    Args:
        inputs (`torch.Tensor`): `(n, ...)` model inputs.
        labels (`torch.Tensor`): `(n,)` or `(n, outputs)` float targets.
        forget (`torch.Tensor`): `(n,)` bool or 0/1 flags.
        input_name (`str`, defaults to `"pixel_values"`): the model's input keyword.
    """

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, forget: torch.Tensor, input_name="pixel_values"):
        if not (len(inputs) == len(labels) == len(forget)) or len(inputs) == 0:
            raise ValueError(
                f"inputs, labels and forget must have one non-zero length, got {len(inputs)}, {len(labels)}, "
                f"{len(forget)}"
            )
        self.inputs, self.labels, self.forget = inputs, labels.float(), forget.long()
        self.input_name = input_name

    @classmethod
    def from_splits(cls, forget: Split, retain: Split, input_name: str = "pixel_values") -> BlindspotDataset:
        """The forget examples (flag 1) followed by the retain examples (flag 0)."""
        (x_f, y_f), (x_r, y_r) = _check_split(forget, "forget"), _check_split(retain, "retain")
        flags = torch.cat([torch.ones(len(x_f), dtype=torch.long), torch.zeros(len(x_r), dtype=torch.long)])
        return cls(torch.cat([x_f, x_r]), torch.cat([y_f, y_r]), flags, input_name)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {self.input_name: self.inputs[i], "labels": self.labels[i], "forget": self.forget[i]}


def train_l1_regressor(
    model: nn.Module, split: Split, *, epochs: int, lr: float, batch_size: int = 64, seed: int = 0
) -> nn.Module:
    """Adam at a constant `lr` on the L1 loss |f(x) − y| over `split`, in place (the official `fit_one_cycle`)."""
    x, y = _check_split(split, "split")
    _check_positive(epochs=epochs, lr=lr, batch_size=batch_size)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=generator).split(batch_size):
            predictions = logits_of(model(x[idx]))
            loss = F.l1_loss(predictions.reshape(y[idx].shape), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def train_blindspot_model(
    model_init: Callable[[], nn.Module],
    retain: Split,
    *,
    epochs: int = 2,
    lr: float = 0.01,
    batch_size: int = 64,
    seed: int = 0,
) -> nn.Module:
    """The blindspot proxy g: `model_init()` (seeded by `seed`) trained `epochs` epochs on the retain data only.

    The proxy is meant to be only partly trained: it has never seen the forget data, so on it g behaves as a model
    with a "blind spot" there, which the unlearned model then imitates.
    """
    if not callable(model_init) or isinstance(model_init, nn.Module):
        raise TypeError(
            "model_init must be a callable returning a fresh model (e.g. a class or a lambda), not a model"
        )
    torch.manual_seed(seed)
    return train_l1_regressor(model_init(), retain, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)


def blindspot_unlearn(
    model: nn.Module,
    forget: Split,
    retain: Split,
    *,
    model_init: Callable[[], nn.Module] | None = None,
    blindspot_model: nn.Module | None = None,
    proxy_epochs: int = 2,
    proxy_lr: float = 0.01,
    epochs: int = 1,
    lr: float = 1e-3,
    at_beta: float = 50.0,
    batch_size: int = 64,
    seed: int = 0,
    activation_layers: Sequence[int] | Sequence[str] | None = None,
    output_dir: str | None = None,
    **training_kwargs,
) -> nn.Module:
    """Blindspot unlearning of `forget` from `model`: returns the unlearned copy, `model` itself is not modified.

    Args:
        model (`nn.Module`): the trained model (called as `model(**{main_input_name: x})`, returning predictions).
        forget, retain (`(inputs, targets)`): the forget set D_f and the retain set D_r (float targets).
        model_init (`callable`): a fresh model of the same architecture, for the proxy (unless `blindspot_model`).
        blindspot_model (`nn.Module`): an already trained proxy (then `model_init`, `proxy_*` are not used).
        proxy_epochs, proxy_lr: the proxy's training on D_r (official: 2 epochs of Adam at 0.01).
        epochs, lr: the unlearning run (official: 1 epoch of Adam at 1e-3, constant, no clipping).
        at_beta (`float`): β of the attention-transfer term (official: 50).
        batch_size, seed: the batches (forget and retain examples shuffled together) and the seeds.
        activation_layers: see [`BlindspotUnlearningTrainer`].
        output_dir (`str`): the Trainer's folder (default: a temporary folder; nothing is saved).
        **training_kwargs: more `transformers.TrainingArguments`.
    """
    from transformers import TrainingArguments

    from .trainer import BlindspotUnlearningTrainer

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    forget, retain = _check_split(forget, "forget"), _check_split(retain, "retain")
    _check_positive(epochs=epochs, lr=lr, batch_size=batch_size)
    if blindspot_model is None:
        if model_init is None:
            raise ValueError("blindspot_unlearn needs model_init (a fresh model for the proxy) or a blindspot_model")
        _check_positive(proxy_epochs=proxy_epochs, proxy_lr=proxy_lr)
        blindspot_model = train_blindspot_model(
            model_init, retain, epochs=proxy_epochs, lr=proxy_lr, batch_size=batch_size, seed=seed
        )
    dataset = BlindspotDataset.from_splits(forget, retain, getattr(model, "main_input_name", "pixel_values"))
    unlearned = copy.deepcopy(model)
    with tempfile.TemporaryDirectory(prefix="blindspot-") as tmp:
        defaults = dict(
            output_dir=output_dir or tmp,
            num_train_epochs=epochs,
            per_device_train_batch_size=batch_size,
            learning_rate=lr,
            lr_scheduler_type="constant",
            optim="adamw_torch",
            weight_decay=0.0,  # AdamW without decay is the official Adam
            max_grad_norm=0.0,  # the official loop does not clip
            warmup_steps=0,
            seed=seed,
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
            dataloader_pin_memory=False,
        )
        args = TrainingArguments(**{**defaults, **training_kwargs})
        trainer = BlindspotUnlearningTrainer(
            model=unlearned,
            blindspot_model=blindspot_model,
            args=args,
            train_dataset=dataset,
            at_beta=at_beta,
            activation_layers=activation_layers,
        )
        trainer.train()
    return trainer.model.eval()


def gaussian_amnesiac_relabel(
    labels: torch.Tensor,
    forget_mask: torch.Tensor,
    *,
    mean: float | None = None,
    std: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A copy of `labels` whose forget entries are replaced by draws from N(mean, std²).

    By default `mean` and `std` are those of all of `labels` (the whole training set, forget examples included, with
    the sample standard deviation), as in the official notebook. `labels` is not modified.

    Args:
        labels (`torch.Tensor`): `(n,)` or `(n, outputs)` float regression targets of the training set.
        forget_mask (`torch.Tensor`): `(n,)` bool or 0/1 flags, 1 for a forget example.
        mean, std (`float`): the Gaussian's parameters (default: the statistics of `labels`).
        generator (`torch.Generator`): for reproducible draws.
    """
    if not isinstance(labels, torch.Tensor) or not labels.is_floating_point():
        raise TypeError("labels must be a floating-point tensor of regression targets")
    if not isinstance(forget_mask, torch.Tensor) or forget_mask.shape != labels.shape[:1] or labels.dim() == 0:
        shape = tuple(forget_mask.shape) if isinstance(forget_mask, torch.Tensor) else type(forget_mask).__name__
        raise ValueError(f"forget_mask must have shape ({len(labels) if labels.dim() else 0},), got {shape}")
    if forget_mask.dtype != torch.bool:
        if not ((forget_mask == 0) | (forget_mask == 1)).all():
            raise ValueError("forget_mask must hold booleans or 0/1 flags (1 = forget example)")
        forget_mask = forget_mask != 0
    mean = labels.mean(0) if mean is None else torch.as_tensor(mean, dtype=labels.dtype)
    if std is None:
        if len(labels) < 2:
            raise ValueError("std cannot be estimated from fewer than 2 labels: pass std")
        std = labels.std(0)
    elif not std >= 0:
        raise ValueError(f"std must be >= 0, got {std!r}")
    std = torch.as_tensor(std, dtype=labels.dtype)
    noise = torch.randn(labels.shape, generator=generator, dtype=labels.dtype)
    relabelled = labels.clone()
    relabelled[forget_mask] = (mean + std * noise)[forget_mask]
    return relabelled


def gaussian_amnesiac_unlearn(
    model: nn.Module,
    forget: Split,
    retain: Split,
    *,
    epochs: int = 1,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> nn.Module:
    """Gaussian-amnesiac fine-tuning: a copy of `model` fine-tuned (Adam, L1) on D_r ∪ D_f with D_f's labels drawn
    from N(mean(y), std(y)) of the whole training set; `model` is not modified."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    (x_f, y_f), (x_r, y_r) = _check_split(forget, "forget"), _check_split(retain, "retain")
    x, y = torch.cat([x_f, x_r]), torch.cat([y_f, y_r]).float()
    mask = torch.cat([torch.ones(len(x_f), dtype=torch.bool), torch.zeros(len(x_r), dtype=torch.bool)])
    relabelled = gaussian_amnesiac_relabel(y, mask, generator=torch.Generator().manual_seed(seed))
    unlearned = copy.deepcopy(model)
    return train_l1_regressor(unlearned, (x, relabelled), epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
