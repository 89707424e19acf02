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
        "hf_methods.training.salun:SalUnLoss",
        "hf_methods.training.salun:compute_weight_saliency_mask",
        "hf_methods.training.salun:salun_unlearn",
    ),
    recipe="recipes/salun.py",
    claim=(
        "Saliency-masked random-label unlearning (SalUn) comes close to retraining (about a 0.2-point Avg. Gap on "
        "CIFAR-10 random forgetting) and closer than prior unlearning methods; on digits with a tiny CNN the check "
        "asserts, for class-wise forgetting, UA ≥ 95% at ≤ 3 points retain/test loss, ≥ 2 points more retain "
        "accuracy than UA-matched gradient ascent and an Avg. Gap no larger than random labels without the mask, "
        "and for 10% random forgetting an Avg. Gap no larger than fine-tuning, gradient ascent and random labels."
    ),
    venue="ICLR 2024",
    usage=(
        "from hf_methods import SalUnTrainer, compute_weight_saliency_mask\n"
        "from hf_methods.training.salun.training import (\n"
        "    digits_unlearning_split,\n"
        "    train_original,\n"
        "    unlearning_arguments,\n"
        ")\n"
        "\n"
        'data = digits_unlearning_split(seed=0, scenario="class", forget_class=3)  # D_f: every training image of 3\n'
        "model = train_original(data, seed=0, epochs=2)  # the model to unlearn (a tiny CNN)\n"
        "mask = compute_weight_saliency_mask(model, data.forget, keep_ratio=0.5)  # {param name: bool}, top 50%\n"
        'args = unlearning_arguments("/tmp/salun-usage", epochs=1, lr=0.01)\n'
        "trainer = SalUnTrainer(\n"
        "    model, args, forget_dataset=data.forget, retain_dataset=data.retain, mask=mask, num_classes=10\n"
        ")\n"
        "unlearned = trainer.unlearn()  # a new model; `model` is left untouched"
    ),
    notes=(
        "Classification only: the diffusion variant (the same mask on a class-conditional DDPM / Stable Diffusion) "
        "is not implemented. The CPU check runs both class-wise and random forgetting on digits with a tiny CNN; "
        "the paper's headline number is for random forgetting on CIFAR-10 with ResNet-18. As in the official code "
        "the mask covers every trainable parameter (biases included), the saliency is |Σ_batches ∇(−ℓ_CE)| with "
        "the model in eval mode, exactly ⌊keep_ratio · n⌋ weights are kept (ties broken by position), an epoch is a "
        "forget pass with random labels then a retain pass, and after every step the weights outside the mask are "
        "put back to their original values and their optimiser state (momentum) zeroed. The random labels are "
        "uniform over all classes by default, as the official CIFAR-10 code (they may equal the true label); "
        "`random_labels=\"other\"` draws y' ≠ y as the paper's equation. `SalUnTrainer` unlearns a copy of the "
        "model by default (`copy_model=True`). SGD with momentum is the official optimiser: "
        "`salun_unlearn` builds it (weight decay on every weight), while `SalUnTrainer` with default "
        "`TrainingArguments` uses the Trainer's optimiser."
    ),
)
