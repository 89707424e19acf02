"""MHIM-MIL training as a `transformers.Trainer` (Tang et al., ICCV 2023; `DearCaat/MHIM-MIL`, branch `v1`).

Per bag (the body of the official `train_loop` for `model="mhim"`):

1. the momentum teacher (no gradient, whole bag) gives the instance attention `a` and its bag feature `z_t`;
2. [`mhim_instance_mask`] hides the most-attended (easy) instances, plus optional low-attention and random ones;
3. the student classifies the remaining, harder instances: `L = CE(student(masked bag), y) + α · L_cons(z_s, z_t)`;
4. after the optimizer step the teacher follows the student: `θ_t ← m θ_t + (1 − m) θ_s` ([`EMACallback`]).

- [`mhim_loss`]: steps 1–3, shared by [`MHIMTrainer`] and the plain-torch loop of the recipe and claim;
- [`mhim_teacher`]: the EMA teacher, initialised from the pre-trained baseline (never from the random student);
- [`collate_bags`]: pads bags of different lengths into `instances` + `attention_mask` + `labels`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel
from transformers import Trainer

from hf_methods.common.checks import check_number
from hf_methods.common.ema import EMACallback, ema_teacher

from .loss import mhim_consistency_loss
from .masking import cosine_decay, mhim_instance_mask


def mhim_teacher(teacher: nn.Module, momentum: float = 0.9999) -> AveragedModel:
    """An EMA copy of the pre-trained `teacher` (frozen) whose *first* update is already an EMA step.

    `AveragedModel` copies the averaged model outright on its first `update_parameters` call; MHIM's teacher starts
    from the pre-trained baseline and only moves by `θ_t ← m θ_t + (1 − m) θ_s`, so the counter is set past that copy.
    """
    averaged = ema_teacher(teacher, momentum)
    averaged.n_averaged.fill_(1)
    return averaged.eval()


@dataclass
class MHIMLossOutput:
    """The terms of one MHIM step: `loss = ce + cl_alpha · consistency`, and the mask used."""

    loss: torch.Tensor
    ce: torch.Tensor
    consistency: torch.Tensor
    masked: torch.Tensor
    student_logits: torch.Tensor


def mhim_loss(
    model: nn.Module,
    teacher: nn.Module,
    instances: torch.Tensor,
    labels: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    mask_ratio_h: float = 0.01,
    mask_ratio_hr: float = 0.5,
    mask_ratio_l: float = 0.0,
    mask_ratio: float = 0.0,
    cl_alpha: float = 0.1,
    teacher_temperature: float = 0.1,
    generator: torch.Generator | None = None,
) -> MHIMLossOutput:
    r"""`CE(student(bag ∖ mask), y) + α · Σ_d −softmax(z_t/τ_t)_d log softmax(z_s)_d`, mask from the teacher.

    Args:
        model: the student, an attention-MIL model returning `logits`, `bag_features` and `attentions` (e.g.
            [`ABMILForBagClassification`]).
        teacher: the momentum teacher (an [`mhim_teacher`] or any model of the student's class); run without grad.
        instances (`(batch, L, d)`), labels (`(batch,)`), attention_mask (`(batch, L)`, *optional*): the bags.
        mask_ratio_h, mask_ratio_hr, mask_ratio_l, mask_ratio: see [`mhim_instance_mask`].
        cl_alpha (`float`, defaults to 0.1): `α`, the weight of the consistency loss (0 disables it).
        teacher_temperature (`float`, defaults to 0.1): `τ_t`.
        generator (`torch.Generator`, *optional*): CPU generator of the random masking.
    """
    cl_alpha = check_number("cl_alpha", cl_alpha, low=0)
    teacher_module = teacher.module if isinstance(teacher, AveragedModel) else teacher
    with torch.no_grad():
        teacher_out = teacher_module(instances=instances, attention_mask=attention_mask)
    masked = mhim_instance_mask(
        teacher_out.attentions,
        mask_ratio_h=mask_ratio_h,
        mask_ratio_hr=mask_ratio_hr,
        mask_ratio_l=mask_ratio_l,
        mask_ratio=mask_ratio,
        attention_mask=attention_mask,
        generator=generator,
    )
    keep = ~masked if attention_mask is None else attention_mask.bool() & ~masked
    out = model(instances=instances, attention_mask=keep, labels=labels)
    consistency = mhim_consistency_loss(
        out.bag_features, teacher_out.bag_features, teacher_temperature=teacher_temperature
    )
    loss = out.loss + cl_alpha * consistency if cl_alpha > 0 else out.loss
    return MHIMLossOutput(loss, out.loss.detach(), consistency.detach(), masked, out.logits)


def collate_bags(features: list[dict]) -> dict[str, torch.Tensor]:
    """Pads a list of `{"instances": (L_i, d), "labels": y_i}` items to `instances (B, max L, d)`, `attention_mask
    (B, max L)` and `labels (B,)` (the `data_collator` of [`MHIMTrainer`] for a `datasets.Dataset` of bags)."""
    if not features:
        raise ValueError("collate_bags needs at least one bag")
    bags = [torch.as_tensor(f["instances"], dtype=torch.float32) for f in features]
    for i, bag in enumerate(bags):
        if bag.dim() != 2 or len(bag) == 0:
            raise ValueError(f"bag {i}: instances must be a non-empty (L, d) array, got shape {tuple(bag.shape)}")
    dims = {bag.shape[1] for bag in bags}
    if len(dims) != 1:
        raise ValueError(f"all bags must have the same instance size, got {sorted(dims)}")
    length = max(len(bag) for bag in bags)
    instances = torch.zeros(len(bags), length, dims.pop())
    attention_mask = torch.zeros(len(bags), length, dtype=torch.long)
    for i, bag in enumerate(bags):
        instances[i, : len(bag)] = bag
        attention_mask[i, : len(bag)] = 1
    labels = torch.as_tensor([int(f["labels"]) for f in features], dtype=torch.long)
    return {"instances": instances, "attention_mask": attention_mask, "labels": labels}


class MHIMTrainer(Trainer):
    """`transformers.Trainer` for MHIM-MIL: masked hard instance mining with an EMA teacher.

    The student is `model`; `teacher` is the pre-trained attention-MIL baseline (the official `--teacher_init`),
    copied into an EMA teacher ([`mhim_teacher`]) that an [`EMACallback`] updates after every optimizer step. The
    train dataset yields bags (`instances`, `labels`; e.g. a `datasets.Dataset` collated by [`collate_bags`], the
    default collator here).

    Args:
        teacher (`nn.Module`): the pre-trained baseline (not modified; the EMA teacher is a copy, in `self.teacher`).
        mask_ratio_h (`float`, defaults to 0.01): `r_h` at the start of training.
        mask_ratio_hr (`float`, defaults to 0.5): `r_hr`.
        mask_ratio_l (`float`, defaults to 0.0): `r_l`.
        mask_ratio (`float`, defaults to 0.0): `r` (random masking; 0.5 in the official CAMELYON-16 ABMIL run).
        mask_ratio_h_schedule (`str`, defaults to `"cosine"`): `"cosine"` decays `r_h` to 0 over `max_steps` (the
            official `--mrh_sche`), `"constant"` keeps it.
        cl_alpha (`float`, defaults to 0.1): `α`.
        teacher_temperature (`float`, defaults to 0.1): `τ_t`.
        ema_momentum (`float`, defaults to 0.9999): `m` (constant; the official `--mm`).
        Other arguments are those of `transformers.Trainer`.

    Example:

    ```python
    >>> trainer = MHIMTrainer(model=student, teacher=pretrained_abmil, args=args, train_dataset=bags)
    >>> trainer.train()
    >>> trainer.teacher.module   # the momentum teacher
    ```
    """

    def __init__(
        self,
        *args,
        teacher: nn.Module | None = None,
        mask_ratio_h: float = 0.01,
        mask_ratio_hr: float = 0.5,
        mask_ratio_l: float = 0.0,
        mask_ratio: float = 0.0,
        mask_ratio_h_schedule: str = "cosine",
        cl_alpha: float = 0.1,
        teacher_temperature: float = 0.1,
        ema_momentum: float = 0.9999,
        **kwargs,
    ):
        if not isinstance(teacher, nn.Module):
            raise TypeError(
                "teacher must be the pre-trained attention-MIL model (an nn.Module); a random teacher masks random "
                f"instances, got {type(teacher).__name__}"
            )
        if mask_ratio_h_schedule not in ("cosine", "constant"):
            raise ValueError(f"mask_ratio_h_schedule must be 'cosine' or 'constant', got {mask_ratio_h_schedule!r}")
        self.mask_ratio_h = check_number("mask_ratio_h", mask_ratio_h, low=0, high=1)
        self.mask_ratio_hr = check_number("mask_ratio_hr", mask_ratio_hr, low=0, high=1, low_open=True)
        self.mask_ratio_l = check_number("mask_ratio_l", mask_ratio_l, low=0, high=1)
        self.mask_ratio = check_number("mask_ratio", mask_ratio, low=0, high=1)
        self.cl_alpha = check_number("cl_alpha", cl_alpha, low=0)
        self.teacher_temperature = check_number("teacher_temperature", teacher_temperature, low=0, low_open=True)
        self.mask_ratio_h_schedule = mask_ratio_h_schedule
        kwargs.setdefault("data_collator", collate_bags)
        super().__init__(*args, **kwargs)
        self.teacher = mhim_teacher(teacher, ema_momentum).to(self.args.device)
        self.add_callback(EMACallback(self.teacher))
        self.mask_generator = torch.Generator().manual_seed(self.args.seed)

    def current_mask_ratio_h(self) -> float:
        """`r_h` at the current step (cosine decay from `mask_ratio_h` to 0 over `max_steps`, or constant)."""
        if self.mask_ratio_h_schedule == "constant":
            return self.mask_ratio_h
        return cosine_decay(self.mask_ratio_h, 0.0, self.state.global_step, self.state.max_steps)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        terms = mhim_loss(
            model,
            self.teacher,
            inputs["instances"],
            inputs["labels"],
            inputs.get("attention_mask"),
            mask_ratio_h=self.current_mask_ratio_h(),
            mask_ratio_hr=self.mask_ratio_hr,
            mask_ratio_l=self.mask_ratio_l,
            mask_ratio=self.mask_ratio,
            cl_alpha=self.cl_alpha,
            teacher_temperature=self.teacher_temperature,
            generator=self.mask_generator,
        )
        return (terms.loss, {"logits": terms.student_logits}) if return_outputs else terms.loss


__all__ = ["MHIMLossOutput", "MHIMTrainer", "collate_bags", "mhim_loss", "mhim_teacher"]
