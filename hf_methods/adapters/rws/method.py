"""The catalogue record of `rws` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="rws",
    paper_id="P28",
    title="Robust Weight Signatures: Gaining Robustness as Easy as Patching Weights?",
    arxiv="2302.12480",
    official_code="VITA-Group/Robust_Weight_Signatures",
    kind="adapters",
    tags=("robustness", "task-vectors", "weight-patching"),
    entry_points=(
        "hf_methods.adapters.rws:RobustWeightSignature",
        "hf_methods.adapters.rws:RobustWeightSignatureConfig",
        "hf_methods.adapters.rws:apply_image_corruption",
    ),
    recipe="recipes/rws.py",
    library_name="hf-methods",
    claim=(
        "Corruption robustness lives in shallow-layer weight differences that can be extracted, scaled, patched "
        "into a clean model and transferred; on a tiny digits CNN the check asserts patching the conv layers adds "
        "≥10 points noisy accuracy at ≤3 clean points, monotone scaling, exact removal and ≥5 points on transfer."
    ),
    venue="ICML 2023",
    usage=(
        "import copy\n"
        "import torch\n"
        "from transformers import LlamaForCausalLM\n"
        "from hf_methods.adapters.rws import RobustWeightSignature\n"
        "from hf_methods.common.tiny import tiny_llama\n"
        "\n"
        "pretrained = tiny_llama(seed=0)\n"
        "clean, robust = copy.deepcopy(pretrained), copy.deepcopy(pretrained)\n"
        "with torch.no_grad():  # stand-ins for a clean fine-tune and a fine-tune on corrupted data\n"
        "    for p, q in zip(clean.parameters(), robust.parameters()):\n"
        "        p.add_(0.01 * torch.randn_like(p)); q.add_(0.01 * torch.randn_like(q))\n"
        "rws = RobustWeightSignature.extract(clean, robust, pretrained, n_shallow_layers=2, corruption='noise')\n"
        "rws.apply(clean, scale=1.0)  # θ_std + α·RWS on the first two layers only\n"
        "clean.save_pretrained('patched')  # a plain checkpoint: LlamaForCausalLM.from_pretrained('patched')\n"
        "rws.remove(clean)  # the original weights back, bit for bit\n"
        "rws.quantize(8).save_pretrained('rws-noise')  # the signature alone: rws_config.json + safetensors\n"
        "rws = RobustWeightSignature.from_pretrained('rws-noise')"
    ),
    notes=(
        "The signature is computed per parameter tensor, as `get_projection` in the official code: "
        "RWS[l] = Δ[l] − (⟨Δ[l], v[l]⟩/‖v[l]‖²)·v[l] with Δ = θ_robust − θ_pre and v = θ_clean − θ_pre (the official "
        "`--base_model`). Layers are counted from the input in module registration order (Embedding, Conv and "
        "Linear modules by default; `layer_types=` changes it), and the affine parameters of normalisation layers "
        "met before the cut are included, as the official ResNet selection does. Not carried over: the official "
        "ResNet path re-estimates BatchNorm running statistics on corrupted training data after patching (and "
        "averages BN affine parameters across signatures); a signature holds parameters only, so running "
        "statistics stay the patched model's. Only the official linear quantizer is implemented (min–max per "
        "tensor, 2**bits levels, codes bit-packed on disk); its log and tanh variants are not. `remove` restores "
        "saved original values instead of subtracting, so it is exact. The corruptions (Gaussian noise, Gaussian "
        "blur, contrast) follow CIFAR-10-C's definitions with the parameter as severity; CIFAR-C itself is not "
        "used (offline), the claim runs on scikit-learn digits."
    ),
)
