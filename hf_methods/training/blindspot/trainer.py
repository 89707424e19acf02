"""`BlindspotUnlearningTrainer`: Blindspot unlearning (Tarun et al., ICML 2023) as a `transformers.Trainer`.

The trainer fine-tunes a copy of the trained regression model on a data set that mixes the forget and retain
examples (a 0/1 column `"forget"`), next to the frozen "blindspot" proxy model (see [`train_blindspot_model`]): on
retain examples the copy fits the labels (L1), on forget examples it copies the proxy's output (L1) and the
attention maps of its intermediate activations (attention transfer, weight β); see
[`~hf_methods.training.blindspot.loss.blindspot_unlearning_loss`] for the equation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from hf_methods.common.adversarial import logits_of
from hf_methods.common.distill import TeacherStudentTrainer

from .loss import BlindspotUnlearningLoss

__all__ = ["BlindspotUnlearningTrainer", "capture_activations"]


@contextmanager
def capture_activations(model: nn.Module, layer_names: Sequence[str]) -> Iterator[list[torch.Tensor]]:
    """Collects the outputs of the named submodules during the forward passes run inside the block.

    Yields a list that is filled, in the order of `layer_names`, once the model has run; the hooks are removed on
    exit. Raises a `ValueError` naming a layer the model does not have.

    Example:

    ```python
    >>> with capture_activations(model, ["mlp.layers.1", "mlp.layers.3"]) as acts:
    ...     out = model(pixel_values=x)
    >>> [a.shape for a in acts]
    ```
    """
    modules = dict(model.named_modules())
    missing = [name for name in layer_names if name not in modules]
    if missing:
        raise ValueError(f"activation_layers {missing} are not submodules of {type(model).__name__}")
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for name in layer_names:

        def hook(module, args, output, name=name):
            captured[name] = output[0] if isinstance(output, (tuple, list)) else output

        handles.append(modules[name].register_forward_hook(hook))
    activations: list[torch.Tensor] = []
    try:
        yield activations
    finally:
        for handle in handles:
            handle.remove()
    activations.extend(captured[name] for name in layer_names if name in captured)


class BlindspotUnlearningTrainer(TeacherStudentTrainer):
    """Blindspot unlearning: trains `model` (a copy of the original model) against the frozen `blindspot_model`.

    Every batch holds `labels` (float regression targets) and `forget` (1 for an example to forget, 0 to keep); the
    loss is the official L = c·L_f + (1 − c)·L_r with c the batch's forget fraction (see
    [`BlindspotUnlearningLoss`]). The proxy is a [`TeacherStudentTrainer`] teacher: frozen, in eval mode, moved to
    the device, not saved. The `labels` and `forget` columns are kept although the model's `forward` need not take
    them.

    Which activations enter the attention-transfer term:

    - `activation_layers=None`: every entry of `outputs.hidden_states` (both models are called with
      `output_hidden_states=True`);
    - a list of `int`: those indices of `hidden_states` (e.g. `[1, 2]`), the same indices in both models;
    - a list of `str`: the outputs of those submodules (forward hooks), e.g. `["mlp.layers.1", "mlp.layers.3"]` for
      `hf_methods.common.mlp.MLPForImageClassification`, which returns no hidden states.

    Both models must have the same architecture so that layer l of one pairs with layer l of the other.

    Args:
        blindspot_model (`nn.Module`): the proxy g, trained briefly on the retain data only.
        at_beta (`float`, defaults to 50.0): β of the attention-transfer term (0 turns it off).
        activation_layers (`list[int] | list[str] | None`): see above.
        *args, **kwargs: passed to `transformers.Trainer` (`model`, `args`, `train_dataset`, ...).

    Example:

    ```python
    >>> trainer = BlindspotUnlearningTrainer(model=copy.deepcopy(original), blindspot_model=proxy, args=args,
    ...                                      train_dataset=mixed, activation_layers=["mlp.layers.1", "mlp.layers.3"])
    >>> trainer.train()
    >>> unlearned = trainer.model
    ```
    """

    forget_column = "forget"
    teacher_ignore_columns = ("labels", "forget")
    loss_is_scaled_for_ga = False  # the loss is a per-batch mean

    def __init__(
        self,
        *args,
        blindspot_model: nn.Module,
        at_beta: float = 50.0,
        activation_layers: Sequence[int] | Sequence[str] | None = None,
        **kwargs,
    ):
        self.loss_fn = BlindspotUnlearningLoss(at_beta=at_beta)  # validates at_beta
        if activation_layers is not None:
            if isinstance(activation_layers, (str, int)) or not isinstance(activation_layers, Sequence):
                raise TypeError("activation_layers must be a list of layer indices or of submodule names, or None")
            kinds = {type(layer) for layer in activation_layers}
            if not activation_layers or not (kinds <= {int} or kinds <= {str}):
                raise TypeError(
                    f"activation_layers must be a non-empty list of ints or of strs, got {list(activation_layers)!r}"
                )
            activation_layers = list(activation_layers)
        self.activation_layers = activation_layers
        super().__init__(*args, teacher=blindspot_model, **kwargs)
        if activation_layers is not None and isinstance(activation_layers[0], str):
            for name, net in (("model", self.model), ("blindspot_model", self.teacher)):
                known = {n for n, _ in net.named_modules()}
                missing = [layer for layer in activation_layers if layer not in known]
                if missing:
                    raise ValueError(f"activation_layers {missing} are not submodules of {name}")

    def _set_signature_columns_if_needed(self) -> None:
        # the Trainer keeps only the columns the model's forward takes; the targets and forget flags are read by the
        # loss (the model is never given them), so they are kept whatever the model's signature says
        super()._set_signature_columns_if_needed()
        for column in ("labels", self.forget_column):
            if column not in self._signature_columns:
                self._signature_columns.append(column)

    def model_inputs(self, inputs: dict[str, Any], *, for_teacher: bool = False) -> dict[str, Any]:
        """The batch without `labels` and `forget` (neither model takes them)."""
        return {k: v for k, v in inputs.items() if k not in ("labels", self.forget_column)}

    def predictions_and_activations(self, model: nn.Module, inputs: dict[str, Any]):
        """Runs `model` on the batch; returns its outputs, its predictions and the chosen activations (a list)."""
        layers = self.activation_layers
        if layers is not None and isinstance(layers[0], str):
            with capture_activations(self.accelerator.unwrap_model(model), layers) as activations:
                outputs = model(**inputs)
            return outputs, logits_of(outputs), activations
        outputs = model(**inputs, output_hidden_states=True)
        hidden = outputs.get("hidden_states") if isinstance(outputs, dict) else getattr(outputs, "hidden_states", None)
        if hidden is None:
            raise ValueError(
                f"{type(model).__name__} returned no hidden_states with output_hidden_states=True: pass "
                "activation_layers as submodule names (e.g. ['mlp.layers.1'])"
            )
        hidden = list(hidden)
        if layers is not None:
            if any(not -len(hidden) <= i < len(hidden) for i in layers):
                raise ValueError(f"activation_layers {layers} out of range for {len(hidden)} hidden states")
            hidden = [hidden[i] for i in layers]
        return outputs, logits_of(outputs), hidden

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        for column in ("labels", self.forget_column):
            if inputs.get(column) is None:
                raise ValueError(
                    f"BlindspotUnlearningTrainer needs a {column!r} column in every batch (labels: the regression "
                    "targets; forget: 1 for an example to forget, 0 to keep)"
                )
        model_inputs = self.model_inputs(inputs)
        outputs, predictions, activations = self.predictions_and_activations(model, model_inputs)
        self.teacher.eval()
        with torch.no_grad():
            _, proxy_predictions, proxy_activations = self.predictions_and_activations(self.teacher, model_inputs)
        labels = inputs["labels"].to(predictions.dtype)
        if labels.numel() == predictions.numel():
            labels = labels.reshape(predictions.shape)
        loss = self.loss_fn(
            predictions, labels, inputs[self.forget_column], proxy_predictions, activations, proxy_activations
        )
        return (loss, outputs) if return_outputs else loss
