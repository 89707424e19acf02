"""`MetricLearningTrainer`: a `transformers.Trainer` for embedding models, with ECAML's energy-confusion term.

The training loss of a batch is

    L = L_metric(f, y) + λ · log E(f_ec, y),    f = head(h),  f_ec = head(h.detach())

where `L_metric` is a base metric loss on the embeddings (binomial deviance or contrastive, from
`hf_methods.common.metric_learning`) and the second term is :class:`EnergyConfusionLoss` on an embedding computed
from detached backbone features, so its gradient reaches only the head (the official Caffe model's second
`InnerProduct` layer with shared weights and `propagate_down: 0`). `trainer.evaluate()` embeds the evaluation set
and reports retrieval Recall@K and clustering NMI instead of a loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from transformers import Trainer

from .evaluation import resolve_metric_loss, retrieval_metrics
from .loss import EnergyConfusionLoss


def _field(outputs: Any, name: str, position: int) -> torch.Tensor | None:
    if isinstance(outputs, dict):
        return outputs.get(name)
    return getattr(outputs, name, None) if not isinstance(outputs, tuple) else outputs[position]


class MetricLearningTrainer(Trainer):
    """`transformers.Trainer` that trains an embedding model with a base metric loss plus ECAML's EC term.

    The model is called without `labels` and must return `embeddings` (shape `(batch, dim)`); with an
    `energy_confusion` loss it must also return the head's input `features` and provide `get_embedding_head()`
    (the module with `embeddings = head(features)`), as [`MLPForMetricLearning`] does. The EC term is computed on
    `head(features.detach())`: it changes only the head's parameters.

    `evaluate()` embeds `eval_dataset` (batches of `per_device_eval_batch_size`) and returns
    `{"eval_recall@k", "eval_nmi"}` (cosine nearest neighbours, k-means with `k` = number of classes); for zero-shot
    evaluation pass a set of classes never trained on. The last training batch's loss parts are kept in
    `trainer.last_loss_parts` (`{"metric", "energy_confusion"}`).

    Args:
        metric_loss (`str` or callable, defaults to `"binomial_deviance"`): `"binomial_deviance"`, `"contrastive"`
            or a function `(embeddings, labels) -> scalar`.
        metric_loss_kwargs (`dict`, *optional*): keyword arguments of the metric loss (e.g. `{"margin": 0.5}`).
        energy_confusion (`EnergyConfusionLoss`, *optional*): the EC term; `None` trains the base loss alone.
        recall_ks (`tuple[int]`, defaults to `(1, 2, 4, 8)`): the `k` of Recall@k at evaluation.
        *args, **kwargs: passed to `transformers.Trainer`.

    Example:

    ```python
    >>> trainer = MetricLearningTrainer(
    ...     model=MLPForMetricLearning(MLPConfig(input_size=64, hidden_sizes=[128], embedding_size=32)),
    ...     args=TrainingArguments("out", max_steps=300, per_device_train_batch_size=64),
    ...     train_dataset=seen_classes, eval_dataset=unseen_classes,
    ...     energy_confusion=EnergyConfusionLoss(num_partners=10, weight=0.13),
    ... )
    >>> trainer.train(); trainer.evaluate()  # {"eval_recall@1": ..., "eval_nmi": ...}
    ```
    """

    def __init__(
        self,
        *args,
        metric_loss: str | Callable[..., torch.Tensor] = "binomial_deviance",
        metric_loss_kwargs: dict[str, Any] | None = None,
        energy_confusion: EnergyConfusionLoss | None = None,
        recall_ks: Sequence[int] = (1, 2, 4, 8),
        **kwargs,
    ):
        self.metric_loss = resolve_metric_loss(metric_loss)
        if metric_loss_kwargs is not None and not isinstance(metric_loss_kwargs, dict):
            raise TypeError(f"metric_loss_kwargs must be a dict, got {type(metric_loss_kwargs).__name__}")
        self.metric_loss_kwargs = dict(metric_loss_kwargs or {})
        if energy_confusion is not None and not isinstance(energy_confusion, EnergyConfusionLoss):
            raise TypeError(
                f"energy_confusion must be an EnergyConfusionLoss or None, got {type(energy_confusion).__name__}"
            )
        self.energy_confusion = energy_confusion
        if not recall_ks or any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in recall_ks):
            raise ValueError(f"recall_ks must be a non-empty sequence of ints >= 1, got {recall_ks!r}")
        self.recall_ks = tuple(recall_ks)
        super().__init__(*args, **kwargs)
        if energy_confusion is not None and not callable(getattr(self.model, "get_embedding_head", None)):
            raise TypeError(
                f"energy_confusion needs a model with get_embedding_head() (the head mapping outputs.features to "
                f"outputs.embeddings); {type(self.model).__name__} has none"
            )
        if self.args.label_names is None:
            self.label_names = ["labels"]  # keep the labels column whatever the model's forward signature says
        self.last_loss_parts: dict[str, float] = {}

    # ------------------------------------------------------------------------------------------------- training
    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        if labels is None:
            raise ValueError("MetricLearningTrainer needs a 'labels' column (class ids) in every batch")
        outputs = model(**inputs)
        embeddings = _field(outputs, "embeddings", 0)
        if embeddings is None:
            raise ValueError(f"{type(model).__name__} must return `embeddings` for MetricLearningTrainer")
        loss = self.metric_loss(embeddings, labels, **self.metric_loss_kwargs)
        parts = {"metric": loss.detach()}
        if self.energy_confusion is not None and model.training:
            features = _field(outputs, "features", 1)
            if features is None:
                raise ValueError(f"{type(model).__name__} must return `features` (the head's input) for ECAML")
            head = self.accelerator.unwrap_model(model).get_embedding_head()
            ec = self.energy_confusion(head(features.detach()), labels)
            loss = loss + ec
            parts["energy_confusion"] = ec.detach()
        self.last_loss_parts = {k: float(v) for k, v in parts.items()}
        return (loss, outputs) if return_outputs else loss

    # ------------------------------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def embed(self, dataset) -> tuple[torch.Tensor, torch.Tensor]:
        """`(embeddings, labels)` of a whole data set, in eval mode (gathered over processes)."""
        loader = self.get_eval_dataloader(dataset)
        model = self.model
        was_training = model.training
        model.eval()
        all_embeddings, all_labels = [], []
        for batch in loader:
            batch = self._prepare_inputs(batch)
            labels = batch.pop("labels")
            embeddings = _field(model(**batch), "embeddings", 0)
            embeddings, labels = self.accelerator.gather_for_metrics((embeddings, labels))
            all_embeddings.append(embeddings.float().cpu())
            all_labels.append(labels.cpu())
        model.train(was_training)
        return torch.cat(all_embeddings), torch.cat(all_labels)

    def evaluate(
        self,
        eval_dataset=None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """Recall@K and NMI of `eval_dataset` (default: the trainer's), logged and returned as `<prefix>_<name>`."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ValueError("MetricLearningTrainer.evaluate needs an eval_dataset")
        embeddings, labels = self.embed(dataset)
        metrics = retrieval_metrics(embeddings, labels, self.recall_ks, seed=self.args.seed)
        metrics = {f"{metric_key_prefix}_{name}": value for name, value in metrics.items()}
        self.log(dict(metrics))  # `log` adds the epoch to the dict it is given
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


__all__ = ["MetricLearningTrainer"]
