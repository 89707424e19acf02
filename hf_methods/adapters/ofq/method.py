"""The catalogue record of `ofq` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="ofq",
    paper_id="P39",
    title="Oscillation-free Quantization for Low-bit Vision Transformers",
    arxiv="2302.02210",
    official_code="nbasyl/OFQ",
    kind="adapters",
    tags=("quantization", "qat", "vision-transformer"),
    entry_points=(
        "hf_methods.adapters.ofq:quantize_vit",
        "hf_methods.adapters.ofq:StatsQuantizer",
        "hf_methods.adapters.ofq:LSQQuantizer",
        "hf_methods.adapters.ofq:QLinear",
        "hf_methods.adapters.ofq:QKReparamAttention",
        "hf_methods.adapters.ofq:OscillationTracker",
        "hf_methods.adapters.ofq:ConfidenceGuidedAnnealing",
        "hf_methods.adapters.ofq:CGACallback",
    ),
    recipe="recipes/ofq.py",
    claim=(
        "StatsQ, confidence-guided annealing and query-key reparameterisation remove weight oscillation in "
        "low-bit ViT QAT (W2A2 DeiT-T 64.33%, +9.8 points over the prior state of the art); on a tiny HF ViT on "
        "digits at W2A4 the check asserts StatsQ oscillates ≤0.7x as often as LSQ within 1 point of its accuracy, "
        "that CGA cuts late flips by ≥80%, that QKR's logits equal q·kᵀ, and that the packed 2-bit codes decode "
        "exactly (bits per weight measured from the file)."
    ),
    venue="ICML 2023",
    usage=(
        "import torch\n"
        "from transformers import Trainer, TrainingArguments, ViTConfig, ViTForImageClassification\n"
        "from hf_methods.adapters.ofq import CGACallback, OscillationTracker, quantize_vit\n"
        "\n"
        "config = ViTConfig(image_size=8, patch_size=2, num_channels=1, hidden_size=32, intermediate_size=64,\n"
        "                   num_hidden_layers=2, num_attention_heads=2, num_labels=10)\n"
        "vit = ViTForImageClassification(config)  # in practice: a trained floating-point checkpoint\n"
        "qmodel = quantize_vit(vit, w_bits=2, a_bits=2, weight_quantizer='statsq', qk_reparam=True)\n"
        "data = [{'pixel_values': torch.rand(1, 8, 8), 'labels': torch.tensor(i % 10)} for i in range(32)]\n"
        "tracker = OscillationTracker()  # integer flips and oscillations after every optimizer step\n"
        "args = TrainingArguments('out', num_train_epochs=2, per_device_train_batch_size=8, report_to=[],\n"
        "                         save_strategy='no', use_cpu=True)\n"
        "trainer = Trainer(qmodel, args, train_dataset=data,\n"
        "                  callbacks=[tracker, CGACallback(boundary_range=0.005, start_epoch=1)])\n"
        "trainer.train()\n"
        "print(tracker.history[-1])  # {'flips': ..., 'oscillation_rate': ..., ...}"
    ),
    notes=(
        "StatsQ follows the official `StatsQuantizer` (scale 2·mean|W_row|, clamp to [−1, 1 − 1e-6], half-integer "
        "grid with no zero level, straight-through gradient), with the codes clamped to the grid (the official "
        "rounding sends the tie at w̃ = −1 off the grid for 1-bit weights). Activations use LSQ with one step per "
        "feature (the official code keeps one per token position) between two learnable biases, at the input of "
        "every quantized Linear and on QKR's x·W_qkᵀ; attention probabilities and q/k/v outputs are not quantized. "
        "QKR keeps transformers' query/key biases as floating-point terms of the logits (the official DeiT code has "
        "none), so the identity with q·kᵀ is exact. CGA freezes weights whose position is more than BR from a "
        "rounding boundary (zeroed gradient, value restored after the step); with QKR the query/key factors are not "
        "annealed (as in the official code); inside `Trainer` the gradient clipping runs before the zeroing. "
        "Oscillation is tracked after each optimizer step on the integer codes (official `TrackOscillation`, "
        "EMA momentum 0.01). The digits experiment uses one AdamW group (LSQ steps and biases decayed too) and no "
        "teacher distillation. `merge_and_unload` folds weight-only quantization without QKR into a plain "
        "transformers model (exact); models with activation quantizers or QKR have no stock form and are saved as "
        "their state plus packed codes (`save_quantized_weights`)."
    ),
)
