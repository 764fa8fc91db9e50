"""A real OCI distribution registry (Debian `docker-registry` 2.8) on 127.0.0.1.

`registry` serves TLS with a throw-away CA and requires htpasswd (bcrypt)
basic auth, like a production registry; `plain_registry` is plain HTTP with no
auth, for tests that only care about the push itself. Both allow manifest
deletion so cleanup/retention code can be tested.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.harness import procs
from tests.harness.tls import make_tls


@dataclass(frozen=True)
class Registry:
    """Where a running registry listens and how to authenticate to it."""

    host: str  # "127.0.0.1:PORT"
    username: str | None
    password: str | None
    ca_cert: Path | None  # PEM of the CA that signed the serving cert; None for plain HTTP
    root: Path  # storage directory

    @property
    def url(self) -> str:
        """Base URL, `https://127.0.0.1:PORT` or `http://127.0.0.1:PORT`."""
        scheme = "https" if self.ca_cert is not None else "http"
        return f"{scheme}://{self.host}"

    def env(self) -> dict[str, str]:
        """Environment variables describing this registry, for subprocesses under test."""
        env = {"REGISTRY_HOST": self.host, "REGISTRY_URL": self.url}
        if self.username is not None and self.password is not None:
            env["REGISTRY_USERNAME"] = self.username
            env["REGISTRY_PASSWORD"] = self.password
        if self.ca_cert is not None:
            env["REGISTRY_CA_CERT"] = str(self.ca_cert)
        return env


def _htpasswd_line(username: str, password: str) -> str:
    """One bcrypt htpasswd entry; low cost because the registry hashes on every request."""
    try:
        import bcrypt
    except ImportError:  # pragma: no cover - environment problem
        pytest.fail(
            f"the bcrypt package is missing: {procs.PIP_HINT} (scripts/deps/pip-test.txt)",
            pytrace=False,
        )
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    return f"{username}:{hashed}\n"


@contextlib.contextmanager
def start_registry(tmp: Path, *, tls: bool, auth: bool) -> Iterator[Registry]:
    """Run `docker-registry serve` with its storage and config under `tmp`.

    Usable outside pytest (benchmarks, demos); the process group is stopped on exit.
    """
    binary = procs.require_binary("docker-registry", "docker-registry")
    tmp.mkdir(parents=True, exist_ok=True)
    root = tmp / "storage"
    root.mkdir(exist_ok=True)

    http: dict[str, object] = {"secret": secrets.token_hex(16)}
    ca_cert: Path | None = None
    context: ssl.SSLContext | None = None
    if tls:
        files = make_tls(tmp / "tls")
        http["tls"] = {"certificate": str(files.cert), "key": str(files.key)}
        ca_cert, context = files.ca_cert, files.client_context()

    config: dict[str, object] = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
        "health": {"storagedriver": {"enabled": False}},
    }
    username = password = None
    if auth:
        username, password = "gopipe", secrets.token_urlsafe(18)
        htpasswd = tmp / "htpasswd"
        htpasswd.write_text(_htpasswd_line(username, password))
        config["auth"] = {"htpasswd": {"realm": "gopipe-test", "path": str(htpasswd)}}

    @contextlib.contextmanager
    def serve(port: int) -> Iterator[Registry]:
        http["addr"] = f"127.0.0.1:{port}"
        # JSON is valid YAML, so no YAML library is needed to write the config.
        cfg = tmp / "config.yml"
        cfg.write_text(json.dumps(config, indent=2))
        registry = Registry(f"127.0.0.1:{port}", username, password, ca_cert, root)
        with procs.running(
            [binary, "serve", str(cfg)],
            log=tmp / "registry.log",
            what=f"docker-registry on {registry.host}",
            # 401 means "up, wants credentials" for the auth variant.
            ready=procs.http_check(f"{registry.url}/v2/", statuses=(200, 401), context=context),
        ):
            yield registry

    with procs.on_free_port(serve) as registry:
        yield registry


@contextlib.contextmanager
def _registry_fixture(prefix: str, *, tls: bool, auth: bool) -> Iterator[Registry]:
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        started = time.monotonic()
        with start_registry(tmp, tls=tls, auth=auth) as reg:
            procs.record_startup(prefix.strip("-"), started)
            yield reg
    finally:
        procs.rmtree(tmp)


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """docker-registry with TLS (self-signed CA in `ca_cert`) and htpasswd auth."""
    with _registry_fixture("gopipe-registry-", tls=True, auth=True) as reg:
        yield reg


@pytest.fixture(scope="session")
def plain_registry() -> Iterator[Registry]:
    """docker-registry over plain HTTP without auth."""
    with _registry_fixture("gopipe-plain-registry-", tls=False, auth=False) as reg:
        yield reg


def drop_referrers_index(host: str, path: str, digest: str) -> None:
    """Delete the referrers tag-schema index of ``digest`` (the ``sha256-<hex>`` tag) from a
    plain-HTTP docker-registry 2.8 (deletes enabled), so a client falls back to cosign's tag
    scheme. The registry deletes manifests by digest only."""
    import urllib.request

    from gopipe_oci import RegistryClient
    from gopipe_oci.referrers import fallback_tag

    with RegistryClient(host, insecure=True, use_docker_config=False) as client:
        listed = client.head_manifest(path, fallback_tag(digest))
    assert listed is not None, f"no referrers index for {digest}"
    url = f"http://{host}/v2/{path}/manifests/{listed}"
    urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10).close()
