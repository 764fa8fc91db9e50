"""How gopipe reaches an OCI registry: options shared by ``oci-image`` (base pulls) and uploaders.

One set of option names (``registry``, ``username``, ``password``, ``ca_file``, ``insecure``,
``retry``, ``timeout``) means the same thing in every provider that talks to a registry, so a
pipeline can move between ``registry``, ``harbor`` and ``ecr`` by changing ``providers`` only.

Values that differ per machine but are not secret (the registry address, a CA file) may be
written as ``{ env = "NAME" }`` (:class:`FromEnv`), read when the stage runs; the config
template engine has no ``{env:...}`` syntax on purpose (templates must be reproducible from git).
Passwords are :class:`~gopipe.secrets.Secret` references and never plain strings.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError, StageFailed
from gopipe.secrets import Secret
from gopipe_oci import RetryPolicy
from gopipe_oci.reference import is_loopback

if TYPE_CHECKING:  # the client loads when a provider connects, not when options are read
    from gopipe_oci import Credentials, RegistryClient

CONFIG_FILE = "pyproject.toml"


@dataclass(frozen=True)
class FromEnv:
    """A non-secret value taken from the environment when the stage runs."""

    env: str = doc("environment variable to read")
    default: str = doc("value when the variable is unset or empty", "")


Value = str | FromEnv


def resolve(ctx: ProviderContext[Any], value: Value | None, key: str, *, required: bool = False) -> str:
    """The string behind an option that may be ``{ env = "NAME" }``; fails clearly if required."""
    if value is None:
        text, source = "", ""
    elif isinstance(value, FromEnv):
        text = ctx.env.get(value.env, "") or value.default
        source = f" (environment variable {value.env} is not set)"
    else:
        text, source = value, ""
    if required and not text:
        raise StageFailed(
            f"{option_key(ctx, key)} is empty{source}",
            details=f'set {key} = "host:port" or {key} = {{ env = "NAME" }}',
        )
    return text


def option_key(ctx: ProviderContext[Any], key: str) -> str:
    return f"tool.gopipe.{ctx.stage}.{ctx.provider}.{key}"


@dataclass(frozen=True)
class ConnectionOptions:
    """TLS and retry settings for any registry connection."""

    CONFIG_KEY: ClassVar[str] = ""  # e.g. "tool.gopipe.upload.registry", for config errors

    ca_file: Value | None = doc(
        "PEM CA bundle trusted in addition to the system store (relative to the repository)", None
    )
    insecure: bool = doc("skip TLS verification / allow plain HTTP; loopback registries only", False)
    retry: RetryPolicy = doc(
        "retries of 5xx, 429, dropped connections and timeouts", default_factory=RetryPolicy
    )
    timeout: float = doc("socket timeout per request, seconds", 60.0)


@dataclass(frozen=True)
class Login(ConnectionOptions):
    """Who to log in as; without both, ``~/.docker/config.json`` (``$DOCKER_CONFIG``) is used."""

    username: Value | None = doc("user name (default: ~/.docker/config.json for the host)", None)
    password: Secret | None = doc('password or token: { env = "NAME" } or { file = "path" }', None)


@dataclass(frozen=True)
class RegistryAccess(Login):
    """Where a registry is and who to log in as."""

    registry: Value = doc('registry host[:port], or { env = "NAME" }', "")

    def __post_init__(self) -> None:
        if self.insecure and isinstance(self.registry, str) and self.registry:
            check_insecure_host(self.registry, self.CONFIG_KEY)


def check_insecure_host(host: str, config_key: str = "") -> None:
    """``insecure = true`` only makes sense for a registry on this machine."""
    if not is_loopback(host):
        key = f"{config_key}.insecure" if config_key else "insecure"
        raise ConfigError(
            CONFIG_FILE,
            key,
            f"insecure = true is only allowed for loopback registries, not {host}",
            "remove insecure and set ca_file to the registry's CA certificate",
        )


def credentials(ctx: ProviderContext[Any], opts: Login) -> Credentials | None:
    """Explicit credentials, or ``None`` to fall back to the Docker config for the host."""
    user = resolve(ctx, opts.username, "username")
    if opts.password is None:
        if user:
            raise StageFailed(
                f"{option_key(ctx, 'username')} is set but password is not",
                details='add password = { env = "REGISTRY_PASSWORD" }',
            )
        return None
    try:
        secret = opts.password.reveal()
    except LookupError as exc:
        raise StageFailed(f"{option_key(ctx, 'password')}: {exc}") from None
    if not user:
        raise StageFailed(f"{option_key(ctx, 'password')} is set but username is not")
    from gopipe_oci import Credentials

    return Credentials(user, secret)


def connect(
    ctx: ProviderContext[Any], opts: ConnectionOptions, host: str, creds: Credentials | None
) -> RegistryClient:
    """A client for *host* with the provider's TLS, retry and redaction settings; in a snapshot
    (``snapshot_uploads = "loopback"``) only for a registry on this machine."""
    if ctx.args.snapshot and not is_loopback(host):
        raise StageFailed(
            f"snapshot: {host} is not on this machine; a snapshot uploads only to loopback "
            "registries (tool.gopipe.publish.snapshot_uploads)"
        )
    if opts.insecure:
        try:
            check_insecure_host(host, f"tool.gopipe.{ctx.stage}.{ctx.provider}")
        except ConfigError as exc:
            raise StageFailed(str(exc)) from None
    ca = resolve(ctx, opts.ca_file, "ca_file")
    ca_path = None
    if ca:
        ca_path = (ctx.root / ca).expanduser()
        if not ca_path.is_file():
            raise StageFailed(f"{option_key(ctx, 'ca_file')}: {ca_path} does not exist")
    from gopipe_oci import RegistryClient

    return RegistryClient(
        host,
        credentials=creds,
        use_docker_config=creds is None,
        insecure=opts.insecure,
        ca_file=ca_path,
        retry=opts.retry,
        timeout=opts.timeout,
        redact=ctx.redact,
    )


def register_tokens(ctx: ProviderContext[Any], client: RegistryClient) -> None:
    """Mask bearer tokens the client got from a registry's token service (derived secrets)."""
    for token in list(getattr(client.auth, "_tokens", {}).values()):
        value = getattr(token, "value", "")
        if isinstance(value, str) and value:
            ctx.add_secret(value)


class _ThreadHandler(logging.Handler):
    """Sends the OCI library's log records of one thread (one provider) to its stage log."""

    def __init__(self, ctx: ProviderContext[Any]) -> None:
        super().__init__(logging.INFO)
        self.ctx = ctx
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.ctx.log(self.ctx.redact(record.getMessage()))


@contextlib.contextmanager
def library_logs(ctx: ProviderContext[Any]) -> Iterator[None]:
    """Show retries and other notes from :mod:`gopipe_oci` in this provider's log."""
    logger = logging.getLogger("gopipe_oci")
    handler = _ThreadHandler(ctx)
    old_level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
