"""P14 `hidenseek`: federated lottery tickets by server-side SynFlow pruning and client sign supermasks
(Vallapuram, Zhou, Kwon, Lee, Xu & Hui, 2022).

```python
from hf_methods.training.hidenseek import HideNseekFederatedTrainer, synflow_prune

masks = synflow_prune(model, density=0.2, iterations=100)            # on the server, no data
fl = HideNseekFederatedTrainer(model, clients, density=0.2, rounds=30, local_epochs=2, masks=masks)
fl.fit()                                                              # clients upload 1 bit per kept weight
fl.export_dense().save_pretrained("out")                              # m ⊙ sign(s) ⊙ |w0| as plain weights
```

`HideNseekStrategy` (in `.flower`, needs the `federated` extra) runs the same server rule on a Flower server.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "HideNseekAggregator": ".aggregation",
        "VOTE_KINDS": ".aggregation",
        "HideNseekStrategy": ".flower",
        "HideNseekClientLoss": ".loss",
        "SignStraightThrough": ".supermask",
        "SignSupermask": ".supermask",
        "apply_sign_supermasks": ".supermask",
        "export_dense": ".supermask",
        "sign_supermasks": ".supermask",
        "layer_densities": ".synflow",
        "synflow_prune": ".synflow",
        "synflow_scores": ".synflow",
        "HideNseekFederatedTrainer": ".trainer",
        "train_locally": ".trainer",
    },
)
