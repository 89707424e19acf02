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
"""PyTorch PRESTO ordinal classifier and its proximal-gradient (FISTA) solver (Faletto & Bien, ICML 2023).

This file is self-contained (torch, transformers, safetensors and its own configuration only), so that a saved
checkpoint loads with `AutoModel.from_pretrained(path, trust_remote_code=True)` without hf-methods installed.
"""

import math
from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_presto import PrestoConfig


def soft_threshold(values: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
    r"""The proximal operator of t‖·‖₁: S_t(v) = sign(v) · max(|v| − t, 0), elementwise."""
    return torch.sign(values) * torch.clamp(values.abs() - threshold, min=0.0)


def cumulative_logits(inputs: torch.Tensor, intercepts: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    r"""η_k(x) = α_k + xᵀβ_k with β_k = Σ_{l ≤ k} ψ_l (the slopes are the cumulative sums of the differences ψ).

    Args:
        inputs: `(n, p)`; intercepts: `(K − 1,)`; psi: `(K − 1, p)`. Returns `(n, K − 1)`.
    """
    slopes = torch.cumsum(psi, dim=0)
    return inputs @ slopes.T + intercepts


def class_probabilities(eta: torch.Tensor) -> torch.Tensor:
    r"""p_1 = σ(η_1), p_k = σ(η_k) − σ(η_{k−1}), p_K = 1 − σ(η_{K−1}); NOT clipped (crossed boundaries give p < 0)."""
    cumulative = torch.sigmoid(eta)
    zeros = cumulative.new_zeros(cumulative.shape[:-1] + (1,))
    ones = cumulative.new_ones(cumulative.shape[:-1] + (1,))
    return torch.diff(torch.cat([zeros, cumulative, ones], dim=-1), dim=-1)


def ordinal_log_likelihood(eta: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    r"""Per-sample log p_y(x) of the cumulative-logit model, computed stably:

        y = 1:      log σ(η_1)
        y = K:      log σ(−η_{K−1})
        otherwise:  log(σ(η_k) − σ(η_{k−1})) = log σ(η_k) + log σ(−η_{k−1}) + log(1 − exp(η_{k−1} − η_k)).

    Where the boundaries cross (η_{k−1} ≥ η_k at the sample's class) the probability is ≤ 0 and the value is −inf.
    """
    num_boundaries = eta.shape[-1]
    padded = torch.cat(
        [eta.new_full(eta.shape[:-1] + (1,), -math.inf), eta, eta.new_full(eta.shape[:-1] + (1,), math.inf)], dim=-1
    )
    upper = padded.gather(-1, (labels + 1).unsqueeze(-1)).squeeze(-1)  # η_y (+inf for the last class)
    lower = padded.gather(-1, labels.unsqueeze(-1)).squeeze(-1)  # η_{y−1} (−inf for the first class)
    gap = lower - upper  # < 0 when the interval is non-empty
    log_gap = torch.where(gap < 0, torch.log(-torch.expm1(gap.clamp(max=0.0))), torch.full_like(gap, -math.inf))
    log_upper = torch.where(labels == num_boundaries, torch.zeros_like(upper), nn.functional.logsigmoid(upper))
    log_lower = torch.where(labels == 0, torch.zeros_like(lower), nn.functional.logsigmoid(-lower))
    # the end classes have a single sigmoid term: log(1 − exp(−inf)) = 0 there
    return log_upper + log_lower + log_gap


def presto_penalty(psi: torch.Tensor, lam: float, penalize_first_slope: bool = True) -> torch.Tensor:
    r"""λ (Σ_j |ψ_{1j}| + Σ_{k ≥ 2} Σ_j |ψ_{kj}|), the first term only when `penalize_first_slope`."""
    penalized = psi if penalize_first_slope else psi[1:]
    return lam * penalized.abs().sum()


def fista_presto(
    inputs: torch.Tensor,
    labels: torch.Tensor,
    intercepts: torch.Tensor,
    psi: torch.Tensor,
    lam: float,
    *,
    penalize_first_slope: bool = True,
    max_iter: int = 5000,
    tol: float = 1e-9,
    step_size: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    r"""
    Minimises the PRESTO objective

        F(α, ψ) = −(1/n) Σ_i log p_{y_i}(x_i; α, ψ) + λ (Σ_j |ψ_{1j}| + Σ_{k≥2} Σ_j |ψ_{kj}|)

    by FISTA (accelerated proximal gradient) with backtracking: a gradient step on the smooth negative
    log-likelihood (intercepts unpenalised) followed by soft-thresholding of ψ, the differences between adjacent
    slopes (and ψ_1 = β_1 when `penalize_first_slope`). Points whose boundaries cross at a training sample have an
    infinite objective; the line search rejects them and the momentum restarts when the extrapolated point is one.

    Args:
        inputs (`torch.Tensor` of shape `(n, p)`), labels (`torch.LongTensor` of shape `(n,)`, values in 0..K−1).
        intercepts (`(K − 1,)`) and psi (`(K − 1, p)`): the starting point (warm start); must be feasible.
        lam: the penalty λ ≥ 0. max_iter, tol: stop when the relative change of F is below `tol` for a step.
        step_size: the initial step of the backtracking line search.

    Returns:
        `(intercepts, psi, info)`, with `info = {"iterations", "objective", "converged"}`.
    """
    dtype = inputs.dtype
    start = (intercepts.detach().to(dtype).clone(), psi.detach().to(dtype).clone())
    sizes = (start[0].numel(), start[1].numel())
    shapes = (start[0].shape, start[1].shape)

    def unpack(theta):
        return theta[: sizes[0]].view(shapes[0]), theta[sizes[0] :].view(shapes[1])

    mask = torch.ones(sizes[1], dtype=dtype)
    if not penalize_first_slope:
        mask.view(shapes[1])[0] = 0.0
    threshold_mask = torch.cat([torch.zeros(sizes[0], dtype=dtype), mask])

    def smooth(theta, with_grad):
        theta = theta.detach().requires_grad_(with_grad)
        a, s = unpack(theta)
        value = -ordinal_log_likelihood(cumulative_logits(inputs, a, s), labels).mean()
        if not with_grad:
            return value.detach(), None
        if not torch.isfinite(value):
            return value.detach(), None
        (grad,) = torch.autograd.grad(value, theta)
        return value.detach(), grad

    def penalty(theta):
        return lam * (theta * threshold_mask).abs().sum()

    x = torch.cat([start[0].reshape(-1), start[1].reshape(-1)])
    fx, _ = smooth(x, False)
    if not torch.isfinite(fx):
        raise ValueError("The starting point of the solver has crossed boundaries at a training sample.")
    objective = fx + penalty(x)
    y, t_momentum, step = x.clone(), 1.0, step_size
    converged, iteration = False, 0
    for iteration in range(1, max_iter + 1):
        fy, grad = smooth(y, True)
        if grad is None:  # the extrapolated point is infeasible: restart the momentum from x
            y, t_momentum = x.clone(), 1.0
            fy, grad = smooth(y, True)
        while True:
            candidate = y - step * grad
            candidate = torch.where(threshold_mask > 0, soft_threshold(candidate, step * lam), candidate)
            f_candidate, _ = smooth(candidate, False)
            delta = candidate - y
            bound = fy + grad @ delta + delta @ delta / (2 * step)
            if torch.isfinite(f_candidate) and f_candidate <= bound + 1e-12:
                break
            step *= 0.5
            if step < 1e-12:
                break
        new_objective = f_candidate + penalty(candidate)
        if new_objective > objective:  # monotone FISTA: keep x and restart the momentum
            y, t_momentum = x.clone(), 1.0
            step *= 1.25
            if abs((new_objective - objective).item()) <= tol * max(1.0, abs(objective.item())):
                converged = True
                break
            continue
        t_next = (1 + math.sqrt(1 + 4 * t_momentum**2)) / 2
        y = candidate + ((t_momentum - 1) / t_next) * (candidate - x)
        change = abs((objective - new_objective).item())
        x, objective, t_momentum = candidate, new_objective, t_next
        step *= 1.25  # let the step grow again after backtracking
        if change <= tol * max(1.0, abs(objective.item())):
            converged = True
            break
    a, s = unpack(x)
    return a.clone(), s.clone(), {"iterations": iteration, "objective": objective.item(), "converged": converged}


@dataclass
class PrestoOutput(ModelOutput):
    r"""
    Output of [`PrestoForOrdinalClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            Mean negative log-likelihood −(1/n) Σ_i log p_{y_i}(x_i). Samples whose class probability is ≤ 0 (crossed
            boundaries, flagged in `crossed`) contribute −log of the smallest positive float instead of +inf.
        probs (`torch.FloatTensor` of shape `(n, K)`):
            Class probabilities p_k(x) = σ(η_k) − σ(η_{k−1}), not clipped: negative where boundaries cross.
        logits (`torch.FloatTensor` of shape `(n, K − 1)`):
            The cumulative logits η_k(x) = α_k + xᵀβ_k.
        crossed (`torch.BoolTensor` of shape `(n,)`):
            True where η_k(x) < η_{k−1}(x) for some k, i.e. some class probability of that sample is negative.
    """

    loss: torch.FloatTensor | None = None
    probs: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    crossed: torch.BoolTensor | None = None


class PrestoPreTrainedModel(PreTrainedModel):
    config: PrestoConfig
    base_model_prefix = "presto"
    main_input_name = "inputs"
    _no_split_modules = []

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`; a damaged weights file raises an `OSError` naming the checkpoint."""
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except SafetensorError as err:  # transformers lets safetensors' bare error through, with no path
            raise OSError(
                f"The safetensors weights (model*.safetensors) of {pretrained_model_name_or_path} are corrupted or "
                f"truncated ({err}): save or download the checkpoint again."
            ) from err

    @torch.no_grad()
    def _init_weights(self, module):
        """Intercepts evenly spaced in [−r, r] (increasing, so the boundaries do not cross); differences ψ at zero."""
        if isinstance(module, PrestoForOrdinalClassification):
            r = self.config.initializer_range
            init.copy_(module.intercepts, torch.linspace(-r, r, self.config.num_classes - 1))
            init.zeros_(module.psi)


class PrestoForOrdinalClassification(PrestoPreTrainedModel):
    r"""
    PRESTO cumulative-logit classifier (Faletto & Bien, ICML 2023):

        P(y ≤ k | x) = σ(α_k + xᵀβ_k),  β_k = ψ_1 + … + ψ_k,  k = 1, …, K − 1,

    with parameters `intercepts` (α, shape `(K − 1,)`) and `psi` (ψ, shape `(K − 1, n_features)`). [`fit`] minimises
    the negative log-likelihood plus λ‖ψ‖₁ by FISTA (soft-thresholding ψ, i.e. the differences between adjacent
    boundaries' slopes); λ → ∞ on the differences gives proportional odds. `forward` is differentiable, so the model
    also trains with a `Trainer` (see `ProximalL1Callback` for the proximal step).

    Args:
        config ([`PrestoConfig`]): Model configuration.
    """

    def __init__(self, config: PrestoConfig):
        super().__init__(config)
        self.intercepts = nn.Parameter(torch.empty(config.num_classes - 1))
        self.psi = nn.Parameter(torch.empty(config.num_classes - 1, config.n_features))
        self.post_init()

    @property
    def slopes(self) -> torch.Tensor:
        """β_k = Σ_{l ≤ k} ψ_l, shape `(K − 1, n_features)`."""
        return torch.cumsum(self.psi, dim=0)

    def _check_inputs(self, inputs, name: str = "inputs") -> torch.Tensor:
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(f"`{name}` must be a torch.Tensor, got {type(inputs).__name__}.")
        if inputs.dim() != 2 or inputs.shape[-1] != self.config.n_features:
            raise ValueError(
                f"`{name}` must have shape (n, n_features={self.config.n_features}), got {tuple(inputs.shape)}."
            )
        if not inputs.is_floating_point():
            raise TypeError(f"`{name}` must be a floating-point tensor, got {inputs.dtype}.")
        return inputs

    def _check_labels(self, labels, n: int, name: str = "labels") -> torch.Tensor:
        if not isinstance(labels, torch.Tensor):
            raise TypeError(f"`{name}` must be a torch.Tensor, got {type(labels).__name__}.")
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise TypeError(f"`{name}` must be an integer tensor of classes 0..K-1, got {labels.dtype}.")
        if labels.shape != (n,):
            raise ValueError(f"`{name}` must have shape ({n},) to match the inputs, got {tuple(labels.shape)}.")
        if n and (labels.min() < 0 or labels.max() >= self.config.num_classes):
            raise ValueError(
                f"`{name}` must lie in 0..{self.config.num_classes - 1} (num_classes={self.config.num_classes}), "
                f"got values in {labels.min().item()}..{labels.max().item()}."
            )
        return labels.long()

    def forward(
        self, inputs: torch.Tensor, labels: torch.Tensor | None = None, return_dict: bool | None = None
    ) -> PrestoOutput | tuple:
        r"""
        Args:
            inputs (`torch.FloatTensor` of shape `(n, n_features)`): Features x.
            labels (`torch.LongTensor` of shape `(n,)`, *optional*): Ordered classes 0..K−1; gives `loss`.
            return_dict (`bool`, *optional*): Return a [`PrestoOutput`] (defaults to `config.return_dict`).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        inputs = self._check_inputs(inputs)
        eta = cumulative_logits(inputs.to(self.psi.dtype), self.intercepts, self.psi)
        probs = class_probabilities(eta)
        crossed = (probs < 0).any(dim=-1)
        loss = None
        if labels is not None:
            labels = self._check_labels(labels, inputs.shape[0])
            log_lik = ordinal_log_likelihood(eta, labels)
            floor = math.log(torch.finfo(eta.dtype).tiny)
            loss = -torch.clamp(log_lik, min=floor).mean()
        if not return_dict:
            return tuple(v for v in (loss, probs, eta, crossed) if v is not None)
        return PrestoOutput(loss=loss, probs=probs, logits=eta, crossed=crossed)

    @torch.no_grad()
    def predict_proba(self, inputs: torch.Tensor) -> torch.Tensor:
        """Class probabilities `(n, K)`; raises a `ValueError` when a sample's boundaries cross (never clips)."""
        out = self(inputs, return_dict=True)
        if out.crossed.any():
            raise ValueError(
                f"{int(out.crossed.sum())} of {len(out.crossed)} samples have crossed boundaries (negative class "
                "probabilities): increase the penalty λ or check the inputs' scale."
            )
        return out.probs

    def fit(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        lam: float | None = None,
        *,
        max_iter: int = 5000,
        tol: float = 1e-9,
        warm_start: bool = True,
    ) -> "PrestoForOrdinalClassification":
        r"""
        Fits the model by FISTA on the PRESTO objective (negative log-likelihood + λ‖ψ‖₁; see [`fista_presto`]) in
        float64, and returns it.

        Args:
            inputs (`torch.FloatTensor` of shape `(n, n_features)`), labels (`torch.LongTensor` of shape `(n,)`).
            lam (`float`, *optional*): The penalty λ ≥ 0 (defaults to `config.l1_lambda`).
            max_iter, tol: FISTA stopping rule. warm_start: start from the current weights (if they are feasible on
            the data) rather than the intercept-only start.
        """
        lam = self.config.l1_lambda if lam is None else lam
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0 or lam == float("inf"):
            raise ValueError(f"`lam` must be a finite number >= 0, got {lam!r}.")
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"`max_iter` must be a positive integer, got {max_iter!r}.")
        x = self._check_inputs(inputs).detach().double()
        y = self._check_labels(labels, x.shape[0])
        intercepts, psi = self.intercepts.detach().double(), self.psi.detach().double()
        feasible = (
            warm_start and torch.isfinite(ordinal_log_likelihood(cumulative_logits(x, intercepts, psi), y)).all()
        )
        if not feasible:  # intercept-only start: the marginal cumulative logits, slopes at zero
            counts = torch.bincount(y, minlength=self.config.num_classes).double() + 0.5
            cumulative = torch.cumsum(counts, 0)[:-1] / counts.sum()
            intercepts = torch.log(cumulative / (1 - cumulative))
            psi = torch.zeros_like(psi)
        intercepts, psi, info = fista_presto(
            x, y, intercepts, psi, float(lam),
            penalize_first_slope=self.config.penalize_first_slope, max_iter=max_iter, tol=tol,
        )  # fmt: skip
        with torch.no_grad():
            self.intercepts.copy_(intercepts.to(self.intercepts.dtype))
            self.psi.copy_(psi.to(self.psi.dtype))
        self.fit_info_ = info
        return self


PrestoForOrdinalClassification.register_for_auto_class("AutoModel")

__all__ = [
    "PrestoForOrdinalClassification",
    "PrestoOutput",
    "PrestoPreTrainedModel",
    "class_probabilities",
    "cumulative_logits",
    "fista_presto",
    "ordinal_log_likelihood",
    "presto_penalty",
    "soft_threshold",
]
