"""The environment ``examples/hello`` reads for ``gopipe run cd`` (see its pyproject.toml).

The example's upload tables refer to these variables instead of a fixed address because a
demo registry listens on whatever free loopback port it got. Keep the names in sync with
``examples/hello/pyproject.toml`` and docs/upload.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

REGISTRY = "GOPIPE_REGISTRY"
USERNAME = "GOPIPE_REGISTRY_USERNAME"
PASSWORD = "GOPIPE_REGISTRY_PASSWORD"
CA_FILE = "GOPIPE_REGISTRY_CA_FILE"


class RegistryLike(Protocol):
    """What ``tests/harness/registry.py``'s ``Registry`` provides."""

    @property
    def host(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def ca_cert(self) -> Path | None: ...


def demo_env(registry: RegistryLike) -> dict[str, str]:
    """Variables for ``gopipe run cd`` in examples/hello against *registry* (TLS + htpasswd).

    A registry without TLS is not supported by the example's config (it does not set
    ``insecure``); start it with ``start_registry(tmp, tls=True, auth=True)``.
    """
    env = {REGISTRY: registry.host}
    if registry.username is not None and registry.password is not None:
        env[USERNAME] = registry.username
        env[PASSWORD] = registry.password
    if registry.ca_cert is not None:
        env[CA_FILE] = str(Path(registry.ca_cert).resolve())
    return env
