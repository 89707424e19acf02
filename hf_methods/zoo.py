"""The hf-methods catalogue: the record of every paper, implemented or planned, found where it lives.

A method's record is `METHOD` in `hf_methods/<kind>/<slug>/method.py`, inside the method's own folder; records of
methods that have not landed yet wait in `hf_methods/planned.py` and leave it when their method lands. This module
discovers both (the folders of every kind package's `__path__`), so adding a method edits no shared file: the CLI
(`hf-methods list|show`), the README table, the model cards, the public names of `hf_methods` and the Auto classes
all come from the records.

The status of a method is derived from the repository every time it is read, never typed by hand:

- ``"planned"``: the record waits in `hf_methods/planned.py`, or the method's test file
  ``tests/<kind>/test_<slug>.py`` or one of its entry-point modules does not exist yet (in an installed package,
  which has no tests, a method with its room and modules counts as implemented);
- ``"implemented"``: the method has its room, its entry-point modules and its test file;
- ``"claim running"``: implemented, and ``benchmarks/results/<slug>.json`` records a claim run that has written its
  settings but not finished (its earlier outcome is in the file's history);
- ``"claim held"`` / ``"claim not held"``: implemented, and ``benchmarks/results/<slug>.json`` records
  ``"outcome": "held"`` or ``"outcome": "did not hold"``.

Reading the catalogue uses only the standard library and the records (no torch): `hf-methods list` stays fast. That
each entry point really imports is checked by the test suite (`tests/test_package.py`).

Example:

```python
>>> from hf_methods.zoo import get_method, list_methods
>>> get_method("bone").folder
'hf_methods/adapters/bone'
>>> [m.slug for m in list_methods(kind="generation")]
['act', 'hydra', 'loki']
```
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.util
from pathlib import Path

from hf_methods.record import KINDS, Method

__all__ = [
    "KINDS",
    "METHODS",  # noqa: F822 (read on first use, see __getattr__)
    "STATUSES",
    "Method",
    "auto_classes",
    "entry_points_import",
    "transformers_import_hooks",
    "get_method",
    "list_methods",
    "public_names",
    "refresh",
    "repo_root",
]

STATUSES = ("planned", "implemented", "claim running", "claim held", "claim not held")
_OUTCOME_TO_STATUS = {"held": "claim held", "did not hold": "claim not held"}


def repo_root() -> Path:
    """The root of the hf-methods checkout (the folder holding `hf_methods/`, `tests/` and `benchmarks/`)."""
    return Path(__file__).resolve().parents[1]


def _method_rooms() -> list[tuple[str, str]]:
    """`(kind, slug)` of every folder `<kind>/<slug>/method.py` on the kind packages' `__path__`."""
    rooms = []
    for kind in KINDS:
        package = importlib.import_module(f"hf_methods.{kind}")
        for folder in package.__path__:
            for record in sorted(Path(folder).glob("*/method.py")):
                slug = record.parent.name
                if slug.isidentifier() and not slug.startswith("_"):
                    rooms.append((kind, slug))
    return rooms


@functools.cache
def _catalogue() -> tuple[dict[str, Method], frozenset[str]]:
    """`({slug: Method} in paper order, slugs that have a room)`, read once (see `refresh`)."""
    from hf_methods.planned import PLANNED

    found: dict[str, Method] = {}
    for kind, slug in _method_rooms():
        module = importlib.import_module(f"hf_methods.{kind}.{slug}.method")
        method = getattr(module, "METHOD", None)
        if not isinstance(method, Method):
            raise TypeError(f"hf_methods/{kind}/{slug}/method.py must define `METHOD = Method(...)`.")
        if (method.kind, method.slug) != (kind, slug):
            raise ValueError(
                f"hf_methods/{kind}/{slug}/method.py describes {method.kind}/{method.slug}: a record lives in the "
                "folder named by its own kind and slug."
            )
        found[slug] = method
    rooms = frozenset(found)
    for method in PLANNED:
        if method.slug in found:
            raise RuntimeError(
                f"{method.slug!r} has landed (hf_methods/{method.kind}/{method.slug}/method.py): remove its record "
                "from hf_methods/planned.py."
            )
        found[method.slug] = method
    papers: dict[str, str] = {}
    for method in found.values():
        if method.paper_id in papers:
            raise RuntimeError(
                f"{papers[method.paper_id]!r} and {method.slug!r} share the paper id {method.paper_id}."
            )
        papers[method.paper_id] = method.slug
    ordered = dict(sorted(found.items(), key=lambda item: item[1].paper_id))
    return ordered, rooms


def refresh() -> None:
    """Forgets the records read so far, so the next read discovers method folders again (e.g. one added at run time)."""
    _catalogue.cache_clear()


def __getattr__(name: str):
    if name == "METHODS":  # read on first use, so a kind package's __path__ can still be extended before
        return _catalogue()[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def has_room(method: Method | str) -> bool:
    """Whether the method lives in its own folder (`hf_methods/<kind>/<slug>/method.py`), i.e. it has landed."""
    return get_method(method).slug in _catalogue()[1]


def status(method: Method | str) -> str:
    """`"planned"`, `"implemented"`, `"claim held"` or `"claim not held"`, derived from the repository."""
    method = get_method(method)
    if not has_room(method) or not _entry_modules_exist(method):
        return "planned"
    if not (repo_root() / "tests").is_dir():  # an installed package: no tests or results to read, the room decides
        return "implemented"
    if not _test_file(method).is_file():
        return "planned"
    result = method_result(method)
    if result is None:
        return "implemented"
    if result.get("status") == "running":
        return "claim running"
    return _OUTCOME_TO_STATUS.get(result.get("outcome"), "implemented")


def method_result(method: Method | str) -> dict | None:
    """The parsed `benchmarks/results/<slug>.json` written by the method's claim script, or `None` when absent."""
    from hf_methods.harness.results import load_result

    return load_result(get_method(method).slug)


def _test_file(method: Method) -> Path:
    return repo_root() / "tests" / method.kind / f"test_{method.slug}.py"


def _entry_modules_exist(method: Method) -> bool:
    # find_spec locates a module without executing it (the method packages' __init__ files are lazy and cheap)
    # a room holding only its record is a namespace package: its spec has no origin file, so it has not landed code
    try:
        specs = [importlib.util.find_spec(ep.partition(":")[0]) for ep in method.entry_points]
    except ImportError:
        return False
    return bool(specs) and all(spec is not None and spec.origin is not None for spec in specs)


def get_method(slug: Method | str) -> Method:
    """Return the record for a slug (e.g. `"bone"`) or a paper id (e.g. `"P46"` or `"p46"`).

    Raises:
        `ValueError`: when nothing matches; the message suggests close slugs, matching titles too.
    """
    if isinstance(slug, Method):
        return slug
    if not isinstance(slug, str):
        raise TypeError(f"`slug` must be a string such as 'bone' or 'P46', got {type(slug).__name__}.")
    methods = _catalogue()[0]
    key = slug.strip()
    if key in methods:
        return methods[key]
    lowered = key.lower()
    for method in methods.values():
        if lowered in (method.slug.lower(), method.paper_id.lower(), method.title.lower()):
            return method

    candidates: dict[str, str] = {}
    for method in methods.values():
        candidates.setdefault(method.slug.lower(), method.slug)
        candidates.setdefault(method.title.lower(), method.slug)
    suggestions = []
    for match in difflib.get_close_matches(lowered, list(candidates), n=3, cutoff=0.6):
        if candidates[match] not in suggestions:
            suggestions.append(candidates[match])
    hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
    raise ValueError(f"Unknown method {slug!r}.{hint} Run `hf-methods list` to see all {len(methods)}.")


def list_methods(kind: str | None = None, status: str | None = None) -> list[Method]:
    """The methods in paper order, optionally only those of one `kind` and/or one derived `status`.

    Raises:
        `ValueError`: for a `kind` not in `KINDS` or a `status` not in `STATUSES`.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"Unknown kind {kind!r}: `kind` must be one of {', '.join(KINDS)}.")
    if status is not None and status not in STATUSES:
        raise ValueError(f"Unknown status {status!r}: `status` must be one of {', '.join(STATUSES)}.")
    methods = [method for method in _catalogue()[0].values() if kind is None or method.kind == kind]
    if status is not None:
        methods = [method for method in methods if method.status == status]
    return methods


def landed_methods() -> list[Method]:
    """The methods that have their own room, in paper order (whatever their status)."""
    return [method for method in _catalogue()[0].values() if has_room(method)]


def public_names() -> dict[str, str]:
    """`{Name: module}` of every landed method's entry points: the names `from hf_methods import Name` resolves.

    Raises:
        `RuntimeError`: when two methods export the same name.
    """
    names: dict[str, str] = {}
    owners: dict[str, str] = {}
    for method in landed_methods():
        if not _entry_modules_exist(method):  # a room that so far holds only its record exports nothing yet
            continue
        for name, module in method.public_names.items():
            if name in names and names[name] != module:
                raise RuntimeError(f"{owners[name]!r} and {method.slug!r} both export the public name {name!r}.")
            names[name], owners[name] = module, method.slug
    return names


def auto_classes() -> dict[str, dict[str, str]]:
    """`{model_type: {"AutoConfig": "module:Class", "AutoModel...": "module:Class"}}` of every landed method."""
    return {
        method.model_type: dict(method.auto_classes)
        for method in landed_methods()
        if method.auto_classes and _entry_modules_exist(method)
    }


def transformers_import_hooks() -> list[str]:
    """`"module:function"` of every landed method's `on_transformers_import`, in paper order."""
    return [
        hook for method in landed_methods() if _entry_modules_exist(method) for hook in method.on_transformers_import
    ]


def entry_points_import(method: Method | str) -> bool:
    """Whether every entry point of `method` (a `Method`, slug or paper id) imports (this imports the method's code).

    Each `"module:Name"` is checked with `importlib.import_module(module)` then `getattr(module, Name)`; any exception
    counts as a failure. A method without entry points does not import.
    """
    method = get_method(method)
    if not method.entry_points:
        return False
    for entry_point in method.entry_points:
        module_name, _, attribute = entry_point.partition(":")
        try:
            getattr(importlib.import_module(module_name), attribute)
        except Exception:
            return False
    return True
