"""The catalogue record of `crkd` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="crkd",
    paper_id="P19",
    title="Class-relation Knowledge Distillation for Novel Class Discovery",
    arxiv="2307.09158",
    official_code="kleinzcy/Cr-KD-NCD",
    kind="training",
    tags=("novel-class-discovery", "distillation", "clustering"),
    entry_points=(
        "hf_methods.training.crkd:class_relation_kd_loss",
        "hf_methods.training.crkd:ClassRelationKDLoss",
        "hf_methods.training.crkd:CrKDNCDTrainer",
        "hf_methods.training.crkd:CrKDNCDConfig",
        "hf_methods.training.crkd:CrKDNCDModel",
    ),
    auto_classes={
        "AutoConfig": "hf_methods.training.crkd.configuration_crkd:CrKDNCDConfig",
        "AutoModel": "hf_methods.training.crkd.modeling_crkd:CrKDNCDModel",
    },
    recipe="recipes/crkd.py",
    claim=(
        "Class-relation distillation from the frozen known-class model improves novel class discovery over the UNO "
        "baseline it is added to; on digits (known 0–4, novel 5–9, MLP, 5 seeds) the check asserts mean-1 KD weights "
        "and a frozen teacher exactly, and +0.02 novel-class Hungarian accuracy of the best head over UNO."
    ),
    venue="ICCV 2023",
    usage=(
        "import tempfile\n"
        "\n"
        "import torch\n"
        "from datasets import Dataset\n"
        "from transformers import TrainingArguments\n"
        "\n"
        "from hf_methods import CrKDNCDConfig, CrKDNCDModel, CrKDNCDTrainer, class_relation_kd_loss\n"
        "\n"
        "# the loss alone: teacher known-class logits (B, C_k), student [known | novel] logits (B, C_k + C_n)\n"
        "teacher_known, logits = torch.rand(8, 5) * 2 - 1, torch.rand(8, 10) * 2 - 1\n"
        "unlabeled = torch.tensor([True] * 6 + [False] * 2)\n"
        "loss_kd = class_relation_kd_loss(teacher_known, logits, unlabeled, kd_temperature=4.0, temperature=0.1)\n"
        "\n"
        "# discovery: labelled known classes + unlabelled novel images; the teacher is the pretrained known-class model\n"
        "config = CrKDNCDConfig(input_size=64, hidden_sizes=[64], num_known_classes=5, num_novel_classes=5)\n"
        "pretrained, student = CrKDNCDModel(config), CrKDNCDModel(config)  # pretrain with labels first; see recipes\n"
        'labeled = Dataset.from_dict({"pixel_values": torch.rand(32, 64).tolist(), "labels": [i % 5 for i in range(32)]})\n'
        'unlabeled_set = Dataset.from_dict({"pixel_values": torch.rand(32, 64).tolist()})\n'
        "args = TrainingArguments(tempfile.mkdtemp(), max_steps=2, per_device_train_batch_size=16, report_to=[])\n"
        "CrKDNCDTrainer(\n"
        "    model=student, teacher=pretrained, args=args, train_dataset=labeled, unlabeled_dataset=unlabeled_set, alpha=0.1\n"
        ").train()\n"
        "clusters = student.predict_novel(torch.rand(4, 64))  # novel cluster ids from the best head"
    ),
    notes=(
        "The KD term follows the official `KD()`: the cross-entropy T²·Σ −p_old log p_new on the unlabelled samples of "
        "the first two views, for every head, with the gate ω = (student's softmax mass on the known classes) / its "
        "mean over views, heads and samples, and no stop-gradient on ω (the abstract's 'learnable' weighting is this "
        "gate computed from the model's own logits, not a separate parameter). The discovery trainer is UNO as in "
        "`rKD.py`: prototype heads renormalised before each step, Sinkhorn–Knopp pseudo-labels (ε 0.05, 3 iterations) "
        "per view and head, swapped prediction at τ 0.1, best head = lowest accumulated clustering loss (kept in the "
        "model buffer `head_losses`). Departures at CPU scale: an MLP encoder instead of ResNet-18/ViT, two views from "
        "±1-pixel shifts plus Gaussian noise instead of 2 large + 2 small crops (8×8 digits), 240 discovery steps with "
        "SGD lr 0.1 instead of 500 epochs at lr 0.4, and the pretrained model built by the recipe itself. In the "
        "Trainer the view generator's state is not checkpointed; the recipe seeds each step's views by (seed, step), "
        "so its resumed runs see the same views."
    ),
)
