"""Naive Bayes head against its closed form, exact merging, the linear equivalent, and the linear-eval tools."""

import numpy as np
import pytest
import torch

from hf_methods.analysis.dis_vs_gen import (
    GaussianNBHead,
    extract_features,
    gaussian_mixture,
    linear_eval,
    sample_complexity_curve,
    samples_to_reach,
)


def _data(seed=0, m=60, n=5, k=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, n, generator=g, dtype=torch.float64) * 2 + torch.arange(n)
    y = torch.arange(m) % k
    x[y == 1] += 1.5
    return x, y


def test_logits_follow_the_closed_form_written_with_numpy():
    x, y = _data()
    y[:7] = 0  # unequal priors
    head = GaussianNBHead(5, 3, var_epsilon=1e-9).fit(x, y)
    xn, yn = x.numpy(), y.numpy()
    priors = np.array([(yn == c).mean() for c in range(3)])
    means = np.stack([xn[yn == c].mean(0) for c in range(3)])
    pooled = sum(priors[c] * (xn[yn == c].var(0) + 1e-9) for c in range(3))
    test = _data(seed=1, m=8)[0].numpy()
    expected = np.stack(
        [[np.log(priors[c]) - 0.5 * ((t - means[c]) ** 2 / pooled).sum() for c in range(3)] for t in test]
    )
    np.testing.assert_allclose(head(torch.from_numpy(test)).numpy(), expected, rtol=1e-10)


def test_predictions_match_scikit_learn_when_variances_are_shared():
    """sklearn's GaussianNB uses per-class variances; with classes of equal spread both rules agree on most points."""
    from sklearn.naive_bayes import GaussianNB

    x, y = gaussian_mixture(10, 3, 300, seed=0)
    test_x, _ = gaussian_mixture(10, 3, 200, seed=1)
    ours = GaussianNBHead(10, 3).fit(x, y)(test_x).argmax(-1).numpy()
    theirs = GaussianNB().fit(x.numpy(), y.numpy()).predict(test_x.numpy())
    assert (ours == theirs).mean() > 0.97


def test_merged_shards_equal_one_fit_and_linear_head_predicts_the_same():
    x, y = _data(m=90)
    whole = GaussianNBHead(5, 3).fit(x, y)
    a = GaussianNBHead(5, 3).fit(x[:31], y[:31])
    b = GaussianNBHead(5, 3).fit(x[31:], y[31:])
    merged = a.merge(b)
    torch.testing.assert_close(merged.means, whole.means)
    torch.testing.assert_close(merged.variances, whole.variances)
    streamed = GaussianNBHead(5, 3)
    for start in range(0, 90, 20):
        streamed.partial_fit(x[start : start + 20], y[start : start + 20])
    torch.testing.assert_close(streamed(x), whole(x))
    linear = whole.to_linear().double()
    logits = whole(x)
    shift = logits - linear(x)  # −½ Σ x²/σ², the same for every class
    torch.testing.assert_close(shift - shift[:, :1], torch.zeros_like(shift), atol=1e-6, rtol=0)


def test_unseen_class_gets_no_prediction_and_saving_round_trips(tmp_path):
    x, y = _data(k=2)
    head = GaussianNBHead(5, 3).fit(x, y)  # class 2 never seen
    assert torch.isneginf(head(x)[:, 2]).all() and head.priors[2] == 0
    head.save_pretrained(tmp_path)
    again = GaussianNBHead.from_pretrained(tmp_path)
    torch.testing.assert_close(again(x), head(x))


def test_curve_and_samples_to_reach():
    pool_x, pool_y = gaussian_mixture(20, 3, 100, seed=0)
    test_x, test_y = gaussian_mixture(20, 3, 200, seed=1)
    curve = sample_complexity_curve(pool_x, pool_y, test_x, test_y, [6, 30, 300], repeats=2, seed=0)
    assert set(curve.mean_error) == {"naive_bayes", "logistic_regression"} and len(curve.errors["naive_bayes"]) == 3
    nb = curve.mean_error["naive_bayes"]
    assert nb[-1] <= nb[0]
    assert samples_to_reach(curve, "naive_bayes", 1.0) == 6
    assert samples_to_reach(curve, "naive_bayes", -1.0) is None
    result = linear_eval(pool_x, pool_y, test_x, test_y, head="logistic_regression")
    assert result.num_train == 300 and result.error == pytest.approx(1 - result.accuracy)


def test_mixture_follows_the_official_generator():
    x, y = gaussian_mixture(8, 3, 4000, seed=0)
    means = torch.stack([x[y == c].mean(0) for c in range(3)])
    torch.testing.assert_close(
        means, torch.tensor([-1.0, 1.0, 2.0]).double().unsqueeze(1).expand(3, 8), atol=0.15, rtol=0
    )
    variances = x[y == 0].var(0)
    assert (variances[:4] > 6).all() and (variances[4:] < 1.2).all()  # n = 8 on the first half, 1 on the rest


def test_extract_features_from_a_transformers_model():
    from transformers import BertModel

    from hf_methods.common.tiny import tiny_bert_config

    torch.manual_seed(0)
    model = BertModel(tiny_bert_config(), add_pooling_layer=False).train()
    ids = torch.randint(3, 200, (5, 6))
    mask = torch.ones(5, 6, dtype=torch.long)
    mask[0, 3:] = 0
    feats = extract_features(model, {"input_ids": ids, "attention_mask": mask}, batch_size=2)
    assert feats.shape == (5, model.config.hidden_size) and model.training
    with torch.no_grad():
        hidden = model.eval()(input_ids=ids[:1, :3]).last_hidden_state.mean(1)
    torch.testing.assert_close(feats[:1], hidden, atol=1e-5, rtol=1e-4)


def test_bad_inputs_are_named():
    x, y = _data()
    with pytest.raises(ValueError, match="num_labels"):
        GaussianNBHead(5, 1)
    with pytest.raises(ValueError, match="features"):
        GaussianNBHead(4, 3).fit(x, y)
    with pytest.raises(ValueError, match="labels"):
        GaussianNBHead(5, 2).fit(x, y)
    with pytest.raises(ValueError, match="labels"):
        GaussianNBHead(5, 3).fit(x, y.double())
    with pytest.raises(RuntimeError, match="fitted"):
        GaussianNBHead(5, 3)(x)
    with pytest.raises(ValueError, match="merge"):
        GaussianNBHead(5, 3).merge(GaussianNBHead(5, 4))
    with pytest.raises(ValueError, match="head"):
        linear_eval(x, y, x, y, head="svm")
    with pytest.raises(ValueError, match="two examples per class"):
        sample_complexity_curve(x, y, x, y, [3])
    with pytest.raises(ValueError, match="fewer"):
        sample_complexity_curve(x, y, x, y, [300])
    with pytest.raises(ValueError, match="num_classes"):
        gaussian_mixture(5, 1, 10)


def test_recipe_writes_the_head_the_curve_and_the_plot(tmp_path):
    import json

    from recipes.dis_vs_gen import main

    metrics = main(["--output_dir", str(tmp_path), "--features", "gaussian", "--gaussian_features", "10",
                    "--sizes", "6,30", "--repeats", "1"])  # fmt: skip
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    assert analysis["curve"]["sizes"] == [6, 30] and (tmp_path / "sample-complexity.png").is_file()
    head = GaussianNBHead.from_pretrained(tmp_path)
    assert head.num_features == 10 and float(head.counts.sum()) == 1200
    assert "eval/naive_bayes_error_full" in metrics


def test_recipe_arguments_are_validated():
    from hf_methods.analysis.dis_vs_gen.training import DisVsGenArguments

    with pytest.raises(ValueError, match="--features"):
        DisVsGenArguments(output_dir="unused", features="cifar").validate()
    with pytest.raises(ValueError, match="--sizes"):
        DisVsGenArguments(output_dir="unused", sizes="10,a").validate()
