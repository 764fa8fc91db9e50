"""A local HTTP server that plays one chat service for the notifier tests.

Chat services cannot be reached from the test machine, so each one is replaced by this
server and a *service* function (see ``services.py``) that checks a request the way the
documented service does (path, token, JSON shape, size limits, signatures) and answers
with the documented success or error body. Tests can queue canned answers (HTTP 500, a
rate-limit code, a dropped connection) that are served before the service's own answer.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    """One request as the receiver saw it, byte for byte."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    raw_url: str

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lower), None)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering

    @staticmethod
    def json(data: object, status: int = 200, **headers: str) -> Reply:
        return Reply(status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers})

    @staticmethod
    def text(text: str, status: int = 200, **headers: str) -> Reply:
        return Reply(status, text.encode(), {"Content-Type": "text/plain", **headers})


Service = Callable[[Request], Reply]


class Receiver:
    """Serves ``service`` on 127.0.0.1; records every request, problems and all."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.requests: list[Request] = []
        self.replies: list[Reply] = []  # what was answered, in order
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            do_PUT = do_POST
            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # shutdown() waits for the next poll: the default 0.5 s, paid by every notify test, adds up
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with these, before the service answers again."""
        with self._lock:
            self._queue.extend(replies)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(h.path)
        request = Request(
            method=h.command,
            path=split.path,
            query=dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True)),
            headers=dict(h.headers.items()),
            body=body,
            raw_url=h.path,
        )
        with self._lock:
            self.requests.append(request)
            queued = self._queue.pop(0) if self._queue else None
        reply = queued or self.service(request)
        with self._lock:
            self.replies.append(reply)
        if reply.drop:
            h.close_connection = True
            h.connection.close()
            return
        h.send_response(reply.status)
        for name, value in reply.headers.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(reply.body)))
        h.end_headers()
        h.wfile.write(reply.body)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies(self) -> Iterator[Any]:
        for r in self.requests:
            yield r.json()
