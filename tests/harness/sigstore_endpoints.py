"""Local HTTP endpoints for keyless signing: the Actions OIDC token service and a Fulcio that
records what it is asked.

GitHub's token service and Sigstore's Fulcio cannot be reached from here. This server speaks
their documented protocols, so sigstore-python's real clients can run against it unchanged:

- **Actions token service** (``GET /token?audience=…``), as GitHub documents it for
  ``ACTIONS_ID_TOKEN_REQUEST_URL``: the request carries ``Authorization: bearer
  <ACTIONS_ID_TOKEN_REQUEST_TOKEN>``; the answer is ``{"count": 1, "value": "<jwt>"}``. A
  missing or wrong bearer is 401. The JWT has the claims a GitHub job token has (``iss``
  ``https://token.actions.githubusercontent.com``, ``aud`` the requested audience, ``sub``,
  ``job_workflow_ref``, ``iat``/``nbf``/``exp``); its signature is not a real one (sigstore
  does not check it: Fulcio does).
- **Fulcio** (``POST /api/v2/signingCert``): every request is recorded; it answers with the
  queued fault, else 503 (a real certificate would need Fulcio's CA and CT log, so a test
  stops at the request).

- **A webhook** (``POST /hook``): recorded, 200, so a test can see the run's notification.

Faults (:class:`Reply`) are queued per path and answered before the next request to it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
TOKEN_PATH = "/token"
FULCIO_PATH = "/api/v2/signingCert"
HOOK_PATH = "/hook"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def job_token(audience: str, workflow_ref: str, *, issuer: str = GITHUB_ISSUER, lifetime: int = 300) -> str:
    """A JWT shaped like an Actions job's OIDC token (unsigned in substance)."""
    now = int(time.time())
    repo = workflow_ref.split("/.github/", 1)[0]
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": f"repo:{repo}:ref:{workflow_ref.rsplit('@', 1)[-1]}",
        "repository": repo,
        "job_workflow_ref": workflow_ref,
        "workflow_ref": workflow_ref,
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + lifetime,
    }
    header = {"alg": "RS256", "typ": "JWT", "kid": "local"}
    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), b"not-a-real-signature"]
    return ".".join(_b64url(p) for p in parts)


class SigstoreEndpoints:
    """The token service and Fulcio on 127.0.0.1 until :meth:`close`."""

    def __init__(self, request_token: str, workflow_ref: str) -> None:
        self.request_token = request_token
        self.workflow_ref = workflow_ref
        self.issued: list[str] = []  # the identity tokens handed out
        self.requests: list[Seen] = []
        self.faults: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        endpoints = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command,
                    url.path,
                    dict(urllib.parse.parse_qsl(url.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                reply = endpoints.answer(seen)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def token_url(self) -> str:
        """What Actions puts in ACTIONS_ID_TOKEN_REQUEST_URL (it already has a query)."""
        return f"{self.url}{TOKEN_PATH}?api-version=2.0"

    def fault(self, path: str, reply: Reply) -> None:
        with self._lock:
            self.faults.setdefault(path, []).append(reply)

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            queued = self.faults.get(seen.path) or []
            if queued:
                return queued.pop(0)
        if seen.path == TOKEN_PATH and seen.method == "GET":
            if seen.headers.get("authorization", "").lower() != f"bearer {self.request_token}".lower():
                return Reply(401, b'{"message":"bad request token"}', {"Content-Type": "application/json"})
            token = job_token(seen.query.get("audience", ""), self.workflow_ref)
            with self._lock:
                self.issued.append(token)
            body = json.dumps({"count": 1, "value": token}).encode()
            return Reply(200, body, {"Content-Type": "application/json"})
        if seen.path == FULCIO_PATH and seen.method == "POST":
            return Reply(503, b'{"code":14,"message":"local Fulcio issues no certificates"}')
        if seen.path == HOOK_PATH and seen.method == "POST":
            return Reply(200, b"{}", {"Content-Type": "application/json"})
        return Reply(404, b"not found")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def sigstore_endpoints(request_token: str, workflow_ref: str) -> Iterator[SigstoreEndpoints]:
    server = SigstoreEndpoints(request_token, workflow_ref)
    try:
        yield server
    finally:
        server.close()


def trust_config_json(fulcio_url: str, rekor_url: str) -> str:
    """A ``ClientTrustConfig`` (sigstore's public trust-config format) whose signing config
    names these services; its trusted root is empty (nothing here gets as far as verifying)."""
    since = {"start": "2020-01-01T00:00:00Z"}
    service = {"majorApiVersion": 1, "validFor": since, "operator": "local"}
    return json.dumps(
        {
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": {
                "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                "tlogs": [],
                "certificateAuthorities": [],
                "ctlogs": [],
                "timestampAuthorities": [],
            },
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": [{"url": fulcio_url, **service}],
                "oidcUrls": [],
                "rekorTlogUrls": [{"url": rekor_url, **service}],
                "tsaUrls": [],
                "rekorTlogConfig": {"selector": "ANY"},
                "tsaConfig": {"selector": "ANY"},
            },
        }
    )
