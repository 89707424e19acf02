"""PBN (P23): the loss against its equation written out, NCD k-means against a plain loop, the silhouette estimate,
the k-fold search (never reads novel labels), the Trainer, the recipe and the argument errors."""

import numpy as np
import pytest
import torch

from hf_methods.common.clustering import cluster_accuracy
from hf_methods.models.pbn import (
    PBNConfig,
    PBNForNovelClassDiscovery,
    discover_novel_classes,
    estimate_num_novel_classes,
    ncd_kmeans,
    pbn_loss,
)
from hf_methods.models.pbn.training import (
    fit_pbn,
    hidden_class_folds,
    ncd_kfold_hparam_search,
    ncd_split,
    train_and_discover,
)


def tiny_model(**kw):
    torch.manual_seed(0)
    return PBNForNovelClassDiscovery(
        PBNConfig(**{"input_dim": 6, "hidden_dims": [8], "latent_dim": 3, "num_known": 2, **kw})
    )


def blobs(centers, n=30, seed=0, spread=0.3):
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + spread * rng.standard_normal((n, len(c))) for c in centers])
    y = np.repeat(np.arange(len(centers)), n)
    return x.astype(np.float32), y


def test_loss_matches_the_equation_written_out():
    g = torch.Generator().manual_seed(0)
    logits, x, xhat = torch.randn(5, 3, generator=g), torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    labels = torch.tensor([0, -100, 2, -100, 1])
    w = 0.3
    loss, ce, mse = pbn_loss(logits, labels, xhat, x, w)
    # CE over the known rows only, by hand
    known = [i for i in range(5) if labels[i] != -100]
    ce_ref = sum(-(logits[i].log_softmax(0)[labels[i]]) for i in known) / len(known)
    # Σ over features and samples of squared errors, divided by the batch size (not the number of entries)
    mse_ref = sum(float((xhat[i, j] - x[i, j]) ** 2) for i in range(5) for j in range(4)) / 5
    torch.testing.assert_close(ce, ce_ref)
    assert abs(mse.item() - mse_ref) < 1e-5
    assert abs(loss.item() - (w * ce_ref.item() + (1 - w) * mse_ref)) < 1e-5


def test_loss_without_known_samples_is_reconstruction_only():
    x = torch.randn(4, 3)
    loss, ce, _ = pbn_loss(torch.randn(4, 2), torch.full((4,), -100), x + 1, x, 0.5)
    assert ce.item() == 0.0 and abs(loss.item() - 0.5 * 3.0) < 1e-6


def test_forward_gives_the_loss_and_the_latent_norm():
    model = tiny_model(latent_norm="l2").eval()
    x = torch.rand(4, 6)
    out = model(inputs=x, labels=torch.tensor([0, 1, -100, -100]))
    torch.testing.assert_close(out.latents.norm(dim=1), torch.ones(4))
    ref, _, _ = pbn_loss(out.logits, torch.tensor([0, 1, -100, -100]), out.reconstruction, x, 0.5)
    torch.testing.assert_close(out.loss, ref)
    # the clustered projection is the unnormalised one, as in the official code
    torch.testing.assert_close(model.encode(x, normalize=True), out.latents)


def test_ncd_kmeans_keeps_known_centroids_and_finds_novel_blobs():
    x_known, y_known = blobs([[0, 0], [6, 0]], seed=1)
    x_new, y_new = blobs([[0, 6], [6, 6], [3, 12]], seed=2)
    known = np.stack([x_known[y_known == c].mean(0) for c in range(2)])
    pred = ncd_kmeans(x_new, known, 3, n_init=3, seed=0)
    assert cluster_accuracy(pred, y_new) == 1.0
    # the returned labelling is the nearest new centroid: recompute the centroids with a plain loop and check
    centroids = [x_new[pred == j].mean(0) for j in range(3)]
    for i, p in enumerate(x_new):
        dists = [float(((p - c) ** 2).sum()) for c in centroids]
        assert pred[i] == int(np.argmin(dists))


def test_ncd_kmeans_known_centroid_absorbs_its_blob():
    # three unlabelled blobs, one of them sitting on a (frozen) known-class centroid: the two new centroids must take
    # the two other blobs, which plain 2-means cannot do (it has to cover all three blobs with two centroids)
    x, y = blobs([[0, 0], [10, 0], [0, 10]], n=20, seed=6)
    pred = ncd_kmeans(x, np.array([[0.0, 0.0]]), 2, n_init=3, seed=0)
    novel = y > 0
    assert cluster_accuracy(pred[novel], y[novel] - 1) == 1.0


def test_ncd_kmeans_errors():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="known_centroids"):
        ncd_kmeans(x, np.zeros((2, 3)), 2)
    with pytest.raises(ValueError, match="n_clusters"):
        ncd_kmeans(x, np.zeros((2, 2)), 0)
    with pytest.raises(ValueError, match="n_clusters"):
        ncd_kmeans(x, np.zeros((2, 2)), 6)
    with pytest.raises(TypeError, match="latents"):
        ncd_kmeans([[0.0, 1.0]], np.zeros((2, 2)), 1)
    with pytest.raises(ValueError, match="n_init"):
        ncd_kmeans(x, np.zeros((2, 2)), 2, n_init=0)


def test_estimate_num_novel_classes_finds_the_blob_count():
    x, _ = blobs([[0, 0], [8, 0], [0, 8], [8, 8]], n=25, seed=3)
    assert estimate_num_novel_classes(torch.as_tensor(x), range(2, 7), n_init=2) == 4


def test_estimate_num_novel_classes_errors():
    x = torch.rand(10, 2)
    with pytest.raises(ValueError, match="k_range"):
        estimate_num_novel_classes(x, [])
    with pytest.raises(ValueError, match="k_range"):
        estimate_num_novel_classes(x, [1, 2])
    with pytest.raises(ValueError, match="k_range"):
        estimate_num_novel_classes(x, [10])
    with pytest.raises(ValueError, match="latents"):
        estimate_num_novel_classes(torch.rand(10), [2])


def test_model_input_errors():
    model = tiny_model()
    with pytest.raises(ValueError, match="inputs"):
        model(inputs=torch.rand(3, 5))
    with pytest.raises(TypeError, match="inputs"):
        model(inputs=torch.ones(3, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        model(inputs=torch.rand(3, 6), labels=torch.tensor([0, 2, -100]))
    with pytest.raises(ValueError, match="labels"):
        model(inputs=torch.rand(3, 6), labels=torch.tensor([0, 1]))


def test_discover_errors_and_mode():
    model = tiny_model().train()
    x = torch.rand(12, 6)
    with pytest.raises(ValueError, match="method"):
        discover_novel_classes(model, x, 2, method="dbscan")
    with pytest.raises(ValueError, match="x_known"):
        discover_novel_classes(model, x, 2, method="ncd_kmeans")
    pred = discover_novel_classes(
        model, x, 2, method="ncd_kmeans", x_known=x[:4], y_known=torch.tensor([0, 1, 0, 1]), n_init=2
    )
    assert pred.shape == (12,) and set(pred) <= {0, 1}
    assert model.training  # mode restored


@pytest.mark.slow
def test_pbn_beats_chance_on_separable_novel_blobs():
    centers = np.eye(6)[:, :6] * 4
    x, y = blobs(list(centers), n=25, seed=4)
    split = ncd_split(x, y, [0, 1, 2])
    result = train_and_discover(split, {"epochs": 100, "batch_size": 32, "hidden_dims": [8], "latent_dim": 4}, seed=0)
    assert result["accuracy"] > 0.9  # chance is about 1/3


def test_kfold_search_never_reads_novel_labels_and_errors():
    x, y = blobs([np.eye(5)[i] * 4 for i in range(5)], n=12, seed=5)
    split = ncd_split(x, y, [0, 1, 2, 3])
    grid = {"w": [0.5, 1.0], "epochs": [2], "batch_size": [32], "hidden_dims": [[8]], "latent_dim": [3]}
    best, results = ncd_kfold_hparam_search(split.x_known, split.y_known, grid, n_folds=2, hidden_per_fold=1)
    assert best in [p for p, _ in results] and len(results) == 2
    assert all(0.0 <= s <= 1.0 for _, s in results)
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        ncd_kfold_hparam_search(split.x_known, split.y_known, {"momentum": [0.9]})
    with pytest.raises(ValueError, match="hidden_per_fold"):
        ncd_kfold_hparam_search(split.x_known, split.y_known, grid, hidden_per_fold=3)


def test_hidden_class_folds_cover_every_class():
    folds = hidden_class_folds(5, 5, 1, seed=0)
    assert sorted(c for f in folds for c in f) == [0, 1, 2, 3, 4]


def test_fit_pbn_errors():
    model = tiny_model()
    x, labels = torch.rand(4, 6), torch.tensor([0, 1, -100, -100])
    with pytest.raises(ValueError, match="epochs"):
        fit_pbn(model, x, labels, epochs=0)
    with pytest.raises(ValueError, match="learning_rate"):
        fit_pbn(model, x, labels, learning_rate=0)
    with pytest.raises(ValueError, match="labels"):
        fit_pbn(model, x, labels[:3])


def test_trainer_step_and_save_reload(tmp_path):
    from datasets import Dataset
    from transformers import AutoModel, TrainingArguments

    import hf_methods  # noqa: F401  (registers the Auto classes)
    from hf_methods.models.pbn import PBNTrainer

    model = tiny_model()
    g = torch.Generator().manual_seed(0)
    data = Dataset.from_dict(
        {"inputs": torch.rand(16, 6, generator=g).tolist(), "labels": [0, 1, -100, -100] * 4}
    ).with_format("torch")
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=3,
        per_device_train_batch_size=8,
        report_to=[],
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
        remove_unused_columns=False,
    )
    before = model.classifier.weight.detach().clone()
    trainer = PBNTrainer(model=model, args=args, train_dataset=data)
    trainer.train()
    assert not torch.equal(before, model.classifier.weight)
    assert any("reconstruction_loss" in entry for entry in trainer.state.log_history)
    model.save_pretrained(tmp_path / "model")
    reloaded = AutoModel.from_pretrained(tmp_path / "model").eval()
    x = torch.rand(3, 6)
    assert torch.equal(model.eval().encode(x), reloaded.encode(x))


def test_recipe_runs_a_few_steps(tmp_path):
    import json

    from recipes.pbn import main

    out = tmp_path / "run"
    metrics = main(
        [
            "--output_dir",
            str(out),
            "--max_steps",
            "4",
            "--estimate_k",
            "false",
            "--cpu_threads",
            "1",
            "--report_to",
            "none",
        ]
    )
    assert 0.0 < metrics["eval/novel_accuracy"] <= 1.0 and metrics["eval/num_novel_classes"] == 5.0
    assert (out / "config.json").exists() and (out / "README.md").exists()
    assert json.loads((out / "metrics.json").read_text())["slug"] == "pbn"


def test_recipe_arguments_errors():
    from hf_methods.models.pbn import PBNArguments

    with pytest.raises(ValueError, match="--w"):
        PBNArguments(w=2.0, output_dir="x").validate()
    with pytest.raises(ValueError, match="--clustering"):
        PBNArguments(clustering="dbscan", output_dir="x").validate()
    with pytest.raises(ValueError, match="--num_known"):
        PBNArguments(num_known=9, output_dir="x").validate()


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("pbn").usage, namespace)
    assert 2 <= namespace["k"] <= 7 and namespace["clusters"].shape == (896,)
