"""`hf-methods push`: a real HTTP round trip against an in-memory Hub (`tests/hub/fake_hub.py`).

`HF_ENDPOINT` is read when `huggingface_hub` is imported, which pytest has already done in this process, so the push
and the download run in subprocesses whose environment points at the fake Hub.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from hf_methods.hub.push import push_folder

from .fake_hub import FakeHub

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_ID = "zoo/tiny"
SECRET = f"hf_s3cret_{secrets.token_hex(8)}"
SUBPROCESS_TIMEOUT = 120

# Environment variables that would let a subprocess find a token or refuse to reach the (fake) Hub.
_HUB_ENV = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_ENDPOINT",
)


def hub_env(hub: FakeHub, hf_home: Path, token: str | None = SECRET) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _HUB_ENV}
    env.update(
        HF_ENDPOINT=hub.endpoint,
        HF_HOME=str(hf_home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_XET="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    )
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def run_push(folder: Path, repo_id: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    """Runs `hf-methods push <folder> --repo-id <repo_id> [extra]` in a subprocess."""
    command = [sys.executable, "-m", "hf_methods.cli", "push", str(folder), "--repo-id", repo_id, *extra]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)


def run_python(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )


def output_of(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def local_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def recipe_output(tmp_path_factory) -> Path:
    """A recipe's Hub-ready output folder, with training state (`checkpoints/`) that must not be pushed."""
    out = tmp_path_factory.mktemp("ldr-output")
    env = {key: value for key, value in os.environ.items() if key != "HF_ENDPOINT"}
    env["HF_HUB_OFFLINE"] = "1"
    command = [sys.executable, "recipes/ldr.py", "--max_steps", "3", "--output_dir", str(out)]
    proc = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"recipes/ldr.py failed:\n{output_of(proc)[-4000:]}"
    assert (out / "README.md").is_file() and (out / "config.json").is_file()
    # Make sure there is training state to leave out, whatever the recipe's checkpointing interval.
    checkpoint = out / "checkpoints" / "checkpoint_0" / "x.bin"
    if not (out / "checkpoints").exists():
        checkpoint.parent.mkdir(parents=True)
        checkpoint.write_bytes(b"optimizer state")
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Round trip through the fake Hub


def test_push_then_download_round_trip(recipe_output, tmp_path):
    with FakeHub(token=SECRET) as hub:
        env = hub_env(hub, tmp_path / "hf_home")
        # The token comes from `--token` here (HF_TOKEN is used by the download, and by the 401 test below).
        push_env = hub_env(hub, tmp_path / "hf_home", token=None)
        push = run_push(recipe_output, REPO_ID, push_env, "--token", SECRET, "--private")
        assert push.returncode == 0, output_of(push)
        assert f"{hub.endpoint}/{REPO_ID}/commit/" in push.stdout
        assert hub.repo(REPO_ID).private

        download = run_python(
            "import sys; from huggingface_hub import snapshot_download; print(snapshot_download(sys.argv[1]))",
            env,
            REPO_ID,
        )
        assert download.returncode == 0, output_of(download)
        snapshot = Path(download.stdout.strip().splitlines()[-1])

        pushed = hub.files(REPO_ID)
        requests = hub.requests

    expected = {
        path: content
        for path, content in local_files(recipe_output).items()
        if not path.startswith(("checkpoints/", "logs/"))
    }
    assert {"README.md", "config.json"} <= set(expected)
    assert pushed == expected
    assert local_files(snapshot) == expected  # byte-identical after the download
    assert not any(path.startswith(("checkpoints/", "logs/")) for path in pushed)
    assert any(method == "POST" and path.startswith(f"/api/models/{REPO_ID}/commit/") for method, path, _ in requests)
    for proc in (push, download):
        assert SECRET not in output_of(proc)


def test_push_to_a_branch(recipe_output, tmp_path):
    code = (
        "import sys; from hf_methods.hub.push import push_folder; "
        "print(push_folder(sys.argv[1], sys.argv[2], revision='v1', commit_message='first run'))"
    )
    with FakeHub(token=SECRET) as hub:
        proc = run_python(code, hub_env(hub, tmp_path / "hf_home"), str(recipe_output), REPO_ID)
        assert proc.returncode == 0, output_of(proc)
        assert "README.md" in hub.files(REPO_ID, "v1")
        assert hub.files(REPO_ID, "main") == {}


# ---------------------------------------------------------------------------------------------------------------------
# Errors: clear, before any request when possible, never showing the token


def test_push_without_token_fails_before_any_request(recipe_output, tmp_path):
    with FakeHub(token=SECRET) as hub:
        proc = run_push(recipe_output, REPO_ID, hub_env(hub, tmp_path / "hf_home", token=None))
        assert proc.returncode != 0
        message = output_of(proc)
        assert "No Hugging Face token found" in message
        assert "HF_TOKEN" in message and "hf auth login" in message and "--token" in message
        assert hub.requests == []


def test_push_with_bad_repo_id_fails_before_any_request(recipe_output, tmp_path):
    with FakeHub(token=SECRET) as hub:
        proc = run_push(recipe_output, "not a/valid//id", hub_env(hub, tmp_path / "hf_home"))
        assert proc.returncode != 0
        message = output_of(proc)
        assert "Invalid repo id 'not a/valid//id'" in message and '"namespace/name"' in message
        assert hub.requests == []


def test_push_with_rejected_token_gives_readable_error(recipe_output, tmp_path):
    with FakeHub(token="hf_the_only_valid_token") as hub:
        proc = run_push(recipe_output, REPO_ID, hub_env(hub, tmp_path / "hf_home", token=SECRET))
        assert proc.returncode != 0
        message = output_of(proc)
        assert "Authentication failed (401)" in message and "hf auth login" in message
        assert SECRET not in message
        assert hub.repo_ids == []
        assert hub.requests and {status for _, _, status in hub.requests} == {401}


# ---------------------------------------------------------------------------------------------------------------------
# Local checks (no server needed: they fail before any request)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        push_folder(tmp_path / "nope", REPO_ID, token=SECRET)


def test_file_instead_of_folder(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="expected a folder"):
        push_folder(path, REPO_ID, token=SECRET)


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="the folder is empty"):
        push_folder(tmp_path, REPO_ID, token=SECRET)


def test_folder_with_only_training_state(tmp_path):
    (tmp_path / "checkpoints" / "step_1").mkdir(parents=True)
    (tmp_path / "checkpoints" / "step_1" / "optimizer.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="ignore patterns"):
        push_folder(tmp_path, REPO_ID, token=SECRET)


@pytest.mark.parametrize("repo_id", ["tiny", "not a/valid//id", "a/b/c", "zoo/bad--name", ""])
def test_bad_repo_ids(tmp_path, repo_id):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match='expected "namespace/name"'):
        push_folder(tmp_path, repo_id, token=SECRET)


def test_no_token_anywhere(tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="set the HF_TOKEN environment variable, run `hf auth login`"):
        push_folder(tmp_path, REPO_ID)


@pytest.mark.parametrize(
    "status, expected",
    [
        (401, r"Authentication failed \(401\)"),
        (403, r"Permission denied \(403\) for 'zoo/tiny'"),
        (404, r"Not found \(404\) while pushing to 'zoo/tiny'"),
        (500, r"The Hub refused the push to 'zoo/tiny' \(HTTP 500\)"),
    ],
)
def test_http_errors_are_readable_and_never_echo_the_token(tmp_path, monkeypatch, status, expected):
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    def failing(self, *args, **kwargs):
        request = httpx2.Request("POST", "https://hub.example/api/repos/create")
        response = httpx2.Response(status, request=request)
        raise HfHubHTTPError(f"{status} error", response=response, server_message=f"token {SECRET} was echoed")

    monkeypatch.setattr(HfApi, "create_repo", failing)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RuntimeError, match=expected) as info:
        push_folder(tmp_path, REPO_ID, token=SECRET)
    assert SECRET not in "".join(traceback.format_exception(info.value))


# ---------------------------------------------------------------------------------------------------------------------
# A recipe's --push_to_hub: checked before training, pushed after


def run_recipe(out: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "recipes/ldr.py", "--max_steps", "3", "--output_dir", str(out), "--push_to_hub", *extra]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_recipe_push_checks_token_before_training(tmp_path):
    with FakeHub(token="hf_the_only_valid_token") as hub:
        proc = run_recipe(
            tmp_path / "out", hub_env(hub, tmp_path / "hf_home", token=SECRET), "--hub_model_id", REPO_ID
        )
        message = output_of(proc)
        assert proc.returncode != 0 and "Authentication failed (401)" in message and "--hub_token" in message
        assert SECRET not in message
        assert not (tmp_path / "out").exists(), "the recipe trained although the push could not succeed"
        assert hub.repo_ids == []


def test_recipe_push_checks_repo_id_before_any_request(tmp_path):
    with FakeHub(token=SECRET) as hub:
        env = hub_env(hub, tmp_path / "hf_home")
        proc = run_recipe(tmp_path / "out", env, "--hub_model_id", "not a/valid//id")
        assert proc.returncode != 0 and "Invalid repo id" in output_of(proc)
        assert hub.requests == [] and not (tmp_path / "out").exists()


def test_recipe_pushes_with_hub_token_flag_and_never_logs_it(tmp_path):
    with FakeHub(token=SECRET) as hub:
        env = hub_env(hub, tmp_path / "hf_home", token=None)
        out = tmp_path / "out"
        proc = run_recipe(out, env, "--hub_model_id", REPO_ID, "--hub_token", SECRET)
        assert proc.returncode == 0, output_of(proc)[-3000:]
        assert "model.safetensors" in hub.files(REPO_ID) and "README.md" in hub.files(REPO_ID)
        assert SECRET not in output_of(proc)
        for path in out.rglob("*"):
            if path.is_file() and path.suffix in (".json", ".jsonl", ".md", ".yaml", ".txt"):
                assert SECRET not in path.read_text(errors="ignore"), f"the token was written to {path}"
