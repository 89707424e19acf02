"""`import hf_methods`: lazy public API and Auto registration without importing modeling code."""

import subprocess
import sys

import pytest

HEAVY = (
    "peft",
    "accelerate",
    "datasets",
    "transformers.modeling_utils",
    "hf_methods.models.random_features.modeling_random_features",
    "hf_methods.common.mlp.modeling_mlp",
    "hf_methods.training.ldr.loss",
)


def test_import_is_lazy():
    code = f"import sys, hf_methods; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_auto_classes_resolve_on_first_use():
    code = (
        "import sys, hf_methods, transformers\n"
        "cfg = transformers.AutoConfig.for_model('hfm-random_features', width=4)\n"
        "assert 'hf_methods.models.random_features.modeling_random_features' not in sys.modules\n"
        "model = transformers.AutoModel.from_config(cfg)\n"
        "print(type(model).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "RandomFeatureModel"


def test_public_names_resolve():
    import hf_methods

    for name in hf_methods.__all__:
        assert getattr(hf_methods, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute"):
        hf_methods.NotAThing  # noqa: B018


def test_every_entry_point_of_an_implemented_method_is_exported():
    import hf_methods
    from hf_methods import zoo

    for method in zoo.METHODS.values():
        if method.status == "planned":
            continue
        for entry in method.entry_points:
            module, name = entry.split(":")
            assert getattr(hf_methods, name) is getattr(__import__(module, fromlist=[name]), name), entry
