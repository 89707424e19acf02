"""`import hf_methods`: a lazy public API derived from the method records (the Auto registration is pinned in
tests/test_auto.py)."""

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


def test_public_names_resolve():
    import hf_methods

    for name in hf_methods.__all__:
        assert getattr(hf_methods, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute"):
        hf_methods.NotAThing  # noqa: B018


def test_every_entry_point_of_a_landed_method_imports_and_is_exported():
    """The catalogue's status only checks that entry-point modules exist; this is where they must import."""
    import importlib

    import hf_methods
    from hf_methods import zoo

    landed = zoo.landed_methods()
    assert landed, "no method has landed"
    exported = set(hf_methods.__all__)
    for method in landed:
        assert zoo.entry_points_import(method), f"{method.slug}: an entry point does not import"
        for entry in method.entry_points:
            module, name = entry.split(":")
            assert name in exported, f"{entry} is not a public name of hf_methods"
            assert getattr(hf_methods, name) is getattr(importlib.import_module(module), name), entry
