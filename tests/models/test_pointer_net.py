"""Tests of P61 `pointer_net`: the Ptr-Net against the paper's equations written out, constrained decoding (no index
twice, beam search against brute force, width 1 = greedy), the tasks and metrics against scipy and closed forms, and
clear errors.

The generic model matrix (save/load, Auto classes, remote code, a training step, batch invariance) lives in
`tests/test_model_matrix.py` with the case in `tests/models/cases_pointer_net.py`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from hf_methods.models.pointer_net import (
    PointerNetConfig,
    PointerNetForSequenceOrdering,
    PointerNetModel,
    convex_hull_task,
    shift_pointers_right,
    sorting_task,
)
from hf_methods.models.pointer_net.tasks import (
    convex_hull_order,
    hull_accuracy,
    hull_area_coverage,
    is_simple_polygon,
    make_task,
    polygon_area,
    position_accuracy,
    repeats_a_position,
    same_cycle,
    sequence_accuracy,
)
from hf_methods.models.pointer_net.training import PointerNetArguments, evaluate_pointer_net, train_pointer_net


def tiny(input_dim=2, hidden_size=8, seed=0, **kwargs) -> PointerNetForSequenceOrdering:
    torch.manual_seed(seed)
    # a wider init than the paper's 0.08 so that an untrained model has clear (non-tied) preferences
    config = PointerNetConfig(input_dim=input_dim, hidden_size=hidden_size, init_range=0.5, **kwargs)
    return PointerNetForSequenceOrdering(config).eval()


def padded_points(input_dim=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    points = torch.rand(4, 6, input_dim, generator=g)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 5 + [0], [1] * 3 + [0] * 3])
    return points, mask


# --- the paper's equations written out ------------------------------------------------------------------------------


def _lstm_step(x, h, c, lstm, layer=0):
    """One LSTM step in numpy, PyTorch's gate order (i, f, g, o): c' = f⊙c + i⊙g, h' = o⊙tanh(c')."""
    w_ih = getattr(lstm, f"weight_ih_l{layer}").detach().double().numpy()
    w_hh = getattr(lstm, f"weight_hh_l{layer}").detach().double().numpy()
    b = (getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")).detach().double().numpy()
    z = w_ih @ x + w_hh @ h + b
    i, f, g, o = np.split(z, 4)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def reference_pointer_logits(model, points: np.ndarray, decoder_ids: list[int]) -> np.ndarray:
    """Ptr-Net for one example, in numpy loops: encoder e_j, decoder d_i fed the pointed coordinates (start vector for
    -1), u_j^i = vᵀ tanh(W_1 e_j + W_2 d_i) (paper, Eq. 3)."""
    base, pointer = model.pointer_net, model.pointer
    hidden = model.config.hidden_size
    h, c = np.zeros(hidden), np.zeros(hidden)
    encoder_states = []
    for x in points:
        h, c = _lstm_step(x, h, c, base.encoder)
        encoder_states.append(h)
    w1 = pointer.encoder_proj.weight.detach().double().numpy()
    w2 = pointer.decoder_proj.weight.detach().double().numpy()
    v = pointer.v.weight.detach().double().numpy()[0]
    start = base.decoder_start.detach().double().numpy()
    logits = []
    for previous in decoder_ids:
        x = start if previous == -1 else points[previous]
        h, c = _lstm_step(x, h, c, base.decoder)
        logits.append([float(v @ np.tanh(w1 @ e + w2 @ h)) for e in encoder_states])
    return np.array(logits)


def test_forward_matches_the_papers_equations_in_numpy():
    model = tiny().double()
    points, mask = padded_points()
    labels = torch.tensor([[2, 0, 5, 1], [3, 1, 0, -100], [4, 4, 2, 0], [2, 1, -100, -100]])
    out = model(points=points.double(), attention_mask=mask, labels=labels)
    decoder_ids = shift_pointers_right(labels)
    for b in range(4):
        n = int(mask[b].sum())
        expected = reference_pointer_logits(model, points[b, :n].double().numpy(), decoder_ids[b].tolist())
        np.testing.assert_allclose(out.logits[b, :, :n].detach().numpy(), expected, atol=1e-10)
        assert (out.logits[b, :, n:] == torch.finfo(torch.float64).min).all()  # padded points get no probability
    # the loss is the mean cross-entropy over the non-ignored steps, written out
    terms = []
    for b, row in enumerate(labels.tolist()):
        n = int(mask[b].sum())
        for i, target in enumerate(row):
            if target != -100:
                u = out.logits[b, i, :n].detach().numpy()
                terms.append(-(u[target] - math.log(np.exp(u - u.max()).sum()) - u.max()))
    assert out.loss.item() == pytest.approx(float(np.mean(terms)), abs=1e-10)


def test_shift_pointers_right_feeds_the_previous_target():
    labels = torch.tensor([[3, 1, 2], [0, -100, -100]])
    assert shift_pointers_right(labels).tolist() == [[-1, 3, 1], [-1, 0, -1]]
    model = tiny()
    points, mask = padded_points()
    labels = torch.tensor([[1, 0], [2, 3], [0, 1], [2, 0]])
    implicit = model(points=points, attention_mask=mask, labels=labels)
    explicit = model(
        points=points, attention_mask=mask, labels=labels, decoder_pointer_ids=shift_pointers_right(labels)
    )
    assert torch.equal(implicit.logits, explicit.logits)


def test_padding_does_not_change_an_example():
    model = tiny()
    points, mask = padded_points()
    labels = torch.tensor([[0, 1, 2], [3, 2, 1], [4, 0, 1], [2, 0, 1]])
    full = model(points=points, attention_mask=mask, labels=labels).logits
    single = model(points=points[3:, :3], labels=labels[3:]).logits  # the 3-point example without padding
    torch.testing.assert_close(full[3, :, :3], single[0], rtol=1e-5, atol=1e-6)  # packed vs unpacked LSTM kernels


def test_base_model_returns_encoder_and_decoder_states():
    model = tiny()
    points, mask = padded_points()
    ids = torch.tensor([[-1, 0], [-1, 1], [-1, 2], [-1, 0]])
    out = model.pointer_net(points=points, attention_mask=mask, decoder_pointer_ids=ids)
    head = model(points=points, attention_mask=mask, decoder_pointer_ids=ids)
    assert out.last_hidden_state.shape == (4, 2, 8) and out.encoder_last_hidden_state.shape == (4, 6, 8)
    assert torch.equal(out.last_hidden_state, head.decoder_last_hidden_state)
    assert isinstance(model.pointer_net, PointerNetModel)


# --- decoding ------------------------------------------------------------------------------------------------------


def reference_greedy(model, points, n, constraint):
    """Greedy decoding re-running the full teacher-forced forward pass on the prefix at every step."""
    chosen: list[int] = []
    for step in range(n + (constraint == "cycle")):
        ids = torch.tensor([[-1, *chosen]])
        logits = model(points=points[None, :n], decoder_pointer_ids=ids).logits[0, -1]
        allowed = torch.ones(n, dtype=torch.bool)
        allowed[chosen] = False
        if constraint == "cycle" and (step >= 3 or not allowed.any()):
            allowed[chosen[0]] = True
        choice = int(logits.masked_fill(~allowed, -math.inf).argmax())
        chosen.append(choice)
        if constraint == "cycle" and step >= 1 and choice == chosen[0]:
            break
    return chosen


@pytest.mark.parametrize("constraint", ["permutation", "cycle"])
def test_greedy_matches_a_step_by_step_reference(constraint):
    model = tiny()
    points, mask = padded_points()
    out = model.generate(points, mask, constraint=constraint)
    for b in range(4):
        n = int(mask[b].sum())
        expected = reference_greedy(model, points[b], n, constraint)
        assert out.sequences[b, : len(expected)].tolist() == expected
        assert (out.sequences[b, len(expected) :] == -1).all() and out.lengths[b] == len(expected)


def _sequence_log_prob(model, points, sequence):
    """Σ_i log p(C_i | C_<i, P) with already chosen positions masked out before the softmax (the permutation case)."""
    ids = torch.tensor([[-1, *sequence[:-1]]])
    logits = model(points=points[None], decoder_pointer_ids=ids).logits[0].double()
    total = 0.0
    for i, target in enumerate(sequence):
        allowed = torch.ones(len(points), dtype=torch.bool)
        allowed[list(sequence[:i])] = False
        total += logits[i].masked_fill(~allowed, -math.inf).log_softmax(-1)[target].item()
    return total


def test_exhaustive_beam_search_finds_the_most_likely_permutation():
    model = tiny(hidden_size=6, seed=3)
    points = torch.rand(1, 4, 2, generator=torch.Generator().manual_seed(1))
    scores = {p: _sequence_log_prob(model, points[0], list(p)) for p in itertools.permutations(range(4))}
    best = max(scores, key=scores.get)
    out = model.generate(points, num_beams=24)  # 4! beams: beam search is exhaustive
    assert tuple(out.sequences[0].tolist()) == best
    assert out.sequences_scores[0].item() == pytest.approx(scores[best], abs=1e-5)
    # any beam's score is the log-probability of the sequence it returns
    narrow = model.generate(points, num_beams=2)
    assert narrow.sequences_scores[0].item() == pytest.approx(scores[tuple(narrow.sequences[0].tolist())], abs=1e-5)


@pytest.mark.parametrize("num_beams", [1, 2, 5])
@pytest.mark.parametrize("constraint", ["permutation", "cycle"])
def test_decoding_never_repeats_an_index(num_beams, constraint):
    model = tiny(seed=1)
    points, mask = padded_points(seed=2)
    out = model.generate(points, mask, num_beams=num_beams, constraint=constraint)
    for b, row in enumerate(out.sequences.tolist()):
        n = int(mask[b].sum())
        row = [v for v in row if v >= 0]
        if constraint == "permutation":
            assert sorted(row) == list(range(n))  # every real point exactly once, never a padded one
        else:
            assert row[-1] == row[0] and len(set(row[:-1])) == len(row) - 1  # distinct, then closed
            assert len(row) - 1 >= min(3, n) and max(row) < n


def test_beam_search_of_width_one_equals_greedy():
    model = tiny(input_dim=1, seed=2)
    data = sorting_task(64, 3, 9, seed=5)
    for constraint in ("permutation", "cycle"):
        greedy = model.generate(data["points"], data["attention_mask"], constraint=constraint)
        beam = model.beam_search(data["points"], data["attention_mask"], num_beams=1, constraint=constraint)
        assert torch.equal(greedy.sequences, beam.sequences)
        torch.testing.assert_close(greedy.sequences_scores, beam.sequences_scores)


def test_wider_beams_never_score_lower_than_greedy_on_exhaustive_width():
    model = tiny(seed=4)
    points = torch.rand(3, 4, 2, generator=torch.Generator().manual_seed(7))
    greedy = model.generate(points).sequences_scores
    exhaustive = model.generate(points, num_beams=24).sequences_scores
    assert (exhaustive >= greedy - 1e-6).all()


def test_max_length_truncates_decoding():
    model = tiny()
    points, mask = padded_points()
    out = model.generate(points, mask, num_beams=2, max_length=2)
    assert out.sequences.shape == (4, 2) and (out.lengths == 2).all()


# --- tasks and metrics -----------------------------------------------------------------------------------------------


def test_sorting_task_labels_sort_the_numbers():
    data = sorting_task(20, 2, 7, seed=0)
    for points, mask, labels in zip(data["points"], data["attention_mask"], data["labels"]):
        n = int(mask.sum())
        order = labels[:n].tolist()
        values = points[order, 0].tolist()
        assert sorted(order) == list(range(n)) and values == sorted(values)
        assert (labels[n:] == -100).all()


def test_convex_hull_labels_are_the_scipy_hull_counter_clockwise_from_the_lowest_index():
    from scipy.spatial import ConvexHull

    data = convex_hull_task(20, 4, 9, seed=1)
    for points, mask, labels in zip(data["points"], data["attention_mask"], data["labels"]):
        n = int(mask.sum())
        row = [v for v in labels.tolist() if v != -100]
        xy = points[:n].double().numpy()
        assert row[0] == row[-1] == min(row[:-1])  # starts at the lowest hull index and closes there
        assert set(row[:-1]) == set(ConvexHull(xy).vertices.tolist())
        # counter-clockwise: positive signed area (shoelace without the absolute value)
        x, y = xy[row[:-1], 0], xy[row[:-1], 1]
        assert np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y) > 0
    square = np.array([[1, 1], [0, 0], [0.5, 0.5], [1, 0], [0, 1]], dtype=float)
    assert convex_hull_order(square).tolist() == [0, 4, 1, 3, 0]


def test_polygon_metrics_against_closed_forms():
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    assert polygon_area(square) == pytest.approx(1.0)
    assert polygon_area(square[[0, 1, 2]]) == pytest.approx(0.5)
    assert is_simple_polygon(square) and not is_simple_polygon(square[[0, 2, 1, 3]])  # a bow tie crosses itself
    points = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.5, 0.5]]])
    mask = torch.ones(1, 5, dtype=torch.long)
    hull = torch.tensor([[0, 1, 2, 3, 0]])
    assert hull_area_coverage(points, mask, hull) == [1.0]
    assert hull_area_coverage(points, mask, torch.tensor([[0, 1, 2, 0, -1]])) == [pytest.approx(0.5)]
    assert hull_area_coverage(points, mask, torch.tensor([[0, 1, 4, 2, 3, 0]])) == [pytest.approx(0.75)]
    assert hull_area_coverage(points, mask, torch.tensor([[0, 2, 1, 3, 0]])) == [0.0]  # self-intersecting
    assert hull_area_coverage(points, mask, torch.tensor([[0, 1, 2, 3, -1]])) == [0.0]  # not closed
    assert hull_accuracy(torch.tensor([[2, 3, 0, 1, 2]]), hull) == [1.0]  # same cycle, another start
    assert hull_accuracy(torch.tensor([[0, 3, 2, 1, 0]]), hull) == [0.0]  # other direction
    assert not same_cycle([0, 1, 2], [0, 1, 0])


def test_sequence_metrics():
    labels = torch.tensor([[2, 0, 1, -100], [0, 1, 2, 3]])
    decoded = torch.tensor([[2, 0, 1, -1], [0, 2, 1, 3]])
    assert sequence_accuracy(decoded, labels) == [1.0, 0.0]
    assert position_accuracy(decoded, labels) == [1.0, 0.5]
    assert repeats_a_position(torch.tensor([[0, 1, 0], [0, 1, 2]])) == [1.0, 0.0]
    assert repeats_a_position(torch.tensor([[0, 1, 2, 0]]), closed=True) == [0.0]


def test_training_lowers_the_loss_and_evaluation_reports_per_example_metrics():
    model = tiny(input_dim=1, hidden_size=16)
    data = make_task("sorting", 512, 3, 5, seed=0)
    losses = train_pointer_net(model, data, steps=60, batch_size=64, learning_rate=1e-2, seed=0)
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    metrics = evaluate_pointer_net(model, "sorting", make_task("sorting", 40, 5, 5, seed=1), num_beams=2)
    assert set(metrics) == {"repeats", "sequence_accuracy", "position_accuracy"}
    assert all(len(v) == 40 for v in metrics.values()) and sum(metrics["repeats"]) == 0
    hull_model = tiny()
    hull = evaluate_pointer_net(hull_model, "convex_hull", make_task("convex_hull", 10, 5, 7, seed=1))
    assert set(hull) == {"repeats", "hull_accuracy", "area_coverage", "valid"}


# --- errors ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"input_dim": 0}, "input_dim"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"num_layers": 0}, "num_layers"),
        ({"attention_size": -1}, "attention_size"),
        ({"dropout": -0.1}, "dropout"),
        ({"init_range": float("inf")}, "init_range"),
        ({"max_points": 0}, "max_points"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PointerNetConfig(**kwargs)


def test_forward_rejects_points_that_are_not_a_float_tensor():
    with pytest.raises(TypeError, match="points"):
        tiny()(points=[[0.0, 1.0]], decoder_pointer_ids=torch.tensor([[-1]]))


def test_forward_rejects_points_of_the_wrong_shape_with_a_hint():
    with pytest.raises(ValueError, match=r"points.*unsqueeze"):
        tiny(input_dim=1)(points=torch.rand(2, 5), decoder_pointer_ids=torch.tensor([[-1], [-1]]))
    with pytest.raises(ValueError, match="input_dim=2"):
        tiny()(points=torch.rand(2, 5, 3), decoder_pointer_ids=torch.tensor([[-1], [-1]]))


def test_forward_rejects_more_points_than_max_points():
    with pytest.raises(ValueError, match="max_points"):
        tiny(max_points=4)(points=torch.rand(1, 5, 2), decoder_pointer_ids=torch.tensor([[-1]]))


def test_forward_rejects_left_padding_and_empty_examples():
    points = torch.rand(1, 3, 2)
    ids = torch.tensor([[-1]])
    with pytest.raises(ValueError, match="right-padded"):
        tiny()(points=points, attention_mask=torch.tensor([[0, 1, 1]]), decoder_pointer_ids=ids)
    with pytest.raises(ValueError, match="without any point"):
        tiny()(points=points, attention_mask=torch.tensor([[0, 0, 0]]), decoder_pointer_ids=ids)
    with pytest.raises(ValueError, match="attention_mask"):
        tiny()(points=points, attention_mask=torch.ones(1, 4), decoder_pointer_ids=ids)


def test_forward_rejects_labels_out_of_range_or_on_padding():
    points, mask = padded_points()
    with pytest.raises(ValueError, match=r"labels.*\[0, num_points=6\)"):
        tiny()(points=points, attention_mask=mask, labels=torch.full((4, 2), 6))
    with pytest.raises(ValueError, match="labels.*padded"):
        tiny()(points=points, attention_mask=mask, labels=torch.full((4, 2), 5))
    with pytest.raises(TypeError, match="labels"):
        tiny()(points=points, attention_mask=mask, labels=torch.zeros(4, 2))


def test_forward_needs_labels_or_decoder_inputs():
    with pytest.raises(ValueError, match="decoder_pointer_ids"):
        tiny()(points=torch.rand(1, 3, 2))
    with pytest.raises(ValueError, match="same shape"):
        tiny()(points=torch.rand(1, 3, 2), labels=torch.tensor([[0, 1]]), decoder_pointer_ids=torch.tensor([[-1]]))


@pytest.mark.parametrize(
    "kwargs,match",
    [({"constraint": "tour"}, "constraint"), ({"num_beams": 0}, "num_beams"), ({"max_length": 0}, "max_length")],
)
def test_generate_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny().generate(torch.rand(1, 3, 2), **kwargs)


def test_tasks_reject_bad_sizes():
    with pytest.raises(ValueError, match="task"):
        make_task("tsp", 4, 3, 5, seed=0)
    with pytest.raises(ValueError, match="min_points"):
        convex_hull_task(4, 2, 5, seed=0)
    with pytest.raises(ValueError, match="max_points"):
        sorting_task(4, 5, 3, seed=0)
    with pytest.raises(ValueError, match="num_examples"):
        sorting_task(0, 1, 3, seed=0)


def test_train_pointer_net_rejects_bad_arguments():
    data = sorting_task(8, 2, 3, seed=0)
    with pytest.raises(ValueError, match="steps"):
        train_pointer_net(tiny(input_dim=1), data, steps=0, batch_size=4)
    with pytest.raises(ValueError, match="train_data"):
        train_pointer_net(tiny(input_dim=1), {"points": data["points"]}, steps=1, batch_size=4)


# --- recipe and record -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"task": "tsp"}, "--task"),
        ({"task": "convex_hull", "min_points": 2}, "--min_points"),
        ({"max_points": 3}, "--max_points"),
        ({"num_beams": 0}, "--num_beams"),
        ({"learning_rate": 0.0}, "--learning_rate"),
    ],
)
def test_bad_recipe_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PointerNetArguments(output_dir="unused", **kwargs).validate()


def test_recipe_arguments_build_the_config_in_one_call():
    config = PointerNetArguments(output_dir="unused", task="convex_hull", hidden_size=32).pointer_net_config()
    assert (config.input_dim, config.hidden_size, config.model_type) == (2, 32, "hfm-pointer_net")


def test_recipe_runs_a_few_steps_and_writes_a_hub_folder(tmp_path):
    import importlib.util

    from transformers import AutoModelForPreTraining

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("pointer_net_recipe", repo_root() / "recipes" / "pointer_net.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "run"
    metrics = recipe.main(
        ["--output_dir", str(out), "--task", "convex_hull", "--max_steps", "3", "--batch_size", "16",
         "--hidden_size", "8", "--num_train_examples", "64", "--num_eval_examples", "8", "--num_beams", "2",
         "--log_every", "0", "--checkpoint_every", "0", "--cpu_threads", "1"]
    )  # fmt: skip
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert {"eval/area_coverage", "eval/hull_accuracy", "eval/repeats", "eval/valid"} == set(metrics)
    loaded = AutoModelForPreTraining.from_pretrained(out)
    assert isinstance(loaded, PointerNetForSequenceOrdering) and loaded.config.input_dim == 2


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("pointer_net").usage, namespace)  # builds its own data and model, trains 5 steps
    order = namespace["order"]
    assert order.shape == (2, 12) and all(sorted(row) == list(range(12)) for row in order.tolist())


@pytest.mark.slow
def test_recipe_resume_is_bit_exact(tmp_path):
    import subprocess
    import sys

    from safetensors.torch import load_file

    from hf_methods.zoo import repo_root

    recipe = str(repo_root() / "recipes" / "pointer_net.py")
    common = ["--max_steps", "12", "--batch_size", "32", "--hidden_size", "8", "--num_train_examples", "200",
              "--num_eval_examples", "8", "--log_every", "0", "--cpu_threads", "1"]  # fmt: skip
    run = lambda *flags: subprocess.run([sys.executable, recipe, *common, *flags], check=True, capture_output=True)  # noqa: E731
    run("--output_dir", tmp_path / "a", "--checkpoint_every", "0")
    resumed = tmp_path / "b"
    run("--output_dir", resumed, "--checkpoint_every", "9")  # a checkpoint inside the second epoch (7 batches each)
    first = sorted((resumed / "checkpoints").iterdir())[0]
    run("--output_dir", resumed, "--resume_from_checkpoint", str(first), "--checkpoint_every", "9")
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
