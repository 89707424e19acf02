"""Training pieces shared by `recipes/tanglenas.py`, the claim check and the tests: searching the entangled CNN on digits.

- [`TangleNASArguments`]: the arguments of `recipes/tanglenas.py`;
- [`digits_split`]: scikit-learn's 8×8 digits as a fitting part (weights), a validation part (architecture steps and
  SPOS's selection) and a test part;
- [`gradient_search`]: TangleNAS search (DARTS / DrNAS / GDAS rule over superimposed weights, first-order bi-level
  alternation) in a plain torch loop, sharing [`architecture_step`] with [`TangleNASTrainer`];
- [`spos_search`]: the single-path one-shot baseline at the same budget (uniform single-path supernet training, then
  every architecture of the space scored on the validation part with inherited weights);
- [`train_architecture`]: training one architecture from scratch (the retraining of the derived architectures);
- [`mixing_deviation`], [`saved_activation_bytes`]: the exact identities of weight superposition and its memory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.evaluation import accuracy
from hf_methods.harness.recipe import RecipeArguments

from .entangled import EntangledConv2d, EntangledLinear
from .loss import TangleNASSearchLoss
from .modeling import TangleNASConvConfig, TangleNASConvNet
from .trainer import GRADIENT_MODES, architecture_step

__all__ = [
    "DigitsSplit",
    "TangleNASArguments",
    "digits_split",
    "gradient_search",
    "mixing_deviation",
    "saved_activation_bytes",
    "spos_search",
    "train_architecture",
]


@dataclass
class TangleNASArguments(RecipeArguments):
    max_steps: int = field(default=360, metadata={"help": "Search steps (one β step and one weight step each)."})
    checkpoint_every: int = field(default=120, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=20, metadata={"help": "Log training metrics every N steps."})
    optimizer: str = field(default="darts", metadata={"help": f"How α is made from β: one of {GRADIENT_MODES}."})
    arch_lr: float = field(default=3e-3, metadata={"help": "Adam learning rate of the architecture parameters β."})
    arch_weight_decay: float = field(default=1e-3, metadata={"help": "Adam weight decay of β."})
    learning_rate: float = field(default=3e-3, metadata={"help": "AdamW learning rate of the supernet's weights."})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay of the weights."})
    gdas_tau: float = field(default=1.0, metadata={"help": "Gumbel-softmax temperature of --optimizer gdas."})
    batch_size: int = field(default=64, metadata={"help": "Batch size (weights and architecture)."})
    kernel_sizes: str = field(default="1,3,5", metadata={"help": "Odd kernel-size candidates of every conv layer."})
    channels: str = field(default="4,8,16", metadata={"help": "Width candidates of every conv layer."})
    hidden_sizes: str = field(default="16,32,64", metadata={"help": "Width candidates of the hidden linear layer."})
    num_conv_layers: int = field(default=2, metadata={"help": "Number of searched convolution layers."})
    finetune_steps: int = field(
        default=180, metadata={"help": "Steps fine-tuning the extracted subnet (inherited weights); 0 skips it."}
    )

    def validate(self) -> None:
        super().validate()
        if self.optimizer not in GRADIENT_MODES:
            raise ValueError(f"--optimizer must be one of {GRADIENT_MODES}, got {self.optimizer!r}")
        for name in ("arch_lr", "learning_rate", "gdas_tau", "batch_size", "num_conv_layers"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("arch_weight_decay", "weight_decay", "finetune_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        self.build_config()  # names the bad candidate list

    def build_config(self) -> TangleNASConvConfig:
        """The search space of these arguments (raises `ValueError` naming a bad flag)."""
        lists = {}
        for name in ("kernel_sizes", "channels", "hidden_sizes"):
            try:
                lists[name] = [int(v) for v in getattr(self, name).split(",")]
            except ValueError:
                raise ValueError(f"--{name} must be comma-separated ints, got {getattr(self, name)!r}") from None
        try:
            return TangleNASConvConfig(
                kernel_size_choices=[lists["kernel_sizes"]] * self.num_conv_layers,
                channel_choices=[lists["channels"]] * self.num_conv_layers,
                hidden_choices=lists["hidden_sizes"],
                search_mode=self.optimizer,
                gdas_tau=self.gdas_tau,
            )
        except ValueError as error:
            raise ValueError(f"--kernel_sizes / --channels / --hidden_sizes: {error}") from None


@dataclass
class DigitsSplit:
    """Digits as (batch, 1, 8, 8) images: `x`/`y` to fit weights, `x_val`/`y_val` for architecture decisions, test."""

    x: torch.Tensor
    y: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def digits_split(seed: int, *, test_size: float = 0.2, validation_size: float = 0.2) -> DigitsSplit:
    """The seed's stratified train/test split of digits, with `validation_size` of the training part held out."""
    from hf_methods.common.data import load_digits

    if not 0.0 < validation_size < 1.0:
        raise ValueError(f"validation_size must be in (0, 1), got {validation_size}")
    train, test = load_digits(test_size=test_size, seed=seed, flatten=False)
    x, y = train.tensors()
    x_test, y_test = test.tensors()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(20_000 + seed))
    n_val = int(round(validation_size * len(y)))
    val, fit = order[:n_val].sort().values, order[n_val:].sort().values
    return DigitsSplit(x[fit], y[fit], x[val], y[val], x_test, y_test)


def default_config(**overrides) -> TangleNASConvConfig:
    """The digits search space: 2 convolutions of kernel {1, 3, 5} × width {4, 8, 16}, hidden {16, 32, 64}."""
    return TangleNASConvConfig(**overrides)


def _batches(n: int, batch_size: int, generator: torch.Generator):
    return torch.randperm(n, generator=generator).split(batch_size)


def _cycle(n: int, batch_size: int, generator: torch.Generator):
    while True:
        yield from _batches(n, batch_size, generator)


def gradient_search(
    data: DigitsSplit,
    *,
    seed: int,
    epochs: int,
    mode: str = "darts",
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    arch_lr: float = 3e-3,
    arch_weight_decay: float = 1e-3,
    batch_size: int = 64,
    gdas_tau: float = 1.0,
    config: TangleNASConvConfig | None = None,
) -> tuple[TangleNASConvNet, dict]:
    """TangleNAS search: per step one β update (Adam) on a validation batch, then one weight update (AdamW) on a
    training batch, both through the weight-superimposed supernet. Returns the supernet and a log with β's softmax
    after every epoch and the derived architecture."""
    torch.manual_seed(seed)
    config = default_config() if config is None else config
    model = TangleNASConvNet(config)
    model.set_search_mode(mode, gdas_tau)
    loss_fn = TangleNASSearchLoss()
    weights = torch.optim.AdamW(model.weight_parameters(), lr=lr, weight_decay=weight_decay)
    arch = torch.optim.Adam(model.arch_parameters(), lr=arch_lr, betas=(0.5, 0.999), weight_decay=arch_weight_decay)
    order = torch.Generator().manual_seed(seed)
    val_order = _cycle(len(data.y_val), batch_size, torch.Generator().manual_seed(seed + 1))
    history = []
    model.train()
    for _ in range(epochs):
        for idx in _batches(len(data.y), batch_size, order):
            v = next(val_order)
            architecture_step(model, {"pixel_values": data.x_val[v], "labels": data.y_val[v]}, arch, loss_fn)
            loss = loss_fn(model(pixel_values=data.x[idx]).logits, data.y[idx])
            weights.zero_grad(set_to_none=True)
            loss.backward()
            for p in model.arch_parameters():
                p.grad = None  # β moves only in architecture steps
            weights.step()
        history.append(
            {name: p.detach().softmax(-1).tolist() for name, p in model.named_parameters() if "arch" in name}
        )
    return model, {"alpha_history": history, "architecture": model.derive_architecture()}


def spos_search(
    data: DigitsSplit,
    *,
    seed: int,
    epochs: int,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    config: TangleNASConvConfig | None = None,
) -> tuple[TangleNASConvNet, dict]:
    """Single-path one-shot (Guo et al., ECCV 2020) at the same weight-step budget: every step trains one uniformly
    sampled architecture's slices; then every architecture of the space is scored on the validation part with the
    inherited weights (exhaustive search replaces SPOS's evolutionary search: the space is small) and the best is
    returned (first in the space's order on ties)."""
    torch.manual_seed(seed)
    config = default_config() if config is None else config
    model = TangleNASConvNet(config)
    loss_fn = TangleNASSearchLoss()
    weights = torch.optim.AdamW(model.weight_parameters(), lr=lr, weight_decay=weight_decay)
    order = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    model.train()
    for _ in range(epochs):
        for idx in _batches(len(data.y), batch_size, order):
            model.set_architecture(model.sample_architecture(rng))
            loss = loss_fn(model(pixel_values=data.x[idx]).logits, data.y[idx])
            weights.zero_grad(set_to_none=True)
            loss.backward()
            weights.step()
    scores = []
    for architecture in model.architecture_space():
        model.set_architecture(architecture)
        scores.append((accuracy(model, data.x_val, data.y_val), architecture))
    best = max(scores, key=lambda item: item[0])  # max keeps the first on ties
    return model, {"architecture": best[1], "validation_accuracy": best[0], "num_scored": len(scores)}


def train_architecture(
    data: DigitsSplit,
    architecture: dict,
    *,
    seed: int,
    epochs: int,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    config: TangleNASConvConfig | None = None,
) -> dict:
    """Trains one architecture from scratch (a standalone subnet) on the fitting part; the initial weights and the
    batch order depend on `seed` only. Returns the final test accuracy and the per-epoch test curve."""
    torch.manual_seed(seed)
    config = default_config() if config is None else config
    model = TangleNASConvNet(config).extract_subnet(architecture)
    loss_fn = TangleNASSearchLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    order = torch.Generator().manual_seed(seed)
    curve = []
    model.train()
    for _ in range(epochs):
        for idx in _batches(len(data.y), batch_size, order):
            loss = loss_fn(model(pixel_values=data.x[idx]).logits, data.y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        curve.append(accuracy(model, data.x_test, data.y_test))
    return {
        "test_accuracy": curve[-1],
        "curve": curve,
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }


# ------------------------------------------------------------------------------------------- exact identities


def _padded_out(output: torch.Tensor, width: int) -> torch.Tensor:
    """Zero-pads the channel/feature axis (1 for a conv map, -1 for a linear output) to `width`."""
    if output.dim() == 4:
        return F.pad(output, (0, 0, 0, 0, 0, width - output.shape[1]))
    return F.pad(output, (0, width - output.shape[-1]))


def output_superposition(layer: nn.Module, x: torch.Tensor, alphas: dict[str, torch.Tensor]) -> torch.Tensor:
    """DARTS's output mixing Σ_joint α · pad(o_candidate(x)) over the joint candidates of one entangled layer, each
    candidate computed on its own with the sliced weights (the reference TangleNAS's weight mixing must equal)."""
    names = list(layer.choices)
    total = 0.0
    for index in torch.cartesian_prod(*[torch.arange(len(layer.choices[n])) for n in names]).view(-1, len(names)):
        choice = {n: layer.choices[n][int(i)] for n, i in zip(names, index)}
        weight = torch.stack([alphas[n][int(i)] for n, i in zip(names, index) if n in alphas]).prod()
        if isinstance(layer, EntangledConv2d):
            layer.set_active(in_channels=layer.in_channels, out_channels=choice["out_channels"])
            layer.set_active(kernel_size=choice["kernel_size"])
            out = SuperForward.conv(layer, x)
            max_width = layer.out_channels
        else:
            layer.set_active(in_features=layer.in_features, out_features=choice["out_features"])
            out = SuperForward.linear(layer, x)
            max_width = layer.out_features
        total = total + weight * _padded_out(out, max_width)
    layer.reset_active()
    return total


class SuperForward:
    """The plain sliced forward of an entangled layer's active slice (bypassing its mixing forward)."""

    @staticmethod
    def conv(layer: EntangledConv2d, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            x, layer.active_weight(), layer.active_bias(), layer.stride, layer.active_padding(), layer.dilation
        )

    @staticmethod
    def linear(layer: EntangledLinear, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, layer.active_weight(), layer.active_bias())


def mixing_deviation(seed: int = 0, dtype: torch.dtype = torch.float64) -> dict[str, float]:
    """Largest |difference| of the two exact identities over random layers, inputs and α (float64 by default):

    - `one_hot`: with one-hot α the weight-mixed layer equals the chosen candidate's sliced op (zero-padded);
    - `superposition`: op(x; Σ_i α_i pad(W_i)) = Σ_i α_i pad(op(x; W_i)) for random α on the simplex.
    """
    gen = torch.Generator().manual_seed(seed)
    worst = {"one_hot": 0.0, "superposition": 0.0}
    layers = [
        (EntangledConv2d(3, [2, 5, 8], [1, 3, 5]), (4, 3, 8, 8)),
        (EntangledConv2d(4, [4, 8], [3, 7]), (2, 4, 9, 9)),
        (EntangledLinear(12, [3, 7, 10]), (6, 12)),
    ]
    for layer, shape in layers:
        layer = layer.to(dtype)
        for _ in range(5):
            with torch.no_grad():
                for p in layer.parameters():
                    p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype))
            x = torch.randn(shape, generator=gen, dtype=dtype)
            # random α on the simplex: softmax of random β (DARTS mode)
            mixed = layer(x)
            alphas = {name: beta.softmax(-1) for name, beta in layer.arch_params.items()}
            reference = output_superposition(layer, x, alphas)
            worst["superposition"] = max(worst["superposition"], (mixed - reference).abs().max().item())
            # one-hot α: GDAS's evaluation form is the argmax one-hot
            layer.set_search_mode("gdas")
            layer.eval()
            one_hot = layer(x)
            chosen = {
                name: F.one_hot(beta.argmax(), beta.numel()).to(dtype) for name, beta in layer.arch_params.items()
            }
            worst["one_hot"] = max(
                worst["one_hot"], (one_hot - output_superposition(layer, x, chosen)).abs().max().item()
            )
            layer.set_search_mode("darts")
            layer.train()
            with torch.no_grad():
                for beta in layer.arch_params.values():
                    beta.copy_(torch.randn(beta.shape, generator=gen, dtype=dtype))
    return worst


def saved_activation_bytes(fn, x: torch.Tensor) -> int:
    """Bytes of the distinct tensors autograd saves for the backward pass while `fn(x)` runs (each storage once)."""
    seen, total = set(), 0

    def pack(tensor):
        nonlocal total
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor.numel())
        if key not in seen:
            seen.add(key)
            total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn(x)
    return total
