"""The package as users install it: build the wheel and the sdist, install the wheel, use it from outside the checkout.

Marked slow (a build takes tens of seconds): `make test-all` runs it.
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

USE_INSTALLED = """
import json, sys, tempfile
from pathlib import Path
import hf_methods
assert Path(hf_methods.__file__).resolve().is_relative_to(Path(sys.argv[1]).resolve()), hf_methods.__file__
from hf_methods import cli, zoo
assert len(zoo.METHODS) == 64
assert cli.main(["list", "--status", "implemented"]) == 0
from hf_methods import RandomFeatureConfig, RandomFeatureModel
from transformers import AutoModel
model = RandomFeatureModel(RandomFeatureConfig(in_dim=2, width=8))
folder = Path(tempfile.mkdtemp())
model.save_pretrained(folder)                                   # remote code copied from the installed package
assert (folder / "modeling_random_features.py").is_file(), sorted(p.name for p in folder.iterdir())
assert type(AutoModel.from_pretrained(folder)).__name__ == "RandomFeatureModel"
from hf_methods.generation.hydra import generation_hydra
assert Path(generation_hydra.__file__).is_file()
print("ok")
"""


def test_wheel_and_sdist_install_and_work(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = dist.glob("hf_methods-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "hf_methods/planned.py",
        "hf_methods/models/pawn/method.py",
        "hf_methods/models/random_features/modeling_random_features.py",
        "hf_methods/generation/hydra/generation_hydra.py",
    ):
        assert expected in names, f"{expected} missing from the wheel"
    assert not any(name.startswith(("tests/", "benchmarks/", "recipes/")) for name in names)
    assert any(name.endswith("entry_points.txt") for name in names)

    sdist = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(dist), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if sdist.returncode != 0 and "No module named build" in sdist.stderr:
        pytest.skip("the `build` package is not installed (it is in the dev extra)")
    assert sdist.returncode == 0, sdist.stderr[-3000:]
    assert list(dist.glob("hf_methods-*.tar.gz"))

    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # outside the checkout, the installed copy first on the path (the dependencies come from this environment)
    env = os.environ | {"PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    used = subprocess.run(
        [sys.executable, "-c", USE_INSTALLED, str(target)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert used.returncode == 0 and used.stdout.strip().endswith("ok"), used.stdout[-2000:] + used.stderr[-3000:]
    script = target / "bin" / "hf-methods"
    assert script.is_file()
    listed = subprocess.run(
        [sys.executable, str(script), "show", "ldr"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0 and "P35" in listed.stdout, listed.stderr[-2000:]
