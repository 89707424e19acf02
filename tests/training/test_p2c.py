"""P60 `p2c`: the P2C loss terms against the paper's equations written plainly and the official formulas, the
model's text path (tiny BERT: shapes, save/load, Auto classes), the Trainer, the synthetic task, errors, the recipe."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hf_methods.training.p2c import (
    P2CConfig,
    P2CForSequenceClassification,
    P2CLoss,
    P2CPairCollator,
    P2CTrainer,
    consistency_loss,
    diversity_loss,
    preference_from_votes,
    preference_loss,
    preference_probabilities,
    soft_label_consistency_loss,
    soft_label_cross_entropy,
)


def _pairs(n: int = 9, k: int = 3, heads: int = 3, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return {
        "logits": (torch.randn(n, k, generator=g) * 2).to(dtype),
        "pair_logits": (torch.randn(n, k, generator=g) * 2).to(dtype),
        "labels": torch.randint(0, k, (n,), generator=g),
        "preference": torch.arange(n) % 3,
        "rewards": (torch.rand(n, heads, generator=g) * 2 - 1).to(dtype),
        "pair_rewards": (torch.rand(n, heads, generator=g) * 2 - 1).to(dtype),
        "soft_labels": torch.softmax(torch.randn(n, k, generator=g), -1).to(dtype),
        "pair_soft_labels": torch.softmax(torch.randn(n, k, generator=g), -1).to(dtype),
    }


# -------------------------------------------------------------------------------------------------------- references


def softmax_row(row):
    top = max(row)
    e = [math.exp(v - top) for v in row]
    return [v / sum(e) for v in e]


def reference_terms(b, lambda_cls, lambda_pref, lambda_cons, lambda_div, consistency):
    """The P2C objective pair by pair in Python floats, following the official `train_preference_extractive`."""
    out = []
    for i in range(len(b["labels"])):
        y, pref = int(b["labels"][i]), int(b["preference"][i])
        p1, p2 = softmax_row(b["logits"][i].tolist()), softmax_row(b["pair_logits"][i].tolist())
        cls = 0.5 * -math.log(p1[y]) + 0.5 * -math.log(p2[y])
        # soft preference target [P(x₂ ≻ x₁), P(x₁ ≻ x₂)]: official pref1/pref2 trick, ties 0.5/0.5
        target = {1: [0.0, 1.0], 0: [1.0, 0.0], 2: [0.5, 0.5]}[pref]
        r1, r2 = b["rewards"][i].tolist(), b["pair_rewards"][i].tolist()
        heads = len(r1)
        probs = []
        for h in range(heads):  # official: cat([exp(r2), exp(r1)]) / (exp(r2) + exp(r1))
            z = math.exp(r2[h]) + math.exp(r1[h])
            probs.append([math.exp(r2[h]) / z, math.exp(r1[h]) / z])
        pref_loss = sum(-sum(t * math.log(p) for t, p in zip(target, probs[h])) for h in range(heads)) / heads
        div = 0.0
        for h in range(heads):
            for g in range(heads):
                if h != g:
                    div += -sum(probs[h][o] * math.log(probs[g][o]) for o in range(2))
        div /= heads * (heads - 1)
        if consistency == "preference":
            delta = p1[y] - p2[y]
            cons = {1: max(0.0, -delta), 0: max(0.0, delta), 2: abs(delta)}[pref]
        else:
            s1, s2 = b["soft_labels"][i].tolist(), b["pair_soft_labels"][i].tolist()
            cons = 0.0
            for c in range(len(p1)):
                ds, dp = s1[c] - s2[c], p1[c] - p2[c]
                cons += max(0.0, ds - dp) if ds >= 0 else max(0.0, dp - ds)
        total = lambda_cls * cls + lambda_cons * cons + lambda_pref * pref_loss - lambda_div * div
        out.append({"cls": cls, "cons": cons, "pref": pref_loss, "div": div, "loss": total})
    return out


# ------------------------------------------------------------------------------------------------------------ math


@pytest.mark.parametrize("consistency", ["preference", "soft_label"])
@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 0.1), (0.5, 2.0, 0.1, 1.0)])
def test_p2c_loss_matches_the_official_loop(consistency, weights):
    b = _pairs()
    loss = P2CLoss(*weights, consistency=consistency, reduction="none")
    terms = loss.components(**b)
    expected = reference_terms(b, *weights, consistency)
    for name in ("cls", "cons", "pref", "div", "loss"):
        torch.testing.assert_close(
            terms[name], torch.tensor([e[name] for e in expected], dtype=torch.float64), atol=1e-10, rtol=0
        )
    torch.testing.assert_close(P2CLoss(*weights, consistency=consistency)(**b), terms["loss"].mean())


def test_diversity_is_subtracted_and_pushes_heads_apart():
    b = _pairs()
    with_div = P2CLoss(lambda_div=1.0, reduction="none").components(**b)
    torch.testing.assert_close(
        with_div["loss"], with_div["cls"] + with_div["cons"] + with_div["pref"] - with_div["div"]
    )
    # a gradient step on −L_div alone moves the heads' preference distributions apart (their cross-entropy grows)
    rewards = b["rewards"].clone().requires_grad_(True)
    before = diversity_loss(rewards, b["pair_rewards"])
    (-before).backward()
    after = diversity_loss(rewards.detach() - 0.1 * rewards.grad, b["pair_rewards"])
    assert after > before
    # identical heads: L_div is the entropy of their common distribution; one head: 0
    same = b["rewards"][:, :1].expand(-1, 3)
    p = torch.sigmoid(same[:, 0] - b["pair_rewards"][:, 0])
    entropy = -(p * p.log() + (1 - p) * (1 - p).log())
    torch.testing.assert_close(diversity_loss(same, b["pair_rewards"][:, :1].expand(-1, 3), reduction="none"), entropy)
    assert diversity_loss(b["rewards"][:, :1], b["pair_rewards"][:, :1]).item() == 0.0


def test_bradley_terry_and_preference_loss_closed_forms():
    r1, r2 = torch.tensor([[0.3, -0.2]]), torch.tensor([[-0.5, 0.4]])
    p = preference_probabilities(r1, r2)
    torch.testing.assert_close(p, torch.exp(r1) / (torch.exp(r1) + torch.exp(r2)))
    for pref, t in ((1, 1.0), (0, 0.0), (2, 0.5)):
        loss = preference_loss(r1, r2, torch.tensor([pref]))
        expected = -(t * p.log() + (1 - t) * (1 - p).log()).mean()
        torch.testing.assert_close(loss, expected)
    # a tie is minimised by equal rewards: gradient zero at r1 = r2
    r = torch.tensor([[0.2, 0.2]], requires_grad=True)
    preference_loss(r, torch.tensor([[0.2, 0.2]]), torch.tensor([2])).backward()
    assert r.grad.abs().max() < 1e-7


def test_consistency_hinge_cases():
    labels = torch.tensor([0, 0, 0])
    logits = torch.log(torch.tensor([[0.7, 0.3], [0.7, 0.3], [0.7, 0.3]]))
    pair_logits = torch.log(torch.tensor([[0.4, 0.6], [0.4, 0.6], [0.4, 0.6]]))  # Δ = 0.3
    loss = consistency_loss(logits, pair_logits, labels, torch.tensor([1, 0, 2]), reduction="none")
    torch.testing.assert_close(loss, torch.tensor([0.0, 0.3, 0.3]))
    soft = soft_label_consistency_loss(
        logits, pair_logits, torch.tensor([[0.8, 0.2]] * 3), torch.tensor([[0.4, 0.6]] * 3), reduction="none"
    )
    # δs = (0.4, −0.4), δp = (0.3, −0.3): class 0 needs 0.1 more, class 1 likewise
    torch.testing.assert_close(soft, torch.full((3,), 0.2))


def test_soft_label_cross_entropy_is_ce_on_one_hot():
    b = _pairs()
    one_hot = F.one_hot(b["labels"], 3).double()
    torch.testing.assert_close(
        soft_label_cross_entropy(b["logits"], one_hot), F.cross_entropy(b["logits"], b["labels"])
    )


def test_ce_only_weights_give_cross_entropy():
    b = _pairs()
    loss = P2CLoss(lambda_pref=0.0, lambda_cons=0.0, lambda_div=0.0)(
        b["logits"], b["labels"], b["preference"], b["pair_logits"]
    )
    expected = 0.5 * F.cross_entropy(b["logits"], b["labels"]) + 0.5 * F.cross_entropy(b["pair_logits"], b["labels"])
    torch.testing.assert_close(loss, expected)


def test_preference_from_votes_matches_a_loop():
    g = torch.Generator().manual_seed(3)
    votes = torch.randint(0, 6, (50, 3), generator=g) + torch.eye(3, dtype=torch.long)[torch.arange(50) % 3]
    pair_votes = torch.randint(0, 6, (50, 3), generator=g) + 1
    labels = torch.randint(0, 3, (50,), generator=g)
    pref = preference_from_votes(votes, pair_votes, labels)
    for i in range(50):
        a = votes[i, labels[i]].item() / votes[i].sum().item()
        b = pair_votes[i, labels[i]].item() / pair_votes[i].sum().item()
        assert pref[i].item() == (1 if a > b + 1e-12 else 0 if b > a + 1e-12 else 2)
    # 3 of 5 against 6 of 10 votes is a tie despite float rounding; a tolerance widens ties
    assert preference_from_votes(torch.tensor([[2, 3]]), torch.tensor([[4, 6]]), torch.tensor([1])).item() == 2
    close = preference_from_votes(torch.tensor([[2, 3]]), torch.tensor([[3, 2]]), torch.tensor([1]), tolerance=0.25)
    assert close.item() == 2


# -------------------------------------------------------------------------------------------------------- text path


def _tiny_text_model(seed: int = 0, heads: int = 3):
    from hf_methods.common.tiny import tiny_bert_config

    torch.manual_seed(seed)
    return P2CForSequenceClassification(
        P2CConfig(encoder_config=tiny_bert_config(), num_labels=3, num_preference_heads=heads)
    )


def test_text_model_shapes_and_rewards():
    model = _tiny_text_model().eval()
    ids = torch.randint(3, 259, (4, 7))
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.tensor([0, 1, 2, 0]))
    assert out.logits.shape == (4, 3) and out.rewards.shape == (4, 3) and out.loss.dim() == 0
    assert out.rewards.abs().max() <= 1.0
    assert model(input_ids=ids).rewards is None
    # the rewards are conditioned on the label y (the head reads [CLS; y·1])
    r0 = model(input_ids=ids, reward_labels=torch.zeros(4, dtype=torch.long)).rewards
    r2 = model(input_ids=ids, reward_labels=torch.full((4,), 2)).rewards
    assert not torch.allclose(r0, r2)
    # the reward reads the first-token state of the encoder
    hidden = model.encoder(input_ids=ids).last_hidden_state[:, 0]
    torch.testing.assert_close(model.preference_rewards(hidden, torch.zeros(4, dtype=torch.long)), r0)


def test_text_model_save_load_and_auto_class(tmp_path):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    model = _tiny_text_model().eval()
    model.save_pretrained(tmp_path)
    ids = torch.randint(3, 259, (3, 6))
    labels = torch.tensor([0, 2, 1])
    assert type(AutoConfig.from_pretrained(tmp_path)) is P2CConfig
    for loaded in (
        P2CForSequenceClassification.from_pretrained(tmp_path),
        AutoModelForSequenceClassification.from_pretrained(tmp_path),
    ):
        assert type(loaded) is P2CForSequenceClassification
        loaded.eval()
        assert loaded.config.encoder_config.num_hidden_layers == 2
        a, b = model(input_ids=ids, labels=labels), loaded(input_ids=ids, labels=labels)
        # the reloaded encoder may pick another attention kernel: compare within float32 round-off
        torch.testing.assert_close(b.logits, a.logits, atol=1e-5, rtol=0)
        torch.testing.assert_close(b.rewards, a.rewards, atol=1e-5, rtol=0)
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key


def test_from_backbone_copies_the_encoder():
    from transformers import BertModel

    from hf_methods.common.tiny import tiny_bert_config

    torch.manual_seed(1)
    encoder = BertModel(tiny_bert_config())
    model = P2CForSequenceClassification.from_backbone(encoder, num_labels=2, num_preference_heads=2)
    assert len(model.preference_heads) == 2 and model.classifier.out_features == 2
    for key, value in encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value), key


# ---------------------------------------------------------------------------------------------------------- Trainer


def _feature_pairs(n: int = 48, seed: int = 0):
    from datasets import Dataset

    from hf_methods.training.p2c.training import PairDataset, sample_pairs, synthetic_annotated_task

    task = synthetic_annotated_task(seed, num_train=24, num_test=8, num_features=6)
    pairs = sample_pairs(task.labels, 2, torch.Generator().manual_seed(seed))[:n]
    data = PairDataset(task.x, task.votes, task.labels, pairs)
    return Dataset.from_dict(data.to_dict()).with_format("torch"), data


def _feature_model(seed: int = 0):
    from hf_methods.training.p2c.training import p2c_mlp

    torch.manual_seed(seed)
    return p2c_mlp(num_features=6, hidden_size=8, classifier_dropout=0.0)


def _args(tmp_path, **kwargs):
    from transformers import TrainingArguments

    defaults = dict(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=8,
        learning_rate=1e-2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
    )
    return TrainingArguments(**{**defaults, **kwargs})


def test_trainer_loss_is_the_p2c_loss_and_keeps_pair_columns(tmp_path):
    dataset, data = _feature_pairs()
    model = _feature_model()
    trainer = P2CTrainer(model=model, args=_args(tmp_path), train_dataset=dataset, consistency="soft_label")
    batch = data.__getitems__(list(range(8)))
    loss = trainer.compute_loss(model, batch)
    out_1 = model(pixel_values=batch["pixel_values"], reward_labels=batch["labels"])
    out_2 = model(pixel_values=batch["pair_pixel_values"], reward_labels=batch["labels"])
    expected = P2CLoss(consistency="soft_label")(
        out_1.logits,
        batch["labels"],
        batch["preference"],
        out_2.logits,
        out_1.rewards,
        out_2.rewards,
        batch["soft_labels"],
        batch["pair_soft_labels"],
    )
    torch.testing.assert_close(loss, expected)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.train()  # remove_unused_columns=True (the default) keeps the pair columns
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("preference_heads") for k in changed) and any(k.startswith("encoder") for k in changed)
    assert set(trainer.last_terms) == {"cls", "cons", "pref", "div", "loss"}
    assert math.isfinite(trainer.evaluate(dataset)["eval_loss"])  # evaluation on pairs uses the same loss


def test_trainer_on_text_pairs_with_the_collator(tmp_path):
    from datasets import Dataset

    from hf_methods.common.tiny import byte_tokenizer

    tokenizer = byte_tokenizer()
    texts = [("good", "quite good"), ("bad", "so very bad")] * 4
    rows = {
        "input_ids": [tokenizer(a).input_ids for a, _ in texts],
        "pair_input_ids": [tokenizer(b).input_ids for _, b in texts],
        "labels": [1, 0] * 4,
        "preference": [1, 0, 2, 1] * 2,
    }
    collator = P2CPairCollator(tokenizer)
    batch = collator([{k: v[i] for k, v in rows.items()} for i in range(4)])
    assert batch["pair_input_ids"].shape == batch["pair_attention_mask"].shape == (4, 11)
    assert batch["input_ids"].shape[1] == 4 and batch["preference"].tolist() == [1, 0, 2, 1]
    model = _tiny_text_model(heads=2)
    trainer = P2CTrainer(
        model=model, args=_args(tmp_path, max_steps=2), train_dataset=Dataset.from_dict(rows), data_collator=collator
    )
    trainer.train()
    assert math.isfinite(trainer.last_terms["loss"])


# ------------------------------------------------------------------------------------------------- synthetic task


def test_synthetic_task_votes_labels_and_pairs():
    from hf_methods.training.p2c.training import sample_pairs, simulate_votes, synthetic_annotated_task

    task = synthetic_annotated_task(0, num_train=60, num_test=40)
    assert (task.votes.sum(1) == 5).all()
    assert torch.equal(task.labels, (task.votes[:, 1] >= 3).long())
    torch.testing.assert_close(task.soft_labels, task.votes.float() / 5)
    assert torch.equal(task.test_consensus, (task.test_scores > 0).long())
    assert torch.equal(synthetic_annotated_task(0, num_train=60, num_test=40).votes, task.votes)  # seeded
    pairs = sample_pairs(task.labels, 4, torch.Generator().manual_seed(0))
    assert torch.equal(task.labels[pairs[:, 0]], task.labels[pairs[:, 1]]) and (pairs[:, 0] != pairs[:, 1]).all()
    assert len(pairs) == 4 * 60
    # annotators vote 1 with probability σ(s): the vote rate matches on a large sample
    scores = torch.full((20000,), 1.0)
    rate = simulate_votes(scores, 3, torch.Generator().manual_seed(0))[:, 1].float().mean() / 3
    assert abs(rate.item() - torch.sigmoid(torch.tensor(1.0)).item()) < 0.01


# ------------------------------------------------------------------------------------------------------------ errors


def test_error_loss_weights():
    with pytest.raises(ValueError, match="lambda_div must be >= 0"):
        P2CLoss(lambda_div=-0.1)
    with pytest.raises(TypeError, match="lambda_cons must be a number"):
        P2CLoss(lambda_cons="1")
    with pytest.raises(ValueError, match="consistency must be one of"):
        P2CLoss(consistency="pairwise")
    with pytest.raises(ValueError, match="reduction must be one of"):
        P2CLoss(reduction="max")


def test_error_preference_values():
    b = _pairs()
    with pytest.raises(ValueError, match="preference must hold 1"):
        preference_loss(b["rewards"], b["pair_rewards"], torch.full((9,), -1))


def test_error_votes():
    labels = torch.tensor([0])
    with pytest.raises(ValueError, match="votes must be non-negative"):
        preference_from_votes(torch.tensor([[-1, 2]]), torch.tensor([[1, 2]]), labels)
    with pytest.raises(ValueError, match="needs at least one vote"):
        preference_from_votes(torch.tensor([[0, 0]]), torch.tensor([[1, 2]]), labels)
    with pytest.raises(ValueError, match="same shape"):
        preference_from_votes(torch.tensor([[1, 2]]), torch.tensor([[1, 2, 3]]), labels)
    with pytest.raises(TypeError, match="votes must be a tensor"):
        preference_from_votes([[1, 2]], torch.tensor([[1, 2]]), labels)
    with pytest.raises(ValueError, match="labels must lie in"):
        preference_from_votes(torch.tensor([[1, 2]]), torch.tensor([[1, 2]]), torch.tensor([2]))
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        preference_from_votes(torch.tensor([[1, 2]]), torch.tensor([[1, 2]]), labels, tolerance=-1.0)


def test_error_config():
    with pytest.raises(ValueError, match="num_preference_heads"):
        P2CConfig(num_preference_heads=0)
    with pytest.raises(ValueError, match="num_labels must be >= 2"):
        P2CConfig(num_labels=1)
    with pytest.raises(ValueError, match="classifier_dropout"):
        P2CConfig(classifier_dropout=1.0)
    with pytest.raises(TypeError, match="encoder_config must be"):
        P2CConfig(encoder_config="bert")
    with pytest.raises(ValueError, match="model_type"):
        P2CConfig(encoder_config={"hidden_size": 8})


def test_error_model_inputs():
    model = _tiny_text_model()
    ids = torch.randint(3, 259, (2, 5))
    with pytest.raises(ValueError, match="needs input_ids"):
        model(labels=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels must have shape"):
        model(input_ids=ids, labels=torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match=r"reward labels must lie in \[0, 3\)"):
        model(input_ids=ids, reward_labels=torch.tensor([0, 3]))
    with pytest.raises(TypeError, match="reward labels must be an integer tensor"):
        model(input_ids=ids, reward_labels=torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="encoder must be a PreTrainedModel"):
        P2CForSequenceClassification.from_backbone(torch.nn.Linear(2, 2))


def test_error_trainer_batches(tmp_path):
    dataset, data = _feature_pairs()
    model = _feature_model()
    trainer = P2CTrainer(model=model, args=_args(tmp_path), train_dataset=dataset)
    batch = data.__getitems__([0, 1])
    with pytest.raises(ValueError, match="'preference' column"):
        trainer.compute_loss(model, {k: v for k, v in batch.items() if k != "preference"})
    with pytest.raises(ValueError, match="'pair_'-prefixed columns"):
        trainer.compute_loss(model, {k: v for k, v in batch.items() if not k.startswith("pair_")})
    with pytest.raises(ValueError, match="'labels' column"):
        trainer.compute_loss(model, {k: v for k, v in batch.items() if k != "labels"})
    with pytest.raises(TypeError, match="loss must be a P2CLoss"):
        P2CTrainer(model=model, args=_args(tmp_path), train_dataset=dataset, loss=torch.nn.MSELoss())
    with pytest.raises(ValueError, match="different lengths need a tokenizer"):
        P2CPairCollator()([{"input_ids": [1, 2], "labels": 0}, {"input_ids": [1], "labels": 0}])


def test_error_task_and_arguments():
    from hf_methods.training.p2c.training import P2CArguments, sample_pairs, simulate_votes

    with pytest.raises(ValueError, match="num_annotators must be an odd"):
        simulate_votes(torch.zeros(3), 4, torch.Generator())
    with pytest.raises(ValueError, match="pairs_per_example"):
        sample_pairs(torch.tensor([0, 0, 1]), 0, torch.Generator())
    with pytest.raises(ValueError, match="--objective"):
        P2CArguments(objective="hinge", output_dir="x").validate()
    with pytest.raises(ValueError, match="--num_annotators"):
        P2CArguments(num_annotators=4, output_dir="x").validate()
    with pytest.raises(ValueError, match="--lambda_div"):
        P2CArguments(lambda_div=-1.0, output_dir="x").validate()
    with pytest.raises(ValueError, match="--consistency"):
        P2CArguments(consistency="both", output_dir="x").validate()


# ------------------------------------------------------------------------------------------------- recipe, usage


def test_recipe_runs_a_few_steps(tmp_path):
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_p2c", repo_root() / "recipes" / "p2c.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "run"
    metrics = recipe.main(
        ["--output_dir", out, "--max_steps", "6", "--num_train", "40", "--num_test", "50", "--checkpoint_every", "3"]
    )
    assert 0.0 <= metrics["eval/test_accuracy"] <= 1.0 and "eval/pair_accuracy" in metrics
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert len(list((out / "checkpoints").iterdir())) == 2
    loaded = P2CForSequenceClassification.from_pretrained(out)
    assert loaded.config.encoder_config.model_type == "hfm-mlp"


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("p2c").usage, namespace)  # builds a tiny BERT P2C model and trains 4 steps on text pairs
    assert namespace["rewards"].shape == (1, 3)
    assert math.isfinite(namespace["trainer"].last_terms["loss"])
