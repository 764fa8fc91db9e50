"""``[tool.gopipe.cache]``: where the remote cache is, who may write it, how it is reached.

The credential and TLS keys mean what they mean for the upload stage's registries
(``username``, ``password`` as a :class:`~gopipe.secrets.Secret`, ``ca_file``, ``insecure``
for loopback only, ``retry``, ``timeout``), so one registry login serves both. The defaults
differ on purpose: a cache must give up fast, since a miss only costs a rebuild.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gopipe.config import Config, doc, parse_options
from gopipe.errors import ConfigError
from gopipe.secrets import Secret, safe_url
from gopipe_oci import RetryPolicy

KEY = "tool.gopipe.cache"
SCHEMES = ("oci", "oci+http")
WritePolicy = Literal["trusted", "always", "never"]


@dataclass(frozen=True)
class EnvValue:
    """A non-secret value read from the environment when the run starts (a user name)."""

    env: str = doc("environment variable to read")


@dataclass(frozen=True)
class Retention:
    """What ``gopipe cache prune`` keeps."""

    max_age_days: float = doc("delete entries older than this many days", 30.0, minimum=0)
    max_entries: int = doc("keep at most this many stage entries (newest first)", 2000, minimum=0)


@dataclass(frozen=True)
class CacheOptions:
    """The remote cache (``oci://host[:port]/repository``); empty ``remote`` = local cache only."""

    remote: str = doc(
        'OCI repository of the cache, "oci://host[:port]/repo"; "oci+http://" for a loopback '
        "registry without TLS",
        "",
    )
    username: str | EnvValue | None = doc(
        'registry user name, or { env = "NAME" } (default: ~/.docker/config.json for the host)', None
    )
    password: Secret | None = doc('password or token: { env = "NAME" } or { file = "path" }', None)
    ca_file: str = doc("PEM CA bundle trusted in addition to the system store (relative to the repo)", "")
    insecure: bool = doc("skip TLS verification; loopback registries only", False)
    write: WritePolicy = doc(
        "who writes: 'trusted' (pushes to write_refs in CI), 'always', 'never'; pull_request "
        "events never write",
        "trusted",
    )
    write_refs: tuple[str, ...] = doc(
        "refs whose CI runs write (fnmatch patterns of GITHUB_REF); default: the default branch "
        "and every tag",
        (),
    )
    default_branch: str = doc("the default branch; default: from the GitHub event, else 'main'", "")
    go_build_cache: bool = doc("serve Go's build cache from the remote (GOCACHEPROG)", True)
    max_entry_bytes: int = doc(
        "largest file restored from the cache; bigger ones are refused (a miss)", 2 << 30, minimum=1
    )
    timeout: float = doc("socket timeout per request, seconds", 10.0, minimum=0.1)
    retry: RetryPolicy = doc(
        "retries of 5xx, 429 and dropped connections (small: a miss only costs a rebuild)",
        default_factory=lambda: RetryPolicy(max_attempts=2, budget=4, base_delay=0.2, max_delay=1.0),
    )
    retention: Retention = doc("what gopipe cache prune keeps", default_factory=Retention)


@dataclass(frozen=True)
class Remote:
    """A parsed ``remote``: registry host, repository and whether it is plain HTTP."""

    host: str
    repository: str
    plain_http: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{'oci+http' if self.plain_http else 'oci'}://{self.host}/{self.repository}"


def load_cache_options(config: Config) -> CacheOptions:
    """Parse ``[tool.gopipe.cache]`` (defaults when absent); a bad remote is a ConfigError."""
    table = config.raw.get("cache", {})
    shown = config.display_file
    if isinstance(table, Mapping) and isinstance(table.get("remote"), str):
        parse_remote(table["remote"], shown)  # before the generic parser may quote it
    opts = parse_options(CacheOptions, table, file=shown, key=KEY, base=config.root)
    if opts.remote:
        remote = parse_remote(opts.remote, shown)
        if opts.insecure and not is_loopback(remote.host):
            raise ConfigError(
                shown,
                f"{KEY}.insecure",
                f"insecure = true is only allowed for loopback registries, not {remote.host}",
                "remove insecure and set ca_file to the registry's CA certificate",
            )
    if opts.ca_file and not (config.root / opts.ca_file).expanduser().is_file():
        raise ConfigError(shown, f"{KEY}.ca_file", f"{opts.ca_file} is not a file", "point it at a PEM file")
    return opts


def parse_remote(url: str, shown: str = "pyproject.toml") -> Remote:
    """``oci://host[:port]/repo`` → :class:`Remote`; credentials in the URL are refused unseen."""
    key = f"{KEY}.remote"
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port  # raises on a garbage port
    except ValueError:
        raise ConfigError(shown, key, "not a URL", 'write remote = "oci://host[:port]/repository"') from None
    if "@" in parts.netloc:
        raise ConfigError(
            shown,
            key,
            "credentials in the remote URL are refused (they would end up in logs and workflows)",
            'remove them from the URL; set username and password = { env = "NAME" } instead',
        )
    if parts.scheme == "s3":
        raise ConfigError(
            shown, key, "s3:// remotes are not supported yet", 'use an OCI registry: "oci://host/repo"'
        )
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ConfigError(
            shown,
            key,
            f"{safe_url(url)!r} is not an OCI remote",
            'write remote = "oci://host[:port]/repository"',
        )
    repository = parts.path.strip("/")
    if not repository or parts.query or parts.fragment:
        raise ConfigError(
            shown, key, "the remote names no repository", 'write remote = "oci://host[:port]/repository"'
        )
    host = parts.netloc
    plain = parts.scheme == "oci+http"
    if plain and not is_loopback(host):
        raise ConfigError(
            shown,
            key,
            f"plain HTTP is only allowed for loopback registries, not {host}",
            "use oci:// (TLS), with ca_file for a private CA",
        )
    del port
    return Remote(host, repository, plain)


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ``[::1]``, with or without a port."""
    name = host.strip()
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def ca_path(config_root: Path, opts: CacheOptions) -> Path | None:
    return (config_root / opts.ca_file).expanduser() if opts.ca_file else None
