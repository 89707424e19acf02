"""P50 `hpm`: hard patches mining for masked image modelling (Wang et al., CVPR 2023).

A ViT-MAE (transformers' `ViTMAEForPreTraining`) with a second decoder, the loss predictor, trained with a pairwise
ranking loss to tell which masked patches the reconstructor finds hard; an EMA copy of the model predicts the
difficulty of every patch of the unmasked image, and an easy-to-hard growing share of the masked patches is taken
from the predicted-hardest ones.

```python
from hf_methods.training.hpm import HPMConfig, HPMForPreTraining, HPMTrainer

model = HPMForPreTraining(HPMConfig(image_size=8, patch_size=2, num_channels=1, hidden_size=64))
out = model(pixel_values, epoch=e, total_epochs=T)  # out.loss = reconstruction + ranking loss
trainer = HPMTrainer(model=model, args=training_args, train_dataset=images)  # EMA teacher mines the masks
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "HPMConfig": ".configuration_hpm",
        "HPMForPreTraining": ".modeling_hpm",
        "HPMForPreTrainingOutput": ".modeling_hpm",
        "easy_to_hard_ratio": ".modeling_hpm",
        "hard_patch_mask": ".modeling_hpm",
        "mask_to_noise": ".modeling_hpm",
        "HardPatchRankingLoss": ".loss",
        "hard_patch_ranking_loss": ".loss",
        "patch_reconstruction_losses": ".loss",
        "HPMTrainer": ".trainer",
        "HPMTeacherCallback": ".trainer",
    },
)
