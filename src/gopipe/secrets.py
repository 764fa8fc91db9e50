"""One ``Secret`` type for every token, and one ``Redactor`` that every output goes through.

Secrets are referenced from config as ``{ env = "NAME" }`` or ``{ file = "path" }``. Every
reference in ``[tool.gopipe]`` is registered with the run's redactor as soon as the config is
parsed (:func:`register_config_secrets`), whether or not its stage runs, so a test that dumps
its environment is masked too; a missing value is an error only when a provider needs it.
The redactor masks console lines, logs, events, the report, notifications and exception
text. What exactly it masks is listed in docs/security.md ("Secrets").
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import stat
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gopipe.errors import ConfigError

MASK = "***"

# A secret shorter than this is refused in config and ignored from the environment: masking
# "test" or "1234" would garble every line that happens to contain it.
MIN_SECRET_LEN = 6
# ``{ file = … }`` secrets larger than this are refused: a secret is a token or a key, and a
# bound keeps /dev/zero or a runaway file from filling memory.
MAX_SECRET_FILE_BYTES = 64 * 1024

_TOKEN_LINE = re.compile(r"[A-Za-z0-9+/=_\-.:]{16,}")
_SECRET_YAML_LINE = re.compile(
    r"^\s*[\w-]*(?:token|secret|password|passwd|key|credential)[\w-]*:\s*[\"']?(?P<value>[^\s\"']{8,})[\"']?\s*$",
    re.IGNORECASE | re.MULTILINE,
)

# Environment variables whose values are treated as secrets even if no config names them.
_SECRET_ENV_NAME = re.compile(
    r"(TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE_KEY|ACCESS_KEY|API_KEY|WEBHOOK|CREDENTIAL|KUBECONFIG_DATA)",
    re.IGNORECASE,
)
# Values of such variables that are settings, not secrets (GITHUB_TOKEN_PERMISSIONS=read …).
_NOT_SECRET_VALUES = frozenset(
    {
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "none",
        "null",
        "nil",
        "unset",
        "enable",
        "enabled",
        "disable",
        "disabled",
        "default",
        "required",
        "optional",
        "always",
        "never",
        "secret",
        "secrets",
        "password",
        "token",
        "changeme",
        "example",
        "testing",
        "redacted",
        "masked",
        "placeholder",
        "inherit",
    }
)

# -- token-bearing text, masked by shape ---------------------------------------------------
# Parameter names whose value is a credential wherever ``name=value`` or ``"name": "value"``
# appears (URL queries, form bodies, command lines, JSON, log lines).
TOKEN_PARAMS = (
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "private_token",
    "job_token",
    "client_secret",
    "api_key",
    "apikey",
    "api-key",
    "secret_key",
    "access_key_secret",
    "password",
    "passwd",
    "token",
    "secret",
    "signature",
    "credential",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "X-Goog-Signature",
    "X-Goog-Credential",
)
# Names too common as words to mask everywhere: masked as URL query parameters only
# (``?key=`` is how WeCom and Google webhooks carry their key).
QUERY_TOKEN_PARAMS = ("key", "sig", "sign", "auth")
# HTTP headers whose whole value is a credential.
TOKEN_HEADERS = (
    "Authorization",
    "Proxy-Authorization",
    "Private-Token",
    "Job-Token",
    "X-Api-Key",
    "X-Auth-Token",
    "X-Gitlab-Token",
    "X-Amz-Security-Token",
    "Cookie",
    "Set-Cookie",
)


def _names(names: Sequence[str]) -> str:
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


# ``scheme://userinfo@``: everything up to the last "@" of the authority (a password may
# contain "@"; a token may be the user name alone).
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s\"'<>\\]*@")
_TEXT_PARAM = re.compile(
    rf"(?P<name>(?<!\w)(?:{_names(TOKEN_PARAMS)})=)[^&\s\"'<>]+",
    re.IGNORECASE,
)
_QUERY_PARAM = re.compile(rf"(?P<name>[?&](?:{_names(QUERY_TOKEN_PARAMS)})=)[^&\s\"'<>#]+", re.IGNORECASE)
_JSON_PARAM = re.compile(
    rf"(?P<name>\"(?:{_names((*TOKEN_PARAMS, *TOKEN_HEADERS))})\"\s*:\s*\")(?:[^\"\\]|\\.)*(?=\")",
    re.IGNORECASE,
)
_HEADER = re.compile(rf"(?P<name>\b(?:{_names(TOKEN_HEADERS)}):[ \t]*)[^\r\n]+", re.IGNORECASE)
_SLACK_HOOK = re.compile(r"(?P<name>hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+")
_SHAPES = (_URL_USERINFO, _HEADER, _JSON_PARAM, _TEXT_PARAM, _QUERY_PARAM, _SLACK_HOOK)


class Redactor:
    """Masks every known secret value and token-bearing text in text. Thread-safe."""

    def __init__(self, on_new_secret: Callable[[str], None] | None = None) -> None:
        self._values: set[str] = set()
        self._flexible: dict[str, int] = {}  # percent-encoding-tolerant patterns → match length
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self._on_new_secret = on_new_secret

    def add(self, value: str, *, announce: bool = True) -> None:
        """Register a secret value (and its encodings) to be masked from now on.

        Values shorter than :data:`MIN_SECRET_LEN` are ignored here; config references are
        refused earlier (:meth:`Secret.check`). ``announce`` tells the callback
        (``::add-mask::`` in GitHub Actions) about values derived at run time; values that
        came from the environment are masked there already.
        """
        if len(value.strip()) < MIN_SECRET_LEN:
            return
        variants = {value, value.strip()}
        # Lines of a multi-line secret (a PEM body, a key file) leak one at a time in logs;
        # only token-like lines count, so "apiVersion: v1" in a kubeconfig stays readable.
        variants |= {line.strip() for line in value.splitlines() if _TOKEN_LINE.fullmatch(line.strip())}
        # ... and so do the values of "token: …" lines (kubeconfigs, YAML credential files).
        variants |= {m["value"] for m in _SECRET_YAML_LINE.finditer(value)}
        for v in (value, value.strip()):
            variants |= _encodings(v)
        variants |= _url_tokens(value)
        flexible = {p: n for v in {value, value.strip()} if (p := _percent_tolerant(v)) for n in [len(v) * 3]}
        with self._lock:
            new = {v for v in variants if len(v) >= MIN_SECRET_LEN and v not in self._values}
            if not new:
                return
            self._values |= new
            self._flexible |= flexible
            ordered = sorted(
                [*((re.escape(v), len(v)) for v in self._values), *self._flexible.items()],
                key=lambda item: item[1],
                reverse=True,
            )
            self._pattern = re.compile("|".join(p for p, _ in ordered))
        if self._on_new_secret is not None and announce:
            for v in sorted(new):
                self._on_new_secret(v)

    def add_from_environ(self, environ: Mapping[str, str]) -> None:
        """Mask values of environment variables whose names say they are secret.

        These are guesses, not references, so nothing is refused: values shorter than
        :data:`MIN_SECRET_LEN`, setting words (``true``, ``disabled``, ``changeme`` …),
        plain numbers and file paths are skipped instead of garbling every line.
        """
        for name, value in environ.items():
            if _SECRET_ENV_NAME.search(name) and _worth_masking(value):
                self.add(value, announce=False)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        text = _URL_USERINFO.sub(rf"\g<scheme>{MASK}@", text)
        for shape in _SHAPES[1:]:
            text = shape.sub(rf"\g<name>{MASK}", text)
        return text

    def clip(self, text: str, limit: int, *, tail: bool = False, marker: str = "…") -> str:
        """Mask, then cut to ``limit`` characters (the end with ``tail``).

        Masking first is the point: a cut before masking can leave a secret's prefix that
        no longer matches the whole secret.
        """
        return _cut(self(text), limit, tail=tail, marker=marker)

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


def _worth_masking(value: str) -> bool:
    text = value.strip()
    if len(text) < MIN_SECRET_LEN or text.lower() in _NOT_SECRET_VALUES:
        return False
    if text.isdigit() and len(text) < 10:  # ports, TTLs, ids
        return False
    return not re.fullmatch(r"~?/[\w./-]*", text)  # a path to a credentials file, not the secret


def _encodings(value: str) -> set[str]:
    """How a value looks inside JSON strings, XML/HTML text, URLs and base64."""
    return {
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value),
        html.escape(value, quote=False),
        html.escape(value, quote=False).replace('"', "&quot;"),  # ElementTree attributes
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        *_base64_forms(value),
    }


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _percent_tolerant(value: str) -> str | None:
    """A pattern matching ``value`` with any of its reserved characters percent-encoded
    (upper or lower case hex) or, for a space, written as "+": every URL encoder escapes
    a different set (Python's quote keeps "/", Go's PathEscape keeps "@+=", JavaScript's
    encodeURIComponent keeps "!'()*"). None when nothing in the value would be escaped."""
    if all(c in _UNRESERVED for c in value):
        return None
    parts = []
    for c in value:
        if c in _UNRESERVED:
            parts.append(re.escape(c))
            continue
        encoded = "".join(
            "%" + "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{b:02X}") for b in c.encode()
        )
        parts.append(f"(?:{re.escape(c)}|{encoded}{'|[+]' if c == ' ' else ''})")
    return "".join(parts)


def _base64_forms(value: str) -> set[str]:
    """Standard and URL-safe base64 of the value, padded and not, and the characters of its
    encoding that depend on its bytes alone wherever it sits inside a longer base64 text
    (an HTTP basic-auth ``user:secret``, a Docker ``auths`` entry): one run per offset
    modulo 3. Only the one or two characters that mix in a neighbour's bits stay visible."""
    data = value.encode("utf-8")
    bits = 8 * len(data)
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(data).decode("ascii")
        forms |= {whole, whole.rstrip("=")}
        for offset in range(3):  # bytes before the value in its 3-byte group
            start = 8 * offset
            stream = encode(b"\0" * offset + data + b"\0\0").decode("ascii")
            inner = stream[-(-start // 6) : (start + bits) // 6]
            if len(inner) >= 8:
                forms.add(inner)
    return forms


_URL_TOKEN_PARAMS = frozenset(n.lower() for n in (*TOKEN_PARAMS, *QUERY_TOKEN_PARAMS, "code"))
_TOKEN_SEGMENT = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_.~-]{16,}$")


def _url_tokens(value: str) -> set[str]:
    """The credential parts of a secret URL (query tokens, userinfo, long random path
    segments such as Slack/Feishu hook ids), so they are masked on their own too."""
    if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$", value.strip()):
        return set()
    parts = urllib.parse.urlsplit(value.strip())
    userinfo = parts.netloc.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    found = {password or user} if userinfo else set()
    found |= {v for k, v in urllib.parse.parse_qsl(parts.query) if k.lower() in _URL_TOKEN_PARAMS}
    found |= {seg for seg in parts.path.split("/") if _TOKEN_SEGMENT.match(seg)}
    return {t for t in found if len(t) >= 8}


# -- cutting text without cutting a secret ---------------------------------------------------
def _cut(text: str, limit: int, *, tail: bool, marker: str) -> str:
    if len(text) <= limit:
        return text
    room = max(0, limit - len(marker))
    return marker + text[len(text) - room :] if tail else text[:room] + marker


def clip(text: str, limit: int, *, tail: bool = False, marker: str = "…") -> str:
    """Cut ``text`` to ``limit`` characters where no redactor is at hand (error texts that
    the run's redactor masks later), never inside a word.

    The word the cut would split is dropped whole, so what is left holds either a whole
    token (which the redactor then masks) or none of it. With a redactor, use
    :meth:`Redactor.clip`.
    """
    if len(text) <= limit:
        return text
    room = max(0, limit - len(marker))
    if tail:
        kept = text[len(text) - room :]
        if kept and not kept[0].isspace() and not text[len(text) - room - 1].isspace():
            kept = kept[next((i for i, c in enumerate(kept) if c.isspace()), len(kept)) :]
        return marker + kept.lstrip()
    kept = text[:room]
    if kept and not kept[-1].isspace() and not text[room].isspace():
        kept = kept[: max((i for i, c in enumerate(kept) if c.isspace()), default=-1) + 1]
    return kept.rstrip() + marker


# -- URLs ----------------------------------------------------------------------------------
def safe_url(url: str) -> str:
    """``url`` without userinfo, query and fragment: safe to quote in an error message.

    Parsed with :mod:`urllib.parse` (the password may contain "@", the token may be the user
    name alone, the port may be garbage). The path is kept, so a URL whose path is the
    credential (Slack and Feishu webhooks) must not be quoted at all.
    """
    text = url.strip()
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:  # an unbalanced "[" in the host
        parts = urllib.parse.urlsplit("")
    if parts.scheme and parts.netloc:
        host = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme}://{host}{parts.path}"
    scp = scp_remote(text)
    if scp is not None:
        return f"{scp[0]}:{scp[1]}"
    # Not a URL (a local path, "user:token@host"): drop a query and anything before an "@"
    # that comes before the first "/".
    head, slash, rest = re.split(r"[?#]", text, maxsplit=1)[0].partition("/")
    return head.rpartition("@")[2] + slash + rest


def scp_remote(text: str) -> tuple[str, str] | None:
    """``(host, path)`` of an scp-like git remote (``git@host:org/repo.git``), else None."""
    if "://" in text or text.startswith(("/", ".", "~")):
        return None
    first_slash = text.find("/")
    authority = text if first_slash < 0 else text[:first_slash]
    at = authority.rfind("@")
    host, sep, path = text[at + 1 :].partition(":")
    if not sep or not path or len(host) < 2 or "/" in host or not re.fullmatch(r"[\w.-]+|\[[\w:.]+\]", host):
        return None
    return host, path


def scrub_urls(text: str) -> str:
    """Every URL inside ``text`` replaced by its :func:`safe_url` form (exception texts that
    quote the URL they failed on)."""
    return re.sub(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+", lambda m: safe_url(m.group(0)), text)


# -- secret references -----------------------------------------------------------------------
class SecretValueError(ValueError):
    """A secret's value that gopipe refuses: too short, or a file that is not a small
    regular file. The message names the reference, never the value."""


def read_secret_file(path: Path) -> str | None:
    """The stripped text of a secret file; None when it does not exist.

    Only a regular file of at most :data:`MAX_SECRET_FILE_BYTES` is read: a FIFO, a
    directory, a device (``/dev/zero``) or a file that grows past the bound raises
    :class:`SecretValueError` at once instead of blocking or filling memory.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SecretValueError(f"secret file {path} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SecretValueError(f"secret file {path} is not a regular file ({_file_kind(info.st_mode)})")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SecretValueError(f"secret file {path} cannot be read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)  # it may have been swapped for a FIFO since the stat
        if not stat.S_ISREG(info.st_mode):
            raise SecretValueError(f"secret file {path} is not a regular file ({_file_kind(info.st_mode)})")
        data = b""
        while len(data) <= MAX_SECRET_FILE_BYTES:
            chunk = os.read(fd, MAX_SECRET_FILE_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        raise SecretValueError(f"secret file {path} cannot be read without blocking") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise SecretValueError(f"secret file {path} is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretValueError(f"secret file {path} is not UTF-8 text") from None


def _file_kind(mode: int) -> str:
    kinds = {stat.S_ISDIR: "a directory", stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket"}
    kinds |= {stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device"}
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


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

    @property
    def path(self) -> Path:
        return (self.base / str(self.file)).expanduser()

    def _current(self) -> str | None:
        """The value now, None when unset; :class:`SecretValueError` when refused."""
        value = (os.environ.get(self.env) if self.env else read_secret_file(self.path)) or None
        if value is not None and len(value.strip()) < MIN_SECRET_LEN:
            raise SecretValueError(
                f"secret from {self._source()} is shorter than {MIN_SECRET_LEN} characters, "
                "too short to be masked in logs without garbling them"
            )
        return value

    def _peek(self) -> str | None:
        try:
            return self._current()
        except SecretValueError:
            return None

    def _source(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def check(self, file: str, key: str) -> None:
        """Refuse a value that is set but unusable, as a :class:`ConfigError` naming ``key``:
        shorter than :data:`MIN_SECRET_LEN`, or a file that is not a small regular file."""
        try:
            self._current()
        except SecretValueError as exc:
            fix = (
                f"use a secret of at least {MIN_SECRET_LEN} characters in {self._source()}"
                if "shorter" in str(exc)
                else f"point {key.rsplit('.', 1)[-1]} at a regular file of at most "
                f"{MAX_SECRET_FILE_BYTES // 1024} KiB"
            )
            raise ConfigError(file, key, str(exc), fix) from None

    def describe(self) -> str:
        return f"env:{self.env}" if self.env else f"file:{self.file}"

    def is_set(self) -> bool:
        if self.env:
            return bool(os.environ.get(self.env))
        return bool(self.file) and self.path.is_file()

    def reveal(self) -> str:
        """Return the secret value; raises ``LookupError`` naming the reference if unset
        or refused."""
        try:
            value = self._current()
        except SecretValueError as exc:
            raise LookupError(str(exc)) from None
        if value is None:
            if self.env:
                raise LookupError(f"environment variable {self.env} is not set")
            raise LookupError(f"secret file {self.path} does not exist or is empty")
        if self.redactor is not None:
            self.redactor.add(value)
        return value

    def __str__(self) -> str:
        return f"Secret({self.describe()})"


# -- every reference in the config ---------------------------------------------------------------
ConfigPath = tuple[str | int, ...]
SecretKind = Callable[[ConfigPath], bool | None]


def secret_refs(value: object, path: ConfigPath = ()) -> Iterator[tuple[ConfigPath, Mapping[str, str]]]:
    """Every ``{ env = "NAME" }`` / ``{ file = "path" }`` table inside ``value``, with its
    key path (``("notify", "slack", "webhook")``)."""
    if isinstance(value, Mapping):
        if set(value) in ({"env"}, {"file"}) and all(isinstance(v, str) and v for v in value.values()):
            yield path, value
            return
        for k, v in value.items():
            yield from secret_refs(v, (*path, str(k)))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from secret_refs(v, (*path, i))


def config_key(path: ConfigPath) -> str:
    """``("deploy", "environments", 0, "kubeconfig_secret")`` → the dotted TOML key."""
    key = "tool.gopipe"
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key


def register_config_secrets(
    raw_config: Mapping[str, object],
    redactor: Redactor,
    base: Path,
    *,
    file: str = "pyproject.toml",
    kind: SecretKind | None = None,
) -> None:
    """Register the current value of every secret reference in ``[tool.gopipe]``.

    Called once the config is parsed, before any stage runs, so secrets of stages and
    providers that this run does not select are masked too. ``kind(path)`` says whether the
    option at ``path`` is a :class:`Secret` (True), a plain value that may also be written as
    ``{ env = "NAME" }`` such as a registry host (False, skipped), or unknown (None: a
    provider that is not installed, or no ``kind`` given). Secrets must be at least
    :data:`MIN_SECRET_LEN` characters and files small regular files, else
    :class:`ConfigError` naming the key; an ``{ env }`` of unknown kind is masked the way
    :meth:`Redactor.add_from_environ` masks its guesses, without refusing anything.
    Unset values are skipped: the provider that needs one fails when it runs.
    """
    for path, table in secret_refs(raw_config):
        if table.get("env") and not table.get("file") and table["env"] not in os.environ:
            continue  # nothing to mask whatever its kind: do not import a provider to ask
        what = kind(path) if kind is not None else None
        if what is False:
            continue
        ref = Secret(env=table.get("env"), file=table.get("file"), base=base)
        if what is None and ref.env:
            guess = os.environ.get(ref.env, "")
            if _worth_masking(guess):
                redactor.add(guess)
            continue
        ref.check(file, config_key(path))
        value = ref._peek()
        if value:
            redactor.add(value)


# -- heuristics for plaintext secrets typed into pyproject.toml ----------------------------------
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
