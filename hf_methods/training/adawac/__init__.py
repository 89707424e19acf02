"""P34 `adawac`: adaptively weighted data-augmentation consistency regularization (Dong, Xie & Ward, ICML 2023).

Each training sample keeps weights β_i = (β_i^sup, β_i^con) on the simplex that split its loss between the supervised
cross-entropy and a consistency term between the latents of two augmented views; the weights take an
exponentiated-gradient (mirror ascent) step each time the sample is visited, the model a gradient step on the
weighted loss (plus an unweighted Dice term).

```python
from hf_methods.training.adawac import AdaWACLoss, AdaWACTrainer

loss_fn = AdaWACLoss(num_samples=len(ds), lr_w=8.0, dac_coef=2.0, dice_ratio=0.5)
loss = loss_fn(logits1, logits2, latent1, latent2, labels1, labels2, sample_idx)  # updates loss_fn.beta[sample_idx]
trainer = AdaWACTrainer(model=unet, args=args, train_dataset=ds, data_collator=TwoViewCollator(aug), loss=loss_fn)
```

The room also holds a tiny UNet exposing its latent (`TinyUNetConfig`, `TinyUNetForSegmentation`), the synthetic
16×16 segmentation data with label-sparse samples and the photometric two-view augmentation (`data`).
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AdaWACLoss": ".loss",
        "dice_ce_loss": ".loss",
        "latent_consistency": ".loss",
        "mirror_ascent_step": ".loss",
        "pixel_cross_entropy": ".loss",
        "soft_dice_loss": ".loss",
        "AdaWACTrainer": ".trainer",
        "TinyUNetConfig": ".modeling_unet",
        "TinyUNetForSegmentation": ".modeling_unet",
        "TinyUNetOutput": ".modeling_unet",
        "IndexedSegmentation": ".data",
        "PhotometricAugmentation": ".data",
        "ShapesSegmentation": ".data",
        "TwoViewCollator": ".data",
        "make_shapes_segmentation": ".data",
    },
)
