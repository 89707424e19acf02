"""P54 `comp_sum`: comp-sum losses against their closed forms and the paper's equation in high precision, the smooth
adversarial term and TRADES against plain numpy loops (closed-form input gradients of a linear model), the Trainer,
the recipe, and clear errors."""

from __future__ import annotations

import math
import tempfile
from decimal import Decimal, localcontext

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hf_methods.common.adversarial import PGDConfig
from hf_methods.training.comp_sum import (
    CompSumLoss,
    comp_sum_loss,
    score_difference_distance,
    smooth_adv_comp_sum_loss,
    trades_loss,
)
from hf_methods.training.comp_sum.loss import TAU_ONE_TOLERANCE

K = 10


def _batch(n: int = 16, k: int = K, scale: float = 3.0, seed: int = 0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, k, generator=gen) * scale).to(dtype)
    labels = torch.randint(0, k, (n,), generator=gen)
    return logits, labels


# -------------------------------------------------------------------------------------------------------- references


def reference_comp_sum(logits, labels, tau, digits: int = 50):
    """Φ^τ(u), u = Σ_{y'≠y} exp(h_{y'} − h_y): the paper's eq. 2 in `digits`-digit decimals, one example at a time."""
    out = []
    with localcontext() as ctx:
        ctx.prec = digits
        for row, y in zip(logits.tolist(), labels.tolist()):
            u = sum((Decimal(row[k]) - Decimal(row[y])).exp() for k in range(len(row)) if k != y)
            a = Decimal(1) - Decimal(tau)
            value = (1 + u).ln() if a == 0 else ((a * (1 + u).ln()).exp() - 1) / a
            out.append(float(value))
    return torch.tensor(out, dtype=torch.float64)


def reference_distance(adv, clean, labels):
    """‖Δh(x', y) − Δh(x, y)‖₂ with Δh(x, y) = (h(x, y) − h(x, y'))_{y'}, looping over examples and classes."""
    out = []
    for a, c, y in zip(adv.tolist(), clean.tolist(), labels.tolist()):
        total = sum(((a[y] - a[k]) - (c[y] - c[k])) ** 2 for k in range(len(a)))
        out.append(math.sqrt(total))
    return torch.tensor(out, dtype=torch.float64)


class Linear(torch.nn.Module):
    """h(x) = W x + b, whose input gradients have closed forms (for the numpy attack loops below)."""

    def __init__(self, d: int = 6, k: int = 4, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.weight = torch.nn.Parameter(torch.randn(k, d, generator=gen, dtype=torch.float64))
        self.bias = torch.nn.Parameter(torch.randn(k, generator=gen, dtype=torch.float64))

    def forward(self, x):
        return x @ self.weight.T + self.bias


def _random_start(x, config, seed):
    """The shared attack's random start (uniform in the ℓ∞ ball, or a random direction and radius in ℓ2)."""
    gen = torch.Generator().manual_seed(seed)
    if config.norm == "linf":
        return ((torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1) * config.eps).numpy()
    direction = torch.randn(x.shape, generator=gen, dtype=x.dtype)
    radius = torch.rand(x.shape[0], generator=gen, dtype=x.dtype) * config.eps
    return (direction / direction.norm(dim=1, keepdim=True) * radius[:, None]).numpy()


def numpy_pgd(x, start, grad_fn, config):
    """PGD written plainly: per example, step along sign(g) (ℓ∞) or g/‖g‖ (ℓ2), project on the ball and on [0, 1]."""
    x_adv = []
    for i in range(len(x)):
        delta = np.clip(x[i] + start[i], 0, 1) - x[i]
        for _ in range(config.steps):
            g = grad_fn(i, x[i] + delta)
            step = np.sign(g) if config.norm == "linf" else g / max(np.linalg.norm(g), 1e-12)
            delta = delta + config.step_size * step
            if config.norm == "linf":
                delta = np.clip(delta, -config.eps, config.eps)
            else:
                delta = delta * min(1.0, config.eps / max(np.linalg.norm(delta), 1e-12))
            delta = np.clip(x[i] + delta, 0, 1) - x[i]
        x_adv.append(x[i] + delta)
    return np.stack(x_adv)


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


# ----------------------------------------------------------------------------------------------------------- comp-sum


def test_tau_one_is_cross_entropy():
    logits, labels = _batch(64, scale=5.0)
    torch.testing.assert_close(
        comp_sum_loss(logits, labels, 1.0, reduction="none"),
        F.cross_entropy(logits, labels, reduction="none"),
        atol=1e-12,
        rtol=0,
    )


def test_tau_two_is_one_minus_softmax_probability():
    logits, labels = _batch(64, scale=5.0)
    p_y = torch.softmax(logits, dim=1)[torch.arange(64), labels]
    torch.testing.assert_close(comp_sum_loss(logits, labels, 2.0, reduction="none"), 1 - p_y, atol=1e-12, rtol=0)


@pytest.mark.parametrize("q", [0.5, 0.3, 0.7])
def test_tau_one_plus_q_is_generalised_cross_entropy(q):
    """GCE (Zhang & Sabuncu, 2018) written plainly: (1 − p_y^q) / q, example by example."""
    logits, labels = _batch(32, scale=4.0)
    gce = []
    for row, y in zip(logits.tolist(), labels.tolist()):
        top = max(row)
        p_y = math.exp(row[y] - top) / sum(math.exp(v - top) for v in row)
        gce.append((1 - p_y**q) / q)
    loss = comp_sum_loss(logits, labels, 1.0 + q, reduction="none")
    torch.testing.assert_close(loss, torch.tensor(gce, dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("scale", [0.1, 3.0, 20.0])
def test_tau_zero_is_sum_of_exponentiated_differences(scale):
    """τ = 0: Σ_{y'≠y} exp(h_{y'} − h_y), to full relative precision even when it is far below 1e-16."""
    logits, labels = _batch(32, scale=scale)
    logits[::2] += 40.0 * F.one_hot(labels[::2], K)  # confident examples: u far below 1e-16 at the largest scale
    expected = [
        math.fsum(math.exp(row[k] - row[y]) for k in range(K) if k != y)
        for row, y in zip(logits.tolist(), labels.tolist())
    ]
    expected = torch.tensor(expected, dtype=torch.float64)
    loss = comp_sum_loss(logits, labels, 0.0, reduction="none")
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=0)
    if scale == 20.0:
        assert expected.min() < 1e-16  # a confident example whose loss would round to 0 via logsumexp(h) − h_y


@pytest.mark.parametrize("tau", [0.0, 0.3, 0.5, 1.0, 1.5, 2.0, 3.0])
def test_general_tau_matches_the_equation_in_high_precision(tau):
    logits, labels = _batch(12, scale=4.0, seed=3)
    loss = CompSumLoss(tau=tau, reduction="none")(logits, labels)
    torch.testing.assert_close(loss, reference_comp_sum(logits, labels, tau), rtol=1e-12, atol=0)


@pytest.mark.parametrize("delta", [1e-2, 1e-4, 1.01 * TAU_ONE_TOLERANCE, 0.99 * TAU_ONE_TOLERANCE, 1e-9, 1e-14])
def test_continuous_at_tau_one(delta):
    """Both sides of τ = 1 and of the switch to the expansion agree with the general formula (50 digits)."""
    logits, labels = _batch(12, scale=4.0, seed=4)
    for tau in (1.0 - delta, 1.0 + delta):
        loss = comp_sum_loss(logits, labels, tau, reduction="none")
        torch.testing.assert_close(loss, reference_comp_sum(logits, labels, tau), rtol=1e-12, atol=0)
    # and the loss approaches cross-entropy as τ → 1
    gap = comp_sum_loss(logits, labels, 1.0 + delta, reduction="none") - F.cross_entropy(
        logits, labels, reduction="none"
    )
    assert gap.abs().max() <= 10 * delta * F.cross_entropy(logits, labels, reduction="none").pow(2).max()


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.5, 2.0])
def test_gradient_is_p_y_power_tau_minus_one_times_cross_entropy_gradient(tau):
    """dΦ^τ/dL = (1 + u)^{−τ}(1 + u) = p_y^{τ−1}, so ∇ℓ_τ = p_y^{τ−1} (softmax − e_y)."""
    logits, labels = _batch(8, scale=2.0)
    logits.requires_grad_(True)
    comp_sum_loss(logits, labels, tau, reduction="sum").backward()
    probs = torch.softmax(logits.detach(), dim=1)
    p_y = probs[torch.arange(8), labels]
    expected = p_y[:, None] ** (tau - 1) * (probs - F.one_hot(labels, K).double())
    torch.testing.assert_close(logits.grad, expected, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("tau", [1.0, 1.5, 2.0])
def test_finite_at_large_logits(tau):
    """τ ≥ 1 is bounded by the cross-entropy: no overflow for huge scores, in float32."""
    logits, labels = _batch(8, scale=1e4, dtype=torch.float32)
    logits.requires_grad_(True)
    loss = comp_sum_loss(logits, labels, tau)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_reductions_and_module():
    logits, labels = _batch(10)
    per_example = comp_sum_loss(logits, labels, 0.7, reduction="none")
    torch.testing.assert_close(comp_sum_loss(logits, labels, 0.7), per_example.mean())
    torch.testing.assert_close(comp_sum_loss(logits, labels, 0.7, reduction="sum"), per_example.sum())
    torch.testing.assert_close(CompSumLoss(0.7)(logits, labels), per_example.mean())
    assert "tau=0.7" in repr(CompSumLoss(0.7))


# ----------------------------------------------------------------------------------------------------------- smooth term


def test_score_difference_distance_matches_loop_and_ignores_shifts():
    adv, labels = _batch(8, seed=1)
    clean, _ = _batch(8, seed=2)
    distance = score_difference_distance(adv, clean, labels)
    torch.testing.assert_close(distance, reference_distance(adv, clean, labels), atol=1e-12, rtol=0)
    # adding any constant to every score of an example changes no score difference
    shift = torch.randn(8, 1, dtype=torch.float64)
    torch.testing.assert_close(score_difference_distance(adv + shift, clean - shift, labels), distance)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_smooth_adv_comp_sum_matches_a_numpy_loop(norm):
    """ℓ_τ(x) + ν‖Δh(x') − Δh(x)‖ with x' from PGD on the distance, all written in numpy for h(x) = Wx + b."""
    model = Linear()
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(5, 6, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 1])
    config = PGDConfig(eps=0.2, steps=4, norm=norm)
    tau, nu = 1.5, 2.0
    loss = smooth_adv_comp_sum_loss(
        model, x, labels, tau, nu, config, reduction="none", generator=torch.Generator().manual_seed(7)
    )

    w, b, xs, ys = model.weight.detach().numpy(), model.bias.detach().numpy(), x.numpy(), labels.numpy()

    def distance_grad(i, z):  # ∇_z ‖A(z − x)‖ with A = rows (W_y − W_k)
        a = w[ys[i]][None, :] - w
        v = a @ (z - xs[i])
        return a.T @ v / max(np.linalg.norm(v), 1e-300)

    x_adv = numpy_pgd(xs, _random_start(x, config, 7), distance_grad, config)
    expected = []
    for i in range(len(xs)):
        h, h_adv = w @ xs[i] + b, w @ x_adv[i] + b
        p_y = _softmax(h)[ys[i]]
        comp = (1 - p_y ** (tau - 1)) / (tau - 1)
        d = h_adv - h
        expected.append(comp + nu * np.linalg.norm(d[ys[i]] - d))
    torch.testing.assert_close(loss, torch.tensor(expected), atol=1e-10, rtol=0)


def test_trades_matches_a_numpy_loop():
    """CE(x) + β KL(p(x) ‖ p(x')) with x' from PGD on the KL (∇_z = Wᵀ(q(z) − p(x))), in numpy."""
    model = Linear(seed=1)
    gen = torch.Generator().manual_seed(6)
    x = torch.rand(5, 6, generator=gen, dtype=torch.float64)
    labels = torch.tensor([3, 1, 0, 2, 2])
    config = PGDConfig(eps=0.2, steps=4, norm="l2")
    loss = trades_loss(model, x, labels, 3.0, config, reduction="none", generator=torch.Generator().manual_seed(8))

    w, b, xs, ys = model.weight.detach().numpy(), model.bias.detach().numpy(), x.numpy(), labels.numpy()
    x_adv = numpy_pgd(
        xs, _random_start(x, config, 8), lambda i, z: w.T @ (_softmax(w @ z + b) - _softmax(w @ xs[i] + b)), config
    )
    expected = []
    for i in range(len(xs)):
        p, q = _softmax(w @ xs[i] + b), _softmax(w @ x_adv[i] + b)
        expected.append(-np.log(p[ys[i]]) + 3.0 * np.sum(p * np.log(p / q)))
    torch.testing.assert_close(loss, torch.tensor(expected), atol=1e-10, rtol=0)


def test_smooth_term_vanishes_without_budget_or_weight():
    model = Linear()
    x = torch.rand(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 3])
    plain = comp_sum_loss(model(x), labels, 0.5)
    torch.testing.assert_close(smooth_adv_comp_sum_loss(model, x, labels, 0.5, 0.0), plain)
    torch.testing.assert_close(
        smooth_adv_comp_sum_loss(model, x, labels, 0.5, 6.0, PGDConfig(eps=0.0, steps=0)), plain
    )


def test_attack_finds_a_larger_distance_than_its_random_start():
    model = Linear(d=12, k=5, seed=3)
    x = torch.rand(64, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 5, (64,), generator=torch.Generator().manual_seed(2))
    config = PGDConfig(eps=0.1, steps=10)
    start = torch.from_numpy(_random_start(x, config, 3))
    at_start = score_difference_distance(model(x + start), model(x), labels)
    attacked = smooth_adv_comp_sum_loss(
        model, x, labels, 1.0, 1.0, config, reduction="none", generator=torch.Generator().manual_seed(3)
    ) - comp_sum_loss(model(x), labels, 1.0, reduction="none")
    assert (attacked >= at_start - 1e-9).float().mean() > 0.9 and attacked.mean() > 1.5 * at_start.mean()


def test_gradients_reach_the_model_through_both_forwards():
    model = Linear()
    x = torch.rand(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    smooth_adv_comp_sum_loss(model, x, torch.tensor([0, 1, 2, 3]), 1.0, 6.0, PGDConfig(eps=0.1, steps=3)).backward()
    assert torch.isfinite(model.weight.grad).all() and model.weight.grad.abs().sum() > 0
    assert x.grad is None


# ----------------------------------------------------------------------------------------------------------- bad input


def test_error_logits_not_2d():
    with pytest.raises(ValueError, match="logits must be 2-D"):
        comp_sum_loss(torch.randn(4), torch.zeros(4, dtype=torch.long))


def test_error_logits_integer():
    with pytest.raises(TypeError, match="logits must be a floating-point"):
        comp_sum_loss(torch.zeros(4, K, dtype=torch.long), torch.zeros(4, dtype=torch.long))


def test_error_labels_shape():
    with pytest.raises(ValueError, match="labels must have shape"):
        CompSumLoss()(torch.randn(4, K), torch.zeros(3, dtype=torch.long))


def test_error_labels_out_of_range():
    with pytest.raises(ValueError, match="labels must lie in"):
        CompSumLoss()(torch.randn(4, K), torch.tensor([0, 1, 2, K]))
    with pytest.raises(ValueError, match="labels must lie in"):
        CompSumLoss()(torch.randn(4, K), torch.tensor([0, -1, 2, 3]))


def test_error_labels_dtype():
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        CompSumLoss()(torch.randn(4, K), torch.zeros(4))


@pytest.mark.parametrize("tau", [-0.5, float("inf"), float("nan")])
def test_error_tau_value(tau):
    with pytest.raises(ValueError, match="tau must be a finite number >= 0"):
        CompSumLoss(tau=tau)
    with pytest.raises(ValueError, match="tau must be"):
        comp_sum_loss(torch.randn(2, K), torch.zeros(2, dtype=torch.long), tau)


@pytest.mark.parametrize("tau", ["1", True, None])
def test_error_tau_type(tau):
    with pytest.raises(TypeError, match="tau must be a number"):
        CompSumLoss(tau=tau)


def test_error_reduction():
    with pytest.raises(ValueError, match="reduction must be one of"):
        CompSumLoss(reduction="avg")
    with pytest.raises(ValueError, match="reduction must be one of"):
        smooth_adv_comp_sum_loss(
            Linear(), torch.rand(2, 6, dtype=torch.float64), torch.zeros(2, dtype=torch.long), reduction="avg"
        )


def test_error_nu_and_beta():
    x, y = torch.rand(2, 6, dtype=torch.float64), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="nu must be a finite number >= 0"):
        smooth_adv_comp_sum_loss(Linear(), x, y, 1.0, -1.0)
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        trades_loss(Linear(), x, y, beta=-1.0)


def test_error_attack_type():
    x, y = torch.rand(2, 6, dtype=torch.float64), torch.zeros(2, dtype=torch.long)
    with pytest.raises(TypeError, match="attack must be a PGDConfig"):
        smooth_adv_comp_sum_loss(Linear(), x, y, attack={"eps": 0.1})
    with pytest.raises(TypeError, match="attack must be a PGDConfig"):
        trades_loss(Linear(), x, y, attack=0.1)


def test_error_inputs_and_labels_of_the_adversarial_losses():
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        smooth_adv_comp_sum_loss(Linear(), torch.ones(2, 6, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must be a tensor of shape \(2,\)"):
        smooth_adv_comp_sum_loss(Linear(), torch.rand(2, 6, dtype=torch.float64), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must lie in"):
        trades_loss(Linear(), torch.rand(2, 6, dtype=torch.float64), torch.tensor([0, 4]))


def test_error_distance_shapes():
    with pytest.raises(ValueError, match="clean_logits must have the shape"):
        score_difference_distance(torch.randn(3, K), torch.randn(3, K - 1), torch.zeros(3, dtype=torch.long))


# ----------------------------------------------------------------------------------------------------------- Trainer


def _dataset(n: int = 32):
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, 64, generator=gen), torch.randint(0, 10, (n,), generator=gen)
    return [{"pixel_values": x[i], "labels": y[i]} for i in range(n)]


def _trainer(tmp_path, **kwargs):
    from transformers import TrainingArguments

    from hf_methods.common.mlp import MLPConfig, MLPForImageClassification
    from hf_methods.training.comp_sum import AdvCompSumTrainer

    torch.manual_seed(0)
    model = MLPForImageClassification(MLPConfig(input_size=64, hidden_sizes=[16], num_labels=10, dropout=0.1))
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=8,
        learning_rate=0.05,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
    )
    trainer_kwargs = {"attack": PGDConfig(eps=0.1, steps=3), **kwargs}
    return AdvCompSumTrainer(model=model, args=args, train_dataset=_dataset(), **trainer_kwargs)


def test_trainer_trains_logs_both_terms_and_evaluates(tmp_path):
    trainer = _trainer(tmp_path, tau=1.5, nu=2.0)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    assert any(not torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items())
    logged = [entry for entry in trainer.state.log_history if "comp_sum" in entry]
    assert logged and all(entry["smooth_term"] > 0 for entry in logged)
    assert trainer.model.training  # the attack's eval mode was undone
    # evaluation: the clean comp-sum loss (the model in eval mode: dropout off, deterministic)
    metrics = trainer.evaluate(_dataset(16))
    x = torch.stack([item["pixel_values"] for item in _dataset(16)])
    y = torch.stack([item["labels"] for item in _dataset(16)])
    trainer.model.eval()
    with torch.no_grad():
        expected = comp_sum_loss(trainer.model(pixel_values=x).logits, y, 1.5)
    assert metrics["eval_loss"] == pytest.approx(expected.item(), rel=1e-5)


def test_trainer_loss_is_the_smooth_adversarial_loss(tmp_path):
    """compute_loss = mean(ℓ_τ + ν·distance), the attack run in eval mode and the loss in train mode (dropout on)."""
    from hf_methods.training.comp_sum.loss import smooth_adv_comp_sum_terms

    trainer = _trainer(tmp_path, tau=1.0, nu=3.0, attack=PGDConfig(eps=0.1, steps=2))
    model = trainer.model.train()
    batch = {"pixel_values": torch.rand(6, 64), "labels": torch.arange(6)}
    torch.manual_seed(11)  # the attack's random start and the dropout masks come from torch's global generator
    ours = trainer.compute_loss(model, batch)

    def attack_forward(z):
        model.eval()
        try:
            return model(pixel_values=z).logits
        finally:
            model.train()

    torch.manual_seed(11)
    comp, dist, _, _ = smooth_adv_comp_sum_terms(
        lambda z: model(pixel_values=z).logits,
        batch["pixel_values"],
        batch["labels"],
        trainer.attack,
        tau=1.0,
        attack_model=attack_forward,
    )
    torch.testing.assert_close(ours, (comp + 3.0 * dist).mean())


def test_trainer_nu_zero_is_plain_comp_sum_training(tmp_path):
    trainer = _trainer(tmp_path, tau=2.0, nu=0.0)
    model = trainer.model.eval()  # deterministic forward (no dropout)
    batch = {"pixel_values": torch.rand(6, 64), "labels": torch.arange(6)}
    with torch.no_grad():
        expected = comp_sum_loss(model(pixel_values=batch["pixel_values"]).logits, batch["labels"], 2.0)
        assert trainer.compute_loss(model, batch).item() == pytest.approx(expected.item())


def test_trainer_errors(tmp_path):
    with pytest.raises(TypeError, match="attack must be a PGDConfig"):
        _trainer(tmp_path, attack="pgd")
    with pytest.raises(ValueError, match="tau must be"):
        _trainer(tmp_path, tau=-1.0)
    with pytest.raises(ValueError, match="nu must be"):
        _trainer(tmp_path, nu=-1.0)
    with pytest.raises(TypeError, match="input_name"):
        _trainer(tmp_path, input_name="")
    trainer = _trainer(tmp_path)
    model = trainer.model.train()
    with pytest.raises(ValueError, match="'labels' column"):
        trainer.compute_loss(model, {"pixel_values": torch.rand(2, 64)})
    with pytest.raises(ValueError, match="perturbs the batch column 'pixel_values'"):
        trainer.compute_loss(model, {"inputs": torch.rand(2, 64), "labels": torch.zeros(2, dtype=torch.long)})


# ----------------------------------------------------------------------------------------- training pieces, recipe


def test_arguments_validate_and_build_the_attack():
    from hf_methods.training.comp_sum.training import CompSumArguments

    args = CompSumArguments(output_dir="x", eps=0.2, pgd_steps=4)
    assert args.attack() == PGDConfig(eps=0.2, steps=4)
    assert args.eval_attack().steps == 10
    for bad, match in [
        ({"objective": "pgd"}, "--objective"),
        ({"tau": -1.0}, "--tau"),
        ({"nu": float("nan")}, "--nu"),
        ({"norm": "l1"}, "--norm"),
        ({"pgd_steps": 0}, "--pgd_steps"),
        ({"eps": 0.0}, "--eps"),
    ]:
        with pytest.raises(ValueError, match=match):
            CompSumArguments(output_dir="x", **bad).validate()


def test_training_loss_objectives():
    from hf_methods.training.comp_sum.training import digits_mlp, training_loss

    torch.manual_seed(0)
    model = digits_mlp(8)
    x, y = torch.rand(4, 64), torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(
        training_loss(model, x, y, "comp_sum", tau=0.5), comp_sum_loss(model(pixel_values=x).logits, y, 0.5)
    )
    attack = PGDConfig(eps=0.1, steps=2)
    for objective in ("adv_comp_sum", "trades"):
        loss = training_loss(model, x, y, objective, attack=attack)
        assert torch.isfinite(loss) and model.training
    with pytest.raises(ValueError, match="objective must be one of"):
        training_loss(model, x, y, "mart")


def test_recipe_runs_a_few_steps(tmp_path):
    import importlib.util

    from hf_methods.zoo import repo_root

    spec = importlib.util.spec_from_file_location("recipe_comp_sum", repo_root() / "recipes" / "comp_sum.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    out = tmp_path / "run"
    metrics = recipe.main(
        [
            "--output_dir",
            out,
            "--max_steps",
            "3",
            "--pgd_steps",
            "2",
            "--eval_pgd_steps",
            "2",
            "--hidden_size",
            "16",
            "--checkpoint_every",
            "0",
            "--log_every",
            "1",
            "--cpu_threads",
            "1",
        ]
    )
    assert 0.0 <= metrics["eval/robust_accuracy"] <= metrics["eval/clean_accuracy"] + 0.2
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert any((out / "checkpoints").iterdir())


@pytest.mark.slow
def test_record_usage_runs_as_written():
    from hf_methods.zoo import get_method

    namespace: dict = {}
    with tempfile.TemporaryDirectory():
        exec(get_method("comp_sum").usage, namespace)
    assert torch.isfinite(namespace["loss"]) and torch.isfinite(namespace["robust_loss"])
    assert namespace["trainer"].state.global_step == 4
