"""Layer-wise feature gains and linear probes: the measurements of Xue et al. (ICLR 2024).

For a network f = f_L ∘ … ∘ f_1 and unit feature directions e_1, …, e_F of the input space, the gain of feature j at
layer l is how strongly layer l's output responds to that feature,

    g_{l,j} = ‖f_{≤l}(e_j) − f_{≤l}(0)‖,

which for a bias-free linear stack is ‖W_l ⋯ W_1 e_j‖ (the paper's per-feature weights of the layer-l representation).
The paper shows that contrastive training by gradient descent from small initialisation weights features more and more
unequally with depth: for two balanced linear layers (W_1 W_1ᵀ ≈ W_2ᵀ W_2) the end-to-end gain is about the square of
the first layer's, so log(max_j g_{2,j} / min_j g_{2,j}) ≈ 2 · log(max_j g_{1,j} / min_j g_{1,j}). The dataclass
reports these log ratios and their ratio to the first layer's (the "exponent", ≈ l for balanced linear layers).

[`linear_probe_accuracy`] fits scikit-learn's `LogisticRegression` on one representation; the representation is first
divided by its root-mean-square norm on the training points (one scalar), so that the probe sees how the representation
weights its directions and not its overall scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hf_methods.common.checks import check_number


@dataclass
class LayerwiseFeatureGains:
    """Per-layer, per-feature gains of a network.

    Attributes:
        gains (`list[list[float]]`): `gains[l][j]` = g_{l+1, j}, the gain of feature j at the output of layer l + 1.
        log_ratios (`list[float]`): log(max_j g / min_j g) per layer (0 when every feature has the same gain).
        exponents (`list[float]`): `log_ratios[l] / log_ratios[0]` (1 for the first layer, ≈ l + 1 for balanced linear
            layers; NaN-free: 0 when the first layer's ratio is 0).
    """

    gains: list[list[float]]
    log_ratios: list[float]
    exponents: list[float]

    @property
    def g1(self) -> list[float]:
        """The first layer's gains."""
        return self.gains[0]

    @property
    def g2(self) -> list[float]:
        """The second layer's gains."""
        return self.gains[1]


def _layers(model) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        layers = list(model)
    elif isinstance(model, (list, tuple, nn.ModuleList)):
        layers = list(model)
    elif isinstance(model, nn.Module):
        layers = [model]
    else:
        raise TypeError(f"model must be an nn.Module or a sequence of them, got {type(model).__name__}")
    if not layers or not all(isinstance(layer, nn.Module) for layer in layers):
        raise TypeError("model must hold at least one layer, each an nn.Module")
    return layers


@torch.no_grad()
def layerwise_feature_gains(
    model: nn.Module | Sequence[nn.Module], feature_dirs: torch.Tensor, *, layers: Sequence[int] | None = None
) -> LayerwiseFeatureGains:
    """g_{l,j} = ‖f_{≤l}(e_j) − f_{≤l}(0)‖ at the output of each layer of `model`.

    Args:
        model (`nn.Sequential`, a sequence of modules, or one module): the layers f_1, …, f_L applied in turn.
        feature_dirs (`torch.Tensor` of shape `(F, D)`): one feature direction e_j per row (unit vectors for the gains
            to read as the paper's weights), D the model's input size.
        layers (`Sequence[int]`, *optional*): the (0-based) layers whose outputs to report, e.g. the linear layers of
            a stack with activations in between; default every layer.

    Returns:
        [`LayerwiseFeatureGains`].
    """
    stack = _layers(model)
    if not isinstance(feature_dirs, torch.Tensor) or feature_dirs.ndim != 2 or not feature_dirs.is_floating_point():
        raise TypeError(f"feature_dirs must be a 2-D float tensor (features, input_dim), got {feature_dirs!r:.80}")
    if len(feature_dirs) < 1:
        raise ValueError("feature_dirs must hold at least one direction")
    if layers is None:
        layers = list(range(len(stack)))
    layers = list(layers)
    if not layers or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(stack) for i in layers):
        raise ValueError(f"layers must be indices in [0, {len(stack)}), got {layers}")
    reference = next((p for layer in stack for p in layer.parameters()), None)
    inputs = feature_dirs
    if reference is not None:
        inputs = inputs.to(device=reference.device, dtype=reference.dtype)
    hidden = torch.cat([inputs, torch.zeros_like(inputs[:1])])  # the last row is the origin
    gains = []
    for index, layer in enumerate(stack):
        hidden = layer(hidden)
        if index in layers:
            response = (hidden[:-1] - hidden[-1:]).flatten(1).norm(dim=1)
            gains.append([float(g) for g in response])
    log_ratios = [_log_ratio(g) for g in gains]
    first = log_ratios[0]
    exponents = [r / first if first > 0 else 0.0 for r in log_ratios]
    return LayerwiseFeatureGains(gains=gains, log_ratios=log_ratios, exponents=exponents)


def _log_ratio(gains: list[float]) -> float:
    low, high = min(gains), max(gains)
    if low <= 0:
        raise ValueError("a feature has zero gain: the log ratio max/min is infinite")
    return math.log(high / low)


def linear_probe_accuracy(
    train_features, train_labels, test_features, test_labels, *, C: float = 1.0, max_iter: int = 2000
) -> float:
    """Test accuracy of a logistic-regression probe on RMS-normalised features.

    Both splits are divided by the root-mean-square norm of the training features, then scikit-learn's
    `LogisticRegression(C=C)` is fit on the training split.

    Args:
        train_features, test_features (`torch.Tensor` or `np.ndarray` of shape `(N, D)`): representations.
        train_labels, test_labels (`torch.Tensor` or `np.ndarray` of shape `(N,)`): integer classes.
        C (`float`): inverse L2 regularisation strength (> 0).
        max_iter (`int`): solver iterations.
    """
    from sklearn.linear_model import LogisticRegression

    C = check_number("C", C, low=0, low_open=True)
    x_train, x_test = _array("train_features", train_features), _array("test_features", test_features)
    y_train, y_test = (
        _labels("train_labels", train_labels, len(x_train)),
        _labels("test_labels", test_labels, len(x_test)),
    )
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"train and test features differ in size: {x_train.shape[1]} and {x_test.shape[1]}")
    if len(np.unique(y_train)) < 2:
        raise ValueError("train_labels must hold at least two classes")
    scale = float(np.sqrt((x_train**2).sum(1).mean()))
    if scale > 0:
        x_train, x_test = x_train / scale, x_test / scale
    probe = LogisticRegression(C=C, max_iter=max_iter).fit(x_train, y_train)
    return float((probe.predict(x_test) == y_test).mean())


def _array(name: str, x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    if not isinstance(x, np.ndarray) or x.ndim != 2 or not np.issubdtype(x.dtype, np.number) or len(x) == 0:
        raise TypeError(f"{name} must be a non-empty 2-D numeric tensor or array (samples, dim)")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds non-finite values")
    return x.astype(np.float64)


def _labels(name: str, y, n: int) -> np.ndarray:
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array of shape ({n},), got {y.dtype} {y.shape}")
    return y


def plot_feature_gains(result: LayerwiseFeatureGains, path, *, title: str = "Layer-wise feature gains") -> None:
    """Gains per feature (x axis), one line per layer, log scale; writes a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for index, gains in enumerate(result.gains):
        label = f"layer {index + 1} (log max/min = {result.log_ratios[index]:.2f})"
        ax.plot(range(1, len(gains) + 1), gains, marker="o", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("feature j")
    ax.set_ylabel("gain ‖f≤l(e_j) − f≤l(0)‖")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
