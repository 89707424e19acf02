"""FedAU as a Flower strategy (optional extra `federated`: `pip install 'hf-methods[federated]'`).

[`FedAUStrategy`] is `hf_methods.common.flower.AggregatorStrategy` around a [`FedAUAggregator`]: Flower's `FedAvg`
strategy (client sampling, configuration, evaluation) whose `aggregate_fit` hands the round's `FitRes` to the same
aggregator object the in-process loop uses. A Flower server only sees the clients that answered a round and skips
rounds without results; FedAU's participation intervals come from the round numbers, so neither changes the weights.
The sibling rules run the same way: `AggregatorStrategy(KnownParticipationAggregator(p), ...)`.

Example:

```python
>>> strategy = FedAUStrategy(num_clients=250, initial_parameters=ndarrays_to_parameters(arrays), fraction_fit=1.0)
>>> # clients report their partition id: FitRes(..., metrics={"client_id": partition_id})
```
"""

from __future__ import annotations

from typing import Any

from hf_methods.common.flower import AggregatorStrategy

from .aggregation import FedAUAggregator

__all__ = ["FedAUStrategy"]


class FedAUStrategy(AggregatorStrategy):
    """Flower's `FedAvg` strategy with FedAU's aggregation.

    Args:
        num_clients: N, the number of ALL clients of the federation (the update is divided by it).
        cutoff: FedAU's cutoff K (`None`: no cutoff).
        server_lr: the server learning rate η_g.
        client_id_key: the `FitRes.metrics` key naming the client (default `"client_id"`; else the proxy's `cid`).
        **fedavg_kwargs: anything `flwr.server.strategy.FedAvg` takes (`initial_parameters`, `fraction_fit`, ...).
    """

    def __init__(
        self,
        num_clients: int,
        *,
        cutoff: int | None = None,
        server_lr: float = 1.0,
        client_id_key: str = "client_id",
        **fedavg_kwargs: Any,
    ):
        aggregator = FedAUAggregator(num_clients, cutoff=cutoff, server_lr=server_lr)
        super().__init__(aggregator, client_id_key=client_id_key, **fedavg_kwargs)

    def __repr__(self) -> str:
        return f"FedAUStrategy(num_clients={self.aggregator.num_clients}, cutoff={self.aggregator.cutoff})"
