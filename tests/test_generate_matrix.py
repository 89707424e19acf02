"""Every generation strategy of hf-methods (tests/cases.py GENERATE_CASES) gets the same checks: it runs through
`model.generate`, honours the generation kwargs it claims to support (token for token equal to its reference when it
is lossless) and refuses the ones it does not support with a clear error."""

import pytest
import torch

from hf_methods import zoo
from tests.cases import GENERATE_CASES, GENERATE_KWARGS

MAX_NEW = 8


_MODELS = {}


def model_of(case):
    """The case's model, built once per session (tiny, but several tests use it)."""
    if case.name not in _MODELS:
        _MODELS[case.name] = case.make_model()
    return _MODELS[case.name]


def generate(case, **kwargs):
    return case.generate(model_of(case), case.make_inputs(), **kwargs)


def prompt_length(case):
    return case.make_inputs()["input_ids"].shape[1]


def new_tokens(case, out):
    return out[0, prompt_length(case) :].tolist()


def check_reference(case, out, **kwargs):
    """For a lossless strategy, `out` (generated with `kwargs`) must equal its reference's output token for token."""
    if case.reference is not None:
        expected = case.reference(model_of(case), case.make_inputs(), **kwargs)
        assert torch.equal(out, expected), (
            f"{case.name} with {kwargs}: {out.tolist()} != reference {expected.tolist()}"
        )


def needs(case, kwarg):
    assert kwarg in GENERATE_KWARGS, kwarg
    if kwarg not in case.supports:
        pytest.skip(f"{case.name} does not claim to support {kwarg}")


def first_cut(tokens, token):
    return tokens[: tokens.index(token) + 1] if token in tokens else tokens


def test_catalogue_has_cases():
    """An implemented method of kind `generation` must plug into this matrix."""
    names = {c.name for c in GENERATE_CASES}
    implemented = [m.slug for m in zoo.list_methods(kind="generation") if m.status != "planned"]
    missing = [s for s in implemented if not any(n == s or n.startswith(s + "-") for n in names)]
    assert not missing, f"generation methods without a GenerateCase (tests/<kind>/cases_<slug>.py): {missing}"


def test_cases_claim_only_checked_kwargs():
    for case in GENERATE_CASES:
        unknown = set(case.supports) - set(GENERATE_KWARGS)
        assert not unknown, f"{case.name}: the matrix has no check for {sorted(unknown)}; add one or drop them"


@pytest.mark.parametrize("case", GENERATE_CASES, ids=str)
def test_runs_through_generate(case, monkeypatch):
    model = model_of(case)
    calls = []
    plain = model.generate

    def counting_generate(*args, **kwargs):
        calls.append(kwargs)
        return plain(*args, **kwargs)

    monkeypatch.setattr(model, "generate", counting_generate)
    inputs = case.make_inputs()
    out = case.generate(model, inputs, max_new_tokens=MAX_NEW)
    assert calls, f"{case.name} did not call model.generate"
    assert out.dtype == torch.long and out.shape[0] == 1 and out.shape[1] > inputs["input_ids"].shape[1]
    assert torch.equal(out[:, : inputs["input_ids"].shape[1]], inputs["input_ids"]), "the prompt was not kept"
    check_reference(case, out, max_new_tokens=MAX_NEW)


@pytest.mark.parametrize("case", GENERATE_CASES, ids=str)
def test_max_new_tokens(case):
    needs(case, "max_new_tokens")
    eos = model_of(case).generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    for n in (1, 5):
        out = generate(case, max_new_tokens=n)
        new = new_tokens(case, out)
        assert len(new) == n or (0 < len(new) < n and new[-1] in eos), (n, new)
        check_reference(case, out, max_new_tokens=n)


@pytest.mark.parametrize("case", GENERATE_CASES, ids=str)
def test_eos_token_id_stops_generation(case):
    needs(case, "eos_token_id")
    free = new_tokens(case, generate(case, max_new_tokens=MAX_NEW))
    if len(free) < 3:
        pytest.skip("the free run stopped too early to pick an end token")
    stop = free[2]
    out = generate(case, max_new_tokens=MAX_NEW, eos_token_id=stop)
    assert new_tokens(case, out) == first_cut(free, stop)
    check_reference(case, out, max_new_tokens=MAX_NEW, eos_token_id=stop)


@pytest.mark.parametrize("case", GENERATE_CASES, ids=str)
def test_min_new_tokens_delays_the_end(case):
    needs(case, "min_new_tokens")
    stop = new_tokens(case, generate(case, max_new_tokens=MAX_NEW))[0]  # would end the run at once
    out = generate(case, max_new_tokens=MAX_NEW, eos_token_id=stop, min_new_tokens=4)
    new = new_tokens(case, out)
    assert len(new) >= 4 and stop not in new[:4], new
    check_reference(case, out, max_new_tokens=MAX_NEW, eos_token_id=stop, min_new_tokens=4)


@pytest.mark.parametrize("case", GENERATE_CASES, ids=str)
def test_repetition_penalty_avoids_repeats(case):
    needs(case, "repetition_penalty")
    free = new_tokens(case, generate(case, max_new_tokens=MAX_NEW))
    assert len(set(free)) < len(free), "the free run repeats no token: the check could not fail"
    out = generate(case, max_new_tokens=MAX_NEW, repetition_penalty=1e4)
    sequence = out[0].tolist()
    start = prompt_length(case)
    repeats = [t for i, t in enumerate(sequence[start:], start) if t in sequence[:i]]
    assert not repeats, f"tokens repeated despite the penalty: {repeats}"
    check_reference(case, out, max_new_tokens=MAX_NEW, repetition_penalty=1e4)


@pytest.mark.parametrize("case", GENERATE_CASES, ids=str)
def test_suppress_tokens(case):
    needs(case, "suppress_tokens")
    free = new_tokens(case, generate(case, max_new_tokens=MAX_NEW))
    banned = sorted(set(free))
    out = generate(case, max_new_tokens=MAX_NEW, suppress_tokens=banned)
    assert not set(new_tokens(case, out)) & set(banned), (new_tokens(case, out), banned)
    check_reference(case, out, max_new_tokens=MAX_NEW, suppress_tokens=banned)


def unsupported_params():
    """One test per (case, unsupported kwargs); `known_failures` entries run as strict xfails."""
    params = []
    for case in GENERATE_CASES:
        for kwargs, match in case.unsupported:
            test_id = f"{case.name}-" + ",".join(f"{k}={v}" for k, v in kwargs.items())
            reason = case.known_failures.get(test_id)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(case, kwargs, match, id=test_id, marks=marks))
    return params


@pytest.mark.parametrize("case,kwargs,match", unsupported_params())
def test_unsupported_kwargs_raise_clear_errors(case, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(case, max_new_tokens=2, **kwargs)


def test_known_failures_name_existing_tests():
    for case in GENERATE_CASES:
        stale = set(case.known_failures) - {
            f"{case.name}-" + ",".join(f"{k}={v}" for k, v in kwargs.items()) for kwargs, _ in case.unsupported
        }
        assert not stale, f"{case.name}: known_failures name no test: {sorted(stale)}"
