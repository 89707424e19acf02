"""Flower strategies over the zoo's aggregation rules (optional extra: `pip install 'hf-methods[federated]'`).

[`AggregatorStrategy`] is Flower's `FedAvg` strategy (client sampling, configuration, evaluation, failure handling)
whose `aggregate_fit` hands the round's `FitRes` to an [`hf_methods.common.federated.Aggregator`] — the very object
the in-process [`hf_methods.common.federated.simulate_federated`] loop calls — so a rule tested in one process runs
unchanged on a Flower server.

Clients identify themselves through `FitRes.metrics[client_id_key]` (default `"client_id"`, e.g. the partition id);
without it the client proxy's `cid` is used. A client may report the bits it uploaded as `metrics["upload_bits"]`.

Example:

```python
>>> strategy = AggregatorStrategy(FedAvgAggregator(), initial_parameters=ndarrays_to_parameters(arrays))
>>> flwr.server.start_server(strategy=strategy, ...)   # or a ServerApp built around it
```
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

try:
    from flwr.common import (
        FitIns,
        FitRes,
        Parameters,
        ndarrays_to_parameters,
        parameters_to_ndarrays,
    )
    from flwr.server.client_manager import ClientManager
    from flwr.server.client_proxy import ClientProxy
    from flwr.server.strategy import FedAvg
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "hf_methods.common.flower needs Flower: pip install 'hf-methods[federated]' (or pip install flwr)"
    ) from error

from hf_methods.common.federated import Aggregator, ClientUpdate

__all__ = ["AggregatorStrategy", "client_updates_from_fit_results", "tensors_to_parameters", "parameters_to_tensors"]


def parameters_to_tensors(parameters: Parameters) -> list[torch.Tensor]:
    """Flower `Parameters` → list of tensors (copies)."""
    return [torch.from_numpy(np.array(a, copy=True)) for a in parameters_to_ndarrays(parameters)]


def tensors_to_parameters(tensors: list[torch.Tensor]) -> Parameters:
    """List of tensors → Flower `Parameters`."""
    return ndarrays_to_parameters([t.detach().cpu().numpy() for t in tensors])


def client_updates_from_fit_results(
    results: list[tuple[ClientProxy, FitRes]], *, client_id_key: str = "client_id"
) -> list[ClientUpdate]:
    """One [`ClientUpdate`] per Flower fit result (client id from the metrics, else the proxy's `cid`)."""
    updates = []
    for proxy, fit_res in results:
        metrics = dict(fit_res.metrics or {})
        client_id = metrics.get(client_id_key, getattr(proxy, "cid", None))
        if client_id is None:
            raise ValueError(f"a fit result has neither metrics[{client_id_key!r}] nor a client proxy cid")
        bits = metrics.get("upload_bits")
        updates.append(
            ClientUpdate(
                client_id=client_id,
                parameters=parameters_to_tensors(fit_res.parameters),
                num_examples=int(fit_res.num_examples),
                upload_bits=None if bits is None else int(bits),
                metrics=metrics,
            )
        )
    return updates


class AggregatorStrategy(FedAvg):
    """Flower's `FedAvg` strategy with the aggregation of an [`Aggregator`].

    Args:
        aggregator: the server rule (its state lives on the object across rounds).
        client_id_key: the `FitRes.metrics` key naming the client.
        **fedavg_kwargs: anything `flwr.server.strategy.FedAvg` takes (`fraction_fit`, `min_fit_clients`,
            `initial_parameters`, `evaluate_fn`, `on_fit_config_fn`, `accept_failures`, ...).
    """

    def __init__(self, aggregator: Aggregator, *, client_id_key: str = "client_id", **fedavg_kwargs: Any):
        if not isinstance(aggregator, Aggregator):
            raise TypeError(f"aggregator must be an Aggregator, got {type(aggregator).__name__}")
        super().__init__(**fedavg_kwargs)
        self.aggregator = aggregator
        self.client_id_key = client_id_key
        self.current_parameters: Parameters | None = fedavg_kwargs.get("initial_parameters")

    def __repr__(self) -> str:
        return f"AggregatorStrategy({type(self.aggregator).__name__})"

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        # The rules aggregate client deltas w_n − w_t, so the strategy keeps the w_t it sent out.
        self.current_parameters = parameters
        return super().configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(self, server_round, results, failures):
        if not results:
            return None, {}
        if failures and not self.accept_failures:
            return None, {}
        if self.current_parameters is None:
            raise RuntimeError(
                "AggregatorStrategy does not know the global parameters of this round: pass initial_parameters= "
                "or let Flower call configure_fit first"
            )
        updates = client_updates_from_fit_results(results, client_id_key=self.client_id_key)
        current = parameters_to_tensors(self.current_parameters)
        new = self.aggregator.aggregate(server_round, current, updates)
        self.current_parameters = tensors_to_parameters(new)
        metrics: dict[str, Any] = {"upload_bits": int(sum(u.upload_bits for u in updates))}
        if self.fit_metrics_aggregation_fn is not None:
            metrics.update(self.fit_metrics_aggregation_fn([(r.num_examples, r.metrics) for _, r in results]))
        return self.current_parameters, metrics
