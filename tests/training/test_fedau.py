"""Tests of P41 `fedau`: FedAU's aggregation against the official per-round bookkeeping, the baselines, Flower."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hf_methods.common.federated import (
    ClientUpdate,
    FedAvgAggregator,
    bernoulli_participation,
    cyclic_participation,
    markov_participation,
    simulate_federated,
)
from hf_methods.training.fedau import (
    AverageAllAggregator,
    FedAUAggregator,
    FedVARPAggregator,
    KnownParticipationAggregator,
    MIFAAggregator,
    build_aggregator,
)
from hf_methods.training.fedau.training import (
    FedAUArguments,
    least_squares_federation,
    run_least_squares,
    run_rounds,
    step_decay_lr,
)

DIM = 3


def _local_update(index, client, parameters, server_round):
    """A deterministic 'local training': moves w towards a client target, different each round."""
    (w,) = parameters
    target = torch.tensor([index, -index, 0.5 * index], dtype=torch.float64) + 0.1 * server_round
    return ClientUpdate(index, [w + 0.3 * (target - w)], num_examples=index + 1)


def _official_loop(participation: torch.Tensor, *, weighting: str, cutoff: float = float("inf"), probs=None):
    """The official `main.py` loop, written out: every client visited every round, counters c_n and lists I_n."""
    rounds, n_clients = participation.shape
    w = np.zeros(DIM)
    counters = [0] * n_clients
    intervals: list[list[int]] = [[] for _ in range(n_clients)]
    used_weights = []
    for t in range(1, rounds + 1):
        accumulated, total, weights = 0, np.zeros(DIM), {}
        for n in range(n_clients):
            if participation[t - 1, n]:
                (w_n,) = _local_update(n, None, [torch.from_numpy(w.copy())], t).parameters
                delta = w_n.numpy() - w
                if weighting == "adaptive":
                    if len(intervals[n]) > 0:
                        weights[n] = float(np.mean(intervals[n]))
                        delta = delta * weights[n]
                    else:
                        weights[n] = 1.0
                elif weighting == "known_prob":
                    delta = delta / probs[n]
                intervals[n].append(counters[n] + 1)
                counters[n] = 0
                total += delta
                accumulated += 1
            else:
                counters[n] += 1
                if counters[n] >= cutoff:
                    intervals[n].append(counters[n])
                    counters[n] = 0
                if weighting != "average_participating":
                    accumulated += 1
        if accumulated > 0:
            w = w + total / accumulated
        used_weights.append(weights)
    return w, used_weights


@pytest.mark.parametrize("cutoff", [None, 3, 1])
@pytest.mark.parametrize("pattern", ["bernoulli", "markov", "cyclic"])
def test_fedau_matches_the_official_per_round_bookkeeping(cutoff, pattern):
    probs = [0.9, 0.5, 0.2, 0.1, 0.05, 0.6]
    participation = {
        "bernoulli": lambda: bernoulli_participation(probs, 60, seed=1),
        "markov": lambda: markov_participation(probs, 60, persistence=0.6, seed=2),
        "cyclic": lambda: cyclic_participation(probs, 60, period=7, seed=3),
    }[pattern]()
    aggregator = FedAUAggregator(len(probs), cutoff=cutoff)
    weights = []
    params = [torch.zeros(DIM, dtype=torch.float64)]
    for t in range(1, participation.shape[0] + 1):
        present = participation[t - 1].nonzero().flatten().tolist()
        updates = [_local_update(n, None, [p.clone() for p in params], t) for n in present]
        params = aggregator.aggregate(t, params, updates)
        weights.append(dict(aggregator.last_weights))
    expected, official_weights = _official_loop(
        participation, weighting="adaptive", cutoff=float("inf") if cutoff is None else cutoff
    )
    assert weights == official_weights
    torch.testing.assert_close(params[0], torch.from_numpy(expected), rtol=1e-12, atol=1e-12)
    # and the same through the shared in-process loop
    run = simulate_federated(
        [torch.zeros(DIM, dtype=torch.float64)],
        list(range(len(probs))),
        _local_update,
        FedAUAggregator(len(probs), cutoff=cutoff),
        participation,
    )
    torch.testing.assert_close(run.parameters[0], torch.from_numpy(expected), rtol=1e-12, atol=1e-12)


def test_first_participation_counts_with_weight_one_and_the_sum_is_divided_by_all_clients():
    aggregator = FedAUAggregator(num_clients=10)
    w = [torch.zeros(2, dtype=torch.float64)]
    update = ClientUpdate(3, [torch.tensor([1.0, 2.0], dtype=torch.float64)])
    new = aggregator.aggregate(4, w, [update])
    assert aggregator.last_weights == {3: 1.0}
    torch.testing.assert_close(new[0], torch.tensor([0.1, 0.2], dtype=torch.float64))  # 1 · Δ / N, N = 10
    # first interval: rounds 1..4 → 4; the next participation at round 9 uses mean([4]) = 4
    aggregator.aggregate(9, w, [update])
    assert aggregator.last_weights == {3: 4.0}
    # then mean([4, 5]) = 4.5 at any later round without cutoff
    assert aggregator.weight(3, 100) == 4.5


def test_cutoff_appends_k_while_away_and_bounds_the_weight():
    aggregator = FedAUAggregator(num_clients=2, cutoff=5)
    w = [torch.zeros(1)]
    up = ClientUpdate(0, [torch.ones(1)])
    aggregator.aggregate(2, w, [up])  # c = 1 at round 2 → interval 2
    # away from round 3 to 14 (12 rounds): cutoffs after 5 and 10 absent rounds → [2, 5, 5], then c = 2
    assert aggregator.weight(0, 15) == pytest.approx(12 / 3)
    aggregator.aggregate(15, w, [up])
    assert aggregator.last_weights[0] == pytest.approx(4.0)
    assert aggregator.weight(0) == pytest.approx((2 + 5 + 5 + 3) / 4)
    assert all(FedAUAggregator(1, cutoff=1).weight(0, t) == 1.0 for t in (1, 7))


def test_cutoff_one_is_average_all():
    participation = bernoulli_participation([0.3, 0.7, 0.5], 30, seed=0)
    clients = [0, 1, 2]
    init = [torch.zeros(DIM, dtype=torch.float64)]
    a = simulate_federated(init, clients, _local_update, FedAUAggregator(3, cutoff=1), participation)
    b = simulate_federated(init, clients, _local_update, AverageAllAggregator(3), participation)
    torch.testing.assert_close(a.parameters[0], b.parameters[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("weighting", ["average_participating", "average_all", "known_prob"])
def test_baselines_match_the_official_loop(weighting):
    probs = [0.8, 0.3, 0.1, 0.5]
    participation = bernoulli_participation(probs, 40, seed=5)
    aggregator = {
        "average_participating": FedAvgAggregator(weighting="uniform"),
        "average_all": AverageAllAggregator(4),
        "known_prob": KnownParticipationAggregator(probs),
    }[weighting]
    run = simulate_federated(
        [torch.zeros(DIM, dtype=torch.float64)], [0, 1, 2, 3], _local_update, aggregator, participation
    )
    expected, _ = _official_loop(participation, weighting=weighting, probs=probs)
    torch.testing.assert_close(run.parameters[0], torch.from_numpy(expected), rtol=1e-12, atol=1e-12)


def _reference_stored(participation, rule):
    """MIFA / FedVARP as in the official loop, one stored update per client."""
    rounds, n_clients = participation.shape
    w = np.zeros(DIM)
    stored = np.zeros((n_clients, DIM))
    mean_stored = np.zeros(DIM)
    for t in range(1, rounds + 1):
        step, count = np.zeros(DIM), 0
        for n in range(n_clients):
            if participation[t - 1, n]:
                delta = _local_update(n, None, [torch.from_numpy(w.copy())], t).parameters[0].numpy() - w
                if rule == "fedvarp":
                    step += delta - stored[n]
                    count += 1
                stored[n] = delta
        if rule == "mifa":
            w = w + stored.mean(0)
        elif count:
            w = w + step / count + mean_stored
            mean_stored = stored.mean(0)
        else:
            mean_stored = stored.mean(0)
    return w


@pytest.mark.parametrize("rule", ["mifa", "fedvarp"])
def test_memory_baselines_match_the_official_loop(rule):
    participation = bernoulli_participation([0.8, 0.3, 0.1, 0.5], 30, seed=7)
    participation[4] = False  # a round without participants
    aggregator = MIFAAggregator(4) if rule == "mifa" else FedVARPAggregator(4)
    run = simulate_federated(
        [torch.zeros(DIM, dtype=torch.float64)], [0, 1, 2, 3], _local_update, aggregator, participation
    )
    torch.testing.assert_close(
        run.parameters[0], torch.from_numpy(_reference_stored(participation, rule)), rtol=1e-10, atol=1e-10
    )


def test_weights_estimate_inverse_probabilities():
    probs = torch.tensor([0.5, 0.2, 0.1, 0.05])
    participation = bernoulli_participation(probs, 4000, seed=0)
    aggregator = FedAUAggregator(4)
    w = [torch.zeros(1)]
    for t in range(1, 4001):
        aggregator.aggregate(
            t, w, [ClientUpdate(n, [torch.zeros(1)]) for n in participation[t - 1].nonzero().flatten().tolist()]
        )
    estimates = torch.tensor([aggregator.weight(n) for n in range(4)])
    torch.testing.assert_close(estimates, 1 / probs, rtol=0.2, atol=0.0)  # ~100+ intervals per client


def test_state_round_trips_and_a_run_in_slices_equals_a_run_at_once():
    probs = [0.6, 0.2, 0.4]
    participation = bernoulli_participation(probs, 40, seed=3)
    init = [torch.zeros(DIM, dtype=torch.float64)]
    whole = simulate_federated(init, [0, 1, 2], _local_update, FedAUAggregator(3, cutoff=4), participation)
    first = FedAUAggregator(3, cutoff=4)
    part = run_rounds(init, [0, 1, 2], _local_update, first, participation[:17])
    state = json.loads(json.dumps(first.state_dict()))  # plain JSON data
    second = FedAUAggregator(3, cutoff=4)
    second.load_state_dict(state)
    rest = run_rounds(part.parameters, [0, 1, 2], _local_update, second, participation[17:], first_round=18)
    torch.testing.assert_close(rest.parameters[0], whole.parameters[0], rtol=0, atol=0)
    with pytest.raises(ValueError, match="cutoff"):
        FedAUAggregator(3, cutoff=5).load_state_dict(state)


def test_flower_strategy_aggregates_fit_results_like_the_in_process_loop():
    pytest.importorskip("flwr")
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
    from flwr.server.client_proxy import ClientProxy

    from hf_methods.common.flower import parameters_to_tensors
    from hf_methods.training.fedau.flower import FedAUStrategy

    class Proxy(ClientProxy):
        def get_properties(self, *a, **k):
            raise NotImplementedError

        get_parameters = fit = evaluate = reconnect = get_properties

    probs = [0.7, 0.3, 0.5, 0.2]
    participation = bernoulli_participation(probs, 12, seed=4)
    participation[5] = False  # Flower has no results for this round and never calls aggregate_fit's rule
    init = [torch.randn(DIM, generator=torch.Generator().manual_seed(0)).double()]
    expected = simulate_federated(init, [0, 1, 2, 3], _local_update, FedAUAggregator(4, cutoff=3), participation)

    strategy = FedAUStrategy(4, cutoff=3, initial_parameters=ndarrays_to_parameters([p.numpy() for p in init]))
    current = init
    for t in range(1, 13):
        results = []
        for n in participation[t - 1].nonzero().flatten().tolist():
            update = _local_update(n, None, [p.clone() for p in current], t)
            results.append(
                (
                    Proxy(cid=f"node-{n}"),
                    FitRes(
                        status=Status(code=Code.OK, message=""),
                        parameters=ndarrays_to_parameters([p.numpy() for p in update.parameters]),
                        num_examples=update.num_examples,
                        metrics={"client_id": n},
                    ),
                )
            )
        parameters, _ = strategy.aggregate_fit(t, results, [])
        if parameters is not None:
            current = parameters_to_tensors(parameters)
    torch.testing.assert_close(current[0], expected.parameters[0], rtol=1e-12, atol=1e-12)
    assert "num_clients=4" in repr(strategy)


# ------------------------------------------------------------------------------------------------ errors
def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="num_clients"):
        FedAUAggregator(0)
    with pytest.raises(ValueError, match="num_clients"):
        FedAUAggregator(2.5)
    with pytest.raises(ValueError, match="cutoff"):
        FedAUAggregator(3, cutoff=0)
    with pytest.raises(ValueError, match="server_lr"):
        FedAUAggregator(3, server_lr=0.0)
    with pytest.raises(ValueError, match=r"probabilities\[1\]"):
        KnownParticipationAggregator([0.5, 0.0])
    with pytest.raises(TypeError, match="probabilities"):
        KnownParticipationAggregator(0.5)
    with pytest.raises(ValueError, match="aggregator must be one of"):
        build_aggregator("fedprox", 3)
    with pytest.raises(ValueError, match="probabilities"):
        build_aggregator("known_prob", 3)


def test_bad_rounds_and_clients_raise_clear_errors():
    w = [torch.zeros(1)]
    aggregator = FedAUAggregator(2)
    with pytest.raises(ValueError, match="server_round"):
        aggregator.aggregate(0, w, [])
    aggregator.aggregate(3, w, [ClientUpdate("a", [torch.ones(1)])])
    with pytest.raises(ValueError, match="server_round must increase"):
        aggregator.aggregate(3, w, [])
    aggregator.aggregate(4, w, [ClientUpdate("b", [torch.ones(1)])])
    with pytest.raises(ValueError, match="num_clients=2"):
        aggregator.aggregate(5, w, [ClientUpdate("c", [torch.ones(1)])])
    with pytest.raises(ValueError, match="shape"):
        FedAUAggregator(2).aggregate(1, w, [ClientUpdate(0, [torch.ones(2)])])
    with pytest.raises(ValueError, match="no participation probability"):
        KnownParticipationAggregator({0: 0.5}).aggregate(1, w, [ClientUpdate(1, [torch.ones(1)])])
    with pytest.raises(ValueError, match="first_round"):
        run_rounds(w, [0], _local_update, FedAUAggregator(1), torch.ones(1, 1, dtype=torch.bool), first_round=0)


@pytest.mark.parametrize(
    "flag, value, match",
    [
        ("aggregator", "fedprox", "--aggregator"),
        ("participation", "uniform", "--participation"),
        ("num_clients", 0, "--num_clients"),
        ("local_lr", 0.0, "--local_lr"),
        ("cutoff", -1, "--cutoff"),
        ("participation_min", 0.0, "--participation_min"),
        ("participation_mean", 1.5, "--participation_mean"),
        ("markov_persistence", 1.0, "--markov_persistence"),
        ("test_size", 1.0, "--test_size"),
    ],
)
def test_recipe_arguments_name_the_bad_flag(flag, value, match):
    with pytest.raises(ValueError, match=match):
        FedAUArguments(**{flag: value}).validate()


# ------------------------------------------------------------------------------------------------ pieces
def test_step_decay_lr_halves_after_the_start_at_most_ten_times():
    assert [step_decay_lr(t, 0.8, decay_start=2, decay_every=2) for t in (1, 3, 4, 5, 6)] == [0.8, 0.8, 0.4, 0.2, 0.2]
    assert step_decay_lr(10_000, 1.0, decay_start=0, decay_every=1) == 2**-10
    assert step_decay_lr(50, 0.1) == 0.1


def test_least_squares_optimum_and_fedau_versus_fedavg():
    problem = least_squares_federation(num_clients=12, dim=3, samples_per_client=10, seed=0)
    grad = sum(h @ problem.optimum - g for h, g in zip(problem.hessians, problem.linear))
    assert grad.abs().max() < 1e-10  # the closed form zeroes the full gradient
    assert problem.objective(problem.optimum) < problem.objective(problem.optimum + 0.01)
    participation = bernoulli_participation(problem.probabilities, 400, seed=0)
    kwargs = {"decay_start": 150, "decay_every": 25, "eval_every": 0}
    fedau = run_least_squares(problem, FedAUAggregator(12), participation, **kwargs)
    fedavg = run_least_squares(problem, FedAvgAggregator(weighting="uniform"), participation, **kwargs)
    # FedAvg goes to argmin Σ p_n f_n, FedAU to the true optimum
    biased = problem.weighted_optimum(problem.probabilities)
    assert np.linalg.norm(np.array(fedavg["parameters"]) - biased.numpy()) < 0.25 * fedavg["distance"]
    assert fedau["distance"] < 0.5 * fedavg["distance"]


def _recipe():
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_fedau", repo_root() / "recipes" / "fedau.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    return recipe


RECIPE_FLAGS = ["--num_clients", "6", "--hidden_size", "8", "--log_every", "0", "--eval_every", "0", "--cutoff", "3"]
RECIPE_FLAGS += ["--participation_mean", "0.4", "--lr_decay_start", "2", "--lr_decay_every", "2", "--max_steps", "6"]


def test_recipe_runs_and_saves_the_model_and_the_aggregator_state(tmp_path):
    out = tmp_path / "run"
    metrics = _recipe().main([*RECIPE_FLAGS, "--output_dir", str(out), "--checkpoint_every", "3"])
    assert 0.0 <= metrics["eval/accuracy"] <= 1.0
    saved = json.loads((out / "aggregator_state.json").read_text())
    assert saved["aggregator"] == "FedAUAggregator" and saved["state"]["cutoff"] == 3
    assert len(saved["participation_probabilities"]) == 6 and sum(saved["client_sizes"]) == 1437
    assert all(1.0 <= w <= 3.0 for w in saved["weights"].values())  # the cutoff K = 3 bounds ω
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint_0", "checkpoint_1"]


@pytest.mark.slow
def test_recipe_resumed_between_rounds_ends_with_the_same_model(tmp_path):
    from safetensors.torch import load_file

    recipe = _recipe()
    recipe.main([*RECIPE_FLAGS, "--output_dir", str(tmp_path / "a"), "--checkpoint_every", "0"])
    out = tmp_path / "b"
    recipe.main([*RECIPE_FLAGS, "--output_dir", str(out), "--checkpoint_every", "3"])
    first = out / "checkpoints" / "checkpoint_0"  # after round 3
    recipe.main([*RECIPE_FLAGS, "--output_dir", str(out), "--resume_from_checkpoint", str(first)])
    whole, resumed = load_file(tmp_path / "a" / "model.safetensors"), load_file(out / "model.safetensors")
    for name in whole:
        torch.testing.assert_close(resumed[name], whole[name], rtol=0, atol=0)
    state_a = json.loads((tmp_path / "a" / "aggregator_state.json").read_text())
    assert json.loads((out / "aggregator_state.json").read_text()) == state_a


def test_one_local_step_fedau_round_is_a_gradient_step_on_the_weighted_cross_entropy():
    """Q = 1 full-batch local step: FedAU's aggregate equals one step on Σ_i ω_n/(N m_n) CE_i of the participants."""
    from hf_methods.training.fedau import FedAUWeightedCrossEntropy, fedau_example_weights

    g = torch.Generator().manual_seed(0)
    num_clients, lr = 5, 0.3
    data = [
        (torch.randn(4 + n, 3, generator=g, dtype=torch.float64), torch.randint(0, 2, (4 + n,), generator=g))
        for n in range(num_clients)
    ]
    w0 = [torch.randn(3, 2, generator=g, dtype=torch.float64)]
    aggregator = FedAUAggregator(num_clients)

    def local(n, client, params, t):
        w = params[0].clone().requires_grad_(True)
        x, y = client
        loss = torch.nn.functional.cross_entropy(x @ w, y)
        (grad,) = torch.autograd.grad(loss, w)
        return ClientUpdate(n, [(w - lr * grad).detach()])

    aggregator.aggregate(1, w0, [local(n, data[n], w0, 1) for n in (0, 1)])  # some history first
    aggregator.aggregate(3, w0, [local(n, data[n], w0, 3) for n in (0, 2)])
    present = [0, 2, 4]
    omega = torch.tensor([aggregator.weight(n, 6) for n in range(num_clients)], dtype=torch.float64)
    assert omega[[0, 2, 4]].tolist() == [1.5, 3.0, 1.0]  # intervals [1, 2], [3] and none
    new = aggregator.aggregate(6, w0, [local(n, data[n], w0, 6) for n in present])

    x = torch.cat([data[n][0] for n in present])
    y = torch.cat([data[n][1] for n in present])
    owner = torch.cat([torch.full((len(data[n][1]),), n) for n in present])
    w = w0[0].clone().requires_grad_(True)
    loss = FedAUWeightedCrossEntropy()(x @ w, y, fedau_example_weights(owner, omega, num_clients))
    (grad,) = torch.autograd.grad(loss, w)
    torch.testing.assert_close(new[0], w0[0] - lr * grad, rtol=1e-12, atol=1e-12)


def test_example_weights_are_omega_over_n_times_client_size_and_refuse_bad_inputs():
    from hf_methods.training.fedau import fedau_example_weights, fedau_weighted_cross_entropy

    owner = torch.tensor([2, 0, 2, 2, 0])
    omega = torch.tensor([4.0, 1.0, 3.0])
    expected = [3 / (3 * 3), 4 / (3 * 2), 3 / (3 * 3), 3 / (3 * 3), 4 / (3 * 2)]
    torch.testing.assert_close(fedau_example_weights(owner, omega, 3), torch.tensor(expected))
    with pytest.raises(ValueError, match="client_of_example must lie in"):
        fedau_example_weights(torch.tensor([3]), omega, 3)
    with pytest.raises(TypeError, match="client_of_example"):
        fedau_example_weights(torch.tensor([0.0]), omega, 3)
    with pytest.raises(ValueError, match="aggregation_weights must have shape"):
        fedau_example_weights(owner, omega[:2], 3)
    with pytest.raises(ValueError, match="reduction"):
        fedau_weighted_cross_entropy(
            torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), torch.ones(1), reduction="max"
        )


@pytest.mark.slow
def test_record_usage_runs_as_written(tmp_path, monkeypatch):
    from hf_methods.zoo import get_method

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(get_method("fedau").usage, namespace)
    assert namespace["result"]["distance"] < 1.0 and namespace["aggregator"].weight(0) >= 1.0
