"""A weight-entangled convolutional supernet as a transformers model, and the standalone subnets extracted from it.

[`TangleNASConvNet`] is the search space of TangleNAS's toy experiments scaled to 8×8 images: convolution layers
whose kernel size and width are searched (entangled: every candidate is a slice of the largest kernel), a 2×2 max
pool, a hidden linear layer whose width is searched, and a linear classifier. The same class is the extracted subnet:
a config with one candidate per choice has no architecture parameters and computes a plain CNN, so
`extract_subnet()` returns a model that saves with `save_pretrained` and reloads with `from_pretrained`.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput

from hf_methods.common.supernet import SuperLinear

from .entangled import SEARCH_MODES, EntangledConv2d, EntangledLinear, entangled_layers

__all__ = ["TangleNASConvConfig", "TangleNASConvNet"]


def _int_lists(name: str, value, depth: int) -> list:
    if depth == 1:
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"`{name}` must be a non-empty list of positive ints, got {value!r}")
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
            raise ValueError(f"`{name}` must be a non-empty list of positive ints, got {value!r}")
        if len(set(value)) != len(value):
            raise ValueError(f"`{name}` must not repeat a candidate, got {value!r}")
        return list(value)
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"`{name}` must be a non-empty list of candidate lists (one per layer), got {value!r}")
    return [_int_lists(name, v, depth - 1) for v in value]


class TangleNASConvConfig(PretrainedConfig):
    r"""
    The search space of [`TangleNASConvNet`].

    Args:
        image_size (`int`, defaults to 8): height and width of the (square) input images; must be even (2×2 pool).
        num_channels (`int`, defaults to 1): input channels.
        num_labels (`int`, defaults to 10): classes.
        kernel_size_choices (`list[list[int]]`): per convolution layer, its odd kernel-size candidates.
        channel_choices (`list[list[int]]`): per convolution layer, its width candidates (same length as above).
        hidden_choices (`list[int]`): width candidates of the hidden linear layer.
        search_mode (`str`, defaults to `"darts"`): one of `"darts"`, `"drnas"`, `"gdas"`, `"discrete"`.
        gdas_tau (`float`, defaults to 1.0): the Gumbel-softmax temperature of GDAS.
    """

    model_type = "hfm-tanglenas-convnet"

    def __init__(
        self,
        image_size: int = 8,
        num_channels: int = 1,
        num_labels: int = 10,
        kernel_size_choices: list[list[int]] | None = None,
        channel_choices: list[list[int]] | None = None,
        hidden_choices: list[int] | None = None,
        search_mode: str = "darts",
        gdas_tau: float = 1.0,
        **kwargs,
    ):
        kernel_size_choices = [[1, 3, 5], [1, 3, 5]] if kernel_size_choices is None else kernel_size_choices
        channel_choices = [[4, 8, 16], [4, 8, 16]] if channel_choices is None else channel_choices
        hidden_choices = [16, 32, 64] if hidden_choices is None else hidden_choices
        for name, value in (("image_size", image_size), ("num_channels", num_channels), ("num_labels", num_labels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}")
        if image_size % 2:
            raise ValueError(f"`image_size` must be even (the network max-pools by 2), got {image_size}")
        self.kernel_size_choices = _int_lists("kernel_size_choices", kernel_size_choices, 2)
        self.channel_choices = _int_lists("channel_choices", channel_choices, 2)
        self.hidden_choices = _int_lists("hidden_choices", hidden_choices, 1)
        if len(self.kernel_size_choices) != len(self.channel_choices):
            raise ValueError(
                f"`kernel_size_choices` and `channel_choices` must list the same number of layers, got "
                f"{len(self.kernel_size_choices)} and {len(self.channel_choices)}"
            )
        for layer in self.kernel_size_choices:
            if any(k % 2 == 0 or k > image_size for k in layer):
                raise ValueError(f"`kernel_size_choices` must be odd and at most image_size, got {layer}")
        if search_mode not in SEARCH_MODES:
            raise ValueError(f"`search_mode` must be one of {SEARCH_MODES}, got {search_mode!r}")
        if not (isinstance(gdas_tau, (int, float)) and gdas_tau > 0):
            raise ValueError(f"`gdas_tau` must be > 0, got {gdas_tau!r}")
        self.image_size, self.num_channels = image_size, num_channels
        self.search_mode, self.gdas_tau = search_mode, float(gdas_tau)
        super().__init__(num_labels=num_labels, **kwargs)

    @property
    def num_layers(self) -> int:
        return len(self.channel_choices)

    def is_subnet(self) -> bool:
        """True when every choice has a single candidate (a plain CNN with nothing left to search)."""
        lists = [*self.kernel_size_choices, *self.channel_choices, self.hidden_choices]
        return all(len(values) == 1 for values in lists)


class TangleNASConvNet(PreTrainedModel):
    r"""
    conv_1 → ReLU → … → conv_L → ReLU → 2×2 max pool → flatten → hidden → ReLU → classifier, every convolution an
    [`EntangledConv2d`] and the hidden layer an [`EntangledLinear`]. In a gradient-based search mode the layers mix
    their candidates' weights (TangleNAS) at the largest widths; in `"discrete"` mode the network computes one
    architecture (`set_architecture`) with the sliced weights only. Channels flatten channel-major, so the first c
    channels of the pooled map are the first c·(H/2)·(W/2) inputs of the hidden layer (a leading slice).

    An architecture is a dict `{"kernel_sizes": [k_1, …], "channels": [c_1, …], "hidden_size": h}`.
    """

    config_class = TangleNASConvConfig
    main_input_name = "pixel_values"

    def __init__(self, config: TangleNASConvConfig):
        super().__init__(config)
        convs, in_channels = [], config.num_channels
        for kernels, widths in zip(config.kernel_size_choices, config.channel_choices):
            convs.append(EntangledConv2d(in_channels, widths, kernels))
            in_channels = max(widths)
        self.convs = nn.ModuleList(convs)
        self.pooled_size = (config.image_size // 2) ** 2
        self.hidden = EntangledLinear(in_channels * self.pooled_size, config.hidden_choices)
        self.classifier = SuperLinear(max(config.hidden_choices), config.num_labels)
        self.set_search_mode(config.search_mode, config.gdas_tau)
        if config.is_subnet():
            self.set_search_mode("discrete")
        self.post_init()

    # ---------------------------------------------------------------------------------------------- the search
    def set_search_mode(self, mode: str, tau: float | None = None) -> None:
        """Sets every entangled layer to `"darts"`, `"drnas"`, `"gdas"` or `"discrete"` (see `SEARCH_MODES`)."""
        for _, layer in entangled_layers(self):
            layer.set_search_mode(mode, tau)
        self.search_mode = mode

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters β (one vector per searchable choice), in a fixed order."""
        return [p for name, p in self.named_parameters() if ".arch_params." in f".{name}"]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every other parameter (the supernet's weights)."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def architecture_space(self) -> Iterator[dict]:
        """Every architecture of the search space, in a fixed order."""
        c = self.config
        for kernels in itertools.product(*c.kernel_size_choices):
            for channels in itertools.product(*c.channel_choices):
                for hidden in c.hidden_choices:
                    yield {"kernel_sizes": list(kernels), "channels": list(channels), "hidden_size": hidden}

    def sample_architecture(self, rng: random.Random) -> dict:
        """One candidate per choice, uniformly at random (the SPOS sampler)."""
        c = self.config
        return {
            "kernel_sizes": [rng.choice(values) for values in c.kernel_size_choices],
            "channels": [rng.choice(values) for values in c.channel_choices],
            "hidden_size": rng.choice(c.hidden_choices),
        }

    def derive_architecture(self) -> dict:
        """The architecture of the argmax of every architecture parameter (DARTS's discretisation)."""
        convs = [layer.derive() for layer in self.convs]
        return {
            "kernel_sizes": [d["kernel_size"] for d in convs],
            "channels": [d["out_channels"] for d in convs],
            "hidden_size": self.hidden.derive()["out_features"],
        }

    def _check_architecture(self, architecture: dict) -> dict:
        if not isinstance(architecture, dict) or set(architecture) != {"kernel_sizes", "channels", "hidden_size"}:
            raise ValueError(
                "`architecture` must be a dict with keys 'kernel_sizes', 'channels' and 'hidden_size', got "
                f"{architecture!r}"
            )
        c = self.config
        for key, candidates in (("kernel_sizes", c.kernel_size_choices), ("channels", c.channel_choices)):
            values = architecture[key]
            if not isinstance(values, (list, tuple)) or len(values) != c.num_layers:
                raise ValueError(f"`architecture[{key!r}]` must list {c.num_layers} values, got {values!r}")
            for layer, (value, allowed) in enumerate(zip(values, candidates)):
                if value not in allowed:
                    raise ValueError(f"`architecture[{key!r}][{layer}]` must be one of {allowed}, got {value!r}")
        if architecture["hidden_size"] not in c.hidden_choices:
            raise ValueError(
                f"`architecture['hidden_size']` must be one of {c.hidden_choices}, got {architecture['hidden_size']!r}"
            )
        return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in architecture.items()}

    def set_architecture(self, architecture: dict) -> None:
        """Switches to `"discrete"` mode computing `architecture` with the sliced weights (single path)."""
        architecture = self._check_architecture(architecture)
        for conv, kernel, width in zip(self.convs, architecture["kernel_sizes"], architecture["channels"]):
            conv.set_choice(kernel_size=kernel, out_channels=width)
        self.hidden.set_choice(out_features=architecture["hidden_size"])
        self.set_search_mode("discrete")

    @torch.no_grad()
    def extract_subnet(self, architecture: dict | None = None) -> TangleNASConvNet:
        """A standalone [`TangleNASConvNet`] of one architecture (default: [`derive_architecture`]) holding copies of
        the supernet's slices: the centre kernels, the leading channels and hidden units. It has no architecture
        parameters, computes the same function as the supernet in discrete mode, and saves with `save_pretrained`."""
        architecture = self._check_architecture(self.derive_architecture() if architecture is None else architecture)
        config = TangleNASConvConfig(
            image_size=self.config.image_size,
            num_channels=self.config.num_channels,
            num_labels=self.config.num_labels,
            kernel_size_choices=[[k] for k in architecture["kernel_sizes"]],
            channel_choices=[[c] for c in architecture["channels"]],
            hidden_choices=[architecture["hidden_size"]],
            search_mode="discrete",
            id2label=self.config.id2label,
            label2id=self.config.label2id,
        )
        subnet = TangleNASConvNet(config).to(device=self.device, dtype=self.dtype)
        was_mode = self.search_mode
        self.set_architecture(architecture)
        self._set_discrete_inputs()
        pairs = [*zip(self.convs, subnet.convs), (self.hidden, subnet.hidden), (self.classifier, subnet.classifier)]
        for source, target in pairs:
            target.weight.copy_(source.active_weight())
            if source.bias is not None:
                target.bias.copy_(source.active_bias())
        self.set_search_mode(was_mode)
        return subnet

    def _set_discrete_inputs(self) -> None:
        """In discrete mode, each layer takes the width the previous one produces."""
        in_channels = self.config.num_channels
        for conv in self.convs:
            conv.set_active(in_channels=in_channels, out_channels=conv.choice["out_channels"])
            conv.set_active(kernel_size=conv.choice["kernel_size"])
            in_channels = conv.choice["out_channels"]
        self.hidden.set_active(
            in_features=in_channels * self.pooled_size, out_features=self.hidden.choice["out_features"]
        )
        self.classifier.set_active(in_features=self.hidden.choice["out_features"])

    # ---------------------------------------------------------------------------------------------- forward
    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, return_dict: bool | None = None, **kwargs
    ) -> ImageClassifierOutput:
        """`pixel_values` `(batch, channels, H, W)`, or `(batch, channels·H·W)` flattened; `labels` `(batch,)`."""
        c = self.config
        if pixel_values.dim() == 2:
            if pixel_values.shape[1] != c.num_channels * c.image_size**2:
                raise ValueError(
                    f"flattened `pixel_values` must have {c.num_channels * c.image_size**2} features, got shape "
                    f"{tuple(pixel_values.shape)}"
                )
            pixel_values = pixel_values.view(-1, c.num_channels, c.image_size, c.image_size)
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != (c.num_channels, c.image_size, c.image_size):
            raise ValueError(
                f"`pixel_values` must have shape (batch, {c.num_channels}, {c.image_size}, {c.image_size}), got "
                f"{tuple(pixel_values.shape)}"
            )
        if self.search_mode == "discrete":
            self._set_discrete_inputs()
        else:
            self.classifier.reset_active()
        hidden = pixel_values
        for conv in self.convs:
            hidden = F.relu(conv(hidden))
        hidden = F.max_pool2d(hidden, 2).flatten(1)
        logits = self.classifier(F.relu(self.hidden(hidden)))
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return ImageClassifierOutput(loss=loss, logits=logits)

    def _init_weights(self, module: nn.Module) -> None:  # the layers keep torch's default initialisation
        return
