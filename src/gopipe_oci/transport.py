"""A small HTTP/1.1 client on ``http.client``; the registry client retries on top (:mod:`.retry`).

Why not ``requests``/``urllib``: registry pushes need exact control over which failures are
retried (urllib3 has its own hidden retries), streaming uploads from files with a known
``Content-Length``, redirects that drop ``Authorization`` when the host changes, and full type
information for ``mypy --strict`` without extra stub packages. This is ~150 lines.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urljoin, urlsplit

from .errors import NotTLSError, RegistryError, TooLargeError

USER_AGENT = "gopipe-oci/0.1"
_MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    body_digest: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class TransientError(Exception):
    """A failure worth retrying: a dropped/refused/reset connection or a timeout."""

    detail: str
    status: int | None = None
    retry_after: str | None = None


@dataclass
class Transport:
    """Keeps one keep-alive connection per origin; every failure closes it."""

    #: a context, or a function that makes one on the first HTTPS connection (loading the
    #: system trust store costs ~50 ms, wasted on a plain-HTTP registry)
    ssl_context: ssl.SSLContext | Callable[[], ssl.SSLContext] | None = None
    timeout: float = 60.0
    _conns: dict[tuple[str, str], http.client.HTTPConnection] = field(default_factory=dict)

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        key = (scheme, netloc)
        conn = self._conns.get(key)
        if conn is None:
            if scheme == "https":
                if callable(self.ssl_context):
                    self.ssl_context = self.ssl_context()
                conn = http.client.HTTPSConnection(
                    netloc, timeout=self.timeout, context=self.ssl_context, blocksize=1 << 16
                )
            elif scheme == "http":
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout, blocksize=1 << 16)
            else:
                raise ValueError(f"unsupported URL scheme {scheme!r}")
            self._conns[key] = conn
        return conn

    def _drop(self, key: tuple[str, str]) -> None:
        conn = self._conns.pop(key, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for key in list(self._conns):
            self._drop(key)

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | Path | None = None,
        *,
        sink: IO[bytes] | None = None,
        auth_header: Callable[[str], str | None] | None = None,
        limit: int | None = None,
    ) -> Response:
        """Send one request, following redirects for GET/HEAD.

        With *sink*, a 2xx body is streamed there (and hashed) instead of kept in memory.
        With *limit*, a body longer than that many bytes raises :class:`TooLargeError` (from the
        ``Content-Length`` before reading, or while reading when the server did not say).
        *auth_header* maps an origin to its ``Authorization`` value; it is asked again after
        each redirect so credentials never leak to another host.
        """
        for _ in range(_MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
            auth = auth_header(f"{parts.scheme}://{parts.netloc}") if auth_header else None
            if auth:
                hdrs["Authorization"] = auth
            resp = self._once(method, url, hdrs, body, sink, limit)
            location = resp.header("location")
            if resp.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD") and location:
                url = urljoin(url, location)
                continue
            return resp
        raise RegistryError(f"too many redirects for {method} {_safe(url)}")

    def _once(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | Path | None,
        sink: IO[bytes] | None,
        limit: int | None = None,
    ) -> Response:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn = self._connection(*key)
        # Open local files before the try: a missing blob is not a network failure to retry.
        fh = body.open("rb") if isinstance(body, Path) else None
        try:
            if fh is not None:
                headers["Content-Length"] = str(os.fstat(fh.fileno()).st_size)
                conn.request(method, target, body=fh, headers=headers)
                resp = conn.getresponse()
            else:
                payload = body if isinstance(body, bytes) else None
                if payload is None and method in ("POST", "PUT", "PATCH"):
                    headers.setdefault("Content-Length", "0")
                conn.request(method, target, body=payload, headers=headers)
                resp = conn.getresponse()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            digest = ""
            if limit is not None:
                _check_length(hdrs.get("content-length"), limit, method, url)
            if sink is not None and 200 <= resp.status < 300:
                hasher = hashlib.sha256()
                seen = 0
                while chunk := resp.read(1 << 16):
                    seen += len(chunk)
                    if limit is not None and seen > limit:
                        raise TooLargeError(f"{method} {_safe(url)}: body exceeds {limit} bytes")
                    hasher.update(chunk)
                    sink.write(chunk)
                data, digest = b"", "sha256:" + hasher.hexdigest()
            elif limit is not None:
                data = resp.read(limit + 1)
                if len(data) > limit:
                    raise TooLargeError(f"{method} {_safe(url)}: body exceeds {limit} bytes")
            else:
                data = resp.read()
            if resp.will_close:
                self._drop(key)
        except TooLargeError:
            self._drop(key)  # the rest of the body is never read: the connection is unusable
            raise
        except ssl.SSLCertVerificationError as exc:
            self._drop(key)
            raise RegistryError(
                f"TLS verification failed for {_host(parts.netloc)}: {exc.verify_message}"
            ) from None
        except ssl.SSLError as exc:
            self._drop(key)
            if exc.reason == "WRONG_VERSION_NUMBER":
                raise NotTLSError(f"{_host(parts.netloc)} does not speak TLS (use insecure=True)") from None
            raise TransientError(f"TLS error: {exc.reason or type(exc).__name__}") from None
        except (OSError, http.client.HTTPException) as exc:
            # ConnectionError (reset/refused/aborted/broken pipe), RemoteDisconnected,
            # IncompleteRead, BadStatusLine, socket timeouts.
            self._drop(key)
            kind = "timeout" if isinstance(exc, (TimeoutError, socket.timeout)) else type(exc).__name__
            raise TransientError(f"connection failed ({kind})") from None
        finally:
            if fh is not None:
                fh.close()
        return Response(resp.status, hdrs, data, url, digest)


def _check_length(value: str | None, limit: int, method: str, url: str) -> None:
    try:
        length = int(value) if value is not None else None
    except ValueError:
        length = None
    if length is not None and length > limit:
        raise TooLargeError(f"{method} {_safe(url)}: {length} bytes, more than the limit of {limit}")


def _safe(url: str) -> str:
    """A URL without userinfo and query (upload URLs carry opaque state in the query)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced "[" in a redirect's host
        return "(unparsable URL)"
    if not parts.netloc:
        return "(not a URL)"
    return f"{parts.scheme}://{_host(parts.netloc)}{parts.path}"


def _host(netloc: str) -> str:
    """``host[:port]`` of a netloc, without userinfo (a password may contain "@")."""
    return netloc.rpartition("@")[2]


def make_ssl_context(ca_file: Path | None, insecure: bool) -> ssl.SSLContext:
    if insecure:
        # verifies nothing, so the system trust store is not loaded (that is most of the cost)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    # The extra CA is trusted in addition to the system store (blob GETs may be redirected to
    # storage hosts with public certificates).
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(ca_file))
    return ctx


def lazy_ssl_context(ca_file: Path | None, insecure: bool) -> ssl.SSLContext | Callable[[], ssl.SSLContext]:
    """:func:`make_ssl_context`, deferred to the first HTTPS connection when that cannot fail
    (no CA file to read): a client of a plain-HTTP registry never loads the trust store."""
    if ca_file is not None or insecure:
        return make_ssl_context(ca_file, insecure)
    return lambda: make_ssl_context(None, False)
