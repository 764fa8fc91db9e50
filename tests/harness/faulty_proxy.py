"""A fault-injecting HTTP reverse proxy in front of a test registry.

Retry and timeout logic can only be trusted if it has seen real failures, so
this proxy forwards every request to a real registry except those matched by
a rule, which get a 5xx answer, a dropped connection, or a delay.  It counts
requests by (method, path) so tests can assert that retries happened.

The proxy always speaks plain HTTP to its client.  When the backend is the
TLS+auth `registry`, the proxy talks TLS to it (trusting `ca_cert`) and passes
the client's `Authorization` header through, so clients of the front see a
plain-HTTP registry that still demands the backend's credentials.  Request
and response bodies are streamed (Content-Length or chunked), the Host header
is set to the backend, and absolute `Location` headers pointing at the
backend are rewritten to point at the proxy so blob uploads (POST, PATCH,
PUT) keep going through it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import pytest
from tests.harness.registry import Registry

Action = Literal["status", "drop", "delay"]

# Headers that describe one hop, not the message (RFC 9110 section 7.6.1) plus
# the ones the proxy recomputes itself.
_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "host",
    "content-length",
}
_BLOCK = 64 * 1024


@dataclass
class Rule:
    """Inject `action` into the first `times` requests matching method and path regex."""

    action: Action
    method: str | None = None  # None matches every method
    path: str = ".*"  # regex searched in the request path (query excluded)
    times: int | None = 1  # None: forever
    status: int = 500
    seconds: float = 0.0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return re.search(self.path, path) is not None


@dataclass
class FaultyProxy:
    """Reverse proxy state: rules to apply and what was seen."""

    backend_url: str
    ca_cert: Path | None = None
    host: str = ""  # "127.0.0.1:PORT", set by start()
    rules: list[Rule] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    injected: list[tuple[Action, str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _conns: set[socket.socket] = field(default_factory=set, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # -- rules ---------------------------------------------------------------
    def fail(self, status: int = 500, *, method: str | None = None, path: str = ".*", times: int = 1) -> Rule:
        """Answer the first `times` matching requests with `status` (e.g. 500, 503)."""
        return self._add(Rule("status", method, path, times, status=status))

    def drop(self, *, method: str | None = None, path: str = ".*", times: int = 1) -> Rule:
        """Close the connection without any response for the first `times` matches."""
        return self._add(Rule("drop", method, path, times))

    def delay(self, seconds: float, *, method: str | None = None, path: str = ".*", times: int = 1) -> Rule:
        """Sleep `seconds` before forwarding the first `times` matches."""
        return self._add(Rule("delay", method, path, times, seconds=seconds))

    def clear(self) -> None:
        """Forget rules and counters."""
        with self._lock:
            self.rules.clear()
            self.requests.clear()
            self.injected.clear()

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    # -- counters ------------------------------------------------------------
    @property
    def counts(self) -> Counter[tuple[str, str]]:
        """Requests seen, keyed by (method, path)."""
        with self._lock:
            return Counter(self.requests)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests seen with `method` (any if None) whose path matches regex `path`."""
        with self._lock:
            return sum(
                1
                for m, p in self.requests
                if (method is None or m == method.upper()) and (path is None or re.search(path, p))
            )

    def _match(self, method: str, path: str) -> Rule | None:
        with self._lock:
            self.requests.append((method, path))
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.fired += 1
                    self.injected.append((rule.action, method, path))
                    return rule
        return None

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.proxy = self  # type: ignore[attr-defined]
        self._server = server
        self.host = f"127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, name=f"faulty-proxy-{self.host}", daemon=True).start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # keep-alive clients would otherwise keep being served
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server = None

    def backend_connection(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.backend_url)
        assert parts.hostname is not None and parts.port is not None
        if parts.scheme == "https":
            ctx = ssl.create_default_context(cafile=str(self.ca_cert) if self.ca_cert else None)
            return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=120, context=ctx)
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gopipe-faulty-proxy"

    @property
    def proxy(self) -> FaultyProxy:
        return self.server.proxy  # type: ignore[attr-defined,no-any-return]

    def setup(self) -> None:
        super().setup()
        with self.proxy._lock:
            self.proxy._conns.add(self.connection)

    def finish(self) -> None:
        with self.proxy._lock:
            self.proxy._conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request stderr logging; the proxy keeps its own counters."""

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_PUT = do_PATCH = do_POST = do_DELETE = do_OPTIONS = do_GET

    def _body(self) -> Iterator[bytes]:
        """Stream the request body, decoding chunked transfer encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                while size > 0:
                    data = self.rfile.read(min(size, _BLOCK))
                    if not data:
                        raise ConnectionError("client closed mid-chunk")
                    size -= len(data)
                    yield data
                self.rfile.readline(1024)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                data = self.rfile.read(min(left, _BLOCK))
                if not data:
                    raise ConnectionError("client closed mid-body")
                left -= len(data)
                yield data

    def _handle(self) -> None:
        path = urlsplit(self.path).path
        rule = self.proxy._match(self.command, path)
        try:
            if rule is not None and rule.action == "delay":
                time.sleep(rule.seconds)
            elif rule is not None:
                for _ in self._body():
                    pass
                if rule.action == "drop":
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._inject_status(rule.status)
                return
            self._forward()
        except (OSError, http.client.HTTPException):
            self.close_connection = True

    def _inject_status(self, status: int) -> None:
        body = json.dumps(
            {"errors": [{"code": "UNAVAILABLE", "message": "injected by faulty_proxy"}]}
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self) -> None:
        proxy = self.proxy
        backend = proxy.backend_connection()
        try:
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            backend.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP:
                    backend.putheader(name, value)
            backend.putheader("Host", urlsplit(proxy.backend_url).netloc)
            if chunked:
                backend.putheader("Transfer-Encoding", "chunked")
            elif self.headers.get("Content-Length") is not None:
                backend.putheader("Content-Length", self.headers["Content-Length"])
            backend.endheaders()
            for data in self._body():
                backend.send(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)
            if chunked:
                backend.send(b"0\r\n\r\n")
            resp = backend.getresponse()
            self._relay(resp)
        finally:
            backend.close()

    def _relay(self, resp: http.client.HTTPResponse) -> None:
        proxy = self.proxy
        self.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() in _HOP:
                continue
            if name.lower() == "location" and value.startswith(proxy.backend_url):
                value = proxy.url + value[len(proxy.backend_url) :]
            self.send_header(name, value)
        length = resp.getheader("Content-Length")
        no_body = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
        if length is not None:
            self.send_header("Content-Length", length)
        elif not no_body:
            self.send_header("Transfer-Encoding", "chunked")
        if resp.getheader("Connection", "").lower() == "close":
            self.close_connection = True
        self.end_headers()
        if no_body:
            return
        while data := resp.read(_BLOCK):
            self.wfile.write(data if length is not None else b"%x\r\n%b\r\n" % (len(data), data))
        if length is None:
            self.wfile.write(b"0\r\n\r\n")


@contextlib.contextmanager
def start_faulty_proxy(backend: Registry) -> Iterator[FaultyProxy]:
    """Run a FaultyProxy in front of `backend` in a background thread."""
    proxy = FaultyProxy(backend_url=backend.url, ca_cert=backend.ca_cert)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@dataclass(frozen=True)
class FaultyRegistry:
    """A registry reachable only through a FaultyProxy."""

    front: Registry  # plain-HTTP view through the proxy (backend's credentials, no CA)
    backend: Registry  # the real registry behind it
    proxy: FaultyProxy

    @property
    def host(self) -> str:
        return self.front.host

    @property
    def url(self) -> str:
        return self.front.url

    def env(self) -> dict[str, str]:
        return self.front.env()


@pytest.fixture(params=["plain", "tls-auth"])
def faulty_registry(request: pytest.FixtureRequest) -> Iterator[FaultyRegistry]:
    """FaultyProxy in front of `plain_registry` and, as a second param, `registry`."""
    name = "plain_registry" if request.param == "plain" else "registry"
    backend: Registry = request.getfixturevalue(name)
    with start_faulty_proxy(backend) as proxy:
        front = Registry(
            host=proxy.host,
            username=backend.username,
            password=backend.password,
            ca_cert=None,
            root=backend.root,
        )
        yield FaultyRegistry(front=front, backend=backend, proxy=proxy)
