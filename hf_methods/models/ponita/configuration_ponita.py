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
"""PONITA configuration (Bekkers, Vadgama, Hesselink, van der Linden, Romero; ICLR 2024)."""

import math

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

PONITA_TASK_LEVELS = ("graph", "node")


@strict
class PonitaConfig(PreTrainedConfig):
    r"""
    Configuration of PONITA, an SE(n)-equivariant message-passing network whose kernels are conditioned on the
    invariant attributes of pairs of points in position-orientation space R^n × S^{n−1}, from "Fast, Expressive SE(n)
    Equivariant Networks through Weight-Sharing in Position-Orientation Space" (Bekkers et al., ICLR 2024).

    Two modes, chosen by `num_ori`:

    - *fiber bundle* (`num_ori > 0`): every point carries a signal on a fixed grid of `num_ori` orientations
      (Fibonacci lattice on S², uniform angles on S¹); a separable group convolution mixes space then orientations.
      Equivariance is exact up to the orientation grid, and approximate for a rotation that does not map the grid
      onto itself (the error shrinks as the grid gets finer).
    - *point cloud* (`num_ori = -1`): every directed edge j → i of the input graph becomes a lifted point (p_i,
      o = (p_j − p_i)/‖p_j − p_i‖); the lifted points exchange messages conditioned on their pairwise invariants.
      Exactly SE(n) equivariant (no grid).

    Args:
        input_dim (`int`, *optional*, defaults to 1):
            Number of scalar (invariant) node features `x`.
        input_dim_vec (`int`, *optional*, defaults to 0):
            Number of vector node features `vec` (each of dimension `spatial_dim`), embedded on the sphere as
            f(o) = vᵀo.
        hidden_dim (`int`, *optional*, defaults to 64):
            Number of channels of the hidden feature fields.
        output_dim (`int`, *optional*, defaults to 1):
            Number of scalar outputs (mean over the orientations).
        output_dim_vec (`int`, *optional*, defaults to 0):
            Number of vector outputs ((1/O) Σ_o f(o)·o).
        num_layers (`int`, *optional*, defaults to 4):
            Number of ConvNeXt blocks.
        num_ori (`int`, *optional*, defaults to 16):
            Size of the orientation grid (fiber-bundle mode), or -1 for point-cloud mode.
        spatial_dim (`int`, *optional*, defaults to 3):
            n of SE(n): 3 (grid on S²) or 2 (grid on S¹).
        basis_dim (`int`, *optional*):
            Width of the kernel basis (defaults to `hidden_dim`).
        degree (`int`, *optional*, defaults to 3):
            Highest degree of the polynomial features of the invariant attributes.
        widening_factor (`int`, *optional*, defaults to 4):
            Width multiplier of the ConvNeXt block's pointwise MLP.
        layer_scale (`float`, *optional*):
            Initial value of the per-channel layer scale of each block's residual branch (`None`: no layer scale).
        radius (`float`, *optional*):
            Radius of the graph built when no `edge_index` is given, and of the smooth polynomial cutoff that
            windows the spatial kernel (`None`: fully connected within each graph, no window).
        task_level (`str`, *optional*, defaults to `"graph"`):
            `"graph"`: outputs are summed over the nodes of each graph; `"node"`: one output per node.
        multiple_readouts (`bool`, *optional*, defaults to `True`):
            Read out after every block and average the readouts (else after the last block only).

    ```python
    >>> from hf_methods.models.ponita import PonitaConfig, PonitaModel

    >>> config = PonitaConfig(input_dim=1, input_dim_vec=1, output_dim=0, output_dim_vec=1, task_level="node")
    >>> model = PonitaModel(config)
    ```"""

    model_type = "hfm-ponita"

    input_dim: int = 1
    input_dim_vec: int = 0
    hidden_dim: int = 64
    output_dim: int = 1
    output_dim_vec: int = 0
    num_layers: int = 4
    num_ori: int = 16
    spatial_dim: int = 3
    basis_dim: int | None = None
    degree: int = 3
    widening_factor: int = 4
    layer_scale: float | int | None = None
    radius: float | int | None = None
    task_level: str = "graph"
    multiple_readouts: bool = True

    def __post_init__(self, **kwargs):
        if self.layer_scale is not None and not isinstance(self.layer_scale, bool):
            self.layer_scale = float(self.layer_scale)
        if self.radius is not None and not isinstance(self.radius, bool):
            self.radius = float(self.radius)
        # Checked here as well as in `validate_architecture`, so that a bad value raises a plain `ValueError` at
        # construction (`@strict` wraps errors of class validators in its own exception type).
        self._check_fields()
        super().__post_init__(**kwargs)

    def _check_fields(self):
        def _int(name, minimum):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")

        for name in ("input_dim", "input_dim_vec", "output_dim", "output_dim_vec"):
            _int(name, 0)
        for name in ("hidden_dim", "num_layers", "degree", "widening_factor"):
            _int(name, 1)
        if self.basis_dim is not None:
            _int("basis_dim", 1)
        if self.input_dim + self.input_dim_vec == 0:
            raise ValueError("`input_dim` + `input_dim_vec` must be >= 1: the model needs at least one input feature.")
        if self.output_dim + self.output_dim_vec == 0:
            raise ValueError("`output_dim` + `output_dim_vec` must be >= 1: the model needs at least one output.")
        if (
            isinstance(self.num_ori, bool)
            or not isinstance(self.num_ori, int)
            or not (self.num_ori == -1 or self.num_ori >= 1)
        ):
            raise ValueError(
                f"`num_ori` must be -1 (point-cloud mode) or >= 1 (fiber-bundle grid size), got {self.num_ori!r}."
            )
        if self.spatial_dim not in (2, 3) or isinstance(self.spatial_dim, bool):
            raise ValueError(f"`spatial_dim` must be 2 or 3 (SE(2) or SE(3)), got {self.spatial_dim!r}.")
        if self.layer_scale is not None and (
            isinstance(self.layer_scale, bool) or not math.isfinite(self.layer_scale) or self.layer_scale <= 0
        ):
            raise ValueError(f"`layer_scale` must be None or a finite float > 0, got {self.layer_scale!r}.")
        if self.radius is not None and (
            isinstance(self.radius, bool) or not math.isfinite(self.radius) or self.radius <= 0
        ):
            raise ValueError(f"`radius` must be None (fully connected) or a finite float > 0, got {self.radius!r}.")
        if self.task_level not in PONITA_TASK_LEVELS:
            raise ValueError(f"`task_level` must be one of {PONITA_TASK_LEVELS}, got {self.task_level!r}.")
        if not isinstance(self.multiple_readouts, bool):
            raise ValueError(f"`multiple_readouts` must be a bool, got {self.multiple_readouts!r}.")

    @property
    def kernel_basis_dim(self) -> int:
        """Width of the kernel basis: `basis_dim`, or `hidden_dim` when it is not set."""
        return self.hidden_dim if self.basis_dim is None else self.basis_dim

    @property
    def point_cloud(self) -> bool:
        """Whether the model runs in point-cloud mode (`num_ori == -1`)."""
        return self.num_ori == -1

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        super().validate_architecture()
        self._check_fields()


PonitaConfig.register_for_auto_class()

__all__ = ["PONITA_TASK_LEVELS", "PonitaConfig"]
