"""Configuration of the hf-methods MLP (`model_type` "hfm-mlp")."""

from transformers import PreTrainedConfig

_ACTIVATIONS = ("tanh", "relu", "gelu", "sigmoid")


class MLPConfig(PreTrainedConfig):
    r"""
    Configuration of [`MLPModel`] / [`MLPForImageClassification`]: a stack of `Linear -> activation` blocks on flat
    features, then a linear classifier.

    Args:
        input_size (`int`, *optional*, defaults to 64):
            Number of input features (an image is flattened: 8×8 digits give 64).
        hidden_sizes (`list[int]`, *optional*, defaults to `[256, 256]`):
            Width of each hidden layer.
        hidden_act (`str`, *optional*, defaults to `"tanh"`):
            One of `"tanh"`, `"relu"`, `"gelu"`, `"sigmoid"`.
        num_labels (`int`, *optional*, defaults to 10):
            Number of classes of the classification head.
        dropout (`float`, *optional*, defaults to 0.0):
            Dropout after each hidden activation.
        initializer_range (`float`, *optional*, defaults to 0.0):
            Standard deviation of the normal init of weights; 0 keeps PyTorch's default `Linear` init.
    """

    model_type = "hfm-mlp"

    def __init__(
        self,
        input_size: int = 64,
        hidden_sizes: list[int] | None = None,
        hidden_act: str = "tanh",
        num_labels: int | None = None,
        dropout: float = 0.0,
        initializer_range: float = 0.0,
        **kwargs,
    ):
        hidden_sizes = [256, 256] if hidden_sizes is None else [int(h) for h in hidden_sizes]
        if num_labels is None:  # a saved config stores `id2label`, not `num_labels`
            num_labels = len(kwargs["id2label"]) if kwargs.get("id2label") else 10
        if input_size <= 0:
            raise ValueError(f"input_size must be positive, got {input_size}")
        if any(h <= 0 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must all be positive, got {hidden_sizes}")
        if hidden_act not in _ACTIVATIONS:
            raise ValueError(f"hidden_act must be one of {_ACTIVATIONS}, got {hidden_act!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if num_labels < 1:
            raise ValueError(f"num_labels must be at least 1, got {num_labels}")
        self.input_size = input_size
        self.hidden_sizes = hidden_sizes
        self.hidden_act = hidden_act
        self.dropout = dropout
        self.initializer_range = initializer_range
        super().__init__(num_labels=num_labels, **kwargs)


__all__ = ["MLPConfig"]
