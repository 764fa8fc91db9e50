"""docker-registry with real token (Bearer) auth, and the token service it trusts.

The registry validates ES256 JWTs whose ``x5c`` certificate is in its ``rootcertbundle``; the
token service here is the small part a production one (Harbor, GitLab) also has: check Basic
credentials, grant the requested repository actions, sign a short-lived token.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from tests.harness import procs

SERVICE = "gopipe-test-registry"
ISSUER = "gopipe-test-token-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenService:
    username: str
    password: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    cert: x509.Certificate | None = None
    url: str = ""
    requests: list[dict[str, object]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)

    def make_cert(self) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = dt.datetime.now(dt.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return self.cert

    def token(self, subject: str, access: list[dict[str, object]]) -> str:
        assert self.cert is not None
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        token = f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
        self.issued.append(token)
        return token


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        svc: TokenService = self.server.service  # type: ignore[attr-defined]
        query = parse_qs(urlsplit(self.path).query)
        auth = self.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            name, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if (name, pw) != (svc.username, svc.password):
                self._send(401, {"details": "invalid credentials"})
                svc.requests.append({"query": query, "ok": False})
                return
            user = name
        access: list[dict[str, object]] = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            repo, _, actions = rest.rpartition(":")
            if kind == "repository" and user is not None:
                access.append({"type": kind, "name": repo, "actions": actions.split(",")})
        svc.requests.append({"query": query, "ok": True, "user": user})
        token = svc.token(user or "", access)
        self._send(200, {"token": token, "access_token": token, "expires_in": 300})

    def _send(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@dataclass(frozen=True)
class TokenRegistry:
    host: str
    service: TokenService


@contextlib.contextmanager
def start_token_registry() -> Iterator[TokenRegistry]:
    tmp = Path(tempfile.mkdtemp(prefix="gopipe-token-registry-"))
    svc = TokenService("gopipe", secrets.token_urlsafe(16))
    cert = svc.make_cert()
    bundle = tmp / "token.crt"
    bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.service = svc  # type: ignore[attr-defined]
    svc.url = f"http://127.0.0.1:{server.server_address[1]}/token"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{procs.free_port()}"
    config = {
        "version": "0.1",
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(tmp / "storage")}},
        # relativeurls: upload Locations are relative, exercising that client path too
        "http": {"addr": host, "secret": secrets.token_hex(16), "relativeurls": True},
        "auth": {
            "token": {
                "realm": svc.url,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(bundle),
            }
        },
    }
    cfg = tmp / "config.yml"
    cfg.write_text(json.dumps(config))
    binary = procs.require_binary("docker-registry", "docker-registry")
    try:
        with procs.running(
            [binary, "serve", str(cfg)],
            log=tmp / "registry.log",
            what=f"token-auth docker-registry on {host}",
            ready=procs.http_check(f"http://{host}/v2/", statuses=(401,)),
        ):
            yield TokenRegistry(host, svc)
    finally:
        server.shutdown()
        server.server_close()
        procs.rmtree(tmp)
