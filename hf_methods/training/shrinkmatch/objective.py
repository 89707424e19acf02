"""One training step of ShrinkMatch / FixMatch, shared by `ShrinkMatchTrainer`, the plain-torch loop and the recipe.

    L = L_x + λ_u · L_u + λ_u · r̄ · (1/B) Σ_b ℓ_shrink,b                                    (ShrinkMatch)
    L = L_x + λ_u · L_u                                                                     (FixMatch, shrink=False)

- `L_x`: cross-entropy of the weakly augmented labelled batch;
- `L_u`: [`fixmatch_consistency_loss`] of the main head's strong-view logits against the weak-view probabilities;
- `ℓ_shrink`: [`shrink_loss`] of the auxiliary head's strong-view logits (per-sample factor `p_(1)`, reweighting 1);
- `r̄`: the running ratio of certain samples, `r̄ ← 0.999 r̄ + 0.001 · mean_b 1[max p_b ≥ τ]`, started at the first
  batch's ratio (reweighting 2: the shrink loss grows as the model becomes confident).

Labelled, weak and strong views go through the model in one forward pass (as in the official code, so batch-norm
layers see one batch), the auxiliary head only on the strong unlabelled views. Optional distribution alignment
(`p ← normalise(p / mean of the last 32 batch-mean predictions)`) follows the official `distribution_alignment`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.augment import as_images, strong_augment, weak_augment
from hf_methods.common.checks import check_number

from .loss import fixmatch_consistency_loss, shrink_class_space, shrink_loss

__all__ = [
    "SSLStepOutput",
    "ShrinkMatchState",
    "augment_views",
    "default_views",
    "ssl_step",
    "step_generator",
    "unlabeled_indices",
]


class ShrinkMatchState(nn.Module):
    """The running state of a ShrinkMatch run (saved with checkpoints): `r̄` and the distribution-alignment queue.

    Args:
        num_labels (`int`): classes (size of the alignment queue's rows).
        ratio_momentum (`float`, defaults to 0.999): momentum of `r̄`.
        alignment_length (`int`, defaults to 32): batches in the distribution-alignment queue.
    """

    certain_ratio_ema: torch.Tensor
    alignment_queue: torch.Tensor
    alignment_pointer: torch.Tensor

    def __init__(self, num_labels: int, ratio_momentum: float = 0.999, alignment_length: int = 32):
        super().__init__()
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 2:
            raise ValueError(f"num_labels must be an int >= 2, got {num_labels!r}")
        if isinstance(alignment_length, bool) or not isinstance(alignment_length, int) or alignment_length < 1:
            raise ValueError(f"alignment_length must be an int >= 1, got {alignment_length!r}")
        self.ratio_momentum = check_number("ratio_momentum", ratio_momentum, low=0, high=1, high_open=True)
        # NaN: not started (the first batch sets it, as the official `certain_ratio_ema is None`)
        self.register_buffer("certain_ratio_ema", torch.tensor(float("nan"), dtype=torch.float64))
        self.register_buffer("alignment_queue", torch.zeros(alignment_length, num_labels))
        self.register_buffer("alignment_pointer", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update_ratio(self, certain_ratio: float) -> float:
        """`r̄ ← m r̄ + (1 − m) r` (or `r̄ ← r` on the first call); returns the new `r̄`."""
        if torch.isnan(self.certain_ratio_ema):
            self.certain_ratio_ema.fill_(certain_ratio)
        else:
            m = self.ratio_momentum
            self.certain_ratio_ema.mul_(m).add_((1 - m) * certain_ratio)
        return float(self.certain_ratio_ema)

    @torch.no_grad()
    def align(self, probs: torch.Tensor, gather: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """Distribution alignment: pushes the batch mean into the queue, then `p / mean(queue)`, renormalised."""
        batch_mean = probs.mean(0)
        if gather is not None:  # the mean over processes, as the official all_reduce
            batch_mean = gather(batch_mean[None]).mean(0)
        pointer = int(self.alignment_pointer)
        self.alignment_queue[pointer] = batch_mean.to(self.alignment_queue)
        self.alignment_pointer.fill_((pointer + 1) % len(self.alignment_queue))
        aligned = probs / self.alignment_queue.mean(0).to(probs)
        return aligned / aligned.sum(dim=1, keepdim=True)


@dataclass
class SSLStepOutput:
    """The loss of one step and what it is made of (floats are detached statistics).

    `gradient_fraction` is the fraction of unlabelled samples with a nonzero term in the loss: the certain ones (in
    `L_u`) plus, for ShrinkMatch, the uncertain ones whose shrunk confidence passes `τ` (while `r̄ > 0`).
    """

    loss: torch.Tensor
    logits_labeled: torch.Tensor
    labeled_loss: float
    unlabeled_loss: float
    shrink_loss: float
    certain_ratio: float
    shrunk_ratio: float
    gradient_fraction: float
    certain_ratio_ema: float
    mean_cutoff: float


def ssl_step(
    model: nn.Module,
    x_labeled: torch.Tensor,
    y_labeled: torch.Tensor,
    u_weak: torch.Tensor,
    u_strong: torch.Tensor,
    *,
    state: ShrinkMatchState,
    threshold: float = 0.95,
    lambda_u: float = 1.0,
    shrink: bool = True,
    ratio_reweighting: bool = True,
    distribution_alignment: bool = False,
    gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
    input_name: str = "pixel_values",
) -> SSLStepOutput:
    """The ShrinkMatch (or, with `shrink=False`, FixMatch) loss of one batch; updates `state` (`r̄`, alignment).

    Args:
        model: an [`AuxHeadWrapper`] (any model returning `.logits`, and `.aux_logits` for `aux_start`, works).
        x_labeled, y_labeled: the weakly augmented labelled inputs and their labels.
        u_weak, u_strong: weak and strong views of the same unlabelled inputs.
        state ([`ShrinkMatchState`]): `r̄` and the alignment queue.
        threshold: `τ`. lambda_u: `λ_u`, the weight of both unlabelled terms.
        shrink: add the shrink term (False: FixMatch; the auxiliary head then gets no gradient).
        ratio_reweighting: multiply the shrink term by `r̄` (False: the ablation without reweighting 2).
        distribution_alignment: align the weak-view probabilities (off by default, as in the official CIFAR runs
            unless `--DA` is given).
        gather: `accelerator.gather`, to average the alignment statistics over processes.
        input_name: the model's input keyword.
    """
    if len(u_weak) != len(u_strong):
        raise ValueError(f"u_weak and u_strong must hold the same samples, got {len(u_weak)} and {len(u_strong)}")
    n_labeled, n_unlabeled = len(x_labeled), len(u_weak)
    inputs = torch.cat([x_labeled, u_weak, u_strong])
    if shrink:
        extra = {"aux_start": n_labeled + n_unlabeled}  # the auxiliary head on the strong views only
    else:
        extra = {"aux_start": None} if isinstance(getattr(model, "head_aux", None), nn.Module) else {}
    outputs = model(**{input_name: inputs}, **extra)
    logits = outputs["logits"]
    logits_x = logits[:n_labeled]
    logits_w = logits[n_labeled : n_labeled + n_unlabeled]
    logits_s = logits[n_labeled + n_unlabeled :]
    probs_w = F.softmax(logits_w.detach().float(), dim=-1)
    if distribution_alignment:
        probs_w = state.align(probs_w, gather)
    loss_x = F.cross_entropy(logits_x, y_labeled)
    loss_u = fixmatch_consistency_loss(probs_w, logits_s, threshold)
    certain = (probs_w.max(dim=1).values >= threshold).float().mean().item()
    ratio = state.update_ratio(certain)
    loss = loss_x + lambda_u * loss_u
    shrink_value, shrunk, cutoff = 0.0, 0.0, 1.0
    if shrink:
        space = shrink_class_space(probs_w, threshold)
        loss_shrink = shrink_loss(probs_w, outputs["aux_logits"], threshold)  # sum / B
        factor = ratio if ratio_reweighting else 1.0
        loss = loss + lambda_u * factor * loss_shrink
        shrink_value = loss_shrink.item()
        shrunk = space.passed.float().mean().item()
        if space.uncertain.any():
            cutoff = space.cutoff[space.uncertain].float().mean().item()
        gets_gradient = certain + (shrunk if factor > 0 else 0.0)
    else:
        gets_gradient = certain
    return SSLStepOutput(
        loss=loss,
        logits_labeled=logits_x,
        labeled_loss=loss_x.item(),
        unlabeled_loss=loss_u.item(),
        shrink_loss=shrink_value,
        certain_ratio=certain,
        shrunk_ratio=shrunk,
        gradient_fraction=gets_gradient,
        certain_ratio_ema=ratio,
        mean_cutoff=cutoff,
    )


def augment_views(
    x: torch.Tensor,
    augment: Callable[..., torch.Tensor],
    *,
    image_shape: tuple[int, int, int] | None,
    generator: torch.Generator,
) -> torch.Tensor:
    """`augment` applied to a batch of images `(B, C, H, W)`, or to flat features reshaped to `image_shape` and back."""
    if x.dim() == 4:
        return augment(x, generator=generator)
    if image_shape is None:
        raise ValueError(
            f"the inputs are flat {tuple(x.shape)}: pass image_shape=(channels, height, width) to augment them"
        )
    return augment(as_images(x, image_shape), generator=generator).reshape(x.shape)


def default_views() -> tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]:
    """The shared FixMatch-style presets: `weak_augment` and `strong_augment` of `hf_methods.common.augment`."""
    return weak_augment, strong_augment


def unlabeled_indices(step: int, num_samples: int, batch_size: int, seed: int) -> torch.Tensor:
    """The unlabelled indices of `step`: consecutive slices of seeded permutations of `[0, num_samples)`, one
    permutation per pass, so the batches depend only on `(seed, step)` (a resumed run sees the same ones)."""
    if num_samples < 1:
        raise ValueError("the unlabelled set is empty")
    start = step * batch_size
    first_pass, last_pass = start // num_samples, (start + batch_size - 1) // num_samples
    perms = [
        torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed * 1_000_003 + p))
        for p in range(first_pass, last_pass + 1)
    ]
    offset = start - first_pass * num_samples
    return torch.cat(perms)[offset : offset + batch_size]


def step_generator(seed: int, step: int) -> torch.Generator:
    """The augmentation generator of `step`: seeded by `(seed, step)` only, so resuming redraws the same views."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step * 7919 + 17) % (2**63 - 1))
