"""Training pieces shared by `recipes/crkd.py`, the claim check and the tests: novel class discovery on digits.

- [`CrKDArguments`]: the arguments of `recipes/crkd.py` (every knob a flag, validated);
- [`NCDData`] / [`ncd_digits`]: scikit-learn's digits split into labelled known classes (0–4 by default) and
  unlabelled novel classes (5–9), with held-out test images of both;
- [`pretrain_known_classes`]: the supervised stage (cross-entropy of the known head's cosine logits / τ on two
  augmented views, AdamW with warmup and cosine decay, as the official `train_pretrain`);
- [`student_from_pretrained`]: the discovery model, a copy of the pretrained one with fresh novel heads;
- [`train_discovery`]: the discovery stage in plain torch (SGD with warmup and cosine decay) through
  [`crkd_discovery_loss`], with the teacher-frozen and weight-mean checks;
- [`evaluate_ncd`]: Hungarian-matched clustering accuracy of the novel heads, known-class accuracy;
- [`train_ncd`]: both stages from tensors to metrics (the function a shared comparison calls).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from hf_methods.common.clustering import cluster_accuracy
from hf_methods.harness.recipe import RecipeArguments

from .configuration_crkd import CrKDNCDConfig
from .modeling_crkd import CrKDNCDModel, NovelHead
from .trainer import NoiseShiftAugment, crkd_discovery_loss


@dataclass
class CrKDArguments(RecipeArguments):
    max_steps: int = field(default=240, metadata={"help": "Discovery steps (240 ≈ 40 epochs of 6 mixed batches)."})
    pretrain_steps: int = field(default=120, metadata={"help": "Supervised steps on the known classes first."})
    checkpoint_every: int = field(default=120, metadata={"help": "Save a resumable checkpoint every N steps."})
    log_every: int = field(default=20, metadata={"help": "Log training metrics every N steps."})
    num_known_classes: int = field(default=5, metadata={"help": "Digits 0..K-1 are known (labelled); the rest novel."})
    alpha: float = field(default=0.1, metadata={"help": "Weight of the CrKD loss (0 = plain UNO)."})
    kd_temperature: float = field(default=4.0, metadata={"help": "Distillation temperature T."})
    temperature: float = field(default=0.1, metadata={"help": "Logit temperature τ of the cosine heads."})
    sinkhorn_epsilon: float = field(default=0.05, metadata={"help": "Entropy ε of Sinkhorn–Knopp."})
    sinkhorn_iterations: int = field(default=3, metadata={"help": "Sinkhorn–Knopp iterations."})
    learning_rate: float = field(default=0.1, metadata={"help": "Peak SGD learning rate of discovery."})
    pretrain_learning_rate: float = field(default=1e-3, metadata={"help": "Peak AdamW learning rate of pretraining."})
    warmup_fraction: float = field(default=0.1, metadata={"help": "Fraction of each stage spent warming up."})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum."})
    weight_decay: float = field(default=1.5e-4, metadata={"help": "Weight decay of both stages."})
    batch_size: int = field(default=256, metadata={"help": "Batch size (labelled and unlabelled mixed)."})
    num_heads: int = field(default=4, metadata={"help": "Number of novel-class heads."})
    hidden_size: int = field(default=256, metadata={"help": "Width of the two ReLU encoder layers."})
    head_hidden_size: int = field(default=256, metadata={"help": "Hidden width of each novel head's projector."})
    projection_size: int = field(default=64, metadata={"help": "Output width of each novel head's projector."})
    max_shift: int = field(default=1, metadata={"help": "Largest random shift of a view, in pixels."})
    noise_std: float = field(default=0.05, metadata={"help": "Gaussian noise of a view."})
    test_size: float = field(default=0.2, metadata={"help": "Fraction of digits held out for testing."})

    def validate(self) -> None:
        super().validate()
        for name in ("pretrain_steps", "sinkhorn_iterations", "batch_size", "num_heads", "hidden_size"):
            value = getattr(self, name)
            if value < (0 if name == "pretrain_steps" else 1):
                raise ValueError(f"--{name} must be {'>= 0' if name == 'pretrain_steps' else '>= 1'}, got {value}")
        for name in ("head_hidden_size", "projection_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not 2 <= self.num_known_classes <= 8:
            raise ValueError(
                f"--num_known_classes must be in [2, 8] (digits have 10 classes), got {self.num_known_classes}"
            )
        for name in ("kd_temperature", "temperature", "sinkhorn_epsilon", "learning_rate", "pretrain_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("alpha", "momentum", "weight_decay", "noise_std", "max_shift"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"--warmup_fraction must be in [0, 1), got {self.warmup_fraction}")

    def model_config(self) -> CrKDNCDConfig:
        return CrKDNCDConfig(
            input_size=64,
            hidden_sizes=[self.hidden_size] * 2,
            num_known_classes=self.num_known_classes,
            num_novel_classes=10 - self.num_known_classes,
            num_heads=self.num_heads,
            head_hidden_size=self.head_hidden_size,
            projection_size=self.projection_size,
            logit_temperature=self.temperature,
        )


@dataclass
class NCDData:
    """One seed's split: labelled known-class images, unlabelled novel-class images (their true classes, remapped to
    `0..C_n-1`, only for evaluation), and held-out test images of each."""

    x_labeled: torch.Tensor
    y_labeled: torch.Tensor
    x_unlabeled: torch.Tensor
    y_unlabeled: torch.Tensor
    x_test_known: torch.Tensor
    y_test_known: torch.Tensor
    x_test_novel: torch.Tensor
    y_test_novel: torch.Tensor


def ncd_digits(seed: int = 0, num_known_classes: int = 5, test_size: float = 0.2) -> NCDData:
    """Digits `0..K-1` labelled, `K..9` unlabelled (labels shifted to `0..9-K`), split train/test by `seed`."""
    from hf_methods.common.data import load_digits
    from hf_methods.common.splits import class_split

    train, test = load_digits(test_size=test_size, seed=seed)
    x, y = train.tensors()
    x_test, y_test = test.tensors()
    known = list(range(num_known_classes))
    seen, unseen = (torch.from_numpy(i) for i in class_split(train.y, known))
    seen_t, unseen_t = (torch.from_numpy(i) for i in class_split(test.y, known))
    return NCDData(
        x[seen], y[seen], x[unseen], y[unseen] - num_known_classes,
        x_test[seen_t], y_test[seen_t], x_test[unseen_t], y_test[unseen_t] - num_known_classes,
    )  # fmt: skip


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float):
    """transformers' linear-warmup cosine schedule (the official `LinearWarmupCosineAnnealingLR`, per step)."""
    from transformers import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(optimizer, int(warmup_fraction * total_steps), max(total_steps, 1))


def _batches(n: int, batch_size: int, steps: int, generator: torch.Generator):
    """`steps` index batches, epoch after epoch of seeded permutations (the last short batch of an epoch dropped when
    the epoch has more than one batch, as the official loader's `drop_last`)."""
    done = 0
    while done < steps:
        order = torch.randperm(n, generator=generator)
        chunks = order.split(batch_size)
        if len(chunks) > 1 and len(chunks[-1]) < batch_size:
            chunks = chunks[:-1]
        for chunk in chunks:
            if done == steps:
                return
            yield chunk
            done += 1


def pretrain_known_classes(
    model: CrKDNCDModel,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    seed: int,
    lr: float = 1e-3,
    weight_decay: float = 1.5e-4,
    batch_size: int = 256,
    warmup_fraction: float = 0.1,
    augment=None,
) -> CrKDNCDModel:
    """Supervised training of the encoder and known head: mean over two views of CE(known_logits / τ, y)."""
    augment = augment if augment is not None else NoiseShiftAugment()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = warmup_cosine(optimizer, steps, warmup_fraction)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for idx in _batches(len(y), batch_size, steps, generator):
        model.normalize_prototypes()
        loss = sum(model(pixel_values=augment(x[idx], generator), labels=y[idx]).loss for _ in range(2)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    model.normalize_prototypes()
    return model.eval()


def student_from_pretrained(pretrained: CrKDNCDModel, seed: int) -> CrKDNCDModel:
    """A copy of the pretrained model with new novel heads (seeded) and a zero head-loss tracker; the official code
    loads the pretrained state without the unlabelled heads (`"unlab" not in k`)."""
    student = copy.deepcopy(pretrained)
    config = student.config
    width = config.hidden_sizes[-1]
    torch.manual_seed(seed)
    student.novel_heads = nn.ModuleList(
        NovelHead(width, config.head_hidden_size, config.projection_size, config.num_novel_classes)
        for _ in range(config.num_heads)
    )
    student.head_losses.zero_()
    student.normalize_prototypes()
    return student.train()


@torch.no_grad()
def evaluate_ncd(model: CrKDNCDModel, data: NCDData) -> dict[str, float]:
    """Novel-class clustering accuracy (Hungarian) of the best head and the mean over heads, on the unlabelled
    training images (the transductive NCD protocol) and on held-out novel test images; known-class test accuracy."""
    model.eval()
    device = next(model.parameters()).device
    results = {}
    for split, x, y in (("train", data.x_unlabeled, data.y_unlabeled), ("test", data.x_test_novel, data.y_test_novel)):
        novel = model(pixel_values=x.to(device)).novel_logits.argmax(-1)  # (H, N)
        per_head = [cluster_accuracy(novel[h], y) for h in range(len(novel))]
        results[f"novel_{split}_accuracy"] = per_head[model.best_head]
        results[f"novel_{split}_accuracy_mean_heads"] = sum(per_head) / len(per_head)
    known = model(pixel_values=data.x_test_known.to(device)).known_logits.argmax(-1).cpu()
    results["known_test_accuracy"] = (known == data.y_test_known).float().mean().item()
    return results


def train_discovery(
    model: CrKDNCDModel,
    teacher: CrKDNCDModel | None,
    data: NCDData,
    *,
    steps: int,
    seed: int,
    alpha: float = 0.1,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 1.5e-4,
    batch_size: int = 256,
    warmup_fraction: float = 0.1,
    kd_temperature: float = 4.0,
    temperature: float = 0.1,
    sinkhorn_epsilon: float = 0.05,
    sinkhorn_iterations: int = 3,
    augment=None,
    eval_every: int = 0,
) -> dict:
    """The discovery stage in plain torch; returns the final [`evaluate_ncd`] metrics, the checks and a curve.

    Checks recorded: `teacher_max_change` (largest change of any teacher weight or buffer over training) and
    `teacher_grads` (number of teacher parameters that received a gradient), both 0 for a frozen teacher, and
    `max_weight_mean_deviation`, the largest |mean ω − 1| over the batches.
    """
    augment = augment if augment is not None else NoiseShiftAugment()
    x = torch.cat([data.x_labeled, data.x_unlabeled])
    labels = torch.cat([data.y_labeled, torch.full_like(data.y_unlabeled, -1)])
    labeled_mask = torch.cat(
        [torch.ones_like(data.y_labeled, dtype=torch.bool), torch.zeros_like(data.y_unlabeled, dtype=torch.bool)]
    )
    if teacher is not None:
        teacher.eval().requires_grad_(False)
        before = {k: v.clone() for k, v in teacher.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = warmup_cosine(optimizer, steps, warmup_fraction)
    generator = torch.Generator().manual_seed(seed)
    curve, weight_dev = [], 0.0
    model.train()
    for step, idx in enumerate(_batches(len(x), batch_size, steps, generator)):
        model.normalize_prototypes()
        views = [augment(x[idx], generator) for _ in range(2)]
        terms = crkd_discovery_loss(
            model, teacher if alpha > 0 else None, views, labels[idx], labeled_mask[idx],
            alpha=alpha, kd_temperature=kd_temperature, temperature=temperature,
            sinkhorn_epsilon=sinkhorn_epsilon, sinkhorn_iterations=sinkhorn_iterations,
        )  # fmt: skip
        optimizer.zero_grad()
        terms.loss.backward()
        optimizer.step()
        scheduler.step()
        model.head_losses += terms.cluster.detach()
        if terms.kd_weight_mean is not None:
            weight_dev = max(weight_dev, abs(terms.kd_weight_mean - 1.0))
        if eval_every and ((step + 1) % eval_every == 0 or step + 1 == steps):
            curve.append((step + 1, evaluate_ncd(model, data)["novel_train_accuracy"]))
            model.train()
    model.normalize_prototypes()
    result = evaluate_ncd(model, data)
    result["curve"] = curve
    result["best_head"] = model.best_head
    if teacher is not None:
        after = teacher.state_dict()
        result["teacher_max_change"] = max(
            (after[k].double() - v.double()).abs().max().item() for k, v in before.items()
        )
        result["teacher_grads"] = sum(p.grad is not None for p in teacher.parameters())
    if alpha > 0:
        result["max_weight_mean_deviation"] = weight_dev
    return result


def train_ncd(data: NCDData, *, alpha: float, seed: int, pretrain_steps: int, steps: int, **hyper) -> dict:
    """Pretrain on the labelled known classes, then discover the novel ones with `alpha` × CrKD (0: plain UNO).

    The pretrained model (and so the teacher and the student's start) depends on `seed` only, so runs with
    different `alpha` and one seed share it. `hyper` holds the model sizes (`hidden_size`, `num_heads`,
    `head_hidden_size`, `projection_size`), `pretrain_lr` and the keyword arguments of [`train_discovery`].
    """
    sizes = {
        k: hyper.pop(k) for k in ("hidden_size", "num_heads", "head_hidden_size", "projection_size") if k in hyper
    }
    pretrain_lr = hyper.pop("pretrain_lr", 1e-3)
    hidden = sizes.pop("hidden_size", 256)
    num_known = int(data.y_labeled.max()) + 1
    num_novel = int(data.y_unlabeled.max()) + 1
    config = CrKDNCDConfig(
        input_size=data.x_labeled.shape[-1], hidden_sizes=[hidden, hidden], num_known_classes=num_known,
        num_novel_classes=num_novel, logit_temperature=hyper.get("temperature", 0.1), **sizes,
    )  # fmt: skip
    torch.manual_seed(seed)
    pretrained = CrKDNCDModel(config)
    pretrain_known_classes(
        pretrained, data.x_labeled, data.y_labeled, steps=pretrain_steps, seed=seed, lr=pretrain_lr,
        batch_size=hyper.get("batch_size", 256), weight_decay=hyper.get("weight_decay", 1.5e-4),
        augment=hyper.get("augment"),
    )  # fmt: skip
    student = student_from_pretrained(pretrained, seed + 1)
    teacher = copy.deepcopy(pretrained)
    result = train_discovery(student, teacher, data, steps=steps, seed=seed, alpha=alpha, **hyper)
    result["pretrained_known_test_accuracy"] = evaluate_ncd(pretrained, data)["known_test_accuracy"]
    if not math.isfinite(result["novel_train_accuracy"]):
        raise RuntimeError("discovery produced a non-finite accuracy")
    return result


__all__ = [
    "CrKDArguments",
    "NCDData",
    "evaluate_ncd",
    "ncd_digits",
    "pretrain_known_classes",
    "student_from_pretrained",
    "train_discovery",
    "train_ncd",
    "warmup_cosine",
]
