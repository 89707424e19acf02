"""A small in-memory stand-in for the Hugging Face Hub HTTP API, to test uploads and downloads offline.

`huggingface_hub` 2.x sends its requests with `httpx2`, which request mocks do not intercept, so the tests talk to a
real HTTP server on `127.0.0.1` instead. It speaks only the endpoints that `HfApi.create_repo`,
`HfApi.upload_folder` (single-commit path, `HF_HUB_DISABLE_XET=1`), `HfApi.repo_info` and `snapshot_download` use:

| request                                                | answer                                                 |
|--------------------------------------------------------|--------------------------------------------------------|
| `POST /api/repos/create`                               | `{"url", "name"}`; 409 when the repo exists            |
| `POST /api/validate-yaml`                              | `{"errors": [], "warnings": []}`                       |
| `POST /api/models/<repo>/preupload/<rev>`              | every file "regular", so contents travel inline        |
| `POST /api/models/<repo>/commit/<rev>`                 | NDJSON header/file/deletedFile lines -> commit info    |
| `POST /api/models/<repo>/branch/<name>`                | creates a branch (409 when it exists)                  |
| `GET  /api/models/<repo>[/revision/<rev>]`             | repo info with `sha` and `siblings`                    |
| `GET  /api/models/<repo>/tree/<rev>[/<path>]`          | flat file listing (`snapshot_download` lists the tree) |
| `HEAD`/`GET /<repo>/resolve/<rev>/<path>`              | bytes with `ETag` and `X-Repo-Commit`                  |

Unknown repos answer 404 with `X-Error-Code: RepoNotFound`, unknown files 404 with `X-Error-Code: EntryNotFound`,
unknown revisions 404 with `X-Error-Code: RevisionNotFound`. Every request must carry
`Authorization: Bearer <token>` for the token the server was built with (401 otherwise).

```python
with FakeHub(token="hf_secret") as hub:
    env = {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": "hf_secret", ...}
    ...  # push / download in a subprocess
    hub.files("zoo/tiny")      # {"README.md": b"...", ...}
    hub.requests               # [("POST", "/api/repos/create", 200), ...]
```
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_BRANCH = "main"


def git_blob_sha(content: bytes) -> str:
    """The git blob id of `content`, which the Hub reports as a regular file's `oid` and `ETag`."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class FakeRepo:
    """One model repo: its commits (oid -> full file tree) and its branches (name -> commit oid)."""

    repo_id: str
    private: bool = False
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        # An empty repo still has an initial commit (the Hub adds `.gitattributes`; an empty tree is enough here).
        self.branches[DEFAULT_BRANCH] = self._add_commit({})

    def _add_commit(self, files: dict[str, bytes]) -> str:
        oid = hashlib.sha1(f"{self.repo_id}:{len(self.commits)}".encode()).hexdigest()
        self.commits[oid] = files
        return oid

    def resolve(self, revision: str) -> str | None:
        """The commit oid for a branch name or a known commit oid, else None."""
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.commits else None

    def commit(self, branch: str, added: dict[str, bytes], deleted: list[str]) -> str:
        """Applies the changes on top of `branch` and moves the branch to the new commit."""
        files = dict(self.commits[self.branches[branch]])
        for path in deleted:
            files.pop(path, None)
        files.update(added)
        self.branches[branch] = oid = self._add_commit(files)
        return oid


class _Handler(BaseHTTPRequestHandler):
    server: _Server  # set by the server
    protocol_version = "HTTP/1.1"

    # ---------------------------------------------------------------- plumbing

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr access log
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, head: bool = False):
        self.send_response(status)
        headers = {"Content-Type": "application/json", **(headers or {})}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
        self.server.log(self.command, self.path, status)

    def _json(self, status: int, payload, headers: dict[str, str] | None = None, head: bool = False):
        self._send(status, json.dumps(payload).encode(), headers, head=head)

    def _error(self, status: int, message: str, code: str | None = None, head: bool = False):
        headers = {"X-Error-Message": message}
        if code is not None:
            headers["X-Error-Code"] = code
        self._json(status, {"error": message}, headers, head=head)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.server.token}":
            return True
        self._body()  # drain the request so the connection stays usable
        self._error(401, "Invalid credentials in Authorization header")
        return False

    def _repo(self, repo_id: str, head: bool = False) -> FakeRepo | None:
        repo = self.server.repos.get(repo_id)
        if repo is None:
            self._error(404, f"Repository not found: {repo_id}", code="RepoNotFound", head=head)
        return repo

    # ---------------------------------------------------------------- routing

    def do_HEAD(self):  # noqa: N802
        self._route(head=True)

    def do_GET(self):  # noqa: N802
        self._route()

    def do_POST(self):  # noqa: N802
        self._route()

    def _route(self, head: bool = False):
        if not self._authorized():
            return
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = parse_qs(url.query)
        method = "HEAD" if head else self.command

        if method == "GET" and parts == ["api", "whoami-v2"]:
            return self._json(200, {"type": "user", "name": self.server.user, "auth": {"type": "access_token"}})
        if method == "POST" and parts == ["api", "repos", "create"]:
            return self._create_repo()
        if method == "POST" and parts == ["api", "validate-yaml"]:
            self._body()
            return self._json(200, {"errors": [], "warnings": []})
        if len(parts) >= 4 and parts[:2] == ["api", "models"]:
            repo_id, rest = "/".join(parts[2:4]), parts[4:]
            if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
                return self._preupload(repo_id)
            if method == "POST" and len(rest) == 2 and rest[0] == "branch":
                return self._create_branch(repo_id, rest[1])
            if method == "POST" and len(rest) == 2 and rest[0] == "commit":
                return self._commit(repo_id, rest[1])
            if method == "GET" and (not rest or (len(rest) == 2 and rest[0] == "revision")):
                return self._repo_info(repo_id, rest[1] if rest else DEFAULT_BRANCH)
            if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
                return self._tree(repo_id, rest[1], "/".join(rest[2:]), query)
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]), head=head)
        self._body()
        self._error(404, f"fake hub: no route for {method} {url.path}", head=head)

    # ---------------------------------------------------------------- endpoints

    def _create_repo(self):
        payload = json.loads(self._body() or b"{}")
        name, organization = payload["name"], payload.get("organization")
        repo_id = f"{organization}/{name}" if organization else f"{self.server.user}/{name}"
        url = f"{self.server.endpoint}/{repo_id}"
        with self.server.lock:
            exists = repo_id in self.server.repos
            if not exists:
                self.server.repos[repo_id] = FakeRepo(repo_id, private=payload.get("visibility") == "private")
        if exists:
            # Like the Hub, a 409 still carries the URL (`create_repo(exist_ok=True)` reads it).
            message = "You already created this model repo"
            return self._json(409, {"error": message, "url": url}, {"X-Error-Message": message})
        self._json(200, {"url": url, "name": repo_id})

    def _preupload(self, repo_id: str):
        payload = json.loads(self._body() or b"{}")
        if self._repo(repo_id) is None:
            return
        files = [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
            for f in payload.get("files", [])
        ]
        self._json(200, {"files": files})

    def _commit(self, repo_id: str, revision: str):
        body = self._body()
        repo = self._repo(repo_id)
        if repo is None:
            return
        if revision not in repo.branches:
            return self._error(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        added, deleted = {}, []
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "file":
                added[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                deleted.append(value["path"])
            elif key != "header":
                return self._error(400, f"fake hub: unsupported commit operation {key!r}")
        with self.server.lock:
            oid = repo.commit(revision, added, deleted)
        self._json(
            200,
            {"commitUrl": f"{self.server.endpoint}/{repo_id}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None},
        )

    def _create_branch(self, repo_id: str, branch: str):
        payload = json.loads(self._body() or b"{}")
        repo = self._repo(repo_id)
        if repo is None:
            return
        start = repo.resolve(payload.get("startingPoint") or DEFAULT_BRANCH)
        if start is None:
            return self._error(404, f"Invalid rev id: {payload['startingPoint']}", code="RevisionNotFound")
        if branch in repo.branches:
            return self._error(409, f"Reference already exists: {branch}")
        with self.server.lock:
            repo.branches[branch] = start
        self._json(200, {})

    def _repo_info(self, repo_id: str, revision: str):
        repo = self._repo(repo_id)
        if repo is None:
            return
        oid = repo.resolve(revision)
        if oid is None:
            return self._error(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        siblings = [{"rfilename": path} for path in sorted(repo.commits[oid])]
        self._json(200, {"id": repo_id, "modelId": repo_id, "sha": oid, "private": repo.private, "siblings": siblings})

    def _tree(self, repo_id: str, revision: str, folder: str, query: dict[str, list[str]]):
        repo = self._repo(repo_id)
        if repo is None:
            return
        oid = repo.resolve(revision)
        if oid is None:
            return self._error(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        recursive = query.get("recursive", ["False"])[0].lower() in ("1", "true")
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        entries, folders = [], set()
        for path, content in sorted(repo.commits[oid].items()):
            if not path.startswith(prefix):
                continue
            relative = path[len(prefix) :]
            if "/" in relative and not recursive:
                folders.add(prefix + relative.split("/", 1)[0])
                continue
            entries.append({"type": "file", "path": path, "size": len(content), "oid": git_blob_sha(content)})
        entries += [{"type": "directory", "path": path, "oid": git_blob_sha(path.encode())} for path in folders]
        self._json(200, entries)

    def _resolve(self, repo_id: str, revision: str, path: str, head: bool):
        repo = self._repo(repo_id, head=head)
        if repo is None:
            return
        oid = repo.resolve(revision)
        if oid is None:
            return self._error(404, f"Invalid rev id: {revision}", code="RevisionNotFound", head=head)
        content = repo.commits[oid].get(path)
        if content is None:
            return self._error(404, f"Entry not found: {path}", code="EntryNotFound", head=head)
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": f'"{git_blob_sha(content)}"',
            "X-Repo-Commit": oid,
        }
        self._send(200, content, headers, head=head)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, token: str, user: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.user = user
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def log(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests.append((method, path, status))


class FakeHub:
    """An in-memory Hub on `127.0.0.1:<free port>`, served from a daemon thread while the context is open.

    Args:
        token: the only token the server accepts (`Authorization: Bearer <token>`); anything else gets a 401.
        user: the namespace used when a repo is created without one.
    """

    def __init__(self, token: str = "hf_fake_token", user: str = "fake-user"):
        self._server = _Server(token=token, user=user)
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeHub:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def endpoint(self) -> str:
        """Base URL to put in `HF_ENDPOINT`."""
        return self._server.endpoint

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """Every request answered so far, as `(method, path with query, status)`."""
        return list(self._server.requests)

    @property
    def repo_ids(self) -> list[str]:
        return sorted(self._server.repos)

    def repo(self, repo_id: str) -> FakeRepo:
        """The stored repo (KeyError if it does not exist)."""
        return self._server.repos[repo_id]

    def files(self, repo_id: str, revision: str = DEFAULT_BRANCH) -> dict[str, bytes]:
        """The files of `repo_id` at `revision` (a branch or commit oid); KeyError if either does not exist."""
        repo = self._server.repos[repo_id]
        oid = repo.resolve(revision)
        if oid is None:
            raise KeyError(f"{repo_id} has no revision {revision!r}")
        return dict(repo.commits[oid])
