"""The one retry policy of every gopipe network client: registries, Harbor, webhooks, SMTP, Pushgateway.

It lives in this library because the library is a leaf (it imports nothing from gopipe), so the
registry client here and gopipe's plugins can share one type instead of translating between two.
Its fields are also the config vocabulary: every provider that talks to a network service takes
``retry = { max_attempts = 5, budget = 30, base_delay = 0.5, max_delay = 10.0, jitter = 0.5 }``
and means the same thing by each key. The field metadata (``doc``, ``minimum``, ``maximum``) is
what gopipe's options parser checks and ``gopipe schema`` shows; constructing a policy with
values out of range raises :class:`ValueError`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures (connection errors, timeouts, 429, 5xx, rate-limit answers) are retried.

    ``max_attempts`` bounds one request (a blob upload, a webhook POST ...); ``budget`` bounds the
    retries of one client, i.e. one provider run, so a flaky service cannot stretch a stage
    forever. Waits grow ``base_delay * 2**n`` up to ``max_delay``; each is shortened at random by
    up to ``jitter`` (a fraction) so parallel clients do not retry in lockstep. A server's
    ``Retry-After`` is honoured up to ``max_delay``.
    """

    max_attempts: int = field(
        default=5,
        metadata={"doc": "attempts per request, the first one included (1 = no retries)", "minimum": 1},
    )
    budget: int = field(
        default=30,
        metadata={"doc": "retries allowed across all requests of one provider run", "minimum": 0},
    )
    base_delay: float = field(
        default=0.5,
        metadata={"doc": "seconds before the first retry; doubles each retry up to max_delay", "minimum": 0},
    )
    max_delay: float = field(
        default=10.0,
        metadata={"doc": "longest wait between attempts in seconds, also for Retry-After", "minimum": 0},
    )
    jitter: float = field(
        default=0.5,
        metadata={
            "doc": "fraction of each wait taken off at random (0 = exact waits)",
            "minimum": 0,
            "maximum": 1,
        },
    )

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.budget < 0:
            raise ValueError(f"budget must not be negative, got {self.budget}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("base_delay and max_delay must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    def delay(self, retry: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number *retry* (1-based)."""
        base: float = min(self.max_delay, self.base_delay * (2 ** max(0, retry - 1)))
        value = base * (1.0 - self.jitter * rng.random())
        if retry_after is not None:
            value = max(value, min(retry_after, self.max_delay))
        return value

    def gives_up(self, attempt: int, retries_used: int) -> str | None:
        """Why attempt number *attempt* (1-based, just failed) is the last, or None to retry.

        *retries_used* counts the retries this client already made (against ``budget``).
        """
        if retries_used >= self.budget:
            return "retry budget exhausted"
        if attempt >= self.max_attempts:
            return f"{attempt} attempt{'s' * (attempt != 1)} failed"
        return None


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (the HTTP-date form is not used by registries)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def sleep_backoff(
    policy: RetryPolicy,
    retry: int,
    rng: random.Random,
    retry_after: str | None,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Sleep before retry number *retry* (1-based) and return how long."""
    delay = policy.delay(retry, rng, parse_retry_after(retry_after))
    sleep(delay)
    return delay
