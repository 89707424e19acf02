"""P57 `metrix`: the Metrix loss against its equation written out in loops, its λ = 0 / λ = 1 limits against the
shared contrastive loss, the input/feature levels against the embedding level for linear parts, utilization against
a brute-force loop, the Trainer, the recipe, and one test per rejected input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hf_methods.common.metric_learning import contrastive_loss
from hf_methods.training.metrix import (
    MetrixLoss,
    MetrixTrainer,
    metrix_loss,
    metrix_step_loss,
    mix_plan,
    mixed_pair_loss,
    multi_similarity_loss,
    utilization,
)

LABELS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 5])  # 3, 4, 5: anchors without positives


def _emb(n=len(LABELS), d=6, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _cos(u, v):
    dot = sum(a * b for a, b in zip(u, v))
    return dot / math.sqrt(sum(a * a for a in u) * sum(b * b for b in v))


def reference_metrix(emb, labels, lam, pairing, base, margin=0.5, beta=2.0, gamma=50.0):
    """ℓ̃(a) for every anchor, one mix at a time in Python floats (the equation of the module docstring)."""
    e, y = emb.tolist(), labels.tolist()
    out = []
    for a in range(len(y)):
        positives = [p for p in range(len(y)) if p != a and y[p] == y[a]]
        negatives = [n for n in range(len(y)) if y[n] != y[a]]
        if pairing == "positive_negative":
            mixes = [(p, n, 1.0 / len(positives)) for p in positives for n in negatives]
        else:
            mixes = [] if positives else [(a, n, 1.0) for n in negatives]
        pos_sum = neg_sum = contrastive = 0.0
        for first, second, w in mixes:
            u = [lam * f + (1 - lam) * s for f, s in zip(e[first], e[second])]
            s = _cos(e[a], u)
            contrastive += w * (lam * (1 - s) + (1 - lam) * max(s - margin, 0.0))
            pos_sum += w * lam * math.exp(-beta * (s - margin))
            neg_sum += w * (1 - lam) * math.exp(gamma * (s - margin))
        ms = math.log1p(pos_sum) / beta + math.log1p(neg_sum) / gamma
        out.append(contrastive if base == "contrastive" else ms)
    return torch.tensor(out, dtype=torch.float64)


# ------------------------------------------------------------------------------------------------- the equation


@pytest.mark.parametrize("base", ["contrastive", "multisimilarity"])
@pytest.mark.parametrize("pairing", ["positive_negative", "anchor_negative"])
def test_mixed_loss_matches_plain_loop(base, pairing):
    emb = _emb()
    got = metrix_loss(
        emb, LABELS, base=base, pairing=pairing, lam=0.37, weight=1.0, anchor_negative_weight=1.0, reduction="none"
    )
    torch.testing.assert_close(got, reference_metrix(emb, LABELS, 0.37, pairing, base), atol=1e-10, rtol=1e-10)


def test_lambda_one_is_the_positive_pair_loss():
    """λ = 1: every mix is the positive itself, so ℓ̃(a) = (|N(a)|/|P(a)|) Σ_p (1 − s_ap), the positive-pair part of
    the shared contrastive loss (its negative part vanishes with margin 1) counted once per negative."""
    emb = _emb(seed=1)
    got = metrix_loss(emb, LABELS, pairing="positive_negative", lam=1.0, weight=1.0, reduction="none")
    pos, neg = (LABELS[:, None] == LABELS[None]).fill_diagonal_(False), LABELS[:, None] != LABELS[None]
    scale = neg.sum(1).double() / pos.sum(1).clamp_min(1).double()
    expected = scale * contrastive_loss(emb, LABELS, margin=1.0, reduction="none")
    torch.testing.assert_close(
        got, expected.to(got.dtype), atol=1e-10, rtol=0
    )  # two cosine kernels (matmul vs F.cosine_similarity), float64
    # and at the level of one pair: c(a, p) with λ = 1 is the contrastive loss of the pair (a, p)
    a, p, n = emb[0:1], emb[1:2], emb[3:4]
    pair = contrastive_loss(torch.cat([a, p]), torch.tensor([0, 0]), reduction="none")[0]
    torch.testing.assert_close(mixed_pair_loss(a, p, 1.0)[0], pair)
    pair_neg = contrastive_loss(torch.cat([a, n]), torch.tensor([0, 1]), reduction="none")[0]
    torch.testing.assert_close(mixed_pair_loss(a, n, 0.0)[0], pair_neg)


def test_lambda_zero_is_the_negative_pair_loss():
    """λ = 0: every mix is the negative, so ℓ̃(a) = Σ_n [s_an − m]₊, the negative part of the contrastive loss."""
    emb = _emb(seed=2)
    full = contrastive_loss(emb, LABELS, margin=0.5, reduction="none")
    positive_part = contrastive_loss(emb, LABELS, margin=1.0, reduction="none")
    has_pos = (LABELS[:, None] == LABELS[None]).sum(1) > 1
    got = metrix_loss(emb, LABELS, pairing="positive_negative", lam=0.0, weight=1.0, reduction="none")
    torch.testing.assert_close(
        got, torch.where(has_pos, full - positive_part, 0.0), atol=1e-10, rtol=0
    )  # two cosine kernels (matmul vs F.cosine_similarity), float64
    # anchor-negative pairs (anchors without positives only) at λ = 0: the whole contrastive loss of those anchors
    got = metrix_loss(emb, LABELS, pairing="anchor_negative", lam=0.0, anchor_negative_weight=1.0, reduction="none")
    torch.testing.assert_close(
        got, torch.where(has_pos, 0.0, full), atol=1e-10, rtol=0
    )  # two cosine kernels (matmul vs F.cosine_similarity), float64


def test_weights_reductions_and_official_defaults():
    emb = _emb(seed=3)
    one = metrix_loss(emb, LABELS, pairing="positive_negative", lam=0.6, weight=1.0, reduction="none")
    torch.testing.assert_close(metrix_loss(emb, LABELS, pairing="positive_negative", lam=0.6), 0.4 * one.mean())
    torch.testing.assert_close(
        metrix_loss(emb, LABELS, pairing="positive_negative", lam=0.6, reduction="sum"), 0.4 * one.sum()
    )
    anc = metrix_loss(emb, LABELS, pairing="anchor_negative", lam=0.6, anchor_negative_weight=1.0)
    torch.testing.assert_close(metrix_loss(emb, LABELS, pairing="anchor_negative", lam=0.6), 0.3 * anc)
    assert MetrixLoss(level="input").anchor_negative_weight == 0.4 and MetrixLoss().anchor_negative_weight == 0.3
    assert MetrixLoss(level="input").top_k == 1 and MetrixLoss(level="feature").top_k is None


def test_metrix_loss_module_is_base_plus_metrix_term():
    emb = _emb(seed=4)
    loss = MetrixLoss(base="multisimilarity", pairing="positive_negative", lam=0.25, reduction="none")(emb, LABELS)
    expected = multi_similarity_loss(emb, LABELS, reduction="none") + 0.4 * reference_metrix(
        emb, LABELS, 0.25, "positive_negative", "multisimilarity"
    )
    torch.testing.assert_close(loss, expected, atol=1e-10, rtol=1e-10)


def test_multi_similarity_loss_matches_loop():
    emb = _emb(seed=5)
    e, y = emb.tolist(), LABELS.tolist()
    expected = []
    for a in range(len(y)):
        pos = sum(math.exp(-2 * (_cos(e[a], e[p]) - 0.5)) for p in range(len(y)) if p != a and y[p] == y[a])
        neg = sum(math.exp(50 * (_cos(e[a], e[n]) - 0.5)) for n in range(len(y)) if y[n] != y[a])
        expected.append(math.log1p(pos) / 2 + math.log1p(neg) / 50)
    torch.testing.assert_close(
        multi_similarity_loss(emb, LABELS, reduction="none"), torch.tensor(expected, dtype=torch.float64)
    )


def test_hardest_negative_plan_matches_loop():
    emb = _emb(seed=6)
    sim = torch.nn.functional.normalize(emb, dim=1) @ torch.nn.functional.normalize(emb, dim=1).T
    plan = mix_plan(LABELS, "positive_negative", similarity=sim, top_k=1)
    y = LABELS.tolist()
    expected = set()
    for a in range(len(y)):
        negatives = [n for n in range(len(y)) if y[n] != y[a]]
        hardest = max(negatives, key=lambda n: sim[a, n].item())
        expected |= {(a, p, hardest) for p in range(len(y)) if p != a and y[p] == y[a]}
    assert set(zip(plan.anchor.tolist(), plan.first.tolist(), plan.second.tolist())) == expected


def test_generator_state_and_draws():
    loss = MetrixLoss(seed=3)
    state = loss.state_dict()
    draws = [loss.draw() for _ in range(5)]
    fresh = MetrixLoss(seed=99)
    fresh.load_state_dict(state)
    assert [fresh.draw() for _ in range(5)] == draws
    lams = [MetrixLoss(seed=0, alpha=2.0).draw()[1]]
    rng = np.random.default_rng(0)
    rng.random()
    assert lams[0] == pytest.approx(rng.beta(2.0, 2.0))  # one coin for the pairing, then λ ~ Beta(2, 2)


# ------------------------------------------------------------------------------------------------- levels


def _linear_model(seed=0):
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    return MLPForImageClassification(MLPConfig(input_size=8, hidden_sizes=[], num_labels=5)).double()


def _mlp(seed=0):
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    return MLPForImageClassification(
        MLPConfig(input_size=8, hidden_sizes=[7], hidden_act="relu", num_labels=5)
    ).double()


def test_input_and_feature_levels_equal_embedding_level_for_affine_parts():
    """An affine map commutes with mixing: mixing inputs of an affine model, or the features before an affine head,
    gives the embedding-level loss (same λ, same pairs)."""
    x = torch.rand(len(LABELS), 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    common = dict(pairing="positive_negative", lam=0.3, top_k=1)  # the same hardest negatives at every level

    def run(model, level, **kw):
        return metrix_step_loss(model, {"pixel_values": x}, LABELS, MetrixLoss(level=level, **common), **kw)[0]

    linear = _linear_model()
    torch.testing.assert_close(run(linear, "input"), run(linear, "embedding"))
    mlp = _mlp()
    torch.testing.assert_close(run(mlp, "feature", feature_module="mlp.layers"), run(mlp, "embedding"))
    assert not torch.isclose(run(mlp, "input"), run(mlp, "embedding"))  # ReLU: input mixing is something else


def test_step_loss_embedding_level_equals_the_module():
    x = torch.rand(len(LABELS), 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mlp = _mlp(1)
    loss, logs = metrix_step_loss(mlp, {"pixel_values": x}, LABELS, MetrixLoss(seed=5))
    torch.testing.assert_close(loss, MetrixLoss(seed=5)(mlp(pixel_values=x).logits, LABELS))
    assert set(logs) >= {"clean_loss", "metrix_loss", "lambda", "num_mixes"}


# ------------------------------------------------------------------------------------------------- utilization


def test_utilization_matches_brute_force_loop():
    gen = torch.Generator().manual_seed(0)
    train, test = torch.randn(30, 5, generator=gen), torch.randn(17, 5, generator=gen) * 3
    tn = [[v / math.sqrt(sum(w * w for w in r)) for v in r] for r in train.tolist()]
    qn = [[v / math.sqrt(sum(w * w for w in r)) for v in r] for r in test.tolist()]
    dists = [min(math.dist(q, t) for t in tn) for q in qn]
    assert utilization(train, test, chunk_size=4) == pytest.approx(sum(dists) / len(dists), abs=1e-9)
    assert utilization(train, test, squared=True) == pytest.approx(sum(d * d for d in dists) / len(dists), abs=1e-9)
    raw = [min(math.dist(q, t) for t in train.tolist()) for q in test.tolist()]
    assert utilization(train, test, normalize=False) == pytest.approx(sum(raw) / len(raw), abs=1e-5)
    assert utilization(train, train) == pytest.approx(0.0, abs=1e-7)


# ------------------------------------------------------------------------------------------------- Trainer


class _Digits(torch.utils.data.Dataset):
    def __init__(self, n=24):
        gen = torch.Generator().manual_seed(0)
        self.x, self.y = torch.rand(n, 8, generator=gen), torch.arange(n) % 3

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"pixel_values": self.x[i], "labels": self.y[i]}


def _trainer(tmp_path, loss, **kwargs):
    from transformers import TrainingArguments

    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(0)
    model = MLPForImageClassification(MLPConfig(input_size=8, hidden_sizes=[16], hidden_act="relu", num_labels=4))
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=12,
        learning_rate=1e-2,
        report_to=[],
        use_cpu=True,
        save_strategy="steps",
        save_steps=2,
        logging_strategy="no",
        disable_tqdm=True,
    )
    return MetrixTrainer(model=model, args=args, train_dataset=_Digits(), loss=loss, **kwargs)


@pytest.mark.parametrize("level", ["feature", pytest.param("input", marks=pytest.mark.slow)])
def test_trainer_steps_and_checkpoints_the_generator(tmp_path, level):
    loss = MetrixLoss(level=level, pairing="positive_negative", seed=0)
    trainer = _trainer(tmp_path, loss, feature_module="mlp.layers" if level == "feature" else None)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    assert any(not torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items())
    assert trainer.last_metrix_logs["num_mixes"] > 0 and trainer.last_metrix_logs["metrix_loss"] > 0
    saved = torch.load(tmp_path / "checkpoint-2" / "metrix_loss_state.pt", weights_only=True)
    fresh = MetrixLoss(level=level, pairing="positive_negative", seed=123)
    fresh.load_state_dict(saved)
    replay = MetrixLoss(level=level, pairing="positive_negative", seed=0)
    replay.draw(), replay.draw()  # two steps were taken before checkpoint-2
    assert fresh.draw()[1] == replay.draw()[1]
    assert np.isfinite(trainer.evaluate(_Digits())["eval_loss"])  # evaluation: clean base loss, no mixing


def test_trainer_rejects_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="loss must be a MetrixLoss"):
        _trainer(tmp_path, "contrastive")
    with pytest.raises(ValueError, match="needs feature_module"):
        _trainer(tmp_path, MetrixLoss(level="feature"))
    with pytest.raises(ValueError, match="not a submodule"):
        _trainer(tmp_path, MetrixLoss(level="feature"), feature_module="encoder.layer.3")


# ------------------------------------------------------------------------------------------------- recipe


def test_recipe_runs_a_few_steps(tmp_path):
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_metrix", repo_root() / "recipes" / "metrix.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    metrics = recipe.main(
        [
            "--output_dir",
            tmp_path / "out",
            "--max_steps",
            "3",
            "--level",
            "feature",
            "--log_every",
            "0",
            "--checkpoint_every",
            "0",
            "--pairing",
            "positive_negative",
        ]
    )
    assert 0.0 <= metrics["eval/recall_at_1"] <= 1.0 and metrics["eval/utilization"] > 0
    assert (tmp_path / "out" / "model.safetensors").is_file() and (tmp_path / "out" / "README.md").is_file()


def test_arguments_validate():
    from hf_methods.training.metrix.training import MetrixArguments, parse_classes

    assert parse_classes("0-2,7") == [0, 1, 2, 7]
    assert MetrixArguments(level="input").build_loss().top_k == 1
    for kwargs, flag in [
        ({"level": "manifold"}, "--level"),
        ({"base": "triplet"}, "--base"),
        ({"batch_size": 1}, "--batch_size"),
        ({"seen_classes": "0-9"}, "--seen_classes"),
        ({"seen_classes": "a-b"}, "--seen_classes"),
        ({"top_k": 0}, "--top_k"),
        ({"weight": -1.0}, "--weight"),
    ]:
        with pytest.raises(ValueError, match=flag):
            MetrixArguments(output_dir="x", **kwargs).validate()


def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("metrix").usage, namespace)
    assert torch.isfinite(namespace["loss"]) and namespace["u"] > 0


# ------------------------------------------------------------------------------------------------- bad inputs


def test_error_level_needs_the_model():
    with pytest.raises(ValueError, match="MetrixTrainer"):
        metrix_loss(_emb(), LABELS, level="input")
    with pytest.raises(ValueError, match="needs the model"):
        MetrixLoss(level="feature")(_emb(), LABELS)


def test_error_unknown_base_level_pairing_reduction():
    with pytest.raises(ValueError, match="base must be one of"):
        metrix_loss(_emb(), LABELS, base="proxy_anchor")
    with pytest.raises(ValueError, match="level must be one of"):
        metrix_loss(_emb(), LABELS, level="manifold")
    with pytest.raises(ValueError, match="pairing must be one of"):
        MetrixLoss(pairing="anchor_positive")
    with pytest.raises(ValueError, match="reduction must be one of"):
        metrix_loss(_emb(), LABELS, reduction="avg")


@pytest.mark.parametrize("lam", [-0.1, 1.5, float("nan")])
def test_error_lambda_out_of_range(lam):
    with pytest.raises(ValueError, match="lam must be"):
        metrix_loss(_emb(), LABELS, lam=lam)


def test_error_alpha_and_weights():
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        metrix_loss(_emb(), LABELS, alpha=0.0)
    with pytest.raises(ValueError, match="weight must be a finite number >= 0"):
        MetrixLoss(weight=-0.4)
    with pytest.raises(ValueError, match="anchor_negative_weight must be a finite number >= 0"):
        metrix_loss(_emb(), LABELS, anchor_negative_weight=-1.0)
    with pytest.raises(TypeError, match="alpha must be a number"):
        MetrixLoss(alpha="2")


def test_error_top_k():
    with pytest.raises(ValueError, match="top_k must be"):
        MetrixLoss(level="input", top_k=0)


def test_error_embeddings_and_labels():
    with pytest.raises(TypeError, match="embeddings must be a torch.Tensor"):
        metrix_loss(np.zeros((4, 2)), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="embeddings must be 2-D"):
        metrix_loss(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must have shape"):
        metrix_loss(_emb(), LABELS[:-1])
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        metrix_loss(_emb(), LABELS.float())


def test_error_utilization_inputs():
    with pytest.raises(ValueError, match="same dim"):
        utilization(torch.randn(4, 3), torch.randn(2, 5))
    with pytest.raises(ValueError, match="test_embeddings must hold at least one"):
        utilization(torch.randn(4, 3), torch.randn(0, 3))
    with pytest.raises(TypeError, match="train_embeddings must be a torch.Tensor"):
        utilization([[0.0]], torch.randn(2, 1))


def test_error_step_loss_inputs():
    mlp = _mlp()
    x = {"pixel_values": torch.rand(len(LABELS), 8, dtype=torch.float64)}
    with pytest.raises(ValueError, match="needs feature_module"):
        metrix_step_loss(mlp, x, LABELS, MetrixLoss(level="feature"))
    with pytest.raises(ValueError, match="must be a floating-point tensor"):
        metrix_step_loss(mlp, x, LABELS, MetrixLoss(level="input"), input_key="input_ids")
    with pytest.raises(TypeError, match="loss_fn must be a MetrixLoss"):
        metrix_step_loss(mlp, x, LABELS, torch.nn.MSELoss())
