"""The repository stands alone: generated README regions are current, and nothing cites files it does not hold."""

from __future__ import annotations

import difflib
import re

import pytest

from hf_methods import zoo
from hf_methods.cli import README_BEGIN, USAGE_BEGIN, USAGE_END, main, render_readme, usage_by_kind

# What is scanned for citations of material outside the repository.
SCANNED = (
    "hf_methods",
    "recipes",
    "benchmarks/claims",
    "benchmarks/perf",
    "tests",
    "scripts",
    "model_cards",
    "README.md",
    "CONTRIBUTING.md",
)
# The patterns are written so that this file does not match itself.
OUTSIDE_CITATIONS = (
    re.compile(r"\bDESIGN\.md\b", re.IGNORECASE),
    re.compile(r"\bpapers\.md\b", re.IGNORECASE),
    re.compile(r"\bthe\s+brief\b|\bbrief['’]s\b", re.IGNORECASE),
    re.compile(r"\bmethods/P\d\d"),
)
PATH_PREFIXES = ("hf_methods/", "recipes/", "benchmarks/", "tests/", "model_cards/", "scripts/")


def _text_files(repo_root):
    for name in SCANNED:
        path = repo_root / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for candidate in candidates:
            if candidate.is_file() and "__pycache__" not in candidate.parts and candidate.suffix != ".pyc":
                try:
                    yield candidate, candidate.read_text(encoding="utf-8")
                except UnicodeDecodeError:  # a binary file (e.g. an image): nothing to cite
                    continue


def test_readme_generated_regions_are_current(repo_root):
    readme = (repo_root / "README.md").read_text()
    rendered = render_readme(readme)
    if rendered != readme:
        diff = "\n".join(
            list(
                difflib.unified_diff(readme.splitlines(), rendered.splitlines(), "README.md", "generated", lineterm="")
            )[:60]
        )
        pytest.fail(f"README.md's generated regions are stale: run `make readme`.\n{diff}")


def test_usage_section_comes_from_every_landed_record():
    usage = usage_by_kind()
    for kind in zoo.KINDS:
        assert f"### {kind}/" in usage
    # a room that holds only its record so far is still planned: its usage is a plan, not yet code
    landed = [method for method in zoo.landed_methods() if method.status != "planned"]
    for method in landed:
        assert f"**{method.paper_id} `{method.slug}`**" in usage
        if method.usage.strip():
            assert f"```python\n{method.usage.strip()}\n```" in usage
    for method in zoo.list_methods():
        if method not in landed:
            assert f"`{method.slug}`**" not in usage  # planned methods are in the table, not the usage


def test_readme_command_regenerates_a_copy(repo_root, tmp_path, capsys):
    readme = (repo_root / "README.md").read_text()
    head, rest = readme.split(USAGE_BEGIN, 1)
    stale = head + USAGE_BEGIN + "\nhand-edited\n" + USAGE_END + rest.split(USAGE_END, 1)[1]
    copy = tmp_path / "README.md"
    copy.write_text(stale)

    assert main(["readme", "--path", str(copy), "--check"]) == 1
    assert copy.read_text() == stale  # --check writes nothing
    assert main(["readme", "--path", str(copy)]) == 0
    assert copy.read_text() == render_readme(readme) and "hand-edited" not in copy.read_text()
    assert main(["readme", "--path", str(copy), "--check"]) == 0
    capsys.readouterr()


def test_readme_command_names_missing_markers(tmp_path):
    copy = tmp_path / "README.md"
    copy.write_text(f"# no usage markers\n{README_BEGIN}\n<!-- methods-table:end -->\n")
    with pytest.raises(SystemExit, match="usage-by-kind"):
        main(["readme", "--path", str(copy)])


def test_readme_and_contributing_link_to_each_other(repo_root):
    assert "CONTRIBUTING.md" in (repo_root / "README.md").read_text()
    contributing = (repo_root / "CONTRIBUTING.md").read_text()
    for kind in zoo.KINDS:
        assert f"`{kind}`" in contributing
    assert "hf_methods/training/ldr" in contributing  # the worked example


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md"])
def test_paths_named_in_the_docs_exist(repo_root, name):
    """Relative links and backquoted repository paths (without `<placeholders>`) point at files that exist."""
    text = (repo_root / name).read_text()
    links = re.findall(r"\]\(([^)#\s]+)\)", text)
    quoted = re.findall(r"`([A-Za-z0-9_./-]+)`", text)
    paths = {p for p in links if not p.startswith(("http://", "https://"))}
    paths |= {p for p in quoted if p.startswith(PATH_PREFIXES)}
    missing = sorted(p for p in paths if not (repo_root / p).exists())
    assert not missing, f"{name} names paths that do not exist: {missing}"


def test_nothing_cites_files_outside_the_repository(repo_root):
    offending = []
    for path, text in _text_files(repo_root):
        for number, line in enumerate(text.splitlines(), 1):
            matches = [m for pattern in OUTSIDE_CITATIONS for m in pattern.finditer(line)]
            if matches:
                start = max(min(m.start() for m in matches) - 40, 0)
                offending.append(
                    f"  {path.relative_to(repo_root)}:{number}: ...{line[start : start + 110].strip()}..."
                )
    assert not offending, (
        f"{len(offending)} lines cite material that is not in the repository (a design document, a paper list, a "
        "per-method brief); say it in the project's own words:\n" + "\n".join(offending)
    )
