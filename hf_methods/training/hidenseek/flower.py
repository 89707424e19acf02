"""HideNseek's server step as a Flower strategy (optional extra: `pip install 'hf-methods[federated]'`).

[`HideNseekStrategy`] is `hf_methods.common.flower.AggregatorStrategy` (Flower's `FedAvg` client sampling,
configuration and evaluation) around a [`HideNseekAggregator`]: a round of `FitRes` — each carrying a client's
one-bit votes on the kept weights, and `metrics["upload_bits"]` — becomes the next global scores exactly as in the
in-process loop of [`HideNseekFederatedTrainer`].

Example:

```python
>>> fl = HideNseekFederatedTrainer(model, clients, density=0.2)        # prunes with SynFlow on the server
>>> strategy = HideNseekStrategy(initial_parameters=tensors_to_parameters(fl.global_scores))
>>> # clients: load the scores (fl.load_scores), train (fl.local_update), send update.parameters as FitRes
```
"""

from __future__ import annotations

from typing import Any

from hf_methods.common.flower import AggregatorStrategy, parameters_to_tensors, tensors_to_parameters

from .aggregation import HideNseekAggregator

__all__ = ["HideNseekStrategy", "parameters_to_tensors", "tensors_to_parameters"]


class HideNseekStrategy(AggregatorStrategy):
    """Flower's `FedAvg` strategy whose `aggregate_fit` is HideNseek's vote [`HideNseekAggregator`].

    Args:
        votes, weighting, tie_break: passed to [`HideNseekAggregator`] (ignored when `aggregator` is given).
        aggregator: an existing aggregator to share (e.g. the one a simulation already uses).
        client_id_key: the `FitRes.metrics` key naming the client.
        **fedavg_kwargs: anything `flwr.server.strategy.FedAvg` takes (`initial_parameters`, `fraction_fit`, ...).
    """

    def __init__(
        self,
        *,
        votes: str = "sign",
        weighting: str = "examples",
        tie_break: float = 1e-6,
        aggregator: HideNseekAggregator | None = None,
        client_id_key: str = "client_id",
        **fedavg_kwargs: Any,
    ):
        if aggregator is None:
            aggregator = HideNseekAggregator(votes=votes, weighting=weighting, tie_break=tie_break)
        elif not isinstance(aggregator, HideNseekAggregator):
            raise TypeError(f"aggregator must be a HideNseekAggregator, got {type(aggregator).__name__}")
        super().__init__(aggregator, client_id_key=client_id_key, **fedavg_kwargs)

    def __repr__(self) -> str:
        return f"HideNseekStrategy({self.aggregator!r})"
