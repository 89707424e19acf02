"""PAWN (P08): metrics, alignment, gated aggregation, padding/masking, saving, caching, pipeline, bad inputs."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_methods.models.pawn import PAWN_METRICS, PawnConfig, PawnForSequenceClassification, pawn_features
from hf_methods.models.pawn.modeling_pawn import next_token_metrics
from tests.cases import MODEL_CASES  # imported first: it discovers tests/models/cases_pawn.py

PAWN_CASE = next(c for c in MODEL_CASES if c.name == "pawn")


def tiny_pawn_kwargs(**overrides):
    return {**PAWN_CASE.config_kwargs, **overrides}


def make_detector(seed: int = 0, **overrides) -> PawnForSequenceClassification:
    torch.manual_seed(seed)
    return PawnForSequenceClassification(PawnConfig(**tiny_pawn_kwargs(**overrides))).eval()


def ids(*rows):
    return torch.tensor(rows)


# ----------------------------------------------------------------------------------------------------------- math


def test_metrics_match_plain_recomputation():
    """The five metrics against the formulas written out per token, over the vocabulary, in plain Python."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 7, generator=g, dtype=torch.float64)
    logits[0, 0, 2] = logits[0, 0, 5]  # a tie with the actual token
    nxt = torch.tensor([[5, 1, 6], [0, 3, 3]])
    got = next_token_metrics(logits, nxt, PAWN_METRICS)
    assert got.dtype == torch.float32 and got.shape == (2, 3, 5)
    for b in range(2):
        for i in range(3):
            z = logits[b, i].tolist()
            norm = math.log(sum(math.exp(v) for v in z))
            p = [math.exp(v - norm) for v in z]
            t = nxt[b, i].item()
            want = {
                "entropy": -sum(q * math.log(q) for q in p),
                "max_log_prob": max(z) - norm,
                "log_prob": z[t] - norm,
                "rank": sum(1 for q in p if q >= p[t]) / len(p),
                "top_p": sum(q for q in p if q >= p[t]),
            }
            for k, name in enumerate(PAWN_METRICS):
                assert got[b, i, k].item() == pytest.approx(want[name], rel=1e-5, abs=1e-6), (b, i, name)
    # ties count: the tied token 2 and the token itself both enter the rank
    strictly_above = int((logits[0, 0] > logits[0, 0, 5]).sum())
    assert got[0, 0, PAWN_METRICS.index("rank")].item() == pytest.approx((strictly_above + 2) / 7)


def test_features_are_aligned_with_a_per_prefix_loop():
    """Row i of the metrics predicts token i+1: recompute each row from the LM run on the prefix t_0..t_i alone."""
    det = make_detector()
    lm = det.get_backbone()
    x = ids([5, 40, 77, 12, 200, 9, 31])
    metrics, hidden = pawn_features(lm, x)
    assert metrics.shape == (1, 6, 5) and hidden.shape == (1, 7, 64)
    with torch.no_grad():
        for i in range(6):
            out = lm(x[:, : i + 1], output_hidden_states=True)
            want = next_token_metrics(out.logits[:, -1], x[:, i + 1])
            torch.testing.assert_close(metrics[:, i], want, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(hidden[:, i], out.hidden_states[-1][:, -1], rtol=1e-4, atol=1e-5)


def test_pawn_aggregation_matches_the_equation_written_plainly():
    det = make_detector()
    cfg = det.config
    x = ids([5, 40, 77, 12, 200, 9])
    metrics, hidden = pawn_features(det.get_backbone(), x)
    with torch.no_grad():
        got = det(metrics=metrics, hidden_states=hidden).machine_logit
        n = hidden.shape[1] - 1
        f = [det.metric_mlp(metrics[0, i]) for i in range(n)]
        a = [
            det.gate_mlp(torch.cat([hidden[0, i], hidden[0, i + 1], torch.tensor([i / cfg.pos_scale])]))
            for i in range(n)
        ]
        per = cfg.num_features // cfg.num_gates
        z = torch.zeros(cfg.num_features)
        for g in range(cfg.num_gates):
            denom = sum(math.exp(a[k][g].item()) for k in range(n))
            for i in range(n):
                w = math.exp(a[i][g].item()) / denom
                z[g * per : (g + 1) * per] += w * f[i][g * per : (g + 1) * per]
        want = det.head(z)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_mpn_is_a_mean_and_hsff_ignores_metrics():
    mpn = make_detector(aggregation="mpn")
    assert not hasattr(mpn, "gate_mlp")
    x = ids([5, 40, 77, 12, 200, 9])
    metrics, hidden = pawn_features(mpn.get_backbone(), x)
    with torch.no_grad():
        want = mpn.head(torch.stack([mpn.metric_mlp(metrics[0, i]) for i in range(5)]).mean(0))
        torch.testing.assert_close(
            mpn(metrics=metrics, hidden_states=hidden).machine_logit, want, rtol=1e-5, atol=1e-6
        )
        hsff = make_detector(aggregation="hsff")
        assert not hasattr(hsff, "metric_mlp")
        one = hsff(metrics=metrics, hidden_states=hidden).logits
        other = hsff(metrics=torch.randn_like(metrics), hidden_states=hidden).logits
    assert torch.equal(one, other)


# ----------------------------------------------------------------------------------------------------------- masking


@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_does_not_change_an_unpadded_documents_prediction(side):
    det = make_detector()
    doc, longer = [5, 40, 77, 12, 200], [9, 8, 7, 6, 5, 4, 3, 100, 101]
    with torch.no_grad():
        alone = det(input_ids=ids(doc)).logits[0]
        pad = [0] * (len(longer) - len(doc))
        row = doc + pad if side == "right" else pad + doc
        mask = [1] * len(doc) + [0] * len(pad) if side == "right" else [0] * len(pad) + [1] * len(doc)
        batch = det(input_ids=ids(row, longer), attention_mask=ids(mask, [1] * len(longer))).logits
    torch.testing.assert_close(batch[0], alone, rtol=1e-5, atol=1e-5)


def test_token_dropout_only_in_training_and_never_empties_a_row():
    det = make_detector(dropout_tokens=0.99)
    x = ids([5, 40, 77], [9, 8, 7])
    with torch.no_grad():
        assert torch.equal(det(input_ids=x).logits, det(input_ids=x).logits)  # eval: deterministic
        det.train()
        out = det(input_ids=x, labels=torch.tensor([0.0, 1.0]))
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.loss)


def test_loss_is_smoothed_weighted_bce():
    det = make_detector(label_smoothing=0.2, pos_weight=2.0)
    x = ids([5, 40, 77, 12], [9, 8, 7, 6])
    labels = torch.tensor([0.0, 1.0])
    with torch.no_grad():
        out = det(input_ids=x, labels=labels)
    s = torch.sigmoid(out.machine_logit).double()
    y = labels.double() * 0.8 + 0.1
    want = -(2.0 * y * torch.log(s) + (1 - y) * torch.log(1 - s)).mean()
    assert out.loss.item() == pytest.approx(want.item(), rel=1e-5)


# ----------------------------------------------------------------------------------------------------------- saving


def test_only_head_weights_are_saved_and_backbone_can_be_passed(tmp_path):
    from safetensors.torch import load_file

    det = make_detector()
    lm = det.get_backbone()
    det.save_pretrained(tmp_path)
    keys = list(load_file(tmp_path / "model.safetensors"))
    assert keys and all(
        k.split(".")[0] in {"metric_mlp", "gate_mlp", "head", "metric_mean", "metric_std"} for k in keys
    )
    assert not any("embed_tokens" in k or "layers.0.self_attn" in k for k in keys)
    loaded = PawnForSequenceClassification.from_pretrained(tmp_path, backbone=lm)
    assert loaded.backbone is lm


TEXTS = ["Hello there, world.", "x" * 100, "The cat sat on the mat.", "0123456789 abc"]


def test_logits_are_two_class_with_the_threshold_applied():
    """logits = [0, s − t] for (human, machine); `machine_logit` s (what training and AUROC use) ignores t."""
    x = ids([5, 40, 77, 12], [9, 8, 7, 6])
    with torch.no_grad():
        plain = make_detector()(input_ids=x)
        shifted = make_detector(decision_threshold=0.3)(input_ids=x, labels=torch.tensor([0.0, 1.0]))
    assert plain.logits.shape == (2, 2)
    torch.testing.assert_close(shifted.machine_logit, plain.machine_logit, rtol=0, atol=0)
    torch.testing.assert_close(shifted.logits[:, 0], torch.zeros(2), rtol=0, atol=0)
    torch.testing.assert_close(shifted.logits[:, 1], plain.machine_logit - 0.3, rtol=0, atol=1e-7)
    assert make_detector().config.id2label == {0: "human", 1: "machine"}


def _calibrated_detector(tokenizer):
    """A tiny detector whose threshold sits between its scores of the TEXTS, so both answers occur."""
    det = make_detector()
    with torch.no_grad():
        encoded = [tokenizer(t, truncation=True, max_length=32, return_tensors="pt") for t in TEXTS]
        scores = [det(**e).machine_logit.item() for e in encoded]
    ordered = sorted(scores)
    det.config.decision_threshold = (ordered[1] + ordered[2]) / 2
    return det, scores


def test_text_classification_pipeline_applies_the_calibrated_threshold(tmp_path):
    from transformers import AutoModelForSequenceClassification, pipeline

    from hf_methods.common.tiny import byte_tokenizer

    tok = byte_tokenizer()
    det, scores = _calibrated_detector(tok)
    t = det.config.decision_threshold
    want = [("machine" if s > t else "human", 1 / (1 + math.exp(-abs(s - t)))) for s in scores]
    assert {label for label, _ in want} == {"human", "machine"}
    out = pipeline("text-classification", model=det, tokenizer=tok)(TEXTS, truncation=True, max_length=32)
    assert [o["label"] for o in out] == [label for label, _ in want]
    assert [o["score"] for o in out] == pytest.approx([score for _, score in want], rel=1e-5)

    det.save_pretrained(tmp_path)  # the threshold travels in config.json and applies after reloading
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert type(reloaded) is PawnForSequenceClassification and reloaded.config.decision_threshold == t
    again = pipeline("text-classification", model=reloaded, tokenizer=tok)(TEXTS, truncation=True, max_length=32)
    assert [o["label"] for o in again] == [label for label, _ in want]


def test_a_detector_saved_with_one_machine_logit_loads_with_its_threshold_applied(tmp_path):
    """Folders written before the two-class logits have id2label {0: "machine"} and a `decision_threshold` key."""
    import json

    from transformers import pipeline

    from hf_methods.common.tiny import byte_tokenizer

    tok = byte_tokenizer()
    det, scores = _calibrated_detector(tok)
    det.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(id2label={"0": "machine"}, label2id={"machine": 0})
    (tmp_path / "config.json").write_text(json.dumps(config))
    old = PawnForSequenceClassification.from_pretrained(tmp_path)
    assert old.config.id2label == {0: "human", 1: "machine"}
    out = pipeline("text-classification", model=old, tokenizer=tok)(TEXTS, truncation=True, max_length=32)
    assert [o["label"] for o in out] == ["machine" if s > det.config.decision_threshold else "human" for s in scores]


@pytest.mark.slow  # a second Python process loading the saved remote code: ~8 s
def test_pipeline_threshold_with_remote_code_in_a_process_without_hf_methods(tmp_path):
    import json
    import subprocess
    import sys

    from hf_methods.common.tiny import byte_tokenizer

    tok = byte_tokenizer()
    det, scores = _calibrated_detector(tok)
    det.save_pretrained(tmp_path / "det")
    tok.save_pretrained(tmp_path / "det")
    want = ["machine" if s > det.config.decision_threshold else "human" for s in scores]
    script = (
        "import json, sys\n"
        "sys.modules['hf_methods'] = None  # remote code only\n"
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline\n"
        f"path = {str(tmp_path / 'det')!r}\n"
        "model = AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True)\n"
        "tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=True)\n"
        "pipe = pipeline('text-classification', model=model, tokenizer=tokenizer, trust_remote_code=True)\n"
        f"print('LABELS', json.dumps([o['label'] for o in pipe({TEXTS!r}, truncation=True, max_length=32)]))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("LABELS ")]
    assert len(lines) == 1, (run.stdout + run.stderr)[-3000:]
    (line,) = lines
    assert json.loads(line[len("LABELS ") :]) == want


# ----------------------------------------------------------------------------------------------------------- caching


def test_feature_cache_with_datasets_map(tmp_path):
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from hf_methods.common.tiny import byte_tokenizer
    from hf_methods.models.pawn import PawnFeatureCollator, cache_pawn_features, check_feature_backbone

    det = make_detector(mlp_num_layers=0)
    tok = byte_tokenizer()
    data = Dataset.from_dict({"text": ["abc def", "the quick brown fox", "hello", "z" * 60], "label": [0, 1, 0, 1]})
    cached = cache_pawn_features(data, det, tok, batch_size=3, cache_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.glob("pawn-features-*.arrow"))
    assert len(files) == 1
    assert cached[2]["hidden_states"].shape == (5, 64) and cached[3]["metrics"].shape == (31, 5)  # truncated to 32
    batch = PawnFeatureCollator()([cached[i] for i in range(4)])
    with torch.no_grad():
        from_cache = det(**{k: v for k, v in batch.items() if k != "labels"}).logits
        enc = tok(list(data["text"]), truncation=True, max_length=32, padding=True, return_tensors="pt")
        raw = det(**enc).logits
    torch.testing.assert_close(from_cache, raw, rtol=1e-3, atol=1e-3)  # hidden states are cached in fp16
    check_feature_backbone(cached, det.config)
    # a new max_length or another backbone gives a new cache file; a mismatched backbone is refused
    cache_pawn_features(data, make_detector(mlp_num_layers=0, max_length=16), tok, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("pawn-features-*.arrow"))) == 2
    other = make_detector(backbone_seed=1)
    with pytest.raises(ValueError, match="backbone"):
        check_feature_backbone(cached, other.config)
    det.train()
    args = TrainingArguments(
        str(tmp_path / "t"),
        max_steps=2,
        per_device_train_batch_size=2,
        report_to=[],
        use_cpu=True,
        remove_unused_columns=False,
        save_strategy="no",
    )
    before = det.head.proj_out.weight.detach().clone()
    Trainer(model=det, args=args, train_dataset=cached, data_collator=PawnFeatureCollator()).train()
    assert not torch.equal(before, det.head.proj_out.weight)


def test_baseline_metrics_against_brute_force():
    from hf_methods.models.pawn.baselines import auroc, detection_metrics, recall_at_fpr

    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=40), 1)  # ties
    labels = rng.integers(0, 2, 40)
    pos, neg = scores[labels == 1], scores[labels == 0]
    want = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert auroc(scores, labels) == pytest.approx(want)
    thr = min(t for t in neg if np.mean(neg > t) <= 0.05)
    assert recall_at_fpr(scores, labels) == pytest.approx(np.mean(pos > thr))
    assert set(detection_metrics(scores, labels, 0.0)) == {"auroc", "macro_f1", "recall@5%fpr"}


# --------------------------------------------------------------------------------------------------------- bad inputs


def test_bad_inputs_get_clear_errors():
    det = make_detector()
    with pytest.raises(ValueError, match="input_ids.*at least 2 tokens"):
        det(input_ids=ids([5]))  # an empty text (only one token)
    with pytest.raises(ValueError, match="input_ids.*max_length"):
        det(input_ids=torch.randint(3, 200, (1, 33)))
    with pytest.raises(ValueError, match="input_ids"):
        det(input_ids=torch.randint(3, 200, (6,)))
    with pytest.raises(ValueError, match="hidden_states.*another backbone"):
        det(metrics=torch.zeros(1, 4, 5), hidden_states=torch.zeros(1, 5, 32))
    with pytest.raises(ValueError, match="metrics"):
        det(metrics=torch.zeros(1, 5, 5), hidden_states=torch.zeros(1, 5, 64))
    with pytest.raises(ValueError, match="not both"):
        det(input_ids=ids([5, 6]), metrics=torch.zeros(1, 1, 5), hidden_states=torch.zeros(1, 2, 64))
    with pytest.raises(ValueError, match="input_ids"):
        det()
    with pytest.raises(ValueError, match="backbone"):
        det.set_backbone(_other_width_lm())
    with pytest.raises(ValueError, match="backbone_name_or_path"):
        PawnConfig(backbone_name_or_path=None)
    with pytest.raises(ValueError, match="num_labels"):
        PawnConfig(num_labels=3)
    with pytest.raises(ValueError, match="id2label"):
        PawnConfig(id2label={0: "real", 1: "fake"})
    with pytest.raises(ValueError, match="decision_threshold"):
        PawnConfig(decision_threshold=float("nan"))


def test_empty_text_in_a_dataset_is_rejected(tmp_path):
    from datasets import Dataset

    from hf_methods.common.tiny import byte_tokenizer
    from hf_methods.models.pawn import cache_pawn_features

    with pytest.raises(ValueError, match="empty texts"):
        cache_pawn_features(
            Dataset.from_dict({"text": ["ok text", "  "], "label": [0, 1]}), make_detector(), byte_tokenizer()
        )


def _other_width_lm():
    from hf_methods.common.tiny import tiny_llama

    return tiny_llama(seed=0, hidden_size=32)


# --------------------------------------------------------------------------------------------------------- real asset


@pytest.mark.assets
def test_smollm2_backbone_alias_and_features(smollm2):
    lm, tok = smollm2
    det = PawnForSequenceClassification(PawnConfig(), backbone=lm).eval()
    enc = tok(["The capital of France is Paris."], return_tensors="pt")
    with torch.no_grad():
        metrics, hidden = det.features(enc["input_ids"], enc["attention_mask"])
        logits = lm(**enc).logits
    want = torch.log_softmax(logits[0, :-1], -1).gather(-1, enc["input_ids"][0, 1:, None])[:, 0]
    torch.testing.assert_close(metrics[0, :, PAWN_METRICS.index("log_prob")], want, rtol=1e-4, atol=1e-4)
    assert hidden.shape[-1] == det.config.backbone_hidden_size == 576
    from hf_methods.models.pawn import resolve_backbone_path

    # the default alias resolves offline to a transformers folder of the same model
    assert (Path(resolve_backbone_path(det.config.backbone_name_or_path)) / "config.json").exists()
    assert torch.isfinite(det(**enc).logits).all()


def test_recipe_arguments_build_the_config_in_one_call():
    from hf_methods.common.tiny import tiny_llama_config
    from hf_methods.models.pawn.training import PawnArguments

    args = PawnArguments(output_dir="unused", aggregation="mpn", num_features=32, num_gates=8, max_length=64)
    config = args.pawn_config(backbone_config=tiny_llama_config().to_dict())
    assert (config.aggregation, config.num_features, config.num_gates, config.max_length) == ("mpn", 32, 8, 64)
    assert config.pos_scale == 512 and config.label_smoothing == args.label_smoothing


def test_two_domain_language_and_word_tokenizer():
    from hf_methods.models.pawn import synthetic

    words = synthetic.made_up_words(32, seed=0)
    assert len(set(words)) == 32
    tok = synthetic.word_tokenizer(words)
    text = " ".join(words[:5])
    ids = tok(text)["input_ids"]
    assert ids == [4 + i for i in range(5)] and tok.decode(ids) == text
    chains = synthetic.two_domain_chains(32, 0.3, 0.5, seed=0)
    assert not torch.equal(chains["A"], chains["B"])
    torch.testing.assert_close(chains["B"].sum(-1), torch.ones(32))
    # machine text (T = 0.6) repeats the likeliest successors more often than human text (T = 1)
    human = synthetic.chain_texts(chains["A"], words, 200, 20, temperature=1.0, seed=1)
    machine = synthetic.chain_texts(chains["A"], words, 200, 20, temperature=0.6, seed=1)

    def mean_log_prob(texts):
        index = {w: i for i, w in enumerate(words)}
        pairs = [(index[a], index[b]) for t in texts for a, b in zip(t.split(), t.split()[1:])]
        return np.mean([math.log(chains["A"][a, b].item()) for a, b in pairs])

    assert mean_log_prob(machine) > mean_log_prob(human) + 0.1


def test_paired_document_bootstrap_interval():
    from hf_methods.models.pawn.evaluation import paired_auroc_interval

    labels = np.array([0, 1] * 50)
    perfect = labels + np.linspace(0, 0.1, 100)
    noise = np.random.default_rng(0).normal(size=100)
    low, high = paired_auroc_interval(perfect, noise, labels, samples=100, seed=0)
    assert 0 < low <= high <= 1
    assert paired_auroc_interval(perfect, perfect, labels, samples=20, seed=0) == [0.0, 0.0]


# ----------------------------------------------------------------------------------------------------------- recipe


def _write_jsonl(path, rows):
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_recipe_arguments_use_the_shared_model_and_dataset_flags(tmp_path):
    from hf_methods.harness.recipe import PretrainedRecipeArguments
    from hf_methods.models.pawn.training import PawnArguments, build_backbone

    args = PawnArguments(output_dir="unused", model_name_or_path="tiny", seed=3)
    assert isinstance(args, PretrainedRecipeArguments)
    assert not {"backbone", "threads", "data_file"} & set(PawnArguments.__dataclass_fields__)
    backbone, lm, tokenizer, base_id = build_backbone(args)
    assert lm is None and base_id is None and backbone["backbone_seed"] == 3
    assert args.pawn_config(**backbone).backbone_hidden_size == 64


def test_user_dataset_needs_text_and_label_and_splits_by_rows(tmp_path):
    from hf_methods.models.pawn.training import PawnArguments, load_detection_data, split

    def load(rows):
        data = _write_jsonl(tmp_path / "d.jsonl", rows)
        return load_detection_data(PawnArguments(output_dir="unused", dataset_name_or_path=data))

    with pytest.raises(ValueError, match=r"'text'.*'label'.*lacks \['label'\].*\['text', 'is_ai'\]"):
        load([{"text": "a b c", "is_ai": 1}])
    with pytest.raises(ValueError, match="row 1 has label 'bot'"):
        load([{"text": "a", "label": "human"}, {"text": "b", "label": "bot"}])
    with pytest.raises(ValueError, match="both human"):
        load([{"text": "a", "label": 1}, {"text": "b", "label": 1}])
    rows = [{"text": f"text number {i}", "label": ["human", "machine"][i % 2]} for i in range(10)]
    data, name = load(rows)
    assert data["label"] == [i % 2 for i in range(10)] and name == "d.jsonl"
    idx = split(data, PawnArguments(output_dir="unused", eval_fraction=0.3, seed=0))
    assert len(idx["in_domain"]) == 3 and len(idx["train"]) == 7 and idx["unseen_domain"] == []
    assert sorted(idx["train"] + idx["in_domain"]) == list(range(10))


@pytest.mark.slow  # a recipe process (torch, transformers, accelerate, datasets imports): ~15 s
def test_recipe_on_a_user_jsonl_with_the_tiny_backbone(tmp_path, repo_root):
    import json
    import subprocess
    import sys

    rows = [{"text": ("the cat sat " if i % 2 else "zq xv kw ") * (2 + i % 3), "label": i % 2} for i in range(16)]
    data = _write_jsonl(tmp_path / "mine.jsonl", rows)
    out = tmp_path / "out"
    cmd = [sys.executable, str(repo_root / "recipes" / "pawn.py"), "--model_name_or_path", "tiny"]
    cmd += ["--dataset_name_or_path", data, "--max_steps", "2", "--batch_size", "4", "--num_features", "16"]
    cmd += ["--num_gates", "4", "--mlp_hidden_size", "16", "--max_length", "32", "--cpu_threads", "1"]
    cmd += ["--feature_cache_dir", str(tmp_path / "cache"), "--output_dir", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "human", "1": "machine"} and math.isfinite(config["decision_threshold"])
    card = (out / "README.md").read_text()
    assert "--model_name_or_path tiny" in card and "mine.jsonl" in card
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert "eval/in_domain/auroc" in metrics and not any("unseen" in k for k in metrics)
