"""Tests of P22 `projection_head`: feature gains, the κ-head, the spectral loss, the probes, the experiments, the recipe."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.analysis.projection_head import (
    FeatureWeightingConfig,
    FixedReweightProjectionHead,
    ProjectionHeadArguments,
    ProjectionHeadModel,
    layerwise_feature_gains,
    linear_probe_accuracy,
    run_feature_weighting,
    run_spurious_digits,
    spectral_contrastive_loss,
    train_contrastive,
)
from hf_methods.analysis.projection_head.training import make_head, worst_group_accuracy


def linear(weight: torch.Tensor) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


# ------------------------------------------------------------------------------------------------------ gains


def test_gains_of_a_linear_stack_are_norms_of_weight_products():
    g = torch.Generator().manual_seed(0)
    w1, w2 = torch.randn(6, 5, generator=g), torch.randn(4, 6, generator=g)
    dirs = torch.randn(3, 5, generator=g)
    result = layerwise_feature_gains(nn.Sequential(linear(w1), linear(w2)), dirs)
    w1n, w2n, e = w1.double().numpy(), w2.double().numpy(), dirs.double().numpy()
    expected_1 = [np.linalg.norm(w1n @ e[j]) for j in range(3)]
    expected_2 = [np.linalg.norm(w2n @ w1n @ e[j]) for j in range(3)]
    np.testing.assert_allclose(result.g1, expected_1, rtol=1e-5)
    np.testing.assert_allclose(result.g2, expected_2, rtol=1e-5)
    ratio_1 = math.log(max(expected_1) / min(expected_1))
    ratio_2 = math.log(max(expected_2) / min(expected_2))
    np.testing.assert_allclose(result.log_ratios, [ratio_1, ratio_2], rtol=1e-5)
    np.testing.assert_allclose(result.exponents, [1.0, ratio_2 / ratio_1], rtol=1e-5)


def test_balanced_layers_square_the_gains():
    """W_1 = Q diag(√σ) Eᵀ, W_2 = diag(√σ) Qᵀ... balanced (W_1 W_1ᵀ = W_2ᵀ W_2): g_2 = g_1², exponent 2."""
    g = torch.Generator().manual_seed(1)
    dim = 5
    e = torch.linalg.qr(torch.randn(dim, dim, generator=g))[0].T  # rows: orthonormal features
    q = torch.linalg.qr(torch.randn(dim, dim, generator=g))[0]
    u = torch.linalg.qr(torch.randn(dim, dim, generator=g))[0]
    root = torch.diag(torch.tensor([3.0, 2.0, 1.5, 1.0, 0.5]).sqrt())
    w1, w2 = q @ root @ e, u @ root @ q.T
    assert torch.allclose(w1 @ w1.T, w2.T @ w2, atol=1e-5)
    result = layerwise_feature_gains([linear(w1), linear(w2)], e)
    np.testing.assert_allclose(result.g2, np.square(result.g1), rtol=1e-4)
    assert result.exponents[1] == pytest.approx(2.0, rel=1e-4)


def test_gains_with_an_activation_and_chosen_layers():
    g = torch.Generator().manual_seed(2)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    dirs = torch.eye(4)
    result = layerwise_feature_gains(net, dirs, layers=[0, 2])
    with torch.no_grad():
        for j in range(4):
            x = torch.stack([dirs[j], torch.zeros(4)])
            out = net(x)
            assert result.gains[1][j] == pytest.approx(float((out[0] - out[1]).norm()), rel=1e-5)
            hidden = net[0](x)
            assert result.gains[0][j] == pytest.approx(float((hidden[0] - hidden[1]).norm()), rel=1e-5)
    del g


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"model": 3}, TypeError, "model"),
        ({"feature_dirs": torch.ones(4)}, TypeError, "feature_dirs"),
        ({"feature_dirs": torch.ones(0, 4)}, ValueError, "feature_dirs"),
        ({"layers": [5]}, ValueError, "layers"),
    ],
)
def test_gains_reject_bad_inputs(kwargs, error, match):
    arguments = {"model": nn.Sequential(nn.Linear(4, 4)), "feature_dirs": torch.eye(4)} | kwargs
    with pytest.raises(error, match=match):
        layerwise_feature_gains(arguments.pop("model"), **arguments)


def test_gains_reject_a_feature_with_zero_gain():
    with pytest.raises(ValueError, match="zero gain"):
        layerwise_feature_gains(linear(torch.diag(torch.tensor([1.0, 0.0]))), torch.eye(2))


# ------------------------------------------------------------------------------------------------------ κ-head


def test_kappa_head_weights_are_kappa_to_the_minus_i():
    head = FixedReweightProjectionHead(5, kappa=2.0)
    h = torch.randn(3, 5)
    expected = torch.stack([h[:, i] * 2.0 ** (-i) for i in range(5)], dim=1)
    assert torch.allclose(head(h), expected)
    assert list(head.parameters()) == [] and "weights" in head.state_dict()
    assert torch.equal(FixedReweightProjectionHead(4, kappa=1.0)(h[:, :4]), h[:, :4])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"dim": 0}, ValueError, "dim"),
        ({"dim": 2.5}, ValueError, "dim"),
        ({"kappa": 0.5}, ValueError, "kappa"),
        ({"kappa": "2"}, TypeError, "kappa"),
    ],
)
def test_kappa_head_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        FixedReweightProjectionHead(**({"dim": 4, "kappa": 2.0} | kwargs))


def test_kappa_head_rejects_a_wrong_size():
    with pytest.raises(ValueError, match="hidden"):
        FixedReweightProjectionHead(4)(torch.ones(2, 3))


def test_projection_head_model_reads_pre_and_post():
    encoder = nn.Linear(3, 4)
    head = FixedReweightProjectionHead(4, kappa=3.0)
    model = ProjectionHeadModel(encoder, head)
    x = torch.randn(2, 3)
    assert torch.equal(model(x, "pre"), encoder(x))
    assert torch.allclose(model(x), head(encoder(x)))
    plain = ProjectionHeadModel(encoder)
    assert not plain.use_projection_head and torch.equal(plain(x, "post"), encoder(x))
    with pytest.raises(ValueError, match="representation"):
        model(x, "middle")
    with pytest.raises(TypeError, match="encoder"):
        ProjectionHeadModel(lambda x: x)
    with pytest.raises(TypeError, match="head"):
        ProjectionHeadModel(encoder, head="mlp")
    with pytest.raises(ValueError, match="head"):
        make_head("linear", 4)


# ------------------------------------------------------------------------------------------------- spectral loss


def test_spectral_loss_matches_a_loop():
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    n = 5
    positive = sum(float(z1[i] @ z2[i]) for i in range(n))
    negative = sum(float(z1[i] @ z2[j]) ** 2 for i in range(n) for j in range(n) if i != j)
    expected = -2 * positive / n + negative / (n * (n - 1))
    assert float(spectral_contrastive_loss(z1, z2)) == pytest.approx(expected, rel=1e-5)
    per_sample = spectral_contrastive_loss(z1, z2, reduction="none")
    assert per_sample.shape == (n,) and float(per_sample.mean()) == pytest.approx(expected, rel=1e-5)
    assert float(spectral_contrastive_loss(z1, z2, reduction="sum")) == pytest.approx(n * expected, rel=1e-5)


@pytest.mark.parametrize(
    "z1, z2, error, match",
    [
        (torch.ones(4), torch.ones(4), TypeError, "z1"),
        (torch.ones(4, 2), torch.ones(4, 3), ValueError, "same shape"),
        (torch.ones(1, 2), torch.ones(1, 2), ValueError, "at least 2"),
    ],
)
def test_spectral_loss_rejects_bad_inputs(z1, z2, error, match):
    with pytest.raises(error, match=match):
        spectral_contrastive_loss(z1, z2)


def test_spectral_loss_rejects_a_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        spectral_contrastive_loss(torch.ones(3, 2), torch.ones(3, 2), reduction="max")


# ------------------------------------------------------------------------------------------------------ probes


def test_probe_matches_scikit_learn_on_rms_normalised_features():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(80, 4)), rng.integers(0, 3, size=80)
    scale = np.sqrt((x[:50] ** 2).sum(1).mean())
    clf = LogisticRegression(C=0.5, max_iter=2000).fit(x[:50] / scale, y[:50])
    expected = (clf.predict(x[50:] / scale) == y[50:]).mean()
    assert linear_probe_accuracy(x[:50], y[:50], x[50:], y[50:], C=0.5) == pytest.approx(expected)
    # the overall scale of a representation does not matter, its direction weights do
    scaled = linear_probe_accuracy(torch.tensor(x[:50] * 100), torch.tensor(y[:50]), x[50:] * 100, y[50:], C=0.5)
    assert scaled == pytest.approx(expected)


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"C": 0.0}, ValueError, "C"),
        ({"train_labels": np.zeros(6)}, ValueError, "train_labels"),
        ({"train_labels": np.zeros(6, dtype=int)}, ValueError, "two classes"),
        ({"train_features": np.ones(6)}, TypeError, "train_features"),
        ({"test_features": np.ones((3, 5))}, ValueError, "differ"),
        ({"test_features": np.full((3, 2), np.nan)}, ValueError, "test_features"),
    ],
)
def test_probe_rejects_bad_inputs(change, error, match):
    arguments = {
        "train_features": np.arange(12.0).reshape(6, 2),
        "train_labels": np.array([0, 1, 0, 1, 0, 1]),
        "test_features": np.ones((3, 2)),
        "test_labels": np.array([0, 1, 0]),
    } | change
    C = arguments.pop("C", 1.0)
    with pytest.raises(error, match=match):
        linear_probe_accuracy(*arguments.values(), C=C)


def test_worst_group_accuracy_matches_a_loop():
    preds, labels, groups = [0, 1, 1, 0, 1, 1], [0, 1, 0, 0, 0, 1], [0, 0, 1, 1, 2, 2]
    by_group = {}
    for p, y, g in zip(preds, labels, groups):
        by_group.setdefault(g, []).append(p == y)
    assert worst_group_accuracy(preds, labels, groups) == pytest.approx(
        min(sum(v) / len(v) for v in by_group.values())
    )


# ------------------------------------------------------------------------------------------------- experiments


def test_feature_weighting_runs_and_is_seeded():
    config = FeatureWeightingConfig(num_samples=64, steps=5, num_labels=20, num_test=100)
    first, second = run_feature_weighting(0, config), run_feature_weighting(0, config)
    assert first == second
    assert len(first.gains) == 2 and len(first.gains[0]) == 10 and len(first.loss_curve) == 5
    assert 0.0 <= first.probe_accuracy_pre <= 1.0


@pytest.mark.parametrize(
    "change, match",
    [
        ({"strengths": (1.0,)}, "strengths"),
        ({"drop_max": 1.0}, "drop"),
        ({"num_samples": 1}, "num_samples"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"num_labels": 1}, "num_labels"),
        ({"downstream_noise": -1.0}, "downstream_noise"),
    ],
)
def test_feature_weighting_config_rejects_bad_settings(change, match):
    with pytest.raises(ValueError, match=match):
        FeatureWeightingConfig(**change).validate()


def test_train_contrastive_with_each_head_and_loss():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(40, 64, generator=g), torch.arange(40) % 4
    for head in ("none", "mlp", "kappa"):
        model = ProjectionHeadModel(nn.Linear(64, 8), make_head(head, 8, kappa=2.0))
        for loss in ("simclr", "supcon"):
            curve = train_contrastive(model, x, y, loss=loss, steps=2, batch_size=16)
            assert len(curve) == 2 and all(math.isfinite(v) for v in curve)
    with pytest.raises(ValueError, match="labels"):
        train_contrastive(model, x, loss="supcon", steps=1)
    with pytest.raises(ValueError, match="loss"):
        train_contrastive(model, x, loss="byol", steps=1)
    with pytest.raises(ValueError, match="batch_size"):
        train_contrastive(model, x, steps=1, batch_size=1)


def test_spurious_digits_returns_probe_accuracies():
    result = run_spurious_digits(0, "kappa", steps=2, probe_labels_per_class=3)
    assert result.head == "kappa"
    for value in (result.accuracy_pre, result.accuracy_post, result.worst_group_pre, result.worst_group_post):
        assert 0.0 <= value <= 1.0


@pytest.mark.slow
def test_deeper_layer_weights_features_more_unequally():
    """The paper's property at the claim's settings: layer 2's log gain ratio exceeds layer 1's, and h probes better."""
    result = run_feature_weighting(0)
    assert result.log_ratios[1] > result.log_ratios[0]
    assert result.probe_accuracy_pre > result.probe_accuracy_post


@pytest.mark.slow
def test_kappa_head_worst_group_pre_beats_post():
    """Soft at this scale (the paper's κ-head on a spurious pixel): an expected failure when it misses."""
    result = run_spurious_digits(0, "kappa", steps=300)
    if result.worst_group_pre < result.worst_group_post + 0.03:
        pytest.xfail(f"κ-head effect not seen: h {result.worst_group_pre:.3f} vs z {result.worst_group_post:.3f}")


# ------------------------------------------------------------------------------------------------------ recipe


def test_arguments_reject_bad_flags():
    from hf_methods.harness.recipe import parse_recipe_args

    for flags, match in [
        (["--drop_max", "1.5"], "drop"),
        (["--learning_rate", "0"], "learning_rate"),
        (["--num_samples", "1"], "num_samples"),
        (["--log_every", "-1"], "log_every"),
    ]:
        with pytest.raises(ValueError, match=match):
            parse_recipe_args(ProjectionHeadArguments, flags, slug="projection_head")


def test_recipe_runs_a_few_steps(tmp_path):
    import json

    from hf_methods.analysis.projection_head.training import LinearContrastiveNet
    from recipes.projection_head import main

    metrics = main(["--output_dir", str(tmp_path), "--max_steps", "4", "--num_samples", "32", "--num_test", "100",
                    "--log_every", "2", "--checkpoint_every", "0", "--cpu_threads", "1"])  # fmt: skip
    assert 0.0 <= metrics["eval/probe_accuracy_pre"] <= 1.0
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "README.md").exists()
    assert (tmp_path / "feature_gains.png").exists()
    assert len(json.loads((tmp_path / "analysis.json").read_text())["gains"]) == 2
    net = LinearContrastiveNet.from_pretrained(tmp_path)
    assert net(torch.ones(1, 10), "pre").shape == (1, 10)


@pytest.mark.slow
def test_recipe_resume_is_exact(tmp_path):
    from safetensors.torch import load_file

    from recipes.projection_head import main

    common = [
        "--max_steps",
        "20",
        "--num_samples",
        "32",
        "--num_test",
        "100",
        "--log_every",
        "0",
        "--cpu_threads",
        "1",
    ]
    main(["--output_dir", str(tmp_path / "a"), "--checkpoint_every", "0", *common])
    main(["--output_dir", str(tmp_path / "b"), "--checkpoint_every", "10", *common])
    first = sorted((tmp_path / "b" / "checkpoints").iterdir())[0]
    main(["--output_dir", str(tmp_path / "b"), "--resume_from_checkpoint", str(first), "--checkpoint_every", "10",
          *common])  # fmt: skip
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("projection_head").usage, namespace)
    assert len(namespace["gains"].g2) == 10 and namespace["head"].weights.shape == (64,)
