"""Tests of P09 `hydra`: draft-head math against plain loops, tree verification against sequential decoding, the
lossless guarantee (token-for-token equal to greedy `generate()`) for every head kind, bad inputs, heads saved without
their base's weights, distilled data kept out of the Hub-ready folder, and trust in draft-heads repositories."""

import json
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from hf_methods.common.tiny import tiny_llama
from hf_methods.generation.hydra import HEAD_KINDS as KINDS
from hf_methods.generation.hydra import HydraConfig, HydraForCausalLM, HydraHeads, HydraTree, default_tree
from hf_methods.generation.hydra import generation_hydra as gen
from hf_methods.generation.hydra.generation_hydra import hydra_generate
from hf_methods.generation.hydra.training import (
    HydraArguments,
    base_hidden_states,
    decode_prompts,
    make_optimizer,
    make_scheduler,
    self_distill,
    train_heads,
)
from hf_methods.harness.recipe import parse_recipe_args

TREE = [[0], [1], [2], [0, 0], [1, 0], [1, 1], [0, 0, 0], [1, 0, 0]]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # two threads on a shared, oversubscribed 2-core machine are many times slower than one; restored afterwards
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def base():
    model = tiny_llama(seed=0)
    model.generation_config.pad_token_id = 0
    return model


def noisy_heads(base, kind, num_heads=3, seed=0, **kwargs):
    """Heads built on `base` whose trunks are perturbed, so they propose varied (mostly wrong) candidates."""
    torch.manual_seed(seed)
    heads = HydraHeads.from_base(base, head_kind=kind, num_heads=num_heads, **kwargs)
    with torch.no_grad():
        for name, p in heads.named_parameters():
            if name.startswith("heads."):
                p.add_(torch.randn_like(p) * 0.2)
    return heads.eval()


def prompts(n=3, length=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, 259, (1, length), generator=g) for _ in range(n)]


def greedy(base, ids, **kwargs):
    return base.generate(ids, do_sample=False, **kwargs)


# ----------------------------------------------------------------------------------------------------------- trees
def test_default_tree_is_prefix_closed_and_sized():
    for k, size in [(1, 3), (3, 16), (4, 40)]:
        tree = default_tree(k, size)
        assert len(tree) == size and max(map(len, tree)) <= k
        paths = {tuple(p) for p in tree}
        assert all(p[:-1] in paths for p in paths if len(p) > 1)
    assert [0] in default_tree(3, 1)


def test_tree_buffers_match_the_paths():
    tree = HydraTree(TREE, num_heads=3)
    assert tree.num_nodes == len(TREE) + 1
    for i, line in enumerate(tree.lineage):
        path = () if i == 0 else tree.paths[i - 1]
        assert len(line) == len(path) + 1 and int(tree.depth[i]) == len(path)
        # node j is an ancestor of i exactly when j's path is a prefix of i's path
        for j in range(tree.num_nodes):
            other = () if j == 0 else tree.paths[j - 1]
            assert bool(tree.ancestors[i, j]) == (path[: len(other)] == other)


def test_tree_verification_equals_sequential_paths(base):
    """One forward over the tree with the 4D mask gives, at every node, the logits of decoding its path alone."""
    from transformers import DynamicCache

    tree = HydraTree(TREE, num_heads=3)
    prompt = prompts(1)[0]
    tokens = torch.randint(3, 259, (tree.num_nodes,), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        cache = DynamicCache(config=base.config)
        base(input_ids=prompt, cache=cache, use_cache=True)
        past = prompt.shape[1]
        out = base(
            input_ids=tokens[None],
            cache=cache,
            use_cache=True,
            logits_to_keep=0,
            attention_mask=tree.mask(past, base.dtype, "cpu"),
            position_ids=(past + tree.depth)[None],
        )
        for i, line in enumerate(tree.lineage):
            sequence = torch.cat([prompt[0], tokens[line]])[None]
            reference = base(input_ids=sequence).logits[0, -1]
            torch.testing.assert_close(out.logits[0, i], reference, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------- heads
@pytest.mark.parametrize("kind", KINDS)
def test_head_logits_and_losses_match_a_plain_loop(base, kind):
    heads = noisy_heads(base, kind, num_heads=2)
    g = torch.Generator().manual_seed(0)
    B, T, d = 2, 7, base.config.hidden_size
    hidden = torch.randn(B, T, d, generator=g)
    ids = torch.randint(0, 259, (B, T), generator=g)
    labels = ids.clone()
    labels[0, :3] = -100
    teacher = torch.randn(B, T, 259, generator=g)
    with torch.no_grad():
        out = heads(hidden_states=hidden, input_ids=ids, labels=labels, teacher_logits=teacher)
        h = heads.run_prefix_layer(hidden)
        E = heads.embed_tokens.weight if kind != "medusa" else None
        expected_losses = []
        for k in range(2):
            ce, soft, n = 0.0, 0.0, 0
            for b in range(B):
                for t in range(T):
                    if kind == "medusa":
                        x = h[b, t]
                    else:  # [h_t, E(x_{t+1}), ..., E(x_{t+k+1})], zeros past the end
                        x = torch.cat(
                            [h[b, t]] + [E[ids[b, t + j]] if t + j < T else torch.zeros(d) for j in range(1, k + 2)]
                        )
                    z = heads.head_logits(k, x)
                    torch.testing.assert_close(out.logits[b, k, t], z, rtol=1e-5, atol=1e-5)
                    if t + k + 2 < T and labels[b, t + k + 2] != -100:
                        n += 1
                        ce += F.cross_entropy(z[None], labels[b, t + k + 2][None]).item()
                        p = teacher[b, t + k + 1].softmax(-1)
                        soft += -(p * z.log_softmax(-1)).sum().item()
            cfg = heads.config
            expected_losses.append((cfg.lm_loss_weight * ce + cfg.teacher_loss_weight * soft) / n)
    torch.testing.assert_close(out.head_losses, torch.tensor(expected_losses), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.loss, torch.tensor(expected_losses).sum(), rtol=1e-4, atol=1e-5)


def test_kind_defaults_follow_the_official_recipes():
    plus = HydraConfig(hidden_size=64, vocab_size=100, head_kind="hydra++")
    assert (plus.num_layers, plus.dropout, plus.lm_loss_weight, plus.teacher_loss_weight) == (4, 0.2, 0.0, 1.0)
    medusa = HydraConfig(hidden_size=64, vocab_size=100, head_kind="medusa")
    assert (medusa.num_layers, medusa.dropout, medusa.lm_head_bias) == (1, 0.0, False)


def test_heads_start_as_the_base_lm_head(base):
    """ResBlocks start as the identity on h (Hydra: its residual Linear starts as [I, 0, ...]): every head's
    initial prediction is the base lm_head on h_t."""
    for kind in ("medusa", "hydra"):
        heads = HydraHeads.from_base(base, head_kind=kind, num_heads=2).eval()
        hidden = torch.randn(1, 5, 64)
        with torch.no_grad():
            out = heads(hidden_states=hidden, input_ids=torch.randint(0, 259, (1, 5)))
            torch.testing.assert_close(out.logits[:, 1], base.lm_head(hidden), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------- lossless
@pytest.mark.parametrize("kind", KINDS)
def test_greedy_tree_decoding_is_lossless(base, kind):
    heads = noisy_heads(base, kind)
    for ids in prompts():
        stats = {}
        out = base.generate(
            ids, do_sample=False, max_new_tokens=16, custom_generate=hydra_generate, draft_heads=heads, stats=stats
        )
        assert torch.equal(out, greedy(base, ids, max_new_tokens=16))
        assert stats["new_tokens"] == 16 and stats["base_forwards"] <= 16


def install_oracle(monkeypatch, reference, tree_choices=TREE, branch_path=(1, 0, 0)):
    """Makes `propose` write the true greedy continuation `reference` on the branch `branch_path` (not the first
    child), so that rounds accept several candidates through non-contiguous tree positions."""
    tree = HydraTree(tree_choices, num_heads=len(branch_path))
    branch = tree.lineage[1 + tree.paths.index(tuple(branch_path))]
    real_propose = gen.propose

    def oracle(heads, tree_, h, root):
        tokens = real_propose(heads, tree_, h, root)
        length = root.storage_offset() + 1  # root is a view of the last token of the running sequence
        for depth, node in enumerate(branch[1:], start=0):
            if length + depth < reference.shape[0]:
                tokens[node] = reference[length + depth]
        return tokens

    monkeypatch.setattr(gen, "propose", oracle)


@pytest.mark.parametrize("kind", KINDS)
def test_long_accepted_paths_compact_the_cache_correctly(base, kind, monkeypatch):
    """With an oracle on the branch [1, 0, 0], rounds accept 3 candidates and the output stays equal to greedy."""
    ids = prompts(1)[0]
    reference = greedy(base, ids, max_new_tokens=20)[0]
    install_oracle(monkeypatch, reference)
    stats = {}
    out = base.generate(
        ids,
        do_sample=False,
        max_new_tokens=20,
        custom_generate=hydra_generate,
        draft_heads=noisy_heads(base, kind),
        tree_choices=TREE,
        stats=stats,
    )
    assert torch.equal(out[0], reference)
    assert max(stats["accepted"]) == 3 and stats["tokens_per_forward"] > 3


def test_eos_max_length_and_logits_processors_are_honoured(base):
    heads = noisy_heads(base, "hydra")
    ids = prompts(1, seed=3)[0]
    ref = greedy(base, ids, max_new_tokens=12)
    eos = int(ref[0, ids.shape[1] + 4])  # a token greedy decoding emits: generation must stop right after it
    for kwargs in (
        {"eos_token_id": eos, "max_new_tokens": 12},
        {"max_length": ids.shape[1] + 5},
        {"repetition_penalty": 1.5, "max_new_tokens": 12},
        {"min_new_tokens": 8, "eos_token_id": eos, "max_new_tokens": 12},
    ):
        out = base.generate(ids, do_sample=False, custom_generate=hydra_generate, draft_heads=heads, **kwargs)
        assert torch.equal(out, greedy(base, ids, **kwargs)), kwargs


def test_left_padded_prompt(base):
    heads = noisy_heads(base, "medusa")
    ids = torch.cat([torch.zeros(1, 3, dtype=torch.long), prompts(1)[0]], dim=1)
    mask = (ids != 0).long()
    out = base.generate(
        ids, attention_mask=mask, do_sample=False, max_new_tokens=10, custom_generate=hydra_generate, draft_heads=heads
    )
    ref = base.generate(ids[:, 3:], do_sample=False, max_new_tokens=10)
    assert torch.equal(out[:, 3:], ref) and torch.equal(out[:, :3], ids[:, :3])


def test_hydra_for_causal_lm_generate_is_greedy(base, tmp_path):
    model = HydraForCausalLM(base, noisy_heads(base, "hydra++"), tree_choices=default_tree(3, 8))
    ids = prompts(1)[0]
    assert torch.equal(model.generate(ids, max_new_tokens=10, do_sample=False), greedy(base, ids, max_new_tokens=10))
    model.save_pretrained(tmp_path)
    reloaded = HydraForCausalLM.from_pretrained(base, tmp_path)
    for a, b in zip(model.heads.state_dict().values(), reloaded.heads.state_dict().values()):
        assert torch.equal(a, b)


def test_saved_heads_carry_their_custom_generate(base, tmp_path):
    heads = noisy_heads(base, "hydra")
    heads.save_pretrained(tmp_path)
    assert (tmp_path / "custom_generate" / "generate.py").exists()
    ids = prompts(1)[0]
    out = base.generate(
        ids,
        custom_generate=str(tmp_path),
        trust_remote_code=True,
        draft_heads=str(tmp_path),  # the heads load from the same folder, through their remote code
        max_new_tokens=8,
        do_sample=False,
    )
    assert torch.equal(out, greedy(base, ids, max_new_tokens=8))


def test_typical_acceptance_rule_and_decoding(base):
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    entropy = -(probs * probs.log()).sum()
    threshold = min(0.09, 0.3 * torch.exp(-entropy).item())
    assert gen._typical_mask(probs, 0.09, 0.3).tolist() == [[p > threshold for p in probs[0].tolist()]]
    heads = noisy_heads(base, "hydra", acceptance="typical")
    ids = prompts(1)[0]
    torch.manual_seed(0)
    out = base.generate(
        ids, do_sample=True, temperature=0.7, max_new_tokens=10, custom_generate=hydra_generate, draft_heads=heads
    )
    assert out.shape == (1, ids.shape[1] + 10) and torch.equal(out[:, : ids.shape[1]], ids)


# ----------------------------------------------------------------------------------------------------------- saving
@pytest.fixture(scope="module")
def named_base(tmp_path_factory):
    """A tiny base loaded from a folder (so heads built on it record where it lives), with tied embeddings like
    SmolLM2: its input embedding and lm_head are one tensor."""
    folder = tmp_path_factory.mktemp("named-base")
    tiny_llama(seed=1, tie_word_embeddings=True).save_pretrained(folder)
    model = type(tiny_llama()).from_pretrained(folder).eval()
    model.generation_config.pad_token_id = 0
    return model


def saved_keys(folder):
    from safetensors import safe_open

    with safe_open(str(Path(folder) / "model.safetensors"), "pt") as f:
        return set(f.keys())


def test_heads_are_saved_without_the_base_weights_and_tied_back_on_load(named_base, tmp_path):
    base = named_base
    heads = noisy_heads(base, "hydra", share_lm_head=True)
    assert heads.config.base_model_name_or_path == base.config._name_or_path
    heads.save_pretrained(tmp_path / "heads")
    assert not {"embed_tokens.weight", "lm_head.weight"} & saved_keys(tmp_path / "heads")

    # on the base: E and lm_head read the base's own tensors (no copy, frozen); everything else is what was saved
    tied = HydraHeads.from_pretrained(tmp_path / "heads", base_model=base)
    assert tied.embed_tokens.weight.data_ptr() == base.get_input_embeddings().weight.data_ptr()
    assert tied.lm_head.weight.data_ptr() == base.lm_head.weight.data_ptr()
    assert not tied.embed_tokens.weight.requires_grad and not tied.lm_head.weight.requires_grad
    for (n1, t1), (n2, t2) in zip(heads.state_dict().items(), tied.state_dict().items()):
        assert n1 == n2 and torch.equal(t1, t2), n1

    # without the base: unusable on their own (a clear error), tied to the model they decode with
    loose = HydraHeads.from_pretrained(tmp_path / "heads")
    assert loose.needs_base_weights
    with pytest.raises(ValueError, match="base_model=base"):
        loose(hidden_states=torch.randn(1, 4, 64), input_ids=torch.zeros(1, 4, dtype=torch.long))
    ids = prompts(1)[0]
    out = base.generate(ids, do_sample=False, max_new_tokens=8, custom_generate=hydra_generate, draft_heads=loose)
    assert torch.equal(out, greedy(base, ids, max_new_tokens=8)) and not loose.needs_base_weights
    assert torch.equal(loose.embed_tokens.weight, heads.embed_tokens.weight)
    # or resolved from the recorded name
    resolved = HydraHeads.from_pretrained(tmp_path / "heads").tie_to_base()
    assert torch.equal(resolved.lm_head.weight, heads.lm_head.weight)
    model = HydraForCausalLM.from_pretrained(None, tmp_path / "heads")
    assert torch.equal(model.generate(ids, do_sample=False, max_new_tokens=8), out)

    # the option keeps the copies: standalone heads (shared memory with the base is written as copies)
    tied.config.save_base_weights = True
    tied.save_pretrained(tmp_path / "standalone")
    assert {"embed_tokens.weight", "lm_head.weight"} <= saved_keys(tmp_path / "standalone")
    alone = HydraHeads.from_pretrained(tmp_path / "standalone")
    assert not alone.needs_base_weights
    for (n1, t1), (n2, t2) in zip(heads.state_dict().items(), alone.state_dict().items()):
        assert n1 == n2 and torch.equal(t1, t2), n1
    saved = {name: (tmp_path / name / "model.safetensors").stat().st_size for name in ("heads", "standalone")}
    assert saved["standalone"] - saved["heads"] >= 2 * 259 * 64 * 4  # two fp32 (V, d) tensors


def test_distilled_data_stays_out_of_what_push_uploads(named_base, tmp_path):
    """The recipe's distilled data lands next to the training state, which `push_folder` leaves out; the prompts come
    from `--dataset_name_or_path` when it is given."""
    from huggingface_hub.utils import filter_repo_objects

    from hf_methods.common.tiny import byte_tokenizer
    from hf_methods.hub.push import DEFAULT_IGNORE_PATTERNS

    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": f"line {i}: the quick brown fox"}) + "\n" for i in range(5)))
    out = tmp_path / "out"
    argv = ["--output_dir", out, "--model_name_or_path", "tiny", "--dataset_name_or_path", texts]
    argv += ["--n_sequences", "4", "--n_eval", "1", "--prompt_tokens", "6", "--new_tokens", "3"]
    args = parse_recipe_args(HydraArguments, argv, slug="hydra")
    tokenizer = byte_tokenizer()
    dataset = self_distill(args, named_base, tokenizer)
    assert len(dataset) == 4 and dataset[0]["input_ids"][:6] == tokenizer("line 0", add_special_tokens=False).input_ids
    noisy_heads(named_base, "hydra").save_pretrained(out)
    files = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
    data = [f for f in files if f.startswith(args.distilled_data_dir.relative_to(out).as_posix())]
    pushed = list(filter_repo_objects(files, ignore_patterns=list(DEFAULT_IGNORE_PATTERNS)))
    assert data and "config.json" in pushed and "model.safetensors" in pushed
    assert not set(data) & set(pushed)


def test_self_distillation_resumes_after_an_interruption(named_base, tmp_path):
    """A self-distillation stopped after its first batch keeps that batch and finishes to the uninterrupted data."""
    from hf_methods.common.tiny import byte_tokenizer

    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": f"line {i}: the quick brown fox"}) + "\n" for i in range(6)))
    argv = ["--output_dir", tmp_path / "out", "--model_name_or_path", "tiny", "--dataset_name_or_path", texts]
    argv += [
        "--n_sequences",
        "6",
        "--n_eval",
        "1",
        "--prompt_tokens",
        "6",
        "--new_tokens",
        "3",
        "--gen_batch_size",
        "2",
    ]
    args = parse_recipe_args(HydraArguments, argv, slug="hydra")
    tokenizer = byte_tokenizer()
    reference = self_distill(args, named_base, tokenizer, data_dir=tmp_path / "reference")

    calls = {"n": 0}
    generate = named_base.generate

    def failing_generate(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return generate(*a, **k)

    named_base.generate = failing_generate
    try:
        with pytest.raises(KeyboardInterrupt):
            self_distill(args, named_base, tokenizer, data_dir=tmp_path / "resumed")
    finally:
        named_base.generate = generate
    kept = list((tmp_path / "resumed").glob("parts-*/*.safetensors"))
    assert len(kept) == 1  # the first batch survived
    resumed = self_distill(args, named_base, tokenizer, data_dir=tmp_path / "resumed")
    assert resumed["input_ids"] == reference["input_ids"] and resumed["labels"] == reference["labels"]
    assert not list((tmp_path / "resumed").glob("parts-*"))  # cleaned up once the dataset is written


def test_draft_heads_repo_with_code_is_refused_unless_trusted(base, tmp_path):
    """`trust_remote_code=True` given to `generate` runs the heads' own `custom_generate/generate.py`; a `draft_heads`
    repository whose code must run is refused unless the user trusts it too."""
    heads = noisy_heads(base, "medusa")
    heads.save_pretrained(tmp_path / "heads")
    other = tmp_path / "other"
    other.mkdir()
    ran = tmp_path / "other-code-ran"
    auto_map = {"AutoConfig": "other_code.OtherConfig", "AutoModel": "other_code.OtherModel"}
    (other / "config.json").write_text(json.dumps({"model_type": "not-registered-heads", "auto_map": auto_map}))
    (other / "other_code.py").write_text(
        f"from pathlib import Path\nPath({str(ran)!r}).write_text('ran')\nraise RuntimeError('repository code ran')\n"
    )
    ids = prompts(1)[0]
    kwargs = dict(custom_generate=str(tmp_path / "heads"), trust_remote_code=True, max_new_tokens=4, do_sample=False)
    with pytest.raises(ValueError, match="draft_heads_trust_remote_code"):
        base.generate(ids, draft_heads=str(other), **kwargs)
    assert not ran.exists()
    with pytest.raises(RuntimeError, match="repository code ran"):  # the user's own decision
        base.generate(ids, draft_heads=str(other), draft_heads_trust_remote_code=True, **kwargs)
    assert ran.exists()


# ----------------------------------------------------------------------------------------------------------- bad input
def test_bad_generate_inputs(base):
    heads = noisy_heads(base, "hydra")
    ids = prompts(1)[0]
    with pytest.raises(ValueError, match="batch size 1"):
        base.generate(ids.repeat(2, 1), custom_generate=hydra_generate, draft_heads=heads, max_new_tokens=4)
    with pytest.raises(TypeError, match="draft_heads"):
        base.generate(ids, custom_generate=hydra_generate, draft_heads=None, max_new_tokens=4)
    with pytest.raises(ValueError, match="tree_choices"):
        base.generate(
            ids,
            custom_generate=hydra_generate,
            draft_heads=heads,
            tree_choices=[[0], [0, 0], [0, 0, 0], [0, 0, 0, 0]],
            max_new_tokens=4,
        )
    with pytest.raises(ValueError, match="do_sample"):
        base.generate(ids, custom_generate=hydra_generate, draft_heads=heads, do_sample=True, max_new_tokens=4)
    with pytest.raises(ValueError, match="acceptance"):
        base.generate(ids, custom_generate=hydra_generate, draft_heads=heads, acceptance="best", max_new_tokens=4)
    other = HydraHeads(HydraConfig(hidden_size=32, vocab_size=259, head_kind="medusa", num_heads=2))
    with pytest.raises(ValueError, match="hidden size"):
        base.generate(ids, custom_generate=hydra_generate, draft_heads=other, max_new_tokens=4)


def test_bad_forward_inputs(base):
    heads = noisy_heads(base, "hydra")
    with pytest.raises(ValueError, match="hidden_states"):
        heads(hidden_states=torch.randn(1, 5, 32), input_ids=torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="input_ids"):
        heads(hidden_states=torch.randn(1, 5, 64))
    with pytest.raises(ValueError, match="labels"):
        heads(
            hidden_states=torch.randn(1, 5, 64),
            input_ids=torch.zeros(1, 5, dtype=torch.long),
            labels=torch.zeros(1, 4, dtype=torch.long),
        )
    plus = HydraHeads.from_base(base, head_kind="hydra++", num_heads=2)
    with pytest.raises(ValueError, match="teacher_logits"):
        plus(
            hidden_states=torch.randn(1, 5, 64),
            input_ids=torch.zeros(1, 5, dtype=torch.long),
            labels=torch.zeros(1, 5, dtype=torch.long),
        )


def test_bad_construction(base):
    with pytest.raises(TypeError, match="heads"):
        HydraForCausalLM(base, torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="hidden_size"):
        HydraHeads.from_base(base, hidden_size=32)
    with pytest.raises(ValueError, match="lm_loss_weight"):
        HydraConfig(lm_loss_weight=0.0, teacher_loss_weight=0.0)
    with pytest.raises(ValueError, match="tree_choices"):
        HydraConfig(num_heads=2, tree_choices=[[0], [0, 0], [0, 0, 0]])


# ----------------------------------------------------------------------------------------------------------- training
def test_arguments_build_the_heads_in_one_call(base, tmp_path):
    args = HydraArguments(output_dir=str(tmp_path), head_kind="hydra++", num_heads=2, share_lm_head=False)
    args.validate()
    # the shared flags name the base and the data; no recipe-specific base or thread flags
    names = {f.name for f in fields(HydraArguments)}
    assert {"model_name_or_path", "dataset_name_or_path", "cpu_threads"} <= names
    assert not names & {"base_model", "backbone", "threads", "num_threads"}
    assert HydraArguments().cpu_threads == 0 and HydraArguments().model_name_or_path == "smollm2-135m-instruct"
    with pytest.raises(ValueError, match="--base_model"):
        parse_recipe_args(HydraArguments, ["--base_model", "tiny", "--output_dir", tmp_path / "x"], slug="hydra")
    heads = HydraHeads.from_base(base, **args.heads_kwargs())
    config = heads.config
    assert (config.head_kind, config.num_heads, config.num_layers, config.share_lm_head) == ("hydra++", 2, 4, False)
    assert args.resolved_weight_decay == 0.1 and HydraArguments(head_kind="medusa").resolved_weight_decay == 0.0
    # the head kind (and every head field) is validated by HydraConfig alone
    with pytest.raises(ValueError, match="head_kind"):
        HydraArguments(output_dir=str(tmp_path), head_kind="eagle").validate()
    with pytest.raises(ValueError, match="num_heads"):
        HydraArguments(output_dir=str(tmp_path), num_heads=0).validate()


def test_schedule_is_warmup_then_cosine():
    optimizer = make_optimizer(torch.nn.Linear(2, 2), learning_rate=1e-2, weight_decay=0.0)
    scheduler = make_scheduler(optimizer, max_steps=20, warmup_steps=4)
    lrs = []
    for _ in range(20):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    import math

    expected = [1e-2 * s / 4 if s < 4 else 1e-2 * 0.5 * (1 + math.cos(math.pi * (s - 4) / 16)) for s in range(20)]
    assert lrs == pytest.approx(expected, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("kind", ["medusa", "hydra"])
def test_train_heads_learns_a_deterministic_language(base, kind):
    """On sequences x_{t+1} = x_t + 1, every head can be exact: a short training run cuts the loss several-fold and
    tree decoding then stays lossless."""
    starts = torch.randint(3, 200, (32, 1), generator=torch.Generator().manual_seed(0))
    ids = starts + torch.arange(12)
    hidden = base_hidden_states(base, ids)
    torch.manual_seed(0)
    heads = HydraHeads.from_base(base, head_kind=kind, num_heads=2, share_lm_head=False)
    losses = train_heads(
        heads, base.lm_head, ids, hidden, steps=40, batch_size=8, learning_rate=1e-2, warmup_steps=2, seed=0
    )
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    assert not heads.training
    rows = decode_prompts(base, heads, prompts(2), max_new_tokens=8)
    assert all(rows["lossless"]) and len(rows["tau"]) == 2 and all(t >= 1.0 for t in rows["tau"])
    assert all(s > 0 for s in rows["hydra_s"]) and len(rows["greedy"][0]) == 6 + 8


@pytest.mark.assets
@pytest.mark.slow
def test_recipe_runs_and_resumes_bit_exactly(tmp_path):
    """The recipe end to end on a tiny base (self-distillation, training, evaluation, output folder), and a run
    resumed from its mid-way checkpoint (optimizer, scheduler, data order) ends with the same weights."""
    import os
    import subprocess
    import sys

    from safetensors.torch import load_file

    from hf_methods.common.tiny import byte_tokenizer

    root = Path(__file__).resolve().parents[2]

    def main(argv):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        proc = subprocess.run(
            [sys.executable, "recipes/hydra.py", *argv], cwd=root, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, f"recipes/hydra.py failed:\n{(proc.stdout + proc.stderr)[-4000:]}"
        return json.loads((out / "metrics.json").read_text())["metrics"], proc.stdout + proc.stderr

    tiny_llama(seed=0).save_pretrained(tmp_path / "base")
    byte_tokenizer().save_pretrained(tmp_path / "base")
    out = tmp_path / "out"
    argv = ["--model_name_or_path", str(tmp_path / "base"), "--output_dir", str(out), "--head_kind", "hydra++"]
    argv += ["--num_heads", "2", "--max_steps", "4", "--checkpoint_every", "2", "--n_sequences", "6", "--n_eval", "2"]
    argv += ["--prompt_tokens", "8", "--new_tokens", "8", "--eval_prompts", "1", "--eval_new_tokens", "6"]
    metrics, _ = main(argv)
    assert metrics["eval/lossless"] == 1.0 and metrics["eval/tokens_per_forward"] >= 1.0
    first = load_file(out / "model.safetensors")
    # the heads reference their base (not saved: embedding, shared lm_head); the distilled data is training state
    assert json.loads((out / "config.json").read_text())["base_model_name_or_path"] == str(tmp_path / "base")
    assert "embed_tokens.weight" not in first and "lm_head.weight" not in first
    assert (out / "checkpoints" / "distilled-data" / "settings.json").is_file() and not (out / "data").exists()
    checkpoints = sorted(p for p in (out / "checkpoints").iterdir() if p.name.startswith("checkpoint_"))
    _, log = main(argv + ["--resume_from_checkpoint", str(checkpoints[0])])
    assert "at step 2" in log  # it did resume mid-way (a fresh run would also end with equal weights)
    second = load_file(out / "model.safetensors")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)

    # a real push (an in-memory Hub over HTTP) uploads the heads, not the distilled data or the training state
    from tests.hub.fake_hub import FakeHub
    from tests.hub.test_push import hub_env, run_push

    with FakeHub(token="hf_hydra_test") as hub:
        push = run_push(out, "zoo/hydra", hub_env(hub, tmp_path / "hf_home", token="hf_hydra_test"))
        assert push.returncode == 0, push.stdout + push.stderr
        pushed = set(hub.files("zoo/hydra"))
    assert {"config.json", "model.safetensors", "custom_generate/generate.py"} <= pushed
    assert not [p for p in pushed if p.startswith(("checkpoints/", "logs/")) or "distilled" in p]


# ----------------------------------------------------------------------------------------------------------- SmolLM2
@pytest.mark.assets
@pytest.mark.parametrize(
    "kind", [pytest.param("medusa", marks=pytest.mark.slow), pytest.param("hydra", marks=pytest.mark.slow), "hydra++"]
)
def test_lossless_on_smollm2(smollm2, kind, monkeypatch):
    """Untrained heads fill the tree (their candidates are rejected) except an oracle branch, so rounds accept 3
    candidates (Hydra++'s prefix cache grows by several tokens a round): the output equals plain greedy decoding."""
    model, tokenizer = smollm2
    heads = noisy_heads(model, kind, num_heads=3, share_lm_head=True)
    text = {"medusa": "The capital of France is", "hydra": "def fibonacci(n):", "hydra++": "Once upon a time"}[kind]
    ids = tokenizer(text, return_tensors="pt").input_ids
    reference = model.generate(ids, do_sample=False, max_new_tokens=9)
    kwargs = dict(
        do_sample=False, max_new_tokens=9, custom_generate=hydra_generate, draft_heads=heads, tree_choices=TREE
    )
    install_oracle(monkeypatch, reference[0])
    stats = {}
    assert torch.equal(model.generate(ids, stats=stats, **kwargs), reference)
    assert stats["tokens_per_forward"] >= 3
