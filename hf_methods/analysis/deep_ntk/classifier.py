"""The NTK classifier (a scikit-learn estimator) and the three classifiers of its infinite-depth limit.

Radhakrishnan, Belkin & Uhler (PNAS 2023): an infinitely wide network trained to zero square loss on one-hot labels
Y is kernel regression with its NTK, and the class is the arg-max of its output

    ŷ(x) = argmax_c [Kᴸ(x, X) Kᴸ(X, X)⁻¹ Y]_c.

As L → ∞ this classifier becomes, depending on ξ = ψ'(1):

- ξ > 1: the 1-nearest-neighbour classifier, ŷ(x) = y_{argmin_i ‖x − x_i‖};
- ξ < 1: the majority vote, ŷ(x) = argmax_c #{i : y_i = c};
- ξ = 1: a singular kernel classifier, ŷ(x) = argmax_c Σ_{i : y_i = c} ‖x − x_i‖^{−α}.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from hf_methods.analysis.deep_ntk.kernels import (
    _as_matrix,
    _check_depth,
    _check_sphere,
    get_dual_activation,
    ntk_kernel,
    sphere_normalize,
)

__all__ = [
    "DeepNTKClassifier",
    "majority_vote_predict",
    "nearest_neighbor_predict",
    "singular_kernel_predict",
]

CONFIG_NAME = "deep_ntk_config.json"
ARRAYS_NAME = "deep_ntk_train.safetensors"


def _labels(name: str, y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with one label per training row ({n}), got shape {y.shape}")
    return y


def _distances(X_train: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    squared = (X_test**2).sum(1)[:, None] + (X_train**2).sum(1)[None, :] - 2.0 * X_test @ X_train.T
    return np.sqrt(np.maximum(squared, 0.0))


def nearest_neighbor_predict(X_train, y_train, X_test) -> np.ndarray:
    """The 1-nearest-neighbour classifier (Euclidean distance): ŷ(x) = y_{argmin_i ‖x − x_i‖}."""
    X_train, X_test = _as_matrix("X_train", X_train), _as_matrix("X_test", X_test)
    y_train = _labels("y_train", y_train, X_train.shape[0])
    if X_train.shape[1] != X_test.shape[1]:
        raise ValueError(f"X_train has {X_train.shape[1]} features but X_test has {X_test.shape[1]}")
    return y_train[np.argmin(_distances(X_train, X_test), axis=1)]


def majority_vote_predict(y_train, n_test: int) -> np.ndarray:
    """The majority vote: every one of `n_test` points gets the most frequent training label (ties: smallest)."""
    y_train = np.asarray(y_train)
    if y_train.ndim != 1 or y_train.size == 0:
        raise ValueError(f"y_train must be a non-empty 1-D array of labels, got shape {y_train.shape}")
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or n_test < 0:
        raise ValueError(f"n_test must be an integer >= 0, got {n_test!r}")
    classes, counts = np.unique(y_train, return_counts=True)
    return np.full(int(n_test), classes[np.argmax(counts)], dtype=y_train.dtype)


def singular_kernel_predict(X_train, y_train, X_test, alpha: float) -> np.ndarray:
    """The singular kernel classifier ŷ(x) = argmax_c Σ_{i : y_i = c} ‖x − x_i‖^{−α} (α > 0).

    Computed in the log domain (log-sum-exp of −α log ‖x − x_i‖ per class), so large α stays finite; a test point that
    coincides with training points gets their (majority) label. α = d in dimension d is the Hilbert kernel, which is
    Bayes-consistent (Devroye, Györfi & Krzyżak, 1998); α → ∞ tends to 1-nearest neighbour.
    """
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, (int, float, np.number))
        or not np.isfinite(alpha)
        or alpha <= 0
    ):
        raise ValueError(f"alpha must be a positive finite number, got {alpha!r}")
    X_train, X_test = _as_matrix("X_train", X_train), _as_matrix("X_test", X_test)
    y_train = _labels("y_train", y_train, X_train.shape[0])
    if X_train.shape[1] != X_test.shape[1]:
        raise ValueError(f"X_train has {X_train.shape[1]} features but X_test has {X_test.shape[1]}")
    classes, index = np.unique(y_train, return_inverse=True)
    distances = _distances(X_train, X_test)
    exact = distances <= 1e-12
    with np.errstate(divide="ignore"):
        log_weights = -float(alpha) * np.log(np.where(exact, 1.0, distances))
    scores = np.full((X_test.shape[0], classes.size), -np.inf)
    for c in range(classes.size):
        members = log_weights[:, index == c]
        top = members.max(axis=1, keepdims=True)
        scores[:, c] = top[:, 0] + np.log(np.exp(members - top).sum(axis=1))
    hits = exact.any(axis=1)
    if hits.any():  # an infinite weight: the label(s) of the coinciding training points decide
        counts = np.stack([(exact[hits][:, index == c]).sum(1) for c in range(classes.size)], axis=1)
        scores[hits] = counts
    return classes[np.argmax(scores, axis=1)]


class DeepNTKClassifier(ClassifierMixin, BaseEstimator):
    """Kernel regression with the NTK of an infinitely wide, `depth`-hidden-layer network, used as a classifier.

    `fit` solves Kᴸ(X, X) A = Y for the one-hot labels Y (minimum-norm least squares, `numpy.linalg.lstsq` with
    `rcond`; or (Kᴸ + λI) A = Y when `ridge` = λ > 0); `predict` returns argmax_c [Kᴸ(x, X) A]_c. This is what the
    infinitely wide network trained by gradient descent to zero square loss predicts (Jacot et al., 2018), up to its
    random output at initialisation.

    Args:
        depth: hidden layers L ≥ 0.
        activation: "relu", "erf" or a `DualActivation` (default ReLU when `hermite_coeffs` is not given).
        hermite_coeffs: the Hermite coefficients a_i of the activation (Σ a_i² = 1), instead of `activation`.
        normalize_inputs: put every input row on the unit sphere (x / ‖x‖) before the kernel, as the paper assumes;
            with `False` the rows must already have norm 1.
        rcond: relative cut-off of small singular values in the least-squares solve (deep kernels are badly
            conditioned: at large depth they are nearly constant for ξ < 1 and nearly diagonal for ξ > 1).
        ridge: λ ≥ 0; λ > 0 solves the regularised system instead of the interpolating one.

    Example:

    ```python
    clf = DeepNTKClassifier(depth=200, hermite_coeffs=[0, 0.5**0.5, 0.5**0.5]).fit(X, y)
    clf.predict(X_test), clf.score(X_test, y_test)
    ```
    """

    def __init__(
        self,
        depth: int = 10,
        activation=None,
        hermite_coeffs=None,
        normalize_inputs: bool = True,
        rcond: float = 1e-12,
        ridge: float = 0.0,
    ):
        self.depth = depth
        self.activation = activation
        self.hermite_coeffs = hermite_coeffs
        self.normalize_inputs = normalize_inputs
        self.rcond = rcond
        self.ridge = ridge

    # --------------------------------------------------------------------------------------------------- helpers
    def _dual(self):
        return get_dual_activation(self.activation, self.hermite_coeffs)

    def _prepare(self, X, name: str) -> np.ndarray:
        if self.normalize_inputs:
            return sphere_normalize(X, name=name)
        X = _as_matrix(name, X)
        _check_sphere(name, X)
        return X

    def _check_params(self) -> None:
        _check_depth(self.depth)
        self._dual()
        for name in ("rcond", "ridge"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    # ------------------------------------------------------------------------------------------------ estimator
    def fit(self, X, y):
        """Stores the training set on the sphere and solves for the kernel-regression coefficients."""
        self._check_params()
        X, y = check_X_y(X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(f"y must contain at least two classes, got {self.classes_.tolist()}")
        self.n_features_in_ = X.shape[1]
        self.X_fit_ = self._prepare(X, "X")
        targets = np.eye(self.classes_.size)[index]
        gram = ntk_kernel(self.X_fit_, depth=self.depth, activation=self._dual())
        if self.ridge > 0:
            self.dual_coef_ = np.linalg.solve(gram + self.ridge * np.eye(gram.shape[0]), targets)
        else:
            self.dual_coef_ = np.linalg.lstsq(gram, targets, rcond=self.rcond)[0]
        return self

    def class_scores(self, X) -> np.ndarray:
        """Kᴸ(x, X) A, one score per class `(n_samples, n_classes)`: the network's outputs, each row divided by a positive
        factor (the largest |K̃ᴸ(x, x_i)|), which keeps deep kernels whose entries underflow float64 comparable."""
        check_is_fitted(self, ["X_fit_", "dual_coef_"])
        X = check_array(X, dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but the classifier was fitted with {self.n_features_in_}")
        test = self._prepare(X, "X")
        kernel = ntk_kernel(test, self.X_fit_, depth=self.depth, activation=self._dual(), row_scaled=True)
        return kernel @ self.dual_coef_

    def decision_function(self, X) -> np.ndarray:
        """Class scores; for two classes, the score of `classes_[1]` minus that of `classes_[0]` (scikit-learn's form)."""
        scores = self.class_scores(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X) -> np.ndarray:
        """The class with the largest score."""
        return self.classes_[np.argmax(self.class_scores(X), axis=1)]

    # ----------------------------------------------------------------------------------------------- save / load
    def save_pretrained(self, save_directory, is_main_process: bool = True, save_function=None, **kwargs) -> None:
        """Writes the fitted classifier (its settings, training set and coefficients) to a folder.

        `deep_ntk_config.json` holds the constructor arguments and the classes; `deep_ntk_train.safetensors` the
        training inputs (on the sphere) and the coefficients. The extra arguments follow `PreTrainedModel`'s
        signature so the recipe runner can save it like a model.
        """
        check_is_fitted(self, ["X_fit_", "dual_coef_"])
        if not is_main_process:
            return
        from safetensors.numpy import save_file

        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        if self.activation is not None and not isinstance(self.activation, str):
            raise ValueError("only a named activation or hermite_coeffs can be saved, not a custom DualActivation")
        params = self.get_params()
        params["hermite_coeffs"] = None if self.hermite_coeffs is None else [float(a) for a in self.hermite_coeffs]
        config = {"params": params, "classes": self.classes_.tolist(), "n_features_in": int(self.n_features_in_)}
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        save_file(
            {"X_fit": np.ascontiguousarray(self.X_fit_), "dual_coef": np.ascontiguousarray(self.dual_coef_)},
            str(folder / ARRAYS_NAME),
        )

    @classmethod
    def from_pretrained(cls, folder) -> DeepNTKClassifier:
        """Loads a classifier written by [`save_pretrained`]; raises `FileNotFoundError` naming a missing file."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        for name in (CONFIG_NAME, ARRAYS_NAME):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder} has no {name}: not a saved DeepNTKClassifier")
        config = json.loads((folder / CONFIG_NAME).read_text())
        clf = cls(**config["params"])
        arrays = load_file(str(folder / ARRAYS_NAME))
        clf.X_fit_, clf.dual_coef_ = arrays["X_fit"], arrays["dual_coef"]
        clf.classes_ = np.asarray(config["classes"])
        clf.n_features_in_ = config["n_features_in"]
        return clf
