"""Distribution shift between two sets of 3×3 filters (Gavrikov & Keuper, CVPR 2022, "CNN Filter DB"; the procedure
follows the authors' `main.ipynb` in paulgavrikov/CNN-Filter-DB).

1. Every 3×3 kernel is a 9-vector w, scaled by its absolute peak: w / max_k |w_k| (all-zero filters stay zero).
2. A PCA with 9 components is fitted on the pooled filters (a shared basis; coefficients c = V (w − w̄)).
3. For each principal component i, the coefficients of groups P and Q are binned into histograms over one shared
   range (70 bins in the paper); empty bins get the float32 machine epsilon before normalising, so the divergence is
   finite. The shift of component i is the symmetric Kullback–Leibler divergence

       KL_i = KL(P_i ‖ Q_i) + KL(Q_i ‖ P_i),   KL(p ‖ q) = Σ_b p_b ln(p_b / q_b),

   and the shift of the two groups is the explained-variance-weighted sum

       D = Σ_i ρ_i · KL_i,   ρ_i = the PCA's explained-variance ratio of component i

   (`weighting="uniform"` uses ρ_i = 1/9 instead). The paper compares D between groups of filters split by task,
   visual category and layer depth; to make such numbers comparable, fit one basis (and its value range) on all the
   filters with [`fit_filter_basis`] and pass it to every [`filter_distribution_shift`] call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hf_methods.common.checks import check_positive_int

WEIGHTINGS = ("explained_variance", "uniform")
HISTOGRAM_FLOOR = float(np.finfo(np.float32).eps)


def collect_filters(source, layers=None) -> np.ndarray:
    """The 3×3 filters of `source` as a float64 array of shape `(N, 9)`.

    Args:
        source: an `nn.Module` (its 3×3 `nn.Conv2d` layers), a conv weight tensor of shape `(c_out, c_in, 3, 3)`,
            or filters already flattened to shape `(N, 9)` (tensor or array).
        layers (`Iterable[str]`, *optional*): with a module, the names of the 3×3 conv layers to take; default all.
    """
    if isinstance(source, nn.Module):
        from .quality import conv3x3_layers

        found, _ = conv3x3_layers(source)
        if layers is not None:
            if isinstance(layers, str):
                raise TypeError("layers must be an iterable of module names, not a single string")
            wanted = list(layers)
            known = [name for name, _ in found]
            unknown = [name for name in wanted if name not in known]
            if unknown or not wanted:
                raise ValueError(f"layers must name 3x3 conv modules; unknown: {unknown}, known: {known}")
            found = [(name, module) for name, module in found if name in wanted]
        if not found:
            raise ValueError("the model has no nn.Conv2d with a 3x3 kernel")
        return np.concatenate([collect_filters(module.weight) for _, module in found])
    if isinstance(source, torch.Tensor):
        source = source.detach().cpu().double().numpy()
    if not isinstance(source, np.ndarray) or not np.issubdtype(source.dtype, np.number):
        raise TypeError(
            f"filters must be an nn.Module, a conv weight (c_out, c_in, 3, 3) or an (N, 9) array, got "
            f"{type(source).__name__}"
        )
    if source.ndim == 4 and source.shape[2:] == (3, 3):
        source = source.reshape(-1, 9)
    if source.ndim != 2 or source.shape[1] != 9 or len(source) == 0:
        raise ValueError(f"filters must have shape (c_out, c_in, 3, 3) or (N, 9) with N >= 1, got {source.shape}")
    if not np.isfinite(source).all():
        raise ValueError("filters hold non-finite values")
    return source.astype(np.float64)


def scale_filters(filters: np.ndarray) -> np.ndarray:
    """w / max_k |w_k| row by row (the paper's scaling by the absolute peak); all-zero rows are left at zero."""
    peak = np.abs(filters).max(axis=1, keepdims=True)
    return filters / np.where(peak == 0, 1.0, peak)


@dataclass
class FilterBasis:
    """A 9-component PCA of peak-scaled 3×3 filters and the range of their coefficients.

    Attributes:
        mean (`np.ndarray` of shape `(9,)`): w̄.
        components (`np.ndarray` of shape `(9, 9)`): principal directions, one per row, by decreasing variance.
        explained_variance_ratio (`np.ndarray` of shape `(9,)`): ρ_i.
        value_range (`tuple[float, float]`): smallest and largest coefficient of the fitted filters (the shared
            histogram range).
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    value_range: tuple[float, float]

    def transform(self, filters) -> np.ndarray:
        """Coefficients c = V (w / max|w| − w̄) of the peak-scaled filters, shape `(N, 9)`."""
        return (scale_filters(collect_filters(filters)) - self.mean) @ self.components.T


def fit_filter_basis(filters) -> FilterBasis:
    """Fits the shared 9-component PCA on peak-scaled filters (an `nn.Module`, a conv weight or an `(N, 9)` array)."""
    scaled = scale_filters(collect_filters(filters))
    if len(scaled) < 2:
        raise ValueError("fit_filter_basis needs at least two filters")
    mean = scaled.mean(axis=0)
    _, singular, vt = np.linalg.svd(scaled - mean, full_matrices=False)
    variance = singular**2
    total = variance.sum()
    ratio = variance / total if total > 0 else np.full(len(variance), 1.0 / len(variance))
    components = np.zeros((9, 9))
    components[: len(vt)] = vt  # fewer than 9 filters: the missing directions have zero weight
    ratio = np.concatenate([ratio, np.zeros(9 - len(ratio))])
    coefficients = (scaled - mean) @ components.T
    low, high = float(coefficients.min()), float(coefficients.max())
    if high <= low:
        low, high = low - 1.0, high + 1.0
    return FilterBasis(mean=mean, components=components, explained_variance_ratio=ratio, value_range=(low, high))


def _histogram(values: np.ndarray, bins: int, value_range: tuple[float, float]) -> np.ndarray:
    # as in the notebook: a density histogram (counts / (N · bin width)), empty bins floored at float32 eps, normalised
    density, _ = np.histogram(values, bins=bins, range=value_range, density=True)
    density = np.nan_to_num(density.astype(np.float64))
    density[density == 0] = HISTOGRAM_FLOOR
    return density / density.sum()


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p ‖ q) = Σ_b p_b ln(p_b / q_b) of two discrete distributions with positive entries."""
    return float(np.sum(p * np.log(p / q)))


@dataclass
class FilterShift:
    """The PCA-histogram shift between two sets of 3×3 filters.

    Attributes:
        distance (`float`): D = Σ_i ρ_i · KL_i.
        per_component (`list[float]`): KL_i (symmetric, or KL(P_i ‖ Q_i) alone when `symmetric=False`).
        weights (`list[float]`): ρ_i used in D.
        explained_variance_ratio (`list[float]`): the basis' explained-variance ratios.
        num_filters_a (`int`), num_filters_b (`int`): the two sets' sizes.
        value_range (`tuple[float, float]`): the histogram range.
        histograms_a (`list[list[float]]`), histograms_b (`list[list[float]]`): the 9 normalised histograms of each
            set (for plots).
    """

    distance: float
    per_component: list[float]
    weights: list[float]
    explained_variance_ratio: list[float]
    num_filters_a: int
    num_filters_b: int
    value_range: tuple[float, float]
    histograms_a: list[list[float]]
    histograms_b: list[list[float]]

    def save_plot(self, path, *, labels: tuple[str, str] = ("A", "B"), title: str | None = None) -> None:
        """The two sets' coefficient histograms for each principal component, with KL_i; writes a PNG at `path`."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        bins = len(self.histograms_a[0])
        edges = np.linspace(*self.value_range, bins + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        fig, axes = plt.subplots(1, 9, figsize=(16, 2.4), sharex=True)
        for i, ax in enumerate(axes):
            ax.plot(centres, self.histograms_a[i], label=labels[0])
            ax.plot(centres, self.histograms_b[i], label=labels[1])
            ax.set_title(f"c{i} (ρ={self.weights[i]:.2f})\nKL={self.per_component[i]:.3f}", fontsize=8)
            ax.set_yticks([])
        axes[0].legend(fontsize=7)
        fig.suptitle(title or f"filter distribution shift D = {self.distance:.4f}", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


def filter_distribution_shift(
    filters_a,
    filters_b,
    *,
    basis: FilterBasis | None = None,
    bins: int = 70,
    weighting: str = "explained_variance",
    symmetric: bool = True,
    sample_size: int | None = None,
    seed: int = 0,
) -> FilterShift:
    """D = Σ_i ρ_i [KL(P_i ‖ Q_i) + KL(Q_i ‖ P_i)] between the PCA-coefficient histograms of two filter sets.

    Args:
        filters_a, filters_b: the two sets: `nn.Module`s (their 3×3 convs), conv weights `(c_out, c_in, 3, 3)` or
            `(N, 9)` arrays.
        basis ([`FilterBasis`], *optional*): the shared PCA and histogram range (from [`fit_filter_basis`] on all the
            filters being compared); default: fitted on the union of the two sets.
        bins (`int`): histogram bins over the basis' value range (70 in the paper).
        weighting (`str`): `"explained_variance"` (ρ_i, the paper's notebook) or `"uniform"` (1/9 each).
        symmetric (`bool`): symmetric KL (the notebook) or KL(P_i ‖ Q_i) alone.
        sample_size (`int`, *optional*): draw this many filters (without replacement, seeded by `seed`) from each set
            before binning. The histogram estimate of KL is biased upwards by roughly (bins − 1) / N per set of N
            filters (and more where empty bins meet the epsilon floor), so D values of pairs of different sizes are
            only comparable when every set is cut to the same size; the paper's groups hold millions of filters, where
            this bias vanishes. Default: use every filter.
        seed (`int`): the seed of that draw.

    Returns:
        [`FilterShift`].
    """
    bins = check_positive_int("bins", bins)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if not isinstance(symmetric, bool):
        raise TypeError(f"symmetric must be a bool, got {type(symmetric).__name__}")
    a, b = collect_filters(filters_a), collect_filters(filters_b)
    if sample_size is not None:
        sample_size = check_positive_int("sample_size", sample_size)
        if sample_size > min(len(a), len(b)):
            raise ValueError(
                f"sample_size must be <= the smaller set's size ({len(a)} and {len(b)} filters), got {sample_size}"
            )
        rng = np.random.default_rng(seed)
        a = a[rng.choice(len(a), sample_size, replace=False)]
        b = b[rng.choice(len(b), sample_size, replace=False)]
    if basis is None:
        basis = fit_filter_basis(np.concatenate([a, b]))
    elif not isinstance(basis, FilterBasis):
        raise TypeError(f"basis must be a FilterBasis (from fit_filter_basis), got {type(basis).__name__}")
    coef_a, coef_b = basis.transform(a), basis.transform(b)
    weights = basis.explained_variance_ratio if weighting == "explained_variance" else np.full(9, 1.0 / 9)
    per_component, hist_a, hist_b = [], [], []
    for i in range(9):
        p = _histogram(coef_a[:, i], bins, basis.value_range)
        q = _histogram(coef_b[:, i], bins, basis.value_range)
        kl = kl_divergence(p, q) + (kl_divergence(q, p) if symmetric else 0.0)
        per_component.append(kl)
        hist_a.append(p.tolist())
        hist_b.append(q.tolist())
    distance = float(np.dot(weights, per_component))
    return FilterShift(
        distance=distance,
        per_component=per_component,
        weights=[float(w) for w in weights],
        explained_variance_ratio=[float(r) for r in basis.explained_variance_ratio],
        num_filters_a=len(a),
        num_filters_b=len(b),
        value_range=tuple(float(v) for v in basis.value_range),
        histograms_a=hist_a,
        histograms_b=hist_b,
    )
