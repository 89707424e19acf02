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
"""PyTorch monotone deep Boltzmann machine (Feng, Winston, Kolter, 2023), dense form.

This file is self-contained (torch, transformers, safetensors and its own configuration only), so that a saved
checkpoint loads with `AutoModel.from_pretrained(path, trust_remote_code=True)` without hf-methods installed.
"""

from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_monotone_dbm import MonotoneDBMConfig


def _solve_prox_scalar(c: torch.Tensor, alpha: float, u: torch.Tensor, tol: float, max_iter: int) -> torch.Tensor:
    """Solves (1 − α)e^u + αu = c for u elementwise by Newton's method, starting from an upper bound `u`.

    g(u) = (1 − α)e^u + αu − c is increasing and convex, so Newton from a point with g ≥ 0 decreases monotonically
    to the root (the official code runs Halley's method on the equivalent Lambert-W equation).
    """
    for _ in range(max_iter):
        e = (1 - alpha) * torch.exp(u)
        step = (e + alpha * u - c) / (e + alpha)
        u = u - step
        if step.abs().max() < tol:
            break
    return u


def prox_softmax(x: torch.Tensor, alpha: float, tol: float = 1e-12, max_iter: int = 100) -> torch.Tensor:
    r"""
    The proximal operator prox_f^α of f(p) = Σ_i p_i log p_i − ½‖p‖² (+ the indicator of the simplex), over the last
    axis of `x`:

        prox_f^α(x) = argmin_{p ∈ Δ} ½‖p − x‖² + α f(p) = argmin_{p ∈ Δ} ½(1 − α)‖p‖² − xᵀp + α Σ_i p_i log p_i.

    Its KKT conditions give (1 − α)p_i + α log p_i = x_i − α − ν with the normaliser ν chosen so that Σ_i p_i = 1.
    Newton's method on ν (Σ_i p_i(ν) is decreasing and convex, so Newton from ν₀ = max_i x_i − 1, where Σ p ≥ 1,
    converges monotonically) wraps a Newton solve for each p_i = e^{u_i} (warm-started: the previous u stays an upper
    bound as ν grows). As α → 1⁻ it tends to softmax(x). Computed in float64, returned in the dtype of `x`.

    Args:
        x (`torch.Tensor` of shape `(..., k)`): Input; each row is mapped onto the simplex of dimension k.
        alpha (`float`): Step α ∈ (0, 1).
        tol (`float`): Tolerance on the Newton steps. max_iter (`int`): Most Newton steps (outer and inner).

    Returns:
        `torch.Tensor` of shape `(..., k)`: nonnegative rows summing to 1.
    """
    xd = x.detach().double()
    nu = xd.amax(dim=-1, keepdim=True) - 1.0
    c = xd - alpha - nu
    tiny = torch.finfo(torch.float64).tiny
    u = torch.minimum(c / alpha, torch.log(c.clamp_min(tiny) / (1 - alpha)).clamp_min(0.0))
    for _ in range(max_iter):
        c = xd - alpha - nu
        u = _solve_prox_scalar(c, alpha, u, tol, max_iter)
        p = torch.exp(u)
        d = p / ((1 - alpha) * p + alpha)  # dp_i/dc_i
        step = (p.sum(-1, keepdim=True) - 1.0) / d.sum(-1, keepdim=True)
        nu = nu + step
        if step.abs().max() < tol:
            break
    u = _solve_prox_scalar(xd - alpha - nu, alpha, u, tol, max_iter)
    p = torch.exp(u)
    p = p / p.sum(-1, keepdim=True)
    return p.to(x.dtype)


class ProxSoftmax(torch.autograd.Function):
    r"""
    prox_f^α over the last axis (see [`prox_softmax`]) with the gradient of the implicit function theorem: with
    d_i = p_i / ((1 − α)p_i + α), the Jacobian is J = diag(d) − d dᵀ / Σ_i d_i (symmetric), so the VJP is
    g ↦ d ⊙ g − d (dᵀg) / Σ_i d_i.

    Use as `ProxSoftmax.apply(x, alpha)`.
    """

    @staticmethod
    def forward(ctx, x, alpha):
        if not isinstance(alpha, float) or not 0.0 < alpha < 1.0:
            raise ValueError(f"`alpha` must be a float in (0, 1), got {alpha!r}.")
        p = prox_softmax(x, alpha)
        ctx.alpha = alpha
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad):
        (p,) = ctx.saved_tensors
        d = p / ((1 - ctx.alpha) * p + ctx.alpha)
        return d * grad - d * (d * grad).sum(-1, keepdim=True) / d.sum(-1, keepdim=True), None


@dataclass
class MonotoneDBMOutput(ModelOutput):
    r"""
    Output of [`MonotoneDBMModel`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            classification_weight · CE(label) + completion_weight · focal loss on the unobserved pixels.
        logits (`torch.FloatTensor` of shape `(batch, num_classes)`):
            Log label marginals log q_label.
        label_marginals (`torch.FloatTensor` of shape `(batch, num_classes)`): Label marginals q_label.
        pixel_marginals (`torch.FloatTensor` of shape `(batch, num_pixels, num_bins)`):
            Pixel marginals (one-hot at observed pixels: they stay clamped).
        marginals (`torch.FloatTensor` of shape `(batch, num_variables)`): The whole mean-field fixed point q.
        residual (`torch.FloatTensor` of shape `()`): Last relative residual of the fixed-point iteration.
        num_iterations (`int`): Forward–backward iterations run.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    label_marginals: torch.FloatTensor | None = None
    pixel_marginals: torch.FloatTensor | None = None
    marginals: torch.FloatTensor | None = None
    residual: torch.FloatTensor | None = None
    num_iterations: int | None = None


class MonotoneDBMPreTrainedModel(PreTrainedModel):
    config: MonotoneDBMConfig
    base_model_prefix = "monotone_dbm"
    main_input_name = "pixel_values"
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
        if isinstance(module, MonotoneDBMModel):
            init.normal_(module.coupling, mean=0.0, std=self.config.initializer_range / self.config.num_variables**0.5)
            init.zeros_(module.bias)


class MonotoneDBMModel(MonotoneDBMPreTrainedModel):
    r"""
    Monotone deep Boltzmann machine with dense hollow couplings (Feng, Winston, Kolter, 2023). The mean-field
    marginals q (a categorical distribution per group) are the unique fixed point of the damped forward–backward
    splitting

        q ← prox_f^α((1 − α)q + α(Wq + b)),   W = −(ÃᵀÃ − blockdiag(ÃᵀÃ)),

    where Ã is the parameter A with the columns of each group g rescaled so that ‖Ã_g‖₂² ≤ 1 − m (the monotone
    parameterisation; I − W ⪰ m·I), observed pixels stay clamped to their one-hot value at every iteration, and the
    gradient is the implicit (DEQ) one, solved by fixed-point iteration on the VJP. The fixed point minimises the
    mean-field free energy −½qᵀWq − bᵀq − H(q) over the product of simplices (strongly convex here).

    Args:
        config ([`MonotoneDBMConfig`]): Model configuration.
    """

    def __init__(self, config: MonotoneDBMConfig):
        super().__init__(config)
        n = config.num_variables
        rank = config.coupling_rank or n
        self.coupling = nn.Parameter(torch.empty(rank, n))
        self.bias = nn.Parameter(torch.empty(n))
        self.post_init()

    def block_mask(self) -> torch.Tensor:
        """`(num_variables, num_variables)` mask: 1 where both variables belong to the same group (the blocks)."""
        ids, offset = [], 0
        for count, size in zip(self.config.group_counts, self.config.group_sizes):
            ids.append(torch.arange(count, device=self.bias.device).repeat_interleave(size) + offset)
            offset += count
        ids = torch.cat(ids)
        return (ids[:, None] == ids[None, :]).to(self.bias.dtype)

    # ---- the monotone parameterisation ---------------------------------------------------------------------------
    def scaled_coupling(self) -> torch.Tensor:
        """Ã: A with the columns of each group rescaled by min(1, √(1 − m) / ‖A_g‖₂)."""
        cfg = self.config
        bound = (1.0 - cfg.monotone_margin) ** 0.5
        parts, start = [], 0
        for count, size in zip(cfg.group_counts, cfg.group_sizes):
            block = self.coupling[:, start : start + count * size]
            groups = block.reshape(block.shape[0], count, size).transpose(0, 1)  # (count, rank, size)
            norms = torch.linalg.matrix_norm(groups, ord=2)  # spectral norm of each group
            scale = torch.clamp(bound / norms.clamp_min(1e-12), max=1.0)
            parts.append((groups * scale[:, None, None]).transpose(0, 1).reshape(block.shape))
            start += count * size
        return torch.cat(parts, dim=1)

    def coupling_matrix(self) -> torch.Tensor:
        """W = −(ÃᵀÃ − blockdiag(ÃᵀÃ)): symmetric, hollow (zero inside each group), with I − W ⪰ m·I."""
        a = self.scaled_coupling()
        return -(a.T @ a) * (1.0 - self.block_mask())

    # ---- inputs --------------------------------------------------------------------------------------------------
    def _check_inputs(self, pixel_values, observed_mask, labels):
        cfg = self.config
        if not isinstance(pixel_values, torch.Tensor):
            raise TypeError(f"`pixel_values` must be a torch.Tensor, got {type(pixel_values).__name__}.")
        if pixel_values.dim() != 2 or pixel_values.shape[1] != cfg.num_pixels:
            raise ValueError(
                f"`pixel_values` must have shape (batch, num_pixels={cfg.num_pixels}), got {tuple(pixel_values.shape)}."
            )
        if pixel_values.is_floating_point():
            if pixel_values.numel() and (pixel_values.min() < 0 or pixel_values.max() > 1):
                raise ValueError("float `pixel_values` must lie in [0, 1] (they are quantised into `num_bins` bins).")
            bins = (pixel_values * cfg.num_bins).long().clamp(max=cfg.num_bins - 1)
        else:
            if pixel_values.numel() and (pixel_values.min() < 0 or pixel_values.max() >= cfg.num_bins):
                raise ValueError(f"integer `pixel_values` must be bin indices in [0, {cfg.num_bins}).")
            bins = pixel_values.long()
        if observed_mask is None:
            observed_mask = torch.ones_like(bins, dtype=torch.bool)
        elif not isinstance(observed_mask, torch.Tensor) or observed_mask.shape != bins.shape:
            shape = tuple(observed_mask.shape) if isinstance(observed_mask, torch.Tensor) else type(observed_mask)
            raise ValueError(f"`observed_mask` must be a tensor of shape {tuple(bins.shape)}, got {shape}.")
        if labels is not None:
            if not isinstance(labels, torch.Tensor) or labels.shape != bins.shape[:1]:
                raise ValueError(f"`labels` must be a tensor of shape ({bins.shape[0]},), got {labels!r:.80}.")
            if labels.numel() and (labels.min() < 0 or labels.max() >= cfg.num_classes):
                raise ValueError(f"`labels` must be class indices in [0, {cfg.num_classes}).")
        return bins, observed_mask.bool()

    # ---- the mean-field fixed point ------------------------------------------------------------------------------
    def _step(self, q, weight, bias, clamp_values, clamp_mask):
        """One forward–backward step q ↦ prox_f^α((1 − α)q + α(Wq + b)), then observed entries clamped."""
        alpha = self.config.alpha
        x = (1 - alpha) * q + alpha * (q @ weight + bias)
        parts, start = [], 0
        for count, size in zip(self.config.group_counts, self.config.group_sizes):
            block = x[:, start : start + count * size].reshape(-1, count, size)
            parts.append(ProxSoftmax.apply(block, alpha).reshape(-1, count * size))
            start += count * size
        q_new = torch.cat(parts, dim=1)
        return torch.where(clamp_mask, clamp_values, q_new)

    def initial_marginals(self, batch_size: int, dtype=None, device=None) -> torch.Tensor:
        """Uniform marginals in every group (the default starting point of the fixed-point iteration)."""
        cols = [torch.full((c * s,), 1.0 / s) for c, s in zip(self.config.group_counts, self.config.group_sizes)]
        return torch.cat(cols).to(dtype=dtype or self.bias.dtype, device=device).expand(batch_size, -1).clone()

    def mean_field(self, bins, observed_mask, init=None, tol=None, max_iter=None):
        r"""
        Runs the fixed-point iteration to `tol` (relative residual) without gradients.

        Args:
            bins (`torch.LongTensor` of shape `(batch, num_pixels)`): Pixel bin indices.
            observed_mask (`torch.BoolTensor` of shape `(batch, num_pixels)`): Which pixels are clamped.
            init (`torch.Tensor` of shape `(batch, num_variables)`, *optional*): Starting marginals.

        Returns:
            `(q, residual, iterations)`: the marginals, the largest last relative residual of a row, the iterations.
        """
        cfg = self.config
        tol = cfg.tol if tol is None else tol
        max_iter = cfg.max_iter if max_iter is None else max_iter
        clamp_values, clamp_mask = self._clamp(bins, observed_mask)
        with torch.no_grad():
            weight, bias = self.coupling_matrix(), self.bias
            q = self.initial_marginals(bins.shape[0], device=bins.device) if init is None else init.detach().clone()
            q = torch.where(clamp_mask, clamp_values, q)
            # per-sample stopping (a converged row is frozen), so a sample's marginals do not depend on its batch
            active = torch.ones(q.shape[0], dtype=torch.bool, device=q.device)
            residual = torch.full((q.shape[0],), float("inf"), dtype=q.dtype, device=q.device)
            it = 0
            for it in range(1, max_iter + 1):
                q_next = self._step(q, weight, bias, clamp_values, clamp_mask)
                row_residual = (q_next - q).norm(dim=1) / q.norm(dim=1).clamp_min(1e-12)
                residual = torch.where(active, row_residual, residual)
                q = torch.where(active[:, None], q_next, q)
                active = active & (row_residual >= tol)
                if not active.any():
                    break
            residual = residual.max() if residual.numel() else residual.new_zeros(())
        return q, residual, it

    def _clamp(self, bins, observed_mask):
        cfg = self.config
        n, p = cfg.num_variables, cfg.num_pixels * cfg.num_bins
        onehot = nn.functional.one_hot(bins, cfg.num_bins).to(self.bias.dtype).reshape(bins.shape[0], p)
        mask = observed_mask.repeat_interleave(cfg.num_bins, dim=1)
        pad = n - p
        clamp_values = nn.functional.pad(onehot, (0, pad))
        clamp_mask = nn.functional.pad(mask, (0, pad), value=False)
        return clamp_values, clamp_mask

    def forward(
        self,
        pixel_values: torch.Tensor,
        observed_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        init: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> MonotoneDBMOutput:
        r"""
        Args:
            pixel_values (`torch.Tensor` of shape `(batch, num_pixels)`):
                Pixels: floats in [0, 1] (quantised into `num_bins` equal bins) or integer bin indices.
            observed_mask (`torch.BoolTensor` of shape `(batch, num_pixels)`, *optional*):
                Observed (clamped) pixels; `None` observes all of them. The label is never observed.
            labels (`torch.LongTensor` of shape `(batch,)`, *optional*):
                Classes; when given, the loss of the official training (label CE + focal loss on unobserved pixels).
            init (`torch.Tensor` of shape `(batch, num_variables)`, *optional*): Starting marginals.
        """
        cfg = self.config
        bins, observed_mask = self._check_inputs(pixel_values, observed_mask, labels)
        q_star, residual, iterations = self.mean_field(bins, observed_mask, init=init)
        clamp_values, clamp_mask = self._clamp(bins, observed_mask)
        if torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters()):
            weight, bias = self.coupling_matrix(), self.bias
            # q = F(q*) re-attaches the parameters; the hook replaces the gradient g by u = g + J_Fᵀ u (implicit
            # function theorem at the fixed point), solved by fixed-point iteration on the VJP.
            q = self._step(q_star, weight, bias, clamp_values, clamp_mask)
            q0 = q.detach().requires_grad_()
            f0 = self._step(q0, weight.detach(), bias.detach(), clamp_values, clamp_mask)

            def implicit_backward(grad):
                u = grad
                for _ in range(cfg.backward_max_iter):
                    u_next = torch.autograd.grad(f0, q0, u, retain_graph=True)[0] + grad
                    done = (u_next - u).norm() <= cfg.backward_tol * u_next.norm().clamp_min(1e-12)
                    u = u_next
                    if done:
                        break
                return u

            if q.requires_grad:
                q.register_hook(implicit_backward)
        else:
            q = q_star
        p_end = cfg.num_pixels * cfg.num_bins
        pixel_marginals = q[:, :p_end].reshape(-1, cfg.num_pixels, cfg.num_bins)
        label_marginals = q[:, -cfg.num_classes :]
        logits = torch.log(label_marginals.clamp_min(1e-12))
        loss = None
        if labels is not None:
            loss = cfg.classification_weight * nn.functional.nll_loss(logits, labels.long())
            hidden = ~observed_mask
            if cfg.completion_weight > 0 and hidden.any():
                log_p = torch.log(pixel_marginals.clamp_min(1e-12)).gather(-1, bins.unsqueeze(-1)).squeeze(-1)
                focal = -((1 - log_p.exp()) ** cfg.focal_gamma) * log_p
                loss = loss + cfg.completion_weight * focal[hidden].mean()
        return MonotoneDBMOutput(
            loss=loss,
            logits=logits,
            label_marginals=label_marginals,
            pixel_marginals=pixel_marginals,
            marginals=q,
            residual=residual,
            num_iterations=iterations,
        )


MonotoneDBMModel.register_for_auto_class("AutoModel")

__all__ = ["MonotoneDBMModel", "MonotoneDBMPreTrainedModel", "MonotoneDBMOutput", "ProxSoftmax", "prox_softmax"]
