"""`DONETrainer`: adversarial training whose per-example adversarial losses are weighted by KL-DRO weights (DONE)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Trainer

from hf_methods.common.adversarial import (
    ClasswiseAccuracy,
    PGDConfig,
    classwise_robust_accuracy,
    logits_of,
    pgd_attack,
    trades_kl,
)
from hf_methods.common.checkpointing import ExtraStateCheckpointMixin

from .loss import DONEWeightedLoss

OBJECTIVES = ("ce", "trades")


def adversarial_per_sample_losses(
    model: Callable,
    pixel_values: torch.Tensor,
    labels: torch.Tensor,
    attack: PGDConfig,
    *,
    objective: str = "ce",
    trades_beta: float = 6.0,
    attack_model: Callable | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The per-example adversarial losses `ℓ_i(θ; x_i + δ_i*)` that DONE reweights, with the attack found first.

    - `objective="ce"` (Madry et al.): `δ_i* ≈ argmax_{‖δ‖≤ε} CE(f(x_i + δ), y_i)` by PGD, `ℓ_i = CE(f(x_i + δ_i*), y_i)`;
    - `objective="trades"` (Zhang et al., 2019): `δ_i*` maximises `KL(f(x_i) ‖ f(x_i + δ))`,
      `ℓ_i = CE(f(x_i), y_i) + β_T · KL(f(x_i) ‖ f(x_i + δ_i*))`.

    The attack differentiates with respect to the input only and returns detached inputs, so the losses'
    gradient is the Danskin-style gradient at the fixed `δ_i*`.

    Args:
        model: a callable from inputs to scores (`.logits`, a tensor, ...), differentiated for the losses.
        pixel_values (`torch.Tensor`): the clean inputs, batch first.
        labels (`torch.LongTensor` of shape `(batch,)`): class indices.
        attack (`PGDConfig`): the inner maximisation (ball, steps, step size, input range).
        objective (`str`, defaults to `"ce"`): `"ce"` or `"trades"`.
        trades_beta (`float`, defaults to 6.0): `β_T` of TRADES (only with `objective="trades"`).
        attack_model (*optional*): the callable the attack runs (default `model`; a trainer passes the unwrapped
            model so a distributed wrapper sees a single forward per step).
        generator (`torch.Generator`, *optional*): for the attack's random start.

    Returns:
        `(losses, adversarial_logits)`: per-example losses of shape `(batch,)` and the model's scores on `x + δ*`.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    attack_model = attack_model or model
    if objective == "ce":
        x_adv = pgd_attack(attack_model, pixel_values, labels, attack, generator=generator)
        adv_logits = logits_of(model(x_adv))
        return F.cross_entropy(adv_logits, labels, reduction="none"), adv_logits
    with torch.no_grad():
        clean_for_attack = logits_of(attack_model(pixel_values)).detach()
    x_adv = pgd_attack(attack_model, pixel_values, clean_for_attack, attack, loss_fn=trades_kl, generator=generator)
    clean_logits = logits_of(model(pixel_values))
    adv_logits = logits_of(model(x_adv))
    natural = F.cross_entropy(clean_logits, labels, reduction="none")
    return natural + trades_beta * trades_kl(adv_logits, clean_logits), adv_logits


class DONETrainer(ExtraStateCheckpointMixin, Trainer):
    r"""`transformers.Trainer` for DONE: PGD adversarial training with KL-DRO instance weights.

    Each training step (Sow et al., ICLR 2024, the PGD / Danskin variant of the CID algorithm):

    1. find `δ_i*` for every example of the batch with the shared `pgd_attack` (input gradients only);
    2. compute the per-example adversarial losses `ℓ_i` (cross-entropy, or TRADES with `objective="trades"`);
    3. move the running normaliser `u ← (1 − β) u + β (1/|B|) Σ_i exp(ℓ_i / r)` and set `w_i = exp(ℓ_i / r) / u`;
    4. minimise `(1/|B|) Σ_i w_i ℓ_i` with the weights held fixed (no gradient through them).

    `r → ∞` is standard adversarial training (every `w_i = 1`); small `r` concentrates the update on the examples with
    the largest adversarial loss. The normaliser is trainer state (`self.weighted_loss.normalizer`), saved in every
    checkpoint and restored by `train(resume_from_checkpoint=...)`; under data parallelism it is moved with the
    global batch (`accelerator.gather`). Evaluation (`evaluate()`) reports the unweighted mean adversarial loss and
    leaves the normaliser alone; :meth:`classwise_robust_accuracy` gives per-class robust accuracy and its worst class.

    The model is called as `model(**{input_name: x, **other_columns})` and must return `.logits`; `labels` must be a
    column of every batch.

    Args:
        attack (`PGDConfig`): the training attack, e.g. `PGDConfig(eps=0.1, steps=5)` (ℓ∞, inputs in [0, 1]).
        r (`float`, defaults to 2.0): the KL regularisation strength `r > 0`.
        beta (`float`, defaults to 0.9): the normaliser's moving-average rate `β ∈ (0, 1]`.
        objective (`str`, defaults to `"ce"`): `"ce"` (Madry adversarial training) or `"trades"`.
        trades_beta (`float`, defaults to 6.0): TRADES' `β_T`.
        input_name (`str`, defaults to `"pixel_values"`): the batch column that is attacked.
        *args, **kwargs: passed to `transformers.Trainer`.

    Example:

    ```python
    >>> trainer = DONETrainer(model=model, args=args, train_dataset=ds, attack=PGDConfig(eps=0.1, steps=5), r=2.0)
    >>> trainer.train()
    >>> trainer.classwise_robust_accuracy(x_test, y_test, num_classes=10).worst
    ```
    """

    loss_is_scaled_for_ga = False  # the losses are per-batch means
    # the running normaliser travels with the checkpoints
    extra_state_file = "done_normalizer_state.pt"
    extra_state_description = "DONE's running normaliser"

    def __init__(
        self,
        *args,
        attack: PGDConfig,
        r: float = 2.0,
        beta: float = 0.9,
        objective: str = "ce",
        trades_beta: float = 6.0,
        input_name: str = "pixel_values",
        **kwargs,
    ):
        if not isinstance(attack, PGDConfig):
            raise TypeError(
                f"attack must be a PGDConfig (e.g. PGDConfig(eps=0.1, steps=5)), got {type(attack).__name__}"
            )
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not isinstance(trades_beta, (int, float)) or isinstance(trades_beta, bool) or trades_beta < 0:
            raise ValueError(f"trades_beta must be a number >= 0, got {trades_beta!r}")
        if not isinstance(input_name, str) or not input_name:
            raise TypeError(f"input_name must be a non-empty string, got {input_name!r}")
        weighted_loss = DONEWeightedLoss(r=r, beta=beta)  # validates r and beta before the Trainer is built
        super().__init__(*args, **kwargs)
        self.attack = attack
        self.objective = objective
        self.trades_beta = float(trades_beta)
        self.input_name = input_name
        self.weighted_loss = weighted_loss

    @property
    def normalizer(self):
        """The running normaliser `u` (a :class:`KLDRONormalizer`)."""
        return self.weighted_loss.normalizer

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        if labels is None:
            raise ValueError("DONETrainer needs a 'labels' column in every batch")
        if self.input_name not in inputs:
            raise ValueError(
                f"DONETrainer attacks the batch column {self.input_name!r}, which this batch lacks "
                f"(columns: {sorted(inputs)}); pass input_name=..."
            )
        x = inputs.pop(self.input_name)
        unwrapped = self.accelerator.unwrap_model(model)

        def forward(m):
            return lambda z: m(**{self.input_name: z}, **inputs)

        losses, adv_logits = adversarial_per_sample_losses(
            forward(model),
            x,
            labels,
            self.attack,
            objective=self.objective,
            trades_beta=self.trades_beta,
            attack_model=forward(unwrapped),
        )
        self.weighted_loss.to(losses.device)
        if model.training:
            self.weighted_loss.train()
            gather = self.accelerator.gather if self.accelerator.num_processes > 1 else None
            loss = self.weighted_loss.reweight(losses, gather)
        else:
            loss = losses.mean()  # evaluation: the plain robust loss, the normaliser untouched
        return (loss, {"logits": adv_logits}) if return_outputs else loss

    def classwise_robust_accuracy(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor,
        num_classes: int,
        attack: PGDConfig | None | str = "train",
        *,
        batch_size: int = 512,
    ) -> ClasswiseAccuracy:
        """Per-class accuracy of the trained model under `attack`, its mean and its worst class.

        Args:
            pixel_values, labels: the evaluation inputs and class indices.
            num_classes (`int`): number of classes.
            attack (`PGDConfig`, `None` or `"train"`, defaults to `"train"`): the evaluation attack; `"train"` reuses
                the training attack, `None` measures clean accuracy.
            batch_size (`int`, defaults to 512): evaluation batch size.

        Returns:
            `ClasswiseAccuracy` (shared `hf_methods.common.adversarial.classwise_robust_accuracy`, eval mode inside).
        """
        if isinstance(attack, str) and attack != "train":
            raise ValueError(f"attack must be a PGDConfig, None (clean) or 'train', got {attack!r}")
        model = self.accelerator.unwrap_model(self.model)
        device = next(model.parameters()).device
        return classwise_robust_accuracy(
            model,
            pixel_values.to(device),
            labels.to(device),
            self.attack if attack == "train" else attack,
            num_classes,
            batch_size=batch_size,
        )

    def extra_state_module(self) -> nn.Module:
        return self.weighted_loss


__all__ = ["DONETrainer", "adversarial_per_sample_losses"]
