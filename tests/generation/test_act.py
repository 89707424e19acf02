"""Tests of ACT (P06): the calibration against the official formula written plainly, the `act_eager` attention
function on two architectures, the causal-mask pitfall, save/reload, the head search and the bad inputs."""

import pytest
import torch

from hf_methods.common.tiny import tiny_llama, tiny_llama_config
from hf_methods.generation.act import (
    ActConfig,
    act_calibrate,
    apply_act,
    calibrate_attention,
    find_act_heads,
    remove_act,
    sink_statistics,
)
from hf_methods.generation.act.attention import act_eager_attention_forward, find_sinks


# ----------------------------------------------------------------------------------------------------------- helpers
@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny forwards are dominated by thread synchronisation on a loaded 2-core machine; restore afterwards
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def official_reference(attention: torch.Tensor, beta: float, threshold: float) -> torch.Tensor:
    """The calibration of `atten_process_eval` (GATECH-EIC/ACT) for one [N, N] head, written as plain loops."""
    n = attention.shape[0]
    a = attention.double()
    scores = [sum(a[i, j] for i in range(j, n)) / (n - j) for j in range(n)]
    sinks = [j for j in range(n) if scores[j] > threshold][1:]  # drop the first sink
    out = a.clone()
    for i in range(n):
        moved = sum(a[i, s] for s in sinks) * (1 - beta)
        rest = sum(a[i, k] for k in range(n) if k not in sinks)
        for j in range(n):
            if j in sinks:
                out[i, j] = beta * a[i, j] if i > 0 else a[i, j]
            else:
                out[i, j] = a[i, j] + moved * a[i, j] / rest
    out[0, 0] = 1.0
    return out.to(attention.dtype)


def random_causal_maps(heads: int, n: int, sinks=(0, 7, 15), strength: float = 3.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(heads, n, n, generator=g)
    logits[:, :, list(sinks)] += strength
    mask = torch.ones(n, n, dtype=torch.bool).tril()
    return torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)


def tokens(batch=2, length=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 259, (batch, length), generator=g)


@pytest.fixture
def llama():
    model = tiny_llama(seed=0, num_hidden_layers=3)
    model.set_attn_implementation("eager")
    return model


def tiny_qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM, set_seed

    set_seed(0)
    config = Qwen2Config(
        vocab_size=259, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    model = Qwen2ForCausalLM(config).eval()
    model.set_attn_implementation("eager")
    return model


ALL_HEADS = {0: [0, 1, 2, 3], 1: [0, 1, 2, 3], 2: [0, 1, 2, 3]}


# ----------------------------------------------------------------------------------------------------------- the math
@pytest.mark.parametrize("beta,threshold", [(0.4, 0.1), (0.0, 0.05), (0.7, 0.2)])
def test_calibration_matches_official_formula(beta, threshold):
    probs = random_causal_maps(3, 24)
    got = calibrate_attention(probs, beta=beta, threshold=threshold)
    for h in range(3):
        torch.testing.assert_close(got[h], official_reference(probs[h], beta, threshold), rtol=0, atol=1e-6)
    assert not torch.allclose(got, probs)  # there are hidden sinks to calibrate (7 and 15)


def test_rows_sum_to_one_and_causal_zeros_kept():
    probs = random_causal_maps(4, 20)
    out = calibrate_attention(probs, beta=0.3, threshold=0.1)
    torch.testing.assert_close(out.sum(-1), torch.ones(4, 20))
    upper = ~torch.ones(20, 20, dtype=torch.bool).tril()
    assert (out[:, upper] == 0).all()


def test_beta_one_is_a_no_op():
    probs = random_causal_maps(2, 16)
    torch.testing.assert_close(calibrate_attention(probs, beta=1.0, threshold=0.1), probs, rtol=0, atol=1e-7)


def test_first_sink_is_kept_and_hidden_sinks_scaled_by_beta():
    probs = random_causal_maps(1, 24, sinks=(0, 7, 15), strength=4.0)[0]
    _, sinks, hidden, _ = find_sinks(probs, 0.1)
    assert sinks[0] and not hidden[0]  # the BOS sink is detected but not calibrated
    assert hidden[7] and hidden[15]
    out = calibrate_attention(probs, beta=0.4, threshold=0.1)
    assert (out[:, 0] >= probs[:, 0] - 1e-7).all()  # the initial sink only gains
    torch.testing.assert_close(out[8:, 7], 0.4 * probs[8:, 7])


@pytest.mark.parametrize("alpha", [2.0, 4.0])
def test_relative_threshold_is_alpha_over_length(alpha):
    # threshold_mode="relative" is the official calibration with the threshold alpha / N
    probs = random_causal_maps(3, 24)
    got = calibrate_attention(probs, beta=0.4, threshold=alpha, threshold_mode="relative")
    for h in range(3):
        torch.testing.assert_close(got[h], official_reference(probs[h], 0.4, alpha / 24), rtol=0, atol=1e-6)
    assert not torch.allclose(got, probs)  # there are hidden sinks to calibrate


def test_relative_threshold_counts_only_real_tokens():
    # with right padding, N is the prompt's length (7), not the padded width (10)
    visible = torch.ones(10, 10, dtype=torch.bool).tril()
    visible[:, 7:] = False
    logits = torch.randn(2, 10, 10, generator=torch.Generator().manual_seed(1))
    logits[..., 4] += 2.0
    probs = torch.softmax(logits.masked_fill(~visible, float("-inf")), -1)
    out = calibrate_attention(probs, 0.4, 2.0, visible=visible, threshold_mode="relative")
    for h in range(2):
        expected = official_reference(probs[h, :7, :7], 0.4, 2.0 / 7)
        torch.testing.assert_close(out[h, :7, :7], expected, rtol=0, atol=1e-6)


def test_relative_config_round_trip_and_validation(tmp_path):
    config = ActConfig(heads={1: [0]}, threshold=10.0, threshold_mode="relative")
    config.save_pretrained(tmp_path)
    assert ActConfig.from_pretrained(tmp_path) == config
    with pytest.raises(ValueError, match="threshold_mode"):
        ActConfig(threshold_mode="ratio")
    with pytest.raises(ValueError, match="alpha"):
        ActConfig(threshold=0.0, threshold_mode="relative")


def test_decode_rows_still_sum_to_one():
    # the official code sets A[0, 0] = 1 also for a single decoding query, breaking the row sum; we do not
    probs = random_causal_maps(2, 24)[:, -1:, :]
    out = calibrate_attention(probs, beta=0.4, threshold=0.1)
    torch.testing.assert_close(out.sum(-1), torch.ones(2, 1))


def test_padded_queries_and_keys_are_left_alone():
    visible = torch.ones(10, 10, dtype=torch.bool).tril()
    visible[:, 7:] = False  # keys 7.. are padding (right padding): rows 7.. do not see themselves
    logits = torch.randn(1, 10, 10, generator=torch.Generator().manual_seed(0))
    logits[..., 4] += 3.0  # a hidden sink
    probs = torch.softmax(logits.masked_fill(~visible, float("-inf")), -1)
    out = calibrate_attention(probs, beta=0.4, threshold=0.1, visible=visible)
    torch.testing.assert_close(out[:, 7:], probs[:, 7:])
    torch.testing.assert_close(out[:, :7, :7], calibrate_attention(probs[:, :7, :7], 0.4, 0.1))
    assert not torch.allclose(out[:, :7], probs[:, :7])


# ----------------------------------------------------------------------------------------------------------- attention
def test_no_heads_equals_eager_bit_for_bit(llama):
    x = tokens()
    expected = llama(x).logits
    with act_calibrate(llama, heads=[]):
        assert llama.config._attn_implementation == "act_eager"
        torch.testing.assert_close(llama(x).logits, expected, rtol=0, atol=0)
    with act_calibrate(llama, heads=ALL_HEADS, beta=1.0):
        torch.testing.assert_close(llama(x).logits, expected, rtol=0, atol=0)


def test_heads_change_logits_and_context_restores(llama):
    x = tokens()
    expected = llama(x).logits
    with act_calibrate(llama, ActConfig(heads=ALL_HEADS, threshold=0.1)):
        changed = llama(x).logits
    assert not torch.allclose(changed, expected, atol=1e-4)
    assert llama.config._attn_implementation == "eager"
    assert not hasattr(llama.config, "act_config")
    torch.testing.assert_close(llama(x).logits, expected, rtol=0, atol=0)


def test_act_attention_is_causal(llama):
    x = tokens(1, 16)
    y = x.clone()
    y[0, 10:] = (y[0, 10:] + 7) % 250 + 3  # change the future
    with act_calibrate(llama, heads=ALL_HEADS, threshold=0.05):
        a, b = llama(x).logits, llama(y).logits
    # prefixes are equal, but ACT's sink scores see the whole prompt, so only the first position is fully fixed;
    # a bidirectional (mask-less) attention would change every position, including the first
    torch.testing.assert_close(a[0, 0], b[0, 0], rtol=0, atol=1e-6)
    from hf_methods.generation.act import capture_attention

    with act_calibrate(llama, heads=ALL_HEADS, threshold=0.05), capture_attention(llama) as maps:
        llama(x)
    upper = ~torch.ones(16, 16, dtype=torch.bool).tril()
    for layer in range(3):
        assert (maps[layer][..., upper] == 0).all()  # no query attends to a later key
        torch.testing.assert_close(maps[layer].sum(-1), torch.ones(1, 4, 16))


def test_without_mask_registration_attention_is_not_causal(llama):
    # the pitfall ACT's registration guards against: the attention function alone gets attention_mask=None
    from transformers import AttentionInterface

    AttentionInterface.register("act_eager_no_mask_test", act_eager_attention_forward)
    x = tokens()
    expected = llama(x).logits
    llama.set_attn_implementation("act_eager_no_mask_test")
    try:
        assert (llama(x).logits - expected).abs().max() > 1e-3
    finally:
        llama.set_attn_implementation("eager")
    with act_calibrate(llama, heads=[]):  # the registered pair is exact
        torch.testing.assert_close(llama(x).logits, expected, rtol=0, atol=0)


def test_right_padding_invariance(llama):
    a, b = tokens(1, 14, seed=1), tokens(1, 9, seed=2)
    batch = torch.zeros(2, 14, dtype=torch.long)
    batch[0], batch[1, :9] = a[0], b[0]
    mask = torch.zeros(2, 14, dtype=torch.long)
    mask[0], mask[1, :9] = 1, 1
    with act_calibrate(llama, heads=ALL_HEADS, threshold=0.05):
        padded = llama(input_ids=batch, attention_mask=mask).logits
        single_a, single_b = llama(a).logits, llama(b).logits
        assert not torch.allclose(single_a, tiny_llama(seed=0, num_hidden_layers=3)(a).logits, atol=1e-4)
    torch.testing.assert_close(padded[0], single_a[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(padded[1, :9], single_b[0], rtol=1e-5, atol=1e-5)


def test_generate_calibrates_prefill_only(llama):
    x = tokens(1, 12)
    with act_calibrate(llama, heads=ALL_HEADS, threshold=0.05):
        first = llama(x).logits[0, -1].argmax()
        out = llama.generate(x, max_new_tokens=3, do_sample=False, pad_token_id=0)
    assert out[0, 12] == first


def test_second_architecture_qwen2():
    model = tiny_qwen2()
    x = tokens()
    expected = model(x).logits
    with act_calibrate(model, heads=[]):
        torch.testing.assert_close(model(x).logits, expected, rtol=0, atol=0)
    with act_calibrate(model, heads={0: [0, 1, 2, 3], 1: [0, 1, 2, 3]}, threshold=0.05):
        assert not torch.allclose(model(x).logits, expected, atol=1e-4)
    torch.testing.assert_close(model(x).logits, expected, rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------------------- saving
def test_calibrated_model_reloads_calibrated(llama, tmp_path):
    from transformers import AutoModelForCausalLM

    config = ActConfig(heads={1: [0, 3], 2: [1]}, beta=0.3, threshold=0.05)
    apply_act(llama, config)
    x = tokens()
    expected = llama(x).logits
    llama.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert reloaded.config._attn_implementation == "act_eager"
    assert ActConfig.from_dict(reloaded.config.act_config) == config
    assert ActConfig.from_pretrained(tmp_path) == config
    torch.testing.assert_close(reloaded(x).logits, expected, rtol=0, atol=0)
    remove_act(reloaded)
    assert reloaded.config._attn_implementation in ("sdpa", "eager")
    assert not torch.allclose(reloaded(x).logits, expected, atol=1e-4)


@pytest.mark.slow
def test_reload_in_a_fresh_process(llama, tmp_path):
    # without hf-methods the saved attn_implementation is unknown (a clear transformers error); using any name of
    # hf_methods.generation.act registers it, and the checkpoint loads calibrated
    import subprocess
    import sys

    apply_act(llama, ActConfig(heads={1: [0, 3]}, threshold=0.05))
    x = tokens()
    torch.save(llama(x).logits, tmp_path / "expected.pt")
    llama.save_pretrained(tmp_path)
    script = f"""
import torch
from transformers import AutoModelForCausalLM
try:
    AutoModelForCausalLM.from_pretrained({str(tmp_path)!r})
    raise SystemExit("loaded without the act_eager registration")
except ValueError as err:
    assert "act_eager" in str(err), err
from hf_methods.generation.act import ActConfig
model = AutoModelForCausalLM.from_pretrained({str(tmp_path)!r})
assert model.config._attn_implementation == "act_eager"
assert ActConfig.from_dict(model.config.act_config).heads == ((1, 0), (1, 3))
torch.testing.assert_close(model(torch.tensor({x.tolist()})).logits, torch.load({str(tmp_path / "expected.pt")!r}))
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_act_config_json_round_trip(tmp_path):
    config = ActConfig(heads={"3": [2, 0], 1: [1]}, beta=0.5, threshold=0.2, prefill_only=False)
    assert config.heads == ((1, 1), (3, 0), (3, 2))
    assert config.heads_by_layer() == {1: [1], 3: [0, 2]}
    config.save_pretrained(tmp_path)
    assert ActConfig.from_pretrained(tmp_path) == config


# ----------------------------------------------------------------------------------------------------------- search
def _choice_examples(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        {"input_ids": torch.randint(3, 259, (10 + i % 5,), generator=g).tolist(), "choice_ids": [40, 41, 42],
         "label": i % 3}
        for i in range(n)
    ]  # fmt: skip


def test_greedy_search_keeps_exactly_the_heads_that_help(llama):
    wanted = {(1, 2), (2, 0)}

    def eval_fn(model):  # a synthetic score: +1 per wanted head, -1 per other head
        heads = set(map(tuple, model.config.act_config["heads"]))
        return len(heads & wanted) - len(heads - wanted)

    config, history = find_act_heads(
        llama, _choice_examples(), threshold=0.05, eval_fn=eval_fn, show_progress=False, return_history=True
    )
    assert set(config.heads) == wanted
    assert history["baseline"] == 0 and history["final"] == 2
    assert llama.config._attn_implementation == "eager"  # the search leaves the model as it was


def test_search_never_lowers_calibration_accuracy(llama):
    from hf_methods.generation.act import choice_accuracy

    data = _choice_examples()
    base = choice_accuracy(llama, data)
    config, history = find_act_heads(llama, data, threshold=0.05, max_candidates=4, return_history=True)
    assert history["baseline"] == base and len(history["candidates"]) <= 4
    with act_calibrate(llama, config):
        assert choice_accuracy(llama, data) == history["final"] >= base


def test_choice_margins_formula():
    from hf_methods.generation.act import choice_margins

    log_probs = [torch.tensor([-0.2, -1.9, -3.0]), torch.tensor([-1.0, -0.5, -2.5])]
    assert choice_margins(log_probs, [0, 0]) == pytest.approx([-0.2 + 1.9, -1.0 + 0.5])


def test_scorer_restart_from_a_layer_matches_full_forward(llama):
    from hf_methods.generation.act import ChoiceScorer, choice_log_probs

    data = _choice_examples(10)
    scorer = ChoiceScorer(llama, data, batch_size=4, reuse_layers=[1, 2])
    assert sorted(scorer._stored) == [1, 2]  # the restart passed its exactness check
    for heads in ({2: [0, 3]}, {1: [1], 2: [2]}):
        config = ActConfig(heads=heads, threshold=0.05)
        with act_calibrate(llama, config):
            full = choice_log_probs(llama, data, batch_size=4)
        for got, expected in zip(scorer.log_probs(config), full):
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    for got, expected in zip(scorer.log_probs(None), choice_log_probs(llama, data, batch_size=4)):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_margin_search_is_the_official_per_head_test(llama):
    from hf_methods.generation.act import choice_log_probs, choice_margins

    data = _choice_examples(12)
    labels = [ex["label"] for ex in data]

    def mean_margin(heads):
        with act_calibrate(llama, ActConfig(heads=heads, threshold=0.05)):
            values = choice_margins(choice_log_probs(llama, data), labels)
        return sum(values) / len(values)

    config, history = find_act_heads(
        llama, data, threshold=0.05, strategy="independent", score="margin", max_candidates=5,
        show_progress=False, return_history=True,
    )  # fmt: skip
    assert history["baseline"] == pytest.approx(mean_margin([]), abs=1e-5)
    assert len(history["candidates"]) == 5
    for record in history["candidates"]:  # each head scored alone against the uncalibrated model
        assert record["score"] == pytest.approx(mean_margin([record["head"]]), abs=1e-5)
        assert record["kept"] == (record["score"] > history["baseline"])
    assert [list(h) for h in config.heads] == sorted(r["head"] for r in history["candidates"] if r["kept"])
    assert history["final"] == pytest.approx(mean_margin(config.heads), abs=1e-5)


def test_head_search_resumes_from_its_state(llama):
    from hf_methods.generation.act import HeadSearch

    data = _choice_examples(8)
    kwargs = dict(threshold=0.05, max_candidates=4, score="margin", strategy="greedy")
    full = find_act_heads(llama, data, show_progress=False, **kwargs)
    first = HeadSearch(llama, data, **kwargs)
    first.step(), first.step()
    resumed = HeadSearch(llama, data, **kwargs)
    resumed.load_state_dict(first.state_dict())
    while not resumed.done:
        resumed.step()
    assert resumed.result() == full and len(resumed.history) == 4
    other = HeadSearch(llama, data, **{**kwargs, "max_candidates": 3})
    with pytest.raises(ValueError, match="candidate heads"):
        other.load_state_dict(first.state_dict())


def test_sink_statistics_finds_sinks(llama):
    stats = sink_statistics(llama, _choice_examples(4), threshold=0.05)
    assert stats.hidden_sink_rate.shape == (3, 4)
    assert stats.first_sink_score.min() > 0.05  # the first token is a sink in every head of a short causal prompt
    assert len(stats.positions[(0, 0)]) == 4
    assert stats.ranked_heads()


def test_plot_attention_sinks(tmp_path):
    from hf_methods.common.tiny import byte_tokenizer
    from hf_methods.generation.act import plot_attention_sinks

    model = tiny_llama(seed=0, num_hidden_layers=3)
    path = plot_attention_sinks(
        model, byte_tokenizer(), "Sinks: hidden ones too.", layers=[1, 2],
        config=ActConfig(heads={1: [0, 1]}, threshold=0.05), path=tmp_path / "sinks.png",
    )  # fmt: skip
    assert path.exists() and path.stat().st_size > 1000
    with pytest.raises(ValueError, match="layers"):
        plot_attention_sinks(model, byte_tokenizer(), "x y", layers=[7], config=ActConfig(), path=tmp_path / "b.png")
    with pytest.raises(ValueError, match="config"):
        plot_attention_sinks(model, byte_tokenizer(), "x y", layers=[1], path=tmp_path / "c.png")


# ----------------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"beta": 1.5}, ValueError, "beta"),
        ({"beta": "0.4"}, TypeError, "beta"),
        ({"threshold": -0.1}, ValueError, "threshold"),
        ({"threshold": 1.0}, ValueError, "threshold"),
        ({"heads": "1,2"}, TypeError, "heads"),
        ({"heads": [(1, 2, 3)]}, TypeError, "heads"),
        ({"heads": {1: 2}}, TypeError, "heads"),
        ({"heads": [(-1, 0)]}, ValueError, "heads"),
        ({"heads": [(1.5, 0)]}, TypeError, "heads"),
        ({"prefill_only": "yes"}, TypeError, "prefill_only"),
    ],
)
def test_bad_config(kwargs, error, match):
    with pytest.raises(error, match=match):
        ActConfig(**kwargs)


def test_heads_out_of_range(llama):
    with pytest.raises(ValueError, match="heads: layer 9"):
        apply_act(llama, ActConfig(heads={9: [0]}))
    with pytest.raises(ValueError, match="heads: layer 1 has 4 query heads"):
        apply_act(llama, ActConfig(heads={1: [4]}))
    assert llama.config._attn_implementation == "eager"


def test_unsupported_architectures():
    from transformers import BloomConfig, BloomForCausalLM

    bloom = BloomForCausalLM(BloomConfig(vocab_size=259, hidden_size=32, n_layer=1, n_head=2))
    with pytest.raises(TypeError, match="does not dispatch attention through"):
        apply_act(bloom, heads=[(0, 0)])
    with pytest.raises(TypeError, match="model must be a transformers PreTrainedModel"):
        apply_act(torch.nn.Linear(2, 2), heads=[(0, 0)])


def test_bad_calibration_inputs(llama):
    with pytest.raises(ValueError, match="probs"):
        calibrate_attention(torch.rand(5, 3))  # more queries than keys
    with pytest.raises(ValueError, match="visible"):
        calibrate_attention(random_causal_maps(1, 16), visible=torch.ones(5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="calibration_dataset"):
        find_act_heads(llama, [], show_progress=False)
    with pytest.raises(ValueError, match="tokenizer"):
        find_act_heads(llama, [{"text": "a", "choices": ["b"], "label": 0}], show_progress=False)
    with pytest.raises(ValueError, match="label"):
        find_act_heads(llama, [{"input_ids": [1, 2], "choice_ids": [5, 6], "label": 2}], show_progress=False)
    with pytest.raises(ValueError, match="strategy"):
        find_act_heads(llama, _choice_examples(2), strategy="beam", show_progress=False)
    with pytest.raises(ValueError, match="score"):
        find_act_heads(llama, _choice_examples(2), score="f1", show_progress=False)
    with pytest.raises(ValueError, match="candidate_heads"):
        find_act_heads(llama, _choice_examples(2), candidate_heads=[(0, 9)], show_progress=False)
    with pytest.raises(ValueError, match="layers"):
        find_act_heads(llama, _choice_examples(2), layers=[5], show_progress=False)


def test_gqa_heads_index_query_heads():
    # 4 query heads over 2 KV heads: calibrating query head 1 must leave query head 0 (same KV group) untouched
    from hf_methods.generation.act import capture_attention

    model = tiny_llama(seed=0, num_hidden_layers=1)
    x = tokens(1, 16)
    with act_calibrate(model, heads=[]), capture_attention(model) as before:
        model(x)
    with act_calibrate(model, heads={0: [1]}, threshold=0.05), capture_attention(model) as after:
        model(x)
    torch.testing.assert_close(after[0][:, [0, 2, 3]], before[0][:, [0, 2, 3]], rtol=0, atol=0)
    torch.testing.assert_close(after[0][0, 1], calibrate_attention(before[0][0, 1], 0.4, 0.05))


@pytest.mark.slow
@pytest.mark.assets
def test_smollm2_act_matches_eager_without_heads(smollm2):
    model, tokenizer = smollm2
    ids = tokenizer("The capital of France is Paris. The capital of Italy is", return_tensors="pt")["input_ids"]
    model.set_attn_implementation("eager")
    with torch.no_grad():
        expected = model(ids).logits
        with act_calibrate(model, heads=[]):
            torch.testing.assert_close(model(ids).logits, expected, rtol=0, atol=0)
        with act_calibrate(model, heads={layer: list(range(9)) for layer in range(2, 29)}):
            assert not torch.allclose(model(ids).logits, expected, atol=1e-3)
    model.set_attn_implementation("sdpa")


def test_tiny_config_helper_is_used():
    assert tiny_llama_config().num_attention_heads == 4


# ----------------------------------------------------------------------------------------------------------- recipe
def _prompts_file(path):
    import json

    passages = ["apple pie is sweet", "the cat sat down", "warm bread rolls", "rain falls on roofs",
                "rice with beans", "a car drove fast", "cheese on toast", "birds sing songs"]  # fmt: skip
    lines = [
        json.dumps(
            {
                "text": f"Is it food?\nText: bread\nAnswer: yes\nText: {p}\nAnswer:",
                "choices": ["yes", "no"],
                "label": int(i % 2 == 1),
            }
        )  # fmt: skip
        for i, p in enumerate(passages)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_recipe(repo_root, tmp_path, out, *extra):
    import subprocess
    import sys

    cmd = [sys.executable, str(repo_root / "recipes" / "act.py"), "--dataset_name_or_path",
           _prompts_file(tmp_path / "prompts.jsonl"), "--n_calibration", "4", "--n_eval", "4", "--max_candidates", "4",
           "--threshold", "0.05", "--strategy", "greedy", "--cpu_threads", "1", "--output_dir", out, *extra]  # fmt: skip
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


@pytest.mark.slow
def test_recipe_output_folder_loads_calibrated_with_from_pretrained(tmp_path, repo_root):
    from transformers import AutoConfig, AutoModelForCausalLM

    from hf_methods.common.tiny import byte_tokenizer

    base = tmp_path / "base"  # a local base folder, so the no-weights folder can be loaded over it
    tiny_llama(seed=0, num_hidden_layers=4).save_pretrained(base)
    byte_tokenizer().save_pretrained(base)
    _run_recipe(repo_root, tmp_path, tmp_path / "out", "--model_name_or_path", base)
    config = ActConfig.from_pretrained(tmp_path / "out" / "act_config.json")
    assert config.heads  # the greedy search kept heads on these prompts, so the check below is not vacuous
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "out")  # the weights are in the folder by default
    assert reloaded.config._attn_implementation == "act_eager"
    assert ActConfig.from_dict(reloaded.config.act_config) == config
    expected = apply_act(AutoModelForCausalLM.from_pretrained(base), config)
    x = tokens()
    torch.testing.assert_close(reloaded(x).logits, expected(x).logits, rtol=0, atol=1e-6)
    plain = AutoModelForCausalLM.from_pretrained(base)
    plain.set_attn_implementation("eager")
    assert not torch.allclose(reloaded(x).logits, plain(x).logits, atol=1e-5)

    # --save_weights false: only the configs; the base loads calibrated with the folder's config
    _run_recipe(repo_root, tmp_path, tmp_path / "light", "--model_name_or_path", base, "--save_weights", "false")
    assert not any((tmp_path / "light").glob("*.safetensors"))
    with pytest.raises(OSError):
        AutoModelForCausalLM.from_pretrained(tmp_path / "light")
    light = AutoModelForCausalLM.from_pretrained(base, config=AutoConfig.from_pretrained(tmp_path / "light"))
    assert light.config._attn_implementation == "act_eager"
    torch.testing.assert_close(light(x).logits, reloaded(x).logits, rtol=0, atol=1e-6)


def test_choice_examples_from_rows():
    from hf_methods.generation.act.tasks import choice_examples

    rows = [{"text": "Q: 1+1?\nA:", "choices": [" 2", " 3"], "label": 0, "id": 7}]
    assert choice_examples(rows) == [{"text": "Q: 1+1?\nA:", "choices": [" 2", " 3"], "label": 0}]
    bad = [
        ({"text": "x", "choices": [" a", " b"]}, "missing column"),
        ({"text": "", "choices": [" a", " b"], "label": 0}, "'text'"),
        ({"text": "x", "choices": " a b", "label": 0}, "'choices'"),
        ({"text": "x", "choices": [" a"], "label": 0}, "'choices'"),
        ({"text": "x", "choices": [" a", ""], "label": 0}, "every choice"),
        ({"text": "x", "choices": [" a", " b"], "label": 2}, "'label'"),
        ({"text": "x", "choices": [" a", " b"], "label": True}, "'label'"),
    ]
    for row, match in bad:
        with pytest.raises(ValueError, match=match):
            choice_examples([row], source="prompts.jsonl")
    with pytest.raises(ValueError, match="no rows"):
        choice_examples([])


@pytest.mark.slow
@pytest.mark.assets
def test_record_usage_runs_as_written():  # loads the offline SmolLM2
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("act").usage, namespace)
    assert isinstance(namespace["config"], ActConfig)
    assert namespace["model"].config._attn_implementation == "act_eager"
