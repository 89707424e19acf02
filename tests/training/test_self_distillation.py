"""P24 `self_distillation`: the kernel closed forms against plain numpy refits, the loss against the equation written
out per example, the Trainer's chain, the recipe, and one clear error per bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hf_methods.training.self_distillation import (
    SelfDistillationLoss,
    SelfDistillationTrainer,
    krr_distillation_affine_terms,
    krr_distillation_limit,
    krr_distillation_spectrum,
    krr_self_distillation,
    optimal_alpha,
    self_distillation_loss,
)
from hf_methods.training.self_distillation.training import mobahi_toy_data, rbf_kernel

LAM = 0.1


def _toy():
    x, y, y_true = mobahi_toy_data()
    return x, y, y_true, rbf_kernel(x, x, 8.0)


# -------------------------------------------------------------------------------------------------------- references


def reference_refits(K, y, alphas, lam, K_eval=None):
    """The paper's recursion written out with explicit inverses: ỹ = αy + (1−α)ŷ, ŷ = K(K+λI)⁻¹ỹ, f = k(x)ᵀ(K+λI)⁻¹ỹ."""
    inverse = np.linalg.inv(K + lam * np.eye(len(y)))
    previous, outputs = y.copy(), []
    for alpha in alphas:
        target = alpha * y + (1 - alpha) * previous
        previous = K @ inverse @ target
        outputs.append(previous if K_eval is None else K_eval @ inverse @ target)
    return outputs


# ------------------------------------------------------------------------------------------------------------ kernel


@pytest.mark.parametrize("alpha", [0.0, 0.25, 1.0])
def test_refits_match_the_recursion_written_out(alpha):
    x, y, _, K = _toy()
    grid = np.linspace(0, 1, 23)
    expected = reference_refits(K, y, [alpha] * 7, LAM)
    got = krr_self_distillation(K, y, alpha, 7, LAM, return_all=True)
    np.testing.assert_allclose(got, np.stack(expected), atol=1e-10, rtol=0)
    on_grid = krr_self_distillation(K, y, alpha, 7, LAM, K_eval=rbf_kernel(grid, x, 8.0))
    np.testing.assert_allclose(
        on_grid, reference_refits(K, y, [alpha] * 7, LAM, rbf_kernel(grid, x, 8.0))[-1], atol=1e-10
    )


def test_step_one_is_plain_kernel_ridge_regression_and_per_step_alphas():
    _, y, _, K = _toy()
    plain = K @ np.linalg.solve(K + LAM * np.eye(11), y)
    np.testing.assert_allclose(krr_self_distillation(K, y, 0.7, 1, LAM), plain, atol=1e-12)
    alphas = [0.9, 0.1, 0.6, 0.0]
    np.testing.assert_allclose(
        krr_self_distillation(K, y, alphas, 4, LAM), reference_refits(K, y, alphas, LAM)[-1], atol=1e-10
    )
    targets = np.stack([y, -2 * y], axis=1)  # several outputs are independent columns
    both = krr_self_distillation(K, targets, 0.3, 5, LAM)
    np.testing.assert_allclose(both[:, 1], -2 * krr_self_distillation(K, y, 0.3, 5, LAM), atol=1e-12)


@pytest.mark.parametrize("alpha", [0.1, 0.3, 1.0])
def test_limit_is_krr_with_amplified_regularisation_and_is_reached(alpha):
    x, y, _, K = _toy()
    amplified = K @ np.linalg.solve(K + (LAM / alpha) * np.eye(11), y)
    np.testing.assert_allclose(krr_distillation_limit(K, y, alpha, LAM), amplified, atol=1e-10)
    np.testing.assert_allclose(krr_self_distillation(K, y, alpha, 2000, LAM), amplified, atol=1e-8)
    grid = rbf_kernel(np.linspace(0, 1, 31), x, 8.0)
    np.testing.assert_allclose(
        krr_self_distillation(K, y, alpha, 2000, LAM, K_eval=grid),
        krr_distillation_limit(K, y, alpha, LAM, K_eval=grid),
        atol=1e-8,
    )


def test_without_ground_truth_the_fits_collapse():
    _, y, _, K = _toy()
    norms = np.linalg.norm(krr_self_distillation(K, y, 0.0, 200, LAM, return_all=True), axis=1)
    assert np.all(np.diff(norms) < 0)
    assert norms[-1] < 0.05 < 2.0 < norms[0]
    np.testing.assert_array_equal(krr_distillation_limit(K, y, 0.0, LAM), np.zeros(11))


def test_spectrum_gives_every_step_from_the_initial_fit():
    """Theorem 4.1: ŷ⁽ᵗ⁾ = V diag(B⁽ᵗ⁾) Vᵀ y, and for constant α, b_t = b_∞ + (a(1−α))^(t−1) (a − b_∞)."""
    _, y, _, K = _toy()
    d, V = np.linalg.eigh(K)
    alpha = 0.3
    B = krr_distillation_spectrum(d, alpha, 12, LAM)
    fits = krr_self_distillation(K, y, alpha, 12, LAM, return_all=True)
    for b, fit in zip(B, fits):
        np.testing.assert_allclose(V @ (b * (V.T @ y)), fit, atol=1e-10)
    a = d / (d + LAM)
    b_inf = a * alpha / (1 - a * (1 - alpha))
    for t in range(1, 13):
        np.testing.assert_allclose(B[t - 1], b_inf + (a * (1 - alpha)) ** (t - 1) * (a - b_inf), atol=1e-12)


def test_affine_terms_and_optimal_alpha_against_a_dense_grid():
    _, y, y_true, K = _toy()
    previous = krr_self_distillation(K, y, 1.0, 1, LAM)
    g, h = krr_distillation_affine_terms(K, y, previous, LAM)
    for alpha in (0.0, 0.4, 1.0):  # the next step is g + α h
        np.testing.assert_allclose(g + alpha * h, krr_self_distillation(K, y, [1.0, alpha], 2, LAM), atol=1e-10)
    dense = np.linspace(0, 1, 100_001)
    errors = ((g[None, :] + dense[:, None] * h[None, :] - y_true[None, :]) ** 2).sum(1)
    best = optimal_alpha(g, h, y_true)
    assert abs(best - dense[int(np.argmin(errors))]) < 1e-4
    assert np.sum((g + best * h - y_true) ** 2) <= min(errors) + 1e-12


def test_optimal_alpha_clips_and_handles_a_flat_step():
    g, h = np.zeros(3), np.array([1.0, 0.0, 0.0])
    assert optimal_alpha(g, h, np.array([-2.0, 0, 0])) == 0.0
    assert optimal_alpha(g, h, np.array([-2.0, 0, 0]), clip=False) == pytest.approx(-2.0)
    assert optimal_alpha(g, h, np.array([3.0, 0, 0])) == 1.0
    assert optimal_alpha(g, h, np.array([0.25, 5.0, 0])) == pytest.approx(0.25)
    assert optimal_alpha(g, np.zeros(3), np.ones(3)) == 0.0


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda K, y: krr_self_distillation(K[:, :5], y, 0.5, 3, LAM), ValueError, "K must be a square"),
        (lambda K, y: krr_self_distillation(K + np.triu(K, 1), y, 0.5, 3, LAM), ValueError, "symmetric"),
        (lambda K, y: krr_self_distillation(K, y[:5], 0.5, 3, LAM), ValueError, "y must have shape"),
        (lambda K, y: krr_self_distillation(K, y, 0.5, 3, 0.0), ValueError, "lam"),
        (lambda K, y: krr_self_distillation(K, y, 0.5, 3, "0.1"), TypeError, "lam must be a number"),
        (lambda K, y: krr_self_distillation(K, y, 1.5, 3, LAM), ValueError, "alpha"),
        (lambda K, y: krr_self_distillation(K, y, "half", 3, LAM), TypeError, "alpha must be a number"),
        (lambda K, y: krr_self_distillation(K, y, [0.5, 0.5], 3, LAM), ValueError, "one weight per step"),
        (lambda K, y: krr_self_distillation(K, y, 0.5, 0, LAM), ValueError, "steps must be >= 1"),
        (lambda K, y: krr_self_distillation(K, y, 0.5, 2.0, LAM), TypeError, "steps must be an int"),
        (lambda K, y: krr_self_distillation(K, y, 0.5, 2, LAM, K_eval=K[:, :4]), ValueError, "K_eval"),
        (lambda K, y: krr_distillation_limit(K, y, -0.1, LAM), ValueError, "alpha"),
        (lambda K, y: krr_distillation_spectrum(-np.ones(3), 0.5, 2, LAM), ValueError, "eigenvalues must be >= 0"),
        (lambda K, y: krr_distillation_affine_terms(K, y, y[:3], LAM), ValueError, "previous must have the shape"),
        (lambda K, y: optimal_alpha(y, y, y[:3]), ValueError, "g, h and target must have one shape"),
        (lambda K, y: optimal_alpha(y, y * np.nan, y), ValueError, "finite"),
    ],
)
def test_kernel_errors_name_the_argument(call, error, match):
    _, y, _, K = _toy()
    with pytest.raises(error, match=match):
        call(K, y)


# -------------------------------------------------------------------------------------------------------------- loss


def reference_loss(logits, labels, teacher, alpha, objective, temperature):
    """α·ℓ(z, y) + (1−α)·ℓ(z, z_t), one example and one class at a time, in Python floats."""

    def softmax(row, t=1.0):
        top = max(row)
        e = [math.exp((v - top) / t) for v in row]
        return [v / sum(e) for v in e]

    out = []
    for z, y, zt in zip(logits.tolist(), labels.tolist(), teacher.tolist()):
        k = len(z)
        p, q = softmax(z), softmax(zt)
        if objective == "mse":
            label = sum((p[c] - (1.0 if c == y else 0.0)) ** 2 for c in range(k)) / k
            distill = sum((p[c] - q[c]) ** 2 for c in range(k)) / k
        else:
            label = -math.log(p[y])
            pt, qt = softmax(z, temperature), softmax(zt, temperature)
            distill = temperature**2 * sum(qt[c] * math.log(qt[c] / pt[c]) for c in range(k))
        out.append(alpha * label + (1 - alpha) * distill)
    return torch.tensor(out, dtype=torch.float64)


def _batch(n=8, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, k, generator=g, dtype=torch.float64) * 2,
        torch.randint(0, k, (n,), generator=g),
        torch.randn(n, k, generator=g, dtype=torch.float64) * 2,
    )


@pytest.mark.parametrize("objective,alpha,temperature", [("mse", 0.3, 1.0), ("mse", 1.0, 1.0), ("kl", 0.6, 3.0)])
def test_loss_matches_the_equation_per_example(objective, alpha, temperature):
    logits, labels, teacher = _batch()
    loss = self_distillation_loss(
        logits, labels, teacher, alpha=alpha, objective=objective, temperature=temperature, reduction="none"
    )
    expected = reference_loss(logits, labels, teacher, alpha, objective, temperature)
    torch.testing.assert_close(loss, expected, atol=1e-12, rtol=0)
    module = SelfDistillationLoss(alpha=alpha, objective=objective, temperature=temperature)
    torch.testing.assert_close(module(logits, labels, teacher), expected.mean())


def test_loss_ends_and_teacher_is_detached():
    logits, labels, teacher = _batch()
    label_only = self_distillation_loss(logits, labels, alpha=0.2, reduction="none")  # no teacher: the labels alone
    torch.testing.assert_close(
        label_only, self_distillation_loss(logits, labels, teacher, alpha=1.0, reduction="none")
    )
    # α = 0: only the teacher counts; distilling from itself costs nothing
    assert self_distillation_loss(logits, labels, logits.clone(), alpha=0.0) == 0
    teacher = teacher.clone().requires_grad_(True)
    student = logits.clone().requires_grad_(True)
    self_distillation_loss(student, labels, teacher, alpha=0.5).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"alpha": 1.5}, ValueError, "alpha must be in"),
        ({"alpha": "0.5"}, TypeError, "alpha must be a number"),
        ({"objective": "hinge"}, ValueError, "objective must be one of"),
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"reduction": "max"}, ValueError, "reduction"),
    ],
)
def test_loss_errors_name_the_argument(kwargs, error, match):
    logits, labels, teacher = _batch()
    with pytest.raises(error, match=match):
        self_distillation_loss(logits, labels, teacher, **kwargs)
    with pytest.raises(error, match=match):
        SelfDistillationLoss(**kwargs)


def test_loss_input_errors():
    logits, labels, teacher = _batch()
    with pytest.raises(TypeError, match="logits must be a floating-point"):
        self_distillation_loss(labels, labels, teacher)
    with pytest.raises(ValueError, match="teacher_logits must have the shape"):
        self_distillation_loss(logits, labels, teacher[:2])
    with pytest.raises(TypeError, match="teacher_logits must be a floating-point"):
        self_distillation_loss(logits, labels, teacher.long())


# ----------------------------------------------------------------------------------------------------------- Trainer


class _Digits(torch.utils.data.Dataset):
    def __init__(self, n: int = 32, with_labels: bool = True):
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.rand(n, 16, generator=g), torch.randint(0, 10, (n,), generator=g)
        self.with_labels = with_labels

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"pixel_values": self.x[i], "labels": self.y[i]} if self.with_labels else {"pixel_values": self.x[i]}


def _model(seed=0):
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(seed)
    return MLPForImageClassification(MLPConfig(input_size=16, hidden_sizes=[16], num_labels=10))


def _trainer(tmp_path, dataset=None, *, max_steps=3, model_init=None, **kwargs):
    from transformers import TrainingArguments

    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=max_steps,
        per_device_train_batch_size=8,
        learning_rate=0.05,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    model = None if model_init is not None else _model()
    dataset = _Digits() if dataset is None else dataset
    return SelfDistillationTrainer(model=model, model_init=model_init, args=args, train_dataset=dataset, **kwargs)


class _RecordStarts:
    """A callback remembering the weights each training run starts and ends from."""

    def __init__(self):
        from transformers import TrainerCallback

        starts, ends = [], []

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, model=None, **kw):
                starts.append({k: v.clone() for k, v in model.state_dict().items()})

            def on_train_end(self, args, state, control, model=None, **kw):
                ends.append({k: v.clone() for k, v in model.state_dict().items()})

        self.callback, self.starts, self.ends = Callback(), starts, ends


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_trainer_chains_students_into_teachers(tmp_path):
    record = _RecordStarts()
    trainer = _trainer(tmp_path, alpha=0.5, steps=3, eval_dataset=_Digits(16), callbacks=[record.callback])
    trainer.train()
    history = trainer.distillation_history
    assert [h["step"] for h in history] == [1, 2, 3] and [h["has_teacher"] for h in history] == [False, True, True]
    assert all("eval_loss" in h for h in history)
    # without model_init the student goes on from its weights; the teacher of step 3 is the end of step 2, frozen
    assert _same(record.starts[1], record.ends[0]) and _same(record.starts[2], record.ends[1])
    assert _same(trainer.teacher.state_dict(), record.ends[1]) and not _same(record.ends[2], record.ends[1])
    assert trainer.teacher is not trainer.model and not any(p.requires_grad for p in trainer.teacher.parameters())


def test_trainer_with_model_init_restarts_each_step(tmp_path):
    record = _RecordStarts()
    trainer = _trainer(tmp_path, model_init=lambda: _model(1), steps=2, callbacks=[record.callback])
    trainer.train()
    assert _same(record.starts[0], record.starts[1])  # the same fresh weights at each step
    assert _same(trainer.teacher.state_dict(), record.ends[0])


def test_trainer_loss_is_the_objective_plus_the_norm_penalty(tmp_path):
    from hf_methods.training.self_distillation.trainer import parameter_norm_penalty

    teacher = _model(seed=5)
    trainer = _trainer(
        tmp_path, teacher=teacher, alpha=0.25, objective="kl", temperature=2.0, parameter_norm_coef=1e-2
    )
    batch = {"pixel_values": _Digits().x[:8], "labels": _Digits().y[:8]}
    loss = trainer.compute_loss(trainer.model, batch)
    with torch.no_grad():
        expected = self_distillation_loss(
            trainer.model(pixel_values=batch["pixel_values"]).logits,
            batch["labels"],
            teacher(pixel_values=batch["pixel_values"]).logits,
            alpha=0.25,
            objective="kl",
            temperature=2.0,
        )
        norms = sum(p.norm() for p in trainer.model.parameters())
    torch.testing.assert_close(loss, expected + 1e-2 * norms)
    torch.testing.assert_close(parameter_norm_penalty(trainer.model), norms)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"teacher": "model"}, TypeError, "teacher must be an nn.Module"),
        ({"steps": 0}, ValueError, "steps must be >= 1"),
        ({"steps": 2.0}, TypeError, "steps must be an int"),
        ({"alpha": -0.5}, ValueError, "alpha must be in"),
        ({"objective": "ce"}, ValueError, "objective must be one of"),
        ({"parameter_norm_coef": -1.0}, ValueError, "parameter_norm_coef must be >= 0"),
    ],
)
def test_trainer_errors_name_the_argument(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        _trainer(tmp_path, **kwargs)


def test_trainer_needs_labels(tmp_path):
    trainer = _trainer(tmp_path, dataset=_Digits(with_labels=False), steps=1)
    with pytest.raises(ValueError, match="'labels' column"):
        trainer.train()


# ------------------------------------------------------------------------------------------ training pieces, recipe


def test_distillation_chain_shares_the_teacher_and_initial_weights():
    from hf_methods.training.self_distillation.training import digits_mlp, digits_tensors, distillation_chain

    data = digits_tensors(0, train_size=200)
    a = distillation_chain(data, 0.0, 1, seed=3, epochs=1, hidden_size=8)
    b = distillation_chain(data, 1.0, 1, seed=3, epochs=1, hidden_size=8)
    assert a["test_accuracy"][0] == b["test_accuracy"][0] and len(a["test_accuracy"]) == 2
    assert _same(digits_mlp(8, seed=7).state_dict(), digits_mlp(8, seed=7).state_dict())


def test_arguments_validate_each_flag():
    from hf_methods.training.self_distillation.training import SelfDistillationArguments

    assert SelfDistillationArguments(max_steps=40, fits=4).steps_per_fit == 10
    for kwargs, match in [
        ({"fits": 0}, "--fits"),
        ({"max_steps": 10, "fits": 4}, "--max_steps must be a positive multiple"),
        ({"alpha": 2.0}, "--alpha"),
        ({"objective": "ce"}, "--objective"),
        ({"learning_rate": 0.0}, "--learning_rate"),
        ({"parameter_norm_coef": -1.0}, "--parameter_norm_coef"),
        ({"test_size": 1.0}, "--test_size"),
    ]:
        with pytest.raises(ValueError, match=match):
            SelfDistillationArguments(output_dir="x", **kwargs).validate()


def _recipe():
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location(
        "recipe_self_distillation", repo_root() / "recipes" / "self_distillation.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_runs_a_short_chain(tmp_path):
    metrics = _recipe().main(
        ["--output_dir", str(tmp_path), "--max_steps", "6", "--fits", "2", "--hidden_size", "8", "--log_every", "0"]
    )
    assert set(metrics) == {"eval/accuracy", "eval/train_accuracy", "eval/first_fit_accuracy"}
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "README.md").is_file()


@pytest.mark.slow
def test_recipe_resume_mid_fit_is_bit_exact(tmp_path):
    from safetensors.torch import load_file

    recipe = _recipe()
    common = ["--max_steps", "40", "--fits", "4", "--hidden_size", "8", "--log_every", "0"]
    recipe.main(["--output_dir", str(tmp_path / "a"), "--checkpoint_every", "0", *common])
    resumed = tmp_path / "b"
    recipe.main(["--output_dir", str(resumed), "--checkpoint_every", "15", *common])
    first = sorted((resumed / "checkpoints").iterdir(), key=lambda p: int(p.name.split("_")[1]))[0]  # after step 15
    recipe.main(
        ["--output_dir", str(resumed), "--resume_from_checkpoint", str(first), "--checkpoint_every", "15", *common]
    )
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("self_distillation").usage, namespace)
    np.testing.assert_allclose(namespace["f_T"], namespace["f_inf"], atol=1e-8)
    assert 0.0 <= namespace["best_alpha"] <= 1.0
    assert len(namespace["trainer"].distillation_history) == 3
