"""The catalogue record of `weight_compander` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="weight_compander",
    paper_id="P10",
    title="Weight Compander: A Simple Weight Reparameterization for Regularization",
    arxiv="2306.16993",
    official_code=None,
    kind="adapters",
    tags=("regularization", "reparameterization", "weights"),
    entry_points=(
        "hf_methods.adapters.weight_compander:WeightCompanderConfig",
        "hf_methods.adapters.weight_compander:get_weight_compander_model",
        "hf_methods.adapters.weight_compander:apply_weight_compander",
        "hf_methods.adapters.weight_compander:remove_weight_compander",
    ),
    recipe="recipes/weight_compander.py",
    claim=(
        "Reparameterising every weight through a saturating compander w = WC(v; α, β) improves generalisation on top "
        "of standard regularisation (CNNs, CIFAR-type benchmarks, modest gains). CPU check on a digits MLP: no harm "
        "to accuracy (≥ −0.005), ≥30% fewer near-zero effective weights, and a baked float32 checkpoint."
    ),
    venue="IJCNN 2023",
    usage=(
        "import torch\n"
        "from transformers import LlamaConfig, LlamaForCausalLM\n"
        "from hf_methods.adapters.weight_compander import apply_weight_compander, remove_weight_compander\n"
        "\n"
        "config = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=1,\n"
        "                     num_attention_heads=2, num_key_value_heads=2)\n"
        "model = LlamaForCausalLM(config)\n"
        "# every Linear weight v is used as w = alpha*tanh(beta*v/alpha), alpha and beta learned per layer\n"
        "apply_weight_compander(model, modules=(torch.nn.Linear,), alpha=1.0, beta=2.0, exclude=('lm_head',))\n"
        "...  # train as usual: the optimiser updates v, alpha and beta\n"
        "remove_weight_compander(model)  # bake: plain weights again\n"
        "model.save_pretrained('out')  # reloads with LlamaForCausalLM.from_pretrained('out')"
    ),
    notes=(
        "No official code, and the compander's closed form is not transcribed from the paper: the default "
        "`compander='tanh'` (w = α·tanh(β·v/α): odd, monotone, |w| < α, slope β at 0) is a reconstruction with the "
        "paper's stated properties; `'arctan'` or any callable `fn(v, alpha, beta)` can replace it. α, β are stored "
        "as logarithms so they stay positive when learned. Baking (`remove_weight_compander`, alias "
        "`merge_and_unload`) writes plain weights, so the checkpoint is vanilla float32. A tied `lm_head` must be "
        "excluded (parametrizing one side unties it)."
    ),
)
