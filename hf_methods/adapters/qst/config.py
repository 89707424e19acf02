"""Configuration of Quantized Side Tuning (QST)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CONFIG_NAME = "qst_config.json"
WEIGHTS_NAME = "qst_model.safetensors"
DOWNSAMPLE_KINDS = ("adapter", "linear", "avgpool", "maxpool")
SIDE_INITS = ("pytorch", "normal")
ACTIVATIONS = ("silu", "relu", "gelu", "tanh")
SUPPORTED_MODEL_TYPES = ("llama",)
# base-config fields a saved side network depends on: loading it on a base that differs in one of them is an error
BASE_SIGNATURE_KEYS = (
    "model_type",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "vocab_size",
)


@dataclass
class QSTConfig:
    """Configuration of a QST side network (arXiv 2401.07159, official code `YouAreSpecialToMe/QST`).

    The side network reads the hidden states of a frozen (optionally 4-bit) causal LM of width `d` with `L` layers:
    downsamplers `D_i : R^d -> R^{d/r}`, `L` side decoder layers of width `d/r` built from the base model's own config
    class, per-layer gates `z_i = sigmoid(zeta_i)`, an upsample `U : R^{d/r} -> R^d` and an output gate that mixes
    `U(g_L)` with the base model's final hidden state before the frozen LM head. The defaults follow the official
    code: a fixed output gate `sigmoid(1) ≈ 0.73` on the base model's state and side layers at PyTorch's default
    initialisation; `identity_init=True` is the option that starts exactly at the base model.

    Args:
        reduction_factor (`int`, *optional*, defaults to 16):
            `r`: the side network's width is `hidden_size / r` and its MLP width `intermediate_size / r`. Must divide
            `hidden_size`, and `hidden_size / r` must be a multiple of the number of attention heads.
        adapter_rank (`int`, *optional*, defaults to 16):
            `k`, the bottleneck of the `"adapter"` downsampler `LayerNorm(W_B SiLU(W_A h))` (`peft_hidden_size` in the
            official code).
        activation (`str`, *optional*, defaults to `"silu"`):
            Non-linearity of the adapter downsampler: one of `"silu"` (official "swish"), `"relu"`, `"gelu"`, `"tanh"`.
        downsample (`str`, *optional*, defaults to `"adapter"`):
            `"adapter"` (the official code), `"linear"` (one `d -> d/r` matrix), or the parameter-free `"avgpool"` /
            `"maxpool"` (pooling over groups of `r` hidden units).
        gate_init (`float`, *optional*, defaults to 0.5):
            Initial value of the per-layer gate logits `zeta_i` (official: 0.5, i.e. `z_i = sigmoid(0.5) ≈ 0.62`).
        identity_init (`bool`, *optional*, defaults to `False`):
            `False` (the official code): output mix `o = a * h + (1 - a) * U(g)` with `a = sigmoid(zeta_lm)`,
            `zeta_lm = output_gate_init`, so the side network's output counts from the first step (the model is not
            the base model at init). `True`: `o = h + gamma * (U(g) - h)` with a trained `gamma` that starts at 0,
            so the model equals the base model exactly before training; the price is that at step 0 only `gamma`
            gets a gradient (the side network's is multiplied by `gamma = 0`), and afterwards the side network
            moves only as fast as the optimizer moves `gamma` (about one learning rate per Adam step).
        output_gate_init (`float`, *optional*, defaults to 1.0):
            `zeta_lm` of the official output gate, `a = sigmoid(1) ≈ 0.73` (used only when `identity_init=False`).
        train_output_gate (`bool`, *optional*, defaults to `False`):
            Train `zeta_lm` (used only when `identity_init=False`). The official gate is a plain tensor, not a
            parameter, so it stays at `sigmoid(output_gate_init)`; `True` makes it a trained parameter.
        side_init (`str`, *optional*, defaults to `"pytorch"`):
            Initialisation of the side decoder layers: `"pytorch"` (the official code: the layers are built as plain
            modules, so every `nn.Linear` keeps PyTorch's default Kaiming-uniform init and the norms start at 1) or
            `"normal"` (transformers' `_init_weights`: normal(0, `initializer_range` = 0.02) weights).
        share_embedding_downsampler (`bool`, *optional*, defaults to `False`):
            `True` reproduces the official code, where one downsampler serves both the embeddings and the first
            layer's output; `False` gives the embeddings their own downsampler.
        side_attn_implementation (`str`, *optional*):
            Attention implementation of the side layers (default: the base model's).
        base_model_name_or_path (`str`, *optional*):
            Where the base model came from (written to the card and checked by nobody).
        base_config (`dict`, *optional*):
            The base model's config fields the side network depends on; filled by `get_qst_model` and checked when a
            saved side network is loaded on a base model.
        quantization (`dict`, *optional*):
            The base model's `quantization_config` (e.g. bitsandbytes NF4), recorded for the card; filled by
            `get_qst_model`.
    """

    reduction_factor: int = 16
    adapter_rank: int = 16
    activation: str = "silu"
    downsample: str = "adapter"
    gate_init: float = 0.5
    identity_init: bool = False
    output_gate_init: float = 1.0
    train_output_gate: bool = False
    side_init: str = "pytorch"
    share_embedding_downsampler: bool = False
    side_attn_implementation: str | None = None
    base_model_name_or_path: str | None = None
    base_config: dict[str, Any] | None = None
    quantization: dict[str, Any] | None = None
    task_type: str = field(default="CAUSAL_LM")
    peft_type: str = field(default="QST")

    def __post_init__(self):
        if isinstance(self.reduction_factor, bool) or not isinstance(self.reduction_factor, int):
            raise TypeError(f"reduction_factor must be an int, got {type(self.reduction_factor).__name__}")
        if self.reduction_factor < 1:
            raise ValueError(f"reduction_factor must be >= 1, got {self.reduction_factor}")
        if isinstance(self.adapter_rank, bool) or not isinstance(self.adapter_rank, int) or self.adapter_rank < 1:
            raise ValueError(f"adapter_rank must be a positive int, got {self.adapter_rank!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.downsample not in DOWNSAMPLE_KINDS:
            raise ValueError(f"downsample must be one of {DOWNSAMPLE_KINDS}, got {self.downsample!r}")
        if self.side_init not in SIDE_INITS:
            raise ValueError(f"side_init must be one of {SIDE_INITS}, got {self.side_init!r}")
        if self.task_type != "CAUSAL_LM":
            raise ValueError(f"task_type must be 'CAUSAL_LM' (the only task implemented), got {self.task_type!r}")

    def check_base_config(self, base_config) -> None:
        """Raises `ValueError` when `base_config` cannot host this side network (architecture, sizes)."""
        model_type = getattr(base_config, "model_type", None)
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"QST supports base models of type {SUPPORTED_MODEL_TYPES} (e.g. SmolLM2, Llama-2); got a base model of "
                f"type {model_type!r}"
            )
        d, heads, r = base_config.hidden_size, base_config.num_attention_heads, self.reduction_factor
        if d % r != 0:
            raise ValueError(f"reduction_factor={r} must divide the base model's hidden_size={d}")
        if (d // r) % heads != 0:
            raise ValueError(
                f"reduction_factor={r}: the side width hidden_size/r = {d // r} must be a multiple of the base model's "
                f"num_attention_heads={heads} (the side layers keep the head count)"
            )
        if base_config.intermediate_size // r < 1:
            raise ValueError(f"reduction_factor={r} is larger than intermediate_size={base_config.intermediate_size}")
        if self.base_config is not None:
            mismatched = {
                k: (self.base_config[k], getattr(base_config, k, None))
                for k in BASE_SIGNATURE_KEYS
                if k in self.base_config and self.base_config[k] != getattr(base_config, k, None)
            }
            if mismatched:
                details = ", ".join(f"{k}: saved {a!r} vs base {b!r}" for k, (a, b) in mismatched.items())
                raise ValueError(
                    f"base_model does not match the base this QST side network was trained on ({details})"
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save_pretrained(self, save_directory: str | Path) -> Path:
        """Writes `qst_config.json` to `save_directory`."""
        path = Path(save_directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG_NAME).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
        return path / CONFIG_NAME

    @classmethod
    def from_pretrained(cls, path: str | Path) -> QSTConfig:
        """Reads `qst_config.json` from a folder (or the file itself)."""
        path = Path(path)
        file = path / CONFIG_NAME if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"no {CONFIG_NAME} in {path}: not a saved QST side network")
        try:
            values = json.loads(file.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{file} is not valid JSON (corrupted or truncated?): {err}") from err
        if not isinstance(values, dict):
            raise ValueError(f"{file} does not hold a JSON object of QSTConfig fields")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{file}: unknown QSTConfig fields {unknown}")
        return cls(**values)


__all__ = ["QSTConfig"]
