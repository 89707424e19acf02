"""The catalogue record of `grokking_tickets` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="grokking_tickets",
    paper_id="P59",
    title="Grokking Tickets: Lottery Tickets Accelerate Grokking",
    arxiv="2310.19470",
    official_code="gouki510/Grokking-Tickets",
    kind="training",
    tags=("grokking", "lottery-ticket", "pruning"),
    entry_points=(
        "hf_methods.training.grokking_tickets:GrokkingMLPConfig",
        "hf_methods.training.grokking_tickets:GrokkingMLPForModularArithmetic",
        "hf_methods.training.grokking_tickets:OneHotMSELoss",
        "hf_methods.training.grokking_tickets:modular_arithmetic",
        "hf_methods.training.grokking_tickets:find_grokking_ticket",
        "hf_methods.training.grokking_tickets:grokking_ticket_masks",
        "hf_methods.training.grokking_tickets:random_masks_like",
        "hf_methods.training.grokking_tickets:StepsToAccuracyCallback",
    ),
    recipe="recipes/grokking_tickets.py",
    auto_classes={
        "AutoConfig": "hf_methods.training.grokking_tickets.configuration_grokking_mlp:GrokkingMLPConfig",
        "AutoModelForSequenceClassification": (
            "hf_methods.training.grokking_tickets.modeling_grokking_mlp:GrokkingMLPForModularArithmetic"
        ),
    },
    claim=(
        "Magnitude-pruned subnetworks of a network that has generalised, rewound to initialisation (grokking "
        "tickets), generalise much faster than the dense network, while random masks of the same layer densities, "
        "tickets taken at memorisation and norm-matched dense networks do not; on modular addition (p=97) with a "
        "quadratic MLP the check asserts the ticket reaches 95% test accuracy in ≤0.6x the dense steps, the random "
        "mask never before the dense run, and the memorisation ticket and the L2-norm-matched dense run at least one "
        "evaluation interval (10 steps) later than the ticket."
    ),
    venue="TMLR",
    usage=(
        "import copy\n"
        "\n"
        "from hf_methods import GrokkingMLPConfig, GrokkingMLPForModularArithmetic, find_grokking_ticket, modular_arithmetic\n"
        "from hf_methods.training.grokking_tickets.training import train_full_batch\n"
        "\n"
        "split = modular_arithmetic(modulus=23, train_fraction=0.5, seed=0)  # every (a, b) mod 23, half for training\n"
        "model = GrokkingMLPForModularArithmetic(GrokkingMLPConfig(modulus=23, hidden_size=64))\n"
        "initial = copy.deepcopy(model)  # θ₀, kept for the rewind\n"
        "dense = train_full_batch(model, split, max_steps=20)  # full-batch AdamW; the claim trains until it generalises\n"
        "ticket = find_grokking_ticket(model, initial, keep=0.5)  # global magnitude masks of θ_T on a copy of θ₀\n"
        "run = train_full_batch(ticket, split, max_steps=20)\n"
        'print(dense["steps_to_threshold"], run["steps_to_threshold"], run["final_test_accuracy"])'
    ),
    notes=(
        "The official setting (a ReLU MLP with a 500-d embedding, p=67, AdamW lr 1e-3, weight decay 1) does not grok "
        "within a CPU budget, so the model, recipe and check use the quadratic network of Gromov (2023) and Doshi et "
        "al. (2023): p=97, one-hot pair input, N=500, no biases, squared error to the one-hot answer, full-batch "
        "AdamW lr 1e-2 with weight decay 0.3. `keep` is the fraction of weights kept (the official `sparsity`); the "
        "masks come from `hf_methods.common.masks` (exactly round(keep·n) weights kept, where the official threshold "
        "drops every weight tied with it), and the official revival of hidden neurons whose incoming weights were all "
        "pruned is not done. The dense run must be past its transition before pruning: on seed 0 its test accuracy reaches 100% "
        "near step 240, yet a ticket pruned at step 300 stalled below 80% test accuracy, while the check prunes at "
        "step 500 (the recipe's default too). The Transformer, MNIST, pruning-at-initialisation (SNIP, GraSP, SynFlow) and "
        "no-weight-decay experiments of the paper are not reproduced; only the L2 (not L1) norm-matched control is "
        "run. Later arXiv versions are retitled 'Bridging Lottery Ticket and Grokking'."
    ),
)
