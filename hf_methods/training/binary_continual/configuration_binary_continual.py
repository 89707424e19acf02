"""Configuration of the field-space binary MLP of `binary_continual` (`model_type` "hfm-binary_continual")."""

import math

from transformers import PreTrainedConfig

FORWARD_MODES = ("gaussian", "mean", "sample")


class VariationalBinaryMLPConfig(PreTrainedConfig):
    r"""
    Configuration of [`VariationalBinaryMLP`].

    Args:
        sizes (`list[int]`, *optional*, defaults to `[64, 256, 10]`):
            Layer widths, input first and number of classes last (the paper: 784-512-512-10).
        beta (`float`, *optional*, defaults to 1.0):
            Initial inverse temperature β of q_θ(w) ∝ exp(βθw); a trainer anneals it with [`tanh_beta_schedule`].
        beta_schedule (`str`, *optional*, defaults to `"tanh"`):
            `"tanh"`: β = β_max·tanh(β_offset + β_rate·progress) over the whole run (all tasks, all epochs), as in
            the official code; `"constant"`: β stays at `beta`.
        beta_max, beta_offset, beta_rate (`float`, *optional*, default 10.0, 0.1, 2.0):
            Parameters of the tanh schedule.
        field_init_std (`float`, *optional*, defaults to 1.0):
            Standard deviation of the normal initialisation of the fields θ (the official code: N(0, 1)).
        forward_mode (`str`, *optional*, defaults to `"gaussian"`):
            Default forward pass: `"gaussian"` (sampled Gaussian field, used for training), `"mean"` (ε = 0:
            deterministic mean field) or `"sample"` (binary weights w ~ q_θ drawn anew at every call).
    """

    model_type = "hfm-binary_continual"

    def __init__(
        self,
        sizes: list[int] | None = None,
        beta: float = 1.0,
        beta_schedule: str = "tanh",
        beta_max: float = 10.0,
        beta_offset: float = 0.1,
        beta_rate: float = 2.0,
        field_init_std: float = 1.0,
        forward_mode: str = "gaussian",
        **kwargs,
    ):
        sizes = [64, 256, 10] if sizes is None else [int(s) for s in sizes]
        if len(sizes) < 2 or any(s <= 0 for s in sizes):
            raise ValueError(f"sizes must list at least 2 positive widths (input ... classes), got {sizes}")
        if not beta > 0 or not math.isfinite(beta):
            raise ValueError(f"beta must be finite and > 0, got {beta}")
        if beta_schedule not in ("tanh", "constant"):
            raise ValueError(f"beta_schedule must be 'tanh' or 'constant', got {beta_schedule!r}")
        if not beta_max > 0:
            raise ValueError(f"beta_max must be > 0, got {beta_max}")
        if field_init_std < 0:
            raise ValueError(f"field_init_std must be >= 0, got {field_init_std}")
        if forward_mode not in FORWARD_MODES:
            raise ValueError(f"forward_mode must be one of {FORWARD_MODES}, got {forward_mode!r}")
        self.sizes = sizes
        self.beta = float(beta)
        self.beta_schedule = beta_schedule
        self.beta_max = float(beta_max)
        self.beta_offset = float(beta_offset)
        self.beta_rate = float(beta_rate)
        self.field_init_std = float(field_init_std)
        self.forward_mode = forward_mode
        kwargs.pop("num_labels", None)
        super().__init__(num_labels=sizes[-1], **kwargs)


VariationalBinaryMLPConfig.register_for_auto_class()

__all__ = ["FORWARD_MODES", "VariationalBinaryMLPConfig"]
