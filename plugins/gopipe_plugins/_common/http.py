"""POST with retries: what every webhook notifier (and the Pushgateway pusher) shares.

Transient trouble is retried with exponential backoff: connection errors, timeouts, HTTP
429 and 5xx, and each service's own "slow down" answer (WeCom 45009, DingTalk 130101,
Feishu 11232 …), which arrive as HTTP 200 with an error code in the body — so every
caller passes a ``check`` that reads the body. ``Retry-After`` (or Feishu's
``x-ogw-ratelimit-reset``) is honoured up to ``max_delay``. The policy is the same
:class:`~gopipe_oci.retry.RetryPolicy` the registry clients use, so ``retry = {...}`` means
the same in every provider. Error messages never contain the URL: webhook URLs are credentials.
"""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gopipe.secrets import clip, safe_url
from gopipe_oci.retry import RetryPolicy

USER_AGENT = "gopipe-notify"

# Notify's and the Pushgateway's own retry keys, before every network client shared
# ``retry = { max_attempts, budget, base_delay, max_delay, jitter }`` (see RENAMED_KEYS in
# gopipe.config.options): an old config gets a did-you-mean naming the new key.
RENAMED_RETRY_KEYS: Mapping[str, tuple[str, str]] = {
    "retries": (
        "retry.max_attempts",
        "it counts the first attempt too: retries = N is retry = { max_attempts = N+1 }",
    ),
    "backoff": ("retry.base_delay", "write retry = { base_delay = SECONDS }"),
}


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lower), None)


@dataclass(frozen=True)
class Verdict:
    """What a response means: delivered, worth retrying, or a permanent failure."""

    ok: bool
    retry: bool = False
    reason: str = ""
    delay: float | None = None  # the server's requested wait, when it named one


DELIVERED = Verdict(ok=True)


def retry(reason: str, delay: float | None = None) -> Verdict:
    return Verdict(ok=False, retry=True, reason=reason, delay=delay)


def fail(reason: str) -> Verdict:
    return Verdict(ok=False, retry=False, reason=reason)


def by_status(resp: Response) -> Verdict:
    """Plain HTTP semantics: 2xx delivered, 429/5xx retried (with Retry-After), else failed."""
    if 200 <= resp.status < 300:
        return DELIVERED
    if resp.status == 429 or resp.status >= 500:
        what = "rate limited" if resp.status == 429 else "server error"
        return retry(f"HTTP {resp.status} {what}: {snippet(resp)}", server_delay(resp))
    return fail(f"HTTP {resp.status}: {snippet(resp)}")


def by_errcode(resp: Response, service: str, retry_codes: Mapping[int, str]) -> Verdict:
    """WeCom/DingTalk semantics: on HTTP 200 the JSON ``errcode`` decides (0 delivered,
    rate-limit codes retried, anything else failed); other statuses follow :func:`by_status`."""
    if resp.status != 200:
        return by_status(resp)
    data = resp.json()
    if not isinstance(data, dict) or "errcode" not in data:
        return fail(f"{service} answered HTTP 200 without an errcode: {clip(resp.text, 200)}")
    code, errmsg = data.get("errcode"), clip(str(data.get("errmsg", "")), 200)
    if code == 0:
        return DELIVERED
    if isinstance(code, int) and code in retry_codes:
        return retry(f"{service} errcode {code} ({retry_codes[code]}): {errmsg}")
    return fail(f"{service} errcode {code}: {errmsg}")


def snippet(resp: Response, limit: int = 200) -> str:
    text = " ".join(resp.text.split())
    return clip(text, limit) or "(empty body)"


def server_delay(resp: Response) -> float | None:
    for name in ("Retry-After", "x-ogw-ratelimit-reset"):
        value = resp.header(name)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


class DeliveryError(Exception):
    """Gave up: the message names the service's answer, never the URL."""


@dataclass
class Client:
    """Sends requests for one provider: logs each attempt, waits between retries.

    ``stop`` is the stage's cancel event: a stage timeout or Ctrl-C ends the waiting between
    retries *and* a request in flight (a server that accepts and never answers must not hold
    a cancelled run for ``timeout`` seconds per attempt).
    ``retries`` counts this client's retries against ``policy.budget``.
    """

    what: str
    policy: RetryPolicy
    log: Callable[[str], None]
    timeout: float = 10.0  # seconds per request
    stop: threading.Event = field(default_factory=threading.Event)
    retries: int = 0
    rng: random.Random = field(default_factory=random.Random)
    max_body: int = 0  # bytes of a response read at most (0 = no bound); more is a failure

    def post_json(
        self,
        url: str,
        payload: object,
        *,
        headers: Mapping[str, str] | None = None,
        check: Callable[[Response], Verdict] = by_status,
    ) -> Response:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return self.send(
            "POST",
            url,
            body,
            headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
            check=check,
        )

    def send(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        check: Callable[[Response], Verdict] = by_status,
    ) -> Response:
        """Send until ``check`` says delivered or failed, or the retry policy gives up."""
        total = self.policy.max_attempts
        where = describe(url)
        last, attempt = "no attempt made", 0
        while True:
            attempt += 1
            verdict, resp = self._interruptible(method, url, body, headers or {}, check)
            if verdict is _STOPPED:
                self.log(f"{self.what}: {method} {where} abandoned: the stage was cancelled")
                raise DeliveryError(f"stopped while sending (attempt {attempt}/{total}): {last}")
            if verdict.ok and resp is not None:
                self.log(
                    f"{self.what}: {method} {where} delivered (HTTP {resp.status}, attempt {attempt}/{total})"
                )
                return resp
            last = verdict.reason
            why = self.policy.gives_up(attempt, self.retries) if verdict.retry else None
            if not verdict.retry or why is not None:
                break
            self.retries += 1
            wait = self.policy.delay(attempt, self.rng, verdict.delay)
            self.log(f"{self.what}: attempt {attempt}/{total} failed: {last}; retrying in {wait:.1f}s")
            if self.stop.wait(wait):
                raise DeliveryError(f"stopped while retrying: {last}")
        tries = f"after {attempt} attempt{'s' * (attempt != 1)}"
        if verdict.retry and self.retries >= self.policy.budget:
            tries += ", retry budget exhausted"
        self.log(f"{self.what}: giving up {tries}: {last}")
        raise DeliveryError(f"{last} ({tries})")

    def _interruptible(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        check: Callable[[Response], Verdict],
    ) -> tuple[Verdict, Response | None]:
        """One attempt, in a helper thread so ``stop`` ends the wait for it at once.

        urllib cannot be interrupted; an abandoned attempt ends by itself within ``timeout``
        (its thread is a daemon, so it never delays the process exit).
        """
        if self.stop.is_set():
            return _STOPPED, None
        outcome: list[tuple[Verdict, Response | None]] = []
        raised: list[BaseException] = []
        done = threading.Event()

        def attempt() -> None:
            try:
                outcome.append(self._once(method, url, body, headers, check))
            except BaseException as exc:  # a bug in check(): raise it in the caller's thread
                raised.append(exc)
            finally:
                done.set()

        threading.Thread(target=attempt, daemon=True, name=f"{self.what}-request").start()
        while not done.wait(_STOP_POLL_S):
            if self.stop.is_set():
                return _STOPPED, None
        if raised:
            raise raised[0]
        return outcome[0]

    def _once(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        check: Callable[[Response], Verdict],
    ) -> tuple[Verdict, Response | None]:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):  # urllib's own error would quote the URL
            return fail("the URL is not an http(s) URL"), None
        request = urllib.request.Request(
            url, data=body, method=method, headers={"User-Agent": USER_AGENT, **headers}
        )
        limit = self.max_body + 1 if self.max_body else None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as raw:
                resp = Response(raw.status, raw.read(limit), dict(raw.headers.items()))
        except urllib.error.HTTPError as err:
            resp = Response(err.code, _read(err, limit), dict(err.headers.items()) if err.headers else {})
        except OSError as err:  # URLError, refused/reset connections, timeouts
            reason = getattr(err, "reason", err)
            return retry(f"connection failed: {type(reason).__name__}: {_strip(reason)}"), None
        if self.max_body and len(resp.body) > self.max_body:
            return fail(f"HTTP {resp.status}: the answer is larger than {self.max_body} bytes"), None
        return check(resp), resp


_STOPPED = Verdict(ok=False, reason="stopped")
_STOP_POLL_S = 0.05


def _read(err: urllib.error.HTTPError, limit: int | None = None) -> bytes:
    try:
        return err.read() if limit is None else err.read(limit)
    except OSError:
        return b""


def _strip(reason: object) -> str:
    """Exception text without any URL it might quote."""
    text = str(reason)
    for token in text.split():
        if "://" in token:
            text = text.replace(token, describe(token.strip("'\"<>()")))
    return text


def describe(url: str) -> str:
    """``scheme://host[:port]``: enough to say where, never userinfo, path or query (tokens)."""
    safe = safe_url(url)
    scheme, sep, rest = safe.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0] or '?'}" if sep else "(not a URL)"


def with_query(url: str, **params: str) -> str:
    """Append query parameters to a URL that may already have some."""
    sep = "&" if urllib.parse.urlsplit(url).query else ("" if url.endswith("?") else "?")
    return url + sep + urllib.parse.urlencode(params)
