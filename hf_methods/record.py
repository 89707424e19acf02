"""`Method`: the record of one paper of the zoo, as written in `hf_methods/<kind>/<slug>/method.py`.

A record is plain data and imports only the standard library, so the catalogue (`hf-methods list|show`, the README
table, the model cards) reads all 64 records without importing torch. Public names (`from hf_methods import X`) and
the registration with transformers' Auto classes are derived from the records, as peft derives its mappings from
`register_peft_method`.

```python
# hf_methods/training/ldr/method.py
from hf_methods.record import Method

METHOD = Method(
    slug="ldr",
    paper_id="P35",
    title="Label Distributionally Robust Losses for Multi-class Classification: ...",
    arxiv="2112.14869",
    official_code="Optimization-AI/ICML2023_LDR",
    kind="training",
    tags=("loss", "label-noise", "robustness"),
    entry_points=("hf_methods.training.ldr:LDRKLLoss", "hf_methods.training.ldr:ALDRKLLoss"),
    recipe="recipes/ldr.py",
    claim="One sentence: what the paper claims and what the CPU check asserts.",
)
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["KINDS", "Method"]

KINDS = ("models", "adapters", "generation", "training", "analysis")

_PAPER_ID_RE = re.compile(r"^P(0[1-9]|[1-5][0-9]|6[0-4])$")
_ARXIV_RE = re.compile(r"^\d{4}\.\d{4,5}$")
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_AUTO_NAME_RE = re.compile(r"^Auto[A-Za-z0-9]+$")  # AutoModelForSeq2SeqLM has digits


@dataclass(frozen=True, eq=False)
class Method:
    """One paper of the zoo.

    Args:
        slug (`str`): Short identifier; names the method's folder, recipe, card, claim script, results and tests.
        paper_id (`str`): `"P01"` to `"P64"`, the paper's number in the zoo.
        title (`str`): Exact paper title.
        arxiv (`str`, *optional*): arXiv identifier such as `"2409.15371"`, or `None` when it could not be confirmed.
        official_code (`str`, *optional*): `"owner/repo"` of the official GitHub code, or `None` when none is public.
        kind (`str`): One of `KINDS`; the subpackage the method lives in.
        tags (`tuple[str, ...]`): Two to five short lowercase tags.
        entry_points (`tuple[str, ...]`): The method's public names, as import strings
            `"hf_methods.<kind>.<slug>:<Name>"`; each is also importable as `from hf_methods import <Name>`.
        recipe (`str`, *optional*): Path of the Accelerate recipe, `"recipes/<slug>.py"`.
        claim (`str`): One sentence: what the paper claims and what the CPU benchmark checks.
        auto_classes (`Mapping[str, str]`, *optional*): transformers Auto class name -> `"module:Class"`, e.g.
            `{"AutoConfig": "...configuration_x:XConfig", "AutoModel": "...modeling_x:XModel"}`. The config class is
            registered under the `model_type` `"hfm-<slug>"`; model classes are registered by name and imported on
            first use. Needs an `"AutoConfig"` entry whenever it is not empty.
        on_transformers_import (`tuple[str, ...]`, *optional*): `"module:function"` callables run once transformers'
            modeling code (`transformers.modeling_utils`) is imported, so that `import hf_methods` alone makes saved
            checkpoints load, e.g. a function registering an attention implementation with `AttentionInterface`.
        library_name (`str`, *optional*): The library that loads the method's checkpoints, for the model card's
            metadata; by default `"transformers"` for models, `"peft"` for adapters, `"hf-methods"` otherwise. Set it
            when the kind's default would be wrong (e.g. an adapter that peft cannot load).
        venue (`str`, *optional*): Publication venue, e.g. `"ICML 2023"`, when known.
        usage (`str`, *optional*): A short snippet showing the public API; it is run by the tests and shown in the
            README and the model card.
        notes (`str`, *optional*): Deviations from the paper or caveats (e.g. reconstruction from the paper text).
    """

    slug: str
    paper_id: str
    title: str
    arxiv: str | None
    official_code: str | None
    kind: str
    tags: tuple[str, ...]
    entry_points: tuple[str, ...]
    recipe: str | None
    claim: str
    auto_classes: Mapping[str, str] = field(default_factory=dict)
    on_transformers_import: tuple[str, ...] = ()
    library_name: str | None = None
    venue: str = ""
    usage: str = ""
    notes: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"`kind` of {self.slug!r} must be one of {KINDS}, got {self.kind!r}.")
        if not _PAPER_ID_RE.match(self.paper_id):
            raise ValueError(f"`paper_id` of {self.slug!r} must look like 'P01'..'P64', got {self.paper_id!r}.")
        if self.arxiv is not None and not _ARXIV_RE.match(self.arxiv):
            raise ValueError(f"`arxiv` of {self.slug!r} must look like '2301.12345' or be None, got {self.arxiv!r}.")
        if self.official_code is not None and self.official_code.count("/") != 1:
            raise ValueError(
                f"`official_code` of {self.slug!r} must be 'owner/repo' or None, got {self.official_code!r}."
            )
        if not 2 <= len(self.tags) <= 5 or not all(_TAG_RE.match(tag) for tag in self.tags):
            raise ValueError(f"`tags` of {self.slug!r} must be 2 to 5 short lowercase tags, got {self.tags!r}.")
        prefix = f"hf_methods.{self.kind}.{self.slug}"
        for entry_point in self.entry_points:
            module, _, name = entry_point.partition(":")
            if not (module == prefix or module.startswith(prefix + ".")) or not name.isidentifier():
                raise ValueError(
                    f"`entry_points` of {self.slug!r} must look like '{prefix}:Name', got {entry_point!r}."
                )
        if self.recipe is not None and self.recipe != f"recipes/{self.slug}.py":
            raise ValueError(
                f"`recipe` of {self.slug!r} must be 'recipes/{self.slug}.py' or None, got {self.recipe!r}."
            )
        auto = dict(self.auto_classes)
        if auto and "AutoConfig" not in auto:
            raise ValueError(f"`auto_classes` of {self.slug!r} needs an 'AutoConfig' entry, got {sorted(auto)}.")
        for auto_name, target in auto.items():
            module, _, name = target.partition(":")
            if not _AUTO_NAME_RE.match(auto_name) or not module.startswith(prefix + ".") or not name.isidentifier():
                raise ValueError(
                    f"`auto_classes` of {self.slug!r} maps 'AutoX' names to '{prefix}.<module>:Class', got "
                    f"{auto_name!r}: {target!r}."
                )
        for hook in self.on_transformers_import:
            module, _, name = hook.partition(":")
            if not module.startswith(prefix + ".") or not name.isidentifier():
                raise ValueError(
                    f"`on_transformers_import` of {self.slug!r} lists '{prefix}.<module>:function', got {hook!r}."
                )
        object.__setattr__(self, "auto_classes", MappingProxyType(auto))
        object.__setattr__(self, "on_transformers_import", tuple(self.on_transformers_import))
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "entry_points", tuple(self.entry_points))

    @property
    def public_names(self) -> dict[str, str]:
        """`{Name: module}` for every entry point (what `from hf_methods import Name` imports)."""
        return {ep.partition(":")[2]: ep.partition(":")[0] for ep in self.entry_points}

    @property
    def paper_url(self) -> str | None:
        """`https://arxiv.org/abs/<arxiv>`, or `None` when the arXiv id is unknown."""
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else None

    @property
    def code_url(self) -> str | None:
        """`https://github.com/<official_code>`, or `None` when there is no public official code."""
        return f"https://github.com/{self.official_code}" if self.official_code else None

    @property
    def folder(self) -> str:
        """The method's package (its room), relative to the repository root: `"hf_methods/<kind>/<slug>"`."""
        return f"hf_methods/{self.kind}/{self.slug}"

    @property
    def model_type(self) -> str:
        """The `model_type` of the method's configs and Auto classes: `"hfm-<slug>"`."""
        return f"hfm-{self.slug}"

    def __repr__(self) -> str:
        return f"Method(slug={self.slug!r}, paper_id={self.paper_id!r}, kind={self.kind!r})"

    # ---- derived from the repository (the catalogue computes them; see `hf_methods.zoo`) ----
    @property
    def status(self) -> str:
        """`"planned"`, `"implemented"`, `"claim running"`, `"claim held"` or `"claim not held"` (see `hf_methods.zoo`)."""
        from hf_methods.zoo import status

        return status(self)

    @property
    def result(self) -> dict | None:
        """The parsed `benchmarks/results/<slug>.json` of the method's claim script, or `None` when absent."""
        from hf_methods.zoo import method_result

        return method_result(self)
