"""The deep_ntk recipe's pieces, shared with the claim and the tests: the sphere-projected digits and the arguments."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from hf_methods.analysis.deep_ntk.kernels import get_dual_activation, sphere_normalize
from hf_methods.harness.recipe import RecipeArguments

__all__ = ["DeepNTKArguments", "SavableClassifier", "parse_float_list", "parse_int_list", "sphere_digits"]


class SavableClassifier(torch.nn.Module):
    """A fitted `DeepNTKClassifier` in the `nn.Module` shape the recipe runner saves (it unwraps torch modules before
    `save_pretrained`); it holds no parameters and writes the classifier's own files."""

    def __init__(self, classifier):
        super().__init__()
        self.classifier = classifier

    def save_pretrained(self, save_directory, **kwargs) -> None:
        self.classifier.save_pretrained(save_directory, **kwargs)


def sphere_digits(
    n_train: int = 300, n_test: int = 300, pca_dim: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn digits → PCA(`pca_dim`) fitted on the training part → rows put on the unit sphere.

    `(X_train, y_train, X_test, y_test)`, float64, `n_train` and `n_test` digits of a stratified split seeded by
    `seed` (the paper's setting: data on the sphere S^{d−1}).
    """
    from sklearn.decomposition import PCA

    from hf_methods.common.data import load_digits

    for name, value in (("n_train", n_train), ("n_test", n_test), ("pca_dim", pca_dim)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if n_train + n_test > 1797:
        raise ValueError(f"n_train + n_test must be at most 1797 (the digits), got {n_train + n_test}")
    if pca_dim > 64 or pca_dim > n_train:
        raise ValueError(f"pca_dim must be at most min(64, n_train), got {pca_dim}")
    train, test = load_digits(test_size=n_test / 1797, seed=seed)
    x_train, y_train = train.x[:n_train].astype(np.float64), train.y[:n_train]
    x_test, y_test = test.x[:n_test].astype(np.float64), test.y[:n_test]
    pca = PCA(n_components=pca_dim, random_state=seed).fit(x_train)
    return (
        sphere_normalize(pca.transform(x_train), name="X_train"),
        y_train,
        sphere_normalize(pca.transform(x_test), name="X_test"),
        y_test,
    )


def parse_int_list(name: str, text: str) -> list[int]:
    """`"1,10,100"` → `[1, 10, 100]` (each ≥ 0); raises `ValueError` naming the flag."""
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--{name} must be comma-separated integers, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise ValueError(f"--{name} must name at least one integer >= 0, got {text!r}")
    return values


def parse_float_list(name: str, text: str) -> list[float]:
    """`"0,0.7071,0.7071"` → floats; raises `ValueError` naming the flag."""
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--{name} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise ValueError(f"--{name} must name at least one number, got {text!r}")
    return values


@dataclass
class DeepNTKArguments(RecipeArguments):
    """Flags of `recipes/deep_ntk.py`: the NTK classifier on sphere-projected digits at a ladder of depths."""

    max_steps: int = field(default=0, metadata={"help": "Unused: the NTK classifier is fitted in closed form."})
    activation: str = field(
        default="relu", metadata={"help": "Named activation: 'relu' or 'erf' (ignored when --hermite_coeffs is set)."}
    )
    hermite_coeffs: str | None = field(
        default=None,
        metadata={"help": "Comma-separated Hermite coefficients a_0,a_1,... of the activation (Σ a_i² = 1)."},
    )
    depth: int = field(default=100, metadata={"help": "Depth (hidden layers) of the classifier saved in the folder."})
    depths: str = field(
        default="1,2,5,10,20,50,100,200,500", metadata={"help": "Comma-separated depths of the agreement sweep."}
    )
    n_train: int = field(default=300, metadata={"help": "Training digits."})
    n_test: int = field(default=300, metadata={"help": "Test digits."})
    pca_dim: int = field(default=10, metadata={"help": "PCA dimension before projecting onto the sphere."})
    alpha_min: float = field(default=1.0, metadata={"help": "Smallest α of the singular-kernel grid."})
    alpha_max: float = field(default=20.0, metadata={"help": "Largest α of the singular-kernel grid."})
    alpha_step: float = field(default=0.5, metadata={"help": "Step of the singular-kernel α grid."})
    rcond: float = field(default=1e-12, metadata={"help": "Least-squares cut-off of the kernel solve."})

    def dual_kwargs(self) -> dict:
        if self.hermite_coeffs:
            return {"hermite_coeffs": parse_float_list("hermite_coeffs", self.hermite_coeffs)}
        return {"activation": self.activation}

    def depth_list(self) -> list[int]:
        return parse_int_list("depths", self.depths)

    def alphas(self) -> list[float]:
        return [float(a) for a in np.arange(self.alpha_min, self.alpha_max + 1e-9, self.alpha_step)]

    def validate(self) -> None:
        super().validate()
        try:
            get_dual_activation(**self.dual_kwargs())
        except (ValueError, TypeError) as error:
            flag = "--hermite_coeffs" if self.hermite_coeffs else "--activation"
            raise ValueError(f"{flag}: {error}") from None
        self.depth_list()
        if self.depth < 0:
            raise ValueError(f"--depth must be >= 0, got {self.depth}")
        for name in ("n_train", "n_test", "pca_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.n_train + self.n_test > 1797:
            raise ValueError(f"--n_train + --n_test must be at most 1797, got {self.n_train + self.n_test}")
        if self.pca_dim > min(64, self.n_train):
            raise ValueError(f"--pca_dim must be at most min(64, n_train), got {self.pca_dim}")
        if not 0 < self.alpha_min <= self.alpha_max or self.alpha_step <= 0:
            raise ValueError(
                f"--alpha_min, --alpha_max, --alpha_step must satisfy 0 < min <= max and step > 0, got "
                f"{self.alpha_min}, {self.alpha_max}, {self.alpha_step}"
            )
        if self.rcond < 0:
            raise ValueError(f"--rcond must be >= 0, got {self.rcond}")
