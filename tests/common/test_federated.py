"""The in-process federated loop, FedAvg, participation patterns and the Flower strategy bridge."""

import numpy as np
import pytest
import torch

from hf_methods.common.federated import (
    Aggregator,
    ClientUpdate,
    FedAvgAggregator,
    bernoulli_participation,
    cyclic_participation,
    load_parameters,
    markov_participation,
    model_parameters,
    parameter_distance,
    simulate_federated,
)


def _update(cid, values, n=1, bits=None):
    return ClientUpdate(
        client_id=cid,
        parameters=[torch.tensor(v, dtype=torch.float32) for v in values],
        num_examples=n,
        upload_bits=bits,
    )


def test_fedavg_is_the_example_weighted_mean():
    glob = [torch.zeros(3), torch.ones(2)]
    ups = [_update(0, [[1, 2, 3], [0, 0]], n=1), _update(5, [[4, 5, 6], [3, 3]], n=3)]
    new = FedAvgAggregator().aggregate(1, glob, ups)
    np.testing.assert_allclose(new[0].numpy(), (np.array([1, 2, 3]) * 1 + np.array([4, 5, 6]) * 3) / 4, rtol=1e-6)
    np.testing.assert_allclose(new[1].numpy(), [2.25, 2.25], rtol=1e-6)
    uniform = FedAvgAggregator(weighting="uniform", server_lr=0.5).aggregate(1, glob, ups)
    # w + 0.5 * mean(w_n - w)
    np.testing.assert_allclose(uniform[0].numpy(), 0.5 * np.array([2.5, 3.5, 4.5]), rtol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(FedAvgAggregator().aggregate(2, glob, []), glob))


def test_client_update_counts_32_bits_per_number_by_default():
    assert _update(0, [[1, 2, 3], [0, 0]]).upload_bits == 32 * 5
    assert _update(0, [[1, 2, 3]], bits=3).upload_bits == 3


@pytest.mark.parametrize(
    "ups, match",
    [
        ([_update(0, [[1, 2, 3]])], "sent 1 tensors"),
        ([_update(0, [[1, 2], [0, 0]])], "shape"),
        ([_update(0, [[1, 2, 3], [0, 0]]), _update(0, [[1, 2, 3], [0, 0]])], "two updates"),
    ],
)
def test_fedavg_rejects_mismatched_updates(ups, match):
    with pytest.raises(ValueError, match=match):
        FedAvgAggregator().aggregate(1, [torch.zeros(3), torch.zeros(2)], ups)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="weighting"):
        FedAvgAggregator(weighting="median")
    with pytest.raises(ValueError, match="server_lr"):
        FedAvgAggregator(server_lr=0)
    with pytest.raises(TypeError, match="list of tensors"):
        ClientUpdate(client_id=0, parameters=[np.zeros(2)])
    with pytest.raises(ValueError, match="num_examples"):
        ClientUpdate(client_id=0, parameters=[torch.zeros(2)], num_examples=-1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bernoulli_participation([0.5, 1.5], rounds=3)
    with pytest.raises(ValueError, match="rounds"):
        bernoulli_participation([0.5], rounds=0)
    with pytest.raises(ValueError, match="persistence"):
        markov_participation([0.5], rounds=3, persistence=1.0)
    with pytest.raises(ValueError, match="period"):
        cyclic_participation([0.5], rounds=3, period=0)
    with pytest.raises(ValueError, match="keeps no state"):
        FedAvgAggregator().load_state_dict({"x": 1})


def test_participation_patterns_have_the_asked_frequencies():
    probs = [0.05, 0.3, 0.8]
    for pattern in (
        bernoulli_participation(probs, 20000, seed=1),
        markov_participation(probs, 20000, persistence=0.6, seed=1),
    ):
        assert pattern.shape == (20000, 3) and pattern.dtype == torch.bool
        np.testing.assert_allclose(pattern.double().mean(0).numpy(), probs, atol=0.03)
    cyclic = cyclic_participation([0.25, 0.5], 40, period=20, seed=0)
    assert cyclic.sum(0).tolist() == [10, 20]
    # Markov persistence makes presence sticky: P(joined | joined before) exceeds p.
    sticky = markov_participation([0.3], 20000, persistence=0.6, seed=2)[:, 0]
    assert sticky[1:][sticky[:-1]].double().mean() > 0.6


def test_simulation_runs_the_aggregator_on_the_participants_and_counts_bits():
    # Client n's local update jumps straight to its optimum c_n; FedAvg (uniform) over all clients then lands on
    # the mean of the optima after one round.
    optima = [torch.tensor([1.0, 0.0]), torch.tensor([3.0, 2.0]), torch.tensor([-1.0, 4.0])]

    def local_update(n, client, params, server_round):
        assert torch.equal(client, optima[n]) and len(params) == 1
        return ClientUpdate(client_id=n, parameters=[client.clone()], num_examples=1)

    seen_rounds = []

    def evaluate(params, server_round):
        seen_rounds.append(server_round)
        return {"distance": parameter_distance(params, [torch.stack(optima).mean(0)])}

    participation = torch.tensor([[True, True, True], [True, False, True], [False, False, False]])
    run = simulate_federated(
        [torch.zeros(2)],
        optima,
        local_update,
        FedAvgAggregator(weighting="uniform"),
        participation,
        evaluate=evaluate,
        eval_every=1,
    )
    assert run.participants == [[0, 1, 2], [0, 2], []]
    assert run.upload_bits == [3 * 64, 2 * 64, 0]
    assert seen_rounds == [1, 2, 3]
    assert run.evaluations[0][1]["distance"] == pytest.approx(0.0, abs=1e-6)
    torch.testing.assert_close(run.parameters[0], (optima[0] + optima[2]) / 2)


def test_simulation_rejects_bad_inputs():
    part = torch.ones(2, 2, dtype=torch.bool)

    def ok(n, c, p, r):
        return ClientUpdate(client_id=n, parameters=p)

    with pytest.raises(ValueError, match="2 clients"):
        simulate_federated([torch.zeros(1)], [0, 1, 2], ok, FedAvgAggregator(), part)
    with pytest.raises(ValueError, match="bool tensor"):
        simulate_federated([torch.zeros(1)], [0, 1], ok, FedAvgAggregator(), part.float())
    with pytest.raises(TypeError, match="Aggregator"):
        simulate_federated([torch.zeros(1)], [0, 1], ok, object(), part)
    with pytest.raises(TypeError, match="ClientUpdate"):
        simulate_federated([torch.zeros(1)], [0, 1], lambda *a: a[2], FedAvgAggregator(), part)
    with pytest.raises(ValueError, match="empty"):
        simulate_federated([], [0, 1], ok, FedAvgAggregator(), part)


def test_model_parameters_round_trip():
    model = torch.nn.Linear(3, 2)
    names = ["weight", "bias"]
    values = [torch.ones(2, 3), torch.zeros(2)]
    load_parameters(model, names, values)
    assert all(torch.equal(a, b) for a, b in zip(model_parameters(model, names), values))
    assert len(model_parameters(model)) == 2
    with pytest.raises(KeyError, match="no parameter"):
        load_parameters(model, ["nope"], [torch.zeros(1)])
    with pytest.raises(ValueError, match="shape"):
        load_parameters(model, ["bias"], [torch.zeros(3)])


class _Recorder(Aggregator):
    """Keeps state across rounds, like FedAU: the round numbers it saw."""

    def __init__(self):
        self.rounds = []

    def aggregate(self, server_round, global_parameters, updates):
        self.rounds.append(server_round)
        return FedAvgAggregator().aggregate(server_round, global_parameters, updates)


def test_flower_strategy_aggregates_fit_results_like_the_in_process_loop():
    flwr = pytest.importorskip("flwr")  # noqa: F841
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
    from flwr.server.client_proxy import ClientProxy

    from hf_methods.common.flower import AggregatorStrategy, parameters_to_tensors

    class Proxy(ClientProxy):
        def get_properties(self, *a, **k):
            raise NotImplementedError

        def get_parameters(self, *a, **k):
            raise NotImplementedError

        def fit(self, *a, **k):
            raise NotImplementedError

        def evaluate(self, *a, **k):
            raise NotImplementedError

        def reconnect(self, *a, **k):
            raise NotImplementedError

    generator = torch.Generator().manual_seed(0)
    glob = [torch.randn(4, 3, generator=generator), torch.randn(4, generator=generator)]
    clients = {7: 10, 2: 30}
    locals_ = {cid: [p + torch.randn(p.shape, generator=generator) for p in glob] for cid in clients}
    expected = FedAvgAggregator().aggregate(
        1, glob, [ClientUpdate(cid, locals_[cid], num_examples=n) for cid, n in clients.items()]
    )

    recorder = _Recorder()
    strategy = AggregatorStrategy(recorder, initial_parameters=ndarrays_to_parameters([p.numpy() for p in glob]))
    results = [
        (
            Proxy(cid=f"node-{cid}"),
            FitRes(
                status=Status(code=Code.OK, message=""),
                parameters=ndarrays_to_parameters([p.numpy() for p in locals_[cid]]),
                num_examples=n,
                metrics={"client_id": cid},
            ),
        )
        for cid, n in clients.items()
    ]
    parameters, metrics = strategy.aggregate_fit(1, results, [])
    for got, want in zip(parameters_to_tensors(parameters), expected):
        torch.testing.assert_close(got, want)
    assert metrics["upload_bits"] == 2 * 32 * 16 and recorder.rounds == [1]
    assert strategy.aggregate_fit(2, [], []) == (None, {})
    with pytest.raises(TypeError, match="Aggregator"):
        AggregatorStrategy(object())
