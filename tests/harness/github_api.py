"""A local GitHub REST server for the release tests: the endpoints a release uses, as documented.

GitHub cannot be reached from here, so this server implements, with GitHub Enterprise's URL
layout (``/api/v3`` for the REST API, ``/api/uploads`` for assets), what the REST reference
documents for them:

- ``GET /repos/{o}/{r}/releases/tags/{tag}``: 200 with the release; 404 ``{"message": "Not
  Found"}`` when there is none *or it is a draft* (drafts are only in the listing);
- ``GET /repos/{o}/{r}/releases`` and ``GET /repos/{o}/{r}/releases/{id}/assets``: lists,
  ``per_page`` (default 30, at most 100; the test may lower the cap to force paging) and
  ``page``, with a ``Link`` header carrying ``rel="next"``/``rel="last"``;
- ``POST /repos/{o}/{r}/releases``: 201 with the release, its ``upload_url`` an RFC 6570
  template ``…/assets{?name,label}``; 422 ``Validation Failed`` with ``errors[0].code ==
  "already_exists"`` (``field: tag_name``) when a published release of the tag exists;
- ``PATCH /repos/{o}/{r}/releases/{id}``: 200 with the updated release;
- ``POST {upload_url}?name=&label=`` with the raw bytes: 201 with the asset (``name``,
  ``label``, ``size``, ``digest: "sha256:…"``, ``state: "uploaded"``); 422 ``already_exists``
  (``field: name``) when the release has an asset of that name;
- ``DELETE /repos/{o}/{r}/releases/assets/{id}``: 204;
- ``GET /repos/{o}/{r}/contents/{path}?ref=`` (repositories added with :meth:`add_repository`,
  e.g. a Homebrew tap): 200 with ``type: "file"``, ``encoding: "base64"``, ``content`` (base64
  in lines of 60 characters, as GitHub sends it), ``size`` and ``sha`` (the git blob SHA-1);
  404 ``Not Found`` for a missing file, branch or repository;
- ``PUT /repos/{o}/{r}/contents/{path}`` with ``message``, base64 ``content``, optional
  ``branch`` (default: the repository's default branch) and, to update a file, its current
  ``sha``: 201 (created) or 200 (updated) with ``content`` (name, path, sha, size) and
  ``commit`` (sha, message); 422 ``Invalid request. "sha" wasn't supplied.`` when the file
  exists and no ``sha`` is given; 409 ``{path} does not match {sha}`` when the ``sha`` is not
  the file's current one; 422 for a missing ``message``/``content`` or content that is not
  base64; 404 for an unknown branch;
- every call without ``Authorization: Bearer <token>``: 401 ``{"message": "Bad credentials"}``.

Faults are queued: a canned :class:`Reply` (a secondary rate limit: 403 with ``retry-after``
or ``x-ratelimit-remaining: 0``/``x-ratelimit-reset``; a 502; huge or malformed JSON; an
error body that echoes the token) is answered before the next matching request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def json(data: object, status: int = 200, **headers: str) -> Reply:
        return Reply(status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers})


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


_RELEASES = re.compile(r"^/api/v3/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/releases(?P<rest>/.*)?$")
_CONTENTS = re.compile(r"^/api/v3/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/contents/(?P<path>.+)$")
_UPLOAD = re.compile(r"^/api/uploads/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/releases/(?P<id>\d+)/assets$")


class FakeGitHub:
    """One repository's releases, served on 127.0.0.1 until :meth:`close`."""

    def __init__(self, owner: str, repo: str, token: str, *, page_cap: int = 100) -> None:
        self.owner, self.repo, self.token, self.page_cap = owner, repo, token, page_cap
        self.releases: dict[int, dict[str, Any]] = {}
        self.assets: dict[int, dict[str, Any]] = {}  # id -> asset (with "_release" and "_bytes")
        self.requests: list[Seen] = []
        self.faults: list[tuple[str, Reply]] = []  # (method or "*", reply), answered first
        self.repositories: dict[str, str] = {}  # "owner/repo" -> default branch (contents API)
        self.files: dict[tuple[str, str, str], bytes] = {}  # (owner/repo, branch, path) -> bytes
        self.commits: list[dict[str, Any]] = []  # every commit the contents API made
        self._next_id = 1000
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                fake._handle(self)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/v3"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what tests read ---------------------------------------------------------------------
    def release_of(self, tag: str) -> dict[str, Any] | None:
        return next((r for r in self.releases.values() if r["tag_name"] == tag), None)

    def asset_bytes(self, tag: str) -> dict[str, bytes]:
        release = self.release_of(tag)
        assert release is not None
        return {a["name"]: a["_bytes"] for a in self.assets.values() if a["_release"] == release["id"]}

    def count(self, method: str, fragment: str = "") -> int:
        return sum(1 for r in self.requests if r.method == method and fragment in r.path)

    def fail_next(self, reply: Reply, method: str = "*") -> None:
        self.faults.append((method, reply))

    def add_repository(self, owner: str, repo: str, default_branch: str = "main") -> None:
        """Another repository (a Homebrew tap) whose files the contents API serves."""
        self.repositories[f"{owner}/{repo}"] = default_branch

    def file(self, full_name: str, path: str, branch: str = "") -> bytes | None:
        branch = branch or self.repositories[full_name]
        return self.files.get((full_name, branch, path))

    # -- serving --------------------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _release_json(self, rel: dict[str, Any]) -> dict[str, Any]:
        rid = rel["id"]
        return {
            **{k: v for k, v in rel.items() if not k.startswith("_")},
            "url": f"{self.api_url}/repos/{self.owner}/{self.repo}/releases/{rid}",
            "html_url": f"{self.base}/{self.owner}/{self.repo}/releases/tag/{rel['tag_name']}",
            "assets_url": f"{self.api_url}/repos/{self.owner}/{self.repo}/releases/{rid}/assets",
            "upload_url": f"{self.base}/api/uploads/repos/{self.owner}/{self.repo}/releases/{rid}/assets"
            "{?name,label}",
            "assets": [self._asset_json(a) for a in self.assets.values() if a["_release"] == rid],
        }

    def _asset_json(self, asset: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in asset.items() if not k.startswith("_")}

    def _page(self, items: list[Any], query: dict[str, str], path: str) -> Reply:
        per_page = min(int(query.get("per_page", "30")), 100, self.page_cap)
        page = max(1, int(query.get("page", "1")))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        if page < last:
            for rel, number in (("next", page + 1), ("last", last)):
                q = urllib.parse.urlencode({**query, "page": str(number)})
                links.append(f'<{self.base}{path}?{q}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        return Reply.json(chunk, 200, **headers)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        seen = Seen(h.command, url.path, query, dict(h.headers.items()), body)
        with self._lock:
            self.requests.append(seen)
            reply = self._fault(h.command) or self._route(seen)
        h.send_response(reply.status)
        for key, value in reply.headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(reply.body)))
        h.end_headers()
        h.wfile.write(reply.body)

    def _fault(self, method: str) -> Reply | None:
        for i, (wanted, reply) in enumerate(self.faults):
            if wanted in ("*", method):
                del self.faults[i]
                return reply
        return None

    def _route(self, req: Seen) -> Reply:
        if req.headers.get("Authorization") != f"Bearer {self.token}":
            return Reply.json({"message": "Bad credentials", "documentation_url": "https://docs"}, 401)
        contents = _CONTENTS.match(req.path)
        if contents:
            return self._contents(contents["o"], contents["r"], urllib.parse.unquote(contents["path"]), req)
        upload = _UPLOAD.match(req.path)
        if upload and req.method == "POST":
            return self._upload(int(upload["id"]), req)
        match = _RELEASES.match(req.path)
        if not match or (match["o"], match["r"]) != (self.owner, self.repo):
            return Reply.json({"message": "Not Found"}, 404)
        rest = match["rest"] or ""
        if rest == "" and req.method == "GET":
            ordered = sorted(self.releases.values(), key=lambda r: -r["id"])
            return self._page([self._release_json(r) for r in ordered], req.query, req.path)
        if rest == "" and req.method == "POST":
            return self._create(json.loads(req.body))
        if rest.startswith("/tags/") and req.method == "GET":
            tag = urllib.parse.unquote(rest.removeprefix("/tags/"))
            found = self.release_of(tag)
            if found is None or found["draft"]:
                return Reply.json({"message": "Not Found"}, 404)
            return Reply.json(self._release_json(found))
        if m := re.fullmatch(r"/(\d+)", rest):
            rel = self.releases.get(int(m[1]))
            if rel is None:
                return Reply.json({"message": "Not Found"}, 404)
            if req.method == "PATCH":
                for key in ("name", "body", "draft", "prerelease", "make_latest", "target_commitish"):
                    if key in (data := json.loads(req.body)):
                        rel[key] = data[key]
            return Reply.json(self._release_json(rel))
        if (m := re.fullmatch(r"/(\d+)/assets", rest)) and req.method == "GET":
            rid = int(m[1])
            items = [
                self._asset_json(a)
                for a in sorted(self.assets.values(), key=lambda a: a["id"])
                if a["_release"] == rid
            ]
            return self._page(items, req.query, req.path)
        if (m := re.fullmatch(r"/assets/(\d+)", rest)) and req.method == "DELETE":
            if self.assets.pop(int(m[1]), None) is None:
                return Reply.json({"message": "Not Found"}, 404)
            return Reply(204)
        return Reply.json({"message": "Not Found"}, 404)

    def _create(self, data: dict[str, Any]) -> Reply:
        tag = data.get("tag_name")
        if not isinstance(tag, str) or not tag:
            return _invalid("Release", "missing_field", "tag_name")
        existing = self.release_of(tag)
        if existing is not None and not existing["draft"]:
            return _invalid("Release", "already_exists", "tag_name")
        rid = self._new_id()
        self.releases[rid] = {
            "id": rid,
            "tag_name": tag,
            "target_commitish": data.get("target_commitish", "main"),
            "name": data.get("name", tag),
            "body": data.get("body", ""),
            "draft": bool(data.get("draft", False)),
            "prerelease": bool(data.get("prerelease", False)),
            "make_latest": data.get("make_latest", "true"),
        }
        return Reply.json(self._release_json(self.releases[rid]), 201)

    def _contents(self, owner: str, repo: str, path: str, req: Seen) -> Reply:
        full = f"{owner}/{repo}"
        if full not in self.repositories:
            return Reply.json({"message": "Not Found"}, 404)
        if req.method == "GET":
            branch = req.query.get("ref") or self.repositories[full]
            data = self.files.get((full, branch, path))
            if data is None:
                return Reply.json({"message": "Not Found"}, 404)
            encoded = base64.b64encode(data).decode()
            return Reply.json(
                {
                    **self._content_json(full, path, data),
                    "encoding": "base64",
                    "content": "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n",
                }
            )
        if req.method != "PUT":
            return Reply.json({"message": "Not Found"}, 404)
        try:
            body = json.loads(req.body)
        except ValueError:
            return Reply.json({"message": "Problems parsing JSON"}, 400)
        if not isinstance(body.get("message"), str) or not isinstance(body.get("content"), str):
            return _invalid("Contents", "missing_field", "message" if "message" not in body else "content")
        try:
            data = base64.b64decode(body["content"], validate=True)
        except ValueError:
            return Reply.json({"message": "content is not valid Base64"}, 422)
        branch = body.get("branch") or self.repositories[full]
        if branch != self.repositories[full] and not any(k[0] == full and k[1] == branch for k in self.files):
            return Reply.json({"message": f"Branch {branch} not found"}, 404)
        current = self.files.get((full, branch, path))
        if current is not None and "sha" not in body:
            return Reply.json({"message": 'Invalid request.\n\n"sha" wasn\'t supplied.'}, 422)
        if current is not None and body["sha"] != _blob_sha(current):
            return Reply.json({"message": f"{path} does not match {body['sha']}"}, 409)
        self.files[(full, branch, path)] = data
        commit = {
            "sha": hashlib.sha1(f"{len(self.commits)}:{full}:{path}".encode()).hexdigest(),
            "message": body["message"],
            "repository": full,
            "branch": branch,
            "path": path,
        }
        self.commits.append(commit)
        answer = {"content": self._content_json(full, path, data), "commit": commit}
        return Reply.json(answer, 200 if current is not None else 201)

    def _content_json(self, full: str, path: str, data: bytes) -> dict[str, Any]:
        return {
            "type": "file",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "size": len(data),
            "sha": _blob_sha(data),
            "url": f"{self.api_url}/repos/{full}/contents/{path}",
        }

    def _upload(self, rid: int, req: Seen) -> Reply:
        if rid not in self.releases:
            return Reply.json({"message": "Not Found"}, 404)
        name = req.query.get("name", "")
        if not name:
            return _invalid("ReleaseAsset", "missing_field", "name")
        if not req.headers.get("Content-Type"):
            return Reply.json({"message": "Content-Type header is required"}, 400)
        if any(a["_release"] == rid and a["name"] == name for a in self.assets.values()):
            return _invalid("ReleaseAsset", "already_exists", "name")
        aid = self._new_id()
        self.assets[aid] = {
            "id": aid,
            "name": name,
            "label": req.query.get("label", ""),
            "content_type": req.headers["Content-Type"],
            "state": "uploaded",
            "size": len(req.body),
            "digest": "sha256:" + hashlib.sha256(req.body).hexdigest(),
            "url": f"{self.api_url}/repos/{self.owner}/{self.repo}/releases/assets/{aid}",
            "browser_download_url": f"{self.base}/{self.owner}/{self.repo}/releases/download/{name}",
            "_release": rid,
            "_bytes": req.body,
        }
        return Reply.json(self._asset_json(self.assets[aid]), 201)


def _blob_sha(data: bytes) -> str:
    """The git blob id, which is what the contents API calls a file's ``sha``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _invalid(resource: str, code: str, field_name: str) -> Reply:
    return Reply.json(
        {
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": code, "field": field_name}],
            "documentation_url": "https://docs",
        },
        422,
    )


@contextmanager
def fake_github(
    owner: str = "acme", repo: str = "fixture", token: str = "", **kw: Any
) -> Iterator[FakeGitHub]:
    server = FakeGitHub(owner, repo, token or "ghp_" + hashlib.sha256(b"fake").hexdigest()[:36], **kw)
    try:
        yield server
    finally:
        server.close()
