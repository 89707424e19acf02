"""`AdvCompSumTrainer`: a `transformers.Trainer` that minimises the smooth adversarial comp-sum loss (ADV-COMP-SUM)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Trainer

from hf_methods.common.adversarial import PGDConfig, logits_of
from hf_methods.common.checks import check_number

from .loss import check_tau, comp_sum_loss, smooth_adv_comp_sum_terms


class AdvCompSumTrainer(Trainer):
    r"""`transformers.Trainer` for ADV-COMP-SUM (Mao, Mohri & Zhong, ICML 2023): each training step minimises

        (1/|B|) Σ_i [ ℓ_τ(h, x_i, y_i) + ν · ‖Δh(x'_i, y_i) − Δh(x_i, y_i)‖₂ ],
        x'_i ≈ argmax_{‖x' − x_i‖_p ≤ γ} ‖Δh(x', y_i) − Δh(x_i, y_i)‖₂       (PGD, `attack`),

    with `ℓ_τ` the comp-sum loss and `Δh(x, y) = (h(x, y) − h(x, y'))_{y'}` (see :func:`smooth_adv_comp_sum_loss`).
    As in the TRADES code the attack runs with the model in eval mode (`attack_in_eval_mode=True`; it matters for
    dropout and batch norm only) and the loss is computed in train mode. The attack draws its random start from
    torch's global generator, which the Trainer seeds and checkpoints. `nu=0` skips the attack: plain comp-sum
    training with the same Trainer.

    `evaluate()` reports the comp-sum loss on clean inputs (no attack); `log_terms=True` (the default) adds the batch
    means of the two terms to the training logs as `comp_sum` and `smooth_term`.

    The model is called as `model(**{input_name: x, **other_columns})` and must return `.logits`; `labels` must be a
    column of every batch.

    Args:
        tau (`float`, defaults to 1.0): `τ ≥ 0` of the comp-sum term (1: cross-entropy, 1.5: GCE q = 0.5, 2: MAE).
        nu (`float`, defaults to 6.0): weight `ν ≥ 0` of the smooth term (a TRADES-style guess, see the model card).
        attack (`PGDConfig`, *optional*): the ball and the ascent; default `PGDConfig(eps=0.1, steps=10)` (ℓ∞, inputs
            in [0, 1]).
        input_name (`str`, defaults to `"pixel_values"`): the batch column that is perturbed.
        attack_in_eval_mode (`bool`, defaults to `True`): run the attack with the model in eval mode.
        log_terms (`bool`, defaults to `True`): log the two terms of the loss.
        *args, **kwargs: passed to `transformers.Trainer`.

    Example:

    ```python
    >>> args = TrainingArguments("out", max_steps=200, learning_rate=0.05)
    >>> trainer = AdvCompSumTrainer(model=model, args=args, train_dataset=ds, tau=1.0, nu=6.0,
    ...                             attack=PGDConfig(eps=0.1, steps=10))
    >>> trainer.train()
    ```
    """

    loss_is_scaled_for_ga = False  # the losses are per-batch means

    def __init__(
        self,
        *args,
        tau: float = 1.0,
        nu: float = 6.0,
        attack: PGDConfig | None = None,
        input_name: str = "pixel_values",
        attack_in_eval_mode: bool = True,
        log_terms: bool = True,
        **kwargs,
    ):
        tau = check_tau(tau)
        nu = check_number("nu", nu, low=0)
        if attack is None:
            attack = PGDConfig(eps=0.1, steps=10)
        if not isinstance(attack, PGDConfig):
            raise TypeError(
                f"attack must be a PGDConfig (e.g. PGDConfig(eps=0.1, steps=10)), got {type(attack).__name__}"
            )
        if not isinstance(input_name, str) or not input_name:
            raise TypeError(f"input_name must be a non-empty string, got {input_name!r}")
        super().__init__(*args, **kwargs)
        self.tau, self.nu, self.attack = tau, nu, attack
        self.input_name = input_name
        self.attack_in_eval_mode = bool(attack_in_eval_mode)
        self.log_terms = bool(log_terms)
        self._term_sums: dict[str, float] = {}
        self._term_count = 0

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
            raise ValueError("AdvCompSumTrainer needs a 'labels' column in every batch")
        if self.input_name not in inputs:
            raise ValueError(
                f"AdvCompSumTrainer perturbs the batch column {self.input_name!r}, which this batch lacks "
                f"(columns: {sorted(inputs)}); pass input_name=..."
            )
        x = inputs.pop(self.input_name)

        def forward(m):
            return lambda z: m(**{self.input_name: z}, **inputs)

        if not model.training or self.nu == 0:
            outputs = forward(model)(x)
            loss = comp_sum_loss(logits_of(outputs), labels, self.tau)
            return (loss, outputs) if return_outputs else loss

        unwrapped = self.accelerator.unwrap_model(model)  # the attack's forwards bypass a distributed wrapper

        def attack_forward(z):  # eval mode for the attack only; the loss's forwards run in train mode
            if self.attack_in_eval_mode:
                unwrapped.eval()
            try:
                return unwrapped(**{self.input_name: z}, **inputs)
            finally:
                unwrapped.train()

        comp, distance, clean_logits, adv_logits = smooth_adv_comp_sum_terms(
            forward(model), x, labels, self.attack, tau=self.tau, attack_model=attack_forward
        )
        loss = (comp + self.nu * distance).mean()
        if self.log_terms:
            self._term_sums["comp_sum"] = self._term_sums.get("comp_sum", 0.0) + comp.mean().item()
            self._term_sums["smooth_term"] = self._term_sums.get("smooth_term", 0.0) + distance.mean().item()
            self._term_count += 1
        return (loss, {"logits": clean_logits, "adv_logits": adv_logits}) if return_outputs else loss

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        """Adds the mean of each loss term since the last training log to the training logs."""
        if self._term_count and "loss" in logs:
            for name, total in self._term_sums.items():
                logs[name] = round(total / self._term_count, 4)
            self._term_sums, self._term_count = {}, 0
        super().log(logs, *args, **kwargs)


__all__ = ["AdvCompSumTrainer"]
