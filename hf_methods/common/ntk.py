"""The empirical neural tangent kernel and the linearised model, through `torch.func`.

For a network f(θ, x) ∈ R^K with parameters θ, the empirical NTK between two inputs is the Gram matrix of the
parameter Jacobians (Jacot et al., 2018):

    Θ(x, x')_{kl} = Σ_p ∂f_k(θ, x)/∂θ_p · ∂f_l(θ, x')/∂θ_p = [J(x) J(x')ᵀ]_{kl},

and the linearised ("lazy") model around θ₀ is its first-order Taylor expansion (Lee et al., 2019):

    f_lin(θ, x) = f(θ₀, x) + J_θ₀(x) (θ − θ₀).

- [`empirical_ntk`]: Θ for two batches, per output pair (`mode="full"`, `(N₁, N₂, K, K)`) or traced over the outputs
  (`mode="trace"`, `(N₁, N₂)`), from per-sample Jacobians (`vmap(jacrev(...))`) computed in chunks;
- [`LinearizedModel`]: f_lin as an `nn.Module` whose trainable parameters are θ (starting at θ₀), evaluated with one
  Jacobian–vector product (`torch.func.jvp`) per forward, so it trains with any optimiser or `Trainer`;
- [`kernel_target_alignment`]: A(K, y) = ⟨K, yyᵀ⟩_F / (‖K‖_F ‖yyᵀ‖_F) (Cristianini et al., 2001);
- [`model_output`]: a model's output as the tensor the kernel is taken of (logits of a transformers output).

The functions take any `nn.Module` whose forward maps a batch `x` to `(N, K)` outputs (or `(N,)`, read as K = 1); a
transformers model works through `output_fn` (default: `.logits` when the output has it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vmap

from hf_methods.common.checks import check_positive_int

__all__ = ["LinearizedModel", "empirical_ntk", "kernel_target_alignment", "model_output"]

NTK_MODES = ("full", "trace")


def model_output(output) -> torch.Tensor:
    """The tensor a kernel is taken of: `output.logits` for a transformers output, the tensor itself otherwise."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"cannot read a tensor from a model output of type {type(output).__name__}; pass output_fn")


def _trainable(model: nn.Module) -> dict[str, torch.Tensor]:
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("the model has no trainable parameters to take a tangent kernel over")
    return params


def _jacobians(model, params, buffers, x, output_fn, chunk_size) -> torch.Tensor:
    """Per-sample Jacobians of the outputs, `(N, K, P)` (parameters flattened in `params` order)."""

    def single(p, xi):
        out = output_fn(functional_call(model, (p, buffers), (xi.unsqueeze(0),)))
        return out.reshape(-1)  # (K,)

    blocks = []
    for start in range(0, x.shape[0], chunk_size):
        jac = vmap(jacrev(single), in_dims=(None, 0))(params, x[start : start + chunk_size])
        blocks.append(torch.cat([j.flatten(2) for j in jac.values()], dim=2))
    return torch.cat(blocks)


def empirical_ntk(
    model: nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    mode: str = "trace",
    output_fn: Callable = model_output,
    chunk_size: int = 64,
) -> torch.Tensor:
    """The empirical NTK Θ(x1, x2) = J(x1) J(x2)ᵀ of `model` at its current parameters.

    Args:
        model: maps a batch to `(N, K)` (or `(N,)`) outputs; every parameter with `requires_grad` counts. Buffers are
            used as they are (put batch-norm models in eval mode first).
        x1, x2: input batches (`x2=None` → x1, a symmetric Gram matrix).
        mode: "full" → `(N₁, N₂, K, K)`, every output pair; "trace" → `(N₁, N₂)`, Σ_k Θ_kk.
        output_fn: reads the output tensor from the model's output (default: `.logits` if present).
        chunk_size: samples per vmapped Jacobian (memory ∝ chunk_size · K · P).
    """
    if mode not in NTK_MODES:
        raise ValueError(f"mode must be one of {NTK_MODES}, got {mode!r}")
    check_positive_int("chunk_size", chunk_size)
    for name, x in (("x1", x1), ("x2", x2)):
        if x is not None and (not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[0] == 0):
            raise ValueError(f"{name} must be a non-empty batch tensor (N, ...)")
    params = _trainable(model)
    buffers = {name: b for name, b in model.named_buffers()}
    j1 = _jacobians(model, params, buffers, x1, output_fn, chunk_size)
    j2 = j1 if x2 is None else _jacobians(model, params, buffers, x2, output_fn, chunk_size)
    if mode == "full":
        return torch.einsum("nkp,mlp->nmkl", j1, j2)
    return torch.einsum("nkp,mkp->nm", j1, j2)


def kernel_target_alignment(kernel: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """A(K, Y) = ⟨K, Y Yᵀ⟩_F / (‖K‖_F ‖Y Yᵀ‖_F) for a Gram matrix `(N, N)` and targets `(N,)` or `(N, K)`."""
    if kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"kernel must be a square (N, N) matrix, got shape {tuple(kernel.shape)}")
    y = targets.reshape(targets.shape[0], -1).to(kernel.dtype)
    if y.shape[0] != kernel.shape[0]:
        raise ValueError(f"targets has {y.shape[0]} rows for a {kernel.shape[0]}×{kernel.shape[0]} kernel")
    target_gram = y @ y.T
    return (kernel * target_gram).sum() / (kernel.norm() * target_gram.norm())


class LinearizedModel(nn.Module):
    """f_lin(θ, x) = f(θ₀, x) + J_θ₀(x)(θ − θ₀): `model` linearised around its current parameters θ₀.

    The trainable parameters of this module are θ (initialised at θ₀, registered under the original names with "."
    replaced by "__"); θ₀ and the network are kept frozen. A forward costs one forward and one Jacobian–vector product
    of the original network (`torch.func.jvp`), so training it costs a small constant factor over the network itself.

    Args:
        model: the network to linearise (its forward maps a batch to outputs; not modified).
        output_fn: reads the output tensor from the model's output.
    """

    def __init__(self, model: nn.Module, output_fn: Callable = model_output):
        super().__init__()
        import copy

        self.network = copy.deepcopy(model)
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.output_fn = output_fn
        self._names = list(_trainable(model))
        for name in self._names:
            init = dict(model.named_parameters())[name].detach()
            self.register_buffer("theta0__" + name.replace(".", "__"), init.clone())
            self.register_parameter(name.replace(".", "__"), nn.Parameter(init.clone()))

    def initial_parameters(self) -> dict[str, torch.Tensor]:
        """θ₀ by original parameter name."""
        return {name: getattr(self, "theta0__" + name.replace(".", "__")) for name in self._names}

    def current_parameters(self) -> dict[str, torch.Tensor]:
        """θ by original parameter name."""
        return {name: getattr(self, name.replace(".", "__")) for name in self._names}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta0 = self.initial_parameters()
        delta = {name: p - theta0[name] for name, p in self.current_parameters().items()}
        buffers = {name: b for name, b in self.network.named_buffers()}

        def f(params):
            return self.output_fn(functional_call(self.network, (params, buffers), (x,)))

        value, tangent = jvp(f, (theta0,), (delta,))
        return value + tangent
