"""Configuration of the template-mixing MLP of MixtureGrowth (`model_type` "hfm-mixturegrowth")."""

from transformers import PreTrainedConfig

TEMPLATE_MIXING_ACTIVATIONS = ("relu", "tanh", "gelu")
#: The template set of each block of a grown square layer, in the block order of the official `ensemble_growth_type
#: "diag"` layout `[[W₀, W₂], [W₃, W₁]]`: the members keep their own sets (0 and 1), the new blocks reuse them.
DEFAULT_BLOCK_TEMPLATE_SETS = (0, 1, 0, 1)


class TemplateMixingConfig(PreTrainedConfig):
    r"""
    Configuration of [`TemplateMixingMLP`], the network of "MixtureGrowth: Growing Neural Networks by Recombining
    Learned Parameters" (Pham, Teterwak, Nelson & Plummer, WACV 2024) as an MLP.

    Every weight matrix is assembled from blocks, and every block is a linear combination of the parameter templates
    of one template set: `W_b = Σ_k α_{b,k} T_{s(b),k}`. A network has one or two *members*:

    - `num_members=1`: a single network, one block per layer (a member before growth);
    - `num_members=2, grown=False`: two half-width members side by side (block-diagonal weights, member `m` using
      template set `m`); each member is trained on its own (the loss is the sum of the members' cross-entropies) and
      the logits are the sum of the members' logits;
    - `num_members=2, grown=True`: the grown network. Hidden-to-hidden layers are `[[W₀, W₂], [W₃, W₁]]` (the
      official "diag" layout), the first layer is `[[W₀], [W₁]]` and the classifier `[W₀, W₁]`.

    Args:
        input_size (`int`, *optional*, defaults to 64):
            Number of input features.
        hidden_sizes (`list[int]`, *optional*, defaults to `[128, 128]`):
            The width of each hidden layer of the whole network (with two members, each member has half of it).
        num_labels (`int`, *optional*, defaults to 10):
            Number of classes.
        num_templates (`int`, *optional*, defaults to 2):
            Number of templates in each template set (the official `num_templates_each_set`).
        num_members (`int`, *optional*, defaults to 1):
            1 or 2 (see above).
        grown (`bool`, *optional*, defaults to `False`):
            Whether the two members have been grown into one network (only with `num_members=2`).
        block_template_sets (`list[int]`, *optional*, defaults to `[0, 1, 0, 1]`):
            Template set of the blocks `W₀, W₁, W₂, W₃` of a hidden-to-hidden layer (the official
            `member_template_sets`). The members own sets 0 and 1; MixtureGrowth builds the new blocks from them
            (`[0, 1, 0, 1]` or `[0, 1, 1, 0]`); `[0, 1, 2, 3]` gives the new blocks their own, freshly initialised
            templates (random-initialised growth).
        hidden_act (`str`, *optional*, defaults to `"relu"`):
            One of `"relu"`, `"tanh"`, `"gelu"`.
        use_batch_norm (`bool`, *optional*, defaults to `True`):
            A `BatchNorm1d` after every hidden layer (before the activation), as the official networks have.

    ```python
    >>> from hf_methods import TemplateMixingConfig, TemplateMixingMLP

    >>> member = TemplateMixingMLP(TemplateMixingConfig(input_size=64, hidden_sizes=[64, 64], num_labels=10))
    >>> pair = TemplateMixingMLP(TemplateMixingConfig(input_size=64, hidden_sizes=[128, 128], num_members=2))
    ```"""

    model_type = "hfm-mixturegrowth"

    def __init__(
        self,
        input_size: int = 64,
        hidden_sizes: list[int] | None = None,
        num_labels: int | None = None,
        num_templates: int = 2,
        num_members: int = 1,
        grown: bool = False,
        block_template_sets: list[int] | None = None,
        hidden_act: str = "relu",
        use_batch_norm: bool = True,
        **kwargs,
    ):
        hidden_sizes = [128, 128] if hidden_sizes is None else list(hidden_sizes)
        block_template_sets = list(DEFAULT_BLOCK_TEMPLATE_SETS if block_template_sets is None else block_template_sets)
        if num_labels is None:  # a saved config carries its classes as id2label
            num_labels = len(kwargs["id2label"]) if kwargs.get("id2label") else 10
        _check_positive_int("input_size", input_size)
        _check_positive_int("num_templates", num_templates)
        _check_positive_int("num_labels", num_labels)
        if not hidden_sizes:
            raise ValueError("hidden_sizes must list at least one hidden layer width, got []")
        for width in hidden_sizes:
            _check_positive_int("hidden_sizes", width)
        if num_members not in (1, 2) or isinstance(num_members, bool):
            raise ValueError(f"num_members must be 1 or 2, got {num_members!r}")
        if num_members == 2 and any(width % 2 for width in hidden_sizes):
            raise ValueError(f"hidden_sizes must be even with num_members=2 (two halves), got {hidden_sizes}")
        if grown and num_members != 2:
            raise ValueError("grown=True needs num_members=2: a single member has nothing to grow from")
        if (
            len(block_template_sets) != 4
            or block_template_sets[:2] != [0, 1]
            or any(s not in (0, 1, 2, 3) or isinstance(s, bool) for s in block_template_sets)
        ):
            raise ValueError(
                "block_template_sets must give the template set of the blocks [W0, W1, W2, W3]: sets 0 and 1 for the "
                f"members and a set in 0..3 for each new block, e.g. [0, 1, 0, 1]; got {block_template_sets}"
            )
        if hidden_act not in TEMPLATE_MIXING_ACTIVATIONS:
            raise ValueError(f"hidden_act must be one of {TEMPLATE_MIXING_ACTIVATIONS}, got {hidden_act!r}")
        self.input_size = input_size
        self.hidden_sizes = [int(width) for width in hidden_sizes]
        self.num_templates = num_templates
        self.num_members = num_members
        self.grown = bool(grown)
        self.block_template_sets = [int(s) for s in block_template_sets]
        self.hidden_act = hidden_act
        self.use_batch_norm = bool(use_batch_norm)
        super().__init__(num_labels=num_labels, **kwargs)

    @property
    def trains_members(self) -> bool:
        """Two members not grown yet: each is trained on its own."""
        return self.num_members == 2 and not self.grown


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


TemplateMixingConfig.register_for_auto_class()

__all__ = ["TemplateMixingConfig"]
