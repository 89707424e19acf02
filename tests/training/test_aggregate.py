"""P21 `aggregate`: the losses against the paper's sums written as Python loops, the closed-form estimator against a
numpy solve of the normal equations, the torch loss's minimiser, the Laplace mechanism's noise scale, bags, the
collator, the Trainer, the recipe and one test per rejected input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hf_methods.training.aggregate import (
    AggregateResponseLoss,
    BagCollator,
    BagDataset,
    aggregate_responses,
    assign_bags,
    bag_level_loss,
    instance_level_loss,
    laplace_scale,
    linear_interpolating_estimator,
    privatize_bag_responses,
    within_bag_variance,
)
from hf_methods.training.aggregate.training import fit_linear_with_loss, linear_task, simulate_linear_risks

# ----------------------------------------------------------------------------------------------- numpy reference


def reference_terms(f, bags, y_bar):
    """`(L_bag, L_inst, R, Σ_a k_a (ȳ_a − f̄_a)²)` by plain loops over bags and instances (Python floats)."""
    members: dict[int, list[int]] = {}
    for i, a in enumerate(bags):
        members.setdefault(int(a), []).append(i)
    l_bag = l_inst = r = weighted = 0.0
    for idx in members.values():
        f_bar = sum(float(f[i]) for i in idx) / len(idx)
        target = float(y_bar[idx[0]])
        l_bag += (target - f_bar) ** 2
        weighted += len(idx) * (target - f_bar) ** 2
        for i in idx:
            l_inst += (target - float(f[i])) ** 2
            r += (float(f[i]) - f_bar) ** 2
    return l_bag, l_inst, r, weighted


def reference_estimator(X, bags, y_bar, rho):
    """`(Σ_a k_a x̄_a x̄_aᵀ + ρ Σ_a Σ_i (x_i − x̄_a)(x_i − x̄_a)ᵀ)⁻¹ Σ_a k_a x̄_a ȳ_a`, built bag by bag."""
    d = X.shape[1]
    gram, rhs = np.zeros((d, d)), np.zeros(d)
    for a in np.unique(bags):
        rows = X[bags == a]
        x_bar = rows.mean(axis=0)
        k = len(rows)
        gram += k * np.outer(x_bar, x_bar)
        centred = rows - x_bar
        gram += rho * centred.T @ centred
        rhs += k * x_bar * y_bar[bags == a][0]
    return np.linalg.solve(gram, rhs)


def _bagged(n=60, k=6, seed=0, dtype=torch.float64, unequal=False):
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(n, dtype=dtype, generator=g)
    bags = assign_bags(n, k, generator=g)
    if unequal:  # bags of sizes 1..: merge some bags
        bags = torch.where(bags % 3 == 0, bags + 1, bags) * 7 + 2
    y_bar = aggregate_responses(torch.randn(n, dtype=dtype, generator=g) * 3, bags)
    return f, bags, y_bar


# ----------------------------------------------------------------------------------------------- the losses


@pytest.mark.parametrize("unequal", [False, True])
def test_terms_match_the_loops_and_the_identity_holds(unequal):
    f, bags, y_bar = _bagged(unequal=unequal)
    l_bag, l_inst, r, weighted = reference_terms(f.tolist(), bags.tolist(), y_bar.tolist())
    assert bag_level_loss(f, bags, y_bar).item() == pytest.approx(l_bag, rel=1e-12)
    assert instance_level_loss(f, bags, y_bar).item() == pytest.approx(l_inst, rel=1e-12)
    assert within_bag_variance(f, bags).item() == pytest.approx(r, rel=1e-12)
    # L_inst = Σ_a k_a (ȳ_a − f̄_a)² + R, i.e. k·L_bag + R for equal bags (the paper's identity), to 1e-8
    identity = AggregateResponseLoss("bag", reduction="sum")(f, bags, y_bar) + within_bag_variance(f, bags)
    assert abs(identity.item() - l_inst) <= 1e-8 * l_inst
    assert abs(weighted + r - l_inst) <= 1e-8 * l_inst
    if not unequal:
        k = 6
        assert abs(k * bag_level_loss(f, bags, y_bar).item() + r - l_inst) <= 1e-8 * l_inst


@pytest.mark.parametrize("mode,rho", [("bag", 0.0), ("instance", 1.0), ("interpolate", 0.3), ("interpolate", 2.0)])
def test_loss_reductions_against_the_loops(mode, rho):
    f, bags, y_bar = _bagged(unequal=True)
    _, _, r, weighted = reference_terms(f.tolist(), bags.tolist(), y_bar.tolist())
    expected = weighted + rho * r  # L_ρ
    loss = AggregateResponseLoss(mode, rho=rho if mode == "interpolate" else 0.7, reduction="sum")
    assert loss(f, bags, y_bar).item() == pytest.approx(expected, rel=1e-12)
    mean = AggregateResponseLoss(mode, rho=rho, reduction="mean")(f, bags, y_bar).item()
    assert mean == pytest.approx(expected / len(f), rel=1e-12)
    per_instance = AggregateResponseLoss(mode, rho=rho, reduction="none")(f, bags, y_bar)
    # ℓ_i = (ȳ_a − f̄_a)² + ρ (f_i − f̄_a)², written out for instance 0
    same = bags == bags[0]
    f_bar = f[same].mean()
    assert per_instance[0].item() == pytest.approx(((y_bar[0] - f_bar) ** 2 + rho * (f[0] - f_bar) ** 2).item())


def test_instance_mode_is_the_plain_mse_to_the_bag_targets():
    f, bags, y_bar = _bagged()
    torch.testing.assert_close(AggregateResponseLoss("instance")(f, bags, y_bar), torch.mean((f - y_bar) ** 2))


def test_predictions_of_shape_n_by_one_and_gradients():
    f, bags, y_bar = _bagged(dtype=torch.float32)
    f = f.unsqueeze(1).requires_grad_(True)
    loss = AggregateResponseLoss("interpolate", rho=0.5)(f, bags, y_bar)
    loss.backward()
    # d/df_i of (1/n)[Σ_a k_a (ȳ_a − f̄_a)² + ρ Σ (f_i − f̄_a)²] = (2/n)[(f̄_a − ȳ_a) + ρ (f_i − f̄_a)]
    from hf_methods.training.aggregate.loss import bag_means

    flat = f.detach().squeeze(1)
    f_bar = bag_means(flat, bags)
    expected = 2.0 / len(flat) * ((f_bar - y_bar) + 0.5 * (flat - f_bar))
    torch.testing.assert_close(f.grad.squeeze(1), expected, atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------------------------- the estimator


@pytest.mark.parametrize("rho", [0.0, 0.1, 1.0, 3.0])
@pytest.mark.parametrize("unequal", [False, True])
def test_estimator_matches_the_normal_equations(rho, unequal):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 5))
    _, bags, _ = _bagged(n=120, k=4, unequal=unequal)
    bags = bags.numpy()
    y_bar = aggregate_responses(
        torch.from_numpy(X @ rng.standard_normal(5) + rng.standard_normal(120)), torch.from_numpy(bags)
    ).numpy()
    np.testing.assert_allclose(
        linear_interpolating_estimator(X, bags, y_bar, rho), reference_estimator(X, bags, y_bar, rho), rtol=1e-9
    )


def test_estimator_limits_are_least_squares_on_bags_and_on_instances():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 6))
    bags = np.repeat(np.arange(40), 5)
    y_bar = np.repeat(rng.standard_normal(40), 5)
    x_bar = X.reshape(40, 5, 6).mean(axis=1)
    ols_bags = np.linalg.lstsq(x_bar, y_bar[::5], rcond=None)[0]
    ols_instances = np.linalg.lstsq(X, y_bar, rcond=None)[0]
    np.testing.assert_allclose(linear_interpolating_estimator(X, bags, y_bar, 0.0), ols_bags, rtol=1e-9)
    np.testing.assert_allclose(linear_interpolating_estimator(X, bags, y_bar, 1.0), ols_instances, rtol=1e-9)


@pytest.mark.parametrize("mode,rho", [("bag", 0.0), ("interpolate", 0.2), ("instance", 1.0)])
def test_the_torch_loss_is_minimised_by_the_closed_form(mode, rho):
    task = linear_task(300, 8, snr=1.0, seed=0)
    bags = assign_bags(300, 10, generator=torch.Generator().manual_seed(0))
    y_bar = aggregate_responses(torch.from_numpy(task.y), bags)
    theta = fit_linear_with_loss(torch.from_numpy(task.x), bags, y_bar, AggregateResponseLoss(mode, rho=rho))
    reference = reference_estimator(task.x, bags.numpy(), y_bar.numpy(), rho)
    np.testing.assert_allclose(theta.numpy(), reference, rtol=1e-8, atol=1e-10)


def test_simulation_orders_the_estimators_as_the_paper_says():
    """A small copy of the claim: the bag estimator is unbiased, the instance estimator shrinks θ by about 1/k."""
    high = simulate_linear_risks(0, num_samples=1200, num_features=20, bag_size=5, snr=8.0, rhos=[0.0, 1.0])
    assert high["excess_risk"]["0.0"] < high["excess_risk"]["1.0"] / 5
    assert high["excess_risk"]["1.0"] == pytest.approx((1 - 1 / 5) ** 2 * 8.0, rel=0.15)  # the shrinkage bias
    # low SNR, d/m = 0.4 (m = 100 bags): the bag estimator's variance and the instance estimator's bias both exceed
    # the interpolating estimator's risk
    low = simulate_linear_risks(
        0, num_samples=1000, num_features=40, bag_size=10, snr=0.5, rhos=[0.0, 0.1, 1.0], num_validation=200
    )
    assert low["excess_risk"]["0.1"] < min(low["excess_risk"]["0.0"], low["excess_risk"]["1.0"])
    assert set(low["validation_bag_loss"]) == {"0.0", "0.1", "1.0"}


# ----------------------------------------------------------------------------------------------- privacy


def test_laplace_noise_has_the_scale_2b_over_k_eps():
    eps, k, bound = 0.5, 4, 2.0
    b = laplace_scale(eps, k, bound)
    assert b == pytest.approx(2 * bound / (k * eps))
    zeros = torch.zeros(200_000, dtype=torch.float64)
    noise = privatize_bag_responses(zeros, eps, k, response_bound=bound, generator=torch.Generator().manual_seed(0))
    # Laplace(0, b): mean 0, E|X| = b, variance 2b²
    assert abs(noise.mean().item()) < 0.02 * b
    assert noise.abs().mean().item() == pytest.approx(b, rel=0.01)
    assert noise.var().item() == pytest.approx(2 * b**2, rel=0.02)
    arr = privatize_bag_responses(np.zeros(200_000), eps, k, response_bound=bound, generator=np.random.default_rng(0))
    assert isinstance(arr, np.ndarray) and np.abs(arr).mean() == pytest.approx(b, rel=0.01)


def test_laplace_noise_per_bag_size_and_seeding():
    sizes = torch.tensor([1, 10] * 50_000)
    noise = privatize_bag_responses(torch.zeros(100_000), 1.0, sizes, generator=torch.Generator().manual_seed(1))
    assert noise.dtype == torch.float32
    assert noise[::2].abs().mean().item() == pytest.approx(2.0, rel=0.02)  # b = 2B/(1·ε)
    assert noise[1::2].abs().mean().item() == pytest.approx(0.2, rel=0.02)  # b = 2B/(10·ε)
    again = privatize_bag_responses(torch.zeros(100_000), 1.0, sizes, generator=torch.Generator().manual_seed(1))
    assert torch.equal(noise, again)


def test_bag_dataset_releases_clipped_noisy_means_shared_within_a_bag():
    x = torch.randn(40, 3)
    y = torch.linspace(-10, 10, 40, dtype=torch.float64)
    plain = BagDataset.from_responses(x, y, bag_size=4, seed=0)
    assert len(plain) == 10 and all(len(m) == 4 for m in plain.members)
    for a, members in enumerate(plain.members):
        assert plain.targets[a].item() == pytest.approx(y[members].mean().item(), abs=1e-6)
        torch.testing.assert_close(plain[a]["pixel_values"], x[members])
    private = BagDataset.from_responses(x, y, bag_size=4, seed=0, privacy_eps=1e6, response_bound=1.0)
    for a, members in enumerate(private.members):  # ε huge: the release is the clipped mean
        assert private.targets[a].item() == pytest.approx(y[members].clamp(-1, 1).mean().item(), abs=1e-4)


# ----------------------------------------------------------------------------------------------- bags and batches


def test_assign_bags_random_and_curated():
    ids = assign_bags(23, 5, generator=torch.Generator().manual_seed(0))
    assert sorted(torch.bincount(ids).tolist()) == [3, 5, 5, 5, 5]
    assert torch.equal(ids, assign_bags(23, 5, generator=torch.Generator().manual_seed(0)))
    scores = torch.randn(30)
    curated = assign_bags(30, 10, "curated", scores=scores)
    order = scores.argsort()
    assert torch.equal(curated[order], torch.arange(30) // 10)  # consecutive in score order
    # by default curated bags follow the first principal component: much smaller within-bag spread along it
    x = torch.randn(200, 1) * torch.tensor([[5.0]]) @ torch.tensor([[1.0, 1.0]]) + torch.randn(200, 2) * 0.1
    along = x[:, 0].double()
    random_spread = within_bag_variance(along, assign_bags(200, 10, generator=torch.Generator().manual_seed(0)))
    curated_spread = within_bag_variance(along, assign_bags(200, 10, "curated", features=x))
    assert curated_spread < 0.05 * random_spread


def test_collator_forms_bags_from_instance_labels_and_drops_them():
    features = [{"pixel_values": torch.full((3,), float(i)), "labels": float(i)} for i in range(10)]
    batch = BagCollator(bag_size=4, seed=0)(features)
    assert "labels" not in batch and batch["pixel_values"].shape == (10, 3)
    assert sorted(torch.bincount(batch["bag_ids"]).tolist()) == [2, 4, 4]
    for bag in batch["bag_ids"].unique():
        members = batch["bag_ids"] == bag
        assert batch["bag_targets"][members].allclose(batch["pixel_values"][members, 0].mean())
    kept = BagCollator(bag_size=5, keep_labels=True)(features)
    torch.testing.assert_close(kept["labels"], kept["pixel_values"][:, 0])


def test_collator_with_privacy_shares_one_draw_per_bag():
    features = [{"pixel_values": torch.zeros(2), "labels": 0.5} for _ in range(12)]
    batch = BagCollator(bag_size=3, privacy_eps=1.0, response_bound=1.0, seed=0)(features)
    for bag in batch["bag_ids"].unique():
        assert batch["bag_targets"][batch["bag_ids"] == bag].unique().numel() == 1
    assert batch["bag_targets"].unique().numel() == 4 and not torch.allclose(batch["bag_targets"], torch.tensor(0.5))


def test_collator_flattens_whole_bags_and_stacks_pre_aggregated_instances():
    bags = BagDataset.from_responses(torch.randn(12, 2), torch.randn(12), bag_size=4)
    batch = BagCollator(bag_size=4)([bags[2], bags[0]])
    assert batch["pixel_values"].shape == (8, 2) and batch["bag_ids"].tolist() == [0] * 4 + [1] * 4
    assert batch["bag_targets"][:4].eq(bags.targets[2]).all() and batch["bag_targets"][4:].eq(bags.targets[0]).all()
    items = [{"pixel_values": [0.0, 1.0], "bag_ids": i // 2, "bag_targets": float(i // 2)} for i in range(4)]
    stacked = BagCollator(bag_size=2)(items)
    assert stacked["bag_ids"].tolist() == [0, 0, 1, 1] and stacked["pixel_values"].shape == (4, 2)


# ----------------------------------------------------------------------------------------------- Trainer


def _trainer(tmp_path, train_dataset, **kwargs):
    from transformers import TrainingArguments

    from hf_methods.training.aggregate import AggregateTrainer
    from hf_methods.training.aggregate.training import regression_model

    torch.manual_seed(0)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=kwargs.pop("max_steps", 10),
        per_device_train_batch_size=kwargs.pop("batch_size", 8),
        learning_rate=0.2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
    )
    return AggregateTrainer(
        model=regression_model(4), args=args, train_dataset=train_dataset, data_collator=BagCollator(4), **kwargs
    )


def test_trainer_fits_bags_and_evaluates_the_bag_loss(tmp_path):
    task = linear_task(160, 4, snr=8.0, seed=0)
    bags = BagDataset.from_responses(torch.from_numpy(task.x).float(), torch.from_numpy(task.y), bag_size=4)
    trainer = _trainer(tmp_path, bags, loss=AggregateResponseLoss("interpolate", rho=0.1), max_steps=30)
    first = trainer.evaluate(bags)["eval_loss"]
    trainer.train()
    assert trainer.evaluate(bags)["eval_loss"] < 0.5 * first


def test_trainer_on_instance_items_with_in_batch_bags(tmp_path):
    from datasets import Dataset

    task = linear_task(64, 4, snr=1.0, seed=1)
    data = Dataset.from_dict({"pixel_values": task.x.astype(np.float32).tolist(), "labels": task.y.tolist()})
    trainer = _trainer(tmp_path, data, max_steps=3)
    before = trainer.model.classifier.weight.detach().clone()
    trainer.train()
    assert not torch.equal(before, trainer.model.classifier.weight)


def test_trainer_rejects_batches_without_bags_and_other_losses(tmp_path):
    from hf_methods.training.aggregate import AggregateTrainer

    trainer = _trainer(tmp_path, [{"pixel_values": torch.zeros(4), "labels": 0.0}])
    with pytest.raises(ValueError, match="bag_ids"):
        trainer.compute_loss(trainer.model, {"pixel_values": torch.zeros(2, 4)})
    with pytest.raises(TypeError, match="loss must be an AggregateResponseLoss"):
        AggregateTrainer(model=trainer.model, args=trainer.args, loss=torch.nn.MSELoss())


# ----------------------------------------------------------------------------------------------- recipe


def test_recipe_runs_a_few_steps(tmp_path):
    import importlib.util
    import json

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_aggregate", repo_root() / "recipes" / "aggregate.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    metrics = recipe.main(
        ["--output_dir", tmp_path, "--max_steps", "4", "--num_samples", "200", "--num_features", "8"]
        + ["--num_test", "50", "--checkpoint_every", "2", "--log_every", "1", "--privacy_eps", "2"]
    )
    assert metrics["eval/excess_risk"] > 0 and metrics["eval/closed_form_excess_risk"] > 0
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "README.md").is_file()
    logged = [json.loads(line) for line in (tmp_path / "logs" / "aggregate.jsonl").read_text().splitlines()]
    assert any("train/loss" in entry for entry in logged)


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("bag_size", 0, "--bag_size"),
        ("bagging", "sorted", "--bagging"),
        ("loss_mode", "mse", "--loss_mode"),
        ("rho", -0.1, "--rho"),
        ("privacy_eps", -1.0, "--privacy_eps"),
        ("hidden_sizes", "64,x", "--hidden_sizes"),
        ("lr_scheduler_type", "step", "--lr_scheduler_type"),
        ("learning_rate", 0.0, "--learning_rate"),
    ],
)
def test_recipe_arguments_are_validated(field, value, match):
    from hf_methods.training.aggregate.training import AggregateArguments

    with pytest.raises(ValueError, match=match):
        AggregateArguments(output_dir="x", **{field: value}).validate()


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("aggregate").usage, namespace)  # releases bags, trains 5 Trainer steps, solves the closed form
    assert torch.isfinite(namespace["loss"]) and namespace["theta"].shape == (8,)
    assert namespace["noisy"].shape == (2,)


# ----------------------------------------------------------------------------------------------- bad inputs


def test_error_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        AggregateResponseLoss(mode="bags")


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf")])
def test_error_rho_value(value):
    with pytest.raises(ValueError, match="rho must be"):
        AggregateResponseLoss(rho=value)
    with pytest.raises(ValueError, match="rho must be"):
        linear_interpolating_estimator(np.zeros((4, 2)), np.zeros(4, dtype=int), np.zeros(4), value)


def test_error_rho_type():
    with pytest.raises(TypeError, match="rho must be a number"):
        AggregateResponseLoss(rho="0.1")


def test_error_reduction():
    with pytest.raises(ValueError, match="reduction must be"):
        AggregateResponseLoss(reduction="avg")


def test_error_predictions_type():
    with pytest.raises(TypeError, match="predictions must be a torch.Tensor"):
        AggregateResponseLoss()([0.0, 1.0], torch.zeros(2, dtype=torch.long), torch.zeros(2))


def test_error_predictions_shape():
    with pytest.raises(ValueError, match="predictions must have shape"):
        AggregateResponseLoss()(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), torch.zeros(4))


def test_error_empty_batch():
    with pytest.raises(ValueError, match="at least one instance"):
        AggregateResponseLoss()(torch.zeros(0), torch.zeros(0, dtype=torch.long), torch.zeros(0))


def test_error_bag_ids_dtype():
    with pytest.raises(TypeError, match="bag_ids must be an integer tensor"):
        AggregateResponseLoss()(torch.zeros(4), torch.zeros(4), torch.zeros(4))


def test_error_bag_ids_shape():
    with pytest.raises(ValueError, match="bag_ids must have shape"):
        AggregateResponseLoss()(torch.zeros(4), torch.zeros(3, dtype=torch.long), torch.zeros(4))


def test_error_bag_targets_shape():
    with pytest.raises(ValueError, match="bag_targets must have shape"):
        AggregateResponseLoss()(torch.zeros(4), torch.zeros(4, dtype=torch.long), torch.zeros(1))


def test_error_bag_targets_not_constant_in_a_bag():
    with pytest.raises(ValueError, match="equal within each bag"):
        AggregateResponseLoss()(torch.zeros(4), torch.tensor([0, 0, 1, 1]), torch.tensor([1.0, 2.0, 3.0, 3.0]))
    with pytest.raises(ValueError, match="equal within each bag"):
        linear_interpolating_estimator(np.eye(4), np.array([0, 0, 1, 1]), np.array([1.0, 2.0, 3.0, 3.0]), 0.1)


def test_error_bag_targets_not_finite():
    with pytest.raises(ValueError, match="finite"):
        AggregateResponseLoss()(torch.zeros(2), torch.zeros(2, dtype=torch.long), torch.full((2,), math.nan))


def test_error_estimator_shapes():
    with pytest.raises(ValueError, match="X must be 2-D"):
        linear_interpolating_estimator(np.zeros(4), np.zeros(4, dtype=int), np.zeros(4), 0.1)
    with pytest.raises(ValueError, match="bag_ids must have one entry per row"):
        linear_interpolating_estimator(np.zeros((4, 2)), np.zeros(3, dtype=int), np.zeros(4), 0.1)
    with pytest.raises(ValueError, match="y_bar must have shape"):
        linear_interpolating_estimator(np.zeros((4, 2)), np.zeros(4, dtype=int), np.zeros(2), 0.1)
    with pytest.raises(TypeError, match="bag_ids must hold integers"):
        linear_interpolating_estimator(np.zeros((4, 2)), np.zeros(4), np.zeros(4), 0.1)


@pytest.mark.parametrize("eps", [0.0, -1.0, float("inf")])
def test_error_privacy_eps(eps):
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        privatize_bag_responses(torch.zeros(3), eps, 5)


def test_error_privacy_response_out_of_bound():
    with pytest.raises(ValueError, match=r"y_bar must lie in \[-response_bound, response_bound\]"):
        privatize_bag_responses(torch.tensor([0.5, 2.0]), 1.0, 5, response_bound=1.0)


def test_error_privacy_bag_size():
    with pytest.raises(ValueError, match="bag_size must be >= 1"):
        privatize_bag_responses(torch.zeros(2), 1.0, 0)
    with pytest.raises(ValueError, match="one size per bag"):
        privatize_bag_responses(torch.zeros(2), 1.0, torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="bag_size must be an int"):
        privatize_bag_responses(torch.zeros(2), 1.0, 2.5)


def test_error_privacy_y_bar_shape_and_generator():
    with pytest.raises(ValueError, match="y_bar must be 1-D"):
        privatize_bag_responses(torch.zeros(2, 2), 1.0, 5)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        privatize_bag_responses(torch.zeros(2), 1.0, 5, generator=np.random.default_rng(0))


def test_error_collator_arguments():
    with pytest.raises(ValueError, match="bag_size must be >= 1"):
        BagCollator(0)
    with pytest.raises(ValueError, match="bagging must be one of"):
        BagCollator(4, bagging="sorted")
    with pytest.raises(ValueError, match="privacy_eps needs response_bound"):
        BagCollator(4, privacy_eps=1.0)
    with pytest.raises(ValueError, match="privacy_eps must be"):
        BagCollator(4, privacy_eps=0.0, response_bound=1.0)


def test_error_collator_items():
    with pytest.raises(ValueError, match="empty list"):
        BagCollator(2)([])
    with pytest.raises(ValueError, match="input_key"):
        BagCollator(2)([{"input_ids": [1, 2], "labels": 1.0}])
    with pytest.raises(ValueError, match="'labels' \\(label_key\\)"):
        BagCollator(2)([{"pixel_values": [1.0, 2.0]}])


def test_error_assign_bags():
    with pytest.raises(ValueError, match="curated' needs features"):
        assign_bags(10, 2, "curated")
    with pytest.raises(ValueError, match="num_samples must be"):
        assign_bags(0, 2)
    with pytest.raises(ValueError, match="scores must be a tensor of shape"):
        assign_bags(10, 2, "curated", scores=torch.zeros(3))
