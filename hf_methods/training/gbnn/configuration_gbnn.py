"""Configuration of the one-hidden-layer network that gradient boosting assembles (Emami & Martínez-Muñoz, GBNN)."""

from transformers import PreTrainedConfig

GBNN_OBJECTIVES = ("squared", "log_exponential", "multinomial")
GBNN_ACTIVATIONS = ("logistic", "tanh", "relu", "identity")


def _check_int(name: str, value, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"`{name}` must be an int >= {low}, got {value!r}.")


class GradientBoostedMLPConfig(PreTrainedConfig):
    r"""
    Configuration of [`GradientBoostedMLPModel`], the single-hidden-layer network

        F(x) = V σ(W x + b) + c,

    that "Sequential Training of Neural Networks with Gradient Boosting" (Emami & Martínez-Muñoz) builds unit block by
    unit block. The number of outputs follows from the objective: `output_size` for `"squared"` (regression),
    one score for `"log_exponential"` (binary classification) and `num_labels` for `"multinomial"`.

    Args:
        input_size (`int`, *optional*, defaults to 4):
            Number of input features d.
        hidden_size (`int`, *optional*, defaults to 100):
            Number of hidden units (T·J after T boosting steps of J units; smaller after truncation).
        objective (`str`, *optional*, defaults to `"squared"`):
            `"squared"` (L2 regression), `"log_exponential"` (binary, L = log(1 + e^{−2yF}), y = ±1) or
            `"multinomial"` (softmax cross-entropy over `num_labels` classes).
        output_size (`int`, *optional*, defaults to 1):
            Number of regression targets (`"squared"` only).
        num_labels (`int`, *optional*, defaults to 2):
            Number of classes: 2 for `"log_exponential"`, >= 3 for `"multinomial"`.
        hidden_act (`str`, *optional*, defaults to `"logistic"`):
            Activation σ: `"logistic"` (the paper's), `"tanh"`, `"relu"` or `"identity"`.
        units_per_step (`int`, *optional*, defaults to 1):
            Units J added per boosting step (recorded for reference; truncation works at any unit count).

    ```python
    >>> from hf_methods.training.gbnn import GradientBoostedMLPConfig, GradientBoostedMLPModel

    >>> config = GradientBoostedMLPConfig(input_size=64, hidden_size=100, objective="multinomial", num_labels=10)
    >>> model = GradientBoostedMLPModel(config)
    ```"""

    model_type = "hfm-gbnn"

    def __init__(
        self,
        input_size: int = 4,
        hidden_size: int = 100,
        objective: str = "squared",
        output_size: int = 1,
        num_labels: int = 2,
        hidden_act: str = "logistic",
        units_per_step: int = 1,
        **kwargs,
    ):
        id2label = kwargs.get("id2label")
        if id2label is not None:  # a saved config carries its classes as id2label (num_labels is derived from it)
            num_labels = len(id2label)
        _check_int("input_size", input_size, 1)
        _check_int("hidden_size", hidden_size, 1)
        _check_int("output_size", output_size, 1)
        _check_int("units_per_step", units_per_step, 1)
        _check_int("num_labels", num_labels, 2)
        if objective not in GBNN_OBJECTIVES:
            raise ValueError(f"`objective` must be one of {GBNN_OBJECTIVES}, got {objective!r}.")
        if hidden_act not in GBNN_ACTIVATIONS:
            raise ValueError(f"`hidden_act` must be one of {GBNN_ACTIVATIONS}, got {hidden_act!r}.")
        if objective == "log_exponential" and num_labels != 2:
            raise ValueError(f"`num_labels` must be 2 for the log_exponential objective, got {num_labels}.")
        if objective == "multinomial" and num_labels < 3:
            raise ValueError(
                f"`num_labels` must be >= 3 for the multinomial objective, got {num_labels} (use log_exponential)."
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.objective = objective
        self.output_size = output_size
        self.hidden_act = hidden_act
        self.units_per_step = units_per_step
        if id2label is None:
            kwargs["num_labels"] = num_labels
        super().__init__(**kwargs)

    @property
    def score_size(self) -> int:
        """Width of the output layer: the number of boosted scores F(x)."""
        return {"squared": self.output_size, "log_exponential": 1, "multinomial": self.num_labels}[self.objective]


GradientBoostedMLPConfig.register_for_auto_class()

__all__ = ["GradientBoostedMLPConfig"]
