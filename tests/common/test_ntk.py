"""The empirical NTK and the linearised model against a per-sample autograd loop and a finite difference."""

import pytest
import torch
from torch import nn

from hf_methods.common.ntk import LinearizedModel, empirical_ntk, kernel_target_alignment


def _mlp(seed=0, out=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 7), nn.Tanh(), nn.Linear(7, out)).double()


def _loop_jacobian(model, x):
    """J(x) row by row: one autograd.grad per sample and per output."""
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        out = model(x[i : i + 1]).reshape(-1)
        per_output = []
        for k in range(out.shape[0]):
            grads = torch.autograd.grad(out[k], params, retain_graph=True)
            per_output.append(torch.cat([g.reshape(-1) for g in grads]))
        rows.append(torch.stack(per_output))
    return torch.stack(rows)  # (N, K, P)


def test_ntk_equals_the_per_sample_loop():
    model = _mlp()
    x1, x2 = torch.randn(5, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    j1, j2 = _loop_jacobian(model, x1), _loop_jacobian(model, x2)
    full = empirical_ntk(model, x1, x2, mode="full", chunk_size=2)
    assert full.shape == (5, 3, 3, 3)
    for n in range(5):
        for m in range(3):
            torch.testing.assert_close(full[n, m], j1[n] @ j2[m].T)
    trace = empirical_ntk(model, x1, x2)
    torch.testing.assert_close(trace, torch.einsum("nmkk->nm", full))
    gram = empirical_ntk(model, x1)
    torch.testing.assert_close(gram, gram.T)
    assert torch.linalg.eigvalsh(gram).min() > -1e-10  # a Gram matrix is positive semi-definite


def test_linearized_model_is_the_first_order_taylor_expansion():
    model = _mlp(1)
    lin = LinearizedModel(model).double()
    x = torch.randn(6, 4, dtype=torch.float64)
    torch.testing.assert_close(lin(x), model(x))  # θ = θ₀
    with torch.no_grad():
        for p in lin.current_parameters().values():
            p.add_(1e-3 * torch.randn_like(p))
    delta = torch.cat(
        [(p - p0).reshape(-1) for p, p0 in zip(lin.current_parameters().values(), lin.initial_parameters().values())]
    )
    expected = model(x) + torch.einsum("nkp,p->nk", _loop_jacobian(model, x), delta)
    torch.testing.assert_close(lin(x), expected)
    # gradients reach θ, and the frozen network is untouched
    lin(x).sum().backward()
    assert all(p.grad is not None for p in lin.current_parameters().values())
    assert all(not p.requires_grad for p in lin.network.parameters())


def test_alignment_is_one_for_the_target_gram_and_scale_free():
    y = torch.tensor([1.0, -1.0, 1.0, 1.0])
    assert kernel_target_alignment(torch.outer(y, y), y).item() == pytest.approx(1.0)
    k = torch.randn(4, 4)
    k = k @ k.T
    assert kernel_target_alignment(3 * k, y).item() == pytest.approx(kernel_target_alignment(k, y).item())


def test_bad_inputs_are_named():
    model = _mlp()
    x = torch.randn(2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="mode"):
        empirical_ntk(model, x, mode="diag")
    with pytest.raises(ValueError, match="x2"):
        empirical_ntk(model, x, torch.zeros(0, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="chunk_size"):
        empirical_ntk(model, x, chunk_size=0)
    frozen = _mlp().requires_grad_(False)
    with pytest.raises(ValueError, match="trainable"):
        empirical_ntk(frozen, x)
    with pytest.raises(ValueError, match="square"):
        kernel_target_alignment(torch.ones(2, 3), torch.ones(2))
    with pytest.raises(ValueError, match="rows"):
        kernel_target_alignment(torch.eye(3), torch.ones(2))
