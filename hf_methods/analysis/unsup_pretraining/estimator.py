"""Unsupervised pretraining by maximum likelihood, then empirical risk minimisation on the learned representation.

Ge, Tang, Fan & Jin ("On the Provable Advantage of Unsupervised Pretraining", ICLR 2024) study the two-stage
procedure

    1. φ̂ = argmax_{φ ∈ Φ} Σ_{j=1}^{m} log p_φ(x_j)                    (MLE of a latent-variable model, m unlabelled x)
    2. ψ̂ = argmin_{ψ ∈ Ψ} Σ_{i=1}^{n} ℓ(ψ(g_φ̂(x_i)), y_i)             (ERM on the representation, n labelled pairs)

and prove an excess risk of Õ(√(C_Φ/m) + √(C_Ψ/n)), against Õ(√(C_{Φ∘Ψ}/n)) for supervised learning alone: when
m ≫ n and the composed class is richer than the downstream one, pretraining provably helps. [`MLEPretrainThenERM`]
implements the paper's two instances with scikit-learn's maximum-likelihood fits:

- `latent="factor"`: x = Bz + μ + ε, z ~ N(0, I_r), ε ~ N(0, Ψ) diagonal — `FactorAnalysis` (MLE); the representation
  is the posterior mean E[z | x] = (I + BᵀΨ⁻¹B)⁻¹ BᵀΨ⁻¹(x − μ); the downstream step is least-squares regression
  (`LinearRegression`, optionally ridge) on it;
- `latent="gmm"`: x ~ Σ_k π_k N(μ_k, Σ_k) — `GaussianMixture` (EM for the MLE); the representation is the cluster
  posterior; the downstream step is ERM over the assignments of a label to each cluster (the labelling with the
  fewest training errors, computed per cluster by majority vote).
"""

from __future__ import annotations

import numpy as np
import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from hf_methods.common.checks import check_number, check_positive_int

__all__ = ["LATENT_MODELS", "FactorRegressionModel", "MLEPretrainThenERM"]

#: Latent-variable families the estimator pretrains (the owner of this list).
LATENT_MODELS = ("factor", "gmm")


def _matrix(x, name: str) -> np.ndarray:
    array = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (samples, features) matrix, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array


class MLEPretrainThenERM:
    """Pretrain a latent-variable model by MLE on unlabelled data, then fit a downstream predictor by ERM on its
    representation (scikit-learn style: `fit_unlabeled`, `fit_labeled`, `predict`, `transform`).

    Args:
        latent: `"factor"` (factor analysis → regression on E[z | x]) or `"gmm"` (Gaussian mixture → one label per
            cluster).
        r: latent dimension (factor) or number of clusters (gmm).
        ridge: L2 strength of the downstream regression (factor; 0 = ordinary least squares, the paper's ERM).
        covariance_type: the mixture's covariance family (gmm; scikit-learn's names).
        random_state: seeds the MLE fit.

    Example:

    ```python
    >>> est = MLEPretrainThenERM(latent="factor", r=5).fit_unlabeled(x_unlabelled).fit_labeled(x_train, y_train)
    >>> y_hat = est.predict(x_test)
    ```
    """

    def __init__(
        self,
        latent: str = "factor",
        r: int = 5,
        *,
        ridge: float = 0.0,
        covariance_type: str = "full",
        random_state: int = 0,
    ):
        if latent not in LATENT_MODELS:
            raise ValueError(f"latent must be one of {LATENT_MODELS}, got {latent!r}")
        self.latent = latent
        self.r = check_positive_int("r", r)
        if latent == "gmm" and self.r < 2:
            raise ValueError("a mixture needs r ≥ 2 clusters")
        self.ridge = check_number("ridge", ridge, low=0.0)
        if covariance_type not in ("full", "tied", "diag", "spherical"):
            raise ValueError(f"covariance_type must be full, tied, diag or spherical, got {covariance_type!r}")
        self.covariance_type = covariance_type
        self.random_state = random_state
        self.pretrained_ = None
        self.downstream_ = None
        self.cluster_labels_ = None

    # --------------------------------------------------------------------------------------------- stage 1: MLE

    def fit_unlabeled(self, x) -> MLEPretrainThenERM:
        """Stage 1: maximum-likelihood fit of the latent-variable model on unlabelled inputs `(m, d)`."""
        x = _matrix(x, "x")
        if self.latent == "factor":
            from sklearn.decomposition import FactorAnalysis

            if self.r > x.shape[1]:
                raise ValueError(f"r = {self.r} latent factors cannot exceed the input dimension {x.shape[1]}")
            self.pretrained_ = FactorAnalysis(n_components=self.r, random_state=self.random_state).fit(x)
        else:
            from sklearn.mixture import GaussianMixture

            if x.shape[0] < self.r:
                raise ValueError(f"{x.shape[0]} unlabelled samples cannot fit {self.r} clusters")
            self.pretrained_ = GaussianMixture(
                n_components=self.r, covariance_type=self.covariance_type, random_state=self.random_state
            ).fit(x)
        self.downstream_ = self.cluster_labels_ = None
        return self

    def transform(self, x) -> np.ndarray:
        """The learned representation g_φ̂(x): E[z | x] `(n, r)` (factor) or cluster posteriors `(n, r)` (gmm)."""
        if self.pretrained_ is None:
            raise RuntimeError("call fit_unlabeled(x) first: the representation comes from the pretrained model")
        x = _matrix(x, "x")
        if x.shape[1] != self.pretrained_.n_features_in_:
            raise ValueError(f"x has {x.shape[1]} features, the pretrained model {self.pretrained_.n_features_in_}")
        if self.latent == "factor":
            return self.pretrained_.transform(x)
        return self.pretrained_.predict_proba(x)

    # -------------------------------------------------------------------------------------------- stage 2: ERM

    def fit_labeled(self, x, y) -> MLEPretrainThenERM:
        """Stage 2: ERM of the downstream predictor on the representation of `n` labelled pairs."""
        features = self.transform(x)
        y = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y)
        if y.shape != (features.shape[0],):
            raise ValueError(f"y must have shape ({features.shape[0]},), got {y.shape}")
        if self.latent == "factor":
            from sklearn.linear_model import LinearRegression, Ridge

            model = Ridge(alpha=self.ridge) if self.ridge > 0 else LinearRegression()
            self.downstream_ = model.fit(features, y.astype(np.float64))
        else:
            # ERM over Ψ = {cluster → label maps}: the 0-1 training loss splits over clusters, so the minimiser
            # gives each cluster the most frequent label among the labelled points assigned to it
            clusters = features.argmax(1)
            classes, counts_default = np.unique(y, return_counts=True)
            fallback = classes[counts_default.argmax()]  # a cluster with no labelled point gets the majority label
            labels = np.empty(self.r, dtype=y.dtype)
            for c in range(self.r):
                members = y[clusters == c]
                if members.size:
                    values, counts = np.unique(members, return_counts=True)
                    labels[c] = values[counts.argmax()]
                else:
                    labels[c] = fallback
            self.cluster_labels_ = labels
            self.downstream_ = "cluster-labels"
        return self

    def predict(self, x) -> np.ndarray:
        """ψ̂(g_φ̂(x)): regression outputs (factor) or class labels (gmm)."""
        if self.downstream_ is None:
            raise RuntimeError("call fit_labeled(x, y) after fit_unlabeled(x)")
        features = self.transform(x)
        if self.latent == "factor":
            return self.downstream_.predict(features)
        return self.cluster_labels_[features.argmax(1)]

    def to_module(self) -> FactorRegressionModel:
        """The fitted factor-model estimator as a [`FactorRegressionModel`] (float32 torch module)."""
        if self.latent != "factor" or self.downstream_ is None:
            raise RuntimeError("to_module needs a factor-model estimator after fit_unlabeled and fit_labeled")
        fa = self.pretrained_
        loadings = fa.components_.T  # B, (d, r)
        b_scaled = loadings / fa.noise_variance_[:, None]  # Ψ⁻¹B
        encoder = np.linalg.solve(np.eye(self.r) + loadings.T @ b_scaled, b_scaled.T)  # A, (r, d)
        module = FactorRegressionModel(loadings.shape[0], self.r)
        with torch.no_grad():
            module.encoder.weight.copy_(torch.from_numpy(encoder))
            module.encoder.bias.copy_(torch.from_numpy(-encoder @ fa.mean_))
            module.head.weight.copy_(torch.from_numpy(np.asarray(self.downstream_.coef_)).reshape(1, -1))
            module.head.bias.fill_(float(self.downstream_.intercept_))
        return module


class FactorRegressionModel(nn.Module, PyTorchModelHubMixin):
    """A fitted factor-model pretrain-then-ERM estimator as a torch module (saves and loads like a Hub model).

    `representation(x)` = E[z | x] = A (x − μ) with A = (I + BᵀΨ⁻¹B)⁻¹ BᵀΨ⁻¹ (linear in x), `forward(x)` = wᵀE[z | x] + c,
    the downstream regression. Build it with [`MLEPretrainThenERM.to_module`].
    """

    def __init__(self, num_features: int, latent_dim: int):
        super().__init__()
        self.num_features = check_positive_int("num_features", num_features)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.encoder = nn.Linear(num_features, latent_dim)
        self.head = nn.Linear(latent_dim, 1)

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"x must be a (batch, {self.num_features}) tensor, got {tuple(x.shape)}")
        return self.head(self.encoder(x)).squeeze(-1)
