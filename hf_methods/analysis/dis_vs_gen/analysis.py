"""Naive Bayes against logistic regression as linear-evaluation heads, across training-set sizes.

Zheng et al. (ICML 2023) prove that multiclass naive Bayes approaches its asymptotic error with O(log n) samples and
multiclass logistic regression with O(n), n the feature dimension. These tools measure that on any features:

- [`extract_features`]: frozen features of a transformers model (pooled output, mean hidden state, or your function);
- [`linear_eval`]: fit a naive-Bayes ([`GaussianNBHead`]) or logistic-regression head (scikit-learn, L-BFGS, C = 1
  as in the official code) on training features and report its test error;
- [`sample_complexity_curve`]: both heads' test error as the number of training examples m grows (balanced draws,
  several repeats), as a [`SampleComplexityCurve`] with `save_plot(path)`;
- [`samples_to_reach`]: the smallest m of a curve whose error is within a tolerance of a target — measured at
  several n, its growth is what the theory predicts (≈ log n for naive Bayes, ≈ n for logistic regression);
- [`gaussian_mixture`]: the paper's "easy" simulation: class k has mean −1 (k = 0) or 2^{k−1} (k ≥ 1) on every
  coordinate and covariance diag(n, …, n, 1, …, 1) (n on the first ⌊n/2⌋ coordinates), as the official
  `data/generate_data.py` draws it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from hf_methods.analysis.dis_vs_gen.naive_bayes import GaussianNBHead
from hf_methods.common.checks import check_number, check_positive_int

__all__ = [
    "HEADS",
    "LinearEvalResult",
    "SampleComplexityCurve",
    "extract_features",
    "gaussian_mixture",
    "linear_eval",
    "sample_complexity_curve",
    "samples_to_reach",
]

#: The linear-evaluation heads compared here (the owner of this list).
HEADS = ("naive_bayes", "logistic_regression")


def gaussian_mixture(
    num_features: int, num_classes: int, per_class: int, *, seed: int | np.random.Generator = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """`per_class` draws of each class of the paper's easy Gaussian mixture: `(x (K·per_class, n), y)` as tensors."""
    n = check_positive_int("num_features", num_features)
    k = check_positive_int("num_classes", num_classes)
    if k < 2:
        raise ValueError("num_classes must be at least 2")
    per_class = check_positive_int("per_class", per_class)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    std = np.sqrt(np.array([n] * (n // 2) + [1] * (n - n // 2), dtype=np.float64))
    means = np.array([-1.0] + [2.0 ** (c - 1) for c in range(1, k)])
    x = rng.standard_normal((k, per_class, n)) * std + means[:, None, None]
    y = np.repeat(np.arange(k), per_class)
    return torch.from_numpy(x.reshape(k * per_class, n)), torch.from_numpy(y)


@torch.no_grad()
def extract_features(
    model: torch.nn.Module,
    inputs: torch.Tensor | dict[str, torch.Tensor],
    *,
    batch_size: int = 256,
    feature_fn: Callable | None = None,
    input_name: str = "pixel_values",
) -> torch.Tensor:
    """Frozen features of `model` on `inputs`, batched, in eval mode (training mode restored), on the CPU.

    Args:
        inputs: a tensor (passed as `input_name=`) or a dict of tensors with a common first dimension.
        feature_fn: output → `(batch, n)` features. Default: `pooler_output` when the output has one, else the mean
            of `last_hidden_state` over positions (masked by an `attention_mask` input), else the output tensor.
    """
    check_positive_int("batch_size", batch_size)
    batch = inputs if isinstance(inputs, dict) else {input_name: inputs}
    total = len(next(iter(batch.values())))
    was_training = model.training
    model.eval()
    chunks = []
    try:
        for start in range(0, total, batch_size):
            part = {k: v[start : start + batch_size] for k, v in batch.items()}
            output = model(**part)
            if feature_fn is not None:
                feats = feature_fn(output)
            elif getattr(output, "pooler_output", None) is not None:
                feats = output.pooler_output
            elif getattr(output, "last_hidden_state", None) is not None:
                hidden = output.last_hidden_state
                mask = part.get("attention_mask")
                if mask is None:
                    feats = hidden.mean(1)
                else:
                    weights = mask.unsqueeze(-1).to(hidden.dtype)
                    feats = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
            elif isinstance(output, torch.Tensor):
                feats = output
            else:
                raise TypeError("cannot read features from the model's output: pass feature_fn")
            chunks.append(feats.reshape(feats.shape[0], -1).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(chunks)


@dataclass
class LinearEvalResult:
    """One head fitted on `num_train` examples: its test error and accuracy."""

    head: str
    num_train: int
    error: float
    accuracy: float


def _as_numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def linear_eval(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    head: str = "naive_bayes",
    num_labels: int | None = None,
    C: float = 1.0,
    max_iter: int = 1000,
) -> LinearEvalResult:
    """Fit one linear-evaluation head (`"naive_bayes"` or `"logistic_regression"`) and measure its test error."""
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    check_number("C", C, low=0.0, low_open=True)
    x_train, y_train = torch.as_tensor(train_features), torch.as_tensor(train_labels).long()
    x_test, y_test = torch.as_tensor(test_features), torch.as_tensor(test_labels).long()
    if x_train.dim() != 2 or x_test.dim() != 2 or x_train.shape[1] != x_test.shape[1]:
        raise ValueError("train_features and test_features must be (m, n) matrices with the same n")
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError("features and labels must have the same number of rows")
    k = num_labels if num_labels is not None else int(max(y_train.max(), y_test.max())) + 1
    if head == "naive_bayes":
        model = GaussianNBHead(x_train.shape[1], k).fit(x_train, y_train)
        predictions = model(x_test).argmax(-1)
    else:
        from sklearn.linear_model import LogisticRegression

        if y_train.unique().numel() < 2:
            raise ValueError("logistic regression needs at least two classes in the training labels")
        fitted = LogisticRegression(C=C, max_iter=max_iter).fit(_as_numpy(x_train), _as_numpy(y_train))
        predictions = torch.as_tensor(fitted.predict(_as_numpy(x_test)))
    accuracy = float((predictions == y_test).double().mean())
    return LinearEvalResult(head=head, num_train=len(y_train), error=1.0 - accuracy, accuracy=accuracy)


@dataclass
class SampleComplexityCurve:
    """Test error of each head against the number of training examples m (mean and std over repeats)."""

    sizes: list[int]
    mean_error: dict[str, list[float]]
    std_error: dict[str, list[float]]
    errors: dict[str, list[list[float]]] = field(default_factory=dict)  # [size][repeat]
    label: str = ""

    def save_plot(self, path, *, predicted: dict[str, list[float]] | None = None) -> None:
        """Error against m (log scale) for each head, with ±1 std bands; `predicted` overlays curves by name."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        for i, (head, means) in enumerate(self.mean_error.items()):
            mean, std = np.array(means), np.array(self.std_error[head])
            ax.plot(self.sizes, mean, "o-", color=f"C{i}", label=head.replace("_", " "))
            ax.fill_between(self.sizes, mean - std, mean + std, color=f"C{i}", alpha=0.2)
        for j, (name, values) in enumerate((predicted or {}).items()):
            ax.plot(self.sizes, values, "--", color=f"C{j + 2}", label=name)
        ax.set_xscale("log")
        ax.set_xlabel("training examples m")
        ax.set_ylabel("test error")
        ax.set_title(self.label or "linear evaluation: naive Bayes vs logistic regression", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def sample_complexity_curve(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    sizes: Sequence[int],
    *,
    heads: Sequence[str] = HEADS,
    repeats: int = 3,
    seed: int = 0,
    C: float = 1.0,
    label: str = "",
) -> SampleComplexityCurve:
    """Each head's test error when fitted on m examples drawn from the training pool, for each m in `sizes`.

    Each draw takes m // K examples of every class without replacement (balanced, as the paper's simulations);
    `repeats` draws per size, seeded by `seed`.
    """
    y_pool = torch.as_tensor(train_labels).long()
    classes = y_pool.unique()
    k = len(classes)
    sizes = [check_positive_int("sizes", int(m)) for m in sizes]
    for m in sizes:
        if m < 2 * k:
            raise ValueError(f"every size must give at least two examples per class (≥ {2 * k}), got {m}")
        if m // k > min(int((y_pool == c).sum()) for c in classes):
            raise ValueError(f"size {m} needs {m // k} examples per class; the training pool has fewer")
    for head in heads:
        if head not in HEADS:
            raise ValueError(f"heads must be among {HEADS}, got {head!r}")
    check_positive_int("repeats", repeats)
    num_labels = int(max(y_pool.max(), torch.as_tensor(test_labels).max())) + 1
    rng = np.random.default_rng(seed)
    by_class = {int(c): np.flatnonzero(_as_numpy(y_pool) == int(c)) for c in classes}
    errors = {head: [] for head in heads}
    for m in sizes:
        per_size = {head: [] for head in heads}
        for _ in range(repeats):
            index = np.concatenate([rng.choice(ids, m // k, replace=False) for ids in by_class.values()])
            for head in heads:
                result = linear_eval(
                    train_features[index], y_pool[index], test_features, test_labels, head=head,
                    num_labels=num_labels, C=C,
                )  # fmt: skip
                per_size[head].append(result.error)
        for head in heads:
            errors[head].append(per_size[head])
    return SampleComplexityCurve(
        sizes=sizes,
        mean_error={h: [float(np.mean(e)) for e in errors[h]] for h in heads},
        std_error={h: [float(np.std(e)) for e in errors[h]] for h in heads},
        errors=errors,
        label=label,
    )


def samples_to_reach(curve: SampleComplexityCurve, head: str, target: float) -> int | None:
    """The smallest m of the curve from which the head's mean error stays ≤ `target` (None if it never does)."""
    means = curve.mean_error[head]
    for i, m in enumerate(curve.sizes):
        if all(e <= target for e in means[i:]):
            return m
    return None
