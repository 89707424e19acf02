"""Shared pytest setup: offline, quiet, seeded; session-scoped loaders for the few tests that need real assets."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def smollm2():
    """`(model, tokenizer)` of SmolLM2-135M-Instruct, loaded once per session (the first run converts the GGUF)."""
    from hf_methods.common.data import load_smollm2

    model, tokenizer = load_smollm2()
    return model.eval(), tokenizer


@pytest.fixture(autouse=True)
def _seed():
    import torch

    # Tiny models gain nothing from intra-op threads, and on a shared 2-core machine extra threads made steps
    # 30-40x slower (measured while several jobs ran); one thread keeps the suite's time predictable.
    torch.set_num_threads(1)
    torch.manual_seed(0)
