"""The catalogue (hf_methods.zoo) and the `hf-methods` command line."""

import json
import subprocess
import sys

import pytest

from hf_methods import zoo
from hf_methods.cli import main, methods_table


def test_catalogue_has_64_papers_in_order():
    assert len(zoo.METHODS) == 64
    assert [m.paper_id for m in zoo.METHODS.values()] == [f"P{i:02d}" for i in range(1, 65)]
    assert len({m.slug for m in zoo.METHODS.values()}) == 64
    for m in zoo.METHODS.values():
        assert m.kind in zoo.KINDS
        assert m.recipe == f"recipes/{m.slug}.py"
        assert m.claim and m.title and m.entry_points
        assert all(ep.startswith(f"hf_methods.{m.kind}.{m.slug}:") for ep in m.entry_points), m.entry_points


def test_fixed_slugs_and_kinds():
    # a sample of the fixed slugs and kinds that recipes, cards and results are named after
    expected = {
        "P01": ("random_features", "models"),
        "P04": ("qst", "adapters"),
        "P06": ("act", "generation"),
        "P08": ("pawn", "models"),
        "P09": ("hydra", "generation"),
        "P35": ("ldr", "training"),
        "P46": ("bone", "adapters"),
        "P64": ("loki", "generation"),
    }
    for pid, (slug, kind) in expected.items():
        m = zoo.get_method(pid)
        assert (m.slug, m.kind) == (slug, kind)


def test_unknown_slug_lists_close_matches():
    with pytest.raises(ValueError, match="Did you mean: bone"):
        zoo.get_method("bnoe")
    with pytest.raises(ValueError, match="kind"):
        zoo.list_methods(kind="model")


def test_status_is_derived(tmp_path, monkeypatch):
    method = zoo.get_method("ldr")
    monkeypatch.setattr(zoo, "repo_root", lambda: tmp_path)
    assert zoo.entry_points_import(method)
    assert method.status == "implemented"  # no tests/ at all: an installed package, where the room decides
    (tmp_path / "tests" / "training").mkdir(parents=True)
    assert method.status == "planned"  # a checkout without the method's test file
    (tmp_path / "tests" / "training" / "test_ldr.py").write_text("")
    assert method.status == "implemented"
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    result = tmp_path / "benchmarks" / "results" / "ldr.json"
    result.write_text(json.dumps({"outcome": "did not hold"}))
    assert method.status == "claim not held"
    result.write_text(json.dumps({"outcome": "held"}))
    assert method.status == "claim held"
    assert zoo.get_method("loki").status == "planned"  # its record waits in planned.py


def test_cli_list_prints_all_64(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(m.slug in out for m in zoo.METHODS.values())
    assert "64 methods" in out


def test_cli_show(capsys):
    assert main(["show", "ldr"]) == 0
    out = capsys.readouterr().out
    assert "P35" in out and "recipes/ldr.py" in out and "LDRKLLoss" in out


def test_cli_show_unknown_slug_is_a_clear_error():
    proc = subprocess.run(
        [sys.executable, "-m", "hf_methods.cli", "show", "radnom_features"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Did you mean: random_features" in proc.stderr and "Traceback" not in proc.stderr


def test_readme_table_is_generated_from_the_catalogue(repo_root):
    table = methods_table()
    assert table.count("\n") == 65
    readme = (repo_root / "README.md").read_text()
    assert table in readme, "README.md's method table is stale: run `make readme`"


def test_cli_output_into_a_closed_pipe_exits_quietly():
    # `hf-methods list | head -1`: the reader closes the pipe early; no BrokenPipeError traceback.
    proc = subprocess.Popen(
        [sys.executable, "-m", "hf_methods.cli", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # closed before the command writes anything
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
