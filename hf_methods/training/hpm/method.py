"""The catalogue record of `hpm` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="hpm",
    paper_id="P50",
    title="Bootstrap Masked Visual Modeling via Hard Patches Mining",
    arxiv=None,
    official_code="Haochen-Wang409/HPM",
    kind="training",
    tags=("masked-image-modeling", "self-supervised", "vision-transformer"),
    entry_points=(
        "hf_methods.training.hpm:HPMConfig",
        "hf_methods.training.hpm:HPMForPreTraining",
        "hf_methods.training.hpm:HPMTrainer",
        "hf_methods.training.hpm:HardPatchRankingLoss",
        "hf_methods.training.hpm:hard_patch_mask",
    ),
    recipe="recipes/hpm.py",
    claim=(
        "Masking the patches that a loss predictor marks as hard bootstraps better masked-image representations "
        "than random masking (ViT-B/16 84.2% vs MAE 83.6% on ImageNet-1K); on 8x8 digits (3 seeds, 20 epochs) the "
        "check asserts that predicted and actual patch losses correlate (Spearman ρ > 0.3) and that HPM masks "
        "(α = 0.5) are ≥1.1x harder to reconstruct than random ones, reporting HPM vs MAE linear-probe accuracy "
        "without a rule."
    ),
    usage=(
        "import torch\n"
        "\n"
        "from hf_methods import HPMConfig, HPMForPreTraining\n"
        "\n"
        "config = HPMConfig(image_size=8, patch_size=2, num_channels=1, hidden_size=64, num_hidden_layers=4,\n"
        "                   num_attention_heads=4, decoder_hidden_size=64, decoder_num_hidden_layers=2, mask_ratio=0.75)\n"
        "model = HPMForPreTraining(config)\n"
        "pixel_values = torch.rand(8, 1, 8, 8)\n"
        "teacher_scores = model.predict_patch_losses(pixel_values).detach()  # an EMA copy's ŝ on unmasked images\n"
        "out = model(pixel_values, predicted_losses=teacher_scores, epoch=3, total_epochs=10)\n"
        "out.loss.backward()  # reconstruction of the masked patches + ranking loss of the loss predictor\n"
        "# HPMTrainer(model=model, args=training_args, train_dataset=images) keeps the EMA teacher and mines the masks"
    ),
    notes=(
        "The title is the journal extension's; the method and numbers are those of the CVPR 2023 paper 'Hard Patches "
        "Mining for Masked Image Modeling' (arXiv 2304.05919). Built on transformers' ViTMAEForPreTraining: masks "
        "reach ViT-MAE through its `noise` argument. The loss predictor is a second ViTMAEDecoder with its own "
        "embedding and mask token (the official code shares them with the reconstructor and only duplicates the "
        "blocks, norm and head). The ranking loss normalises each image by its own untied pairs and averages the "
        "images (official: one normalisation over the whole batch; equal without ties). The fixed sin-cos position "
        "tables are filled explicitly (the installed ViT-MAE leaves them at zero when built from a config). "
        "HPMTrainer steps α_t per Trainer epoch and does not checkpoint its EMA teacher (the recipe does). The "
        "claim scales the EMA momentum down (0.99 → 0.995 over the first 1/8 of ~460 steps, official 0.999 → 0.9999 "
        "over 100 of 800 epochs) and uses an 8x8 digits ViT (16 patches), so it checks the mechanism, not the "
        "ImageNet gain."
    ),
)
