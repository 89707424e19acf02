"""A method is one room: a folder `<kind>/<slug>/` with its `method.py` record is found by the catalogue, the CLI,
the public names and the Auto classes, without any other file being edited.

The test builds a toy method in a temporary folder and puts that folder first on `hf_methods.generation.__path__` in
a fresh process. It reuses the slug `loki` (P64) because paper ids are unique and cover P01-P64: the toy folder
stands in front of the real P64 room (and the process drops any planned record of that slug, as landing does).
"""

import os
import subprocess
import sys
import textwrap

TOY_FILES = {
    "__init__.py": """
        from hf_methods.lazy import lazy_exports

        __getattr__, __dir__ = lazy_exports(__name__, {"ToyConfig": ".configuration_toy", "ToyModel": ".modeling_toy"})
    """,
    "method.py": """
        from hf_methods.record import Method

        METHOD = Method(
            slug="loki",
            paper_id="P64",
            title="A toy method that lives in a temporary folder",
            arxiv=None,
            official_code=None,
            kind="generation",
            tags=("toy", "test"),
            entry_points=("hf_methods.generation.loki:ToyConfig", "hf_methods.generation.loki:ToyModel"),
            recipe=None,
            claim="A folder is enough to land a method.",
            auto_classes={
                "AutoConfig": "hf_methods.generation.loki.configuration_toy:ToyConfig",
                "AutoModel": "hf_methods.generation.loki.modeling_toy:ToyModel",
            },
        )
    """,
    "configuration_toy.py": """
        from transformers import PretrainedConfig


        class ToyConfig(PretrainedConfig):
            model_type = "hfm-loki"

            def __init__(self, width=4, **kwargs):
                self.width = width
                super().__init__(**kwargs)
    """,
    "modeling_toy.py": """
        import torch
        from transformers import PreTrainedModel

        from .configuration_toy import ToyConfig


        class ToyModel(PreTrainedModel):
            config_class = ToyConfig

            def __init__(self, config):
                super().__init__(config)
                self.linear = torch.nn.Linear(config.width, config.width)
                self.post_init()

            def forward(self, x):
                return self.linear(x)
    """,
}

SCRIPT = """
import contextlib, io, sys
from pathlib import Path

rooms, root = sys.argv[1], Path(sys.argv[2])
import hf_methods.generation
import hf_methods.planned
from hf_methods import zoo

before = zoo.get_method("loki")
assert before.title != "A toy method that lives in a temporary folder"
hf_methods.generation.__path__.insert(0, rooms)  # a new method's folder, found before the real P64 room
for name in [name for name in sys.modules if name.startswith("hf_methods.generation.loki")]:
    del sys.modules[name]  # the real room's modules, read by get_method above
hf_methods.planned.PLANNED = tuple(m for m in hf_methods.planned.PLANNED if m.slug != "loki")  # it has landed
zoo.repo_root = lambda: root  # a checkout whose tests/generation/test_loki.py exists
zoo.refresh()

from hf_methods.cli import main

for argv in (["list", "--kind", "generation"], ["show", "loki"]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    print("CLI", argv[0], out.getvalue().replace("\\n", " | "))

import hf_methods
from hf_methods import ToyConfig, ToyModel

assert "ToyConfig" in hf_methods.__all__ and "ToyModel" in dir(hf_methods)
from transformers import AutoConfig, AutoModel

config = AutoConfig.for_model("hfm-loki", width=3)
model = AutoModel.from_config(config)
assert type(config) is ToyConfig and type(model) is ToyModel, (type(config), type(model))
print("AUTO", type(config).__name__, type(model).__name__, zoo.get_method("loki").status)
"""


def test_a_method_folder_is_all_it_takes(tmp_path):
    rooms = tmp_path / "rooms"
    (rooms / "loki").mkdir(parents=True)
    for name, text in TOY_FILES.items():
        (rooms / "loki" / name).write_text(textwrap.dedent(text).lstrip())
    root = tmp_path / "checkout"
    (root / "tests" / "generation").mkdir(parents=True)
    (root / "tests" / "generation" / "test_loki.py").write_text("")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(rooms), str(root)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = {line.split(" ", 2)[1]: line for line in proc.stdout.splitlines() if line.startswith("CLI ")}
    listing = next(line for line in lines["list"].split(" | ") if " loki " in line)
    assert "implemented" in listing and "A toy method" in listing, listing
    assert "hf_methods.generation.loki:ToyConfig" in lines["show"] and "A toy method" in lines["show"]
    assert "AUTO ToyConfig ToyModel implemented" in proc.stdout, proc.stdout[-2000:]


def test_a_room_and_a_planned_record_of_one_slug_clash():
    """Landing a method means moving its record out of planned.py: a slug in both is an error, not a silent pick."""
    code = (
        "import dataclasses\n"
        "import hf_methods.planned as p, hf_methods.zoo as z\n"
        "p.PLANNED = (*p.PLANNED, dataclasses.replace(z.get_method('bone')))\n"
        "z.refresh()\n"
        "try:\n"
        "    z.get_method('bone')\n"
        "except RuntimeError as err:\n"
        "    print('error', err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "error 'bone' has landed" in out.stdout, out.stdout + out.stderr[-2000:]


def test_auto_class_names_may_hold_digits_but_must_be_auto_names():
    import pytest

    from hf_methods.record import Method

    def record(auto_name):
        return Method(
            slug="loki",
            paper_id="P64",
            title="A toy record",
            arxiv=None,
            official_code=None,
            kind="models",
            tags=("toy", "test"),
            entry_points=("hf_methods.models.loki:ToyModel",),
            recipe=None,
            claim="Names are checked.",
            auto_classes={
                "AutoConfig": "hf_methods.models.loki.configuration_toy:ToyConfig",
                auto_name: "hf_methods.models.loki.modeling_toy:ToyModel",
            },
        )

    assert "AutoModelForSeq2SeqLM" in record("AutoModelForSeq2SeqLM").auto_classes
    with pytest.raises(ValueError, match="auto_classes"):
        record("ModelForSeq2SeqLM")
