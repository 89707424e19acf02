"""Configuration of the novel-class-discovery network of CrKD (`model_type` "hfm-crkd")."""

from transformers import PreTrainedConfig

_ACTIVATIONS = ("relu", "tanh", "gelu")


class CrKDNCDConfig(PreTrainedConfig):
    r"""
    Configuration of [`CrKDNCDModel`]: an MLP encoder, a known-class head of normalised prototypes, and several
    novel-class heads (an MLP projector with batch norm, then normalised prototypes), as in the official code's `Net`
    (`kleinzcy/Cr-KD-NCD`, `rKD.py`; `model/model_utils.py`: `Prototypes`, `MultiHead`).

    Args:
        input_size (`int`, *optional*, defaults to 64): number of input features (8×8 digits flattened: 64).
        hidden_sizes (`list[int]`, *optional*, defaults to `[256, 256]`): widths of the encoder's hidden layers; the
            last one is the feature size.
        hidden_act (`str`, *optional*, defaults to `"relu"`): `"relu"`, `"tanh"` or `"gelu"`.
        num_known_classes (`int`, *optional*, defaults to 5): classes of the known-class head.
        num_novel_classes (`int`, *optional*, defaults to 5): clusters of each novel-class head.
        num_heads (`int`, *optional*, defaults to 4): number of novel-class heads (the official CIFAR setting: 4).
        head_hidden_size (`int`, *optional*, defaults to 256): hidden width of each novel head's projector.
        projection_size (`int`, *optional*, defaults to 64): output width of each novel head's projector.
        logit_temperature (`float`, *optional*, defaults to 0.1): `τ` of the cosine logits, used by the supervised loss the
            model computes when given `labels` (cross-entropy of `known_logits / τ`).
    """

    model_type = "hfm-crkd"

    def __init__(
        self,
        input_size: int = 64,
        hidden_sizes: list[int] | None = None,
        hidden_act: str = "relu",
        num_known_classes: int = 5,
        num_novel_classes: int = 5,
        num_heads: int = 4,
        head_hidden_size: int = 256,
        projection_size: int = 64,
        logit_temperature: float = 0.1,
        **kwargs,
    ):
        hidden_sizes = [256, 256] if hidden_sizes is None else [int(h) for h in hidden_sizes]
        for name, value in (
            ("input_size", input_size),
            ("num_novel_classes", num_novel_classes),
            ("num_heads", num_heads),
            ("head_hidden_size", head_hidden_size),
            ("projection_size", projection_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(num_known_classes, bool) or not isinstance(num_known_classes, int) or num_known_classes < 2:
            raise ValueError(f"num_known_classes must be an integer >= 2, got {num_known_classes!r}")
        if not hidden_sizes or any(h < 1 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must be a non-empty list of positive widths, got {hidden_sizes}")
        if hidden_act not in _ACTIVATIONS:
            raise ValueError(f"hidden_act must be one of {_ACTIVATIONS}, got {hidden_act!r}")
        if not logit_temperature > 0:
            raise ValueError(f"logit_temperature must be > 0, got {logit_temperature}")
        self.input_size = input_size
        self.hidden_sizes = hidden_sizes
        self.hidden_act = hidden_act
        self.num_known_classes = num_known_classes
        self.num_novel_classes = num_novel_classes
        self.num_heads = num_heads
        self.head_hidden_size = head_hidden_size
        self.projection_size = projection_size
        self.logit_temperature = float(logit_temperature)
        super().__init__(**kwargs)


CrKDNCDConfig.register_for_auto_class()

__all__ = ["CrKDNCDConfig"]
