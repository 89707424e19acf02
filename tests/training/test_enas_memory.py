"""P47 `enas_memory`: the controller against the LSTM and softmax equations written out, REINFORCE and the
memory-buffer terms against their formulas, the cell against its equation, the probe against a plain rank
correlation, the search, the Trainer with checkpoints, the recipe, and one clear error per bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hf_methods.training.enas_memory import (
    ENASCellConfig,
    ENASCellForImageClassification,
    ENASConfig,
    ENASController,
    ENASSearch,
    ENASSupernet,
    MemoryBuffer,
    MemoryReconstructionLoss,
    architecture_distance,
    decode_architecture,
    hidden_state_graph_correlation,
    reinforce_loss,
    uniform_architectures,
)
from hf_methods.training.enas_memory.analysis import pairwise_distances
from hf_methods.training.enas_memory.controller import decision_sizes
from hf_methods.training.enas_memory.modeling import loose_ends

OPS = ["tanh", "relu", "identity"]


def _controller(seed=0, **kwargs):
    torch.manual_seed(seed)
    return ENASController(ENASConfig(num_nodes=4, ops=OPS, hidden_size=16, **kwargs))


def _supernet(seed=0, width=8):
    torch.manual_seed(seed)
    return ENASSupernet(ENASCellConfig(input_size=6, num_labels=3, num_nodes=4, ops=OPS, cell_width=width))


def _data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


# ------------------------------------------------------------------------------------------------------ search space


def test_search_space_layout():
    assert decision_sizes(4, 3) == [3, 1, 3, 2, 3, 3, 3]
    inputs, ops = decode_architecture([2, 0, 1, 1, 0, 0, 2], 4)
    assert inputs == [-1, 0, 1, 0] and ops == [2, 1, 0, 2]
    assert loose_ends(inputs) == [2, 3]  # nodes 0 and 1 are read by later nodes
    a, b = torch.tensor([2, 0, 1, 1, 0, 0, 2]), torch.tensor([2, 0, 0, 1, 0, 1, 2])
    assert architecture_distance(a, b).item() == 2


# ------------------------------------------------------------------------------------------------------ controller


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def reference_log_probs(controller: ENASController, decisions: list[int]) -> tuple[list[float], np.ndarray]:
    """log π(a_t | a_<t) of one architecture and h_T, from the LSTM and softmax equations in float64 numpy."""
    p = {k: v.detach().double().numpy() for k, v in controller.state_dict().items()}
    cfg = controller.config
    x = p["start"]
    h = c = np.zeros(cfg.hidden_size)
    out = []
    for t, a_t in enumerate(decisions + [None]):
        gates = p["lstm.weight_ih"] @ x + p["lstm.bias_ih"] + p["lstm.weight_hh"] @ h + p["lstm.bias_hh"]
        i, f, g, o = np.split(gates, 4)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        if a_t is None:
            break
        z = p[f"decoders.{t}.weight"] @ h + p[f"decoders.{t}.bias"]
        z = cfg.tanh_constant * np.tanh(z / cfg.softmax_temperature)
        out.append(float(z[a_t] - (z.max() + math.log(np.exp(z - z.max()).sum()))))
        x = p[f"embeddings.{t}.weight"][a_t]
    return out, h


def test_controller_matches_the_lstm_equations():
    controller = _controller().double()
    decisions = [[2, 0, 1, 1, 0, 0, 2], [0, 0, 2, 0, 1, 2, 1]]
    out = controller(decisions=torch.tensor(decisions))
    for row, arch in enumerate(decisions):
        log_probs, h_final = reference_log_probs(controller, arch)
        torch.testing.assert_close(
            out.log_probs[row], torch.tensor(log_probs, dtype=torch.float64), atol=1e-10, rtol=0
        )
        torch.testing.assert_close(out.final_hidden_state[row], torch.from_numpy(h_final), atol=1e-10, rtol=0)
    assert out.log_prob.shape == (2,) and torch.allclose(out.log_prob, out.log_probs.sum(1))


def test_replay_gives_the_recorded_log_probabilities():
    """Teacher-forced replay of sampled decisions reproduces the log-probabilities recorded while sampling."""
    controller = _controller(seed=1)
    sampled = controller.sample(32, generator=torch.Generator().manual_seed(0))
    replayed = controller(decisions=sampled.decisions)
    assert torch.equal(replayed.decisions, sampled.decisions)
    torch.testing.assert_close(replayed.log_probs, sampled.log_probs, atol=1e-6, rtol=0)  # same kernels, fp32
    torch.testing.assert_close(replayed.final_hidden_state, sampled.final_hidden_state, atol=1e-6, rtol=0)


def test_sampling_follows_the_policy():
    controller = _controller(seed=2, softmax_temperature=0.5)  # a peaked first decision
    sampled = controller.sample(4000, generator=torch.Generator().manual_seed(0))
    log_probs = sampled.log_probs[0, 0]  # decision 0 has the same distribution for every sample
    probs = torch.softmax(controller._logits(0, controller.lstm(controller.start[None])[0]), -1)[0].detach()
    freq = torch.bincount(sampled.decisions[:, 0], minlength=3).float() / 4000
    assert (freq - probs).abs().max() < 0.03, (freq, probs)
    torch.testing.assert_close(log_probs, probs[sampled.decisions[0, 0]].log(), atol=1e-6, rtol=0)


def test_uniform_architectures_cover_the_space():
    arch = uniform_architectures(3000, decision_sizes(4, 3), torch.Generator().manual_seed(0))
    for t, k in enumerate(decision_sizes(4, 3)):
        freq = torch.bincount(arch[:, t], minlength=k).float() / 3000
        assert (freq - 1 / k).abs().max() < 0.04


# ------------------------------------------------------------------------------------------------------ objectives


def test_reinforce_loss_and_its_gradient():
    log_prob = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    entropy = torch.tensor([0.7, 0.2, 1.1], requires_grad=True)
    rewards, b, beta = torch.tensor([0.9, 0.5, 0.7]), 0.6, 0.1
    loss = reinforce_loss(log_prob, rewards, b, entropy, entropy_weight=beta, reduction="none")
    expected = [-(r - b) * lp - beta * h for r, lp, h in zip([0.9, 0.5, 0.7], [-1.0, -2.0, -0.5], [0.7, 0.2, 1.1])]
    torch.testing.assert_close(loss, torch.tensor(expected))
    reinforce_loss(log_prob, rewards, b, entropy, entropy_weight=beta).backward()
    # ∇ log π gets −(R − b)/n; ∇ H gets −β/n; the rewards and the baseline carry no gradient
    torch.testing.assert_close(log_prob.grad, -(rewards - b) / 3)
    torch.testing.assert_close(entropy.grad, torch.full((3,), -beta / 3))


def test_reconstruction_loss_matches_a_loop():
    sizes = [3, 1, 3, 2, 3]
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, sum(sizes), generator=g, dtype=torch.float64)
    decisions = torch.stack([torch.randint(0, k, (4,), generator=g) for k in sizes], 1)
    loss = MemoryReconstructionLoss(sizes, reduction="none")(logits, decisions)
    for b in range(4):
        total, offset = 0.0, 0
        for t, k in enumerate(sizes):
            z = logits[b, offset : offset + k].tolist()
            total += -(z[decisions[b, t]] - math.log(sum(math.exp(v) for v in z)))
            offset += k
        assert loss[b].item() == pytest.approx(total, abs=1e-12)


def test_memory_buffer_is_first_in_first_out_and_checkpointed():
    buffer = MemoryBuffer(3, 2)
    for i in range(5):
        buffer.add(torch.tensor([[i, i + 10]]), torch.tensor([float(i)]))
    assert len(buffer) == 3 and sorted(buffer.rewards.tolist()) == [2.0, 3.0, 4.0]
    decisions, rewards = buffer.sample(10, torch.Generator().manual_seed(0))
    assert len(rewards) == 3 and sorted(rewards.tolist()) == [2.0, 3.0, 4.0]  # without replacement, all of them
    assert torch.equal(decisions[:, 1] - decisions[:, 0], torch.full((3,), 10))
    other = MemoryBuffer(3, 2)
    other.load_state_dict(buffer.state_dict())
    assert len(other) == 3 and torch.equal(other.decisions, buffer.decisions)


# ------------------------------------------------------------------------------------------------------ the cell


def test_cell_matches_its_equation_and_extracts_exactly(tmp_path):
    supernet = _supernet()
    arch = [1, 0, 0, 1, 2, 0, 1]  # relu; node1 = tanh(node0); node2 = identity(node1); node3 = relu(node0)
    x, _ = _data(5)
    acts = [torch.tanh, torch.relu, lambda v: v]
    h0 = acts[1](supernet.input_layer(x))
    h1 = acts[0](supernet.edges["0_1"](h0))
    h2 = acts[2](supernet.edges["1_2"](h1))
    h3 = acts[1](supernet.edges["0_3"](h0))
    expected = supernet.classifier((h2 + h3) / 2)  # loose ends: nodes 2 and 3
    out = supernet(pixel_values=x, architecture=arch).logits
    torch.testing.assert_close(out, expected)
    cell = supernet.extract(arch)
    assert isinstance(cell, ENASCellForImageClassification) and cell.config.architecture == arch
    assert torch.equal(cell(pixel_values=x).logits, out)  # the same weights and the same kernels
    cell.save_pretrained(tmp_path)
    loaded = ENASCellForImageClassification.from_pretrained(tmp_path)
    assert torch.equal(loaded(pixel_values=x).logits, out)
    assert sum(p.numel() for p in cell.parameters()) < sum(p.numel() for p in supernet.parameters())


def test_supernet_loss_with_labels():
    supernet = _supernet()
    x, y = _data(7)
    out = supernet(pixel_values=x, labels=y, architecture=[0, 0, 0, 0, 0, 0, 0])
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, y))


# ------------------------------------------------------------------------------------------------------ the probe


def _average_ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def test_probe_is_spearman_over_all_pairs():
    controller = _controller(seed=3)
    result = hidden_state_graph_correlation(controller, n=20, architectures="uniform", seed=4)
    decisions = uniform_architectures(20, controller.decision_sizes, torch.Generator().manual_seed(4))
    with torch.no_grad():
        hidden = controller(decisions=decisions).final_hidden_state.double()
    graph, dist = [], []
    for i in range(20):
        for j in range(i + 1, 20):
            graph.append(sum(int(a != b) for a, b in zip(decisions[i].tolist(), decisions[j].tolist())))
            dist.append(math.sqrt(sum((a - b) ** 2 for a, b in zip(hidden[i].tolist(), hidden[j].tolist()))))
    rg, rd = np.array(_average_ranks(graph)), np.array(_average_ranks(dist))
    rho = float(np.corrcoef(rg, rd)[0, 1])  # Spearman ρ = Pearson correlation of the average ranks
    assert result.spearman_rho == pytest.approx(rho, abs=1e-9)
    assert result.num_pairs == 190 and sum(result.pairs_per_distance) == 190
    g, d = pairwise_distances(decisions, hidden)
    assert g.tolist() == graph


def test_probe_plot(tmp_path):
    from hf_methods.training.enas_memory import plot_hidden_state_graph_correlation

    result = hidden_state_graph_correlation(_controller(), n=10)
    plot_hidden_state_graph_correlation({"ENAS": result}, tmp_path / "probe.png")
    assert (tmp_path / "probe.png").stat().st_size > 0


# ------------------------------------------------------------------------------------------------------ the search


def test_controller_steps_raise_the_probability_of_rewarded_choices():
    search = ENASSearch(_controller(), _supernet(), memory_buffer_size=0, controller_learning_rate=0.1)

    def reward(decisions):  # reward op_0 = 2
        return (decisions[:, 0] == 2).float()

    def p_rewarded():
        out = search.controller(decisions=torch.tensor([[2, 0, 0, 0, 0, 0, 0]]))
        return out.log_probs[0, 0].exp().item()

    before = p_rewarded()
    for _ in range(30):
        search.controller_step(reward)
    assert p_rewarded() > before + 0.2


def test_memory_buffer_training_teaches_the_controller_to_reconstruct():
    search = ENASSearch(_controller(), _supernet(), memory_buffer_size=64, controller_learning_rate=0.03)
    untrained = _controller()
    stats = [search.controller_step(lambda d: torch.rand(len(d))) for _ in range(30)]
    assert len(search.memory) == 30 and all("reconstruction_loss" in s for s in stats)
    decisions = search.memory.decisions[:30]
    loss = MemoryReconstructionLoss(search.controller.decision_sizes)
    with torch.no_grad():
        before = loss(untrained(decisions=decisions).reconstruction_logits, decisions).item()
        after = loss(search.controller(decisions=decisions).reconstruction_logits, decisions).item()
    assert after < 0.7 * before, (before, after)


def test_random_search_leaves_the_controller_alone():
    search = ENASSearch(_controller(), _supernet(), sampler="random", memory_buffer_size=0)
    before = {k: v.clone() for k, v in search.controller.state_dict().items()}
    assert search.controller_step(lambda d: torch.ones(len(d))) == {}
    assert all(torch.equal(before[k], v) for k, v in search.controller.state_dict().items())


def test_fit_and_derive_a_standalone_model(tmp_path):
    x, y = _data(64)
    search = ENASSearch(_controller(), _supernet(), memory_buffer_size=16)
    history = search.fit(
        (x[:48], y[:48]), (x[48:], y[48:]), epochs=2, child_steps=3, controller_steps=2, batch_size=16
    )
    assert len(history) == 2 and "reward" in history[-1] and "reconstruction_loss" in history[-1]
    architecture, acc = search.derive((x[48:], y[48:]), num_candidates=4)
    best = search.supernet.extract(architecture)
    assert acc == pytest.approx(search.accuracy(architecture, x[48:], y[48:]))
    best.save_pretrained(tmp_path)
    assert ENASCellForImageClassification.from_pretrained(tmp_path).config.architecture == architecture.tolist()


def test_search_state_round_trip_restores_the_sampler():
    search = ENASSearch(_controller(), _supernet(), memory_buffer_size=8)
    for _ in range(3):
        search.controller_step(lambda d: torch.rand(len(d)))
    state = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in search.state.state_dict().items()}
    next_arch = search.sample_architectures(5)
    fresh = ENASSearch(_controller(seed=9), _supernet(), memory_buffer_size=8)
    fresh.state.load_state_dict(state)
    assert torch.equal(fresh.sample_architectures(5), next_arch)
    assert len(fresh.memory) == 3 and fresh.baseline == search.baseline


# ------------------------------------------------------------------------------------------------------ Trainer


def _trainer(tmp_path, search, **kwargs):
    from transformers import TrainingArguments

    from hf_methods.common.batches import TensorDictDataset, collate_batch
    from hf_methods.training.enas_memory import ENASTrainer

    x, y = _data(64)
    defaults = dict(
        output_dir=str(tmp_path),
        max_steps=4,
        per_device_train_batch_size=16,
        learning_rate=0.05,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        remove_unused_columns=False,
        seed=0,
    )
    args = TrainingArguments(**{**defaults, **kwargs})
    return ENASTrainer(
        model=search.supernet,
        args=args,
        train_dataset=TensorDictDataset(pixel_values=x[:48], labels=y[:48]),
        data_collator=collate_batch,
        search=search,
        reward_data=(x[48:], y[48:]),
        controller_every=2,
        controller_steps=2,
    )


def _run_trainer(folder, resume=None, **kwargs):
    search = ENASSearch(_controller(), _supernet(), memory_buffer_size=8, seed=0)
    _trainer(folder, search, **kwargs).train(resume_from_checkpoint=resume)
    return search


def test_trainer_alternates_phases_and_checkpoints_the_search(tmp_path):
    controller0 = _controller().state_dict()
    search = _run_trainer(tmp_path, save_strategy="steps", save_steps=2)
    assert len(search.memory) == 4  # two controller phases (after steps 2 and 4) of two steps each
    assert any(not torch.equal(controller0[k], v) for k, v in search.controller.state_dict().items())
    saved = torch.load(tmp_path / "checkpoint-2" / "enas_search_state.pt", weights_only=True)
    assert int(saved["memory.count"]) == 2  # the state after the first controller phase
    assert "controller.lstm.weight_ih" in saved and "_extra_state" in saved


@pytest.mark.slow
def test_trainer_resume_is_exact(tmp_path):
    straight = _run_trainer(tmp_path / "a")
    _run_trainer(tmp_path / "b", save_strategy="steps", save_steps=2)
    resumed = _run_trainer(tmp_path / "c", resume=str(tmp_path / "b" / "checkpoint-2"))
    for k, v in straight.supernet.state_dict().items():
        assert torch.equal(resumed.supernet.state_dict()[k], v), k
    for k, v in straight.state.state_dict().items():
        if isinstance(v, torch.Tensor):
            assert torch.equal(resumed.state.state_dict()[k], v), k


# ------------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"num_nodes": 0}, ValueError, "num_nodes"),
        ({"num_nodes": 2.0}, TypeError, "num_nodes"),
        ({"ops": ["tanh", "swish"]}, ValueError, "ops"),
        ({"ops": ["tanh", "tanh"]}, ValueError, "ops"),
        ({"ops": "tanh"}, TypeError, "ops"),
        ({"hidden_size": 0}, ValueError, "hidden_size"),
        ({"softmax_temperature": 0.0}, ValueError, "softmax_temperature"),
        ({"tanh_constant": -1.0}, ValueError, "tanh_constant"),
    ],
)
def test_controller_config_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        ENASConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"architecture": [0, 1, 0, 0, 0, 0, 0]}, "architecture"),  # node 1 cannot read node 1
        ({"architecture": [0, 0, 0]}, "architecture"),
        ({"cell_width": 0}, "cell_width"),
        ({"input_size": -1}, "input_size"),
    ],
)
def test_cell_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ENASCellConfig(num_nodes=4, ops=OPS, **kwargs)


def test_cell_without_architecture_errors():
    with pytest.raises(ValueError, match="architecture"):
        _supernet()(pixel_values=torch.rand(2, 6))
    with pytest.raises(ValueError, match="config.architecture"):
        ENASCellForImageClassification(ENASCellConfig(num_nodes=4, ops=OPS))


def test_controller_input_errors():
    controller = _controller()
    with pytest.raises(ValueError, match=r"must lie in \[0, K_t\)"):
        controller(decisions=torch.tensor([[3, 0, 0, 0, 0, 0, 0]]))
    with pytest.raises(TypeError, match="integer"):
        controller(decisions=torch.zeros(1, 7))
    with pytest.raises(ValueError, match="shape"):
        controller(decisions=torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        controller(decisions=[0, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="num_samples"):
        controller.sample(0)


def test_search_errors():
    with pytest.raises(TypeError, match="controller"):
        ENASSearch("lstm", _supernet())
    with pytest.raises(TypeError, match="supernet"):
        ENASSearch(_controller(), torch.nn.Linear(2, 2))
    other = ENASController(ENASConfig(num_nodes=3, ops=OPS, hidden_size=8))
    with pytest.raises(ValueError, match="share the search space"):
        ENASSearch(other, _supernet())
    with pytest.raises(ValueError, match="sampler"):
        ENASSearch(_controller(), _supernet(), sampler="evolution")
    with pytest.raises(ValueError, match="memory_buffer_size"):
        ENASSearch(_controller(), _supernet(), memory_buffer_size=-1)
    with pytest.raises(ValueError, match="baseline_decay"):
        ENASSearch(_controller(), _supernet(), baseline_decay=1.0)
    with pytest.raises(ValueError, match="entropy_weight"):
        ENASSearch(_controller(), _supernet(), entropy_weight=-1.0)
    with pytest.raises(ValueError, match="controller_learning_rate"):
        ENASSearch(_controller(), _supernet(), controller_learning_rate=0.0)
    search = ENASSearch(_controller(), _supernet())
    with pytest.raises(ValueError, match="num_candidates"):
        search.derive(_data(8), num_candidates=0)
    with pytest.raises(ValueError, match="train"):
        search.fit((torch.rand(3, 6), torch.zeros(2, dtype=torch.long)), _data(8))
    with pytest.raises(ValueError, match="memory buffer is empty"):
        MemoryBuffer(4, 7).sample(2)


def test_reinforce_loss_errors():
    with pytest.raises(ValueError, match="rewards must have shape"):
        reinforce_loss(torch.zeros(3), torch.zeros(2), 0.0)
    with pytest.raises(ValueError, match="log_prob must be a 1-D"):
        reinforce_loss(torch.zeros(3, 2), torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match="entropy must have shape"):
        reinforce_loss(torch.zeros(3), torch.zeros(3), 0.0, entropy=torch.zeros(2))
    with pytest.raises(ValueError, match="entropy_weight"):
        reinforce_loss(torch.zeros(3), torch.zeros(3), 0.0, entropy_weight=-0.1)
    with pytest.raises(ValueError, match="reduction"):
        reinforce_loss(torch.zeros(3), torch.zeros(3), 0.0, reduction="max")
    with pytest.raises(ValueError, match="decision_sizes"):
        MemoryReconstructionLoss([])


def test_probe_errors():
    with pytest.raises(TypeError, match="controller"):
        hidden_state_graph_correlation(torch.nn.LSTM(2, 2))
    with pytest.raises(ValueError, match="n must be"):
        hidden_state_graph_correlation(_controller(), n=2)
    with pytest.raises(ValueError, match="architectures"):
        hidden_state_graph_correlation(_controller(), n=10, architectures="all")


def test_trainer_errors(tmp_path):
    search = ENASSearch(_controller(), _supernet())
    with pytest.raises(ValueError, match="model must be search.supernet"):
        from transformers import TrainingArguments

        from hf_methods.training.enas_memory import ENASTrainer

        ENASTrainer(
            model=_supernet(),
            args=TrainingArguments(str(tmp_path), report_to=[], use_cpu=True),
            search=search,
            reward_data=_data(8),
        )
    with pytest.raises(TypeError, match="search must be"):
        ENASTrainer(model=search.supernet, search=None, reward_data=_data(8))
    with pytest.raises(ValueError, match="controller_every"):
        ENASTrainer(model=search.supernet, search=search, reward_data=_data(8), controller_every=0)
    with pytest.raises(TypeError, match="reward_data"):
        ENASTrainer(model=search.supernet, search=search, reward_data=torch.zeros(3))


def test_arguments_errors():
    from hf_methods.training.enas_memory import ENASMemoryArguments

    for kwargs, match in [
        ({"variant": "darts"}, "--variant"),
        ({"ops": "tanh,swish"}, "ops"),
        ({"controller_every": 0}, "--controller_every"),
        ({"baseline_decay": 1.0}, "--baseline_decay"),
        ({"variant": "enas_memory", "memory_buffer_size": 0}, "--memory_buffer_size"),
        ({"learning_rate": 0.0}, "--learning_rate"),
        ({"validation_size": 1.0}, "--validation_size"),
    ]:
        with pytest.raises(ValueError, match=match):
            ENASMemoryArguments(output_dir="x", **kwargs).validate()


# ------------------------------------------------------------------------------------------------------ recipe, usage


def test_recipe_runs_a_few_steps(tmp_path):
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("enas_memory_recipe", repo_root() / "recipes" / "enas_memory.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "run"
    metrics = recipe.main(
        [
            "--output_dir", str(out), "--max_steps", "6", "--controller_every", "3", "--controller_steps", "2",
            "--num_candidates", "3", "--log_every", "0", "--checkpoint_every", "0", "--cell_width", "16",
        ]
    )  # fmt: skip
    assert set(metrics) >= {"eval/test_accuracy", "eval/hidden_state_graph_spearman"}
    assert (out / "model.safetensors").is_file() and (out / "controller" / "config.json").is_file()
    model = ENASCellForImageClassification.from_pretrained(out)
    assert len(model.config.architecture) == 7
    assert ENASController.from_pretrained(out / "controller").config.num_nodes == 4


def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("enas_memory").usage, namespace)
    assert isinstance(namespace["best"], ENASCellForImageClassification)
    assert len(namespace["search"].memory) == 10


@pytest.mark.slow
def test_recipe_resume_is_bit_exact(tmp_path):
    import subprocess
    import sys

    from safetensors.torch import load_file

    from hf_methods.zoo import repo_root

    recipe = str(repo_root() / "recipes" / "enas_memory.py")
    common = ["--max_steps", "40", "--controller_every", "10", "--controller_steps", "3", "--num_candidates", "3"]
    common += ["--log_every", "0"]
    subprocess.run(
        [sys.executable, recipe, "--output_dir", tmp_path / "a", "--checkpoint_every", "0", *common], check=True
    )
    resumed = tmp_path / "b"
    subprocess.run([sys.executable, recipe, "--output_dir", resumed, "--checkpoint_every", "20", *common], check=True)
    first = sorted((resumed / "checkpoints").iterdir())[0]  # after step 20: two controller phases in
    subprocess.run(
        [
            sys.executable,
            recipe,
            "--output_dir",
            resumed,
            "--resume_from_checkpoint",
            first,
            "--checkpoint_every",
            "20",
        ]
        + common,
        check=True,
    )
    for name in ("model.safetensors", "controller/model.safetensors"):
        a, b = load_file(tmp_path / "a" / name), load_file(resumed / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
