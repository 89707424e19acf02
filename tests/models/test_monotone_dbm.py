"""Monotone DBM (P32): the prox-softmax against scipy, the monotone parameterisation, a unique mean-field fixed point
(several initialisations, and scipy's minimiser of the mean-field free energy), the implicit gradient, bad inputs."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from hf_methods.models.monotone_dbm import MonotoneDBMConfig, MonotoneDBMModel, ProxSoftmax, prox_softmax
from hf_methods.models.monotone_dbm.training import (
    MonotoneDBMArguments,
    evaluate_monotone_dbm,
    fit_monotone_dbm,
    marginal_baseline_accuracy,
    naive_mean_field,
    random_observation_mask,
)


def tiny_model(seed=0, **overrides):
    kwargs = dict(group_counts=[6, 2, 1], group_sizes=[2, 3, 4], tol=1e-9, max_iter=5000, initializer_range=3.0)
    kwargs.update(overrides)
    torch.manual_seed(seed)
    model = MonotoneDBMModel(MonotoneDBMConfig(**kwargs)).double()
    with torch.no_grad():
        model.bias.normal_(0, 1.0)
    return model


def scipy_prox(x, alpha):
    """argmin_{p ∈ Δ} ½(1 − α)‖p‖² − xᵀp + α Σ p log p, by SLSQP."""
    k = len(x)

    def objective(p):
        p = np.clip(p, 1e-300, None)
        return 0.5 * (1 - alpha) * p @ p - x @ p + alpha * np.sum(p * np.log(p))

    def gradient(p):
        return (1 - alpha) * p - x + alpha * (np.log(np.clip(p, 1e-300, None)) + 1)

    res = minimize(
        objective,
        np.full(k, 1.0 / k),
        jac=gradient,
        method="SLSQP",
        bounds=[(1e-12, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1, "jac": lambda p: np.ones_like(p)}],
        options={"ftol": 1e-14, "maxiter": 500},
    )
    return res.x


@pytest.mark.parametrize("alpha", [0.05, 0.125, 0.5, 0.9])
def test_prox_softmax_matches_scipy_and_lies_on_the_simplex(alpha):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 5, generator=g, dtype=torch.float64) * 2
    p = prox_softmax(x, alpha)
    assert (p >= 0).all()
    torch.testing.assert_close(p.sum(-1), torch.ones(6, dtype=torch.float64), rtol=0, atol=1e-12)
    for row, out in zip(x.numpy(), p.numpy()):
        np.testing.assert_allclose(out, scipy_prox(row, alpha), atol=1e-5)


def test_prox_softmax_satisfies_its_kkt_equation():
    # (1 − α)p_i + α log p_i = x_i − α − ν with one ν per row
    x = torch.randn(4, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 3
    alpha = 0.2
    p = prox_softmax(x, alpha)
    nu = x - alpha - (1 - alpha) * p - alpha * torch.log(p)
    torch.testing.assert_close(nu, nu[:, :1].expand_as(nu), rtol=0, atol=1e-9)


def test_prox_softmax_tends_to_softmax_as_alpha_tends_to_one():
    x = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2
    gaps = [(prox_softmax(x, a) - x.softmax(-1)).abs().max().item() for a in (0.9, 0.99, 0.999)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-3


def test_prox_softmax_gradient_is_the_implicit_one():
    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4)).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: ProxSoftmax.apply(t, 0.3), (x,))


def test_prox_softmax_rejects_alpha_outside_the_open_interval():
    with pytest.raises(ValueError, match="alpha"):
        ProxSoftmax.apply(torch.zeros(1, 3), 1.0)


def test_monotone_parameterisation():
    model = tiny_model()
    cfg = model.config
    a = model.scaled_coupling().detach().numpy()
    w = model.coupling_matrix().detach().numpy()
    # numpy reference: W = −(ÃᵀÃ − blockdiag(ÃᵀÃ)), ‖Ã_g‖₂² ≤ 1 − m, I − W ⪰ m I
    start, blocks = 0, []
    for count, size in zip(cfg.group_counts, cfg.group_sizes):
        for _ in range(count):
            blocks.append(range(start, start + size))
            start += size
    ata = a.T @ a
    expected = -ata.copy()
    for b in blocks:
        expected[np.ix_(b, b)] = 0.0
        assert np.linalg.norm(a[:, list(b)], 2) ** 2 <= 1 - cfg.monotone_margin + 1e-9
    np.testing.assert_allclose(w, expected, atol=1e-12)
    np.testing.assert_allclose(w, w.T, atol=1e-12)
    assert np.linalg.eigvalsh(np.eye(len(w)) - w).min() >= cfg.monotone_margin - 1e-9
    # the raw parameter is large (initializer_range=3), so the rescaling is active
    assert np.linalg.norm(model.coupling.detach().numpy(), 2) > np.linalg.norm(a, 2)


def test_fixed_point_is_unique_from_several_initialisations():
    model = tiny_model()
    cfg = model.config
    g = torch.Generator().manual_seed(5)
    pixels = torch.randint(0, 2, (3, 6), generator=g)
    mask = torch.rand(3, 6, generator=g) < 0.5
    finals = []
    for seed in range(5):
        init = torch.rand(3, cfg.num_variables, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        q, residual, _ = model.mean_field(pixels, mask, init=init, tol=1e-8)
        assert residual < 1e-8
        finals.append(q)
    spread = max((q - finals[0]).abs().max().item() for q in finals)
    assert spread < 1e-3


def test_naive_mean_field_with_unrestricted_couplings_is_not_unique():
    # a strong, hollow, symmetric coupling without the monotone restriction: synchronous softmax mean-field
    # oscillates or lands on different fixed points depending on where it starts
    cfg = MonotoneDBMConfig(group_counts=[6, 2, 1], group_sizes=[2, 3, 4])
    model = MonotoneDBMModel(cfg).double()
    g = torch.Generator().manual_seed(6)
    raw = torch.randn(cfg.num_variables, cfg.num_variables, generator=g, dtype=torch.float64) * 4
    weight = (raw + raw.T) * (1 - model.block_mask().double())
    bias = torch.zeros(cfg.num_variables, dtype=torch.float64)
    finals, residuals = [], []
    for seed in range(5):
        init = torch.rand(1, cfg.num_variables, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        q, residual = naive_mean_field(weight, bias, cfg.group_sizes, cfg.group_counts, init, max_iter=500)
        finals.append(q)
        residuals.append(residual)
    spread = max((q - finals[0]).abs().max().item() for q in finals)
    assert spread > 0.1 or max(residuals) > 1e-3


def test_fixed_point_minimises_the_mean_field_free_energy_like_scipy():
    # F(q) = −½ qᵀWq − bᵀq + Σ q log q over the product of simplices, observed pixels fixed: strongly convex here
    model = tiny_model(seed=1)
    cfg = model.config
    pixels = torch.tensor([[1, 0, 1, 1, 0, 0]])
    mask = torch.tensor([[True, False, True, False, False, True]])
    q, _, _ = model.mean_field(pixels, mask, tol=1e-12)
    w = model.coupling_matrix().detach().numpy()
    b = model.bias.detach().numpy()
    clamp_values, clamp_mask = model._clamp(pixels, mask)
    fixed = clamp_mask[0].numpy()
    values = clamp_values[0].numpy()
    free = ~fixed

    def full(v):
        z = values.copy()
        z[free] = v
        return z

    def energy(v):
        z = full(v)
        zf = np.clip(z[free], 1e-300, None)
        return -0.5 * z @ w @ z - b @ z + np.sum(zf * np.log(zf))

    def gradient(v):
        z = full(v)
        return (-(w @ z) - b)[free] + np.log(np.clip(z[free], 1e-300, None)) + 1

    groups, start = [], 0
    for count, size in zip(cfg.group_counts, cfg.group_sizes):
        for _ in range(count):
            groups.append(np.arange(start, start + size))
            start += size
    free_index = -np.ones(len(values), dtype=int)
    free_index[free] = np.arange(free.sum())
    constraints = []
    for grp in groups:
        if free[grp].all():
            idx = free_index[grp]
            constraints.append({"type": "eq", "fun": lambda v, idx=idx: v[idx].sum() - 1})
    x0 = np.concatenate([np.full(len(grp), 1.0 / len(grp)) for grp in groups])[free]
    res = minimize(
        energy,
        x0,
        jac=gradient,
        method="SLSQP",
        bounds=[(1e-12, 1.0)] * int(free.sum()),
        constraints=constraints,
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    np.testing.assert_allclose(q[0].numpy()[free], res.x, atol=1e-3)


def test_observed_pixels_stay_clamped_and_outputs_are_distributions():
    model = tiny_model(seed=2)
    pixels = torch.tensor([[1, 0, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1]])
    mask = torch.tensor([[True, False, True, False, False, True], [False] * 6])
    out = model(pixels, observed_mask=mask)
    onehot = torch.nn.functional.one_hot(pixels, 2).double()
    assert torch.equal(out.pixel_marginals[mask], onehot[mask])
    torch.testing.assert_close(out.label_marginals.sum(-1), torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(out.logits.exp(), out.label_marginals)


def test_implicit_gradient_matches_finite_differences():
    model = tiny_model(seed=3, backward_tol=1e-12, backward_max_iter=5000, focal_gamma=0.0)
    pixels = torch.tensor([[1, 0, 1, 1, 0, 0], [0, 1, 0, 1, 1, 0]])
    mask = torch.tensor([[True, False, True, False, False, True], [True, True, False, False, True, False]])
    labels = torch.tensor([2, 0])
    model.zero_grad()
    model(pixels, observed_mask=mask, labels=labels).loss.backward()
    for name, index in (("bias", (7,)), ("coupling", (3, 4)), ("bias", (20,))):
        param = getattr(model, name)
        eps = 1e-6
        with torch.no_grad():
            param[index] += eps
            up = model(pixels, observed_mask=mask, labels=labels).loss.item()
            param[index] -= 2 * eps
            down = model(pixels, observed_mask=mask, labels=labels).loss.item()
            param[index] += eps
        assert abs((up - down) / (2 * eps) - param.grad[index].item()) < 1e-5


def test_float_pixels_are_quantised_into_bins():
    model = tiny_model(seed=4)
    floats = torch.tensor([[0.1, 0.6, 0.9, 0.2, 0.5, 0.0]])
    out_f = model(floats, observed_mask=torch.ones(1, 6, dtype=torch.bool))
    out_b = model(torch.tensor([[0, 1, 1, 0, 1, 0]]), observed_mask=torch.ones(1, 6, dtype=torch.bool))
    torch.testing.assert_close(out_f.label_marginals, out_b.label_marginals)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"pixel_values": [[0, 1]]}, TypeError, "pixel_values"),
        ({"pixel_values": torch.zeros(2, 5, dtype=torch.long)}, ValueError, "pixel_values"),
        ({"pixel_values": torch.full((2, 6), 2)}, ValueError, "pixel_values"),
        ({"pixel_values": torch.full((2, 6), 1.5)}, ValueError, "pixel_values"),
        ({"observed_mask": torch.ones(2, 5, dtype=torch.bool)}, ValueError, "observed_mask"),
        ({"labels": torch.tensor([0, 4])}, ValueError, "labels"),
        ({"labels": torch.tensor([0])}, ValueError, "labels"),
    ],
)
def test_bad_inputs_are_rejected(kwargs, error, match):
    model = tiny_model()
    inputs = {"pixel_values": torch.zeros(2, 6, dtype=torch.long)} | kwargs
    with pytest.raises(error, match=match):
        model(**inputs)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"epochs": 0}, "epochs"), ({"batch_size": 0}, "batch_size"), ({"learning_rate": 0.0}, "learning_rate")],
)
def test_fit_rejects_bad_arguments(kwargs, match):
    model = tiny_model()
    with pytest.raises(ValueError, match=match):
        fit_monotone_dbm(model, torch.zeros(4, 6, dtype=torch.long), torch.zeros(4, dtype=torch.long), **kwargs)


def test_fit_rejects_mismatched_lengths_and_bad_mask_fraction():
    model = tiny_model()
    with pytest.raises(ValueError, match="y_train"):
        fit_monotone_dbm(model, torch.zeros(4, 6, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="observe_fraction"):
        random_observation_mask((2, 3), 1.5)


@pytest.mark.slow
def test_fit_lowers_the_loss_and_evaluates():
    g = torch.Generator().manual_seed(7)
    labels = torch.randint(0, 4, (32,), generator=g)
    pixels = (labels[:, None] % 2 == torch.arange(6) % 2).long()  # two pixel patterns, tied to the label parity
    model = tiny_model(seed=5, tol=1e-4, backward_tol=1e-4, max_iter=200, backward_max_iter=200).float()
    losses = []
    fit_monotone_dbm(
        model,
        pixels,
        labels,
        epochs=15,
        batch_size=16,
        learning_rate=0.05,
        callback=lambda step, loss: losses.append(loss),
    )
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    result = evaluate_monotone_dbm(model, pixels, labels)
    assert 0.0 <= result["label_accuracy"] <= 1.0
    assert 0.0 <= marginal_baseline_accuracy(pixels, pixels, result["mask"]) <= 1.0


def test_recipe_arguments_are_validated():
    with pytest.raises(ValueError, match="alpha"):
        MonotoneDBMArguments(alpha=1.0).validate()
    with pytest.raises(ValueError, match="observe_fraction"):
        MonotoneDBMArguments(observe_fraction=2.0).validate()


def test_recipe_runs_a_few_steps(tmp_path):
    from recipes.monotone_dbm import main

    metrics = main(
        [
            "--output_dir",
            str(tmp_path),
            "--max_steps",
            "2",
            "--batch_size",
            "16",
            "--report_to",
            "jsonl",
            "--cpu_threads",
            "1",
            "--max_iter",
            "30",
        ]
    )
    assert 0.0 <= metrics["eval/label_accuracy"] <= 1.0
    assert (tmp_path / "config.json").exists()
    reloaded = MonotoneDBMModel.from_pretrained(tmp_path)
    assert reloaded.config.group_counts == [64, 8, 1]
