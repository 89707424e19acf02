"""Loki's prediction rule against the equation written out, its special cases, its HF entry points and its errors."""

import pytest
import torch

from hf_methods.generation.loki import (
    LokiLogitsProcessor,
    LokiPredictor,
    discrete_sq_dist,
    embedding_sq_dist,
    expected_squared_distance,
    frechet_variance_scores,
    graph_sq_dist,
    line_sq_dist,
    loki_compute_metrics,
    loki_generate,
)


def _random_probs(n, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64).mul(2).softmax(-1)


def test_scores_follow_the_equation_with_a_plain_loop():
    g = torch.Generator().manual_seed(1)
    points = torch.randn(9, 3, generator=g, dtype=torch.float64)
    d2 = embedding_sq_dist(points)
    observed = [7, 2, 4, 0]  # model output order
    probs = _random_probs(5, 4)
    predictor = LokiPredictor(d2, observed=observed)
    scores = predictor.scores(probs)
    for n in range(5):
        for y in range(9):
            expected = sum(float(probs[n, i]) * float(d2[y, lam]) for i, lam in enumerate(observed))
            assert scores[n, y].item() == pytest.approx(expected, rel=1e-12)
    assert predictor.predict(probs).tolist() == [int(scores[n].argmin()) for n in range(5)]
    torch.testing.assert_close(frechet_variance_scores(probs, d2[observed]), scores)


def test_discrete_metric_with_every_label_observed_is_argmax():
    probs = _random_probs(200, 12, seed=3)
    predictor = LokiPredictor(discrete_sq_dist(12))
    assert torch.equal(predictor.predict(probs), probs.argmax(-1))


def test_line_metric_predicts_the_unobserved_label_between_two_observed_ones():
    predictor = LokiPredictor(line_sq_dist(5), observed=[0, 2, 4])
    assert predictor.predict(torch.tensor([[0.5, 0.5, 0.0]], dtype=torch.float64)).item() == 1
    assert predictor.predict(torch.tensor([[0.0, 0.5, 0.5]], dtype=torch.float64)).item() == 3
    assert predictor.predict(torch.tensor([[0.9, 0.1, 0.0]], dtype=torch.float64)).item() == 0
    assert predictor.unobserved.tolist() == [1, 3]


def test_embedding_path_equals_the_dense_matrix():
    g = torch.Generator().manual_seed(2)
    emb = torch.randn(30, 4, generator=g, dtype=torch.float64)
    observed = torch.randperm(30, generator=g)[:11]
    probs = _random_probs(16, 11, seed=4)
    dense = LokiPredictor(embedding_sq_dist(emb), observed=observed)
    factored = LokiPredictor(embeddings=emb, observed=observed)
    torch.testing.assert_close(factored.scores(probs), dense.scores(probs), rtol=1e-9, atol=1e-9)
    assert torch.equal(factored.predict(probs), dense.predict(probs))


def test_graph_metric_is_squared_path_length():
    # a path 0-1-2 with a leaf 3 under 1: d(0, 3) = 2, d(2, 3) = 2, d(0, 2) = 2
    d2 = graph_sq_dist([(0, 1), (1, 2), (1, 3)], 4)
    assert d2[0, 3].item() == 4 and d2[0, 1].item() == 1 and d2[3, 3].item() == 0


def test_expected_squared_distance_and_trainer_metrics():
    d2 = line_sq_dist(5)
    assert expected_squared_distance(torch.tensor([0, 2, 4]), torch.tensor([1, 2, 1]), d2) == pytest.approx(10 / 3)
    predictor = LokiPredictor(d2, observed=[0, 2, 4])
    from transformers import EvalPrediction

    logits = torch.log(torch.tensor([[0.5, 0.5, 1e-9], [1.0, 1e-9, 1e-9]])).numpy()
    metrics = loki_compute_metrics(predictor)(
        EvalPrediction(predictions=logits, label_ids=torch.tensor([1, 0]).numpy())
    )
    assert metrics["loki_accuracy"] == 1.0 and metrics["loki_unobserved_accuracy"] == 1.0
    assert metrics["argmax_accuracy"] == 0.5 and metrics["argmax_expected_sq_dist"] == pytest.approx(0.5)


def test_save_and_reload(tmp_path):
    predictor = LokiPredictor(line_sq_dist(6), observed=[5, 1, 3], label_names=list("abcdef"))
    predictor.save_pretrained(tmp_path)
    again = LokiPredictor.from_pretrained(tmp_path)
    probs = _random_probs(4, 3)
    assert torch.equal(again.predict(probs), predictor.predict(probs)) and again.label_names == list("abcdef")
    emb = LokiPredictor(embeddings=torch.randn(5, 2, dtype=torch.float64))
    emb.save_pretrained(tmp_path / "emb")
    assert torch.equal(LokiPredictor.from_pretrained(tmp_path / "emb").embeddings, emb.embeddings)
    with pytest.raises(FileNotFoundError, match="Loki predictor"):
        LokiPredictor.from_pretrained(tmp_path / "missing")


def test_text_classification_pipeline_returns_full_space_labels():
    from transformers import BertForSequenceClassification, pipeline

    from hf_methods.common.tiny import byte_tokenizer, tiny_bert_config
    from hf_methods.generation.loki import LokiTextClassificationPipeline

    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_bert_config(num_labels=3)).eval()
    with torch.no_grad():  # outputs (0, 2, 4) equally likely for any input: the Fréchet mean is label 2
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
    names = ["very bad", "bad", "neutral", "good", "very good"]
    predictor = LokiPredictor(line_sq_dist(5), observed=[0, 2, 4], label_names=names)
    pipe = pipeline(
        "text-classification", model=model, tokenizer=byte_tokenizer(),
        pipeline_class=LokiTextClassificationPipeline, loki=predictor,
    )  # fmt: skip
    assert pipe("fine")[0]["label"] == "neutral"
    with torch.no_grad():  # now outputs 0 and 2 share the mass: Loki answers the unobserved label 1
        model.classifier.bias.copy_(torch.tensor([5.0, 5.0, -20.0]))
    top = pipe("fine", top_k=2)
    assert top[0]["label"] == "bad" and len(top) == 2
    with pytest.raises(ValueError, match="observed"):
        pipeline(
            "text-classification", model=model, tokenizer=byte_tokenizer(),
            pipeline_class=LokiTextClassificationPipeline, loki=LokiPredictor(line_sq_dist(5), label_names=names),
        )  # fmt: skip


def test_logits_processor_keeps_banned_tokens_banned():
    scores = torch.tensor([[0.0, 1.0, float("-inf"), 2.0]])
    processor = LokiLogitsProcessor(LokiPredictor(embeddings=torch.tensor([[0.0], [1.0], [1.5], [3.0]])))
    out = processor(torch.zeros(1, 1, dtype=torch.long), scores)
    assert torch.isneginf(out[0, 2]) and torch.isfinite(out[0, [0, 1, 3]]).all()


def test_bad_inputs_are_named():
    d2 = line_sq_dist(4)
    with pytest.raises(ValueError, match="exactly one"):
        LokiPredictor()
    with pytest.raises(ValueError, match="square"):
        LokiPredictor(torch.ones(2, 3))
    with pytest.raises(ValueError, match="symmetric"):
        LokiPredictor(torch.tensor([[0.0, 1.0], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="diagonal"):
        LokiPredictor(torch.ones(2, 2))
    with pytest.raises(ValueError, match="non-negative"):
        LokiPredictor(torch.tensor([[0.0, -1.0], [-1.0, 0.0]]))
    with pytest.raises(ValueError, match="observed"):
        LokiPredictor(d2, observed=[0, 4])
    with pytest.raises(ValueError, match="repeat"):
        LokiPredictor(d2, observed=[1, 1])
    with pytest.raises(ValueError, match="label_names"):
        LokiPredictor(d2, label_names=["a"])
    predictor = LokiPredictor(d2, observed=[0, 2])
    with pytest.raises(ValueError, match="observed classes"):
        predictor.predict(torch.tensor([[0.2, 0.3, 0.5]]))
    with pytest.raises(ValueError, match="sum to 1"):
        predictor.predict(torch.tensor([[2.0, 3.0]]))
    with pytest.raises(TypeError, match="float"):
        predictor.predict(torch.tensor([[1, 0]]))
    with pytest.raises(ValueError, match="connected"):
        graph_sq_dist([(0, 1)], 3)
    with pytest.raises(ValueError, match="edges"):
        graph_sq_dist([(0, 5)], 3)
    with pytest.raises(ValueError, match="predictions"):
        expected_squared_distance(torch.tensor([9]), torch.tensor([0]), d2)
    with pytest.raises(ValueError, match="whole vocabulary"):
        LokiLogitsProcessor(predictor)
    with pytest.raises(ValueError, match="do_sample"):
        loki_generate(None, LokiPredictor(d2), do_sample=True)


def test_recipe_trains_on_observed_classes_and_writes_the_predictor(tmp_path):
    import json

    from recipes.loki import main

    metrics = main(["--output_dir", str(tmp_path), "--max_steps", "30", "--cpu_threads", "1", "--log_every", "0"])
    predictor = LokiPredictor.from_pretrained(tmp_path / "loki")
    assert predictor.observed.tolist() == [0, 1, 2, 4, 5, 7, 9] and predictor.unobserved.tolist() == [3, 6, 8]
    saved = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert saved["eval/argmax_unseen_accuracy"] == 0.0  # argmax can never name an unseen class
    assert saved["eval/loki_accuracy"] == pytest.approx(metrics["eval/loki_accuracy"])
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(tmp_path).id2label[2] == "2"


def test_recipe_arguments_are_validated():
    from hf_methods.generation.loki.training import LokiArguments

    with pytest.raises(ValueError, match="--observed"):
        LokiArguments(output_dir="unused", observed="0,11").validate()
    with pytest.raises(ValueError, match="at least two"):
        LokiArguments(output_dir="unused", observed="3").validate()
    with pytest.raises(ValueError, match="--metric"):
        LokiArguments(output_dir="unused", metric="cosine").validate()
