"""The digits experiment of OFQ, shared by the recipe, the claim and the tests.

A tiny transformers `ViTForImageClassification` (8×8 single-channel digits, 2×2 patches → 16 tokens, hidden 32,
2 layers, 2 heads) is trained in floating point, then quantized with `quantize_vit` and trained on (QAT) with a
plain AdamW loop; an `OscillationTracker` records the integer flips and oscillations at every step, and an optional
`ConfidenceGuidedAnnealing` freezes the confident weights. There is no teacher distillation (the paper's recipe
distils from the FP model), so absolute accuracies are not comparable with the paper's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from hf_methods.common.data import load_digits
from hf_methods.harness.recipe import RecipeArguments

from .callbacks import ConfidenceGuidedAnnealing, OscillationTracker
from .modeling import WEIGHT_QUANTIZERS, quantize_vit

__all__ = ["OFQArguments", "digits_tensors", "evaluate", "tiny_digits_vit", "train_epochs", "train_fp", "train_qat"]


def digits_tensors():
    """scikit-learn digits as `(x_train (N,1,8,8), y_train, x_test, y_test)` float32 / int64 tensors."""
    train, test = load_digits(test_size=0.2, seed=0, flatten=False)
    return (
        torch.as_tensor(train.x),
        torch.as_tensor(train.y).long(),
        torch.as_tensor(test.x),
        torch.as_tensor(test.y).long(),
    )


def tiny_digits_vit(seed: int = 0, hidden_size: int = 32, num_layers: int = 2, num_heads: int = 2):
    """A seeded tiny `ViTForImageClassification` for 8×8 digits (patch 2 → 16 tokens + [CLS])."""
    from transformers import ViTForImageClassification

    from hf_methods.common.tiny import tiny_vit_config

    config = tiny_vit_config(
        image_size=8,
        num_channels=1,
        num_labels=10,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
    )
    torch.manual_seed(seed)
    return ViTForImageClassification(config)


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy in eval mode (the mode is restored)."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(y), batch_size):
        logits = model(pixel_values=x[start : start + batch_size]).logits
        correct += int((logits.argmax(-1) == y[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / len(y)


def train_epochs(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    batch_size: int = 64,
    tracker: OscillationTracker | None = None,
    annealing: ConfidenceGuidedAnnealing | None = None,
) -> list[dict]:
    """Cross-entropy training for `epochs` epochs; returns one record per epoch (loss, steps, and the tracker's
    flips / oscillations summed and averaged over the epoch's steps when a tracker is given)."""
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got epochs={epochs!r}, batch_size={batch_size!r}")
    model.train()
    if tracker is not None and not tracker.previous_codes:
        tracker.update(model)
    records = []
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        losses, steps = [], []
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            loss = F.cross_entropy(model(pixel_values=x[idx]).logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            if annealing is not None:
                annealing.before_step(model)
            optimizer.step()
            if annealing is not None:
                annealing.after_step(model)
            losses.append(loss.item())
            if tracker is not None:
                steps.append(tracker.update(model))
        record = {"loss": sum(losses) / len(losses), "steps": len(losses)}
        if steps:
            record["flips"] = sum(s["flips"] for s in steps)
            record["oscillations"] = sum(s["oscillations"] for s in steps)
            record["oscillation_rate"] = sum(s["oscillation_rate"] for s in steps) / len(steps)
            record["flip_rate"] = sum(s["flip_rate"] for s in steps) / len(steps)
        records.append(record)
    return records


def train_fp(seed: int = 0, *, epochs: int = 30, learning_rate: float = 1e-3, batch_size: int = 64, **vit_kwargs):
    """Floating-point training of the tiny ViT on digits; returns `(model, test accuracy)`."""
    x, y, x_test, y_test = digits_tensors()
    model = tiny_digits_vit(seed, **vit_kwargs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.05)
    train_epochs(
        model,
        x,
        y,
        epochs=epochs,
        optimizer=optimizer,
        generator=torch.Generator().manual_seed(seed),
        batch_size=batch_size,
    )
    return model, evaluate(model, x_test, y_test)


def train_qat(
    fp_model,
    *,
    weight_quantizer: str = "statsq",
    w_bits: int = 2,
    a_bits: int | None = 4,
    qk_reparam: bool = False,
    epochs: int = 5,
    learning_rate: float = 5e-4,
    weight_decay: float = 0.05,
    batch_size: int = 64,
    seed: int = 0,
    cga_epochs: int = 0,
    boundary_range: float = 0.005,
):
    """Quantizes a copy of `fp_model` and trains it; returns `(qmodel, result)`.

    `result` holds the test accuracy after QAT and the per-epoch records (flips, oscillation rate). With
    `cga_epochs > 0` the run branches after QAT into `cga_epochs` more epochs without CGA and the same number with
    CGA (same batches, same optimizer state), and `result["cga"]` / `result["no_cga"]` hold their records and
    accuracies; the returned model is the CGA branch.
    """
    if weight_quantizer not in WEIGHT_QUANTIZERS:
        raise ValueError(f"weight_quantizer must be one of {WEIGHT_QUANTIZERS}, got {weight_quantizer!r}")
    x, y, x_test, y_test = digits_tensors()
    model = quantize_vit(
        copy.deepcopy(fp_model), w_bits=w_bits, a_bits=a_bits, weight_quantizer=weight_quantizer, qk_reparam=qk_reparam
    )
    model(pixel_values=x[:batch_size])  # initialises the LSQ activation steps on one batch before the optimizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(1000 + seed)
    tracker = OscillationTracker()
    records = train_epochs(
        model, x, y, epochs=epochs, optimizer=optimizer, generator=generator, batch_size=batch_size, tracker=tracker
    )
    result = {"accuracy": evaluate(model, x_test, y_test), "epochs": records}
    if cga_epochs > 0:
        state = (copy.deepcopy(model), copy.deepcopy(optimizer.state_dict()), generator.get_state(), tracker)
        for branch in ("no_cga", "cga"):
            branch_model = copy.deepcopy(state[0])
            branch_opt = torch.optim.AdamW(branch_model.parameters(), lr=learning_rate, weight_decay=weight_decay)
            branch_opt.load_state_dict(state[1])
            branch_gen = torch.Generator()
            branch_gen.set_state(state[2])
            branch_tracker = copy.deepcopy(state[3])
            annealing = ConfidenceGuidedAnnealing(boundary_range) if branch == "cga" else None
            branch_records = train_epochs(
                branch_model,
                x,
                y,
                epochs=cga_epochs,
                optimizer=branch_opt,
                generator=branch_gen,
                batch_size=batch_size,
                tracker=branch_tracker,
                annealing=annealing,
            )
            result[branch] = {"accuracy": evaluate(branch_model, x_test, y_test), "epochs": branch_records}
            if annealing is not None:
                result[branch]["frozen_fraction"] = annealing.frozen_fraction
        model = branch_model
    return model, result


# ------------------------------------------------------------------------------------------------------------ recipe


@dataclass
class OFQArguments(RecipeArguments):
    """Flags of `recipes/ofq.py` (FP pre-training of a tiny digits ViT, then OFQ QAT and a CGA phase)."""

    max_steps: int = field(default=161, metadata={"help": "QAT steps, CGA phase included (23 steps ≈ 1 epoch)."})
    checkpoint_every: int = field(default=46, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=23, metadata={"help": "Log training metrics every N steps."})
    fp_epochs: int = field(default=30, metadata={"help": "Floating-point pre-training epochs before quantization."})
    fp_learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate of the FP pre-training."})
    w_bits: int = field(default=2, metadata={"help": "Weight bit-width."})
    a_bits: int = field(default=4, metadata={"help": "Activation bit-width (0: weights only)."})
    weight_quantizer: str = field(default="statsq", metadata={"help": f"One of {WEIGHT_QUANTIZERS}."})
    qk_reparam: bool = field(default=True, metadata={"help": "Query–key reparameterisation of the attention."})
    cga_steps: int = field(default=46, metadata={"help": "Confidence-guided annealing on the last N steps (0: off)."})
    boundary_range: float = field(default=0.005, metadata={"help": "CGA boundary range BR in (0, 0.5)."})
    learning_rate: float = field(default=5e-4, metadata={"help": "AdamW learning rate of QAT."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW decoupled weight decay of QAT."})
    batch_size: int = field(default=64, metadata={"help": "Batch size per process."})
    hidden_size: int = field(default=32, metadata={"help": "ViT hidden size (intermediate size is twice it)."})
    num_layers: int = field(default=2, metadata={"help": "ViT layers."})
    num_heads: int = field(default=2, metadata={"help": "ViT attention heads (must divide --hidden_size)."})

    def validate(self) -> None:
        super().validate()
        if self.weight_quantizer not in WEIGHT_QUANTIZERS:
            raise ValueError(f"--weight_quantizer must be one of {WEIGHT_QUANTIZERS}, got {self.weight_quantizer!r}")
        if not 1 <= self.w_bits <= 8 or (self.weight_quantizer == "lsq" and self.w_bits < 2):
            raise ValueError(f"--w_bits must be in [1, 8] ([2, 8] for lsq), got {self.w_bits!r}")
        if self.a_bits != 0 and not 2 <= self.a_bits <= 8:
            raise ValueError(f"--a_bits must be 0 (off) or in [2, 8], got {self.a_bits!r}")
        if not 0.0 < self.boundary_range < 0.5:
            raise ValueError(f"--boundary_range must be in (0, 0.5), got {self.boundary_range!r}")
        if not 0 <= self.cga_steps <= self.max_steps:
            raise ValueError(f"--cga_steps must be in [0, --max_steps], got {self.cga_steps!r}")
        for name in ("learning_rate", "fp_learning_rate", "batch_size", "hidden_size", "num_layers", "num_heads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)!r}")
        if self.fp_epochs < 0 or self.weight_decay < 0:
            raise ValueError(
                f"--fp_epochs and --weight_decay must be >= 0, got {self.fp_epochs!r}, {self.weight_decay!r}"
            )
        if self.hidden_size % self.num_heads:
            raise ValueError(f"--num_heads ({self.num_heads}) must divide --hidden_size ({self.hidden_size})")
