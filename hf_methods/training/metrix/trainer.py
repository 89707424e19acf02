"""Metrix at the input, feature and embedding levels for any embedding model: [`metrix_step_loss`] and
[`MetrixTrainer`] (a `transformers.Trainer`).

One step (official code: `train.py`, `{input,feature,embed}_metrix_contrastive`):

1. the clean batch is embedded, `e = f(x)`, and the base loss ℓ(a) is taken on it;
2. a pairing and λ ~ Beta(α, α) are drawn, and [`mix_plan`] lists the mixes (anchor, first, second);
3. the mixes are embedded according to the level:
   - `"input"`: `u = f(λ·x_first + (1 − λ)·x_second)` (the official code mixes each positive pair with the
     anchor's hardest negative only, `top_k = 1`);
   - `"feature"`: a forward hook on `feature_module` replaces its output `h` by `λ·h_first + (1 − λ)·h_second`
     during a second forward pass, so the layers after it embed the mixed features (the official code mixes the
     ResNet's last feature map, before pooling and the embedding layer);
   - `"embedding"`: `u = λ·e_first + (1 − λ)·e_second`;
4. the loss is `(1/B) Σ_a [ℓ(a) + weight_b·ℓ̃(a)]` with the anchors' clean embeddings.

The official code embeds the anchors of the mixed pairs a second time (`network(anchor_images)`); here the clean
embeddings of step 1 are reused, which is the same for a model without dropout or batch statistics in training mode.
The official code also freezes the backbone's BatchNorm layers (eval mode) for the whole training, and clips
gradients at 10 by value; a CNN backbone should do the same (pass `max_grad_norm` or a callback to the Trainer).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from transformers import Trainer

from hf_methods.common.checkpointing import ExtraStateCheckpointMixin

from .loss import LEVELS, MetrixLoss, MixPlan, check_embeddings_labels, mix_embeddings


def logits_as_embeddings(outputs) -> torch.Tensor:
    """The embedding of a model output: `outputs.embeddings`, else `.logits`, else the first element or tensor."""
    if isinstance(outputs, torch.Tensor):
        return outputs
    for key in ("embeddings", "logits"):
        value = outputs.get(key) if isinstance(outputs, dict) else getattr(outputs, key, None)
        if isinstance(value, torch.Tensor):
            return value
    if isinstance(outputs, (tuple, list)) and outputs and isinstance(outputs[0], torch.Tensor):
        return outputs[0]
    raise TypeError(f"cannot find embeddings in a model output of type {type(outputs).__name__}")


@contextmanager
def feature_mixing_hook(module: nn.Module, plan: MixPlan, lam: float):
    """While active, `module`'s output `h` (a tensor with the batch first) becomes `λ·h[first] + (1 − λ)·h[second]`."""

    def hook(_module, _args, output):
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"feature mixing needs a module whose output is a tensor (batch first), got {type(output).__name__}: "
                "choose a submodule that returns a plain tensor (e.g. an nn.Sequential of layers)"
            )
        first, second = plan.first.to(output.device), plan.second.to(output.device)
        return lam * output[first] + (1 - lam) * output[second]

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def metrix_step_loss(
    model: nn.Module,
    inputs: dict[str, Any],
    labels: torch.Tensor,
    loss_fn: MetrixLoss,
    *,
    input_key: str = "pixel_values",
    feature_module: str | None = None,
    embeddings_of: Callable[[Any], torch.Tensor] = logits_as_embeddings,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The Metrix objective of one batch at `loss_fn.level`; returns `(loss, logs)`.

    Args:
        model (`nn.Module`): the embedding model, called as `model(**inputs)`.
        inputs (`dict`): the model inputs of the batch (without the labels).
        labels (`torch.LongTensor` of shape `(batch,)`): class ids.
        loss_fn (`MetrixLoss`): base, level, α, weights, pairing and the generator of the draws.
        input_key (`str`, defaults to `"pixel_values"`): the input mixed at the input level (a float tensor with
            the batch first).
        feature_module (`str`, *optional*): the name (as in `model.named_modules()`) of the module whose output is
            mixed at the feature level; required there.
        embeddings_of (`Callable`, defaults to [`logits_as_embeddings`]): maps a model output to `(batch, dim)`.

    The logs hold the clean and Metrix parts of the loss, λ, the pairing (1 = positive-negative) and the number
    of mixes.
    """
    if not isinstance(loss_fn, MetrixLoss):
        raise TypeError(f"loss_fn must be a MetrixLoss, got {type(loss_fn).__name__}")
    level = loss_fn.level
    module = None
    if level == "feature":
        if not feature_module:
            raise ValueError("level='feature' needs feature_module: the name of the submodule whose output is mixed")
        modules = dict(model.named_modules())
        if feature_module not in modules:
            raise ValueError(f"feature_module {feature_module!r} is not a submodule of the model")
        module = modules[feature_module]
    if level == "input":
        x = inputs.get(input_key)
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise ValueError(f"level='input' mixes inputs[{input_key!r}], which must be a floating-point tensor")

    embeddings = embeddings_of(model(**inputs))
    check_embeddings_labels(embeddings, labels)
    clean = loss_fn.clean_loss(embeddings, labels)
    pairing, lam = loss_fn.draw()
    plan = loss_fn.plan(labels, pairing, embeddings)
    if len(plan) == 0:
        mixed = torch.zeros_like(clean)
    else:
        if level == "embedding":
            mixed_embeddings = mix_embeddings(embeddings, plan, lam)
        elif level == "input":
            first, second = plan.first.to(x.device), plan.second.to(x.device)
            mixed_inputs = {input_key: lam * x[first] + (1 - lam) * x[second]}
            mixed_embeddings = embeddings_of(model(**mixed_inputs))
        else:
            with feature_mixing_hook(module, plan, lam):
                mixed_embeddings = embeddings_of(model(**inputs))
        if mixed_embeddings.shape[0] != len(plan):
            raise ValueError(
                f"the model returned {mixed_embeddings.shape[0]} embeddings for {len(plan)} mixes: at the feature "
                "level the layers after feature_module must act on each example separately"
            )
        anchors = embeddings[plan.anchor.to(embeddings.device)]
        mixed = loss_fn.mixed_loss(anchors, mixed_embeddings, plan, lam)
    loss = (clean + mixed).mean()
    logs = {
        "clean_loss": float(clean.detach().mean()),
        "metrix_loss": float(mixed.detach().mean()),
        "lambda": lam,
        "positive_negative": float(pairing == "positive_negative"),
        "num_mixes": float(len(plan)),
    }
    return loss, logs


class MetrixTrainer(ExtraStateCheckpointMixin, Trainer):
    """`transformers.Trainer` that trains an embedding model with a base metric loss plus Metrix.

    The model is called without `labels` (its own loss is ignored) and its output is mapped to `(batch, dim)`
    embeddings by `embeddings_of` (default: `.embeddings`, else `.logits`). The level, base, α, weights and the
    generator of λ and of the pairing come from `loss` (a [`MetrixLoss`]); the generator's state is saved in every
    checkpoint and restored on resume. Evaluation reports the clean base loss only (no mixing).

    Args:
        loss (`MetrixLoss`): e.g. `MetrixLoss(base="contrastive", level="feature", seed=0)`.
        feature_module (`str`, *optional*): submodule whose output is mixed (required at `level="feature"`).
        input_key (`str`, defaults to `"pixel_values"`): the input mixed at `level="input"`.
        embeddings_of (`Callable`, *optional*): maps a model output to embeddings.
        *args, **kwargs: passed to `transformers.Trainer`.

    Example:

    ```python
    >>> loss = MetrixLoss(base="contrastive", level="feature", seed=0)
    >>> trainer = MetrixTrainer(model=model, args=args, train_dataset=ds, loss=loss, feature_module="mlp.layers")
    >>> trainer.train()
    ```
    """

    # the generator of λ and of the pairing travels with the checkpoints
    extra_state_file = "metrix_loss_state.pt"
    extra_state_description = "Metrix's mixing generator"

    def __init__(
        self,
        *args,
        loss: MetrixLoss,
        feature_module: str | None = None,
        input_key: str = "pixel_values",
        embeddings_of: Callable[[Any], torch.Tensor] | None = None,
        **kwargs,
    ):
        if not isinstance(loss, MetrixLoss):
            raise TypeError(f"loss must be a MetrixLoss, got {type(loss).__name__}")
        if loss.level not in LEVELS:  # pragma: no cover - MetrixLoss validates it
            raise ValueError(f"loss.level must be one of {LEVELS}")
        super().__init__(*args, **kwargs)
        if loss.level == "feature":
            if not feature_module:
                raise ValueError(
                    "MetrixLoss(level='feature') needs feature_module (the submodule whose output is mixed)"
                )
            if feature_module not in dict(self.model.named_modules()):
                raise ValueError(f"feature_module {feature_module!r} is not a submodule of the model")
        self.loss_fn = loss
        self.feature_module = feature_module
        self.input_key = input_key
        self.embeddings_of = embeddings_of or logits_as_embeddings
        self.last_metrix_logs: dict[str, float] = {}

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
            raise ValueError("MetrixTrainer needs a 'labels' column in every batch")
        if not model.training:
            outputs = model(**inputs)
            loss = self.loss_fn.clean_loss(self.embeddings_of(outputs), labels).mean()
            return (loss, outputs) if return_outputs else loss
        loss, logs = metrix_step_loss(
            model,
            inputs,
            labels,
            self.loss_fn,
            input_key=self.input_key,
            feature_module=self.feature_module,
            embeddings_of=self.embeddings_of,
        )
        self.last_metrix_logs = logs
        if return_outputs:
            return loss, {"loss": loss}
        return loss

    def extra_state_module(self) -> nn.Module:
        return self.loss_fn

    def extra_state_required(self) -> bool:
        return False  # an older checkpoint without it resumes with a fresh generator


__all__ = ["MetrixTrainer", "feature_mixing_hook", "logits_as_embeddings", "metrix_step_loss"]
