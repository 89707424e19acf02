"""The template-mixing MLP of MixtureGrowth (Pham, Teterwak, Nelson & Plummer, WACV 2024) as a transformers model.

Self-contained (torch, transformers and its config only) so saved checkpoints load as remote code.

Every layer's weight is assembled from blocks, each block a linear combination of the templates of one template set,

    W_b = Σ_k α_{b,k} T_{s(b),k}                                             (official `SModule.get_params`)

and growing two trained half-width members into one network keeps their blocks on the diagonal and fills the new
off-diagonal blocks with *new* coefficients over the members' *learned* templates (`TemplateMixingMLP.grow_`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_mixturegrowth import TemplateMixingConfig

_ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
#: How the coefficients of the new blocks are initialised at growth (the official `coefs_growing`, plus
#: "random_init": new blocks from new, randomly initialised templates, the random-initialised growth baseline).
GROWTH_COEFFICIENTS = ("orthogonal", "copy", "zero", "random", "none", "random_init")


# ----------------------------------------------------------------------------------------------------- the math


def members_loss(member_logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""The loss of two (or more) members trained side by side before growth: `L_i = Σ_m CE(f_m(x_i), y_i)`.

    The members share no parameter, so the gradient of each member is exactly the gradient it would get if it were
    trained alone on the same batch. (The official code trains the members one after the other; its
    `train_both_members` option averages the members' losses instead, which halves each member's step.)

    Args:
        member_logits (`torch.Tensor` of shape `(batch, members, num_classes)`): each member's logits.
        labels (`torch.LongTensor` of shape `(batch,)`): class indices in `[0, num_classes)`.
        reduction (`str`, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` (one value per example).
    """
    if not isinstance(member_logits, torch.Tensor):
        raise TypeError(f"member_logits must be a torch.Tensor, got {type(member_logits).__name__}")
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if member_logits.dim() != 3:
        raise ValueError(
            f"member_logits must be 3-D (batch, members, num_classes), got shape {tuple(member_logits.shape)}"
        )
    if not member_logits.is_floating_point():
        raise TypeError(f"member_logits must be a floating-point tensor, got dtype {member_logits.dtype}")
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"labels must be an integer tensor of class indices, got dtype {labels.dtype}")
    batch, members, num_classes = member_logits.shape
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},) to match member_logits, got {tuple(labels.shape)}")
    if num_classes < 2:
        raise ValueError(f"member_logits must have at least 2 classes, got {num_classes}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got range [{int(labels.min())}, {int(labels.max())}]"
        )
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be one of ('mean', 'sum', 'none'), got {reduction!r}")
    per_member = F.cross_entropy(
        member_logits.reshape(batch * members, num_classes), labels.repeat_interleave(members), reduction="none"
    )
    loss = per_member.reshape(batch, members).sum(dim=1)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


@torch.no_grad()
def orthogonal_coefficients(previous: torch.Tensor) -> torch.Tensor:
    r"""New coefficients from the stacked previous ones: the last right-singular vector of `A = [α₁; …; α_n]`.

        A = U Σ Vᴴ,   α_new = V[:, -1]                                    (official `coefs_growing="orthogonal"`)

    With fewer previous vectors than templates (`n < T`), `α_new` is a unit vector orthogonal to all of them; with
    `n ≥ T` it is the unit vector that `A` shrinks most (`‖A α_new‖ = σ_min`), the direction least used by the
    previous coefficients. The sign of a singular vector is arbitrary; it is fixed here so that the entry of largest
    magnitude is positive (the official code keeps whatever sign the SVD returns).

    Args:
        previous (`torch.Tensor` of shape `(n, T)`): the previous coefficient vectors, one per row.
    """
    if not isinstance(previous, torch.Tensor) or previous.dim() != 2 or previous.shape[0] < 1:
        raise ValueError("previous must be a 2-D tensor (n >= 1 coefficient vectors, T templates)")
    vh = torch.linalg.svd(previous.double(), full_matrices=True).Vh
    new = vh[-1]
    if new[new.abs().argmax()] < 0:
        new = -new
    return new.to(previous.dtype)


# ----------------------------------------------------------------------------------------------------- layers


class TemplateLinear(nn.Module):
    r"""A bias-free linear layer whose weight is a grid of blocks, each a mixture of templates.

        W_b = Σ_k α_{b,k} T_{s(b),k},          y = x Wᵀ,   W = grid of the blocks W_b

    Args:
        in_features, out_features (`int`): the layer's full size.
        num_templates (`int`): templates per set (`T`).
        grid (`tuple[int, int]`): the number of row and column blocks; a block is `(out/rows) × (in/cols)`.
        block_positions (`list[tuple[int, int]]`): the (row, column) of each block `b`, in block order.
        block_sets (`list[int]`): the template set `s(b)` of each block.

    Parameters: `templates` of shape `(num_sets, T, out/rows, in/cols)` and `coefficients` of shape `(blocks, T)`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_templates: int,
        grid: tuple[int, int] = (1, 1),
        block_positions: list[tuple[int, int]] | None = None,
        block_sets: list[int] | None = None,
    ):
        super().__init__()
        rows, cols = grid
        self.in_features, self.out_features, self.grid = in_features, out_features, (rows, cols)
        self.block_positions = list(block_positions or [(0, 0)])
        self.block_sets = list(block_sets or [0])
        self.block_shape = (out_features // rows, in_features // cols)
        num_sets = max(self.block_sets) + 1
        self.templates = nn.Parameter(torch.empty(num_sets, num_templates, *self.block_shape))
        self.coefficients = nn.Parameter(torch.empty(len(self.block_positions), num_templates))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Templates ~ N(0, 2/fan_in) with fan_in the block's input size (Kaiming, ReLU gain); the coefficients of
        the blocks are the rows of a random orthogonal matrix (as the official `SModule` initialises them)."""
        std = math.sqrt(2.0 / self.block_shape[1])
        self.templates.copy_(torch.randn(self.templates.shape, generator=generator) * std)
        self.coefficients.copy_(_orthogonal(self.coefficients.shape, generator))

    def block_weights(self) -> torch.Tensor:
        """`W_b = Σ_k α_{b,k} T_{s(b),k}` for every block: shape `(blocks, out/rows, in/cols)`."""
        sets = self.templates[torch.as_tensor(self.block_sets, device=self.templates.device)]
        return torch.einsum("bk,bkoi->boi", self.coefficients, sets)

    def weight(self, blocks: list[int] | None = None) -> torch.Tensor:
        """The full `(out, in)` weight; blocks not in `blocks` (default: all) are zero."""
        active = range(len(self.block_positions)) if blocks is None else blocks
        weights = self.block_weights()
        rows, cols = self.grid
        grid: list[list[torch.Tensor | None]] = [[None] * cols for _ in range(rows)]
        for b in active:
            r, c = self.block_positions[b]
            grid[r][c] = weights[b]
        zero = weights.new_zeros(self.block_shape)
        return torch.cat([torch.cat([w if w is not None else zero for w in row], dim=1) for row in grid], dim=0)

    def forward(self, x: torch.Tensor, blocks: list[int] | None = None) -> torch.Tensor:
        return F.linear(x, self.weight(blocks))

    def column_block_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """`x_c W_cᵀ` for each column block `c` of a one-row grid: shape `(batch, cols, out)` (the members' logits)."""
        if self.grid[0] != 1:
            raise ValueError("column_block_outputs needs a layer with one row of blocks (the classifier)")
        weights, width = self.block_weights(), self.block_shape[1]
        outputs = [None] * self.grid[1]
        for b, (_, c) in enumerate(self.block_positions):
            outputs[c] = F.linear(x[:, c * width : (c + 1) * width], weights[b])
        return torch.stack(outputs, dim=1)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, grid={self.grid}, "
            f"num_templates={self.coefficients.shape[1]}, block_sets={self.block_sets}"
        )


def _orthogonal(shape, generator: torch.Generator | None) -> torch.Tensor:
    """`torch.nn.init.orthogonal_` with an optional generator: QR of a Gaussian matrix, signs fixed by diag(R)."""
    rows, cols = shape
    flat = torch.randn(max(rows, cols), min(rows, cols), generator=generator)
    q, r = torch.linalg.qr(flat)
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    return q if rows >= cols else q.T


def _layer_layout(kind: str, num_members: int, block_template_sets: list[int]):
    """Grid, block positions and template sets of a layer: "first" (input not split), "middle" or "last"."""
    if num_members == 1:
        return (1, 1), [(0, 0)], [0]
    if kind == "first":
        return (2, 1), [(0, 0), (1, 0)], block_template_sets[:2]
    if kind == "last":
        return (1, 2), [(0, 0), (0, 1)], block_template_sets[:2]
    # the official "diag" layout of a 2×2 growth: [[W0, W2], [W3, W1]]
    return (2, 2), [(0, 0), (1, 1), (0, 1), (1, 0)], block_template_sets


# ----------------------------------------------------------------------------------------------------- model


@dataclass
class TemplateMixingOutput(ModelOutput):
    """Output of [`TemplateMixingMLP`].

    Args:
        loss (`torch.FloatTensor`, *optional*): cross-entropy when `labels` are given (before growth: the sum of the
            members' cross-entropies, see [`members_loss`]).
        logits (`torch.FloatTensor` of shape `(batch, num_labels)`): the network's logits (before growth: the sum of
            the members' logits, which is what the grown network computes when its new blocks are zero).
        member_logits (`torch.FloatTensor` of shape `(batch, 2, num_labels)`, *optional*): each member's logits,
            before growth only.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    member_logits: torch.FloatTensor | None = None


class TemplateMixingPreTrainedModel(PreTrainedModel):
    config: TemplateMixingConfig
    config_class = TemplateMixingConfig
    base_model_prefix = "template_mixing"
    main_input_name = "pixel_values"

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
        if isinstance(module, TemplateLinear):
            module.reset_parameters()
        elif isinstance(module, nn.BatchNorm1d):
            module.reset_parameters()


class TemplateMixingMLP(TemplateMixingPreTrainedModel):
    r"""An MLP classifier whose layers are [`TemplateLinear`] mixtures of parameter templates (MixtureGrowth).

    `Linear → BatchNorm1d → activation` per hidden layer, then a linear classifier, all bias-free as in the official
    networks. See [`TemplateMixingConfig`] for the single-member, two-member and grown forms, and [`grow_`] for the
    growth itself.
    """

    def __init__(self, config: TemplateMixingConfig):
        super().__init__(config)
        sets, members = config.block_template_sets, config.num_members
        sizes = [config.input_size, *config.hidden_sizes]
        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            grid, positions, block_sets = _layer_layout("first" if index == 0 else "middle", members, sets)
            self.layers.append(TemplateLinear(fan_in, fan_out, config.num_templates, grid, positions, block_sets))
            self.norms.append(nn.BatchNorm1d(fan_out) if config.use_batch_norm else nn.Identity())
        grid, positions, block_sets = _layer_layout("last", members, sets)
        self.classifier = TemplateLinear(
            sizes[-1], config.num_labels, config.num_templates, grid, positions, block_sets
        )
        self.act = _ACT[config.hidden_act]()
        self.post_init()

    def _flatten(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = pixel_values.reshape(pixel_values.shape[0], -1) if pixel_values.dim() > 2 else pixel_values
        if x.dim() != 2 or x.shape[-1] != self.config.input_size:
            raise ValueError(
                f"pixel_values must flatten to (batch, {self.config.input_size}) features, "
                f"got shape {tuple(pixel_values.shape)}"
            )
        return x

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> TemplateMixingOutput:
        hidden = self._flatten(pixel_values)
        # before growth only the members' own blocks are used: block-diagonal weights, two independent networks
        blocks = [0, 1] if self.config.trains_members else None
        for layer, norm in zip(self.layers, self.norms):
            hidden = self.act(norm(layer(hidden, blocks)))
        loss, member_logits = None, None
        if self.config.trains_members:
            member_logits = self.classifier.column_block_outputs(hidden)
            logits = member_logits.sum(dim=1)
            if labels is not None:
                loss = members_loss(member_logits, labels)
        else:
            logits = self.classifier(hidden)
            if labels is not None:
                if labels.shape != logits.shape[:1]:
                    raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
                loss = F.cross_entropy(logits, labels)
        if return_dict is False:
            return tuple(t for t in (loss, logits, member_logits) if t is not None)
        return TemplateMixingOutput(loss=loss, logits=logits, member_logits=member_logits)

    # ------------------------------------------------------------------------------------------------- growth

    @torch.no_grad()
    def grow_(
        self, coefs: str = "orthogonal", scale: float = 1.0, generator: torch.Generator | None = None
    ) -> TemplateMixingMLP:
        r"""Grows the two trained members into one network, in place (official `growth_update`); returns `self`.

        The members' blocks `W₀, W₁` stay on the diagonal of every hidden-to-hidden layer; the new blocks
        `W₂ = Σ_k α_{2,k} T_{s(2),k}` and `W₃ = Σ_k α_{3,k} T_{s(3),k}` get new coefficients:

        - `"orthogonal"` (MixtureGrowth): `α₂ = v_last([α₀; α₁])`, `α₃ = v_last([α₀; α₁; α₂])`, times `scale`, where
          `v_last` is the last right-singular vector ([`orthogonal_coefficients`]);
        - `"copy"`: `α₂ = α₀ + ε`, `α₃ = α₁ + ε`, with `ε = scale · u/‖u‖`, `u ~ U[0, 1)^T`;
        - `"zero"`: `α₂ = α₃ = 0` (the grown network then computes the sum of the members' logits exactly);
        - `"random"`: `α ~ scale · U[0, 1)^T` (the official "random");
        - `"none"`: keep the current coefficients (e.g. after resuming a run that had already grown);
        - `"random_init"`: the new blocks are built from their own template sets (needs `block_template_sets` with
          sets 2 and 3 for the new blocks), re-drawn at random (Kaiming), with unit-norm random coefficients times
          `scale`: random-initialised growth, whose new blocks are random Kaiming matrices.

        The first layer `[[W₀], [W₁]]` and the classifier `[W₀, W₁]` have no new block. Batch norm needs no change:
        a `BatchNorm1d` normalises each feature on its own, so the members' halves, with their running statistics,
        already form the grown layer's batch norm.

        Args:
            coefs (`str`, defaults to `"orthogonal"`): one of `GROWTH_COEFFICIENTS`.
            scale (`float`, defaults to 1.0): the norm of the new coefficients (official `coefs_noise_growing`).
            generator (`torch.Generator`, *optional*): the random draws of "copy", "random" and "random_init".
        """
        if not self.config.trains_members:
            raise ValueError(
                "grow_ needs a two-member model that has not grown yet (num_members=2, grown=False); got "
                f"num_members={self.config.num_members}, grown={self.config.grown}"
            )
        if coefs not in GROWTH_COEFFICIENTS:
            raise ValueError(f"coefs must be one of {GROWTH_COEFFICIENTS}, got {coefs!r}")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
            raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
        new_sets = self.config.block_template_sets[2:]
        if coefs == "random_init" and set(new_sets) & {0, 1}:
            raise ValueError(
                "coefs='random_init' builds the new blocks from new templates: it needs block_template_sets "
                f"[0, 1, 2, 3] (new sets for W2 and W3), got {self.config.block_template_sets}"
            )
        for layer in self.layers[1:]:
            self._grow_layer(layer, coefs, float(scale), generator)
        self.config.grown = True
        return self

    def _grow_layer(self, layer: TemplateLinear, coefs: str, scale: float, generator) -> None:
        alpha = layer.coefficients
        device, dtype = alpha.device, alpha.dtype
        num_templates = alpha.shape[1]

        def uniform():
            return torch.rand(num_templates, generator=generator).to(device, dtype)

        if coefs == "orthogonal":
            alpha[2] = orthogonal_coefficients(alpha[:2]) * scale
            alpha[3] = orthogonal_coefficients(alpha[:3]) * scale
        elif coefs == "copy":
            noise = uniform()
            noise = scale * noise / noise.norm()
            alpha[2], alpha[3] = alpha[0] + noise, alpha[1] + noise
        elif coefs == "zero":
            alpha[2:] = 0.0
        elif coefs == "random":
            alpha[2], alpha[3] = uniform() * scale, uniform() * scale
        elif coefs == "random_init":
            std = math.sqrt(2.0 / layer.block_shape[1])
            for s in sorted(set(layer.block_sets[2:])):
                draw = torch.randn(layer.templates.shape[1:], generator=generator) * std
                layer.templates[s] = draw.to(device, dtype)
            for b in (2, 3):
                direction = torch.randn(num_templates, generator=generator).to(device, dtype)
                alpha[b] = scale * direction / direction.norm()


TemplateMixingConfig.register_for_auto_class()
TemplateMixingMLP.register_for_auto_class("AutoModel")

__all__ = [
    "GROWTH_COEFFICIENTS",
    "TemplateLinear",
    "TemplateMixingMLP",
    "TemplateMixingOutput",
    "TemplateMixingPreTrainedModel",
    "members_loss",
    "orthogonal_coefficients",
]
