"""`IPRCallback`: a `TrainerCallback` that tracks the Fourier IPR of the hidden neurons (and the corrupted / clean
accuracies) while a `Trainer` trains, as the paper's training curves do (Doshi et al., 2023, Figs. 2 and 5)."""

from __future__ import annotations

from transformers import TrainerCallback

from hf_methods.common.checks import check_number, check_positive_int

from .analysis import IPRTrace
from .data import CorruptedModularSplit


class IPRCallback(TrainerCallback):
    """Every `every` optimisation steps (and before the first), measures [`fourier_ipr`] of the model's hidden layer
    and, when `split` is given, its accuracies on all, corrupted, clean training and test pairs. The values go to
    `self.trace` (an [`IPRTrace`], with `save_plot`) and to the `Trainer`'s logs (`ipr/mean`, `ipr/median`,
    `ipr/fraction_periodic`, `accuracy/<subset>`), so they reach its reporting integrations.

    Args:
        split ([`CorruptedModularSplit`], *optional*): the data whose accuracies are tracked.
        every (`int`, *optional*, defaults to 10): measure every this many optimisation steps.
        input_layer, output_layer, input_blocks, r, periodic_threshold: passed to [`fourier_ipr`].
        bins (`int`, *optional*, defaults to 20): bins of the IPR histograms kept in the trace.

    Example:

    ```python
    >>> callback = IPRCallback(split, every=10)
    >>> Trainer(model=model, args=args, train_dataset=train, callbacks=[callback]).train()
    >>> callback.trace.save_plot("ipr.png"); callback.trace.mean_ipr[-1]
    ```
    """

    def __init__(
        self,
        split: CorruptedModularSplit | None = None,
        *,
        every: int = 10,
        input_layer="fc_in",
        output_layer="fc_out",
        input_blocks: int = 2,
        r: float = 2.0,
        periodic_threshold: float = 0.5,
        bins: int = 20,
    ):
        if split is not None and not isinstance(split, CorruptedModularSplit):
            raise TypeError(f"split must be a CorruptedModularSplit or None, got {type(split).__name__}")
        self.split = split
        self.every = check_positive_int("every", every)
        self.ipr_kwargs = {
            "input_layer": input_layer,
            "output_layer": output_layer,
            "input_blocks": check_positive_int("input_blocks", input_blocks),
            "r": check_number("r", r, low=0.5, low_open=True),
            "periodic_threshold": check_number("periodic_threshold", periodic_threshold, low=0.0, high=1.0),
        }
        self.trace = IPRTrace(bins=check_positive_int("bins", bins))

    def _measure(self, model, state) -> None:
        logs = self.trace.measure(model, state.global_step, self.split, **self.ipr_kwargs)
        state.log_history.append({**logs, "step": state.global_step})

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if model is not None and state.global_step == 0:
            self._measure(model, state)
        return control

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if model is not None and state.global_step % self.every == 0:
            self._measure(model, state)
        return control


__all__ = ["IPRCallback"]
