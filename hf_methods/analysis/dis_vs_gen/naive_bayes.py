"""Gaussian naive Bayes as a linear-evaluation head, with mergeable sufficient statistics.

The multiclass naive Bayes of Zheng et al. ("Revisiting Discriminative vs. Generative Classifiers", ICML 2023;
official code `ML-GSAI/Revisiting-Dis-vs-Gen-Classifiers`, `models/gaussnb.py`) models each class as a Gaussian with
its own mean and a variance *shared* by all classes (pooled, prior-weighted, diagonal):

    μ_k = mean(x | y = k),     σ²_j = Σ_k π_k Var(x_j | y = k) + ε,     π_k = m_k / m,

    logit_k(x) = log π_k − ½ Σ_j (x_j − μ_kj)² / σ²_j,

which is a linear classifier — the same hypothesis class as logistic regression — fitted in one pass with no
optimisation. [`GaussianNBHead`] keeps the per-class count, sum and sum of squares, so fits on shards of a dataset
(streamed batches, processes of a distributed feature extraction) merge exactly ([`GaussianNBHead.merge`]).
[`GaussianNBHead.to_linear`] returns the equivalent `nn.Linear` (the ½ Σ_j x_j²/σ²_j term is common to all classes and
drops out of the softmax), to put in place of a transformers model's classification head.
"""

from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from hf_methods.common.checks import check_number, check_positive_int

__all__ = ["GaussianNBHead"]


class GaussianNBHead(nn.Module, PyTorchModelHubMixin):
    """Multiclass Gaussian naive Bayes with a pooled diagonal variance; `forward(features)` returns logits.

    Args:
        num_features: n, the feature dimension.
        num_labels: K, the number of classes.
        var_epsilon: ε added to each class's variance before pooling (the official code's 1e-9 floor).

    Example:

    ```python
    >>> head = GaussianNBHead(num_features=768, num_labels=10).fit(features, labels)  # one pass, no SGD
    >>> logits = head(test_features)
    ```
    """

    def __init__(self, num_features: int, num_labels: int, var_epsilon: float = 1e-9):
        super().__init__()
        self.num_features = check_positive_int("num_features", num_features)
        self.num_labels = check_positive_int("num_labels", num_labels)
        if self.num_labels < 2:
            raise ValueError("num_labels must be at least 2")
        self.var_epsilon = check_number("var_epsilon", var_epsilon, low=0.0)
        # sufficient statistics, in float64 so that merged and one-shot fits agree to rounding
        self.register_buffer("counts", torch.zeros(num_labels, dtype=torch.float64))
        self.register_buffer("sums", torch.zeros(num_labels, num_features, dtype=torch.float64))
        self.register_buffer("sums_of_squares", torch.zeros(num_labels, num_features, dtype=torch.float64))

    # ---------------------------------------------------------------------------------------------------- fitting

    def _check(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        if not isinstance(features, torch.Tensor) or features.dim() != 2 or features.shape[1] != self.num_features:
            got = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(f"features must be a (batch, {self.num_features}) tensor, got {got}")
        if labels is not None:
            if not isinstance(labels, torch.Tensor) or labels.shape != (features.shape[0],):
                raise ValueError(f"labels must be a ({features.shape[0]},) tensor of class ids")
            if labels.is_floating_point() or (
                labels.numel() and (labels.min() < 0 or labels.max() >= self.num_labels)
            ):
                raise ValueError(f"labels must be integer class ids in [0, {self.num_labels})")

    @torch.no_grad()
    def partial_fit(self, features: torch.Tensor, labels: torch.Tensor) -> GaussianNBHead:
        """Add a batch to the sufficient statistics (count, Σx, Σx² per class); returns self."""
        self._check(features, labels)
        x = features.detach().to(self.counts.device, torch.float64)
        onehot = torch.nn.functional.one_hot(labels.to(self.counts.device).long(), self.num_labels).to(torch.float64)
        self.counts += onehot.sum(0)
        self.sums += onehot.T @ x
        self.sums_of_squares += onehot.T @ x.pow(2)
        return self

    def fit(self, features: torch.Tensor, labels: torch.Tensor) -> GaussianNBHead:
        """Reset the statistics and fit on `(features, labels)` in one pass; returns self."""
        self.reset()
        return self.partial_fit(features, labels)

    @torch.no_grad()
    def merge(self, other: GaussianNBHead) -> GaussianNBHead:
        """Add another head's statistics (a fit on another shard of the data); returns self."""
        if not isinstance(other, GaussianNBHead) or (other.num_features, other.num_labels) != (
            self.num_features,
            self.num_labels,
        ):
            raise ValueError("can only merge a GaussianNBHead with the same num_features and num_labels")
        self.counts += other.counts.to(self.counts.device)
        self.sums += other.sums.to(self.counts.device)
        self.sums_of_squares += other.sums_of_squares.to(self.counts.device)
        return self

    @torch.no_grad()
    def reset(self) -> None:
        self.counts.zero_()
        self.sums.zero_()
        self.sums_of_squares.zero_()

    # ------------------------------------------------------------------------------------------------- parameters

    def _require_fit(self) -> None:
        if float(self.counts.sum()) == 0:
            raise RuntimeError("the head has not been fitted: call fit(features, labels) first")

    @property
    def priors(self) -> torch.Tensor:
        """π_k = m_k / m."""
        self._require_fit()
        return self.counts / self.counts.sum()

    @property
    def means(self) -> torch.Tensor:
        """μ_k (zero for a class with no example)."""
        self._require_fit()
        return self.sums / self.counts.clamp(min=1).unsqueeze(1)

    @property
    def variances(self) -> torch.Tensor:
        """σ²_j = Σ_k π_k (Var(x_j | y = k) + ε), the per-class population variance (ddof 0) pooled by the priors."""
        per_class = self.sums_of_squares / self.counts.clamp(min=1).unsqueeze(1) - self.means.pow(2)
        per_class = per_class.clamp(min=0) + self.var_epsilon
        present = (self.counts > 0).to(torch.float64).unsqueeze(1)
        return (self.priors.unsqueeze(1) * per_class * present).sum(0)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """logit_k(x) = log π_k − ½ Σ_j (x_j − μ_kj)² / σ²_j, shape `(batch, K)` in the features' dtype.

        A class with no training example has π_k = 0 and logit −inf (it is never predicted).
        """
        self._check(features)
        x = features.to(torch.float64)
        var = self.variances
        diff = x.unsqueeze(1) - self.means.unsqueeze(0)  # (batch, K, n)
        logits = self.priors.log().unsqueeze(0) - 0.5 * (diff.pow(2) / var).sum(-1)
        dtype = features.dtype if features.is_floating_point() else torch.float32
        return logits.to(dtype)

    @torch.no_grad()
    def to_linear(self) -> nn.Linear:
        """The equivalent linear layer: W_kj = μ_kj / σ²_j, b_k = log π_k − ½ Σ_j μ_kj² / σ²_j.

        Its logits differ from [`forward`]'s by −½ Σ_j x_j²/σ²_j, the same for every class, so the softmax and the
        prediction are the same. Classes without examples get a bias of −1e30 instead of −inf.
        """
        var = self.variances
        linear = nn.Linear(self.num_features, self.num_labels)
        weight = self.means / var
        bias = self.priors.log() - 0.5 * (self.means.pow(2) / var).sum(-1)
        linear.weight.copy_(weight.float())
        linear.bias.copy_(bias.clamp(min=-1e30).float())
        return linear
