"""P43 `ecaml`: the Energy Confusion loss against the official layer's forward/backward written as plain loops, the
partner sampler, gradient flow (EC moves only the head), the Trainer, the training pieces, the recipe and errors."""

from __future__ import annotations

import math

import pytest
import torch

from hf_methods.training.ecaml import EnergyConfusionLoss, energy_confusion_loss, pair_counts, sample_partners

# -------------------------------------------------------------------------------------------------------- references


def reference_counts(labels):
    """w_pos, w_neg as the official layer counts them: over j > i."""
    y = labels.tolist()
    w_pos = w_neg = 0
    for i in range(len(y)):
        for j in range(i + 1, len(y)):
            if y[i] == y[j]:
                w_pos += 1
            else:
                w_neg += 1
    return w_pos, w_neg


def reference_forward_backward(embeddings, labels, pairs, weight, only_negative=False):
    """The official EnergyConfusionLossLayer on given (i, j) pairs, in Python floats: E, λ·log E and its gradient
    (the layer's `diff_` scaled by λ / E, as in `Backward_cpu`)."""
    f, y = embeddings.tolist(), labels.tolist()
    w_pos, w_neg = reference_counts(labels)
    energy = 0.0
    diff = [[0.0] * len(f[0]) for _ in f]
    for i, j in pairs:
        w = w_neg if (only_negative or y[i] != y[j]) else w_pos
        d = [a - b for a, b in zip(f[i], f[j])]
        energy += sum(v * v for v in d) * 0.5 / w
        diff[i] = [a + v / w for a, v in zip(diff[i], d)]
        diff[j] = [a - v / w for a, v in zip(diff[j], d)]
    grad = [[weight / energy * v for v in row] for row in diff]
    return energy, weight * math.log(energy), torch.tensor(grad, dtype=torch.float64)


def _batch(n=12, dim=5, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g, dtype=torch.float64), torch.randint(0, classes, (n,), generator=g)


# ----------------------------------------------------------------------------------------------------------- the loss


def test_pair_counts_match_the_official_loop():
    for seed in range(3):
        _, labels = _batch(seed=seed)
        assert pair_counts(labels) == reference_counts(labels)


@pytest.mark.parametrize("pairs", ["all", "negative"])
def test_loss_and_gradient_match_the_official_layer(pairs):
    embeddings, labels = _batch(seed=1)
    gen = torch.Generator().manual_seed(3)
    anchors, partners = sample_partners(labels, 3, pairs=pairs, generator=gen)
    assert anchors.numel() > 0
    f = embeddings.clone().requires_grad_(True)
    loss = energy_confusion_loss(f, labels, anchors, partners, pairs=pairs, weight=0.13)
    loss.backward()
    pair_list = list(zip(anchors.tolist(), partners.tolist()))
    _, expected, grad = reference_forward_backward(
        embeddings, labels, pair_list, 0.13, only_negative=pairs == "negative"
    )
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    torch.testing.assert_close(f.grad, grad, atol=1e-12, rtol=0)


def test_every_pair_mode_matches_the_loop_over_all_pairs():
    embeddings, labels = _batch(seed=2)
    n = len(labels)
    every = [(i, j) for i in range(n) for j in range(i + 1, n)]
    negatives = [(i, j) for i, j in every if labels[i] != labels[j]]
    loss_all = EnergyConfusionLoss(None, 1.0, pairs="all")(embeddings, labels)
    loss_neg = EnergyConfusionLoss(None, 1.0, pairs="negative")(embeddings, labels)
    assert loss_all.item() == pytest.approx(reference_forward_backward(embeddings, labels, every, 1.0)[1], abs=1e-12)
    expected_neg = reference_forward_backward(embeddings, labels, negatives, 1.0, only_negative=True)[1]
    assert loss_neg.item() == pytest.approx(expected_neg, abs=1e-12)


def test_log_energy_scale_identity_and_translation_invariance():
    """λ log E(c·f) = λ log E(f) + 2λ log c; E only sees differences, so a shift of every embedding changes nothing."""
    embeddings, labels = _batch(seed=4)
    loss = EnergyConfusionLoss(None, 0.13, pairs="all")
    base = loss(embeddings, labels)
    torch.testing.assert_close(loss(3.0 * embeddings, labels), base + 0.26 * math.log(3.0), atol=1e-12, rtol=0)
    torch.testing.assert_close(loss(embeddings + 5.0, labels), base, atol=1e-12, rtol=0)


def test_none_reduction_splits_the_batch_loss_by_energy_share():
    embeddings, labels = _batch(seed=5)
    mean = EnergyConfusionLoss(None, 0.13, pairs="all")(embeddings, labels)
    shares = EnergyConfusionLoss(None, 0.13, pairs="all", reduction="none")(embeddings, labels)
    torch.testing.assert_close(shares.mean(), mean)
    # example i's share is half the energy of its pairs: check one example by hand
    w_pos, w_neg = reference_counts(labels)
    n, i = len(labels), 0
    e_i = sum(
        0.5 * 0.5 * (embeddings[i] - embeddings[j]).pow(2).sum().item() / (w_pos if labels[i] == labels[j] else w_neg)
        for j in range(1, n)
    )
    energy = reference_forward_backward(embeddings, labels, [(a, b) for a in range(n) for b in range(a + 1, n)], 1)[0]
    assert shares[i].item() == pytest.approx(n * e_i / energy * mean.item(), rel=1e-10)


def test_no_eligible_pair_gives_a_zero_loss_with_a_graph():
    f = torch.randn(6, 3, requires_grad=True)
    loss = EnergyConfusionLoss(4, pairs="negative")(f, torch.zeros(6, dtype=torch.long))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(f.grad, torch.zeros_like(f))


def test_collapsed_embeddings_give_a_finite_loss_and_zero_gradient():
    f = torch.ones(4, 3, requires_grad=True)
    loss = EnergyConfusionLoss(None, 0.13)(f, torch.tensor([0, 1, 0, 1]))
    loss.backward()
    assert torch.isfinite(loss) and torch.equal(f.grad, torch.zeros_like(f))


# ----------------------------------------------------------------------------------------------------------- sampling


def test_uniform_negative_sampling_draws_distinct_other_class_partners():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    anchors, partners = sample_partners(labels, 4, generator=torch.Generator().manual_seed(0))
    for i in range(len(labels)):
        mine = partners[anchors == i].tolist()
        negatives = int((labels != labels[i]).sum())
        assert len(mine) == min(4, negatives) and len(set(mine)) == len(mine)
        assert all(labels[j] != labels[i] for j in mine)


def test_uniform_sampling_is_uniform_over_candidates():
    """Each of anchor 0's 5 candidates is drawn with probability k/5 = 0.4 (2000 draws: within 0.05)."""
    labels = torch.tensor([0, 1, 1, 2, 2, 3])
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(6)
    for _ in range(2000):
        anchors, partners = sample_partners(labels, 2, pairs="all", generator=gen)
        counts += torch.bincount(partners[anchors == 0], minlength=6)
    assert counts[0] == 0
    assert ((counts[1:] / 2000) - 0.4).abs().max() < 0.05


def test_official_scheme_windows_and_its_batches_of_two_never_reach_a_positive():
    n, k = 30, 4
    labels = torch.arange(n) // 2  # the official batches: two consecutive images per class
    gen = torch.Generator().manual_seed(1)
    anchors, partners = sample_partners(labels, k, pairs="all", sampling="official", generator=gen)
    assert set(anchors.tolist()) == set(range(n - 2 * k))  # anchors i < N − 2k only
    assert (partners >= anchors + 2).all()
    assert all((anchors == i).sum() == k for i in range(n - 2 * k))
    assert (labels[anchors] != labels[partners]).all()
    # so on such batches the official layer equals pairs="negative" with the same draws
    same = sample_partners(
        labels, k, pairs="negative", sampling="official", generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(same[0], anchors) and torch.equal(same[1], partners)


def test_generator_makes_the_loss_reproducible():
    embeddings, labels = _batch(seed=6)
    a = EnergyConfusionLoss(3, generator=torch.Generator().manual_seed(7))(embeddings, labels)
    b = EnergyConfusionLoss(3, generator=torch.Generator().manual_seed(7))(embeddings, labels)
    assert torch.equal(a, b)


# ----------------------------------------------------------------------------------------------------------- errors


def test_error_embeddings_not_2d():
    with pytest.raises(ValueError, match="embeddings must be 2-D"):
        EnergyConfusionLoss()(torch.randn(4), torch.zeros(4, dtype=torch.long))


def test_error_embeddings_type():
    with pytest.raises(TypeError, match="embeddings must be a torch.Tensor"):
        EnergyConfusionLoss()([[0.0, 1.0]], torch.zeros(1, dtype=torch.long))


def test_error_labels_dtype_and_shape():
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        EnergyConfusionLoss()(torch.randn(4, 2), torch.zeros(4))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        EnergyConfusionLoss()(torch.randn(4, 2), torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("value,error", [(0, ValueError), (-2, ValueError), (2.5, TypeError), (True, TypeError)])
def test_error_num_partners(value, error):
    with pytest.raises(error, match="num_partners"):
        EnergyConfusionLoss(num_partners=value)


@pytest.mark.parametrize("value,error", [(-0.1, ValueError), (float("nan"), ValueError), ("0.1", TypeError)])
def test_error_weight(value, error):
    with pytest.raises(error, match="weight"):
        EnergyConfusionLoss(weight=value)


def test_error_pairs_sampling_reduction_eps_generator():
    with pytest.raises(ValueError, match="pairs must be one of"):
        EnergyConfusionLoss(pairs="positive")
    with pytest.raises(ValueError, match="sampling must be one of"):
        EnergyConfusionLoss(sampling="hard")
    with pytest.raises(ValueError, match="reduction must be one of"):
        EnergyConfusionLoss(reduction="sum")
    with pytest.raises(ValueError, match="eps must be a positive number"):
        EnergyConfusionLoss(eps=0.0)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        EnergyConfusionLoss(generator=0)


# ----------------------------------------------------------------------------------------------------------- model


def _model(side=0, seed=0):
    from hf_methods.training.ecaml.training import embedding_mlp

    torch.manual_seed(seed)
    return embedding_mlp(hidden_sizes=(16,), embedding_size=8, side_features_size=side)


def test_gradient_flow_ec_changes_only_the_head():
    """The EC term on head(h.detach()) gives every backbone parameter a zero gradient and the head weight a non-zero
    one; the same term on the attached embedding would reach the backbone (so this test can fail)."""
    from hf_methods.training.ecaml.training import ecaml_step_loss

    model = _model(side=3)
    batch = {"pixel_values": torch.rand(16, 64), "side_features": torch.eye(3)[torch.arange(16) % 3]}
    batch["labels"] = torch.arange(16) % 3
    ec = EnergyConfusionLoss(4, 0.13)
    ec_only, parts = ecaml_step_loss(model, batch, lambda e, y: e.sum() * 0.0, ec)
    ec_only.backward()
    assert set(parts) == {"metric", "energy_confusion"}
    assert all(p.grad is None or torch.equal(p.grad, torch.zeros_like(p)) for p in model.mlp.parameters())
    assert model.embedding_head.weight.grad.abs().sum() > 0
    model.zero_grad()
    out = model(pixel_values=batch["pixel_values"], side_features=batch["side_features"])
    ec(out.embeddings, batch["labels"]).backward()  # not detached: the backbone gets a gradient
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.mlp.parameters())


def test_model_outputs_side_features_and_save_load(tmp_path):
    from hf_methods.training.ecaml import MLPForMetricLearning

    model = _model(side=2).eval()
    x, s = torch.rand(5, 64), torch.eye(2)[torch.tensor([0, 1, 0, 1, 0])]
    out = model(pixel_values=x, side_features=s, labels=torch.tensor([0, 1, 0, 1, 0]))
    assert out.embeddings.shape == (5, 8) and out.features.shape == (5, 18) and torch.isfinite(out.loss)
    torch.testing.assert_close(out.features[:, -2:], s)
    torch.testing.assert_close(model.get_embedding_head()(out.features), out.embeddings)
    model.save_pretrained(tmp_path)
    loaded = MLPForMetricLearning.from_pretrained(tmp_path).eval()
    assert torch.equal(loaded(pixel_values=x, side_features=s).embeddings, out.embeddings)


def test_model_errors_on_side_features():
    with pytest.raises(ValueError, match="side_features of shape"):
        _model(side=2)(pixel_values=torch.rand(3, 64))
    with pytest.raises(ValueError, match=r"side_features must have shape \(3, 2\)"):
        _model(side=2)(pixel_values=torch.rand(3, 64), side_features=torch.rand(3, 5))
    with pytest.raises(ValueError, match="side_features_size is 0"):
        _model()(pixel_values=torch.rand(3, 64), side_features=torch.rand(3, 2))


# ----------------------------------------------------------------------------------------------------------- Trainer


class _Embeddings(torch.utils.data.Dataset):
    def __init__(self, n=48, classes=4, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.y = torch.arange(n) % classes
        self.x = torch.rand(n, 64, generator=g) * 0.3 + torch.eye(64)[self.y * 8]  # separable classes

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"pixel_values": self.x[i], "labels": self.y[i]}


def _trainer(tmp_path, model=None, **kwargs):
    from transformers import TrainingArguments

    from hf_methods.training.ecaml import MetricLearningTrainer

    defaults = dict(
        output_dir=str(tmp_path),
        max_steps=4,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        learning_rate=1e-2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
    )
    trainer_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in ("energy_confusion", "metric_loss", "recall_ks")}
    args = TrainingArguments(**{**defaults, **kwargs})
    model = _model() if model is None else model
    return MetricLearningTrainer(
        model=model, args=args, train_dataset=_Embeddings(), eval_dataset=_Embeddings(seed=1), **trainer_kwargs
    )


def test_trainer_trains_head_and_backbone_and_evaluates_retrieval(tmp_path):
    trainer = _trainer(tmp_path, energy_confusion=EnergyConfusionLoss(4, 0.13))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    changed = {k for k, v in trainer.model.state_dict().items() if not torch.equal(v, before[k])}
    assert "embedding_head.weight" in changed and any(k.startswith("mlp.") for k in changed)
    assert set(trainer.last_loss_parts) == {"metric", "energy_confusion"}
    metrics = trainer.evaluate()
    assert set(metrics) == {"eval_recall@1", "eval_recall@2", "eval_recall@4", "eval_recall@8", "eval_nmi"}
    assert 0.0 <= metrics["eval_nmi"] <= 1.0 and metrics["eval_recall@1"] <= metrics["eval_recall@8"]


def test_trainer_compute_loss_is_metric_plus_ec_on_detached_features(tmp_path):
    from hf_methods.common.metric_learning import contrastive_loss

    trainer = _trainer(
        tmp_path, metric_loss="contrastive", energy_confusion=EnergyConfusionLoss(None, 0.13, pairs="all")
    )
    model, batch = trainer.model.train(), _Embeddings()[:16]
    loss = trainer.compute_loss(model, {"pixel_values": batch["pixel_values"], "labels": batch["labels"]})
    out = model(pixel_values=batch["pixel_values"])
    expected = contrastive_loss(out.embeddings, batch["labels"]) + EnergyConfusionLoss(None, 0.13, pairs="all")(
        out.embeddings, batch["labels"]
    )
    torch.testing.assert_close(loss, expected)


def test_trainer_errors(tmp_path):
    from hf_methods.common.mlp import MLPConfig, MLPModel

    with pytest.raises(ValueError, match="metric_loss must be one of"):
        _trainer(tmp_path, metric_loss="triplet")
    with pytest.raises(TypeError, match="energy_confusion must be an EnergyConfusionLoss"):
        _trainer(tmp_path, energy_confusion=0.13)
    with pytest.raises(ValueError, match="recall_ks"):
        _trainer(tmp_path, recall_ks=(0,))
    with pytest.raises(TypeError, match="get_embedding_head"):
        _trainer(tmp_path, model=MLPModel(MLPConfig(input_size=64)), energy_confusion=EnergyConfusionLoss())
    trainer = _trainer(tmp_path)
    with pytest.raises(ValueError, match="'labels' column"):
        trainer.compute_loss(trainer.model, {"pixel_values": torch.rand(4, 64)})


# ----------------------------------------------------------------------------------------------------------- training pieces


def test_zero_shot_digits_split_and_spurious_channel():
    from hf_methods.training.ecaml.training import zero_shot_digits

    data = zero_shot_digits(0, (0, 1, 2, 3, 4), spurious=True)
    assert len(data.train) + len(data.seen_test) + len(data.unseen) == 1797
    assert set(data.train.y.tolist()) == set(data.seen_test.y.tolist()) == {0, 1, 2, 3, 4}
    assert set(data.unseen.y.tolist()) == {5, 6, 7, 8, 9}
    # a perfect shortcut on seen classes, noise on unseen ones
    assert torch.equal(data.train.s.argmax(1), data.train.y) and torch.equal(
        data.seen_test.s.argmax(1), data.seen_test.y
    )
    assert (data.unseen.s.sum(1) == 1).all() and len(set(data.unseen.s.argmax(1).tolist())) == 5
    assert zero_shot_digits(0).train.s is None


def test_train_zero_shot_shares_initialisation_and_batches_between_base_and_ecaml():
    from hf_methods.training.ecaml.training import train_zero_shot, zero_shot_digits

    data = zero_shot_digits(0, spurious=True)
    kw = dict(seed=0, steps=3, hidden_sizes=(16,), embedding_size=8)
    base, again = train_zero_shot(data, ec_weight=0.0, **kw), train_zero_shot(data, ec_weight=0.0, **kw)
    assert base["unseen"] == again["unseen"]  # deterministic given the seed
    ecaml = train_zero_shot(data, ec_weight=0.13, **kw)
    assert ecaml["unseen"] != base["unseen"] and 0 < ecaml["spurious_weight_share"] < 1


def test_arguments_validate_and_build_the_ec_term():
    from hf_methods.training.ecaml.training import ECAMLArguments

    ec = ECAMLArguments(output_dir="x", num_partners=5, ec_weight=0.2, ec_pairs="all").build_energy_confusion()
    assert (ec.num_partners, ec.weight, ec.pairs) == (5, 0.2, "all")
    assert ECAMLArguments(output_dir="x", ec_weight=0.0).build_energy_confusion() is None
    bad = {
        "metric_loss": ("triplet", "--metric_loss"),
        "ec_pairs": ("positive", "--ec_pairs"),
        "ec_sampling": ("hard", "--ec_sampling"),
        "ec_weight": (-1.0, "--ec_weight"),
        "num_partners": (0, "--num_partners"),
        "seen_classes": ([0, 0, 1], "--seen_classes"),
        "hidden_act": ("swish", "--hidden_act"),
    }
    for name, (value, message) in bad.items():
        with pytest.raises(ValueError, match=message):
            ECAMLArguments(output_dir="x", **{name: value}).validate()


def test_recipe_runs_a_few_steps(tmp_path):
    import importlib.util
    import json

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_ecaml", repo_root() / "recipes" / "ecaml.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "run"
    argv = [
        "--output_dir",
        out,
        "--max_steps",
        "3",
        "--checkpoint_every",
        "0",
        "--spurious_channel",
        "--log_every",
        "1",
    ]
    metrics = recipe.main(argv + ["--hidden_sizes", "16", "--embedding_size", "8"])
    assert {"eval/unseen_recall@1", "eval/unseen_nmi", "eval/seen_recall@1", "eval/spurious_weight_share"} <= set(
        metrics
    )
    assert (out / "model.safetensors").exists() and (out / "README.md").exists()
    assert (
        json.loads((out / "metrics.json").read_text())["metrics"]["eval/unseen_recall@1"]
        == metrics["eval/unseen_recall@1"]
    )


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("ecaml").usage, namespace)  # trains 20 steps with the Trainer and evaluates on digits 5-9
    assert torch.isfinite(namespace["loss"])
    assert 0.0 < namespace["metrics"]["eval_recall@1"] <= 1.0 and "eval_nmi" in namespace["metrics"]
