"""`StepsToAccuracyCallback`: a `TrainerCallback` that measures when a run groks (first step at a test accuracy)."""

from __future__ import annotations

import torch
from transformers import TrainerCallback

from hf_methods.common.checks import check_number


@torch.no_grad()
def full_batch_accuracy(model, input_ids: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of `model(input_ids=...).logits` on the whole set in one batch (training mode restored)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    logits = model(input_ids=input_ids.to(device)).logits
    model.train(was_training)
    return (logits.argmax(dim=-1).cpu() == labels.cpu()).float().mean().item()


def steps_to_accuracy(curve: list[tuple[int, float]], threshold: float) -> int | None:
    """The first step of `curve` (`[(step, accuracy), ...]` in step order) whose accuracy is ≥ `threshold`, or
    None when the run never reaches it."""
    check_number("threshold", threshold, low=0.0, high=1.0)
    for step, acc in curve:
        if acc >= threshold:
            return int(step)
    return None


class StepsToAccuracyCallback(TrainerCallback):
    """Evaluates the test accuracy every `eval_every` optimisation steps (one full batch, no `Trainer.evaluate`) and
    records the first step at which it reaches `threshold`: the speed of grokking the paper compares.

    The curve is kept in `self.curve` (`[(step, test accuracy)]`, step 0 is the initial model) and logged as
    `test_accuracy`; `self.steps_to_threshold` is the first step ≥ `threshold` (None until then), also written to
    `state.log_history` as `steps_to_threshold`. With `stop_at_threshold=True` training stops there.

    Args:
        input_ids (`torch.LongTensor` of shape `(n, 2)`), labels (`torch.LongTensor` of shape `(n,)`): the test set.
        threshold (`float`, *optional*, defaults to 0.95): the test accuracy that counts as generalised.
        eval_every (`int`, *optional*, defaults to 10): evaluate every this many optimisation steps.
        stop_at_threshold (`bool`, *optional*, defaults to `False`): stop training once the threshold is reached.

    Example:

    ```python
    >>> callback = StepsToAccuracyCallback(split.x_test, split.y_test, threshold=0.95, eval_every=10)
    >>> Trainer(model=ticket, args=args, train_dataset=train, callbacks=[callback]).train()
    >>> callback.steps_to_threshold
    ```
    """

    def __init__(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor,
        *,
        threshold: float = 0.95,
        eval_every: int = 10,
        stop_at_threshold: bool = False,
    ):
        if not isinstance(input_ids, torch.Tensor) or not isinstance(labels, torch.Tensor):
            raise TypeError("input_ids and labels must be torch.Tensors (the test set)")
        if len(input_ids) != len(labels) or len(labels) == 0:
            raise ValueError(
                f"input_ids and labels must hold the same, non-zero number of examples, got {len(input_ids)} and "
                f"{len(labels)}"
            )
        self.threshold = check_number("threshold", threshold, low=0.0, high=1.0)
        if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
            raise ValueError(f"eval_every must be a positive int, got {eval_every!r}")
        self.input_ids, self.labels = input_ids, labels
        self.eval_every = eval_every
        self.stop_at_threshold = bool(stop_at_threshold)
        self.curve: list[tuple[int, float]] = []
        self.steps_to_threshold: int | None = None

    def _measure(self, model, step: int, state) -> dict[str, float]:
        acc = full_batch_accuracy(model, self.input_ids, self.labels)
        self.curve.append((step, acc))
        logs = {"test_accuracy": acc}
        if self.steps_to_threshold is None and acc >= self.threshold:
            self.steps_to_threshold = step
            logs["steps_to_threshold"] = step
        state.log_history.append({**logs, "step": step})
        return logs

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0 and model is not None:
            self._measure(model, 0, state)
        return control

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if model is None or state.global_step % self.eval_every:
            return control
        self._measure(model, state.global_step, state)
        if self.stop_at_threshold and self.steps_to_threshold is not None:
            control.should_training_stop = True
        return control


__all__ = ["StepsToAccuracyCallback", "full_batch_accuracy", "steps_to_accuracy"]
