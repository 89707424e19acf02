"""Every usage snippet a user can copy runs as written on a fresh install, offline.

The README's usage section and the model cards show each landed method's record `usage`; each is executed here in a
fresh process with `HF_HUB_OFFLINE=1` (the offline assets that `make install` puts in place stand in for the Hub).
Marked slow (one fresh process per method): `make test-all` runs it.
"""

import os
import subprocess
import sys

import pytest

from hf_methods import zoo

pytestmark = [pytest.mark.slow, pytest.mark.assets]

LANDED = [method.slug for method in zoo.landed_methods() if method.status != "planned"]  # not record-only rooms


def test_every_landed_method_has_a_snippet():
    missing = [slug for slug in LANDED if not zoo.get_method(slug).usage.strip()]
    assert not missing, f"records without a usage snippet: {missing}"


@pytest.mark.parametrize("slug", LANDED)
def test_usage_snippet_runs_as_written(slug, tmp_path):
    code = zoo.get_method(slug).usage
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"the usage snippet of {slug} fails as written:\n{code}\n\n{proc.stderr[-3000:]}"
