"""The catalogue record of `bone` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="bone",
    paper_id="P46",
    title=("Bone: Block Affine Transformation as Parameter Efficient Fine-tuning Methods for Large Language Models"),
    arxiv="2409.15371",
    official_code="JL-er/Bone",
    kind="adapters",
    tags=("peft", "llm", "fine-tuning"),
    entry_points=(
        "hf_methods.adapters.bone:BoneConfig",
        "hf_methods.adapters.bone:get_bone_model",
        "hf_methods.adapters.bone:keep_4bit_weights_dequantizable",
        "hf_methods.adapters.bone:add_bone_adapter",
        "hf_methods.adapters.bone:enable_efficient_bat",
        "hf_methods.adapters.bone:bat_linear",
        "hf_methods.adapters.bone:check_bone_targets",
        "hf_methods.adapters.bone:count_bone_parameters",
        "hf_methods.adapters.bone:matched_lora_rank",
        "hf_methods.adapters.bone:bone_delta_weight",
        "hf_methods.adapters.bone:bone_variant",
    ),
    recipe="recipes/bone.py",
    claim=(
        "Bone (the v1 paper's Block Affine, PEFT MiSS 'bat') fits better than LoRA and PiSSA at a matched parameter "
        "count (LLaMA2-7B GSM8K 49.36 vs 43.52 PiSSA, 38.97 LoRA); the CPU check fine-tunes all seven projections of "
        "all layers of SmolLM2-135M on arithmetic word problems with Bone r=64 vs LoRA/PiSSA at the matched rank, "
        "each at its learning rate picked on a validation split, 3 seeds of 100 steps, and holds when Bone's held-out "
        "answer loss is below LoRA's by a paired bootstrap interval (exact match reported)."
    ),
    usage=(
        "from hf_methods.adapters.bone import BoneConfig, get_bone_model\n"
        "from hf_methods.common.data import load_causal_lm\n"
        "\n"
        "base, tokenizer, _ = load_causal_lm('smollm2-135m-instruct')  # offline SmolLM2-135M-Instruct\n"
        "config = BoneConfig(r=64, target_modules='all-linear')  # variant='bat': the P46 (v1) Bone; a peft.MissConfig\n"
        "# get_bone_model = peft.get_peft_model after checking every targeted layer first, so a bad r (e.g. one that\n"
        "# does not divide a layer for 'bat') fails with a clear error before PEFT replaces any layer\n"
        "model = get_bone_model(base, config)\n"
        "model.print_trainable_parameters()\n"
        "# variant='bone' is the v4+/DiSHA/MiSS Bone, variant='mini' (with mini_r) MiSS-mini; a saved adapter reloads\n"
        "# with plain peft.PeftModel.from_pretrained, without hf-methods"
    ),
    notes=(
        "Wraps PEFT's MiSS, no re-implementation. Variant map: 'bat' = paper v1-v3 Bone (Bone-col, "
        "W'_ab = W_ab + W_ab B_a + B_a, d·r params) = MissConfig(init_weights='bat'); 'bone' (alias 'miss') = "
        "paper v4+ Bone / DiSHA / MiSS = MissConfig(init_weights=True); 'mini' = MiSS-mini. Bat-row, Bone-free "
        "and Bone-AB (v1 code) are not in PEFT and not offered. BoneConfig returns a plain peft.MissConfig, so "
        "saved adapters reload with PeftModel.from_pretrained without hf-methods; get_bone_model / "
        "add_bone_adapter add early errors (bat divisibility, Conv1D/Embedding/Conv targets, bat on forward-only "
        "quantized layers, mixing variants on one layer, a peft 0.21.2 crash). get_bone_model runs 'bat' layers "
        "through an autograd function that keeps only the layer input and the r×r blocks for backward (W' is "
        "rebuilt there; a 4-bit W is dequantized again) and picks the cheaper product order for the token count; "
        "the layers stay PEFT MissLinear subclasses, so the saved adapter is PEFT's (efficient_bat=False or "
        "enable_efficient_bat(model, False) gives PEFT's own forward, which keeps W' and a copy of W). Measured "
        "costs vs LoRA at matched parameters (r=33), SmolLM2-135M, all seven projections of all 30 layers, "
        "1 thread, interleaved medians of 5 (benchmarks/results/perf-bone.json), saved-for-backward memory / "
        "forward+backward time: at 64 tokens per step bat 0.98x / 2.17x, PEFT's bat 10.3x / 3.06x, bone 0.79x / "
        "0.96x, mini 1.23x / 1.00x; at 256 tokens bat 0.98x / 1.42x, PEFT's bat 3.3x / 1.66x, bone 0.79x / "
        "0.93x, mini 0.90x / 0.95x; at 1024 tokens bat 0.98x / 1.06x, PEFT's bat 1.56x / 1.22x. Bat's time stays "
        "above LoRA's because its gradient needs the weight-sized product G = g^T x that LoRA on a frozen W never "
        "forms, plus building W' twice (multiply-add count of the adapted layers: 1.64x LoRA's at 256 tokens). "
        "PEFT ignores dropout in bat. The usage goes through get_bone_model because PEFT gives a config no hook that sees the "
        "model before layers are replaced: plain get_peft_model(base, BoneConfig(...)) reports a bad r only with "
        "PEFT's own error, after earlier layers were already replaced. Old PEFT BoneConfig checkpoints (peft < 0.19) need PEFT's convert-bone-to-miss script."
    ),
)
