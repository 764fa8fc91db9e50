"""One ``Secret`` type for every token, and one ``Redactor`` that every output goes through.

Secrets are referenced from config as ``{ env = "NAME" }`` or ``{ file = "path" }`` and
resolved lazily, so a secret that a run never uses never has to exist. Every resolved value
is registered with the run's redactor, which masks it in console lines, logs, events, the
report, notifications and exception text.
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

MASK = "***"

_TOKEN_LINE = re.compile(r"[A-Za-z0-9+/=_\-.:]{16,}")
# Values shorter than this are not masked: masking "1" or "ok" would garble every line.
_MIN_SECRET_LEN = 4

# Environment variables whose values are treated as secrets even if no config names them.
_SECRET_ENV_NAME = re.compile(
    r"(TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE_KEY|ACCESS_KEY|API_KEY|WEBHOOK|CREDENTIAL|KUBECONFIG_DATA)",
    re.IGNORECASE,
)
# Tokens carried inside URLs: userinfo, and query parameters that chat bots use as keys.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")
_URL_TOKEN_PARAM = re.compile(
    r"(?P<name>[?&](?:key|token|access_token|sign|secret|signature|sig|X-Amz-Signature|"
    r"X-Amz-Credential|X-Amz-Security-Token)=)[^&\s\"'#]+",
    re.IGNORECASE,
)
_SLACK_HOOK = re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+")
_AUTH_HEADER = re.compile(r"(Authorization:\s*(?:Basic|Bearer)\s+)\S+", re.IGNORECASE)


class Redactor:
    """Masks every known secret value and token-bearing URL part in text. Thread-safe."""

    def __init__(self, on_new_secret: Callable[[str], None] | None = None) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self._on_new_secret = on_new_secret

    def add(self, value: str, *, announce: bool = True) -> None:
        """Register a secret value to be masked from now on.

        ``announce`` tells the callback (``::add-mask::`` in GitHub Actions) about values
        derived at run time; values that came from the environment are masked there already.
        """
        if len(value) < _MIN_SECRET_LEN:
            return
        variants = {value, value.strip()}
        # Lines of a multi-line secret (a PEM body, a key file) leak one at a time in logs;
        # only token-like lines count, so "apiVersion: v1" in a kubeconfig stays readable.
        variants |= {line.strip() for line in value.splitlines() if _TOKEN_LINE.fullmatch(line.strip())}
        variants |= {v for v in _encodings(value) if len(v) >= _MIN_SECRET_LEN}
        variants |= _url_tokens(value)
        with self._lock:
            new = {v for v in variants if v and v not in self._values}
            if not new:
                return
            self._values |= new
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        if self._on_new_secret is not None and announce:
            for v in new:
                self._on_new_secret(v)

    def add_from_environ(self, environ: Mapping[str, str]) -> None:
        """Mask values of environment variables whose names say they are secret."""
        for name, value in environ.items():
            if _SECRET_ENV_NAME.search(name) and value:
                self.add(value, announce=False)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        text = _URL_USERINFO.sub(rf"\g<scheme>{MASK}@", text)
        text = _URL_TOKEN_PARAM.sub(rf"\g<name>{MASK}", text)
        text = _SLACK_HOOK.sub(rf"\g<1>{MASK}", text)
        return _AUTH_HEADER.sub(rf"\g<1>{MASK}", text)

    def redact_obj(self, obj: object) -> object:
        """Mask strings inside JSON-like data (dicts, lists, strings)."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, Mapping):
            return {k: self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, tuple):
            return tuple(self.redact_obj(v) for v in obj)
        if isinstance(obj, list):
            return [self.redact_obj(v) for v in obj]
        return obj


def _encodings(value: str) -> set[str]:
    """How a value looks inside JSON strings, XML/HTML text and URLs."""
    return {
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value),
        html.escape(value, quote=False),
        html.escape(value, quote=False).replace('"', "&quot;"),  # ElementTree attributes
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
    }


_TOKEN_PARAMS = frozenset(
    {
        "key",
        "token",
        "access_token",
        "sig",
        "signature",
        "secret",
        "password",
        "apikey",
        "api_key",
        "auth",
        "code",
    }
)
_TOKEN_SEGMENT = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_.~-]{16,}$")


def _url_tokens(value: str) -> set[str]:
    """The credential parts of a secret URL (query tokens, userinfo password, long random
    path segments such as Slack/Feishu hook ids), so they are masked on their own too."""
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$", value.strip()):
        return set()
    parts = urllib.parse.urlsplit(value.strip())
    found = {parts.password} if parts.password else set()
    found |= {v for k, v in urllib.parse.parse_qsl(parts.query) if k.lower() in _TOKEN_PARAMS}
    found |= {seg for seg in parts.path.split("/") if _TOKEN_SEGMENT.match(seg)}
    return {t for t in found if len(t) >= 8}


@dataclass(frozen=True)
class Secret:
    """A reference to a secret: ``{ env = "NAME" }`` or ``{ file = "path" }``.

    A value that is already there when the reference is parsed is registered with the
    redactor at once; a missing one is an error only when ``reveal()`` is called.
    ``str()`` and ``repr()`` never show it.
    """

    env: str | None = None
    file: str | None = None
    redactor: Redactor | None = field(default=None, compare=False, repr=False)
    base: Path = field(default=Path("."), compare=False, repr=False)

    def __post_init__(self) -> None:
        # Mask early, fail late: a value printed before its first reveal() (a test that
        # dumps its environment, a tool echoing a URL) must already be masked, but a
        # missing value only matters to the provider that needs it.
        if self.redactor is not None:
            value = self._peek()
            if value:
                self.redactor.add(value)

    def _peek(self) -> str | None:
        if self.env:
            return os.environ.get(self.env) or None
        try:
            return (self.base / str(self.file)).expanduser().read_text().strip() or None
        except OSError:
            return None

    def describe(self) -> str:
        return f"env:{self.env}" if self.env else f"file:{self.file}"

    def is_set(self) -> bool:
        if self.env:
            return bool(os.environ.get(self.env))
        return bool(self.file) and (self.base / str(self.file)).expanduser().is_file()

    def reveal(self) -> str:
        """Return the secret value; raises ``LookupError`` naming the reference if unset."""
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise LookupError(f"environment variable {self.env} is not set")
        else:
            path = (self.base / str(self.file)).expanduser()
            try:
                value = path.read_text().strip()
            except OSError as exc:
                raise LookupError(f"secret file {path} cannot be read: {exc.strerror}") from None
        if self.redactor is not None:
            self.redactor.add(value)
        return value

    def __str__(self) -> str:
        return f"Secret({self.describe()})"


# Heuristics for plaintext secrets typed into pyproject.toml.
_PLAINTEXT_SECRET = (
    re.compile(r"[?&](key|token|access_token|secret)=[A-Za-z0-9_\-]{8,}", re.IGNORECASE),
    re.compile(r"hooks\.slack\.com/services/\S+"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
)
_SECRET_KEY_NAME = re.compile(r"(password|passwd|secret|token|api_key|webhook)$", re.IGNORECASE)


def looks_like_plaintext_secret(key: str, value: str) -> bool:
    """True when a config string is probably a secret typed in clear text."""
    if any(p.search(value) for p in _PLAINTEXT_SECRET):
        return True
    return bool(_SECRET_KEY_NAME.search(key)) and len(value) >= 8
