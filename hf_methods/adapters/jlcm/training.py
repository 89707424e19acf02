"""The digits experiment of JLCM, shared by `recipes/jlcm.py`, the claim check and the tests.

A ReLU MLP (`MLPForImageClassification`, default 64-256-256-10) is trained on scikit-learn's digits, then quantized
post-training by [`JLCMQuantizer`] or one of the baselines of [`VARIANTS`]; every quantized model is saved with
`save_codebook_model` (the bits per weight are measured from the file) and evaluated.

- [`JLCMArguments`]: the arguments of `recipes/jlcm.py`;
- [`digits_data`], [`digits_mlp`], [`train_mlp`], [`test_accuracy`]: the model to quantize and its training;
- [`quantize_variant`]: a quantized copy of a model by one variant, with its measurements;
- [`reorder_output_change`]: the largest output change caused by neuron re-ordering (in float64).
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.harness.recipe import RecipeArguments

from .codebook import MAPPING_UPDATES, save_codebook_model
from .quantizer import JLCMQuantizer
from .reorder import reorder_neurons

#: The quantizers compared by the claim: JLCM and the baselines, as `JLCMQuantizer` settings.
VARIANTS = {
    "RTN": {"n_groups": 1, "steps": 0, "init": "uniform", "reorder": False},  # per-tensor round-to-nearest
    "k-means": {"n_groups": 1, "steps": 0, "init": "kmeans", "reorder": False},  # per-tensor k-means codebook
    "grouped k-means": {"steps": 0},  # re-ordered groups, k-means codebooks, no optimisation
    "JLCM": {"mapping_update": "proximal"},
    "JLCM-STE": {"mapping_update": "ste"},  # the same search with the plain straight-through gradient
}


def digits_data(seed: int = 0):
    """`(x_train, y_train, x_test, y_test)` tensors of scikit-learn's digits (80/20 split, pixels in [0, 1])."""
    from hf_methods.common.data import load_digits

    train, test = load_digits(test_size=0.2, seed=seed)
    as_x = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return as_x(train.x), torch.as_tensor(train.y).long(), as_x(test.x), torch.as_tensor(test.y).long()


def digits_mlp(hidden_sizes=(256, 256), seed: int = 0):
    """A fresh ReLU `MLPForImageClassification` 64 → hidden_sizes → 10 (PyTorch's default init under `seed`)."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    config = MLPConfig(input_size=64, hidden_sizes=list(hidden_sizes), num_labels=10, hidden_act="relu")
    return MLPForImageClassification(config)


def train_mlp(model: nn.Module, x, y, *, epochs: int = 40, batch_size: int = 64, lr: float = 1e-3, seed: int = 0):
    """Plain Adam cross-entropy training in shuffled mini-batches; returns the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=g)
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            F.cross_entropy(model(pixel_values=x[idx]).logits, y[idx]).backward()
            optimizer.step()
    return model.eval()


@torch.no_grad()
def test_accuracy(model: nn.Module, x, y) -> float:
    from hf_methods.common.evaluation import accuracy

    return accuracy(model, x, y)


@torch.no_grad()
def relative_output_error(model: nn.Module, reference: nn.Module, x) -> float:
    """‖f_q(x) − f(x)‖² / ‖f(x)‖² over the logits of the test inputs."""
    model.eval(), reference.eval()
    ref = reference(pixel_values=x).logits
    return float((model(pixel_values=x).logits - ref).pow(2).sum() / ref.pow(2).sum())


@torch.no_grad()
def reorder_output_change(model: nn.Module, x, n_groups: int, *, seed: int = 0) -> float:
    """max |f_reordered(x) − f(x)| over the logits, both computed in float64 on a copy (the original is untouched)."""
    copy64 = copy.deepcopy(model).double().eval()
    before = copy64(pixel_values=x.double()).logits
    reorder_neurons(copy64, n_groups, seed=seed)
    return float((copy64(pixel_values=x.double()).logits - before).abs().max())


def quantize_variant(model: nn.Module, variant: str, calib, x_test, y_test, **quantizer_kwargs) -> dict:
    """Quantizes a copy of `model` by `variant` (a key of [`VARIANTS`]; `quantizer_kwargs` give the settings the
    variant does not fix, e.g. bits, steps, learning rates),
    saves it, and returns its test accuracy, bits per weight (from the saved file), output error, objective before and
    after the search, far-jump statistics, the loss per step and the quantized model (key `"model"`)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    quantizer = JLCMQuantizer(**{**quantizer_kwargs, **VARIANTS[variant]})
    quantized = quantizer.quantize(copy.deepcopy(model), calib)
    with tempfile.TemporaryDirectory() as folder:
        saved = save_codebook_model(quantized, folder)
    stats = quantizer.mapping_stats
    n = {name: quantized.get_submodule(name).indices.numel() for name in stats}
    total = sum(n.values())
    return {
        "accuracy": test_accuracy(quantized, x_test, y_test),
        "bits_per_weight": saved["bits_per_weight"],
        "test_output_error": relative_output_error(quantized, model, x_test),
        "calibration_error_initial": quantizer.reconstruction_error["initial"],
        "calibration_error_final": quantizer.reconstruction_error["final"],
        "changed_fraction": sum(s["changed_fraction"] * n[k] for k, s in stats.items()) / total if total else 0.0,
        "far_jump_fraction": sum(s["far_jump_fraction"] * n[k] for k, s in stats.items()) / total if total else 0.0,
        "history": quantizer.history,
        "model": quantized,
    }


# ------------------------------------------------------------------------------------------------------------ recipe


@dataclass
class JLCMArguments(RecipeArguments):
    """Arguments of `recipes/jlcm.py`: train a digits MLP (`--max_steps`, resumable), then quantize it with JLCM and
    save the compressed layers (packed indices + codebooks) next to the baked, plain checkpoint."""

    max_steps: int = field(default=600, metadata={"help": "Training steps of the full-precision MLP."})
    checkpoint_every: int = field(default=0, metadata={"help": "Checkpoint every N training steps (0: at the end)."})
    hidden_size: int = field(default=256, metadata={"help": "Width of the two ReLU hidden layers."})
    batch_size: int = field(default=64, metadata={"help": "Training batch size."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate of the training."})
    bits: int = field(default=2, metadata={"help": "Index bits b (K = 2^b codewords per codebook)."})
    n_groups: int = field(default=4, metadata={"help": "Codebooks (neuron groups) per layer."})
    calib_size: int = field(default=256, metadata={"help": "Training images used for calibration."})
    calib_steps: int = field(default=200, metadata={"help": "Steps of the joint codebook/mapping search."})
    calib_batch_size: int = field(default=128, metadata={"help": "Calibration rows per step and layer."})
    codebook_lr: float = field(default=1e-3, metadata={"help": "Adam learning rate of the codewords."})
    mapping_lr: float = field(default=0.003, metadata={"help": "Step size of the mapping scores."})
    mapping_update: str = field(default="proximal", metadata={"help": f"One of {MAPPING_UPDATES}."})
    reorder: bool = field(default=True, metadata={"help": "Re-order neurons into contiguous groups."})

    def validate(self) -> None:
        super().validate()
        for name in ("hidden_size", "batch_size", "learning_rate", "n_groups", "calib_size", "calib_batch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("codebook_lr", "mapping_lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)!r}")
        if not 1 <= self.bits <= 8:
            raise ValueError(f"--bits must be in [1, 8], got {self.bits!r}")
        if self.calib_steps < 0:
            raise ValueError(f"--calib_steps must be >= 0, got {self.calib_steps!r}")
        if self.mapping_update not in MAPPING_UPDATES:
            raise ValueError(f"--mapping_update must be one of {MAPPING_UPDATES}, got {self.mapping_update!r}")
