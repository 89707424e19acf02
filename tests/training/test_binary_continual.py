"""P42 `binary_continual`: the field-space KL against Σ_w q log(q/p), the Gaussian-field layer against its formula,
the β schedule, the priors, the Trainer, the recipe and every bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hf_methods.training.binary_continual import (
    BernoulliFieldKL,
    BinaryContinualArguments,
    BinaryMeanFieldLinear,
    ContinualVCLTrainer,
    FieldPrior,
    VariationalBinaryMLP,
    VariationalBinaryMLPConfig,
    bernoulli_field_kl,
    bernoulli_field_kl_grad,
    permuted_digits_tasks,
    tanh_beta_schedule,
    train_continual,
)
from hf_methods.training.binary_continual.loss import log_cosh, model_kl
from hf_methods.training.binary_continual.training import continual_beta, default_kl_weight, evaluate


def reference_kl(theta: float, prior: float, beta: float) -> float:
    """Σ_{w=±1} q(w) log(q(w)/p(w)) with q(w) = e^{βθw}/(e^{βθ} + e^{−βθ}), written out in Python floats."""
    total = 0.0
    for w in (1.0, -1.0):
        q = math.exp(beta * theta * w) / (math.exp(beta * theta) + math.exp(-beta * theta))
        p = math.exp(beta * prior * w) / (math.exp(beta * prior) + math.exp(-beta * prior))
        total += q * math.log(q / p)
    return total


# --------------------------------------------------------------------------------------------------------------- KL


@pytest.mark.parametrize("beta", [0.5, 1.0, 4.0])
def test_kl_matches_the_sum_over_binary_weights(beta):
    gen = torch.Generator().manual_seed(0)
    theta = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    prior = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    per_row = bernoulli_field_kl(theta, prior, beta, reduction="none")
    expected = [
        sum(reference_kl(t, p, beta) for t, p in zip(r1, r2)) for r1, r2 in zip(theta.tolist(), prior.tolist())
    ]
    torch.testing.assert_close(per_row, torch.tensor(expected, dtype=torch.float64), atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(bernoulli_field_kl(theta, prior, beta), per_row.sum())


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    theta = torch.linspace(-3, 3, 41, dtype=torch.float64)
    assert bernoulli_field_kl(theta, theta.clone(), 2.0, reduction="none").abs().max() < 1e-12
    assert (bernoulli_field_kl(theta, theta.flip(0) + 0.1, 2.0, reduction="none") > 0).all()


def test_kl_gradient_is_beta_squared_sigma_squared_delta():
    """∂KL/∂θ = β²(1 − tanh²βθ)(θ − θp): the official update, against autograd (float64)."""
    gen = torch.Generator().manual_seed(1)
    for beta in (0.3, 1.0, 10.0):
        theta = (torch.randn(40, 8, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
        prior = torch.randn(40, 8, generator=gen, dtype=torch.float64)
        (grad,) = torch.autograd.grad(bernoulli_field_kl(theta, prior, beta), theta)
        formula = (
            beta**2 * (1 - np.tanh(beta * theta.detach().numpy()) ** 2) * (theta.detach().numpy() - prior.numpy())
        )
        np.testing.assert_allclose(grad.numpy(), formula, atol=1e-10)
        torch.testing.assert_close(bernoulli_field_kl_grad(theta.detach(), prior, beta), grad)


def test_log_cosh_is_finite_for_large_arguments():
    x = torch.tensor([-1e4, -30.0, 0.0, 0.5, 30.0, 1e4], dtype=torch.float64)
    log2 = math.log(2)
    expected = [
        1e4 - log2,
        30 - log2 + math.log1p(math.exp(-60)),
        0.0,
        math.log(math.cosh(0.5)),
        30 - log2,
        1e4 - log2,
    ]
    torch.testing.assert_close(log_cosh(x), torch.tensor(expected, dtype=torch.float64), atol=1e-9, rtol=0)


def test_model_kl_sums_every_layer():
    model = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[5, 4, 3]))
    prior = [torch.zeros_like(f) for f in model.fields()]
    expected = sum(bernoulli_field_kl(f, p, 2.0) for f, p in zip(model.fields(), prior))
    torch.testing.assert_close(model_kl(model, prior, 2.0), expected)


# ------------------------------------------------------------------------------------------------------------ layer


def test_mean_forward_is_tanh_field_times_input_over_sqrt_n():
    layer = BinaryMeanFieldLinear(6, 3).double()
    a = torch.rand(4, 6, dtype=torch.float64)
    m = np.tanh(2.0 * layer.field.detach().numpy())
    expected = a.numpy() @ m.T / math.sqrt(6)
    np.testing.assert_allclose(layer(a, 2.0, mode="mean").detach().numpy(), expected, atol=1e-12)


def test_gaussian_forward_has_the_mean_field_mean_and_variance():
    layer = BinaryMeanFieldLinear(10, 2).double()
    a = torch.rand(1, 10, dtype=torch.float64).expand(20000, 10)
    z = layer(a, 1.5, mode="gaussian", generator=torch.Generator().manual_seed(0)).detach()
    m = torch.tanh(1.5 * layer.field.detach())
    mean = (a[0] * m).sum(1) / math.sqrt(10)
    var = ((1 - m * m) * a[0] ** 2).sum(1) / 10
    torch.testing.assert_close(z.mean(0), mean, atol=4 * math.sqrt(var.max() / 20000), rtol=0)
    torch.testing.assert_close(z.var(0), var, atol=0, rtol=0.05)


def test_saturated_fields_keep_finite_gradients():
    """σ² = 0 exactly once tanh saturates: the 1e-30 inside the square root keeps the gradient finite."""
    layer = BinaryMeanFieldLinear(4, 3)
    with torch.no_grad():
        layer.field.fill_(50.0)
    z = layer(torch.rand(2, 4), 10.0, mode="gaussian")
    z.sum().backward()
    assert torch.isfinite(z).all() and torch.isfinite(layer.field.grad).all()


def test_sampled_weights_are_binary_with_the_boltzmann_frequency():
    layer = BinaryMeanFieldLinear(20000, 3)  # each row: one field value repeated, so one draw gives 20000 samples
    with torch.no_grad():
        layer.field.copy_(torch.tensor([[-0.5], [0.0], [1.0]]).expand(3, 20000))
    draws = layer.sample_weights(1.0, torch.Generator().manual_seed(0))
    assert set(draws.unique().tolist()) <= {-1.0, 1.0}
    expected = (1 + torch.tanh(torch.tensor([-0.5, 0.0, 1.0]))) / 2  # e^{βθ}/(2cosh βθ)
    torch.testing.assert_close((draws == 1).float().mean(1), expected, atol=0.015, rtol=0)


# -------------------------------------------------------------------------------------------------- model and β


def test_model_saves_and_reloads_with_the_auto_classes(tmp_path):
    from transformers import AutoConfig, AutoModelForImageClassification

    model = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[8, 5, 3]))
    model.set_beta(4.0)
    model.save_pretrained(tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)).__name__ == "VariationalBinaryMLPConfig"
    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path)
    assert isinstance(reloaded, VariationalBinaryMLP) and reloaded.beta.item() == 4.0
    x = torch.rand(3, 8)
    torch.testing.assert_close(reloaded(x, mode="mean").logits, model(x, mode="mean").logits)


def test_beta_is_annealed_over_the_whole_run_not_per_task():
    config = VariationalBinaryMLPConfig()
    betas = [continual_beta(config, e, 25) for e in range(25)]
    assert betas == sorted(betas) and betas[0] == pytest.approx(10 * math.tanh(0.1 + 2 / 25))
    assert betas[-1] == pytest.approx(10 * math.tanh(2.1)) == pytest.approx(tanh_beta_schedule(1.0))
    assert continual_beta(VariationalBinaryMLPConfig(beta=2.5, beta_schedule="constant"), 7, 25) == 2.5


def test_model_loss_is_cross_entropy_of_its_logits():
    model = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[6, 4, 3]))
    x, y = torch.rand(5, 6), torch.tensor([0, 1, 2, 0, 1])
    out = model(x, labels=y, mode="mean")
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, y))


# ---------------------------------------------------------------------------------------------------------- priors


def test_priors_hold_the_fields_they_promise():
    model = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[4, 3, 2]))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    priors = {kind: FieldPrior(kind) for kind in ("previous_task", "streaming", "none")}
    assert all(p.kl(model, 1.0) is None for p in priors.values())
    before = [f.detach().clone() for f in model.fields()]
    loss = model(torch.rand(3, 4), labels=torch.tensor([0, 1, 0])).loss
    for p in priors.values():
        p.observe(model)
    opt.zero_grad()
    loss.backward()
    opt.step()
    for f_prior, f_before in zip(priors["streaming"].fields, before):  # θ before the last step
        assert torch.equal(f_prior, f_before)
    assert priors["previous_task"].fields is None and priors["none"].fields is None
    for p in priors.values():
        p.end_task(model)
    for f_prior, f_now in zip(priors["previous_task"].fields, model.fields()):
        assert torch.equal(f_prior, f_now.detach())
    assert priors["none"].kl(model, 1.0) is None
    restored = FieldPrior("previous_task")
    restored.load_state_dict(priors["previous_task"].state_dict())
    torch.testing.assert_close(restored.kl(model, 2.0), torch.tensor(0.0))


def test_default_kl_weights():
    assert default_kl_weight("streaming", 64, 1000) == 1 / 64
    assert default_kl_weight("previous_task", 64, 1000) == 1 / 1000
    assert default_kl_weight("none", 64, 1000) == 0.0


# ------------------------------------------------------------------------------------------------------ tasks, loop


def test_permuted_tasks_permute_the_same_images():
    tasks = permuted_digits_tasks(3, seed=0)
    assert len({tuple(t.permutation.tolist()) for t in tasks}) == 3
    for t in tasks:
        torch.testing.assert_close(
            t.x[:, torch.argsort(t.permutation)], tasks[0].x[:, torch.argsort(tasks[0].permutation)]
        )
        assert torch.equal(t.y, tasks[0].y)
    again = permuted_digits_tasks(3, seed=0)
    assert all(torch.equal(a.permutation, b.permutation) for a, b in zip(tasks, again))


def test_train_continual_reports_every_task_and_mode():
    tasks = permuted_digits_tasks(2, seed=0)
    r = train_continual(tasks, prior="streaming", seed=0, epochs=2, hidden_sizes=(64,), sample_draws=1)
    assert len(r["accuracy_matrix"]) == 2 and all(len(row) == 2 for row in r["accuracy_matrix"])
    assert set(r["final"]) == {"mean", "gaussian", "sample"} and len(r["betas"]) == 4  # one β per epoch
    assert r["accuracy_matrix"][0][0] > 0.3  # two epochs already beat chance (0.1) by far


def test_trainer_adds_the_weighted_kl_and_anneals_beta(tmp_path):
    from transformers import TrainingArguments

    from hf_methods.common.batches import TensorDictDataset, collate_batch

    gen = torch.Generator().manual_seed(0)
    columns = [(torch.rand(32, 6, generator=gen), torch.randint(0, 3, (32,), generator=gen)) for _ in range(2)]
    data = [TensorDictDataset(pixel_values=x, labels=y) for x, y in columns]
    model = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[6, 8, 3]))
    args = TrainingArguments(
        str(tmp_path),
        num_train_epochs=2,
        per_device_train_batch_size=16,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        remove_unused_columns=False,
        disable_tqdm=True,
        logging_strategy="no",
    )
    trainer = ContinualVCLTrainer(
        model=model,
        args=args,
        tasks=data,
        prior="previous_task",
        kl_weight=0.3,
        data_collator=collate_batch,
        eval_tasks=columns,
    )
    trainer.train()
    assert len(trainer.accuracy_matrix) == 2
    assert model.beta.item() == pytest.approx(continual_beta(model.config, 3, 4))  # last epoch of the last task
    # the prior is the end of task 2 now; the loss is CE + 0.3·KL on a batch
    trainer.field_prior.fields = [f.detach() + 0.5 for f in model.fields()]
    trainer.current_task, trainer.state.epoch = 1, 1.0
    batch = collate_batch([data[0][i] for i in range(8)])
    model.train()
    torch.manual_seed(3)
    loss = trainer.compute_loss(model, batch)
    torch.manual_seed(3)
    ce = model(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss
    kl = model_kl(model, [f.detach() + 0.5 for f in model.fields()], model.beta)
    torch.testing.assert_close(loss, ce + 0.3 * kl)


def test_recipe_runs_a_few_steps(tmp_path):
    import json

    import recipes.binary_continual as recipe

    out = tmp_path / "run"
    metrics = recipe.main(
        [
            "--output_dir",
            str(out),
            "--max_steps",
            "6",
            "--epochs_per_task",
            "1",
            "--num_tasks",
            "2",
            "--hidden_size",
            "16",
            "--log_every",
            "0",
            "--checkpoint_every",
            "0",
            "--prior",
            "streaming",
        ]
    )
    assert (out / "model.safetensors").exists() and (out / "README.md").exists()
    assert set(json.loads((out / "metrics.json").read_text())["metrics"]) >= {
        "eval/average_accuracy_mean",
        "eval/average_accuracy_sample",
    }
    assert 0.0 <= metrics["eval/average_accuracy_mean"] <= 1.0


# ----------------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sizes": [64]}, "sizes"),
        ({"sizes": [64, 0, 10]}, "sizes"),
        ({"beta": 0.0}, "beta"),
        ({"beta_schedule": "linear"}, "beta_schedule"),
        ({"beta_max": -1.0}, "beta_max"),
        ({"field_init_std": -1.0}, "field_init_std"),
        ({"forward_mode": "binary"}, "forward_mode"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VariationalBinaryMLPConfig(**kwargs)


def test_layer_and_model_reject_bad_inputs():
    layer = BinaryMeanFieldLinear(4, 2)
    with pytest.raises(ValueError, match="mode"):
        layer(torch.rand(2, 4), 1.0, mode="binary")
    with pytest.raises(ValueError, match="inputs must have 4 features"):
        layer(torch.rand(2, 5), 1.0)
    with pytest.raises(ValueError, match="in_features"):
        BinaryMeanFieldLinear(0, 2)
    model = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[4, 3, 2]))
    with pytest.raises(ValueError, match="pixel_values must flatten"):
        model(torch.rand(2, 5))
    with pytest.raises(TypeError, match="pixel_values must be a float"):
        model(torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="beta"):
        model.set_beta(0.0)


def test_kl_rejects_bad_inputs():
    f = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="prior_field must have the shape"):
        bernoulli_field_kl(f, torch.zeros(3, 3), 1.0)
    with pytest.raises(TypeError, match="field must be a float"):
        bernoulli_field_kl(f.long(), f, 1.0)
    with pytest.raises(ValueError, match="beta"):
        bernoulli_field_kl(f, f, -1.0)
    with pytest.raises(ValueError, match="reduction"):
        bernoulli_field_kl(f, f, 1.0, reduction="max")
    with pytest.raises(ValueError, match="beta"):
        BernoulliFieldKL(beta=0.0)
    with pytest.raises(ValueError, match="reduction"):
        BernoulliFieldKL(reduction="avg")
    model = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[4, 3, 2]))
    with pytest.raises(ValueError, match="prior_fields must hold 2"):
        model_kl(model, [torch.zeros(3, 4)], 1.0)


def test_helpers_reject_bad_values():
    with pytest.raises(ValueError, match="prior"):
        FieldPrior("ewc")
    with pytest.raises(ValueError, match="progress"):
        tanh_beta_schedule(1.5)
    with pytest.raises(ValueError, match="global_epoch"):
        continual_beta(VariationalBinaryMLPConfig(), 25, 25)
    with pytest.raises(ValueError, match="num_tasks"):
        permuted_digits_tasks(0)
    model = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[4, 3, 2]))
    with pytest.raises(ValueError, match="draws"):
        evaluate(model, torch.rand(2, 4), torch.zeros(2, dtype=torch.long), "sample", draws=0)
    with pytest.raises(ValueError, match="mode"):
        evaluate(model, torch.rand(2, 4), torch.zeros(2, dtype=torch.long), "binary")
    tasks = permuted_digits_tasks(1)
    with pytest.raises(ValueError, match="prior"):
        train_continual(tasks, prior="ewc")
    with pytest.raises(ValueError, match="kl_weight"):
        train_continual(tasks, kl_weight=-1.0)
    prior = FieldPrior("streaming")
    with pytest.raises(ValueError, match="checkpoint holds"):
        prior.load_state_dict({"kind": "previous_task", "fields": None})


def test_trainer_rejects_bad_arguments(tmp_path):
    from transformers import TrainingArguments

    from hf_methods.common.batches import TensorDictDataset

    ds = TensorDictDataset(pixel_values=torch.rand(4, 4), labels=torch.zeros(4, dtype=torch.long))
    model = VariationalBinaryMLP(VariationalBinaryMLPConfig(sizes=[4, 3, 2]))
    args = TrainingArguments(str(tmp_path), report_to=[], use_cpu=True)
    with pytest.raises(ValueError, match="tasks must be a non-empty list"):
        ContinualVCLTrainer(model=model, args=args, tasks=[])
    with pytest.raises(ValueError, match="prior"):
        ContinualVCLTrainer(model=model, args=args, tasks=[ds], prior="ewc")
    with pytest.raises(ValueError, match="kl_weight"):
        ContinualVCLTrainer(model=model, args=args, tasks=[ds], kl_weight=-0.1)
    with pytest.raises(ValueError, match="tasks=\\[...\\], not train_dataset"):
        ContinualVCLTrainer(model=model, args=args, tasks=[ds], train_dataset=ds)
    with pytest.raises(TypeError, match="model must be a VariationalBinaryMLP"):
        ContinualVCLTrainer(model=torch.nn.Linear(4, 2), args=args, tasks=[ds])
    with pytest.raises(ValueError, match="max_steps"):
        ContinualVCLTrainer(
            model=model, args=TrainingArguments(str(tmp_path), max_steps=5, report_to=[], use_cpu=True), tasks=[ds]
        )


@pytest.mark.parametrize(
    "field_name, value, match",
    [
        ("prior", "ewc", "--prior"),
        ("num_tasks", 0, "--num_tasks"),
        ("epochs_per_task", 0, "--epochs_per_task"),
        ("batch_size", 0, "--batch_size"),
        ("hidden_size", 0, "--hidden_size"),
        ("learning_rate", 0.0, "--learning_rate"),
        ("beta_schedule", "linear", "--beta_schedule"),
        ("beta_max", 0.0, "--beta_max"),
        ("test_size", 1.0, "--test_size"),
    ],
)
def test_arguments_reject_bad_values(field_name, value, match, tmp_path):
    args = BinaryContinualArguments(output_dir=str(tmp_path))
    setattr(args, field_name, value)
    with pytest.raises(ValueError, match=match):
        args.validate()


@pytest.mark.slow
def test_recipe_resume_across_a_task_boundary_is_bit_exact(tmp_path):
    from safetensors.torch import load_file

    import recipes.binary_continual as recipe

    common = ["--max_steps", "30", "--epochs_per_task", "1", "--num_tasks", "2", "--hidden_size", "16"]
    common += ["--log_every", "0", "--prior", "previous_task", "--kl_weight", "0.01"]
    recipe.main(["--output_dir", str(tmp_path / "a"), "--checkpoint_every", "0", *common])
    resumed = tmp_path / "b"
    recipe.main(["--output_dir", str(resumed), "--checkpoint_every", "25", *common])
    first = sorted((resumed / "checkpoints").iterdir())[
        0
    ]  # after step 25, past the task boundary at step 23: the prior fields come from the checkpoint
    recipe.main(
        ["--output_dir", str(resumed), "--resume_from_checkpoint", str(first), "--checkpoint_every", "0", *common]
    )
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
