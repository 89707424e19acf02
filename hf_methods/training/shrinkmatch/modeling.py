"""`AuxHeadWrapper`: a classifier plus ShrinkMatch's auxiliary head on the classifier's input features."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import ModelOutput

__all__ = ["AuxHeadOutput", "AuxHeadWrapper"]


@dataclass
class AuxHeadOutput(ModelOutput):
    """Output of [`AuxHeadWrapper`].

    Attributes:
        loss (`torch.Tensor`, *optional*): the wrapped model's loss (when it was given `labels`).
        logits (`torch.Tensor` `(B, C)`): the main classifier's logits.
        aux_logits (`torch.Tensor` `(B − aux_start, C)`, *optional*): the auxiliary head's logits on the samples
            from `aux_start` on (`None` without `aux_start`).
        features (`torch.Tensor` `(B, d)`): the features the classifier received (flattened).
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    aux_logits: torch.Tensor | None = None
    features: torch.Tensor | None = None


def _linear_layers(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


class AuxHeadWrapper(nn.Module):
    r"""A classifier with ShrinkMatch's auxiliary head, which learns the shrink loss apart from the main classifier.

    The head reads the features the wrapped model's classifier module receives (captured with a forward pre-hook, so
    any transformers image classifier with a `classifier` module works: `MLPForImageClassification`, ViT, ResNet,
    ...) and is, as in the official `BackBone.head_aux` (`LiheYoung/ShrinkMatch`, `CIFAR/network/shrinkmatch.py`):

        Linear(d, d/4) → BatchNorm1d → LeakyReLU(0.1) → Linear(d/4, d/4) → BatchNorm1d → LeakyReLU(0.1) → Linear(d/4, C)

    Only the main classifier is used at evaluation and saved for inference (`wrapper.model`); the auxiliary head is a
    training-time module.

    Args:
        model (`nn.Module`): the classifier (returns `.logits`, a dict with `"logits"` or a tuple with the logits
            first) with a submodule named `classifier_name` whose input is the feature vector.
        num_labels (`int`, *optional*): classes of the head (default: `model.config.num_labels`, else the
            classifier's last `Linear.out_features`).
        feature_size (`int`, *optional*): `d` (default: the classifier's first `Linear.in_features`).
        hidden_size (`int`, *optional*): width of the head (default `max(1, d // 4)`, the official `d/4`).
        classifier_name (`str`, defaults to `"classifier"`): the attribute path of the classifier module
            (dots allowed, e.g. `"head.fc"`).
        negative_slope (`float`, defaults to 0.1): LeakyReLU slope.

    Example:

    ```python
    >>> backbone = MLPForImageClassification(MLPConfig(input_size=64, hidden_sizes=[256, 256], num_labels=10))
    >>> model = AuxHeadWrapper(backbone, num_labels=10)
    >>> out = model(pixel_values=x, aux_start=n)   # out.logits for all of x, out.aux_logits for x[n:]
    ```
    """

    def __init__(
        self,
        model: nn.Module,
        num_labels: int | None = None,
        feature_size: int | None = None,
        hidden_size: int | None = None,
        classifier_name: str = "classifier",
        negative_slope: float = 0.1,
    ):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module classifier, got {type(model).__name__}")
        try:
            classifier = model.get_submodule(classifier_name)
        except AttributeError:
            raise ValueError(
                f"classifier_name={classifier_name!r}: the model has no such submodule; name the module whose input "
                "is the feature vector (e.g. 'classifier')"
            ) from None
        linears = _linear_layers(classifier)
        if feature_size is None:
            if not linears:
                raise ValueError(
                    f"feature_size is required: the classifier module {classifier_name!r} has no nn.Linear to read it from"
                )
            feature_size = linears[0].in_features
        if num_labels is None:
            num_labels = getattr(getattr(model, "config", None), "num_labels", None)
            if num_labels is None and linears:
                num_labels = linears[-1].out_features
            if num_labels is None:
                raise ValueError("num_labels is required: it cannot be read from the model's config or classifier")
        for name, value in (("num_labels", num_labels), ("feature_size", feature_size), ("hidden_size", hidden_size)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < (2 if name == "num_labels" else 1):
                raise ValueError(f"{name} must be >= {2 if name == 'num_labels' else 1}, got {value}")
        hidden = max(1, feature_size // 4) if hidden_size is None else hidden_size
        self.model = model
        self.classifier_name = classifier_name
        self.num_labels = num_labels
        self.head_aux = nn.Sequential(
            nn.Linear(feature_size, hidden),
            nn.BatchNorm1d(hidden),
            nn.LeakyReLU(negative_slope),
            nn.Linear(hidden, hidden),
            nn.BatchNorm1d(hidden),
            nn.LeakyReLU(negative_slope),
            nn.Linear(hidden, num_labels),
        )
        self._features: torch.Tensor | None = None
        classifier.register_forward_pre_hook(self._capture)

    def _capture(self, module, args):
        self._features = args[0]

    @property
    def main_input_name(self) -> str:
        return getattr(self.model, "main_input_name", "pixel_values")

    @property
    def config(self):
        return getattr(self.model, "config", None)

    def forward(self, *args, aux_start: int | None = None, **kwargs) -> AuxHeadOutput:
        """Runs the wrapped model (all arguments passed on) and the auxiliary head on the samples `aux_start:`.

        `aux_start=None` (the default: inference) skips the head; training passes the index of the first strong
        unlabelled view, since the official model runs the head on those only (which matters for its batch norms).
        """
        self._features = None
        outputs = self.model(*args, **kwargs)
        features, self._features = self._features, None
        if features is None:
            raise RuntimeError(
                f"the classifier module {self.classifier_name!r} was not called in the model's forward, so its input "
                "features could not be captured"
            )
        if isinstance(outputs, dict):
            logits, loss = outputs["logits"], outputs.get("loss")
        elif isinstance(outputs, torch.Tensor):
            logits, loss = outputs, None
        else:  # a transformers tuple: (loss, logits, ...) when labels were given, (logits, ...) otherwise
            with_loss = kwargs.get("labels") is not None and len(outputs) > 1
            logits, loss = (outputs[1], outputs[0]) if with_loss else (outputs[0], None)
        features = features.flatten(1)
        aux_logits = None
        if aux_start is not None:
            if isinstance(aux_start, bool) or not isinstance(aux_start, int) or not 0 <= aux_start <= len(features):
                raise ValueError(f"aux_start must be an int in [0, {len(features)}] or None, got {aux_start!r}")
            aux_logits = self.head_aux(features[aux_start:])
        return AuxHeadOutput(loss=loss, logits=logits, aux_logits=aux_logits, features=features)
