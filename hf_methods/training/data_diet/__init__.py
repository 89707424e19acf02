"""P33 `data_diet`: EL2N and GraNd scores early in training, and data pruning (Paul, Ganguli & Dziugaite, NeurIPS 2021).

```python
from hf_methods.training.data_diet import EL2NScorer, GraNdScorer, prune_dataset

scores = EL2NScorer(model_init=make_model, n_runs=5, score_epoch=3).score(train_ds)  # a datasets.Dataset
subset = prune_dataset(train_ds, scores, keep_frac=0.6, offset_frac=0.05)  # an "el2n" column, then select
grand = GraNdScorer(model_init=make_model, n_runs=5).score(train_ds)  # at initialisation, torch.func per-example grads
```
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "EL2NScore": ".scores",
        "compute_el2n": ".scores",
        "compute_grand": ".scores",
        "el2n_scores": ".scores",
        "EL2NScorer": ".scorer",
        "GraNdScorer": ".scorer",
        "ScoreRecorderCallback": ".scorer",
        "default_scoring_args": ".scorer",
        "add_score_column": ".prune",
        "prune_dataset": ".prune",
        "select_by_score": ".prune",
    },
)
