"""The catalogue record of `weight_matching` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="weight_matching",
    paper_id="P37",
    title="Analysis of Linear Mode Connectivity via Permutation-Based Weight Matching",
    arxiv="2402.04051",
    official_code=None,
    kind="adapters",
    tags=("model-merging", "mode-connectivity", "permutation"),
    entry_points=(
        "hf_methods.adapters.weight_matching:weight_matching",
        "hf_methods.adapters.weight_matching:apply_permutation",
        "hf_methods.adapters.weight_matching:permutation_spec",
        "hf_methods.adapters.weight_matching:PermutationSpec",
        "hf_methods.adapters.weight_matching:interpolate_models",
        "hf_methods.adapters.weight_matching:average_models",
        "hf_methods.adapters.weight_matching:parameter_distance",
        "hf_methods.adapters.weight_matching:interpolation_barrier",
        "hf_methods.adapters.weight_matching:singular_vector_alignment",
        "hf_methods.adapters.weight_matching:singular_overlap_objective",
        "hf_methods.adapters.weight_matching:add_merge_partner",
        "hf_methods.adapters.weight_matching:merge_partner_disabled",
        "hf_methods.adapters.weight_matching:bake_merge_partner",
    ),
    recipe="recipes/weight_matching.py",
    claim=(
        "Weight matching reaches linear mode connectivity by aligning the singular vectors with large singular "
        "values rather than by reducing the L2 distance (permutations cannot change singular values), and merges "
        "three or more models well; the CPU check (digits MLPs 64-512-512-512-10, 5 seeds) asserts the test-loss "
        "barrier at least halves after matching, the distance ratio R ≥ 0.8, singular values unchanged to 1e-5, the "
        "top-5 left singular vectors of the hidden layers aligned ≥ 0.2 better than the bottom-5 and than without "
        "permutation, and a lower 3-model merge barrier than naive averaging."
    ),
    venue="ICLR 2025",
    usage=(
        "import torch\n"
        "from transformers import LlamaConfig, LlamaForCausalLM\n"
        "from hf_methods.adapters.weight_matching import (apply_permutation, interpolate_models,\n"
        "    interpolation_barrier, permutation_spec, singular_vector_alignment, weight_matching)\n"
        "\n"
        "config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,\n"
        "                     num_attention_heads=4)\n"
        "torch.manual_seed(0); model_a = LlamaForCausalLM(config).eval()\n"
        "torch.manual_seed(1); model_b = LlamaForCausalLM(config).eval()\n"
        "spec = permutation_spec(model_a, residual=True)  # MLP neurons per layer + the residual stream\n"
        "perm = weight_matching(model_a, model_b, spec)     # linear_sum_assignment, coordinate descent\n"
        "model_b_p = apply_permutation(model_b, perm)       # same function, weights closer to A\n"
        "ids = torch.randint(0, 64, (4, 16))\n"
        "data = {'input_ids': ids, 'labels': ids}\n"
        "before = interpolation_barrier(model_a, model_b, data).barrier\n"
        "after = interpolation_barrier(model_a, model_b_p, data).barrier\n"
        "align = singular_vector_alignment(model_a, model_b_p, k=5)  # .top_u, .bottom_u, per-layer overlaps\n"
        "merged = interpolate_models(model_a, model_b_p, 0.5)      # a plain LlamaForCausalLM\n"
        "merged.save_pretrained('merged')"
    ),
    notes=(
        "No official code for the paper; weight matching follows Git Re-Basin (Ainsworth et al., "
        "samuela/git-re-basin `weight_matching`): coordinate descent over the permutations in a random order, each "
        "solved by `scipy.optimize.linear_sum_assignment` on the similarity of all tensors it acts on, until a "
        "sweep improves nothing (at most `max_iter`=100); similarities are accumulated in float64 and 'improves' "
        "uses a relative tolerance 1e-12. Automatic specs: the hf-methods MLP (`hfm-mlp`) and the gated MLP "
        "intermediate neurons of llama/mistral/qwen2/qwen3 decoders, optionally their residual stream "
        "(`residual=True`: embeddings, q/k/v/gate/up columns, o/down rows, RMSNorm weights, head columns); "
        "attention heads are not permuted, and other architectures raise a ValueError asking for an explicit "
        "`PermutationSpec`. The singular-vector analysis reports index-wise overlaps |<u_k^A, u_k^B>|, "
        "|<v_k^A, v_k^B>| (absolute: sign ambiguity) averaged over the top-k and bottom-k indices; "
        "`singular_overlap_objective` gives the full double sum Σ_ij σ_i σ_j <u_i,u_j><v_i,v_j> = <W_A, W_B>. "
        "Activation matching and the straight-through estimator of the paper are not implemented: the 3-model "
        "check compares weight matching with naive averaging only. `add_merge_partner` (the linear path as a "
        "torch parametrization with an optional learnable t) is an addition for sweeping t in place and for "
        "learned merge coefficients; it is not in the paper."
    ),
)
