"""P38 `rd_pruning`: curves against a hand-written loop, the DP against brute force, masks, iterative pruning, and
the baked model reloading with plain transformers."""

import itertools

import pytest
import torch
from torch import nn

from hf_methods.adapters.rd_pruning import (
    PruneAndFinetuneCallback,
    RDLayerAdaptivePruner,
    dp_allocate,
    kept_counts,
    layer_magnitude_mask,
    output_distortion,
    rd_curves,
    saved_kept_fraction,
)
from hf_methods.common.masks import masks_of, sparsity_stats


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3))


def brute_force(curves, sizes, budget, min_level=None):
    levels = len(curves[0]) - 1
    best, arg = float("inf"), None
    ranges = [range(min_level[i] if min_level else 0, levels + 1) for i in range(len(curves))]
    for combo in itertools.product(*ranges):
        kept = sum(n - round(n * i / levels) for n, i in zip(sizes, combo))
        if kept <= budget:
            cost = sum(c[i] for c, i in zip(curves, combo))
            if cost < best - 1e-12:
                best, arg = cost, combo
    return best, arg


# ------------------------------------------------------------------------------------------ DP vs brute force


@pytest.mark.parametrize("seed", range(12))
def test_dp_equals_brute_force_on_toy(seed):
    g = torch.Generator().manual_seed(seed)
    levels = 10
    sizes = [int(s) for s in torch.randint(3, 40, (3,), generator=g)]
    # monotone increasing curves (as a magnitude-pruning curve), random shapes
    curves = [torch.rand(levels + 1, generator=g).cumsum(0).tolist() for _ in sizes]
    for c in curves:
        c[0] = 0.0
    budget = int(torch.randint(0, sum(sizes) + 1, (1,), generator=g))
    best, _ = brute_force(curves, sizes, budget)
    level = dp_allocate(curves, sizes, budget)
    assert sum(n - round(n * i / levels) for n, i in zip(sizes, level)) <= budget
    assert sum(c[i] for c, i in zip(curves, level)) == pytest.approx(best, abs=1e-12)


def test_dp_respects_min_level_and_matches_brute_force():
    g = torch.Generator().manual_seed(5)
    curves = [torch.rand(11, generator=g).tolist() for _ in range(3)]  # non-monotone: the DP must still be exact
    sizes, min_level = [10, 17, 23], [2, 0, 5]
    for budget in (0, 7, 20, 33, 50):
        best, _ = brute_force(curves, sizes, budget, min_level)
        level = dp_allocate(curves, sizes, budget, min_level=min_level)
        assert all(i >= m for i, m in zip(level, min_level))
        assert sum(c[i] for c, i in zip(curves, level)) == pytest.approx(best, abs=1e-12)


def test_dp_keyed_and_unit_stays_within_budget():
    curves = {"a": [0, 1, 4, 9, 16], "b": [0, 2, 3, 10, 30]}
    sizes = {"a": 100, "b": 60}
    level = dp_allocate(curves, sizes, 80, unit=7)
    assert set(level) == {"a", "b"}
    assert sum(n - round(n * level[k] / 4) for k, n in sizes.items()) <= 80


def test_kept_counts():
    assert kept_counts(10, 4) == [10, 8, 5, 2, 0]  # 10 - round(2.5)=8 (banker's), round(5)=5, round(7.5)=8
    assert kept_counts(3, 1) == [3, 0]


# ------------------------------------------------------------------------------------------ curves vs a plain loop


def test_rd_curves_match_loop_reference():
    model = mlp()
    x = torch.randn(32, 6, generator=torch.Generator().manual_seed(1))
    curves = rd_curves(model, x, levels=4)
    worst = rd_curves(model, [x[:16], x[16:]], levels=4, worst_case=True)
    y = model(x).detach()
    for name in ("0.weight", "2.weight", "4.weight"):
        layer = model.get_submodule(name[:-7])
        w = layer.weight.detach().clone()
        order = sorted(range(w.numel()), key=lambda j: -abs(float(w.flatten()[j])))
        for i in range(5):
            n_keep = w.numel() - round(w.numel() * i / 4)
            flat = torch.zeros(w.numel())
            for j in order[:n_keep]:
                flat[j] = w.flatten()[j]
            with torch.no_grad():
                layer.weight.copy_(flat.view_as(w))
                per_sample = [float(((y[s] - model(x[s : s + 1])[0]) ** 2).mean()) for s in range(32)]
                layer.weight.copy_(w)
            assert curves[name][i] == pytest.approx(sum(per_sample) / 32, rel=1e-4, abs=1e-9)
            assert worst[name][i] == pytest.approx(max(per_sample), rel=1e-4, abs=1e-9)
        assert curves[name][0] == 0.0


def test_output_distortion_single_layer_equals_curve_and_model_untouched():
    model = mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(20, 6)
    curves = rd_curves(model, x, levels=5)
    w = model[2].weight
    mask = layer_magnitude_mask(w, w.numel() - round(w.numel() * 3 / 5))
    assert output_distortion(model, {"2.weight": mask}, x) == pytest.approx(curves["2.weight"][3], rel=1e-5)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_layer_magnitude_mask_exact_count():
    w = torch.tensor([[0.1, -3.0, 2.0], [0.5, -0.2, 1.0]])
    assert layer_magnitude_mask(w, 2).tolist() == [[False, True, True], [False, False, False]]
    assert not layer_magnitude_mask(w, 0).any()


# ------------------------------------------------------------------------------------------ pruner end to end


def test_pruner_allocate_apply_sparsity_and_objective():
    model = mlp()
    x = torch.randn(64, 6)
    pruner = RDLayerAdaptivePruner(model, x, levels=10)
    amounts = pruner.allocate(0.6)
    masks = pruner.apply(amounts)
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    assert kept <= round(0.4 * total)
    assert sparsity_stats(model)["global"] >= 0.6 - 1e-9
    assert set(masks_of(model)) == set(masks)
    # the DP objective is no worse than the uniform allocation at the same grid point
    uniform = sum(c[6] for c in pruner.curves.values())
    assert sum(pruner.curves[n][round(a * 10)] for n, a in amounts.items()) <= uniform + 1e-12
    assert set(pruner.baseline_masks(0.6, "uniform")) == set(masks)


def test_monotone_reallocation_never_shrinks_amounts():
    model = mlp()
    pruner = RDLayerAdaptivePruner(model, torch.randn(32, 6), levels=10)
    first = pruner.allocate(0.3)
    pruner.apply(first)
    pruner.compute_rd_curves()
    second = pruner.allocate(0.6)
    assert all(second[n] >= first[n] for n in first)


def test_callback_iterative_pruning_in_trainer(tmp_path):
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = mlp()

        def forward(self, x, labels=None):
            logits = self.net(x)
            out = {"logits": logits}
            if labels is not None:
                out["loss"] = nn.functional.cross_entropy(logits, labels)
            return out

    model = Wrapped()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 6, generator=g)
    ds = Dataset.from_dict({"x": x.tolist(), "labels": torch.randint(0, 3, (64,), generator=g).tolist()})
    pruner = RDLayerAdaptivePruner(model, {"x": x[:32]}, levels=10)
    callback = PruneAndFinetuneCallback(pruner, prune_every=2, iterations=3, rate=0.3)
    args = TrainingArguments(
        str(tmp_path),
        max_steps=6,
        per_device_train_batch_size=16,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        learning_rate=0.01,
        disable_tqdm=True,
    )
    Trainer(model=model, args=args, train_dataset=ds, callbacks=[callback]).train()
    assert [h["iteration"] for h in callback.history] == [1, 2, 3]
    for prev, cur in zip(callback.history, callback.history[1:]):
        assert all(cur["amounts"][n] >= prev["amounts"][n] for n in prev["amounts"])
    assert not masks_of(model)  # baked at the end
    assert sparsity_stats(model.net)["global"] >= callback.sparsity(3) - 1e-9


def test_baked_model_reloads_with_plain_transformers(tmp_path):
    from transformers import LlamaForCausalLM

    from hf_methods.common.tiny import tiny_llama_config

    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_llama_config(vocab_size=64, num_hidden_layers=2, hidden_size=32)).eval()
    ids = torch.randint(0, 64, (4, 12))
    pruner = RDLayerAdaptivePruner(model, {"input_ids": ids}, levels=4, exclude=("lm_head",))
    pruner.apply(pruner.allocate(0.5))
    with torch.no_grad():
        masked = model(input_ids=ids).logits
    pruner.bake()
    model.save_pretrained(tmp_path)
    reloaded = LlamaForCausalLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, masked)
    frac = saved_kept_fraction(tmp_path, [n for n in pruner.sizes])
    assert frac <= 0.5 + 1e-9 and frac > 0.3


# ------------------------------------------------------------------------------------------ errors


def test_errors():
    model = mlp()
    x = torch.randn(8, 6)
    with pytest.raises(ValueError, match="levels"):
        rd_curves(model, x, levels=0)
    with pytest.raises(TypeError, match="calibration"):
        rd_curves(model, 3.0)
    with pytest.raises(ValueError, match="calibration is empty"):
        RDLayerAdaptivePruner(model, [])
    with pytest.raises(TypeError, match="model"):
        RDLayerAdaptivePruner("model", x)
    with pytest.raises(ValueError, match="prunable"):
        RDLayerAdaptivePruner(model, x, exclude=("",))
    pruner = RDLayerAdaptivePruner(model, x, levels=4)
    with pytest.raises(ValueError, match="target_sparsity"):
        pruner.allocate(1.0)
    with pytest.raises(TypeError, match="target_sparsity"):
        pruner.allocate("0.5")
    with pytest.raises(ValueError, match="amounts"):
        pruner.masks()
    with pytest.raises(ValueError, match="amount of"):
        pruner.masks({"0.weight": 1.5})
    with pytest.raises(ValueError, match="kind"):
        pruner.baseline_masks(0.5, "lamp")
    with pytest.raises(ValueError, match="budget"):
        dp_allocate([[0, 1], [0, 1]], [3, 4], -1)
    with pytest.raises(ValueError, match="sizes"):
        dp_allocate([[0, 1], [0, 1]], [3], 2)
    with pytest.raises(ValueError, match="levels"):
        dp_allocate([[0, 1], [0, 1, 2]], [3, 4], 2)
    with pytest.raises(ValueError, match="unit"):
        dp_allocate([[0, 1]], [3], 2, unit=0)
    with pytest.raises(ValueError, match="min_level"):
        dp_allocate([[0, 1]], [3], 2, min_level=[2])
    with pytest.raises(ValueError, match="n_keep"):
        layer_magnitude_mask(torch.ones(3), 4)
    with pytest.raises(ValueError, match="prune_every"):
        PruneAndFinetuneCallback(pruner, prune_every=0, iterations=1)
    with pytest.raises(ValueError, match="iterations"):
        PruneAndFinetuneCallback(pruner, prune_every=1, iterations=0)
    with pytest.raises(ValueError, match="rate"):
        PruneAndFinetuneCallback(pruner, prune_every=1, iterations=1, rate=1.0)
    with pytest.raises(TypeError, match="pruner"):
        PruneAndFinetuneCallback(object(), prune_every=1, iterations=1)


# ------------------------------------------------------------------------------------------ recipe


def test_recipe_runs_a_few_steps_and_saves_a_pruned_model(tmp_path):
    import importlib.util
    from pathlib import Path

    from hf_methods.common.mlp import MLPForImageClassification

    path = Path(__file__).resolve().parents[2] / "recipes" / "rd_pruning.py"
    spec = importlib.util.spec_from_file_location("recipe_rd_pruning", path)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "out"
    metrics = recipe.main(
        [
            "--output_dir",
            str(out),
            "--max_steps",
            "5",
            "--levels",
            "5",
            "--hidden_sizes",
            "16",
            "--calibration_size",
            "32",
        ]
    )
    assert metrics["eval/saved_kept_fraction"] <= 0.1 + 1e-9
    reloaded = MLPForImageClassification.from_pretrained(out)
    assert sparsity_stats(reloaded)["global"] >= 0.9 - 1e-9
    with pytest.raises(ValueError, match="--target_sparsity"):
        recipe.main(["--output_dir", str(tmp_path / "bad"), "--target_sparsity", "1.0"])
    with pytest.raises(ValueError, match="--prune"):
        recipe.main(["--output_dir", str(tmp_path / "bad"), "--prune", "lamp"])
