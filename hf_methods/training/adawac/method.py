"""The catalogue record of `adawac` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="adawac",
    paper_id="P34",
    title=(
        "Adaptively Weighted Data Augmentation Consistency Regularization for Robust Optimization under Concept Shift"
    ),
    arxiv="2210.01891",
    official_code="gail-yxie/adawac",
    kind="training",
    tags=("consistency-regularization", "sample-reweighting", "segmentation", "concept-shift"),
    entry_points=(
        "hf_methods.training.adawac:AdaWACLoss",
        "hf_methods.training.adawac:AdaWACTrainer",
    ),
    recipe="recipes/adawac.py",
    claim=(
        "Per-sample mirror-ascent weights between the supervised loss and a latent consistency loss (AdaWAC) assign "
        "label-dense samples to the supervised term and label-sparse ones to the consistency term, and improve "
        "segmentation; on synthetic 16x16 segmentation with 50% zeroed masks (tiny UNet, 30 epochs, lr_w=8, 3 seeds) "
        "the check asserts mean beta_sup(label-dense) - mean beta_sup(label-sparse) >= 0.2, test Dice >= ERM + 0.03 and "
        "weights on the simplex."
    ),
    venue="ICML 2023",
    usage=(
        "import tempfile\n"
        "\n"
        "from transformers import TrainingArguments\n"
        "\n"
        "from hf_methods import AdaWACLoss, AdaWACTrainer\n"
        "from hf_methods.training.adawac import (\n"
        "    IndexedSegmentation, PhotometricAugmentation, TinyUNetConfig, TinyUNetForSegmentation, TwoViewCollator,\n"
        "    make_shapes_segmentation,\n"
        ")\n"
        "\n"
        "# 16x16 discs and squares; half of the masks zeroed (label-sparse samples)\n"
        "data = make_shapes_segmentation(32, seed=0, sparse_fraction=0.5)\n"
        "train_set = IndexedSegmentation(data.images, data.masks)  # items carry their `sample_idx`\n"
        "model = TinyUNetForSegmentation(TinyUNetConfig(base_channels=4, depth=2))  # returns logits and latent\n"
        "loss_fn = AdaWACLoss(num_samples=len(train_set), lr_w=8.0, dac_coef=2.0, dice_ratio=0.5)\n"
        "training_args = TrainingArguments(\n"
        "    tempfile.mkdtemp(), max_steps=4, per_device_train_batch_size=8, remove_unused_columns=False, report_to=[]\n"
        ")\n"
        "collator = TwoViewCollator(PhotometricAugmentation())  # two photometric views per batch\n"
        "AdaWACTrainer(\n"
        "    model=model, args=training_args, train_dataset=train_set, data_collator=collator, loss=loss_fn\n"
        ").train()\n"
        "print(loss_fn.beta[:4])  # per-sample (beta_sup, beta_con), rows on the simplex"
    ),
    notes=(
        "The beta step is the official one (beta_sup *= exp(lr_w (CE - DAC)), then L1-normalised; the new weights "
        "weight the model loss, detached), computed as a float64 softmax of log beta + lr_w * loss. The Dice term is "
        "the official batch-wide soft Dice (dice_mode='sample' gives a per-sample one) and is not reweighted. lr_w "
        "defaults to 1.0 as in the official code; the recipe and the claim use 8.0 as the official UNet/TransUNet "
        "scripts do. The two views are photometric (intensity jitter, Gaussian noise) so the latents stay aligned; "
        "the official code compares the bottleneck features of independently rotated/flipped views. The claim check "
        "is a synthetic stand-in (tiny UNet from scratch, 16x16 images, 30 epochs) for the paper's Synapse/ACDC "
        "experiments; its label-sparse images carry a faint stripe pattern (their own subpopulation, as label-sparse "
        "slices are other anatomy), and the same comparison without it is recorded under no rule."
    ),
)
