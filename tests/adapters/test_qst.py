"""QST (P04): the side network against an explicit loop of the official equations, the official defaults (fixed
σ(1) output gate, PyTorch-initialised side layers) and the identity-at-init option, no backbone gradients or saved
backbone activations, cached generation, save/load, 4-bit bases, the shared training pieces, and bad inputs."""

import json

import pytest
import torch
import torch.nn.functional as F

from hf_methods.adapters.qst import QSTConfig, QSTModel, get_qst_model
from hf_methods.common.tiny import tiny_llama


def _ids(batch=2, length=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 259, (batch, length), generator=g)


def _perturb(model, seed=1):
    """Random values for every side parameter, so the side network visibly changes the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.qst.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
    return model


def _downsample_reference(model, index, h):
    """D(h) written plainly: LayerNorm(W_B · SiLU(W_A · h)), or the pooling / linear variants."""
    qst, cfg = model.qst, model.qst_config
    k = max(index - 1, 0) if cfg.share_embedding_downsampler else index
    mod = qst.downsample[k]
    if cfg.downsample == "adapter":
        z = F.silu(h @ mod.down_a.weight.T) @ mod.down_b.weight.T
        return F.layer_norm(z, z.shape[-1:], mod.norm.weight, mod.norm.bias, mod.norm.eps)
    if cfg.downsample == "linear":
        return h @ mod.proj.weight.T
    r = cfg.reduction_factor
    grouped = h.reshape(*h.shape[:-1], h.shape[-1] // r, r)
    return grouped.mean(-1) if cfg.downsample == "avgpool" else grouped.max(-1).values


def _reference_logits(model, input_ids):
    """The official QST forward as an explicit layer-by-layer loop (no hooks), fp32, no padding."""
    base, qst, cfg = model.base_model, model.qst, model.qst_config
    t = input_ids.shape[1]
    pos = torch.arange(t)[None]
    mask = torch.full((t, t), float("-inf")).triu(1)[None, None]
    with model.disable_adapter(), torch.no_grad():
        h = base.model.embed_tokens(input_ids)
        states = [h]
        rope = base.model.rotary_emb(h, pos)
        for layer in base.model.layers:
            h = layer(h, attention_mask=mask, position_ids=pos, position_embeddings=rope)
            states.append(h)
        h_hat = base.model.norm(h)
        g = _downsample_reference(model, 0, states[0])  # g_0 = D_0(h_0)
        side_rope = qst.side.rotary_emb(g, pos)
        for i, layer in enumerate(qst.side.layers):
            z = torch.sigmoid(qst.gate_logits[i])
            u = (1 - z) * _downsample_reference(model, i + 1, states[i + 1]) + z * g  # u_i
            g = layer(u, attention_mask=mask, position_ids=pos, position_embeddings=side_rope)  # g_i = s_i(u_i)
        up = qst.side.norm(g) @ qst.upsample.weight.T + qst.upsample.bias  # U(RMSNorm_qst(g_L))
        if cfg.identity_init:
            o = h_hat + qst.output_gate * (up - h_hat)
        else:
            a = torch.sigmoid(qst.output_gate)
            o = a * h_hat + (1 - a) * up
        return o @ base.lm_head.weight.T


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"share_embedding_downsampler": True, "train_output_gate": True},
        {"identity_init": True},
        {"downsample": "avgpool"},
        {"downsample": "maxpool", "reduction_factor": 2},
        {"downsample": "linear"},
    ],
    ids=["adapter", "official-sharing", "identity-init", "avgpool", "maxpool", "linear"],
)
def test_hook_forward_equals_explicit_reference(kwargs):
    cfg = QSTConfig(**{"reduction_factor": 4, "adapter_rank": 8, **kwargs})
    model = _perturb(get_qst_model(tiny_llama(0), cfg)).eval()
    ids = _ids()
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    torch.testing.assert_close(logits, _reference_logits(model, ids), rtol=1e-5, atol=1e-5)


def _side_linears(model):
    return [m for m in model.qst.side.modules() if isinstance(m, torch.nn.Linear)]


def test_default_output_gate_is_the_official_fixed_sigmoid_one():
    """Default: o = a·ĥ + (1 − a)·U(ĝ) with a = σ(1) ≈ 0.73 fixed (not trained), so the model is not the base at init
    and the side layers get a gradient from the first step."""
    base = tiny_llama(0)
    ids = _ids()
    with torch.no_grad():
        expected = base(ids).logits
    model = get_qst_model(base, QSTConfig(reduction_factor=4, adapter_rank=8))
    assert QSTConfig().identity_init is False and QSTConfig().train_output_gate is False
    gate = model.qst.output_gate
    assert not isinstance(gate, torch.nn.Parameter) and "qst.output_gate" not in dict(model.named_parameters())
    torch.testing.assert_close(torch.sigmoid(gate), torch.full((64,), 0.7310585786), rtol=0, atol=1e-7)
    assert "output_gate" in model.qst.state_dict()  # saved with the side weights
    with torch.no_grad():
        assert not torch.allclose(model(ids).logits, expected, atol=1e-3)
    model.train()(input_ids=ids, labels=ids).loss.backward()
    assert all(lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0 for lin in _side_linears(model))
    trained = get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4, train_output_gate=True))
    assert isinstance(trained.qst.output_gate, torch.nn.Parameter) and trained.qst.output_gate.requires_grad


def test_identity_init_option_equals_the_base_exactly_and_starves_the_side_network():
    """identity_init=True: o = ĥ + γ·(U(ĝ) − ĥ), γ = 0, so the logits are the base's exactly; at step 0 only γ gets a
    gradient (the side network's is multiplied by γ = 0)."""
    base = tiny_llama(0)
    ids = _ids()
    with torch.no_grad():
        expected = base(ids).logits
    model = get_qst_model(base, QSTConfig(reduction_factor=4, adapter_rank=8, identity_init=True))
    assert isinstance(model.qst.output_gate, torch.nn.Parameter) and not model.qst.output_gate.any()
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, expected, rtol=0, atol=0)
    model.train()(input_ids=ids, labels=ids).loss.backward()
    assert model.qst.output_gate.grad.abs().sum() > 0
    assert all(lin.weight.grad is None or not lin.weight.grad.any() for lin in _side_linears(model))


def test_side_layers_keep_pytorch_default_init():
    """Default side_init="pytorch": every side nn.Linear is Kaiming-uniform, |w| <= 1/sqrt(fan_in) with std
    1/sqrt(3·fan_in) (as the official side layers, never passed through post_init), not normal(0, 0.02);
    side_init="normal" gives transformers' normal(0, initializer_range)."""
    model = get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4, adapter_rank=8))
    linears = _side_linears(model)
    assert len(linears) == 2 * 7  # q, k, v, o, gate, up, down per side layer
    for lin in linears:
        bound = lin.in_features**-0.5
        assert lin.weight.abs().max() <= bound
        assert abs(lin.weight.std().item() - bound / 3**0.5) < 0.25 * bound / 3**0.5
    normal = get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4, adapter_rank=8, side_init="normal"))
    std = model.base_model.config.initializer_range
    for lin in _side_linears(normal):
        assert abs(lin.weight.std().item() - std) < 0.3 * std


def test_trainable_parameter_shapes():
    """Side width d/r, MLP width I/r, head_dim (d/r)/H, one gate vector per layer, L+1 downsamplers."""
    model = get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4, adapter_rank=8))
    side = model.qst.side.config
    assert (side.hidden_size, side.intermediate_size, side.head_dim) == (16, 32, 4)
    assert model.qst.gate_logits.shape == (2, 16)
    assert len(model.qst.downsample) == 3
    assert model.qst.upsample.weight.shape == (64, 16)
    assert model.qst.side.embed_tokens is None
    assert all(n.startswith("qst.") for n, _ in model.named_parameters())


def test_backbone_gets_no_gradients_and_saves_no_activations():
    """Nothing is saved for backward inside the base layers, and no base parameter receives a gradient."""
    base = tiny_llama(0)
    model = _perturb(get_qst_model(base, QSTConfig(reduction_factor=4, adapter_rank=8))).train()
    depth = [0]
    handles = []
    for layer in base.model.layers:
        for sub in layer.children():
            handles.append(sub.register_forward_pre_hook(lambda *a: depth.__setitem__(0, depth[0] + 1)))
            handles.append(sub.register_forward_hook(lambda *a: depth.__setitem__(0, depth[0] - 1)))
    saved = []

    def pack(t):
        saved.append((depth[0] > 0, t.numel() * t.element_size()))
        return t

    ids = _ids()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(input_ids=ids, labels=ids).loss
    for h in handles:
        h.remove()
    assert saved and not any(inside for inside, _ in saved), "tensors were saved for backward inside the base"
    loss.backward()
    assert all(p.grad is None for p in base.parameters())
    assert all(p.grad is not None for p in model.qst.parameters())
    qst_bytes = sum(b for _, b in saved)

    full = tiny_llama(0).train()
    full_saved = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: full_saved.append(t.numel() * t.element_size()) or t, lambda t: t
    ):
        full(input_ids=ids, labels=ids).loss.backward()
    assert qst_bytes < sum(full_saved)


def test_side_network_learns():
    """A few Adam steps on one batch lower the loss."""
    model = get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4, adapter_rank=8)).train()
    ids = _ids(4, 16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses


def _greedy_no_cache(model, ids, mask, steps):
    for _ in range(steps):
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).logits
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], 1)
        mask = torch.cat([mask, torch.ones_like(nxt)], 1)
    return ids


def test_generate_with_both_caches_equals_no_cache_loop():
    model = _perturb(get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4, adapter_rank=8))).eval()
    ids = _ids(2, 7)
    mask = torch.ones_like(ids)
    ids[0, :3], mask[0, :3] = 0, 0  # left padding
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False, pad_token_id=0)
    expected = _greedy_no_cache(model, ids, mask, 10)
    assert torch.equal(out, expected)
    with model.disable_adapter():  # the same loop reproduces the base model's own generate
        base_out = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False, pad_token_id=0
        )
        assert torch.equal(base_out, _greedy_no_cache(model, ids, mask, 10))
    assert not torch.equal(base_out, out)


def test_save_load_bit_exact(tmp_path):
    model = _perturb(get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4, adapter_rank=8))).eval()
    ids = _ids()
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qst_config.json", "qst_model.safetensors"]
    saved = json.loads((tmp_path / "qst_config.json").read_text())
    assert saved["reduction_factor"] == 4 and saved["base_config"]["hidden_size"] == 64
    loaded = QSTModel.from_pretrained(tiny_llama(0), tmp_path)
    for (n, a), (m, b) in zip(model.qst.state_dict().items(), loaded.qst.state_dict().items()):
        assert n == m and torch.equal(a, b)
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model(ids).logits)
    assert not any(p.requires_grad for p in loaded.parameters())
    assert all(
        p.requires_grad for p in QSTModel.from_pretrained(tiny_llama(0), tmp_path, is_trainable=True).parameters()
    )


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupted_weights_name_the_file(tmp_path, damage):
    get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4, adapter_rank=8)).save_pretrained(tmp_path)
    weights = tmp_path / "qst_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x00not safetensors" * 8)
    with pytest.raises(ValueError, match=r"qst_model\.safetensors is not a readable safetensors file") as err:
        QSTModel.from_pretrained(tiny_llama(0), tmp_path)
    assert str(weights) in str(err.value)
    (tmp_path / "qst_config.json").write_text('{"reduction_factor": 4,')
    with pytest.raises(ValueError, match=r"qst_config\.json is not valid JSON"):
        QSTModel.from_pretrained(tiny_llama(0), tmp_path)


def test_save_pretrained_takes_a_callers_state_dict(tmp_path):
    """`transformers`/`accelerate` callers pass `state_dict=` (keys `qst.*`); those weights are what gets written."""
    model = get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4, adapter_rank=8))
    state = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}
    model.save_pretrained(tmp_path, state_dict=state, safe_serialization=True, save_function=torch.save)
    loaded = QSTModel.from_pretrained(tiny_llama(0), tmp_path)
    assert all(torch.equal(v, torch.full_like(v, 0.5)) for v in loaded.qst.state_dict().values())
    with pytest.raises(ValueError, match="missing"):
        model.save_pretrained(tmp_path, state_dict={"qst.upsample.weight": state["qst.upsample.weight"]})


def test_push_to_hub_and_load_from_a_hub_id(tmp_path, monkeypatch):
    """`push_to_hub` uploads the two QST files; `from_pretrained(base, "namespace/name")` downloads them with
    `hf_hub_download` (a real HTTP round trip against the in-memory Hub of `tests/hub/fake_hub.py`)."""
    from huggingface_hub import constants

    from tests.hub.fake_hub import FakeHub

    token = "hf_qst_test_token"
    model = _perturb(get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4, adapter_rank=8))).eval()
    with FakeHub(token=token) as hub:
        # huggingface_hub reads HF_ENDPOINT / HF_HUB_OFFLINE at import: point its constants at the fake Hub instead
        monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
        monkeypatch.setattr(
            constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        )
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        model.push_to_hub("zoo/qst-tiny", token=token)
        assert sorted(hub.files("zoo/qst-tiny")) == ["qst_config.json", "qst_model.safetensors"]
        loaded = QSTModel.from_pretrained(tiny_llama(0), "zoo/qst-tiny", token=token, cache_dir=tmp_path / "cache")
        hub.repo("zoo/qst-tiny").commit("main", {"README.md": b"not a side network"}, ["qst_config.json"])
        with pytest.raises(FileNotFoundError, match="Hub repo zoo/qst-tiny has no qst_config.json"):
            QSTModel.from_pretrained(tiny_llama(0), "zoo/qst-tiny", token=token, cache_dir=tmp_path / "cache2")
    ids = _ids()
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model(ids).logits)
    with pytest.raises(FileNotFoundError, match="not a Hub repo id"):
        QSTModel.from_pretrained(tiny_llama(0), "no/such/folder")


def _trainer_run(out, max_steps, resume=None, trainer_class=None):
    from datasets import Dataset
    from transformers import TrainingArguments

    from hf_methods.adapters.qst import QSTTrainer

    trainer_class = trainer_class or QSTTrainer

    ids = _ids(8, 12)
    data = Dataset.from_dict({"input_ids": ids.tolist(), "labels": ids.tolist()})
    model = get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4, adapter_rank=8))
    args = TrainingArguments(
        str(out), max_steps=max_steps, per_device_train_batch_size=4, learning_rate=1e-2, save_steps=1, seed=0,
        report_to=[], use_cpu=True, disable_tqdm=True, logging_steps=1,
    )  # fmt: skip
    trainer = trainer_class(model=model, args=args, train_dataset=data)
    trainer.train(resume_from_checkpoint=resume)
    return trainer, model


def test_trainer_saves_and_resumes_the_qst_format(tmp_path):
    """`QSTTrainer.save_model` and its checkpoints hold qst_config.json + qst_model.safetensors (no base weights, no
    model.safetensors); the saved model reloads with `from_pretrained`, and a run resumed from the step-1 checkpoint
    ends with the same side network as the uninterrupted 2-step run."""
    trainer, model = _trainer_run(tmp_path / "run", 2)
    trainer.save_model(tmp_path / "final")
    for folder in (tmp_path / "final", tmp_path / "run" / "checkpoint-2"):
        names = {p.name for p in folder.iterdir()}
        assert {"qst_config.json", "qst_model.safetensors"} <= names and "model.safetensors" not in names
    loaded = QSTModel.from_pretrained(tiny_llama(0), tmp_path / "final")
    ids = _ids()
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model.eval()(ids).logits)
    _, resumed = _trainer_run(tmp_path / "run", 2, resume=str(tmp_path / "run" / "checkpoint-1"))
    for (name, a), (_, b) in zip(model.qst.state_dict().items(), resumed.qst.state_dict().items()):
        assert torch.equal(a, b), name  # the same computation on the same machine: bit-exact


def test_plain_trainer_checkpoints_resume_and_load_with_the_config(tmp_path):
    """A plain `transformers.Trainer` writes the side network alone as model.safetensors (no base weights): it
    resumes from it to the uninterrupted result, and `from_pretrained(..., config=)` reads it."""
    from safetensors.torch import load_file
    from transformers import Trainer

    trainer, model = _trainer_run(tmp_path / "run", 2, trainer_class=Trainer)
    trainer.save_model(tmp_path / "final")
    saved = load_file(str(tmp_path / "final" / "model.safetensors"))
    assert saved.keys() == {f"qst.{k}" for k in model.qst.state_dict()}  # side network only
    config = QSTConfig(reduction_factor=4, adapter_rank=8)
    loaded = QSTModel.from_pretrained(tiny_llama(0), tmp_path / "final", config=config)
    ids = _ids()
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model.eval()(ids).logits)
    _, resumed = _trainer_run(
        tmp_path / "run", 2, resume=str(tmp_path / "run" / "checkpoint-1"), trainer_class=Trainer
    )
    for (name, a), (_, b) in zip(model.qst.state_dict().items(), resumed.qst.state_dict().items()):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="does not hold a side network built with this config"):
        QSTModel.from_pretrained(tiny_llama(0), tmp_path / "final", config=QSTConfig(reduction_factor=8))
    with pytest.raises(TypeError, match="QSTConfig"):
        QSTModel.from_pretrained(tiny_llama(0), tmp_path / "final", config={"r": 4})


def test_plain_trainer_output_points_to_qst_trainer(tmp_path):
    """A bare `model.safetensors` (what `transformers.Trainer` writes for a non-PreTrainedModel) gets a hint."""
    from safetensors.torch import save_file

    save_file({"qst.upsample.bias": torch.zeros(64)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(FileNotFoundError, match="QSTTrainer"):
        QSTModel.from_pretrained(tiny_llama(0), tmp_path)


# ------------------------------------------------------------------------------------------------ bad inputs


def test_reduction_factor_must_divide_hidden_size():
    with pytest.raises(ValueError, match="reduction_factor"):
        get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=3))
    with pytest.raises(ValueError, match="reduction_factor"):  # 64/32 = 2 is not a multiple of the 4 heads
        get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=32))


def test_missing_or_wrong_base_model():
    with pytest.raises(TypeError, match="base_model"):
        get_qst_model(None, QSTConfig())
    with pytest.raises(TypeError, match="base_model"):
        get_qst_model(torch.nn.Linear(2, 2), QSTConfig())


def test_unsupported_architecture_names_what_is_supported():
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=64, n_positions=32))
    with pytest.raises(ValueError, match="llama"):
        get_qst_model(gpt2, QSTConfig(reduction_factor=4))


def test_wrong_base_for_saved_adapter(tmp_path):
    get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4)).save_pretrained(tmp_path)
    other = tiny_llama(0, num_hidden_layers=3)
    with pytest.raises(ValueError, match="base_model does not match.*num_hidden_layers"):
        QSTModel.from_pretrained(other, tmp_path)
    with pytest.raises(FileNotFoundError, match="qst_config.json"):
        QSTModel.from_pretrained(tiny_llama(0), tmp_path / "nowhere")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"reduction_factor": 0}, "reduction_factor"),
        ({"reduction_factor": 2.0}, "reduction_factor"),
        ({"adapter_rank": 0}, "adapter_rank"),
        ({"downsample": "conv"}, "downsample"),
        ({"activation": "swish"}, "activation"),
        ({"task_type": "SEQ_CLS"}, "task_type"),
        ({"side_init": "xavier"}, "side_init"),
    ],
)
def test_bad_config(kwargs, field):
    with pytest.raises((ValueError, TypeError), match=field):
        QSTConfig(**kwargs)


def test_config_type_is_checked():
    with pytest.raises(TypeError, match="config"):
        QSTModel(tiny_llama(0), {"reduction_factor": 4})


# ------------------------------------------------------------------------------------------------ training pieces


def test_arguments_build_the_config_in_one_call():
    from hf_methods.adapters.qst.training import BASE_MODEL_ID, QSTArguments

    knobs = dict(reduction_factor=8, adapter_rank=4, downsample="avgpool", activation="gelu", gate_init=0.1)
    knobs |= dict(identity_init=True, train_output_gate=True, side_init="normal", share_embedding_downsampler=True)
    assert QSTArguments(**knobs).qst_config() == QSTConfig(**knobs, base_model_name_or_path=BASE_MODEL_ID)
    # the recipe's defaults are the library's (the official gate and init)
    assert QSTArguments().qst_config(base_model_name_or_path=None) == QSTConfig()
    with pytest.raises(ValueError, match="downsample"):
        QSTArguments(downsample="conv").validate()
    with pytest.raises(ValueError, match="lr_scheduler_type"):
        QSTArguments(lr_scheduler_type="step").validate()
    with pytest.raises(ValueError, match="quantization"):
        QSTArguments(quantization="int8").validate()


def test_schedule_is_transformers_constant_with_warmup():
    from hf_methods.adapters.qst.training import QSTArguments, make_optimizer, make_scheduler

    args = QSTArguments(max_steps=100, warmup_ratio=0.03, learning_rate=1e-3)
    optimizer = make_optimizer(torch.nn.Linear(2, 2), args.learning_rate)
    scheduler = make_scheduler(optimizer, args.lr_scheduler_type, args.max_steps, args.warmup_steps)
    lrs = []
    for _ in range(6):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([0.0, 1e-3 / 3, 2e-3 / 3, 1e-3, 1e-3, 1e-3])
    with pytest.raises(ValueError, match="schedule"):
        make_scheduler(optimizer, "step", 10)


def test_train_step_clips_steps_and_leaves_the_base_alone():
    from hf_methods.adapters.qst.training import make_optimizer, make_scheduler, train_step

    base = tiny_llama(0)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    model = get_qst_model(base, QSTConfig(reduction_factor=4, adapter_rank=8)).train()
    optimizer = make_optimizer(model, 1e-2)
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == {id(p) for p in model.qst.parameters()}
    scheduler = make_scheduler(optimizer, "constant", 10)
    ids = _ids(4, 16)
    side_before = [p.clone() for p in model.qst.parameters()]
    loss = train_step(model, {"input_ids": ids, "labels": ids}, optimizer, scheduler, max_grad_norm=1e-3)
    assert not loss.requires_grad and loss.item() > 0
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.qst.parameters()]))
    assert norm.item() == pytest.approx(1e-3, rel=1e-3)  # clipped from a much larger norm
    assert all(not torch.equal(a, b) for a, b in zip(side_before, model.qst.parameters()))
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())


def test_sequence_loss_is_the_mean_next_token_loss():
    from hf_methods.adapters.qst.training import sequence_loss

    model = tiny_llama(0).train()
    ids = _ids(5, 10)
    with torch.no_grad():
        expected = model(input_ids=ids, labels=ids).loss.item()
    assert sequence_loss(model, ids, batch_size=2) == pytest.approx(expected, rel=1e-5)
    assert model.training  # the mode is restored


def test_saved_activation_bytes_qst_below_lora():
    """The claim's memory measure: QST keeps fewer bytes for backward than LoRA on the same base and batch."""
    from peft import LoraConfig, get_peft_model

    from hf_methods.adapters.qst.training import saved_activation_bytes

    ids = _ids(4, 32)
    batch = {"input_ids": ids, "labels": ids}
    qst_bytes, loss = saved_activation_bytes(get_qst_model(tiny_llama(0), QSTConfig(reduction_factor=4)), batch)
    assert loss.requires_grad and qst_bytes > 0
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    lora = get_peft_model(tiny_llama(0), LoraConfig(r=8, target_modules=targets))
    lora_bytes, _ = saved_activation_bytes(lora, batch)
    assert qst_bytes < lora_bytes


@pytest.mark.slow
@pytest.mark.assets
def test_recipe_resume_is_exact(tmp_path, repo_root):
    """Two steps, a checkpoint, then a resumed run to four steps give the same side network as four uninterrupted
    steps (optimizer, warm-up schedule and data order restored)."""
    import shutil
    import subprocess
    import sys

    from safetensors.torch import load_file

    from hf_methods.common.data import smollm2_path

    try:
        smollm2_path()
    except FileNotFoundError as err:
        pytest.skip(str(err))
    common = ["--max_steps", "4", "--checkpoint_every", "2", "--warmup_ratio", "0.5", "--n_train", "32"]
    common += [
        "--n_eval",
        "4",
        "--n_accuracy",
        "0",
        "--batch_size",
        "4",
        "--cpu_threads",
        "1",
        "--quantization",
        "none",
    ]

    def recipe(out, *extra):
        cmd = [sys.executable, str(repo_root / "recipes" / "qst.py"), *common, "--output_dir", str(out), *extra]
        subprocess.run(cmd, check=True, capture_output=True, timeout=600, cwd=tmp_path)

    recipe(tmp_path / "full")
    (tmp_path / "resumed" / "checkpoints").mkdir(parents=True)
    shutil.copytree(tmp_path / "full/checkpoints/checkpoint_0", tmp_path / "resumed/checkpoints/checkpoint_0")
    recipe(tmp_path / "resumed", "--resume_from_checkpoint", "latest")
    full = load_file(tmp_path / "full" / "qst_model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "qst_model.safetensors")
    assert full.keys() == resumed.keys() and "output_gate" in full
    for key in full:  # the same computation on the same machine: bit-exact
        torch.testing.assert_close(resumed[key], full[key], rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------ 4-bit base


def test_nf4_base_with_bitsandbytes(tmp_path):
    """A bitsandbytes NF4 base on CPU: forward, backward (no base gradients), identity at init, cached generation."""
    bnb = pytest.importorskip("bitsandbytes")
    from packaging.version import Version
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if Version(bnb.__version__) < Version("0.48"):
        pytest.skip("bitsandbytes >= 0.48 is needed for 4-bit on CPU")
    tiny_llama(0).save_pretrained(tmp_path)
    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.float32,
    )
    base = AutoModelForCausalLM.from_pretrained(tmp_path, quantization_config=quant, device_map="cpu")
    assert type(base.model.layers[0].self_attn.q_proj).__name__ == "Linear4bit"
    ids = _ids(2, 8)
    with torch.no_grad():
        expected = base(ids).logits
    model = get_qst_model(base, QSTConfig(reduction_factor=4, adapter_rank=8, identity_init=True))
    assert model.qst_config.quantization["bnb_4bit_quant_type"] == "nf4"
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, expected, rtol=0, atol=0)
    _perturb(model).train()
    model(input_ids=ids, labels=ids).loss.backward()
    assert all(p.grad is None for p in base.parameters())
    assert all(p.grad is not None for p in model.qst.parameters())
    model.eval()
    out = model.generate(input_ids=ids[:1, :5], max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert torch.equal(out, _greedy_no_cache(model, ids[:1, :5], torch.ones_like(ids[:1, :5]), 4))


@pytest.mark.assets
def test_smollm2_identity_at_init(smollm2):
    """On SmolLM2-135M (d=576, 9 heads) r=16 gives a side width of 36 (head_dim 4); identity_init gives the base
    logits at init."""
    base, tokenizer = smollm2
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        expected = base(ids).logits
    model = get_qst_model(base, QSTConfig(reduction_factor=16, adapter_rank=16, identity_init=True))
    try:
        assert model.qst.side.config.hidden_size == 36 and model.qst.side.config.head_dim == 4
        with torch.no_grad():
            torch.testing.assert_close(model(ids).logits, expected, rtol=0, atol=0)
    finally:
        model.unload()  # the session fixture's model is shared: leave it without hooks


# ------------------------------------------------------------------------------------------------ recipe flags


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_recipe_takes_base_and_data_from_flags(tmp_path, repo_root):
    """`--model_name_or_path tiny --dataset_name_or_path pairs.jsonl`: the side network is built on the tiny base and
    trained on the file's pairs; the card says `library_name: hf-methods` (peft cannot load a QST side network)."""
    import runpy

    data = _write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": f"{i} + 1 =", "answer": str(i + 1)} for i in range(8)])
    recipe = runpy.run_path(str(repo_root / "recipes" / "qst.py"), run_name="qst_recipe")
    out = tmp_path / "out"
    argv = ["--model_name_or_path", "tiny", "--dataset_name_or_path", data, "--n_eval", "2", "--batch_size", "2"]
    metrics = recipe["main"]([*argv, "--max_steps", "2", "--reduction_factor", "4", "--output_dir", out])
    assert set(metrics) == {"eval/answer_loss"}  # no word-problem exact match on a user's data
    config = json.loads((out / "qst_config.json").read_text())
    assert config["base_model_name_or_path"] == "tiny" and config["base_config"]["hidden_size"] == 64
    card = (out / "README.md").read_text()
    assert "library_name: hf-methods" in card and "library_name: peft" not in card
    fields = recipe["QSTArguments"].__dataclass_fields__
    assert fields["cpu_threads"].default == 0 and "threads" not in fields  # the shared flag, no own default
