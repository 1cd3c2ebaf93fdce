"""A small Hugging Face Hub stand-in for tests: an HTTP server on 127.0.0.1 that speaks the
endpoints huggingface_hub's download and commit paths use, over in-memory repositories.

Repositories are ``{repo_id: Repo}``; a repo maps commit shas to snapshots ``{filename: bytes}``
and refs (branches and tags, "main" first) to commit shas. Every request is recorded, so tests
can assert what the real client fetched.

Endpoints (model repos only; ``{rev}`` is a ref or a commit sha, URL-quoted):

- ``GET /api/models/{repo}`` and ``GET /api/models/{repo}/revision/{rev}``: model info
  ``{"id", "sha", "siblings": [{"rfilename"}]}``.
- ``GET /api/models/{repo}/tree/{rev}``: the file list ``[{"type", "path", "size", "oid",
  "lfs"?}]`` (one page, no ``Link`` header).
- ``HEAD``/``GET /{repo}/resolve/{rev}/{filename}``: the file, with ``X-Repo-Commit``,
  ``ETag`` (git blob sha1; for LFS-like weight files the sha256, also as ``X-Linked-Etag`` with
  ``X-Linked-Size``) and ``Content-Length``. No redirects, no Xet headers.
- Errors: 404 with ``X-Error-Code: RepoNotFound``, ``RevisionNotFound`` or ``EntryNotFound``
  (the last with ``X-Repo-Commit``), as ``hf_raise_for_status`` maps them.
- ``POST /api/repos/create``: ``{"url"}``; 409 (same body) when the repo exists.
- ``POST /api/validate-yaml``: parses README front matter; 400 with ``errors`` when invalid.
- ``POST /api/models/{repo}/branch/{branch}``: a branch from main (or ``startingPoint``).
- ``POST /api/models/{repo}/preupload/{rev}``: every file ``uploadMode: "regular"``, so the
  client inlines contents in the commit (no LFS/Xet transfer to emulate).
- ``POST /api/models/{repo}/commit/{rev}``: the NDJSON commit (header, base64 ``file``s,
  ``deletedFile``s): a new commit on the branch, recorded in :attr:`HubServer.commits`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["Commit", "HubServer", "Repo", "Request"]

#: Files the Hub keeps in LFS (their ETag is the sha256 of the content).
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl")
_GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"

_REPO = r"(?P<repo>[^/]+/[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(rf"^/api/models/{_REPO}(?:/revision/(?P<rev>[^/]+))?$"), "model_info"),
    ("GET", re.compile(rf"^/api/models/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<sub>.*))?$"), "tree"),
    ("POST", re.compile(r"^/api/repos/create$"), "create_repo"),
    ("POST", re.compile(r"^/api/validate-yaml$"), "validate_yaml"),
    ("POST", re.compile(rf"^/api/models/{_REPO}/branch/(?P<rev>[^/]+)$"), "create_branch"),
    ("POST", re.compile(rf"^/api/models/{_REPO}/preupload/(?P<rev>[^/]+)$"), "preupload"),
    ("POST", re.compile(rf"^/api/models/{_REPO}/commit/(?P<rev>[^/]+)$"), "commit"),
    ("GET", re.compile(rf"^/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)$"), "resolve"),
    ("HEAD", re.compile(rf"^/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)$"), "resolve"),
]


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob (what the Hub uses as the ETag of a non-LFS file)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    """One model repository: commit sha -> snapshot, ref name -> commit sha."""

    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


@dataclass(frozen=True)
class Request:
    """One request as the server saw it (path unquoted, without the query)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass(frozen=True)
class Commit:
    """A commit received through ``POST .../commit/{rev}``."""

    repo_id: str
    revision: str
    sha: str
    summary: str
    description: str
    files: dict[str, bytes]  # added or replaced by this commit
    deleted: list[str]
    authorization: str | None


class HubServer:
    """The server; ``start()`` it (or use it as a context manager) and point ``HF_ENDPOINT``
    at :attr:`url`."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[Request] = []
        self.commits: list[Commit] = []
        self.validated: list[dict[str, Any]] = []  # README front matter seen by validate-yaml
        self._lock = threading.Lock()
        self._counter = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- content ---------------------------------------------------------------------------

    def _new_sha(self, repo_id: str, files: dict[str, bytes]) -> str:
        self._counter += 1
        listing = sorted((name, hashlib.sha256(data).hexdigest()) for name, data in files.items())
        return hashlib.sha1(json.dumps([repo_id, self._counter, listing]).encode()).hexdigest()

    def add_repo(self, repo_id: str, files: dict[str, bytes], *, revision: str = "main") -> str:
        """Put a snapshot at ref ``revision`` (a branch or tag), creating the repo if needed;
        the snapshot replaces the ref's files. Returns the new commit's sha."""
        with self._lock:
            repo = self.repos.setdefault(repo_id, Repo())
            sha = self._new_sha(repo_id, files)
            repo.commits[sha] = dict(files)
            repo.refs[revision] = sha
            return sha

    def requests_to(self, method: str | None = None, contains: str = "") -> list[Request]:
        """Recorded requests, filtered by method and a substring of the path."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and contains in r.path
            ]

    def downloads(self, filename: str) -> int:
        """How many times a file's content was fetched (GET .../resolve/.../filename)."""
        return sum(
            1 for r in self.requests_to("GET", "/resolve/") if r.path.endswith("/" + filename)
        )

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=10)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Reply(Exception):
    """Raised by a route to answer with an error status."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer  # set on the subclass HubServer.start makes
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after stop()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # -- plumbing --------------------------------------------------------------------------

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(
        self, status: int, body: Any = b"", headers: dict[str, str] | None = None, *, head: bool
    ) -> None:
        headers = dict(headers or {})
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        hub = self.hub
        with hub._lock:
            hub.requests.append(
                Request(
                    method, path, parse_qs(parts.query), {k: v for k, v in self.headers.items()}
                )
            )
        body = self._body() if method == "POST" else b""
        for route_method, pattern, name in _ROUTES:
            match = pattern.match(parts.path)  # match on the quoted path: revisions hold '/'
            if route_method == method and match:
                groups = {k: unquote(v) if v else v for k, v in match.groupdict().items()}
                try:
                    with hub._lock:
                        status, reply, headers = getattr(self, f"_{name}")(body=body, **groups)
                except _Reply as error:
                    status, reply, headers = error.status, error.body, error.headers
                self._send(status, reply, headers, head=method == "HEAD")
                return
        self._send(404, {"error": f"no route for {method} {path}"}, head=method == "HEAD")

    # -- helpers ---------------------------------------------------------------------------

    def _repo(self, repo: str) -> Repo:
        if repo not in self.hub.repos:
            raise _Reply(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        return self.hub.repos[repo]

    def _snapshot(self, repo: str, rev: str | None) -> tuple[str, dict[str, bytes]]:
        record = self._repo(repo)
        sha = record.resolve(rev or "main")
        if sha is None:
            raise _Reply(
                404, {"error": f"Invalid rev id: {rev}"}, {"X-Error-Code": "RevisionNotFound"}
            )
        return sha, record.commits[sha]

    # -- routes: each returns (status, body, headers) ---------------------------------------

    def _model_info(self, *, body: bytes, repo: str, rev: str | None = None) -> Any:
        sha, files = self._snapshot(repo, rev)
        info = {
            "id": repo,
            "modelId": repo,
            "sha": sha,
            "private": False,
            "tags": [],
            "siblings": [{"rfilename": name} for name in sorted(files)],
        }
        return 200, info, {}

    def _tree(self, *, body: bytes, repo: str, rev: str, sub: str | None = None) -> Any:
        _, files = self._snapshot(repo, rev)
        entries = []
        for name in sorted(files):
            if sub and not name.startswith(sub.rstrip("/") + "/"):
                continue
            data = files[name]
            entry: dict[str, Any] = {
                "type": "file",
                "path": name,
                "size": len(data),
                "oid": git_blob_sha1(data),
            }
            if name.endswith(LFS_SUFFIXES):
                sha256 = hashlib.sha256(data).hexdigest()
                entry["lfs"] = {"oid": sha256, "size": len(data), "pointerSize": 134}
            entries.append(entry)
        return 200, entries, {}

    def _resolve(self, *, body: bytes, repo: str, rev: str, file: str) -> Any:
        sha, files = self._snapshot(repo, rev)
        if file not in files:
            raise _Reply(
                404,
                {"error": "Entry not found"},
                {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha},
            )
        data = files[file]
        headers = {"X-Repo-Commit": sha, "Content-Type": "application/octet-stream"}
        if file.endswith(LFS_SUFFIXES):
            etag = hashlib.sha256(data).hexdigest()
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        else:
            etag = git_blob_sha1(data)
        headers["ETag"] = f'"{etag}"'
        return 200, data, headers

    def _create_repo(self, *, body: bytes) -> Any:
        payload = json.loads(body or b"{}")
        repo_id = f"{payload['organization']}/{payload['name']}"
        reply = {"url": f"{self._base()}/{repo_id}", "name": repo_id}
        if repo_id in self.hub.repos:
            return 409, {"error": "You already created this model repo", **reply}, {}
        record = self.hub.repos[repo_id] = Repo()
        files = {".gitattributes": _GITATTRIBUTES}
        sha = self.hub._new_sha(repo_id, files)
        record.commits[sha], record.refs["main"] = files, sha
        return 200, reply, {}

    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _validate_yaml(self, *, body: bytes) -> Any:
        import yaml

        content = json.loads(body).get("content", "")
        meta: Any = {}
        if content.startswith("---\n"):
            front, _, _ = content[4:].partition("\n---")
            try:
                meta = yaml.safe_load(front) or {}
            except yaml.YAMLError as exc:
                return 400, {"errors": [{"message": str(exc)}], "warnings": []}, {}
        if not isinstance(meta, dict):
            return 400, {"errors": [{"message": "metadata must be a mapping"}]}, {}
        self.hub.validated.append(meta)
        return 200, {"errors": [], "warnings": []}, {}

    def _create_branch(self, *, body: bytes, repo: str, rev: str) -> Any:
        record = self._repo(repo)
        if rev in record.refs:
            return 409, {"error": "Reference already exists"}, {}
        start = (json.loads(body or b"{}") or {}).get("startingPoint") or "main"
        sha, _ = self._snapshot(repo, start)
        record.refs[rev] = sha
        return 200, {}, {}

    def _preupload(self, *, body: bytes, repo: str, rev: str) -> Any:
        sha, _ = self._snapshot(repo, rev)
        files = json.loads(body)["files"]
        modes = [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
            for f in files
        ]
        return 200, {"files": modes, "commitOid": sha}, {}

    def _commit(self, *, body: bytes, repo: str, rev: str) -> Any:
        _, files = self._snapshot(repo, rev)
        if rev not in self.hub.repos[repo].refs:
            raise _Reply(400, {"error": "commits go to a branch, not to a commit sha"})
        header: dict[str, Any] = {}
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file" and value.get("encoding") == "base64":
                added[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                deleted.append(value["path"])
            else:  # lfsFile and the rest: this server never asks for LFS uploads
                raise _Reply(400, {"error": f"unsupported commit operation {key!r}"})
        snapshot = {k: v for k, v in files.items() if k not in deleted} | added
        sha = self.hub._new_sha(repo, snapshot)
        record = self.hub.repos[repo]
        record.commits[sha], record.refs[rev] = snapshot, sha
        self.hub.commits.append(
            Commit(
                repo_id=repo,
                revision=rev,
                sha=sha,
                summary=header.get("summary", ""),
                description=header.get("description", ""),
                files=added,
                deleted=deleted,
                authorization=self.headers.get("Authorization"),
            )
        )
        reply = {
            "success": True,
            "commitOid": sha,
            "commitUrl": f"{self._base()}/{repo}/commit/{sha}",
            "pullRequestUrl": None,
        }
        return 200, reply, {}
