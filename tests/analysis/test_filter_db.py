"""Tests of P30 `filter_db`: the filter metrics against numpy / Python references and closed forms, the PCA-KL shift
against scipy and scikit-learn, the Trainer callback, the clear errors, and the recipe."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.analysis.filter_db import (
    ConvQuality,
    FilterBasis,
    FilterDBArguments,
    FilterQualityCallback,
    collect_filters,
    filter_distribution_shift,
    filter_orthogonality,
    filter_sparsity,
    fit_filter_basis,
    load_image_data,
    measure_conv_quality,
    measure_weight_quality,
    random_entropy,
    tiny_resnet_config,
    variance_entropy,
)
from hf_methods.analysis.filter_db.shift import scale_filters

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny_resnet(width=4, seed=0):
    from transformers import ResNetForImageClassification

    torch.manual_seed(seed)
    return ResNetForImageClassification(tiny_resnet_config(width=width))


# --------------------------------------------------------------------------------------------- references


def reference_sparsity(w: np.ndarray, eps=0.01) -> float:
    """Loop over the 2-D filters: sparse when every |w| < eps · the layer's peak."""
    filters = w.reshape(-1, 9)
    peak = np.abs(filters).max()
    count = 0
    for f in filters:
        if all(abs(x) < eps * peak for x in f):
            count += 1
    return count / len(filters)


def reference_entropy(w: np.ndarray) -> tuple[float, float]:
    """numpy: covariance eigenvalues of the filters → variance ratios → base-10 entropy, / the paper's fit."""
    filters = w.reshape(-1, 9).astype(np.float64)
    eigen = np.clip(np.linalg.eigvalsh(np.cov(filters.T)), 0, None)
    ratios = eigen / eigen.sum()
    entropy = -sum(r * math.log10(r) for r in ratios if r > 0)
    n = len(filters)
    fit = 1.2618047 / (1 + math.exp(-0.88767525 * (math.log2(n) - 2.30436435))) - 0.31050834
    return entropy, entropy / fit


def reference_orthogonality(w: np.ndarray) -> float:
    rows = w.reshape(w.shape[0], -1)
    total, pairs = 0.0, 0
    for a in range(len(rows)):
        for b in range(len(rows)):
            if a != b:
                total += abs(rows[a] @ rows[b]) / (np.linalg.norm(rows[a]) * np.linalg.norm(rows[b]))
                pairs += 1
    return 1 - total / pairs


# ------------------------------------------------------------------------------------------------- quality


def test_sparsity_matches_the_loop_and_is_relative_to_the_layer_peak():
    w = torch.randn(6, 5, 3, 3, generator=torch.Generator().manual_seed(0))
    w.view(30, 9)[[1, 7, 8]] *= 1e-3  # below 1% of the peak: sparse
    w.view(30, 9)[4] = 0.0
    value, mask = filter_sparsity(w)
    assert value == pytest.approx(reference_sparsity(w.numpy())) == pytest.approx(4 / 30)
    assert mask.nonzero().flatten().tolist() == [1, 4, 7, 8]
    assert filter_sparsity(w * 1000)[0] == pytest.approx(4 / 30)  # scale-free
    assert filter_sparsity(torch.zeros(2, 2, 3, 3))[0] == 1.0


def test_forty_percent_zero_filters_give_sparsity_point_four():
    w = torch.randn(20, 20, 3, 3, generator=torch.Generator().manual_seed(1))
    w.view(400, 9)[torch.randperm(400, generator=torch.Generator().manual_seed(2))[:160]] = 0
    assert filter_sparsity(w)[0] == pytest.approx(0.4)


def test_variance_entropy_matches_numpy_eigenvalues():
    w = torch.randn(8, 6, 3, 3, generator=torch.Generator().manual_seed(3)) * torch.linspace(0.1, 2, 9).view(3, 3)
    entropy, norm = variance_entropy(w)
    ref_entropy, ref_norm = reference_entropy(w.numpy())
    assert entropy == pytest.approx(ref_entropy, rel=1e-9)
    assert norm == pytest.approx(ref_norm, rel=1e-9)


def test_variance_entropy_closed_forms():
    # ±e_k for every k: the variance is spread equally over 9 directions, H = log10 9
    basis = torch.eye(9)
    w = torch.cat([basis, -basis]).view(18, 1, 3, 3)
    assert variance_entropy(w)[0] == pytest.approx(math.log10(9))
    # copies of one filter: no variance at all, H = 0; filters on one line: one direction, H = 0
    copies = torch.randn(1, 1, 3, 3).expand(32, 16, 3, 3).contiguous()
    assert variance_entropy(copies) == (0.0, 0.0)
    line = torch.linspace(-1, 1, 50).view(50, 1, 1, 1) * torch.randn(1, 1, 3, 3)
    assert variance_entropy(line)[0] == pytest.approx(0.0, abs=1e-6)
    # a Kaiming-initialised layer is "random": normalised entropy ≈ 1
    kaiming = torch.empty(64, 64, 3, 3)
    nn.init.kaiming_normal_(kaiming, generator=torch.Generator().manual_seed(0))
    assert variance_entropy(kaiming)[1] > 0.9


def test_random_entropy_is_the_papers_logistic_fit():
    for n in (2, 9, 64, 4096):
        expected = 1.2618047 / (1 + math.exp(-0.88767525 * (math.log2(n) - 2.30436435))) - 0.31050834
        assert random_entropy(n) == pytest.approx(expected)
    assert random_entropy(2**20) == pytest.approx(1.2618047 - 0.31050834, abs=1e-6)


def test_clean_entropy_leaves_out_sparse_filters():
    w = torch.randn(10, 10, 3, 3, generator=torch.Generator().manual_seed(4))
    w.view(100, 9)[:30] = 0.0
    quality = measure_weight_quality(w)
    assert quality.sparsity == pytest.approx(0.3)
    assert quality.variance_entropy_clean == pytest.approx(reference_entropy(w.view(100, 9)[30:].numpy())[0])
    assert quality.variance_entropy_clean_norm == pytest.approx(reference_entropy(w.view(100, 9)[30:].numpy())[1])


def test_orthogonality_matches_the_pair_loop_and_its_limits():
    w = torch.randn(7, 3, 3, 3, generator=torch.Generator().manual_seed(5))
    assert filter_orthogonality(w) == pytest.approx(reference_orthogonality(w.numpy().astype(np.float64)))
    orthogonal = torch.eye(9).view(9, 1, 3, 3)
    assert filter_orthogonality(orthogonal) == pytest.approx(1.0)
    same = torch.randn(1, 2, 3, 3).expand(5, 2, 3, 3)
    assert filter_orthogonality(same) == pytest.approx(0.0, abs=1e-12)
    assert filter_orthogonality(-same * torch.tensor([1, -1, 1, -1, 1.0]).view(5, 1, 1, 1)) == pytest.approx(0.0)


def test_measure_conv_quality_walks_the_3x3_convs_of_a_transformers_resnet(tmp_path):
    model = tiny_resnet()
    quality = measure_conv_quality(model)
    assert len(quality.layers) == 4  # two basic blocks, two 3x3 convs each
    assert [layer.depth for layer in quality.layers] == [0, 1, 2, 3]
    assert all(name.startswith("resnet.encoder.stages.") for name in quality.names)
    assert "resnet.embedder.embedder.convolution" in quality.skipped  # the 7x7 stem
    assert any("shortcut" in name for name in quality.skipped)  # the 1x1 projection
    last = dict(model.named_modules())[quality.names[-1]]
    expected = measure_weight_quality(last.weight, name=quality.names[-1], depth=3)
    assert quality.layers[-1] == expected
    assert [layer.num_filters for layer in quality.layers] == [16, 16, 32, 64]
    picked = measure_conv_quality(model, layers=[quality.names[2]])
    assert picked.layers == [quality.layers[2]]  # depth kept from the whole model
    assert quality[quality.names[1]] is quality.layers[1]
    assert quality.mean("orthogonality") == pytest.approx(np.mean(quality.values("orthogonality")))
    assert set(quality.to_dict()[quality.names[0]]) >= {"sparsity", "variance_entropy_norm", "orthogonality"}
    path = tmp_path / "quality.png"
    quality.save_plot(path, reference=measure_conv_quality(tiny_resnet(seed=1)))
    assert path.read_bytes()[:8] == PNG_MAGIC


# --------------------------------------------------------------------------------------------------- shift


def test_scale_filters_divides_by_the_absolute_peak():
    x = np.array([[1.0, -4, 2, 0, 0, 0, 0, 0, 0], [0.0] * 9])
    scaled = scale_filters(x)
    np.testing.assert_allclose(scaled[0], x[0] / 4)
    np.testing.assert_array_equal(scaled[1], 0.0)


def test_basis_matches_scikit_learn_pca():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(500, 9)) * np.linspace(0.2, 3, 9)
    basis = fit_filter_basis(x)
    pca = PCA(n_components=9).fit(scale_filters(x))
    np.testing.assert_allclose(basis.explained_variance_ratio, pca.explained_variance_ratio_, rtol=1e-8)
    # the same coefficients up to the sign of each component
    np.testing.assert_allclose(np.abs(basis.transform(x)), np.abs(pca.transform(scale_filters(x))), atol=1e-8)


def test_shift_matches_scipy_symmetric_kl_of_histograms():
    from scipy.stats import entropy

    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 9))
    b = rng.normal(size=(300, 9)) + np.linspace(0, 1, 9)
    basis = fit_filter_basis(np.concatenate([a, b]))
    shift = filter_distribution_shift(a, b, basis=basis, bins=20)
    eps = np.finfo(np.float32).eps
    coef_a, coef_b = basis.transform(a), basis.transform(b)
    expected = []
    for i in range(9):
        hists = []
        for coef in (coef_a, coef_b):
            h, _ = np.histogram(coef[:, i], bins=20, range=basis.value_range, density=True)
            h[h == 0] = eps
            hists.append(h / h.sum())
        expected.append(entropy(hists[0], hists[1]) + entropy(hists[1], hists[0]))
    np.testing.assert_allclose(shift.per_component, expected, rtol=1e-10)
    assert shift.distance == pytest.approx(float(np.dot(basis.explained_variance_ratio, expected)))
    uniform = filter_distribution_shift(a, b, basis=basis, bins=20, weighting="uniform")
    assert uniform.distance == pytest.approx(np.mean(expected))
    one_sided = filter_distribution_shift(a, b, basis=basis, bins=20, symmetric=False)
    assert one_sided.per_component[0] == pytest.approx(
        entropy(*[_hist(c[:, 0], basis.value_range, 20) for c in (coef_a, coef_b)])
    )


def _hist(values, value_range, bins):
    h, _ = np.histogram(values, bins=bins, range=value_range, density=True)
    h[h == 0] = np.finfo(np.float32).eps
    return h / h.sum()


def test_shift_of_a_set_with_itself_is_zero_and_models_are_accepted(tmp_path):
    model = tiny_resnet(width=8)
    filters = collect_filters(model)
    assert filters.shape == (64 + 64 + 128 + 256, 9)
    assert filter_distribution_shift(model, filters).distance == pytest.approx(0.0, abs=1e-12)
    first = dict(model.named_modules())[measure_conv_quality(model).names[0]].weight
    shift = filter_distribution_shift(first, model, sample_size=64, seed=3)
    assert shift.num_filters_a == shift.num_filters_b == 64 and shift.distance > 0
    path = tmp_path / "shift.png"
    shift.save_plot(path)
    assert path.read_bytes()[:8] == PNG_MAGIC


# ------------------------------------------------------------------------------------------------ callback


def test_callback_tracks_the_metrics_in_a_trainer(tmp_path):
    from transformers import ResNetForImageClassification, Trainer, TrainingArguments

    from hf_methods.common.batches import TensorDictDataset, collate_batch

    data = load_image_data("digits", num_train=32, num_test=8, image_size=16)
    torch.manual_seed(0)
    model = ResNetForImageClassification(tiny_resnet_config(width=4))
    callback = FilterQualityCallback(every_n_steps=2)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=8,
        learning_rate=1e-2,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        remove_unused_columns=False,
        use_cpu=True,
    )
    dataset = TensorDictDataset(pixel_values=data.x_train, labels=data.y_train)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collate_batch, callbacks=[callback])
    initial = measure_conv_quality(model)
    trainer.train()
    assert [step for step, _ in callback.history] == [0, 2, 3]
    assert callback.history[0][1] == initial
    assert callback.history[-1][1] == measure_conv_quality(model)
    logged = [entry for entry in trainer.state.log_history if "filter_db/mean/variance_entropy_norm" in entry]
    assert [entry["step"] for entry in logged] == [0, 2, 3]
    with pytest.raises(ValueError, match="metric"):
        callback.series("entropy")
    series = callback.series("orthogonality")
    assert len(series) == 4 and all(len(v) == 3 for v in series.values())
    callback.save_plot(tmp_path / "history.png")
    assert (tmp_path / "history.png").read_bytes()[:8] == PNG_MAGIC


# -------------------------------------------------------------------------------------------------- errors


def test_bad_weights_are_refused():
    with pytest.raises(TypeError, match="weight"):
        filter_sparsity(np.zeros((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="weight must be a 4-D"):
        variance_entropy(torch.zeros(4, 9))
    with pytest.raises(ValueError, match="non-finite"):
        filter_orthogonality(torch.full((2, 2, 3, 3), float("nan")))
    with pytest.raises(ValueError, match="eps"):
        filter_sparsity(torch.randn(2, 2, 3, 3), eps=0)
    with pytest.raises(ValueError, match="mask"):
        variance_entropy(torch.randn(2, 2, 3, 3), mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="n must be"):
        random_entropy(0)


def test_bad_models_and_layers_are_refused():
    with pytest.raises(TypeError, match="model"):
        measure_conv_quality("resnet")
    with pytest.raises(ValueError, match="no nn.Conv2d with a 3x3"):
        measure_conv_quality(nn.Sequential(nn.Conv2d(1, 2, 5), nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="layers"):
        measure_conv_quality(tiny_resnet(), layers=["not.a.layer"])
    with pytest.raises(TypeError, match="layers"):
        measure_conv_quality(tiny_resnet(), layers="resnet")
    with pytest.raises(ValueError, match="metric"):
        ConvQuality(layers=[]).values("entropy")


def test_bad_shift_inputs_are_refused():
    x = np.random.default_rng(0).normal(size=(20, 9))
    with pytest.raises(ValueError, match="filters must have shape"):
        filter_distribution_shift(x[:, :4], x)
    with pytest.raises(TypeError, match="filters must be"):
        filter_distribution_shift([[0.0] * 9], x)
    with pytest.raises(ValueError, match="bins"):
        filter_distribution_shift(x, x, bins=0)
    with pytest.raises(ValueError, match="weighting"):
        filter_distribution_shift(x, x, weighting="kl")
    with pytest.raises(TypeError, match="basis"):
        filter_distribution_shift(x, x, basis={"mean": 0})
    with pytest.raises(ValueError, match="sample_size"):
        filter_distribution_shift(x, x[:5], sample_size=10)
    with pytest.raises(TypeError, match="symmetric"):
        filter_distribution_shift(x, x, symmetric="yes")
    with pytest.raises(ValueError, match="at least two"):
        fit_filter_basis(x[:1])
    assert isinstance(fit_filter_basis(x), FilterBasis)


def test_bad_callback_and_data_arguments_are_refused():
    with pytest.raises(ValueError, match="every_n_steps"):
        FilterQualityCallback(every_n_steps=0)
    with pytest.raises(ValueError, match="nothing measured"):
        FilterQualityCallback().series("sparsity")
    with pytest.raises(ValueError, match="dataset"):
        load_image_data("cifar10")
    with pytest.raises(ValueError, match="num_train"):
        load_image_data("digits", num_train=10**6)
    with pytest.raises(ValueError, match="width"):
        tiny_resnet_config(width=0)


# -------------------------------------------------------------------------------------------------- recipe


def test_arguments_reject_bad_flags():
    from hf_methods.harness.recipe import parse_recipe_args

    for flags, match in [
        (["--dataset", "cifar"], "dataset"),
        (["--width", "0"], "width"),
        (["--depths", "1,x"], "depths"),
        (["--learning_rate", "0"], "learning_rate"),
        (["--sparsity_eps", "2"], "sparsity_eps"),
        (["--track_every", "0"], "track_every"),
    ]:
        with pytest.raises(ValueError, match=match):
            parse_recipe_args(FilterDBArguments, flags, slug="filter_db")


def test_recipe_runs_a_few_steps(tmp_path):
    import json

    from recipes.filter_db import main

    metrics = main(
        [
            "--output_dir",
            str(tmp_path),
            "--max_steps",
            "3",
            "--num_train",
            "32",
            "--num_test",
            "16",
            "--width",
            "4",
            "--image_size",
            "16",
            "--batch_size",
            "8",
            "--track_every",
            "2",
            "--checkpoint_every",
            "0",
        ]
    )
    assert 0.0 <= metrics["eval/accuracy"] <= 1.0
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    assert [entry["step"] for entry in analysis["history"]] == [0, 2, 3]
    assert (tmp_path / "filter_quality.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "README.md").is_file()
