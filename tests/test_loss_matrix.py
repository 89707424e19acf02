"""Every training objective of hf-methods (tests/cases.py LOSS_CASES) gets the same checks: a finite loss whose
gradients reach the inputs, consistent reductions, batch invariance, float64 agreement and clear errors."""

import pytest
import torch

from hf_methods import zoo
from tests.cases import LOSS_CASES

BATCH = 6


def cases_for(test_name):
    """The loss cases, with `known_failures` of `test_name` as strict xfails (they must turn green when fixed)."""
    return [
        pytest.param(c, id=c.name, marks=pytest.mark.xfail(strict=True, reason=c.known_failures[test_name]))
        if test_name in c.known_failures
        else pytest.param(c, id=c.name)
        for c in LOSS_CASES
    ]


def covers(names, slug):
    return any(name == slug or name.startswith(slug + "-") for name in names)


def as_float64(inputs):
    return {k: v.double() if v.is_floating_point() else v for k, v in inputs.items()}


def test_catalogue_has_cases():
    """An implemented method of kind `training` must plug into this matrix."""
    names = {c.name for c in LOSS_CASES}
    implemented = [m.slug for m in zoo.list_methods(kind="training") if m.status != "planned"]
    missing = [slug for slug in implemented if not covers(names, slug)]
    assert not missing, f"training methods without a LossCase (tests/<kind>/cases_<slug>.py): {missing}"


@pytest.mark.parametrize("case", cases_for("test_loss_is_finite_and_gradients_reach_the_inputs"))
def test_loss_is_finite_and_gradients_reach_the_inputs(case):
    inputs = case.make_inputs(BATCH)
    inputs[case.input_key] = inputs[case.input_key].clone().requires_grad_(True)
    loss = case.make_loss("mean")(**inputs)
    assert loss.dim() == 0 and torch.isfinite(loss), loss
    loss.backward()
    grad = inputs[case.input_key].grad
    assert grad is not None, f"no gradient reached {case.input_key!r}"
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0, grad


@pytest.mark.parametrize("case", cases_for("test_reductions_agree"))
def test_reductions_agree(case):
    inputs = case.make_inputs(BATCH)
    assert set(case.reductions) >= {"mean", "none"}, "a loss case must support at least 'mean' and 'none'"
    per_example = case.make_loss("none")(**inputs)
    assert per_example.shape == (BATCH,), per_example.shape
    torch.testing.assert_close(case.make_loss("mean")(**inputs), per_example.mean())
    if "sum" in case.reductions:
        torch.testing.assert_close(case.make_loss("sum")(**inputs), per_example.sum())


@pytest.mark.parametrize("case", cases_for("test_batch_invariance"))
def test_batch_invariance(case):
    """The loss of an example does not depend on the other examples of its batch (a batch-level objective: permuting
    the batch permutes the per-example losses)."""
    inputs = case.make_inputs(BATCH)
    full = case.make_loss("none")(**inputs)
    if not case.batch_invariant:
        order = torch.randperm(BATCH, generator=torch.Generator().manual_seed(0))
        permuted = case.make_loss("none")(**{k: v[order] for k, v in inputs.items()})
        torch.testing.assert_close(permuted, full[order], rtol=1e-5, atol=1e-6)
        return
    for i in range(BATCH):
        single = case.make_loss("none")(**{k: v[i : i + 1] for k, v in inputs.items()})
        torch.testing.assert_close(single[0], full[i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", cases_for("test_float64_agrees_with_float32"))
def test_float64_agrees_with_float32(case):
    inputs = case.make_inputs(BATCH)
    loss32 = case.make_loss("none")(**inputs)
    loss64 = case.make_loss("none")(**as_float64(inputs))
    assert loss64.dtype == torch.float64, f"float64 inputs gave a {loss64.dtype} loss"
    torch.testing.assert_close(loss32.double(), loss64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", cases_for("test_bad_inputs_raise_clear_errors"))
def test_bad_inputs_raise_clear_errors(case):
    assert case.bad_inputs, f"{case.name}: list at least one bad label or shape in its LossCase"
    loss = case.make_loss("mean")
    for what, change, error, match in case.bad_inputs:
        with pytest.raises(error, match=match):
            loss(**change(case.make_inputs(BATCH)))
            pytest.fail(f"{case.name}: {what} was accepted")
