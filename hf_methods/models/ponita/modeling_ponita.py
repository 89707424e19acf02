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
"""PyTorch PONITA (Bekkers, Vadgama, Hesselink, van der Linden, Romero; ICLR 2024).

A port of the official code (ebekkers/ponita, PyTorch Geometric; ebekkers/ponita-torch, pure PyTorch) with its graph
pieces (scatter sums, radius graph, the orientation grids, the lift of a point cloud to position-orientation space)
written here in plain torch. This file is self-contained (torch, transformers, safetensors and its own
configuration only), so that a saved checkpoint loads with `AutoModel.from_pretrained(path, trust_remote_code=True)`
without hf-methods or PyTorch Geometric installed. A `torch_geometric.data.Data` / `Batch` is accepted by duck typing
(its `x`, `pos`, `edge_index`, `batch`, `vec` attributes).
"""

import math
from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_ponita import PonitaConfig

# --------------------------------------------------------------------------------------------------- graph helpers


def scatter_sum(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """out[k] = Σ_{e : index[e] = k} src[e], along the first axis (`torch.Tensor.index_add_`)."""
    out = src.new_zeros((dim_size, *src.shape[1:]))
    return out.index_add_(0, index, src)


def scatter_mean(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """out[k] = mean of src[e] over {e : index[e] = k} (0 for an empty group), along the first axis."""
    total = scatter_sum(src, index, dim_size)
    count = scatter_sum(torch.ones_like(index, dtype=src.dtype), index, dim_size).clamp_min(1)
    return total / count.view(-1, *([1] * (src.dim() - 1)))


def fibonacci_sphere(num_points: int, dtype=torch.float64, device=None, offset: float = 0.5) -> torch.Tensor:
    r"""
    A near-uniform grid of `num_points` unit vectors on S² (Fibonacci spiral), as in ponita-torch:

        θ_i = π i (1 + √5) mod 2π,   φ_i = arccos(1 − 2 (i + offset) / (n − 1 + 2 offset)),
        o_i = (cos θ_i sin φ_i, sin θ_i sin φ_i, cos φ_i).

    Returns:
        `torch.Tensor` of shape `(num_points, 3)`.
    """
    i = torch.arange(num_points, dtype=torch.float64, device=device)
    theta = (math.pi * i * (1 + math.sqrt(5))) % (2 * math.pi)
    phi = torch.acos((1 - 2 * (i + offset) / (num_points - 1 + 2 * offset)).clamp(-1.0, 1.0))
    grid = torch.stack((torch.cos(theta) * torch.sin(phi), torch.sin(theta) * torch.sin(phi), torch.cos(phi)), -1)
    return grid.to(dtype)


def circle_grid(num_points: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """`num_points` unit vectors on S¹ at the angles 2πk / num_points, k = 0..num_points−1; shape `(num_points, 2)`."""
    angles = 2 * math.pi * torch.arange(num_points, dtype=torch.float64, device=device) / num_points
    return torch.stack((torch.cos(angles), torch.sin(angles)), -1).to(dtype)


def orientation_grid(num_ori: int, spatial_dim: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """The fixed orientation grid of fiber-bundle mode: S² (Fibonacci) for n = 3, S¹ (uniform angles) for n = 2."""
    if spatial_dim == 3:
        return fibonacci_sphere(num_ori, dtype=dtype, device=device)
    return circle_grid(num_ori, dtype=dtype, device=device)


def radius_graph(
    pos: torch.Tensor, radius: float | None, batch: torch.Tensor | None = None, loop: bool = False
) -> torch.Tensor:
    """
    Edges j → i between the points of the same graph with ‖p_j − p_i‖ ≤ `radius` (all pairs when `radius` is None),
    as a `(2, E)` index of (source j, target i), sorted by target then source. Dense O(N²); fine for small clouds.
    """
    num_nodes = pos.shape[0]
    if batch is None:
        batch = torch.zeros(num_nodes, dtype=torch.long, device=pos.device)
    connected = batch[:, None] == batch[None, :]
    if radius is not None:
        # explicit differences rather than `torch.cdist`, whose matmul shortcut is not exactly rotation invariant
        connected &= (pos.detach()[:, None, :] - pos.detach()[None, :, :]).norm(dim=-1) <= radius
    if not loop:
        connected.fill_diagonal_(False)
    target, source = connected.nonzero(as_tuple=True)
    return torch.stack((source, target))


def _coalesce(edge_index: torch.Tensor, num_nodes: int, self_loops: bool) -> torch.Tensor:
    """Drops duplicate edges and self-loops, adds one self-loop per node when `self_loops`; sorted by target."""
    source, target = edge_index
    keep = source != target
    keys = torch.unique(target[keep] * num_nodes + source[keep])
    if self_loops:
        nodes = torch.arange(num_nodes, device=edge_index.device)
        keys = torch.unique(torch.cat((keys, nodes * num_nodes + nodes)))
    return torch.stack((keys % num_nodes, keys // num_nodes))


# ------------------------------------------------------------------------------------------- invariant attributes


def fiber_bundle_attributes(pos: torch.Tensor, ori_grid: torch.Tensor, edge_index: torch.Tensor):
    r"""
    Invariant attributes of the separable fiber-bundle convolution (paper §4; `ponita/geometry/invariants.py`).

    For an edge j → i (sender j, receiver i) and a grid orientation o, with the official sign convention
    rel = p_j − p_i:

        a₁ = oᵀ(p_j − p_i)                      displacement along o
        a₂ = ‖(p_j − p_i) − a₁ o‖               (n = 3) displacement orthogonal to o
        a₂ = o_x (p_j − p_i)_y − o_y (p_j − p_i)_x   (n = 2) signed orthogonal displacement
        a₃(o, o') = oᵀo'                        fiber attribute between two grid orientations

    Returns:
        `(spatial, fiber, dists)`: `(E, O, 2)`, `(O, O, 1)` and the edge lengths `(E, 1)`.
    """
    rel = pos[edge_index[0]] - pos[edge_index[1]]  # p_j − p_i
    along = rel @ ori_grid.T  # (E, O): a₁
    if pos.shape[-1] == 3:
        across = (rel[:, None, :] - along[..., None] * ori_grid[None]).norm(dim=-1)
    else:
        across = rel[:, None, 1] * ori_grid[None, :, 0] - rel[:, None, 0] * ori_grid[None, :, 1]
    spatial = torch.stack((along, across), dim=-1)
    fiber = (ori_grid @ ori_grid.T)[..., None]
    return spatial, fiber, rel.norm(dim=-1, keepdim=True)


def point_cloud_attributes(pos: torch.Tensor, ori: torch.Tensor, edge_index: torch.Tensor):
    r"""
    Invariant attributes between lifted points (p_j, o_j) → (p_i, o_i) of position-orientation space (point-cloud
    mode; `invariant_attr_r3s2_point_cloud` of the official code), with rel = p_j − p_i:

        a₁ = o_iᵀ(p_j − p_i),   a₂ = ‖(p_j − p_i) − a₁ o_i‖ (n = 3; signed 2-D cross product for n = 2),   a₃ = o_iᵀo_j.

    These three numbers identify the pair up to SE(n) (paper, Thm. 1), so a kernel of them is exactly equivariant.

    Returns:
        `(attributes, dists)` of shapes `(E, 3)` and `(E, 1)`.
    """
    source, target = edge_index
    rel = pos[source] - pos[target]
    ori_receive, ori_send = ori[target], ori[source]
    along = (rel * ori_receive).sum(-1)
    if pos.shape[-1] == 3:
        across = (rel - along[:, None] * ori_receive).norm(dim=-1)
    else:
        across = rel[:, 1] * ori_receive[:, 0] - rel[:, 0] * ori_receive[:, 1]
    fiber = (ori_send * ori_receive).sum(-1)
    return torch.stack((along, across, fiber), dim=-1), rel.norm(dim=-1, keepdim=True)


@dataclass
class LiftedPointCloud:
    """A point cloud lifted to position-orientation space: one lifted point per directed edge j → i of the input.

    Attributes:
        base (`torch.LongTensor` of shape `(L,)`): the input node i each lifted point sits on.
        ori (`torch.Tensor` of shape `(L, n)`): its orientation (p_j − p_i) / ‖p_j − p_i‖.
        edge_index (`torch.LongTensor` of shape `(2, E_L)`): lifted edges; every lifted point at base node s sends
            to every lifted point at base node t, for each input edge s → t and each self-loop t → t.
    """

    base: torch.Tensor
    ori: torch.Tensor
    edge_index: torch.Tensor


def lift_point_cloud(pos: torch.Tensor, edge_index: torch.Tensor) -> LiftedPointCloud:
    """
    Lifts a point cloud with edges `edge_index` (self-loops and duplicates are dropped) to position-orientation
    space, as `PositionOrientationGraph(num_ori=-1)` of the official code (there with a `SparseTensor` lookup).
    """
    num_nodes = pos.shape[0]
    edges = _coalesce(edge_index, num_nodes, self_loops=False)  # sorted by target: lifted points grouped by base
    source, target = edges
    rel = pos[source] - pos[target]
    ori = rel / rel.norm(dim=-1, keepdim=True)
    degree = torch.bincount(target, minlength=num_nodes)
    start = torch.cumsum(degree, 0) - degree  # first lifted point of each base node

    # base edges s → t (the input edges plus one self-loop per node): all (lifted at s) × (lifted at t) pairs
    base_source, base_target = _coalesce(edge_index, num_nodes, self_loops=True)
    pairs = degree[base_source] * degree[base_target]
    edge_of_pair = torch.repeat_interleave(torch.arange(pairs.numel(), device=pos.device), pairs)
    first_pair = torch.cumsum(pairs, 0) - pairs
    k = torch.arange(edge_of_pair.numel(), device=pos.device) - first_pair[edge_of_pair]
    width = degree[base_target][edge_of_pair]
    lifted_source = start[base_source][edge_of_pair] + torch.div(k, width, rounding_mode="floor")
    lifted_target = start[base_target][edge_of_pair] + k % width
    return LiftedPointCloud(base=target, ori=ori, edge_index=torch.stack((lifted_source, lifted_target)))


def polynomial_features(attributes: torch.Tensor, degree: int) -> torch.Tensor:
    """All monomials of degree 1..`degree` of the last axis (with repeats, as the official `PolynomialFeatures`)."""
    terms = [attributes]
    for _ in range(degree - 1):
        terms.append((terms[-1][..., :, None] * attributes[..., None, :]).flatten(-2))
    return torch.cat(terms, dim=-1)


def polynomial_cutoff(dists: torch.Tensor, radius: float | None, p: int = 6) -> torch.Tensor:
    r"""
    Smooth cutoff window of DimeNet (Klicpera et al., ICLR 2020, eq. 8), used by the official code, with d = r / radius:

        w(d) = 1 − (p+1)(p+2)/2 · d^p + p(p+2) · d^{p+1} − p(p+1)/2 · d^{p+2}   for d < 1, else 0.

    Ones when `radius` is None.
    """
    if radius is None:
        return torch.ones_like(dists)
    d = dists / radius
    window = 1 - (p + 1) * (p + 2) / 2 * d**p + p * (p + 2) * d ** (p + 1) - p * (p + 1) / 2 * d ** (p + 2)
    return window * (d < 1)


# -------------------------------------------------------------------------------------------------------- modules


class PonitaKernelBasis(nn.Module):
    """Kernel basis of the invariant attributes: polynomial features → Linear → GELU → Linear → GELU."""

    def __init__(self, attribute_dim: int, degree: int, hidden_dim: int, basis_dim: int):
        super().__init__()
        self.degree = degree
        num_features = sum(attribute_dim**k for k in range(1, degree + 1))
        self.linear_1 = nn.Linear(num_features, hidden_dim)
        self.linear_2 = nn.Linear(hidden_dim, basis_dim)
        self.act = nn.GELU()

    def forward(self, attributes: torch.Tensor) -> torch.Tensor:
        features = polynomial_features(attributes, self.degree)
        return self.act(self.linear_2(self.act(self.linear_1(features))))


class PonitaConv(nn.Module):
    r"""
    Depthwise (separable) group convolution. Spatial part, over the edges j → i:

        x₁[i, o, c] = Σ_j k_c(a₁, a₂)(i, j, o) · x[j, o, c]

    and, in fiber-bundle mode, the fiber part over the orientation grid (O points):

        x₂[i, o', c] = (1/O) Σ_o k_c(a₃(o, o')) · x₁[i, o, c],

    then a bias. In point-cloud mode there is no orientation axis; the lifted points' orientations enter through a₃
    in the spatial kernel. `calibrate=True` rescales the kernels once so that std(x₁) = std(x) and std(x₂) = std(x₁),
    the official code's initialisation fix.
    """

    def __init__(self, channels: int, basis_dim: int, fiber: bool):
        super().__init__()
        self.kernel = nn.Linear(basis_dim, channels, bias=False)
        self.fiber_kernel = nn.Linear(basis_dim, channels, bias=False) if fiber else None
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x, edge_index, kernel_basis, fiber_kernel_basis=None, calibrate: bool = False):
        message = x[edge_index[0]] * self.kernel(kernel_basis)
        out = scatter_sum(message, edge_index[1], x.shape[0])
        if calibrate:
            scale = x.std() / out.std()
            self.kernel.weight.mul_(scale)
            out = out * scale
        if self.fiber_kernel is not None:
            fiber_kernel = self.fiber_kernel(fiber_kernel_basis)  # (O, O', C)
            fiber_out = torch.einsum("noc,opc->npc", out, fiber_kernel) / fiber_kernel.shape[0]
            if calibrate:
                scale = out.std() / fiber_out.std()
                self.fiber_kernel.weight.mul_(scale)
                fiber_out = fiber_out * scale
            out = fiber_out
        return out + self.bias


class PonitaBlock(nn.Module):
    """ConvNeXt block: conv → LayerNorm → Linear(C, wC) → GELU → Linear(wC, C) → layer scale → + input."""

    def __init__(self, config: PonitaConfig):
        super().__init__()
        channels = config.hidden_dim
        self.conv = PonitaConv(channels, config.kernel_basis_dim, fiber=not config.point_cloud)
        self.norm = nn.LayerNorm(channels)
        self.linear_1 = nn.Linear(channels, config.widening_factor * channels)
        self.linear_2 = nn.Linear(config.widening_factor * channels, channels)
        self.act = nn.GELU()
        if config.layer_scale is not None:
            self.layer_scale = nn.Parameter(torch.full((channels,), config.layer_scale))
        else:
            self.layer_scale = None

    def forward(self, x, edge_index, kernel_basis, fiber_kernel_basis=None, calibrate: bool = False):
        out = self.conv(x, edge_index, kernel_basis, fiber_kernel_basis, calibrate=calibrate)
        out = self.linear_2(self.act(self.linear_1(self.norm(out))))
        if self.layer_scale is not None:
            out = self.layer_scale * out
        return out + x


# ---------------------------------------------------------------------------------------------------------- model


@dataclass
class PonitaOutput(ModelOutput):
    r"""
    Output of [`PonitaModel`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` or `vector_labels` is provided):
            Mean squared error of the scalar predictions plus that of the vector predictions.
        scalars (`torch.FloatTensor` of shape `(G or N, output_dim)`, *optional*):
            Invariant predictions, per graph (`task_level="graph"`) or per node; `None` when `output_dim == 0`.
        vectors (`torch.FloatTensor` of shape `(G or N, output_dim_vec, n)`, *optional*):
            Equivariant vector predictions; `None` when `output_dim_vec == 0`.
    """

    loss: torch.FloatTensor | None = None
    scalars: torch.FloatTensor | None = None
    vectors: torch.FloatTensor | None = None


class PonitaPreTrainedModel(PreTrainedModel):
    config: PonitaConfig
    config_class = PonitaConfig
    base_model_prefix = "ponita"
    main_input_name = "pos"
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
        """PyTorch's default `nn.Linear` initialisation (as the official code); unit LayerNorms; zero conv bias."""
        if isinstance(module, nn.Linear):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.in_features)
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, PonitaConv):
            init.zeros_(module.bias)
        elif isinstance(module, PonitaBlock) and module.layer_scale is not None:
            init.constant_(module.layer_scale, self.config.layer_scale)
        elif isinstance(module, PonitaModel):
            init.zeros_(module.calibrated)


def _is_graph(value) -> bool:
    """A `torch_geometric.data.Data` / `Batch` (or anything with the same attributes), recognised without importing."""
    return value is not None and not isinstance(value, torch.Tensor) and hasattr(value, "pos")


class PonitaModel(PonitaPreTrainedModel):
    r"""
    PONITA (Bekkers et al., ICLR 2024): ConvNeXt blocks of separable group convolutions over position-orientation
    space, whose kernels are functions of the invariant attributes of point pairs (weight sharing over SE(n)).

    Inputs are lifted to functions on the sphere (scalars: constant; vectors: f(o) = vᵀo), embedded linearly, passed
    through `num_layers` blocks and read out after each block (averaged). Scalars are the mean over the orientations;
    vectors are (1/O) Σ_o f(o)·o. With `task_level="graph"` both are summed over the nodes of each graph.

    Args:
        config ([`PonitaConfig`]):
            Model configuration.
    """

    def __init__(self, config: PonitaConfig):
        super().__init__(config)
        basis_dim = config.kernel_basis_dim
        self.basis_fn = PonitaKernelBasis(3 if config.point_cloud else 2, config.degree, config.hidden_dim, basis_dim)
        self.fiber_basis_fn = (
            None if config.point_cloud else PonitaKernelBasis(1, config.degree, config.hidden_dim, basis_dim)
        )
        self.x_embedder = nn.Linear(config.input_dim + config.input_dim_vec, config.hidden_dim, bias=False)
        self.layers = nn.ModuleList(PonitaBlock(config) for _ in range(config.num_layers))
        num_readouts = config.num_layers if config.multiple_readouts else 1
        self.readouts = nn.ModuleList(
            nn.Linear(config.hidden_dim, config.output_dim + config.output_dim_vec) for _ in range(num_readouts)
        )
        # Set once by `calibrate` (the official code's one-time rescaling of the kernels) and saved with the weights.
        self.register_buffer("calibrated", torch.zeros((), dtype=torch.bool), persistent=True)
        self.post_init()

    # ---------------------------------------------------------------------------------------------- input handling

    def _unpack(self, x, pos, edge_index, batch, vec, num_graphs):
        if _is_graph(x):
            if any(v is not None for v in (pos, edge_index, batch, vec)):
                raise ValueError(
                    "Pass either a graph (a torch_geometric `Data`/`Batch` as the first argument) or the tensors "
                    "`x`, `pos`, `edge_index`, `batch`, `vec`, not both."
                )
            graph = x
            x, pos = getattr(graph, "x", None), graph.pos
            edge_index, batch = getattr(graph, "edge_index", None), getattr(graph, "batch", None)
            vec = getattr(graph, "vec", None)
            if num_graphs is None and batch is not None and isinstance(getattr(graph, "num_graphs", None), int):
                num_graphs = graph.num_graphs
        return x, pos, edge_index, batch, vec, num_graphs

    def _check_inputs(self, x, pos, edge_index, batch, vec, num_graphs):
        config = self.config
        n = config.spatial_dim
        if not isinstance(pos, torch.Tensor) or not pos.is_floating_point():
            raise TypeError(f"`pos` must be a floating-point torch.Tensor, got {type(pos).__name__}.")
        if pos.dim() != 2 or pos.shape[1] != n:
            raise ValueError(f"`pos` must have shape (num_nodes, spatial_dim={n}), got {tuple(pos.shape)}.")
        num_nodes = pos.shape[0]
        if num_nodes == 0:
            raise ValueError("`pos` must hold at least one point.")
        if config.input_dim > 0:
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"`x` must be a torch.Tensor of shape (num_nodes, {config.input_dim}), got {x!r}.")
            if x.dim() == 1 and config.input_dim == 1:
                x = x[:, None]
            if x.shape != (num_nodes, config.input_dim):
                raise ValueError(
                    f"`x` must have shape (num_nodes={num_nodes}, input_dim={config.input_dim}), got {tuple(x.shape)}."
                )
        elif x is not None:
            raise ValueError("`x` was given but the config has `input_dim=0`.")
        if config.input_dim_vec > 0:
            if not isinstance(vec, torch.Tensor):
                raise TypeError(
                    f"`vec` must be a torch.Tensor of shape (num_nodes, {config.input_dim_vec}, {n}), got {vec!r}."
                )
            if vec.dim() == 2 and config.input_dim_vec == 1:
                vec = vec[:, None, :]
            if vec.shape != (num_nodes, config.input_dim_vec, n):
                raise ValueError(
                    f"`vec` must have shape (num_nodes={num_nodes}, input_dim_vec={config.input_dim_vec}, {n}), "
                    f"got {tuple(vec.shape)}."
                )
        elif vec is not None:
            raise ValueError("`vec` was given but the config has `input_dim_vec=0`.")
        if batch is None:
            batch = torch.zeros(num_nodes, dtype=torch.long, device=pos.device)
        elif not isinstance(batch, torch.Tensor) or batch.dtype != torch.long or batch.shape != (num_nodes,):
            raise ValueError(f"`batch` must be a LongTensor of shape (num_nodes={num_nodes},) of graph ids.")
        elif batch.min() < 0:
            raise ValueError("`batch` must hold graph ids >= 0.")
        needed = int(batch.max()) + 1
        if num_graphs is None:
            num_graphs = needed
        elif num_graphs < needed:
            raise ValueError(f"`num_graphs` ({num_graphs}) is smaller than the largest graph id in `batch` + 1.")
        if edge_index is not None:
            if not isinstance(edge_index, torch.Tensor) or edge_index.dtype != torch.long:
                raise TypeError("`edge_index` must be a LongTensor of shape (2, num_edges).")
            if edge_index.dim() != 2 or edge_index.shape[0] != 2:
                raise ValueError(f"`edge_index` must have shape (2, num_edges), got {tuple(edge_index.shape)}.")
            if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
                raise ValueError(f"`edge_index` must hold node indices in [0, {num_nodes}).")
            if (batch[edge_index[0]] != batch[edge_index[1]]).any():
                raise ValueError("`edge_index` connects nodes of different graphs (see `batch`).")
        return x, pos, edge_index, batch, vec, num_graphs

    # ------------------------------------------------------------------------------------------------------- forward

    def _trunk(self, x, pos, edge_index, batch, vec, num_graphs, calibrate=False):
        config = self.config
        dtype = pos.dtype
        x = None if x is None else x.to(dtype)
        vec = None if vec is None else vec.to(dtype)
        if edge_index is None:
            edge_index = radius_graph(pos, config.radius, batch, loop=False)

        if config.point_cloud:
            lifted = lift_point_cloud(pos, edge_index)
            attributes, dists = point_cloud_attributes(pos[lifted.base], lifted.ori, lifted.edge_index)
            kernel_basis = self.basis_fn(attributes) * polynomial_cutoff(dists, config.radius)
            fiber_kernel_basis = None
            # inputs on the lifted points: scalars of the base node, vectors as f = vᵀo
            parts = [] if x is None else [x[lifted.base]]
            if vec is not None:
                parts.append(torch.einsum("lcd,ld->lc", vec[lifted.base], lifted.ori))
            features = torch.cat(parts, dim=-1)
            graph_edges = lifted.edge_index
        else:
            ori_grid = orientation_grid(config.num_ori, config.spatial_dim, dtype=dtype, device=pos.device)
            graph_edges = _coalesce(edge_index, pos.shape[0], self_loops=True)
            spatial, fiber, dists = fiber_bundle_attributes(pos, ori_grid, graph_edges)
            kernel_basis = self.basis_fn(spatial) * polynomial_cutoff(dists, config.radius)[:, None, :]
            fiber_kernel_basis = self.fiber_basis_fn(fiber)
            # inputs on the sphere of each node: scalars constant over o, vectors as f(o) = vᵀo
            parts = [] if x is None else [x[:, None, :].expand(-1, ori_grid.shape[0], -1)]
            if vec is not None:
                parts.append(torch.einsum("ncd,od->noc", vec, ori_grid))
            features = torch.cat(parts, dim=-1)

        hidden = self.x_embedder(features)
        readouts = []
        for i, layer in enumerate(self.layers):
            hidden = layer(hidden, graph_edges, kernel_basis, fiber_kernel_basis, calibrate=calibrate)
            if config.multiple_readouts:
                readouts.append(self.readouts[i](hidden))
        if not config.multiple_readouts:
            readouts.append(self.readouts[0](hidden))
        readout = sum(readouts) / len(readouts)
        readout_scalar, readout_vec = readout.split([config.output_dim, config.output_dim_vec], dim=-1)

        if config.point_cloud:
            # collect the lifted points' predictions on their base point
            scalars = scatter_mean(readout_scalar, lifted.base, pos.shape[0])
            vectors = scatter_mean(readout_vec[..., None] * lifted.ori[:, None, :], lifted.base, pos.shape[0])
        else:
            scalars = readout_scalar.mean(dim=1)  # mean over the sphere
            vectors = torch.einsum("noc,od->ncd", readout_vec, ori_grid) / ori_grid.shape[0]  # (1/O) Σ_o f(o)·o
        if config.task_level == "graph":
            scalars = scatter_sum(scalars, batch, num_graphs)
            vectors = scatter_sum(vectors, batch, num_graphs)
        return (scalars if config.output_dim else None), (vectors if config.output_dim_vec else None)

    def forward(
        self,
        x=None,
        pos: torch.Tensor | None = None,
        edge_index: torch.Tensor | None = None,
        batch: torch.Tensor | None = None,
        vec: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        vector_labels: torch.Tensor | None = None,
        num_graphs: int | None = None,
        return_dict: bool | None = None,
    ) -> PonitaOutput | tuple:
        r"""
        Args:
            x (`torch.FloatTensor` of shape `(N, input_dim)`, or a `torch_geometric.data.Data` / `Batch`):
                Scalar node features; or a graph object carrying `x`, `pos`, `edge_index`, `batch` and `vec`.
            pos (`torch.FloatTensor` of shape `(N, n)`):
                Node positions (their dtype sets the compute dtype of the geometry).
            edge_index (`torch.LongTensor` of shape `(2, E)`, *optional*):
                Edges (source j, target i); messages flow j → i. When absent, a radius graph (`config.radius`,
                fully connected when None) is built within each graph.
            batch (`torch.LongTensor` of shape `(N,)`, *optional*):
                Graph id of each node (all zeros when absent).
            vec (`torch.FloatTensor` of shape `(N, input_dim_vec, n)`, *optional*):
                Vector node features (e.g. velocities).
            labels (`torch.FloatTensor` of shape like `scalars`, *optional*):
                Scalar targets; `(G,)` is accepted when `output_dim == 1`.
            vector_labels (`torch.FloatTensor` of shape like `vectors`, *optional*):
                Vector targets; `(G or N, n)` is accepted when `output_dim_vec == 1`.
            num_graphs (`int`, *optional*):
                Number of graphs (defaults to `batch.max() + 1`, or the `Batch`'s `num_graphs`).
            return_dict (`bool`, *optional*):
                Whether to return a [`PonitaOutput`] instead of a plain tuple.

        Returns:
            [`PonitaOutput`] or `tuple(torch.FloatTensor)`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        inputs = self._check_inputs(*self._unpack(x, pos, edge_index, batch, vec, num_graphs))
        scalars, vectors = self._trunk(*inputs)
        loss = None
        if labels is not None:
            loss = self._mse(scalars, labels, "labels", "output_dim")
        if vector_labels is not None:
            vector_loss = self._mse(vectors, vector_labels, "vector_labels", "output_dim_vec")
            loss = vector_loss if loss is None else loss + vector_loss
        output = PonitaOutput(loss=loss, scalars=scalars, vectors=vectors)
        return output if return_dict else output.to_tuple()

    @staticmethod
    def _mse(predictions, targets, name, field):
        if predictions is None:
            raise ValueError(f"`{name}` was given but the config has `{field}=0`.")
        if not isinstance(targets, torch.Tensor):
            raise TypeError(f"`{name}` must be a torch.Tensor, got {type(targets).__name__}.")
        if targets.shape != predictions.shape and targets.unsqueeze(1).shape == predictions.shape:
            targets = targets.unsqueeze(1)
        if targets.shape != predictions.shape:
            raise ValueError(
                f"`{name}` must have shape {tuple(predictions.shape)} (like the predictions), got {tuple(targets.shape)}."
            )
        return nn.functional.mse_loss(predictions, targets.to(predictions.dtype))

    @torch.no_grad()
    def calibrate(self, x=None, pos=None, edge_index=None, batch=None, vec=None, num_graphs=None, force=False) -> bool:
        """
        The official code's one-time initialisation fix: on one (representative) batch, rescale every convolution's
        spatial kernel so that std(x₁) = std(x) and its fiber kernel so that std(x₂) = std(x₁), block after block
        (each block sees the already-calibrated output of the one before). Run it once before training; the flag
        `calibrated` is saved with the weights, so a loaded checkpoint is not recalibrated.

        Returns:
            `bool`: whether the kernels were rescaled (`False` when the model was already calibrated and not `force`).
        """
        if bool(self.calibrated) and not force:
            return False
        inputs = self._check_inputs(*self._unpack(x, pos, edge_index, batch, vec, num_graphs))
        self._trunk(*inputs, calibrate=True)
        self.calibrated.fill_(True)
        return True


PonitaModel.register_for_auto_class("AutoModel")

__all__ = [
    "LiftedPointCloud",
    "PonitaModel",
    "PonitaOutput",
    "PonitaPreTrainedModel",
    "circle_grid",
    "fiber_bundle_attributes",
    "fibonacci_sphere",
    "lift_point_cloud",
    "orientation_grid",
    "point_cloud_attributes",
    "polynomial_cutoff",
    "polynomial_features",
    "radius_graph",
    "scatter_mean",
    "scatter_sum",
]
