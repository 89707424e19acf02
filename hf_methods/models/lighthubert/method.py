"""The catalogue record of `lighthubert` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="lighthubert",
    paper_id="P07",
    title=(
        "LightHuBERT: Lightweight and Configurable Speech Representation Learning with Once-for-All Hidden-Unit BERT"
    ),
    arxiv="2203.15610",
    official_code="mechanicalsea/lighthubert",
    kind="models",
    tags=("speech", "once-for-all", "distillation", "supernet"),
    entry_points=(
        "hf_methods.models.lighthubert:LightHuBERTConfig",
        "hf_methods.models.lighthubert:LightHuBERTModel",
        "hf_methods.models.lighthubert:LightHuBERTSupernet",
        "hf_methods.models.lighthubert:OnceForAllDistillationTrainer",
        "hf_methods.models.lighthubert:masked_prediction_loss",
    ),
    recipe="recipes/lighthubert.py",
    auto_classes={
        "AutoConfig": "hf_methods.models.lighthubert.configuration_lighthubert:LightHuBERTConfig",
        "AutoModel": "hf_methods.models.lighthubert.modeling_lighthubert:LightHuBERTModel",
    },
    claim=(
        "A once-for-all LightHuBERT supernet trained by two-stage distillation holds over 10^9 subnets usable "
        "without retraining, and small ones stay close to the teacher; the CPU check (synthetic sinusoid speech, a "
        "random tiny HuBERT teacher, supernet embed {32,48,64} × heads {2,3,4} × FFN ratio {2,3,4}) asserts exact "
        "slicing, that after stage 2 the sliced min and mid subnets reach ≤ 0.7× the held-out distillation loss of "
        "the same slices of a stage-1-only supernet trained for the same number of steps, and that the max subnet "
        "stays within 1.1× (3 seeds, paired)."
    ),
    usage=(
        "import tempfile\n"
        "\n"
        "from transformers import AutoModel, TrainingArguments\n"
        "\n"
        "from hf_methods.models.lighthubert import LightHuBERTSupernet, OnceForAllDistillationTrainer\n"
        "from hf_methods.models.lighthubert.training import (\n"
        "    LightHuBERTMaskingCollator, lighthubert_feature_extractor, synthetic_speech, tiny_hubert_teacher,\n"
        "    toy_supernet_config,\n"
        ")\n"
        "\n"
        "config = toy_supernet_config()  # or LightHuBERTConfig.small() / .base(): the paper's search spaces\n"
        "supernet = LightHuBERTSupernet(config)\n"
        "teacher = tiny_hubert_teacher()  # a transformers HubertModel (real HuBERT weights are not offline)\n"
        'train = [{"input_values": clip} for clip in synthetic_speech(64)]\n'
        "with tempfile.TemporaryDirectory() as folder:\n"
        "    args = TrainingArguments(folder, max_steps=4, per_device_train_batch_size=8, report_to=[],\n"
        "                             remove_unused_columns=False, use_cpu=True)\n"
        "    trainer = OnceForAllDistillationTrainer(model=supernet, teacher=teacher, stage=2, args=args,\n"
        "                                            train_dataset=train, data_collator=LightHuBERTMaskingCollator(config))\n"
        "    trainer.train()  # a random subnet per step; the supernet ends at its max subnet\n"
        "    subnet = supernet.extract_subnet(config.min_subnet)  # a standalone LightHuBERTModel\n"
        '    subnet.save_pretrained(folder + "/min")\n'
        '    lighthubert_feature_extractor(sampling_rate=1000).save_pretrained(folder + "/min")\n'
        '    loaded = AutoModel.from_pretrained(folder + "/min", trust_remote_code=True)\n'
        'print(sum(p.numel() for p in loaded.parameters()), "parameters in the min subnet")'
    ),
    notes=(
        "The official repository releases the model, the supernet and the subnet search, not the distillation "
        "training code: the two-stage loop (stage 1 on the max subnet, stage 2 with one uniformly drawn subnet per "
        "step) and the loss are reconstructions from the paper; the loss form (masked-frame MSE, plus the unmasked "
        "frames with weight `unmasked_loss_weight`, 0 by default and 1 in the claim check) is unverified. A subnet "
        "of depth d keeps the first d layers (the official 12-layer supernet drops layers inside 4-layer blocks). "
        "The positional convolution has no weight normalisation (the official supernet slices the normalised "
        "weight); the waveform encoder uses LayerNorm blocks; the official sliding-window attention option is not "
        "ported (the released models use global attention). Saved supernets are written as their max subnet "
        "(plain weights and remote code) and load back with `LightHuBERTSupernet.from_pretrained`. Real HuBERT "
        "weights are not available offline: the recipe and the check use a random tiny HuBERT teacher and "
        "synthetic sinusoid speech; the five LibriVox clips serve a smoke test."
    ),
    venue="Interspeech 2022",
)
