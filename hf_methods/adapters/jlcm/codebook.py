"""Grouped codebook layers (JLCM, Yvinec, Dapogny & Bailly, ICLR 2024): storage, the mapping gradient, files.

A [`CodebookLinear`] stores an `nn.Linear` weight `W ∈ R^{out×in}` as

    Ŵ_{r,i} = C_{g(r)}[I_{r,i}],     C_g ∈ R^K (K = 2^b codewords), I ∈ {0..K-1}^{out×in}

where the output neurons (rows) are split into contiguous groups g(r) (after neuron re-ordering, see `reorder.py`,
so no row-to-group map is stored: only the G group sizes). The storage is b bits per weight for I, plus G·K float16
codewords and G int32 group sizes per layer.

While the mapping is searched, each weight carries one score per codeword, `S ∈ R^{out×in×K}`, with
I = argmax_j S_{·,j}; [`MappingGradient`] defines the backward pass of Ŵ = C[argmax S] (the paper's joint,
straight-through-style optimisation of codebook and mapping).

[`save_codebook_model`] packs the indices into b-bit bytes in a safetensors file (the bits per weight are measured
from that file), [`load_codebook_model`] rebuilds the layers, and [`dequantize_codebooks`] replaces every
`CodebookLinear` with a plain `nn.Linear` holding Ŵ, so `save_pretrained` writes a vanilla checkpoint.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hf_methods.common.packing import pack_bits, unpack_bits

QUANTIZED_FILE = "jlcm_quantized.safetensors"
EXTRA_FILE = "jlcm_extra.safetensors"
MAPPING_UPDATES = ("proximal", "ste")
MAX_BITS = 8


def check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an int in [1, {MAX_BITS}] (K = 2**bits codewords), got {bits!r}")
    return bits


# ------------------------------------------------------------------------------------------------ mapping gradient


def mapping_weight(distance: torch.Tensor, mode: str) -> torch.Tensor:
    """ψ(u), the weight of the gradient term that moves a weight to a codeword at signed distance u (in codebook gaps).

    - `"ste"`: ψ(u) = u. This is the plain straight-through gradient of a one-hot mapping (∂L/∂P_j = g·c_j, taken
      relative to the current codeword): it *grows* with the distance, so the farthest codeword in the descent
      direction gets the largest push and indices jump to the extreme codewords.
    - `"proximal"` (JLCM): ψ(u) = sign(u) / max(|u|, 1/2), a *decreasing* function of the distance, so the nearest
      codeword in the descent direction is preferred and the search stays local. The exact form is a reconstruction:
      the paper specifies only that the weight decreases with the distance (its Figure 1).

    Both give ψ(±1) = ±1 (moves to a neighbour one mean gap away weigh the same) and ψ(0) = 0.
    """
    if mode == "ste":
        return distance
    if mode == "proximal":
        return torch.sign(distance) / distance.abs().clamp_min(0.5)
    raise ValueError(f"mapping_update must be one of {MAPPING_UPDATES}, got {mode!r}")


class MappingGradient(torch.autograd.Function):
    """Ŵ_{r,i} = rows_{r}[argmax_j S_{r,i,j}] with a straight-through-style backward pass for the scores.

    Forward: the hard mapping I = argmax_j S and the lookup Ŵ = C[I] (exactly what the deployed layer computes).

    Backward, with g = ∂L/∂Ŵ:
      - codebook: ∂L/∂C_j = Σ_{I=j} g (the exact gradient of the lookup);
      - scores:   ∂L/∂S_{r,i,j} = ĝ_{r,i} · ψ((C_j − C_{I_{r,i}}) / Δ_r), with ĝ = g / RMS(g) over the layer (so one
        learning rate fits every layer) and Δ_r the mean gap of row r's codebook, (max C − min C) / (K − 1).
        A gradient step S ← S − η ∂L/∂S raises the scores of the codewords on the descent side of the current one;
        ψ is [`mapping_weight`].
    """

    @staticmethod
    def forward(ctx, scores, rows, mode):
        index = scores.argmax(-1)
        weight = rows.gather(1, index)
        ctx.save_for_backward(index, rows)
        ctx.mode = mode
        return weight

    @staticmethod
    def backward(ctx, grad_weight):
        index, rows = ctx.saved_tensors
        grad_rows = torch.zeros_like(rows).scatter_add_(1, index, grad_weight)
        current = rows.gather(1, index)
        k = rows.shape[1]
        gap = ((rows.max(1).values - rows.min(1).values) / max(k - 1, 1)).clamp_min(torch.finfo(rows.dtype).tiny)
        distance = (rows[:, None, :] - current[..., None]) / gap[:, None, None]
        normalised = grad_weight / grad_weight.pow(2).mean().sqrt().clamp_min(torch.finfo(rows.dtype).tiny)
        grad_scores = normalised[..., None] * mapping_weight(distance, ctx.mode)
        return grad_scores, grad_rows, None


# ------------------------------------------------------------------------------------------------------- the layer


class CodebookLinear(nn.Module):
    """A linear layer whose weight is a grouped codebook lookup, Ŵ_{r,i} = C_{g(r)}[I_{r,i}] (see the module doc).

    Args:
        in_features (`int`), out_features (`int`): the shape of the weight `(out_features, in_features)`.
        bits (`int`): b, the index width; the codebooks have K = 2^b codewords.
        group_sizes (`list[int]`): sizes of the contiguous row groups (summing to `out_features`); group g has its
            own codebook `codebook[g]`.
        bias (`bool`): whether the layer has a bias (kept in full precision).

    Buffers and parameters: `codebook` (`(G, K)` parameter, trainable), `indices` (`(out, in)` uint8 buffer),
    `group_sizes` (`(G,)` long buffer), `bias`. During the mapping search (`start_mapping_search`) a `scores`
    parameter `(out, in, K)` replaces `indices`; `finish_mapping_search` fixes I = argmax S.
    """

    def __init__(self, in_features: int, out_features: int, *, bits: int, group_sizes, bias: bool = True):
        super().__init__()
        check_bits(bits)
        sizes = [int(s) for s in group_sizes]
        if not sizes or any(s < 1 for s in sizes) or sum(sizes) != out_features:
            raise ValueError(f"group_sizes must be positive and sum to out_features={out_features}, got {sizes}")
        self.in_features, self.out_features, self.bits = int(in_features), int(out_features), bits
        self.codebook = nn.Parameter(torch.zeros(len(sizes), 2**bits))
        self.register_buffer("indices", torch.zeros(out_features, in_features, dtype=torch.uint8))
        self.register_buffer("group_sizes", torch.tensor(sizes, dtype=torch.long))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scores: nn.Parameter | None = None
        self.mapping_update = "proximal"
        # the full-precision weight, kept only when asked (to disable the quantization); never saved
        self.register_buffer("original_weight", None, persistent=False)
        self.enabled = True

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_linear(
        cls,
        linear: nn.Linear,
        *,
        bits: int,
        group_sizes,
        init: str = "kmeans",
        seed: int = 0,
        keep_original: bool = False,
    ) -> CodebookLinear:
        """Quantize `linear` group by group: each group's codebook is initialised by 1-D k-means on its weights
        (scikit-learn `KMeans`, `init="kmeans"`) or as K evenly spaced levels from its min to its max
        (`init="uniform"`, round-to-nearest), and every weight is mapped to its nearest codeword."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be an nn.Linear, got {type(linear).__name__}")
        if init not in ("kmeans", "uniform"):
            raise ValueError(f"init must be 'kmeans' or 'uniform', got {init!r}")
        layer = cls(
            linear.in_features, linear.out_features, bits=bits, group_sizes=group_sizes, bias=linear.bias is not None
        )
        weight = linear.weight.detach().float().cpu()
        codebooks = []
        for rows in torch.split(weight, layer.group_sizes.tolist()):
            values = rows.reshape(-1).numpy().astype(np.float64)
            codebooks.append(
                _kmeans_codebook(values, 2**bits, seed) if init == "kmeans" else _uniform(values, 2**bits)
            )
        with torch.no_grad():
            layer.codebook.copy_(torch.tensor(np.stack(codebooks), dtype=torch.float32))
            layer.indices.copy_(layer.nearest_indices(weight))
            if layer.bias is not None:
                layer.bias.copy_(linear.bias.detach().float())
        if keep_original:
            layer.original_weight = weight.clone()
        return layer.to(linear.weight.device)

    def row_codebooks(self) -> torch.Tensor:
        """`(out, K)`: the codebook of each row's group."""
        return self.codebook.repeat_interleave(self.group_sizes, dim=0)

    @torch.no_grad()
    def nearest_indices(self, weight: torch.Tensor) -> torch.Tensor:
        """The index of the nearest codeword of each weight under the current codebooks."""
        rows = self.row_codebooks().to(weight.device, weight.dtype)
        return (weight[..., None] - rows[:, None, :]).abs().argmin(-1).to(torch.uint8)

    # ------------------------------------------------------------------ forward
    @property
    def weight(self) -> torch.Tensor:
        """Ŵ = C[I] (differentiable in the codebook, and in the scores during the mapping search)."""
        rows = self.row_codebooks()
        if self.scores is not None:
            return MappingGradient.apply(self.scores, rows, self.mapping_update)
        return rows.gather(1, self.indices.long())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return F.linear(x, self.original_weight, self.bias)
        return F.linear(x, self.weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))

    # ------------------------------------------------------------------ mapping search
    def start_mapping_search(self, mapping_update: str = "proximal") -> nn.Parameter:
        """Creates the mapping scores S = one_hot(I) (a margin of 1 for the current codeword, 0 for the others, so
        argmax S = I) and returns them; the forward pass uses C[argmax S] until `finish_mapping_search`."""
        mapping_weight(torch.zeros(1), mapping_update)  # validates the name
        scores = F.one_hot(self.indices.long(), self.codebook.shape[1]).to(self.codebook.dtype)
        self.scores = nn.Parameter(scores)
        self.mapping_update = mapping_update
        return self.scores

    @torch.no_grad()
    def finish_mapping_search(self) -> None:
        """Fixes I = argmax S and drops the scores."""
        if self.scores is None:
            raise ValueError("finish_mapping_search called without a mapping search in progress")
        self.indices.copy_(self.scores.argmax(-1).to(torch.uint8))
        self.scores = None

    @torch.no_grad()
    def canonicalize(self) -> None:
        """Rounds the codewords to float16 (the stored precision) and sorts each group's codebook ascending,
        remapping the indices, so the saved layer computes exactly what this one computes."""
        if self.scores is not None:
            raise ValueError("finish the mapping search before canonicalize()")
        self.codebook.copy_(self.codebook.half().float())
        order = torch.argsort(self.codebook, dim=1, stable=True)
        rank = torch.argsort(order, dim=1)  # rank[g, old slot] = new slot
        self.codebook.copy_(self.codebook.gather(1, order))
        row_rank = rank.repeat_interleave(self.group_sizes, dim=0)
        self.indices.copy_(row_rank.gather(1, self.indices.long()).to(torch.uint8))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}, "
            f"groups={len(self.group_sizes)}, bias={self.bias is not None}"
        )


def _kmeans_codebook(values: np.ndarray, k: int, seed: int) -> np.ndarray:
    """K codewords of 1-D values by scikit-learn's k-means (fewer distinct values than K: those values, repeated)."""
    from sklearn.cluster import KMeans

    distinct = np.unique(values)
    if len(distinct) <= k:
        return np.sort(np.resize(distinct, k))
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(values.reshape(-1, 1))
    return np.sort(km.cluster_centers_.reshape(-1))


def _uniform(values: np.ndarray, k: int) -> np.ndarray:
    return np.linspace(values.min(), values.max(), k)


# ---------------------------------------------------------------------------------------------- model-level helpers


def codebook_layers(model: nn.Module) -> dict[str, CodebookLinear]:
    """`{name: layer}` of the [`CodebookLinear`] layers of `model`."""
    return {name: m for name, m in model.named_modules() if isinstance(m, CodebookLinear)}


def _require_layers(model: nn.Module) -> dict[str, CodebookLinear]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    layers = codebook_layers(model)
    if not layers:
        raise ValueError("model has no CodebookLinear layer (quantize it with JLCMQuantizer first)")
    return layers


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


@contextmanager
def disable_codebooks(model: nn.Module):
    """Within this context every [`CodebookLinear`] computes with its original full-precision weight (quantize with
    `keep_original=True`), e.g. to compare the quantized and full-precision outputs in one model."""
    layers = list(_require_layers(model).values())
    if any(layer.original_weight is None for layer in layers):
        raise ValueError("disable_codebooks needs the original weights: quantize with keep_original=True")
    previous = [layer.enabled for layer in layers]
    try:
        for layer in layers:
            layer.enabled = False
        yield model
    finally:
        for layer, was in zip(layers, previous):
            layer.enabled = was


@torch.no_grad()
def dequantize_codebooks(model: nn.Module) -> nn.Module:
    """Replaces, in place, every [`CodebookLinear`] with a plain `nn.Linear` holding Ŵ = C[I] (float32) and returns
    `model`: the baked model's `save_pretrained` checkpoint loads with the base class's `from_pretrained`."""
    for name, layer in _require_layers(model).items():
        if layer.scores is not None:
            raise ValueError(f"{name}: finish the mapping search before dequantizing")
        linear = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
        linear = linear.to(layer.codebook.device)
        linear.weight.copy_(layer.weight)
        if layer.bias is not None:
            linear.bias.copy_(layer.bias)
        set_submodule(model, name, linear)
    if hasattr(model, "_jlcm_permuted"):
        del model._jlcm_permuted
    return model


# ----------------------------------------------------------------------------------------------------- bit packing


# ------------------------------------------------------------------------------------------------------- the files


def save_codebook_model(model: nn.Module, save_directory, *, save_config: bool = True) -> dict:
    """Saves the quantized layers of `model` in `<dir>/jlcm_quantized.safetensors` (packed b-bit indices, float16
    codebooks, int32 group sizes) and, in `<dir>/jlcm_extra.safetensors`, the full-precision tensors that changed
    outside them (the quantized layers' biases and the weights that neuron re-ordering permuted); `config.json` too
    when the model has a transformers config.

    Returns `{"quantized_file", "extra_file", "bits_per_weight", "n_weights"}`, the bits per weight being measured
    from the quantized file's size (indices, codebooks, group sizes and the safetensors header).
    """
    from safetensors.torch import save_file

    layers = _require_layers(model)
    folder = Path(save_directory)
    folder.mkdir(parents=True, exist_ok=True)
    tensors, extra, shapes = {}, {}, {}
    for name, layer in layers.items():
        if layer.scores is not None:
            raise ValueError(f"{name}: finish the mapping search before saving")
        if not torch.equal(layer.codebook.detach(), layer.codebook.detach().half().float()):
            raise ValueError(f"{name}: codewords are not float16 values; call layer.canonicalize() before saving")
        tensors[f"{name}.packed_indices"] = pack_bits(layer.indices, layer.bits)
        tensors[f"{name}.codebook"] = layer.codebook.detach().half().cpu().contiguous()
        tensors[f"{name}.group_sizes"] = layer.group_sizes.to(torch.int32).cpu()
        shapes[name] = [layer.out_features, layer.in_features, layer.bits]
        if layer.bias is not None:
            extra[f"{name}.bias"] = layer.bias.detach().float().cpu().contiguous()
    state = model.state_dict()
    for key in getattr(model, "_jlcm_permuted", ()):
        extra[key] = state[key].detach().cpu().contiguous()
    metadata = {"format": "jlcm", "layers": json.dumps(shapes)}
    save_file(tensors, str(folder / QUANTIZED_FILE), metadata=metadata)
    save_file(extra, str(folder / EXTRA_FILE), metadata={"format": "jlcm"})
    if save_config and hasattr(model, "config") and hasattr(model.config, "save_pretrained"):
        model.config.save_pretrained(folder)
    n_weights = sum(out * inp for out, inp, _ in shapes.values())
    size = (folder / QUANTIZED_FILE).stat().st_size
    return {
        "quantized_file": str(folder / QUANTIZED_FILE),
        "extra_file": str(folder / EXTRA_FILE),
        "bits_per_weight": 8.0 * size / n_weights,
        "n_weights": n_weights,
    }


def load_codebook_model(model: nn.Module, load_directory) -> nn.Module:
    """Rebuilds, in place, the quantized layers saved by [`save_codebook_model`] into `model` (the same architecture
    as the one quantized, e.g. a fresh `from_pretrained` or `from_config` of the base) and returns it."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    folder = Path(load_directory)
    path = folder / QUANTIZED_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (save with save_codebook_model)")
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    if metadata.get("format") != "jlcm":
        raise ValueError(f"{path} is not a JLCM file (metadata {metadata})")
    tensors = load_file(str(path))
    extra = load_file(str(folder / EXTRA_FILE)) if (folder / EXTRA_FILE).is_file() else {}
    for name, (out_features, in_features, bits) in json.loads(metadata["layers"]).items():
        try:
            linear = model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"the saved layer {name!r} is not in the model") from None
        if not isinstance(linear, nn.Linear) or tuple(linear.weight.shape) != (out_features, in_features):
            raise ValueError(f"{name}: expected an nn.Linear of shape ({out_features}, {in_features}), got {linear}")
        layer = CodebookLinear(
            in_features,
            out_features,
            bits=bits,
            group_sizes=tensors[f"{name}.group_sizes"].tolist(),
            bias=linear.bias is not None,
        )
        with torch.no_grad():
            layer.codebook.copy_(tensors[f"{name}.codebook"].float())
            layer.indices.copy_(unpack_bits(tensors[f"{name}.packed_indices"], bits, (out_features, in_features)))
            if layer.bias is not None:
                layer.bias.copy_(extra.pop(f"{name}.bias"))
        set_submodule(model, name, layer.to(linear.weight.device))
    if extra:
        state = model.state_dict()
        unknown = [k for k in extra if k not in state]
        if unknown:
            raise ValueError(f"{folder / EXTRA_FILE} holds tensors the model does not have: {unknown}")
        with torch.no_grad():
            for key, value in extra.items():
                state[key].copy_(value)
        model._jlcm_permuted = tuple(extra)
    return model


def codebook_bits_per_weight(path) -> float:
    """Bits per quantized weight of a saved model: 8 × size of `jlcm_quantized.safetensors` / number of weights."""
    from safetensors import safe_open

    path = Path(path)
    if path.is_dir():
        path = path / QUANTIZED_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (save with save_codebook_model)")
    with safe_open(str(path), framework="pt") as f:
        shapes = json.loads((f.metadata() or {}).get("layers", "{}"))
    n_weights = sum(out * inp for out, inp, _ in shapes.values())
    if not n_weights:
        raise ValueError(f"{path} holds no quantized layer")
    return 8.0 * path.stat().st_size / n_weights


def codebook_memory_footprint_bytes(model: nn.Module) -> int:
    """Bytes of `model` in its compressed form: each [`CodebookLinear`] as ceil(n·b/8) index bytes + float16
    codebooks + int32 group sizes (+ its bias), every other parameter and buffer at its own dtype's size."""
    layers = _require_layers(model)
    total = 0
    for layer in layers.values():
        total += math.ceil(layer.indices.numel() * layer.bits / 8) + 2 * layer.codebook.numel()
        total += 4 * layer.group_sizes.numel()
        if layer.bias is not None:
            total += layer.bias.numel() * layer.bias.element_size()
    inside = {id(t) for layer in layers.values() for t in (*layer.parameters(), *layer.buffers())}
    for tensor in (*model.parameters(), *model.buffers()):
        if id(tensor) not in inside:
            total += tensor.numel() * tensor.element_size()
    return total
