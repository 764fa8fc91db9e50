"""``[tool.gopipe.cache]``: where the remote cache is, who may write it, how it is reached.

The credential and TLS keys mean what they mean for the upload stage's registries
(``username``, ``password`` as a :class:`~gopipe.secrets.Secret`, ``ca_file``, ``insecure``
for loopback only, ``retry``, ``timeout``), so one registry login serves both. The defaults
differ on purpose: a cache must give up fast, since a miss only costs a rebuild.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gopipe.config import Config, doc, parse_options
from gopipe.errors import ConfigError
from gopipe.secrets import Secret, safe_url
from gopipe_oci import RetryPolicy
from gopipe_oci.reference import is_loopback

KEY = "tool.gopipe.cache"
SCHEMES = ("oci", "oci+http", "s3")
# S3 bucket naming rules (docs.aws.amazon.com "Bucket naming rules"), minus the legacy forms
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
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
    """The remote cache (``oci://host[:port]/repository`` or ``s3://bucket/prefix``); empty
    ``remote`` = local cache only."""

    remote: str = doc(
        'where the cache is: an OCI repository "oci://host[:port]/repo" ("oci+http://" for a '
        'loopback registry without TLS) or an S3 bucket "s3://bucket/prefix"',
        "",
    )
    endpoint_url: str = doc(
        "s3:// only: endpoint of an S3-compatible store (MinIO ...), an http(s) URL; plain http "
        "for loopback only (default: AWS, or AWS_ENDPOINT_URL)",
        "",
    )
    region: str = doc("s3:// only: the bucket's region (default: AWS_REGION / AWS_DEFAULT_REGION)", "")
    username: str | EnvValue | None = doc(
        'oci:// only: registry user name, or { env = "NAME" } (default: ~/.docker/config.json for the host)',
        None,
    )
    password: Secret | None = doc(
        'oci:// only: password or token: { env = "NAME" } or { file = "path" }', None
    )
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

    scheme: str = "oci"  # "s3": host is the bucket, repository the key prefix (may be empty)

    def __str__(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.host}/{self.repository}".rstrip("/")
        return f"{'oci+http' if self.plain_http else 'oci'}://{self.host}/{self.repository}"


def load_cache_options(config: Config) -> CacheOptions:
    """Parse ``[tool.gopipe.cache]`` (defaults when absent); a bad remote is a ConfigError."""
    table = config.raw.get("cache", {})
    shown = config.display_file
    if isinstance(table, Mapping) and isinstance(table.get("remote"), str):
        parse_remote(table["remote"], shown)  # before the generic parser may quote it
        if isinstance(table.get("endpoint_url"), str) and table["endpoint_url"]:
            check_endpoint_url(table["endpoint_url"], shown)
    opts = parse_options(CacheOptions, table, file=shown, key=KEY, base=config.root)
    if opts.remote:
        remote = parse_remote(opts.remote, shown)
        if remote.scheme == "s3":
            _check_s3_options(opts, shown)
        elif opts.endpoint_url or opts.region:
            raise ConfigError(
                shown,
                f"{KEY}.{'endpoint_url' if opts.endpoint_url else 'region'}",
                "only s3:// remotes take an endpoint_url or region",
                "remove it, or use an s3://bucket/prefix remote",
            )
        elif opts.insecure and not is_loopback(remote.host):
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
        return _parse_s3(parts, shown)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ConfigError(
            shown,
            key,
            f"{safe_url(url)!r} is not an OCI or S3 remote",
            'write remote = "oci://host[:port]/repository" or "s3://bucket/prefix"',
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


def _parse_s3(parts: urllib.parse.SplitResult, shown: str) -> Remote:
    """``s3://bucket[/prefix]``: a valid bucket name and a prefix of plain path segments."""
    key = f"{KEY}.remote"
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or _is_ip(bucket):
        raise ConfigError(
            shown,
            key,
            f"{bucket[:80]!r} is not an S3 bucket name",
            "bucket names are 3-63 characters of a-z, 0-9, '.' and '-': remote = \"s3://my-bucket/prefix\"",
        )
    if parts.query or parts.fragment or parts.port is not None:
        raise ConfigError(
            shown, key, "an s3:// remote has no port, query or fragment", 'write "s3://bucket/prefix"'
        )
    prefix = parts.path.strip("/")
    segments = prefix.split("/") if prefix else []
    if any(not _PREFIX_PART.fullmatch(seg) or set(seg) <= {"."} for seg in segments) or "//" in parts.path:
        raise ConfigError(
            shown,
            key,
            f"the prefix {prefix[:80]!r} is not plain path segments (no '..', no empty segments)",
            "use letters, digits, '.', '_' and '-' between the slashes",
        )
    return Remote(bucket, "/".join(segments), scheme="s3")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_s3_options(opts: CacheOptions, shown: str) -> None:
    """S3 credentials come from the AWS environment; the endpoint is an http(s) URL."""
    for name in ("username", "password"):
        if getattr(opts, name) is not None:
            raise ConfigError(
                shown,
                f"{KEY}.{name}",
                "s3:// remotes take credentials from the standard AWS environment, not from the config",
                f"remove {name}; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a role for the job",
            )
    if opts.endpoint_url:
        check_endpoint_url(opts.endpoint_url, shown)
    if opts.insecure and not (opts.endpoint_url and is_loopback(_netloc(opts.endpoint_url))):
        raise ConfigError(
            shown,
            f"{KEY}.insecure",
            "insecure = true is only allowed for a loopback endpoint_url",
            "remove insecure and set ca_file to the store's CA certificate",
        )
    if opts.region and not re.fullmatch(r"[a-z0-9-]{2,32}", opts.region):
        raise ConfigError(
            shown, f"{KEY}.region", f"{opts.region[:40]!r} is not an AWS region", 'write e.g. "eu-west-1"'
        )


def _netloc(url: str) -> str:
    try:
        return urllib.parse.urlsplit(url).netloc
    except ValueError:
        return ""


def check_endpoint_url(url: str, shown: str = "pyproject.toml") -> None:
    """``https://host[:port]`` (``http://`` for loopback only); credentials refused unseen."""
    key = f"{KEY}.endpoint_url"
    fix = 'write endpoint_url = "https://minio.internal:9000"'
    try:
        parts = urllib.parse.urlsplit(url.strip())
        _ = parts.port  # raises on a garbage port
    except ValueError:
        raise ConfigError(shown, key, "not a URL", fix) from None
    if "@" in parts.netloc:
        raise ConfigError(
            shown, key, "credentials in endpoint_url are refused", "use the AWS environment instead"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(shown, key, f"{safe_url(url)[:80]!r} is not an http(s) URL", fix)
    if parts.query or parts.fragment or parts.path.strip("/"):
        raise ConfigError(shown, key, "endpoint_url is a bare http(s)://host[:port]", fix)
    if parts.scheme == "http" and not is_loopback(parts.netloc):
        raise ConfigError(
            shown,
            key,
            f"plain HTTP is only allowed for loopback endpoints, not {parts.netloc}",
            "use https://, with ca_file for a private CA",
        )


def ca_path(config_root: Path, opts: CacheOptions) -> Path | None:
    return (config_root / opts.ca_file).expanduser() if opts.ca_file else None
