"""Every analysis function of hf-methods (tests/cases.py ANALYSIS_CASES) gets the same checks: it returns a dataclass
of finite numbers, is deterministic under a seed, and its plot helper writes a PNG."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from hf_methods import zoo
from tests.cases import ANALYSIS_CASES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def numbers(value, where="result"):
    """`(where, float)` of every number inside `value`; raises on a leaf that is not a number or a label."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from numbers(getattr(value, f.name), f"{where}.{f.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from numbers(item, f"{where}[{i}]")
    elif isinstance(value, torch.Tensor):
        assert not value.is_complex(), f"{where} is complex"
        for i, x in enumerate(value.detach().double().flatten().tolist()):
            yield f"{where}.flat[{i}]", x
    elif isinstance(value, np.ndarray):
        for i, x in enumerate(value.astype(float).flatten().tolist()):
            yield f"{where}.flat[{i}]", x
    elif isinstance(value, (bool, str)) or value is None:
        return  # labels and flags
    elif isinstance(value, (int, float, np.number)):
        yield where, float(value)
    else:
        raise AssertionError(f"{where} is a {type(value).__name__}, not a number")


def same(a, b) -> bool:
    return [x for _, x in numbers(a)] == [x for _, x in numbers(b)]


def test_catalogue_has_cases():
    """An implemented method of kind `analysis` must plug into this matrix."""
    names = {c.name for c in ANALYSIS_CASES}
    implemented = [m.slug for m in zoo.list_methods(kind="analysis") if m.status != "planned"]
    missing = [s for s in implemented if not any(n == s or n.startswith(s + "-") for n in names)]
    assert not missing, f"analysis methods without an AnalysisCase (tests/<kind>/cases_<slug>.py): {missing}"


def test_numbers_rejects_what_is_not_a_number():
    @dataclasses.dataclass
    class Bad:
        value: object

    with pytest.raises(AssertionError, match="not a number"):
        list(numbers(Bad(object())))
    assert not same(Bad([1.0, 2.0]), Bad([1.0, 2.5]))


@pytest.mark.parametrize("case", ANALYSIS_CASES, ids=str)
def test_returns_a_dataclass_of_finite_numbers(case):
    result = case.run(0)
    assert dataclasses.is_dataclass(result) and not isinstance(result, type), type(result)
    found = list(numbers(result))
    assert found, f"{case.name} returned no number"
    bad = [where for where, x in found if not math.isfinite(x)]
    assert not bad, f"not finite: {bad[:10]}"


@pytest.mark.parametrize("case", ANALYSIS_CASES, ids=str)
def test_deterministic_under_a_seed(case):
    torch.manual_seed(123)  # the global seed must not matter: the case's seed decides
    first = case.run(0)
    torch.manual_seed(456)
    assert same(first, case.run(0)), f"{case.name}: two runs with seed 0 differ"


@pytest.mark.parametrize("case", ANALYSIS_CASES, ids=str)
def test_plot_writes_a_png(case, tmp_path):
    path = tmp_path / f"{case.name}.png"
    case.plot(case.run(0), path)
    assert path.is_file() and path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"
