"""Neuron re-ordering (JLCM, Yvinec, Dapogny & Bailly, ICLR 2024): grouped codebooks without a mapping overhead.

Output neurons (rows of a layer's weight) with similar weight distributions are clustered into G groups and permuted
so every group is a contiguous block of rows: a grouped codebook then needs only the G group sizes, not a
row-to-group index. The permutation π is compensated in the layers that read those neurons,

    W_prod ← P_π W_prod,   b_prod ← P_π b_prod,   W_cons ← W_cons P_πᵀ,

which leaves the function unchanged whenever the neurons pass through element-wise operations only between the
producers and the consumers (ReLU, GELU, SiLU, dropout, and the gate ⊙ up product of a gated MLP).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

ELEMENTWISE = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.ELU,
    nn.Mish,
    nn.Softplus,
    nn.Dropout,
    nn.Identity,
)
ROW_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HEAD_NAMES = ("classifier", "score")


@dataclass(frozen=True)
class NeuronPair:
    """Layers sharing one set of neurons: `producers` (their rows are the neurons) and `consumers` (their input
    columns read them). The names are module paths of `nn.Linear` layers."""

    producers: tuple[str, ...]
    consumers: tuple[str, ...]

    def __post_init__(self):
        if not self.producers or not self.consumers:
            raise ValueError(f"a NeuronPair needs at least one producer and one consumer, got {self}")


def as_neuron_pair(pair) -> NeuronPair:
    if isinstance(pair, NeuronPair):
        return pair
    try:
        producers, consumers = pair
    except (TypeError, ValueError):
        raise TypeError(f"a neuron pair must be NeuronPair or (producers, consumers), got {pair!r}") from None
    as_tuple = lambda names: (names,) if isinstance(names, str) else tuple(names)  # noqa: E731
    return NeuronPair(as_tuple(producers), as_tuple(consumers))


def find_neuron_pairs(model: nn.Module) -> list[NeuronPair]:
    """The producer/consumer pairs found in `model`'s structure:

    - inside an `nn.Sequential`: a Linear followed, through element-wise modules only, by another Linear;
    - a gated MLP (a module with `gate_proj`, `up_proj` and `down_proj` Linears: Llama, Mistral, Qwen, ...):
      `(gate_proj, up_proj) → down_proj`;
    - a Sequential body ending in a Linear (then element-wise modules) read by the model's top-level `classifier` or
      `score` Linear (the hf-methods MLP classifier).

    The list is a structural guess: [`reorder_neurons`] checks numerically that the outputs did not change.
    """
    pairs, open_tails = [], []
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, nn.Sequential):
            previous = None
            for child_name, child in module.named_children():
                if isinstance(child, nn.Linear):
                    if previous is not None and previous[1].out_features == child.in_features:
                        pairs.append(NeuronPair((prefix + previous[0],), (prefix + child_name,)))
                    previous = (child_name, child)
                elif not isinstance(child, ELEMENTWISE):
                    previous = None
            if previous is not None:
                open_tails.append((prefix + previous[0], previous[1]))
        linears = [getattr(module, a, None) for a in ("gate_proj", "up_proj", "down_proj")]
        if all(isinstance(m, nn.Linear) for m in linears):
            pairs.append(NeuronPair((prefix + "gate_proj", prefix + "up_proj"), (prefix + "down_proj",)))
    for head_name in HEAD_NAMES:
        head = getattr(model, head_name, None)
        if isinstance(head, nn.Linear):
            tails = [name for name, tail in open_tails if tail.out_features == head.in_features]
            if len(tails) == 1:
                pairs.append(NeuronPair((tails[0],), (head_name,)))
    return pairs


def row_features(weights: Iterable[torch.Tensor]) -> np.ndarray:
    """Per output neuron, the quantiles `ROW_QUANTILES` of its weights in each producer, standardised per column:
    what [`neuron_groups`] clusters (neurons whose weights are similarly distributed end up in one group)."""
    columns = [torch.quantile(w.detach().float().cpu(), torch.tensor(ROW_QUANTILES), dim=1).T for w in weights]
    features = torch.cat(columns, dim=1).double().numpy()
    std = features.std(0)
    return (features - features.mean(0)) / np.where(std > 0, std, 1.0)


def neuron_groups(weights: Iterable[torch.Tensor], n_groups: int, *, seed: int = 0) -> tuple[torch.Tensor, list[int]]:
    """Clusters the output neurons (rows) of one or more producers sharing them into `n_groups` groups by k-means
    (scikit-learn) on [`row_features`]; returns the permutation that makes the groups contiguous (groups ordered by
    their mean row spread, rows in their original order within a group) and the group sizes."""
    from sklearn.cluster import KMeans

    weights = list(weights)
    if not weights or any(w.dim() != 2 or w.shape[0] != weights[0].shape[0] for w in weights):
        raise ValueError("weights must be 2-D tensors with the same number of rows (output neurons)")
    rows = weights[0].shape[0]
    if isinstance(n_groups, bool) or not isinstance(n_groups, int) or not 1 <= n_groups <= rows:
        raise ValueError(f"n_groups must be an int in [1, {rows}] (the number of neurons), got {n_groups!r}")
    if n_groups == 1:
        return torch.arange(rows), [rows]
    features = row_features(weights)
    labels = KMeans(n_clusters=n_groups, n_init=10, random_state=seed).fit_predict(features)
    spread = weights[0].detach().float().cpu().std(dim=1).numpy()
    order = np.argsort([spread[labels == c].mean() if (labels == c).any() else np.inf for c in range(n_groups)])
    rank = np.empty(n_groups, dtype=np.int64)
    rank[order] = np.arange(n_groups)
    perm = torch.from_numpy(np.argsort(rank[labels], kind="stable"))
    sizes = [int((labels == c).sum()) for c in order if (labels == c).any()]
    return perm, sizes


@torch.no_grad()
def permute_neurons(model: nn.Module, pair, perm: torch.Tensor) -> list[str]:
    """Applies the permutation `perm` to the neurons of `pair`: rows (and biases) of the producers, input columns of
    the consumers, in place. Returns the state-dict keys of the tensors it changed."""
    pair = as_neuron_pair(pair)
    producers = [_linear(model, n) for n in pair.producers]
    consumers = [_linear(model, n) for n in pair.consumers]
    size = producers[0].out_features
    if any(p.out_features != size for p in producers) or any(c.in_features != size for c in consumers):
        raise ValueError(f"{pair}: producers' out_features and consumers' in_features must all be equal")
    perm = torch.as_tensor(perm, dtype=torch.long)
    if perm.shape != (size,) or not torch.equal(perm.sort().values, torch.arange(size)):
        raise ValueError(f"perm must be a permutation of range({size}), got shape {tuple(perm.shape)}")
    changed = []
    for name, layer in zip(pair.producers, producers):
        layer.weight.copy_(layer.weight[perm.to(layer.weight.device)])
        changed.append(f"{name}.weight")
        if layer.bias is not None:
            layer.bias.copy_(layer.bias[perm.to(layer.bias.device)])
            changed.append(f"{name}.bias")
    for name, layer in zip(pair.consumers, consumers):
        layer.weight.copy_(layer.weight[:, perm.to(layer.weight.device)])
        changed.append(f"{name}.weight")
    return changed


def _linear(model: nn.Module, name: str) -> nn.Linear:
    try:
        module = model.get_submodule(name)
    except AttributeError:
        raise ValueError(f"neuron pair names {name!r}, which is not a module of the model") from None
    if not isinstance(module, nn.Linear):
        raise ValueError(f"neuron pair names {name!r}, a {type(module).__name__}; only nn.Linear layers are supported")
    return module


def reorder_neurons(
    model: nn.Module, n_groups: int, *, pairs=None, seed: int = 0
) -> tuple[dict[str, list[int]], list[str]]:
    """Groups and re-orders the neurons of every pair of `model` (default: [`find_neuron_pairs`]) in place.

    Returns `({producer name: group sizes}, changed state-dict keys)`. The function of the model is unchanged (see
    the module doc); [`JLCMQuantizer`] checks it on the calibration data.
    """
    pairs = [as_neuron_pair(p) for p in (find_neuron_pairs(model) if pairs is None else pairs)]
    seen = [name for p in pairs for name in p.producers]
    if len(set(seen)) != len(seen):
        raise ValueError(f"a layer is the producer of two neuron pairs: {pairs}")
    groups, changed = {}, []
    for pair in pairs:
        perm, sizes = neuron_groups([_linear(model, n).weight for n in pair.producers], n_groups, seed=seed)
        changed += permute_neurons(model, pair, perm)
        for name in pair.producers:
            groups[name] = sizes
    return groups, changed
