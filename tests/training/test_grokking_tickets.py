"""P59 `grokking_tickets`: the model and loss against plain references, the ticket's masks against the official
k-th-value rule, rewinding, the controls, the callback with a Trainer, the recipe, and the errors."""

from __future__ import annotations

import ast
import copy

import numpy as np
import pytest
import torch

from hf_methods.common.masks import masks_of, sparsity_stats
from hf_methods.training.grokking_tickets import (
    GrokkingMLPConfig,
    GrokkingMLPForModularArithmetic,
    OneHotMSELoss,
    StepsToAccuracyCallback,
    find_grokking_ticket,
    grokking_ticket_masks,
    match_weight_norm,
    modular_arithmetic,
    one_hot_mse_loss,
    random_masks_like,
    rewind_ticket,
    steps_to_accuracy,
    weight_norm,
)
from hf_methods.training.grokking_tickets.training import GrokkingTicketsArguments, grokking_mlp, train_full_batch

P, N = 11, 24


def tiny(seed: int = 0, **kwargs) -> GrokkingMLPForModularArithmetic:
    return grokking_mlp(seed, modulus=P, hidden_size=N, **kwargs)


# ------------------------------------------------------------------------------------------------------ loss, model


def test_one_hot_mse_matches_a_loop_and_torch_mse():
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randint(0, 5, (7,), generator=g)
    expected = [
        sum((logits[i, k].item() - (1.0 if k == labels[i].item() else 0.0)) ** 2 for k in range(5)) / 5
        for i in range(7)
    ]
    per_example = OneHotMSELoss(reduction="none")(logits, labels)
    torch.testing.assert_close(per_example, torch.tensor(expected, dtype=torch.float64), atol=1e-12, rtol=0)
    target = torch.nn.functional.one_hot(labels, 5).double()
    torch.testing.assert_close(one_hot_mse_loss(logits, labels), torch.nn.functional.mse_loss(logits, target))


@pytest.mark.parametrize("act", ["quadratic", "relu"])
def test_forward_matches_numpy(act):
    model = tiny(hidden_act=act).double()
    x = torch.tensor([[0, 0], [3, 7], [10, 10], [5, 1]])
    w1, w2 = model.fc_in.weight.detach().numpy(), model.fc_out.weight.detach().numpy()
    expected = []
    for a, b in x.tolist():
        onehot = np.zeros(2 * P)
        onehot[a], onehot[P + b] = 1.0, 1.0
        z = w1 @ onehot
        expected.append(w2 @ (z**2 if act == "quadratic" else np.maximum(z, 0)))
    out = model(input_ids=x, labels=torch.tensor([0, 10, 9, 6]))
    np.testing.assert_allclose(out.logits.detach().numpy(), np.array(expected), atol=1e-12)
    torch.testing.assert_close(out.loss, one_hot_mse_loss(out.logits, torch.tensor([0, 10, 9, 6])))


def test_cross_entropy_loss_type_and_default_initialisation():
    model = tiny(loss_type="cross_entropy")
    x, y = torch.tensor([[1, 2], [3, 4]]), torch.tensor([3, 7])
    out = model(input_ids=x, labels=y)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, y))
    big = GrokkingMLPForModularArithmetic(GrokkingMLPConfig(modulus=97, hidden_size=500))
    assert big.config.initializer_range == pytest.approx(0.5 / 1000 ** (1 / 3))
    assert big.fc_in.weight.std().item() == pytest.approx(0.05, rel=0.02)
    assert big.fc_in.bias is None and big.fc_out.bias is None


def test_modular_arithmetic_covers_every_pair_once():
    split = modular_arithmetic(7, 0.3, operation="subtract", seed=3)
    pairs = torch.cat([split.x_train, split.x_test]).tolist()
    assert sorted(map(tuple, pairs)) == [(a, b) for a in range(7) for b in range(7)]
    assert len(split.y_train) == round(0.3 * 49)
    for (a, b), y in zip(
        split.x_train.tolist() + split.x_test.tolist(), split.y_train.tolist() + split.y_test.tolist()
    ):
        assert y == (a - b) % 7
    assert torch.equal(modular_arithmetic(7, 0.3, seed=3).x_train, split.x_train)  # the split depends on the seed
    ds = split.to_dataset_dict()
    assert ds["train"]["input_ids"] == split.x_train.tolist() and ds["test"]["labels"] == split.y_test.tolist()


def test_save_pretrained_and_auto_class_round_trip(tmp_path):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from hf_methods.common.masks import bake

    ticket = find_grokking_ticket(tiny(1), tiny(0), keep=0.3)
    x = torch.tensor([[1, 2], [9, 4], [0, 10]])
    expected = ticket(input_ids=x).logits
    bake(ticket).save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), GrokkingMLPConfig)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert isinstance(loaded, GrokkingMLPForModularArithmetic)
    torch.testing.assert_close(loaded(input_ids=x).logits, expected, atol=0, rtol=0)  # same kernels, same weights
    assert (loaded.fc_in.weight == 0).float().mean().item() > 0.5
    # the remote code saved next to the weights needs transformers only (trust_remote_code without hf-methods)
    code = sorted(p.name for p in tmp_path.glob("*.py"))
    assert code == ["configuration_grokking_mlp.py", "modeling_grokking_mlp.py"]
    for name in code:
        for node in ast.walk(ast.parse((tmp_path / name).read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(m.startswith("hf_methods") for m in modules), (name, modules)


# ------------------------------------------------------------------------------------------------------ tickets


def official_global_masks(model, keep):
    """The official rule (`pruner.py`): k = int((1 − sparsity_kept)·n), τ = k-th smallest |w|, keep |w| > τ."""
    scores = [m.weight.detach().abs() for m in (model.fc_in, model.fc_out)]
    flat = torch.cat([s.flatten() for s in scores])
    threshold = torch.kthvalue(flat, int((1.0 - keep) * flat.numel())).values
    return {"fc_in.weight": scores[0] > threshold, "fc_out.weight": scores[1] > threshold}


def test_ticket_masks_match_the_official_global_threshold():
    trained = tiny(5)  # n = 2·11·24 + 11·24 = 792; keep·n is an integer for keep = 0.25
    masks = grokking_ticket_masks(trained, keep=0.25)
    reference = official_global_masks(trained, 0.25)
    for name in masks:
        assert torch.equal(masks[name], reference[name]), name
    assert sum(int(m.sum()) for m in masks.values()) == 198
    stats = sparsity_stats(masks)
    assert stats["fc_in.weight"] != pytest.approx(stats["fc_out.weight"])  # global scope: densities differ by layer
    layer = grokking_ticket_masks(trained, keep=0.25, scope="layer")
    assert all(m.float().mean().item() == pytest.approx(0.25, abs=1e-3) for m in layer.values())


def test_rewind_keeps_the_initial_weights_and_pruned_weights_stay_zero():
    initial, trained = tiny(0), tiny(1)
    snapshot = copy.deepcopy(initial.state_dict())
    ticket = find_grokking_ticket(trained, initial, keep=0.4)
    masks = masks_of(ticket)
    assert torch.equal(masks["fc_in.weight"], grokking_ticket_masks(trained, 0.4)["fc_in.weight"])
    for name, module in (("fc_in.weight", ticket.fc_in), ("fc_out.weight", ticket.fc_out)):
        torch.testing.assert_close(module.weight, snapshot[name] * masks[name], atol=0, rtol=0)
    assert all(torch.equal(v, initial.state_dict()[k]) for k, v in snapshot.items())  # the initial model is untouched
    train_full_batch(ticket, modular_arithmetic(P, 0.5, seed=0), max_steps=3, eval_every=1)
    assert (ticket.fc_in.weight[~masks["fc_in.weight"]] == 0).all()
    assert not torch.equal(ticket.fc_in.weight, snapshot["fc_in.weight"] * masks["fc_in.weight"])  # it trained


def test_ticket_of_a_masked_model_ranks_its_effective_weights():
    ticket = find_grokking_ticket(tiny(1), tiny(0), keep=0.5)
    smaller = grokking_ticket_masks(ticket, keep=0.25)
    kept = masks_of(ticket)
    assert all(not (smaller[k] & ~kept[k]).any() for k in kept)  # a pruned weight is never chosen again


def test_random_masks_keep_each_layers_count():
    masks = grokking_ticket_masks(tiny(2), keep=0.3)
    random = random_masks_like(masks, seed=1)
    for name in masks:
        assert int(random[name].sum()) == int(masks[name].sum())
        assert not torch.equal(random[name], masks[name])
    assert all(torch.equal(random[k], random_masks_like(masks, seed=1)[k]) for k in masks)


def test_norm_matched_dense_has_the_tickets_norm():
    initial = tiny(0)
    ticket = find_grokking_ticket(tiny(1), initial, keep=0.3)
    for ord in (1, 2):
        matched = match_weight_norm(initial, ticket, ord=ord)
        assert weight_norm(matched, ord) == pytest.approx(weight_norm(ticket, ord), rel=1e-5)
        ratio = matched.fc_out.weight / initial.fc_out.weight
        torch.testing.assert_close(ratio, torch.full_like(ratio, ratio[0, 0].item()))


# ------------------------------------------------------------------------------------------------------ training


def test_steps_to_accuracy():
    curve = [(0, 0.0), (10, 0.5), (20, 0.96), (30, 0.9)]
    assert steps_to_accuracy(curve, 0.95) == 20 and steps_to_accuracy(curve, 0.99) is None


def test_callback_records_the_curve_and_stops_a_trainer(tmp_path):
    from transformers import Trainer, TrainingArguments

    from hf_methods.common.batches import TensorDictDataset, collate_batch

    split = modular_arithmetic(P, 0.5, seed=0)
    train = TensorDictDataset(input_ids=split.x_train, labels=split.y_train)
    args = TrainingArguments(
        str(tmp_path),
        max_steps=6,
        per_device_train_batch_size=len(train),
        learning_rate=1e-2,
        lr_scheduler_type="constant",
        report_to=[],
        save_strategy="no",
        remove_unused_columns=False,
        use_cpu=True,
    )
    callback = StepsToAccuracyCallback(split.x_test, split.y_test, threshold=0.0, eval_every=2, stop_at_threshold=True)
    trainer = Trainer(model=tiny(), args=args, train_dataset=train, data_collator=collate_batch, callbacks=[callback])
    trainer.train()
    assert [step for step, _ in callback.curve] == [0, 2]
    assert callback.steps_to_threshold == 0 and trainer.state.global_step == 2  # stopped at the first evaluation


def test_train_full_batch_records_memorisation():
    split = modular_arithmetic(P, 0.6, seed=0)
    result = train_full_batch(tiny(), split, max_steps=30, eval_every=5, memorisation_accuracy=0.5)
    assert [s for s, _, _ in result["curve"]] == [0, 5, 10, 15, 20, 25, 30]
    step = result["memorisation_step"]
    assert step is not None and dict((s, tr) for s, tr, _ in result["curve"])[step] >= 0.5
    assert set(result["memorisation_state"]) == {"fc_in.weight", "fc_out.weight"}


def test_recipe_runs_a_few_steps(tmp_path):
    import json

    from hf_methods.common.masks import load_masks
    from recipes.grokking_tickets import main

    out = tmp_path / "run"
    common = ["--modulus", "7", "--hidden_size", "16", "--dense_steps", "5", "--log_every", "2"]
    metrics = main(["--output_dir", out, "--max_steps", "4", "--checkpoint_every", "2", *common])
    assert metrics["eval/kept_fraction"] == pytest.approx(0.5, abs=0.01)
    masks = load_masks(out)
    loaded = GrokkingMLPForModularArithmetic.from_pretrained(out)
    assert (loaded.fc_in.weight[~masks["fc_in.weight"]] == 0).all()
    assert json.loads((out / "metrics.json").read_text())["metrics"]["eval/steps_to_threshold"] in (-1, 2, 4)
    resumed = main(["--output_dir", out, "--max_steps", "6", "--resume_from_checkpoint", "latest", *common])
    assert torch.equal(load_masks(out)["fc_out.weight"], masks["fc_out.weight"])
    assert set(resumed) == set(metrics)


def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("grokking_tickets").usage, namespace)
    assert set(masks_of(namespace["ticket"])) == {"fc_in.weight", "fc_out.weight"}
    assert 0.0 <= namespace["run"]["final_test_accuracy"] <= 1.0


@pytest.mark.slow
def test_remote_code_loads_without_hf_methods(tmp_path):
    import subprocess
    import sys

    model = tiny(3)
    model.save_pretrained(tmp_path)
    script = (
        "import sys, torch\n"
        "from transformers import AutoModelForSequenceClassification\n"
        f"m = AutoModelForSequenceClassification.from_pretrained({str(tmp_path)!r}, trust_remote_code=True)\n"
        "assert 'hf_methods' not in sys.modules\n"
        "print(m(input_ids=torch.tensor([[1, 2]])).logits.sum().item())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, cwd=tmp_path)
    expected = model(input_ids=torch.tensor([[1, 2]])).logits.sum().item()
    assert float(out.stdout.strip().splitlines()[-1]) == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow
def test_ticket_groks_faster_than_dense_on_seed_0():
    """The claim's first seed, shortened: dense reaches 95% test accuracy after 190 steps, the ticket after 70."""
    torch.set_num_threads(1)
    split = modular_arithmetic(97, 0.3, seed=0)
    initial, dense = grokking_mlp(0), grokking_mlp(0)
    dense_run = train_full_batch(dense, split, max_steps=500)  # pruned well after it generalised
    ticket_run = train_full_batch(find_grokking_ticket(dense, initial, keep=0.5), split, max_steps=150)
    assert ticket_run["steps_to_threshold"] <= 0.6 * dense_run["steps_to_threshold"]


# ------------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"modulus": 1}, "modulus"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"hidden_act": "gelu"}, "hidden_act"),
        ({"loss_type": "hinge"}, "loss_type"),
        ({"initializer_range": -1.0}, "initializer_range"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GrokkingMLPConfig(**kwargs)


@pytest.mark.parametrize(
    "input_ids,error,match",
    [
        (torch.tensor([[1.0, 2.0]]), TypeError, "integer tensor"),
        (torch.tensor([1, 2]), ValueError, r"shape \(batch, 2\)"),
        (torch.tensor([[1, P]]), ValueError, r"lie in \[0, 11\)"),
        ([[1, 2]], TypeError, "torch.Tensor"),
    ],
)
def test_bad_input_ids(input_ids, error, match):
    with pytest.raises(error, match=match):
        tiny()(input_ids=input_ids)


@pytest.mark.parametrize(
    "labels,error,match",
    [
        (torch.tensor([P]), ValueError, r"labels must lie"),
        (torch.tensor([1.0]), TypeError, "integer tensor"),
        (torch.tensor([1, 2]), ValueError, r"labels must have shape"),
    ],
)
def test_bad_labels(labels, error, match):
    with pytest.raises(error, match=match):
        tiny()(input_ids=torch.tensor([[1, 2]]), labels=labels)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"modulus": 1}, "modulus"), ({"train_fraction": 1.0}, "train_fraction"), ({"operation": "divide"}, "operation")],
)
def test_bad_modular_arithmetic(kwargs, match):
    with pytest.raises(ValueError, match=match):
        modular_arithmetic(**{"modulus": 7, **kwargs})


def test_bad_keep_and_scope():
    with pytest.raises(ValueError, match="keep"):
        grokking_ticket_masks(tiny(), keep=0.0)
    with pytest.raises(ValueError, match="scope"):
        grokking_ticket_masks(tiny(), keep=0.5, scope="row")
    with pytest.raises(TypeError, match="trained_model"):
        grokking_ticket_masks(torch.zeros(3), keep=0.5)


def test_bad_masks_and_models_for_the_controls():
    with pytest.raises(ValueError, match="masks"):
        random_masks_like({})
    ticket = find_grokking_ticket(tiny(1), tiny(0), keep=0.5)
    with pytest.raises(ValueError, match="initial_model already carries masks"):
        rewind_ticket(ticket, masks_of(ticket))
    with pytest.raises(ValueError, match="model carries masks"):
        match_weight_norm(ticket, tiny())
    with pytest.raises(ValueError, match="ord"):
        weight_norm(tiny(), ord=3)


def test_bad_callback_arguments():
    x, y = torch.zeros(4, 2, dtype=torch.long), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="eval_every"):
        StepsToAccuracyCallback(x, y, eval_every=0)
    with pytest.raises(ValueError, match="threshold"):
        StepsToAccuracyCallback(x, y, threshold=1.5)
    with pytest.raises(ValueError, match="same, non-zero number"):
        StepsToAccuracyCallback(x, y[:2])
    with pytest.raises(ValueError, match="threshold"):
        steps_to_accuracy([(0, 1.0)], -0.1)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"mask": "snip"}, "--mask"),
        ({"keep": 0.0}, "--keep"),
        ({"scope": "row"}, "--scope"),
        ({"train_fraction": 1.0}, "--train_fraction"),
        ({"weight_decay": -1.0}, "--weight_decay"),
        ({"adam_beta2": 1.0}, "--adam_beta2"),
        ({"dense_steps": 0}, "--dense_steps"),
        ({"threshold": 0.0}, "--threshold"),
        ({"hidden_act": "gelu"}, "--hidden_act"),
        ({"operation": "divide"}, "--operation"),
    ],
)
def test_bad_recipe_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GrokkingTicketsArguments(output_dir="x", **kwargs).validate()
