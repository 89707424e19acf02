"""P41 `fedau`: federated averaging with unknown participation statistics (Wang & Ji, ICLR 2024).

FedAU weighs each participating client's update by the mean of its past participation intervals (an online estimate
of 1/p_n) and divides by the number of all clients, so FedAvg optimises the true objective whatever the clients'
unknown participation probabilities.

```python
from hf_methods.common.federated import bernoulli_participation, simulate_federated
from hf_methods.training.fedau import FedAUAggregator

aggregator = FedAUAggregator(num_clients=40, cutoff=None)
run = simulate_federated(initial, clients, local_update, aggregator, bernoulli_participation(p, rounds=2000))
strategy = FedAUStrategy(num_clients=40, initial_parameters=...)  # the same rule on a Flower server (needs flwr)
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AGGREGATORS": ".aggregation",
        "AverageAllAggregator": ".aggregation",
        "FedAUAggregator": ".aggregation",
        "FedVARPAggregator": ".aggregation",
        "KnownParticipationAggregator": ".aggregation",
        "MIFAAggregator": ".aggregation",
        "build_aggregator": ".aggregation",
        "FedAUStrategy": ".flower",
        "FedAUWeightedCrossEntropy": ".loss",
        "fedau_example_weights": ".loss",
        "fedau_weighted_cross_entropy": ".loss",
        "FedAUArguments": ".training",
        "LeastSquaresFederation": ".training",
        "least_squares_federation": ".training",
        "run_least_squares": ".training",
        "digits_federation": ".training",
        "step_decay_lr": ".training",
    },
)
