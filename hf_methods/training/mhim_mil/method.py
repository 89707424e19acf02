"""The catalogue record of `mhim_mil` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="mhim_mil",
    paper_id="P63",
    title=(
        "Multiple Instance Learning Framework with Masked Hard Instance Mining for Whole Slide Image Classification"
    ),
    arxiv="2307.15254",
    official_code="DearCaat/MHIM-MIL",
    kind="training",
    tags=("multiple-instance-learning", "hard-mining", "pathology", "ema-teacher"),
    entry_points=(
        "hf_methods.training.mhim_mil:ABMILConfig",
        "hf_methods.training.mhim_mil:ABMILForBagClassification",
        "hf_methods.training.mhim_mil:MHIMTrainer",
        "hf_methods.training.mhim_mil:mhim_instance_mask",
        "hf_methods.training.mhim_mil:mhim_consistency_loss",
        "hf_methods.training.mhim_mil:MHIMConsistencyLoss",
    ),
    auto_classes={
        "AutoConfig": "hf_methods.training.mhim_mil.configuration_mhim_mil:ABMILConfig",
        "AutoModel": "hf_methods.training.mhim_mil.modeling_mhim_mil:ABMILForBagClassification",
    },
    recipe="recipes/mhim_mil.py",
    claim=(
        "Masking an EMA teacher's most-attended instances forces an attention-MIL student to learn hard instances "
        "(CAMELYON-16 AUC 0.958 for ABMIL); on synthetic digit bags whose test positives are all hard the check "
        "asserts MHIM AUC ≥ a 40-epoch ABMIL baseline + 0.02 (4 seeds) and that the teacher masks the easy positive "
        "in at least half the positive bags."
    ),
    venue="ICCV 2023",
    usage=(
        "import copy\n"
        "import tempfile\n"
        "\n"
        "import torch\n"
        "from datasets import Dataset\n"
        "from transformers import TrainingArguments\n"
        "\n"
        "from hf_methods import ABMILConfig, ABMILForBagClassification, MHIMTrainer, mhim_instance_mask\n"
        "\n"
        "# bags of instance features (L_i, 64) with a bag label; pretrain an ABMIL baseline first (see the recipe)\n"
        "bags = Dataset.from_dict(\n"
        '    {"instances": [torch.rand(n, 64).tolist() for n in (30, 45, 38, 52)], "labels": [0, 1, 0, 1]}\n'
        ")\n"
        "pretrained_abmil = ABMILForBagClassification(ABMILConfig(input_dim=64, hidden_size=128, num_labels=2))\n"
        "student = copy.deepcopy(pretrained_abmil)\n"
        "args = TrainingArguments(tempfile.mkdtemp(), max_steps=2, per_device_train_batch_size=1, report_to=[])\n"
        "trainer = MHIMTrainer(model=student, teacher=pretrained_abmil, args=args, train_dataset=bags,\n"
        "                      mask_ratio_h=0.01, mask_ratio_hr=0.5, cl_alpha=0.1, ema_momentum=0.9999)\n"
        "trainer.train()\n"
        "\n"
        "# the masking alone: hide the top-attended instances of each bag from the student\n"
        "attention = trainer.teacher.module(instances=torch.rand(1, 40, 64)).attentions\n"
        "masked = mhim_instance_mask(attention, mask_ratio_h=0.05, mask_ratio_hr=1.0)  # the top ⌈40·0.05⌉ = 2"
    ),
    notes=(
        "Follows the ICCV version (branch v1), not the IJCV 2025 instance-merging extension on master, with the ABMIL "
        "(`baseline=attn`) student: instance projection + ReLU, `DAttention` (bias-free Linear-ReLU-Linear scorer, "
        "softmax over the bag), linear classifier; the 1024 → 512 projection of pathology features is configurable. "
        "Masking follows `select_mask_fn`: random ⌈n·r⌉, lowest-attention ⌈n·r_l⌉ and a random ⌈k·r_hr⌉ of the top "
        "k = ⌈n·r_h/r_hr⌉ instances (every instance a candidate when r_h/r_hr > 1, as officially), their union; "
        "departures: padding is never masked, and if the union would cover a whole bag its least-attended instance is "
        "kept. Loss CE + α·soft-target CE of the student's bag feature against softmax(teacher bag feature / 0.1), "
        "teacher on the whole bag. The EMA teacher is the shared `ema_teacher` (an `AveragedModel`) of the "
        "pre-trained baseline, with its first update already an EMA step (an `AveragedModel` would otherwise copy "
        "the student on the first update); the momentum is constant (the official `--mm_sche` cosine-to-1 schedule, "
        "unused in the CAMELYON-16 ABMIL run, is not implemented) and the teacher runs in eval mode (dropout off). "
        "r_h decays with the official per-iteration cosine schedule (`--mrh_sche`). `MHIMTrainer` does not save the "
        "EMA teacher in its checkpoints (a resumed Trainer run restarts the teacher from `teacher`); the recipe saves "
        "it. The claim's stand-in data are bags of 8×8 digits, not CAMELYON-16 patch features, and it sets the random "
        "mask ratio r to 0 (official CAMELYON-16 ABMIL run: 0.5), since bags of 30–60 with 1–3 hard positives would "
        "often lose every positive to a 50% random mask."
    ),
)
