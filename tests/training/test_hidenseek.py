"""Tests of P14 `hidenseek`: SynFlow against its closed form, the sign supermask, the vote rule, the federated loop,
the Flower strategy against the in-process loop, the baked checkpoint, the recipe and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.common.federated import ClientUpdate, simulate_federated
from hf_methods.common.mlp import MLPConfig, MLPForImageClassification
from hf_methods.training.hidenseek import (
    HideNseekAggregator,
    HideNseekFederatedTrainer,
    SignSupermask,
    apply_sign_supermasks,
    export_dense,
    layer_densities,
    sign_supermasks,
    synflow_prune,
    synflow_scores,
)
from hf_methods.training.hidenseek.trainer import upload_signs


def tiny_mlp(seed=0, hidden=(12, 10), act="relu"):
    torch.manual_seed(seed)
    return MLPForImageClassification(MLPConfig(input_size=8, hidden_sizes=list(hidden), hidden_act=act, num_labels=10))


def tiny_clients(num=3, per=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(per, 8, generator=g), torch.randint(0, 3, (per,), generator=g)) for _ in range(num)]


# ----------------------------------------------------------------------------------------------------------- SynFlow
def test_synflow_scores_match_the_closed_form_of_a_two_layer_network():
    # R = 1ᵀ|W2||W1|1 (biases and activations out): S1[i,j] = |W1[i,j]|·Σ_k|W2[k,i]|, S2[k,i] = |W2[k,i]|·Σ_j|W1[i,j]|
    model = tiny_mlp(hidden=(5,), act="tanh")
    w1 = model.mlp.layers[0].weight.detach().double().numpy()
    w2 = model.classifier.weight.detach().double().numpy()
    s1 = np.abs(w1) * np.abs(w2).sum(axis=0)[:, None]
    s2 = np.abs(w2) * np.abs(w1).sum(axis=1)[None, :]
    scores = synflow_scores(model)
    np.testing.assert_allclose(scores["mlp.layers.0.weight"].numpy(), s1, rtol=1e-12)
    np.testing.assert_allclose(scores["classifier.weight"].numpy(), s2, rtol=1e-12)
    # with a mask, pruned weights score 0 and the flow through them is gone
    mask = torch.rand(w1.shape) > 0.5
    masked = synflow_scores(model, {"mlp.layers.0.weight": mask})
    m1 = np.abs(w1) * mask.numpy()
    np.testing.assert_allclose(masked["classifier.weight"].numpy(), np.abs(w2) * m1.sum(axis=1)[None, :], rtol=1e-12)
    assert (masked["mlp.layers.0.weight"][~mask] == 0).all()


def test_synflow_prune_keeps_the_exact_count_leaves_the_model_alone_and_uses_no_data():
    model = tiny_mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    masks = synflow_prune(model, density=0.3, iterations=10)
    total = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == round(0.3 * total)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # weights and signs untouched
    # data-agnostic: running data through the model (or not) cannot change the masks
    model(pixel_values=torch.rand(4, 8))
    again = synflow_prune(model, density=0.3, iterations=10)
    assert all(torch.equal(masks[k], again[k]) for k in masks)


def test_iterative_synflow_avoids_layer_collapse_where_one_shot_does_not():
    model = MLPForImageClassification(MLPConfig(input_size=64, hidden_sizes=[128, 128], num_labels=10))
    iterative = layer_densities(synflow_prune(model, density=0.01, iterations=30))
    assert min(iterative.values()) > 0
    one_shot = layer_densities(synflow_prune(model, density=0.01, iterations=1))
    assert min(one_shot.values()) == 0  # the classic failure the schedule prevents


# ----------------------------------------------------------------------------------------------------- sign supermask
def test_sign_supermask_forward_and_straight_through_gradient():
    model = tiny_mlp()
    w0 = model.mlp.layers[0].weight.detach().clone()
    mask = torch.rand(w0.shape) > 0.4
    scores = torch.randn(w0.shape)
    apply_sign_supermasks(model, {"mlp.layers.0.weight": mask}, {"mlp.layers.0.weight": scores})
    layer = model.mlp.layers[0]
    expected = mask.float() * torch.where(scores >= 0, 1.0, -1.0) * w0.abs()
    torch.testing.assert_close(layer.weight, expected, rtol=0, atol=0)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["mlp.layers.0.parametrizations.weight.0.scores"]
    x = torch.rand(5, 8)
    out = (layer(x) ** 2).sum()
    out.backward()
    grad_w = 2 * (layer(x).detach().T @ x)  # ∂L/∂w of L = ||Wx + b||²
    param = sign_supermasks(model)["mlp.layers.0.weight"]
    torch.testing.assert_close(param.scores.grad, grad_w * w0.abs() * mask, rtol=1e-5, atol=1e-6)


def test_sign_of_zero_is_plus_one_and_default_scores_reproduce_the_masked_init():
    assert torch.equal(
        upload_signs(torch.tensor([0.0, -0.0, -1e-9, 2.0]), "sign"), torch.tensor([1.0, 1.0, -1.0, 1.0])
    )
    model = tiny_mlp()
    w0 = model.classifier.weight.detach().clone()
    mask = torch.rand(w0.shape) > 0.5
    apply_sign_supermasks(model, {"classifier.weight": mask})
    torch.testing.assert_close(model.classifier.weight, w0 * mask, rtol=0, atol=0)


def test_stochastic_upload_is_unbiased():
    scores = torch.tensor([-2.0, -0.5, 0.0, 0.3, 0.9])
    g = torch.Generator().manual_seed(0)
    mean = torch.stack([upload_signs(scores, "stochastic", g) for _ in range(5000)]).mean(0)
    torch.testing.assert_close(mean, scores.clamp(-1, 1), rtol=0, atol=0.05)  # 5000 draws: std ≤ 0.015


def test_export_dense_saves_and_reloads_with_plain_transformers(tmp_path):
    model = tiny_mlp()
    masks = synflow_prune(model, density=0.5, iterations=5)
    scores = {k: torch.randn(v.shape) for k, v in masks.items()}
    w0 = {k: model.get_parameter(k).detach().clone() for k in masks}
    apply_sign_supermasks(model, masks, scores)
    dense = export_dense(model)
    for name in masks:  # baked weight = m ⊙ sign(s) ⊙ |w0|
        want = masks[name].float() * torch.where(scores[name] >= 0, 1.0, -1.0) * w0[name].abs()
        torch.testing.assert_close(dense.get_parameter(name), want, rtol=0, atol=0)
    assert sign_supermasks(model)  # the original keeps its parametrizations
    dense.save_pretrained(tmp_path)
    reloaded = MLPForImageClassification.from_pretrained(tmp_path)
    assert not any("parametrizations" in k for k in reloaded.state_dict())
    x = torch.rand(6, 8)
    model.eval()
    torch.testing.assert_close(reloaded(pixel_values=x).logits, model(pixel_values=x).logits, rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------------------- the vote
def test_aggregator_is_the_weighted_vote_written_out():
    current = [torch.tensor([0.5, -0.2, 0.0, 1.0])]
    votes = {0: [1, -1, 1, -1], 1: [1, 1, -1, -1], 2: [-1, 1, 1, -1]}
    sizes = {0: 10, 1: 30, 2: 20}
    updates = [
        ClientUpdate(c, [torch.tensor(v, dtype=torch.float32)], num_examples=sizes[c]) for c, v in votes.items()
    ]
    eps = 1e-3
    got = HideNseekAggregator(tie_break=eps).aggregate(1, current, updates)[0]
    for j in range(4):
        want = sum(sizes[c] * votes[c][j] for c in votes) / sum(sizes.values()) + eps * current[0][j].item()
        assert got[j].item() == pytest.approx(want, abs=1e-6)
    uniform = HideNseekAggregator(weighting="uniform", tie_break=0.0).aggregate(1, current, updates)[0]
    torch.testing.assert_close(uniform, torch.tensor([1 / 3, 1 / 3, 1 / 3, -1.0]))
    # a tied vote keeps the previous sign; an empty round changes nothing
    tied = HideNseekAggregator().aggregate(
        1, [torch.tensor([-0.3])], [ClientUpdate(0, [torch.ones(1)]), ClientUpdate(1, [-torch.ones(1)])]
    )
    assert tied[0].item() < 0
    assert torch.equal(HideNseekAggregator().aggregate(2, current, [])[0], current[0])


def test_binary_votes_and_vote_checks():
    agg = HideNseekAggregator(votes="binary", tie_break=0.0)
    out = agg.aggregate(
        1,
        [torch.zeros(3)],
        [ClientUpdate(0, [torch.tensor([1.0, 0.0, 1.0])]), ClientUpdate(1, [torch.tensor([1.0, 0.0, 0.0])])],
    )
    torch.testing.assert_close(out[0], torch.tensor([1.0, 0.0, 0.5]))
    with pytest.raises(ValueError, match="votes='binary'"):
        agg.aggregate(1, [torch.zeros(1)], [ClientUpdate(0, [torch.tensor([-1.0])])])
    with pytest.raises(ValueError, match="votes='sign'"):
        HideNseekAggregator().aggregate(1, [torch.zeros(1)], [ClientUpdate(0, [torch.tensor([0.3])])])


# ------------------------------------------------------------------------------------------------ the federated loop
def make_trainer(rounds=2, **kwargs):
    options = {"density": 0.4, "local_epochs": 1, "batch_size": 6, "synflow_iterations": 5, **kwargs}
    return HideNseekFederatedTrainer(tiny_mlp(), tiny_clients(), rounds=rounds, **options)


def test_uploaded_bits_are_one_per_kept_weight_and_only_scores_change():
    fl = make_trainer(evaluate=lambda m: {"ok": 1.0}, eval_every=1)
    w0 = {k: v.detach().clone() for k, v in fl.model.named_parameters() if "original" in k or "bias" in k}
    fl.fit()
    assert fl.upload_bits == [3 * fl.kept_weights] * 2
    assert fl.kept_weights == round(0.4 * sum(m.numel() for m in fl.masks.values()))
    assert [r for r, _ in fl.evaluations] == [1, 2]
    for k, v in fl.model.named_parameters():
        if k in w0:
            assert torch.equal(v, w0[k])  # frozen weights and biases


def test_fit_in_chunks_equals_one_fit_and_state_dict_resumes():
    whole = make_trainer(rounds=3)
    whole.fit()
    chunked = make_trainer(rounds=3)
    chunked.fit(1)
    state = chunked.state_dict()
    resumed = make_trainer(rounds=3)
    resumed.load_state_dict(state)
    resumed.fit()
    for a, b in zip(whole.global_scores, resumed.global_scores):
        assert torch.equal(a, b)
    assert resumed.upload_bits == whole.upload_bits


def test_flower_strategy_aggregates_fit_results_like_the_in_process_loop():
    pytest.importorskip("flwr")
    from flwr.common import Code, FitRes, Status
    from flwr.server.client_proxy import ClientProxy

    from hf_methods.training.hidenseek.flower import HideNseekStrategy, parameters_to_tensors, tensors_to_parameters

    class Proxy(ClientProxy):
        def get_properties(self, *a, **k):
            raise NotImplementedError

        get_parameters = fit = evaluate = reconnect = get_properties

    fl = make_trainer(rounds=1)
    start = [s.clone() for s in fl.global_scores]
    sent: list[ClientUpdate] = []

    def recording(n, client, scores, server_round):
        update = fl.local_update(n, client, scores, server_round)
        sent.append(update)
        return update

    run = simulate_federated(start, fl.clients, recording, fl.aggregator, fl.participation)
    strategy = HideNseekStrategy(initial_parameters=tensors_to_parameters(start))
    results = [
        (
            Proxy(cid=f"node-{u.client_id}"),
            FitRes(
                status=Status(code=Code.OK, message=""),
                parameters=tensors_to_parameters(u.parameters),
                num_examples=u.num_examples,
                metrics={"client_id": u.client_id, "upload_bits": u.upload_bits},
            ),
        )
        for u in sent
    ]
    parameters, metrics = strategy.aggregate_fit(1, results, [])
    for got, want in zip(parameters_to_tensors(parameters), run.parameters):
        torch.testing.assert_close(got, want, rtol=0, atol=0)  # the same code on the same float32 inputs
    assert metrics["upload_bits"] == run.upload_bits[0] == 3 * fl.kept_weights
    with pytest.raises(TypeError, match="HideNseekAggregator"):
        HideNseekStrategy(aggregator=object())


# --------------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("density", [0, -0.1, 1.5, "0.2", True])
def test_error_density(density):
    with pytest.raises(ValueError, match="density"):
        synflow_prune(tiny_mlp(), density)


@pytest.mark.parametrize("iterations", [0, -1, 2.5])
def test_error_iterations(iterations):
    with pytest.raises(ValueError, match="iterations"):
        synflow_prune(tiny_mlp(), 0.5, iterations)


def test_error_nothing_to_prune():
    with pytest.raises(ValueError, match="no module"):
        synflow_prune(nn.Sequential(nn.ReLU()), 0.5)


def test_error_conv_needs_input_shape():
    with pytest.raises(ValueError, match="input_shape"):
        synflow_prune(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2)), 0.5, 2)


def test_error_mask_shape_and_name():
    with pytest.raises(ValueError, match="shape"):
        apply_sign_supermasks(tiny_mlp(), {"classifier.weight": torch.ones(2, 2, dtype=torch.bool)})
    with pytest.raises(ValueError, match="no module"):
        apply_sign_supermasks(tiny_mlp(), {"nope.weight": torch.ones(2, 2, dtype=torch.bool)})
    with pytest.raises(ValueError, match="non-empty"):
        apply_sign_supermasks(tiny_mlp(), {})
    with pytest.raises(ValueError, match="shape"):
        SignSupermask(torch.ones(2, 2, dtype=torch.bool), torch.ones(3))


def test_error_export_without_supermask():
    with pytest.raises(ValueError, match="SignSupermask"):
        export_dense(tiny_mlp())


def test_error_aggregator_arguments():
    with pytest.raises(ValueError, match="votes"):
        HideNseekAggregator(votes="ternary")
    with pytest.raises(ValueError, match="weighting"):
        HideNseekAggregator(weighting="size")
    with pytest.raises(ValueError, match="tie_break"):
        HideNseekAggregator(tie_break=-1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rounds": 0}, "rounds"),
        ({"local_epochs": 0}, "local_epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"upload": "float"}, "upload"),
        ({"eval_every": -1}, "eval_every"),
        ({"participation": torch.ones(5, 3, dtype=torch.bool)}, "participation"),
    ],
)
def test_error_trainer_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_trainer(**kwargs)


def test_error_clients_and_model():
    with pytest.raises(ValueError, match="clients"):
        HideNseekFederatedTrainer(tiny_mlp(), [])
    with pytest.raises(TypeError, match=r"clients\[0\]"):
        HideNseekFederatedTrainer(tiny_mlp(), [torch.rand(3, 8)])
    with pytest.raises(ValueError, match=r"clients\[0\]"):
        HideNseekFederatedTrainer(tiny_mlp(), [(torch.rand(3, 8), torch.zeros(2, dtype=torch.long))])
    with pytest.raises(TypeError, match="model"):
        HideNseekFederatedTrainer("mlp", tiny_clients())
    with pytest.raises(TypeError, match="aggregator"):
        make_trainer(aggregator=object())
    fl = make_trainer(rounds=1)
    fl.fit()
    with pytest.raises(ValueError, match="remain"):
        fl.fit(1)


# --------------------------------------------------------------------------------------------- recipe and usage
def test_recipe_runs_two_rounds(tmp_path):
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_hidenseek", repo_root() / "recipes" / "hidenseek.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    metrics = recipe.main(
        [
            "--output_dir", str(tmp_path / "out"), "--max_steps", "2", "--hidden_sizes", "16",
            "--synflow_iterations", "3", "--num_clients", "3", "--checkpoint_every", "1", "--cpu_threads", "1",
        ]
    )  # fmt: skip
    assert 0.0 <= metrics["eval/test_accuracy"] <= 1.0
    assert metrics["eval/upload_bits_per_client_round"] == metrics["eval/kept_weights"]
    reloaded = MLPForImageClassification.from_pretrained(tmp_path / "out")
    assert reloaded.config.hidden_sizes == [16]


def test_recipe_arguments_are_checked():
    from hf_methods.training.hidenseek.training import HideNseekArguments

    for kwargs, match in [
        ({"density": 0.0}, "--density"),
        ({"hidden_act": "swish"}, "--hidden_act"),
        ({"hidden_sizes": "a,b"}, "--hidden_sizes"),
        ({"weighting": "size"}, "--weighting"),
        ({"upload": "float"}, "--upload"),
        ({"optimizer": "lbfgs"}, "--optimizer"),
        ({"num_clients": 0}, "--num_clients"),
    ]:
        with pytest.raises(ValueError, match=match):
            HideNseekArguments(output_dir="x", **kwargs).validate()


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("hidenseek").usage, namespace)
    assert namespace["fl"].rounds_done == namespace["fl"].rounds


@pytest.mark.slow
def test_recipe_resume_is_exact(tmp_path):
    import subprocess
    import sys

    from safetensors.torch import load_file

    from hf_methods.zoo import repo_root

    recipe = str(repo_root() / "recipes" / "hidenseek.py")
    common = ["--max_steps", "4", "--hidden_sizes", "32", "--synflow_iterations", "5", "--log_every", "0"]
    subprocess.run([sys.executable, recipe, "--output_dir", tmp_path / "a", *common], check=True, capture_output=True)
    resumed = tmp_path / "b"
    subprocess.run(
        [sys.executable, recipe, "--output_dir", resumed, "--checkpoint_every", "2", *common],
        check=True,
        capture_output=True,
    )
    first = sorted((resumed / "checkpoints").iterdir())[0]  # after round 2
    subprocess.run(
        [sys.executable, recipe, "--output_dir", resumed, "--resume_from_checkpoint", first, *common],
        check=True,
        capture_output=True,
    )
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
