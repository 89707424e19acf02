"""Configuration of the P2C classifier with auxiliary preference heads (`model_type` "hfm-p2c")."""

from __future__ import annotations

from transformers import AutoConfig, PreTrainedConfig


class P2CConfig(PreTrainedConfig):
    r"""
    Configuration of [`P2CForSequenceClassification`]: any encoder (`AutoModel.from_config(encoder_config)`, e.g. a
    BERT or RoBERTa encoder, or the hf-methods MLP for feature vectors), a linear classification head and an ensemble
    of preference heads, from "Prefer to Classify: Improving Text Classifiers via Auxiliary Preference Learning"
    (Kim, Shin & Kang, ICML 2023).

    Each preference head is `r_h(x, y) = tanh(W₃ ReLU(W₂ ReLU(W₁ [h(x); y·1] + b₁) + b₂) + b₃)`, where `h(x)` is the
    encoder's first-token (CLS) state and `y·1` the task label repeated `hidden_size` times, as in the official
    `Classifier_pref_ensemble`.

    Args:
        encoder_config (`PreTrainedConfig` or `dict`, *optional*):
            The encoder's configuration (a dict must carry its `model_type`). Defaults to `BertConfig()`.
        num_labels (`int`, *optional*, defaults to 2):
            Number of task classes (read from `id2label` when that is given instead).
        num_preference_heads (`int`, *optional*, defaults to 3):
            Size of the preference-head ensemble (3 in the paper).
        preference_hidden_size (`int`, *optional*):
            Width of the preference heads' two hidden layers; defaults to the encoder's hidden size (official code).
        classifier_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the pooled features before the classification head.
        initializer_range (`float`, *optional*, defaults to 0.0):
            Standard deviation of the normal init of the heads' weights; 0 keeps PyTorch's default `Linear` init. The
            encoder is initialised by its own model class.

    ```python
    >>> from transformers import BertConfig
    >>> from hf_methods.training.p2c import P2CConfig, P2CForSequenceClassification

    >>> encoder = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    >>> model = P2CForSequenceClassification(P2CConfig(encoder_config=encoder, num_labels=2))
    ```
    """

    model_type = "hfm-p2c"

    def __init__(
        self,
        encoder_config: PreTrainedConfig | dict | None = None,
        num_labels: int | None = None,
        num_preference_heads: int = 3,
        preference_hidden_size: int | None = None,
        classifier_dropout: float = 0.1,
        initializer_range: float = 0.0,
        **kwargs,
    ):
        if encoder_config is None:
            encoder_config = AutoConfig.for_model("bert")
        elif isinstance(encoder_config, dict):
            encoder_config = dict(encoder_config)
            if "model_type" not in encoder_config:
                raise ValueError("encoder_config as a dict must name its `model_type` (e.g. 'bert')")
            encoder_config = AutoConfig.for_model(encoder_config.pop("model_type"), **encoder_config)
        elif not isinstance(encoder_config, PreTrainedConfig):
            raise TypeError(
                f"encoder_config must be a PreTrainedConfig, a dict or None, got {type(encoder_config).__name__}"
            )
        if not isinstance(num_preference_heads, int) or num_preference_heads < 1:
            raise ValueError(f"num_preference_heads must be an integer >= 1, got {num_preference_heads!r}")
        if preference_hidden_size is not None and preference_hidden_size < 1:
            raise ValueError(f"preference_hidden_size must be >= 1, got {preference_hidden_size}")
        if not 0.0 <= classifier_dropout < 1.0:
            raise ValueError(f"classifier_dropout must be in [0, 1), got {classifier_dropout}")
        if num_labels is None:  # a saved config carries its labels as `id2label`
            num_labels = len(kwargs["id2label"]) if kwargs.get("id2label") else 2
        if num_labels < 2:
            raise ValueError(f"num_labels must be >= 2, got {num_labels}")
        if initializer_range < 0:
            raise ValueError(f"initializer_range must be >= 0, got {initializer_range}")
        self.encoder_config = encoder_config
        self.num_preference_heads = num_preference_heads
        self.preference_hidden_size = preference_hidden_size
        self.classifier_dropout = classifier_dropout
        self.initializer_range = initializer_range
        super().__init__(num_labels=num_labels, **kwargs)

    @property
    def encoder_hidden_size(self) -> int:
        """Width of the encoder's features: `hidden_size`, or the last of `hidden_sizes` (the hf-methods MLP)."""
        config = self.encoder_config
        if getattr(config, "hidden_size", None):
            return int(config.hidden_size)
        sizes = getattr(config, "hidden_sizes", None)
        if sizes:
            return int(sizes[-1])
        if getattr(config, "input_size", None):
            return int(config.input_size)
        raise ValueError(f"cannot tell the hidden size of encoder_config ({type(config).__name__})")

    def to_dict(self):
        output = super().to_dict()
        if isinstance(self.encoder_config, PreTrainedConfig):
            output["encoder_config"] = self.encoder_config.to_dict()
        return output


__all__ = ["P2CConfig"]
