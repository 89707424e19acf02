"""Loki in `generate()` and in a text-classification pipeline.

- [`LokiLogitsProcessor`]: at every decoding step, replaces the next-token scores by minus the Fréchet variance of
  each token under a metric on the vocabulary, so that greedy decoding picks Loki's token (Eq. 1 with the vocabulary
  as label space, every token observed). With `embeddings=` (e.g. the model's input embeddings: a self-derived
  squared-Euclidean metric) no `(V, V)` matrix is built.
- [`loki_generate`]: `model.generate(..., do_sample=False)` with the processor appended (Loki is a deterministic
  rule: sampling or beams are refused).
- [`LokiTextClassificationPipeline`]: `pipeline("text-classification", ..., pipeline_class=LokiTextClassificationPipeline,
  loki=predictor)` returns labels of the full label space — including ones the classifier has no output for.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor, LogitsProcessorList, TextClassificationPipeline

from hf_methods.generation.loki.prediction import LokiPredictor

__all__ = ["LokiLogitsProcessor", "LokiTextClassificationPipeline", "loki_generate"]


class LokiLogitsProcessor(LogitsProcessor):
    """Next-token scores → −Σ_v P(v) d²(y, v) for every token y, P = softmax(scores).

    Args:
        predictor: a [`LokiPredictor`] over the vocabulary with every token observed (`observed=None`).
    """

    def __init__(self, predictor: LokiPredictor):
        if not isinstance(predictor, LokiPredictor):
            raise TypeError(f"predictor must be a LokiPredictor, got {type(predictor).__name__}")
        if predictor.num_observed != predictor.num_labels:
            raise ValueError("a decoding metric must cover the whole vocabulary with every token observed")
        self.predictor = predictor

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.shape[-1] != self.predictor.num_labels:
            raise ValueError(
                f"the model scores {scores.shape[-1]} tokens but the Loki metric covers {self.predictor.num_labels}"
            )
        probs = scores.double().softmax(-1)  # masked tokens (−inf) get probability 0
        variance = self.predictor.scores(probs)
        out = (-variance).to(scores.dtype)
        return out.masked_fill(
            torch.isneginf(scores), float("-inf")
        )  # a token the other processors banned stays banned


def loki_generate(model, predictor: LokiPredictor, **generate_kwargs) -> torch.LongTensor:
    """Greedy decoding with Loki's rule at every step (`model.generate` with [`LokiLogitsProcessor`] appended)."""
    if generate_kwargs.get("do_sample"):
        raise ValueError("Loki is a deterministic prediction rule: do_sample=True is not supported")
    if generate_kwargs.get("num_beams", 1) != 1:
        raise ValueError("Loki is a per-step prediction rule: num_beams > 1 is not supported")
    processors = LogitsProcessorList(generate_kwargs.pop("logits_processor", None) or [])
    processors.append(LokiLogitsProcessor(predictor))
    generate_kwargs["do_sample"] = False
    return model.generate(logits_processor=processors, **generate_kwargs)


class LokiTextClassificationPipeline(TextClassificationPipeline):
    """A text-classification pipeline whose post-processing is Loki's rule over a full label space.

    Args:
        loki: a [`LokiPredictor`] whose `observed` ids follow the model's output order and whose `label_names` name
            the full label space.
        (everything else as `TextClassificationPipeline`)

    Returns per input `{"label", "score"}` with `score` = −(Fréchet variance) of the label (higher is better), or the
    `top_k` best labels when asked.
    """

    def __init__(self, *args, loki: LokiPredictor | None = None, **kwargs):
        if not isinstance(loki, LokiPredictor):
            raise TypeError("LokiTextClassificationPipeline needs `loki=LokiPredictor(...)`")
        if loki.label_names is None:
            raise ValueError("the LokiPredictor needs label_names to name the full label space")
        self.loki = loki
        super().__init__(*args, **kwargs)
        if self.model.config.num_labels != loki.num_observed:
            raise ValueError(
                f"the model has {self.model.config.num_labels} outputs but the predictor {loki.num_observed} observed labels"
            )

    def postprocess(self, model_outputs, function_to_apply=None, top_k=1, _legacy=True):
        logits = model_outputs["logits"][0].double()
        scores = -self.loki.scores(logits.softmax(-1))
        names = self.loki.label_names
        if top_k == 1 and _legacy:
            best = int(scores.argmax())
            return {"label": names[best], "score": float(scores[best])}
        order = scores.argsort(descending=True)
        if top_k is not None:
            order = order[:top_k]
        return [{"label": names[int(i)], "score": float(scores[i])} for i in order]
