"""The catalogue record of `hidenseek` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="hidenseek",
    paper_id="P14",
    title="HideNseek: Federated Lottery Ticket via Server-side Pruning and Sign Supermask",
    arxiv="2206.04385",
    official_code=None,
    kind="training",
    tags=("federated-learning", "pruning", "supermask", "lottery-ticket"),
    entry_points=(
        "hf_methods.training.hidenseek:HideNseekFederatedTrainer",
        "hf_methods.training.hidenseek:HideNseekAggregator",
        "hf_methods.training.hidenseek:SignSupermask",
        "hf_methods.training.hidenseek:apply_sign_supermasks",
        "hf_methods.training.hidenseek:synflow_prune",
    ),
    recipe="recipes/hidenseek.py",
    claim=(
        "Server-side SynFlow pruning plus client sign supermasks beats binary-supermask federated pruning in "
        "accuracy and communication (up to +40.6% accuracy, −39.7% communication); on digits dealt to 10 clients with "
        "2 label shards each (MLP 64-256-256-10, density 0.2, 30 rounds × 2 local epochs, 3 seeds) the check asserts "
        "HideNseek's global test accuracy ≥ 0.80 and ≥ a {0, 1} supermask over the same frozen weights + 0.05, "
        "within 0.10 of dense FedAvg while uploading one bit per kept weight (≤ 1% of FedAvg's bits), "
        "data-agnostic SynFlow masks and no layer collapse at density 0.01."
    ),
    usage=(
        "import tempfile\n"
        "\n"
        "import torch\n"
        "\n"
        "from hf_methods import HideNseekFederatedTrainer, synflow_prune\n"
        "from hf_methods.common.mlp import MLPConfig, MLPForImageClassification\n"
        "\n"
        "model = MLPForImageClassification(MLPConfig(input_size=64, hidden_sizes=[32], hidden_act='relu'))\n"
        "clients = [(torch.rand(20, 64), torch.randint(0, 10, (20,))) for _ in range(3)]  # (inputs, labels) each\n"
        "masks = synflow_prune(model, density=0.2, iterations=100)  # on the server, without data\n"
        "fl = HideNseekFederatedTrainer(model, clients, density=0.2, rounds=3, local_epochs=2, masks=masks)\n"
        "fl.fit()  # each client uploads one bit per kept weight per round: fl.upload_bits\n"
        "fl.export_dense().save_pretrained(tempfile.mkdtemp())  # m * sign(s) * |w0| as plain weights"
    ),
    notes=(
        "No official code, and only the paper's abstract could be consulted: SynFlow, the sign supermask and the "
        "one-bit upload follow it; the aggregation rule, score initialisation and personalisation scheme are "
        "reconstructions here (unverified). Scores start at sign(w0) (the first global "
        "model is the SynFlow-pruned init m ⊙ w0) on a vote scale [−1, 1]; a client starts each round from the "
        "broadcast global scores and trains them with plain SGD through a straight-through sign; it uploads one bit "
        "per kept weight, by default a stochastic sign with P(+1) = (1 + clip(s, −1, 1))/2 (unbiased for the clipped "
        "score; upload='sign' sends sign(s)); the server's new scores are the example-weighted mean of the votes "
        "(HideNseekAggregator; ties keep the previous sign). On a development split (seed 100) the "
        "deterministic sign vote stalled at ≤ 0.30 validation accuracy under 2-class non-IID clients, hence the "
        "stochastic default. The claim measures the global model; personalised "
        "(local) models are what each client holds after its local epochs and are not evaluated. SynFlow scores "
        "the linearised network (activations replaced by identities, biases zeroed, float64 copy; the model is not "
        "touched) and prunes globally over all Linear/Conv weights with the exponential schedule. The claim's MLP "
        "uses Kaiming-normal weights and zero biases (frozen weights keep their init scale for good; PyTorch's "
        "default init left the pruned network almost silent). HideNseekStrategy (hidenseek.flower) needs the "
        "'federated' extra (flwr)."
    ),
)
