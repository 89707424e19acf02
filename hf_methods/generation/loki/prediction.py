"""Loki's prediction rule: the Fréchet mean of the predicted distribution under a metric on the label space.

A classifier trained on K_obs observed classes λ_1 … λ_{K_obs} of a larger label space Y (|Y| = K) with a metric d
outputs probabilities P(x) over the observed classes. Loki (Roberts et al., "Geometry-Aware Adaptation for Pretrained
Models", NeurIPS 2023) predicts

    ŷ(x) = argmin_{y ∈ Y} Σ_{i=1}^{K_obs} P_i(x) · d²(y, λ_i)                                     (Eq. 1)

— any label of Y, observed or not, with no training — and is evaluated by the expected squared distance
E[d²(ŷ, y)]. The official code computes it as `argmin(P @ D2[observed, :])`; so does [`frechet_variance_scores`].

Under a squared-Euclidean metric between class embeddings e_y, the sum expands as
‖e_y‖² − 2 e_yᵀ ē + Σ_i P_i ‖e_{λ_i}‖² with ē = Σ_i P_i e_{λ_i}, so the prediction is the label nearest the expected
embedding and the `(K, K)` matrix never needs to exist ([`LokiPredictor`] with `embeddings=`): this is what makes a
vocabulary-sized label space (a language model's tokens) affordable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from hf_methods.generation.loki.label_metrics import validate_sq_dist

__all__ = ["LokiPredictor", "expected_squared_distance", "frechet_variance_scores", "loki_compute_metrics"]

CONFIG_NAME = "loki_config.json"
WEIGHTS_NAME = "loki.safetensors"


def _check_probs(probs: torch.Tensor, num_observed: int, *, name: str = "probs") -> torch.Tensor:
    if not isinstance(probs, torch.Tensor) or not probs.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of probabilities, got {type(probs).__name__}")
    if probs.shape[-1] != num_observed:
        raise ValueError(
            f"{name} has {probs.shape[-1]} entries per row but the predictor has {num_observed} observed classes; "
            "the last dimension must follow the order of `observed`"
        )
    if (probs < -1e-6).any():
        raise ValueError(f"{name} must be non-negative (pass logits to `predict_logits`)")
    sums = probs.sum(-1)
    if ((sums - 1).abs() > 1e-3).any():
        raise ValueError(f"{name} rows must sum to 1 (got sums in [{sums.min():.4g}, {sums.max():.4g}]); "
                         "pass logits to `predict_logits`")  # fmt: skip
    return probs


def frechet_variance_scores(probs: torch.Tensor, observed_sq_dist: torch.Tensor) -> torch.Tensor:
    """Σ_i P_i(x) d²(y, λ_i) for every label y: `probs (..., K_obs) @ observed_sq_dist (K_obs, K)` → `(..., K)`.

    `observed_sq_dist` holds the rows D²[λ_i, :] of the observed classes, in the order of the model's outputs.
    """
    if observed_sq_dist.dim() != 2 or observed_sq_dist.shape[0] != probs.shape[-1]:
        raise ValueError(
            f"observed_sq_dist must be (K_obs, K) with K_obs = {probs.shape[-1]} rows, got {tuple(observed_sq_dist.shape)}"
        )
    return probs.to(observed_sq_dist.dtype) @ observed_sq_dist


def expected_squared_distance(predictions: torch.Tensor, labels: torch.Tensor, sq_dist: torch.Tensor) -> float:
    """E[d²(ŷ, y)]: the mean of D²[prediction, label] over examples (full-label-space ids)."""
    d2 = torch.as_tensor(sq_dist)
    predictions, labels = torch.as_tensor(predictions).long(), torch.as_tensor(labels).long()
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and labels {tuple(labels.shape)} differ in shape")
    for name, ids in (("predictions", predictions), ("labels", labels)):
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= d2.shape[0]):
            raise ValueError(f"{name} must be label ids in [0, {d2.shape[0]})")
    return float(d2[predictions, labels].double().mean())


class LokiPredictor:
    """Loki's prediction rule (Eq. 1) for a classifier whose outputs cover the `observed` labels of a larger space.

    Args:
        sq_dist: `(K, K)` squared distances over the full label space (see `label_metrics`); or
        embeddings: `(K, D)` class embeddings, for the squared-Euclidean metric without a `(K, K)` matrix.
        observed: the full-space id of each model output, in the model's output order (default: all K labels,
            output i is label i). Ids must be distinct.
        label_names: optional names of the K labels (used by the pipeline).

    Example:

    ```python
    >>> predictor = LokiPredictor(line_sq_dist(5), observed=[0, 2, 4])
    >>> predictor.predict(torch.tensor([[0.5, 0.5, 0.0]]))  # halfway between labels 0 and 2
    tensor([1])
    ```
    """

    def __init__(
        self,
        sq_dist: torch.Tensor | None = None,
        observed: Sequence[int] | torch.Tensor | None = None,
        *,
        embeddings: torch.Tensor | None = None,
        label_names: Sequence[str] | None = None,
    ):
        if (sq_dist is None) == (embeddings is None):
            raise ValueError("give exactly one of `sq_dist` (K, K) or `embeddings` (K, D)")
        if sq_dist is not None:
            self.sq_dist = validate_sq_dist(sq_dist)
            self.embeddings = None
            num_labels = self.sq_dist.shape[0]
        else:
            if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2 or embeddings.shape[0] == 0:
                raise ValueError("embeddings must be a non-empty (num_labels, dim) tensor")
            if not torch.isfinite(embeddings).all():
                raise ValueError("embeddings must be finite")
            self.sq_dist = None
            self.embeddings = embeddings.detach().to(torch.float64)
            num_labels = self.embeddings.shape[0]
        ids = torch.arange(num_labels) if observed is None else torch.as_tensor(observed).long().reshape(-1)
        if ids.numel() == 0:
            raise ValueError("observed must name at least one label")
        if int(ids.min()) < 0 or int(ids.max()) >= num_labels:
            raise ValueError(
                f"observed must hold label ids in [0, {num_labels}), got range [{ids.min()}, {ids.max()}]"
            )
        if ids.unique().numel() != ids.numel():
            raise ValueError("observed must not repeat a label id")
        self.observed = ids
        if label_names is not None and len(label_names) != num_labels:
            raise ValueError(f"label_names has {len(label_names)} names for {num_labels} labels")
        self.label_names = list(label_names) if label_names is not None else None
        self.num_labels = num_labels

    @property
    def num_observed(self) -> int:
        return self.observed.numel()

    @property
    def unobserved(self) -> torch.Tensor:
        """Label ids the model has no output for (Loki can still predict them)."""
        mask = torch.ones(self.num_labels, dtype=torch.bool)
        mask[self.observed] = False
        return mask.nonzero().flatten()

    def scores(self, probs: torch.Tensor) -> torch.Tensor:
        """The Fréchet variance Σ_i P_i d²(y, λ_i) of every label y, `(..., K)` in float64 (lower is better)."""
        probs = _check_probs(probs, self.num_observed).to(torch.float64)
        if self.sq_dist is not None:
            return frechet_variance_scores(probs, self.sq_dist[self.observed])
        e = self.embeddings
        e_obs = e[self.observed]
        mean = probs @ e_obs  # ē = Σ_i P_i e_{λ_i}
        spread = probs @ e_obs.pow(2).sum(-1)  # Σ_i P_i ‖e_{λ_i}‖²
        return e.pow(2).sum(-1) - 2 * mean @ e.T + spread.unsqueeze(-1)

    def predict(self, probs: torch.Tensor) -> torch.Tensor:
        """ŷ = argmin_y Σ_i P_i d²(y, λ_i): full-label-space ids, shape `probs.shape[:-1]`."""
        return self.scores(probs).argmin(-1)

    def predict_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """[`predict`] on `softmax(logits)` (a classifier's raw outputs over the observed labels)."""
        if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
            raise TypeError("logits must be a float tensor")
        return self.predict(logits.double().softmax(-1))

    def argmax_predict(self, probs_or_logits: torch.Tensor) -> torch.Tensor:
        """The argmax rule Loki replaces, mapped to full-label-space ids (for comparisons)."""
        return self.observed[probs_or_logits.argmax(-1)]

    # --------------------------------------------------------------------------------------------------- saving

    def save_pretrained(self, save_directory: str | Path) -> None:
        """Write `loki_config.json` and `loki.safetensors` (the metric and the observed ids) to a folder."""
        from safetensors.torch import save_file

        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"observed": self.observed.contiguous()}
        if self.sq_dist is not None:
            tensors["sq_dist"] = self.sq_dist.contiguous()
        else:
            tensors["embeddings"] = self.embeddings.contiguous()
        save_file(tensors, str(folder / WEIGHTS_NAME))
        config = {
            "num_labels": self.num_labels,
            "label_names": self.label_names,
            "metric": next(iter(tensors.keys() - {"observed"})),
        }
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> LokiPredictor:
        """Load a predictor written by [`save_pretrained`]."""
        from safetensors.torch import load_file

        folder = Path(directory)
        if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{folder} holds no Loki predictor ({CONFIG_NAME} and {WEIGHTS_NAME})")
        config = json.loads((folder / CONFIG_NAME).read_text())
        tensors = load_file(str(folder / WEIGHTS_NAME))
        return cls(
            sq_dist=tensors.get("sq_dist"),
            embeddings=tensors.get("embeddings"),
            observed=tensors["observed"],
            label_names=config.get("label_names"),
        )


def loki_compute_metrics(predictor: LokiPredictor, sq_dist: torch.Tensor | None = None):
    """A `compute_metrics` for `transformers.Trainer`: argmax and Loki accuracy and E[d²] on full-space labels.

    The evaluation labels are full-label-space ids (they may include unobserved classes); the logits are the model's
    outputs over the observed classes. `sq_dist` is the metric used for E[d²] (default: the predictor's own; needed
    when the predictor holds embeddings and the evaluation metric is another one).
    """
    if sq_dist is None:
        if predictor.sq_dist is None:
            from hf_methods.generation.loki.label_metrics import embedding_sq_dist

            sq_dist = embedding_sq_dist(predictor.embeddings)
        else:
            sq_dist = predictor.sq_dist
    d2 = validate_sq_dist(sq_dist)
    unobserved = set(predictor.unobserved.tolist())

    def compute_metrics(eval_prediction) -> dict[str, float]:
        logits = torch.as_tensor(eval_prediction.predictions)
        if isinstance(eval_prediction.predictions, tuple):
            logits = torch.as_tensor(eval_prediction.predictions[0])
        labels = torch.as_tensor(eval_prediction.label_ids).long()
        loki = predictor.predict_logits(logits.double())
        argmax = predictor.argmax_predict(logits)
        unseen = torch.tensor([int(y) in unobserved for y in labels])
        metrics = {
            "loki_accuracy": float((loki == labels).double().mean()),
            "argmax_accuracy": float((argmax == labels).double().mean()),
            "loki_expected_sq_dist": expected_squared_distance(loki, labels, d2),
            "argmax_expected_sq_dist": expected_squared_distance(argmax, labels, d2),
        }
        if unseen.any():
            metrics["loki_unobserved_accuracy"] = float((loki[unseen] == labels[unseen]).double().mean())
        return metrics

    return compute_metrics
