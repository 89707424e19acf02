"""The catalogue record of `jlcm` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="jlcm",
    paper_id="P55",
    title="Network Memory Footprint Compression Through Jointly Learnable Codebooks and Mappings",
    arxiv="2309.17361",
    official_code=None,
    kind="adapters",
    tags=("quantization", "codebooks", "compression"),
    entry_points=(
        "hf_methods.adapters.jlcm:JLCMQuantizer",
        "hf_methods.adapters.jlcm:CodebookLinear",
        "hf_methods.adapters.jlcm:save_codebook_model",
        "hf_methods.adapters.jlcm:load_codebook_model",
        "hf_methods.adapters.jlcm:dequantize_codebooks",
        "hf_methods.adapters.jlcm:reorder_neurons",
    ),
    recipe="recipes/jlcm.py",
    claim=(
        "Jointly learned grouped codebooks and mappings compress networks better than prior codebook methods "
        "(Llama-7B to about 2 GB). CPU check on a digits MLP 64-256-256-10 quantized to 2 bits per weight: neuron "
        "re-ordering is output-identical, JLCM stays within 0.02 accuracy of full precision and no worse than "
        "per-tensor k-means or round-to-nearest, with a lower test output error than k-means, at ≤ 2.1 bits per "
        "weight measured from the saved file; at 4 bits the proximal mapping update makes fewer multi-codeword "
        "jumps than the plain straight-through update."
    ),
    venue="ICLR 2024",
    usage=(
        "import torch\n"
        "from transformers import LlamaConfig, LlamaForCausalLM\n"
        "from hf_methods.adapters.jlcm import (JLCMQuantizer, dequantize_codebooks, load_codebook_model,\n"
        "                                      save_codebook_model)\n"
        "\n"
        "config = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=1,\n"
        "                     num_attention_heads=2, num_key_value_heads=2)\n"
        "model = LlamaForCausalLM(config)\n"
        "calib = {'input_ids': torch.randint(0, 128, (4, 16))}\n"
        "# 2-bit indices, 4 codebooks per layer; gate/up neurons re-ordered (down_proj columns follow)\n"
        "quantizer = JLCMQuantizer(bits=2, n_groups=4, steps=20, exclude=('lm_head',))\n"
        "qmodel = quantizer.quantize(model, calib)  # nn.Linear -> CodebookLinear, in place\n"
        "info = save_codebook_model(qmodel, 'jlcm-out')  # packed indices + float16 codebooks\n"
        "print(info['bits_per_weight'])\n"
        "reloaded = load_codebook_model(LlamaForCausalLM(config), 'jlcm-out')\n"
        "dequantize_codebooks(qmodel).save_pretrained('baked')  # plain LlamaForCausalLM checkpoint"
    ),
    notes=(
        "No official code: the joint optimisation is a reconstruction from the paper's text. Each weight's mapping is "
        "searched through one score per codeword (initialised one-hot at the k-means assignment, I = argmax S); the "
        "codebook gets the exact gradient of the lookup and the scores a straight-through-style gradient whose weight "
        "for a move of u mean codebook gaps is sign(u)/max(|u|, 1/2) (proximal, decreasing with the distance, as the "
        "paper requires) instead of the plain gradient's u; the exact form in the paper may differ. The objective is "
        "the layer-wise output reconstruction with full-precision inputs. Neurons are grouped by k-means on "
        "per-row weight quantiles and re-ordered only where a producer/consumer pair is found (nn.Sequential chains, "
        "gated MLPs, an MLP body and its classifier) and the output is checked unchanged; other layers get "
        "contiguous row blocks as groups. Bits per weight are measured from the saved file (packed indices, float16 "
        "codebooks, int32 group sizes, safetensors header); biases stay float32 in a separate file."
    ),
)
