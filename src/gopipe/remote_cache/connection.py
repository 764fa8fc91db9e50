"""One way to reach the cache's store, shared by the stage store, the Go cache program and prune.

A :class:`Connection` is plain data (scheme, host or bucket, repository or prefix, TLS, where
the password is), so the Go cache program, a separate process, can be handed it as JSON
without the secret itself: an OCI password is read from its ``{ env }`` or ``{ file }``
reference in that process too, and S3 credentials always come from the AWS environment.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gopipe.remote_cache.options import CacheOptions, EnvValue, parse_remote
from gopipe.remote_cache.store import (
    EMPTY_CONFIG,
    EMPTY_DIGEST,
    MEDIA_EMPTY,
    MEDIA_MANIFEST,
    Store,
    open_store,
)
from gopipe.secrets import Secret
from gopipe_oci import Credentials, RegistryClient, RetryPolicy

__all__ = [
    "CREATED",
    "EMPTY_CONFIG",
    "EMPTY_DIGEST",
    "MAX_MANIFEST_BYTES",
    "MEDIA_EMPTY",
    "MEDIA_MANIFEST",
    "TITLE",
    "ClientPool",
    "Connection",
]
CREATED = "org.opencontainers.image.created"
TITLE = "org.opencontainers.image.title"
MAX_MANIFEST_BYTES = 1 << 20


@dataclass(frozen=True)
class Connection:
    """Where the cache lives and how to log in, without any secret value.

    For ``s3://`` remotes ``host`` is the bucket and ``repository`` the key prefix.
    """

    host: str
    repository: str
    scheme: str = "oci"  # "oci" or "s3"
    endpoint_url: str = ""
    region: str = ""
    plain_http: bool = False
    insecure: bool = False
    ca_file: str = ""
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    timeout: float = 10.0
    max_attempts: int = 2
    retry_budget: int = 4

    @classmethod
    def from_options(cls, opts: CacheOptions, root: Path, env: Mapping[str, str]) -> Connection:
        remote = parse_remote(opts.remote)
        user = opts.username
        if isinstance(user, EnvValue):
            user = env.get(user.env, "")
        password = opts.password
        return cls(
            host=remote.host,
            repository=remote.repository,
            scheme=remote.scheme,
            endpoint_url=opts.endpoint_url,
            region=opts.region,
            plain_http=remote.plain_http,
            insecure=opts.insecure,
            ca_file=str((root / opts.ca_file).expanduser()) if opts.ca_file else "",
            username=user or "",
            password_env=password.env or "" if password else "",
            password_file=str(password.path) if password and password.file else "",
            timeout=opts.timeout,
            max_attempts=opts.retry.max_attempts,
            retry_budget=opts.retry.budget,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Connection:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)

    @property
    def where(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.host}/{self.repository}".rstrip("/")
        return f"{'oci+http' if self.plain_http else 'oci'}://{self.host}/{self.repository}"

    def store(self, env: Mapping[str, str], redact: Callable[[str], str]) -> Store:
        """The store of this remote (S3 or OCI); LookupError/OciError when it cannot be opened."""
        creds = self.credentials(env) if self.scheme != "s3" else None
        return open_store(asdict(self), env, redact, oci_credentials=creds)

    def credentials(self, env: Mapping[str, str]) -> Credentials | None:
        """The login, or None for the Docker config; raises LookupError if a password is missing."""
        if self.scheme == "s3" or not (self.password_env or self.password_file):
            return None
        if self.password_env:
            secret = Secret(env=self.password_env)
            value = env.get(self.password_env) or secret.reveal()
        else:
            value = Secret(file=self.password_file).reveal()
        return Credentials(self.username, value)

    def client(self, env: Mapping[str, str], redact: Callable[[str], str]) -> RegistryClient:
        creds = self.credentials(env)
        return RegistryClient(
            self.host,
            credentials=creds,
            use_docker_config=creds is None,
            insecure=self.insecure,
            plain_http=self.plain_http,
            ca_file=Path(self.ca_file) if self.ca_file else None,
            retry=RetryPolicy(
                max_attempts=self.max_attempts, budget=self.retry_budget, base_delay=0.2, max_delay=1.0
            ),
            timeout=self.timeout,
            redact=redact,
        )


class ClientPool:
    """One store per thread (a registry client is not thread-safe), all closed together."""

    def __init__(self, connection: Connection, env: Mapping[str, str], redact: Callable[[str], str]) -> None:
        self.connection = connection
        self.env = dict(env)
        self.redact = redact
        self._local = threading.local()
        self._all: list[Store] = []
        self._lock = threading.Lock()

    def get(self) -> Store:
        client: Store | None = getattr(self._local, "client", None)
        if client is None:
            client = self.connection.store(self.env, self.redact)
            self._local.client = client
            with self._lock:
                self._all.append(client)
        return client

    def close(self) -> None:
        with self._lock:
            for client in self._all:
                client.close()
            self._all.clear()
