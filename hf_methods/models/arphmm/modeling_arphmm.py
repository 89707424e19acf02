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
"""PyTorch autoregressive partially-hidden Markov model (Juesas, Ramasso, Drujont, Placet, PHME 2016).

This file is self-contained (torch, transformers, safetensors and its own configuration only), so that a saved
checkpoint loads with `AutoModel.from_pretrained(path, trust_remote_code=True)` without hf-methods installed.
"""

import math
from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_arphmm import ARPHMMConfig

_LOG_2PI = math.log(2 * math.pi)


def lag_windows(values: torch.Tensor, order: int) -> torch.Tensor:
    """The lag windows x_{t−1} = (y_{t−1}, ..., y_{t−P}) of `values` `(batch, T)`, for t = P..T−1: `(batch, T−P, P)`."""
    steps = values.shape[-1] - order
    if order == 0:
        return values.new_zeros(*values.shape[:-1], steps, 0)
    return torch.stack([values[..., order - lag : order - lag + steps] for lag in range(1, order + 1)], dim=-1)


def _as_batch(values, name: str, ndim: int) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(values).__name__}.")
    if values.dim() == ndim - 1:
        values = values.unsqueeze(0)
    if values.dim() != ndim:
        raise ValueError(f"`{name}` must have {ndim - 1} or {ndim} dimensions, got shape {tuple(values.shape)}.")
    return values


def _pad(sequences, name: str, trailing: tuple[int, ...] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacks a list of tensors of shape `(T_i, *trailing)` into `(n, T_max, *trailing)` and a boolean mask `(n, T_max)`."""
    if isinstance(sequences, torch.Tensor):
        sequences = list(_as_batch(sequences, name, 2 + len(trailing)))
    if not isinstance(sequences, (list, tuple)) or len(sequences) == 0:
        raise ValueError(
            f"`{name}` must be a non-empty list of tensors (or a tensor), got {type(sequences).__name__}."
        )
    for i, seq in enumerate(sequences):
        if not isinstance(seq, torch.Tensor):
            raise TypeError(f"`{name}[{i}]` must be a torch.Tensor, got {type(seq).__name__}.")
        if seq.dim() != 1 + len(trailing) or tuple(seq.shape[1:]) != trailing:
            raise ValueError(
                f"`{name}[{i}]` must have shape (T, {', '.join(map(str, trailing))}), got {tuple(seq.shape)}."
            )
    length = max(seq.shape[0] for seq in sequences)
    padded = torch.zeros(len(sequences), length, *trailing, dtype=torch.float64)
    mask = torch.zeros(len(sequences), length, dtype=torch.bool)
    for i, seq in enumerate(sequences):
        padded[i, : seq.shape[0]] = seq.detach().to(torch.float64).cpu()
        mask[i, : seq.shape[0]] = True
    return padded, mask


@dataclass
class ARPHMMOutput(ModelOutput):
    r"""
    Output of [`ARPHMMModel`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            Negative log-likelihood of the partially-hidden model per emitted step, averaged over the batch.
        log_likelihood (`torch.FloatTensor` of shape `(batch,)`):
            log Σ_s Π_t pl_t(s_t) p(s, y) of each sequence (the plain likelihood when pl ≡ 1), given its first P values.
        state_posteriors (`torch.FloatTensor` of shape `(batch, T − P, n_states)`):
            Smoothed state posteriors γ_t(k) for the emitted steps t = P..T−1 (zero on padded steps).
        predictions (`torch.FloatTensor` of shape `(batch, T − P)`):
            One-step predictions Σ_k γ_t(k) (−B_k x_{t−1} + c_k), the γ-weighted mixture of the per-state predictions.
    """

    loss: torch.FloatTensor | None = None
    log_likelihood: torch.FloatTensor | None = None
    state_posteriors: torch.FloatTensor | None = None
    predictions: torch.FloatTensor | None = None


class ARPHMMPreTrainedModel(PreTrainedModel):
    config: ARPHMMConfig
    base_model_prefix = "arphmm"
    main_input_name = "input_values"
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
        """A fresh chain: π = e_1 and A = stay 0.9 / advance 0.1 when left-to-right (else uniform), B = 0, c = 0, σ² = 1."""
        if isinstance(module, ARPHMMModel):
            log_start, log_transition = module.structure_logits(torch.float32)
            module.start_logits.copy_(log_start)
            module.transition_logits.copy_(log_transition)
            module.ar_coefficients.zero_()
            module.ar_bias.zero_()
            module.log_variance.zero_()
            module.rul_coefficients.zero_()


class ARPHMMModel(ARPHMMPreTrainedModel):
    r"""
    Autoregressive partially-hidden Markov model (Juesas et al., PHME 2016), fitted by EM with [`~ARPHMMModel.fit`].

    Parameters (`nn.Parameter`s, so the model can also be trained by gradient descent on its `loss`):
    `start_logits` (log π, `(Q,)`), `transition_logits` (log A, `(Q, Q)`, row-normalised by log-softmax; −inf marks a
    forbidden transition), `ar_coefficients` (B, `(Q, P)`, with the paper's sign: y_t = −B_k x_{t−1} + c_k + e_t),
    `ar_bias` (c, `(Q,)`) and `log_variance` (log σ², `(Q,)`). The buffer `rul_coefficients` (`(Q, P + 1)`) holds the
    optional remaining-useful-life head fitted by [`~ARPHMMModel.fit_rul`].

    Args:
        config ([`ARPHMMConfig`]):
            Model configuration.
    """

    def __init__(self, config: ARPHMMConfig):
        super().__init__(config)
        q, p = config.n_states, config.ar_order
        self.start_logits = nn.Parameter(torch.zeros(q))
        self.transition_logits = nn.Parameter(torch.zeros(q, q))
        self.ar_coefficients = nn.Parameter(torch.zeros(q, p))
        self.ar_bias = nn.Parameter(torch.zeros(q), requires_grad=config.include_bias)
        self.log_variance = nn.Parameter(torch.zeros(q))
        self.register_buffer("rul_coefficients", torch.zeros(q, p + 1), persistent=True)
        self.fit_history: list[float] = []
        self.post_init()

    # ----------------------------------------------------------------------------------------------- structure
    def structure_logits(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Initial log π and log A of a fresh chain (left-to-right: start in state 1, stay 0.9 / advance 0.1)."""
        q = self.config.n_states
        if not self.config.left_to_right:
            return torch.full((q,), -math.log(q), dtype=dtype), torch.full((q, q), -math.log(q), dtype=dtype)
        log_start = torch.full((q,), -math.inf, dtype=dtype)
        log_start[0] = 0.0
        transition = torch.zeros(q, q, dtype=dtype)
        for k in range(q):
            if k + 1 < q:
                transition[k, k], transition[k, k + 1] = 0.9, 0.1
            else:
                transition[k, k] = 1.0
        return log_start, transition.log()

    def _allowed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Boolean masks of the allowed initial states `(Q,)` and transitions `(Q, Q)`."""
        log_start, log_transition = self.structure_logits(torch.float64)
        return torch.isfinite(log_start), torch.isfinite(log_transition)

    # ----------------------------------------------------------------------------------------------- E-step pieces
    def _parameters_as(self, dtype: torch.dtype):
        # forbidden entries (log 0 = −inf) are clamped to a finite −1e30: exp gives exactly 0, and gradients stay
        # finite where a logsumexp would see only −inf
        log_pi = torch.log_softmax(self.start_logits.to(dtype), dim=-1).clamp_min(-1e30)
        log_a = torch.log_softmax(self.transition_logits.to(dtype), dim=-1).clamp_min(-1e30)
        weights = -self.ar_coefficients.to(dtype)  # y_t = −B_k x_{t−1} + c_k: the regression weights are −B_k
        bias = self.ar_bias.to(dtype) if self.config.include_bias else torch.zeros_like(self.ar_bias, dtype=dtype)
        return log_pi, log_a, weights, bias, self.log_variance.to(dtype)

    def _emission_log_probs(self, values: torch.Tensor, dtype: torch.dtype):
        r"""log b_k(y_t) = log N(y_t; −B_k x_{t−1} + c_k, σ_k²) for t = P..T−1: `(batch, T−P, Q)`, and the means."""
        _, _, weights, bias, log_var = self._parameters_as(dtype)
        p = self.config.ar_order
        windows = lag_windows(values.to(dtype), p)  # (batch, S, P)
        means = windows @ weights.T + bias  # (batch, S, Q)
        targets = values.to(dtype)[..., p:].unsqueeze(-1)
        log_b = -0.5 * (_LOG_2PI + log_var + (targets - means).pow(2) / log_var.exp())
        return log_b, means

    def _forward_backward(self, log_b, log_pl, mask):
        r"""
        Log-space forward-backward of the partially-hidden chain (the plausibility multiplies the emission):

            α_t(k) = [Σ_j α_{t−1}(j) A_jk] · b_k(y_t) · pl_t(k),   β_t(j) = Σ_k A_jk b_k(y_{t+1}) pl_{t+1}(k) β_{t+1}(k),
            γ_t ∝ α_t β_t,   ξ_t(j, k) ∝ α_t(j) A_jk b_k(y_{t+1}) pl_{t+1}(k) β_{t+1}(k).

        Padded steps (`mask` False) carry α forward and leave β at log 1. Returns (log-likelihood `(batch,)`, γ
        `(batch, S, Q)`, expected transition counts Σ_t ξ_t `(batch, Q, Q)`, log α `(batch, S, Q)`).
        """
        log_pi, log_a, *_ = self._parameters_as(log_b.dtype)
        weighted = log_b + log_pl  # log b_k(y_t) + log pl_t(k)
        batch, steps, q = weighted.shape
        log_alpha = weighted.new_empty(batch, steps, q)
        log_alpha[:, 0] = log_pi + weighted[:, 0]
        for t in range(1, steps):
            step = torch.logsumexp(log_alpha[:, t - 1].unsqueeze(-1) + log_a, dim=1) + weighted[:, t]
            log_alpha[:, t] = torch.where(mask[:, t, None], step, log_alpha[:, t - 1])
        log_beta = weighted.new_zeros(batch, steps, q)
        for t in range(steps - 2, -1, -1):
            step = torch.logsumexp(log_a + (weighted[:, t + 1] + log_beta[:, t + 1]).unsqueeze(1), dim=2)
            log_beta[:, t] = torch.where(mask[:, t + 1, None], step, log_beta[:, t])
        log_lik = torch.logsumexp(log_alpha[:, -1], dim=-1)
        gamma = torch.exp(log_alpha + log_beta - log_lik[:, None, None]) * mask[..., None]
        if steps > 1:
            log_xi = (
                log_alpha[:, :-1, :, None]
                + log_a
                + (weighted[:, 1:] + log_beta[:, 1:])[:, :, None, :]
                - log_lik[:, None, None, None]
            )
            xi = torch.exp(log_xi).nan_to_num(0.0) * mask[:, 1:, None, None]
            xi_sum = xi.sum(dim=1)
        else:
            xi_sum = weighted.new_zeros(batch, q, q)
        return log_lik, gamma, xi_sum, log_alpha

    def _log_plausibilities(self, plausibilities, labels, shape, dtype) -> torch.Tensor:
        """log pl_t(k) for the emitted steps, from `plausibilities` `(batch, T, Q)` or hard `labels` (−100: unknown)."""
        batch, length = shape
        q, p = self.config.n_states, self.config.ar_order
        pl = torch.ones(batch, length, q, dtype=dtype, device=self.start_logits.device)
        if plausibilities is not None:
            plausibilities = _as_batch(plausibilities, "plausibilities", 3)
            if tuple(plausibilities.shape) != (batch, length, q):
                raise ValueError(
                    f"`plausibilities` must have shape {(batch, length, q)} (batch, T, n_states), got "
                    f"{tuple(plausibilities.shape)}."
                )
            if (plausibilities < 0).any() or (plausibilities > 1).any():
                raise ValueError("`plausibilities` must lie in [0, 1] (1 = the state is fully plausible).")
            pl = pl * plausibilities.to(dtype)
        if labels is not None:
            labels = _as_batch(labels, "labels", 2)
            if tuple(labels.shape) != (batch, length):
                raise ValueError(f"`labels` must have shape {(batch, length)} (batch, T), got {tuple(labels.shape)}.")
            known = labels != -100
            if ((labels[known] < 0) | (labels[known] >= q)).any():
                raise ValueError(f"`labels` must be state indices in [0, {q}) or -100 (unknown).")
            one_hot = nn.functional.one_hot(labels.clamp_min(0).long(), q).to(dtype)
            pl = pl * torch.where(known[..., None], one_hot, torch.ones_like(one_hot))
        pl = pl[:, p:]
        if (pl.sum(-1) == 0).any():
            raise ValueError(
                "Every time step needs at least one plausible state (a row of `plausibilities` is all 0)."
            )
        return pl.log()

    def _check_values(self, input_values, attention_mask):
        input_values = _as_batch(input_values, "input_values", 2)
        if not input_values.is_floating_point():
            raise TypeError(f"`input_values` must be a float tensor, got {input_values.dtype}.")
        if input_values.shape[-1] <= self.config.ar_order:
            raise ValueError(
                f"`input_values` must be longer than ar_order={self.config.ar_order}, got length {input_values.shape[-1]}."
            )
        if attention_mask is None:
            attention_mask = torch.ones(input_values.shape, dtype=torch.bool, device=input_values.device)
        else:
            attention_mask = _as_batch(attention_mask, "attention_mask", 2).bool()
            if attention_mask.shape != input_values.shape:
                raise ValueError(
                    f"`attention_mask` must have the shape of `input_values` {tuple(input_values.shape)}, got "
                    f"{tuple(attention_mask.shape)}."
                )
        return input_values, attention_mask

    # ----------------------------------------------------------------------------------------------- forward
    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        plausibilities: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> ARPHMMOutput | tuple:
        r"""
        Runs the partially-hidden forward-backward on a batch of (right-padded) sequences.

        Args:
            input_values (`torch.FloatTensor` of shape `(batch, T)`):
                Observed signals y_t; the first `ar_order` values of each sequence are conditioned on.
            attention_mask (`torch.BoolTensor` of shape `(batch, T)`, *optional*):
                True on real steps, False on right padding.
            plausibilities (`torch.FloatTensor` of shape `(batch, T, n_states)`, *optional*):
                Prior plausibility pl_t(k) ∈ [0, 1] of each state at each step (1 everywhere = a plain ARHMM).
            labels (`torch.LongTensor` of shape `(batch, T)`, *optional*):
                Known states (−100 where unknown), turned into one-hot plausibilities; when given, `loss` is the
                negative log-likelihood per emitted step.
            return_dict (`bool`, *optional*):
                Whether to return an [`ARPHMMOutput`] instead of a plain tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        input_values, attention_mask = self._check_values(input_values, attention_mask)
        dtype = self.start_logits.dtype
        log_pl = self._log_plausibilities(plausibilities, labels, input_values.shape, dtype)
        log_b, means = self._emission_log_probs(input_values, dtype)
        mask = attention_mask[:, self.config.ar_order :]
        log_lik, gamma, _, _ = self._forward_backward(log_b, log_pl, mask)
        predictions = (gamma * means).sum(-1)
        loss = None
        if labels is not None:
            loss = -(log_lik / mask.sum(-1).clamp_min(1)).mean()
        output = ARPHMMOutput(loss=loss, log_likelihood=log_lik, state_posteriors=gamma, predictions=predictions)
        return output if return_dict else output.to_tuple()

    # ----------------------------------------------------------------------------------------------- EM
    def _prepare(self, sequences, plausibilities):
        values, mask = _pad(sequences, "sequences")
        if (mask.sum(-1) <= self.config.ar_order).any():
            raise ValueError(f"Every sequence must be longer than ar_order={self.config.ar_order}.")
        q = self.config.n_states
        if plausibilities is None:
            pl = torch.ones(*values.shape, q, dtype=torch.float64)
        else:
            if isinstance(plausibilities, torch.Tensor):
                plausibilities = list(_as_batch(plausibilities, "plausibilities", 3))
            if not isinstance(plausibilities, (list, tuple)) or len(plausibilities) != values.shape[0]:
                raise ValueError(
                    f"`plausibilities` must hold one (T_i, n_states) tensor per sequence ({values.shape[0]})."
                )
            for i, (pli, seq) in enumerate(zip(plausibilities, sequences)):
                if not isinstance(pli, torch.Tensor) or tuple(pli.shape) != (len(seq), q):
                    shape = tuple(pli.shape) if isinstance(pli, torch.Tensor) else type(pli).__name__
                    raise ValueError(f"`plausibilities[{i}]` must have shape ({len(seq)}, {q}), got {shape}.")
            pl, _ = _pad(list(plausibilities), "plausibilities", (q,))
            pl = torch.where(mask[..., None], pl, torch.ones_like(pl))
        if (pl < 0).any() or (pl > 1).any():
            raise ValueError("`plausibilities` must lie in [0, 1] (1 = the state is fully plausible).")
        pl = pl[:, self.config.ar_order :]
        if (pl.sum(-1) == 0).any():
            raise ValueError(
                "Every time step needs at least one plausible state (a row of `plausibilities` is all 0)."
            )
        device = self.start_logits.device
        return values.to(device), mask.to(device), mask[:, self.config.ar_order :].to(device), pl.to(device)

    def _initial_responsibilities(self, emit_mask, pl):
        r"""
        EM starts from responsibilities r_t(k) ∝ pl_t(k) · u_t(k), where u_t splits each sequence into Q equal
        consecutive segments (one-hot, smoothed by 0.1; uniform for an ergodic chain). The official code instead
        initialises from a partially-hidden Gaussian HMM with restarts; this start is deterministic and, with
        pl ≡ 1, identical for the ARHMM and the ARPHMM.
        """
        q = self.config.n_states
        lengths = emit_mask.sum(-1, keepdim=True).to(torch.float64)
        t = torch.arange(emit_mask.shape[1], dtype=torch.float64, device=emit_mask.device)[None]
        segment = (t * q / lengths).floor().clamp(max=q - 1).long()
        if self.config.left_to_right:
            u = nn.functional.one_hot(segment, q).to(torch.float64) + 0.1
        else:
            u = torch.ones(*emit_mask.shape, q, dtype=torch.float64, device=emit_mask.device)
        r = u * pl
        return r / r.sum(-1, keepdim=True) * emit_mask[..., None]

    def _m_step(self, values, emit_mask, gamma, xi_sum, update_chain: bool):
        r"""
        Weighted least squares per state (the M-step of the paper), with z_t = (x_{t−1}, 1):

            w_k = (Σ_t γ_t(k) z_t z_tᵀ)^+ Σ_t γ_t(k) z_t y_t,   B_k = −w_k[:P],   c_k = w_k[P],
            σ_k² = Σ_t γ_t(k) (y_t − z_tᵀ w_k)² / Σ_t γ_t(k),
            A_jk ∝ Σ_t ξ_t(j, k) + ε,   π_k ∝ Σ_n γ_1(k) + ε   (ε = `prior_count`, allowed entries only).

        The pseudo-inverse covers a state with little posterior mass (a singular weighted Gram matrix).
        """
        p = self.config.ar_order
        windows = lag_windows(values, p)
        design = (
            torch.cat([windows, windows.new_ones(*windows.shape[:-1], 1)], -1) if self.config.include_bias else windows
        )
        targets = values[:, p:]
        g = gamma * emit_mask[..., None]
        gram = torch.einsum("bsk,bsi,bsj->kij", g, design, design)
        moment = torch.einsum("bsk,bsi,bs->ki", g, design, targets)
        w = (torch.linalg.pinv(gram) @ moment.unsqueeze(-1)).squeeze(-1) if design.shape[-1] else moment
        residual = targets.unsqueeze(-1) - design @ w.T if design.shape[-1] else targets.unsqueeze(-1)
        mass = g.sum((0, 1))
        variance = (g * residual.pow(2)).sum((0, 1)) / mass.clamp_min(torch.finfo(torch.float64).tiny)
        variance = variance.clamp_min(self.config.min_variance)
        with torch.no_grad():
            self.ar_coefficients.copy_(-w[:, :p])
            if self.config.include_bias:
                self.ar_bias.copy_(w[:, p])
            self.log_variance.copy_(variance.log())
            if update_chain:
                allowed_start, allowed_transition = (mask.to(g.device) for mask in self._allowed())
                eps = self.config.prior_count
                start = (g[:, 0].sum(0) + eps) * allowed_start
                transition = (xi_sum.sum(0) + eps) * allowed_transition
                transition = torch.where(transition.sum(-1, keepdim=True) > 0, transition, allowed_transition.double())
                self.start_logits.copy_((start / start.sum()).log())
                self.transition_logits.copy_((transition / transition.sum(-1, keepdim=True)).log())

    @torch.no_grad()
    def fit(self, sequences, plausibilities=None, max_iter: int = 100, tol: float = 1e-4) -> "ARPHMMModel":
        r"""
        Fits the model by EM on the partially-hidden likelihood log Σ_s Π_t pl_t(s_t) p(s, y) (the theory of weighted
        distributions: the plausibilities multiply the emissions, which keeps EM's monotone ascent). With
        `plausibilities=None` (pl ≡ 1) this is the plain ARHMM's maximum-likelihood EM.

        EM stops when the relative change of the log-likelihood falls below `tol`, or after `max_iter` iterations.
        The log-likelihood after each E-step is kept in `self.fit_history`. Computation runs in float64.

        Args:
            sequences (`list[torch.FloatTensor]` of shapes `(T_i,)`, or a `(n, T)` tensor):
                Training signals.
            plausibilities (`list[torch.FloatTensor]` of shapes `(T_i, n_states)`, *optional*):
                Prior plausibilities pl_t(k) ∈ [0, 1] of the states (1 = fully plausible).
            max_iter (`int`, *optional*, defaults to 100):
                Maximum number of EM iterations.
            tol (`float`, *optional*, defaults to 1e-4):
                Relative log-likelihood change that stops EM.

        Returns:
            [`ARPHMMModel`]: the model itself, fitted.
        """
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"`max_iter` must be an integer >= 1, got {max_iter!r}.")
        if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol >= 0:
            raise ValueError(f"`tol` must be a number >= 0, got {tol!r}.")
        values, _, emit_mask, pl = self._prepare(sequences, plausibilities)
        original_dtype = self.start_logits.dtype
        self.to(torch.float64)
        log_pl = pl.log()
        # initial chain (fresh structure) and emissions from the initial responsibilities
        log_start, log_transition = self.structure_logits(torch.float64)
        self.start_logits.copy_(log_start)
        self.transition_logits.copy_(log_transition)
        self._m_step(values, emit_mask, self._initial_responsibilities(emit_mask, pl), None, update_chain=False)
        self.fit_history = []
        for _ in range(max_iter):
            log_b, _ = self._emission_log_probs(values, torch.float64)
            log_lik, gamma, xi_sum, _ = self._forward_backward(log_b, log_pl, emit_mask)
            total = log_lik.sum().item()
            if self.fit_history and abs(total - self.fit_history[-1]) <= tol * abs(self.fit_history[-1]):
                self.fit_history.append(total)
                break
            self.fit_history.append(total)
            self._m_step(values, emit_mask, gamma, xi_sum, update_chain=True)
        self.to(original_dtype)
        return self

    @torch.no_grad()
    def posterior_states(self, sequence: torch.Tensor, plausibilities: torch.Tensor | None = None, filtered=False):
        r"""
        State posteriors of one sequence for t = P..T−1: smoothed γ_t(k) = p(s_t = k | y_{1:T}), or, with
        `filtered=True`, the causal α_t(k) / Σ_j α_t(j) = p(s_t = k | y_{1:t}) used for online prognostics.

        Returns:
            `torch.FloatTensor` of shape `(T − P, n_states)` (float64).
        """
        values, mask = self._check_values(sequence, None)
        if values.shape[0] != 1:
            raise ValueError(f"`sequence` must be one sequence of shape (T,), got {tuple(sequence.shape)}.")
        values = values.to(torch.float64)
        log_pl = self._log_plausibilities(plausibilities, None, values.shape, torch.float64)
        log_b, _ = self._emission_log_probs(values, torch.float64)
        _, gamma, _, log_alpha = self._forward_backward(log_b, log_pl, mask[:, self.config.ar_order :])
        if filtered:
            return torch.softmax(log_alpha[0], dim=-1)
        return gamma[0]

    @torch.no_grad()
    def predict(self, sequence: torch.Tensor, filtered: bool = True) -> torch.Tensor:
        r"""
        One-step-ahead predictions ŷ_t = Σ_k w_t(k) (−B_k x_{t−1} + c_k) for t = P..T−1, a mixture of the per-state
        AR predictions weighted by the filtered state posterior of step t − 1 propagated through A (causal), or by
        the smoothed γ_t when `filtered=False`.
        """
        values, _ = self._check_values(sequence, None)
        values = values.to(torch.float64)
        log_b, means = self._emission_log_probs(values, torch.float64)
        if not filtered:
            return (self.posterior_states(sequence) * means[0]).sum(-1)
        filt = self.posterior_states(sequence, filtered=True)
        log_pi, log_a, *_ = self._parameters_as(torch.float64)
        prior = torch.cat([log_pi.exp()[None], filt[:-1] @ log_a.exp()], 0)
        return (prior * means[0]).sum(-1)

    def _rul_design(self, values):
        windows = lag_windows(values, self.config.ar_order)
        return torch.cat([windows, windows.new_ones(*windows.shape[:-1], 1)], -1)

    @torch.no_grad()
    def fit_rul(self, sequences, ruls, plausibilities=None) -> "ARPHMMModel":
        r"""
        Fits the remaining-useful-life head: per state, a weighted least-squares regression of the RUL on the health-
        indicator window z_t = (x_{t−1}, 1) (the RUL mode of the official code, kept apart from the signal's AR model):

            r_k = (Σ_t γ_t(k) z_t z_tᵀ)^+ Σ_t γ_t(k) z_t RUL_t,

        with γ the smoothed posteriors of the fitted chain (under `plausibilities`, if given).

        Args:
            sequences (`list[torch.FloatTensor]`): health-indicator sequences `(T_i,)` (run to failure).
            ruls (`list[torch.FloatTensor]`): the RUL at each of their steps, `(T_i,)`.
            plausibilities (`list[torch.FloatTensor]`, *optional*): `(T_i, n_states)` state plausibilities.

        Returns:
            [`ARPHMMModel`]: the model itself.
        """
        values, mask, emit_mask, pl = self._prepare(sequences, plausibilities)
        targets, rul_mask = _pad(ruls, "ruls")
        targets = targets.to(values.device)
        if not torch.equal(rul_mask.to(mask.device), mask):
            raise ValueError("`ruls` must hold one tensor per sequence, each as long as its sequence.")
        log_b, _ = self._emission_log_probs(values, torch.float64)
        _, gamma, _, _ = self._forward_backward(log_b, pl.log(), emit_mask)
        design = self._rul_design(values)
        g = gamma * emit_mask[..., None]
        gram = torch.einsum("bsk,bsi,bsj->kij", g, design, design)
        moment = torch.einsum("bsk,bsi,bs->ki", g, design, targets[:, self.config.ar_order :])
        coefficients = (torch.linalg.pinv(gram) @ moment.unsqueeze(-1)).squeeze(-1)
        self.rul_coefficients.copy_(coefficients.to(self.rul_coefficients.dtype))
        return self

    @torch.no_grad()
    def predict_rul(self, sequence: torch.Tensor) -> torch.Tensor:
        r"""
        Online RUL estimates for t = P..T−1: Σ_k p(s_t = k | y_{1:t}) · r_kᵀ z_t, the filtered-posterior mixture of
        the per-state RUL regressions of [`~ARPHMMModel.fit_rul`].
        """
        values, _ = self._check_values(sequence, None)
        filt = self.posterior_states(sequence, filtered=True)
        design = self._rul_design(values.to(torch.float64))[0]
        per_state = design @ self.rul_coefficients.to(torch.float64).T
        return (filt * per_state).sum(-1)


ARPHMMModel.register_for_auto_class("AutoModel")

__all__ = ["ARPHMMPreTrainedModel", "ARPHMMModel", "ARPHMMOutput", "lag_windows"]
