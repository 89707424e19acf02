"""Layer-adaptive magnitude pruning as a rate–distortion problem (Xu, Wang et al., ICCV 2023, arXiv 2308.10438).

For each prunable layer l and each pruning amount a ∈ {0, 1/S, …, 1}, only layer l is magnitude-pruned and the output
distortion on a calibration set is measured (the rate–distortion curve):

    δ_l(a) = mean_{samples, outputs} (Y − Ŷ_{l,a})²          (worst case: max over samples of the per-sample mean)

The paper observes that pruning several layers together distorts the output by about the sum of the single-layer
distortions (additivity), D(a_1, …, a_L) ≈ Σ_l δ_l(a_l), so the allocation under a budget of kept weights B is

    min_{a_1..a_L} Σ_l δ_l(a_l)   subject to   Σ_l n_l (1 − a_l) ≤ B,

solved exactly by dynamic programming over (layer, kept weights):

    dp_l[s] = min_a  δ_l(a) + dp_{l−1}[s − n_l (1 − a)],       dp_0[s] = 0 for s ≥ 0,

then backtracked to the per-layer amounts (official code: `Akimoto-Cris/RD_VIT_PRUNE`, `tools/algo.py:dp_pruning`,
`tools/pruners.py:gen_rd_curves`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from hf_methods.common.adversarial import logits_of
from hf_methods.common.masks import PRUNABLE, apply_masks, magnitude_masks, prunable_modules

__all__ = [
    "RDLayerAdaptivePruner",
    "dp_allocate",
    "kept_counts",
    "layer_magnitude_mask",
    "masks_disabled",
    "output_distortion",
    "rd_curves",
    "saved_kept_fraction",
]


def _check_levels(levels) -> int:
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an int >= 1 (the amounts are 0, 1/levels, ..., 1), got {levels!r}")
    return levels


def kept_counts(numel: int, levels: int) -> list[int]:
    """Weights kept by a layer of `numel` weights at each amount a_i = i / levels: `numel − round(numel · a_i)`."""
    _check_levels(levels)
    return [numel - int(round(numel * i / levels)) for i in range(levels + 1)]


def layer_magnitude_mask(weight: torch.Tensor, n_keep: int) -> torch.Tensor:
    """Boolean mask keeping exactly `n_keep` largest-|w| entries (0 allowed: the whole layer pruned)."""
    if not 0 <= n_keep <= weight.numel():
        raise ValueError(f"n_keep must be in [0, {weight.numel()}], got {n_keep}")
    flat = weight.detach().abs().flatten()
    mask = torch.zeros_like(flat, dtype=torch.bool)
    if n_keep:
        mask[flat.topk(n_keep).indices] = True
    return mask.view_as(weight)


def _batches(calibration) -> list:
    """The calibration data as a list of batches: a tensor, a dict of tensors, or an iterable of either."""
    if isinstance(calibration, (torch.Tensor, Mapping)):
        return [calibration]
    if isinstance(calibration, (str, bytes)) or not isinstance(calibration, Iterable):
        raise TypeError(
            "calibration must be a tensor, a dict of model inputs, or an iterable (e.g. a DataLoader) of them, "
            f"got {type(calibration).__name__}"
        )
    batches = list(calibration)
    if not batches:
        raise ValueError("calibration is empty")
    for b in batches:
        if not isinstance(b, (torch.Tensor, Mapping)):
            raise TypeError(f"calibration batches must be tensors or dicts of model inputs, got {type(b).__name__}")
    return batches


def _forward(model: nn.Module, batch, params: dict | None = None) -> torch.Tensor:
    if isinstance(batch, Mapping):
        batch = {k: v for k, v in batch.items() if k not in ("labels", "label")}
        args, kwargs = (), batch
    else:
        args, kwargs = (batch,), {}
    if params:
        out = torch.func.functional_call(model, params, args, kwargs, strict=False)
    else:
        out = model(*args, **kwargs)
    return logits_of(out).float()


def _per_sample_squared_error(y: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
    """Mean of (Y − Ŷ)² over every output dimension but the first (one value per sample)."""
    return (y - y_hat).pow(2).flatten(1).mean(1)


def _reduce(per_sample: torch.Tensor, worst_case: bool) -> float:
    return float(per_sample.max() if worst_case else per_sample.mean())


def _weight_key(name: str, module: nn.Module) -> str:
    """The tensor to override in `functional_call` for the (effective) weight of `module`."""
    if parametrize.is_parametrized(module, "weight"):
        return f"{name}.parametrizations.weight.original"
    return f"{name}.weight"


@torch.no_grad()
def rd_curves(
    model: nn.Module,
    calibration,
    *,
    levels: int = 100,
    worst_case: bool = False,
    include: Iterable[type] = PRUNABLE,
    exclude: Iterable[str] = (),
) -> dict[str, list[float]]:
    """The rate–distortion curve δ_l(i / levels), i = 0..levels, of every prunable layer (model in eval mode).

    Only layer l is magnitude-pruned (on its current effective weight, so an already-masked model is measured as
    it computes); the others stay as they are.

    Args:
        model: any module whose output is a tensor or has `.logits`.
        calibration: a tensor, a dict of model inputs, or an iterable of them (a `labels` key is dropped).
        levels: S; the amounts are 0, 1/S, ..., 1 (the paper: 100).
        worst_case: the max over samples of the per-sample mean squared error instead of the mean.
        include, exclude: which modules are layers (types; name substrings to skip).

    Returns:
        `{"<module>.weight": [δ(0), δ(1/S), ..., δ(1)]}`.
    """
    _check_levels(levels)
    batches = _batches(calibration)
    modules = prunable_modules(model, include, exclude)
    if not modules:
        raise ValueError("the model has no prunable module to measure")
    was_training = model.training
    model.eval()
    try:
        reference = [_forward(model, b) for b in batches]
        curves = {}
        for name, module in modules.items():
            weight = module.weight.detach()
            key = _weight_key(name, module)
            curve = []
            for n_keep in kept_counts(weight.numel(), levels):
                pruned = weight * layer_magnitude_mask(weight, n_keep).to(weight.dtype)
                errs = torch.cat(
                    [
                        _per_sample_squared_error(y, _forward(model, b, {key: pruned}))
                        for y, b in zip(reference, batches)
                    ]
                )
                curve.append(_reduce(errs, worst_case))
            curves[f"{name}.weight"] = curve
    finally:
        model.train(was_training)
    return curves


@torch.no_grad()
def output_distortion(
    model: nn.Module, masks: dict[str, torch.Tensor], calibration, *, worst_case: bool = False
) -> float:
    """The measured distortion of pruning all masked layers *together* (the left side of the additivity check)."""
    batches = _batches(calibration)
    params = {}
    for weight_name, mask in masks.items():
        name = weight_name[: -len(".weight")]
        module = model.get_submodule(name)
        params[_weight_key(name, module)] = module.weight.detach() * mask.to(module.weight.dtype)
    was_training = model.training
    model.eval()
    try:
        errs = torch.cat([_per_sample_squared_error(_forward(model, b), _forward(model, b, params)) for b in batches])
    finally:
        model.train(was_training)
    return _reduce(errs, worst_case)


def dp_allocate(
    curves: Mapping[str, list[float]] | list[list[float]],
    sizes: Mapping[str, int] | list[int],
    budget: int,
    *,
    min_level: Mapping[str, int] | list[int] | None = None,
    unit: int = 1,
) -> list[int] | dict[str, int]:
    """The exact minimiser of Σ_l δ_l(i_l / S) subject to Σ_l kept_l(i_l) ≤ budget, by dynamic programming.

    `dp_l[s] = min_i δ_l(i) + dp_{l−1}[s − kept_l(i)]` over kept-weight counts s (in units of `unit` weights; a
    layer's kept count is rounded *up* to whole units so the returned allocation never exceeds the budget).

    Args:
        curves: per layer, δ at the amounts 0, 1/S, ..., 1 (all with the same S).
        sizes: per layer, its number of weights n_l.
        budget: the largest total number of kept weights.
        min_level: per layer, the smallest allowed level index (iterative pruning: an amount never shrinks).
        unit: granularity of the budget axis (1 = exact; larger trades exactness for memory on big models).

    Returns:
        The level index i_l of each layer (amount = i_l / S), as a list or a dict keyed like `curves`.
    """
    keyed = isinstance(curves, Mapping)
    names = list(curves) if keyed else list(range(len(curves)))
    if keyed:
        if not isinstance(sizes, Mapping) or set(sizes) != set(names):
            raise ValueError("sizes must have the same layer names as curves")
    elif len(sizes) != len(names):
        raise ValueError(f"sizes has {len(sizes)} layers, curves {len(names)}")
    if not names:
        raise ValueError("curves is empty")
    lengths = {len(curves[n]) for n in names}
    if len(lengths) != 1 or lengths.pop() < 2:
        raise ValueError("every curve must have the same number (>= 2) of levels")
    levels = len(curves[names[0]]) - 1
    if isinstance(unit, bool) or not isinstance(unit, int) or unit < 1:
        raise ValueError(f"unit must be an int >= 1, got {unit!r}")
    for n in names:
        if isinstance(sizes[n], bool) or not isinstance(sizes[n], (int, np.integer)) or sizes[n] < 1:
            raise ValueError(f"sizes[{n!r}] must be a positive int, got {sizes[n]!r}")
    lo = {n: 0 for n in names}
    if min_level is not None:
        for n in names:
            lo[n] = int(min_level[n])
            if not 0 <= lo[n] <= levels:
                raise ValueError(f"min_level[{n!r}] must be in [0, {levels}], got {lo[n]}")
    kept = {n: [-(-k // unit) for k in kept_counts(int(sizes[n]), levels)] for n in names}
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
        raise ValueError(f"budget must be a non-negative int (kept weights), got {budget!r}")
    cap = int(budget) // unit
    if sum(kept[n][levels] for n in names) > cap:
        raise ValueError(f"budget {budget} is below what pruning every layer fully keeps; nothing is feasible")
    dp = np.zeros(cap + 1)  # dp_0[s] = 0: nothing kept yet, any s is within budget
    choices = []
    for n in names:
        delta = np.asarray(curves[n], dtype=np.float64)
        best = np.full(cap + 1, np.inf)
        arg = np.zeros(cap + 1, dtype=np.int32)
        for i in range(lo[n], levels + 1):
            k = kept[n][i]
            if k > cap:
                continue
            cand = np.full(cap + 1, np.inf)
            cand[k:] = dp[: cap + 1 - k] + delta[i]
            better = cand < best  # strict: ties keep the smaller amount (first level tried)
            best[better] = cand[better]
            arg[better] = i
        dp = best
        choices.append(arg)
    if not np.isfinite(dp[cap]):
        raise ValueError(f"budget {budget} is infeasible with the given min_level")
    level, s = {}, cap
    for n, arg in zip(reversed(names), reversed(choices)):  # backtrack from the full budget
        level[n] = int(arg[s])
        s -= kept[n][level[n]]
    return level if keyed else [level[n] for n in names]


def saved_kept_fraction(folder: str | Path, weight_names: Iterable[str]) -> float:
    """The fraction of non-zero entries among `weight_names`, read from the `*.safetensors` files of a saved model."""
    from safetensors.torch import load_file

    wanted = set(weight_names)
    found, nonzero, total = set(), 0, 0
    for file in sorted(Path(folder).glob("*.safetensors")):
        for name, tensor in load_file(str(file)).items():
            if name in wanted:
                found.add(name)
                nonzero += int((tensor != 0).sum())
                total += tensor.numel()
    if missing := wanted - found:
        raise ValueError(f"weights not found in {folder}: {sorted(missing)[:5]}")
    return nonzero / total


class RDLayerAdaptivePruner:
    """Layer-adaptive magnitude pruning with the rate–distortion DP allocation.

    Args:
        model: the model to prune (any module whose output is a tensor or has `.logits`).
        calibration: a tensor, a dict of model inputs, or an iterable of them (e.g. a `DataLoader`).
        levels: S, the number of amount steps per curve (paper: 100).
        worst_case: distortion = max over samples instead of the mean (the official `--worst_case_curve`).
        include, exclude: which modules are pruned (types; name substrings to skip, e.g. `("lm_head",)`).
        unit: DP budget granularity in weights (1 = exact).

    Example:

    ```python
    pruner = RDLayerAdaptivePruner(model, calib_x, levels=50)
    amounts = pruner.allocate(target_sparsity=0.9)   # {"layer.weight": amount}
    pruner.apply(amounts)                            # masks via torch.nn.utils.parametrize
    pruner.bake()                                    # plain weights: save_pretrained gives a vanilla checkpoint
    ```
    """

    def __init__(
        self,
        model: nn.Module,
        calibration,
        *,
        levels: int = 100,
        worst_case: bool = False,
        include: Iterable[type] = PRUNABLE,
        exclude: Iterable[str] = (),
        unit: int = 1,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.calibration = _batches(calibration)
        self.levels = _check_levels(levels)
        self.worst_case = bool(worst_case)
        self.include, self.exclude = tuple(include), tuple(exclude)
        self.unit = unit
        if not prunable_modules(model, self.include, self.exclude):
            raise ValueError("the model has no prunable module (check include / exclude)")
        self.curves: dict[str, list[float]] | None = None
        self.amounts: dict[str, float] = {}

    @property
    def sizes(self) -> dict[str, int]:
        return {
            f"{n}.weight": m.weight.numel()
            for n, m in prunable_modules(self.model, self.include, self.exclude).items()
        }

    def compute_rd_curves(self) -> dict[str, list[float]]:
        """Measure (again) every layer's curve on the model as it computes now."""
        self.curves = rd_curves(
            self.model,
            self.calibration,
            levels=self.levels,
            worst_case=self.worst_case,
            include=self.include,
            exclude=self.exclude,
        )
        return self.curves

    def allocate(self, target_sparsity: float, *, monotone: bool = True) -> dict[str, float]:
        """Per-layer amounts minimising the additive distortion with at most (1 − target_sparsity) · N weights kept.

        With `monotone`, no layer's amount falls below the one of the previous `allocate` (iterative pruning).
        """
        if isinstance(target_sparsity, bool) or not isinstance(target_sparsity, (int, float)):
            raise TypeError(f"target_sparsity must be a float in [0, 1), got {type(target_sparsity).__name__}")
        if not 0.0 <= target_sparsity < 1.0:
            raise ValueError(f"target_sparsity must be in [0, 1), got {target_sparsity}")
        if self.curves is None:
            self.compute_rd_curves()
        sizes = self.sizes
        budget = int(round((1.0 - target_sparsity) * sum(sizes.values())))
        min_level = None
        if monotone and self.amounts:
            min_level = {n: int(np.ceil(self.amounts.get(n, 0.0) * self.levels - 1e-9)) for n in sizes}
        level = dp_allocate(self.curves, sizes, budget, min_level=min_level, unit=self.unit)
        self.amounts = {n: i / self.levels for n, i in level.items()}
        return dict(self.amounts)

    def masks(self, amounts: Mapping[str, float] | None = None) -> dict[str, torch.Tensor]:
        """Magnitude masks of the given (default: last allocated) per-layer amounts."""
        amounts = self.amounts if amounts is None else amounts
        if not amounts:
            raise ValueError("no amounts: call allocate(target_sparsity) first or pass amounts")
        out = {}
        for name, amount in amounts.items():
            if not 0.0 <= amount <= 1.0:
                raise ValueError(f"amount of {name!r} must be in [0, 1], got {amount}")
            weight = self.model.get_submodule(name[: -len(".weight")]).weight
            out[name] = layer_magnitude_mask(weight, weight.numel() - int(round(weight.numel() * amount)))
        return out

    def apply(self, amounts: Mapping[str, float] | None = None) -> dict[str, torch.Tensor]:
        """Mask the model (in place, `torch.nn.utils.parametrize`); an earlier mask is baked in first."""
        masks = self.masks(amounts)
        self.bake()
        apply_masks(self.model, masks)
        return masks

    def bake(self) -> nn.Module:
        """Write the masked weights as plain tensors (a vanilla `save_pretrained` checkpoint)."""
        from hf_methods.common.masks import bake

        return bake(self.model)

    def baseline_masks(self, target_sparsity: float, kind: str) -> dict[str, torch.Tensor]:
        """The paper's baselines at the same sparsity: `"uniform"` (same fraction per layer) or `"global"` magnitude."""
        if kind not in ("uniform", "global"):
            raise ValueError(f"kind must be 'uniform' or 'global', got {kind!r}")
        return magnitude_masks(
            self.model,
            1.0 - target_sparsity,
            scope="layer" if kind == "uniform" else "global",
            include=self.include,
            exclude=self.exclude,
        )


@contextmanager
def masks_disabled(model: nn.Module):
    """Within the block every `FixedMask` of `model` lets all weights through (the unpruned model computes)."""
    from hf_methods.common.masks import FixedMask

    stashed = []
    for module in model.modules():
        if isinstance(module, FixedMask):
            stashed.append((module, module.mask.clone()))
            module.mask.fill_(True)
    try:
        yield model
    finally:
        for module, mask in stashed:
            module.mask.copy_(mask)
