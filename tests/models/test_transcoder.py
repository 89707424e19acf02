"""Tests of P31 `transcoder`: the model and loss against the equations written plainly, the hooks on GPT-2 and Llama,
the attribution identity against autograd, the official training details, and clear errors.

The generic model matrix (save/load, Auto classes, remote code, a training step) lives in `tests/test_model_matrix.py`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.models.transcoder.attribution import (
    feature_attribution,
    feature_connections,
    top_feature_connections,
)
from hf_methods.models.transcoder.configuration_transcoder import TranscoderConfig
from hf_methods.models.transcoder.hooks import (
    attach_transcoder,
    find_mlp,
    harvest_mlp_activations,
    lm_cross_entropy,
    mlp_zero_ablation,
    splice,
    splice_fidelity,
)
from hf_methods.models.transcoder.modeling_transcoder import TranscoderModel, transcoder_loss
from hf_methods.models.transcoder.training import (
    TranscoderArguments,
    markov_sequences,
    reconstruction_metrics,
    tiny_gpt2_config,
    train_transcoder,
)


def make_transcoder(d_in=8, d_out=None, d_sae=24, seed=0, l1_coeff=1e-3, randomize_biases=True, dtype=torch.float32):
    torch.manual_seed(seed)
    tc = TranscoderModel(TranscoderConfig(d_in=d_in, d_out=d_out, d_sae=d_sae, l1_coeff=l1_coeff)).to(dtype)
    if randomize_biases:  # zero biases would hide a sign or a swapped bias
        with torch.no_grad():
            for bias in (tc.b_enc, tc.b_dec, tc.b_dec_out):
                bias.normal_(0, 0.3)
    return tc


@pytest.fixture(scope="module")
def gpt2():
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(tiny_gpt2_config(vocab_size=32, n_embd=16, n_positions=16)).eval()


@pytest.fixture(scope="module")
def llama():
    from hf_methods.common.tiny import tiny_llama

    return tiny_llama(
        seed=0, vocab_size=32, hidden_size=16, intermediate_size=32, num_attention_heads=2, num_key_value_heads=1
    )


def token_ids(n=3, length=10, vocab=32, seed=0):
    return torch.randint(0, vocab, (n, length), generator=torch.Generator().manual_seed(seed))


# --- the math against the equations written plainly ---------------------------------------------------------------


def test_forward_matches_the_equations_in_numpy():
    tc = make_transcoder(d_in=5, d_out=4, d_sae=7)
    x = torch.randn(2, 3, 5)
    out = tc(x)
    w_enc, b_enc, w_dec = tc.W_enc.detach().numpy(), tc.b_enc.detach().numpy(), tc.W_dec.detach().numpy()
    b_dec, b_dec_out = tc.b_dec.detach().numpy(), tc.b_dec_out.detach().numpy()
    hidden_pre = (x.numpy() - b_dec) @ w_enc + b_enc  # W_encᵀ(x − b_dec) + b_enc
    z = np.maximum(hidden_pre, 0)
    np.testing.assert_allclose(out.hidden_pre.detach().numpy(), hidden_pre, atol=1e-6)
    np.testing.assert_allclose(out.feature_activations.detach().numpy(), z, atol=1e-6)
    np.testing.assert_allclose(out.mlp_output.detach().numpy(), z @ w_dec + b_dec_out, atol=1e-6)
    assert (z == 0).any() and (z > 0).any()  # both sides of the ReLU are exercised


def test_loss_matches_the_official_formula_token_by_token():
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    z = torch.rand(6, 9, generator=g) - 0.3
    lam = 0.05
    loss, recon, sparsity = transcoder_loss(pred, target, z, lam)
    # mean over tokens and dims of (ŷ − y)² / ‖y‖₂, plus λ · mean over tokens of Σ_i |z_i|
    ref_recon = sum(
        (pred[t, k].item() - target[t, k].item()) ** 2 / math.sqrt(sum(v.item() ** 2 for v in target[t]))
        for t in range(6)
        for k in range(4)
    ) / (6 * 4)
    ref_l1 = sum(abs(v.item()) for t in range(6) for v in z[t]) / 6
    assert recon.item() == pytest.approx(ref_recon, rel=1e-5)
    assert sparsity.item() == pytest.approx(ref_l1, rel=1e-5)
    assert loss.item() == pytest.approx(ref_recon + lam * ref_l1, rel=1e-5)
    per_token = transcoder_loss(pred, target, z, lam, reduction="none")[0]
    assert per_token.shape == (6,) and per_token.mean().item() == pytest.approx(loss.item(), rel=1e-6)


def test_model_loss_is_the_loss_function_on_its_outputs():
    tc = make_transcoder(l1_coeff=0.01)
    x, y = torch.randn(5, 8), torch.randn(5, 8)
    out = tc(x, labels=y)
    expected = transcoder_loss(out.mlp_output, y, out.feature_activations, 0.01)
    torch.testing.assert_close(out.loss, expected[0])
    torch.testing.assert_close(out.sparsity_loss, expected[2])


def test_initialisation_as_the_official_code():
    tc = make_transcoder(d_in=6, d_sae=40, randomize_biases=False)
    torch.testing.assert_close(tc.W_dec.norm(dim=1), torch.ones(40))  # unit-norm decoder rows
    for bias in (tc.b_enc, tc.b_dec, tc.b_dec_out):
        assert torch.count_nonzero(bias) == 0
    # Kaiming-uniform W_enc of shape (d_in, d_sae): bound sqrt(6 / fan_in), fan_in = d_sae (torch's convention)
    bound = math.sqrt(6 / 40)
    assert tc.W_enc.abs().max() <= bound and tc.W_enc.abs().max() > 0.8 * bound
    x, y = torch.randn(50, 6), torch.randn(50, 6) + 3
    tc.initialize_biases_(x, y)
    torch.testing.assert_close(tc.b_dec.data, x.mean(0))
    torch.testing.assert_close(tc.b_dec_out.data, y.mean(0))


def test_parallel_gradient_removal_and_renormalisation():
    tc = make_transcoder()
    tc(torch.randn(7, 8), labels=torch.randn(7, 8)).loss.backward()
    tc.remove_parallel_decoder_grad_()
    # each row's gradient is orthogonal to the (unit) row: g_i · w_i = 0
    torch.testing.assert_close((tc.W_dec.grad * tc.W_dec).sum(1), torch.zeros(24), atol=1e-6, rtol=0)
    with torch.no_grad():
        tc.W_dec.mul_(3.0)
    tc.normalize_decoder_()
    torch.testing.assert_close(tc.W_dec.norm(dim=1), torch.ones(24))


def test_training_lowers_the_loss_and_keeps_decoder_rows_unit_norm():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 8, generator=g)
    y = torch.relu(x @ torch.randn(8, 8, generator=g)) + 0.5
    tc = make_transcoder(d_sae=32, randomize_biases=False, l1_coeff=1e-4)
    before = reconstruction_metrics(tc, x, y)["fvu"]
    history = train_transcoder(
        tc, x, y, steps=150, batch_size=256, learning_rate=3e-3, warmup_steps=10, eval_every=50, eval_data=(x, y)
    )
    assert [h["step"] for h in history] == [50, 100, 150]
    assert history[-1]["fvu"] < 0.5 * before
    torch.testing.assert_close(tc.W_dec.norm(dim=1), torch.ones(32))


def test_reconstruction_metrics_by_hand():
    tc = make_transcoder(d_in=3, d_sae=5)
    x, y = torch.randn(20, 3), torch.randn(20, 3)
    m = reconstruction_metrics(tc, x, y, batch_size=7)
    with torch.no_grad():
        out = tc(x)
    fvu = ((out.mlp_output - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum()
    assert m["fvu"] == pytest.approx(fvu.item(), rel=1e-5)
    assert m["l0"] == pytest.approx((out.feature_activations > 0).sum(1).float().mean().item())
    assert m["dead_fraction"] == pytest.approx(1 - (out.feature_activations > 0).any(0).float().mean().item())


# --- hooks on GPT-2 and Llama --------------------------------------------------------------------------------------


def test_harvest_reads_the_post_layernorm_mlp_input_of_gpt2(gpt2):
    ids = token_ids()
    seen = {}
    block = gpt2.transformer.h[1]
    handle = block.ln_2.register_forward_hook(lambda m, a, out: seen.__setitem__("ln_2", out))
    head = gpt2.lm_head.register_forward_hook(lambda m, a, out: seen.__setitem__("head", True))
    try:
        x, y = harvest_mlp_activations(gpt2, ids, layer=1, batch_size=2)
    finally:
        handle.remove()
        head.remove()
    assert x.shape == y.shape == (30, 16)
    # the last batch (1 sequence) is the last one hooked: rows 20..29
    torch.testing.assert_close(x[20:], seen["ln_2"].reshape(-1, 16))
    with torch.no_grad():
        torch.testing.assert_close(y, block.mlp(x))
    assert "head" not in seen  # the forward pass stopped after the hooked MLP


def test_harvest_reads_the_post_rmsnorm_mlp_input_of_llama_and_skips_padding(llama):
    ids = token_ids(2, 6)
    mask = torch.tensor([[1] * 6, [1, 1, 1, 1, 0, 0]])
    seen = {}
    layer = llama.model.layers[0]
    handle = layer.post_attention_layernorm.register_forward_hook(lambda m, a, out: seen.__setitem__("ln", out))
    try:
        x, y = harvest_mlp_activations(llama, ids, layer=0, attention_mask=mask)
    finally:
        handle.remove()
    assert x.shape == (10, 16)
    torch.testing.assert_close(x, seen["ln"][mask.bool()])
    with torch.no_grad():
        torch.testing.assert_close(y, layer.mlp(x))


class _Replaced(nn.Module):
    """An MLP replaced by a module, the independent way of doing what the splicing hook does."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_splice_and_ablation_equal_replacing_the_mlp_module(family, request):
    model = request.getfixturevalue(family)
    blocks = model.transformer.h if family == "gpt2" else model.model.layers
    ids = token_ids(2, 8)
    tc = make_transcoder(d_in=16, d_sae=32)
    with torch.no_grad():
        clean = model(input_ids=ids).logits
        with splice(model, 1, tc):
            spliced = model(input_ids=ids).logits
        with mlp_zero_ablation(model, 1):
            ablated = model(input_ids=ids).logits
        after = model(input_ids=ids).logits
        original = blocks[1].mlp
        try:
            blocks[1].mlp = _Replaced(lambda x: tc(x).mlp_output)
            expected_spliced = model(input_ids=ids).logits
            blocks[1].mlp = _Replaced(torch.zeros_like)
            expected_ablated = model(input_ids=ids).logits
        finally:
            blocks[1].mlp = original
    torch.testing.assert_close(spliced, expected_spliced)
    torch.testing.assert_close(ablated, expected_ablated)
    assert torch.equal(after, clean)  # hooks removed on exit (same kernel path: exact)
    assert not torch.allclose(spliced, clean)


def test_splice_removes_its_hook_after_an_error(gpt2):
    tc = make_transcoder(d_in=16, d_sae=32)
    with pytest.raises(RuntimeError, match="inside"):
        with splice(gpt2, 0, tc):
            raise RuntimeError("inside")
    assert not find_mlp(gpt2, 0)._forward_hooks


def test_attach_transcoder_returns_a_removable_handle(gpt2):
    ids = token_ids(1, 5)
    with torch.no_grad():
        clean = gpt2(input_ids=ids).logits
        handle = attach_transcoder(gpt2, -1, make_transcoder(d_in=16, d_sae=32))
        spliced = gpt2(input_ids=ids).logits
        handle.remove()
        assert torch.equal(gpt2(input_ids=ids).logits, clean) and not torch.equal(spliced, clean)


def test_splice_fidelity_and_cross_entropy_by_hand(gpt2):
    ids = token_ids(3, 9)
    with torch.no_grad():
        logits = gpt2(input_ids=ids).logits
    log_probs = torch.log_softmax(logits[:, :-1], -1)
    by_hand = -np.mean([log_probs[b, t, ids[b, t + 1]].item() for b in range(3) for t in range(8)])
    assert lm_cross_entropy(gpt2, ids, batch_size=2) == pytest.approx(by_hand, rel=1e-5)
    fidelity = splice_fidelity(gpt2, make_transcoder(d_in=16, d_sae=32), ids, 1)
    assert fidelity.clean_ce == pytest.approx(by_hand, rel=1e-5)
    expected = (fidelity.spliced_ce - fidelity.clean_ce) / (fidelity.ablated_ce - fidelity.clean_ce)
    assert fidelity.to_dict()["ce_increase_fraction"] == pytest.approx(expected)


# --- attribution: the factorisation against autograd ----------------------------------------------------------------


@pytest.mark.parametrize("norm", ["none", "layernorm", "rmsnorm"])
def test_attribution_equals_gradient_times_input_along_the_direct_path(norm):
    up = make_transcoder(d_in=6, d_sae=10, seed=1, dtype=torch.float64)
    down = make_transcoder(d_in=6, d_sae=7, seed=2, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    z0 = up.encode(torch.randn(4, 6, generator=g, dtype=torch.float64)).detach()
    rest = torch.randn(4, 6, generator=g, dtype=torch.float64)  # the rest of the residual stream
    gain = torch.rand(6, generator=g, dtype=torch.float64) + 0.5
    bias = torch.randn(6, generator=g, dtype=torch.float64)
    resid = rest + up.decode(z0)
    center = norm == "layernorm"
    base = resid - resid.mean(-1, keepdim=True) if center else resid
    sigma = (
        torch.ones(4, 1, dtype=torch.float64)
        if norm == "none"
        else base.pow(2).mean(-1, keepdim=True).add(1e-5).sqrt()
    )

    z = z0.clone().requires_grad_(True)
    r = rest + up.decode(z)
    if norm == "none":
        x = r
    else:
        x = ((r - r.mean(-1, keepdim=True)) if center else r) / sigma * gain + bias  # scale frozen
    pre = down.pre_activations(x)
    expected = torch.stack(
        [torch.autograd.grad(pre[:, j].sum(), z, retain_graph=True)[0] * z0 for j in range(7)], dim=-1
    )
    kwargs = {} if norm == "none" else {"ln_weight": gain, "ln_scale": 1 / sigma[:, 0], "center": center}
    got = feature_attribution(up, down, z0, **kwargs)
    assert got.shape == (4, 10, 7)
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=1e-10)
    assert expected.abs().max() > 0.05  # not a vacuous identity


def test_feature_connections_is_the_dot_product_written_plainly():
    up, down = make_transcoder(d_in=4, d_sae=3, seed=1), make_transcoder(d_in=4, d_sae=5, seed=2)
    gain = torch.tensor([1.0, 2.0, 0.5, -1.0])
    got = feature_connections(up, down, ln_weight=gain, center=True, downstream_features=[4, 0])
    for i in range(3):
        row = up.W_dec[i].tolist()
        mean = sum(row) / 4
        for col, j in enumerate([4, 0]):
            value = sum((row[k] - mean) * gain[k].item() * down.W_enc[k, j].item() for k in range(4))
            assert got[i, col].item() == pytest.approx(value, abs=1e-6)


def test_top_feature_connections_sorts_by_magnitude():
    matrix = torch.tensor([[0.1, -3.0], [2.0, 0.5], [-0.2, 1.0]])
    assert top_feature_connections(matrix, k=3) == [(0, 1, -3.0), (1, 0, 2.0), (2, 1, 1.0)]


# --- clear errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"d_in": 0}, "d_in"),
        ({"d_out": 0}, "d_out"),
        ({"expansion": -1}, "expansion"),
        ({"d_sae": 0}, "d_sae"),
        ({"l1_coeff": -0.1}, "l1_coeff"),
        ({"l1_coeff": float("inf")}, "l1_coeff"),
        ({"layer": -2}, "layer"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TranscoderConfig(**kwargs)


def test_forward_rejects_bad_inputs_and_labels():
    tc = make_transcoder()
    with pytest.raises(ValueError, match=r"`inputs` must have shape \(\.\.\., 8\)"):
        tc(torch.randn(3, 7))
    with pytest.raises(TypeError, match="`inputs` must be a torch.Tensor"):
        tc([[0.0] * 8])
    with pytest.raises(TypeError, match="`inputs` must be a floating-point"):
        tc(torch.ones(3, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="`labels` must have shape"):
        tc(torch.randn(3, 8), labels=torch.randn(3, 7))
    with pytest.raises(ValueError, match="`labels` must have shape"):
        tc(torch.randn(3, 8), labels=torch.randn(4, 8))
    with pytest.raises(ValueError, match="`feature_activations`"):
        tc.decode(torch.randn(3, 8))
    with pytest.raises(ValueError, match="same number"):
        tc.initialize_biases_(torch.randn(3, 8), torch.randn(4, 8))


def test_loss_rejects_bad_reduction_and_shapes():
    with pytest.raises(ValueError, match="reduction"):
        transcoder_loss(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2, 4), 0.1, reduction="sum")
    with pytest.raises(ValueError, match="targets"):
        transcoder_loss(torch.zeros(2, 3), torch.ones(2, 4), torch.zeros(2, 4), 0.1)


def test_hooks_reject_bad_models_layers_and_transcoders(gpt2):
    with pytest.raises(ValueError, match="`layer` must be in"):
        find_mlp(gpt2, 2)
    with pytest.raises(TypeError, match="`layer` must be an int"):
        find_mlp(gpt2, "1")
    with pytest.raises(ValueError, match="no list of decoder blocks"):
        find_mlp(nn.Linear(2, 2), 0)
    with pytest.raises(TypeError, match="`model` must be a torch.nn.Module"):
        find_mlp("gpt2", 0)
    with pytest.raises(TypeError, match="`transcoder` must be a TranscoderModel"):
        attach_transcoder(gpt2, 0, nn.Linear(16, 16))
    with pytest.raises(ValueError, match="`transcoder` maps 8"):
        with splice(gpt2, 0, make_transcoder(d_in=8)):
            gpt2(input_ids=token_ids(1, 4))


def test_harvest_rejects_bad_token_batches(gpt2):
    with pytest.raises(ValueError, match="`input_ids` must be an integer tensor"):
        harvest_mlp_activations(gpt2, torch.randn(2, 4), 0)
    with pytest.raises(ValueError, match="`input_ids` must be an integer tensor"):
        harvest_mlp_activations(gpt2, torch.ones(4, dtype=torch.long), 0)
    with pytest.raises(ValueError, match="`attention_mask`"):
        harvest_mlp_activations(gpt2, token_ids(2, 4), 0, attention_mask=torch.ones(2, 5))
    with pytest.raises(ValueError, match="`batch_size`"):
        harvest_mlp_activations(gpt2, token_ids(2, 4), 0, batch_size=0)


def test_attribution_rejects_mismatched_inputs():
    up, down = make_transcoder(d_in=8, d_sae=10), make_transcoder(d_in=8, d_sae=6)
    with pytest.raises(ValueError, match="`upstream_activations` must have shape"):
        feature_attribution(up, down, torch.rand(3, 9))
    with pytest.raises(ValueError, match="same residual stream"):
        feature_connections(up, make_transcoder(d_in=4))
    with pytest.raises(TypeError, match="`downstream` must be a TranscoderModel"):
        feature_connections(up, nn.Linear(8, 8))
    with pytest.raises(ValueError, match="`ln_weight`"):
        feature_connections(up, down, ln_weight=torch.ones(7))
    with pytest.raises(ValueError, match="`ln_scale`"):
        feature_attribution(up, down, torch.rand(3, 10), ln_scale=torch.ones(4))
    with pytest.raises(ValueError, match="`k`"):
        top_feature_connections(torch.ones(2, 2), k=0)
    with pytest.raises(ValueError, match="`attribution` must be"):
        top_feature_connections(torch.ones(2, 2, 2))


def test_training_rejects_mismatched_data():
    with pytest.raises(ValueError, match="same number"):
        train_transcoder(make_transcoder(), torch.randn(5, 8), torch.randn(4, 8), steps=1)


# --- recipe pieces --------------------------------------------------------------------------------------------------


def test_recipe_arguments_build_the_config_and_validate():
    args = TranscoderArguments(output_dir="unused", expansion=4, l1_coeff=2e-3, layer=1)
    config = args.transcoder_config(16)
    assert (config.d_in, config.d_out, config.d_sae, config.l1_coeff, config.layer) == (16, 16, 64, 2e-3, 1)
    for flag, value in [
        ("expansion", 0),
        ("seq_len", 1),
        ("layer", -1),
        ("l1_coeff", -1.0),
        ("learning_rate", 0.0),
        ("vocab_size", 2),
        ("warmup_steps", -1),
    ]:
        with pytest.raises(ValueError, match=f"--{flag}"):
            TranscoderArguments(output_dir="unused", **{flag: value}).validate()


def test_markov_sequences_follow_their_chain():
    ids = markov_sequences(16, 50, 20, seed=0)
    again = markov_sequences(16, 50, 20, seed=0)
    assert torch.equal(ids, again) and ids.shape == (50, 20) and int(ids.max()) < 16
    # each token has at most 4 successors
    successors = {}
    for row in ids.tolist():
        for a, b in zip(row, row[1:]):
            successors.setdefault(a, set()).add(b)
    assert max(len(s) for s in successors.values()) <= 4


def test_recipe_runs_a_few_steps(tmp_path):
    import json
    import sys

    from hf_methods.zoo import repo_root

    sys.path.insert(0, str(repo_root() / "recipes"))
    try:
        import transcoder as recipe
    finally:
        sys.path.pop(0)
    out = tmp_path / "run"
    metrics = recipe.main(
        [
            "--output_dir",
            str(out),
            "--max_steps",
            "4",
            "--lm_steps",
            "3",
            "--num_sequences",
            "40",
            "--seq_len",
            "8",
            "--eval_sequences",
            "8",
            "--batch_size",
            "64",
            "--expansion",
            "2",
            "--checkpoint_every",
            "0",
            "--cpu_threads",
            "1",
        ]
    )
    assert {"eval/fvu", "eval/l0", "eval/ce_increase_fraction"} <= set(metrics)
    assert (out / "model.safetensors").exists() and (out / "README.md").exists()
    assert json.loads((out / "config.json").read_text())["model_type"] == "hfm-transcoder"
    loaded = TranscoderModel.from_pretrained(out)
    assert loaded.config.layer == 1 and loaded.config.d_sae == 128


@pytest.mark.slow  # runs the record's usage snippet (imports, a tiny GPT-2, 20 transcoder steps)
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("transcoder").usage, namespace)
    assert torch.isfinite(namespace["loss"]) and namespace["fidelity"].ablated_ce > 0
    assert len(namespace["history"]) == 1


@pytest.mark.slow  # imports transformers.Trainer and accelerate: ~7 s
def test_trainer_with_the_decoder_norm_callback_keeps_rows_unit_norm(tmp_path):
    from transformers import Trainer, TrainingArguments

    from hf_methods.common.batches import TensorDictDataset, collate_batch
    from hf_methods.models.transcoder.training import DecoderNormCallback

    g = torch.Generator().manual_seed(0)
    data = TensorDictDataset(inputs=torch.randn(64, 8, generator=g), labels=torch.randn(64, 8, generator=g))
    tc = make_transcoder(d_sae=16)
    before = tc.W_dec.detach().clone()
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=16,
        learning_rate=0.05,
        report_to=[],
        remove_unused_columns=False,
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=tc, args=args, train_dataset=data, data_collator=collate_batch, callbacks=[DecoderNormCallback()]
    )
    trainer.train()
    assert not torch.equal(before, tc.W_dec)
    torch.testing.assert_close(tc.W_dec.norm(dim=1), torch.ones(16))


@pytest.mark.assets
def test_smollm2_harvest_and_splice(smollm2):
    """The real Llama-family asset: the hooked MLP input is `post_attention_layernorm`'s output; splice restores."""
    model, tokenizer = smollm2
    ids = tokenizer(["The transcoder reads the MLP input."], return_tensors="pt").input_ids
    layer = model.model.layers[3]
    seen = {}
    handle = layer.post_attention_layernorm.register_forward_hook(lambda m, a, out: seen.__setitem__("ln", out))
    try:
        x, y = harvest_mlp_activations(model, ids, layer=3)
    finally:
        handle.remove()
    assert x.shape == (ids.shape[1], model.config.hidden_size)
    torch.testing.assert_close(x, seen["ln"][0])
    tc = TranscoderModel(TranscoderConfig(d_in=model.config.hidden_size, expansion=1, layer=3))
    with torch.no_grad():
        clean = model(input_ids=ids).logits
        with splice(model, 3, tc):
            spliced = model(input_ids=ids).logits
        assert torch.equal(model(input_ids=ids).logits, clean) and not torch.allclose(spliced, clean)
