# Copyright 2026 The hf-methods Authors. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Bandwidth sweep: the approximation-error floor of bandlimited random networks (Li et al., ICML 2023).

The paper proves that when the hidden parameters live in a bounded domain Ω (range λ), the approximation error of
f_N(x) = Σ_j c_j σ(a_jᵀx − b_j) is bounded below by the ridgelet energy of the target outside Ω, however large N is;
and that the range λ needed grows with the complexity of the target. [`bandwidth_sweep`] measures this: the relative
test error of closed-form ridge readouts over a grid of ranges λ and widths N.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from .configuration_random_features import RandomFeatureConfig


def sinusoid_target(k: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """Returns the target x ↦ sin(2πkx) (k periods on [−1, 1]), mapping `(n, 1)` inputs to `(n, 1)` targets."""
    if not k > 0:
        raise ValueError(f"`k` (the frequency of sin(2πkx)) must be > 0, got {k!r}.")

    def target(x: torch.Tensor) -> torch.Tensor:
        return torch.sin(2 * math.pi * k * x)

    target.__name__ = f"sin(2π·{k:g}x)"
    return target


@dataclass
class SweepResult:
    r"""
    Relative test MSE of closed-form random-feature fits per range λ and width N.

    Args:
        bandwidths (`list[float]`):
            The ranges λ (rows of the tables).
        widths (`list[int]`):
            The widths N (columns of the tables).
        rel_mse (`list[list[float]]`):
            `rel_mse[i][j]`: relative test MSE Σ(ŷ − y)² / Σ(y − ȳ)² for `bandwidths[i]`, `widths[j]`.
        train_rel_mse (`list[list[float]]`):
            The same on the training points.
        rel_mse_std (`list[list[float]]`, *optional*):
            Standard deviation over seeds, for a result averaged by [`SweepResult.average`].
        settings (`dict`):
            The sweep settings (target, n_train, n_test, ridge, seeds, activation, weight_dist).
    """

    bandwidths: list[float]
    widths: list[int]
    rel_mse: list[list[float]]
    train_rel_mse: list[list[float]]
    rel_mse_std: list[list[float]] | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def get(self, bandwidth: float, width: int) -> float:
        """Relative test MSE at (`bandwidth`, `width`)."""
        return self.rel_mse[self.bandwidths.index(bandwidth)][self.widths.index(width)]

    def smallest_sufficient_bandwidth(self, width: int, threshold: float) -> float | None:
        """The smallest λ whose relative test MSE at `width` is below `threshold` (None when no λ reaches it)."""
        column = self.widths.index(width)
        reached = [lam for lam, row in zip(self.bandwidths, self.rel_mse) if row[column] < threshold]
        return min(reached) if reached else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        """The relative test MSE as a text table (rows λ, columns N)."""
        header = "λ \\ N".ljust(10) + "".join(f"{n:>12d}" for n in self.widths)
        rows = [f"{lam:<10g}" + "".join(f"{v:>12.4g}" for v in row) for lam, row in zip(self.bandwidths, self.rel_mse)]
        return "\n".join([header, *rows])

    @classmethod
    def average(cls, results: Sequence[SweepResult]) -> SweepResult:
        """Mean (and standard deviation, in `rel_mse_std`) of sweeps over the same grid, e.g. one per seed."""
        if not results:
            raise ValueError("`results` must hold at least one SweepResult.")
        first = results[0]
        if any(r.bandwidths != first.bandwidths or r.widths != first.widths for r in results):
            raise ValueError("`results` must share the same bandwidths and widths.")

        def reduce(tables, fn):
            return [
                [fn([t[i][j] for t in tables]) for j in range(len(first.widths))] for i in range(len(first.bandwidths))
            ]

        settings = dict(first.settings)
        settings["seeds"] = [s for r in results for s in r.settings.get("seeds", [])]
        return cls(
            bandwidths=list(first.bandwidths),
            widths=list(first.widths),
            rel_mse=reduce([r.rel_mse for r in results], statistics.fmean),
            train_rel_mse=reduce([r.train_rel_mse for r in results], statistics.fmean),
            rel_mse_std=reduce([r.rel_mse for r in results], statistics.pstdev),
            settings=settings,
        )

    def plot(self, ax=None, title: str | None = None):
        """Draws relative test MSE against width, one line per λ (log-log), on `ax` (a new figure when None)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 3.5))
        for i, lam in enumerate(self.bandwidths):
            values = self.rel_mse[i]
            line = ax.plot(self.widths, values, marker="o", label=f"λ = {lam:g}")[0]
            if self.rel_mse_std is not None:
                low = [max(v - s, 1e-12) for v, s in zip(values, self.rel_mse_std[i])]
                high = [v + s for v, s in zip(values, self.rel_mse_std[i])]
                ax.fill_between(self.widths, low, high, color=line.get_color(), alpha=0.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("width N")
        ax.set_ylabel("relative test MSE")
        ax.set_title(title if title is not None else str(self.settings.get("target", "")))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
        return ax

    def save_plot(self, path: str, title: str | None = None) -> None:
        """Saves [`SweepResult.plot`] to `path` (matplotlib, Agg backend)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ax = self.plot(title=title)
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
        plt.close(ax.figure)


def bandwidth_sweep(
    target_fn: Callable[[torch.Tensor], torch.Tensor],
    bandwidths: Sequence[float],
    widths: Sequence[int],
    *,
    n_train: int = 1000,
    n_test: int = 1000,
    ridge: float = 1e-6,
    seed: int = 0,
    activation: str = "tanh",
    weight_dist: str = "uniform",
) -> SweepResult:
    r"""
    Fits a bandlimited random network to a 1-D target for every range λ and width N, and measures the test error.

    For each (λ, N), a [`RandomFeatureModel`] with a_j, b_j ~ U[−λ, λ] (`feature_seed=seed`) gets its readout by
    [`~RandomFeatureModel.fit_readout`] (ridge ρ on the normalised Gram matrix) on `n_train` grid points of [−1, 1],
    and is scored by the relative MSE Σ(ŷ − y)² / Σ(y − ȳ)² on `n_test` points drawn uniformly from [−1, 1] with a
    generator seeded by `seed`. The paper's prediction: for λ too small for the target, the error stays at a floor
    whatever N.

    Args:
        target_fn (`Callable[[torch.Tensor], torch.Tensor]`):
            The target, mapping float64 inputs of shape `(n, 1)` to `(n, 1)` or `(n,)` (e.g. [`sinusoid_target`]).
        bandwidths (`Sequence[float]`):
            Ranges λ to sweep.
        widths (`Sequence[int]`):
            Widths N to sweep.
        n_train (`int`, *optional*, defaults to 1000):
            Number of training points (a uniform grid of [−1, 1]).
        n_test (`int`, *optional*, defaults to 1000):
            Number of test points (uniform on [−1, 1]).
        ridge (`float`, *optional*, defaults to 1e-6):
            Ridge ρ on the normalised Gram matrix.
        seed (`int`, *optional*, defaults to 0):
            Seed of the hidden parameters (`feature_seed`) and of the test points.
        activation (`str`, *optional*, defaults to `"tanh"`):
            Activation σ.
        weight_dist (`str`, *optional*, defaults to `"uniform"`):
            Distribution of the hidden parameters.

    Returns:
        [`SweepResult`]
    """
    from .modeling_random_features import RandomFeatureModel, _relative_mse

    bandwidths, widths = [float(b) for b in bandwidths], [int(w) for w in widths]
    if not bandwidths or not widths:
        raise ValueError("`bandwidths` and `widths` must each hold at least one value.")
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if value < 1:
            raise ValueError(f"`{name}` must be >= 1, got {value!r}.")

    x_train = torch.linspace(-1.0, 1.0, n_train, dtype=torch.float64).unsqueeze(-1)
    generator = torch.Generator().manual_seed(seed)
    x_test = (2 * torch.rand(n_test, 1, generator=generator, dtype=torch.float64) - 1).contiguous()
    y_train = _as_column(target_fn(x_train), n_train, "target_fn(x_train)")
    y_test = _as_column(target_fn(x_test), n_test, "target_fn(x_test)")

    rel_mse, train_rel_mse = [], []
    for lam in bandwidths:
        test_row, train_row = [], []
        for width in widths:
            config = RandomFeatureConfig(
                in_dim=1,
                out_dim=y_train.shape[1],
                width=width,
                bandwidth=lam,
                ridge=ridge,
                feature_seed=seed,
                activation=activation,
                weight_dist=weight_dist,
            )
            model = RandomFeatureModel(config).to(torch.float64).eval()
            train_row.append(model.fit_readout(x_train, y_train))
            with torch.no_grad():
                test_row.append(_relative_mse(model(x_test).predictions, y_test))
        rel_mse.append(test_row)
        train_rel_mse.append(train_row)

    settings = {
        "target": getattr(target_fn, "__name__", repr(target_fn)),
        "n_train": n_train,
        "n_test": n_test,
        "ridge": ridge,
        "seeds": [seed],
        "activation": activation,
        "weight_dist": weight_dist,
    }
    return SweepResult(bandwidths, widths, rel_mse, train_rel_mse, settings=settings)


def _as_column(values: torch.Tensor, n: int, name: str) -> torch.Tensor:
    values = torch.as_tensor(values, dtype=torch.float64)
    if values.dim() == 1:
        values = values.unsqueeze(-1)
    if values.dim() != 2 or values.shape[0] != n:
        raise ValueError(f"`{name}` must have shape ({n},) or ({n}, out_dim), got {tuple(values.shape)}.")
    return values


__all__ = ["SweepResult", "bandwidth_sweep", "sinusoid_target"]
