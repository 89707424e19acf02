"""DONE (P18): KL-DRO weights against a numerical solve of the DRO problem and plain-Python formulas, their limits,
the running normaliser, the weighted loss's gradient, the Trainer, the recipe and clear errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hf_methods.common.adversarial import PGDConfig
from hf_methods.training.done import DONEWeightedLoss, KLDRONormalizer, kl_dro_objective, kl_dro_weights

K = 10


# ----------------------------------------------------------------------------------------------------------- references


def reference_weights(losses: list[float], r: float) -> list[float]:
    """w_i = exp(ℓ_i/r) / Σ_j exp(ℓ_j/r), in Python floats (losses small enough not to overflow)."""
    exps = [math.exp(v / r) for v in losses]
    return [e / sum(exps) for e in exps]


def dro_value(w: np.ndarray, losses: np.ndarray, r: float) -> float:
    """Σ w_i ℓ_i − r Σ w_i log(n w_i) (0 log 0 = 0)."""
    from scipy.special import xlogy

    return float(w @ losses - r * xlogy(w, len(w) * w).sum())


def solve_penalised(losses: np.ndarray, r: float) -> np.ndarray:
    """argmax_{w ∈ Δ_n} Σ w_i ℓ_i − r KL(w ‖ 1/n), numerically (SLSQP, analytic gradient)."""
    from scipy.optimize import minimize

    n = len(losses)
    result = minimize(
        lambda w: -dro_value(w, losses, r),
        np.full(n, 1.0 / n),
        jac=lambda w: -(losses - r * (np.log(np.maximum(n * w, 1e-300)) + 1.0)),
        method="SLSQP",
        bounds=[(1e-12, 1.0)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    assert result.success, result.message
    return result.x


def solve_constrained(losses: np.ndarray, rho: float) -> np.ndarray:
    """argmax_{w ∈ Δ_n, KL(w ‖ 1/n) ≤ ρ} Σ w_i ℓ_i, numerically (the KL-ball form of the same DRO problem)."""
    from scipy.optimize import minimize
    from scipy.special import xlogy

    n = len(losses)
    result = minimize(
        lambda w: -(w @ losses),
        np.full(n, 1.0 / n),
        jac=lambda w: -losses,
        method="SLSQP",
        bounds=[(1e-12, 1.0)] * n,
        constraints=[
            {"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)},
            {
                "type": "ineq",
                "fun": lambda w: rho - xlogy(w, n * w).sum(),
                "jac": lambda w: -(np.log(np.maximum(n * w, 1e-300)) + 1.0),
            },
        ],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    assert result.success, result.message
    return result.x


# ----------------------------------------------------------------------------------------------------------- closed form


def test_weights_match_python_formula():
    losses = [0.1, 2.3, 0.7, 1.5, 0.0, 3.2]
    for r in (0.3, 1.0, 4.0):
        got = kl_dro_weights(torch.tensor(losses, dtype=torch.float64), r)
        torch.testing.assert_close(got, torch.tensor(reference_weights(losses, r), dtype=torch.float64))
        assert got.sum().item() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n,r", [(4, 0.5), (7, 2.0), (12, 1.0)])
def test_weights_are_the_numerical_dro_maximiser(n, r):
    losses = np.random.default_rng(n).uniform(0.0, 3.0, size=n)
    closed = kl_dro_weights(torch.from_numpy(losses), r).numpy()
    numeric = solve_penalised(losses, r)
    np.testing.assert_allclose(closed, numeric, atol=1e-5)  # SLSQP stops at ftol 1e-15 on the objective
    # the closed-form value r·log((1/n) Σ exp(ℓ/r)) is the optimum: no feasible point found numerically beats it
    value = kl_dro_objective(torch.from_numpy(losses), r).item()
    assert value == pytest.approx(dro_value(closed, losses, r), abs=1e-10)
    assert dro_value(numeric, losses, r) <= value + 1e-9


def test_weights_solve_the_kl_ball_problem_with_matching_radius():
    """Lagrange duality: softmax(ℓ/r) also maximises Σ w ℓ over the KL ball of radius ρ = KL(w*(r) ‖ 1/n)."""
    losses = np.random.default_rng(3).uniform(0.0, 2.0, size=6)
    for r in (0.5, 2.0):
        closed = kl_dro_weights(torch.from_numpy(losses), r).numpy()
        rho = float((closed * np.log(len(losses) * closed)).sum())
        np.testing.assert_allclose(solve_constrained(losses, rho), closed, atol=2e-4)


def test_uniform_limit_large_r():
    losses = torch.rand(64, generator=torch.Generator().manual_seed(0)) * 5
    assert (kl_dro_weights(losses, r=1e4) - 1 / 64).abs().max() < 1e-3


def test_argmax_limit_small_r_and_ties():
    losses = torch.tensor([0.3, 1.2, 0.9, 1.1])
    w = kl_dro_weights(losses, r=1e-3)
    assert w[1].item() > 1 - 1e-6 and w.sum().item() == pytest.approx(1.0)
    # ties at the maximum share its mass equally
    torch.testing.assert_close(kl_dro_weights(torch.tensor([1.0, 2.0, 2.0]), r=1e-4), torch.tensor([0.0, 0.5, 0.5]))


def test_weights_do_not_overflow_and_are_detached():
    losses = torch.tensor([1000.0, 999.0, 0.0], requires_grad=True)
    w = kl_dro_weights(losses, r=0.01)
    assert torch.isfinite(w).all() and not w.requires_grad and w.dtype == torch.float32
    assert w[0].item() == pytest.approx(1.0)


def test_objective_limits_and_gradient_is_the_weights():
    losses = torch.tensor([0.2, 1.0, 2.5, 0.4], dtype=torch.float64, requires_grad=True)
    assert kl_dro_objective(losses, 1e5).item() == pytest.approx(losses.mean().item(), abs=1e-4)
    assert kl_dro_objective(losses, 1e-3).item() == pytest.approx(2.5, abs=1e-2)
    value = kl_dro_objective(losses, 0.7)
    (grad,) = torch.autograd.grad(value, losses)
    torch.testing.assert_close(grad, kl_dro_weights(losses, 0.7))  # Danskin: ∇_ℓ F = w*


# ----------------------------------------------------------------------------------------------------------- normaliser


def test_normalizer_follows_the_moving_average_in_python():
    r, beta = 0.5, 0.3
    normalizer = KLDRONormalizer(r=r, beta=beta)
    gen = torch.Generator().manual_seed(4)
    u = None
    for _ in range(5):
        losses = torch.rand(8, generator=gen, dtype=torch.float64) * 2
        w = normalizer(losses)
        batch_mean = sum(math.exp(v / r) for v in losses.tolist()) / 8
        u = batch_mean if u is None else (1 - beta) * u + beta * batch_mean
        assert normalizer.u == pytest.approx(u, rel=1e-12)
        torch.testing.assert_close(
            w, torch.tensor([math.exp(v / r) / u for v in losses.tolist()], dtype=torch.float64)
        )
    assert normalizer.num_updates.item() == 5


def test_normalizer_beta_one_is_the_batch_softmax():
    losses = torch.tensor([0.1, 0.9, 2.0, 0.4])
    w = KLDRONormalizer(r=0.8, beta=1.0)(losses)
    torch.testing.assert_close(w, 4 * kl_dro_weights(losses, 0.8))


@pytest.mark.parametrize("beta", [0.1, 0.9])
def test_normalizer_weights_are_unbiased(beta):
    """Over many i.i.d. batches the weights average to 1 (so (1/B) Σ w_i ∇ℓ_i estimates Σ w_i* ∇ℓ_i)."""
    normalizer = KLDRONormalizer(r=1.0, beta=beta)
    gen = torch.Generator().manual_seed(5)
    means = [normalizer(torch.rand(32, generator=gen) * 3).double().mean().item() for _ in range(600)]
    assert abs(np.mean(means[50:]) - 1.0) < 0.03


def test_normalizer_small_r_stays_finite_and_eval_does_not_update():
    normalizer = KLDRONormalizer(r=1e-3, beta=0.5)
    w = normalizer(torch.tensor([5.0, 3.0, 4.0]))  # exp(5000) would overflow
    assert torch.isfinite(w).all() and w.max().item() == pytest.approx(3.0)
    state = {k: v.clone() for k, v in normalizer.state_dict().items()}
    normalizer.eval()
    normalizer(torch.tensor([9.0, 1.0]))
    assert all(torch.equal(state[k], v) for k, v in normalizer.state_dict().items())
    clone = KLDRONormalizer(r=1e-3, beta=0.5)
    clone.load_state_dict(normalizer.state_dict())
    assert clone.log_u.item() == normalizer.log_u.item() and clone.num_updates.item() == 1


def test_normalizer_gather_combines_processes():
    """Two 'processes' with different batches move u by the global batch mean."""
    a, b = torch.tensor([0.2, 1.0]), torch.tensor([2.0, 0.5, 0.1, 0.3])
    from_other = iter([torch.logsumexp(b.double() / 0.5, 0).reshape(1), torch.tensor([4.0], dtype=torch.float64)])
    normalizer = KLDRONormalizer(r=0.5, beta=1.0)
    normalizer.update(a, gather=lambda t: torch.cat([t, next(from_other)]))
    everything = torch.cat([a, b]).tolist()
    assert normalizer.u == pytest.approx(sum(math.exp(v / 0.5) for v in everything) / 6, rel=1e-12)


# ----------------------------------------------------------------------------------------------------------- weighted loss


def test_weighted_loss_gradient_is_danskin_gradient_of_the_objective():
    """β = 1, one batch: ∇ of (1/B) Σ w_i ℓ_i (w detached) equals ∇ of r·log((1/B) Σ exp(ℓ_i/r))."""
    gen = torch.Generator().manual_seed(6)
    logits = (torch.randn(6, K, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
    labels = torch.randint(0, K, (6,), generator=gen)
    DONEWeightedLoss(r=0.7, beta=1.0)(logits, labels).backward()
    ours = logits.grad.clone()
    logits.grad = None
    kl_dro_objective(F.cross_entropy(logits, labels, reduction="none"), 0.7).backward()
    torch.testing.assert_close(ours, logits.grad)


def test_weighted_loss_reductions_and_large_r_is_cross_entropy():
    gen = torch.Generator().manual_seed(7)
    logits, labels = torch.randn(5, K, generator=gen), torch.randint(0, K, (5,), generator=gen)
    ce = F.cross_entropy(logits, labels, reduction="none")
    per = DONEWeightedLoss(r=0.5, beta=1.0, reduction="none")(logits, labels)
    torch.testing.assert_close(per, 5 * kl_dro_weights(ce, 0.5) * ce)
    torch.testing.assert_close(DONEWeightedLoss(r=1e6, beta=1.0)(logits, labels), ce.mean(), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------- errors


def test_error_losses_type():
    with pytest.raises(TypeError, match="per_sample_losses must be a torch.Tensor"):
        kl_dro_weights([0.1, 0.2], r=1.0)
    with pytest.raises(TypeError, match="floating-point"):
        kl_dro_weights(torch.tensor([1, 2]), r=1.0)


def test_error_losses_shape_and_empty():
    with pytest.raises(ValueError, match="must be 1-D"):
        kl_dro_weights(torch.zeros(2, 3), r=1.0)
    with pytest.raises(ValueError, match="is empty"):
        kl_dro_weights(torch.zeros(0), r=1.0)


def test_error_losses_not_finite():
    with pytest.raises(ValueError, match="must be finite"):
        kl_dro_weights(torch.tensor([0.1, float("nan")]), r=1.0)
    with pytest.raises(ValueError, match="must be finite"):
        KLDRONormalizer()(torch.tensor([float("inf")]))


@pytest.mark.parametrize("value", [0.0, -1.0, float("inf"), float("nan")])
def test_error_r_value(value):
    with pytest.raises(ValueError, match="r must be a positive finite number"):
        kl_dro_weights(torch.ones(3), r=value)
    with pytest.raises(ValueError, match="r must be"):
        DONEWeightedLoss(r=value)


def test_error_r_type():
    with pytest.raises(TypeError, match="r must be a number"):
        kl_dro_weights(torch.ones(3), r="2")
    with pytest.raises(TypeError, match="r must be a number"):
        KLDRONormalizer(r=True)


@pytest.mark.parametrize("value", [0.0, -0.1, 1.5])
def test_error_beta(value):
    with pytest.raises(ValueError, match=r"beta must be in \(0, 1\]"):
        KLDRONormalizer(beta=value)


def test_error_reduction():
    with pytest.raises(ValueError, match="reduction must be one of"):
        DONEWeightedLoss(reduction="avg")


def test_error_logits_labels():
    with pytest.raises(ValueError, match="logits must be 2-D"):
        DONEWeightedLoss()(torch.randn(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must lie in"):
        DONEWeightedLoss()(torch.randn(4, K), torch.tensor([0, 1, 2, K]))
    with pytest.raises(TypeError, match="integer tensor"):
        DONEWeightedLoss()(torch.randn(4, K), torch.zeros(4))


# ----------------------------------------------------------------------------------------------------------- Trainer


class _Digits(torch.utils.data.Dataset):
    def __init__(self, n: int = 32):
        gen = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, 64, generator=gen)
        self.y = torch.randint(0, K, (n,), generator=gen)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"pixel_values": self.x[i], "labels": self.y[i]}


def _model():
    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification

    torch.manual_seed(0)
    return MLPForImageClassification(MLPConfig(input_size=64, hidden_sizes=[16], hidden_act="relu", num_labels=K))


def _trainer(tmp_path, attack=None, model=None, **kwargs):
    from transformers import TrainingArguments

    from hf_methods.training.done import DONETrainer

    trainer_kwargs = {k: kwargs.pop(k) for k in ("r", "beta", "objective", "trades_beta", "input_name") if k in kwargs}
    defaults = dict(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=8,
        learning_rate=0.1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
    )
    args = TrainingArguments(**{**defaults, **kwargs})
    return DONETrainer(
        model=model or _model(),
        args=args,
        train_dataset=_Digits(),
        attack=attack or PGDConfig(eps=0.1, steps=2),
        **trainer_kwargs,
    )


def test_trainer_trains_moves_normalizer_and_checkpoints_it(tmp_path):
    trainer = _trainer(tmp_path, r=0.5, beta=0.5, save_strategy="steps", save_steps=2)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    assert any(not torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items())
    assert trainer.normalizer.num_updates.item() == 3
    saved = torch.load(tmp_path / "checkpoint-2" / "done_normalizer_state.pt")
    assert saved["normalizer.num_updates"].item() == 2
    fresh = _trainer(tmp_path, r=0.5, beta=0.5)
    fresh._load_from_checkpoint(str(tmp_path / "checkpoint-2"))
    assert fresh.normalizer.log_u.item() == saved["normalizer.log_u"].item()
    # evaluation reports the plain adversarial loss and leaves the normaliser alone
    state = trainer.normalizer.log_u.item()
    assert math.isfinite(trainer.evaluate(_Digits(16))["eval_loss"])
    assert trainer.normalizer.log_u.item() == state and trainer.normalizer.num_updates.item() == 3
    acc = trainer.classwise_robust_accuracy(_Digits().x, _Digits().y, num_classes=K)
    clean = trainer.classwise_robust_accuracy(_Digits().x, _Digits().y, num_classes=K, attack=None)
    assert 0.0 <= acc.worst <= acc.class_mean <= 1.0 and acc.overall <= clean.overall + 1e-9


def test_trainer_loss_with_a_zero_attack_is_the_weighted_clean_loss(tmp_path):
    trainer = _trainer(tmp_path, attack=PGDConfig(eps=0.0, steps=0), r=0.5, beta=1.0)
    data = _Digits(8)
    batch = {"pixel_values": data.x, "labels": data.y}
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, batch)
    ce = F.cross_entropy(trainer.model(pixel_values=data.x).logits, data.y, reduction="none")
    torch.testing.assert_close(loss, (8 * kl_dro_weights(ce, 0.5) * ce).mean())


def test_trainer_attack_raises_the_loss_and_trades_reduces_to_ce_without_attack(tmp_path):
    data = _Digits(16)
    batch = {"pixel_values": data.x, "labels": data.y}
    model = _model()
    clean = _trainer(tmp_path, model=model, attack=PGDConfig(eps=0.0, steps=0), r=1e6).compute_loss(model, batch)
    attacked = _trainer(tmp_path, model=model, attack=PGDConfig(eps=0.3, steps=5), r=1e6).compute_loss(model, batch)
    assert attacked.item() > clean.item()
    trades = _trainer(tmp_path, model=model, attack=PGDConfig(eps=0.0, steps=0), r=1e6, objective="trades")
    torch.testing.assert_close(trades.compute_loss(model, batch), clean, rtol=1e-5, atol=1e-6)


def test_trainer_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="attack must be a PGDConfig"):
        _trainer(tmp_path, attack={"eps": 0.1})
    with pytest.raises(ValueError, match="objective must be one of"):
        _trainer(tmp_path, objective="mart")
    with pytest.raises(ValueError, match="r must be a positive"):
        _trainer(tmp_path, r=0.0)
    with pytest.raises(ValueError, match="trades_beta"):
        _trainer(tmp_path, trades_beta=-1.0)


def test_trainer_missing_columns(tmp_path):
    trainer = _trainer(tmp_path)
    data = _Digits(4)
    with pytest.raises(ValueError, match="'labels' column"):
        trainer.compute_loss(trainer.model, {"pixel_values": data.x})
    with pytest.raises(ValueError, match="batch column 'pixel_values'"):
        trainer.compute_loss(trainer.model, {"inputs": data.x, "labels": data.y})
    with pytest.raises(ValueError, match="attack must be a PGDConfig, None"):
        trainer.classwise_robust_accuracy(data.x, data.y, num_classes=K, attack="pgd")


# ----------------------------------------------------------------------------------------------------------- training


def test_at_and_done_share_initialisation_and_batches():
    """r → ∞ DONE follows AT's trajectory (same init, batches, attacks): the loop pairs methods per seed."""
    from hf_methods.training.done.training import train_robust_digits

    kwargs = dict(epochs=1, hidden_size=16, attack_steps=1, eval_attack_steps=1, batch_size=256)
    at = train_robust_digits(0, None, **kwargs)
    done = train_robust_digits(0, 1e8, **kwargs)
    assert done["robust_accuracy"] == pytest.approx(at["robust_accuracy"], abs=0.02)
    assert done["max_weight"] == pytest.approx(1.0, abs=1e-4) and at["max_weight"] == 1.0


def test_arguments_validate():
    from hf_methods.training.done.training import DONEArguments

    DONEArguments(output_dir="x").validate()
    for field, value, match in [
        ("method", "gairat", "--method"),
        ("r", 0.0, "--r"),
        ("beta", 1.5, "--beta"),
        ("objective", "mart", "--objective"),
        ("eps", -0.1, "--eps"),
        ("attack_steps", 0, "--attack_steps"),
        ("learning_rate", 0.0, "--learning_rate"),
        ("test_size", 1.0, "--test_size"),
    ]:
        with pytest.raises(ValueError, match=match):
            DONEArguments(output_dir="x", **{field: value}).validate()
    assert DONEArguments(output_dir="x", method="at").build_weighted_loss() is None
    assert DONEArguments(output_dir="x", r=0.5).build_weighted_loss().r == 0.5


def test_recipe_runs_a_few_steps(tmp_path):
    import importlib.util
    import json

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_done", repo_root() / "recipes" / "done.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    metrics = recipe.main(
        ["--output_dir", tmp_path, "--max_steps", "4", "--hidden_size", "16", "--eval_attack_steps", "2"]
        + ["--checkpoint_every", "2", "--log_every", "1", "--r", "0.5"]
    )
    assert 0.0 <= metrics["eval/worst_class_robust_accuracy"] <= metrics["eval/robust_accuracy"] <= 1.0
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "README.md").is_file()
    logged = [json.loads(line) for line in (tmp_path / "logs" / "done.jsonl").read_text().splitlines()]
    assert any("train/log_u" in entry for entry in logged)


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    exec(get_method("done").usage, namespace)  # defines data, model and Trainer, and trains 10 steps
    assert namespace["trainer"].normalizer.num_updates.item() == 10
    assert namespace["w"].sum().item() == pytest.approx(1.0) and 0.0 <= namespace["worst"] <= 1.0
