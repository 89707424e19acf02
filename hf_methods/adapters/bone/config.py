"""`BoneConfig`: the paper's Bone variants as a plain `peft.MissConfig`.

PEFT hosts Bone under the name MiSS (`peft.tuners.miss`). The paper changed what "Bone" means between versions, so
the variant names map as follows (Kang, arXiv 2409.15371; PEFT 0.21.2):

| `variant` | paper version | PEFT | ΔW of a `d × k` weight (`d = out_features`) | parameters per layer |
|---|---|---|---|---|
| `"bat"` (default) | v1–v3 "Bone" (Bone-col), later renamed Bat | `MissConfig(init_weights="bat")` | `ΔW_{a,b} = W_{a,b} B_a + B_a` | `d·r` |
| `"bone"` (alias `"miss"`) | v4+ "Bone" / DiSHA / MiSS | `MissConfig(init_weights=True)` | `ΔW[:, j] = D[j mod r, :]ᵀ` | `r·d` |
| `"mini"` | MiSS-mini | `MissConfig(init_weights="mini", mini_r=m)` | `ΔW[i, j] = D[j mod r, i mod m]` | `r·m` |

P46 (the v1 paper) is about `"bat"`, hence the default. Bat-row, Bone-free and Bone-AB from the v1 code are not in
PEFT and not offered here.
"""

from __future__ import annotations

from typing import Any

BONE_VARIANTS: dict[str, bool | str] = {"bat": "bat", "bone": True, "miss": True, "mini": "mini"}
"""`variant` name → PEFT's `MissConfig.init_weights`."""

_RESERVED = ("init_weights", "miss_dropout", "peft_type")


def BoneConfig(  # noqa: N802 - named like the config class it stands for
    r: int = 64,
    target_modules: list[str] | str | None = None,
    variant: str = "bat",
    mini_r: int | None = None,
    dropout: float = 0.0,
    **peft_kwargs: Any,
):
    """Builds the `peft.MissConfig` of a Bone variant (a function returning a plain PEFT config, not a subclass).

    Because the result *is* a `MissConfig`, `peft.get_peft_model(model, BoneConfig(...))` returns an ordinary
    `PeftModel`, its `adapter_config.json` says `"peft_type": "MISS"`, and the adapter reloads with plain
    `PeftModel.from_pretrained` where hf-methods is not installed. Build the model with [`get_bone_model`] (or add
    more adapters with [`add_bone_adapter`]): it checks every targeted layer first (divisibility, layer types,
    quantization, mixed variants) and only then calls `peft.get_peft_model`. The config cannot run those checks
    itself: PEFT reads a config but calls no method of it that sees the model before layers are replaced, so plain
    `get_peft_model(model, BoneConfig(r=...))` with an `r` that does not divide a layer fails with PEFT's own
    "must be fully divisible into [r, r] blocks" after the earlier layers were already replaced.

    Args:
        r (`int`, *optional*, defaults to 64):
            Block size. `"bat"`: the weight is cut into `r × r` blocks and every output block-row `a` gets one
            trainable `B_a ∈ R^{r×r}`; `"bone"` / `"mini"`: the shard width along `in_features`.
        target_modules (`list[str]` or `str`, *optional*):
            Modules to adapt, as in PEFT (`"all-linear"`, a list of name suffixes, or a regex). `None` takes PEFT's
            default for the architecture, which for Llama is only `q_proj`, `v_proj`; the paper adapts all seven
            projections (`"all-linear"` on Llama).
        variant (`str`, *optional*, defaults to `"bat"`):
            `"bat"` (the P46 paper's Bone), `"bone"` or its alias `"miss"` (the v4+ Bone), or `"mini"`.
        mini_r (`int`, *optional*):
            Width of the `"mini"` block along `out_features` (required for, and only accepted with, `"mini"`).
        dropout (`float`, *optional*, defaults to 0.0):
            `miss_dropout` on the input of the `"bone"`/`"mini"` update. PEFT ignores it in the `"bat"` path, so a
            non-zero value with `"bat"` is rejected.
        peft_kwargs:
            Any other `MissConfig` field (`exclude_modules`, `layers_to_transform`, `bias`, `modules_to_save`,
            `task_type`, `inference_mode`, ...).

    Returns:
        `peft.MissConfig`

    Example:

    ```python
    from hf_methods.adapters.bone import BoneConfig, get_bone_model

    model = get_bone_model(base, BoneConfig(r=64, target_modules="all-linear"))  # the P46 Bone (Bat)
    ```
    """
    from peft import MissConfig

    if isinstance(r, bool) or not isinstance(r, int) or r <= 0:
        raise ValueError(f"`r` must be a positive int, got {r!r}")
    if variant not in BONE_VARIANTS:
        raise ValueError(f"`variant` must be one of {sorted(BONE_VARIANTS)}, got {variant!r}")
    if variant == "mini":
        if isinstance(mini_r, bool) or not isinstance(mini_r, int) or mini_r <= 0:
            raise ValueError(f"`mini_r` must be a positive int with variant='mini', got {mini_r!r}")
    elif mini_r is not None:
        raise ValueError(f"`mini_r` only applies to variant='mini', got mini_r={mini_r!r} with variant={variant!r}")
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}")
    if variant == "bat" and dropout > 0:
        raise ValueError(
            "`dropout` is not applied by variant='bat' in PEFT (the weight itself is transformed); use 0.0"
        )
    reserved = sorted(set(peft_kwargs) & set(_RESERVED))
    if reserved:
        raise TypeError(f"BoneConfig sets {reserved} itself: use `variant` and `dropout` instead")
    return MissConfig(
        r=r,
        target_modules=target_modules,
        init_weights=BONE_VARIANTS[variant],
        mini_r=mini_r if variant == "mini" else 1,  # 1 is MissConfig's default; unused outside "mini"
        miss_dropout=float(dropout),
        **peft_kwargs,
    )


def bone_variant(config) -> str:
    """The Bone variant (`"bat"`, `"bone"` or `"mini"`) of a `peft.MissConfig`, e.g. one loaded from the Hub."""
    from peft import MissConfig

    if not isinstance(config, MissConfig):
        raise TypeError(f"`config` must be a peft.MissConfig (e.g. from BoneConfig), got {type(config).__name__}")
    if config.init_weights in ("bat", "mini"):
        return config.init_weights
    return "bone"  # True (zero init) and False (random init, for tests) are the same v4+ Bone form


__all__ = ["BONE_VARIANTS", "BoneConfig", "bone_variant"]
