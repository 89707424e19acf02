"""Upload a recipe's output folder (weights, config, model card) to the Hugging Face Hub.

```python
from hf_methods.hub.push import push_folder

url = push_folder("outputs/bone", "me/smollm2-bone")   # token from HF_TOKEN or `hf auth login`
```

Everything that can be checked locally (the folder, the repo id, the token) is checked before the first request, and
the Hub's HTTP errors come back as a `RuntimeError` that says what to do. The token never appears in a message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

#: Training state that a recipe keeps next to the Hub-ready files but that does not belong on the Hub.
DEFAULT_IGNORE_PATTERNS: tuple[str, ...] = ("checkpoints/*", "checkpoints/**", "logs/*", "logs/**")

_TOKEN_HELP = (
    "set the HF_TOKEN environment variable, run `hf auth login`, or pass a token (`--hub_token` to a recipe, "
    "`--token` to `hf-methods push`)"
)


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    revision: str | None = None,
    ignore_patterns: Sequence[str] = DEFAULT_IGNORE_PATTERNS,
) -> str:
    """Creates `repo_id` on the Hub if needed and uploads `folder` to it in one commit.

    Args:
        folder: the folder to upload, typically a recipe's `--output_dir` (weights, config, `README.md`).
        repo_id: the model repo, `"namespace/name"` (e.g. `"me/smollm2-bone"`).
        token: a Hub token with write access. Defaults to the token `huggingface_hub` finds (`HF_TOKEN`, or the one
            saved by `hf auth login`).
        private: create the repo as private (only used when the repo does not exist yet).
        commit_message: defaults to `"Upload <folder name> with hf-methods"`.
        revision: branch to commit to, created from `main` if it does not exist. Defaults to `main`.
        ignore_patterns: glob patterns, relative to `folder`, of files not to upload. The default leaves out
            `checkpoints/` and `logs/`.

    Returns:
        The URL of the commit.

    Raises:
        FileNotFoundError: `folder` does not exist.
        ValueError: `folder` is not a directory or has no file to upload, `repo_id` is malformed, or no token is
            available.
        RuntimeError: the Hub answered with an error (bad token, no write access, ...) or could not be reached.
    """
    folder = _check_folder(folder, ignore_patterns)
    _check_repo_id(repo_id)
    token = _resolve_token(token)

    import httpx2  # huggingface_hub's HTTP client
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    api = HfApi(token=token)
    commit_message = commit_message or f"Upload {folder.name} with hf-methods"
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            commit_message=commit_message,
            revision=revision,
            ignore_patterns=list(ignore_patterns),
        )
    except HfHubHTTPError as err:
        message = _scrub(_describe_http_error(err, repo_id, api.endpoint), token)
        # Keep the original error for debugging, unless the server echoed the token into it.
        raise RuntimeError(message) from (None if token in str(err) else err)
    except OfflineModeIsEnabled as err:
        raise RuntimeError(
            "Cannot push while HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE (or set it to 0) to reach the Hub."
        ) from err
    except httpx2.TransportError as err:  # connection refused, DNS failure, timeout
        raise RuntimeError(_scrub(f"Could not reach the Hub at {api.endpoint}: {err}", token)) from err

    logger.info("Pushed %s to %s", folder, info.commit_url)
    return info.commit_url


def check_push_target(repo_id: str, *, token: str | None = None) -> str:
    """Checks, before any training, that a later `push_folder(..., repo_id)` can succeed; returns the token to use.

    The repo id must be well formed, a token must be available, and the Hub must accept the token (one `whoami`
    request). Recipes call this when `--push_to_hub` is set, so a bad token or repo id fails in seconds, not after
    the run.

    Raises:
        ValueError: `repo_id` is malformed or no token is available.
        RuntimeError: the Hub rejected the token, could not be reached, or offline mode is on.
    """
    _check_repo_id(repo_id)
    token = _resolve_token(token)

    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    api = HfApi(token=token)
    try:
        api.whoami()
    except HfHubHTTPError as err:
        raise RuntimeError(_scrub(_describe_http_error(err, repo_id, api.endpoint), token)) from None
    except OfflineModeIsEnabled as err:
        raise RuntimeError(
            "--push_to_hub needs the Hub, but HF_HUB_OFFLINE is set: unset it (or set it to 0), or drop --push_to_hub."
        ) from err
    except httpx2.TransportError as err:
        raise RuntimeError(_scrub(f"Could not reach the Hub at {api.endpoint}: {err}", token)) from None
    return token


def _check_folder(folder: str | Path, ignore_patterns: Sequence[str]) -> Path:
    from huggingface_hub.utils import filter_repo_objects

    path = Path(folder).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"Cannot push {str(folder)!r}: no such folder.")
    if not path.is_dir():
        raise ValueError(f"Cannot push {str(folder)!r}: it is a file, expected a folder (e.g. a recipe's output_dir).")
    files = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
    files = [f for f in files if not f.startswith(".git/") and "/.git/" not in f]
    if not files:
        raise ValueError(f"Cannot push {str(folder)!r}: the folder is empty.")
    if not list(filter_repo_objects(files, ignore_patterns=list(ignore_patterns))):
        raise ValueError(
            f"Cannot push {str(folder)!r}: every file in it matches the ignore patterns {list(ignore_patterns)}."
        )
    return path


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    expected = 'expected "namespace/name", e.g. "my-username/smollm2-bone"'
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ValueError(f"Invalid repo id {repo_id!r}: {expected}.")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ValueError(f"Invalid repo id {repo_id!r}: {expected} ({err})") from None


def _resolve_token(token: str | None) -> str:
    if token:
        return token
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise ValueError(f"No Hugging Face token found: {_TOKEN_HELP}. The token needs write access.")
    return token


def _describe_http_error(err: Exception, repo_id: str, endpoint: str) -> str:
    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None)
    server_message = getattr(err, "server_message", None)
    detail = f" The Hub said: {server_message.strip()}" if server_message else ""
    if status == 401:
        return (
            f"Authentication failed (401) at {endpoint}: the token was rejected. Check it, then {_TOKEN_HELP}.{detail}"
        )
    if status == 403:
        namespace = repo_id.split("/")[0]
        return (
            f"Permission denied (403) for {repo_id!r}: the token cannot write to the namespace {namespace!r}. "
            f"Use a token with write access to it, or push under your own namespace.{detail}"
        )
    if status == 404:
        return (
            f"Not found (404) while pushing to {repo_id!r} at {endpoint}: the repo or branch does not exist or is not "
            f"visible with this token.{detail}"
        )
    return f"The Hub refused the push to {repo_id!r} (HTTP {status}).{detail}"


def _scrub(message: str, token: str) -> str:
    """Replaces any occurrence of the token in `message`, whatever the server echoed back."""
    return message.replace(token, "***") if token else message
