"""Degeneracy metrics of 3×3 convolution layers (Gavrikov & Keuper, CVPR 2022, "CNN Filter DB: An Empirical
Investigation of Trained Convolutional Filters"; the metrics follow the authors' `torchconvquality` library).

A conv layer with weight W of shape (c_out, c_in, 3, 3) holds n = c_out · c_in two-dimensional filters, each a
9-vector w_j. Three numbers describe how "degenerate" the layer is:

- **sparsity**: the fraction of filters whose every coefficient is below 1% of the layer's absolute peak,

      s = (1/n) Σ_j 1[max_k |w_{j,k}| < ε · max_{j,k} |w_{j,k}|],   ε = 0.01;

- **variance entropy**: the Shannon entropy (base 10) of the distribution of variance over the principal components
  of the filters. With σ_1 ≥ … ≥ σ_9 the singular values of the centred filter matrix [w_j − w̄]_j and
  r_k = σ_k² / Σ_i σ_i² the variance ratios,

      H = −Σ_k r_k log10 r_k ∈ [0, log10 9].

  H → 0 when the filters vary along one direction (e.g. copies of one filter), H ≈ log10 9 when they vary equally in
  every direction (random filters). The normalised entropy divides H by the entropy of random (Kaiming-initialised)
  layers with the same n, fitted by the authors as a logistic curve in log2 n,

      H_rand(n) = L / (1 + exp(−k (log2 n − x0))) + b,   (L, x0, k, b) = (1.2618047, 2.30436435, 0.88767525, −0.31050834),

  so ≈ 1 means "as diverse as random filters" and values near 0 mean redundant filters. The "clean" entropy is the
  same quantity computed without the sparse filters;
- **orthogonality**: one minus the mean absolute cosine similarity between distinct output filters (rows of W
  flattened to c_in · 9), 1 − (1/(c_out (c_out − 1))) Σ_{a≠b} |cos(W_a, W_b)|.

[`measure_conv_quality`] walks a model's `nn.Conv2d` modules with 3×3 kernels (other kernel sizes are skipped, as in
the paper, which studies 3×3 filters only) and returns a [`ConvQuality`] dataclass with one [`LayerQuality`] per layer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from hf_methods.common.checks import check_number

#: (L, x0, k, b) of the random-initialisation entropy curve, from the authors' `torchconvquality`.
RANDOM_ENTROPY_FIT = (1.2618047, 2.30436435, 0.88767525, -0.31050834)
METRICS = (
    "sparsity",
    "variance_entropy",
    "variance_entropy_norm",
    "variance_entropy_clean",
    "variance_entropy_clean_norm",
    "orthogonality",
)


def _check_weight(weight) -> torch.Tensor:
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if weight.ndim != 4 or not weight.is_floating_point():
        raise ValueError(
            f"weight must be a 4-D float tensor (out_channels, in_channels, kh, kw), got {weight.dtype} "
            f"{tuple(weight.shape)}"
        )
    if weight.numel() == 0:
        raise ValueError("weight must hold at least one filter")
    if not torch.isfinite(weight).all():
        raise ValueError("weight holds non-finite values")
    return weight.detach().to(torch.float64)


def random_entropy(n: int) -> float:
    """H_rand(n) = L / (1 + exp(−k (log2 n − x0))) + b: the variance entropy of a random layer with n filters."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    big_l, x0, k, b = RANDOM_ENTROPY_FIT
    return big_l / (1.0 + math.exp(-k * (math.log2(n) - x0))) + b


def filter_sparsity(weight: torch.Tensor, eps: float = 0.01) -> tuple[float, torch.Tensor]:
    """Fraction of 2-D filters whose every |w| is below `eps` times the layer's absolute peak.

    Args:
        weight (`torch.Tensor` of shape `(out_channels, in_channels, kh, kw)`): a conv weight.
        eps (`float`): the threshold relative to max |w| over the whole layer (the paper's 1%).

    Returns:
        `(sparsity, mask)`: the fraction, and a boolean tensor of shape `(out_channels * in_channels,)` marking the
        sparse filters. An all-zero layer counts as fully sparse.
    """
    w = _check_weight(weight)
    eps = check_number("eps", eps, low=0, low_open=True, high=1)
    filters = w.reshape(-1, w.shape[2] * w.shape[3]).abs()
    peak = float(filters.max())
    threshold = eps * peak if peak > 0 else math.inf
    mask = (filters < threshold).all(dim=1)
    return float(mask.double().mean()), mask


def variance_entropy(weight: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[float, float]:
    """H = −Σ_k r_k log10 r_k of the centred filters' variance ratios r_k, and H / H_rand(n).

    Args:
        weight (`torch.Tensor` of shape `(out_channels, in_channels, kh, kw)`): a conv weight.
        mask (`torch.Tensor`, *optional*): booleans of shape `(out_channels * in_channels,)`; only the filters it keeps
            enter (e.g. the non-sparse ones for the "clean" entropy).

    Returns:
        `(entropy, normalised_entropy)`. Fewer than two filters, or filters without any variance, give `(0.0, 0.0)`.
    """
    w = _check_weight(weight)
    filters = w.reshape(-1, w.shape[2] * w.shape[3])
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != (len(filters),):
            raise ValueError(f"mask must be a boolean tensor of shape ({len(filters)},)")
        filters = filters[mask.to(filters.device)]
    n = len(filters)
    if n < 2:
        return 0.0, 0.0
    singular = torch.linalg.svdvals(filters - filters.mean(dim=0))
    variance = singular**2
    total = float(variance.sum())
    if total <= 0:
        return 0.0, 0.0
    ratios = variance / total
    ratios = ratios[ratios > 0]  # 0 · log 0 = 0
    entropy = float(-(ratios * torch.log10(ratios)).sum())
    return entropy, entropy / random_entropy(n)


def filter_orthogonality(weight: torch.Tensor) -> float:
    """1 − mean over pairs a ≠ b of |cos(W_a, W_b)| between the layer's output filters (flattened rows of W).

    A zero output filter has cosine 0 with every other. A layer with a single output filter has orthogonality 1.
    (The authors' library also adds 1 to the sum for each all-zero output filter through its diagonal; here only
    distinct pairs count, so the value stays in [0, 1].)
    """
    w = _check_weight(weight)
    rows = w.reshape(w.shape[0], -1)
    n = len(rows)
    if n < 2:
        return 1.0
    norms = rows.norm(dim=1, keepdim=True)
    unit = rows / torch.where(norms > 0, norms, torch.ones_like(norms))
    cosine = (unit @ unit.T).abs()
    off_diagonal = cosine.sum() - cosine.diagonal().sum()
    return 1.0 - float(off_diagonal) / (n * (n - 1))


@dataclass
class LayerQuality:
    """The degeneracy metrics of one 3×3 conv layer.

    Attributes:
        name (`str`): the module's name in the model (`model.named_modules()`).
        depth (`int`): the layer's position among the model's 3×3 convolutions (0 = first).
        num_filters (`int`): n = out_channels · in_channels (per group).
        sparsity (`float`): fraction of filters below 1% of the layer's peak.
        variance_entropy (`float`), variance_entropy_norm (`float`): H and H / H_rand(n).
        variance_entropy_clean (`float`), variance_entropy_clean_norm (`float`): the same without the sparse filters.
        orthogonality (`float`): 1 − mean |cos| between distinct output filters.
    """

    name: str
    depth: int
    num_filters: int
    sparsity: float
    variance_entropy: float
    variance_entropy_norm: float
    variance_entropy_clean: float
    variance_entropy_clean_norm: float
    orthogonality: float


def measure_weight_quality(weight: torch.Tensor, *, name: str = "", depth: int = 0, eps: float = 0.01) -> LayerQuality:
    """The [`LayerQuality`] of one conv weight of shape `(out_channels, in_channels, kh, kw)` (any kernel size)."""
    w = _check_weight(weight)
    sparsity, sparse = filter_sparsity(w, eps)
    entropy, entropy_norm = variance_entropy(w)
    clean, clean_norm = variance_entropy(w, ~sparse)
    return LayerQuality(
        name=name,
        depth=depth,
        num_filters=int(w.shape[0] * w.shape[1]),
        sparsity=sparsity,
        variance_entropy=entropy,
        variance_entropy_norm=entropy_norm,
        variance_entropy_clean=clean,
        variance_entropy_clean_norm=clean_norm,
        orthogonality=filter_orthogonality(w),
    )


@dataclass
class ConvQuality:
    """Per-layer degeneracy metrics of a model's 3×3 convolutions, in the order of `model.named_modules()`.

    Attributes:
        layers (`list[LayerQuality]`): one entry per 3×3 `nn.Conv2d`.
        skipped (`list[str]`): the names of conv layers left out because their kernel is not 3×3.
    """

    layers: list[LayerQuality]
    skipped: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def values(self, metric: str) -> list[float]:
        """`metric` of every layer, first to last (a name from `METRICS`)."""
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        return [getattr(layer, metric) for layer in self.layers]

    def mean(self, metric: str) -> float:
        """The mean of `metric` over the layers."""
        values = self.values(metric)
        return sum(values) / len(values)

    def __getitem__(self, name: str) -> LayerQuality:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no 3x3 conv layer named {name!r}; layers: {self.names}")

    def to_dict(self) -> dict:
        """`{layer name: {metric: value}}` (JSON-ready)."""
        return {layer.name: {k: v for k, v in asdict(layer).items() if k != "name"} for layer in self.layers}

    def save_plot(self, path, *, title: str = "3×3 filter quality", reference: ConvQuality | None = None) -> None:
        """Sparsity, normalised variance entropy and orthogonality per layer (x: depth); writes a PNG at `path`.

        Args:
            reference ([`ConvQuality`], *optional*): a second measurement with the same layers (e.g. the model at
                initialisation), drawn dashed.
        """
        plot_conv_quality(
            {"model": self} if reference is None else {"model": self, "reference": reference}, path, title=title
        )


def plot_conv_quality(results: dict[str, ConvQuality], path, *, title: str = "3×3 filter quality") -> None:
    """One panel per metric (sparsity, normalised variance entropy, orthogonality), one line per entry of `results`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("results must hold at least one ConvQuality")
    panels = (
        ("sparsity", "sparsity"),
        ("variance_entropy_norm", "variance entropy / random"),
        ("orthogonality", "orthogonality"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, (metric, label) in zip(axes, panels):
        for index, (name, quality) in enumerate(results.items()):
            style = "--" if index and name in ("reference", "init", "random init") else "-"
            ax.plot(range(len(quality.layers)), quality.values(metric), style, marker="o", label=name)
        ax.set_xticks(range(max(len(q.layers) for q in results.values())))
        ax.set_xlabel("3×3 conv layer (depth)")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[1].axhline(1.0, color="gray", lw=0.8)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def conv3x3_layers(model: nn.Module) -> tuple[list[tuple[str, nn.Conv2d]], list[str]]:
    """`(name, module)` of every `nn.Conv2d` with a 3×3 kernel in `model`, and the names of the other conv layers."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    found, skipped = [], []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            (found if tuple(module.kernel_size) == (3, 3) else skipped).append((name, module))
    return found, [name for name, _ in skipped]


@torch.no_grad()
def measure_conv_quality(model: nn.Module, *, eps: float = 0.01, layers: Iterable[str] | None = None) -> ConvQuality:
    """Sparsity, variance entropy and orthogonality of every 3×3 convolution of `model`.

    Works on any `nn.Module` (a transformers `ResNetForImageClassification`, `ConvNextModel`, a torchvision CNN...):
    it reads the weights of the `nn.Conv2d` modules whose kernel is 3×3 and skips the others (7×7 stems, 1×1
    shortcuts), listing them in `ConvQuality.skipped`.

    Args:
        model (`nn.Module`): the network.
        eps (`float`): the sparsity threshold relative to each layer's absolute peak (default 1%).
        layers (`Iterable[str]`, *optional*): names of the 3×3 conv modules to measure; default all.

    Returns:
        [`ConvQuality`].

    Raises:
        `ValueError`: the model has no 3×3 `nn.Conv2d`, or `layers` names one it does not have.
    """
    found, skipped = conv3x3_layers(model)
    if not found:
        raise ValueError(f"model has no nn.Conv2d with a 3x3 kernel (conv layers found: {skipped or 'none'})")
    if layers is not None:
        if isinstance(layers, str):
            raise TypeError("layers must be an iterable of module names, not a single string")
        wanted = list(layers)
        known = [name for name, _ in found]
        unknown = [name for name in wanted if name not in known]
        if unknown or not wanted:
            raise ValueError(f"layers must name 3x3 conv modules of the model; unknown: {unknown}, known: {known}")
    else:
        wanted = None
    result = [
        measure_weight_quality(module.weight, name=name, depth=depth, eps=eps)
        for depth, (name, module) in enumerate(found)
        if wanted is None or name in wanted
    ]
    return ConvQuality(layers=result, skipped=skipped)
