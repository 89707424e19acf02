"""The catalogue record of `grok_corrupted` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="grok_corrupted",
    paper_id="P48",
    title=("To grok or not to grok: Disentangling generalization and memorization on corrupted algorithmic datasets"),
    arxiv="2310.13061",
    official_code="d-doshi/Grokking",
    kind="analysis",
    tags=("grokking", "memorization", "label-noise", "interpretability"),
    entry_points=(
        "hf_methods.analysis.grok_corrupted:corrupted_modular_arithmetic",
        "hf_methods.analysis.grok_corrupted:CorruptedModularSplit",
        "hf_methods.analysis.grok_corrupted:inverse_participation_ratio",
        "hf_methods.analysis.grok_corrupted:fourier_ipr",
        "hf_methods.analysis.grok_corrupted:FourierIPR",
        "hf_methods.analysis.grok_corrupted:prune_low_ipr_neurons",
        "hf_methods.analysis.grok_corrupted:prune_neurons",
        "hf_methods.analysis.grok_corrupted:split_accuracies",
        "hf_methods.analysis.grok_corrupted:pruning_curve",
        "hf_methods.analysis.grok_corrupted:IPRCallback",
    ),
    recipe="recipes/grok_corrupted.py",
    claim=(
        "Networks trained on modular arithmetic with corrupted labels can memorise them while still generalising; "
        "the memorising neurons have low Fourier inverse participation ratio (IPR) and pruning them removes the "
        "memorisation, and weight decay makes the network ignore the corrupted labels. On modular addition mod 97 "
        "(50% train, 35% of train labels corrupted, quadratic MLP with 500 neurons, 500 full-batch AdamW steps, 5 "
        "seeds) the check asserts: without weight decay corrupted-train and test accuracy >= 0.9; pruning the 300 "
        "lowest-IPR neurons lowers corrupted-train accuracy by > 0.5 without lowering test accuracy; with weight "
        "decay 5, test accuracy > 0.99 and corrupted-train accuracy < 0.6."
    ),
    usage=(
        "from hf_methods import corrupted_modular_arithmetic, fourier_ipr, prune_low_ipr_neurons, split_accuracies\n"
        "from hf_methods.analysis.grok_corrupted.training import train_corrupted\n"
        "from hf_methods.training.grokking_tickets.training import grokking_mlp\n"
        "\n"
        "split = corrupted_modular_arithmetic(modulus=23, train_fraction=0.5, noise=0.35, seed=0)  # 35% labels random\n"
        "model = grokking_mlp(0, modulus=23, hidden_size=64)  # W2 (W1 [e_a; e_b])^2, no biases\n"
        "trace = train_corrupted(model, split, max_steps=20)  # full-batch AdamW; the claim trains 500 steps at p=97\n"
        "ipr = fourier_ipr(model)  # per-neuron IPR of |rfft| of U_k, V_k, W_k; ipr.save_plot('ipr.png')\n"
        "pruned = prune_low_ipr_neurons(model, 32, ipr=ipr)  # a copy without the 32 least periodic neurons\n"
        "before, after = split_accuracies(model, split), split_accuracies(pruned, split)\n"
        "print(before.corrupted, after.corrupted, after.test, ipr.mean)"
    ),
    notes=(
        "The network and the clean modular-addition split are those of `grokking_tickets` "
        "(`GrokkingMLPForModularArithmetic`, the official `fcn`: bias-free, z^2 activation, init "
        "N(0, 0.25/(2N)^(2/3)), squared error to the one-hot label, one-hot matmul first layer). The official code "
        "corrupts the first xi*n_train pairs of its shuffled training list; here a seeded random subset of the same "
        "size is corrupted (same distribution), and the split and corruption are drawn per seed (the official "
        "notebook fixes them). The IPR is the official one (IPR_r of |rfft| of each vector, r = 2, averaged over U_k, "
        "V_k and W_k) and works on any two layers around a hidden layer (`input_layer`, `output_layer`, "
        "`input_blocks`); a zero vector (a pruned neuron) gets IPR 0. `fraction_periodic` (IPR >= 0.5) is a summary "
        "of this library. The dropout and BatchNorm variants, the Transformer experiments and the phase diagrams of "
        "the paper are not reproduced; the check runs 500 steps (the official notebook 1000). At 500 steps the "
        "weight-decay run is still unlearning: corrupted-train accuracy has fallen to about 0.38 (train accuracy "
        "about 0.79, not yet 1 - xi = 0.65) and about half of the neurons have IPR >= 0.5 (a quarter without weight "
        "decay), short of the paper's all-periodic network."
    ),
)
