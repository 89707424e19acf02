"""Every transformers architecture of hf-methods (tests/cases.py MODEL_CASES) gets the same checks."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import hf_methods  # noqa: F401  (registers the Auto classes)
from hf_methods import zoo
from tests.cases import MODEL_CASES, resolve

CASES = {c.name: c for c in MODEL_CASES}
MODEL_PAIRS = [(c, m) for c in MODEL_CASES for m in c.models]


def build(case, model_path):
    config = resolve(case.config)(**case.config_kwargs)
    torch.manual_seed(0)
    return resolve(model_path)(config).eval(), config


def output(model, inputs, key):
    with torch.no_grad():
        out = model(**{k: v for k, v in inputs.items() if k != "labels" or key == "loss"})
    value = getattr(out, key, None)
    assert value is not None, f"{type(model).__name__} has no output {key!r}: set the case's output_key(s)"
    return value


def test_catalogue_has_cases():
    """An implemented method of kind `models` must plug into this matrix."""
    implemented = [m.slug for m in zoo.list_methods(kind="models") if m.status != "planned"]
    missing = [slug for slug in implemented if slug not in CASES]
    assert not missing, f"models without a case in tests/cases.py: {missing}"


@pytest.mark.parametrize("case,model_path", MODEL_PAIRS, ids=lambda x: str(x).split(":")[-1])
def test_save_load_bit_exact(case, model_path, tmp_path):
    model, config = build(case, model_path)
    inputs = case.make_inputs(config)
    key = case.key_of(model_path)
    model.save_pretrained(tmp_path)
    reloaded = type(model).from_pretrained(tmp_path).eval()
    for (n1, t1), (n2, t2) in zip(model.state_dict().items(), reloaded.state_dict().items()):
        assert n1 == n2 and torch.equal(t1, t2), f"{n1} changed through save/load"
    assert torch.equal(output(model, inputs, key), output(reloaded, inputs, key))


@pytest.mark.parametrize("case,model_path", MODEL_PAIRS, ids=lambda x: str(x).split(":")[-1])
def test_auto_class_resolution(case, model_path, tmp_path):
    import transformers

    model, config = build(case, model_path)
    auto_cls = getattr(transformers, case.models[model_path])
    assert type(transformers.AutoConfig.for_model(config.model_type)) is type(config)
    assert type(auto_cls.from_config(config)) is type(model)
    model.save_pretrained(tmp_path)
    loaded = auto_cls.from_pretrained(tmp_path)
    assert type(loaded) is type(model)


REMOTE_SCRIPT = textwrap.dedent(
    """
    import sys, json, traceback, torch
    torch.set_num_threads(1)  # as in the test process (tests/conftest.py), so float reductions run in the same order
    class BlockHfMethods:  # hf-methods is not installed on this "machine"
        def find_spec(self, name, path=None, target=None):
            if name == "hf_methods" or name.startswith("hf_methods."):
                raise ImportError("hf_methods is blocked in this process")
    sys.meta_path.insert(0, BlockHfMethods())
    try:
        import hf_methods
        raise SystemExit("hf_methods imported although it is blocked")
    except ImportError:
        pass
    import transformers

    def load(folder, auto_name, key):
        auto_cls = getattr(transformers, auto_name)
        try:
            auto_cls.from_pretrained(folder)
            raise AssertionError("loaded remote code without trust_remote_code")
        except ValueError as err:
            assert "trust_remote_code" in str(err), err
        model = auto_cls.from_pretrained(folder, trust_remote_code=True).eval()
        inputs = torch.load(folder + "/inputs.pt")
        with torch.no_grad():
            out = getattr(model(**inputs), key)
        torch.save(out, folder + "/remote_out.pt")
        return type(model).__module__

    # one process for every case (starting Python with torch and transformers costs seconds)
    report = {}
    for folder, auto_name, key in zip(*[iter(sys.argv[1:])] * 3):
        try:
            report[folder] = {"module": load(folder, auto_name, key)}
        except BaseException:
            report[folder] = {"error": traceback.format_exc()[-3000:]}
    print("REPORT " + json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def remote_loads(tmp_path_factory):
    """Saves every (case, model class) and reloads them all through remote code in one process without hf_methods.

    Returns `{(case name, model path): (folder, report, expected output)}`.
    """
    saved, argv = {}, []
    for case, model_path in MODEL_PAIRS:
        folder = tmp_path_factory.mktemp(f"remote-{case.name}-{model_path.split(':')[-1]}")
        model, config = build(case, model_path)
        key = case.key_of(model_path)
        inputs = {k: v for k, v in case.make_inputs(config).items() if k != "labels"}
        model.save_pretrained(folder)
        torch.save(inputs, folder / "inputs.pt")
        saved[(case.name, model_path)] = (folder, output(model, inputs, key))
        argv += [str(folder), case.models[model_path], key]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", REMOTE_SCRIPT, *argv],
        cwd=tmp_path_factory.getbasetemp(),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # transformers' trust_remote_code prompt writes to stdout without a newline: find the report by its marker
    assert "REPORT " in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout.rpartition("REPORT ")[2].splitlines()[0])
    return {pair: (folder, report[str(folder)], expected) for pair, (folder, expected) in saved.items()}


@pytest.mark.parametrize("case,model_path", MODEL_PAIRS, ids=lambda x: str(x).split(":")[-1])
def test_remote_code_without_hf_methods(case, model_path, remote_loads):
    folder, report, expected = remote_loads[(case.name, model_path)]
    config_json = json.loads((folder / "config.json").read_text())
    assert case.models[model_path] in config_json.get("auto_map", {}), config_json.get("auto_map")
    assert "error" not in report, report.get("error")
    assert report["module"].startswith("transformers_modules"), report["module"]
    assert torch.equal(torch.load(folder / "remote_out.pt"), expected)


@pytest.mark.parametrize("case,model_path", MODEL_PAIRS, ids=lambda x: str(x).split(":")[-1])
def test_training_step_changes_weights(case, model_path):
    model, config = build(case, model_path)
    inputs = case.make_inputs(config)
    if "labels" not in inputs or not hasattr(model(**inputs), "loss") or model(**inputs).loss is None:
        pytest.skip("a base model without a loss; its head is trained instead")
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    frozen_before = {n: b.detach().clone() for n, b in model.named_buffers()}
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = model(**inputs).loss
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    changed = [n for n, p in model.named_parameters() if not torch.equal(before[n], p)]
    assert changed, "no parameter changed after an optimizer step"
    for n, b in model.named_buffers():
        assert torch.equal(frozen_before[n], b), f"buffer {n} changed during training"


@pytest.mark.parametrize("case", MODEL_CASES, ids=str)
def test_batch_invariance(case):
    if not case.batch_invariant:
        pytest.skip("not batch invariant by design")
    model_path = next(iter(case.models))
    model, config = build(case, model_path)
    key = case.key_of(model_path)
    inputs = {k: v for k, v in case.make_inputs(config).items() if k != "labels"}
    full = output(model, inputs, key)
    for i in range(full.shape[0]):
        single = output(model, {k: v[i : i + 1] if k in case.batch_keys else v for k, v in inputs.items()}, key)
        torch.testing.assert_close(single[0], full[i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", MODEL_CASES, ids=str)
def test_bad_config_is_rejected(case):
    assert case.bad_configs, f"{case.name}: give at least one bad config in tests/cases.py"
    config_cls = resolve(case.config)
    for kwargs, match in case.bad_configs:
        with pytest.raises(ValueError, match=match):
            config_cls(**{**case.config_kwargs, **kwargs})


@pytest.mark.parametrize("case,model_path", MODEL_PAIRS, ids=lambda x: str(x).split(":")[-1])
def test_damaged_weights_give_an_error_naming_the_checkpoint(case, model_path, tmp_path):
    """A truncated `model.safetensors` raises an `OSError` that names the folder, not safetensors' bare error."""
    import transformers

    model, _ = build(case, model_path)
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    auto_cls = getattr(transformers, case.models[model_path])
    for loader in (type(model), auto_cls):
        with pytest.raises(OSError, match=rf"{tmp_path}.*corrupted or truncated"):
            loader.from_pretrained(tmp_path)
