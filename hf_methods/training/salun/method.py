"""The catalogue record of `salun` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="salun",
    paper_id="P27",
    title=(
        "SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency in Both Image Classification and "
        "Generation"
    ),
    arxiv="2310.12508",
    official_code="OPTML-Group/Unlearn-Saliency",
    kind="training",
    tags=("machine-unlearning", "saliency", "masks"),
    entry_points=(
        "hf_methods.training.salun:SalUnTrainer",
        "hf_methods.training.salun:compute_weight_saliency_mask",
    ),
    recipe="recipes/salun.py",
    claim=(
        "Saliency-masked random-label unlearning (SalUn) comes close to retraining (about a 0.2% gap on CIFAR-10) "
        "and is more stable than prior unlearning methods; on digits class forgetting the check asserts ≥95% "
        "unlearning accuracy at ≤3 points retain/test loss, and less retain damage than gradient ascent."
    ),
    venue="ICLR 2024",
    usage=(
        "mask = compute_weight_saliency_mask(model, forget_dl, keep_ratio=0.5)\n"
        "SalUnTrainer(model, args, forget_dataset=f, retain_dataset=r, mask=mask, num_classes=10).train()"
    ),
    notes="Only the classification variant is checked on CPU; the diffusion variant is out of scope of the check.",
)
