"""Configuration of the attention-based MIL classifier (ABMIL) used by MHIM-MIL (`model_type` "hfm-mhim_mil")."""

from transformers import PreTrainedConfig

_ACTIVATIONS = ("relu", "gelu", "tanh")


class ABMILConfig(PreTrainedConfig):
    r"""
    Configuration of [`ABMILForBagClassification`]: an instance projection `Linear(input_dim → hidden_size)` +
    activation (+ dropout), an attention scorer `Linear(hidden → attention_size, bias=False)` + activation +
    `Linear(attention_size → 1, bias=False)` whose softmax over the bag pools the instance features into one bag
    feature, and a linear classifier on that bag feature: the `DAttention` baseline of the official MHIM-MIL code
    (`DearCaat/MHIM-MIL`, branch `v1`, `modules/mhim.py` with `baseline="attn"`), with the 1024 → 512 projection
    of pathology patch features made configurable.

    Args:
        input_dim (`int`, *optional*, defaults to 64): size of each instance's feature vector.
        hidden_size (`int`, *optional*, defaults to 128): size of the projected instance features and of the bag
            feature.
        attention_size (`int`, *optional*, defaults to 64): hidden width of the attention scorer (128 officially).
        num_labels (`int`, *optional*, defaults to 2): number of bag classes.
        hidden_act (`str`, *optional*, defaults to `"relu"`): activation of the projection (`act`).
        attention_act (`str`, *optional*, defaults to `"relu"`): activation inside the attention scorer (`da_act`;
            classic ABMIL uses `"tanh"`).
        dropout (`float`, *optional*, defaults to 0.0): dropout after the projection (0.25 officially).
    """

    model_type = "hfm-mhim_mil"

    def __init__(
        self,
        input_dim: int = 64,
        hidden_size: int = 128,
        attention_size: int = 64,
        num_labels: int = 2,
        hidden_act: str = "relu",
        attention_act: str = "relu",
        dropout: float = 0.0,
        **kwargs,
    ):
        for name, value in (
            ("input_dim", input_dim),
            ("hidden_size", hidden_size),
            ("attention_size", attention_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 2:
            raise ValueError(f"num_labels must be an integer >= 2, got {num_labels!r}")
        for name, value in (("hidden_act", hidden_act), ("attention_act", attention_act)):
            if value not in _ACTIVATIONS:
                raise ValueError(f"{name} must be one of {_ACTIVATIONS}, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_dim = input_dim
        self.hidden_size = hidden_size
        self.attention_size = attention_size
        self.hidden_act = hidden_act
        self.attention_act = attention_act
        self.dropout = float(dropout)
        super().__init__(num_labels=num_labels, **kwargs)


ABMILConfig.register_for_auto_class()

__all__ = ["ABMILConfig"]
