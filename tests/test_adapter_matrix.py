"""Every adapter of hf-methods (tests/cases.py ADAPTER_CASES) gets the same checks."""

import pytest
import torch

from hf_methods import zoo
from tests.cases import ADAPTER_CASES


def logits(model, inputs):
    with torch.no_grad():
        return model(**inputs).logits


def test_catalogue_has_cases():
    """An implemented method of kind `adapters` must plug into this matrix."""
    names = {c.name for c in ADAPTER_CASES}
    implemented = [m.slug for m in zoo.list_methods(kind="adapters") if m.status != "planned"]
    missing = [slug for slug in implemented if not any(n == slug or n.startswith(slug + "-") for n in names)]
    assert not missing, f"adapters without a case in tests/cases.py: {missing}"


@pytest.mark.parametrize("case", ADAPTER_CASES, ids=str)
def test_adapter_changes_output(case):
    """Sanity of the case itself: the adapter must change the output, or the other tests could not fail."""
    inputs = case.make_inputs()
    base = case.make_base()
    before = logits(base, inputs)
    adapted = case.apply(base)
    assert not torch.allclose(logits(adapted, inputs), before)


@pytest.mark.parametrize("case", ADAPTER_CASES, ids=str)
def test_save_load_round_trip(case, tmp_path):
    inputs = case.make_inputs()
    adapted = case.apply(case.make_base())
    expected = logits(adapted, inputs)
    case.save(adapted, str(tmp_path))
    saved = {p.name for p in tmp_path.iterdir()}
    assert any(name.endswith(".safetensors") for name in saved), saved
    reloaded = case.load(case.make_base(), str(tmp_path))
    torch.testing.assert_close(logits(reloaded, inputs), expected, rtol=0, atol=0)


@pytest.mark.parametrize("case", ADAPTER_CASES, ids=str)
def test_adapter_only_weights_saved(case, tmp_path):
    from safetensors.torch import load_file

    adapted = case.apply(case.make_base())
    case.save(adapted, str(tmp_path))
    tensors = {}
    for f in tmp_path.glob("*.safetensors"):
        tensors.update(load_file(f))
    base_params = sum(p.numel() for p in case.make_base().parameters())
    assert sum(t.numel() for t in tensors.values()) < base_params / 2, "the base model's weights were saved"


@pytest.mark.parametrize("case", ADAPTER_CASES, ids=str)
def test_disable_restores_base_output(case):
    inputs = case.make_inputs()
    base = case.make_base()
    expected = logits(base, inputs)
    adapted = case.apply(base)
    with case.disable(adapted):
        torch.testing.assert_close(logits(adapted, inputs), expected, rtol=0, atol=0)
    assert not torch.allclose(logits(adapted, inputs), expected)


@pytest.mark.parametrize("case", ADAPTER_CASES, ids=str)
def test_merge_equals_unmerged(case):
    if case.merge is None:
        pytest.skip(f"{case.name} has no merge: its math does not fold into the base weights")
    inputs = case.make_inputs()
    adapted = case.apply(case.make_base())
    expected = logits(adapted, inputs)
    merged = case.merge(adapted)
    assert not any(case.is_adapter_param(n) for n, _ in merged.named_parameters()), "adapter layers left after merge"
    torch.testing.assert_close(logits(merged, inputs), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ADAPTER_CASES, ids=str)
def test_only_adapter_params_trainable(case):
    inputs = case.make_inputs()
    adapted = case.apply(case.make_base())
    trainable = [n for n, p in adapted.named_parameters() if p.requires_grad]
    assert trainable, "no trainable parameter"
    assert all(case.is_adapter_param(n) for n in trainable), [n for n in trainable if not case.is_adapter_param(n)]
    adapted.train()
    before = {n: p.detach().clone() for n, p in adapted.named_parameters()}
    labels = inputs["input_ids"]
    loss = adapted(**inputs, labels=labels).loss
    loss.backward()
    torch.optim.SGD([p for p in adapted.parameters() if p.requires_grad], lr=0.1).step()
    for n, p in adapted.named_parameters():
        if not case.is_adapter_param(n):
            assert torch.equal(before[n], p), f"base parameter {n} changed in training"
    assert any(not torch.equal(before[n], p) for n, p in adapted.named_parameters() if case.is_adapter_param(n))
