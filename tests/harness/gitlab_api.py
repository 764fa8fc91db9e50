"""A local GitLab REST server (API v4) for the release tests: the calls a release makes, as documented.

- generic packages: ``PUT /projects/:id/packages/generic/:name/:version/:file`` (201 ``{"message":
  "201 Created"}``; a new package on the first file), ``GET /projects/:id/packages`` with
  ``package_type``, ``package_name``, ``package_version``, ``GET
  /projects/:id/packages/:package_id/package_files`` (``file_name``, ``size``, ``file_sha256``)
  and ``DELETE …/package_files/:id`` (204);
- releases: ``GET /projects/:id/releases/:tag`` (404 ``{"message": "404 Not Found"}``), ``POST
  /projects/:id/releases`` (201; 409 ``{"message": "Release already exists"}``), ``PUT
  /projects/:id/releases/:tag`` (200);
- release links: ``GET``/``POST /projects/:id/releases/:tag/assets/links`` (201; 400
  ``{"message": {"name": ["has already been taken"]}}`` for a second link of one name);
- listings paginate with ``per_page``/``page`` and answer ``X-Page``, ``X-Per-Page``,
  ``X-Total``, ``X-Next-Page`` and ``Link`` (the test may lower the page cap to force paging);
- ``:id`` is the numeric id or the URL-encoded path (``acme%2Fduo``); a request without the
  ``PRIVATE-TOKEN`` (or ``JOB-TOKEN``) header: 401 ``{"message": "401 Unauthorized"}``.

Faults (429 with ``Retry-After``, 5xx, malformed bodies) are queued and answered first.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.harness.github_api import Reply, Seen


class FakeGitLab:
    def __init__(self, project: str, token: str, *, project_id: int = 7, page_cap: int = 100) -> None:
        self.project, self.token, self.project_id, self.page_cap = project, token, project_id, page_cap
        self.packages: dict[int, dict[str, Any]] = {}
        self.files: dict[int, dict[str, Any]] = {}
        self.releases: dict[str, dict[str, Any]] = {}
        self.requests: list[Seen] = []
        self.faults: list[tuple[str, str, Reply]] = []  # (method or "*", path fragment, reply)
        self._next = 100
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                fake._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v4"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, reply: Reply, method: str = "*", path: str = "") -> None:
        """Answer ``reply`` to the next request of ``method`` whose path contains ``path``."""
        self.faults.append((method, path, reply))

    def count(self, method: str, fragment: str = "") -> int:
        return sum(1 for r in self.requests if r.method == method and fragment in r.path)

    def file_bytes(self, package: str, version: str) -> dict[str, bytes]:
        ids = {pid for pid, p in self.packages.items() if (p["name"], p["version"]) == (package, version)}
        return {f["file_name"]: f["_bytes"] for f in self.files.values() if f["_package"] in ids}

    def _id(self) -> int:
        self._next += 1
        return self._next

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        raw_path, _, raw_query = h.path.partition("?")
        query = dict(urllib.parse.parse_qsl(raw_query))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        seen = Seen(h.command, raw_path, query, dict(h.headers.items()), body)
        with self._lock:
            self.requests.append(seen)
            reply = self._fault(h.command, raw_path) or self._route(seen)
        h.send_response(reply.status)
        for key, value in reply.headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(reply.body)))
        h.end_headers()
        h.wfile.write(reply.body)

    def _fault(self, method: str, path: str) -> Reply | None:
        for i, (wanted, fragment, reply) in enumerate(self.faults):
            if wanted in ("*", method) and fragment in path:
                del self.faults[i]
                return reply
        return None

    def _page(self, items: list[Any], req: Seen) -> Reply:
        per_page = min(int(req.query.get("per_page", "20")), 100, self.page_cap)
        page = max(1, int(req.query.get("page", "1")))
        total_pages = max(1, -(-len(items) // per_page))
        headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(len(items))}
        headers["X-Next-Page"] = str(page + 1) if page < total_pages else ""
        if page < total_pages:
            q = urllib.parse.urlencode({**req.query, "page": str(page + 1)})
            headers["Link"] = f'<{self.api_url.removesuffix("/api/v4")}{req.path}?{q}>; rel="next"'
        return Reply.json(items[(page - 1) * per_page : page * per_page], 200, **headers)

    def _route(self, req: Seen) -> Reply:
        headers = {k.lower(): v for k, v in req.headers.items()}  # header names are case-insensitive
        if self.token not in (headers.get("private-token"), headers.get("job-token")):
            return Reply.json({"message": "401 Unauthorized"}, 401)
        ids = {str(self.project_id), urllib.parse.quote(self.project, safe="")}
        match = re.fullmatch(r"/api/v4/projects/([^/]+)(/.*)", req.path)
        if not match or match[1] not in ids:
            return Reply.json({"message": "404 Project Not Found"}, 404)
        rest = match[2]
        m = re.fullmatch(r"/packages/generic/([^/]+)/([^/]+)/([^/]+)", rest)
        if m and req.method == "PUT":
            name, version, file_name = (urllib.parse.unquote(x) for x in m.groups())
            return self._put_file(name, version, file_name, req.body)
        if rest == "/packages" and req.method == "GET":
            found = [
                {k: v for k, v in p.items() if not k.startswith("_")}
                for p in self.packages.values()
                if req.query.get("package_type", "generic") == "generic"
                and p["name"] == req.query.get("package_name", p["name"])
                and p["version"] == req.query.get("package_version", p["version"])
            ]
            return self._page(found, req)
        if (m := re.fullmatch(r"/packages/(\d+)/package_files", rest)) and req.method == "GET":
            pid = int(m[1])
            listed = [
                {k: v for k, v in f.items() if not k.startswith("_")}
                for f in self.files.values()
                if f["_package"] == pid
            ]
            return self._page(listed, req)
        if (m := re.fullmatch(r"/packages/(\d+)/package_files/(\d+)", rest)) and req.method == "DELETE":
            if self.files.pop(int(m[2]), None) is None:
                return Reply.json({"message": "404 Not Found"}, 404)
            return Reply(204)
        if rest == "/releases" and req.method == "POST":
            data = json.loads(req.body)
            tag = data.get("tag_name")
            if tag in self.releases:
                return Reply.json({"message": "Release already exists"}, 409)
            self.releases[tag] = {
                "tag_name": tag,
                "name": data.get("name", tag),
                "description": data.get("description", ""),
                "_links": [],
            }
            return Reply.json(self._release(tag), 201)
        if m := re.fullmatch(r"/releases/([^/]+)", rest):
            tag = urllib.parse.unquote(m[1])
            if tag not in self.releases:
                return Reply.json({"message": "404 Not Found"}, 404)
            if req.method == "PUT":
                data = json.loads(req.body)
                for key in ("name", "description"):
                    if key in data:
                        self.releases[tag][key] = data[key]
            return Reply.json(self._release(tag))
        if m := re.fullmatch(r"/releases/([^/]+)/assets/links", rest):
            tag = urllib.parse.unquote(m[1])
            if tag not in self.releases:
                return Reply.json({"message": "404 Not Found"}, 404)
            links = self.releases[tag]["_links"]
            if req.method == "GET":
                return self._page(links, req)
            data = json.loads(req.body)
            if any(link["name"] == data.get("name") for link in links):
                return Reply.json({"message": {"name": ["has already been taken"]}}, 400)
            link = {
                "id": self._id(),
                "name": data["name"],
                "url": data["url"],
                "direct_asset_url": data["url"],
                "link_type": data.get("link_type", "other"),
            }
            links.append(link)
            return Reply.json(link, 201)
        return Reply.json({"message": "404 Not Found"}, 404)

    def _release(self, tag: str) -> dict[str, Any]:
        rel = self.releases[tag]
        return {**{k: v for k, v in rel.items() if not k.startswith("_")}, "assets": {"links": rel["_links"]}}

    def _put_file(self, name: str, version: str, file_name: str, body: bytes) -> Reply:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or not re.fullmatch(r"[A-Za-z0-9.+_-]+", version):
            return Reply.json(
                {"message": "400 Bad request - package_name or package_version is invalid"}, 400
            )
        pid = next(
            (i for i, p in self.packages.items() if (p["name"], p["version"]) == (name, version)), None
        )
        if pid is None:
            pid = self._id()
            self.packages[pid] = {"id": pid, "name": name, "version": version, "package_type": "generic"}
        fid = self._id()
        self.files[fid] = {
            "id": fid,
            "package_id": pid,
            "file_name": file_name,
            "size": len(body),
            "file_sha256": hashlib.sha256(body).hexdigest(),
            "_package": pid,
            "_bytes": body,
        }
        return Reply.json({"message": "201 Created"}, 201)


@contextmanager
def fake_gitlab(
    project: str = "acme/duo", token: str = "glpat-" + "x" * 20, **kw: Any
) -> Iterator[FakeGitLab]:
    server = FakeGitLab(project, token, **kw)
    try:
        yield server
    finally:
        server.close()
