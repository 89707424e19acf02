"""Tests of P26 `lazy_rich`: alignment, kernel distance, weight change, kernel regression, the closed-form linearised
dynamics, the α-scaled model, the polynomial task, the tracker callback in a real Trainer run, the recipe."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from hf_methods.analysis.lazy_rich import (
    FixedReadoutNetwork,
    GrokkingConfig,
    LazyRichArguments,
    LazyRichTrackerCallback,
    OutputScaledModel,
    kernel_alignment,
    kernel_distance,
    kernel_regression_mse,
    linearized_gd_losses,
    make_polynomial_task,
    parameter_snapshot,
    relative_weight_change,
    run_polynomial_grokking,
)
from hf_methods.analysis.lazy_rich.training import GrokkingResult, finish_result, grokking_setup
from hf_methods.common.ntk import LinearizedModel, empirical_ntk, kernel_target_alignment


def random_gram(n, seed):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, 3 * n, generator=g)
    return features @ features.T, torch.randn(n, generator=g)


# ------------------------------------------------------------------------------------------------ kernel numbers


def test_centred_alignment_against_a_plain_loop():
    """ȳᵀK̄ȳ / (‖K̄‖_F ‖ȳ‖²), K̄_ij = K_ij − (1/n) Σ_k K_kj, written out element by element."""
    kernel, y = random_gram(7, 0)
    k, t = kernel.double().tolist(), y.double().tolist()
    n = len(t)
    mean_y = sum(t) / n
    yc = [v - mean_y for v in t]
    col_means = [sum(k[r][j] for r in range(n)) / n for j in range(n)]
    kc = [[k[i][j] - col_means[j] for j in range(n)] for i in range(n)]
    top = sum(yc[i] * kc[i][j] * yc[j] for i in range(n) for j in range(n))
    norm = math.sqrt(sum(kc[i][j] ** 2 for i in range(n) for j in range(n)))
    expected = top / (norm * sum(v * v for v in yc))
    assert kernel_alignment(kernel, y) == pytest.approx(expected, rel=1e-9)


def test_uncentred_alignment_is_the_shared_kernel_target_alignment():
    kernel, y = random_gram(6, 1)
    assert kernel_alignment(kernel, y, center=False) == pytest.approx(
        float(kernel_target_alignment(kernel, y)), rel=1e-5
    )
    # the target's own Gram matrix is perfectly aligned (without centring)
    assert kernel_alignment(torch.outer(y, y), y, center=False) == pytest.approx(1.0, rel=1e-9)


def test_alignment_of_one_hot_targets_sums_columns():
    kernel, _ = random_gram(6, 2)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    onehot = torch.nn.functional.one_hot(labels).double()
    yc = onehot - onehot.mean(0)
    kc = kernel.double() - kernel.double().mean(0)
    expected = float(np.trace(yc.numpy().T @ kc.numpy() @ yc.numpy()) / (np.linalg.norm(kc.numpy()) * (yc**2).sum()))
    assert kernel_alignment(kernel, onehot) == pytest.approx(expected, rel=1e-9)


def test_kernel_distance():
    a, _ = random_gram(5, 3)
    b, _ = random_gram(5, 4)
    assert kernel_distance(a, 3.0 * a) == pytest.approx(0.0, abs=1e-12)
    an, bn = a.double().numpy(), b.double().numpy()
    expected = 1 - (an * bn).sum() / (np.linalg.norm(an) * np.linalg.norm(bn))
    assert kernel_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_relative_weight_change():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    initial = parameter_snapshot(model)
    assert relative_weight_change(model, initial) == 0.0
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].bias.mul_(3.0)
    flat0 = np.concatenate([t.double().numpy().ravel() for t in initial.values()])
    flat = np.concatenate([p.detach().double().numpy().ravel() for p in model.parameters()])
    expected = np.linalg.norm(flat - flat0) / np.linalg.norm(flat0)
    assert relative_weight_change(model, initial) == pytest.approx(expected, rel=1e-9)
    assert relative_weight_change(dict(model.named_parameters()), initial) == pytest.approx(expected, rel=1e-9)


def test_kernel_regression_mse_against_numpy():
    g = torch.Generator().manual_seed(5)
    x, xt = torch.randn(12, 4, generator=g), torch.randn(9, 4, generator=g)
    y, yt = torch.randn(12, generator=g), torch.randn(9, generator=g)
    k, kt = (x @ x.T + 1) ** 2, (xt @ x.T + 1) ** 2
    kn, ktn = k.double().numpy(), kt.double().numpy()
    coef = np.linalg.solve(kn + 0.1 * np.eye(12), y.double().numpy())
    expected = np.mean((ktn @ coef - yt.double().numpy()) ** 2)
    assert kernel_regression_mse(k, kt, y, yt, ridge=0.1) == pytest.approx(expected, rel=1e-8)
    # ridgeless on an invertible kernel interpolates: evaluated on the training points the error is 0
    assert kernel_regression_mse(k, k, y, y) == pytest.approx(0.0, abs=1e-8)


# ------------------------------------------------------------------------------- linearised dynamics, models


def test_closed_form_linearised_gd_matches_a_function_space_loop():
    """f ← f − (2η/P) K (f − y) on train, f_test ← f_test − (2η/P) K_test,train (f − y), iterated in numpy."""
    kernel, y = random_gram(8, 6)
    g = torch.Generator().manual_seed(7)
    kt, yt = torch.randn(5, 8, generator=g), torch.randn(5, generator=g)
    eta = 0.5 * 8 / float(torch.linalg.eigvalsh(kernel.double()).max())
    train, test = linearized_gd_losses(kernel, kt, y, yt, learning_rate=eta, steps=[0, 1, 5, 40])
    k, ktn, yn, ytn = (t.double().numpy() for t in (kernel, kt, y, yt))
    f, ft, expected = np.zeros(8), np.zeros(5), {}
    for step in range(41):
        expected[step] = (np.mean((f - yn) ** 2), np.mean((ft - ytn) ** 2))
        residual = f - yn
        f, ft = f - 2 * eta / 8 * k @ residual, ft - 2 * eta / 8 * ktn @ residual
    np.testing.assert_allclose(train, [expected[s][0] for s in (0, 1, 5, 40)], rtol=1e-8)
    np.testing.assert_allclose(test, [expected[s][1] for s in (0, 1, 5, 40)], rtol=1e-8)


def test_closed_form_matches_the_linearised_network_trained_by_sgd():
    """The shared `LinearizedModel` of the α-scaled network, trained by SGD on the centred MSE, follows the closed
    form computed from its empirical NTK (float32 network vs float64 closed form: rtol 1e-3)."""
    network = FixedReadoutNetwork(input_dim=5, width=12, epsilon=0.4, seed=0)
    model = OutputScaledModel(network, alpha=2.0)
    task = make_polynomial_task(5, 16, 10, seed=1)
    linear = LinearizedModel(model)
    lr = 3.0 / 2.0**2
    optimizer = torch.optim.SGD(linear.parameters(), lr=lr)
    losses = []
    for _ in range(6):
        with torch.no_grad():
            losses.append(
                (
                    float((linear(task.x_train) - task.y_train).square().mean()),
                    float((linear(task.x_test) - task.y_test).square().mean()),
                )
            )
        loss = (linear(task.x_train) - task.y_train).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    k, kt = empirical_ntk(model, task.x_train), empirical_ntk(model, task.x_test, task.x_train)
    train, test = linearized_gd_losses(k, kt, task.y_train, task.y_test, learning_rate=lr, steps=range(6))
    np.testing.assert_allclose(train, [a for a, _ in losses], rtol=1e-3)
    np.testing.assert_allclose(test, [b for _, b in losses], rtol=1e-3)


def test_fixed_readout_network_is_the_papers_formula():
    net = FixedReadoutNetwork(input_dim=3, width=4, epsilon=0.3, seed=2)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(3))
    w = net.weight.detach().double().numpy()
    for mu in range(5):
        xm = x[mu].double().numpy()
        expected = sum((w[i] @ xm) + 0.15 * (w[i] @ xm) ** 2 for i in range(4)) / 4
        assert float(net(x)[mu].detach()) == pytest.approx(expected, rel=1e-5)


def test_output_scaled_model_is_centred_and_scales_the_kernel_by_alpha_squared():
    net = FixedReadoutNetwork(input_dim=4, width=6, epsilon=0.2, seed=4)
    x = torch.randn(7, 4, generator=torch.Generator().manual_seed(5))
    base_kernel = empirical_ntk(net, x)
    model = OutputScaledModel(net, alpha=3.0)
    assert torch.equal(model(x), torch.zeros(7))
    torch.testing.assert_close(empirical_ntk(model, x), 9.0 * base_kernel, rtol=1e-5, atol=1e-6)
    before = net(x).detach()
    with torch.no_grad():
        net.weight.add_(0.1)
    torch.testing.assert_close(model(x), 3.0 * (net(x) - before))
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["model.weight"]


def test_polynomial_task_and_closed_form_gradient():
    task = make_polynomial_task(6, 10, 4, seed=3)
    torch.testing.assert_close(task.y_train, (task.x_train @ task.beta) ** 2 / 2)
    torch.testing.assert_close(make_polynomial_task(6, 10, 4, seed=3).x_test, task.x_test)
    setup = grokking_setup(GrokkingConfig(input_dim=6, num_train=10, num_test=8, width=5, epsilon=0.3, num_probe=4), 0)
    with torch.no_grad():
        setup.model.model.weight.add_(0.2)
    gradient = setup.train_gradient()
    setup.loss(setup.task.x_train, setup.task.y_train).backward()
    torch.testing.assert_close(gradient, setup.model.model.weight.grad, rtol=1e-4, atol=1e-7)


def test_grokking_measurement_is_read_from_the_curves():
    config = GrokkingConfig(train_fit=0.1, test_fit=0.2)
    result = GrokkingResult(alpha=1.0, epsilon=0.02, steps=[0, 10, 20, 30], train_loss=[1, 0.5, 0.05, 0.01])
    result.test_loss = [1, 1.2, 0.6, 0.1]
    finish_result(result, config)
    assert (result.steps_to_train_fit, result.steps_to_test_fit, result.grokking_delay) == (20, 30, 10)
    assert result.test_loss_at_train_fit == 0.6
    never = finish_result(GrokkingResult(1.0, 0.02, steps=[0, 1], train_loss=[1, 0.5], test_loss=[1, 0.9]), config)
    assert never.steps_to_train_fit is None and never.grokking_delay is None


def test_short_polynomial_run_trains():
    config = GrokkingConfig(input_dim=8, num_train=30, num_test=40, width=16, epsilon=0.5, steps=200, eval_every=20)
    config.ntk_every, config.num_probe = 100, 20
    result = run_polynomial_grokking(config, seed=0)
    assert result.train_loss[0] == pytest.approx(1.0) and result.train_loss[-1] < 0.5
    assert result.relative_weight_change[0] == 0.0 and result.relative_weight_change[-1] > 0
    assert result.kernel_distance[0] == pytest.approx(0.0, abs=1e-6)
    assert len(result.linearized_test_loss) == len(result.steps) and result.kernel_regression_mse > 0


# ------------------------------------------------------------------------------------------------- the callback


class _Regressor(nn.Module):
    """A Trainer-ready regression model: forward(x, labels) → {"loss", "logits"}."""

    def __init__(self, linear: bool = False):
        super().__init__()
        self.net = nn.Linear(4, 1) if linear else nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x, labels=None):
        out = self.net(x).squeeze(-1)
        loss = None if labels is None else (out - labels).square().mean()
        return {"loss": loss, "logits": out}


def _train(tmp_path, model, callback, dataset, steps=6, lr=0.1):
    from transformers import Trainer, TrainingArguments

    from hf_methods.common.batches import collate_batch

    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=steps,
        per_device_train_batch_size=8,
        learning_rate=lr,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collate_batch, callbacks=[callback])
    trainer.train()
    return trainer


def test_callback_tracks_a_real_trainer_run(tmp_path):
    from hf_methods.common.batches import TensorDictDataset

    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=g)
    y = torch.sin(x[:, 0]) + x[:, 1] ** 2
    torch.manual_seed(0)
    callback = LazyRichTrackerCallback(probe_inputs=x[:10], probe_targets=y[:10], every=2)
    trainer = _train(tmp_path, _Regressor(), callback, TensorDictDataset(x=x, labels=y))
    trace = callback.trace
    assert trace.steps == [0, 2, 4, 6]
    assert trace.relative_weight_change[0] == 0.0 and trace.relative_weight_change[-1] > 0
    assert trace.kernel_distance[0] == pytest.approx(0.0, abs=1e-9) and trace.linearization_error[0] == 0.0
    assert trace.linearized_probe_loss[0] == pytest.approx(trace.probe_loss[0], rel=1e-6)
    assert all(math.isfinite(v) for v in trace.alignment)
    logged = [entry for entry in trainer.state.log_history if "lazy_rich/alignment" in entry]
    assert [entry["step"] for entry in logged] == [0, 2, 4, 6]
    trace.save_plot(tmp_path / "trace.png")
    assert (tmp_path / "trace.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_callback_on_a_linear_model_sees_a_lazy_run(tmp_path):
    """A linear model is its own linearisation and its NTK never moves: error and kernel distance stay ~0."""
    from hf_methods.common.batches import TensorDictDataset

    g = torch.Generator().manual_seed(1)
    x = torch.randn(24, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0])
    callback = LazyRichTrackerCallback(probe_inputs=x[:8], probe_targets=y[:8], every=3)
    _train(tmp_path, _Regressor(linear=True), callback, TensorDictDataset(x=x, labels=y))
    assert max(callback.trace.linearization_error) < 1e-8
    assert max(abs(d) for d in callback.trace.kernel_distance) < 1e-6
    assert callback.trace.probe_loss[-1] < callback.trace.probe_loss[0]


@pytest.mark.slow
def test_callback_with_a_transformers_classifier_and_labels(tmp_path):
    from hf_methods.common.batches import TensorDictDataset
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    g = torch.Generator().manual_seed(2)
    x = torch.randn(24, 6, generator=g)
    labels = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    torch.manual_seed(0)
    model = MLPForImageClassification(MLPConfig(input_size=6, hidden_sizes=[8], num_labels=3))
    callback = LazyRichTrackerCallback(x[:9], labels[:9], every=4, input_name="pixel_values")
    _train(tmp_path, model, callback, TensorDictDataset(pixel_values=x, labels=labels), steps=4, lr=0.5)
    assert callback.trace.steps == [0, 4]
    assert callback.trace.probe_loss[0] == pytest.approx(
        float(nn.functional.cross_entropy(model(pixel_values=x[:9]).logits.detach(), labels[:9])), rel=0.5
    )
    assert callback.trace.relative_weight_change[-1] > 0


# ------------------------------------------------------------------------------------------------------- errors


def test_errors_kernel_alignment():
    kernel, y = random_gram(4, 0)
    with pytest.raises(ValueError, match="kernel must be a square"):
        kernel_alignment(kernel[:3], y)
    with pytest.raises(ValueError, match="targets must have shape"):
        kernel_alignment(kernel, y[:3])
    with pytest.raises(TypeError, match="targets must be a float tensor"):
        kernel_alignment(kernel, torch.arange(4))
    with pytest.raises(ValueError, match="constant targets"):
        kernel_alignment(kernel, torch.ones(4))


def test_errors_kernel_distance_and_regression():
    a, y = random_gram(4, 0)
    with pytest.raises(ValueError, match="same shape"):
        kernel_distance(a, a[:2])
    with pytest.raises(TypeError, match="kernel_a must be a 2-D float tensor"):
        kernel_distance(a.long(), a)
    with pytest.raises(ValueError, match="kernel_test_train must have 4 columns"):
        kernel_regression_mse(a, a[:, :3], y, y)
    with pytest.raises(ValueError, match="ridge must be"):
        kernel_regression_mse(a, a, y, y, ridge=-1.0)


def test_errors_linearized_gd_losses():
    a, y = random_gram(4, 0)
    with pytest.raises(ValueError, match="learning_rate .* diverges"):
        linearized_gd_losses(a, a, y, y, learning_rate=1e6, steps=[1])
    with pytest.raises(ValueError, match="steps must be integers >= 0"):
        linearized_gd_losses(a, a, y, y, learning_rate=1e-3, steps=[-1])
    with pytest.raises(ValueError, match="learning_rate must be"):
        linearized_gd_losses(a, a, y, y, learning_rate=0.0, steps=[1])


def test_errors_relative_weight_change():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="initial must be a non-empty mapping"):
        relative_weight_change(model, {})
    with pytest.raises(ValueError, match="does not have"):
        relative_weight_change(model, {"other": torch.ones(2)})
    with pytest.raises(TypeError, match="model must be an nn.Module or a mapping"):
        relative_weight_change([1, 2], {"weight": torch.ones(2)})
    with pytest.raises(ValueError, match="all zero"):
        relative_weight_change(model, {"bias": torch.zeros(2)})


def test_errors_models():
    with pytest.raises(ValueError, match="alpha must be"):
        OutputScaledModel(nn.Linear(2, 1), alpha=0.0)
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        OutputScaledModel(lambda x: x)
    with pytest.raises(ValueError, match="epsilon must be"):
        FixedReadoutNetwork(epsilon=-0.1)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        FixedReadoutNetwork(width=0)
    with pytest.raises(ValueError, match=r"x must be a \(batch, 3\) tensor"):
        FixedReadoutNetwork(input_dim=3, width=2)(torch.ones(2, 4))


def test_errors_callback():
    x, y = torch.randn(5, 3), torch.randn(5)
    with pytest.raises(ValueError, match="probe_targets has 4 rows for 5 probe_inputs"):
        LazyRichTrackerCallback(x, y[:4])
    with pytest.raises(ValueError, match="probe_inputs must be a tensor batch"):
        LazyRichTrackerCallback(x[:1], y[:1])
    with pytest.raises(ValueError, match="every must be a positive integer"):
        LazyRichTrackerCallback(x, y, every=0)
    with pytest.raises(ValueError, match="integer probe_targets must be class labels"):
        LazyRichTrackerCallback(x, torch.zeros(5, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="input_name must be a keyword"):
        LazyRichTrackerCallback(x, y, input_name="pixel values")
    with pytest.raises(ValueError, match="no trainable parameters"):
        frozen = nn.Linear(3, 1).requires_grad_(False)
        LazyRichTrackerCallback(x, y).measure(frozen, 0)


def test_errors_config_and_arguments():
    with pytest.raises(ValueError, match="num_probe must be <= num_test"):
        GrokkingConfig(num_test=10, num_probe=20).validate()
    with pytest.raises(ValueError, match="test_fit must be"):
        GrokkingConfig(test_fit=1.5).validate()
    with pytest.raises(ValueError, match="--alpha must be"):
        LazyRichArguments(alpha=-1.0).validate()
    with pytest.raises(ValueError, match="--log_every must be >= 1"):
        LazyRichArguments(log_every=0).validate()


# ------------------------------------------------------------------------------------------------------- recipe


def test_recipe_runs_a_few_steps_and_resumes(tmp_path):
    from recipes.lazy_rich import main

    out = tmp_path / "run"
    common = ["--output_dir", str(out), "--input_dim", "6", "--num_train", "20", "--num_test", "24", "--width", "8"]
    common += ["--epsilon", "0.5", "--num_probe", "10", "--ntk_every", "4", "--log_every", "2", "--cpu_threads", "1"]
    metrics = main([*common, "--max_steps", "8", "--checkpoint_every", "4"])
    assert metrics["eval/train_loss"] < 1.0
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["steps"][-1] == 8 and (out / "grokking.png").is_file() and (out / "README.md").is_file()
    resumed = main([*common, "--max_steps", "8", "--checkpoint_every", "4", "--resume_from_checkpoint", "latest"])
    assert resumed["eval/train_loss"] == pytest.approx(metrics["eval/train_loss"], rel=1e-6)
