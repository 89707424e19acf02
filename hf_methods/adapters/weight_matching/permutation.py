"""Permutation specs, weight matching (Ainsworth et al., Git Re-Basin) and applying a permutation to a model.

A hidden unit of a layer can be renamed without changing the function: permuting the rows of the layer that produces
it (weight rows, bias) and the columns of the layer that reads it by the same permutation `P_l` gives

    W_l → P_l W_l P_{l−1}ᵀ,    b_l → P_l b_l,

and the network computes exactly the same thing. A [`PermutationSpec`] lists, for every such permutation, which
axes of which parameters it acts on; [`permutation_spec`] derives it for the architectures where it is well defined
(the hf-methods MLP, the gated MLP blocks — and optionally the residual stream — of Llama-family decoders).

Weight matching (Ainsworth et al., 2023, "Git Re-Basin", Alg. 1; the P37 paper, Ito, Yamada & Kumagai, ICLR 2025,
analyses why it yields linear mode connectivity) looks for the permutations π of model B closest to model A:

    max_π  Σ_l ⟨W_l^A, P_l W_l^B P_{l−1}ᵀ⟩_F     (= min_π ‖θ_A − π(θ_B)‖² up to constants)

by coordinate descent: in a random order, each `P_l` is solved exactly as a linear assignment problem
(`scipy.optimize.linear_sum_assignment`) with all other permutations fixed,

    P_l = argmax_P ⟨P, Σ_{(w, axis) ∋ l} W^A_{(axis)} (W^B_{(axis)} with the other permutations applied)ᵀ⟩,

where `W_{(axis)}` is the parameter with `axis` moved first and the rest flattened; sweeps repeat until none improves
the objective (at most `max_iter`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

#: model types whose decoder blocks hold `mlp.gate_proj/up_proj/down_proj` computing
#: `down(act(gate(x)) * up(x))`, with RMSNorm (per-coordinate weight) on the residual stream.
GATED_MLP_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
MLP_MODEL_TYPE = "hfm-mlp"


@dataclass(frozen=True)
class PermutationSpec:
    """Which axes of which tensors every permutation acts on.

    Args:
        perm_to_axes (`dict[str, tuple[tuple[str, int], ...]]`):
            `{permutation name: ((tensor name, axis), ...)}`. Tensor names are those of `model.named_parameters()`
            (or `named_buffers()`); each listed axis must have the permutation's size. A tensor may be permuted on
            several axes by different permutations (e.g. a hidden-to-hidden weight: rows by `P_l`, columns by
            `P_{l−1}`), never on one axis twice.

    Example:

    ```python
    # a two-layer MLP x → W2 act(W1 x + b1) + b2: one permutation of the hidden units
    spec = PermutationSpec({"P_0": (("0.weight", 0), ("0.bias", 0), ("2.weight", 1))})
    ```
    """

    perm_to_axes: dict[str, tuple[tuple[str, int], ...]]

    def __post_init__(self):
        if not isinstance(self.perm_to_axes, Mapping) or not self.perm_to_axes:
            raise ValueError("`spec.perm_to_axes` must be a non-empty dict {permutation name: ((tensor, axis), ...)}")
        seen: dict[tuple[str, int], str] = {}
        normalized = {}
        for perm, axes in self.perm_to_axes.items():
            axes = tuple((str(name), int(axis)) for name, axis in axes)
            if not axes:
                raise ValueError(f"`spec`: permutation {perm!r} acts on no tensor")
            for key in axes:
                if key in seen:
                    raise ValueError(
                        f"`spec`: axis {key[1]} of {key[0]!r} is permuted by both {seen[key]!r} and {perm!r}"
                    )
                seen[key] = perm
            normalized[perm] = axes
        object.__setattr__(self, "perm_to_axes", normalized)

    @property
    def axes_to_perm(self) -> dict[str, dict[int, str]]:
        """`{tensor name: {axis: permutation name}}`."""
        out: dict[str, dict[int, str]] = {}
        for perm, axes in self.perm_to_axes.items():
            for name, axis in axes:
                out.setdefault(name, {})[axis] = perm
        return out

    def sizes(self, tensors: Mapping[str, torch.Tensor], argument: str = "spec") -> dict[str, int]:
        """The size of every permutation, checked against `tensors` (a `ValueError` naming `argument` otherwise)."""
        sizes = {}
        for perm, axes in self.perm_to_axes.items():
            for name, axis in axes:
                if name not in tensors:
                    raise ValueError(
                        f"`{argument}`: permutation {perm!r} names {name!r}, which the model does not have"
                    )
                shape = tensors[name].shape
                if not -len(shape) <= axis < len(shape):
                    raise ValueError(f"`{argument}`: {name!r} has no axis {axis} (shape {tuple(shape)})")
                n = shape[axis]
                if sizes.setdefault(perm, n) != n:
                    raise ValueError(
                        f"`{argument}`: permutation {perm!r} acts on axes of different sizes ({sizes[perm]} and {n} "
                        f"for {name!r})"
                    )
        return sizes


class Permutation(dict):
    """`{permutation name: LongTensor}` as returned by [`weight_matching`]: `perm[p][i]` is the unit of model B that
    becomes unit `i` (`W_B → W_B[perm]` along the permuted axis), so `apply_permutation(model_b, perm)` is matched to A.

    Attributes:
        spec (`PermutationSpec`): the spec the permutations belong to.
        iterations (`int`): coordinate-descent sweeps run.
        objective (`float`): `Σ_l ⟨W_l^A, π(W^B)_l⟩` summed over the permuted tensors at the end.
    """

    def __init__(self, perms, spec: PermutationSpec, iterations: int = 0, objective: float = float("nan")):
        super().__init__(perms)
        self.spec, self.iterations, self.objective = spec, iterations, objective


def _tensors(model, argument: str) -> dict[str, torch.Tensor]:
    """Named parameters (tied ones once) and buffers of a module, or a state dict as given."""
    if isinstance(model, nn.Module):
        tensors = {name: p.detach() for name, p in model.named_parameters()}
        tensors.update({name: b.detach() for name, b in model.named_buffers()})
        return tensors
    if isinstance(model, Mapping) and all(isinstance(v, torch.Tensor) for v in model.values()):
        return {name: value.detach() for name, value in model.items()}
    raise TypeError(f"`{argument}` must be a torch.nn.Module or a dict of tensors, got {type(model).__name__}")


def permutation_spec(model: nn.Module, *, residual: bool = False) -> PermutationSpec:
    """The [`PermutationSpec`] of an architecture where hidden-unit permutations are well defined.

    - hf-methods MLP (`model_type` `"hfm-mlp"`: `MLPForImageClassification`, `MLPModel`): one permutation `P_l` per
      hidden layer (weight rows and bias of `Linear_l`, columns of the next `Linear` or of the classifier). In
      `MLPModel` the last hidden layer is the output, so it is left alone.
    - Llama-family decoders (`model_type` in `GATED_MLP_MODEL_TYPES`): per decoder layer, the intermediate neurons of
      the gated MLP `down(act(gate(x)) ⊙ up(x))`: rows of `gate_proj` and `up_proj` (and their biases), columns of
      `down_proj`. With `residual=True` (causal-LM or sequence-classification heads only), also one permutation of
      the residual stream shared by every layer: columns of the embedding, of every `q/k/v/gate/up_proj` and of the
      head, rows (and biases) of every `o_proj`/`down_proj`, and every RMSNorm weight (RMSNorm is
      permutation-equivariant: its statistic is a mean over the coordinates). Attention heads are not permuted.

    Args:
        model (`torch.nn.Module`): the model (a transformers `PreTrainedModel` of a supported type).
        residual (`bool`, *optional*, defaults to `False`): also permute the residual stream of a Llama-family model.

    Raises:
        `ValueError`: naming `model` for an unsupported architecture (pass an explicit `PermutationSpec` then).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type == MLP_MODEL_TYPE:
        if residual:
            raise ValueError("`residual=True` only applies to Llama-family decoders, not to the hf-methods MLP")
        return _mlp_spec(model)
    if model_type in GATED_MLP_MODEL_TYPES:
        return _gated_mlp_spec(model, residual)
    raise ValueError(
        f"`model`: no automatic permutation spec for {type(model).__name__} (model_type {model_type!r}). Supported: "
        f"{MLP_MODEL_TYPE!r} (MLPModel, MLPForImageClassification) and the gated MLP blocks of "
        f"{', '.join(GATED_MLP_MODEL_TYPES)}; for other architectures pass an explicit `spec=PermutationSpec(...)`."
    )


def _mlp_spec(model: nn.Module) -> PermutationSpec:
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    # the hidden Linears in order, then (for the classification model) the classifier reading the last hidden layer
    hidden = [name for name, _ in linears if not name.endswith("classifier")]
    readers = hidden[1:] + ([name for name, _ in linears if name.endswith("classifier")] or [None])
    perms = {}
    for index, (layer, reader) in enumerate(zip(hidden, readers)):
        if reader is None:  # MLPModel: the last hidden layer is the model's output
            continue
        axes = [(f"{layer}.weight", 0)]
        if getattr(model.get_submodule(layer), "bias", None) is not None:
            axes.append((f"{layer}.bias", 0))
        axes.append((f"{reader}.weight", 1))
        perms[f"P_{index}"] = tuple(axes)
    if not perms:
        raise ValueError("`model` has no hidden layer whose units can be permuted without changing its output")
    return PermutationSpec(perms)


def _gated_mlp_spec(model: nn.Module, residual: bool) -> PermutationSpec:
    names = {name for name, _ in model.named_parameters()}
    perms: dict[str, list[tuple[str, int]]] = {}
    mlps = [
        name
        for name, m in model.named_modules()
        if all(isinstance(getattr(m, proj, None), nn.Linear) for proj in ("gate_proj", "up_proj", "down_proj"))
    ]
    if not mlps:
        raise ValueError(f"`model`: no gated MLP block (gate_proj/up_proj/down_proj) found in {type(model).__name__}")
    for block in mlps:
        axes = [(f"{block}.gate_proj.weight", 0), (f"{block}.up_proj.weight", 0), (f"{block}.down_proj.weight", 1)]
        axes += [(f"{block}.{proj}.bias", 0) for proj in ("gate_proj", "up_proj") if f"{block}.{proj}.bias" in names]
        perms[f"{block}.intermediate"] = axes
    if residual:
        perms["residual"] = _residual_axes(model, names)
    return PermutationSpec({k: tuple(v) for k, v in perms.items()})


def _residual_axes(model: nn.Module, names: set[str]) -> list[tuple[str, int]]:
    head = next((h for h in ("lm_head", "score") if isinstance(getattr(model, h, None), nn.Linear)), None)
    if head is None:
        raise ValueError(
            f"`residual=True` needs a model with a linear head (lm_head or score): the residual stream is the output "
            f"of {type(model).__name__}, so permuting it would change the output"
        )
    readers = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")
    writers = ("o_proj", "down_proj")
    hidden = model.config.hidden_size
    axes = []
    for name in sorted(names):
        leaf = name.rsplit(".", 2)
        module_name, kind = (leaf[-2], leaf[-1]) if len(leaf) >= 2 else ("", leaf[-1])
        tensor = model.get_parameter(name)
        if module_name in readers and kind == "weight":
            axes.append((name, 1))
        elif module_name in writers:
            axes.append((name, 0))
        elif module_name == "embed_tokens" or (module_name == head and kind == "weight"):
            axes.append((name, 1))
        elif (module_name == "norm" or module_name.endswith("layernorm")) and tensor.shape == (hidden,):
            axes.append((name, 0))  # input/post-attention/final RMSNorm (not Qwen3's per-head q_norm/k_norm)
    return axes


def permute_tensors(tensors: Mapping[str, torch.Tensor], perm: Mapping[str, torch.Tensor], spec: PermutationSpec):
    """`{name: tensor}` with every axis named in `spec` permuted: `W → index_select(W, axis, perm[p])`.

    Tensors the spec does not name are returned unchanged (the same objects).
    """
    missing = [p for p in spec.perm_to_axes if p not in perm]
    if missing:
        raise ValueError(f"`perm` has no permutation for {missing} of the spec")
    out = dict(tensors)
    for name, axes in spec.axes_to_perm.items():
        w = tensors[name]
        for axis, p in axes.items():
            w = torch.index_select(w, axis, perm[p].to(w.device))
        out[name] = w
    return out


def _check_perm(perm: Mapping[str, torch.Tensor], sizes: dict[str, int]) -> dict[str, torch.Tensor]:
    if not isinstance(perm, Mapping):
        raise TypeError(f"`perm` must be a dict {{permutation name: LongTensor}}, got {type(perm).__name__}")
    checked = {}
    for p, n in sizes.items():
        if p not in perm:
            raise ValueError(f"`perm` has no permutation {p!r} (the spec's are {sorted(sizes)})")
        index = torch.as_tensor(perm[p])
        if index.dim() != 1 or index.numel() != n or index.is_floating_point():
            raise ValueError(f"`perm[{p!r}]` must be a 1-D integer tensor of length {n}, got {tuple(index.shape)}")
        if not torch.equal(torch.sort(index.long()).values, torch.arange(n)):
            raise ValueError(f"`perm[{p!r}]` is not a permutation of range({n})")
        checked[p] = index.long()
    return checked


def weight_matching(
    model_a,
    model_b,
    spec: PermutationSpec | None = None,
    *,
    max_iter: int = 100,
    seed: int = 0,
    init_perm: Mapping[str, torch.Tensor] | None = None,
) -> Permutation:
    """Weight matching: the permutations of model B's hidden units that bring its weights closest to model A's.

    Coordinate descent over the permutations of `spec` (module docstring): each step solves
    `max_P ⟨P, S_l⟩` for one permutation with `scipy.optimize.linear_sum_assignment`, where
    `S_l = Σ_{(w, axis)} W^A_{(axis)} π_{−l}(W^B)_{(axis)}ᵀ` sums over every tensor axis the permutation acts on;
    a sweep visits all permutations in a random order (from `seed`); sweeps stop when none improved the objective.
    The similarity is accumulated in float64.

    Args:
        model_a (`torch.nn.Module` or `dict[str, torch.Tensor]`): the reference model (stays as it is).
        model_b (`torch.nn.Module` or `dict[str, torch.Tensor]`): the model to permute; same architecture as A.
        spec (`PermutationSpec`, *optional*): derived from `model_a` by [`permutation_spec`] when omitted (then
            `model_a` must be a module).
        max_iter (`int`, *optional*, defaults to 100): maximum number of sweeps.
        seed (`int`, *optional*, defaults to 0): seed of the random visiting order.
        init_perm (`dict`, *optional*): starting permutations (identity by default).

    Returns:
        [`Permutation`]: `{name: LongTensor}` to pass to [`apply_permutation`]`(model_b, perm)`.
    """
    from scipy.optimize import linear_sum_assignment

    if spec is None:
        if not isinstance(model_a, nn.Module):
            raise ValueError("`spec` is required when `model_a` is a dict of tensors (it is derived from a module)")
        spec = permutation_spec(model_a)
    if not isinstance(spec, PermutationSpec):
        raise TypeError(f"`spec` must be a PermutationSpec, got {type(spec).__name__}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"`max_iter` must be a positive int, got {max_iter!r}")
    params_a = _tensors(model_a, "model_a")
    params_b = _tensors(model_b, "model_b")
    sizes = spec.sizes(params_a, "spec")
    for name, axes in spec.axes_to_perm.items():
        if name not in params_b or params_b[name].shape != params_a[name].shape:
            got = tuple(params_b[name].shape) if name in params_b else "missing"
            raise ValueError(
                f"`model_b` must have the architecture of `model_a`: {name!r} is {tuple(params_a[name].shape)} in A, "
                f"{got} in B"
            )
    perm = {p: torch.arange(n) for p, n in sizes.items()} if init_perm is None else _check_perm(init_perm, sizes)
    axes_to_perm = spec.axes_to_perm
    a64 = {name: params_a[name].double() for name in axes_to_perm}
    b64 = {name: params_b[name].double() for name in axes_to_perm}
    names = list(sizes)
    generator = torch.Generator().manual_seed(seed)
    iterations = 0
    for iterations in range(1, max_iter + 1):
        progress = False
        for index in torch.randperm(len(names), generator=generator).tolist():
            p, n = names[index], sizes[names[index]]
            similarity = torch.zeros(n, n, dtype=torch.float64)
            for name, axis in spec.perm_to_axes[p]:
                w_b = b64[name]
                for other_axis, q in axes_to_perm[name].items():
                    if other_axis != axis:  # every other permutation of this tensor is applied
                        w_b = torch.index_select(w_b, other_axis, perm[q])
                w_a = torch.movedim(a64[name], axis, 0).reshape(n, -1)
                w_b = torch.movedim(w_b, axis, 0).reshape(n, -1)
                similarity += w_a @ w_b.T
            _, cols = linear_sum_assignment(similarity.numpy(), maximize=True)
            cols = torch.as_tensor(cols, dtype=torch.long)
            rows = torch.arange(n)
            old = similarity[rows, perm[p]].sum().item()
            new = similarity[rows, cols].sum().item()
            progress = progress or new > old + 1e-12 * max(1.0, abs(old))
            perm[p] = cols
        if not progress:
            break
    permuted = permute_tensors(b64, perm, spec)
    objective = sum((a64[name] * permuted[name]).sum().item() for name in axes_to_perm)
    return Permutation(perm, spec, iterations=iterations, objective=objective)


def apply_permutation(model: nn.Module, perm: Mapping[str, torch.Tensor], spec: PermutationSpec | None = None):
    """A deep copy of `model` with its hidden units permuted by `perm` (the function is unchanged).

    Every tensor axis named in the spec is re-indexed, `W → index_select(W, axis, perm[p])`; tied parameters are
    permuted once. The copy is a model of the same class, so it saves and reloads with plain transformers.

    Args:
        model (`torch.nn.Module`): the model to permute (left untouched).
        perm (`dict[str, torch.Tensor]`): permutations, e.g. from [`weight_matching`].
        spec (`PermutationSpec`, *optional*): defaults to `perm.spec` for a [`Permutation`], else
            `permutation_spec(model)`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
    if spec is None:
        spec = perm.spec if isinstance(perm, Permutation) else permutation_spec(model)
    if not isinstance(spec, PermutationSpec):
        raise TypeError(f"`spec` must be a PermutationSpec, got {type(spec).__name__}")
    permuted_model = copy.deepcopy(model)
    tensors = {name: p for name, p in permuted_model.named_parameters()}
    tensors.update(dict(permuted_model.named_buffers()))
    checked = _check_perm(perm, spec.sizes(tensors, "spec"))
    new = permute_tensors({name: tensors[name].detach() for name in spec.axes_to_perm}, checked, spec)
    with torch.no_grad():
        for name, value in new.items():
            tensors[name].copy_(value.clone())
    return permuted_model


__all__ = [
    "GATED_MLP_MODEL_TYPES",
    "Permutation",
    "PermutationSpec",
    "apply_permutation",
    "permutation_spec",
    "permute_tensors",
    "weight_matching",
]
