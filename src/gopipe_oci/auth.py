"""Registry credentials and the two auth schemes of the distribution spec.

* ``Basic``: the credentials go on every request once the registry asked for them.
* ``Bearer``: the ``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` challenge is
  answered by fetching a token from *realm* (with the credentials as Basic auth, or
  anonymously) for the repository scope, cached per scope until it expires.

Credentials come from the caller or from ``~/.docker/config.json`` (``$DOCKER_CONFIG``):
``auths.<host>.auth`` (base64 ``user:password``) or ``username``/``password``. Credential
helpers (``credsStore``/``credHelpers``) and ``identitytoken`` are not supported; they are
ignored with a debug log note, so pass credentials explicitly in that case.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from .errors import AuthError, RegistryError
from .transport import TransientError, Transport

log = logging.getLogger(__name__)

_PARAM_RE = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True)
class Credentials:
    """Username and password (or token); the password never shows in ``repr``."""

    username: str
    password: str = field(repr=False)

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Challenge:
    scheme: str
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge:
    """Parse one ``WWW-Authenticate`` value, e.g. ``Bearer realm="...",service="..."``."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM_RE.finditer(rest)
    }
    return Challenge(scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()})


def _config_keys(registry: str) -> list[str]:
    keys = [
        registry,
        f"https://{registry}",
        f"http://{registry}",
        f"https://{registry}/v1/",
        f"https://{registry}/v2/",
    ]
    if registry in ("registry-1.docker.io", "docker.io", "index.docker.io"):
        keys += ["https://index.docker.io/v1/", "index.docker.io", "docker.io"]
    return keys


def docker_config_path() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


def load_docker_credentials(registry: str, config: Path | None = None) -> Credentials | None:
    """Credentials for *registry* from a Docker ``config.json`` (``None`` if absent)."""
    path = config or docker_config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.debug("ignoring unreadable docker config %s", path)
        return None
    if data.get("credsStore") or data.get("credHelpers"):
        log.debug("docker config %s uses credential helpers; they are not supported", path)
    auths = data.get("auths") or {}
    for key in _config_keys(registry):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("identitytoken"):
            log.debug("docker config identitytoken for %s is not supported", registry)
        if entry.get("username") and entry.get("password"):
            return Credentials(str(entry["username"]), str(entry["password"]))
        if entry.get("auth"):
            try:
                user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise AuthError(f"malformed 'auth' entry for {registry} in {path}") from None
            if sep:
                return Credentials(user, password)
    return None


@dataclass
class _Token:
    value: str
    expires: float


class Authenticator:
    """Answers challenges for one registry and produces ``Authorization`` values."""

    def __init__(
        self,
        registry: str,
        credentials: Credentials | None,
        transport: Transport,
        redact: Callable[[str], str],
    ) -> None:
        self.registry = registry
        self.credentials = credentials
        self.transport = transport
        self.redact = redact
        self.challenge: Challenge | None = None
        self._tokens: dict[str, _Token] = {}

    def header(self, repository: str | None, push: bool) -> str | None:
        """The ``Authorization`` value to send now, if any is known to be needed."""
        if self.challenge is None:
            return None
        if self.challenge.scheme == "basic":
            return self.credentials.basic() if self.credentials else None
        if self.challenge.scheme == "bearer":
            for scope in _scopes(repository, push):
                tok = self._tokens.get(scope)
                if tok and tok.expires > time.monotonic():
                    return f"Bearer {tok.value}"
        return None

    def prepare(self, repository: str | None, push: bool) -> None:
        """Fetch a bearer token before a request when the registry's challenge is known."""
        ch = self.challenge
        if ch is not None and ch.scheme == "bearer" and self.header(repository, push) is None:
            params = {k: v for k, v in ch.params.items() if k != "scope"}
            self._fetch_token(Challenge("bearer", params), repository, push)

    def answer(self, header: str | None, repository: str | None, push: bool) -> None:
        """React to a 401: remember the challenge and, for Bearer, fetch a fresh token.

        Raises :class:`AuthError` when a retry cannot help (no challenge, unsupported scheme,
        Basic auth without credentials, or the token service refused).
        """
        if not header:
            raise AuthError(f"{self.registry} answered 401 without a challenge", 401)
        challenge = parse_challenge(header)
        if challenge.scheme not in ("basic", "bearer"):
            raise AuthError(f"{self.registry} asks for unsupported auth scheme {challenge.scheme!r}", 401)
        self.challenge = challenge
        if challenge.scheme == "basic":
            if self.credentials is None:
                raise AuthError(f"{self.registry} requires authentication and no credentials were given", 401)
            return
        self._fetch_token(challenge, repository, push)

    def _fetch_token(self, challenge: Challenge, repository: str | None, push: bool) -> None:
        realm = challenge.params.get("realm", "")
        if urlsplit(realm).scheme not in ("http", "https"):
            raise AuthError(f"{self.registry} sent a bearer challenge without a usable realm", 401)
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        scope = _scopes(repository, push)[0]
        scopes = [s for s in (challenge.params.get("scope", ""), scope if repository else "") if s]
        query += [("scope", s) for s in dict.fromkeys(scopes)]
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        realm_origin = "{0.scheme}://{0.netloc}".format(urlsplit(realm))
        creds = self.credentials

        def auth_header(origin: str) -> str | None:
            return creds.basic() if creds and origin == realm_origin else None

        try:
            resp = self.transport.request("GET", url, {"Accept": "application/json"}, auth_header=auth_header)
        except TransientError as exc:
            raise RegistryError(
                self.redact(f"token request to {realm_origin} failed: {exc.detail}")
            ) from None
        if resp.status in (401, 403):
            raise AuthError(
                self.redact(
                    f"token service {realm_origin} rejected the credentials for {self.registry} "
                    f"(HTTP {resp.status})"
                ),
                resp.status,
            )
        if resp.status != 200:
            raise RegistryError(
                self.redact(f"token service {realm_origin} answered HTTP {resp.status}"),
                resp.status,
            )
        try:
            data = json.loads(resp.body)
            value = str(data.get("token") or data.get("access_token") or "")
            lifetime = float(data.get("expires_in") or 60)
        except (ValueError, AttributeError):
            raise RegistryError(f"token service {realm_origin} sent an invalid response") from None
        if not value:
            raise RegistryError(f"token service {realm_origin} sent no token")
        self._tokens[scope] = _Token(value, time.monotonic() + max(1.0, lifetime - 10))


def _scopes(repository: str | None, push: bool) -> list[str]:
    """Scopes whose token serves a request, the one to request first."""
    if repository is None:
        return ["registry"]
    rw = f"repository:{repository}:pull,push"
    return [rw] if push else [f"repository:{repository}:pull", rw]
