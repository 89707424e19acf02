"""Robust Weight Signatures (Cai, Zhang & Wang, ICML 2023): robustness to a corruption as a patch of shallow weights.

Three models of one architecture share a starting point θ_pre: a clean fine-tune θ_std (the *base*) and a fine-tune
θ_c on data with corruption c (the *robust* model). For every parameter tensor l of the first `n_shallow_layers`
layers, the signature is the robust update with its component along the clean update removed (per tensor, as
`get_projection` in the official `model_patching.py` / `tools.py`):

    Δ_c[l] = θ_c[l] − θ_pre[l]
    v[l]   = θ_std[l] − θ_pre[l]
    RWS_c[l] = Δ_c[l] − (⟨Δ_c[l], v[l]⟩ / ‖v[l]‖²) · v[l]

Patching a model θ (the clean model itself, or another clean model fine-tuned from the same θ_pre on other data) adds
scaled signatures to those tensors only, every other weight untouched:

    θ_patched[l] = θ[l] + Σ_c α_c · RWS_c[l]

[`RobustWeightSignature`] holds the signature tensors and a [`RobustWeightSignatureConfig`]; it quantizes them
(min–max linear codes of `bits` bits per tensor, as the official `linear_quant`), applies / removes / disables them on
a model in place (removal restores the saved original values, bit for bit), and saves only itself, PEFT-style: a JSON
config plus one safetensors file (`save_pretrained` / `from_pretrained`). A patched model is a plain model: its own
`save_pretrained` writes ordinary weights that reload without hf-methods.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize

from hf_methods.common.packing import pack_bits, unpack_bits

CONFIG_NAME = "rws_config.json"
WEIGHTS_NAME = "rws_signature.safetensors"

DEFAULT_LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Embedding, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
NORM_TYPES: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
QUANTIZATION_METHODS = ("linear",)

# Where a patched model keeps what `remove` needs: {"originals": {name: tensor}, "applied": [(signature, scale)]}.
_STATE_ATTR = "_rws_patch_state"


# --------------------------------------------------------------------------------------------------- layer selection


def _check_layer_types(layer_types) -> tuple[type[nn.Module], ...]:
    if isinstance(layer_types, type):
        layer_types = (layer_types,)
    layer_types = tuple(layer_types) if isinstance(layer_types, Iterable) else (layer_types,)
    if not layer_types or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in layer_types):
        raise TypeError(f"layer_types must be nn.Module subclasses (e.g. (nn.Conv2d,)), got {layer_types!r}")
    return layer_types


def shallow_parameter_names(
    model: nn.Module,
    n_shallow_layers: int,
    *,
    layer_types: Iterable[type[nn.Module]] = DEFAULT_LAYER_TYPES,
    include_norm: bool = True,
) -> list[str]:
    """The names of the parameters of the first `n_shallow_layers` layers of `model`, counted from the input.

    Layers are the modules of `layer_types` that own a `weight`, in registration order (`named_modules`), which for
    `transformers` and torchvision models is the order of the forward pass. As the official `select_layers` does for
    ResNets, the affine parameters of the normalisation layers met before the `n_shallow_layers + 1`-th layer are
    included when `include_norm` (their running statistics are buffers and are not part of the signature).

    Args:
        model (`nn.Module`): the model to read the layer order from.
        n_shallow_layers (`int`): how many layers to keep, ≥ 1 (the official `--keep_num`).
        layer_types (`tuple[type, ...]`): the module types that count as layers.
        include_norm (`bool`): also select normalisation layers' weight and bias.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(n_shallow_layers, bool) or not isinstance(n_shallow_layers, int) or n_shallow_layers < 1:
        raise ValueError(f"n_shallow_layers must be an integer >= 1, got {n_shallow_layers!r}")
    layer_types = _check_layer_types(layer_types)
    names: list[str] = []
    count = 0
    for module_name, module in model.named_modules():
        is_layer = isinstance(module, layer_types) and isinstance(getattr(module, "weight", None), torch.Tensor)
        is_norm = include_norm and isinstance(module, NORM_TYPES)
        if is_layer:
            count += 1
            if count > n_shallow_layers:
                break
        if is_layer or is_norm:
            prefix = f"{module_name}." if module_name else ""
            names.extend(prefix + name for name, _ in module.named_parameters(recurse=False))
    if count < n_shallow_layers:
        raise ValueError(
            f"n_shallow_layers={n_shallow_layers} but the model has only {count} layers of types "
            f"{[t.__name__ for t in layer_types]}"
        )
    return names


# ------------------------------------------------------------------------------------------------------- the math


def project_out(delta: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Δ − (⟨Δ, v⟩ / ‖v‖²) · v: the part of `delta` orthogonal to `direction` (both flattened), in float64.

    When v = 0 (a tensor the clean fine-tune did not move) there is nothing to remove and Δ is returned.
    """
    d = delta.detach().to(torch.float64)
    v = direction.detach().to(torch.float64)
    vv = torch.dot(v.flatten(), v.flatten())
    if vv == 0:
        return d
    return d - (torch.dot(d.flatten(), v.flatten()) / vv) * v


def linear_quantize(values: torch.Tensor, bits: int) -> tuple[torch.Tensor, float, float]:
    """Min–max linear quantization of one tensor to `2**bits` levels (the official `linear_quant` with n = 2**bits).

    codes = round((x − min) / (max − min) · (2**bits − 1)), stored as uint8; see [`linear_dequantize`].

    Returns:
        `(codes, min, max)`: `codes` has the shape of `values`.
    """
    x = values.detach().to(torch.float32)
    low, high = float(x.min()), float(x.max())
    levels = (1 << bits) - 1
    if high == low:
        return torch.zeros_like(x, dtype=torch.uint8), low, high
    codes = torch.round((x - low) / (high - low) * levels).clamp_(0, levels).to(torch.uint8)
    return codes, low, high


def linear_dequantize(codes: torch.Tensor, low: float, high: float, bits: int) -> torch.Tensor:
    """x̂ = min + codes / (2**bits − 1) · (max − min), in float32 (the inverse of [`linear_quantize`])."""
    levels = (1 << bits) - 1
    if high == low:
        return torch.full(codes.shape, low, dtype=torch.float32)
    return codes.to(torch.float32) / levels * (high - low) + low


# ------------------------------------------------------------------------------------------------------- the class


@dataclass
class RobustWeightSignatureConfig:
    """What a [`RobustWeightSignature`] is, saved as `rws_config.json` next to its tensors.

    Args:
        parameter_names (`list[str]`): the patched parameters, as names of the model's `named_parameters`.
        shapes (`dict[str, list[int]]`): the shape of each signature tensor.
        corruption (`str`, *optional*): the distribution shift the robust model was trained on (documentation and
            the default folder name only).
        n_shallow_layers (`int`, *optional*): the number of layers the parameters were selected from, when they were
            selected by depth.
        projected (`bool`): whether the clean fine-tuning direction was projected out (the paper's RWS); `False`
            keeps the raw robust update Δ_c (a task vector).
        bits (`int`, *optional*): bits per stored value when quantized (1–8); `None` stores float32.
        quantization (`str`): the quantizer (`"linear"`: per-tensor min–max levels).
        default_scale (`float`): the α that [`RobustWeightSignature.apply`] uses when none is given.
    """

    parameter_names: list[str]
    shapes: dict[str, list[int]]
    corruption: str | None = None
    n_shallow_layers: int | None = None
    projected: bool = True
    bits: int | None = None
    quantization: str = "linear"
    default_scale: float = 1.0
    method: str = field(default="rws", init=False)

    def __post_init__(self):
        if isinstance(self.parameter_names, str) or not all(isinstance(n, str) for n in self.parameter_names):
            raise TypeError(f"parameter_names must be a list of parameter names, got {self.parameter_names!r}")
        self.parameter_names = list(self.parameter_names)
        if not self.parameter_names:
            raise ValueError("parameter_names must name at least one parameter")
        if set(self.shapes) != set(self.parameter_names):
            raise ValueError(
                f"shapes must give one shape per parameter name; missing {sorted(set(self.parameter_names) - set(self.shapes))}, "
                f"extra {sorted(set(self.shapes) - set(self.parameter_names))}"
            )
        self.shapes = {name: [int(s) for s in self.shapes[name]] for name in self.parameter_names}
        if self.bits is not None:
            _check_bits(self.bits)
        if self.quantization not in QUANTIZATION_METHODS:
            raise ValueError(f"quantization must be one of {QUANTIZATION_METHODS}, got {self.quantization!r}")
        _check_scale(self.default_scale, "default_scale")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> RobustWeightSignatureConfig:
        data = dict(data)
        if data.pop("method", "rws") != "rws":
            raise ValueError(f"not a robust weight signature config (method={data.get('method')!r})")
        return cls(**data)


def _check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be an integer in [1, 8], got {bits!r}")
    return bits


def _check_scale(scale, name: str = "scale") -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"{name} must be a finite number, got {scale!r}")
    return float(scale)


def _state_dict_of(obj, argument: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        return dict(obj.named_parameters())
    if isinstance(obj, Mapping) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj)
    raise TypeError(f"{argument} must be an nn.Module or a state dict of tensors, got {type(obj).__name__}")


class RobustWeightSignature:
    """A robust weight signature: per-parameter tensors to add to a model's shallow layers.

    Build one with [`extract`] (or [`from_pretrained`]); then [`apply`] / [`remove`] it on a model, [`quantize`] it,
    and [`save_pretrained`] it.

    ```python
    rws = RobustWeightSignature.extract(clean_model, noisy_model, pretrained, n_shallow_layers=2)
    rws.apply(model, scale=1.0)   # θ[l] += 1.0 · RWS[l] for the shallow tensors l
    rws.remove(model)             # the original values back, bit for bit
    rws.quantize(8).save_pretrained("rws-gaussian-noise")
    ```

    Args:
        signatures (`dict[str, torch.Tensor]`): parameter name → signature tensor (stored as float32).
        config (`RobustWeightSignatureConfig`, *optional*): built from `signatures` when omitted.
        codes (`dict`, *optional*): for a quantized signature, parameter name → `(uint8 codes, min, max)`; the
            signature tensors are then their dequantized values.
    """

    def __init__(
        self,
        signatures: Mapping[str, torch.Tensor],
        config: RobustWeightSignatureConfig | None = None,
        *,
        codes: Mapping[str, tuple[torch.Tensor, float, float]] | None = None,
    ):
        if not isinstance(signatures, Mapping) or not all(isinstance(t, torch.Tensor) for t in signatures.values()):
            raise TypeError("signatures must be a mapping from parameter names to tensors")
        if not signatures:
            raise ValueError("signatures must hold at least one tensor")
        self.signatures = {name: t.detach().to("cpu", torch.float32).clone() for name, t in signatures.items()}
        if config is None:
            config = RobustWeightSignatureConfig(
                parameter_names=list(self.signatures), shapes={n: list(t.shape) for n, t in self.signatures.items()}
            )
        if not isinstance(config, RobustWeightSignatureConfig):
            raise TypeError(f"config must be a RobustWeightSignatureConfig, got {type(config).__name__}")
        if list(config.parameter_names) != list(self.signatures):
            raise ValueError("config.parameter_names must list the signature's tensors, in order")
        for name, t in self.signatures.items():
            if list(t.shape) != config.shapes[name]:
                raise ValueError(f"signature {name!r} has shape {list(t.shape)}, config says {config.shapes[name]}")
        if (codes is None) != (config.bits is None):
            raise ValueError("codes must be given exactly when config.bits is set (a quantized signature)")
        self.config = config
        self.codes = dict(codes) if codes is not None else None

    # ------------------------------------------------------------------------------------------------ building
    @classmethod
    def extract(
        cls,
        base,
        robust,
        pretrained,
        n_shallow_layers: int | None = None,
        *,
        parameter_names: Iterable[str] | None = None,
        layer_types: Iterable[type[nn.Module]] = DEFAULT_LAYER_TYPES,
        include_norm: bool = True,
        project: bool = True,
        corruption: str | None = None,
        default_scale: float = 1.0,
    ) -> RobustWeightSignature:
        """RWS_c[l] = Δ_c[l] − (⟨Δ_c[l], v[l]⟩ / ‖v[l]‖²) · v[l], Δ_c = θ_robust − θ_pre, v = θ_base − θ_pre.

        Each of `base`, `robust`, `pretrained` is a model or a state dict with the same parameter names and shapes.
        The projection is taken per parameter tensor, as in the official code.

        Args:
            base: the clean fine-tune θ_std (its update v is projected out).
            robust: the fine-tune θ_c on corrupted data.
            pretrained: their common starting point θ_pre.
            n_shallow_layers (`int`): keep the first n layers counted from the input (see
                [`shallow_parameter_names`]); needs one of the three to be an `nn.Module`.
            parameter_names (`Iterable[str]`): the parameters to keep, instead of `n_shallow_layers`.
            layer_types, include_norm: see [`shallow_parameter_names`].
            project (`bool`): remove the component along v (the paper's RWS); `False` keeps Δ_c.
            corruption (`str`, *optional*): a name for the shift, stored in the config.
            default_scale (`float`): the α used by [`apply`] when none is given.
        """
        states = {
            "base": _state_dict_of(base, "base"),
            "robust": _state_dict_of(robust, "robust"),
            "pretrained": _state_dict_of(pretrained, "pretrained"),
        }
        if (n_shallow_layers is None) == (parameter_names is None):
            raise ValueError("give exactly one of n_shallow_layers (select by depth) or parameter_names")
        if parameter_names is None:
            model = next((m for m in (robust, base, pretrained) if isinstance(m, nn.Module)), None)
            if model is None:
                raise TypeError("n_shallow_layers needs base, robust or pretrained to be an nn.Module")
            names = shallow_parameter_names(
                model, n_shallow_layers, layer_types=layer_types, include_norm=include_norm
            )
        else:
            if isinstance(parameter_names, str):
                raise TypeError(
                    f"parameter_names must be an iterable of names, not a single string {parameter_names!r}"
                )
            names = list(dict.fromkeys(parameter_names))
            if not names:
                raise ValueError("parameter_names must name at least one parameter")
        if not isinstance(project, bool):
            raise TypeError(f"project must be a bool, got {type(project).__name__}")
        signatures = {}
        for name in names:
            tensors = {}
            for role, state in states.items():
                if name not in state:
                    raise ValueError(f"{role} has no parameter {name!r}")
                if not torch.is_floating_point(state[name]):
                    raise ValueError(f"{role}[{name!r}] must be a floating-point tensor, got {state[name].dtype}")
                tensors[role] = state[name].detach().to("cpu")
            shapes = {role: tuple(t.shape) for role, t in tensors.items()}
            if len(set(shapes.values())) != 1:
                raise ValueError(f"parameter {name!r} has different shapes in base, robust, pretrained: {shapes}")
            delta = tensors["robust"].double() - tensors["pretrained"].double()
            if project:
                delta = project_out(delta, tensors["base"].double() - tensors["pretrained"].double())
            signatures[name] = delta.to(torch.float32)
        config = RobustWeightSignatureConfig(
            parameter_names=names,
            shapes={n: list(t.shape) for n, t in signatures.items()},
            corruption=corruption,
            n_shallow_layers=n_shallow_layers,
            projected=project,
            default_scale=default_scale,
        )
        return cls(signatures, config)

    def quantize(self, bits: int, method: str = "linear") -> RobustWeightSignature:
        """A new signature whose tensors are quantized to `bits` bits per value (per-tensor min–max levels).

        The official code quantizes the signature the same way (`linear_quant(vectors, n, min, max)` in
        `model_patching.py`); the saved file then holds the packed codes and two float32 numbers per tensor.
        """
        _check_bits(bits)
        if method not in QUANTIZATION_METHODS:
            raise ValueError(f"method must be one of {QUANTIZATION_METHODS}, got {method!r}")
        codes, signatures = {}, {}
        for name, tensor in self.signatures.items():
            c, low, high = linear_quantize(tensor, bits)
            codes[name] = (c, low, high)
            signatures[name] = linear_dequantize(c, low, high, bits)
        config = RobustWeightSignatureConfig(**{**_init_fields(self.config), "bits": bits, "quantization": method})
        return type(self)(signatures, config, codes=codes)

    # ------------------------------------------------------------------------------------------------ numbers
    @property
    def parameter_names(self) -> list[str]:
        return list(self.config.parameter_names)

    @property
    def num_values(self) -> int:
        """How many numbers the signature has (the size of the patched tensors)."""
        return sum(t.numel() for t in self.signatures.values())

    def inner_products(self, direction) -> dict[str, float]:
        """⟨RWS[l], d[l]⟩ / (‖RWS[l]‖·‖d[l]‖) per tensor, for a model or state dict of directions (e.g. θ_std − θ_pre)."""
        state = _state_dict_of(direction, "direction")
        out = {}
        for name, sig in self.signatures.items():
            d = state[name].detach().to("cpu", torch.float64).flatten()
            s = sig.to(torch.float64).flatten()
            denom = float(s.norm() * d.norm())
            out[name] = float(torch.dot(s, d)) / denom if denom > 0 else 0.0
        return out

    def __repr__(self) -> str:
        c = self.config
        return (
            f"{type(self).__name__}(corruption={c.corruption!r}, tensors={len(self.signatures)}, "
            f"values={self.num_values}, projected={c.projected}, bits={c.bits})"
        )

    # ------------------------------------------------------------------------------------------------ patching
    def _check_model(self, model) -> dict[str, nn.Parameter]:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        params = dict(model.named_parameters(remove_duplicate=False))
        for name, sig in self.signatures.items():
            if name not in params:
                module_name, _, tensor_name = name.rpartition(".")
                module = model.get_submodule(module_name) if _has_submodule(model, module_name) else None
                if module is not None and parametrize.is_parametrized(module, tensor_name):
                    raise ValueError(
                        f"{name!r} is already parametrized (an attached signature?); merge_signatures(model) first"
                    )
                raise ValueError(f"model has no parameter {name!r} (the signature patches {self.parameter_names})")
            if tuple(params[name].shape) != tuple(sig.shape):
                raise ValueError(
                    f"model parameter {name!r} has shape {tuple(params[name].shape)}, the signature {tuple(sig.shape)}"
                )
        return params

    def apply(self, model: nn.Module, scale: float | None = None) -> nn.Module:
        """Adds `scale · RWS[l]` to each signature tensor's parameter of `model`, in place; returns `model`.

        θ[l] ← θ[l] + α · RWS[l]. The values before the first signature touched them are kept (outside the state
        dict), so [`remove`] restores them exactly; several signatures compose by applying each (the paper's default
        weights are α = 1 / number of signatures).

        Args:
            model (`nn.Module`): the model to patch (same parameter names and shapes as the models of `extract`).
            scale (`float`, *optional*): α; `config.default_scale` when omitted. α = 0 leaves the weights as they are.
        """
        scale = self.config.default_scale if scale is None else _check_scale(scale)
        params = self._check_model(model)
        state = model.__dict__.setdefault(_STATE_ATTR, {"originals": {}, "applied": []})
        if any(sig is self for sig, _ in state["applied"]):
            raise ValueError("this signature is already applied to the model; remove it first (or apply a copy)")
        with torch.no_grad():
            for name in self.signatures:
                if name not in state["originals"]:
                    state["originals"][name] = params[name].detach().clone()
            self._add(params, scale)
        state["applied"].append((self, scale))
        return model

    def _add(self, params: Mapping[str, torch.Tensor], scale: float) -> None:
        with torch.no_grad():
            for name, sig in self.signatures.items():
                p = params[name]
                p.add_(sig.to(device=p.device, dtype=p.dtype), alpha=scale)

    def remove(self, model: nn.Module) -> nn.Module:
        """Takes this signature off `model`, in place; returns `model`.

        The patched tensors get their saved original values back (exactly, not by subtraction) and the signatures
        still applied are added again in the order they were applied.
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        state = model.__dict__.get(_STATE_ATTR)
        if state is None or not any(sig is self for sig, _ in state["applied"]):
            raise ValueError("this signature is not applied to the model (apply it first)")
        params = dict(model.named_parameters(remove_duplicate=False))
        remaining = [(sig, scale) for sig, scale in state["applied"] if sig is not self]
        _restore(params, state["originals"])
        for sig, scale in remaining:
            sig._add(params, scale)
        if remaining:
            state["applied"] = remaining
            kept = {name for sig, _ in remaining for name in sig.signatures}
            state["originals"] = {n: t for n, t in state["originals"].items() if n in kept}
        else:
            del model.__dict__[_STATE_ATTR]
        return model

    def attach(self, model: nn.Module, scale: float | None = None, *, learnable: bool = False) -> nn.Module:
        """Patches `model` through `torch.nn.utils.parametrize` instead of in place: weight = original + α · RWS.

        The weights stay untouched (the patch is computed on the fly), α is one scalar shared by all the patched
        tensors and, with `learnable=True`, an `nn.Parameter` that can be tuned by gradient (e.g. on a few corrupted
        examples) while the model is frozen. [`merge_signatures`] bakes the patch into plain weights; under
        [`signatures_disabled`] the model computes with its original weights.

        Args:
            model (`nn.Module`): the model to patch (no parametrization on the patched tensors yet).
            scale (`float`, *optional*): the initial α; `config.default_scale` when omitted.
            learnable (`bool`): make α a trainable parameter.
        """
        scale = self.config.default_scale if scale is None else _check_scale(scale)
        if not isinstance(learnable, bool):
            raise TypeError(f"learnable must be a bool, got {type(learnable).__name__}")
        params = self._check_model(model)
        first = next(iter(params.values()))
        alpha = torch.tensor(scale, dtype=torch.float32, device=first.device)
        alpha = nn.Parameter(alpha) if learnable else alpha
        for name, sig in self.signatures.items():
            module_name, _, tensor_name = name.rpartition(".")
            module = model.get_submodule(module_name)
            if parametrize.is_parametrized(module, tensor_name):
                raise ValueError(f"{name!r} is already parametrized; merge_signatures(model) first")
            patch = SignaturePatch(sig.to(params[name].device), alpha)
            parametrize.register_parametrization(module, tensor_name, patch)
        return model

    # ------------------------------------------------------------------------------------------------ saving
    def save_pretrained(self, save_directory: str | os.PathLike, is_main_process: bool = True, **kwargs) -> None:
        """Writes `rws_config.json` and `rws_signature.safetensors` (the signature only, no model weights).

        A quantized signature stores, per tensor, its codes bit-packed (`<name>.codes`, uint8) and its range
        (`<name>.range`, float32 [min, max]); otherwise the float32 tensors under their parameter names. Extra
        keyword arguments of `PreTrainedModel.save_pretrained` (e.g. `save_function`) are accepted and ignored.
        """
        from safetensors.torch import save_file

        if not is_main_process:
            return
        folder = Path(save_directory)
        if folder.is_file():
            raise ValueError(f"save_directory must be a folder, got the file {str(folder)!r}")
        folder.mkdir(parents=True, exist_ok=True)
        if self.codes is None:
            tensors = {name: t.contiguous() for name, t in self.signatures.items()}
        else:
            bits = self.config.bits
            tensors = {}
            for name, (codes, low, high) in self.codes.items():
                tensors[f"{name}.codes"] = pack_bits(codes, bits)
                tensors[f"{name}.range"] = torch.tensor([low, high], dtype=torch.float32)
        save_file(tensors, str(folder / WEIGHTS_NAME), metadata={"format": "pt", "method": "rws"})
        (folder / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, pretrained_path: str | os.PathLike) -> RobustWeightSignature:
        """Loads a signature saved by [`save_pretrained`] (a local folder)."""
        from safetensors.torch import load_file

        folder = Path(pretrained_path)
        if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
            raise ValueError(f"{str(folder)!r} has no {CONFIG_NAME} and {WEIGHTS_NAME} (not a saved signature)")
        config = RobustWeightSignatureConfig.from_dict(json.loads((folder / CONFIG_NAME).read_text()))
        tensors = load_file(str(folder / WEIGHTS_NAME))
        if config.bits is None:
            return cls({name: tensors[name] for name in config.parameter_names}, config)
        codes, signatures = {}, {}
        for name in config.parameter_names:
            c = unpack_bits(tensors[f"{name}.codes"], config.bits, config.shapes[name])
            # float32 → Python float → float32 is exact, so the dequantized values equal the in-memory ones
            low, high = (float(v) for v in tensors[f"{name}.range"])
            codes[name] = (c, low, high)
            signatures[name] = linear_dequantize(c, low, high, config.bits)
        return cls(signatures, config, codes=codes)


def _has_submodule(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True


def _init_fields(config: RobustWeightSignatureConfig) -> dict:
    data = config.to_dict()
    data.pop("method")
    return data


def _restore(params: Mapping[str, torch.Tensor], originals: Mapping[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, value in originals.items():
            params[name].copy_(value)


def applied_signatures(model: nn.Module) -> list[tuple[RobustWeightSignature, float]]:
    """The `(signature, scale)` pairs applied to `model`, in order (empty when none)."""
    state = model.__dict__.get(_STATE_ATTR)
    return list(state["applied"]) if state else []


class SignaturePatch(nn.Module):
    """The parametrization `weight = original + α · RWS[l]` of one tensor (see [`RobustWeightSignature.attach`]).

    Args:
        signature (`torch.Tensor`): RWS[l], kept as a buffer.
        scale (`torch.Tensor`): α, a 0-d tensor or `nn.Parameter` shared by every tensor of one signature.
    """

    def __init__(self, signature: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("signature", signature.detach().clone())
        if isinstance(scale, nn.Parameter):
            self.scale = scale
        else:
            self.register_buffer("scale", scale.detach().clone())
        self.enabled = True

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return original
        return original + self.scale.to(original.dtype) * self.signature.to(original.dtype)


def _patches(model: nn.Module) -> dict[str, SignaturePatch]:
    """`{parameter name: SignaturePatch}` of the tensors patched by [`RobustWeightSignature.attach`]."""
    out = {}
    for module_name, module in model.named_modules():
        if not parametrize.is_parametrized(module):
            continue
        for tensor_name, plist in module.parametrizations.items():
            for p in plist:
                if isinstance(p, SignaturePatch):
                    out[f"{module_name}.{tensor_name}" if module_name else tensor_name] = p
    return out


def attached_signature(model: nn.Module) -> RobustWeightSignature:
    """The signature attached to `model` (with [`RobustWeightSignature.attach`]), its current α as `default_scale`.

    Use it to save a tuned α: `attached_signature(model).save_pretrained(path)`.
    """
    patches = _patches(model)
    if not patches:
        raise ValueError("model has no attached robust weight signature (RobustWeightSignature.attach)")
    scales = {float(p.scale.detach()) for p in patches.values()}
    if len(scales) != 1:
        raise ValueError(f"model has several attached signatures (scales {sorted(scales)}); save them separately")
    signatures = {name: p.signature for name, p in patches.items()}
    config = RobustWeightSignatureConfig(
        parameter_names=list(signatures),
        shapes={n: list(t.shape) for n, t in signatures.items()},
        default_scale=scales.pop(),
    )
    return RobustWeightSignature(signatures, config)


def merge_signatures(model: nn.Module) -> nn.Module:
    """Bakes attached signatures into plain weights (original + α · RWS) and drops the parametrizations."""
    patches = _patches(model)
    if not patches:
        raise ValueError("model has no attached robust weight signature to merge (RobustWeightSignature.attach)")
    for name in patches:
        module_name, _, tensor_name = name.rpartition(".")
        parametrize.remove_parametrizations(model.get_submodule(module_name), tensor_name, leave_parametrized=True)
    return model


@contextmanager
def signatures_disabled(model: nn.Module):
    """Within this context `model` computes with its unpatched weights; the signatures come back on exit.

    Covers both ways of patching: in place ([`RobustWeightSignature.apply`]: the saved originals are copied in and
    the patched values back out) and parametrized ([`RobustWeightSignature.attach`]: the patches are switched off).
    """
    state = model.__dict__.get(_STATE_ATTR)
    patches = list(_patches(model).values())
    if not (state and state["applied"]) and not patches:
        raise ValueError("model has no robust weight signature applied or attached")
    params = dict(model.named_parameters(remove_duplicate=False))
    patched = {name: params[name].detach().clone() for name in state["originals"]} if state else {}
    if state:
        _restore(params, state["originals"])
    for patch in patches:
        patch.enabled = False
    try:
        yield model
    finally:
        for patch in patches:
            patch.enabled = True
        _restore(params, patched)
