"""P33 `data_diet`: EL2N and GraNd against plain references, the datasets round trip (map → select), the scorers,
the Trainer callback, the recipe and the errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from torch import nn

from hf_methods.training.data_diet import (
    EL2NScore,
    EL2NScorer,
    GraNdScorer,
    ScoreRecorderCallback,
    add_score_column,
    compute_el2n,
    compute_grand,
    el2n_scores,
    prune_dataset,
    select_by_score,
)

K = 4


def _mlp(hidden=(8,), input_size=6, seed=0, act="tanh"):
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    config = MLPConfig(input_size=input_size, hidden_sizes=list(hidden), hidden_act=act, num_labels=K)
    return MLPForImageClassification(config)


def _dataset(n=20, input_size=6, seed=0, extra=False):
    gen = torch.Generator().manual_seed(seed)
    data = {
        "pixel_values": torch.rand(n, input_size, generator=gen).tolist(),
        "labels": torch.randint(0, K, (n,), generator=gen).tolist(),
    }
    if extra:
        data["sample_idx"] = list(range(n))
    return Dataset.from_dict(data)


def _tensors(dataset, dtype=torch.float32):
    table = dataset.with_format("torch")[:]
    return table["pixel_values"].to(dtype), table["labels"]


# -------------------------------------------------------------------------------------------------------- EL2N


def reference_el2n(logits, labels):
    """‖softmax(f) − e_y‖₂ one example and one class at a time, in Python floats."""
    out = []
    for row, y in zip(logits.tolist(), labels.tolist()):
        top = max(row)
        e = [math.exp(v - top) for v in row]
        p = [v / sum(e) for v in e]
        out.append(math.sqrt(sum((p[k] - (1.0 if k == y else 0.0)) ** 2 for k in range(len(row)))))
    return torch.tensor(out, dtype=torch.float64)


def test_el2n_matches_the_equation_example_by_example():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(30, 7, generator=gen, dtype=torch.float64) * 4
    labels = torch.randint(0, 7, (30,), generator=gen)
    torch.testing.assert_close(el2n_scores(logits, labels), reference_el2n(logits, labels), atol=1e-12, rtol=0)


def test_el2n_bounds_and_module_reductions():
    logits = torch.tensor([[20.0, -20.0, -20.0], [-20.0, 20.0, -20.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor([0, 0, 2])
    scores = EL2NScore()(logits, labels)  # "none" by default: per-example scores
    assert scores[0] < 1e-6  # confidently right
    assert abs(scores[1].item() - math.sqrt(2)) < 1e-6  # confidently wrong: the upper bound √2
    assert abs(scores[2].item() - math.sqrt(2 / 3)) < 1e-6  # uniform prediction over 3 classes
    torch.testing.assert_close(EL2NScore("mean")(logits, labels), scores.mean())
    torch.testing.assert_close(EL2NScore("sum")(logits, labels), scores.sum())


def test_compute_el2n_scores_every_example_in_eval_mode():
    model, dataset = _mlp(), _dataset(21)
    model.config.dropout = 0.0
    model.train()
    x, y = _tensors(dataset)
    scores = compute_el2n(model, dataset, batch_size=8)  # 3 batches, the last one short
    assert model.training  # the mode is restored
    with torch.no_grad():
        expected = reference_el2n(model(pixel_values=x).logits.double(), y)
    torch.testing.assert_close(scores.double(), expected, atol=1e-6, rtol=0)


# -------------------------------------------------------------------------------------------------------- GraNd


def reference_grand(model, x, y):
    """‖∇_θ CE(f(x_i), y_i)‖₂ with one autograd backward per example, over the trainable parameters."""
    out = []
    for xi, yi in zip(x, y):
        model.zero_grad()
        F.cross_entropy(model(pixel_values=xi[None]).logits, yi[None]).backward()
        out.append(math.sqrt(sum((p.grad**2).sum().item() for p in model.parameters() if p.requires_grad)))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_grand_vmap_matches_a_per_example_loop(chunk_size):
    model, dataset = _mlp(hidden=(8, 5)).double(), _dataset(13)
    x, y = _tensors(dataset, torch.float64)
    fast = compute_grand(model, dataset, batch_size=5, chunk_size=chunk_size)
    assert fast.dtype == torch.float64 and fast.shape == (13,)
    torch.testing.assert_close(fast, reference_grand(model, x, y), atol=1e-10, rtol=0)


def test_grand_float32_close_to_the_loop():
    model, dataset = _mlp(hidden=(16,)), _dataset(10)
    x, y = _tensors(dataset)
    # float32 sums in another order: agree to a few ulps of values of order 1
    torch.testing.assert_close(compute_grand(model, dataset).double(), reference_grand(model, x, y), atol=1e-5, rtol=0)


def test_grand_of_softmax_regression_has_the_closed_form():
    """A linear model f = Wx + b: ∇_W CE = (p − e_y) xᵀ, ∇_b CE = p − e_y, so GraNd = EL2N · √(‖x‖² + 1)."""
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(1)
    model = MLPForImageClassification(MLPConfig(input_size=6, hidden_sizes=[], num_labels=K)).double()
    nn.init.normal_(model.classifier.weight, std=2.0)
    dataset = _dataset(12)
    x, y = _tensors(dataset, torch.float64)
    with torch.no_grad():
        el2n = el2n_scores(model(pixel_values=x).logits, y)
    expected = el2n * torch.sqrt((x**2).sum(1) + 1)
    torch.testing.assert_close(compute_grand(model, dataset), expected, atol=1e-10, rtol=0)


def test_grand_leaves_out_frozen_parameters():
    model, dataset = _mlp(hidden=(8,)).double(), _dataset(6)
    model.mlp.requires_grad_(False)  # only the classifier is trainable
    x, y = _tensors(dataset, torch.float64)
    torch.testing.assert_close(compute_grand(model, dataset), reference_grand(model, x, y), atol=1e-10, rtol=0)
    assert all(p.grad is None or not p.requires_grad for p in model.mlp.parameters())


# ------------------------------------------------------------------------------------------- selection and pruning


@pytest.mark.parametrize(
    "mode,keep_frac,offset_frac", [("keep_max", 0.5, 0.0), ("keep_max", 0.4, 0.1), ("keep_min", 0.3, 0.2)]
)
def test_select_by_score_matches_a_sorted_window(mode, keep_frac, offset_frac):
    scores = np.random.default_rng(0).normal(size=50)
    ranked = sorted(range(50), key=lambda i: -scores[i] if mode == "keep_max" else scores[i])
    start = round(offset_frac * 50)
    expected = sorted(ranked[start : start + round(keep_frac * 50)])
    got = select_by_score(scores, keep_frac, offset_frac=offset_frac, mode=mode)
    assert got.tolist() == expected


def test_select_by_score_matches_the_official_ascending_window():
    """The official `subset_train_idxs_by_offset` keeps argsort(scores)[o : o + |S|] (ascending); skipping the
    `skip` hardest and keeping |S| is the official window with o = N − |S| − skip."""
    scores = np.random.default_rng(1).permutation(40).astype(float)  # no ties
    size, skip = 12, 4
    official = np.sort(scores.argsort()[40 - size - skip : 40 - skip])
    assert select_by_score(scores, size / 40, offset_frac=skip / 40).tolist() == official.tolist()
    assert select_by_score(scores, size / 40).tolist() == np.sort(scores.argsort()[-size:]).tolist()  # keep_max


def test_select_by_score_ties_and_random_mode():
    assert select_by_score([1.0, 2.0, 2.0, 2.0, 0.0], 0.4).tolist() == [1, 2]  # the earlier of the tied examples
    rand = select_by_score(np.zeros(30), 0.5, mode="random", seed=3)
    assert len(rand) == 15 and len(set(rand.tolist())) == 15 and (np.diff(rand) > 0).all()
    assert rand.tolist() == select_by_score(np.zeros(30), 0.5, mode="random", seed=3).tolist()
    assert rand.tolist() != select_by_score(np.zeros(30), 0.5, mode="random", seed=4).tolist()


def test_scores_round_trip_through_a_dataset_map_then_select():
    dataset = _dataset(20, extra=True)
    scores = torch.linspace(0, 1, 20)[torch.randperm(20, generator=torch.Generator().manual_seed(0))]
    scored = add_score_column(dataset, scores, "el2n")  # Dataset.map(with_indices=True)
    assert scored.column_names == ["pixel_values", "labels", "sample_idx", "el2n"]
    np.testing.assert_allclose(scored["el2n"][:], scores.numpy(), rtol=1e-6)
    subset = prune_dataset(dataset, scores, keep_frac=0.25, offset_frac=0.1)
    kept = subset["sample_idx"][:]
    hardest = scores.argsort(descending=True).tolist()
    assert kept == sorted(hardest[2:7])  # skip the 2 hardest, keep the next 5, in the data set's order
    np.testing.assert_allclose(subset["el2n"][:], scores[kept].numpy(), rtol=1e-6)  # each score with its row
    assert subset["labels"][:] == [dataset["labels"][i] for i in kept]
    # a column written earlier is read back by name, and an existing column is replaced, not duplicated
    again = prune_dataset(scored, "el2n", keep_frac=0.25, offset_frac=0.1)
    assert again["sample_idx"][:] == kept
    rescored = add_score_column(scored, torch.zeros(20), "el2n")
    assert rescored.column_names.count("el2n") == 1 and set(rescored["el2n"][:]) == {0.0}


# --------------------------------------------------------------------------------------- scorers and the callback


def _args(tmp_path, **kwargs):
    from hf_methods.training.data_diet.training import scoring_args

    return scoring_args(batch_size=8, learning_rate=0.5, output_dir=str(tmp_path), **kwargs)


def test_recorder_callback_scores_at_init_and_after_an_epoch(tmp_path):
    from transformers import Trainer, set_seed

    dataset = _dataset(16)
    set_seed(0)
    model = _mlp()
    init_el2n = compute_el2n(model, dataset)
    recorder = ScoreRecorderCallback(dataset, scores=("el2n", "grand"), epochs=(0, 1))
    Trainer(model=model, args=_args(tmp_path, num_train_epochs=1), train_dataset=dataset, callbacks=[recorder]).train()
    assert sorted(recorder.history) == [0, 1]
    torch.testing.assert_close(recorder.history[0]["el2n"], init_el2n)
    torch.testing.assert_close(recorder.history[1]["el2n"], compute_el2n(model, dataset))  # the trained weights
    assert not torch.allclose(recorder.history[1]["el2n"], init_el2n)
    assert recorder.history[1]["grand"].shape == (16,)


@pytest.mark.slow
def test_el2n_scorer_averages_independent_runs(tmp_path):
    dataset = _dataset(16)
    scorer = EL2NScorer(_mlp_init, n_runs=2, score_epoch=1, training_args=_args(tmp_path), seed=5)
    scores = scorer.score(dataset)
    assert scorer.run_scores.shape == (2, 16)
    torch.testing.assert_close(scores, scorer.run_scores.mean(0))
    assert not torch.allclose(scorer.run_scores[0], scorer.run_scores[1])  # different initialisations
    torch.testing.assert_close(scorer.score_run(1, dataset), scorer.run_scores[1])  # seeded: reproducible


def _mlp_init():
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    return MLPForImageClassification(MLPConfig(input_size=6, hidden_sizes=[8], num_labels=K))


def test_grand_scorer_at_initialisation_needs_no_training():
    from transformers import set_seed

    dataset = _dataset(10)
    scorer = GraNdScorer(_mlp_init, n_runs=3, seed=7)
    assert scorer.score_epoch == 0
    scores = scorer.score(dataset)
    set_seed(8)  # run 1 is seeded seed + 1
    torch.testing.assert_close(scorer.run_scores[1], compute_grand(_mlp_init(), dataset))
    torch.testing.assert_close(scores, scorer.run_scores.mean(0))


@pytest.mark.slow
def test_el2n_ranks_flipped_labels_high():
    """Early in training the network predicts the true class of a mislabelled example: its EL2N is near √2."""
    from hf_methods.training.data_diet.training import noisy_digits_dataset, train_classifier

    data = noisy_digits_dataset(0, 0.1)
    table = data.train.with_format("torch")[:]
    model = train_classifier(table["pixel_values"], table["labels"], seed=0, steps=40, hidden_size=64)
    scores = compute_el2n(model, data.train)
    top = scores.argsort(descending=True)[: len(scores) // 10]
    assert data.is_noisy[top].float().mean() > 0.5  # chance: 0.1


# ---------------------------------------------------------------------------------------------------------- errors


def test_error_el2n_inputs():
    with pytest.raises(ValueError, match="logits must be 2-D"):
        el2n_scores(torch.randn(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        el2n_scores(torch.randn(4, 3), torch.zeros(4))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        el2n_scores(torch.randn(4, 3), torch.full((4,), 3))
    with pytest.raises(ValueError, match="labels must have shape"):
        el2n_scores(torch.randn(4, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="reduction"):
        EL2NScore("max")


def test_error_dataset_and_columns():
    model = _mlp()
    with pytest.raises(TypeError, match="dataset must be a datasets.Dataset"):
        compute_el2n(model, {"pixel_values": [[0.0] * 6], "labels": [0]})
    with pytest.raises(ValueError, match="label_column 'target'"):
        compute_el2n(model, _dataset(4), label_column="target")
    with pytest.raises(ValueError, match="no column the model's forward takes"):
        compute_el2n(model, Dataset.from_dict({"x": [[0.0] * 6], "labels": [0]}))
    with pytest.raises(ValueError, match="batch_size"):
        compute_grand(model, _dataset(4), batch_size=0)


def test_error_grand_inputs():
    model = _mlp()
    with pytest.raises(ValueError, match="chunk_size"):
        compute_grand(model, _dataset(4), chunk_size=0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        compute_grand(model, Dataset.from_dict({"pixel_values": [[0.0] * 6], "labels": [7]}))
    frozen = _mlp().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameter"):
        compute_grand(frozen, _dataset(4))


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"keep_frac": 0.0}, ValueError, "keep_frac"),
        ({"keep_frac": 1.5}, ValueError, "keep_frac"),
        ({"keep_frac": 0.5, "offset_frac": -0.1}, ValueError, "offset_frac"),
        ({"keep_frac": 0.8, "offset_frac": 0.3}, ValueError, "keep_frac \\+ offset_frac"),
        ({"keep_frac": 0.5, "mode": "keep_middle"}, ValueError, "mode must be one of"),
        ({"keep_frac": 0.5, "mode": "random", "offset_frac": 0.1}, ValueError, "offset_frac must be 0"),
    ],
)
def test_error_selection_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        select_by_score(np.arange(10.0), **kwargs)


def test_error_scores():
    dataset = _dataset(5)
    with pytest.raises(ValueError, match=r"scores must have shape \(5,\)"):
        prune_dataset(dataset, [1.0, 2.0], keep_frac=0.5)
    with pytest.raises(ValueError, match="finite"):
        prune_dataset(dataset, [1.0, float("nan"), 0.0, 0.0, 0.0], keep_frac=0.5)
    with pytest.raises(ValueError, match="'grand' is not a column"):
        prune_dataset(dataset, "grand", keep_frac=0.5)
    with pytest.raises(TypeError, match="scores must be a sequence"):
        select_by_score(3.0, 0.5)
    with pytest.raises(TypeError, match="dataset must be a datasets.Dataset"):
        prune_dataset([1, 2, 3], [1.0, 2.0, 3.0], keep_frac=0.5)
    with pytest.raises(ValueError, match="name must be a non-empty"):
        add_score_column(dataset, np.zeros(5), "")


def test_error_scorer_and_callback_arguments():
    with pytest.raises(TypeError, match="model_init must be a callable"):
        EL2NScorer(_mlp())
    with pytest.raises(ValueError, match="n_runs"):
        EL2NScorer(_mlp_init, n_runs=0)
    with pytest.raises(ValueError, match="score_epoch"):
        GraNdScorer(_mlp_init, score_epoch=-1)
    with pytest.raises(TypeError, match="training_args must be transformers.TrainingArguments"):
        EL2NScorer(_mlp_init, training_args={"learning_rate": 0.1})
    with pytest.raises(TypeError, match="model_init must return an nn.Module"):
        GraNdScorer(lambda: "model").score(_dataset(3))
    with pytest.raises(ValueError, match="dataset is empty"):
        GraNdScorer(_mlp_init).score(_dataset(3).select([]))
    with pytest.raises(ValueError, match="scores must be a non-empty subset"):
        ScoreRecorderCallback(_dataset(3), scores=("forgetting",))
    with pytest.raises(ValueError, match="epochs must be"):
        ScoreRecorderCallback(_dataset(3), epochs=(-1,))


# ------------------------------------------------------------------------------------------------ recipe, record


def test_arguments_validate():
    from hf_methods.training.data_diet.training import DataDietArguments

    assert DataDietArguments(score="grand").resolved_score_epoch == 0
    assert DataDietArguments(score="el2n").resolved_score_epoch == 3
    for kwargs, flag in [
        ({"score": "forgetting"}, "--score"),
        ({"mode": "middle"}, "--mode"),
        ({"keep_frac": 0.0}, "--keep_frac"),
        ({"keep_frac": 0.98, "offset_frac": 0.05}, "--offset_frac"),
        ({"mode": "random", "offset_frac": 0.1}, "--offset_frac"),
        ({"n_runs": 0}, "--n_runs"),
        ({"score_epoch": -2}, "--score_epoch"),
        ({"noise_rate": 1.5}, "--noise_rate"),
        ({"learning_rate": 0.0}, "--learning_rate"),
    ]:
        with pytest.raises(ValueError, match=flag):
            DataDietArguments(output_dir="x", **kwargs).validate()


def test_recipe_scores_prunes_and_trains(tmp_path):
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_data_diet", repo_root() / "recipes" / "data_diet.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "run"
    common = ["--output_dir", out, "--n_runs", "1", "--score", "grand", "--hidden_size", "16", "--log_every", "0"]
    metrics = recipe.main([*common, "--max_steps", "3", "--checkpoint_every", "2", "--keep_frac", "0.5"])
    assert metrics["eval/kept_fraction"] == pytest.approx(0.5, abs=1e-3)
    saved = json.loads((out / "data_diet_scores.json").read_text())
    assert len(saved["scores"]) == 1437 and len(saved["kept"]) == round(0.5 * 1437)
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    # a resumed run reads the scores back and prunes exactly the same subset
    recipe.main([*common, "--max_steps", "4", "--keep_frac", "0.5", "--resume_from_checkpoint", "latest"])
    assert json.loads((out / "data_diet_scores.json").read_text())["kept"] == saved["kept"]


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("data_diet").usage, namespace)  # its own data and model; two short Trainer runs
    assert namespace["el2n"].shape == (64,) and namespace["grand"].shape == (64,)
    assert len(namespace["subset"]) == 32 and "el2n" in namespace["subset"].column_names
