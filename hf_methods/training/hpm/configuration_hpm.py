"""`HPMConfig`: a ViT-MAE configuration with the settings of hard patches mining (HPM, Wang et al., CVPR 2023)."""

from __future__ import annotations

from transformers import ViTMAEConfig

from hf_methods.common.checks import check_number


class HPMConfig(ViTMAEConfig):
    """Configuration of [`HPMForPreTraining`]: every [`transformers.ViTMAEConfig`] field, plus

    Args:
        max_hard_ratio (`float`, *optional*, defaults to 0.5): the largest share α of the masked patches chosen as the
            predicted-hardest ones; the easy-to-hard schedule grows α_t = max_hard_ratio · (t + 1) / T over the
            epochs t = 0 … T − 1 (the official code uses 0.5), the rest of the masked patches are drawn at random.
        ranking_loss_weight (`float`, *optional*, defaults to 1.0): the weight of the loss predictor's ranking loss
            in L = L_rec + w · L_pred (the official code adds them with weight 1; 0 trains a plain MAE).
        loss_predictor_num_hidden_layers (`int`, *optional*): depth of the loss-predictor decoder; defaults to
            `decoder_num_hidden_layers` (the official code uses two decoders of equal depth).

    Example:

    ```python
    >>> config = HPMConfig(image_size=8, patch_size=2, num_channels=1, hidden_size=64, num_hidden_layers=4)
    >>> model = HPMForPreTraining(config)
    ```
    """

    model_type = "hfm-hpm"

    def __init__(
        self,
        max_hard_ratio: float = 0.5,
        ranking_loss_weight: float = 1.0,
        loss_predictor_num_hidden_layers: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_hard_ratio = check_number("max_hard_ratio", max_hard_ratio, low=0, high=1)
        self.ranking_loss_weight = check_number("ranking_loss_weight", ranking_loss_weight, low=0)
        check_number("mask_ratio", self.mask_ratio, low=0, high=1, high_open=True)
        if loss_predictor_num_hidden_layers is None:
            loss_predictor_num_hidden_layers = self.decoder_num_hidden_layers
        if not isinstance(loss_predictor_num_hidden_layers, int) or loss_predictor_num_hidden_layers < 1:
            raise ValueError(
                f"loss_predictor_num_hidden_layers must be a positive integer, got {loss_predictor_num_hidden_layers!r}"
            )
        self.loss_predictor_num_hidden_layers = loss_predictor_num_hidden_layers
