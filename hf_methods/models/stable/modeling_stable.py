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
"""PyTorch STABLE node classifier: the "advanced GCN" of Li et al. (KDD 2022, arXiv 2207.00012).

Self-contained (torch, transformers, safetensors and `configuration_stable.py` only) so that a saved checkpoint loads
with `AutoModel.from_pretrained(path, trust_remote_code=True)` without hf-methods. Graphs come as a PyTorch Geometric
`Data` / `Batch` (duck-typed: anything with `x` and `edge_index`; PyG is never imported here) or as plain tensors.

Adjacency convention: `adj[i, j]` is the weight of the edge j → i (row i lists the nodes that node i aggregates from),
so `edge_index` (source, target) in PyG's order gives `adj[target, source]`.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_stable import STABLEConfig


def advanced_normalize(adj: torch.Tensor, alpha: float) -> torch.Tensor:
    r"""
    The propagation matrix of STABLE's advanced GCN (paper Eq. 9; `adj_new_norm` of the official code):

        Ã = D^α (A + I) D^α,   D_ii = Σ_j (A + I)_ij,   then Ã_ij ← Ã_ij / Σ_k Ã_ik   if α ≠ −0.5

    At α = −0.5 it is the symmetric GCN normalisation D^{-1/2}(A + I)D^{-1/2}, left without the row normalisation
    (as in the official code). Degrees are row sums (incoming edges); the self loop keeps every degree ≥ 1.

    Args:
        adj (`torch.Tensor` of shape `(N, N)`): dense adjacency without self loops, `adj[i, j]` = weight of j → i.
        alpha (`float`): the exponent α.
    """
    if adj.dim() != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"`adj` must be a square (N, N) matrix, got shape {tuple(adj.shape)}.")
    looped = adj + torch.eye(adj.shape[0], dtype=adj.dtype, device=adj.device)
    degree = looped.sum(dim=1)
    if bool((degree <= 0).any()):
        raise ValueError("`adj` has negative edge weights that make a degree of A + I non-positive.")
    scale = degree.pow(alpha)
    normalized = scale[:, None] * looped * scale[None, :]
    if alpha != -0.5:
        normalized = normalized / normalized.sum(dim=1, keepdim=True)
    return normalized


def dense_adjacency(
    edge_index: torch.Tensor, num_nodes: int, edge_weight: torch.Tensor | None = None, dtype=torch.float32
) -> torch.Tensor:
    """`adj[target, source]` += weight for each edge of `edge_index` (source, target); repeated edges add up."""
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.shape[1], dtype=dtype, device=edge_index.device)
    adj = torch.zeros(num_nodes, num_nodes, dtype=dtype, device=edge_index.device)
    adj.index_put_((edge_index[1], edge_index[0]), edge_weight.to(dtype), accumulate=True)
    return adj


def _unpack_graph(x, edge_index, edge_weight, adjacency):
    """(x, edge_index, edge_weight, adjacency) from a PyG-like graph object or from tensors, checked."""
    if x is not None and not isinstance(x, torch.Tensor):  # a torch_geometric Data / Batch, duck-typed
        if not (hasattr(x, "x") and hasattr(x, "edge_index")):
            raise TypeError(
                "`x` must be a node-feature tensor (N, F) or a torch_geometric `Data`/`Batch` with `x` and "
                f"`edge_index`, got {type(x).__name__}."
            )
        if edge_index is not None or adjacency is not None:
            raise ValueError("Give a graph object or `x` with `edge_index`/`adjacency`, not both.")
        graph = x
        x, edge_index = graph.x, graph.edge_index
        if edge_weight is None:
            edge_weight = getattr(graph, "edge_weight", None)
        if x is None or edge_index is None:
            raise ValueError("The graph object needs node features `x` and an `edge_index`.")
    if not isinstance(x, torch.Tensor):
        raise ValueError("`x` (node features of shape (num_nodes, in_dim)) is required.")
    if x.dim() != 2:
        raise ValueError(f"`x` must have shape (num_nodes, in_dim), got {tuple(x.shape)}.")
    num_nodes = x.shape[0]
    if (edge_index is None) == (adjacency is None):
        raise ValueError("Give exactly one of `edge_index` (2, E) and a dense `adjacency` (N, N).")
    if edge_index is not None:
        if (
            not isinstance(edge_index, torch.Tensor)
            or edge_index.is_floating_point()
            or edge_index.dtype == torch.bool
        ):
            raise TypeError(
                f"`edge_index` must be an integer tensor of shape (2, E), got {type(edge_index).__name__}."
            )
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"`edge_index` must have shape (2, num_edges), got {tuple(edge_index.shape)}.")
        if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
            raise ValueError(f"`edge_index` holds node indices outside [0, {num_nodes}) (`x` has {num_nodes} rows).")
        if edge_weight is not None and tuple(edge_weight.shape) != (edge_index.shape[1],):
            raise ValueError(
                f"`edge_weight` must have shape ({edge_index.shape[1]},), got {tuple(edge_weight.shape)}."
            )
    else:
        if edge_weight is not None:
            raise ValueError("`edge_weight` goes with `edge_index`; a dense `adjacency` carries its own weights.")
        if not isinstance(adjacency, torch.Tensor) or tuple(adjacency.shape) != (num_nodes, num_nodes):
            raise ValueError(
                f"`adjacency` must be a dense tensor of shape ({num_nodes}, {num_nodes}), got "
                f"{tuple(getattr(adjacency, 'shape', ()))}."
            )
    return x, edge_index.long() if edge_index is not None else None, edge_weight, adjacency


@dataclass
class STABLENodeClassifierOutput(ModelOutput):
    r"""
    Output of [`STABLEForNodeClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            Cross-entropy over the labelled nodes (labels ≠ −100).
        logits (`torch.FloatTensor` of shape `(num_nodes, num_labels)`): class scores per node.
        hidden_states (`torch.FloatTensor` of shape `(num_nodes, hidden_size)`): the first layer's output.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: torch.FloatTensor | None = None


class STABLEGraphConvolution(nn.Module):
    """One GCN layer on a precomputed propagation matrix: `P @ (h W) + b` (weight stored as (in, out))."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))

    def forward(self, propagation: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        return propagation @ (hidden @ self.weight) + self.bias


class STABLEPreTrainedModel(PreTrainedModel):
    config: STABLEConfig
    config_class = STABLEConfig
    base_model_prefix = "stable"
    main_input_name = "x"
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
        """Kipf & Welling's GCN initialisation (as in the official code): U(−s, s), s = 1/√out, weights and biases."""
        if isinstance(module, STABLEGraphConvolution):
            bound = 1.0 / math.sqrt(module.weight.shape[1])
            init.uniform_(module.weight, -bound, bound)
            init.uniform_(module.bias, -bound, bound)


class STABLEForNodeClassification(STABLEPreTrainedModel):
    r"""
    STABLE's node classifier (Li et al., KDD 2022, §4.3): a two-layer GCN on the advanced propagation matrix

        Ã = D^α (A + I) D^α (rows normalised when α ≠ −0.5),   H = ReLU(Ã X W₁ + b₁),   logits = Ã dropout(H) W₂ + b₂

    (see [`advanced_normalize`]). In the STABLE pipeline X holds the contrastive node representations and A the
    graph refined from them (`hf_methods.models.stable.stable_refine_graph`); the model itself works on any graph and
    features, so with α = −0.5 it is the plain GCN.

    The graph is passed as a `torch_geometric.data.Data` / `Batch` (`model(data)`; its `edge_weight` is used when
    present), as `x` + `edge_index` (source, target) + optional `edge_weight`, or as `x` + a dense `adjacency`
    (`adjacency[i, j]` = weight of j → i). A `Batch` is one block-diagonal graph, so its graphs do not mix. Training is
    transductive: `labels` has one entry per node, −100 for nodes without a (training) label.
    """

    def __init__(self, config: STABLEConfig):
        super().__init__(config)
        self.conv1 = STABLEGraphConvolution(config.in_dim, config.hidden_size)
        self.conv2 = STABLEGraphConvolution(config.hidden_size, config.num_labels)
        self.dropout = nn.Dropout(config.dropout)
        self.post_init()

    def propagation_matrix(
        self,
        num_nodes: int,
        edge_index: torch.Tensor | None = None,
        edge_weight: torch.Tensor | None = None,
        adjacency: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Ã of the given graph at this model's α (float in the weights' dtype and device)."""
        weight = self.conv1.weight
        if adjacency is None:
            adjacency = dense_adjacency(edge_index.to(weight.device), num_nodes, edge_weight, dtype=weight.dtype)
        return advanced_normalize(adjacency.to(weight.device, weight.dtype), self.config.alpha)

    def forward(
        self,
        x=None,
        edge_index: torch.LongTensor | None = None,
        edge_weight: torch.Tensor | None = None,
        adjacency: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> STABLENodeClassifierOutput:
        r"""
        Args:
            x (`torch.FloatTensor` of shape `(num_nodes, in_dim)`, or a `torch_geometric` `Data` / `Batch`):
                node features, or the whole graph.
            edge_index (`torch.LongTensor` of shape `(2, num_edges)`): edges (source, target), PyG's order.
            edge_weight (`torch.FloatTensor` of shape `(num_edges,)`, *optional*): edge weights (default 1).
            adjacency (`torch.FloatTensor` of shape `(num_nodes, num_nodes)`): a dense graph instead of `edge_index`.
            labels (`torch.LongTensor` of shape `(num_nodes,)`, *optional*): node classes, −100 where unlabelled.
        """
        x, edge_index, edge_weight, adjacency = _unpack_graph(x, edge_index, edge_weight, adjacency)
        if x.shape[1] != self.config.in_dim:
            raise ValueError(f"`x` must have {self.config.in_dim} features per node (`in_dim`), got {x.shape[1]}.")
        weight = self.conv1.weight
        x = x.to(weight.device, weight.dtype)
        propagation = self.propagation_matrix(x.shape[0], edge_index, edge_weight, adjacency)
        hidden = F.relu(self.conv1(propagation, x))
        logits = self.conv2(propagation, self.dropout(hidden))
        loss = None
        if labels is not None:
            if labels.shape != (x.shape[0],):
                raise ValueError(f"`labels` must have shape ({x.shape[0]},) (one per node, -100 = none).")
            labels = labels.to(logits.device).long()
            known = labels != -100
            if bool(((labels[known] < 0) | (labels[known] >= self.config.num_labels)).any()):
                raise ValueError(f"`labels` must lie in [0, {self.config.num_labels}) or be -100 (unlabelled).")
            if not bool(known.any()):
                raise ValueError("`labels` has no labelled node (all -100): nothing to compute a loss on.")
            loss = F.cross_entropy(logits, labels, ignore_index=-100)
        return STABLENodeClassifierOutput(loss=loss, logits=logits, hidden_states=hidden)


STABLEForNodeClassification.register_for_auto_class("AutoModel")

__all__ = [
    "STABLEForNodeClassification",
    "STABLEGraphConvolution",
    "STABLENodeClassifierOutput",
    "STABLEPreTrainedModel",
    "advanced_normalize",
    "dense_adjacency",
]
