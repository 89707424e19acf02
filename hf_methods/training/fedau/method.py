"""The catalogue record of `fedau` (read by `hf-methods list|show`, the README and the model card)."""

from hf_methods.record import Method

METHOD = Method(
    slug="fedau",
    paper_id="P41",
    title="A Lightweight Method for Tackling Unknown Participation Statistics in Federated Averaging",
    arxiv="2306.03401",
    official_code="IBM/fedau",
    kind="training",
    tags=("federated-learning", "aggregation", "client-participation"),
    entry_points=(
        "hf_methods.training.fedau:FedAUAggregator",
        "hf_methods.training.fedau:KnownParticipationAggregator",
        "hf_methods.training.fedau:AverageAllAggregator",
        "hf_methods.training.fedau:MIFAAggregator",
        "hf_methods.training.fedau:FedVARPAggregator",
        "hf_methods.training.fedau:FedAUWeightedCrossEntropy",
    ),
    recipe="recipes/fedau.py",
    claim=(
        "Online inverse-participation aggregation weights let FedAvg converge to the true objective under "
        "unknown, heterogeneous participation; on a 40-client least-squares problem (p_n in [0.02, 0.5], correlated "
        "with the client optima, 3000 rounds, 8 seeds) the check asserts FedAU ends ≤0.3x as far from the optimum "
        "as FedAvg, within 1.5x of the known-probability oracle, and within 5% of FedAvg when all p_n are equal."
    ),
    usage=(
        "from hf_methods.common.federated import bernoulli_participation\n"
        "from hf_methods.training.fedau import FedAUAggregator\n"
        "from hf_methods.training.fedau.training import least_squares_federation, run_least_squares\n"
        "\n"
        "problem = least_squares_federation(num_clients=40, seed=0)  # p_n in [0.02, 0.5], unknown to the server\n"
        "participation = bernoulli_participation(problem.probabilities, rounds=600, seed=0)\n"
        "aggregator = FedAUAggregator(num_clients=40, cutoff=None)  # divides by ALL clients, ω_n = mean interval\n"
        "result = run_least_squares(problem, aggregator, participation, decay_start=200, decay_every=40)\n"
        "print(result['distance'], aggregator.weight(0))  # ‖w − w*‖ and client 0's estimate of 1/p_0\n"
        "# on a Flower server (pip install 'hf-methods[federated]'):\n"
        "# from hf_methods.training.fedau.flower import FedAUStrategy; FedAUStrategy(num_clients=40, ...)"
    ),
    notes=(
        "FedAUAggregator sees only the participants of a round: each client's participation intervals are rebuilt "
        "from round numbers (rounds since its last participation, long absences cut into intervals of K), which "
        "gives exactly the official per-round counters (tested against them, with and without a cutoff), needs "
        "three integers per client, and lets rounds without participants be skipped (as a Flower server does). A "
        "client's first participation counts with weight 1 and the sum is divided by all N clients, as in the "
        "official code; intervals are kept as a running sum and count instead of a list. Clients are weighted "
        "equally (the official objective is the plain mean of the client losses), num_examples is ignored. The "
        "baselines follow the official weighting methods (average_participating = FedAvgAggregator(weighting="
        "'uniform'), average_all, known_prob, mifa, fedvarp); on Flower, MIFA's update in a round without results "
        "is skipped (Flower does not aggregate such rounds), where the official loop applies the stored mean. "
        "Local training is plain SGD in the recipe (no transformers.Trainer: a client runs a handful of steps per "
        "round), with minibatches drawn from a permutation seeded per (seed, round, client) so runs resume exactly; "
        "the learning-rate decay is the official halving schedule counted in rounds. FedAUWeightedCrossEntropy is "
        "the objective one FedAU round descends with one local step (a_i = ω_n/(N m_n)), for the loss matrix and "
        "analysis; it is not needed to run FedAU. FedAUStrategy (Flower) needs the optional extra `federated`."
    ),
)
