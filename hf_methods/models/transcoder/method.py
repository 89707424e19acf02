"""The catalogue record of `transcoder` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="transcoder",
    paper_id="P31",
    title="Transcoders Find Interpretable LLM Feature Circuits",
    arxiv="2406.11944",
    official_code="jacobdunefsky/transcoder_circuits",
    kind="models",
    tags=("interpretability", "sparse-autoencoder", "circuits", "llm"),
    entry_points=(
        "hf_methods.models.transcoder:TranscoderConfig",
        "hf_methods.models.transcoder:TranscoderModel",
        "hf_methods.models.transcoder:transcoder_loss",
        "hf_methods.models.transcoder:harvest_mlp_activations",
        "hf_methods.models.transcoder:attach_transcoder",
        "hf_methods.models.transcoder:splice",
        "hf_methods.models.transcoder:mlp_zero_ablation",
        "hf_methods.models.transcoder:splice_fidelity",
        "hf_methods.models.transcoder:feature_connections",
        "hf_methods.models.transcoder:feature_attribution",
        "hf_methods.models.transcoder:top_feature_connections",
        "hf_methods.models.transcoder:train_transcoder",
        "hf_methods.models.transcoder:DecoderNormCallback",
    ),
    recipe="recipes/transcoder.py",
    auto_classes={
        "AutoConfig": "hf_methods.models.transcoder.configuration_transcoder:TranscoderConfig",
        "AutoModel": "hf_methods.models.transcoder.modeling_transcoder:TranscoderModel",
    },
    claim=(
        "Transcoders replace an MLP with a sparse wide MLP at least as faithfully as SAEs and enable "
        "weights-based circuit attribution; on a small GPT-2 trained on a Markov language the check asserts, for "
        "MLP-1, FVU < 0.2 at mean L0 < 40, a splice CE increase below 30% of zero-ablation's, and the attribution "
        "z_i·(W_dec[i]·W_enc[:, j]) equal to autograd's gradient × input to 1e-5."
    ),
    venue="NeurIPS 2024",
    usage=(
        "import torch\n"
        "from transformers import GPT2Config, GPT2LMHeadModel\n"
        "\n"
        "from hf_methods import (\n"
        "    TranscoderConfig, TranscoderModel, harvest_mlp_activations, splice, splice_fidelity, train_transcoder\n"
        ")\n"
        "\n"
        "gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=4)).eval()\n"
        "ids = torch.randint(0, 64, (64, 16))\n"
        "x, y = harvest_mlp_activations(gpt2, ids, layer=1)  # MLP-1 inputs (post-ln_2) and outputs, (1024, 32) each\n"
        "tc = TranscoderModel(TranscoderConfig(d_in=32, expansion=8, l1_coeff=1e-3, layer=1))\n"
        "history = train_transcoder(tc, x, y, steps=20, batch_size=256)\n"
        "with splice(gpt2, layer=1, transcoder=tc):  # MLP-1's output replaced by the transcoder's\n"
        "    loss = gpt2(input_ids=ids, labels=ids).loss\n"
        "fidelity = splice_fidelity(gpt2, tc, ids, layer=1)  # clean / spliced / zero-ablated CE"
    ),
    notes=(
        "Written from the paper and the official code (sparse_autoencoder.py's `is_transcoder` path, "
        "train_sae_on_language_model.py): the loss divides each token's squared error by the norm of its target and "
        "averages over tokens and output dimensions, as the code does; b_dec is subtracted from the input and a "
        "separate b_dec_out added to the output; decoder rows are renormalised every step and the gradient parallel "
        "to them removed. Not implemented: ghost gradients and dead-feature resampling; b_dec init uses the mean "
        "(the official default also offers the geometric median). MLP activations are harvested with plain forward "
        "hooks on `block.mlp` (its input is the post-LayerNorm stream), not transformer_lens. The attribution folds "
        "the downstream LayerNorm with its scale frozen; the full greedy path search of the official "
        "`circuit_analysis.py` is reduced to the strongest-edges step (`top_feature_connections`). The CPU check "
        "uses a 2-layer GPT-2 trained in code (not GPT-2-small or SmolLM2) and λ = 3e-3 chosen on a pilot seed."
    ),
)
