"""Services for the upload tests that the shared harness does not provide.

* :func:`start_users_registry`: the same Debian ``docker-registry`` (TLS + bcrypt htpasswd) as
  ``tests/harness/registry.py``, but with several users, because the ECR test pushes with the
  ``AWS:<password>`` credentials moto's ``GetAuthorizationToken`` returns and the Harbor test
  pushes as a robot account its API handed out. docker-registry 2.8 reads htpasswd only at
  start-up, so the users must be known before it starts.
* :class:`HarborApi`: a small HTTP server implementing exactly the Harbor REST API v2.0
  endpoints the ``harbor`` uploader calls, with the request/response shapes Harbor documents
  (swagger ``api/v2.0/swagger.yaml``): ``HEAD/POST /projects``, ``POST/DELETE /robots``,
  ``POST .../artifacts/{reference}/scan`` and ``GET .../artifacts/{reference}`` with
  ``scan_overview`` keyed by the vulnerability report media type. HTTP Basic auth is checked
  like Harbor does for API clients. It is not Harbor: the push itself goes to the real registry.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.harness import procs
from tests.harness.registry import Registry, _htpasswd_line
from tests.harness.tls import make_tls

REPORT_TYPE = "application/vnd.security.vulnerability.report; version=1.1"


@contextlib.contextmanager
def start_users_registry(tmp: Path, users: Mapping[str, str]) -> Iterator[Registry]:
    """docker-registry with TLS and htpasswd holding every ``user: password`` in *users*.

    The returned ``Registry`` carries the first user's credentials.
    """
    binary = procs.require_binary("docker-registry", "docker-registry")
    tmp.mkdir(parents=True, exist_ok=True)
    root = tmp / "storage"
    root.mkdir(exist_ok=True)
    tls = make_tls(tmp / "tls")
    htpasswd = tmp / "htpasswd"
    htpasswd.write_text("".join(_htpasswd_line(u, p) for u, p in users.items()))
    first_user, first_password = next(iter(users.items()))
    http: dict[str, Any] = {
        "secret": "upload-tests",
        "tls": {"certificate": str(tls.cert), "key": str(tls.key)},
    }
    config = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text"},
        "storage": {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": True}},
        "http": http,
        "auth": {"htpasswd": {"realm": "gopipe-upload-test", "path": str(htpasswd)}},
        "health": {"storagedriver": {"enabled": False}},
    }

    @contextlib.contextmanager
    def serve(port: int) -> Iterator[Registry]:
        http["addr"] = f"127.0.0.1:{port}"
        cfg = tmp / "config.yml"
        cfg.write_text(json.dumps(config, indent=2))
        reg = Registry(f"127.0.0.1:{port}", first_user, first_password, tls.ca_cert, root)
        with procs.running(
            [binary, "serve", str(cfg)],
            log=tmp / "registry.log",
            what=f"docker-registry on {reg.host}",
            ready=procs.http_check(f"{reg.url}/v2/", statuses=(200, 401), context=tls.client_context()),
        ):
            yield reg

    with procs.on_free_port(serve) as registry:
        yield registry


@dataclass
class HarborApi:
    """State of the Harbor stand-in; tests read ``calls``, ``projects``, ``robots``."""

    username: str
    password: str
    robot: tuple[str, str] = ("robot$hello+gopipe", "")  # (name, secret) handed out by POST /robots
    severity: str = "None"  # severity the scan reports
    summary: dict[str, int] = field(default_factory=dict)
    polls_until_done: int = 2
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    robots: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted_robots: list[int] = field(default_factory=list)
    scans: dict[str, int] = field(default_factory=dict)  # "project/repo@ref" -> polls so far
    calls: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return (user, password) == (self.username, self.password)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def api(self) -> HarborApi:
        return self.server.api  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read ``calls``."""

    def _send(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"errors": [{"code": code, "message": message}]})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def do_HEAD(self) -> None:
        self._handle()

    do_GET = do_POST = do_DELETE = do_HEAD

    def _handle(self) -> None:
        api = self.api
        parts = urlsplit(self.path)
        raw_path, query = parts.path, parse_qs(parts.query)
        body = self._body() if self.command in ("POST", "PUT") else None
        with api.lock:
            api.calls.append((self.command, self.path))
        if not raw_path.startswith("/api/v2.0/"):
            return self._error(404, "NOT_FOUND", "not found")
        if not api.authorized(self.headers.get("Authorization")):
            return self._error(401, "UNAUTHORIZED", "unauthorized")
        segments = raw_path[len("/api/v2.0/") :].split("/")
        with api.lock:
            return self._route(api, segments, query, body)

    def _route(self, api: HarborApi, seg: list[str], query: dict[str, list[str]], body: Any) -> None:
        method = self.command
        if seg == ["projects"] and method == "HEAD":
            name = query.get("project_name", [""])[0]
            return self._send(200 if name in api.projects else 404)
        if seg == ["projects"] and method == "POST":
            name = body["project_name"]
            if name in api.projects:
                return self._error(409, "CONFLICT", f"The project named {name} already exists")
            api.projects[name] = {"name": name, "metadata": body.get("metadata", {})}
            return self._send(201)
        if seg == ["robots"] and method == "POST":
            perms = body["permissions"][0]
            if body.get("level") != "project" or perms["namespace"] not in api.projects:
                return self._error(400, "BAD_REQUEST", "bad robot request")
            robot_id = len(api.robots) + 1
            api.robots[robot_id] = body
            name, secret = api.robot
            return self._send(
                201,
                {
                    "id": robot_id,
                    "name": name,
                    "secret": secret,
                    "creation_time": "2026-01-02T03:04:05.000Z",
                    "expires_at": 1767409445,
                },
            )
        if len(seg) == 2 and seg[0] == "robots" and method == "DELETE":
            api.deleted_robots.append(int(seg[1]))
            return self._send(200)
        # /projects/{project}/repositories/{repo, URL-encoded twice}/artifacts/{reference}[/scan]
        if len(seg) in (6, 7) and seg[0] == "projects" and seg[2] == "repositories" and seg[4] == "artifacts":
            once = unquote(seg[3])
            if "/" in once:  # a single-encoded "/" would split the path in Harbor's router
                return self._error(404, "NOT_FOUND", "repository name must be URL-encoded twice")
            project, repo, ref = unquote(seg[1]), unquote(once), unquote(seg[5])
            key = f"{project}/{repo}@{ref}"
            if len(seg) == 7 and seg[6] == "scan" and method == "POST":
                api.scans[key] = 0
                return self._send(202)
            if len(seg) == 6 and method == "GET":
                return self._artifact(api, key, ref, query)
        return self._error(404, "NOT_FOUND", f"no route {method} {self.path}")

    def _artifact(self, api: HarborApi, key: str, ref: str, query: dict[str, list[str]]) -> None:
        overview: dict[str, Any] = {}
        if query.get("with_scan_overview") == ["true"] and key in api.scans:
            api.scans[key] += 1
            done = api.scans[key] >= api.polls_until_done
            report: dict[str, Any] = {
                "report_id": "r1",
                "scanner": {"name": "Trivy"},
                "scan_status": "Success" if done else "Running",
            }
            if done:
                report["severity"] = api.severity
                report["summary"] = {
                    "total": sum(api.summary.values()),
                    "fixable": 0,
                    "summary": dict(api.summary),
                }
            overview = {REPORT_TYPE: report}
        self._send(200, {"id": 1, "digest": ref, "type": "IMAGE", "scan_overview": overview or None})


@contextlib.contextmanager
def start_harbor_api(api: HarborApi) -> Iterator[HarborApi]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.api = api  # type: ignore[attr-defined]
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="harbor-api", daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
