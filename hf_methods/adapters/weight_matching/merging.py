"""Weight-space merging along the linear path, and the loss barrier that defines linear mode connectivity.

- [`interpolate_models`]: `θ(t) = (1 − t) θ_A + t θ_B`, a plain model of A's class (saves with `save_pretrained`);
- [`average_models`]: `Σ_i w_i θ_i` of several models (the merge of three or more models);
- [`parameter_distance`]: `‖θ_A − θ_B‖₂` over all parameters (the paper's distance ratio
  `R = ‖θ_A − π(θ_B)‖ / ‖θ_A − θ_B‖` is two calls);
- [`interpolation_barrier`]: the loss barrier (Frankle et al., 2020; Ainsworth et al., 2023; the P37 paper, eq. 1)

      B(θ_A, θ_B) = max_{t ∈ [0, 1]} [ L((1 − t) θ_A + t θ_B) − ((1 − t) L(θ_A) + t L(θ_B)) ],

  evaluated on a grid of `num_points` values of t; the models are linearly mode connected when B ≈ 0.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn


def _check_module(model, argument: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"`{argument}` must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _floating_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def _check_same_architecture(reference: nn.Module, other: nn.Module, argument: str) -> None:
    ref, oth = reference.state_dict(), other.state_dict()
    if ref.keys() != oth.keys():
        diff = sorted(set(ref) ^ set(oth))[:3]
        raise ValueError(f"`{argument}` must have the same architecture as the first model (differing keys: {diff})")
    for key, value in ref.items():
        if value.shape != oth[key].shape:
            raise ValueError(
                f"`{argument}` must have the same architecture as the first model: {key!r} is {tuple(value.shape)} "
                f"vs {tuple(oth[key].shape)}"
            )


def average_models(models: Sequence[nn.Module], weights: Sequence[float] | None = None) -> nn.Module:
    """`Σ_i w_i θ_i` as a new model of the first model's class (all floating parameters and buffers averaged; integer
    buffers are the first model's).

    Args:
        models (`list[torch.nn.Module]`): two or more models of one architecture (e.g. permuted to a reference by
            [`weight_matching`] first).
        weights (`list[float]`, *optional*): mixing weights; uniform `1/n` by default. They are used as given
            (weights summing to 1 stay on the affine hull of the models).
    """
    if isinstance(models, nn.Module) or not isinstance(models, Sequence) or len(models) < 1:
        raise ValueError("`models` must be a non-empty list of torch.nn.Module")
    for i, model in enumerate(models):
        _check_module(model, f"models[{i}]")
    for i, model in enumerate(models[1:], start=1):
        _check_same_architecture(models[0], model, f"models[{i}]")
    if weights is None:
        weights = [1.0 / len(models)] * len(models)
    weights = [float(w) for w in weights]
    if len(weights) != len(models):
        raise ValueError(f"`weights` must have one value per model ({len(models)}), got {len(weights)}")
    states = [_floating_state(m) for m in models]
    merged = copy.deepcopy(models[0])
    new = {}
    for key in states[0]:
        acc = torch.zeros_like(states[0][key], dtype=torch.float64)
        for w, state in zip(weights, states):
            acc += w * state[key].double()
        new[key] = acc.to(states[0][key].dtype)
    merged.load_state_dict(new, strict=False)
    return merged


def interpolate_models(model_a: nn.Module, model_b: nn.Module, t: float = 0.5) -> nn.Module:
    """`θ(t) = (1 − t) θ_A + t θ_B` as a new model of `model_a`'s class; `t = 0` is A, `t = 1` is B.

    Args:
        model_a, model_b (`torch.nn.Module`): two models of one architecture.
        t (`float`, *optional*, defaults to 0.5): position on the segment, in `[0, 1]`.
    """
    _check_module(model_a, "model_a")
    _check_module(model_b, "model_b")
    t = _check_t(t)
    if t == 0.0:  # exact endpoints (no round trip through float64)
        return copy.deepcopy(model_a)
    if t == 1.0:
        _check_same_architecture(model_a, model_b, "model_b")
        merged = copy.deepcopy(model_a)
        merged.load_state_dict(_floating_state(model_b), strict=False)
        return merged
    _check_same_architecture(model_a, model_b, "model_b")
    return average_models([model_a, model_b], [1.0 - t, t])


def _check_t(t) -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"`t` must be a number in [0, 1], got {t!r}")
    return float(t)


def parameter_distance(model_a: nn.Module, model_b: nn.Module) -> float:
    """`‖θ_A − θ_B‖₂` over all parameters (tied parameters counted once), accumulated in float64."""
    _check_module(model_a, "model_a")
    _check_module(model_b, "model_b")
    params_b = dict(model_b.named_parameters())
    total = 0.0
    for name, p in model_a.named_parameters():
        if name not in params_b or params_b[name].shape != p.shape:
            raise ValueError(f"`model_b` must have the architecture of `model_a` (parameter {name!r})")
        total += (p.detach().double() - params_b[name].detach().double()).pow(2).sum().item()
    return total**0.5


@dataclass
class BarrierResult:
    """The loss along the linear path between two models.

    Attributes:
        ts (`list[float]`): the grid of t (from 0 to 1).
        losses (`list[float]`): `L(θ(t))` at each t.
        linear (`list[float]`): the straight line between the endpoint losses, `(1 − t) L(θ_A) + t L(θ_B)`.
        barrier (`float`): `max_t [L(θ(t)) − linear(t)]` (≥ 0, since both curves meet at the endpoints).
        argmax_t (`float`): the t where the barrier is reached.
        metrics (`dict[str, list[float]]`): any extra per-t values returned by `metric_fn` (e.g. accuracy).
    """

    ts: list[float]
    losses: list[float]
    linear: list[float]
    barrier: float
    argmax_t: float
    metrics: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "ts": self.ts,
            "losses": self.losses,
            "linear": self.linear,
            "barrier": self.barrier,
            "argmax_t": self.argmax_t,
            "metrics": self.metrics,
        }


def _batches(data) -> list[Mapping[str, torch.Tensor]]:
    if isinstance(data, Mapping):
        return [data]
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, torch.Tensor)):
        batches = list(data)
        if batches and all(isinstance(b, Mapping) for b in batches):
            return batches
    raise ValueError(
        "`data` must be a batch (a dict of tensors passed as model(**batch)) or a non-empty iterable of such "
        f"batches (e.g. a DataLoader), got {type(data).__name__}"
    )


def _batch_size(batch: Mapping[str, torch.Tensor]) -> int:
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return value.shape[0]
    return 1


@torch.no_grad()
def evaluate_loss(
    model: nn.Module,
    data,
    loss_fn: Callable | None = None,
    metric_fn: Callable | None = None,
) -> tuple[float, dict[str, float]]:
    """Mean loss of `model` over `data` (batches weighted by their leading dimension), in eval mode (restored after).

    `loss_fn(outputs, batch)` returns a scalar mean loss; by default `outputs.loss` (so batches carry `labels`).
    `metric_fn(outputs, batch)` returns `{name: scalar}` averaged the same way.
    """
    was_training = model.training
    model.eval()
    total, count, extra = 0.0, 0, {}
    try:
        for batch in _batches(data):
            outputs = model(**batch)
            loss = loss_fn(outputs, batch) if loss_fn is not None else getattr(outputs, "loss", None)
            if loss is None:
                raise ValueError("the model returned no `loss`: give batches with `labels` or pass `loss_fn`")
            n = _batch_size(batch)
            total += float(loss) * n
            count += n
            if metric_fn is not None:
                for key, value in metric_fn(outputs, batch).items():
                    extra[key] = extra.get(key, 0.0) + float(value) * n
    finally:
        model.train(was_training)
    return total / count, {k: v / count for k, v in extra.items()}


def interpolation_barrier(
    model_a: nn.Module,
    model_b: nn.Module,
    data,
    *,
    num_points: int = 11,
    loss_fn: Callable | None = None,
    metric_fn: Callable | None = None,
) -> BarrierResult:
    """The loss barrier `max_t [L((1 − t) θ_A + t θ_B) − ((1 − t) L(θ_A) + t L(θ_B))]` on `num_points` values of t.

    Pass `apply_permutation(model_b, weight_matching(model_a, model_b))` as `model_b` for the barrier after matching.

    Args:
        model_a, model_b (`torch.nn.Module`): two models of one architecture (left untouched).
        data: a batch `dict` (`model(**batch)`) or an iterable of batches (e.g. a `DataLoader`); evaluated in eval mode.
        num_points (`int`, *optional*, defaults to 11): grid size, `t = 0, 1/(n−1), ..., 1`.
        loss_fn (`callable`, *optional*): `loss_fn(outputs, batch) → scalar mean loss`; default `outputs.loss`.
        metric_fn (`callable`, *optional*): `metric_fn(outputs, batch) → {name: scalar}` recorded per t.

    Returns:
        [`BarrierResult`]
    """
    _check_module(model_a, "model_a")
    _check_module(model_b, "model_b")
    _check_same_architecture(model_a, model_b, "model_b")
    if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 2:
        raise ValueError(f"`num_points` must be an int >= 2, got {num_points!r}")
    batches = _batches(data)
    ts = [i / (num_points - 1) for i in range(num_points)]
    state_a, state_b = _floating_state(model_a), _floating_state(model_b)
    work = copy.deepcopy(model_a)
    losses, metrics = [], {}
    for t in ts:
        if t == 0.0:
            state = state_a
        elif t == 1.0:
            state = state_b
        else:
            state = {k: ((1.0 - t) * v.double() + t * state_b[k].double()).to(v.dtype) for k, v in state_a.items()}
        work.load_state_dict(state, strict=False)
        loss, extra = evaluate_loss(work, batches, loss_fn, metric_fn)
        losses.append(loss)
        for key, value in extra.items():
            metrics.setdefault(key, []).append(value)
    linear = [(1.0 - t) * losses[0] + t * losses[-1] for t in ts]
    gaps = [loss - line for loss, line in zip(losses, linear)]
    best = max(range(num_points), key=gaps.__getitem__)
    return BarrierResult(ts, losses, linear, gaps[best], ts[best], metrics)


__all__ = [
    "BarrierResult",
    "average_models",
    "evaluate_loss",
    "interpolate_models",
    "interpolation_barrier",
    "parameter_distance",
]
